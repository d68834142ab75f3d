// Key commands and the keyspace walk against a real redis-server.
#include "support/commands_fixture.hpp"

#include <set>

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

using CommandsKeys = CommandsTest;

TEST_F(CommandsKeys, DelUnlinkExistsTouchCountKeys) {
  raw({"MSET", "a", "1", "b", "2", "c", "3", "d", "4"});
  EXPECT_EQ(*call<long long>([&](auto cb) { c().exists({"a", "b", "missing", "a"}, std::move(cb)); }), 3);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().touch({"a", "missing"}, std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().del("a", std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().del({"a", "b", "missing"}, std::move(cb)); }), 1);
  std::vector<std::string> rest{"c", "d"};
  EXPECT_EQ(*call<long long>([&](auto cb) { c().unlink(rest, std::move(cb)); }), 2);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().exists(rest, std::move(cb)); }), 0);
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().del(std::vector<std::string>{}, std::move(cb)); }),
                             "DEL"));
}

TEST_F(CommandsKeys, TtlTellsNoKeyNoExpiryAndTimeLeft) {
  auto absent = call<Ttl>([&](auto cb) { c().ttl("k", std::move(cb)); });
  ASSERT_TRUE(absent);
  EXPECT_EQ(absent->state, Ttl::State::no_key);
  EXPECT_FALSE(absent->exists());
  raw({"SET", "k", "v"});
  auto persistent = call<Ttl>([&](auto cb) { c().pttl("k", std::move(cb)); });
  EXPECT_EQ(persistent->state, Ttl::State::no_expiry);
  EXPECT_TRUE(persistent->exists());
  EXPECT_FALSE(persistent->expires());
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().expire("k", 100s, std::move(cb)); }));
  auto t = call<Ttl>([&](auto cb) { c().ttl("k", std::move(cb)); });
  EXPECT_TRUE(t->expires());
  EXPECT_GE(t->remaining, 99s);
  EXPECT_LE(t->remaining, 100s);
  auto pt = call<Ttl>([&](auto cb) { c().pttl("k", std::move(cb)); });
  EXPECT_GT(pt->remaining, 98s);
  EXPECT_LE(pt->remaining, 100s);
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().persist("k", std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().persist("k", std::move(cb)); }));
  EXPECT_EQ(call<Ttl>([&](auto cb) { c().ttl("k", std::move(cb)); })->state, Ttl::State::no_expiry);
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().expire("absent", 10s, std::move(cb)); }));
}

TEST_F(CommandsKeys, ExpireConditions) {
  raw({"SET", "k", "v"});
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().expire("k", 50s, ExpireCondition::xx, std::move(cb)); }));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().expire("k", 50s, ExpireCondition::nx, std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().expire("k", 60s, ExpireCondition::nx, std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().expire("k", 40s, ExpireCondition::gt, std::move(cb)); }));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().expire("k", 70s, ExpireCondition::gt, std::move(cb)); }));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().pexpire("k", 30'500ms, ExpireCondition::lt, std::move(cb)); }));
  const long long pttl = server().cmd_int({"PTTL", "k"});
  EXPECT_GT(pttl, 29'000);
  EXPECT_LE(pttl, 30'500);
}

TEST_F(CommandsKeys, SubSecondExpiryReallyExpires) {
  raw({"SET", "k", "v"});
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().expire("k", 150ms, std::move(cb)); }));  // sent as PEXPIRE
  loop_.run_for(400ms);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().get("k", std::move(cb)); }), std::nullopt);
}

TEST_F(CommandsKeys, ExpireatAndPexpireat) {
  raw({"SET", "k", "v"});
  raw({"SET", "gone", "v"});
  const auto soon = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) + 100s;
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().expireat("k", soon, std::move(cb)); }));
  EXPECT_GT(server().cmd_int({"TTL", "k"}), 95);
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().pexpireat("k", soon + 500ms, ExpireCondition::gt, std::move(cb)); }));
  EXPECT_EQ(raw({"PEXPIRETIME", "k"}), std::to_string(detail::unix_millis(soon + 500ms)));
  // A time in the past deletes the key.
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().expireat("gone", std::chrono::system_clock::now() - 1h, std::move(cb)); }));
  EXPECT_EQ(raw({"EXISTS", "gone"}), "0");
}

TEST_F(CommandsKeys, TypeNamesEveryKind) {
  raw({"SET", "s", "v"});
  raw({"RPUSH", "l", "v"});
  raw({"SADD", "st", "v"});
  raw({"ZADD", "z", "1", "v"});
  raw({"HSET", "h", "f", "v"});
  raw({"XADD", "x", "*", "f", "v"});
  const std::vector<std::pair<std::string, std::string>> want{{"s", "string"}, {"l", "list"}, {"st", "set"},
                                                              {"z", "zset"},   {"h", "hash"}, {"x", "stream"},
                                                              {"nope", "none"}};
  for (const auto& [key, type] : want) EXPECT_EQ(*call<std::string>([&](auto cb) { c().type(key, std::move(cb)); }), type);
}

TEST_F(CommandsKeys, RenameAndRenamenx) {
  raw({"SET", "a", "1"});
  raw({"SET", "b", "2"});
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().renamenx("a", "b", std::move(cb)); }));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().renamenx("a", "c", std::move(cb)); }));
  ASSERT_TRUE(call<void>([&](auto cb) { c().rename("c", "b", std::move(cb)); }));
  EXPECT_EQ(raw({"GET", "b"}), "1");
  EXPECT_TRUE(is_server_error(call<void>([&](auto cb) { c().rename("absent", "x", std::move(cb)); }), "ERR"));
}

TEST_F(CommandsKeys, CopyWithinAndAcrossDatabases) {
  raw({"SET", "src", "v"});
  raw({"SET", "dst", "old"});
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().copy("src", "dst", std::move(cb)); }));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().copy("src", "dst", {.replace = true}, std::move(cb)); }));
  EXPECT_EQ(raw({"GET", "dst"}), "v");
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().copy("absent", "x", std::move(cb)); }));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().copy("src", "in5", {.db = 5}, std::move(cb)); }));
  Client& db5 = extra_client([&](ClientOptions& o) { o.address.db = 5; });
  EXPECT_EQ(*call<OptStr>([&](auto cb) { db5.get("in5", std::move(cb)); }), "v");
  EXPECT_TRUE(is_usage_error(call<bool>([&](auto cb) { c().copy("src", "x", {.db = -1}, std::move(cb)); }), "database"));
}

TEST_F(CommandsKeys, ScanStepsWithMatchCountAndType) {
  for (int i = 0; i < 300; ++i) raw({"SET", "user:" + std::to_string(i), "v"});
  for (int i = 0; i < 20; ++i) raw({"HSET", "user:h" + std::to_string(i), "f", "v"});
  raw({"SET", "other", "v"});
  std::set<std::string> strings, hashes;
  std::uint64_t cursor = 0;
  int steps = 0;
  do {
    auto p = call<ScanPage<std::string>>(
        [&](auto cb) { c().scan(cursor, {.match = "user:*", .count = 50, .type = "string"}, std::move(cb)); });
    ASSERT_TRUE(p) << p.error().to_string();
    strings.insert(p->items.begin(), p->items.end());
    cursor = p->cursor;
    ++steps;
  } while (cursor != 0);
  EXPECT_EQ(strings.size(), 300u);
  EXPECT_GT(steps, 2);
  EXPECT_FALSE(strings.contains("other"));
  do {
    auto p = call<ScanPage<std::string>>([&](auto cb) { c().scan(cursor, {.type = "hash"}, std::move(cb)); });
    ASSERT_TRUE(p);
    hashes.insert(p->items.begin(), p->items.end());
    cursor = p->cursor;
  } while (cursor != 0);
  EXPECT_EQ(hashes.size(), 20u);
  EXPECT_TRUE(is_usage_error(
      call<ScanPage<std::string>>([&](auto cb) { c().scan(0, {.count = -5}, std::move(cb)); }), "COUNT"));
}

TEST_F(CommandsKeys, ScanOfAnEmptyDatabaseEndsAtOnce) {
  auto p = call<ScanPage<std::string>>([&](auto cb) { c().scan(0, std::move(cb)); });
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->done());
  EXPECT_TRUE(p->items.empty());
}

TEST_F(CommandsKeys, ScanAllWalksEveryKeyInBatchesWithoutHoldingTheLoop) {
  const int n = 5000;
  std::vector<std::pair<std::string, std::string>> kv;
  for (int i = 0; i < n; ++i) kv.emplace_back("k" + std::to_string(i), "v");
  ASSERT_TRUE(call<void>([&](auto cb) { c().mset(kv, std::move(cb)); }));

  std::set<std::string> seen;
  int batches = 0;
  int done_calls = 0;
  std::optional<Result<void>> result;
  std::optional<Result<std::string>> ping;
  int pings_before_done = 0;
  c().scan_all(
      {.count = 100},
      [&](std::vector<std::string> keys) {
        if (batches++ == 0) {
          // Other commands keep flowing while the walk goes on.
          c().ping([&](Result<std::string> r) {
            ping.emplace(std::move(r));
            if (done_calls == 0) ++pings_before_done;
          });
        }
        seen.insert(keys.begin(), keys.end());
        return true;
      },
      [&](Result<void> r) {
        ++done_calls;
        result.emplace(std::move(r));
      });
  EXPECT_EQ(batches, 0);  // nothing inside the call
  ASSERT_TRUE(wait([&] { return done_calls > 0; }));
  ASSERT_TRUE(result && *result) << result->error().to_string();
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
  EXPECT_GT(batches, 10);
  ASSERT_TRUE(wait([&] { return ping.has_value(); }));
  EXPECT_EQ(pings_before_done, 1);
  loop_.run_for(20ms);
  EXPECT_EQ(done_calls, 1);
}

TEST_F(CommandsKeys, ScanAllStopsWhenTheBatchHandlerSaysSo) {
  for (int i = 0; i < 1000; ++i) raw({"SET", "k" + std::to_string(i), "v"});
  int batches = 0;
  int done_calls = 0;
  bool ok = false;
  c().scan_all({.match = "k*", .count = 10},
               [&](std::vector<std::string>) { return ++batches < 3; },
               [&](Result<void> r) {
                 ++done_calls;
                 ok = r.ok();
               });
  ASSERT_TRUE(wait([&] { return done_calls > 0; }));
  EXPECT_TRUE(ok);
  EXPECT_EQ(batches, 3);
  loop_.run_for(20ms);
  EXPECT_EQ(done_calls, 1);
  EXPECT_EQ(batches, 3);
}

TEST_F(CommandsKeys, ScanAllReportsErrorsAndEmptyKeyspaces) {
  int batches = 0;
  std::optional<Result<void>> bad, empty;
  c().scan_all({.count = -1}, [&](std::vector<std::string>) { return ++batches > 0; },
               [&](Result<void> r) { bad.emplace(std::move(r)); });
  c().scan_all({}, [&](std::vector<std::string>) { return ++batches > 0; },
               [&](Result<void> r) { empty.emplace(std::move(r)); });
  ASSERT_TRUE(wait([&] { return bad && empty; }));
  EXPECT_TRUE(is_usage_error(*bad, "COUNT"));
  EXPECT_TRUE(*empty);
  EXPECT_EQ(batches, 0);
}

TEST_F(CommandsKeys, BinaryKeyNames) {
  const std::string key("k\0\r\n\xff", 5);
  ASSERT_TRUE(call<bool>([&](auto cb) { c().set(key, "v", std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().exists(key, std::move(cb)); }), 1);
  auto p = call<ScanPage<std::string>>([&](auto cb) { c().scan(0, std::move(cb)); });
  ASSERT_TRUE(p);
  ASSERT_EQ(p->items.size(), 1u);
  EXPECT_EQ(p->items[0], key);
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().expire(key, 10s, std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().del(key, std::move(cb)); }), 1);
}
