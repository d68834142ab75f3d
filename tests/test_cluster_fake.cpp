// ClusterClient against scripted fake nodes (FakeServer): redirection loops,
// CLUSTERDOWN and TRYAGAIN retries, a malformed slot map. No redis-server.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/cluster_helpers.hpp"
#include "support/fake_server.hpp"
#include "support/loop.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

using namespace std::chrono_literals;
using uvredis::ClusterClient;
using uvredis::ClusterOptions;
using uvredis::ErrorKind;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::TestLoop;
using uvredis::test::run;
using uvredis::test::close_and_wait;


// ------------------------------------------ against scripted fake nodes

namespace {

// A fake node: answers CLUSTER SLOTS with "all slots on `owner`" and every
// other command with what `answer(n)` returns for the n-th such command.
struct FakeNode {
  explicit FakeNode(std::function<std::string(int)> answer, std::string slots_reply = {})
      : server([this, answer = std::move(answer), slots_reply](uvredis::test::FakeConnection& c) {
          for (;;) {
            auto cmd = c.read_command();
            if (cmd.empty()) return;
            if (cmd.size() == 2 && cmd[0] == "CLUSTER" && cmd[1] == "SLOTS") {
              if (!slots_reply.empty()) {
                c.send(slots_reply);
                continue;
              }
              std::string port = std::to_string(owner.load());
              c.send("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:" + port + "\r\n");
              continue;
            }
            c.send(answer(++count));
          }
        }) {}
  std::atomic<int> owner{0};
  std::atomic<int> count{0};
  uvredis::test::FakeServer server;
};

ClusterOptions fake_opts(std::uint16_t port) {
  ClusterOptions o;
  o.seeds = {"127.0.0.1:" + std::to_string(port)};
  o.client.connect_timeout = 1s;
  o.client.command_timeout = 2s;
  return o;
}

}  // namespace

TEST(ClusterFake, MovedBackAndForthIsBoundedAndFailsWithTheRedirection) {
  std::atomic<int> a_port{0}, b_port{0};
  FakeNode a([&](int) { return "-MOVED 12182 127.0.0.1:" + std::to_string(b_port.load()) + "\r\n"; });
  FakeNode b([&](int) { return "-MOVED 12182 127.0.0.1:" + std::to_string(a_port.load()) + "\r\n"; });
  a_port = a.server.port();
  b_port = b.server.port();
  a.owner = a_port.load();
  b.owner = a_port.load();
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), fake_opts(a.server.port()));
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run(loop, cc, {"GET", "foo"});
    const auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::server);
    EXPECT_EQ(r.error().code(), "MOVED");
    EXPECT_EQ(cc.stats().moved, 5u);  // max_redirects
    EXPECT_EQ(a.count + b.count, 6);
    EXPECT_GE(took, 200ms);  // later bounces wait a little for the nodes to agree
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClusterFake, ClusterDownAndTryAgainAreRetriedWithBackoffUpToTheLimit) {
  FakeNode a([](int n) { return n <= 3 ? std::string("-CLUSTERDOWN The cluster is down\r\n") : std::string("+OK\r\n"); });
  a.owner = a.server.port();
  FakeNode t([](int) { return std::string("-TRYAGAIN Multiple keys request during rehashing of slot\r\n"); });
  t.owner = t.server.port();
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), fake_opts(a.server.port()));
    auto r = run(loop, cc, {"SET", "foo", "bar"});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->str(), "OK");
    EXPECT_EQ(cc.stats().retries, 3u);
    close_and_wait(loop, cc);

    ClusterOptions o = fake_opts(t.server.port());
    o.max_retries = 4;
    ClusterClient ct(loop.get(), o);
    int calls = 0;
    std::optional<Result<Reply>> out;
    ct.command({"MGET", "{x}a", "{x}b"}, [&](Result<Reply> res) {
      ++calls;
      out.emplace(std::move(res));
    });
    ASSERT_TRUE(loop.run_until([&] { return calls > 0; }));
    loop.run_for(50ms);
    EXPECT_EQ(calls, 1);
    ASSERT_FALSE(*out);
    EXPECT_EQ(out->error().code(), "TRYAGAIN");
    EXPECT_EQ(t.count, 5);  // the first try and 4 retries
    EXPECT_EQ(ct.stats().retries, 4u);
    close_and_wait(loop, ct);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClusterFake, AMalformedSlotMapFailsWaitingCommandsWithAConnectError) {
  FakeNode a([](int) { return std::string("+OK\r\n"); }, "+OK\r\n");
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), fake_opts(a.server.port()));
    auto r = run(loop, cc, {"GET", "foo"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connect);
    EXPECT_NE(r.error().message.find("CLUSTER SLOTS"), std::string::npos) << r.error().message;
    EXPECT_EQ(a.count, 0);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}
