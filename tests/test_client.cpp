// Client against real redis-server processes: connecting, handshake,
// ordering, binary safety, refusals, routing, poster, logging.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ErrorKind;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::options_for;
using uvredis::test::close_and_wait;
using uvredis::test::run_one;

namespace {

}  // namespace

TEST(Client, ConnectsByIpAndRoundTrips) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    auto set = run_one(loop, c, {"SET", "k", "v"});
    ASSERT_TRUE(set) << set.error().to_string();
    EXPECT_EQ(set->str(), "OK");
    auto get = run_one(loop, c, {"GET", "k"});
    ASSERT_TRUE(get);
    EXPECT_EQ(get->str(), "v");
    EXPECT_EQ(c.state(), uvredis::ConnectionState::connected);
    close_and_wait(loop, c, 10s);
    EXPECT_EQ(c.state(), uvredis::ConnectionState::closed);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, ConnectsByHostName) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("redis://localhost:" + std::to_string(server.port()));
    ASSERT_TRUE(o);
    Client c(loop.get(), *o);
    auto r = run_one(loop, c, {"PING"});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->str(), "PONG");
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, ConnectsByUnixSocketAndSelectsDb) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("unix://" + server.unix_path() + "?db=3");
    ASSERT_TRUE(o) << o.error().message;
    Client c(loop.get(), *o);
    ASSERT_TRUE(run_one(loop, c, {"SET", "in3", "x"}));
    Client c0(loop.get(), options_for(server));
    auto n0 = run_one(loop, c0, {"EXISTS", "in3"});
    ASSERT_TRUE(n0);
    EXPECT_EQ(n0->integer(), 0);
    auto n3 = run_one(loop, c, {"EXISTS", "in3"});
    ASSERT_TRUE(n3);
    EXPECT_EQ(n3->integer(), 1);
    close_and_wait(loop, c, 10s);
    close_and_wait(loop, c0, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, SetsClientName) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.client_name = "game-server-7";
    Client c(loop.get(), o);
    auto r = run_one(loop, c, {"CLIENT", "GETNAME"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->str(), "game-server-7");
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, WrongPasswordIsReportedNotHung) {
  RedisServer server({{"--requirepass", "right"}});
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("redis://:wrong@127.0.0.1:" + std::to_string(server.port()));
    ASSERT_TRUE(o);
    o->connect_timeout = 2s;
    Client c(loop.get(), *o);
    auto r = run_one(loop, c, {"PING"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connect);
    EXPECT_NE(r.error().message.find("AUTH failed"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("WRONGPASS"), std::string::npos) << r.error().message;
    close_and_wait(loop, c, 10s);

    auto good = ClientOptions::from_url("redis://:right@127.0.0.1:" + std::to_string(server.port()));
    Client c2(loop.get(), *good);
    auto ok = run_one(loop, c2, {"PING"});
    ASSERT_TRUE(ok) << ok.error().to_string();
    close_and_wait(loop, c2, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, AclUserAuthenticates) {
  RedisServer server;
  server.cmd({"ACL", "SETUSER", "alice", "on", ">pw1", "~*", "+@all"});
  TestLoop loop;
  {
    auto good = ClientOptions::from_url("redis://alice:pw1@127.0.0.1:" + std::to_string(server.port()));
    Client c(loop.get(), *good);
    auto who = run_one(loop, c, {"ACL", "WHOAMI"});
    ASSERT_TRUE(who) << who.error().to_string();
    EXPECT_EQ(who->str(), "alice");
    close_and_wait(loop, c, 10s);

    auto bad = ClientOptions::from_url("redis://mallory:pw1@127.0.0.1:" + std::to_string(server.port()));
    Client c2(loop.get(), *bad);
    auto r = run_one(loop, c2, {"PING"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connect);
    EXPECT_NE(r.error().message.find("WRONGPASS"), std::string::npos) << r.error().message;
    close_and_wait(loop, c2, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, RefusedConnectionIsReportedWithinConnectTimeout) {
  std::uint16_t port;
  {
    RedisServer s;  // learn a free port, then stop the server
    port = s.port();
  }
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("127.0.0.1:" + std::to_string(port));
    o->connect_timeout = 1s;
    Client c(loop.get(), *o);
    std::vector<uvredis::ConnectionState> states;
    std::string why;
    c.on_state_change([&](uvredis::ConnectionState s, const uvredis::Error* e) {
      states.push_back(s);
      if (e) why = e->message;
    });
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run_one(loop, c, {"PING"});
    const auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connect);
    EXPECT_NE(r.error().message.find("refused"), std::string::npos) << r.error().message;
    EXPECT_LT(took, 1s);
    ASSERT_FALSE(states.empty());
    EXPECT_EQ(states.front(), uvredis::ConnectionState::reconnecting);
    EXPECT_NE(why.find("refused"), std::string::npos);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, CallbacksNeverRunInsideTheIssuingCall) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    bool inside = true;
    int refused = 0;
    c.command({"SELECT", "1"}, [&](Result<Reply> r) {
      EXPECT_FALSE(inside);
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().kind, ErrorKind::usage);
      EXPECT_NE(r.error().message.find("options"), std::string::npos);
      ++refused;
    });
    c.command({"SUBSCRIBE", "ch"}, [&](Result<Reply> r) {
      EXPECT_FALSE(inside);
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().kind, ErrorKind::usage);
      EXPECT_NE(r.error().message.find("Subscriber"), std::string::npos);
      ++refused;
    });
    c.command(std::span<const std::string_view>{}, [&](Result<Reply> r) {
      EXPECT_FALSE(inside);
      EXPECT_FALSE(r);
      ++refused;
    });
    inside = false;
    EXPECT_EQ(refused, 0);
    ASSERT_TRUE(loop.run_until([&] { return refused == 3; }));
    auto still = run_one(loop, c, {"PING"});
    EXPECT_TRUE(still);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, HundredThousandCommandsInOneTurnArriveInOrderInFewWrites) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    const int n = 100000;
    std::vector<int> calls(n, 0);
    int next = 0;
    bool in_order = true;
    const auto writes_before = c.stats().writes;
    for (int i = 0; i < n; ++i) {
      std::string v = std::to_string(i);
      c.command({"ECHO", v}, [&, i](Result<Reply> r) {
        ++calls[static_cast<std::size_t>(i)];
        if (i != next || !r || r->str() != std::to_string(i)) in_order = false;
        ++next;
      });
    }
    EXPECT_EQ(c.stats().queued, static_cast<std::size_t>(n));
    ASSERT_TRUE(loop.run_until([&] { return next == n; }, 30s));
    EXPECT_TRUE(in_order);
    for (int x : calls) ASSERT_EQ(x, 1);
    const auto writes = c.stats().writes - writes_before;
    // ~1.9 MB of commands: a handful of large writes, not one per command.
    EXPECT_LT(writes, 200u) << "writes: " << writes;
    EXPECT_GE(c.stats().sent, static_cast<std::uint64_t>(n));
    EXPECT_EQ(c.stats().in_flight, 0u);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// Replies reach the parser a slice (1 KiB) of each read at a time: replies
// of every size, cut anywhere (inside a length, between \r and \n, inside
// a value that holds \r\n itself), still arrive whole and in order.
TEST(Client, RepliesCutAcrossInputSlicesArriveWholeAndInOrder) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    const int n = 3000;
    auto value = [](int i) {
      std::string v(static_cast<std::size_t>((i * 37) % 2600), 'x');
      for (std::size_t k = 0; k < v.size(); k += 97) v[k] = static_cast<char>(k % 2 ? '\r' : '\n');
      return v + std::to_string(i);
    };
    int next = 0, calls = 0;
    bool in_order = true;
    for (int i = 0; i < n; ++i) {
      c.command({"ECHO", value(i)}, [&, i](Result<Reply> r) {
        ++calls;
        if (i != next || !r || r->str() != value(i)) in_order = false;
        ++next;
      });
    }
    ASSERT_TRUE(loop.run_until([&] { return next == n; }, 30s));
    EXPECT_TRUE(in_order);
    EXPECT_EQ(calls, n);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, BinaryKeysAndValuesRoundTrip) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    const std::string key("bin\0key\r\n", 9);
    const std::string val("\0\r\n$3\r\n*1\r\n\xff", 13);
    std::string big(1 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
    ASSERT_TRUE(run_one(loop, c, {"SET", key, val}));
    ASSERT_TRUE(run_one(loop, c, {"SET", "big", big}));
    auto g = run_one(loop, c, {"GET", key});
    ASSERT_TRUE(g);
    EXPECT_EQ(g->str(), val);
    auto b = run_one(loop, c, {"GET", "big"});
    ASSERT_TRUE(b);
    EXPECT_EQ(b->str().size(), big.size());
    EXPECT_TRUE(b->str() == big);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, InjectionLookingKeysStayData) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    const std::string k1 = "a\r\nFLUSHALL\r\n";
    const std::string k2 = "%s%n%x";
    const std::string k3("*1\r\n$8\r\nFLUSHALL\r\n", 18);
    ASSERT_TRUE(run_one(loop, c, {"SET", k1, k2}));
    ASSERT_TRUE(run_one(loop, c, {"SET", k2, k3}));
    ASSERT_TRUE(run_one(loop, c, {"SET", k3, k1}));
    auto n = run_one(loop, c, {"DBSIZE"});
    ASSERT_TRUE(n);
    EXPECT_EQ(n->integer(), 3);
    EXPECT_EQ(run_one(loop, c, {"GET", k1})->str(), k2);
    EXPECT_EQ(run_one(loop, c, {"GET", k2})->str(), k3);
    EXPECT_EQ(run_one(loop, c, {"GET", k3})->str(), k1);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, ServerErrorsCarryTheirPrefix) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c, {"LPUSH", "list", "x"}));
    auto r = run_one(loop, c, {"GET", "list"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::server);
    EXPECT_EQ(r.error().code(), "WRONGTYPE");
    EXPECT_FALSE(r.error().is_transport());
    auto u = run_one(loop, c, {"NOSUCHCOMMAND"});
    ASSERT_FALSE(u);
    EXPECT_EQ(u.error().code(), "ERR");
    EXPECT_TRUE(run_one(loop, c, {"PING"}));
    EXPECT_EQ(c.stats().errors, 2u);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, BlockingCommandsDoNotDelayOthers) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    bool blpop_done = false;
    bool get_done_first = false;
    c.command({"BLPOP", "emptylist", "1"}, [&](Result<Reply> r) {
      ASSERT_TRUE(r) << r.error().to_string();
      EXPECT_TRUE(r->is_nil());  // timed out on the server: nil, not an error
      blpop_done = true;
    });
    c.command({"SET", "k", "v"}, [&](Result<Reply> r) {
      EXPECT_TRUE(r);
      get_done_first = !blpop_done;
    });
    ASSERT_TRUE(loop.run_until([&] { return blpop_done; }, 5s));
    EXPECT_TRUE(get_done_first);

    // Two blocking pops at once take two connections; a push feeds one.
    int popped = 0;
    for (int i = 0; i < 2; ++i)
      c.command({"BRPOP", "jobs", "2"}, [&](Result<Reply> r) {
        ASSERT_TRUE(r);
        if (r->is_array()) ++popped;
      });
    c.command({"LPUSH", "jobs", "a", "b"}, [](Result<Reply> r) { EXPECT_TRUE(r); });
    ASSERT_TRUE(loop.run_until([&] { return popped == 2; }, 5s));
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, QueueOverflowFailsClearly) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.max_queued_commands = 10;
    Client c(loop.get(), o);
    int ok = 0, overflow = 0;
    for (int i = 0; i < 25; ++i)
      c.command({"PING"}, [&](Result<Reply> r) {
        if (r)
          ++ok;
        else if (r.error().kind == ErrorKind::overflow)
          ++overflow;
      });
    ASSERT_TRUE(loop.run_until([&] { return ok + overflow == 25; }));
    EXPECT_EQ(ok, 10);
    EXPECT_EQ(overflow, 15);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, PosterRunsWorkFromOtherThreadsOnTheLoop) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    auto poster = c.poster();
    const auto loop_thread = std::this_thread::get_id();
    int done = 0;
    bool all_on_loop = true;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i)
          EXPECT_TRUE(poster.post([&, t, i] {
            if (std::this_thread::get_id() != loop_thread) all_on_loop = false;
            c.command({"INCR", "posted"}, [&](Result<Reply> r) {
              EXPECT_TRUE(r);
              ++done;
            });
            (void)t;
            (void)i;
          }));
      });
    for (auto& th : threads) th.join();
    ASSERT_TRUE(loop.run_until([&] { return done == 100; }));
    EXPECT_TRUE(all_on_loop);
    EXPECT_EQ(server.cmd_int({"GET", "posted"}), 100);
    close_and_wait(loop, c, 10s);
    EXPECT_FALSE(poster.post([] {}));
  }
  EXPECT_EQ(loop.close(), 0);
}

namespace {

// Eight threads post numbered functions as fast as they can until post()
// refuses; the test ends the client (close or destruction) in the middle of
// the flood. Every accepted function must run exactly once, on the loop
// thread; no refused one may run.
struct PostFlood {
  static constexpr int kThreads = 8;
  uvredis::Poster poster;
  std::thread::id loop_thread = std::this_thread::get_id();
  std::atomic<std::uint64_t> accepted_so_far{0};
  std::atomic<std::uint64_t> ran_so_far{0};  // a copy of `ran` for the posting threads
  std::vector<std::uint64_t> accepted = std::vector<std::uint64_t>(kThreads);  // thread t's own slot
  std::vector<std::thread> threads;
  // Loop thread only.
  std::vector<std::vector<std::uint8_t>> runs = std::vector<std::vector<std::uint8_t>>(kThreads);
  std::uint64_t ran = 0, twice = 0, off_loop = 0, refused_ran = 0;

  explicit PostFlood(uvredis::Poster p) : poster(std::move(p)) {
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([this, t] {
        std::uint64_t i = 0;
        for (;; ++i) {
          // Keep the backlog (and the memory under ASan) modest; never wait
          // for the loop, which may not be running while a test joins.
          if (accepted_so_far.load(std::memory_order_relaxed) > ran_so_far.load(std::memory_order_relaxed) + 20000)
            std::this_thread::sleep_for(std::chrono::microseconds(50));
          const bool ok = poster.post([this, t, i] {
            if (std::this_thread::get_id() != loop_thread) ++off_loop;
            auto& r = runs[static_cast<std::size_t>(t)];
            if (r.size() <= i) r.resize(i + 1);
            if (++r[i] > 1) ++twice;
            ++ran;
            ran_so_far.store(ran, std::memory_order_relaxed);
          });
          if (!ok) break;
          accepted_so_far.fetch_add(1, std::memory_order_relaxed);
        }
        accepted[static_cast<std::size_t>(t)] = i;  // 0..i-1 accepted, i refused
      });
  }
  PostFlood(const PostFlood&) = delete;
  PostFlood& operator=(const PostFlood&) = delete;
  ~PostFlood() { join(); }

  void join() {
    for (auto& th : threads)
      if (th.joinable()) th.join();
  }
  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (auto a : accepted) n += a;
    return n;
  }
  // After join(): each accepted number ran once, the refused ones never.
  void check() {
    std::uint64_t missing = 0;
    for (std::size_t t = 0; t < runs.size(); ++t) {
      const auto& r = runs[t];
      for (std::uint64_t i = 0; i < accepted[t]; ++i)
        if (i >= r.size() || r[i] != 1) ++missing;
      for (std::uint64_t i = accepted[t]; i < r.size(); ++i)
        if (r[i] != 0) ++refused_ran;
    }
    EXPECT_EQ(ran, total());
    EXPECT_EQ(missing, 0u) << "accepted posts that never ran (or ran twice)";
    EXPECT_EQ(twice, 0u);
    EXPECT_EQ(refused_ran, 0u);
    EXPECT_EQ(off_loop, 0u);
    EXPECT_FALSE(poster.post([] {})) << "post after the end must refuse";
  }
};

}  // namespace

TEST(Client, EveryAcceptedPostRunsOnceBeforeCloseCompletes) {
  RedisServer server;
  TestLoop loop;
  std::uint64_t grand = 0, owed = 0;
  for (int round = 0; round < 10; ++round) {
    auto c = std::make_unique<Client>(loop.get(), options_for(server));
    PostFlood f(c->poster());
    // Close while the threads are flooding the queue, after the loop ran
    // some, at a moment when accepted posts wait to run (otherwise a fast
    // loop may have drained them all just before close()).
    ASSERT_TRUE(loop.run_until([&] {
      return f.ran >= 2000u + 500u * round && f.accepted_so_far.load(std::memory_order_relaxed) > f.ran;
    }));
    int done = 0;
    std::uint64_t ran_at_done = 0;
    const std::uint64_t ran_at_close = f.ran;
    c->close([&] {
      ++done;
      ran_at_done = f.ran;
    });
    ASSERT_TRUE(loop.run_until([&] { return done > 0; }, 20s));
    f.join();
    EXPECT_EQ(ran_at_done, f.total()) << "round " << round << ": close completed before every accepted post ran";
    f.check();
    c.reset();
    loop.run_for(5ms);
    EXPECT_EQ(done, 1);
    f.check();  // still exactly once
    grand += f.total();
    owed += f.total() - ran_at_close;
  }
  std::printf("close: %llu accepted posts over 10 rounds, each ran once (%llu of them after close() was called)\n",
              static_cast<unsigned long long>(grand), static_cast<unsigned long long>(owed));
  EXPECT_GT(owed, 0u) << "close() never found posts waiting: the race was not exercised";
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, EveryAcceptedPostRunsOnceWhenTheClientIsDestroyed) {
  RedisServer server;
  TestLoop loop;
  std::uint64_t grand = 0, owed = 0;
  for (int round = 0; round < 20; ++round) {
    auto c = std::make_unique<Client>(loop.get(), options_for(server));
    PostFlood f(c->poster());
    ASSERT_TRUE(loop.run_until([&] { return f.ran >= 2000u + 250u * round; }));
    int done = 0;
    const std::uint64_t ran_at_end = f.ran;
    if (round % 2 == 1) c->close([&] { ++done; });  // odd rounds: close, then destroy in the same turn
    c.reset();
    f.join();
    const std::uint64_t total = f.total();
    owed += total - ran_at_end;
    // They run on a later loop turn, after the destructor returned.
    ASSERT_TRUE(loop.run_until([&] { return f.ran >= total; }, 20s))
        << "round " << round << ": " << f.ran << " of " << total << " accepted posts ran";
    loop.run_for(5ms);  // nothing runs twice later
    f.check();
    EXPECT_LE(done, 1);
    grand += total;
  }
  std::printf("destroy: %llu accepted posts over 20 rounds, each ran once (%llu of them after the destructor)\n",
              static_cast<unsigned long long>(grand), static_cast<unsigned long long>(owed));
  EXPECT_GT(owed, 0u) << "the destructor never found posts waiting: the race was not exercised";
  EXPECT_EQ(loop.close(), 0);
}

TEST(Client, LogsNeverContainThePassword) {
  RedisServer server({{"--requirepass", "Sup3r-Secret"}});
  TestLoop loop;
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto logger = std::make_shared<spdlog::logger>("test", sink);
  logger->set_level(spdlog::level::trace);
  {
    auto o = ClientOptions::from_url("redis://default:Sup3r-Secret@127.0.0.1:" + std::to_string(server.port()));
    o->logger = logger;
    Client c(loop.get(), *o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    close_and_wait(loop, c, 10s);
    auto bad = ClientOptions::from_url("redis://default:Wr0ng-Secret@127.0.0.1:" + std::to_string(server.port()));
    bad->logger = logger;
    Client c2(loop.get(), *bad);
    EXPECT_FALSE(run_one(loop, c2, {"PING"}));
    close_and_wait(loop, c2, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
  logger->flush();
  const std::string log = captured.str();
  EXPECT_FALSE(log.empty());
  EXPECT_EQ(log.find("Sup3r-Secret"), std::string::npos) << log;
  EXPECT_EQ(log.find("Wr0ng-Secret"), std::string::npos) << log;
  EXPECT_NE(log.find("***"), std::string::npos) << log;
}

TEST(Client, TlsUrlFailsClearlyWithoutTlsSupportOrServer) {
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("rediss://127.0.0.1:1");
    ASSERT_TRUE(o);
    o->reconnect = false;
    Client c(loop.get(), *o);
    auto r = run_one(loop, c, {"PING"});
    ASSERT_FALSE(r);
    if (uvredis::tls_supported()) {
      // TLS itself is covered by test_tls; here nothing listens.
      EXPECT_EQ(r.error().kind, ErrorKind::connect) << r.error().message;
    } else {
      EXPECT_EQ(r.error().kind, ErrorKind::usage);
      EXPECT_NE(r.error().message.find("TLS"), std::string::npos);
    }
    EXPECT_EQ(c.state(), uvredis::ConnectionState::failed);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}
