// Subscriber against real redis-server processes: exact and pattern
// subscriptions, unsubscribe, recovery after CLIENT KILL and restart,
// binary names, handlers that unsubscribe/close/destroy, volume.
#include <uvredis/uvredis.hpp>

#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <set>

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

namespace {

ClientOptions opts_for(const RedisServer& s) {
  auto o = ClientOptions::from_url(s.url());
  EXPECT_TRUE(o);
  o->reconnect_min_delay = 20ms;
  o->reconnect_max_delay = 200ms;
  return *o;
}

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

template <class T>
void close_all(TestLoop& loop, T& a, Client& b) {
  int n = 0;
  a.close([&] { ++n; });
  b.close([&] { ++n; });
  EXPECT_TRUE(loop.run_until([&] { return n == 2; }));
}

}  // namespace

TEST(Subscriber, ExactAndPatternGoToTheirHandlers) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), opts_for(server));
    Client pub(loop.get(), opts_for(server));
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
    close_all(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, UnsubscribeStopsDelivery) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), opts_for(server));
    Client pub(loop.get(), opts_for(server));
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
    close_all(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, BinaryChannelAndPayload) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), opts_for(server));
    Client pub(loop.get(), opts_for(server));
    const std::string ch("ch\0$5\r\n*x", 10);
    const std::string payload("\0\r\n\xff$-1\r\n", 10);
    std::vector<Message> got;
    ASSERT_TRUE(subscribe_sync(loop, sub, {ch}, [&](const Message& m) { got.push_back(m); }));
    publish(loop, pub, ch, payload, 1);
    ASSERT_TRUE(loop.run_until([&] { return got.size() == 1; }));
    EXPECT_EQ(got[0].channel, ch);
    EXPECT_EQ(got[0].payload, payload);
    close_all(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, CatchAllGetsUnhandledPatternless) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), opts_for(server));
    Client pub(loop.get(), opts_for(server));
    std::vector<std::string> all;
    sub.on_message([&](const Message& m) { all.push_back(m.channel); });
    ASSERT_TRUE(subscribe_sync(loop, sub, {"x", "y"}, nullptr));
    publish(loop, pub, "x", "1", 1);
    publish(loop, pub, "y", "2", 1);
    ASSERT_TRUE(loop.run_until([&] { return all.size() == 2; }));
    EXPECT_EQ(all, (std::vector<std::string>{"x", "y"}));
    close_all(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, ResubscribesAfterClientKill) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), opts_for(server));
    Client pub(loop.get(), opts_for(server));
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
    close_all(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, SurvivesAFullServerRestart) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), opts_for(server));
    Client pub(loop.get(), opts_for(server));
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
    close_all(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, HandlerMayUnsubscribeItselfOrCloseOrDestroy) {
  RedisServer server;
  TestLoop loop;
  {
    Client pub(loop.get(), opts_for(server));
    // Unsubscribe from inside the handler: later messages are not delivered.
    Subscriber sub(loop.get(), opts_for(server));
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
    Subscriber sub2(loop.get(), opts_for(server));
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
    auto sub3 = std::make_unique<Subscriber>(loop.get(), opts_for(server));
    int got3 = 0;
    ASSERT_TRUE(subscribe_sync(loop, *sub3, {"c3"}, [&](const Message&) {
      ++got3;
      sub3.reset();
    }));
    for (int i = 0; i < 5; ++i) pub.command({"PUBLISH", "c3", "m"}, [](Result<Reply>) {});
    ASSERT_TRUE(loop.run_until([&] { return !sub3; }));
    loop.run_for(100ms);
    EXPECT_EQ(got3, 1);

    int n = 0;
    sub.close([&] { ++n; });
    pub.close([&] { ++n; });
    ASSERT_TRUE(loop.run_until([&] { return n == 2; }));
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
    Subscriber sub(loop.get(), opts_for(server));
    Client pub(loop.get(), opts_for(server));
    std::vector<std::string> chans;
    for (int i = 0; i < 10000; ++i) chans.push_back("ch:" + std::to_string(i));
    std::set<std::string> seen;
    ASSERT_TRUE(subscribe_sync(loop, sub, chans, [&](const Message& m) { seen.insert(m.channel); }));
    EXPECT_EQ(server.cmd({"PUBSUB", "NUMSUB", "ch:9999"}), "ch:9999\n1");
    for (int i = 0; i < 10000; i += 997) pub.command({"PUBLISH", chans[static_cast<std::size_t>(i)], "x"}, [](Result<Reply>) {});
    ASSERT_TRUE(loop.run_until([&] { return seen.size() == 11; }));
    EXPECT_EQ(sub.stats().channels, 10000u);
    close_all(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Subscriber, HundredThousandMessagesInOrder) {
  RedisServer server;
  TestLoop loop;
  {
    Subscriber sub(loop.get(), opts_for(server));
    Client pub(loop.get(), opts_for(server));
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
    close_all(loop, sub, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}
