// Faults against real redis-server processes: kills, hangs, timeouts,
// CLIENT KILL under load, server error replies, close/destroy in callbacks.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <memory>
#include <thread>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ConnectionState;
using uvredis::ErrorKind;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::options_for;
using uvredis::test::close_and_wait;
using uvredis::test::run_one;

namespace {

double ms_since(std::uint64_t t0_ns) { return static_cast<double>(uv_hrtime() - t0_ns) / 1e6; }

}  // namespace

TEST(Faults, ServerKilledMidStreamThenBack) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.reconnect_min_delay = 20ms;
    o.reconnect_max_delay = 200ms;
    Client c(loop.get(), o);
    std::vector<ConnectionState> states;
    c.on_state_change([&](ConnectionState s, const uvredis::Error*) { states.push_back(s); });
    ASSERT_TRUE(run_one(loop, c, {"PING"}));

    // Some commands complete; then, with the server frozen, many more are
    // written and the server dies under them (deterministic: none of those
    // can have been answered).
    int ok = 0, lost = 0, other = 0;
    auto count = [&](Result<Reply> r) {
      if (r)
        ++ok;
      else if (r.error().kind == ErrorKind::connection_lost)
        ++lost;
      else
        ++other;
    };
    for (int i = 0; i < 1000; ++i) c.command({"INCR", "ctr"}, count);
    ASSERT_TRUE(loop.run_until([&] { return ok == 1000; }));
    server.pause();
    const int n = 20000;
    for (int i = 0; i < n; ++i) c.command({"INCR", "ctr"}, count);
    ASSERT_TRUE(loop.run_until([&] { return c.stats().in_flight == static_cast<std::size_t>(n); }));
    server.kill();
    ASSERT_TRUE(loop.run_until([&] { return ok + lost + other == 1000 + n; }, 15s));
    EXPECT_EQ(ok, 1000);
    EXPECT_EQ(lost, n) << "every command in flight fails with connection lost (" << other << " other errors)";
    ASSERT_TRUE(loop.run_until([&] { return c.state() == ConnectionState::reconnecting; }));

    server.start();
    // Later commands succeed once the client is back.
    ASSERT_TRUE(loop.run_until([&] { return c.state() == ConnectionState::connected; }, 10s));
    auto r = run_one(loop, c, {"SET", "after", "1"});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_GE(c.stats().reconnects, 1u);
    ASSERT_GE(states.size(), 2u);
    EXPECT_EQ(states.front(), ConnectionState::connected);
    EXPECT_NE(std::find(states.begin(), states.end(), ConnectionState::reconnecting), states.end());
    EXPECT_EQ(states.back(), ConnectionState::connected);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, DebugSleepLongerThanTimeoutThenNextCommandGetsItsOwnReply) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.command_timeout = 200ms;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"SET", "k", "first"}));
    server.debug_sleep(0.8);
    const auto t0 = uv_hrtime();
    auto r = run_one(loop, c, {"GET", "k"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::timeout);
    EXPECT_LT(ms_since(t0), 600.0);
    EXPECT_EQ(c.stats().timeouts, 1u);
    // Once the server wakes up, the late "first" reply must not reach the
    // next command.
    auto e = run_one(loop, c, {"ECHO", "second"}, 5s);
    if (!e) {
      // Still asleep: this one may time out too; the one after must not mix.
      EXPECT_EQ(e.error().kind, ErrorKind::timeout);
    } else {
      EXPECT_EQ(e->str(), "second");
    }
    ASSERT_TRUE(loop.run_until([&] { return server.cmd({"PING"}) == "PONG"; }, 5s));
    auto e2 = run_one(loop, c, {"ECHO", "third"});
    ASSERT_TRUE(e2) << e2.error().to_string();
    EXPECT_EQ(e2->str(), "third");
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, HungServerTimesOutOnScheduleThenRecoversAlignment) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.command_timeout = 400ms;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    server.pause();
    std::vector<double> took;
    int timed_out = 0;
    const auto t0 = uv_hrtime();
    for (int i = 0; i < 50; ++i)
      c.command({"ECHO", "hung-" + std::to_string(i)}, [&](Result<Reply> r) {
        took.push_back(ms_since(t0));
        if (!r && r.error().kind == ErrorKind::timeout) ++timed_out;
      });
    ASSERT_TRUE(loop.run_until([&] { return took.size() == 50; }, 5s));
    server.resume();
    EXPECT_EQ(timed_out, 50);
    for (double t : took) {
      EXPECT_GE(t, 0.8 * 400);
      EXPECT_LE(t, 1.2 * 400);
    }
    // The hung replies arrive late and are dropped; 10,000 unique ECHOs
    // afterwards each get their own reply.
    const int n = 10000;
    int good = 0, bad = 0;
    for (int i = 0; i < n; ++i) {
      std::string v = "after-" + std::to_string(i);
      c.command({"ECHO", v}, [&, v](Result<Reply> r) {
        if (r && r->str() == v)
          ++good;
        else
          ++bad;
      });
    }
    ASSERT_TRUE(loop.run_until([&] { return good + bad == n; }, 20s));
    EXPECT_EQ(good, n);
    EXPECT_EQ(bad, 0);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, ClientKillUnderLoadNeverReplays) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.reconnect_min_delay = 10ms;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    long long ok = 0, lost = 0, other = 0, issued = 0;
    const long long total = 30000;
    bool killed = false;
    // Keep ~200 INCRs in flight; kill the connection part way.
    std::function<void()> issue = [&] {
      if (issued >= total) return;
      ++issued;
      c.command({"INCR", "counter"}, [&](Result<Reply> r) {
        if (r)
          ++ok;
        else if (r.error().kind == ErrorKind::connection_lost)
          ++lost;
        else
          ++other;
        if (!killed && ok == 5000) {
          killed = true;
          server.cmd({"CLIENT", "KILL", "TYPE", "normal"});
        }
        issue();
      });
    };
    for (int i = 0; i < 200; ++i) issue();
    ASSERT_TRUE(loop.run_until([&] { return ok + lost + other == total; }, 30s));
    EXPECT_TRUE(killed);
    EXPECT_GT(lost, 0);
    EXPECT_EQ(other, 0);
    // Nothing silently re-sent: the server counted exactly our successes.
    EXPECT_EQ(server.cmd_int({"GET", "counter"}), ok);
    EXPECT_GE(c.stats().reconnects, 1u);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, OomReplyIsATypedServerErrorAndTheLinkSurvives) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c, {"CONFIG", "SET", "maxmemory-policy", "noeviction"}));
    ASSERT_TRUE(run_one(loop, c, {"CONFIG", "SET", "maxmemory", "1"}));
    auto r = run_one(loop, c, {"SET", "k", "v"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::server);
    EXPECT_EQ(r.error().code(), "OOM");
    ASSERT_TRUE(run_one(loop, c, {"CONFIG", "SET", "maxmemory", "0"}));
    EXPECT_TRUE(run_one(loop, c, {"SET", "k", "v"}));
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, LoadingReplyIsATypedServerErrorAndTheLinkSurvives) {
  RedisServer server;
  // A data set that takes a second or so to load: 20,000 keys, 50 us each,
  // with the server answering (LOADING) between every 4 KiB read.
  server.cmd({"DEBUG", "POPULATE", "20000"});
  ASSERT_EQ(server.cmd({"SAVE"}), "OK");
  server.stop();
  server.add_args({"--dbfilename", "dump.rdb", "--key-load-delay", "50",
                   "--loading-process-events-interval-bytes", "4096"});
  server.start_loading();
  TestLoop loop;
  {
    auto o = options_for(server);
    o.command_timeout = 10s;
    Client c(loop.get(), o);
    auto r = run_one(loop, c, {"GET", "key:1"});
    ASSERT_FALSE(r) << "the data set loaded before the first command";
    EXPECT_EQ(r.error().kind, ErrorKind::server) << r.error().to_string();
    EXPECT_EQ(r.error().code(), "LOADING");
    // Same connection, once the load is over: the value is there.
    std::optional<Result<Reply>> got;
    ASSERT_TRUE(loop.run_until(
        [&] {
          got.emplace(run_one(loop, c, {"GET", "key:1"}));
          return got->ok() || got->error().code() != "LOADING";
        },
        30s));
    ASSERT_TRUE(*got) << got->error().to_string();
    EXPECT_EQ((*got)->str(), "value:1");
    EXPECT_EQ(c.stats().reconnects, 0u);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, BusyReplyIsATypedServerError) {
  RedisServer server({{"--busy-reply-threshold", "100"}});
  TestLoop loop;
  {
    Client looper(loop.get(), options_for(server));
    auto o = options_for(server);
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    int eval_calls = 0;
    std::optional<uvredis::Error> eval_error;
    looper.command({"EVAL", "while true do end", "0"},
                   [&](Result<Reply> r) {
                     ++eval_calls;
                     if (!r) eval_error = r.error();
                   },
                   uvredis::CommandOptions{0ms});
    // Poll until the script is running and the server answers BUSY.
    std::optional<uvredis::Error> busy;
    ASSERT_TRUE(loop.run_until(
        [&] {
          auto r = run_one(loop, c, {"GET", "x"});
          if (!r && r.error().code() == "BUSY") busy = r.error();
          return busy.has_value();
        },
        10s));
    EXPECT_EQ(busy->kind, ErrorKind::server);
    auto kill = run_one(loop, c, {"SCRIPT", "KILL"});
    EXPECT_TRUE(kill) << kill.error().to_string();
    ASSERT_TRUE(loop.run_until([&] { return eval_calls == 1; }));
    ASSERT_TRUE(eval_error);
    EXPECT_EQ(eval_error->kind, ErrorKind::server);
    EXPECT_TRUE(run_one(loop, c, {"PING"}));
    close_and_wait(loop, c, 10s);
    close_and_wait(loop, looper, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, ReadonlyReplicaErrorIsTyped) {
  RedisServer master;
  RedisServer replica({{"--replicaof", "127.0.0.1", std::to_string(master.port())}});
  TestLoop loop;
  {
    Client c(loop.get(), options_for(replica));
    auto r = run_one(loop, c, {"SET", "k", "v"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::server);
    EXPECT_EQ(r.error().code(), "READONLY");
    EXPECT_TRUE(run_one(loop, c, {"GET", "k"}));
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, CloseWithCommandsInFlightCompletesThemAll) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    int ok = 0, failed = 0;
    for (int i = 0; i < 1000; ++i)
      c.command({"INCR", "n"}, [&](Result<Reply> r) { r ? ++ok : ++failed; });
    bool closed = false;
    c.close([&] { closed = true; });
    int after = 0;
    c.command({"PING"}, [&](Result<Reply> r) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().kind, ErrorKind::closed);
      ++after;
    });
    ASSERT_TRUE(loop.run_until([&] { return closed; }));
    EXPECT_EQ(ok + failed, 1000);
    EXPECT_EQ(after, 1);
    EXPECT_EQ(ok, 1000);  // graceful: queued commands still went out
    EXPECT_EQ(server.cmd_int({"GET", "n"}), 1000);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, CloseInsideACallback) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    int calls = 0;
    bool closed = false;
    for (int i = 0; i < 100; ++i)
      c.command({"PING"}, [&, i](Result<Reply>) {
        ++calls;
        if (i == 10) c.close([&] { closed = true; });
      });
    ASSERT_TRUE(loop.run_until([&] { return closed; }));
    EXPECT_EQ(calls, 100);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, DestroyInsideACallbackRunsEveryCallbackOnce) {
  RedisServer server;
  TestLoop loop;
  {
    auto c = std::make_unique<Client>(loop.get(), options_for(server));
    std::vector<int> calls(500, 0);
    int closed_errors = 0;
    for (int i = 0; i < 500; ++i)
      c->command({"PING"}, [&, i](Result<Reply> r) {
        ++calls[static_cast<std::size_t>(i)];
        if (!r) {
          EXPECT_EQ(r.error().kind, ErrorKind::closed);
          ++closed_errors;
        }
        if (i == 3) c.reset();
      });
    ASSERT_TRUE(loop.run_until([&] {
      for (int x : calls)
        if (x == 0) return false;
      return true;
    }));
    loop.run_for(50ms);
    for (int x : calls) EXPECT_EQ(x, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, DestroyWithCommandsQueuedFailsThemClosed) {
  RedisServer server;
  TestLoop loop;
  {
    int closed = 0, total = 0;
    {
      Client c(loop.get(), options_for(server));
      for (int i = 0; i < 10; ++i)
        c.command({"PING"}, [&](Result<Reply> r) {
          ++total;
          if (!r && r.error().kind == ErrorKind::closed) ++closed;
        });
    }
    EXPECT_EQ(total, 0);  // not inside the destructor
    ASSERT_TRUE(loop.run_until([&] { return total == 10; }));
    EXPECT_EQ(closed, 10);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Faults, HealthCheckNoticesAHungServer) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.health_check_interval = 100ms;
    o.command_timeout = 300ms;
    o.connect_timeout = 300ms;
    o.reconnect_min_delay = 20ms;
    o.reconnect_max_delay = 100ms;
    Client c(loop.get(), o);
    std::vector<ConnectionState> states;
    c.on_state_change([&](ConnectionState s, const uvredis::Error*) { states.push_back(s); });
    ASSERT_TRUE(loop.run_until([&] { return c.state() == ConnectionState::connected; }));
    server.pause();
    ASSERT_TRUE(loop.run_until([&] { return c.state() == ConnectionState::reconnecting; }, 5s));
    server.resume();
    ASSERT_TRUE(loop.run_until([&] { return c.state() == ConnectionState::connected; }, 10s));
    EXPECT_TRUE(run_one(loop, c, {"PING"}));
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// WAIT counts the writes of its own connection, so it must run on the
// connection that wrote: with the replica frozen, SET then WAIT 1 300 finds
// no replica acknowledgement (a WAIT on another connection would answer 1
// at once: that connection wrote nothing).
TEST(Faults, WaitCountsTheWritesOfTheSharedConnection) {
  RedisServer master({{"--repl-diskless-sync-delay", "0"}});  // the replica syncs at once
  RedisServer replica({{"--replicaof", "127.0.0.1", std::to_string(master.port())}});
  ASSERT_TRUE([&] {
    for (int i = 0; i < 500; ++i) {
      if (master.cmd({"INFO", "replication"}).find("state=online") != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // harness polling, not test synchronisation
    }
    return false;
  }());
  TestLoop loop;
  {
    auto o = options_for(master);
    o.command_timeout = 1s;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"SET", "k", "1"}));
    auto acked = run_one(loop, c, {"WAIT", "1", "2000"});
    ASSERT_TRUE(acked) << acked.error().to_string();
    EXPECT_EQ(acked->integer(), 1);  // the live replica acknowledges
    replica.pause();
    ASSERT_TRUE(run_one(loop, c, {"SET", "k", "2"}));
    auto none = run_one(loop, c, {"WAIT", "1", "300"});
    replica.resume();
    ASSERT_TRUE(none) << none.error().to_string();  // 300 ms wait + 1 s timeout: no client-side timeout
    EXPECT_EQ(none->integer(), 0);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}
