#pragma once
// The shared state of a ClientCache (internal). Its parts live in files
// named after what they do:
//   client_cache_store.cpp     the LRU store, its bounds, reads in flight
//   client_cache_tracking.cpp  the two links: tracking, invalidations, readiness
//   client_cache_reads.cpp     the read paths: hits, single-key misses, MGET
//   client_cache.cpp           the ClientCache object: construction, close
// The state is shared (callbacks of reads in flight and the hit batch hold
// it), so it outlives the ClientCache until they have run.

#include <uvredis/client_cache.hpp>

#include "link/connection.hpp"
#include "link/scheduler.hpp"
#include "recipes/client_cache_index.hpp"
#include "sentinel/sentinel.hpp"

#include <spdlog/spdlog.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace uvredis {

namespace detail {

inline constexpr std::string_view kInvalidateChannel = "__redis__:invalidate";

// Binary-safe request key: the command name upper-cased, every argument
// length-prefixed, so no two different requests share one. Written into
// `out` (cleared first), so a lookup can reuse one buffer.
void cache_signature(std::string& out, std::span<const std::string_view> argv);
std::string cache_signature(std::span<const std::string_view> argv);

// Lets the request-key index be searched with a string_view (no copy).
struct SigHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace detail

struct ClientCache::State : std::enable_shared_from_this<State> {
  struct Entry {
    std::string sig;  // empty for GET key: that entry is found by its key (by_get)
    std::string key;
    Reply value;
    std::uint64_t expires_ns = 0;  // 0: only an invalidation ends it
    std::size_t bytes = 0;
  };
  using Iter = std::list<Entry>::iterator;

  // What a read captured when it was sent; its reply is stored only when
  // nothing that could make it stale happened since (see end_read()).
  struct Ticket {
    std::uint64_t epoch = 0;
    std::uint64_t invalidated = 0;
  };
  struct InFlight {
    std::size_t refs = 0;
    std::uint64_t invalidated = 0;  // invalidations of the key seen while reads were in flight
  };

  uv_loop_t* loop = nullptr;
  ClientCacheOptions opts;
  std::shared_ptr<spdlog::logger> log;
  Client* client = nullptr;  // owned by the ClientCache; null once it is gone
  detail::Connection* inv = nullptr;
  std::shared_ptr<detail::SentinelResolver> sentinel;
  std::optional<Error> config_error;
  std::vector<std::string> extra_cmds;  // upper-case
  // False in a cluster: a reply saying the key does not exist is not
  // stored, because the key may be created on another master after its
  // slot moves, and this master would never report that.
  bool store_absent = true;

  bool data_up = false;
  bool sub_ready = false;        // the invalidation link is connected and subscribed
  long long inv_id = 0;          // the invalidation link's client id (0: not connected)
  long long pending_inv_id = 0;  // from its handshake, taken once it reports connected
  long long tracking_for = 0;    // the id the data link's tracking is known to redirect to
  // The server accepted CLIENT TRACKING once: only then does it go into the
  // data link's handshake, where a refusal (an ACL without CLIENT, Redis
  // before 6) would fail every connect instead of only disabling the cache.
  bool tracking_accepted = false;
  std::uint64_t epoch = 1;  // bumped by every flush
  bool closed = false;

  std::list<Entry> lru;  // front: most recently used
  std::unordered_map<std::string, Iter, detail::SigHash, std::equal_to<>> by_sig;  // all but GET entries
  // The entries of GET key by their key (compared in the entry: the index
  // holds no copy of it); the hot path builds no request key.
  detail::KeyIndex<Iter> by_get;
  std::unordered_map<std::string, std::vector<Iter>> by_key;
  std::unordered_map<std::string, InFlight> inflight;
  std::string scratch;  // the request key of the lookup being made (keeps its capacity)
  ClientCacheStats stats;
  std::function<void(const std::vector<std::string>*)> on_inv;

  std::function<void(bool)> on_ready;
  bool reported_ready = false;
  bool report_posted = false;

  // Hits of one loop turn wait here and are answered together on the next
  // turn by one scheduler task (no function posted per hit). `keep` holds
  // the state while a batch is owed, so it is delivered even when the
  // ClientCache is destroyed meanwhile.
  detail::Scheduler::Ref sched;
  detail::Scheduler::Task drain_task{[](void* p) { static_cast<State*>(p)->drain_hits(); }, this};
  std::vector<detail::CacheHit> hits_out;
  std::vector<detail::CacheHit> hits_running;
  std::shared_ptr<State> keep;
  // A waiting GET hit views its entry's value (see CacheHit): before an
  // entry goes, pin_hits() has every waiting hit copy what it views. These
  // mark how far that has been done, so each hit is pinned at most once.
  std::size_t out_pinned = 0;  // hits_out[0, out_pinned) view nothing
  std::size_t run_pinned = 0;  // likewise in hits_running (the batch being delivered)

  bool ready() const noexcept { return !closed && data_up && sub_ready && inv_id != 0 && tracking_for == inv_id; }
  // Whether `key` may be served from memory now.
  bool may_serve(std::string_view key) const noexcept { return ready() && !config_error && tracked_key(key); }
  // may_serve() of every key, as one flag for the hit path: set by
  // update_serving(), which runs after every change of what ready() reads
  // (a flag left true would serve from a cache that must not be; one left
  // false only sends hits the long way). Never true with broadcast prefixes.
  bool serving = false;
  void update_serving() noexcept {
    serving = ready() && !config_error && (opts.mode != TrackingMode::broadcast || opts.prefixes.empty());
  }

  // --- the store (client_cache_store.cpp)
  void pin_hits();
  void erase(Iter it);
  void unindex(Iter it);
  // The value of an entry found by a read, unless it has expired (then it
  // goes); it becomes the most recently used. Inline: every hit runs it.
  const Reply* serve(Iter it) {
    // The clock is read only for entries that can expire.
    if (it->expires_ns != 0 && uv_hrtime() >= it->expires_ns) {
      expire(it);
      return nullptr;
    }
    if (it != lru.begin()) lru.splice(lru.begin(), lru, it);
    return &it->value;
  }
  void expire(Iter it);
  const Reply* lookup(std::string_view sig);
  const Reply* lookup_get(std::string_view key) {
    const Iter* it = by_get.find(key);
    return it ? serve(*it) : nullptr;
  }
  // `sig` empty: the entry of GET key.
  void store(std::string sig, std::string key, Reply value, std::uint64_t expires_ns);
  void drop_key(const std::string& key);
  void flush(bool count = true);
  Ticket begin_read(const std::string& key);
  bool end_read(const std::string& key, const Ticket& t);
  std::uint64_t deadline(std::uint64_t sent_ns, const Result<Reply>& pttl) const;
  bool storable(const Result<Reply>& pttl) const;
  bool tracked_key(std::string_view key) const {
    return opts.mode != TrackingMode::broadcast || opts.prefixes.empty() || under_prefix(key);
  }
  bool under_prefix(std::string_view key) const;

  // --- the links (client_cache_tracking.cpp)
  void report_ready();
  std::vector<std::string> tracking_argv(long long id) const;
  void enable_tracking();
  void on_data_state(ConnectionState s);
  void on_inv_state(ConnectionState s);
  void on_push(Reply&& r);
  void passing(std::span<const std::string_view> argv);

  // --- the read paths (client_cache_reads.cpp)
  int cache_path(std::span<const std::string_view> argv) const;
  const Reply* hit(std::span<const std::string_view> argv);
  // A hit was added to hits_out: make sure the batch is answered next turn.
  void schedule_hits() {
    if (!drain_task.scheduled()) schedule_drain();
  }
  void schedule_drain();
  void drain_hits();
  void single(std::span<const std::string_view> argv, std::string_view key_view, Callback<Reply> cb);
  void mget(std::span<const std::string_view> argv, Callback<Reply> cb);
};

}  // namespace uvredis
