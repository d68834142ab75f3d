// Rate limiters (issue 6): GCRA with redis_rate semantics checked against the
// formula for a scripted sequence, BeeORM's rate_limit, fixed window and
// sliding-window log; exactness with 4 concurrent clients.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <cmath>
#include <functional>
#include <memory>

using namespace std::chrono_literals;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ErrorKind;
using uvredis::FixedWindowLimiter;
using uvredis::RateLimit;
using uvredis::RateLimiter;
using uvredis::RateResult;
using uvredis::Result;
using uvredis::SlidingWindowLimiter;
using uvredis::WindowResult;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::options_for;
using uvredis::test::close_and_wait;

namespace {

// A batch of calls issued in one loop turn; each result lands in its slot,
// and the batch records the client-side time span around them (an upper
// bound for how much server time passed between the first and the last).
template <class T>
struct Batch {
  std::vector<std::optional<Result<T>>> results;
  int calls = 0;
  std::uint64_t sent_ns = 0, done_ns = 0;

  uvredis::Callback<T> slot() {
    results.emplace_back();
    const std::size_t i = results.size() - 1;
    return [this, i](Result<T> r) {
      ++calls;
      EXPECT_FALSE(results[i].has_value()) << "callback ran twice";
      results[i].emplace(std::move(r));
      done_ns = uv_hrtime();
    };
  }
  void wait(TestLoop& loop) {
    ASSERT_TRUE(loop.run_until([&] { return calls == static_cast<int>(results.size()); }, 10s));
    loop.run_for(2ms);
    ASSERT_EQ(calls, static_cast<int>(results.size()));
  }
  const T& at(std::size_t i) const {
    EXPECT_TRUE(results[i].has_value() && results[i]->ok())
        << "call " << i << ": " << (results[i] && !results[i]->ok() ? results[i]->error().to_string() : "");
    return results[i]->value();
  }
  microseconds span() const { return microseconds((done_ns - sent_ns) / 1000 + 1); }
};

// Expects `got` within [ideal - slack, ideal].
void expect_duration(microseconds got, microseconds ideal, microseconds slack, const char* what) {
  EXPECT_LE(got.count(), ideal.count()) << what;
  EXPECT_GE(got.count(), (ideal - slack).count()) << what;
}

}  // namespace

// ------------------------------------------------------------------ GCRA

TEST(Gcra, ScriptedSequenceFollowsTheFormula) {
  RedisServer server;
  TestLoop loop;
  {
    std::vector<std::unique_ptr<Client>> cs;
    cs.push_back(std::make_unique<Client>(loop.get(), options_for(server)));
    RateLimiter limiter(*cs[0]);
    const RateLimit limit = RateLimit::per_second(10);  // emission interval E = 100 ms, burst 10
    const microseconds E = 100ms;

    // Warm the scripts up so the sequence below is not stretched by fallbacks.
    Batch<RateResult> warm;
    limiter.allow_n("warm", limit, 0, warm.slot());
    limiter.allow_at_most("warm", limit, 1, warm.slot());
    warm.wait(loop);

    Batch<RateResult> b;
    b.sent_ns = uv_hrtime();
    for (int i = 0; i < 11; ++i) limiter.allow("k", limit, b.slot());
    limiter.allow_n("k", limit, 5, b.slot());
    limiter.allow_at_most("k", limit, 3, b.slot());
    b.wait(loop);
    const microseconds d = b.span();  // server time that passed during the batch is below this
    ASSERT_LT(d, E) << "the box is too slow for this test's exact checks";
    for (int k = 0; k < 10; ++k) {
      const RateResult& r = b.at(static_cast<std::size_t>(k));
      EXPECT_EQ(r.limit, limit);
      EXPECT_EQ(r.allowed, 1) << k;
      EXPECT_EQ(r.remaining, 9 - k) << k;
      EXPECT_EQ(r.retry_after, microseconds(-1)) << k;
      // reset_after = TAT - now = (k+1)E - (time since the first call)
      expect_duration(r.reset_after, (k + 1) * E, d, "reset_after while allowed");
    }
    const RateResult& denied = b.at(10);
    EXPECT_EQ(denied.allowed, 0);
    EXPECT_EQ(denied.remaining, 0);
    expect_duration(denied.retry_after, E, d, "retry_after of the 11th");      // one interval frees one slot
    expect_duration(denied.reset_after, 10 * E, d, "reset_after of the 11th");  // TAT unchanged by a denial
    const RateResult& five = b.at(11);
    EXPECT_EQ(five.allowed, 0);
    expect_duration(five.retry_after, 5 * E, d, "retry_after of allow_n(5)");  // all or nothing: 5 slots
    const RateResult& most = b.at(12);
    EXPECT_EQ(most.allowed, 0);
    EXPECT_EQ(most.remaining, 0);
    expect_duration(most.retry_after, E, d, "retry_after of allow_at_most(3)");
    // The key expires when the limiter is full again.
    const long long pttl = server.cmd_int({"PTTL", "rate:k"});
    EXPECT_GT(pttl, 800);
    EXPECT_LE(pttl, 1000);

    // Reset, then partial grants.
    bool reset = false;
    limiter.reset("k", [&](Result<void> r) {
      EXPECT_TRUE(r);
      reset = true;
    });
    ASSERT_TRUE(loop.run_until([&] { return reset; }));
    EXPECT_EQ(server.cmd({"EXISTS", "rate:k"}), "0");
    Batch<RateResult> c;
    c.sent_ns = uv_hrtime();
    limiter.allow_n("k", limit, 4, c.slot());
    limiter.allow_at_most("k", limit, 10, c.slot());
    limiter.allow_n("k", limit, 0, c.slot());
    c.wait(loop);
    EXPECT_EQ(c.at(0).allowed, 4);
    EXPECT_EQ(c.at(0).remaining, 6);
    expect_duration(c.at(0).reset_after, 4 * E, c.span(), "reset_after of allow_n(4)");
    EXPECT_EQ(c.at(1).allowed, 6);
    EXPECT_EQ(c.at(1).remaining, 0);
    expect_duration(c.at(1).reset_after, 10 * E, c.span(), "reset_after of allow_at_most(10)");
    EXPECT_EQ(c.at(2).allowed, 0);  // n = 0 only looks
    EXPECT_EQ(c.at(2).remaining, 0);

    // Time refills the bucket at one request per E.
    const std::uint64_t full_at = c.done_ns;
    loop.run_for(250ms);
    Batch<RateResult> later;
    later.sent_ns = uv_hrtime();
    limiter.allow_at_most("k", limit, 10, later.slot());
    later.wait(loop);
    const double lo = static_cast<double>(later.sent_ns - full_at) / 1e3;              // µs, at least
    const double hi = static_cast<double>(later.done_ns - c.sent_ns) / 1e3;            // µs, at most
    const long long got = later.at(0).allowed;
    EXPECT_GE(got, static_cast<long long>(std::floor(lo / static_cast<double>(E.count()))));
    EXPECT_LE(got, static_cast<long long>(std::floor(hi / static_cast<double>(E.count()))));
    close_and_wait(loop, cs);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Gcra, BurstLargerThanRate) {
  RedisServer server;
  TestLoop loop;
  {
    std::vector<std::unique_ptr<Client>> cs;
    cs.push_back(std::make_unique<Client>(loop.get(), options_for(server)));
    RateLimiter limiter(*cs[0], "custom:");
    const RateLimit limit{2, 1s, 5};  // E = 500 ms, bursts of 5
    Batch<RateResult> b;
    b.sent_ns = uv_hrtime();
    for (int i = 0; i < 6; ++i) limiter.allow("k", limit, b.slot());
    b.wait(loop);
    for (int k = 0; k < 5; ++k) {
      EXPECT_EQ(b.at(static_cast<std::size_t>(k)).allowed, 1);
      EXPECT_EQ(b.at(static_cast<std::size_t>(k)).remaining, 4 - k);
    }
    EXPECT_EQ(b.at(5).allowed, 0);
    expect_duration(b.at(5).retry_after, 500ms, b.span(), "retry_after");
    expect_duration(b.at(5).reset_after, 2500ms, b.span(), "reset_after");
    EXPECT_EQ(server.cmd({"EXISTS", "custom:k"}), "1");

    // Usage errors, on a later turn, once.
    Batch<RateResult> bad;
    limiter.allow("k", RateLimit{}, bad.slot());
    limiter.allow_at_most("k", limit, 0, bad.slot());
    limiter.allow_n("k", limit, -1, bad.slot());
    EXPECT_EQ(bad.calls, 0);
    bad.wait(loop);
    for (auto& r : bad.results) {
      ASSERT_FALSE(*r);
      EXPECT_EQ(r->error().kind, ErrorKind::usage);
    }
    close_and_wait(loop, cs);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Gcra, RateLimitShorthandForLoginAttempts) {
  RedisServer server;
  TestLoop loop;
  {
    std::vector<std::unique_ptr<Client>> cs;
    cs.push_back(std::make_unique<Client>(loop.get(), options_for(server)));
    RateLimiter limiter(*cs[0]);
    Batch<bool> b;
    for (int i = 0; i < 5; ++i) limiter.rate_limit("login:bob", 1min, 3, b.slot());
    limiter.rate_limit("login:alice", 1min, 3, b.slot());
    b.wait(loop);
    EXPECT_TRUE(b.at(0));
    EXPECT_TRUE(b.at(1));
    EXPECT_TRUE(b.at(2));
    EXPECT_FALSE(b.at(3));
    EXPECT_FALSE(b.at(4));
    EXPECT_TRUE(b.at(5));  // one key per limited resource
    close_and_wait(loop, cs);
  }
  EXPECT_EQ(loop.close(), 0);
}

// ------------------------------------------------- exactness, 4 clients

TEST(Limiters, ExactlyLimitAllowedPerWindowWithFourConcurrentClients) {
  RedisServer server;
  TestLoop loop;
  {
    std::vector<std::unique_ptr<Client>> cs;
    for (int i = 0; i < 4; ++i) cs.push_back(std::make_unique<Client>(loop.get(), options_for(server)));
    std::vector<std::unique_ptr<RateLimiter>> gcra;
    std::vector<std::unique_ptr<FixedWindowLimiter>> fixed;
    std::vector<std::unique_ptr<SlidingWindowLimiter>> sliding;
    for (auto& c : cs) {
      gcra.push_back(std::make_unique<RateLimiter>(*c));
      fixed.push_back(std::make_unique<FixedWindowLimiter>(*c));
      sliding.push_back(std::make_unique<SlidingWindowLimiter>(*c));
    }
    constexpr int kLimit = 50, kEach = 100;
    const milliseconds window = 600ms;

    for (int round = 0; round < 2; ++round) {
      Batch<bool> g;
      Batch<WindowResult> f, s;
      for (int i = 0; i < kEach; ++i)
        for (std::size_t c = 0; c < cs.size(); ++c) {
          if (round == 0) gcra[c]->rate_limit("api", 1h, kLimit, g.slot());  // no refill during the test
          fixed[c]->allow("api", kLimit, window, f.slot());
          sliding[c]->allow("api", kLimit, window, s.slot());
        }
      if (round == 0) g.wait(loop);
      f.wait(loop);
      s.wait(loop);
      int g_yes = 0, f_yes = 0, s_yes = 0;
      for (std::size_t i = 0; i < g.results.size(); ++i) g_yes += g.at(i);
      for (std::size_t i = 0; i < f.results.size(); ++i) f_yes += f.at(i).allowed;
      for (std::size_t i = 0; i < s.results.size(); ++i) s_yes += s.at(i).allowed;
      if (round == 0) {
        EXPECT_EQ(g_yes, kLimit);
      }
      EXPECT_EQ(f_yes, kLimit) << "round " << round;
      EXPECT_EQ(s_yes, kLimit) << "round " << round;
      // Every allowed request has its own log entry, even within one µs.
      EXPECT_EQ(server.cmd_int({"ZCARD", "sw:api"}), kLimit);
      EXPECT_EQ(server.cmd_int({"GET", "fw:api"}), kLimit);
      // Denied ones say when to come back.
      for (std::size_t i = 0; i < f.results.size(); ++i)
        if (!f.at(i).allowed) {
          EXPECT_GT(f.at(i).retry_after, 0ms);
          EXPECT_LE(f.at(i).retry_after, window);
          EXPECT_EQ(f.at(i).remaining, 0);
        }
      for (std::size_t i = 0; i < s.results.size(); ++i)
        if (!s.at(i).allowed) {
          EXPECT_GT(s.at(i).retry_after, 0ms);
          EXPECT_LE(s.at(i).retry_after, window);
        }
      loop.run_for(window + 50ms);  // both windows are over
    }
    close_and_wait(loop, cs);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Limiters, SlidingWindowFreesSlotsAsEntriesAgeOut) {
  RedisServer server;
  TestLoop loop;
  {
    std::vector<std::unique_ptr<Client>> cs;
    cs.push_back(std::make_unique<Client>(loop.get(), options_for(server)));
    SlidingWindowLimiter limiter(*cs[0]);
    Batch<WindowResult> first;
    for (int i = 0; i < 2; ++i) limiter.allow("k", 3, 400ms, first.slot());
    first.wait(loop);
    loop.run_for(200ms);
    Batch<WindowResult> second;
    for (int i = 0; i < 2; ++i) limiter.allow("k", 3, 400ms, second.slot());
    second.wait(loop);
    EXPECT_TRUE(second.at(0).allowed);
    EXPECT_EQ(second.at(0).count, 3);
    EXPECT_EQ(second.at(0).remaining, 0);
    ASSERT_FALSE(second.at(1).allowed);
    // The first entries leave the window ~200 ms from now.
    const milliseconds retry = second.at(1).retry_after;
    EXPECT_GT(retry, 100ms);
    EXPECT_LE(retry, 200ms);
    loop.run_for(retry + 20ms);
    Batch<WindowResult> third;
    limiter.allow("k", 3, 400ms, third.slot());
    limiter.allow("k", 3, 400ms, third.slot());
    limiter.allow("k", 3, 400ms, third.slot());
    third.wait(loop);
    EXPECT_TRUE(third.at(0).allowed);
    EXPECT_TRUE(third.at(1).allowed);  // both old entries aged out
    EXPECT_FALSE(third.at(2).allowed);
    EXPECT_EQ(server.cmd_int({"ZCARD", "sw:k"}), 3);
    close_and_wait(loop, cs);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Limiters, FixedWindowStartsWithTheFirstRequestAndAlwaysExpires) {
  RedisServer server;
  TestLoop loop;
  {
    std::vector<std::unique_ptr<Client>> cs;
    cs.push_back(std::make_unique<Client>(loop.get(), options_for(server)));
    FixedWindowLimiter limiter(*cs[0]);
    Batch<WindowResult> b;
    for (int i = 0; i < 3; ++i) limiter.allow("k", 2, 300ms, b.slot());
    b.wait(loop);
    EXPECT_TRUE(b.at(0).allowed);
    EXPECT_EQ(b.at(0).count, 1);
    EXPECT_EQ(b.at(0).remaining, 1);
    EXPECT_EQ(b.at(0).retry_after, 0ms);
    EXPECT_TRUE(b.at(1).allowed);
    EXPECT_FALSE(b.at(2).allowed);
    EXPECT_EQ(b.at(2).count, 2);  // denials are not counted
    EXPECT_GT(b.at(2).retry_after, 200ms);
    EXPECT_LE(b.at(2).retry_after, 300ms);
    loop.run_for(b.at(2).retry_after + 20ms);
    Batch<WindowResult> next;
    limiter.allow("k", 2, 300ms, next.slot());
    next.wait(loop);
    EXPECT_TRUE(next.at(0).allowed);
    EXPECT_EQ(next.at(0).count, 1);

    // A counter someone left without expiry gets one.
    server.cmd({"SET", "fw:stuck", "5"});
    Batch<WindowResult> stuck;
    limiter.allow("stuck", 2, 300ms, stuck.slot());
    stuck.wait(loop);
    EXPECT_FALSE(stuck.at(0).allowed);
    EXPECT_GT(server.cmd_int({"PTTL", "fw:stuck"}), 0);

    Batch<WindowResult> bad;
    limiter.allow("k", 0, 300ms, bad.slot());
    SlidingWindowLimiter sl(*cs[0]);
    sl.allow("k", 1, 0ms, bad.slot());
    bad.wait(loop);
    for (auto& r : bad.results) EXPECT_EQ(r->error().kind, ErrorKind::usage);
    close_and_wait(loop, cs);
  }
  EXPECT_EQ(loop.close(), 0);
}
