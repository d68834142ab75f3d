// Subscriber against real redis-server processes: exact and pattern
// subscriptions, unsubscribe, recovery after CLIENT KILL and restart,
// binary names, handlers that unsubscribe/close/destroy, volume.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <set>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ConnectionState;
using uvredis::ErrorKind;
using uvredis::Message;
using uvredis::Reply;
using uvredis::Result;
using uvredis::Subscriber;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::options_for;
using uvredis::test::fast_reconnect;
using uvredis::test::close_and_wait;

namespace {

void publish(TestLoop& loop, Client& c, std::string_view ch, std::string_view msg, long long expect_receivers = -1) {
  bool done = false;
  c.command({"PUBLISH", ch, msg}, [&](Result<Reply> r) {
    ASSERT_TRUE(r) << r.error().to_string();
    if (expect_receivers >= 0) {
      EXPECT_EQ(r->integer(), expect_receivers);
    }
    done = true;
  });
  ASSERT_TRUE(loop.run_until([&] { return done; }));
}

bool subscribe_sync(TestLoop& loop, Subscriber& s, std::vector<std::string> chans, uvredis::MessageHandler h,
                    bool pattern = false) {
  int confirmed = 0;
  auto cb = [&](Result<void> r) {
    EXPECT_TRUE(r);
    ++confirmed;
  };
  if (pattern)
    s.psubscribe(std::move(chans), std::move(h), cb);
  else
    s.subscribe(std::move(chans), std::move(h), cb);
  bool ok = loop.run_until([&] { return confirmed > 0; });
  EXPECT_EQ(confirmed, 1);
  return ok;
}

}  // namespace

TEST(Subscriber, ExactAndPatternGoToTheirHandlers) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    std::vector<Message> news, rooms;
    ASSERT_TRUE(subscribe_sync(loop, sub, {"news"}, [&](const Message& m) { news.push_back(m); }));
    ASSERT_TRUE(subscribe_sync(loop, sub, {"chat:room:*"}, [&](const Message& m) { rooms.push_back(m); }, true));
    publish(loop, pub, "news", "hello", 1);
    publish(loop, pub, "chat:room:7", "hi room", 1);
    publish(loop, pub, "other", "nobody", 0);
    ASSERT_TRUE(loop.run_until([&] { return news.size() == 1 && rooms.size() == 1; }));
    EXPECT_EQ(news[0].channel, "news");
    EXPECT_EQ(news[0].payload, "hello");
    EXPECT_TRUE(news[0].pattern.empty());
    EXPECT_EQ(rooms[0].channel, "chat:room:7");
    EXPECT_EQ(rooms[0].pattern, "chat:room:*");
    EXPECT_EQ(rooms[0].payload, "hi room");
    EXPECT_EQ(sub.stats().messages, 2u);
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, UnsubscribeStopsDelivery) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    int got = 0;
    ASSERT_TRUE(subscribe_sync(loop, sub, {"a", "b"}, [&](const Message&) { ++got; }));
    publish(loop, pub, "a", "1", 1);
    ASSERT_TRUE(loop.run_until([&] { return got == 1; }));
    int done = 0;
    sub.unsubscribe({"a"}, [&](Result<void> r) {
      EXPECT_TRUE(r);
      ++done;
    });
    ASSERT_TRUE(loop.run_until([&] { return done == 1; }));
    // The server forgets us: wait until it reports zero receivers for a.
    ASSERT_TRUE(loop.run_until([&] { return server.cmd_int({"PUBLISH", "a", "probe"}) == 0; }));
    publish(loop, pub, "b", "2", 1);
    ASSERT_TRUE(loop.run_until([&] { return got == 2; }));
    loop.run_for(50ms);
    EXPECT_EQ(got, 2);
    EXPECT_EQ(sub.stats().channels, 1u);
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

// unsubscribe's callback runs once the server confirmed: a PUBLISH issued
// from it no longer counts this subscriber (issued earlier, it could).
TEST(Subscriber, UnsubscribeCallbackRunsAfterTheServerConfirmed) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    ASSERT_TRUE(subscribe_sync(loop, sub, {"u0", "u1", "p:x"}, [](const Message&) {}));
    ASSERT_TRUE(subscribe_sync(loop, sub, {"pat:*"}, [](const Message&) {}, true));
    constexpr int kRounds = 20;
    int done = 0, published = 0;
    for (int i = 0; i < kRounds; ++i) {
      const std::string ch = "r" + std::to_string(i);
      ASSERT_TRUE(subscribe_sync(loop, sub, {ch}, [](const Message&) {}));
      sub.unsubscribe({ch}, [&, ch](Result<void> r) {
        EXPECT_TRUE(r) << r.error().to_string();
        ++done;
        pub.command({"PUBLISH", ch, "after"}, [&](Result<Reply> rr) {
          ASSERT_TRUE(rr) << rr.error().to_string();
          EXPECT_EQ(rr->integer(), 0) << "the subscriber still counted after unsubscribe's callback";
          ++published;
        });
      });
      ASSERT_TRUE(loop.run_until([&] { return published == i + 1; }));
    }
    int pdone = 0;
    sub.punsubscribe({"pat:*"}, [&](Result<void> r) {
      EXPECT_TRUE(r);
      ++pdone;
      pub.command({"PUBLISH", "pat:1", "after"}, [&](Result<Reply> rr) {
        ASSERT_TRUE(rr);
        EXPECT_EQ(rr->integer(), 0);
        ++pdone;
      });
    });
    ASSERT_TRUE(loop.run_until([&] { return pdone == 2; }));
    EXPECT_EQ(done, kRounds);
    EXPECT_EQ(sub.stats().channels, 3u);
    EXPECT_EQ(sub.stats().patterns, 0u);
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

// An unsubscribe issued while the subscriber closes still runs its callback
// exactly once.
TEST(Subscriber, UnsubscribeThenCloseCallsBackOnce) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    ASSERT_TRUE(subscribe_sync(loop, sub, {"a", "b"}, [](const Message&) {}));
    int done = 0, closed = 0;
    sub.unsubscribe({"a", "b"}, [&](Result<void>) { ++done; });
    EXPECT_EQ(done, 0);  // never inside the call
    sub.close([&] { ++closed; });
    ASSERT_TRUE(loop.run_until([&] { return closed == 1; }));
    loop.run_for(20ms);
    EXPECT_EQ(done, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A subscriber connection answers PING in subscribed mode, so health checks
// run on it: the server sees them, and messages still flow.
TEST(Subscriber, HealthChecksRunInSubscribedMode) {
  RedisServer server;
  TestLoop loop;
  {
    ClientOptions o = fast_reconnect(options_for(server));
    o.health_check_interval = 30ms;
    o.client_name = "hc-subscriber";
    Subscriber sub(loop.get(), o);
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    int got = 0;
    ASSERT_TRUE(subscribe_sync(loop, sub, {"hc"}, [&](const Message&) { ++got; }));
    // CLIENT LIST names the last command of each connection: wait for ping.
    bool pinged = false;
    ASSERT_TRUE(loop.run_until([&] {
      std::string list = server.cmd({"CLIENT", "LIST"});
      std::istringstream in(list);
      for (std::string line; std::getline(in, line);)
        if (line.find("name=hc-subscriber") != std::string::npos && line.find("cmd=ping") != std::string::npos)
          pinged = true;
      return pinged;
    }));
    publish(loop, pub, "hc", "still here", 1);
    ASSERT_TRUE(loop.run_until([&] { return got == 1; }));
    EXPECT_EQ(sub.state(), ConnectionState::connected);
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A hung server (SIGSTOP) is noticed by the subscriber's health check: the
// link is dropped and comes back, with its subscriptions, when the server
// answers again.
TEST(Subscriber, HealthCheckNoticesAHungServer) {
  RedisServer server;
  TestLoop loop;
  {
    ClientOptions o = fast_reconnect(options_for(server));
    o.health_check_interval = 50ms;
    o.command_timeout = 200ms;
    o.connect_timeout = 300ms;
    Subscriber sub(loop.get(), o);
    std::vector<ConnectionState> states;
    sub.on_state_change([&](ConnectionState s, const uvredis::Error*) { states.push_back(s); });
    int got = 0;
    ASSERT_TRUE(subscribe_sync(loop, sub, {"hung"}, [&](const Message&) { ++got; }));
    server.pause();
    ASSERT_TRUE(loop.run_until([&] { return sub.state() != ConnectionState::connected; }, 5s));
    server.resume();
    ASSERT_TRUE(loop.run_until([&] { return sub.state() == ConnectionState::connected; }, 10s));
    EXPECT_GE(sub.stats().resubscribes, 1u);
    ASSERT_TRUE(std::find(states.begin(), states.end(), ConnectionState::reconnecting) != states.end());
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    publish(loop, pub, "hung", "back", 1);
    ASSERT_TRUE(loop.run_until([&] { return got == 1; }));
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, BinaryChannelAndPayload) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    const std::string ch("ch\0$5\r\n*x", 10);
    const std::string payload("\0\r\n\xff$-1\r\n", 10);
    std::vector<Message> got;
    ASSERT_TRUE(subscribe_sync(loop, sub, {ch}, [&](const Message& m) { got.push_back(m); }));
    publish(loop, pub, ch, payload, 1);
    ASSERT_TRUE(loop.run_until([&] { return got.size() == 1; }));
    EXPECT_EQ(got[0].channel, ch);
    EXPECT_EQ(got[0].payload, payload);
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, CatchAllGetsUnhandledPatternless) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    std::vector<std::string> all;
    sub.on_message([&](const Message& m) { all.push_back(m.channel); });
    ASSERT_TRUE(subscribe_sync(loop, sub, {"x", "y"}, nullptr));
    publish(loop, pub, "x", "1", 1);
    publish(loop, pub, "y", "2", 1);
    ASSERT_TRUE(loop.run_until([&] { return all.size() == 2; }));
    EXPECT_EQ(all, (std::vector<std::string>{"x", "y"}));
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, ResubscribesAfterClientKill) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    std::vector<ConnectionState> states;
    sub.on_state_change([&](ConnectionState s, const uvredis::Error*) { states.push_back(s); });
    int got = 0;
    ASSERT_TRUE(subscribe_sync(loop, sub, {"live"}, [&](const Message&) { ++got; }));
    ASSERT_TRUE(subscribe_sync(loop, sub, {"pat:*"}, [&](const Message&) { ++got; }, true));
    server.cmd({"CLIENT", "KILL", "TYPE", "pubsub"});
    ASSERT_TRUE(loop.run_until([&] {
      return std::count(states.begin(), states.end(), ConnectionState::connected) >= 2;
    }));
    EXPECT_NE(std::find(states.begin(), states.end(), ConnectionState::reconnecting), states.end());
    EXPECT_EQ(sub.stats().resubscribes, 1u);
    publish(loop, pub, "live", "after", 1);
    publish(loop, pub, "pat:1", "after", 1);
    ASSERT_TRUE(loop.run_until([&] { return got == 2; }));
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, SurvivesAFullServerRestart) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    int connected = 0;
    sub.on_state_change([&](ConnectionState s, const uvredis::Error*) {
      if (s == ConnectionState::connected) ++connected;
    });
    std::vector<std::string> got;
    ASSERT_TRUE(subscribe_sync(loop, sub, {"events"}, [&](const Message& m) { got.push_back(m.payload); }));
    server.restart();
    ASSERT_TRUE(loop.run_until([&] { return connected >= 2; }, 15s));
    publish(loop, pub, "events", "back", 1);
    ASSERT_TRUE(loop.run_until([&] { return !got.empty(); }));
    EXPECT_EQ(got.back(), "back");
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, HandlerMayUnsubscribeItselfOrCloseOrDestroy) {
  RedisServer server;
  TestLoop loop;
  {
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    // Unsubscribe from inside the handler: later messages are not delivered.
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    int got = 0;
    ASSERT_TRUE(subscribe_sync(loop, sub, {"once"}, [&](const Message&) {
      ++got;
      sub.unsubscribe({"once"});
    }));
    for (int i = 0; i < 5; ++i) pub.command({"PUBLISH", "once", "m"}, [](Result<Reply>) {});
    ASSERT_TRUE(loop.run_until([&] { return got >= 1; }));
    loop.run_for(100ms);
    EXPECT_EQ(got, 1);

    // Close from inside.
    Subscriber sub2(loop.get(), fast_reconnect(options_for(server)));
    int got2 = 0;
    bool closed2 = false;
    ASSERT_TRUE(subscribe_sync(loop, sub2, {"c2"}, [&](const Message&) {
      ++got2;
      sub2.close([&] { closed2 = true; });
    }));
    for (int i = 0; i < 5; ++i) pub.command({"PUBLISH", "c2", "m"}, [](Result<Reply>) {});
    ASSERT_TRUE(loop.run_until([&] { return closed2; }));
    EXPECT_EQ(got2, 1);

    // Destroy from inside.
    auto sub3 = std::make_unique<Subscriber>(loop.get(), fast_reconnect(options_for(server)));
    int got3 = 0;
    ASSERT_TRUE(subscribe_sync(loop, *sub3, {"c3"}, [&](const Message&) {
      ++got3;
      sub3.reset();
    }));
    for (int i = 0; i < 5; ++i) pub.command({"PUBLISH", "c3", "m"}, [](Result<Reply>) {});
    ASSERT_TRUE(loop.run_until([&] { return !sub3; }));
    loop.run_for(100ms);
    EXPECT_EQ(got3, 1);

    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, ConfirmationsFailWithClosedWhenClosedFirst) {
  std::uint16_t port;
  {
    RedisServer s;
    port = s.port();
  }
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("127.0.0.1:" + std::to_string(port));
    Subscriber sub(loop.get(), *o);
    int calls = 0;
    sub.subscribe({"x"}, nullptr, [&](Result<void> r) {
      ++calls;
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().kind, ErrorKind::closed);
    });
    sub.subscribe({}, nullptr, [&](Result<void> r) {
      ++calls;
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().kind, ErrorKind::usage);
    });
    EXPECT_EQ(calls, 0);
    bool closed = false;
    sub.close([&] { closed = true; });
    ASSERT_TRUE(loop.run_until([&] { return closed && calls == 2; }));
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, TenThousandChannelsOnOneConnection) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    std::vector<std::string> chans;
    for (int i = 0; i < 10000; ++i) chans.push_back("ch:" + std::to_string(i));
    std::set<std::string> seen;
    ASSERT_TRUE(subscribe_sync(loop, sub, chans, [&](const Message& m) { seen.insert(m.channel); }));
    EXPECT_EQ(server.cmd({"PUBSUB", "NUMSUB", "ch:9999"}), "ch:9999\n1");
    for (int i = 0; i < 10000; i += 997) pub.command({"PUBLISH", chans[static_cast<std::size_t>(i)], "x"}, [](Result<Reply>) {});
    ASSERT_TRUE(loop.run_until([&] { return seen.size() == 11; }));
    EXPECT_EQ(sub.stats().channels, 10000u);
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, HundredThousandMessagesInOrder) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    const int n = 100000;
    int next = 0;
    bool in_order = true;
    ASSERT_TRUE(subscribe_sync(loop, sub, {"seq"}, [&](const Message& m) {
      if (m.payload != std::to_string(next)) in_order = false;
      ++next;
    }));
    int acked = 0;
    for (int i = 0; i < n; ++i) pub.command({"PUBLISH", "seq", std::to_string(i)}, [&](Result<Reply> r) {
      EXPECT_TRUE(r);
      ++acked;
    });
    ASSERT_TRUE(loop.run_until([&] { return next == n && acked == n; }, 60s));
    EXPECT_TRUE(in_order);
    auto st = sub.stats();
    EXPECT_EQ(st.messages, static_cast<std::uint64_t>(n));
    EXPECT_GT(st.max_turn_messages, 0u);
    EXPECT_LT(st.max_turn_messages, static_cast<std::size_t>(n));  // spread over many turns: bounded reads
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

// Numbered messages at ~1,000/s while the subscriber is killed every 2 s:
// each time it is back within 500 ms, nothing arrives twice or out of order,
// and every missing number was published inside a reported disconnect window.
TEST(Subscriber, KilledEveryTwoSecondsUnderSteadyTrafficLosesOnlyInsideItsWindows) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    std::vector<long long> received;
    ASSERT_TRUE(subscribe_sync(loop, sub, {"seq"}, [&](const Message& m) { received.push_back(std::stoll(m.payload)); }));

    struct Window {
      long long last_received_at_kill;  // everything after this may be lost ...
      long long next_at_connected = -1; // ... up to (not including) this number
      std::uint64_t killed_ns;
      std::uint64_t back_ns = 0;
    };
    std::vector<Window> windows;
    long long next = 0;
    sub.on_state_change([&](ConnectionState s, const uvredis::Error*) {
      if (s == ConnectionState::connected && !windows.empty() && windows.back().back_ns == 0) {
        windows.back().back_ns = uv_hrtime();
        windows.back().next_at_connected = next;
      }
    });

    long long acked = 0, unheard = 0;
    struct Ctx {
      Client* pub;
      long long* next;
      long long* acked;
      long long* unheard;
    } ctx{&pub, &next, &acked, &unheard};
    uv_timer_t publisher;
    uv_timer_init(loop.get(), &publisher);
    publisher.data = &ctx;
    uv_timer_start(&publisher, [](uv_timer_t* t) {
      auto* c = static_cast<Ctx*>(t->data);
      const std::string n = std::to_string((*c->next)++);
      c->pub->command({"PUBLISH", "seq", n}, [c](Result<Reply> r) {
        EXPECT_TRUE(r);
        ++*c->acked;
        if (r && r->integer() == 0) ++*c->unheard;
      });
    }, 1, 1);

    const int kills = 3;
    for (int k = 0; k < kills; ++k) {
      const std::uint64_t until = uv_hrtime() + 2'000'000'000ull;
      ASSERT_TRUE(loop.run_until([&] { return uv_hrtime() >= until; }, 5s));  // traffic flows for 2 s
      windows.push_back(Window{received.empty() ? -1 : received.back(), -1, uv_hrtime()});
      server.cmd({"CLIENT", "KILL", "TYPE", "pubsub"});
      ASSERT_TRUE(loop.run_until([&] { return windows.back().back_ns != 0; }, 5s)) << "kill " << k;
    }
    // Traffic goes on after the last recovery, so the end is not in a window.
    const std::uint64_t tail = uv_hrtime() + 300'000'000ull;
    ASSERT_TRUE(loop.run_until([&] { return uv_hrtime() >= tail; }, 5s));
    const long long last = next;
    uv_timer_stop(&publisher);
    uv_close(reinterpret_cast<uv_handle_t*>(&publisher), nullptr);
    // The last numbers are still on their way: wait for them.
    ASSERT_TRUE(loop.run_until([&] { return !received.empty() && received.back() == last - 1; }, 5s))
        << "last published " << last - 1 << ", last received " << (received.empty() ? -1 : received.back())
        << ", received " << received.size() << ", acked " << acked << ", published to no subscriber " << unheard;

    EXPECT_EQ(sub.stats().resubscribes, static_cast<std::uint64_t>(kills));
    for (const Window& w : windows) {
      const double ms = static_cast<double>(w.back_ns - w.killed_ns) / 1e6;
      EXPECT_LT(ms, 500.0) << "resubscribed " << ms << " ms after the kill";
    }
    ASSERT_GT(received.size(), 1000u);
    EXPECT_GT(last, 1000);  // traffic really flowed (a 1 ms timer for 6 s fires far fewer times on a loaded machine)
    for (std::size_t i = 1; i < received.size(); ++i) {
      ASSERT_GT(received[i], received[i - 1]) << "duplicate or reordered at " << i;
      if (received[i] == received[i - 1] + 1) continue;
      // A gap: it must sit inside one of the disconnect windows.
      const long long first_missing = received[i - 1] + 1, last_missing = received[i] - 1;
      const bool explained = std::any_of(windows.begin(), windows.end(), [&](const Window& w) {
        return first_missing > w.last_received_at_kill && last_missing < w.next_at_connected;
      });
      EXPECT_TRUE(explained) << "messages " << first_missing << ".." << last_missing << " lost outside any window";
    }
    EXPECT_EQ(received.front(), 0);
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A handler that stalls the loop while a burst arrives: the server cuts the
// subscriber off at its pubsub output-buffer limit; uvredis notices, logs
// it, reconnects, resubscribes, and later messages arrive. Nothing of the
// burst piles up on our side.
TEST(Subscriber, ServerOutputBufferLimitDisconnectIsDetectedLoggedAndRecovered) {
  RedisServer server({{"--client-output-buffer-limit", "pubsub 64kb 32kb 1"}});
  TestLoop loop;
  {
    std::ostringstream captured;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
    auto logger = std::make_shared<spdlog::logger>("sub", sink);
    logger->set_level(spdlog::level::info);
    auto o = fast_reconnect(options_for(server));
    o.logger = logger;
    Subscriber sub(loop.get(), o);
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    std::vector<ConnectionState> states;
    std::string why;
    sub.on_state_change([&](ConnectionState s, const uvredis::Error* e) {
      states.push_back(s);
      if (e && why.empty()) why = e->to_string();
    });
    int got = 0, after = 0;
    ASSERT_TRUE(subscribe_sync(loop, sub, {"burst"}, [&](const Message& m) {
      if (m.payload == "after") {
        ++after;
        return;
      }
      if (++got <= 20) uv_sleep(10);  // a slow consumer: 200 ms of stalled loop
    }));
    const std::string big(4096, 'x');
    int published = 0;
    for (int i = 0; i < 2000; ++i)  // 8 MB in one burst
      pub.command({"PUBLISH", "burst", big}, [&](Result<Reply> r) {
        EXPECT_TRUE(r);
        ++published;
      });
    ASSERT_TRUE(loop.run_until([&] { return published == 2000; }));
    ASSERT_TRUE(loop.run_until([&] {
      return std::count(states.begin(), states.end(), ConnectionState::connected) >= 1 &&
             std::find(states.begin(), states.end(), ConnectionState::reconnecting) != states.end() &&
             states.back() == ConnectionState::connected;
    }, 10s));
    EXPECT_LT(got, 2000) << "the server should have cut the subscriber off";
    EXPECT_FALSE(why.empty());
    EXPECT_GE(sub.stats().resubscribes, 1u);
    // The server says why in its log.
    EXPECT_NE(server.log_tail().find("output buffer limits"), std::string::npos) << server.log_tail();
    EXPECT_NE(captured.str().find("lost"), std::string::npos) << captured.str();
    // Recovered: a later message arrives.
    ASSERT_TRUE(loop.run_until([&] {
      publish(loop, pub, "burst", "after");
      return after > 0;
    }, 5s));
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, FirstConnectIsReportedAsConnectingNotReconnecting) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), fast_reconnect(options_for(server)));
    Client pub(loop.get(), fast_reconnect(options_for(server)));
    std::vector<ConnectionState> seen{sub.state()};
    sub.on_state_change([&](ConnectionState s, const uvredis::Error*) { seen.push_back(s); });
    int confirmed = 0;
    sub.subscribe({"c"}, [](const Message&) {}, [&](Result<void> r) {
      EXPECT_TRUE(r);
      seen.push_back(sub.state());
      ++confirmed;
    });
    // Poll the state on every turn until the subscription is confirmed.
    ASSERT_TRUE(loop.run_until([&] {
      seen.push_back(sub.state());
      return confirmed == 1;
    }));
    EXPECT_EQ(seen.front(), ConnectionState::connecting);
    EXPECT_EQ(seen.back(), ConnectionState::connected);
    EXPECT_EQ(std::count(seen.begin(), seen.end(), ConnectionState::reconnecting), 0);
    close_and_wait(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}
