// Hash commands against a real redis-server.
#include "support/commands_fixture.hpp"

#include <map>
#include <set>
#include <unordered_map>

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

using CommandsHashes = CommandsTest;

TEST_F(CommandsHashes, HsetOneOrManyFieldsCountsAdded) {
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hset("h", "a", "1", std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hset("h", "a", "2", std::move(cb)); }), 0);  // replaced
  std::map<std::string, std::string> m{{"b", "2"}, {"c", "3"}};
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hset("h", m, std::move(cb)); }), 2);
  std::unordered_map<std::string, std::string> u{{"c", "33"}, {"d", "4"}};
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hset("h", u, std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hset("h", {{"e", "5"}}, std::move(cb)); }), 1);
  ASSERT_TRUE(call<void>([&](auto cb) { c().hmset("h", {{"f", "6"}, {"a", "1"}}, std::move(cb)); }));
  auto all = call<FieldMap>([&](auto cb) { c().hgetall("h", std::move(cb)); });
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, (FieldMap{{"a", "1"}, {"b", "2"}, {"c", "33"}, {"d", "4"}, {"e", "5"}, {"f", "6"}}));
  EXPECT_TRUE(is_usage_error(
      call<long long>([&](auto cb) { c().hset("h", std::map<std::string, std::string>{}, std::move(cb)); }), "fields"));
}

TEST_F(CommandsHashes, ReadsOfAbsentKeysAndFields) {
  raw({"HSET", "h", "a", "1"});
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().hget("h", "zz", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().hget("nokey", "a", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().hget("h", "a", std::move(cb)); }), "1");
  auto m = call<std::vector<OptStr>>([&](auto cb) { c().hmget("h", {"a", "zz", "a"}, std::move(cb)); });
  EXPECT_EQ(*m, (std::vector<OptStr>{"1", std::nullopt, "1"}));
  EXPECT_TRUE(call<FieldMap>([&](auto cb) { c().hgetall("nokey", std::move(cb)); })->empty());
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().hkeys("nokey", std::move(cb)); })->empty());
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().hvals("nokey", std::move(cb)); })->empty());
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hlen("nokey", std::move(cb)); }), 0);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hstrlen("nokey", "a", std::move(cb)); }), 0);
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().hexists("nokey", "a", std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hdel("nokey", "a", std::move(cb)); }), 0);
  EXPECT_TRUE(is_usage_error(call<std::vector<OptStr>>([&](auto cb) { c().hmget("h", Strs{}, std::move(cb)); }),
                             "HMGET"));
}

TEST_F(CommandsHashes, SetnxExistsDelLenStrlenKeysVals) {
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().hsetnx("h", "a", "one", std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().hsetnx("h", "a", "uno", std::move(cb)); }));
  raw({"HSET", "h", "b", "two", "c", "three"});
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().hexists("h", "b", std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hlen("h", std::move(cb)); }), 3);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hstrlen("h", "c", std::move(cb)); }), 5);
  auto keys = call<Strs>([&](auto cb) { c().hkeys("h", std::move(cb)); });
  EXPECT_EQ(std::set<std::string>(keys->begin(), keys->end()), (std::set<std::string>{"a", "b", "c"}));
  auto vals = call<Strs>([&](auto cb) { c().hvals("h", std::move(cb)); });
  EXPECT_EQ(std::set<std::string>(vals->begin(), vals->end()), (std::set<std::string>{"one", "two", "three"}));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hdel("h", {"a", "b", "zz"}, std::move(cb)); }), 2);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hdel("h", "c", std::move(cb)); }), 1);
  EXPECT_EQ(raw({"EXISTS", "h"}), "0");  // the last field took the key with it
}

TEST_F(CommandsHashes, IncrementsIntegerAndFloat) {
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hincrby("h", "n", 5, std::move(cb)); }), 5);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hincrby("h", "n", -7, std::move(cb)); }), -2);
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().hincrbyfloat("h", "f", 10.5, std::move(cb)); }), 10.5);
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().hincrbyfloat("h", "f", -0.25, std::move(cb)); }), 10.25);
  raw({"HSET", "h", "text", "abc"});
  EXPECT_TRUE(is_server_error(call<long long>([&](auto cb) { c().hincrby("h", "text", 1, std::move(cb)); }), "ERR"));
}

TEST_F(CommandsHashes, RandomFields) {
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().hrandfield("nokey", std::move(cb)); }), std::nullopt);
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().hrandfield("nokey", 3, std::move(cb)); })->empty());
  raw({"HSET", "h", "a", "1", "b", "2", "c", "3"});
  auto one = call<OptStr>([&](auto cb) { c().hrandfield("h", std::move(cb)); });
  ASSERT_TRUE(one && *one);
  EXPECT_TRUE(**one == "a" || **one == "b" || **one == "c");
  auto distinct = call<Strs>([&](auto cb) { c().hrandfield("h", 1'000'000'000, std::move(cb)); });
  EXPECT_EQ(std::set<std::string>(distinct->begin(), distinct->end()), (std::set<std::string>{"a", "b", "c"}));
  EXPECT_EQ(distinct->size(), 3u);
  auto repeated = call<Strs>([&](auto cb) { c().hrandfield("h", -10, std::move(cb)); });
  EXPECT_EQ(repeated->size(), 10u);
  auto withvalues = call<std::vector<FieldValue>>([&](auto cb) { c().hrandfield_withvalues("h", -6, std::move(cb)); });
  ASSERT_TRUE(withvalues);
  EXPECT_EQ(withvalues->size(), 6u);
  for (const auto& [f, v] : *withvalues) EXPECT_EQ(v, f == "a" ? "1" : f == "b" ? "2" : "3");
}

TEST_F(CommandsHashes, HscanWalksABigHash) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (int i = 0; i < 2000; ++i) fields.emplace_back("f" + std::to_string(i), std::to_string(i));
  ASSERT_TRUE(call<long long>([&](auto cb) { c().hset("big", fields, std::move(cb)); }));
  std::map<std::string, std::string> seen;
  std::uint64_t cursor = 0;
  int steps = 0;
  do {
    auto p = call<ScanPage<FieldValue>>([&](auto cb) { c().hscan("big", cursor, {.count = 200}, std::move(cb)); });
    ASSERT_TRUE(p) << p.error().to_string();
    for (auto& [f, v] : p->items) seen[f] = v;
    cursor = p->cursor;
    ++steps;
  } while (cursor != 0);
  EXPECT_EQ(seen.size(), 2000u);
  EXPECT_EQ(seen["f1999"], "1999");
  EXPECT_GT(steps, 3);
  auto matched = call<ScanPage<FieldValue>>(
      [&](auto cb) { c().hscan("big", 0, {.match = "f19*", .count = 100000}, std::move(cb)); });
  ASSERT_TRUE(matched);
  EXPECT_EQ(matched->items.size(), 111u);  // f19, f190..f199, f1900..f1999
  EXPECT_TRUE(matched->done());
  EXPECT_TRUE(call<ScanPage<FieldValue>>([&](auto cb) { c().hscan("nokey", 0, std::move(cb)); })->items.empty());
}

TEST_F(CommandsHashes, WrongTypeIsAServerError) {
  raw({"SET", "s", "v"});
  EXPECT_TRUE(is_server_error(call<OptStr>([&](auto cb) { c().hget("s", "f", std::move(cb)); }), "WRONGTYPE"));
  EXPECT_TRUE(is_server_error(call<FieldMap>([&](auto cb) { c().hgetall("s", std::move(cb)); }), "WRONGTYPE"));
  EXPECT_TRUE(is_server_error(call<long long>([&](auto cb) { c().hset("s", "f", "v", std::move(cb)); }), "WRONGTYPE"));
}

TEST_F(CommandsHashes, BinaryFieldsAndValues) {
  const std::string field("f\0\r\n", 4);
  const std::string value("\r\n\0v\xff", 5);
  ASSERT_TRUE(call<long long>([&](auto cb) { c().hset("h", {{field, value}, {"plain", ""}}, std::move(cb)); }));
  auto all = call<FieldMap>([&](auto cb) { c().hgetall("h", std::move(cb)); });
  ASSERT_TRUE(all);
  EXPECT_EQ(all->at(field), value);
  EXPECT_EQ(all->at("plain"), "");
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().hget("h", field, std::move(cb)); }), value);
}

// Seed-style scenario: a user profile kept in one hash.
TEST_F(CommandsHashes, UserProfileScenario) {
  const std::string key = "user:1001";
  ASSERT_TRUE(call<long long>([&](auto cb) {
    c().hset(key, {{"name", "Ada"}, {"email", "ada@example.com"}, {"logins", "0"}, {"balance", "10"}}, std::move(cb));
  }));
  // Three logins, one after another, plus a purchase.
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(*call<long long>([&](auto cb) { c().hincrby(key, "logins", 1, std::move(cb)); }), i);
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().hincrbyfloat(key, "balance", -2.5, std::move(cb)); }), 7.5);
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().hsetnx(key, "created", "2024-01-01", std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().hsetnx(key, "created", "2025-01-01", std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hset(key, "email", "ada@lovelace.org", std::move(cb)); }), 0);

  auto card = call<std::vector<OptStr>>([&](auto cb) { c().hmget(key, {"name", "email", "phone"}, std::move(cb)); });
  EXPECT_EQ(*card, (std::vector<OptStr>{"Ada", "ada@lovelace.org", std::nullopt}));
  auto profile = call<FieldMap>([&](auto cb) { c().hgetall(key, std::move(cb)); });
  ASSERT_TRUE(profile);
  EXPECT_EQ(*profile, (FieldMap{{"name", "Ada"},
                                {"email", "ada@lovelace.org"},
                                {"logins", "3"},
                                {"balance", "7.5"},
                                {"created", "2024-01-01"}}));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hdel(key, "email", std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().hlen(key, std::move(cb)); }), 4);
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().expire(key, 3600s, std::move(cb)); }));
  EXPECT_TRUE(call<Ttl>([&](auto cb) { c().ttl(key, std::move(cb)); })->expires());
}
