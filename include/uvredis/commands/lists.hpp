#pragma once
/// @file commands/lists.hpp
/// List commands of the command table (LPUSH, LRANGE, BLPOP ...). A mixin of
/// Commands<Sink>: every method exists on Client, Lease, Pipeline and
/// Transaction alike. Loop-thread only; arguments are copied before the call
/// returns; the callback runs exactly once, on a later loop turn.
///
/// Blocking commands (BLPOP, BRPOP, BLMOVE) take a std::chrono timeout: zero
/// waits forever; when it expires the result is an empty optional, not an
/// error. On a Client they run on a connection of their own and never delay
/// other commands; the client's command timeout is added to the blocking
/// time, so a long wait is not cut short. Inside a Transaction they do not
/// block (that is how Redis runs them in MULTI).

#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands/base.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

template <class Sink>
class ListCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;
  using OptString = std::optional<std::string>;
  using Strings = std::vector<std::string>;

 public:
  /// LPUSH key element...: the list's length after the push. An empty
  /// element list is a usage error (as for every push below).
  Ret<long long> lpush(std::string_view key, const StringList& elements, Callback<long long> cb = {}) {
    return push("LPUSH", key, elements, std::move(cb));
  }
  /// RPUSH key element...: the list's length after the push.
  Ret<long long> rpush(std::string_view key, const StringList& elements, Callback<long long> cb = {}) {
    return push("RPUSH", key, elements, std::move(cb));
  }
  /// LPUSHX key element...: pushes only onto an existing list; 0 otherwise.
  Ret<long long> lpushx(std::string_view key, const StringList& elements, Callback<long long> cb = {}) {
    return push("LPUSHX", key, elements, std::move(cb));
  }
  /// RPUSHX key element...: pushes only onto an existing list; 0 otherwise.
  Ret<long long> rpushx(std::string_view key, const StringList& elements, Callback<long long> cb = {}) {
    return push("RPUSHX", key, elements, std::move(cb));
  }

  /// LPOP key: the first element, empty when the list is empty or absent.
  Ret<OptString> lpop(std::string_view key, Callback<OptString> cb = {}) { return pop_one("LPOP", key, std::move(cb)); }
  /// LPOP key count: up to `count` elements from the head (empty for an
  /// absent key). A negative count is a usage error.
  Ret<Strings> lpop(std::string_view key, long long count, Callback<Strings> cb = {}) {
    return pop_many("LPOP", key, count, std::move(cb));
  }
  /// RPOP key: the last element, empty when the list is empty or absent.
  Ret<OptString> rpop(std::string_view key, Callback<OptString> cb = {}) { return pop_one("RPOP", key, std::move(cb)); }
  /// RPOP key count: up to `count` elements from the tail.
  Ret<Strings> rpop(std::string_view key, long long count, Callback<Strings> cb = {}) {
    return pop_many("RPOP", key, count, std::move(cb));
  }

  /// LRANGE key start stop: elements between two indexes, inclusive
  /// (negative indexes count from the end; 0 -1 is the whole list).
  Ret<Strings> lrange(std::string_view key, long long start, long long stop, Callback<Strings> cb = {}) {
    detail::Args a("LRANGE");
    a.add(key).add_int(start).add_int(stop);
    return run(a, &decode::string_list, std::move(cb));
  }

  /// LLEN key: the length (0 for an absent key).
  Ret<long long> llen(std::string_view key, Callback<long long> cb = {}) {
    detail::Args a("LLEN");
    a.add(key);
    return run(a, &decode::integer, std::move(cb));
  }

  /// LINDEX key index: the element, empty when out of range.
  Ret<OptString> lindex(std::string_view key, long long index, Callback<OptString> cb = {}) {
    detail::Args a("LINDEX");
    a.add(key).add_int(index);
    return run(a, &decode::optional_string, std::move(cb));
  }

  /// LSET key index element. Out of range is the server's "ERR index out of
  /// range"; an absent key is "ERR no such key".
  Ret<void> lset(std::string_view key, long long index, std::string_view element, Callback<void> cb = {}) {
    detail::Args a("LSET");
    a.add(key).add_int(index).add(element);
    return run(a, &decode::ok, std::move(cb));
  }

  /// LINSERT key BEFORE|AFTER pivot element: the new length, -1 when the
  /// pivot was not found, 0 when the key is absent.
  Ret<long long> linsert(std::string_view key, InsertPosition where, std::string_view pivot,
                         std::string_view element, Callback<long long> cb = {}) {
    detail::Args a("LINSERT", 5);
    a.add(key).add(where == InsertPosition::before ? "BEFORE" : "AFTER").add(pivot).add(element);
    return run(a, &decode::integer, std::move(cb));
  }

  /// LREM key count element: removes up to |count| occurrences (from the
  /// head when count > 0, from the tail when < 0, all when 0); how many.
  Ret<long long> lrem(std::string_view key, long long count, std::string_view element, Callback<long long> cb = {}) {
    detail::Args a("LREM");
    a.add(key).add_int(count).add(element);
    return run(a, &decode::integer, std::move(cb));
  }

  /// LTRIM key start stop: keeps only the given range.
  Ret<void> ltrim(std::string_view key, long long start, long long stop, Callback<void> cb = {}) {
    detail::Args a("LTRIM");
    a.add(key).add_int(start).add_int(stop);
    return run(a, &decode::ok, std::move(cb));
  }

  /// LPOS key element [RANK r] [MAXLEN m]: the index of a match, empty when
  /// there is none. Rank 0 and a negative maxlen are usage errors.
  Ret<std::optional<long long>> lpos(std::string_view key, std::string_view element, const LposOptions& opts,
                                     Callback<std::optional<long long>> cb = {}) {
    detail::Args a("LPOS", 7);
    a.add(key).add(element);
    add_lpos_options(a, opts);
    return run(a, &decode::optional_integer, std::move(cb));
  }
  Ret<std::optional<long long>> lpos(std::string_view key, std::string_view element,
                                     Callback<std::optional<long long>> cb = {}) {
    return lpos(key, element, LposOptions{}, std::move(cb));
  }

  /// LPOS key element COUNT n [RANK r] [MAXLEN m]: the indexes of up to `n`
  /// matches (0: all). A negative count is a usage error.
  Ret<std::vector<long long>> lpos(std::string_view key, std::string_view element, long long count,
                                   const LposOptions& opts, Callback<std::vector<long long>> cb = {}) {
    detail::Args a("LPOS", 9);
    a.add(key).add(element).add("COUNT").add_count(count, "COUNT");
    add_lpos_options(a, opts);
    return run(a, &decode::integer_list, std::move(cb));
  }
  Ret<std::vector<long long>> lpos(std::string_view key, std::string_view element, long long count,
                                   Callback<std::vector<long long>> cb = {}) {
    return lpos(key, element, count, LposOptions{}, std::move(cb));
  }

  /// LMOVE source destination LEFT|RIGHT LEFT|RIGHT: the moved element,
  /// empty when the source is empty.
  Ret<OptString> lmove(std::string_view source, std::string_view destination, ListEnd from, ListEnd to,
                       Callback<OptString> cb = {}) {
    detail::Args a("LMOVE", 5);
    a.add(source).add(destination).add(end_name(from)).add(end_name(to));
    return run(a, &decode::optional_string, std::move(cb));
  }

  /// BLPOP key... timeout: the key and element popped from the first
  /// non-empty list, or an empty optional when the timeout expired. An empty
  /// key list or a negative timeout is a usage error.
  Ret<std::optional<KeyedElement>> blpop(const StringList& keys, std::chrono::milliseconds timeout,
                                         Callback<std::optional<KeyedElement>> cb = {}) {
    return blocking_pop("BLPOP", keys, timeout, std::move(cb));
  }
  /// BRPOP key... timeout: as blpop(), from the tail.
  Ret<std::optional<KeyedElement>> brpop(const StringList& keys, std::chrono::milliseconds timeout,
                                         Callback<std::optional<KeyedElement>> cb = {}) {
    return blocking_pop("BRPOP", keys, timeout, std::move(cb));
  }

  /// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout: the moved
  /// element, or an empty optional when the timeout expired.
  Ret<OptString> blmove(std::string_view source, std::string_view destination, ListEnd from, ListEnd to,
                        std::chrono::milliseconds timeout, Callback<OptString> cb = {}) {
    detail::Args a("BLMOVE", 6);
    a.add(source).add(destination).add(end_name(from)).add(end_name(to)).add_timeout(timeout);
    return run(a, &decode::optional_string, std::move(cb));
  }

 private:
  static std::string_view end_name(ListEnd e) { return e == ListEnd::left ? "LEFT" : "RIGHT"; }

  static void add_lpos_options(detail::Args& a, const LposOptions& o) {
    if (o.rank == 0) return a.fail("RANK must not be zero");
    if (o.rank != 1) a.add("RANK").add_int(o.rank);
    if (o.maxlen != 0) a.add("MAXLEN").add_count(o.maxlen, "MAXLEN");
  }

  Ret<long long> push(std::string_view name, std::string_view key, const StringList& elements,
                      Callback<long long> cb) {
    detail::Args a(name, 2 + elements.size());
    a.add(key).add_all(elements, "elements");
    return run(a, &decode::integer, std::move(cb));
  }

  Ret<OptString> pop_one(std::string_view name, std::string_view key, Callback<OptString> cb) {
    detail::Args a(name);
    a.add(key);
    return run(a, &decode::optional_string, std::move(cb));
  }

  Ret<Strings> pop_many(std::string_view name, std::string_view key, long long count, Callback<Strings> cb) {
    detail::Args a(name);
    a.add(key).add_count(count, "the count");
    return run(a, &decode::string_list, std::move(cb));
  }

  Ret<std::optional<KeyedElement>> blocking_pop(std::string_view name, const StringList& keys,
                                                std::chrono::milliseconds timeout,
                                                Callback<std::optional<KeyedElement>> cb) {
    detail::Args a(name, 2 + keys.size());
    a.add_all(keys, "keys").add_timeout(timeout);
    return run(a, &decode::keyed_element, std::move(cb));
  }

  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
