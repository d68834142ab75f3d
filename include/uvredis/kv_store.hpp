#pragma once
/// @file kv_store.hpp
/// KvStore: a key-value store of typed values over any Executor (Client,
/// Lease, ClusterClient), with a pluggable codec (the KiviGo style):
///
///   uvredis::KvStore<uvredis::JsonCodec> kv(client, "app:");   // json_codec.hpp
///   kv.set("user:1", User{...}, [](uvredis::Result<void>) {});
///   kv.get<User>("user:1", [](uvredis::Result<std::optional<User>> r) {});
///
/// A codec is a type with `template <class T> static std::string encode(const T&)`
/// and `template <class T> static Result<T> decode(std::string_view)`;
/// RawCodec (here) stores std::string as is. A value that fails to decode is
/// an ErrorKind::decode error naming the key, never a crash.
///
/// Threading: loop-thread only. Lifetime: the Executor must outlive the
/// calls in flight; the store may be destroyed at any time (callbacks still
/// run exactly once).

#include <uvredis/commands.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace uvredis {

/// Bytes in, bytes out: for std::string values.
struct UVREDIS_API RawCodec {
  template <class T>
  static std::string encode(const T& v) {
    static_assert(std::is_convertible_v<const T&, std::string_view>, "RawCodec stores strings only");
    return std::string(std::string_view(v));
  }
  template <class T>
  static Result<T> decode(std::string_view bytes) {
    static_assert(std::is_same_v<T, std::string>, "RawCodec yields std::string");
    return std::string(bytes);
  }
};

namespace detail {

/// The byte-level half of KvStore (not templated; see kv_store.cpp).
class UVREDIS_API KvCore {
 public:
  KvCore(Executor& ex, std::string prefix);

  /// Deletes `key`; true when it existed.
  void remove(std::string_view key, Callback<bool> cb);
  /// Deletes every key in one pipeline; yields how many existed.
  void batch_remove(std::vector<std::string> keys, Callback<std::size_t> cb);
  /// Every key that starts with `prefix` (store prefix not included in the
  /// result), found with SCAN MATCH (glob characters escaped), one batch per
  /// loop turn: never KEYS, never a long stall of the server or the loop.
  void list(std::string_view prefix, Callback<std::vector<std::string>> cb);
  /// PING with a deadline: ok, or the error (timeout when the server did
  /// not answer within `deadline`).
  void health(std::chrono::milliseconds deadline, Callback<void> cb);

 protected:
  void set_bytes(std::string_view key, std::string bytes, std::chrono::milliseconds ttl, Callback<void> cb);
  void get_bytes(std::string_view key, Callback<std::optional<std::string>> cb);
  void batch_set_bytes(std::vector<std::pair<std::string, std::string>> items, std::chrono::milliseconds ttl,
                       Callback<void> cb);
  void batch_get_bytes(std::vector<std::string> keys, Callback<std::vector<std::optional<std::string>>> cb);
  static Error decode_error(std::string_view key, const Error& why);

  Executor* ex_;
  std::string prefix_;
};

}  // namespace detail

template <class Codec>
class KvStore : public detail::KvCore {
 public:
  /// Every key is stored as `prefix + key`.
  explicit KvStore(Executor& ex, std::string prefix = "") : KvCore(ex, std::move(prefix)) {}

  /// Stores `value` under `key`; `ttl` zero means no expiry.
  template <class T>
  void set(std::string_view key, const T& value, Callback<void> cb = {},
           std::chrono::milliseconds ttl = std::chrono::milliseconds(0)) {
    set_bytes(key, Codec::template encode<T>(value), ttl, std::move(cb));
  }

  /// The value under `key` as a T, or an empty optional when there is none.
  template <class T>
  void get(std::string_view key, Callback<std::optional<T>> cb) {
    get_bytes(key, [key = std::string(key), cb = std::move(cb)](Result<std::optional<std::string>> r) mutable {
      if (!r) return cb(std::move(r).error());
      if (!*r) return cb(std::optional<T>());
      Result<T> v = Codec::template decode<T>(**r);
      if (!v) return cb(decode_error(key, v.error()));
      cb(std::optional<T>(std::move(*v)));
    });
  }

  /// Stores every item in one pipeline; one error (the first) if any failed.
  template <class T>
  void batch_set(const std::vector<std::pair<std::string, T>>& items, Callback<void> cb = {},
                 std::chrono::milliseconds ttl = std::chrono::milliseconds(0)) {
    std::vector<std::pair<std::string, std::string>> raw;
    raw.reserve(items.size());
    for (const auto& [k, v] : items) raw.emplace_back(k, Codec::template encode<T>(v));
    batch_set_bytes(std::move(raw), ttl, std::move(cb));
  }

  /// Reads every key in one pipeline; results in the order of `keys`.
  template <class T>
  void batch_get(std::vector<std::string> keys, Callback<std::vector<std::optional<T>>> cb) {
    auto names = keys;
    batch_get_bytes(std::move(keys), [names = std::move(names), cb = std::move(cb)](
                                         Result<std::vector<std::optional<std::string>>> r) mutable {
      if (!r) return cb(std::move(r).error());
      std::vector<std::optional<T>> out;
      out.reserve(r->size());
      for (std::size_t i = 0; i < r->size(); ++i) {
        auto& bytes = (*r)[i];
        if (!bytes) {
          out.emplace_back();
          continue;
        }
        Result<T> v = Codec::template decode<T>(*bytes);
        if (!v) return cb(decode_error(names[i], v.error()));
        out.emplace_back(std::move(*v));
      }
      cb(std::move(out));
    });
  }
};

}  // namespace uvredis
