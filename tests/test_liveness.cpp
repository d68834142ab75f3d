// Liveness and bounded close against real redis-server processes (a hung
// server is a SIGSTOPped one: the kernel still accepts and ACKs, nothing
// answers), plus the reply-size guard on a live link: against a real server
// with a small limit, and against the fake server for headers a real one
// never sends (its scanner alone is tested in test_reply_guard.cpp).
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/fake_server.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ConnectionState;
using uvredis::ErrorKind;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::close_and_wait;
using uvredis::test::FakeConnection;
using uvredis::test::FakeServer;
using uvredis::test::fast_reconnect;
using uvredis::test::options_for;
using uvredis::test::RedisServer;
using uvredis::test::run_one;
using uvredis::test::TestLoop;

namespace {

// Counts the callbacks of many commands: each must run exactly once.
struct Tally {
  int calls = 0;
  int ok = 0;
  std::vector<ErrorKind> errors;
  std::vector<std::string> messages;
  uvredis::Callback<Reply> cb() {
    return [this](Result<Reply> r) {
      ++calls;
      if (r) {
        ++ok;
      } else {
        errors.push_back(r.error().kind);
        messages.push_back(r.error().message);
      }
    };
  }
  int count(ErrorKind k) const {
    int n = 0;
    for (auto e : errors) n += e == k;
    return n;
  }
};

ClientOptions quick(const RedisServer& s) {
  auto o = fast_reconnect(options_for(s), 100ms);
  o.command_timeout = 200ms;
  o.connect_timeout = 500ms;
  return o;
}

}  // namespace

// The first report: a hung server, commands time out, and then the
// link must not stay "connected" for ever holding every timed-out command.
TEST(Liveness, SilentServerAfterATimeoutIsDroppedAndReplaced) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = quick(server);
    o.dead_link_timeout = 400ms;
    Client c(loop.get(), o);
    std::vector<ConnectionState> states;
    std::vector<std::string> why;
    c.on_state_change([&](ConnectionState s, const uvredis::Error* e) {
      states.push_back(s);
      if (e) why.push_back(e->message);
    });
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    server.pause();
    Tally t;
    for (int i = 0; i < 1000; ++i) c.command({"ECHO", "hung-" + std::to_string(i)}, t.cb());
    ASSERT_TRUE(loop.run_until([&] { return t.calls == 1000; }, 5s));
    EXPECT_EQ(t.count(ErrorKind::timeout), 1000);
    // Timed out: no longer in flight, although their replies are still owed.
    EXPECT_EQ(c.stats().in_flight, 0u);
    EXPECT_EQ(c.stats().timeouts, 1000u);
    // Silent for dead_link_timeout: dropped (and reconnecting).
    ASSERT_TRUE(loop.run_until([&] { return !why.empty(); }, 3s));
    EXPECT_NE(why.front().find("dead_link_timeout"), std::string::npos) << why.front();
    EXPECT_NE(std::find(states.begin(), states.end(), ConnectionState::reconnecting), states.end());
    server.resume();
    // A fresh link serves; the hung ECHOs' late replies went with the old one.
    ASSERT_TRUE(loop.run_until([&] { return c.state() == ConnectionState::connected; }, 5s));
    auto r = run_one(loop, c, {"ECHO", "after"}, 5s);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->str(), "after");
    EXPECT_GE(c.stats().reconnects, 1u);
    EXPECT_EQ(t.calls, 1000);
    close_and_wait(loop, c, 5s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// Commands written before the drop fail with connection_lost, never re-sent:
// with the silence window shorter than their timeout, the drop comes first.
TEST(Liveness, CommandsWrittenBeforeTheDropFailConnectionLost) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = quick(server);
    o.dead_link_timeout = 300ms;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"SET", "counter", "0"}));
    server.pause();
    Tally first;
    c.command({"INCR", "counter"}, first.cb());  // times out at 200 ms
    Tally patient;
    c.command({"INCR", "counter"}, patient.cb(), uvredis::CommandOptions{10s});
    ASSERT_TRUE(loop.run_until([&] { return patient.calls == 1; }, 5s));
    ASSERT_EQ(first.calls, 1);
    EXPECT_EQ(first.count(ErrorKind::timeout), 1);
    EXPECT_EQ(patient.count(ErrorKind::connection_lost), 1) << (patient.messages.empty() ? "" : patient.messages[0]);
    server.resume();
    ASSERT_TRUE(loop.run_until([&] { return c.state() == ConnectionState::connected; }, 5s));
    // At most once: the server saw each INCR once at most (it got them before
    // it froze, and nothing was re-sent on the new link).
    auto v = run_one(loop, c, {"GET", "counter"}, 5s);
    ASSERT_TRUE(v);
    EXPECT_LE(std::stoi(std::string(v->str())), 2);
    auto again = run_one(loop, c, {"GET", "counter"}, 5s);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->str(), v->str());
    close_and_wait(loop, c, 5s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A server that is slow but alive answers after the timeout: it keeps its link.
TEST(Liveness, LateReplyKeepsTheLink) {
  RedisServer server({{"--enable-debug-command", "local"}});
  TestLoop loop;
  {
    auto o = quick(server);
    o.dead_link_timeout = 2s;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"SET", "k", "v"}));
    server.debug_sleep(0.6);
    auto r = run_one(loop, c, {"GET", "k"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::timeout);
    // After the sleep the late reply arrives (and is dropped); the next
    // command gets its own reply on the same link.
    ASSERT_TRUE(loop.run_until([&] { return server.cmd({"PING"}) == "PONG"; }, 5s));
    auto e = run_one(loop, c, {"ECHO", "same-link"}, 5s);
    ASSERT_TRUE(e) << e.error().to_string();
    EXPECT_EQ(e->str(), "same-link");
    EXPECT_EQ(c.stats().reconnects, 0u);
    EXPECT_EQ(c.state(), ConnectionState::connected);
    close_and_wait(loop, c, 5s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// dead_link_timeout zero: the rule is off, the link stays (health checks and
// keepalive are then the only detectors).
TEST(Liveness, ZeroDisablesTheRule) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = quick(server);
    o.dead_link_timeout = 0ms;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    server.pause();
    auto r = run_one(loop, c, {"PING"}, 5s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::timeout);
    loop.run_for(600ms);  // a "nothing happens" check
    EXPECT_EQ(c.state(), ConnectionState::connected);
    server.resume();
    close_and_wait(loop, c, 5s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// close() after commands timed out on a hung server: it must not wait for
// their replies (the issue: close never called back, uv_run never returned).
TEST(Liveness, CloseFinishesAfterTimeoutsOnAHungServer) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);  // defaults, dead_link_timeout included
    o.command_timeout = 300ms;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    server.pause();
    Tally t;
    for (int i = 0; i < 100; ++i) c.command({"PING"}, t.cb());
    ASSERT_TRUE(loop.run_until([&] { return t.calls == 100; }, 5s));
    const auto t0 = uv_hrtime();
    close_and_wait(loop, c, 3s);
    EXPECT_LT((uv_hrtime() - t0) / 1e6, 1500.0);
    EXPECT_EQ(t.count(ErrorKind::timeout), 100);
    server.resume();
  }
  EXPECT_EQ(loop.close(), 0);
}

// KvStore::health on a hung server fails, and the client still closes.
TEST(Liveness, HealthFailsThenCloseFinishes) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    uvredis::KvStore<uvredis::RawCodec> kv(c, "svc:");
    server.pause();
    auto h = uvredis::test::await<void>(loop, [&](uvredis::Callback<void> cb) { kv.health(500ms, std::move(cb)); },
                                        5s);
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().kind, ErrorKind::timeout);
    close_and_wait(loop, c, 3s);
    server.resume();
  }
  EXPECT_EQ(loop.close(), 0);
}

// close() while commands are still within their deadline on a hung server:
// they time out on schedule, then close finishes. A command without a
// timeout gets a short grace after the last deadline and then fails closed.
TEST(Liveness, CloseIsBoundedByTheLongestDeadlinePlusGrace) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.command_timeout = 400ms;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    server.pause();
    Tally timed, forever;
    for (int i = 0; i < 10; ++i) c.command({"PING"}, timed.cb());
    c.command({"PING"}, forever.cb(), uvredis::CommandOptions{0ms});
    bool closed = false;
    const auto t0 = uv_hrtime();
    c.close([&] { closed = true; });
    ASSERT_TRUE(loop.run_until([&] { return closed; }, 5s));
    const double took = (uv_hrtime() - t0) / 1e6;
    EXPECT_GE(took, 350.0);
    EXPECT_LT(took, 400.0 + 1000.0 + 500.0);
    EXPECT_EQ(timed.calls, 10);
    EXPECT_EQ(timed.count(ErrorKind::timeout), 10);
    ASSERT_EQ(forever.calls, 1);
    EXPECT_EQ(forever.count(ErrorKind::closed), 1);
    server.resume();
  }
  EXPECT_EQ(loop.close(), 0);
}

// Half a reply, then silence: the command times out, close still finishes.
// (A real server cannot stop in the middle of a reply: the fake does.)
TEST(Liveness, CloseFinishesWhenTheServerStopsMidReply) {
  FakeServer fake([](FakeConnection& c) {
    while (true) {
      auto cmd = c.read_command();
      if (cmd.empty()) return;
      c.send("$10\r\nhal");  // and nothing more
    }
  });
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("127.0.0.1:" + std::to_string(fake.port()));
    ASSERT_TRUE(o);
    o->command_timeout = 300ms;
    Client c(loop.get(), *o);
    Tally t;
    c.command({"GET", "k"}, t.cb());
    ASSERT_TRUE(loop.run_until([&] { return t.calls == 1; }, 5s));
    EXPECT_EQ(t.count(ErrorKind::timeout), 1);
    close_and_wait(loop, c, 3s);
    EXPECT_EQ(t.calls, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

// ------------------------------------------------------------ reply guard

// The hostile server: a 1 TiB bulk header, then a trickle. The link
// is dropped at the header, before buffering.
TEST(ReplyGuard, HostileBulkHeaderDropsTheLinkAtOnce) {
  std::atomic<bool> stop{false};
  FakeServer fake([&](FakeConnection& c) {
    auto cmd = c.read_command();
    if (cmd.empty()) return;
    c.send("$1099511627776\r\n");
    for (int i = 0; i < 200 && !stop; ++i) c.send_chunked(std::string(64 * 1024, 'x'), 16 * 1024, 1000);
  });
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("127.0.0.1:" + std::to_string(fake.port()));
    ASSERT_TRUE(o);
    o->reconnect = false;
    Client c(loop.get(), *o);
    auto r = run_one(loop, c, {"GET", "k"}, 5s);
    stop = true;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::protocol) << r.error().to_string();
    EXPECT_NE(r.error().message.find("max_reply_element"), std::string::npos) << r.error().message;
    close_and_wait(loop, c, 5s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A real server and a small limit: the big value is refused, the link comes
// back, and small values flow again.
TEST(ReplyGuard, RealServerValueOverTheLimitIsAProtocolError) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = quick(server);
    o.command_timeout = 2s;
    o.max_reply_element = 1000;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"SET", "big", std::string(1001, 'b')}));
    ASSERT_TRUE(run_one(loop, c, {"SET", "small", std::string(1000, 's')}));
    Tally t;
    c.command({"GET", "small"}, t.cb());
    c.command({"GET", "big"}, t.cb());
    c.command({"GET", "small"}, t.cb());
    ASSERT_TRUE(loop.run_until([&] { return t.calls == 3; }, 5s));
    EXPECT_EQ(t.ok, 1);
    EXPECT_GE(t.count(ErrorKind::protocol), 1);  // the big one, and what was behind it
    EXPECT_EQ(t.errors.size(), 2u);
    auto again = run_one(loop, c, {"GET", "small"}, 5s);
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_EQ(again->str().size(), 1000u);
    close_and_wait(loop, c, 5s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// ------------------------------------------------------------ messages

TEST(Messages, TheKindIsNotRepeatedInToString) {
  using uvredis::Error;
  EXPECT_EQ((Error{ErrorKind::connection_lost, "connection lost: Server closed the connection"}.to_string()),
            "connection lost: Server closed the connection");
  EXPECT_EQ((Error{ErrorKind::protocol, "protocol error: bad"}.to_string()), "protocol error: bad");
  EXPECT_EQ((Error{ErrorKind::closed, "client closed"}.to_string()), "closed: client closed");
  EXPECT_EQ((Error{ErrorKind::server, "WRONGTYPE x"}.to_string()), "server: WRONGTYPE x");
}

TEST(Messages, ACommandLargerThanTheQueueSaysSo) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.max_queued_bytes = 1000;
    Client c(loop.get(), o);
    auto r = run_one(loop, c, {"SET", "k", std::string(2000, 'v')});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::overflow);
    EXPECT_NE(r.error().message.find("command too large"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("max_queued_bytes (1000)"), std::string::npos) << r.error().message;
    EXPECT_TRUE(run_one(loop, c, {"SET", "k", "small"}));
    close_and_wait(loop, c, 5s);
  }
  EXPECT_EQ(loop.close(), 0);
}
