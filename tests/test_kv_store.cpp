// KvStore against a real server: codecs, decode errors, batches, SCAN-based
// listing that leaves the loop free, health.
#include <uvredis/json_codec.hpp>
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <set>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ErrorKind;
using uvredis::JsonCodec;
using uvredis::KvStore;
using uvredis::RawCodec;
using uvredis::Result;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::await;
using uvredis::test::close_and_wait;
using uvredis::test::run_one;
using uvredis::test::options_for;

namespace game {
struct Player {
  std::string name;
  int level = 0;
  std::vector<std::string> items;
  bool operator==(const Player&) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Player, name, level, items)
}  // namespace game

TEST(KvStore, JsonValuesRoundTripAndBadValuesNameTheirKey) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    KvStore<JsonCodec> kv(c, "app:");
    game::Player p{"zoë", 12, {"sword", "shield"}};
    ASSERT_TRUE(await<void>(loop, [&](auto cb) { kv.set("player:1", p, cb); }));
    EXPECT_EQ(server.cmd({"GET", "app:player:1"}), R"({"items":["sword","shield"],"level":12,"name":"zoë"})");
    auto got = await<std::optional<game::Player>>(loop, [&](auto cb) { kv.get<game::Player>("player:1", cb); });
    ASSERT_TRUE(got) << got.error().to_string();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ(**got, p);

    auto none = await<std::optional<game::Player>>(loop, [&](auto cb) { kv.get<game::Player>("player:2", cb); });
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());

    server.cmd({"SET", "app:player:3", "{not json"});
    auto bad = await<std::optional<game::Player>>(loop, [&](auto cb) { kv.get<game::Player>("player:3", cb); });
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, ErrorKind::decode);
    EXPECT_NE(bad.error().message.find("'player:3'"), std::string::npos) << bad.error().message;
    server.cmd({"SET", "app:player:4", R"({"name": 5})"});
    auto wrong = await<std::optional<game::Player>>(loop, [&](auto cb) { kv.get<game::Player>("player:4", cb); });
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().kind, ErrorKind::decode);
    EXPECT_NE(wrong.error().message.find("'player:4'"), std::string::npos);
    // The link is fine after decode errors.
    auto again = await<std::optional<game::Player>>(loop, [&](auto cb) { kv.get<game::Player>("player:1", cb); });
    EXPECT_TRUE(again && again->has_value());

    auto removed = await<bool>(loop, [&](auto cb) { kv.remove("player:1", cb); });
    EXPECT_TRUE(removed && *removed);
    auto removed2 = await<bool>(loop, [&](auto cb) { kv.remove("player:1", cb); });
    EXPECT_TRUE(removed2 && !*removed2);

    KvStore<RawCodec> raw(c, "raw:");
    const std::string bytes("\0\r\n\xff", 4);
    ASSERT_TRUE(await<void>(loop, [&](auto cb) { raw.set("b", bytes, cb, 5s); }));
    auto rb = await<std::optional<std::string>>(loop, [&](auto cb) { raw.get<std::string>("b", cb); });
    ASSERT_TRUE(rb && rb->has_value());
    EXPECT_EQ(**rb, bytes);
    EXPECT_GT(server.cmd_int({"PTTL", "raw:b"}), 0);

    auto h = await<void>(loop, [&](auto cb) { kv.health(1s, cb); });
    EXPECT_TRUE(h);
    server.pause();
    auto h2 = await<void>(loop, [&](auto cb) { kv.health(200ms, cb); });
    server.resume();
    ASSERT_FALSE(h2);
    EXPECT_EQ(h2.error().kind, ErrorKind::timeout);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(KvStore, BatchesOfTenThousandKeys) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    KvStore<JsonCodec> kv(c, "b:");
    const int n = 10000;
    std::vector<std::pair<std::string, int>> items;
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) {
      items.emplace_back("k" + std::to_string(i), i * 3);
      keys.push_back("k" + std::to_string(i));
    }
    const auto writes_before = c.stats().writes;
    ASSERT_TRUE(await<void>(loop, [&](auto cb) { kv.batch_set(items, cb); }));
    EXPECT_LT(c.stats().writes - writes_before, 100u);  // one pipeline, not 10,000 writes
    EXPECT_EQ(server.cmd_int({"DBSIZE"}), n);

    keys.push_back("missing");
    auto got = await<std::vector<std::optional<int>>>(loop, [&](auto cb) { kv.batch_get<int>(keys, cb); });
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), static_cast<std::size_t>(n + 1));
    for (int i = 0; i < n; ++i) ASSERT_EQ((*got)[i], std::optional<int>(i * 3)) << i;
    EXPECT_FALSE(got->back().has_value());

    auto removed = await<std::size_t>(loop, [&](auto cb) { kv.batch_remove(keys, cb); });
    ASSERT_TRUE(removed);
    EXPECT_EQ(*removed, static_cast<std::size_t>(n));
    EXPECT_EQ(server.cmd_int({"DBSIZE"}), 0);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(KvStore, ListWalksAHundredThousandKeysWithoutHoldingTheLoop) {
  RedisServer server;
  server.cmd({"DEBUG", "POPULATE", "100000", "item"});
  server.cmd({"DEBUG", "POPULATE", "20000", "other"});
  server.cmd({"SET", "it*m:glob", "x"});  // would match "it*m:" unescaped... and "item:" never
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    KvStore<RawCodec> kv(c);
    // A timer that must keep firing while the listing runs.
    uv_timer_t tick;
    int ticks = 0;
    uv_timer_init(loop.get(), &tick);
    tick.data = &ticks;
    uv_timer_start(&tick, [](uv_timer_t* t) { ++*static_cast<int*>(t->data); }, 1, 1);
    auto keys = await<std::vector<std::string>>(loop, [&](auto cb) { kv.list("item:", cb); });
    uv_timer_stop(&tick);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    ASSERT_TRUE(keys);
    ASSERT_EQ(keys->size(), 100000u);
    std::set<std::string> unique(keys->begin(), keys->end());
    EXPECT_EQ(unique.size(), 100000u);
    EXPECT_TRUE(unique.count("item:0"));
    EXPECT_TRUE(unique.count("item:99999"));
    EXPECT_GE(ticks, 10) << "the timer should have run between SCAN batches";

    auto glob = await<std::vector<std::string>>(loop, [&](auto cb) { kv.list("it*m:", cb); });
    ASSERT_TRUE(glob);
    EXPECT_EQ(*glob, std::vector<std::string>{"it*m:glob"});
    auto none = await<std::vector<std::string>>(loop, [&](auto cb) { kv.list("nothing:", cb); });
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}
