#pragma once
/// @file cluster_client_cache.hpp
/// ClusterClientCache: client-side caching (see client_cache.hpp) on a Redis
/// Cluster: one ClientCache (a data and an invalidation connection, tracking
/// redirected between them) per master, made when a cached read first goes
/// there, and a ClusterClient for everything else.
///
/// A cached read goes to the ClientCache of the master that owns its key's
/// slot in the ClusterClient's map. It goes through the ClusterClient
/// instead (uncached) while that master's cache is not ready (connecting, or
/// after a drop: that cache was emptied then), and when the master answers
/// MOVED or ASK (the slot moved: that master's cache is emptied, the map is
/// refreshed and the read is sent again through the ClusterClient). An MGET
/// is cached only when all its keys belong to one master. Masters that left
/// the map have their caches closed when a new master's cache is made.
/// A key's absence is never stored (after its slot moves, the key may be
/// created on the new owner, which the old one would never report).
/// The guarantees of client_cache.hpp hold per master.
///
/// Threading: loop-thread only. Lifetime: borrows the loop; close(cb) or
/// destroy it, then keep running the loop until it returns. Callbacks run
/// exactly once, never inside the issuing call.

#include <uvredis/callbacks.hpp>
#include <uvredis/client_cache.hpp>
#include <uvredis/cluster.hpp>
#include <uvredis/commands.hpp>
#include <uvredis/export.hpp>

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>
#include <string_view>

struct uv_loop_s;

namespace uvredis {

class ClusterClientCache;

/// On a ClusterClientCache, typed helpers take a callback and return nothing.
template <>
struct SinkTraits<ClusterClientCache> {
  template <class T>
  using result = void;
};

class UVREDIS_API ClusterClientCache : public Commands<ClusterClientCache> {
 public:
  /// Starts the ClusterClient at once; the per-master caches follow on
  /// demand. Each master's cache uses `options.client` with that master's
  /// address, and `cache` (its bounds apply per master).
  ClusterClientCache(uv_loop_s* loop, ClusterOptions options, ClientCacheOptions cache = {});
  ~ClusterClientCache();
  ClusterClientCache(const ClusterClientCache&) = delete;
  ClusterClientCache& operator=(const ClusterClientCache&) = delete;

  /// For anything not cached. Do not close it yourself: close the cache.
  ClusterClient& cluster() noexcept;

  /// Any command through the cluster, never cached; the local entries of
  /// its keys are dropped first (as ClientCache::command does).
  void command(std::span<const std::string_view> argv, Callback<Reply> cb);
  void command(std::initializer_list<std::string_view> argv, Callback<Reply> cb) {
    command(std::span<const std::string_view>(argv.begin(), argv.size()), std::move(cb));
  }

  /// GET key, lending the value (see ClientCache::get_view): `cb` gets a
  /// view of the bytes, valid only while it runs. Cached as get() is.
  void get_view(std::string_view key, Callback<std::optional<std::string_view>> cb = {}) {
    const std::string_view argv[] = {"GET", key};
    route(argv, detail::CacheHit::lending(std::move(cb)));
  }

  /// Summed over the masters' caches (those closed since are not counted).
  ClientCacheStats stats() const noexcept;
  /// Masters whose cache serves from memory now.
  std::size_t ready_masters() const noexcept;
  /// Called after each invalidation message of any master (see
  /// ClientCache::on_invalidation). Replaces any earlier listener.
  void on_invalidation(Listener<void(const std::vector<std::string>* keys)> fn);

  /// Closes every cache and the ClusterClient, then calls `done` once.
  void close(Once<void()> done = {});

  /// The sink of the typed helpers (see commands.hpp).
  template <class T>
  void send(std::span<const std::string_view> argv, Decoder<T> decode, Callback<T> cb) {
    route(argv, [decode, cb = std::move(cb)](Result<Reply> r) mutable {
      if (cb) cb(decode(std::move(r)));
    });
  }
  template <class T>
  void fail(Error err, Callback<T> cb) {
    cluster_->fail<T>(std::move(err), std::move(cb));
  }

 private:
  struct State;
  void route(std::span<const std::string_view> argv, Callback<Reply> cb);

  std::unique_ptr<ClusterClient> cluster_;
  std::shared_ptr<State> st_;
};

}  // namespace uvredis
