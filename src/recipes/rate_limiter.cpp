#include <uvredis/rate_limiter.hpp>
#include <uvredis/script.hpp>

#include <string>

namespace uvredis {

namespace {

// Shared head of both GCRA scripts. KEYS[1]: the TAT key; ARGV: burst, rate,
// period (µs), cost. Times are µs since 2017-01-01 (about 3e14 today, exact
// in a double; redis_rate uses the same epoch in seconds). Redis 7 replicates
// a script's effects, so reading TIME before writing is allowed; on Redis 5
// and 6 replicate_commands() turns that mode on (it is a no-op in 7).
constexpr const char* kGcraHead = R"lua(
if redis.replicate_commands then redis.replicate_commands() end
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local emission = period / rate
local burst_offset = emission * burst
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1483228800) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local function store(new_tat)
  local reset_after = new_tat - now
  if reset_after > 0 then
    redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', math.ceil(reset_after / 1000))
  end
  return reset_after
end
)lua";

// All or nothing (redis_rate's allowN).
const Script& allow_n_script() {
  static const Script s(std::string(kGcraHead) + R"lua(
local new_tat = tat + emission * cost
local diff = now - (new_tat - burst_offset)
local r = diff / emission
if r < -1e-9 then
  return {0, 0, math.ceil(-diff), math.ceil(tat - now)}
end
local reset_after = store(new_tat)
return {cost, math.floor(r + 1e-9), -1, math.ceil(reset_after)}
)lua");
  return s;
}

// As many as fit, up to cost (redis_rate's allowAtMost, whole requests only).
const Script& allow_at_most_script() {
  static const Script s(std::string(kGcraHead) + R"lua(
local diff = now - (tat - burst_offset)
local remaining = math.floor(diff / emission + 1e-9)
if remaining < 1 then
  local retry = math.ceil(emission - diff)
  if retry < 0 then retry = 0 end
  return {0, 0, retry, math.ceil(tat - now)}
end
if remaining < cost then
  cost = remaining
  remaining = 0
else
  remaining = remaining - cost
end
local reset_after = store(tat + emission * cost)
return {cost, remaining, -1, math.ceil(reset_after)}
)lua");
  return s;
}

Result<RateResult> decode_rate(Result<Reply>&& r, const RateLimit& limit) {
  if (!r) return std::move(r).error();
  RateResult out;
  out.limit = limit;
  auto allowed = script_decode::integer_at(*r, 0);
  auto remaining = script_decode::integer_at(*r, 1);
  auto retry = script_decode::integer_at(*r, 2);
  auto reset = script_decode::integer_at(*r, 3);
  for (auto* e : {&allowed, &remaining, &retry, &reset})
    if (!*e) return e->error();
  out.allowed = *allowed;
  out.remaining = *remaining;
  out.retry_after = std::chrono::microseconds(*retry);
  out.reset_after = std::chrono::microseconds(*reset);
  return out;
}

}  // namespace

RateLimiter::RateLimiter(Executor& ex, std::string prefix) : ex_(&ex), prefix_(std::move(prefix)) {}

void RateLimiter::allow_n(std::string_view key, const RateLimit& limit, long long n, Callback<RateResult> cb) {
  run(false, key, limit, n, std::move(cb));
}

void RateLimiter::allow_at_most(std::string_view key, const RateLimit& limit, long long n, Callback<RateResult> cb) {
  run(true, key, limit, n, std::move(cb));
}

void RateLimiter::run(bool at_most, std::string_view key, const RateLimit& limit, long long n,
                      Callback<RateResult> cb) {
  if (limit.rate <= 0 || limit.burst <= 0 || limit.period.count() <= 0 || n < (at_most ? 1 : 0)) {
    ex_->fail<RateResult>(Error{ErrorKind::usage, "RateLimiter: rate, burst and period must be positive, and n "
                                                  "at least 1 (allow_at_most) or 0 (allow_n)"},
                          std::move(cb));
    return;
  }
  const std::string full_key = prefix_ + std::string(key);
  const std::string burst = std::to_string(limit.burst), rate = std::to_string(limit.rate),
                    period = std::to_string(std::chrono::microseconds(limit.period).count()),
                    cost = std::to_string(n);
  std::string_view keys[] = {full_key};
  std::string_view args[] = {burst, rate, period, cost};
  const Script& s = at_most ? allow_at_most_script() : allow_n_script();
  s.run(*ex_, keys, args, [limit, cb = std::move(cb)](Result<Reply> r) mutable {
    if (cb) cb(decode_rate(std::move(r), limit));
  });
}

void RateLimiter::reset(std::string_view key, Callback<void> cb) {
  const std::string full_key = prefix_ + std::string(key);
  ex_->command({"DEL", full_key}, [cb = std::move(cb)](Result<Reply> r) mutable {
    if (!cb) return;
    if (!r) return cb(std::move(r).error());
    cb(Result<void>());
  });
}

void RateLimiter::rate_limit(std::string_view key, std::chrono::milliseconds period, long long limit,
                             Callback<bool> cb) {
  allow(key, RateLimit{limit, period, limit}, [cb = std::move(cb)](Result<RateResult> r) mutable {
    if (!cb) return;
    if (!r) return cb(std::move(r).error());
    cb(r->allowed > 0);
  });
}

}  // namespace uvredis
