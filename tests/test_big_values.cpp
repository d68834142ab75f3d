// Big values against a real redis-server: a command larger than one hand-off
// slice goes to hiredis a slice per pass, in order with what is around it,
// and a link lost half-way through fails it once without corrupting what is
// queued behind it. (How long the loop is held is a benchmark's business:
// tests/bench, --big.)
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ErrorKind;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::close_and_wait;
using uvredis::test::options_for;
using uvredis::test::RedisServer;
using uvredis::test::run_one;
using uvredis::test::TestLoop;

namespace {
std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}
}  // namespace

TEST(BigValues, BigSetsKeepTheirOrderWithSmallCommandsAround) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.command_timeout = 30s;
    Client c(loop.get(), o);
    const std::string a = pattern(12u << 20, 1), b = pattern(5u << 20, 2);
    std::vector<std::string> order;
    int calls = 0;
    auto note = [&](std::string what) {
      return [&, what](Result<Reply> r) {
        ++calls;
        EXPECT_TRUE(r) << what << ": " << r.error().to_string();
        order.push_back(what);
      };
    };
    c.command({"SET", "n", "1"}, note("set n"));
    c.command({"SET", "a", a}, note("set a"));
    c.command({"INCR", "n"}, note("incr"));
    c.command({"SET", "b", b}, note("set b"));
    c.command({"APPEND", "b", "!"}, note("append"));
    ASSERT_TRUE(loop.run_until([&] { return calls == 5; }, 60s));
    EXPECT_EQ(order, (std::vector<std::string>{"set n", "set a", "incr", "set b", "append"}));
    auto ga = run_one(loop, c, {"GET", "a"}, 30s);
    ASSERT_TRUE(ga);
    EXPECT_TRUE(ga->str() == a);
    auto gb = run_one(loop, c, {"GET", "b"}, 30s);
    ASSERT_TRUE(gb);
    EXPECT_TRUE(gb->str() == b + "!");
    auto n = run_one(loop, c, {"GET", "n"});
    ASSERT_TRUE(n);
    EXPECT_EQ(n->str(), "2");
    EXPECT_EQ(c.stats().in_flight, 0u);
    EXPECT_EQ(c.stats().queued, 0u);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// The server goes away in the middle of a big command: that command and the
// ones written after it fail once; the link comes back and a command queued
// behind the big one is not glued to the rest of its bytes.
TEST(BigValues, LinkLostHalfWayThroughABigCommand) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.command_timeout = 20s;
    o.reconnect_min_delay = 20ms;
    o.reconnect_max_delay = 100ms;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    server.pause();  // the socket buffers fill and the big command stalls half-way
    const std::string big = pattern(64u << 20, 3);
    int calls = 0;
    std::vector<Result<Reply>> results;
    auto keep = [&](Result<Reply> r) {
      ++calls;
      results.push_back(std::move(r));
    };
    c.command({"SET", "big", big}, keep);
    c.command({"SET", "after", "1"}, keep);
    loop.run_for(300ms);  // let the transfer start and stall
    server.kill();
    server.start();
    ASSERT_TRUE(loop.run_until([&] { return calls == 2; }, 30s));
    for (auto& r : results) {
      if (!r) {
        EXPECT_TRUE(r.error().kind == ErrorKind::connection_lost || r.error().kind == ErrorKind::connect)
            << r.error().to_string();
      }
    }
    ASSERT_TRUE(loop.run_until([&] { return c.state() == uvredis::ConnectionState::connected; }, 10s));
    auto e = run_one(loop, c, {"ECHO", "clean"}, 10s);
    ASSERT_TRUE(e) << e.error().to_string();
    EXPECT_EQ(e->str(), "clean");
    EXPECT_EQ(server.cmd({"EXISTS", "big"}), "0");
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// close() while a big command is half-way out on a stalled server: bounded
// by its deadline plus the grace, its callback once.
TEST(BigValues, CloseDuringABigCommandIsBounded) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.command_timeout = 500ms;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    server.pause();
    int calls = 0;
    ErrorKind kind{};
    c.command({"SET", "big", pattern(32u << 20, 4)}, [&](Result<Reply> r) {
      ++calls;
      if (!r) kind = r.error().kind;
    });
    loop.run_for(100ms);
    close_and_wait(loop, c, 5s);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(kind == ErrorKind::timeout || kind == ErrorKind::closed);
    server.resume();
  }
  EXPECT_EQ(loop.close(), 0);
}
