// Set commands against a real redis-server.
#include "support/commands_fixture.hpp"

#include <climits>
#include <set>

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

using CommandsSets = CommandsTest;

namespace {
std::set<std::string> as_set(const Strs& v) { return {v.begin(), v.end()}; }
using S = std::set<std::string>;
}  // namespace

TEST_F(CommandsSets, AddRemoveMembersAndCardinality) {
  EXPECT_EQ(*call<long long>([&](auto cb) { c().sadd("s", {"a", "b", "a", "c"}, std::move(cb)); }), 3);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().sadd("s", "a", std::move(cb)); }), 0);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().scard("s", std::move(cb)); }), 3);
  EXPECT_EQ(as_set(*call<Strs>([&](auto cb) { c().smembers("s", std::move(cb)); })), (S{"a", "b", "c"}));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().sismember("s", "b", std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().sismember("s", "z", std::move(cb)); }));
  EXPECT_EQ(*call<std::vector<bool>>([&](auto cb) { c().smismember("s", {"a", "z", "c"}, std::move(cb)); }),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().srem("s", {"a", "z"}, std::move(cb)); }), 1);
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().sadd("s", Strs{}, std::move(cb)); }), "SADD"));
}

TEST_F(CommandsSets, AbsentSetsAreEmpty) {
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().smembers("none", std::move(cb)); })->empty());
  EXPECT_EQ(*call<long long>([&](auto cb) { c().scard("none", std::move(cb)); }), 0);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().spop("none", std::move(cb)); }), std::nullopt);
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().spop("none", 5, std::move(cb)); })->empty());
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().srandmember("none", std::move(cb)); }), std::nullopt);
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().srandmember("none", -5, std::move(cb)); })->empty());
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().smove("none", "dst", "m", std::move(cb)); }));
  EXPECT_EQ(*call<std::vector<bool>>([&](auto cb) { c().smismember("none", {"a"}, std::move(cb)); }),
            (std::vector<bool>{false}));
}

TEST_F(CommandsSets, PopAndRandomMembers) {
  raw({"SADD", "s", "a", "b", "c", "d"});
  auto one = call<OptStr>([&](auto cb) { c().srandmember("s", std::move(cb)); });
  ASSERT_TRUE(one && *one);
  EXPECT_EQ(as_set(*call<Strs>([&](auto cb) { c().srandmember("s", 100, std::move(cb)); })), (S{"a", "b", "c", "d"}));
  EXPECT_EQ(call<Strs>([&](auto cb) { c().srandmember("s", -9, std::move(cb)); })->size(), 9u);  // repeats
  EXPECT_EQ(*call<long long>([&](auto cb) { c().scard("s", std::move(cb)); }), 4);  // nothing removed
  auto popped = call<OptStr>([&](auto cb) { c().spop("s", std::move(cb)); });
  ASSERT_TRUE(popped && *popped);
  auto rest = call<Strs>([&](auto cb) { c().spop("s", LLONG_MAX, std::move(cb)); });
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->size(), 3u);
  EXPECT_FALSE(as_set(*rest).contains(**popped));
  EXPECT_EQ(raw({"EXISTS", "s"}), "0");
  EXPECT_TRUE(is_usage_error(call<Strs>([&](auto cb) { c().spop("s", -1, std::move(cb)); }), "negative"));
}

TEST_F(CommandsSets, Smove) {
  raw({"SADD", "src", "m", "n"});
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().smove("src", "dst", "m", std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().smove("src", "dst", "m", std::move(cb)); }));
  EXPECT_EQ(raw({"SMEMBERS", "dst"}), "m");
}

TEST_F(CommandsSets, SscanWalksABigSet) {
  Strs members;
  for (int i = 0; i < 3000; ++i) members.push_back("m" + std::to_string(i));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().sadd("big", members, std::move(cb)); }), 3000);
  S seen;
  std::uint64_t cursor = 0;
  int steps = 0;
  do {
    auto p = call<ScanPage<std::string>>([&](auto cb) { c().sscan("big", cursor, {.count = 250}, std::move(cb)); });
    ASSERT_TRUE(p) << p.error().to_string();
    seen.insert(p->items.begin(), p->items.end());
    cursor = p->cursor;
    ++steps;
  } while (cursor != 0);
  EXPECT_EQ(seen.size(), 3000u);
  EXPECT_GT(steps, 3);
  auto small = call<ScanPage<std::string>>([&](auto cb) { c().sscan("none", 0, {.match = "m1*"}, std::move(cb)); });
  ASSERT_TRUE(small);
  EXPECT_TRUE(small->done());
  EXPECT_TRUE(small->items.empty());
}

TEST_F(CommandsSets, WrongTypeAndBinaryMembers) {
  raw({"SET", "str", "v"});
  EXPECT_TRUE(is_server_error(call<long long>([&](auto cb) { c().sadd("str", "m", std::move(cb)); }), "WRONGTYPE"));
  EXPECT_TRUE(is_server_error(call<Strs>([&](auto cb) { c().sunion({"str", "x"}, std::move(cb)); }), "WRONGTYPE"));
  const std::string m1("\0", 1), m2("a\r\nb");
  EXPECT_EQ(*call<long long>([&](auto cb) { c().sadd("b", {std::string_view(m1), std::string_view(m2)}, std::move(cb)); }),
            2);
  EXPECT_EQ(as_set(*call<Strs>([&](auto cb) { c().smembers("b", std::move(cb)); })), (S{m1, m2}));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().sismember("b", m1, std::move(cb)); }));
}

// Seed-style scenario: articles tagged with sets, queried by combination.
TEST_F(CommandsSets, TagSetsScenario) {
  ASSERT_TRUE(call<long long>([&](auto cb) { c().sadd("tag:redis", {"a1", "a2", "a3", "a5"}, std::move(cb)); }));
  ASSERT_TRUE(call<long long>([&](auto cb) { c().sadd("tag:cpp", {"a2", "a3", "a4"}, std::move(cb)); }));
  ASSERT_TRUE(call<long long>([&](auto cb) { c().sadd("tag:libuv", {"a3", "a4", "a6"}, std::move(cb)); }));

  EXPECT_EQ(as_set(*call<Strs>([&](auto cb) { c().sunion({"tag:redis", "tag:cpp"}, std::move(cb)); })),
            (S{"a1", "a2", "a3", "a4", "a5"}));
  EXPECT_EQ(as_set(*call<Strs>([&](auto cb) { c().sinter({"tag:redis", "tag:cpp", "tag:libuv"}, std::move(cb)); })),
            (S{"a3"}));
  EXPECT_EQ(as_set(*call<Strs>([&](auto cb) { c().sdiff({"tag:redis", "tag:cpp"}, std::move(cb)); })),
            (S{"a1", "a5"}));
  // An absent key is an empty set: it empties an intersection, not a union.
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().sinter({"tag:redis", "tag:none"}, std::move(cb)); })->empty());
  EXPECT_EQ(call<Strs>([&](auto cb) { c().sunion({"tag:redis", "tag:none"}, std::move(cb)); })->size(), 4u);

  EXPECT_EQ(*call<long long>([&](auto cb) { c().sunionstore("q:any", {"tag:cpp", "tag:libuv"}, std::move(cb)); }), 4);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().sinterstore("q:all", {"tag:cpp", "tag:libuv"}, std::move(cb)); }), 2);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().sdiffstore("q:only", {"tag:libuv", "tag:cpp"}, std::move(cb)); }), 1);
  EXPECT_EQ(raw({"SMEMBERS", "q:only"}), "a6");
  EXPECT_EQ(*call<long long>([&](auto cb) { c().sintercard({"tag:redis", "tag:cpp"}, std::move(cb)); }), 2);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().sintercard({"tag:redis", "tag:cpp"}, 1, std::move(cb)); }), 1);
  EXPECT_TRUE(is_usage_error(call<Strs>([&](auto cb) { c().sinter(Strs{}, std::move(cb)); }), "SINTER"));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().sintercard({"a"}, -1, std::move(cb)); }), "LIMIT"));
  // Storing an empty result removes the destination.
  EXPECT_EQ(*call<long long>([&](auto cb) { c().sinterstore("q:all", {"tag:cpp", "tag:none"}, std::move(cb)); }), 0);
  EXPECT_EQ(raw({"EXISTS", "q:all"}), "0");
}
