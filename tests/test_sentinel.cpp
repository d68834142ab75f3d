// Sentinel mode against real processes: one master, one replica and three
// sentinels (tests/support/sentinel_group.hpp), plus a scripted fake
// sentinel for the ROLE and READONLY paths. Writes report which server
// acknowledged them (a script returns the server's tcp_port), so a test can
// tell that nothing was acknowledged by the old master once the new one was.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/fake_server.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"
#include "support/sentinel_group.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <map>
#include <set>
#include <sstream>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ConnectionState;
using uvredis::ErrorKind;
using uvredis::Message;
using uvredis::Reply;
using uvredis::Result;
using uvredis::Subscriber;
using uvredis::test::FakeConnection;
using uvredis::test::FakeServer;
using uvredis::test::RedisServer;
using uvredis::test::SentinelGroup;
using uvredis::test::TestLoop;
using uvredis::test::close_and_wait;
using uvredis::test::fast_reconnect;

namespace {

constexpr std::string_view kPushAndTell =
    "redis.call('RPUSH', KEYS[1], ARGV[1]) "
    "return string.match(redis.call('INFO', 'server'), 'tcp_port:(%d+)')";

// Short timeouts and quick reconnects: the tests kill masters on purpose.
ClientOptions sentinel_client_options(const std::string& url) {
  ClientOptions o = fast_reconnect(uvredis::test::options_for(url), 300ms);
  o.connect_timeout = 2000ms;
  o.command_timeout = 2000ms;
  o.sentinel.timeout = 500ms;
  return o;
}

// One write at a time, issued from the run_until predicate; every outcome
// recorded with the port of the server that acknowledged it.
struct Writer {
  explicit Writer(Client& c) : client(c) {}
  Client& client;
  std::string key = "log";
  int issued = 0;
  int completed = 0;
  bool in_flight = false;
  std::map<int, int> acked_by;  // write number -> port
  std::vector<int> ack_order;   // ports, in the order of acknowledgement
  std::map<int, std::string> failed;
  std::map<int, std::uint64_t> first_ack_ns;  // port -> uv_hrtime of its first acknowledgement

  void pump() {
    if (in_flight) return;
    in_flight = true;
    const int n = issued++;
    std::string num = std::to_string(n);
    client.command({"EVAL", kPushAndTell, "1", key, num}, [this, n](Result<Reply> r) {
      ++completed;
      in_flight = false;
      if (!r) {
        failed[n] = r.error().to_string();
        return;
      }
      int port = std::stoi(std::string(r->str()));
      acked_by[n] = port;
      ack_order.push_back(port);
      first_ack_ns.emplace(port, uv_hrtime());
    });
  }
  // Runs the loop, writing, until pred() holds or limit passes.
  bool write_until(TestLoop& loop, const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    return loop.run_until([&] {
      if (pred()) return true;
      pump();
      return false;
    }, limit);
  }
  void drain(TestLoop& loop) { EXPECT_TRUE(loop.run_until([&] { return !in_flight; }, 10s)); }
};

// Once `new_port` acknowledged a write, `old_port` never does again.
void expect_no_going_back(const Writer& w, int old_port, int new_port) {
  bool moved = false;
  for (int p : w.ack_order) {
    if (p == new_port) moved = true;
    if (moved) {
      EXPECT_NE(p, old_port) << "a write was acknowledged by the old master after the new one";
    }
  }
  EXPECT_TRUE(moved);
}

// Every write the new master acknowledged is in its list.
void expect_all_present(RedisServer& master, const Writer& w, int port) {
  std::string all = master.cmd({"LRANGE", w.key, "0", "-1"});
  std::set<std::string> have;
  std::istringstream in(all);
  for (std::string line; std::getline(in, line);) have.insert(line);
  int checked = 0;
  for (const auto& [n, p] : w.acked_by) {
    if (p != port) continue;
    ++checked;
    EXPECT_TRUE(have.count(std::to_string(n))) << "acknowledged write " << n << " is missing";
  }
  EXPECT_GT(checked, 0);
}

}  // namespace

// ------------------------------------------------------------- URL parsing

TEST(SentinelUrl, ParsesHostsMasterDbAndCredentials) {
  auto o = ClientOptions::from_url(
      "redis+sentinel://app:s%40cret@10.0.0.1:26380,sentinel-b,[::1]:5000/my%20master/3"
      "?sentinel_username=sen&sentinel_password=pw");
  ASSERT_TRUE(o) << o.error().to_string();
  ASSERT_EQ(o->sentinel.sentinels.size(), 3u);
  EXPECT_EQ(o->sentinel.sentinels[0].host, "10.0.0.1");
  EXPECT_EQ(o->sentinel.sentinels[0].port, 26380);
  EXPECT_EQ(o->sentinel.sentinels[1].host, "sentinel-b");
  EXPECT_EQ(o->sentinel.sentinels[1].port, 26379);
  EXPECT_EQ(o->sentinel.sentinels[2].host, "::1");
  EXPECT_EQ(o->sentinel.sentinels[2].port, 5000);
  EXPECT_EQ(o->sentinel.master_name, "my master");
  EXPECT_EQ(o->sentinel.username, "sen");
  EXPECT_EQ(o->sentinel.password, "pw");
  EXPECT_EQ(o->address.username, "app");
  EXPECT_EQ(o->address.password, "s@cret");
  EXPECT_EQ(o->address.db, 3);
  EXPECT_TRUE(o->sentinel.enabled());
}

TEST(SentinelUrl, RejectsWhatItCannotUse) {
  for (const char* bad : {"redis+sentinel://h:1", "redis+sentinel://h:1/", "redis+sentinel:///m",
                          "redis+sentinel://h:1,,h2/m", "redis+sentinel://h:99999/m", "redis+sentinel://h/m/x",
                          "redis+sentinel://h/m?foo=1"}) {
    auto o = ClientOptions::from_url(bad);
    ASSERT_FALSE(o) << bad;
    EXPECT_EQ(o.error().kind, ErrorKind::usage);
    EXPECT_NE(o.error().message.find("sentinel URL"), std::string::npos) << o.error().message;
  }
  auto plain = ClientOptions::from_url("redis://127.0.0.1:6000");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->sentinel.enabled());
}

// ------------------------------------------------------------ real sentinels

TEST(Sentinel, DiscoversTheMasterAndWritesLandThere) {
  SentinelGroup g;
  TestLoop loop;
  {
    Client c(loop.get(), sentinel_client_options(g.url()));
    Writer w(c);
    ASSERT_TRUE(w.write_until(loop, [&] { return w.acked_by.size() >= 20; }, 10s));
    w.drain(loop);
    EXPECT_TRUE(w.failed.empty()) << w.failed.begin()->second;
    for (auto& [n, port] : w.acked_by) EXPECT_EQ(port, g.first_master().port());
    EXPECT_EQ(g.first_master().cmd_int({"LLEN", "log"}), static_cast<long long>(w.acked_by.size()));
    EXPECT_EQ(w.completed, w.issued);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Sentinel, KillingTheMasterMovesWritesToThePromotedReplica) {
  SentinelGroup g;
  TestLoop loop;
  const int old_port = g.first_master().port();
  const int new_port = g.first_replica().port();
  {
    Client c(loop.get(), sentinel_client_options(g.url()));
    Writer w(c);
    ASSERT_TRUE(w.write_until(loop, [&] { return w.acked_by.size() >= 20; }, 10s));
    g.first_master().kill();
    const std::uint64_t killed = uv_hrtime();
    ASSERT_TRUE(w.write_until(loop, [&] { return w.first_ack_ns.count(new_port) > 0; }, 15s))
        << "no write reached the new master";
    const double secs = (w.first_ack_ns[new_port] - killed) / 1e9;
    std::printf("kill -9: first write on the new master %.2f s after the kill\n", secs);
    EXPECT_LT(secs, 10.0);
    // The old master comes back as a stale master: until the sentinels turn it
    // into a replica it would take writes. None may go there.
    g.first_master().start();
    const std::size_t before = w.acked_by.size();
    ASSERT_TRUE(w.write_until(loop, [&] { return w.acked_by.size() >= before + 200; }, 10s));
    loop.run_for(1500ms);  // the sentinels meet the returned node
    ASSERT_TRUE(w.write_until(loop, [&] { return w.acked_by.size() >= before + 400; }, 10s));
    w.drain(loop);
    expect_no_going_back(w, old_port, new_port);
    expect_all_present(g.first_replica(), w, new_port);
    EXPECT_EQ(w.completed, w.issued);
    for (auto& [n, err] : w.failed) EXPECT_NE(err.find("connect"), std::string::npos) << err;
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Sentinel, ForcedFailoverMovesWrites) {
  SentinelGroup g;
  TestLoop loop;
  const int old_port = g.first_master().port();
  const int new_port = g.first_replica().port();
  {
    Client c(loop.get(), sentinel_client_options(g.url()));
    Writer w(c);
    ASSERT_TRUE(w.write_until(loop, [&] { return w.acked_by.size() >= 20; }, 10s));
    EXPECT_EQ(g.sentinel(0).cmd({"SENTINEL", "FAILOVER", SentinelGroup::kName}), "OK");
    const std::uint64_t asked = uv_hrtime();
    ASSERT_TRUE(w.write_until(loop, [&] { return w.first_ack_ns.count(new_port) > 0; }, 15s))
        << "no write reached the new master";
    const double secs = (w.first_ack_ns[new_port] - asked) / 1e9;
    std::printf("SENTINEL FAILOVER: first write on the new master %.2f s later\n", secs);
    EXPECT_LT(secs, 5.0);
    const std::size_t before = w.acked_by.size();
    ASSERT_TRUE(w.write_until(loop, [&] { return w.acked_by.size() >= before + 200; }, 10s));
    w.drain(loop);
    expect_no_going_back(w, old_port, new_port);
    expect_all_present(g.first_replica(), w, new_port);
    EXPECT_EQ(w.completed, w.issued);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Sentinel, OneSentinelLeftIsEnough) {
  SentinelGroup g;
  g.sentinel(0).kill();
  g.sentinel(1).kill();
  TestLoop loop;
  {
    Client c(loop.get(), sentinel_client_options(g.url()));
    auto r = uvredis::test::run_one(loop, c, {"SET", "k", "v"});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(g.first_master().cmd({"GET", "k"}), "v");
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Sentinel, AllSentinelsDownIsAClearConnectError) {
  SentinelGroup g;
  std::vector<int> ports;
  for (std::size_t i = 0; i < g.sentinel_count(); ++i) {
    ports.push_back(g.sentinel(i).port());
    g.sentinel(i).kill();
  }
  TestLoop loop;
  {
    Client c(loop.get(), sentinel_client_options(g.url()));
    int calls = 0;
    std::optional<Result<Reply>> out;
    c.command({"SET", "k", "v"}, [&](Result<Reply> r) {
      ++calls;
      out.emplace(std::move(r));
    });
    ASSERT_TRUE(loop.run_until([&] { return calls > 0; }, 10s));
    ASSERT_FALSE(*out);
    const auto& e = out->error();
    EXPECT_EQ(e.kind, ErrorKind::connect);
    EXPECT_NE(e.message.find("mymaster"), std::string::npos) << e.message;
    for (int p : ports) EXPECT_NE(e.message.find("127.0.0.1:" + std::to_string(p)), std::string::npos) << e.message;
    loop.run_for(200ms);
    EXPECT_EQ(calls, 1);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Sentinel, SubscriberResubscribesOnTheNewMaster) {
  SentinelGroup g;
  TestLoop loop;
  const int new_port = g.first_replica().port();
  {
    Client pub(loop.get(), sentinel_client_options(g.url()));
    Subscriber sub(loop.get(), sentinel_client_options(g.url()));
    std::vector<std::string> got;
    int confirmed = 0;
    sub.subscribe({"news"}, [&](const Message& m) { got.push_back(m.payload); }, [&](Result<void> r) {
      EXPECT_TRUE(r);
      ++confirmed;
    });
    ASSERT_TRUE(loop.run_until([&] { return confirmed == 1; }, 10s));
    auto r = uvredis::test::run_one(loop, pub, {"PUBLISH", "news", "before"});
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(loop.run_until([&] { return got.size() == 1; }, 5s));

    EXPECT_EQ(g.sentinel(1).cmd({"SENTINEL", "FAILOVER", SentinelGroup::kName}), "OK");
    ASSERT_TRUE(loop.run_until([&] { return sub.stats().resubscribes >= 1 && sub.state() == ConnectionState::connected; }, 15s));
    // Publish on the new master until the subscriber hears one (the
    // publisher may still be moving over itself).
    int published = 0;
    bool in_flight = false;
    ASSERT_TRUE(loop.run_until([&] {
      if (got.size() >= 2) return true;
      if (!in_flight) {
        in_flight = true;
        ++published;
        pub.command({"EVAL", "redis.call('PUBLISH', 'news', 'after') return string.match(redis.call('INFO', 'server'), 'tcp_port:(%d+)')", "0"},
                    [&](Result<Reply> rr) {
                      in_flight = false;
                      if (rr) {
                        EXPECT_EQ(std::stoi(std::string(rr->str())), new_port);
                      }
                    });
      }
      return false;
    }, 15s));
    EXPECT_EQ(got[1], "after");
    EXPECT_EQ(confirmed, 1);
    ASSERT_TRUE(loop.run_until([&] { return !in_flight; }, 5s));
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

// ------------------------------------------------------- scripted sentinel

namespace {

// Answers get-master-addr-by-name with whatever port `answer` holds, and
// accepts anything else (AUTH, SUBSCRIBE) so the +switch-master watch stays.
struct FakeSentinel {
  std::atomic<int> answer{0};
  std::atomic<int> queries{0};
  FakeServer server{[this](FakeConnection& c) {
    for (;;) {
      auto cmd = c.read_command();
      if (cmd.empty()) return;
      if (cmd[0] == "SENTINEL") {
        ++queries;
        std::string port = std::to_string(answer.load());
        c.send("*2\r\n$9\r\n127.0.0.1\r\n$" + std::to_string(port.size()) + "\r\n" + port + "\r\n");
      } else if (cmd[0] == "SUBSCRIBE") {
        c.send("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n");
      } else {
        c.send("+OK\r\n");
      }
    }
  }};
  std::string url() const { return "redis+sentinel://127.0.0.1:" + std::to_string(server.port()) + "/mymaster"; }
};

uvredis::test::ServerOptions replica_of(const RedisServer& master) {
  uvredis::test::ServerOptions o;
  o.extra_args = {"--replicaof", "127.0.0.1", std::to_string(master.port())};
  return o;
}

Result<Reply> push_and_tell(TestLoop& loop, Client& c, std::string_view n) {
  return uvredis::test::run_one(loop, c, {"EVAL", kPushAndTell, "1", "log", n});
}

}  // namespace

TEST(SentinelRole, ANodeThatIsNotMasterIsNeverWrittenTo) {
  RedisServer a;
  RedisServer b(replica_of(a));
  FakeSentinel fake;
  fake.answer = b.port();  // stale: names the replica
  TestLoop loop;
  {
    Client c(loop.get(), sentinel_client_options(fake.url()));
    int calls = 0;
    std::optional<Result<Reply>> out;
    c.command({"EVAL", kPushAndTell, "1", "log", "1"}, [&](Result<Reply> r) {
      ++calls;
      out.emplace(std::move(r));
    });
    // The first attempt reaches the replica, ROLE says slave, the attempt
    // fails and with it the command that waited for it.
    ASSERT_TRUE(loop.run_until([&] { return calls > 0; }, 10s));
    ASSERT_FALSE(*out);
    EXPECT_EQ(out->error().kind, ErrorKind::connect);
    EXPECT_NE(out->error().message.find("is not the master (ROLE: slave)"), std::string::npos)
        << out->error().message;
    EXPECT_EQ(b.cmd_int({"LLEN", "log"}), 0);
    fake.answer = a.port();
    auto r = push_and_tell(loop, c, "2");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(std::stoi(std::string(r->str())), a.port());
    EXPECT_EQ(calls, 1);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(SentinelRole, ReadonlyReplyDropsTheLinkAndFindsTheNewMaster) {
  RedisServer a;
  RedisServer b(replica_of(a));
  FakeSentinel fake;
  fake.answer = a.port();
  TestLoop loop;
  {
    Client c(loop.get(), sentinel_client_options(fake.url()));
    auto r = push_and_tell(loop, c, "1");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(std::stoi(std::string(r->str())), a.port());
    // Swap the roles behind the client's back.
    b.cmd({"REPLICAOF", "NO", "ONE"});
    a.cmd({"REPLICAOF", "127.0.0.1", std::to_string(b.port())});
    fake.answer = b.port();
    auto after = push_and_tell(loop, c, "2");
    ASSERT_FALSE(after);  // READONLY (or the link was dropped by the demotion)
    std::printf("first write after the swap: %s\n", after.error().to_string().c_str());
    auto again = push_and_tell(loop, c, "3");
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_EQ(std::stoi(std::string(again->str())), b.port());
    EXPECT_GE(c.stats().reconnects, 1u);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Sentinel, LocksAndLimitersKeepWorkingThroughAFailover) {
  SentinelGroup g;
  TestLoop loop;
  const int new_port = g.first_replica().port();
  {
    Client c(loop.get(), sentinel_client_options(g.url()));
    uvredis::Locker locker(c);
    uvredis::RateLimiter limiter(c);
    auto first = uvredis::test::await<std::optional<uvredis::Lock>>(
        loop, [&](auto cb) { locker.obtain("job", 20s, 0ms, std::move(cb)); });
    ASSERT_TRUE(first) << first.error().to_string();
    ASSERT_TRUE(first->has_value());
    auto lim = uvredis::test::await<uvredis::RateResult>(
        loop, [&](auto cb) { limiter.allow("api", uvredis::RateLimit::per_second(100), std::move(cb)); });
    ASSERT_TRUE(lim) << lim.error().to_string();
    EXPECT_EQ(lim->allowed, 1);
    // Let the replica catch up, then fail over.
    ASSERT_EQ(g.first_master().cmd({"WAIT", "1", "2000"}), "1");
    EXPECT_EQ(g.sentinel(2).cmd({"SENTINEL", "FAILOVER", SentinelGroup::kName}), "OK");
    ASSERT_NE(g.wait_master_change(g.first_master().port(), 10s), 0);
    // Until the client is on the new master an attempt may fail (at-most-once).
    std::optional<Result<std::optional<uvredis::Lock>>> second;
    Writer probe(c);
    ASSERT_TRUE(probe.write_until(loop, [&] { return probe.first_ack_ns.count(new_port) > 0; }, 10s));
    probe.drain(loop);
    second = uvredis::test::await<std::optional<uvredis::Lock>>(
        loop, [&](auto cb) { locker.obtain("job", 20s, 0ms, std::move(cb)); });
    ASSERT_TRUE(*second) << second->error().to_string();
    EXPECT_FALSE((*second)->has_value()) << "the lock taken on the old master was replicated";
    auto released = uvredis::test::await<bool>(loop, [&](auto cb) { (*first)->release(std::move(cb)); });
    ASSERT_TRUE(released) << released.error().to_string();
    EXPECT_TRUE(*released);
    auto lim2 = uvredis::test::await<uvredis::RateResult>(
        loop, [&](auto cb) { limiter.allow("api", uvredis::RateLimit::per_second(100), std::move(cb)); });
    ASSERT_TRUE(lim2) << lim2.error().to_string();
    EXPECT_EQ(lim2->allowed, 1);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}
