#include <uvredis/script.hpp>
#include <uvredis/window_limiter.hpp>

#include "base/random.hpp"

#include <algorithm>

#include <string>

namespace uvredis {

namespace {

// KEYS[1]: the counter; ARGV[1] limit, ARGV[2] window (ms).
// Returns {allowed, count, pttl}.
const Script& fixed_script() {
  static const Script s(R"lua(
local limit = tonumber(ARGV[1])
local count = tonumber(redis.call('GET', KEYS[1])) or 0
local allowed = 0
if count < limit then
  count = redis.call('INCR', KEYS[1])
  if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  allowed = 1
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then
  -- A counter without expiry (left by someone else): give it one now.
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
elseif ttl < 0 then
  ttl = 0
end
return {allowed, count, ttl}
)lua");
  return s;
}

// KEYS[1]: the log (score = request time in µs); ARGV[1] limit, ARGV[2]
// window (ms), ARGV[3] a member unique to this request.
// Returns {allowed, count, retry_after_us, pttl}.
const Script& sliding_script() {
  static const Script s(R"lua(
if redis.replicate_commands then redis.replicate_commands() end
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2]) * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, count + 1, 0, tonumber(ARGV[2])}
end
-- Denied: a slot frees when the entry that keeps the count at the limit
-- leaves the window.
local e = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local retry = tonumber(e[2]) + window - now
if retry < 0 then retry = 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {0, count, retry, ttl}
)lua");
  return s;
}

bool bad_args(long long limit, std::chrono::milliseconds window) { return limit <= 0 || window.count() <= 0; }

}  // namespace

FixedWindowLimiter::FixedWindowLimiter(Executor& ex, std::string prefix) : ex_(&ex), prefix_(std::move(prefix)) {}

void FixedWindowLimiter::allow(std::string_view key, long long limit, std::chrono::milliseconds window,
                               Callback<WindowResult> cb) {
  if (bad_args(limit, window)) {
    ex_->fail<WindowResult>(Error{ErrorKind::usage, "FixedWindowLimiter: limit and window must be positive"},
                            std::move(cb));
    return;
  }
  const std::string full_key = prefix_ + std::string(key);
  const std::string limit_s = std::to_string(limit), window_s = std::to_string(window.count());
  std::string_view keys[] = {full_key};
  std::string_view args[] = {limit_s, window_s};
  fixed_script().run(*ex_, keys, args, [limit, cb = std::move(cb)](Result<Reply> r) mutable {
    if (!cb) return;
    auto v = script_decode::integers(std::move(r));
    if (!v) return cb(std::move(v).error());
    if (v->size() != 3) return cb(Error{ErrorKind::protocol, "fixed window script: expected 3 integers"});
    WindowResult w;
    w.allowed = (*v)[0] != 0;
    w.count = (*v)[1];
    w.remaining = std::max(0LL, limit - w.count);
    w.reset_after = std::chrono::milliseconds((*v)[2]);
    w.retry_after = w.allowed ? std::chrono::milliseconds(0) : w.reset_after;
    cb(w);
  });
}

SlidingWindowLimiter::SlidingWindowLimiter(Executor& ex, std::string prefix)
    : ex_(&ex), prefix_(std::move(prefix)), id_(detail::random_hex_token(8)) {}

void SlidingWindowLimiter::allow(std::string_view key, long long limit, std::chrono::milliseconds window,
                                 Callback<WindowResult> cb) {
  if (bad_args(limit, window)) {
    ex_->fail<WindowResult>(Error{ErrorKind::usage, "SlidingWindowLimiter: limit and window must be positive"},
                            std::move(cb));
    return;
  }
  const std::string full_key = prefix_ + std::string(key);
  const std::string limit_s = std::to_string(limit), window_s = std::to_string(window.count());
  const std::string member = id_ + ":" + std::to_string(++seq_);
  std::string_view keys[] = {full_key};
  std::string_view args[] = {limit_s, window_s, member};
  sliding_script().run(*ex_, keys, args, [limit, cb = std::move(cb)](Result<Reply> r) mutable {
    if (!cb) return;
    auto v = script_decode::integers(std::move(r));
    if (!v) return cb(std::move(v).error());
    if (v->size() != 4) return cb(Error{ErrorKind::protocol, "sliding window script: expected 4 integers"});
    WindowResult w;
    w.allowed = (*v)[0] != 0;
    w.count = (*v)[1];
    w.remaining = std::max(0LL, limit - w.count);
    // µs -> ms, rounded up: waiting that long is enough.
    w.retry_after = std::chrono::milliseconds(((*v)[2] + 999) / 1000);
    w.reset_after = std::chrono::milliseconds((*v)[3]);
    cb(w);
  });
}

}  // namespace uvredis
