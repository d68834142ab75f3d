#pragma once
/// @file commands/keys.hpp
/// Key commands of the command table (DEL, EXPIRE, TTL, SCAN ...). A mixin of
/// Commands<Sink>: every method exists on Client, Lease, Pipeline and
/// Transaction alike. Loop-thread only; arguments are copied before the call
/// returns; the callback runs exactly once, on a later loop turn. (Walking
/// the whole keyspace is Executor::scan_all, in executor.hpp.)

#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands/base.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace uvredis {

template <class Sink>
class KeyCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;

 public:
  /// DEL key...: how many of the keys existed and were deleted. An empty key
  /// list is a usage error.
  Ret<long long> del(const StringList& keys, Callback<long long> cb = {}) { return count_keys("DEL", keys, std::move(cb)); }

  /// UNLINK key...: like DEL, but the memory is freed in the background.
  Ret<long long> unlink(const StringList& keys, Callback<long long> cb = {}) {
    return count_keys("UNLINK", keys, std::move(cb));
  }

  /// EXISTS key...: how many of the keys exist (a key named twice counts
  /// twice).
  Ret<long long> exists(const StringList& keys, Callback<long long> cb = {}) {
    return count_keys("EXISTS", keys, std::move(cb));
  }

  /// TOUCH key...: how many of the keys exist (their access time is updated).
  Ret<long long> touch(const StringList& keys, Callback<long long> cb = {}) {
    return count_keys("TOUCH", keys, std::move(cb));
  }

  /// EXPIRE key seconds [NX|XX|GT|LT] (PEXPIRE when `ttl` is not whole
  /// seconds): true when the expiry was set, false when the key does not
  /// exist or the condition was not met. A zero or negative ttl deletes the
  /// key, as in Redis.
  Ret<bool> expire(std::string_view key, std::chrono::milliseconds ttl, ExpireCondition cond,
                   Callback<bool> cb = {}) {
    if (!detail::whole_seconds(ttl)) return pexpire(key, ttl, cond, std::move(cb));
    detail::Args a("EXPIRE");
    a.add(key).add_int(ttl.count() / 1000);
    detail::add_expire_condition(a, cond);
    return run(a, &decode::boolean, std::move(cb));
  }
  Ret<bool> expire(std::string_view key, std::chrono::milliseconds ttl, Callback<bool> cb = {}) {
    return expire(key, ttl, ExpireCondition::always, std::move(cb));
  }

  /// PEXPIRE key milliseconds [NX|XX|GT|LT]: as expire(), always in
  /// milliseconds.
  Ret<bool> pexpire(std::string_view key, std::chrono::milliseconds ttl, ExpireCondition cond,
                    Callback<bool> cb = {}) {
    detail::Args a("PEXPIRE");
    a.add(key).add_int(ttl.count());
    detail::add_expire_condition(a, cond);
    return run(a, &decode::boolean, std::move(cb));
  }
  Ret<bool> pexpire(std::string_view key, std::chrono::milliseconds ttl, Callback<bool> cb = {}) {
    return pexpire(key, ttl, ExpireCondition::always, std::move(cb));
  }

  /// EXPIREAT key unix-seconds [NX|XX|GT|LT] (PEXPIREAT when `at` is not a
  /// whole second): true when the expiry was set. A time in the past
  /// deletes the key.
  Ret<bool> expireat(std::string_view key, std::chrono::system_clock::time_point at, ExpireCondition cond,
                     Callback<bool> cb = {}) {
    const long long ms = detail::unix_millis(at);
    if (ms % 1000 != 0) return pexpireat(key, at, cond, std::move(cb));
    detail::Args a("EXPIREAT");
    a.add(key).add_int(ms / 1000);
    detail::add_expire_condition(a, cond);
    return run(a, &decode::boolean, std::move(cb));
  }
  Ret<bool> expireat(std::string_view key, std::chrono::system_clock::time_point at, Callback<bool> cb = {}) {
    return expireat(key, at, ExpireCondition::always, std::move(cb));
  }

  /// PEXPIREAT key unix-milliseconds [NX|XX|GT|LT].
  Ret<bool> pexpireat(std::string_view key, std::chrono::system_clock::time_point at, ExpireCondition cond,
                      Callback<bool> cb = {}) {
    detail::Args a("PEXPIREAT");
    a.add(key).add_int(detail::unix_millis(at));
    detail::add_expire_condition(a, cond);
    return run(a, &decode::boolean, std::move(cb));
  }
  Ret<bool> pexpireat(std::string_view key, std::chrono::system_clock::time_point at, Callback<bool> cb = {}) {
    return pexpireat(key, at, ExpireCondition::always, std::move(cb));
  }

  /// TTL key: no key, no expiry, or the time left (second precision).
  Ret<Ttl> ttl(std::string_view key, Callback<Ttl> cb = {}) {
    detail::Args a("TTL");
    a.add(key);
    return run(a, &decode::ttl_seconds, std::move(cb));
  }

  /// PTTL key: as ttl(), with millisecond precision.
  Ret<Ttl> pttl(std::string_view key, Callback<Ttl> cb = {}) {
    detail::Args a("PTTL");
    a.add(key);
    return run(a, &decode::ttl_millis, std::move(cb));
  }

  /// PERSIST key: true when an expiry was removed.
  Ret<bool> persist(std::string_view key, Callback<bool> cb = {}) {
    detail::Args a("PERSIST");
    a.add(key);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// TYPE key: "string", "list", "set", "zset", "hash", "stream", or "none"
  /// for an absent key.
  Ret<std::string> type(std::string_view key, Callback<std::string> cb = {}) {
    detail::Args a("TYPE");
    a.add(key);
    return run(a, &decode::string, std::move(cb));
  }

  /// RENAME key newkey (overwrites newkey). An absent key is the server's
  /// "ERR no such key".
  Ret<void> rename(std::string_view key, std::string_view newkey, Callback<void> cb = {}) {
    detail::Args a("RENAME");
    a.add(key).add(newkey);
    return run(a, &decode::ok, std::move(cb));
  }

  /// RENAMENX key newkey: true when renamed, false when newkey existed.
  Ret<bool> renamenx(std::string_view key, std::string_view newkey, Callback<bool> cb = {}) {
    detail::Args a("RENAMENX");
    a.add(key).add(newkey);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// COPY source destination [DB n] [REPLACE]: true when copied, false when
  /// the source is absent or the destination exists (without REPLACE).
  Ret<bool> copy(std::string_view source, std::string_view destination, const CopyOptions& opts,
                 Callback<bool> cb = {}) {
    detail::Args a("COPY", 6);
    a.add(source).add(destination);
    if (opts.db) a.add("DB").add_count(*opts.db, "the database");
    if (opts.replace) a.add("REPLACE");
    return run(a, &decode::boolean, std::move(cb));
  }
  Ret<bool> copy(std::string_view source, std::string_view destination, Callback<bool> cb = {}) {
    return copy(source, destination, CopyOptions{}, std::move(cb));
  }

  /// SCAN cursor [MATCH p] [COUNT n] [TYPE t]: one step of a keyspace walk.
  /// Start with cursor 0 and continue with page.cursor until page.done().
  Ret<ScanPage<std::string>> scan(std::uint64_t cursor, const ScanOptions& opts,
                                  Callback<ScanPage<std::string>> cb = {}) {
    detail::Args a("SCAN", 8);
    a.add_u64(cursor);
    detail::add_scan_options(a, opts, true);
    return run(a, &decode::scan_strings, std::move(cb));
  }
  Ret<ScanPage<std::string>> scan(std::uint64_t cursor, Callback<ScanPage<std::string>> cb = {}) {
    return scan(cursor, ScanOptions{}, std::move(cb));
  }

 private:
  Ret<long long> count_keys(std::string_view name, const StringList& keys, Callback<long long> cb) {
    detail::Args a(name, 1 + keys.size());
    a.add_all(keys, "keys");
    return run(a, &decode::integer, std::move(cb));
  }

  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
