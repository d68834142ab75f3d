#pragma once
/// @file commands/strings.hpp
/// String commands of the command table (GET, SET, INCR ...). A mixin of
/// Commands<Sink>: every method exists on Client, Lease, Pipeline and
/// Transaction alike. Loop-thread only; arguments are copied before the call
/// returns; the callback runs exactly once, on a later loop turn.

#include <uvredis/command_args.hpp>
#include <uvredis/commands/base.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

template <class Sink>
class StringCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;
  using OptString = std::optional<std::string>;

 public:
  /// GET key: the value, or an empty optional when the key does not exist.
  Ret<OptString> get(std::string_view key, Callback<OptString> cb = {}) {
    detail::Args a("GET");
    a.add(key);
    return run(a, &decode::optional_string, std::move(cb));
  }

  /// SET key value [NX|XX] [EX|PX|EXAT|PXAT|KEEPTTL]: true when the value was
  /// written, false when the NX/XX condition kept it from being written.
  Ret<bool> set(std::string_view key, std::string_view value, const SetOptions& opts, Callback<bool> cb = {}) {
    detail::Args a("SET", 6);
    a.add(key).add(value);
    detail::add_set_options(a, opts);
    return run(a, &decode::boolean, std::move(cb));
  }
  Ret<bool> set(std::string_view key, std::string_view value, Callback<bool> cb = {}) {
    // The plain SET, the most common write: no options to encode or check.
    detail::Args a("SET");
    a.add(key).add(value);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// SET ... GET: writes like set() and yields the previous value (empty
  /// when the key did not exist). With NX/XX the previous value comes back
  /// whether or not the write happened.
  Ret<OptString> set_get(std::string_view key, std::string_view value, const SetOptions& opts,
                         Callback<OptString> cb = {}) {
    detail::Args a("SET", 7);
    a.add(key).add(value);
    detail::add_set_options(a, opts);
    a.add("GET");
    return run(a, &decode::optional_string, std::move(cb));
  }
  Ret<OptString> set_get(std::string_view key, std::string_view value, Callback<OptString> cb = {}) {
    return set_get(key, value, SetOptions{}, std::move(cb));
  }

  /// GETDEL key: the value (empty when absent), and the key is deleted.
  Ret<OptString> getdel(std::string_view key, Callback<OptString> cb = {}) {
    detail::Args a("GETDEL");
    a.add(key);
    return run(a, &decode::optional_string, std::move(cb));
  }

  /// GETEX key [EX|PX|EXAT|PXAT|PERSIST]: the value, and the expiry changed.
  Ret<OptString> getex(std::string_view key, const GetExOptions& opts, Callback<OptString> cb = {}) {
    detail::Args a("GETEX");
    a.add(key);
    detail::add_getex_options(a, opts);
    return run(a, &decode::optional_string, std::move(cb));
  }
  Ret<OptString> getex(std::string_view key, Callback<OptString> cb = {}) {
    return getex(key, GetExOptions{}, std::move(cb));
  }

  /// SETEX key seconds value (PSETEX when `ttl` is not whole seconds). The
  /// ttl must be positive.
  Ret<void> setex(std::string_view key, std::chrono::milliseconds ttl, std::string_view value,
                  Callback<void> cb = {}) {
    const bool secs = detail::whole_seconds(ttl);
    detail::Args a(secs ? "SETEX" : "PSETEX");
    a.add(key).add_count(secs ? ttl.count() / 1000 : ttl.count(), "the expiry", true).add(value);
    return run(a, &decode::ok, std::move(cb));
  }

  /// SETNX key value: true when the key was set (it did not exist).
  Ret<bool> setnx(std::string_view key, std::string_view value, Callback<bool> cb = {}) {
    detail::Args a("SETNX");
    a.add(key).add(value);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// MGET key...: one optional per key, in order (empty for absent keys and
  /// keys that hold another type). An empty key list is a usage error.
  Ret<std::vector<OptString>> mget(const StringList& keys, Callback<std::vector<OptString>> cb = {}) {
    detail::Args a("MGET", 1 + keys.size());
    a.add_all(keys, "keys");
    return run(a, &decode::optional_string_list, std::move(cb));
  }

  /// MSET key value ...: sets every pair. An empty list is a usage error.
  Ret<void> mset(const PairList& pairs, Callback<void> cb = {}) {
    detail::Args a("MSET", 1 + 2 * pairs.size());
    a.add_pairs(pairs, "key/value pairs");
    return run(a, &decode::ok, std::move(cb));
  }

  /// MSETNX key value ...: true when all were set, false (and none set) when
  /// any key existed.
  Ret<bool> msetnx(const PairList& pairs, Callback<bool> cb = {}) {
    detail::Args a("MSETNX", 1 + 2 * pairs.size());
    a.add_pairs(pairs, "key/value pairs");
    return run(a, &decode::boolean, std::move(cb));
  }

  /// INCR key: the new value.
  Ret<long long> incr(std::string_view key, Callback<long long> cb = {}) {
    detail::Args a("INCR");
    a.add(key);
    return run(a, &decode::integer, std::move(cb));
  }

  /// INCRBY key increment: the new value.
  Ret<long long> incrby(std::string_view key, long long increment, Callback<long long> cb = {}) {
    detail::Args a("INCRBY");
    a.add(key).add_int(increment);
    return run(a, &decode::integer, std::move(cb));
  }

  /// INCRBYFLOAT key increment: the new value. A NaN increment is a usage
  /// error.
  Ret<double> incrbyfloat(std::string_view key, double increment, Callback<double> cb = {}) {
    detail::Args a("INCRBYFLOAT");
    a.add(key).add_double(increment, "the increment");
    return run(a, &decode::floating, std::move(cb));
  }

  /// DECR key: the new value.
  Ret<long long> decr(std::string_view key, Callback<long long> cb = {}) {
    detail::Args a("DECR");
    a.add(key);
    return run(a, &decode::integer, std::move(cb));
  }

  /// DECRBY key decrement: the new value.
  Ret<long long> decrby(std::string_view key, long long decrement, Callback<long long> cb = {}) {
    detail::Args a("DECRBY");
    a.add(key).add_int(decrement);
    return run(a, &decode::integer, std::move(cb));
  }

  /// APPEND key value: the length after appending.
  Ret<long long> append(std::string_view key, std::string_view value, Callback<long long> cb = {}) {
    detail::Args a("APPEND");
    a.add(key).add(value);
    return run(a, &decode::integer, std::move(cb));
  }

  /// STRLEN key: the length of the value (0 for an absent key).
  Ret<long long> strlen(std::string_view key, Callback<long long> cb = {}) {
    detail::Args a("STRLEN");
    a.add(key);
    return run(a, &decode::integer, std::move(cb));
  }

  /// GETRANGE key start end: the bytes between two offsets, inclusive
  /// (negative offsets count from the end); empty for an absent key.
  Ret<std::string> getrange(std::string_view key, long long start, long long end, Callback<std::string> cb = {}) {
    detail::Args a("GETRANGE");
    a.add(key).add_int(start).add_int(end);
    return run(a, &decode::string, std::move(cb));
  }

  /// SETRANGE key offset value: overwrites from `offset` (zero-padding a
  /// shorter value); the new length. A negative offset is a usage error.
  Ret<long long> setrange(std::string_view key, long long offset, std::string_view value,
                          Callback<long long> cb = {}) {
    detail::Args a("SETRANGE");
    a.add(key).add_count(offset, "the offset").add(value);
    return run(a, &decode::integer, std::move(cb));
  }

 private:
  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
