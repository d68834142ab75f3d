#include <uvredis/lock.hpp>
#include <uvredis/script.hpp>

#include "recipes/lock_detail.hpp"
#include "base/random.hpp"
#include "base/uv_handle.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace uvredis {

using std::chrono::milliseconds;

// ------------------------------------------------------------- pure parts

namespace detail {

std::string fence_key_for(std::string_view key) {
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) return std::string(key) + ":fence";
  }
  if (key.find('}') == std::string_view::npos) {
    // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, a false
    // positive) about "literal" + std::string.
    std::string fenced = "{";
    fenced += key;
    fenced += "}:fence";
    return fenced;
  }
  return std::string(key) + ":fence";
}

milliseconds lock_retry_delay(unsigned attempt, const LockerOptions& o, std::uint64_t random) noexcept {
  const long long lo = std::max<long long>(1, o.retry_min.count());
  const long long hi = std::max<long long>(lo, o.retry_max.count());
  long long d = lo;
  for (unsigned i = 0; i < attempt && d < hi; ++i) d *= 2;
  d = std::min(d, hi);
  const long long half = d / 2;
  const long long span = d - half + 1;  // [d/2, d]
  return milliseconds(std::max<long long>(1, half + static_cast<long long>(random % static_cast<std::uint64_t>(span))));
}

milliseconds lock_drift(milliseconds ttl, const LockerOptions& o) noexcept {
  const double factor = o.drift_factor > 0 ? o.drift_factor : 0.0;
  // Rounded up: a margin is never smaller than asked for.
  const auto scaled = static_cast<long long>(std::ceil(static_cast<double>(ttl.count()) * factor));
  return milliseconds(scaled + std::max<long long>(0, o.drift_extra.count()));
}

std::uint64_t lock_valid_until(std::uint64_t sent_at, milliseconds ttl, const LockerOptions& o) noexcept {
  const long long left = ttl.count() - lock_drift(ttl, o).count();
  // A TTL no longer than its margin gives no validity at all: the lock may
  // already be gone by the time the reply is read.
  return left > 0 ? sent_at + static_cast<std::uint64_t>(left) : sent_at;
}

// ------------------------------------------------------------- the state

struct LockState : std::enable_shared_from_this<LockState> {
  Executor* ex = nullptr;
  std::string key;
  std::string token;
  std::string metadata;
  long long fence = 0;
  milliseconds ttl{0};
  bool lost = false;
  LockerOptions opts;  // for the drift margin

  // The loop time (uv_now, ms) taken just before the last successful obtain
  // or refresh was issued, and the end of validity derived from it: that
  // plus its TTL minus the drift margin. The server started its TTL when
  // the command arrived, later than this clock reading, so both err on the
  // safe side.
  std::uint64_t confirmed_at = 0;
  std::uint64_t valid_until = 0;

  void confirm(std::uint64_t sent_at, milliseconds granted) {
    confirmed_at = sent_at;
    valid_until = lock_valid_until(sent_at, granted, opts);
  }

  // Auto-refresh. `generation` changes on every start/stop so replies of an
  // earlier run are recognised and ignored.
  bool auto_on = false;
  std::uint64_t generation = 0;
  bool in_flight = false;
  milliseconds every{0};
  Once<void(const Error*)> on_lost;
  std::optional<Error> last_error;  // first failure since the last success
  UvHandle<uv_timer_t> timer;

  void stop_auto() {
    auto_on = false;
    ++generation;
    in_flight = false;
    on_lost = nullptr;
    timer.close();
  }
};

struct LockAccess {
  static Lock make(std::shared_ptr<LockState> st) { return Lock(std::move(st)); }
};

}  // namespace detail

namespace {

// KEYS[1] lock, KEYS[2] fencing counter; ARGV[1] token..metadata, ARGV[2] ttl ms.
const Script& obtain_script() {
  static const Script s(R"lua(
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
)lua");
  return s;
}

// Every owner-only script starts by checking that the value begins with our
// token (ARGV[1]); the rest of the value is metadata.
std::string if_ours(const char* then) {
  return std::string(R"lua(
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
)lua") + then;
}

const Script& release_script() {
  static const Script s(if_ours("return redis.call('DEL', KEYS[1])\n"));
  return s;
}

// ARGV[2]: the new TTL in ms.
const Script& refresh_script() {
  static const Script s(if_ours("return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"));
  return s;
}

// PTTL when ours; 0 otherwise (-1 = someone made it persistent).
const Script& ttl_script() {
  static const Script s(if_ours("return redis.call('PTTL', KEYS[1])\n"));
  return s;
}

std::uint64_t now_ms(Executor& ex) { return uv_now(ex.loop()); }

void declare_lost(detail::LockState& st, const Error* why) {
  st.lost = true;
  auto cb = std::move(st.on_lost);
  st.stop_auto();
  if (cb) cb(why);
}

void arm(detail::LockState& st, std::uint64_t delay_ms);

void send_refresh(const std::shared_ptr<detail::LockState>& st) {
  const std::uint64_t sent_at = now_ms(*st->ex);
  const std::uint64_t gen = st->generation;
  const milliseconds ttl = st->ttl;
  st->in_flight = true;
  // The attempt may take as long as the lock is still valid, no longer: a
  // refresh that lands after expiry is worthless.
  CommandOptions opts;
  opts.timeout = milliseconds(std::max<std::uint64_t>(1, st->valid_until > sent_at ? st->valid_until - sent_at : 0));
  const std::string ttl_s = std::to_string(ttl.count());
  std::string_view keys[] = {st->key};
  std::string_view args[] = {st->token, ttl_s};
  refresh_script().run(
      *st->ex, keys, args,
      [st, gen, sent_at, ttl](Result<Reply> r) {
        if (gen != st->generation || !st->auto_on) return;  // stopped or restarted meanwhile
        st->in_flight = false;
        if (r && r->is_integer() && r->integer() == 1) {
          st->confirm(sent_at, ttl);
          st->last_error.reset();
          const std::uint64_t next = sent_at + static_cast<std::uint64_t>(st->every.count());
          const std::uint64_t now = now_ms(*st->ex);
          arm(*st, next > now ? next - now : 0);
          return;
        }
        if (r) {
          // Gone, or someone else's token: a definite answer.
          declare_lost(*st, nullptr);
          return;
        }
        // Keep the first error of an outage: it says why (connection lost,
        // refused); the retries that follow mostly just time out.
        if (!st->last_error) st->last_error = std::move(r).error();
        const std::uint64_t now = now_ms(*st->ex);
        if (now >= st->valid_until) {
          Error why = *st->last_error;
          declare_lost(*st, &why);
          return;
        }
        // Try again soon, but never later than the moment it would expire.
        const auto retry = static_cast<std::uint64_t>(std::clamp<long long>(st->every.count() / 4, 10, 1000));
        arm(*st, std::min(retry, st->valid_until - now));
      },
      opts);
}

void on_tick(uv_timer_t* t) {
  auto* raw = static_cast<detail::LockState*>(t->data);
  auto st = raw->shared_from_this();  // on_lost may destroy the Lock
  if (!st->auto_on) return;
  const std::uint64_t now = now_ms(*st->ex);
  if (now >= st->valid_until) {
    Error why = st->last_error.value_or(
        Error{ErrorKind::timeout, "lock not confirmed within its TTL (refreshes did not succeed in time)"});
    declare_lost(*st, &why);
    return;
  }
  if (!st->in_flight) send_refresh(st);
  // Watchdog: whatever happens to the refresh, wake up when the lock would
  // expire (a successful reply re-arms for the next refresh).
  arm(*st, st->valid_until - now);
}

void arm(detail::LockState& st, std::uint64_t delay_ms) {
  if (!st.timer) {
    uv_timer_t* t = st.timer.allocate();
    uv_timer_init(st.ex->loop(), t);
    t->data = &st;
  }
  uv_timer_start(st.timer.get(), &on_tick, delay_ms, 0);
}

}  // namespace

// ------------------------------------------------------------------ Lock

Lock::Lock(Lock&&) noexcept = default;

Lock& Lock::operator=(Lock&& o) noexcept {
  if (this != &o) {
    if (st_) st_->stop_auto();
    st_ = std::move(o.st_);
  }
  return *this;
}

Lock::~Lock() {
  if (st_) st_->stop_auto();
}

const std::string& Lock::key() const noexcept { return st_->key; }
const std::string& Lock::token() const noexcept { return st_->token; }
const std::string& Lock::metadata() const noexcept { return st_->metadata; }
long long Lock::fence() const noexcept { return st_->fence; }
milliseconds Lock::granted_ttl() const noexcept { return st_->ttl; }
bool Lock::lost() const noexcept { return st_->lost; }

milliseconds Lock::validity() const noexcept {
  if (st_->lost) return milliseconds(0);
  // A fresh clock reading, not the loop's cached time, which lags while a
  // callback runs: the answer must not overstate. uv_hrtime is the clock
  // uv_now derives from (or ahead of it when uv_now uses the coarse clock).
  const std::uint64_t now = uv_hrtime() / 1000000;
  return milliseconds(st_->valid_until > now ? static_cast<long long>(st_->valid_until - now) : 0);
}

void Lock::release(Callback<bool> cb) {
  st_->stop_auto();
  std::string_view keys[] = {st_->key};
  std::string_view args[] = {st_->token};
  release_script().run(*st_->ex, keys, args, [st = st_, cb = std::move(cb)](Result<Reply> r) mutable {
    Result<bool> b = script_decode::lua_boolean(std::move(r));
    if (b) st->lost = true;  // released now, or it was already gone
    if (cb) cb(std::move(b));
  });
}

void Lock::refresh(milliseconds ttl, Callback<bool> cb) {
  if (ttl.count() <= 0) {
    st_->ex->fail<bool>(Error{ErrorKind::usage, "Lock::refresh: ttl must be positive"}, std::move(cb));
    return;
  }
  const std::uint64_t sent_at = now_ms(*st_->ex);
  const std::string ttl_s = std::to_string(ttl.count());
  std::string_view keys[] = {st_->key};
  std::string_view args[] = {st_->token, ttl_s};
  refresh_script().run(*st_->ex, keys, args, [st = st_, ttl, sent_at, cb = std::move(cb)](Result<Reply> r) mutable {
    Result<bool> b = script_decode::lua_boolean(std::move(r));
    if (b) {
      if (*b) {
        st->ttl = ttl;
        st->confirm(sent_at, ttl);
      } else {
        st->lost = true;  // auto-refresh, if on, reports it at its next round
      }
    }
    if (cb) cb(std::move(b));
  });
}

void Lock::ttl(Callback<milliseconds> cb) {
  std::string_view keys[] = {st_->key};
  std::string_view args[] = {st_->token};
  ttl_script().run(*st_->ex, keys, args, [st = st_, cb = std::move(cb)](Result<Reply> r) mutable {
    if (!cb) return;
    if (!r) return cb(std::move(r).error());
    if (!r->is_integer()) return cb(decode::unexpected(*r, "integer"));
    const long long ms = r->integer();
    if (ms == -1) return cb(milliseconds::max());  // ours, but made persistent by someone
    if (ms <= 0) st->lost = true;
    cb(milliseconds(std::max<long long>(0, ms)));
  });
}

void Lock::auto_refresh(Once<void(const Error*)> on_lost, milliseconds every) {
  st_->stop_auto();
  st_->auto_on = true;
  st_->on_lost = std::move(on_lost);
  st_->every = every.count() > 0 ? every : std::max(milliseconds(1), st_->ttl / 3);
  st_->last_error.reset();
  // First refresh one interval after the last confirmation (at once when
  // that is past); the tick also declares the loss if the lock already ran
  // out, so even that is reported from the loop, not from this call.
  const std::uint64_t now = now_ms(*st_->ex);
  const std::uint64_t next = st_->confirmed_at + static_cast<std::uint64_t>(st_->every.count());
  arm(*st_, next > now ? next - now : 0);
}

void Lock::stop_auto_refresh() { st_->stop_auto(); }

// ---------------------------------------------------------------- Locker

Locker::Locker(Executor& ex, LockerOptions options) : ex_(&ex), opts_(options) {}

namespace {

struct Obtain : std::enable_shared_from_this<Obtain> {
  Executor* ex = nullptr;
  LockerOptions opts;
  std::string key;
  std::string fence_key;
  std::string token;
  std::string value;  // token followed by metadata
  std::string metadata;
  milliseconds ttl{0};
  std::string ttl_s;
  std::uint64_t deadline = 0;
  unsigned attempt = 0;
  Callback<std::optional<Lock>> cb;
  detail::UvHandle<uv_timer_t> timer;
  std::shared_ptr<Obtain> self;  // set while the timer is armed

  void finish(Result<std::optional<Lock>> r) {
    timer.close();
    auto c = std::move(cb);
    if (c) c(std::move(r));
  }
};

void try_obtain(const std::shared_ptr<Obtain>& o);

void on_retry(uv_timer_t* t) {
  auto o = std::move(static_cast<Obtain*>(t->data)->self);
  try_obtain(o);
}

void try_obtain(const std::shared_ptr<Obtain>& o) {
  const std::uint64_t sent_at = now_ms(*o->ex);
  std::string_view keys[] = {o->key, o->fence_key};
  std::string_view args[] = {o->value, o->ttl_s};
  obtain_script().run(*o->ex, keys, args, [o, sent_at](Result<Reply> r) {
    if (!r) return o->finish(std::move(r).error());
    if (r->is_integer()) {
      auto st = std::make_shared<detail::LockState>();
      st->ex = o->ex;
      st->key = std::move(o->key);
      st->token = std::move(o->token);
      st->metadata = std::move(o->metadata);
      st->fence = r->integer();
      st->ttl = o->ttl;
      st->opts = o->opts;
      st->confirm(sent_at, o->ttl);
      return o->finish(std::optional<Lock>(detail::LockAccess::make(std::move(st))));
    }
    if (!r->is_nil()) return o->finish(decode::unexpected(*r, "integer or nil"));
    const std::uint64_t now = now_ms(*o->ex);
    if (now >= o->deadline) return o->finish(std::optional<Lock>());
    const auto delay = static_cast<std::uint64_t>(
        detail::lock_retry_delay(o->attempt++, o->opts, detail::jitter_random()).count());
    if (!o->timer) {
      uv_timer_t* t = o->timer.allocate();
      uv_timer_init(o->ex->loop(), t);
      t->data = o.get();
    }
    o->self = o;
    // The last attempt happens at the deadline itself.
    uv_timer_start(o->timer.get(), &on_retry, std::min(delay, o->deadline - now), 0);
  });
}

}  // namespace

void Locker::obtain(std::string_view key, milliseconds ttl, milliseconds wait_timeout,
                    Callback<std::optional<Lock>> cb, ObtainOptions options) {
  if (key.empty() || ttl.count() <= 0) {
    ex_->fail<std::optional<Lock>>(Error{ErrorKind::usage, "Locker::obtain: needs a key and a positive ttl"},
                                   std::move(cb));
    return;
  }
  auto o = std::make_shared<Obtain>();
  o->ex = ex_;
  o->opts = opts_;
  o->key = std::string(key);
  o->fence_key = options.fence_key.empty() ? detail::fence_key_for(key) : std::move(options.fence_key);
  o->token = detail::random_hex_token(16);
  o->metadata = std::move(options.metadata);
  o->value = o->token + o->metadata;
  o->ttl = ttl;
  o->ttl_s = std::to_string(ttl.count());
  o->deadline = now_ms(*ex_) + static_cast<std::uint64_t>(std::max<long long>(0, wait_timeout.count()));
  o->cb = std::move(cb);
  try_obtain(o);
}

}  // namespace uvredis
