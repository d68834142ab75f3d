#pragma once
/// @file window_limiter.hpp
/// Window rate limiters, for users who want exactly these semantics rather
/// than GCRA (rate_limiter.hpp):
/// - FixedWindowLimiter: at most `limit` requests per window that starts
///   with the first request (a counter whose expiry is set in the same
///   script as the increment, so it can never be left without one);
/// - SlidingWindowLimiter: at most `limit` requests in any window ending now
///   (a log of request times in a sorted set, trimmed by the script; every
///   request gets a member of its own, even within one microsecond).
/// Both use one atomic Lua script per call and the server's clock.
///
/// Threading: loop-thread only. Lifetime: the Executor must outlive the
/// limiter and every pending callback. Every callback runs exactly once,
/// never inside the call.

#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>
#include <uvredis/result.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace uvredis {

/// The answer of a window limiter.
struct UVREDIS_API WindowResult {
  bool allowed = false;
  /// Requests counted in the current window, this one included when allowed.
  long long count = 0;
  /// Requests still possible in the window right now.
  long long remaining = 0;
  /// When denied: how long until a request could be allowed; zero when allowed.
  std::chrono::milliseconds retry_after{0};
  /// How long until the window is empty again (the key expires).
  std::chrono::milliseconds reset_after{0};
};

/// Fixed-window counter over an Executor (see the file comment).
class UVREDIS_API FixedWindowLimiter {
 public:
  /// Keys are `prefix + key`.
  explicit FixedWindowLimiter(Executor& ex, std::string prefix = "fw:");

  /// One request against `limit` (>= 1) per `window` (> 0). Denied requests
  /// are not counted.
  void allow(std::string_view key, long long limit, std::chrono::milliseconds window, Callback<WindowResult> cb);

 private:
  Executor* ex_;
  std::string prefix_;
};

/// Sliding-window log over an Executor (see the file comment).
class UVREDIS_API SlidingWindowLimiter {
 public:
  /// Keys are `prefix + key`.
  explicit SlidingWindowLimiter(Executor& ex, std::string prefix = "sw:");

  /// One request against `limit` (>= 1) in any `window` (> 0). Denied
  /// requests are not logged. Memory per key: one sorted-set entry per
  /// allowed request still inside the window.
  void allow(std::string_view key, long long limit, std::chrono::milliseconds window, Callback<WindowResult> cb);

 private:
  Executor* ex_;
  std::string prefix_;
  std::string id_;  // random per limiter: members of different clients never collide
  std::uint64_t seq_ = 0;
};

}  // namespace uvredis
