#pragma once
/// @file commands/hashes.hpp
/// Hash commands of the command table (HSET, HGETALL, HINCRBY ...). A mixin
/// of Commands<Sink>: every method exists on Client, Lease, Pipeline and
/// Transaction alike. Loop-thread only; arguments are copied before the call
/// returns; the callback runs exactly once, on a later loop turn.

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
class HashCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;
  using OptString = std::optional<std::string>;

 public:
  /// HSET key field value: how many fields were added (0 when it replaced a
  /// value).
  Ret<long long> hset(std::string_view key, std::string_view field, std::string_view value,
                      Callback<long long> cb = {}) {
    detail::Args a("HSET");
    a.add(key).add(field).add(value);
    return run(a, &decode::integer, std::move(cb));
  }

  /// HSET key field value ...: from `{{"f", "v"}, ...}` or any map; how many
  /// fields were added. An empty list is a usage error.
  Ret<long long> hset(std::string_view key, const PairList& fields, Callback<long long> cb = {}) {
    detail::Args a("HSET", 2 + 2 * fields.size());
    a.add(key).add_pairs(fields, "fields");
    return run(a, &decode::integer, std::move(cb));
  }

  /// HMSET key field value ... (deprecated by Redis in favour of HSET).
  Ret<void> hmset(std::string_view key, const PairList& fields, Callback<void> cb = {}) {
    detail::Args a("HMSET", 2 + 2 * fields.size());
    a.add(key).add_pairs(fields, "fields");
    return run(a, &decode::ok, std::move(cb));
  }

  /// HSETNX key field value: true when the field was set (it did not exist).
  Ret<bool> hsetnx(std::string_view key, std::string_view field, std::string_view value, Callback<bool> cb = {}) {
    detail::Args a("HSETNX");
    a.add(key).add(field).add(value);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// HGET key field: the value, empty when the key or field is absent.
  Ret<OptString> hget(std::string_view key, std::string_view field, Callback<OptString> cb = {}) {
    detail::Args a("HGET");
    a.add(key).add(field);
    return run(a, &decode::optional_string, std::move(cb));
  }

  /// HMGET key field...: one optional per field, in order. An empty field
  /// list is a usage error.
  Ret<std::vector<OptString>> hmget(std::string_view key, const StringList& fields,
                                    Callback<std::vector<OptString>> cb = {}) {
    detail::Args a("HMGET", 2 + fields.size());
    a.add(key).add_all(fields, "fields");
    return run(a, &decode::optional_string_list, std::move(cb));
  }

  /// HGETALL key: every field and value (an empty map for an absent key).
  Ret<FieldMap> hgetall(std::string_view key, Callback<FieldMap> cb = {}) {
    detail::Args a("HGETALL");
    a.add(key);
    return run(a, &decode::field_map, std::move(cb));
  }

  /// HINCRBY key field increment: the new value.
  Ret<long long> hincrby(std::string_view key, std::string_view field, long long increment,
                         Callback<long long> cb = {}) {
    detail::Args a("HINCRBY");
    a.add(key).add(field).add_int(increment);
    return run(a, &decode::integer, std::move(cb));
  }

  /// HINCRBYFLOAT key field increment: the new value. NaN is a usage error.
  Ret<double> hincrbyfloat(std::string_view key, std::string_view field, double increment,
                           Callback<double> cb = {}) {
    detail::Args a("HINCRBYFLOAT");
    a.add(key).add(field).add_double(increment, "the increment");
    return run(a, &decode::floating, std::move(cb));
  }

  /// HDEL key field...: how many fields were removed. An empty field list is
  /// a usage error.
  Ret<long long> hdel(std::string_view key, const StringList& fields, Callback<long long> cb = {}) {
    detail::Args a("HDEL", 2 + fields.size());
    a.add(key).add_all(fields, "fields");
    return run(a, &decode::integer, std::move(cb));
  }

  /// HEXISTS key field.
  Ret<bool> hexists(std::string_view key, std::string_view field, Callback<bool> cb = {}) {
    detail::Args a("HEXISTS");
    a.add(key).add(field);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// HKEYS key: the field names (empty for an absent key).
  Ret<std::vector<std::string>> hkeys(std::string_view key, Callback<std::vector<std::string>> cb = {}) {
    detail::Args a("HKEYS");
    a.add(key);
    return run(a, &decode::string_list, std::move(cb));
  }

  /// HVALS key: the values (empty for an absent key).
  Ret<std::vector<std::string>> hvals(std::string_view key, Callback<std::vector<std::string>> cb = {}) {
    detail::Args a("HVALS");
    a.add(key);
    return run(a, &decode::string_list, std::move(cb));
  }

  /// HLEN key: the number of fields.
  Ret<long long> hlen(std::string_view key, Callback<long long> cb = {}) {
    detail::Args a("HLEN");
    a.add(key);
    return run(a, &decode::integer, std::move(cb));
  }

  /// HSTRLEN key field: the length of the value (0 when absent).
  Ret<long long> hstrlen(std::string_view key, std::string_view field, Callback<long long> cb = {}) {
    detail::Args a("HSTRLEN");
    a.add(key).add(field);
    return run(a, &decode::integer, std::move(cb));
  }

  /// HRANDFIELD key: a random field name, empty for an absent key.
  Ret<OptString> hrandfield(std::string_view key, Callback<OptString> cb = {}) {
    detail::Args a("HRANDFIELD");
    a.add(key);
    return run(a, &decode::optional_string, std::move(cb));
  }

  /// HRANDFIELD key count: up to `count` distinct fields; a negative count
  /// returns exactly -count fields, possibly repeated.
  Ret<std::vector<std::string>> hrandfield(std::string_view key, long long count,
                                           Callback<std::vector<std::string>> cb = {}) {
    detail::Args a("HRANDFIELD");
    a.add(key).add_int(count);
    return run(a, &decode::string_list, std::move(cb));
  }

  /// HRANDFIELD key count WITHVALUES: as above, with the values.
  Ret<std::vector<FieldValue>> hrandfield_withvalues(std::string_view key, long long count,
                                                     Callback<std::vector<FieldValue>> cb = {}) {
    detail::Args a("HRANDFIELD");
    a.add(key).add_int(count).add("WITHVALUES");
    return run(a, &decode::field_values, std::move(cb));
  }

  /// HSCAN key cursor [MATCH p] [COUNT n]: one step over a hash's fields.
  /// Options.type is a usage error here.
  Ret<ScanPage<FieldValue>> hscan(std::string_view key, std::uint64_t cursor, const ScanOptions& opts,
                                  Callback<ScanPage<FieldValue>> cb = {}) {
    detail::Args a("HSCAN", 7);
    a.add(key).add_u64(cursor);
    detail::add_scan_options(a, opts, false);
    return run(a, &decode::scan_field_values, std::move(cb));
  }
  Ret<ScanPage<FieldValue>> hscan(std::string_view key, std::uint64_t cursor,
                                  Callback<ScanPage<FieldValue>> cb = {}) {
    return hscan(key, cursor, ScanOptions{}, std::move(cb));
  }

 private:
  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
