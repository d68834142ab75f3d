// Distributed locks (issue 6): obtain/wait/release, TTL and refresh, wrong
// tokens, auto-refresh and on_lost, fencing tokens, mutual exclusion across
// processes and among 16 contenders.
#include <uvredis/uvredis.hpp>

#include "../src/lock_detail.hpp"
#include "support/await.hpp"
#include "support/shell.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ErrorKind;
using uvredis::Lock;
using uvredis::Locker;
using uvredis::LockerOptions;
using uvredis::ObtainOptions;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::options_for;
using uvredis::test::await;

namespace {

void close_clients(TestLoop& loop, std::initializer_list<Client*> cs) {
  int n = 0;
  for (Client* c : cs) c->close([&] { ++n; });
  EXPECT_TRUE(loop.run_until([&] { return n == static_cast<int>(cs.size()); }, 10s));
}

Result<std::optional<Lock>> obtain(TestLoop& loop, Locker& locker, std::string_view key, milliseconds ttl,
                                   milliseconds wait, ObtainOptions o = {}) {
  return await<std::optional<Lock>>(
      loop, [&](auto cb) { locker.obtain(key, ttl, wait, std::move(cb), std::move(o)); }, wait + 10s);
}

Lock must_obtain(TestLoop& loop, Locker& locker, std::string_view key, milliseconds ttl, ObtainOptions o = {}) {
  auto r = obtain(loop, locker, key, ttl, 0ms, std::move(o));
  if (!r || !r->has_value()) {
    ADD_FAILURE() << "could not obtain " << key << (r ? "" : ": " + r.error().to_string());
    std::abort();
  }
  return std::move(**r);
}

bool release(TestLoop& loop, Lock& l) {
  auto r = await<bool>(loop, [&](auto cb) { l.release(std::move(cb)); }, 10s);
  EXPECT_TRUE(r) << r.error().to_string();
  return r && *r;
}

milliseconds ttl_of(TestLoop& loop, Lock& l) {
  auto r = await<milliseconds>(loop, [&](auto cb) { l.ttl(std::move(cb)); }, 10s);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? *r : milliseconds(-1);
}

bool refresh(TestLoop& loop, Lock& l, milliseconds ttl) {
  auto r = await<bool>(loop, [&](auto cb) { l.refresh(ttl, std::move(cb)); }, 10s);
  EXPECT_TRUE(r) << r.error().to_string();
  return r && *r;
}

double ms_since(std::uint64_t t0_ns) { return static_cast<double>(uv_hrtime() - t0_ns) / 1e6; }

// Redis Cluster's key slot (CRC16/XMODEM of the hash tag or the whole key).
unsigned keyslot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  unsigned crc = 0;
  for (unsigned char ch : key) {
    crc ^= static_cast<unsigned>(ch) << 8;
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) : (crc << 1);
    crc &= 0xFFFF;
  }
  return crc % 16384;
}

}  // namespace

// ------------------------------------------------------ pure parts

TEST(LockDetail, FenceKeyLivesInTheLockSlot) {
  using uvredis::detail::fence_key_for;
  EXPECT_EQ(fence_key_for("lock:order:7"), "{lock:order:7}:fence");
  EXPECT_EQ(fence_key_for("lock:{user1}"), "lock:{user1}:fence");
  EXPECT_EQ(fence_key_for("a{b"), "{a{b}:fence");
  for (std::string_view k : {"lock:order:7", "lock:{user1}", "a{b", "x", "{u}:y", "{a}{b}", "pre{tag}post"})
    EXPECT_EQ(keyslot(fence_key_for(k)), keyslot(k)) << k;
  // No tag and a stray '}': appended (documented: pass fence_key on a cluster).
  EXPECT_EQ(fence_key_for("x}y"), "x}y:fence");
  EXPECT_EQ(fence_key_for("{}x"), "{}x:fence");
}

TEST(LockDetail, RetryDelayBacksOffWithJitterWithinBounds) {
  using uvredis::detail::lock_retry_delay;
  LockerOptions o;
  o.retry_min = 8ms;
  o.retry_max = 100ms;
  for (std::uint64_t rnd : {0ull, 1ull, 7ull, 12345678901ull, ~0ull}) {
    EXPECT_GE(lock_retry_delay(0, o, rnd), 4ms);
    EXPECT_LE(lock_retry_delay(0, o, rnd), 8ms);
    EXPECT_GE(lock_retry_delay(2, o, rnd), 16ms);
    EXPECT_LE(lock_retry_delay(2, o, rnd), 32ms);
    EXPECT_GE(lock_retry_delay(40, o, rnd), 50ms);  // capped, and no overflow
    EXPECT_LE(lock_retry_delay(40, o, rnd), 100ms);
  }
  EXPECT_EQ(lock_retry_delay(0, o, 0), 4ms);
  EXPECT_EQ(lock_retry_delay(0, o, 4), 8ms);
  // Degenerate settings still give a positive wait.
  LockerOptions zero;
  zero.retry_min = 0ms;
  zero.retry_max = 0ms;
  EXPECT_EQ(lock_retry_delay(3, zero, 99), 1ms);
  // Jitter actually spreads.
  std::set<long long> seen;
  for (std::uint64_t i = 0; i < 64; ++i) seen.insert(lock_retry_delay(5, o, i * 2654435761ull).count());
  EXPECT_GT(seen.size(), 10u);
}

// ------------------------------------------------------ basic protocol

TEST(Lock, WaitZeroReportsNotObtainedWhileHeldAndFencesGrow) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Locker locker(c);
    ObtainOptions meta;
    meta.metadata = "owner=A";
    Lock a = must_obtain(loop, locker, "res", 10s, meta);
    EXPECT_EQ(a.key(), "res");
    EXPECT_EQ(a.token().size(), 32u);
    EXPECT_EQ(a.metadata(), "owner=A");
    EXPECT_EQ(a.fence(), 1);
    EXPECT_EQ(server.cmd({"GET", "res"}), a.token() + "owner=A");
    EXPECT_EQ(server.cmd({"GET", "{res}:fence"}), "1");

    const auto t0 = uv_hrtime();
    auto b = obtain(loop, locker, "res", 10s, 0ms);
    ASSERT_TRUE(b) << b.error().to_string();  // not an error ...
    EXPECT_FALSE(b->has_value());             // ... but not obtained
    EXPECT_LT(ms_since(t0), 500.0);

    EXPECT_TRUE(release(loop, a));
    EXPECT_TRUE(a.lost());
    EXPECT_EQ(server.cmd({"EXISTS", "res"}), "0");
    EXPECT_FALSE(release(loop, a));  // second release: nothing of ours left

    Lock b2 = must_obtain(loop, locker, "res", 10s);
    EXPECT_EQ(b2.fence(), 2);
    EXPECT_NE(b2.token(), a.token());
    EXPECT_TRUE(release(loop, b2));
    Lock b3 = must_obtain(loop, locker, "res", 10s);
    EXPECT_EQ(b3.fence(), 3);
    EXPECT_TRUE(release(loop, b3));

    auto bad = obtain(loop, locker, "res", 0ms, 0ms);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, ErrorKind::usage);
    close_clients(loop, {&c});
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Lock, WaitingContenderGetsItAfterReleaseWithoutBusyLooping) {
  RedisServer server;
  TestLoop loop;
  {
    Client ca(loop.get(), options_for(server));
    Client cb(loop.get(), options_for(server));
    Locker la(ca);
    Locker lb(cb, LockerOptions{8ms, 64ms});
    Lock a = must_obtain(loop, la, "res", 10s);
    std::optional<Result<std::optional<Lock>>> got;
    int calls = 0;
    const auto t0 = uv_hrtime();
    lb.obtain("res", 10s, 5s, [&](Result<std::optional<Lock>> r) {
      ++calls;
      got.emplace(std::move(r));
    });
    loop.run_for(300ms);
    EXPECT_EQ(calls, 0);
    EXPECT_TRUE(release(loop, a));
    const double released_at = ms_since(t0);
    ASSERT_TRUE(loop.run_until([&] { return calls > 0; }, 5s));
    loop.run_for(5ms);
    EXPECT_EQ(calls, 1);
    ASSERT_TRUE(*got);
    ASSERT_TRUE((*got)->has_value());
    EXPECT_LT(ms_since(t0) - released_at, 200.0);  // within one max backoff (64 ms) plus slack
    EXPECT_EQ((**got)->fence(), 2);
    // 300 ms of waiting with 8..64 ms backoff: a handful of attempts, not thousands.
    std::string stats = server.cmd({"INFO", "commandstats"});
    auto p = stats.find("cmdstat_evalsha:calls=");
    ASSERT_NE(p, std::string::npos);
    EXPECT_LT(std::stoll(stats.substr(p + 22)), 40);
    Lock b = std::move(***got);
    EXPECT_TRUE(release(loop, b));
    close_clients(loop, {&ca, &cb});
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Lock, WaitRunsOutAsNotObtained) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Locker locker(c);
    Lock a = must_obtain(loop, locker, "res", 10s);
    const auto t0 = uv_hrtime();
    auto b = obtain(loop, locker, "res", 1s, 250ms);
    const double waited = ms_since(t0);
    ASSERT_TRUE(b) << b.error().to_string();
    EXPECT_FALSE(b->has_value());
    EXPECT_GE(waited, 245.0);
    EXPECT_LT(waited, 600.0);
    EXPECT_TRUE(release(loop, a));
    close_clients(loop, {&c});
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Lock, TtlDecreasesAndRefreshExtendsIt) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Locker locker(c);
    Lock a = must_obtain(loop, locker, "res", 2s);
    auto t1 = ttl_of(loop, a);
    EXPECT_GT(t1, 1800ms);
    EXPECT_LE(t1, 2000ms);
    loop.run_for(200ms);
    auto t2 = ttl_of(loop, a);
    EXPECT_LT(t2, t1);
    EXPECT_TRUE(refresh(loop, a, 5s));
    EXPECT_EQ(a.granted_ttl(), 5s);
    auto t3 = ttl_of(loop, a);
    EXPECT_GT(t3, 4800ms);
    EXPECT_FALSE(a.lost());
    EXPECT_TRUE(release(loop, a));
    EXPECT_EQ(ttl_of(loop, a), 0ms);
    close_clients(loop, {&c});
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Lock, HolderThatStopsRefreshingExpiresThenRefreshAndReleaseReportLost) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Locker locker(c);
    Lock a = must_obtain(loop, locker, "res", 150ms);
    loop.run_for(250ms);
    EXPECT_EQ(ttl_of(loop, a), 0ms);
    EXPECT_TRUE(a.lost());
    EXPECT_FALSE(refresh(loop, a, 1s));
    EXPECT_FALSE(release(loop, a));
    EXPECT_EQ(server.cmd({"EXISTS", "res"}), "0");  // refresh did not resurrect it

    // A new holder; the old one's release leaves it in place.
    Lock b = must_obtain(loop, locker, "res", 10s);
    EXPECT_FALSE(release(loop, a));
    EXPECT_EQ(server.cmd({"GET", "res"}), b.token());
    EXPECT_FALSE(refresh(loop, a, 1s));
    EXPECT_GT(server.cmd_int({"PTTL", "res"}), 9000);
    EXPECT_TRUE(release(loop, b));
    close_clients(loop, {&c});
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Lock, WrongTokenCanNeitherReleaseNorRefresh) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Locker locker(c);
    Lock a = must_obtain(loop, locker, "res", 10s);
    // Someone else's token (same length, differs in the last character).
    std::string other = a.token();
    other.back() = other.back() == '0' ? '1' : '0';
    server.cmd({"SET", "res", other, "PX", "3000"});
    EXPECT_FALSE(release(loop, a));
    EXPECT_EQ(server.cmd({"GET", "res"}), other);
    EXPECT_FALSE(refresh(loop, a, 60s));
    EXPECT_LE(server.cmd_int({"PTTL", "res"}), 3000);
    EXPECT_EQ(ttl_of(loop, a), 0ms);
    EXPECT_TRUE(a.lost());
    // A prefix of our token is not our token either.
    server.cmd({"SET", "res", a.token().substr(0, 31), "PX", "3000"});
    EXPECT_FALSE(release(loop, a));
    EXPECT_EQ(server.cmd({"EXISTS", "res"}), "1");
    close_clients(loop, {&c});
  }
  EXPECT_EQ(loop.close(), 0);
}

// ------------------------------------------------------ auto-refresh

TEST(Lock, AutoRefreshKeepsAOneSecondLockAliveForFiveSeconds) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Locker locker(c);
    Lock a = must_obtain(loop, locker, "res", 1s);
    int lost = 0;
    a.auto_refresh([&](const uvredis::Error*) { ++lost; });
    const auto t0 = uv_hrtime();
    long long min_ttl = 1000;
    while (ms_since(t0) < 5000) {
      loop.run_for(100ms);
      const long long pttl = server.cmd_int({"PTTL", "res"});
      min_ttl = std::min(min_ttl, pttl);
      ASSERT_GT(pttl, 0) << "expired after " << ms_since(t0) << " ms";
    }
    EXPECT_EQ(lost, 0);
    EXPECT_GT(min_ttl, 400);  // refreshed every ~333 ms
    EXPECT_EQ(server.cmd({"GET", "res"}), a.token());
    EXPECT_TRUE(release(loop, a));
    loop.run_for(500ms);
    EXPECT_EQ(lost, 0);  // never after release
    EXPECT_EQ(server.cmd({"EXISTS", "res"}), "0");
    close_clients(loop, {&c});
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Lock, StoppedServerFiresOnLostWithinTheTtl) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.reconnect_min_delay = 20ms;
    o.reconnect_max_delay = 100ms;
    Client c(loop.get(), o);
    Locker locker(c);
    auto lock = std::make_unique<Lock>(must_obtain(loop, locker, "res", 1s));
    int lost = 0;
    std::optional<uvredis::Error> why;
    double lost_at = 0;
    std::uint64_t stopped_ns = 0;
    lock->auto_refresh([&](const uvredis::Error* e) {
      ++lost;
      lost_at = ms_since(stopped_ns);
      if (e) why = *e;
      lock.reset();  // destroying the Lock inside on_lost is fine
    });
    loop.run_for(700ms);  // a couple of refreshes went through
    EXPECT_EQ(lost, 0);
    server.kill();
    stopped_ns = uv_hrtime();
    ASSERT_TRUE(loop.run_until([&] { return lost > 0; }, 5s));
    loop.run_for(50ms);
    EXPECT_EQ(lost, 1);
    // By construction the deadline is the last confirmed refresh + TTL,
    // before the kill; the slack is only for a late timer on a busy box.
    EXPECT_LE(lost_at, 1000.0 + 100.0) << "on_lost later than the TTL";
    ASSERT_TRUE(why.has_value()) << "link trouble is reported with its error";
    EXPECT_TRUE(why->is_transport() || why->kind == ErrorKind::connect) << why->to_string();
    std::printf("on_lost %.0f ms after the server died: %s\n", lost_at, why->to_string().c_str());
    close_clients(loop, {&c});
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Lock, OverwrittenKeyFiresOnLostAtTheNextRefresh) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Locker locker(c);
    Lock a = must_obtain(loop, locker, "res", 900ms);
    int lost = 0;
    bool with_error = true;
    a.auto_refresh([&](const uvredis::Error* e) {
      ++lost;
      with_error = e != nullptr;
    }, 200ms);
    loop.run_for(250ms);
    server.cmd({"SET", "res", "somebody-else", "PX", "10000"});
    const auto t0 = uv_hrtime();
    ASSERT_TRUE(loop.run_until([&] { return lost > 0; }, 3s));
    EXPECT_LT(ms_since(t0), 400.0);  // the next refresh, 200 ms apart (plus slack for a busy box)
    EXPECT_FALSE(with_error);         // a definite "gone", not link trouble
    EXPECT_TRUE(a.lost());
    loop.run_for(300ms);
    EXPECT_EQ(lost, 1);
    EXPECT_EQ(server.cmd({"GET", "res"}), "somebody-else");
    EXPECT_FALSE(release(loop, a));
    close_clients(loop, {&c});
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Lock, DestroyingTheLockStopsItsTimer) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Locker locker(c);
    int lost = 0;
    {
      Lock a = must_obtain(loop, locker, "res", 300ms);
      a.auto_refresh([&](const uvredis::Error*) { ++lost; }, 50ms);
      loop.run_for(120ms);
      Lock moved = std::move(a);  // the timer follows the state
      loop.run_for(120ms);
      EXPECT_GT(server.cmd_int({"PTTL", "res"}), 150);
    }
    std::string before = server.cmd({"INFO", "commandstats"});
    loop.run_for(500ms);
    EXPECT_EQ(lost, 0);
    EXPECT_EQ(server.cmd({"EXISTS", "res"}), "0");  // not refreshed any more: expired
    auto calls = [](const std::string& s) {
      auto p = s.find("cmdstat_evalsha:calls=");
      return p == std::string::npos ? 0 : std::stoll(s.substr(p + 22));
    };
    EXPECT_EQ(calls(server.cmd({"INFO", "commandstats"})), calls(before));
    close_clients(loop, {&c});
  }
  EXPECT_EQ(loop.close(), 0);  // the timer handle is closed
}

// ------------------------------------------------------ mutual exclusion

TEST(Lock, SixteenContendersTimesFiveHundredNeverMoreThanOneHolder) {
  RedisServer server;
  TestLoop loop;
  {
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<Client>(loop.get(), options_for(server)));
    std::vector<std::unique_ptr<Locker>> lockers;
    for (auto& c : clients) lockers.push_back(std::make_unique<Locker>(*c, LockerOptions{1ms, 4ms}));

    constexpr int kContenders = 16, kRounds = 500;
    int grants = 0, finished = 0, errors = 0, max_holders = 0;
    long long last_fence = 0;
    bool fence_ok = true;
    struct Contender {
      int rounds = 0;
      std::optional<Lock> lock;
      std::function<void()> step;
    };
    std::vector<Contender> cs(kContenders);
    for (int i = 0; i < kContenders; ++i) {
      Contender& me = cs[static_cast<std::size_t>(i)];
      Client& client = *clients[static_cast<std::size_t>(i % 4)];
      Locker& locker = *lockers[static_cast<std::size_t>(i % 4)];
      me.step = [&, &me = me, &client = client, &locker = locker] {
        locker.obtain("mutex", 5s, 30s, [&](Result<std::optional<Lock>> r) {
          if (!r || !r->has_value()) {
            ++errors;
            ++finished;
            return;
          }
          me.lock = std::move(**r);
          ++grants;
          if (me.lock->fence() <= last_fence) fence_ok = false;
          last_fence = me.lock->fence();
          client.command({"INCR", "holders"}, [&](Result<Reply> in) {
            if (!in) ++errors;
            else max_holders = std::max(max_holders, static_cast<int>(in->integer()));
            client.command({"DECR", "holders"}, [&](Result<Reply> out) {
              if (!out) ++errors;
              me.lock->release([&](Result<bool> rel) {
                if (!rel || !*rel) ++errors;
                me.lock.reset();
                if (++me.rounds == kRounds)
                  ++finished;
                else
                  me.step();
              });
            });
          });
        });
      };
    }
    const auto t0 = uv_hrtime();
    for (auto& c : cs) c.step();
    ASSERT_TRUE(loop.run_until([&] { return finished == kContenders; }, 120s));
    std::printf("16x500 acquisitions in %.0f ms\n", ms_since(t0));
    EXPECT_EQ(errors, 0);
    EXPECT_EQ(grants, kContenders * kRounds);
    EXPECT_EQ(max_holders, 1);
    EXPECT_TRUE(fence_ok) << "fencing tokens must grow with every grant";
    EXPECT_EQ(server.cmd_int({"GET", "{mutex}:fence"}), kContenders * kRounds);
    EXPECT_EQ(server.cmd({"GET", "holders"}), "0");
    for (auto& c : cs) c.step = nullptr;
    lockers.clear();
    int n = 0;
    for (auto& c : clients) c->close([&] { ++n; });
    ASSERT_TRUE(loop.run_until([&] { return n == 4; }));
  }
  EXPECT_EQ(loop.close(), 0);
}

namespace {

// Runs `fn` after `ms` on `loop` (a one-shot timer that frees itself).
void after(uv_loop_t* loop, std::uint64_t ms, std::function<void()> fn) {
  auto* t = new uv_timer_t;
  uv_timer_init(loop, t);
  t->data = new std::function<void()>(std::move(fn));
  uv_timer_start(t, [](uv_timer_t* h) {
    auto* f = static_cast<std::function<void()>*>(h->data);
    (*f)();
    delete f;
    uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* hh) { delete reinterpret_cast<uv_timer_t*>(hh); });
  }, ms, 0);
}

// One child process: its own loop and client; `cycles` rounds of obtain,
// GET the counter, wait a millisecond, SET it to the value plus one, release.
// The read-then-write is deliberately non-atomic and slow: only the lock
// keeps updates from being lost. `use_lock` false is the control run.
// Exit status 0 on success.
int child_main(const std::string& url, int cycles, bool use_lock) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int status = 0;
  {
    auto o = ClientOptions::from_url(url);
    if (!o) return 10;
    Client c(&loop, *o);
    Locker locker(c, LockerOptions{1ms, 8ms});
    int done = 0;
    std::function<void()> cycle;
    auto critical = [&](std::shared_ptr<Lock> lock) {
      c.get("counter", [&, lock](Result<std::optional<std::string>> v) {
        if (!v) {
          status = 12;
          return c.close();
        }
        const long long n = v->has_value() ? std::stoll(**v) : 0;
        after(&loop, 1, [&, lock, n] {
          c.command({"SET", "counter", std::to_string(n + 1)}, [&, lock](Result<Reply> w) {
            if (!w) {
              status = 13;
              return c.close();
            }
            auto next = [&] {
              if (++done == cycles) return c.close();
              cycle();
            };
            if (!lock) return next();
            lock->release([&, lock, next](Result<bool> rel) {
              if (!rel || !*rel) {
                status = 14;
                return c.close();
              }
              next();
            });
          });
        });
      });
    };
    cycle = [&] {
      if (!use_lock) return critical(nullptr);
      locker.obtain("plock", 5s, 60s, [&](Result<std::optional<Lock>> r) {
        if (!r || !r->has_value()) {
          status = 11;
          return c.close();
        }
        critical(std::make_shared<Lock>(std::move(**r)));
      });
    };
    cycle();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  if (uv_loop_close(&loop) != 0) return 15;
  return status;
}

// Forks `procs` children that start together (they wait on a pipe the
// parent closes once all exist) and returns when all have exited.
void run_children(RedisServer& server, int procs, int cycles, bool use_lock) {
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  std::vector<pid_t> kids;
  for (int i = 0; i < procs; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(gate[1]);
      char ch;
      while (::read(gate[0], &ch, 1) > 0) {
      }
      ::_exit(child_main(server.url(), cycles, use_lock));  // never returns into gtest
    }
    kids.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);  // go
  for (pid_t pid : kids) {
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st)) << "child died";
    EXPECT_EQ(WEXITSTATUS(st), 0) << "child " << pid << " failed";
  }
}

}  // namespace

TEST(Lock, MutualExclusionAcrossFourProcesses) {
  RedisServer server;
  constexpr int kProcs = 4, kCycles = 200;
  const auto t0 = uv_hrtime();
  run_children(server, kProcs, kCycles, true);
  std::printf("4 processes x 200 locked cycles in %.0f ms\n", ms_since(t0));
  EXPECT_EQ(server.cmd_int({"GET", "counter"}), kProcs * kCycles);
  EXPECT_EQ(server.cmd_int({"GET", "{plock}:fence"}), kProcs * kCycles);

  // Control: the same children without the lock lose updates, so the exact
  // count above is the lock's doing.
  server.cmd({"DEL", "counter"});
  run_children(server, kProcs, 50, false);
  const long long unlocked = server.cmd_int({"GET", "counter"});
  std::printf("control without the lock: %lld of %d increments survived\n", unlocked, kProcs * 50);
  EXPECT_LT(unlocked, kProcs * 50);
}

TEST(LockExample, SeedScenarioRunsAgainstARealServer) {
  const char* dir = std::getenv("UVREDIS_EXAMPLES_DIR");
  if (!dir) GTEST_SKIP() << "UVREDIS_EXAMPLES_DIR not set (run through meson test)";
  RedisServer server;
  const std::string cmd = "REDIS_URL=" + server.url() + " " + dir + "/locks 2>&1";
  int st = -1;
  const std::string out = uvredis::test::run_shell(cmd, st);
  EXPECT_EQ(st, 0) << out;
  EXPECT_NE(out.find("B: wait 0 -> not obtained"), std::string::npos) << out;
  EXPECT_NE(out.find("(decreasing)"), std::string::npos) << out;
  EXPECT_NE(out.find("A: refreshed, ttl"), std::string::npos) << out;
  EXPECT_NE(out.find("B: obtained (fencing token 2"), std::string::npos) << out;
  EXPECT_LT(out.find("A: released"), out.find("B: obtained")) << out;
}
