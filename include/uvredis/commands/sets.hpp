#pragma once
/// @file commands/sets.hpp
/// Set commands of the command table (SADD, SMEMBERS, SUNION ...). A mixin of
/// Commands<Sink>: every method exists on Client, Lease, Pipeline and
/// Transaction alike. Loop-thread only; arguments are copied before the call
/// returns; the callback runs exactly once, on a later loop turn. Members come
/// back as a std::vector in the server's (unspecified) order.

#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands/base.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

template <class Sink>
class SetCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;
  using OptString = std::optional<std::string>;
  using Strings = std::vector<std::string>;

 public:
  /// SADD key member...: how many members were added (not already present).
  /// An empty member list is a usage error.
  Ret<long long> sadd(std::string_view key, const StringList& members, Callback<long long> cb = {}) {
    return key_members("SADD", key, members, std::move(cb));
  }

  /// SREM key member...: how many members were removed.
  Ret<long long> srem(std::string_view key, const StringList& members, Callback<long long> cb = {}) {
    return key_members("SREM", key, members, std::move(cb));
  }

  /// SMEMBERS key: every member (empty for an absent key).
  Ret<Strings> smembers(std::string_view key, Callback<Strings> cb = {}) {
    detail::Args a("SMEMBERS");
    a.add(key);
    return run(a, &decode::string_list, std::move(cb));
  }

  /// SISMEMBER key member.
  Ret<bool> sismember(std::string_view key, std::string_view member, Callback<bool> cb = {}) {
    detail::Args a("SISMEMBER");
    a.add(key).add(member);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// SMISMEMBER key member...: one bool per member, in order.
  Ret<std::vector<bool>> smismember(std::string_view key, const StringList& members,
                                    Callback<std::vector<bool>> cb = {}) {
    detail::Args a("SMISMEMBER", 2 + members.size());
    a.add(key).add_all(members, "members");
    return run(a, &decode::boolean_list, std::move(cb));
  }

  /// SCARD key: the number of members.
  Ret<long long> scard(std::string_view key, Callback<long long> cb = {}) {
    detail::Args a("SCARD");
    a.add(key);
    return run(a, &decode::integer, std::move(cb));
  }

  /// SPOP key: removes and returns a random member, empty when none.
  Ret<OptString> spop(std::string_view key, Callback<OptString> cb = {}) {
    detail::Args a("SPOP");
    a.add(key);
    return run(a, &decode::optional_string, std::move(cb));
  }

  /// SPOP key count: removes and returns up to `count` random members. A
  /// negative count is a usage error.
  Ret<Strings> spop(std::string_view key, long long count, Callback<Strings> cb = {}) {
    detail::Args a("SPOP");
    a.add(key).add_count(count, "the count");
    return run(a, &decode::string_list, std::move(cb));
  }

  /// SRANDMEMBER key: a random member, empty when none.
  Ret<OptString> srandmember(std::string_view key, Callback<OptString> cb = {}) {
    detail::Args a("SRANDMEMBER");
    a.add(key);
    return run(a, &decode::optional_string, std::move(cb));
  }

  /// SRANDMEMBER key count: up to `count` distinct members; a negative count
  /// returns exactly -count members, possibly repeated.
  Ret<Strings> srandmember(std::string_view key, long long count, Callback<Strings> cb = {}) {
    detail::Args a("SRANDMEMBER");
    a.add(key).add_int(count);
    return run(a, &decode::string_list, std::move(cb));
  }

  /// SMOVE source destination member: true when the member was moved.
  Ret<bool> smove(std::string_view source, std::string_view destination, std::string_view member,
                  Callback<bool> cb = {}) {
    detail::Args a("SMOVE");
    a.add(source).add(destination).add(member);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// SUNION key...: members of any of the sets. An empty key list is a usage
  /// error (for every combination below).
  Ret<Strings> sunion(const StringList& keys, Callback<Strings> cb = {}) { return combine("SUNION", keys, std::move(cb)); }
  /// SINTER key...: members of all of the sets.
  Ret<Strings> sinter(const StringList& keys, Callback<Strings> cb = {}) { return combine("SINTER", keys, std::move(cb)); }
  /// SDIFF key...: members of the first set that are in none of the others.
  Ret<Strings> sdiff(const StringList& keys, Callback<Strings> cb = {}) { return combine("SDIFF", keys, std::move(cb)); }

  /// SUNIONSTORE destination key...: stores the union; its size.
  Ret<long long> sunionstore(std::string_view destination, const StringList& keys, Callback<long long> cb = {}) {
    return key_members("SUNIONSTORE", destination, keys, std::move(cb), "keys");
  }
  /// SINTERSTORE destination key...: stores the intersection; its size.
  Ret<long long> sinterstore(std::string_view destination, const StringList& keys, Callback<long long> cb = {}) {
    return key_members("SINTERSTORE", destination, keys, std::move(cb), "keys");
  }
  /// SDIFFSTORE destination key...: stores the difference; its size.
  Ret<long long> sdiffstore(std::string_view destination, const StringList& keys, Callback<long long> cb = {}) {
    return key_members("SDIFFSTORE", destination, keys, std::move(cb), "keys");
  }

  /// SINTERCARD numkeys key... [LIMIT limit]: the size of the intersection,
  /// counting stops at `limit` (0: no limit). A negative limit is a usage
  /// error.
  Ret<long long> sintercard(const StringList& keys, long long limit, Callback<long long> cb = {}) {
    detail::Args a("SINTERCARD", 4 + keys.size());
    a.add_int(static_cast<long long>(keys.size())).add_all(keys, "keys");
    if (limit != 0) a.add("LIMIT").add_count(limit, "LIMIT");
    return run(a, &decode::integer, std::move(cb));
  }
  Ret<long long> sintercard(const StringList& keys, Callback<long long> cb = {}) {
    return sintercard(keys, 0, std::move(cb));
  }

  /// SSCAN key cursor [MATCH p] [COUNT n]: one step over a set's members.
  /// Options.type is a usage error here.
  Ret<ScanPage<std::string>> sscan(std::string_view key, std::uint64_t cursor, const ScanOptions& opts,
                                   Callback<ScanPage<std::string>> cb = {}) {
    detail::Args a("SSCAN", 7);
    a.add(key).add_u64(cursor);
    detail::add_scan_options(a, opts, false);
    return run(a, &decode::scan_strings, std::move(cb));
  }
  Ret<ScanPage<std::string>> sscan(std::string_view key, std::uint64_t cursor,
                                   Callback<ScanPage<std::string>> cb = {}) {
    return sscan(key, cursor, ScanOptions{}, std::move(cb));
  }

 private:
  Ret<long long> key_members(std::string_view name, std::string_view key, const StringList& members,
                             Callback<long long> cb, std::string_view what = "members") {
    detail::Args a(name, 2 + members.size());
    a.add(key).add_all(members, what);
    return run(a, &decode::integer, std::move(cb));
  }

  Ret<Strings> combine(std::string_view name, const StringList& keys, Callback<Strings> cb) {
    detail::Args a(name, 1 + keys.size());
    a.add_all(keys, "keys");
    return run(a, &decode::string_list, std::move(cb));
  }

  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
