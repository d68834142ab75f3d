// Replies a real redis-server never sends. A scripted fake server (see
// support/fake_server.hpp) injects them: this is the one place where a fake
// is used, because these faults cannot be produced by a real server.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/fake_server.hpp"
#include "support/loop.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <memory>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ErrorKind;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::FakeConnection;
using uvredis::test::FakeServer;
using uvredis::test::TestLoop;
using uvredis::test::options_for;
using uvredis::test::fast_reconnect;
using uvredis::test::close_and_wait;

namespace {

// Short timeouts and quick reconnects: the fakes break links on purpose.
ClientOptions quick_options(const FakeServer& s) {
  ClientOptions o = fast_reconnect(options_for(s), 100ms);
  o.connect_timeout = 1s;
  o.command_timeout = 3s;
  return o;
}

// Sends one command and waits for its single callback.
Result<Reply> one(TestLoop& loop, Client& c, std::initializer_list<std::string_view> argv) {
  std::optional<Result<Reply>> out;
  int calls = 0;
  c.command(argv, [&](Result<Reply> r) {
    ++calls;
    out.emplace(std::move(r));
  });
  EXPECT_TRUE(loop.run_until([&] { return calls > 0; }, 10s));
  EXPECT_EQ(calls, 1);
  if (!out) return uvredis::Error{ErrorKind::usage, "no reply"};
  return std::move(*out);
}

// A fake that answers the first command of its first connection with `bytes`
// (possibly in small chunks), then answers every command with PONG.
FakeServer::Handler scripted(std::string bytes, std::size_t chunk = 0) {
  auto connections = std::make_shared<std::atomic<int>>(0);
  return [bytes, chunk, connections](FakeConnection& c) {
    if (connections->fetch_add(1) == 0) {
      if (c.read_command().empty()) return;
      if (chunk)
        c.send_chunked(bytes, chunk, 200);
      else
        c.send(bytes);
    }
    for (;;) {
      auto argv = c.read_command();
      if (argv.empty()) return;
      c.send("+PONG\r\n");
    }
  };
}

}  // namespace

TEST(Hostile, NestingDeeperThanHiredisAllowsIsAProtocolError) {
  std::string deep;
  for (int i = 0; i < 12; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  FakeServer server(scripted(deep));
  TestLoop loop;
  {
    Client c(loop.get(), quick_options(server));
    auto r = one(loop, c, {"GET", "k"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::protocol) << r.error().to_string();
    // The client reconnects and carries on.
    auto p = one(loop, c, {"PING"});
    EXPECT_TRUE(p) << p.error().to_string();
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Hostile, HugeArrayHeaderDoesNotAllocateItsClaim) {
  FakeServer server([](FakeConnection& c) {
    if (c.read_command().empty()) return;
    c.send("*2147483647\r\n:1\r\n:2\r\n");
    c.close();
  });
  TestLoop loop;
  {
    Client c(loop.get(), quick_options(server));
    auto r = one(loop, c, {"GET", "k"});
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is_transport()) << r.error().to_string();
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Hostile, HugeBulkLengthThenHangupFailsCleanly) {
  FakeServer server([](FakeConnection& c) {
    if (c.read_command().empty()) return;
    c.send("$2147483647\r\nabc");
    c.close();
  });
  TestLoop loop;
  {
    Client c(loop.get(), quick_options(server));
    auto r = one(loop, c, {"GET", "k"});
    ASSERT_FALSE(r);
    // 2 GiB is over max_reply_element (512 MiB by default): refused at the
    // header, before the hang-up.
    EXPECT_EQ(r.error().kind, ErrorKind::protocol) << r.error().to_string();
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Hostile, BulkLengthUnderTheLimitThenHangupIsConnectionLost) {
  FakeServer server([](FakeConnection& c) {
    if (c.read_command().empty()) return;
    c.send("$1000000\r\nabc");
    c.close();
  });
  TestLoop loop;
  {
    Client c(loop.get(), quick_options(server));
    auto r = one(loop, c, {"GET", "k"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connection_lost) << r.error().to_string();
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Hostile, GarbageIsAProtocolError) {
  FakeServer server(scripted("HTTP/1.1 400 Bad Request\r\n\r\n"));
  TestLoop loop;
  {
    Client c(loop.get(), quick_options(server));
    auto r = one(loop, c, {"GET", "k"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::protocol) << r.error().to_string();
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Hostile, RepliesCutIntoOneByteChunksParse) {
  static const char kReplies[] = "*3\r\n$5\r\nhe\0lo\r\n:-42\r\n*2\r\n$-1\r\n+OK\r\n";
  const std::string bytes(kReplies, sizeof kReplies - 1);  // embedded NUL kept, terminator dropped
  FakeServer server([bytes](FakeConnection& c) {
    if (c.read_command().empty()) return;
    c.send_chunked(bytes, 1, 100);
    for (;;) {
      if (c.read_command().empty()) return;
      c.send("+PONG\r\n");
    }
  });
  TestLoop loop;
  {
    Client c(loop.get(), quick_options(server));
    auto r = one(loop, c, {"GET", "k"});
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->is_array());
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[0].str(), std::string("he\0lo", 5));
    EXPECT_EQ((*r)[1].integer(), -42);
    ASSERT_TRUE((*r)[2].is_array());
    EXPECT_TRUE((*r)[2][0].is_nil());
    EXPECT_EQ((*r)[2][1].str(), "OK");
    auto p = one(loop, c, {"PING"});
    EXPECT_TRUE(p) << p.error().to_string();
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Hostile, UnsolicitedReplyDropsTheLinkInsteadOfAborting) {
  std::atomic<int> connections{0};
  FakeServer server([&](FakeConnection& c) {
    if (connections++ == 0) {
      c.send("+SURPRISE\r\n");  // nobody asked
    }
    for (;;) {
      if (c.read_command().empty()) return;
      c.send("+PONG\r\n");
    }
  });
  TestLoop loop;
  {
    Client c(loop.get(), quick_options(server));
    std::vector<uvredis::ConnectionState> states;
    std::string why;
    c.on_state_change([&](uvredis::ConnectionState s, const uvredis::Error* e) {
      states.push_back(s);
      if (e) why = e->message;
    });
    ASSERT_TRUE(loop.run_until([&] { return connections >= 2 && c.state() == uvredis::ConnectionState::connected; }));
    EXPECT_NE(why.find("nobody asked"), std::string::npos) << why;
    auto p = one(loop, c, {"PING"});
    EXPECT_TRUE(p) << p.error().to_string();
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Hostile, PeerResetWhileWritingDoesNotKillTheProcess) {
  FakeServer server([](FakeConnection& c) {
    c.read_some();
    c.reset();  // RST while the client still writes megabytes
  });
  TestLoop loop;
  {
    auto o = quick_options(server);
    o.reconnect = false;
    Client c(loop.get(), o);
    std::string big(4 << 20, 'x');
    int failed = 0;
    for (int i = 0; i < 8; ++i)
      c.command({"SET", "k", big}, [&](Result<Reply> r) {
        EXPECT_FALSE(r);
        ++failed;
      });
    ASSERT_TRUE(loop.run_until([&] { return failed == 8; }));
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Hostile, HandshakeThatNeverAnswersHitsTheConnectTimeout) {
  FakeServer server([](FakeConnection& c) {
    c.read_some();  // reads AUTH, answers nothing
    c.read_some();
  });
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("redis://:pw@127.0.0.1:" + std::to_string(server.port()));
    o->connect_timeout = 300ms;
    o->reconnect = false;
    Client c(loop.get(), *o);
    const auto t0 = uv_hrtime();
    auto r = one(loop, c, {"PING"});
    const double ms = static_cast<double>(uv_hrtime() - t0) / 1e6;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connect);
    EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
    EXPECT_GE(ms, 250.0);
    EXPECT_LT(ms, 2000.0);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}
