#pragma once
/// @file rate_limiter.hpp
/// RateLimiter: GCRA (generic cell rate algorithm) with the semantics of
/// go-redis/redis_rate: a limit of `rate` requests per `period` with a
/// `burst`; one key per limited resource holding the "theoretical arrival
/// time"; server time (Redis TIME) rather than the client clock; one atomic
/// script per call. Also BeeORM's `rate_limit(key, period, limit) -> bool`.
///
/// Differences from redis_rate, on purpose: time is kept in microseconds and
/// `remaining` is rounded down with a 1e-9 tolerance, so float noise never
/// costs a whole request; allow_at_most grants whole requests only (redis_rate
/// may advance by a fraction of one). Durations come back in microseconds.
///
/// Threading: loop-thread only. Lifetime: the Executor must outlive the
/// limiter and every pending callback; the limiter may be destroyed while
/// calls are in flight. Every callback runs exactly once, never inside the call.

#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>
#include <uvredis/result.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace uvredis {

/// `rate` requests per `period`, with bursts of up to `burst` requests.
struct UVREDIS_API RateLimit {
  long long rate = 0;
  std::chrono::milliseconds period{1000};
  long long burst = 0;

  static RateLimit per_second(long long rate) { return {rate, std::chrono::seconds(1), rate}; }
  static RateLimit per_minute(long long rate) { return {rate, std::chrono::minutes(1), rate}; }
  static RateLimit per_hour(long long rate) { return {rate, std::chrono::hours(1), rate}; }

  friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

/// The answer to one GCRA call.
struct UVREDIS_API RateResult {
  RateLimit limit;
  /// Requests granted by this call (0 when denied; for allow_at_most up to n).
  long long allowed = 0;
  /// Requests that could still be made right now.
  long long remaining = 0;
  /// When denied: how long until the call could succeed. Negative (-1 µs)
  /// when allowed, as redis_rate's -1.
  std::chrono::microseconds retry_after{-1};
  /// How long until the limiter is back to its full burst.
  std::chrono::microseconds reset_after{0};
};

/// GCRA limiter over an Executor. Holds no state of its own beyond the key
/// prefix: any number of limiters (in any number of processes) on the same
/// keys share the limits.
class UVREDIS_API RateLimiter {
 public:
  /// Keys are `prefix + key` ("rate:" as in redis_rate).
  explicit RateLimiter(Executor& ex, std::string prefix = "rate:");

  /// One request.
  void allow(std::string_view key, const RateLimit& limit, Callback<RateResult> cb) {
    allow_n(key, limit, 1, std::move(cb));
  }
  /// `n` requests, all or nothing (n = 0 just reports the state).
  void allow_n(std::string_view key, const RateLimit& limit, long long n, Callback<RateResult> cb);
  /// Up to `n` (>= 1) requests, as many as the limit allows right now.
  void allow_at_most(std::string_view key, const RateLimit& limit, long long n, Callback<RateResult> cb);
  /// Forgets the key's history (full burst again).
  void reset(std::string_view key, Callback<void> cb);

  /// BeeORM's shorthand: one request against `limit` per `period` with a
  /// burst of `limit` (GCRA); true when allowed.
  void rate_limit(std::string_view key, std::chrono::milliseconds period, long long limit, Callback<bool> cb);

 private:
  void run(bool at_most, std::string_view key, const RateLimit& limit, long long n, Callback<RateResult> cb);

  Executor* ex_;
  std::string prefix_;
};

}  // namespace uvredis
