// String commands against a real redis-server.
#include "support/commands_fixture.hpp"

#include <climits>
#include <cmath>
#include <limits>

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

using CommandsStrings = CommandsTest;

TEST_F(CommandsStrings, GetOfAnAbsentKeyIsAnEmptyOptional) {
  auto r = call<OptStr>([&](auto cb) { c().get("missing", std::move(cb)); });
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, std::nullopt);
}

TEST_F(CommandsStrings, SetThenGetRoundTrips) {
  auto s = call<bool>([&](auto cb) { c().set("k", "v", std::move(cb)); });
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_TRUE(*s);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().get("k", std::move(cb)); }), "v");
  // Empty values are values, not absence.
  ASSERT_TRUE(call<bool>([&](auto cb) { c().set("e", "", std::move(cb)); }));
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().get("e", std::move(cb)); }), "");
}

TEST_F(CommandsStrings, SetConditionsReportWhetherTheyWrote) {
  auto nx = [&](std::string_view v) {
    return call<bool>([&](auto cb) { c().set("k", v, {.condition = WriteCondition::nx}, std::move(cb)); });
  };
  auto xx = [&](std::string_view k) {
    return call<bool>([&](auto cb) { c().set(k, "x", {.condition = WriteCondition::xx}, std::move(cb)); });
  };
  EXPECT_TRUE(*nx("first"));
  EXPECT_FALSE(*nx("second"));
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().get("k", std::move(cb)); }), "first");
  EXPECT_FALSE(*xx("absent"));
  EXPECT_TRUE(*xx("k"));
  EXPECT_EQ(raw({"EXISTS", "absent"}), "0");
}

TEST_F(CommandsStrings, SetExpiryOptions) {
  ASSERT_TRUE(call<bool>([&](auto cb) { c().set("k", "v", {.ttl = 100s}, std::move(cb)); }));
  long long pttl = server().cmd_int({"PTTL", "k"});
  EXPECT_GT(pttl, 98'000);
  EXPECT_LE(pttl, 100'000);
  ASSERT_TRUE(call<bool>([&](auto cb) { c().set("k", "w", {.keep_ttl = true}, std::move(cb)); }));
  EXPECT_GT(server().cmd_int({"PTTL", "k"}), 98'000);
  ASSERT_TRUE(call<bool>([&](auto cb) { c().set("k", "z", std::move(cb)); }));
  EXPECT_EQ(server().cmd_int({"PTTL", "k"}), -1);  // a plain SET clears the expiry

  ASSERT_TRUE(call<bool>([&](auto cb) { c().set("p", "v", {.ttl = 1500ms}, std::move(cb)); }));
  pttl = server().cmd_int({"PTTL", "p"});
  EXPECT_GT(pttl, 1000);
  EXPECT_LE(pttl, 1500);

  const auto at = std::chrono::system_clock::now() + 60s;
  ASSERT_TRUE(call<bool>([&](auto cb) { c().set("a", "v", {.expire_at = at}, std::move(cb)); }));
  EXPECT_GT(server().cmd_int({"TTL", "a"}), 55);
}

TEST_F(CommandsStrings, SetRefusesBadExpiryBeforeSending) {
  auto r = call<bool>([&](auto cb) { c().set("k", "v", {.ttl = -1s}, std::move(cb)); });
  EXPECT_TRUE(is_usage_error(r, "expiry must be positive"));
  EXPECT_EQ(raw({"EXISTS", "k"}), "0");
  EXPECT_EQ(c().stats().sent, 0u);
}

TEST_F(CommandsStrings, SetGetYieldsThePreviousValue) {
  auto first = call<OptStr>([&](auto cb) { c().set_get("k", "one", std::move(cb)); });
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_EQ(*first, std::nullopt);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().set_get("k", "two", {.ttl = 10s}, std::move(cb)); }), "one");
  EXPECT_EQ(raw({"GET", "k"}), "two");
  raw({"RPUSH", "list", "x"});
  EXPECT_TRUE(is_server_error(call<OptStr>([&](auto cb) { c().set_get("list", "v", std::move(cb)); }), "WRONGTYPE"));
}

TEST_F(CommandsStrings, GetdelAndGetex) {
  raw({"SET", "k", "v"});
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().getdel("k", std::move(cb)); }), "v");
  EXPECT_EQ(raw({"EXISTS", "k"}), "0");
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().getdel("k", std::move(cb)); }), std::nullopt);

  raw({"SET", "g", "v"});
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().getex("g", {.ttl = 50s}, std::move(cb)); }), "v");
  EXPECT_GT(server().cmd_int({"TTL", "g"}), 45);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().getex("g", {.persist = true}, std::move(cb)); }), "v");
  EXPECT_EQ(server().cmd_int({"TTL", "g"}), -1);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().getex("none", {}, std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().getex("g", std::move(cb)); }), "v");
}

TEST_F(CommandsStrings, SetexPsetexAndSetnx) {
  ASSERT_TRUE(call<void>([&](auto cb) { c().setex("s", 5s, "v", std::move(cb)); }));
  EXPECT_EQ(server().cmd_int({"TTL", "s"}), 5);
  ASSERT_TRUE(call<void>([&](auto cb) { c().setex("p", 1500ms, "v", std::move(cb)); }));
  EXPECT_GT(server().cmd_int({"PTTL", "p"}), 1000);
  EXPECT_TRUE(is_usage_error(call<void>([&](auto cb) { c().setex("z", 0s, "v", std::move(cb)); }), "positive"));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().setnx("n", "1", std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().setnx("n", "2", std::move(cb)); }));
  EXPECT_EQ(raw({"GET", "n"}), "1");
}

TEST_F(CommandsStrings, MsetMsetnxAndMget) {
  ASSERT_TRUE(call<void>([&](auto cb) { c().mset({{"a", "1"}, {"b", "2"}}, std::move(cb)); }));
  raw({"RPUSH", "list", "x"});
  auto m = call<std::vector<OptStr>>([&](auto cb) { c().mget({"a", "missing", "list", "b"}, std::move(cb)); });
  ASSERT_TRUE(m) << m.error().to_string();
  // A key of another type reads as absent in MGET (no WRONGTYPE).
  EXPECT_EQ(*m, (std::vector<OptStr>{"1", std::nullopt, std::nullopt, "2"}));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().msetnx({{"a", "x"}, {"c", "3"}}, std::move(cb)); }));
  EXPECT_EQ(raw({"EXISTS", "c"}), "0");
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().msetnx({{"c", "3"}, {"d", "4"}}, std::move(cb)); }));
}

TEST_F(CommandsStrings, EmptyKeyListIsAUsageErrorOnALaterTurn) {
  std::vector<std::string> none;
  auto r = call<std::vector<OptStr>>([&](auto cb) { c().mget(none, std::move(cb)); });
  EXPECT_TRUE(is_usage_error(r, "MGET: the list of keys is empty"));
  auto m = call<void>([&](auto cb) { c().mset(std::vector<std::pair<std::string, std::string>>{}, std::move(cb)); });
  EXPECT_TRUE(is_usage_error(m, "MSET"));
}

TEST_F(CommandsStrings, MgetOfTenThousandKeys) {
  const int n = 10000;
  std::vector<std::pair<std::string, std::string>> kv;
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) {
    kv.emplace_back("key:" + std::to_string(i), "value:" + std::to_string(i));
    keys.push_back(kv.back().first);
  }
  keys.push_back("key:absent");
  ASSERT_TRUE(call<void>([&](auto cb) { c().mset(kv, std::move(cb)); }));
  auto m = call<std::vector<OptStr>>([&](auto cb) { c().mget(keys, std::move(cb)); });
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), static_cast<std::size_t>(n + 1));
  EXPECT_EQ((*m)[1234], "value:1234");
  EXPECT_EQ(m->back(), std::nullopt);
}

TEST_F(CommandsStrings, CountersAndFloats) {
  EXPECT_EQ(*call<long long>([&](auto cb) { c().incr("n", std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().incrby("n", 41, std::move(cb)); }), 42);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().decr("n", std::move(cb)); }), 41);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().decrby("n", 50, std::move(cb)); }), -9);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().incrby("n", -1, std::move(cb)); }), -10);
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().incrbyfloat("f", 0.5, std::move(cb)); }), 0.5);
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().incrbyfloat("f", -2.25, std::move(cb)); }), -1.75);
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().incrbyfloat("n", 0.5, std::move(cb)); }), -9.5);
}

TEST_F(CommandsStrings, CounterErrorsAreServerErrors) {
  raw({"SET", "text", "abc"});
  EXPECT_TRUE(is_server_error(call<long long>([&](auto cb) { c().incr("text", std::move(cb)); }), "ERR"));
  raw({"SET", "max", std::to_string(LLONG_MAX)});
  EXPECT_TRUE(is_server_error(call<long long>([&](auto cb) { c().incr("max", std::move(cb)); }), "ERR"));
  raw({"SADD", "set", "m"});
  EXPECT_TRUE(is_server_error(call<long long>([&](auto cb) { c().incr("set", std::move(cb)); }), "WRONGTYPE"));
  EXPECT_TRUE(is_server_error(call<OptStr>([&](auto cb) { c().get("set", std::move(cb)); }), "WRONGTYPE"));
  EXPECT_TRUE(is_server_error(
      call<double>([&](auto cb) { c().incrbyfloat("f", std::numeric_limits<double>::infinity(), std::move(cb)); }),
      "ERR"));
  EXPECT_TRUE(is_usage_error(call<double>([&](auto cb) { c().incrbyfloat("f", std::nan(""), std::move(cb)); }),
                             "NaN"));
}

TEST_F(CommandsStrings, AppendStrlenGetrangeSetrange) {
  EXPECT_EQ(*call<long long>([&](auto cb) { c().append("s", "Hello", std::move(cb)); }), 5);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().append("s", " World", std::move(cb)); }), 11);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().strlen("s", std::move(cb)); }), 11);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().strlen("absent", std::move(cb)); }), 0);
  EXPECT_EQ(*call<std::string>([&](auto cb) { c().getrange("s", 0, 4, std::move(cb)); }), "Hello");
  EXPECT_EQ(*call<std::string>([&](auto cb) { c().getrange("s", -5, -1, std::move(cb)); }), "World");
  EXPECT_EQ(*call<std::string>([&](auto cb) { c().getrange("absent", 0, -1, std::move(cb)); }), "");
  EXPECT_EQ(*call<long long>([&](auto cb) { c().setrange("s", 6, "Redis", std::move(cb)); }), 11);
  EXPECT_EQ(raw({"GET", "s"}), "Hello Redis");
  // Past the end: zero-padded.
  EXPECT_EQ(*call<long long>([&](auto cb) { c().setrange("pad", 3, "x", std::move(cb)); }), 4);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().get("pad", std::move(cb)); }), std::string("\0\0\0x", 4));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().setrange("s", -1, "x", std::move(cb)); }),
                             "offset"));
}

TEST_F(CommandsStrings, BinaryKeysAndValuesRoundTrip) {
  const std::string key("bin\0key\r\n", 9);
  std::string value;
  for (int rep = 0; rep < 4096; ++rep)
    for (int b = 0; b < 256; ++b) value.push_back(static_cast<char>(b));  // 1 MiB, every byte value
  value += "\r\n$-1\r\n*0\r\n";  // protocol look-alikes inside a value
  ASSERT_TRUE(call<bool>([&](auto cb) { c().set(key, value, std::move(cb)); }));
  auto g = call<OptStr>([&](auto cb) { c().get(key, std::move(cb)); });
  ASSERT_TRUE(g && *g);
  EXPECT_EQ(g->value().size(), value.size());
  EXPECT_TRUE(**g == value);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().strlen(key, std::move(cb)); }), static_cast<long long>(value.size()));
  auto m = call<std::vector<OptStr>>([&](auto cb) { c().mget({std::string_view(key), "x"}, std::move(cb)); });
  ASSERT_TRUE(m);
  EXPECT_TRUE((*m)[0] == value);
}
