#pragma once
/// @file client_cache.hpp
/// ClientCache: server-assisted client-side caching over RESP2. Hot reads
/// (GET, MGET, HGET, HGETALL, HMGET, EXISTS of one key, STRLEN, and any
/// single-key read named in ClientCacheOptions::cached_commands) are answered
/// from memory; Redis tells the cache when a key it served has changed.
///
/// How: the cache owns a Client (the data connection) and a second
/// connection that subscribes to `__redis__:invalidate`. Every handshake of
/// the data connection sends `CLIENT TRACKING ON REDIRECT <id>` with the id of
/// the invalidation connection (learnt from CLIENT ID in that connection's
/// own handshake), in the mode chosen (default, BCAST PREFIX ..., OPTIN).
///
/// Guarantees (see docs/client-cache.md for the reasoning and the limits):
/// - once an invalidation of a key has been read, no value of that key read
///   before it is served or stored (a read in flight when it arrives is
///   answered but not stored);
/// - a null invalidation (FLUSHALL, FLUSHDB) empties the cache;
/// - when either connection leaves `connected`, the cache is emptied at once
///   and nothing is served from memory until both are back, the invalidation
///   connection is subscribed and tracking redirects to its new id;
/// - an entry never outlives the key's TTL (PTTL is fetched with the value,
///   in the same round trip) nor `max_age`;
/// - bounded by `max_entries` and `max_bytes` (least recently used goes).
///
/// Every typed command of commands.hpp exists on a ClientCache: the cached
/// reads above go through the cache, everything else (writes included) goes
/// straight to client(). `command()` is never cached; `cached()` is.
///
/// Threading: loop-thread only. Lifetime: borrows the loop; close(cb) or
/// destroy it, then keep running the loop until it returns. Callbacks run
/// exactly once, never inside the call that issued them (a hit is delivered
/// on a later loop turn too); when the cache is destroyed, reads the server
/// has not answered yet get ErrorKind::closed.

#include <uvredis/callbacks.hpp>
#include <uvredis/client.hpp>
#include <uvredis/commands.hpp>
#include <uvredis/export.hpp>
#include <uvredis/options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

struct uv_loop_s;

namespace uvredis {

/// Which keys the server reports changes of (CLIENT TRACKING modes).
enum class TrackingMode {
  keys,       ///< Default mode: the keys this connection read (the server remembers them).
  broadcast,  ///< BCAST: every key under `prefixes` (all keys when empty); the server remembers nothing per key.
  optin,      ///< OPTIN: only cached reads are tracked (each is preceded by CLIENT CACHING YES).
};

struct UVREDIS_API ClientCacheOptions {
  TrackingMode mode = TrackingMode::keys;
  /// BCAST prefixes (broadcast mode only). Only keys under them are cached:
  /// a read of another key goes to the server every time.
  std::vector<std::string> prefixes{};
  /// Bounds of the local cache; the least recently used entries go first.
  /// An entry counts its key twice, its request twice (entry and index; a
  /// GET entry has none: it is found by its key), its reply bytes, and ~100
  /// bytes of bookkeeping.
  std::size_t max_entries = 100'000;
  std::size_t max_bytes = 64u * 1024 * 1024;
  /// Longest an entry is served, whatever its key's TTL; zero: no cap.
  std::chrono::milliseconds max_age{0};
  /// More read commands to cache (case-insensitive names, for example
  /// "SMEMBERS", "ZRANGE", "ZSCORE"). Each must be read-only and depend on
  /// one key only, at argv[1]; the cache cannot check that.
  std::vector<std::string> cached_commands{};
};

/// Counters of a ClientCache (loop thread).
struct UVREDIS_API ClientCacheStats {
  std::uint64_t hits = 0;           ///< Reads answered from memory.
  std::uint64_t misses = 0;         ///< Cached reads that went to the server (MGET: per key).
  std::uint64_t invalidations = 0;  ///< Keys named by invalidation messages.
  std::uint64_t evictions = 0;      ///< Entries dropped to honour max_entries / max_bytes.
  std::uint64_t expirations = 0;    ///< Entries dropped because their TTL or max_age passed.
  std::uint64_t flushes = 0;        ///< Whole-cache flushes (null invalidation, a connection dropped, clear()).
  std::uint64_t discarded = 0;      ///< Replies not stored: invalidated or flushed while in flight.
  std::size_t entries = 0;          ///< Entries held.
  std::size_t bytes = 0;            ///< Bytes held (as counted for max_bytes).
};

class ClientCache;

namespace detail {

/// Internal to ClientCache: a hit waiting for its loop turn. It holds the
/// caller's typed callback (every Callback<T> has the same size, so one
/// slot fits any) and what it is answered with. For GET (and any read whose
/// callback takes the optional string GET's decoder makes) it views the
/// cached reply and copies the string just before the callback runs: one
/// copy, no Reply copied and nothing decoded, and the copy is freed (by the
/// callback) before the next hit allocates its own. The cache calls pin()
/// before an entry goes while hits are waiting, which copies the value into
/// the hit. Other reads hold a copy of the reply and its decoder.
/// deliver() calls the callback once. Loop thread only.
class CacheHit {
 public:
  /// `value` is a cached entry's reply: it may be viewed until deliver() or
  /// pin(). `cb` is a Callback<T> or anything one is made from: it is built
  /// here, in place.
  template <class T, class F>
  CacheHit(F&& cb, Decoder<T> decoder, const Reply& value) {
    if constexpr (std::is_same_v<T, std::optional<std::string>>) {
      if (decoder == &uvredis::decode::optional_string && (value.is_string() || value.is_status() || value.is_nil())) {
        ::new (static_cast<void*>(cb_)) Callback<T>(std::forward<F>(cb));
        view_ = &value;
        ops_ = &kViewOps;
        return;
      }
    }
    ::new (static_cast<void*>(&reply_)) Reply(value);
    try {
      ::new (static_cast<void*>(cb_)) Callback<T>(std::forward<F>(cb));
    } catch (...) {
      reply_.~Reply();
      throw;
    }
    decode_ = reinterpret_cast<void (*)()>(decoder);
    ops_ = &kOps<T>;
  }
  /// Tag of the lending GET kind (its callback is built in place, as above).
  struct LendTag {};
  /// GET key, lending the value (ClientCache::get_view): the callback views
  /// the cached bytes; nothing is copied unless pin() must.
  template <class F>
  CacheHit(LendTag, F&& cb, const Reply& value) : ops_(&kLendOps) {
    view_ = &value;
    ::new (static_cast<void*>(cb_)) Callback<Lent>(std::forward<F>(cb));
  }
  /// An untyped read (cached(), MGET): the reply as it is.
  CacheHit(Callback<Reply>&& cb, Reply&& value) : ops_(&kOps<Reply>), decode_(nullptr) {
    ::new (static_cast<void*>(&reply_)) Reply(std::move(value));
    ::new (static_cast<void*>(cb_)) Callback<Reply>(std::move(cb));
  }
  CacheHit(CacheHit&& o) noexcept : ops_(o.ops_) {
    if (ops_) ops_->relocate(*this, o);
    o.ops_ = nullptr;
  }
  CacheHit& operator=(CacheHit&&) = delete;
  CacheHit(const CacheHit&) = delete;
  ~CacheHit() {
    if (ops_) ops_->destroy(*this);
  }
  /// Calls the callback (if any) with the decoded reply; at most once.
  void deliver() {
    const Ops* ops = std::exchange(ops_, nullptr);
    if (ops == &kViewOps)
      deliver_view(*this);  // GET's hit, the common case: a direct call
    else if (ops == &kLendOps)
      deliver_lend(*this);
    else if (ops)
      ops->deliver(*this);
  }
  /// Stops viewing a cached reply: the value the hit will deliver is
  /// copied into it now (the entry is about to go).
  void pin() {
    if (ops_ != &kViewOps && ops_ != &kLendOps) return;
    const Reply& r = *view_;
    ::new (static_cast<void*>(&text_)) Text(text_of(r));
    ops_ = ops_ == &kViewOps ? &kTextOps : &kLentTextOps;
  }
  /// What get_view()'s callback is given for GET's reply `r`: a view of its
  /// bytes, empty for nil.
  static Result<std::optional<std::string_view>> lent_of(const Reply& r) {
    if (r.is_nil()) return std::optional<std::string_view>();
    if (!r.is_string() && !r.is_status()) return uvredis::decode::unexpected(r, "string or nil");
    return std::optional<std::string_view>(r.str());
  }
  /// A reply callback that hands GET's reply (or its error) to a
  /// get_view() callback, as a view valid while that callback runs.
  static Callback<Reply> lending(Callback<std::optional<std::string_view>>&& cb) {
    return [cb = std::move(cb)](Result<Reply> r) mutable {
      if (!cb) return;
      if (!r) return cb(std::move(r).error());
      cb(lent_of(*r));
    };
  }

 private:
  using Text = std::optional<std::string>;
  using Lent = std::optional<std::string_view>;
  // Each works on a hit whose ops_ is (or was, for deliver) this table:
  // the callback and the value are alive; after the call they are not.
  struct Ops {
    void (*deliver)(CacheHit& h);
    void (*relocate)(CacheHit& dst, CacheHit& src) noexcept;  // moves cb and value over, ends src's
    void (*destroy)(CacheHit& h) noexcept;
  };
  // A viewing hit uses the first two cache lines only (ops_, view_ and the
  // callback, whose own ops sit at its end): a batch of 1024 hits stays small.
  const Ops* ops_ = nullptr;
  union {
    const Reply* view_;  // kViewOps
    void (*decode_)();   // kOps<T>
  };
  alignas(std::max_align_t) unsigned char cb_[sizeof(Callback<Reply>)];
  union {  // kOps<T>: reply_; kTextOps: text_
    Reply reply_;
    Text text_;
  };
  template <class T>
  static Callback<T>* as(void* p) noexcept {
    return std::launder(static_cast<Callback<T>*>(p));
  }
  // What GET's decoder makes of a string, a status or nil.
  static Text text_of(const Reply& r) { return r.is_nil() ? Text() : Text(std::in_place, r.str()); }
  template <class T>
  static void deliver_as(CacheHit& h) {
    Callback<T>* cb = as<T>(h.cb_);
    if (*cb) {
      if constexpr (std::is_same_v<T, Reply>) {
        if (!h.decode_) cb->call_with(Result<Reply>(std::move(h.reply_)));
        else cb->call_with(reinterpret_cast<Decoder<Reply>>(h.decode_)(Result<Reply>(std::move(h.reply_))));
      } else {
        cb->call_with(reinterpret_cast<Decoder<T>>(h.decode_)(Result<Reply>(std::move(h.reply_))));
      }
    }
    cb->~Callback<T>();
    h.reply_.~Reply();
  }
  static void deliver_view(CacheHit& h) {
    Callback<Text>* cb = as<Text>(h.cb_);
    if (*cb) {
      Result<Text> value{Text()};
      if (!h.view_->is_nil()) value->emplace(h.view_->str());
      cb->call_with(std::move(value));
    }
    cb->~Callback<Text>();
  }
  static void deliver_text(CacheHit& h) {
    Callback<Text>* cb = as<Text>(h.cb_);
    if (*cb) cb->call_with(Result<Text>(std::move(h.text_)));
    cb->~Callback<Text>();
    h.text_.~Text();
  }
  static void deliver_lend(CacheHit& h) {
    Callback<Lent>* cb = as<Lent>(h.cb_);
    if (*cb) cb->call_with(lent_of(*h.view_));
    cb->~Callback<Lent>();
  }
  static void deliver_lent_text(CacheHit& h) {
    Callback<Lent>* cb = as<Lent>(h.cb_);
    if (*cb) cb->call_with(Result<Lent>(h.text_ ? Lent(*h.text_) : Lent()));
    cb->~Callback<Lent>();
    h.text_.~Text();
  }
  template <class T>
  static void relocate_as(CacheHit& dst, CacheHit& src) noexcept {
    dst.decode_ = src.decode_;
    ::new (static_cast<void*>(dst.cb_)) Callback<T>(std::move(*as<T>(src.cb_)));
    as<T>(src.cb_)->~Callback<T>();
    ::new (static_cast<void*>(&dst.reply_)) Reply(std::move(src.reply_));
    src.reply_.~Reply();
  }
  template <class T>
  static void destroy_as(CacheHit& h) noexcept {
    as<T>(h.cb_)->~Callback<T>();
    h.reply_.~Reply();
  }
  // A pinned hit (its value copied into text_), whose callback takes V.
  template <class V>
  static void relocate_text(CacheHit& dst, CacheHit& src) noexcept {
    ::new (static_cast<void*>(dst.cb_)) Callback<V>(std::move(*as<V>(src.cb_)));
    as<V>(src.cb_)->~Callback<V>();
    ::new (static_cast<void*>(&dst.text_)) Text(std::move(src.text_));
    src.text_.~Text();
  }
  template <class V>
  static void destroy_text(CacheHit& h) noexcept {
    as<V>(h.cb_)->~Callback<V>();
    h.text_.~Text();
  }
  template <class T>
  static constexpr Ops kOps = {&deliver_as<T>, &relocate_as<T>, &destroy_as<T>};
  // A hit viewing a cached reply, whose callback takes V.
  template <class V>
  static void relocate_view(CacheHit& dst, CacheHit& src) noexcept {
    ::new (static_cast<void*>(dst.cb_)) Callback<V>(std::move(*as<V>(src.cb_)));
    as<V>(src.cb_)->~Callback<V>();
    dst.view_ = src.view_;
  }
  template <class V>
  static void destroy_view(CacheHit& h) noexcept {
    as<V>(h.cb_)->~Callback<V>();
  }
  static constexpr Ops kTextOps = {&deliver_text, &relocate_text<Text>, &destroy_text<Text>};
  static constexpr Ops kViewOps = {&deliver_view, &relocate_view<Text>, &destroy_view<Text>};
  static constexpr Ops kLentTextOps = {&deliver_lent_text, &relocate_text<Lent>, &destroy_text<Lent>};
  static constexpr Ops kLendOps = {&deliver_lend, &relocate_view<Lent>, &destroy_view<Lent>};
};

}  // namespace detail

/// On a ClientCache, typed helpers take a callback and return nothing.
template <>
struct SinkTraits<ClientCache> {
  template <class T>
  using result = void;
};

class UVREDIS_API ClientCache : public Commands<ClientCache> {
 public:
  /// Starts both connections at once. `options` are the data connection's
  /// (the invalidation connection uses the same address, credentials,
  /// timeouts and reconnect settings). An invalid `cache` option (prefixes
  /// outside broadcast mode) makes every cached read fail with a usage error.
  ClientCache(uv_loop_s* loop, ClientOptions options, ClientCacheOptions cache = {});
  ~ClientCache();
  ClientCache(const ClientCache&) = delete;
  ClientCache& operator=(const ClientCache&) = delete;

  /// The data connection, for anything not cached. Do not replace its
  /// tracking (CLIENT TRACKING) and do not close it yourself: close the
  /// cache. Its on_state_change stays yours.
  Client& client() noexcept;

  /// GET key, from memory when it is cached (the hot path: no argument
  /// list, no request-key copy); otherwise as Commands::get.
  /// `cb` is a Callback or anything one is made from (a callable taking
  /// the Result): on a hit it is built where the hit waits for its turn.
  template <class F = Callback<std::optional<std::string>>>
    requires std::is_constructible_v<Callback<std::optional<std::string>>, F&&>
  void get(std::string_view key, F&& cb = {}) {
    if (const Reply* r = get_hit(key)) {
      hits_->emplace_back(std::forward<F>(cb), &uvredis::decode::optional_string, *r);
      return;
    }
    get_miss(key, Callback<std::optional<std::string>>(std::forward<F>(cb)));
  }

  /// GET key, lending the value instead of copying it: `cb` gets a view of
  /// the bytes, valid only while it runs (copy what you keep). Otherwise as
  /// get(): from memory when cached (without the allocation and copy of the
  /// string a get() hit hands out), else from the server, the reply stored
  /// the same way; empty for a key that does not exist.
  /// `cb` as for get().
  template <class F = Callback<std::optional<std::string_view>>>
    requires std::is_constructible_v<Callback<std::optional<std::string_view>>, F&&>
  void get_view(std::string_view key, F&& cb = {}) {
    if (const Reply* r = get_hit(key)) {
      hits_->emplace_back(detail::CacheHit::LendTag{}, std::forward<F>(cb), *r);
      return;
    }
    get_view_miss(key, Callback<std::optional<std::string_view>>(std::forward<F>(cb)));
  }

  /// Any command, never cached. Unlike client().command, it first drops the
  /// local entries of the command's keys (it may write them: a read issued
  /// after it goes to the server); FLUSHALL/FLUSHDB empty the cache.
  void command(std::span<const std::string_view> argv, Callback<Reply> cb);
  void command(std::initializer_list<std::string_view> argv, Callback<Reply> cb) {
    command(std::span<const std::string_view>(argv.begin(), argv.size()), std::move(cb));
  }
  /// A read-only command on the key at argv[1], cached by its exact
  /// arguments. The caller vouches that its reply depends on that key only.
  void cached(std::span<const std::string_view> argv, Callback<Reply> cb);
  void cached(std::initializer_list<std::string_view> argv, Callback<Reply> cb) {
    cached(std::span<const std::string_view>(argv.begin(), argv.size()), std::move(cb));
  }

  /// True while values may be served from memory: both connections up, the
  /// invalidation connection subscribed and tracking redirected to it.
  bool ready() const noexcept;
  /// Called whenever ready() changes (true: serving from memory again;
  /// false: a connection dropped and the cache was emptied). It must not
  /// throw; it may close or destroy the cache. Replaces any earlier listener.
  void on_ready_change(Listener<void(bool ready)> fn);
  /// Empties the local cache (counts as a flush).
  void clear();
  ClientCacheStats stats() const noexcept;
  /// Called after each invalidation message was applied: the keys it named,
  /// or null for "everything" (FLUSHALL). For tests and metrics; it must not
  /// throw; it may close or destroy the cache. Replaces any earlier listener.
  void on_invalidation(Listener<void(const std::vector<std::string>* keys)> fn);

  /// Closes both connections (pending reads complete or fail as on a
  /// Client), then calls `done` once.
  void close(Once<void()> done = {});

  /// The sink of the typed helpers (see commands.hpp): cached reads go
  /// through the cache, every other command to client().
  template <class T>
  void send(std::span<const std::string_view> argv, Decoder<T> decode, Callback<T>&& cb) {
    // A hit is copied into the batch answered on the next turn, with the
    // typed callback as it is (no wrapper, no allocation beyond the copy).
    if (const Reply* r = hit(argv)) {
      hits_->emplace_back(std::move(cb), decode, *r);
      return;
    }
    route(argv, [decode, cb = std::move(cb)](Result<Reply> r) mutable {
      if (cb) cb(decode(std::move(r)));
    });
  }
  template <class T>
  void fail(Error err, Callback<T>&& cb) {
    fail_reply(
        [cb = std::move(cb)](Result<Reply> r) mutable {
          if (cb) cb(std::move(r).error());
        },
        std::move(err));
  }

 private:
  friend class ClusterClientCache;  // one ClientCache per master
  struct State;
  void route(std::span<const std::string_view> argv, Callback<Reply> cb);
  // The cached reply of a single-key cached read (of GET key) when it may
  // be served from memory now, else null. On a hit (counted), the batch of
  // this turn is scheduled and the caller appends the hit to *hits_.
  const Reply* hit(std::span<const std::string_view> argv);
  const Reply* get_hit(std::string_view key);
  // Out of line, so the hit path above stays small.
  void get_miss(std::string_view key, Callback<std::optional<std::string>>&& cb);
  void get_view_miss(std::string_view key, Callback<std::optional<std::string_view>>&& cb);
  // 0: not a cached read; 1: a single-key cached read; 2: MGET.
  int cache_path(std::span<const std::string_view> argv) const;
  // Drops the local entries of argv's keys (a command that may write them).
  void forget(std::span<const std::string_view> argv);
  void fail_reply(Callback<Reply> cb, Error err);

  std::unique_ptr<Client> client_;
  std::shared_ptr<State> st_;
  std::vector<detail::CacheHit>* hits_ = nullptr;  // the state's batch of this turn
};

}  // namespace uvredis
