#pragma once
/// @file lock.hpp
/// Distributed locks on one Redis key: Locker hands out Locks; a Lock can
/// release, refresh, read its TTL and keep itself alive with a loop timer.
///
/// Design (as bsm/redislock, plus what it leaves to its users):
/// - the lock value is a random 128-bit owner token (getrandom(2)) followed
///   by the caller's metadata; obtain is `SET key value NX PX ttl`, and
///   release / refresh / ttl are Lua compare-and-act scripts, so a client
///   never deletes or extends a lock it no longer owns;
/// - each grant also INCRs a companion counter key (the fencing token) in the
///   same script, so a protected resource can reject a stale holder;
/// - waiting for a held lock retries on uv timers with exponential backoff
///   and jitter: never a busy loop, never a blocked loop.
///
/// Only the public Executor interface is used, so a Locker works on any
/// Executor (Client, Lease, cluster client).
///
/// Threading: loop-thread only, like the Executor. Lifetime: the Executor
/// must outlive the Locker, every Lock and every pending callback. Every
/// callback runs exactly once, never inside the call that started it.

#include <uvredis/callbacks.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>
#include <uvredis/result.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace uvredis {

namespace detail {
struct LockState;
struct LockAccess;
}

/// Retry policy of a Locker while it waits for a held lock, and the safety
/// margin of the locks it hands out.
struct UVREDIS_API LockerOptions {
  /// First wait between attempts; doubles on every failed attempt up to
  /// retry_max. Each wait is drawn at random from [d/2, d] (jitter), so
  /// contenders spread out instead of retrying in step.
  std::chrono::milliseconds retry_min{8};
  std::chrono::milliseconds retry_max{256};

  /// Drift margin (as Redlock): a Lock counts as valid only until
  ///   (time its SET or refresh was sent) + TTL - drift,
  ///   drift = TTL * drift_factor + drift_extra,
  /// by this process's monotonic clock, taken before the command is issued.
  /// The server starts its TTL later than that (when the command arrives),
  /// so the key can expire no earlier than the send time + TTL; the margin
  /// covers what the clocks and timers add on top: the two clocks' rate
  /// difference, libuv's millisecond loop clock and timer granularity, and
  /// the latency of the loop waking up. on_lost (auto_refresh) fires at the
  /// end of validity, so it runs before another client can get the key,
  /// provided the loop (and the process) is not held up for longer than the
  /// margin at that moment. Redlock adds 2 ms to a one-off computation; a
  /// timer on a shared loop also pays for the loop's other work and the
  /// scheduler, hence 10 ms: a loop that can stall for longer needs more.
  /// A TTL no longer than the margin gives a Lock without validity. Zero for
  /// both reproduces "valid until exactly send time + TTL", with which a
  /// contender got the key before on_lost in several rounds out of 24.
  double drift_factor = 0.01;
  std::chrono::milliseconds drift_extra{10};
};

/// Per-obtain settings.
struct UVREDIS_API ObtainOptions {
  /// Stored with the lock (after the token) and returned by Lock::metadata().
  std::string metadata;
  /// The fencing counter's key; empty derives it from the lock key, in the
  /// same cluster slot: `k:fence` when k has a hash tag, else `{k}:fence`.
  /// The counter never expires: it must keep growing across grants.
  std::string fence_key;
};

/// A held lock. Movable, not copyable (a moved-from Lock may only be
/// destroyed or assigned to). Destroying it stops its auto-refresh timer but
/// does not release the key (that needs a round trip: call release() first,
/// or let the TTL expire). Callbacks of calls made on it still run after its
/// destruction. Loop-thread only; destroy it before its Executor.
class UVREDIS_API Lock {
 public:
  Lock(Lock&&) noexcept;
  Lock& operator=(Lock&&) noexcept;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  ~Lock();

  /// The locked key.
  const std::string& key() const noexcept;
  /// The owner token (32 hex characters).
  const std::string& token() const noexcept;
  /// What ObtainOptions::metadata stored with the lock.
  const std::string& metadata() const noexcept;
  /// The fencing token of this grant: strictly greater than that of every
  /// earlier grant of the same lock.
  long long fence() const noexcept;
  /// The TTL most recently granted (by obtain or refresh).
  std::chrono::milliseconds granted_ttl() const noexcept;

  /// How much longer this client may rely on holding the lock: the end of
  /// validity (the send time of the last successful obtain or refresh plus
  /// its TTL minus the drift margin, see LockerOptions) less the current
  /// monotonic time; zero once that has passed or the lock is known lost. Work protected by the lock should finish within it. A grant
  /// whose reply took longer than the TTL less the margin comes with zero
  /// validity: check it after obtain() when the link may be slow. No round
  /// trip: ttl() asks the server instead.
  std::chrono::milliseconds validity() const noexcept;

  /// True once this Lock knows it no longer holds the key: release() or
  /// refresh() reported it gone, it was released, or on_lost fired.
  bool lost() const noexcept;

  /// Deletes the key if it still holds our token. Yields true when it did,
  /// false when the lock was no longer ours (expired or taken): nothing was
  /// deleted. Stops auto-refresh first (no on_lost after a release).
  void release(Callback<bool> cb);

  /// Sets the key's TTL to `ttl` if it still holds our token; false once
  /// the lock is lost. Also becomes the TTL used by auto-refresh.
  void refresh(std::chrono::milliseconds ttl, Callback<bool> cb);

  /// The remaining time to live on the server (PTTL); zero once the lock is
  /// lost (expired, released or taken by someone else). This is the
  /// server's view, without the drift margin: rely on validity() instead.
  void ttl(Callback<std::chrono::milliseconds> cb);

  /// Keeps the lock alive: refreshes it to granted_ttl() every `every`
  /// (zero: a third of the TTL). `on_lost` runs at most once, and never
  /// after release() or the Lock's destruction:
  /// - with nullptr when a refresh found the key gone or owned by another;
  /// - with the last error when no refresh succeeded before the end of
  ///   validity (the link is down or the server unreachable): it runs at
  ///   that instant, the drift margin before the key can expire on the
  ///   server, so before another client can obtain it (see LockerOptions
  ///   for what that needs of the loop).
  /// Calling it again replaces the callback and the interval. The timer
  /// keeps the loop alive: stop it (or destroy the Lock) before closing the
  /// Executor, or on_lost reports the closed Executor within a TTL.
  void auto_refresh(Once<void(const Error*)> on_lost, std::chrono::milliseconds every = {});
  /// Stops auto-refresh (the lock itself stays until its TTL).
  void stop_auto_refresh();

 private:
  friend struct detail::LockAccess;
  explicit Lock(std::shared_ptr<detail::LockState> st) : st_(std::move(st)) {}
  std::shared_ptr<detail::LockState> st_;
};

/// Obtains locks through an Executor. Cheap; keep one per Executor or make
/// them as needed. Loop-thread only; pending obtains keep what they need, so
/// the Locker may be destroyed while they wait.
class UVREDIS_API Locker {
 public:
  explicit Locker(Executor& ex, LockerOptions options = {});

  /// Tries to take `key` for `ttl` (> 0). When it is held, retries until
  /// `wait_timeout` has passed; with a zero wait_timeout it tries once.
  /// `cb` gets a Lock, or an empty optional when the lock could not be
  /// obtained in time ("not obtained" is not an error), or an error (the
  /// first transport or server error ends the wait).
  void obtain(std::string_view key, std::chrono::milliseconds ttl, std::chrono::milliseconds wait_timeout,
              Callback<std::optional<Lock>> cb, ObtainOptions options = {});

  /// The Executor this Locker sends through.
  Executor& executor() const noexcept { return *ex_; }

 private:
  Executor* ex_;
  LockerOptions opts_;
};

}  // namespace uvredis
