// Distributed locks (issue 6): obtain/wait/release, TTL and refresh, wrong
// tokens, auto-refresh and on_lost, fencing tokens, mutual exclusion across
// processes and among 16 contenders; the drift margin (issue 15): on_lost
// before a contender in another process gets the key of a frozen holder.
#include <uvredis/uvredis.hpp>

#include "../src/recipes/lock_detail.hpp"
#include "support/await.hpp"
#include "support/shell.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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
using uvredis::test::close_and_wait;

namespace {

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
    close_and_wait(loop, c);
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
    close_and_wait(loop, ca, cb);
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
    close_and_wait(loop, c);
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
    close_and_wait(loop, c);
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
    close_and_wait(loop, c);
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
    close_and_wait(loop, c);
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
    close_and_wait(loop, c);
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
    close_and_wait(loop, c);
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
    close_and_wait(loop, c);
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
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);  // the timer handle is closed
}

// ------------------------------------------------------ on_lost before anyone else gets the key

namespace {

std::int64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// A TCP relay between the lock holder and the server that the test can
// freeze: frozen, it stops reading on both sides, so the holder's link goes
// silent (its bytes wait in the kernel, in order) while the server keeps
// serving everyone else. Thawed, the stalled bytes go through.
class FreezableProxy {
 public:
  explicit FreezableProxy(std::uint16_t target) : target_(target) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::pipe2(wake_, O_CLOEXEC | O_NONBLOCK), 0);
    thread_ = std::thread([this] { run(); });
  }
  ~FreezableProxy() {
    stop_ = true;
    poke();
    thread_.join();
    for (auto& p : pairs_) {
      ::close(p.first);
      ::close(p.second);
    }
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  FreezableProxy(const FreezableProxy&) = delete;
  FreezableProxy& operator=(const FreezableProxy&) = delete;

  std::uint16_t port() const { return port_; }
  void freeze() {
    frozen_ = true;
    poke();
  }
  void thaw() {
    frozen_ = false;
    poke();
  }

 private:
  void poke() { [[maybe_unused]] auto n = ::write(wake_[1], "x", 1); }

  void run() {
    std::vector<pollfd> fds;
    char buf[65536];
    while (!stop_) {
      fds.clear();
      fds.push_back({wake_[0], POLLIN, 0});
      const bool frozen = frozen_;
      if (!frozen) {
        fds.push_back({listen_fd_, POLLIN, 0});
        for (auto& p : pairs_) {
          fds.push_back({p.first, POLLIN, 0});
          fds.push_back({p.second, POLLIN, 0});
        }
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) {
        while (::read(wake_[0], buf, sizeof buf) > 0) {
        }
        continue;  // frozen_ may have changed: rebuild the set first
      }
      if (frozen) continue;
      // Only the pairs polled this time (an accepted one joins after them).
      const std::size_t polled = (fds.size() - 2) / 2;
      for (std::size_t i = 0; i < polled; ++i) {
        const pollfd& from_client = fds[2 + 2 * i];
        const pollfd& from_server = fds[3 + 2 * i];
        bool ok = true;
        if (from_client.revents) ok = relay(pairs_[i].first, pairs_[i].second, buf, sizeof buf);
        if (ok && from_server.revents) ok = relay(pairs_[i].second, pairs_[i].first, buf, sizeof buf);
        if (!ok) {
          ::close(pairs_[i].first);
          ::close(pairs_[i].second);
          pairs_[i] = {-1, -1};
        }
      }
      std::erase_if(pairs_, [](const std::pair<int, int>& p) { return p.first < 0; });
      if (fds[1].revents & POLLIN) accept_one();
    }
  }

  void accept_one() {
    const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(target_);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(c);
      ::close(s);
      return;
    }
    const int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pairs_.emplace_back(c, s);
  }

  static bool relay(int from, int to, char* buf, std::size_t cap) {
    const ssize_t n = ::read(from, buf, cap);
    if (n <= 0) return false;
    for (ssize_t off = 0; off < n;) {
      const ssize_t w = ::write(to, buf + off, static_cast<std::size_t>(n - off));
      if (w <= 0) return false;
      off += w;
    }
    return true;
  }

  std::uint16_t target_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> frozen_{false};
  std::atomic<bool> stop_{false};
  std::vector<std::pair<int, int>> pairs_;  // (client side, server side); proxy thread only
  std::thread thread_;
};

// The contender: a forked process with its own connection straight to the
// server. For each request it repeats one ready-made RESP command (SET key
// v NX PX ttl) every half millisecond until it gets +OK, and reports the
// CLOCK_MONOTONIC instant it SENT the successful attempt: the key became its
// own no earlier than that. Only system calls and stack buffers in the child
// (the parent may have threads).
struct ContenderRequest {
  std::uint32_t len = 0;  // 0: exit
  char cmd[500] = {};
};
struct ContenderResult {
  std::int64_t sent_ns = 0;   // send time of the successful SET
  std::int64_t reply_ns = 0;  // its +OK arrived
  std::int32_t attempts = 0;  // refused attempts before it
  std::int32_t error = 0;     // nonzero: the child failed
};

[[noreturn]] void contender_main(std::uint16_t port, int req_fd, int res_fd) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ::_exit(2);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (;;) {
    ContenderRequest req;
    if (::read(req_fd, &req, sizeof req) != static_cast<ssize_t>(sizeof req) || req.len == 0) ::_exit(0);
    ContenderResult res;
    const std::int64_t give_up = mono_ns() + 5'000'000'000;
    for (;;) {
      const std::int64_t sent = mono_ns();
      if (::write(fd, req.cmd, req.len) != static_cast<ssize_t>(req.len)) {
        res.error = 3;
        break;
      }
      char reply[64];
      std::size_t got = 0;
      while (got < 2 || reply[got - 2] != '\r' || reply[got - 1] != '\n') {
        const ssize_t n = ::read(fd, reply + got, sizeof reply - got);
        if (n <= 0) ::_exit(4);
        got += static_cast<std::size_t>(n);
      }
      if (reply[0] == '+') {
        res.sent_ns = sent;
        res.reply_ns = mono_ns();
        break;
      }
      if (reply[0] != '$' || mono_ns() > give_up) {
        res.error = reply[0] == '$' ? 5 : 6;
        break;
      }
      ++res.attempts;
      const timespec half_ms{0, 500'000};
      ::nanosleep(&half_ms, nullptr);
    }
    if (::write(res_fd, &res, sizeof res) != static_cast<ssize_t>(sizeof res)) ::_exit(7);
  }
}

std::string resp_command(std::initializer_list<std::string_view> argv) {
  std::string out = "*" + std::to_string(argv.size()) + "\r\n";
  for (auto a : argv) out += "$" + std::to_string(a.size()) + "\r\n" + std::string(a) + "\r\n";
  return out;
}

}  // namespace

TEST(LockDetail, DriftMarginIsOnePercentPlusAFewMilliseconds) {
  using uvredis::detail::lock_drift;
  using uvredis::detail::lock_valid_until;
  const LockerOptions d;
  EXPECT_EQ(d.drift_factor, 0.01);
  EXPECT_EQ(lock_drift(200ms, d), 2ms + d.drift_extra);
  EXPECT_EQ(lock_drift(250ms, d), 3ms + d.drift_extra);  // 2.5 rounded up
  EXPECT_EQ(lock_drift(10s, d), 100ms + d.drift_extra);
  EXPECT_EQ(lock_valid_until(1000, 10s, d), 1000u + 10000u - 100u - static_cast<std::uint64_t>(d.drift_extra.count()));
  LockerOptions none;
  none.drift_factor = 0;
  none.drift_extra = 0ms;
  EXPECT_EQ(lock_valid_until(1000, 200ms, none), 1200u);
  LockerOptions negative;
  negative.drift_factor = -1;
  negative.drift_extra = -5ms;
  EXPECT_EQ(lock_drift(200ms, negative), 0ms);
  // A TTL that the margin eats gives no validity (never "before sending").
  EXPECT_EQ(lock_valid_until(1000, 2ms, d), 1000u);
}

TEST(Lock, ValidityIsTheTtlLessTheDriftMarginFromTheSendTime) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    // validity() = send time + TTL - margin - now, the send time lying
    // between the loop times before and after the obtain, and now between
    // the loop's time and a fresh clock reading taken after the call.
    auto check = [&](Locker& locker, const char* key, milliseconds ttl, milliseconds margin) {
      const auto before = static_cast<long long>(uv_now(loop.get()));
      Lock l = must_obtain(loop, locker, key, ttl);
      const auto after = static_cast<long long>(uv_now(loop.get()));
      const long long v = l.validity().count();
      const auto now_hi = static_cast<long long>(uv_hrtime() / 1000000);
      EXPECT_GE(v, before + ttl.count() - margin.count() - now_hi) << key;
      EXPECT_LE(v, after + ttl.count() - margin.count() - after) << key;
      EXPECT_GT(v, 0) << key;
      return l;
    };
    Locker with_default(c);
    Lock a = check(with_default, "res", 10s, 100ms + LockerOptions{}.drift_extra);
    Locker without(c, LockerOptions{8ms, 256ms, 0.0, 0ms});
    Lock b = check(without, "res2", 1s, 0ms);
    Locker wide(c, LockerOptions{8ms, 256ms, 0.1, 50ms});
    Lock w = check(wide, "res3", 1s, 150ms);
    EXPECT_TRUE(release(loop, a));
    EXPECT_EQ(a.validity(), 0ms);  // released: nothing to rely on
    EXPECT_GT(b.validity(), 0ms);
    EXPECT_TRUE(release(loop, b));
    EXPECT_TRUE(release(loop, w));
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

namespace {

struct FrozenHolderStats {
  int rounds = 0;
  int late = 0;  // on_lost not strictly before the contender's successful send
  std::vector<double> lead_ms;  // contender's send minus on_lost
};

// Holder A reaches the server through a FreezableProxy and keeps a `ttl`
// lock alive with auto_refresh; the contender (another process, straight
// to the server) polls SET NX PX. The proxy freezes at a different point of
// the refresh cycle each round; A's on_lost must run strictly before the
// contender sent the SET that got the key.
FrozenHolderStats run_frozen_holder(RedisServer& server, LockerOptions lopts, int rounds, milliseconds ttl) {
  FrozenHolderStats stats;
  int to_child[2], from_child[2];
  EXPECT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(from_child, O_CLOEXEC), 0);
  const pid_t kid = ::fork();
  if (kid == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    contender_main(server.port(), to_child[0], from_child[1]);
  }
  EXPECT_GT(kid, 0);
  ::close(to_child[0]);
  ::close(from_child[1]);
  ::fcntl(from_child[0], F_SETFL, O_NONBLOCK);
  {
    FreezableProxy proxy(server.port());
    TestLoop loop;
    {
      auto o = ClientOptions::from_url("redis://127.0.0.1:" + std::to_string(proxy.port()));
      EXPECT_TRUE(o);
      Client c(loop.get(), *o);
      Locker locker(c, lopts);
      for (int round = 0; round < rounds; ++round) {
        const std::string key = "frozen:" + std::to_string(round);
        auto lock = std::make_unique<Lock>(must_obtain(loop, locker, key, ttl));
        int lost = 0;
        std::int64_t lost_ns = 0;
        bool lost_with_error = false;
        lock->auto_refresh([&](const uvredis::Error* e) {
          lost_ns = mono_ns();
          ++lost;
          lost_with_error = e != nullptr;
        });
        // The contender starts polling while A holds the key.
        ContenderRequest req;
        const std::string cmd = resp_command({"SET", key, "contender", "NX", "PX", std::to_string(ttl.count())});
        req.len = static_cast<std::uint32_t>(cmd.size());
        std::memcpy(req.cmd, cmd.data(), cmd.size());
        EXPECT_EQ(::write(to_child[1], &req, sizeof req), static_cast<ssize_t>(sizeof req));
        // Freeze at a different point of the refresh cycle (a third of the TTL) each round.
        loop.run_for(milliseconds(ttl.count() / 4 + (round * 37) % (ttl.count() / 2)));
        EXPECT_EQ(lost, 0) << "round " << round << ": lost while the link was fine";
        proxy.freeze();
        ContenderResult res;
        bool got = false;
        EXPECT_TRUE(loop.run_until([&] {
          if (!got) got = ::read(from_child[0], &res, sizeof res) == static_cast<ssize_t>(sizeof res);
          return got && lost > 0;
        }, 10s)) << "round " << round << ": contender " << (got ? "done" : "waiting") << ", on_lost " << lost;
        proxy.thaw();
        lock.reset();
        if (!got || lost == 0) break;
        EXPECT_EQ(res.error, 0);
        EXPECT_GT(res.attempts, 0) << "the contender never found the key held: the test proves nothing";
        EXPECT_TRUE(lost_with_error) << "a frozen link is link trouble, reported with its error";
        ++stats.rounds;
        stats.lead_ms.push_back(static_cast<double>(res.sent_ns - lost_ns) / 1e6);
        if (lost_ns >= res.sent_ns) ++stats.late;
      }
      close_and_wait(loop, c);
    }
    EXPECT_EQ(loop.close(), 0);
  }
  ContenderRequest bye;
  EXPECT_EQ(::write(to_child[1], &bye, sizeof bye), static_cast<ssize_t>(sizeof bye));
  ::close(to_child[1]);
  int st = 0;
  EXPECT_EQ(::waitpid(kid, &st, 0), kid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "contender status " << st;
  ::close(from_child[0]);
  std::sort(stats.lead_ms.begin(), stats.lead_ms.end());
  return stats;
}

void print_leads(const char* what, const FrozenHolderStats& s) {
  if (s.lead_ms.empty()) return;
  std::printf("%s: %d rounds, on_lost late in %d; contender's send minus on_lost: min %.2f ms, median %.2f ms, "
              "max %.2f ms\n",
              what, s.rounds, s.late, s.lead_ms.front(), s.lead_ms[s.lead_ms.size() / 2], s.lead_ms.back());
}

}  // namespace

TEST(Lock, OnLostRunsBeforeAContenderInAnotherProcessGetsTheKey) {
  RedisServer server;
  LockerOptions lopts;
  // To watch this test fail without the margin:
  // UVREDIS_TEST_LOCK_DRIFT="0 0" build/tests/test_lock --gtest_filter='*OnLostRunsBefore*'
  if (const char* d = std::getenv("UVREDIS_TEST_LOCK_DRIFT")) {
    long long extra = 0;
    if (std::sscanf(d, "%lf %lld", &lopts.drift_factor, &extra) == 2) lopts.drift_extra = milliseconds(extra);
  }
  const auto s = run_frozen_holder(server, lopts, 24, 200ms);
  std::printf("drift margin %.3f x TTL + %lld ms\n", lopts.drift_factor, static_cast<long long>(lopts.drift_extra.count()));
  print_leads("frozen holder", s);
  EXPECT_EQ(s.rounds, 24);
  EXPECT_EQ(s.late, 0) << "on_lost ran after another process had obtained the lock";
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
