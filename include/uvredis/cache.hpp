#pragma once
/// @file cache.hpp
/// Cache: cache-aside over any Executor (Client, Lease, ClusterClient).
///
/// get_or_load() reads the key; on a miss it calls the user's asynchronous
/// loader once, stores what it returns (with the TTL, optionally jittered)
/// and hands it to every caller that missed meanwhile: concurrent misses on
/// one key share one GET and one load (no stampede). A loader's "not found"
/// can be cached for a short time too (negative caching).
///
/// Stored format: the cache owns its keys (under `prefix`); each value is
/// one marker byte ('v' value, 'n' known absent) followed by the bytes.
///
/// Threading: loop-thread only. Lifetime: the Executor must outlive every
/// call in flight; the Cache itself may be destroyed at any time (pending
/// callbacks still run exactly once).

#include <uvredis/callbacks.hpp>
#include <uvredis/commands.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace uvredis {

struct UVREDIS_API CacheOptions {
  std::string prefix = "cache:";                  ///< Prepended to every key.
  std::chrono::milliseconds negative_ttl{0};      ///< Cache "not found" this long; zero: never.
  double ttl_jitter = 0.0;                        ///< TTL varies by up to +/- this fraction (0 .. 0.5).
};

class UVREDIS_API Cache {
 public:
  /// The loader: fetch `key` from the source of truth and call `done` once
  /// with the value, an empty optional (not found) or an error (nothing is
  /// cached then, and every waiting caller gets the error).
  using Loader = Listener<void(const std::string& key, Callback<std::optional<std::string>> done)>;

  explicit Cache(Executor& ex, CacheOptions options = {});
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  /// The cached value, or the loaded one on a miss (stored for `ttl`).
  void get_or_load(std::string_view key, std::chrono::milliseconds ttl, Loader loader,
                   Callback<std::optional<std::string>> cb);
  /// Write-through: stores `value` for `ttl` (after the source was updated).
  void put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl, Callback<void> cb = {});
  /// Drops the entry (the next get_or_load loads again).
  void invalidate(std::string_view key, Callback<void> cb = {});

  /// Loads started (misses that called a loader) and hits, for tests and metrics.
  std::uint64_t loads() const noexcept;
  std::uint64_t hits() const noexcept;

 private:
  struct State;
  std::shared_ptr<State> st_;
};

}  // namespace uvredis
