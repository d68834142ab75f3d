// Sorted-set commands against a real redis-server.
#include "support/commands_fixture.hpp"

#include <climits>
#include <cmath>
#include <limits>
#include <map>
#include <set>

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

using CommandsZsets = CommandsTest;
using Scored = std::vector<ScoredMember>;
using OptD = std::optional<double>;

namespace {
const double inf = std::numeric_limits<double>::infinity();
}  // namespace

TEST_F(CommandsZsets, ZaddOptions) {
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zadd("z", {{"a", 1}, {"b", 2}}, std::move(cb)); }), 2);
  auto zadd = [&](std::string_view m, double s, ZAddOptions o) {
    return *call<long long>([&](auto cb) { c().zadd("z", {{m, s}}, o, std::move(cb)); });
  };
  EXPECT_EQ(zadd("a", 5, {.condition = WriteCondition::nx}), 0);
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zscore("z", "a", std::move(cb)); }), 1.0);
  EXPECT_EQ(zadd("c", 3, {.condition = WriteCondition::xx}), 0);
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zscore("z", "c", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(zadd("a", 0.5, {.compare = ScoreCompare::gt, .changed = true}), 0);  // lower: no change
  EXPECT_EQ(zadd("a", 7, {.compare = ScoreCompare::gt, .changed = true}), 1);
  EXPECT_EQ(zadd("b", 1, {.condition = WriteCondition::xx, .compare = ScoreCompare::lt, .changed = true}), 1);
  EXPECT_EQ(*call<Scored>([&](auto cb) { c().zrange_withscores("z", ZRange::by_rank(0, -1), std::move(cb)); }),
            (Scored{{"b", 1}, {"a", 7}}));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().zadd("z", {{"x", std::nan("")}}, std::move(cb)); }),
                             "NaN"));
  EXPECT_EQ(raw({"ZSCORE", "z", "x"}), "(nil)");
}

TEST_F(CommandsZsets, ZaddIncrAndZincrby) {
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zadd_incr("z", "m", 2.5, std::move(cb)); }), 2.5);
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zadd_incr("z", "m", 1, {.condition = WriteCondition::nx}, std::move(cb)); }),
            std::nullopt);
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zadd_incr("z", "m", -1, {.compare = ScoreCompare::gt}, std::move(cb)); }),
            std::nullopt);
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().zincrby("z", 0.25, "m", std::move(cb)); }), 2.75);
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().zincrby("z", -10, "new", std::move(cb)); }), -10);
}

TEST_F(CommandsZsets, ScoresIncludingInfinities) {
  ASSERT_TRUE(call<long long>([&](auto cb) { c().zadd("z", {{"lo", -inf}, {"mid", 0.1}, {"hi", inf}}, std::move(cb)); }));
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zscore("z", "lo", std::move(cb)); }), -inf);
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zscore("z", "hi", std::move(cb)); }), inf);
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zscore("z", "mid", std::move(cb)); }), 0.1);  // exact round trip
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zscore("z", "none", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zscore("nokey", "x", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<std::vector<OptD>>([&](auto cb) { c().zmscore("z", {"hi", "none", "mid"}, std::move(cb)); }),
            (std::vector<OptD>{inf, std::nullopt, 0.1}));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zcount("z", ScoreBound::neg_inf(), ScoreBound::pos_inf(), std::move(cb)); }), 3);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zcount("z", ScoreBound::exclusive(-inf), ScoreBound::exclusive(inf), std::move(cb)); }), 3);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zcount("z", ScoreBound::exclusive(0.1), inf, std::move(cb)); }), 1);
}

TEST_F(CommandsZsets, ZrangeByRankScoreAndLex) {
  ASSERT_TRUE(call<long long>([&](auto cb) {
    c().zadd("z", {{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}}, std::move(cb));
  }));
  auto range = [&](const ZRange& q) { return *call<Strs>([&](auto cb) { c().zrange("z", q, std::move(cb)); }); };
  EXPECT_EQ(range(ZRange::by_rank(0, 1)), (Strs{"a", "b"}));
  EXPECT_EQ(range(ZRange::by_rank(0, 1).rev()), (Strs{"e", "d"}));
  EXPECT_EQ(range(ZRange::by_rank(-2, -1)), (Strs{"d", "e"}));
  EXPECT_EQ(range(ZRange::by_score(2, 4)), (Strs{"b", "c", "d"}));
  EXPECT_EQ(range(ZRange::by_score(ScoreBound::exclusive(2), ScoreBound::exclusive(4))), (Strs{"c"}));
  EXPECT_EQ(range(ZRange::by_score(2, 4).rev()), (Strs{"d", "c", "b"}));
  EXPECT_EQ(range(ZRange::by_score(ScoreBound::neg_inf(), ScoreBound::pos_inf()).limit(1, 2)), (Strs{"b", "c"}));
  EXPECT_EQ(range(ZRange::by_score(ScoreBound::neg_inf(), 3).rev().limit(0, 1)), (Strs{"c"}));
  EXPECT_TRUE(range(ZRange::by_score(10, 20)).empty());
  EXPECT_EQ(*call<Scored>([&](auto cb) { c().zrange_withscores("z", ZRange::by_score(4, inf), std::move(cb)); }),
            (Scored{{"d", 4}, {"e", 5}}));

  raw({"ZADD", "lex", "0", "apple", "0", "banana", "0", "cherry", "0", "date"});
  auto lex = [&](const ZRange& q) { return *call<Strs>([&](auto cb) { c().zrange("lex", q, std::move(cb)); }); };
  EXPECT_EQ(lex(ZRange::by_lex(LexBound::inclusive("b"), LexBound::exclusive("d"))), (Strs{"banana", "cherry"}));
  EXPECT_EQ(lex(ZRange::by_lex(LexBound::min(), LexBound::inclusive("banana")).rev()), (Strs{"banana", "apple"}));
  EXPECT_EQ(lex(ZRange::by_lex(LexBound::min(), LexBound::max()).limit(1, 2)), (Strs{"banana", "cherry"}));
  EXPECT_TRUE(is_usage_error(
      call<Scored>([&](auto cb) { c().zrange_withscores("lex", ZRange::by_lex(LexBound::min(), LexBound::max()), std::move(cb)); }),
      "WITHSCORES"));
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().zrange("nokey", ZRange::by_rank(0, -1), std::move(cb)); })->empty());
}

TEST_F(CommandsZsets, LegacyRangeCommands) {
  raw({"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"});
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().zrevrange("z", 0, 1, std::move(cb)); }), (Strs{"d", "c"}));
  EXPECT_EQ(*call<Scored>([&](auto cb) { c().zrevrange_withscores("z", 0, 0, std::move(cb)); }), (Scored{{"d", 4}}));
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().zrangebyscore("z", ScoreBound::exclusive(1), 3, std::move(cb)); }),
            (Strs{"b", "c"}));
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().zrangebyscore("z", ScoreBound::neg_inf(), ScoreBound::pos_inf(), Limit{1, 2}, std::move(cb)); }),
            (Strs{"b", "c"}));
  EXPECT_EQ(*call<Scored>([&](auto cb) { c().zrangebyscore_withscores("z", 3, inf, std::move(cb)); }),
            (Scored{{"c", 3}, {"d", 4}}));
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().zrevrangebyscore("z", 3, 1, std::move(cb)); }), (Strs{"c", "b", "a"}));
  EXPECT_EQ(*call<Scored>([&](auto cb) { c().zrevrangebyscore_withscores("z", inf, -inf, Limit{0, 1}, std::move(cb)); }),
            (Scored{{"d", 4}}));
}

TEST_F(CommandsZsets, RanksRemovalsAndCounts) {
  raw({"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"});
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().zrank("z", "c", std::move(cb)); }), 2);
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().zrevrank("z", "c", std::move(cb)); }), 2);
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().zrevrank("z", "e", std::move(cb)); }), 0);
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().zrank("z", "zz", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().zrank("nokey", "a", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zcard("z", std::move(cb)); }), 5);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zcard("nokey", std::move(cb)); }), 0);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zcount("z", 2, ScoreBound::exclusive(4), std::move(cb)); }), 2);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zrem("z", {"a", "zz"}, std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zremrangebyscore("z", ScoreBound::exclusive(4), inf, std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zremrangebyrank("z", 0, 0, std::move(cb)); }), 1);
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().zrange("z", ZRange::by_rank(0, -1), std::move(cb)); }), (Strs{"c", "d"}));
}

TEST_F(CommandsZsets, PopsAndBlockingPops) {
  EXPECT_EQ(*call<std::optional<ScoredMember>>([&](auto cb) { c().zpopmin("nokey", std::move(cb)); }), std::nullopt);
  EXPECT_TRUE(call<Scored>([&](auto cb) { c().zpopmax("nokey", 3, std::move(cb)); })->empty());
  raw({"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"});
  EXPECT_EQ(*call<std::optional<ScoredMember>>([&](auto cb) { c().zpopmin("z", std::move(cb)); }), (ScoredMember{"a", 1}));
  EXPECT_EQ(*call<std::optional<ScoredMember>>([&](auto cb) { c().zpopmax("z", std::move(cb)); }), (ScoredMember{"d", 4}));
  EXPECT_EQ(*call<Scored>([&](auto cb) { c().zpopmax("z", LLONG_MAX, std::move(cb)); }), (Scored{{"c", 3}, {"b", 2}}));
  EXPECT_TRUE(is_usage_error(call<Scored>([&](auto cb) { c().zpopmin("z", -1, std::move(cb)); }), "negative"));

  reset_client([](ClientOptions& o) { o.command_timeout = 200ms; });
  auto none = call<std::optional<KeyedMember>>([&](auto cb) { c().bzpopmin({"z", "z2"}, 500ms, std::move(cb)); });
  ASSERT_TRUE(none) << none.error().to_string();
  EXPECT_EQ(*none, std::nullopt);

  std::optional<Result<std::optional<KeyedMember>>> got;
  c().bzpopmax({"z", "z2"}, 5s, catcher<std::optional<KeyedMember>>(got));
  loop_.run_for(50ms);
  ASSERT_TRUE(call<long long>([&](auto cb) { c().zadd("z2", {{"x", 1}, {"y", 9}}, std::move(cb)); }));
  ASSERT_TRUE(wait([&] { return got.has_value(); }));
  ASSERT_TRUE(*got);
  EXPECT_EQ(**got, (KeyedMember{"z2", "y", 9}));
}

TEST_F(CommandsZsets, RandomMembersAndZscan) {
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().zrandmember("nokey", std::move(cb)); }), std::nullopt);
  std::map<std::string, double> members;
  for (int i = 0; i < 1000; ++i) members["m" + std::to_string(i)] = i * 0.5;
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zadd("z", members, std::move(cb)); }), 1000);
  EXPECT_TRUE(call<OptStr>([&](auto cb) { c().zrandmember("z", std::move(cb)); })->has_value());
  EXPECT_EQ(call<Strs>([&](auto cb) { c().zrandmember("z", 10, std::move(cb)); })->size(), 10u);
  EXPECT_EQ(call<Strs>([&](auto cb) { c().zrandmember("z", 5000, std::move(cb)); })->size(), 1000u);
  auto ws = call<Scored>([&](auto cb) { c().zrandmember_withscores("z", -20, std::move(cb)); });
  ASSERT_TRUE(ws);
  EXPECT_EQ(ws->size(), 20u);
  for (const auto& m : *ws) EXPECT_EQ(members.at(m.member), m.score);

  std::map<std::string, double> seen;
  std::uint64_t cursor = 0;
  do {
    auto p = call<ScanPage<ScoredMember>>([&](auto cb) { c().zscan("z", cursor, {.count = 100}, std::move(cb)); });
    ASSERT_TRUE(p) << p.error().to_string();
    for (auto& m : p->items) seen[m.member] = m.score;
    cursor = p->cursor;
  } while (cursor != 0);
  EXPECT_EQ(seen, members);
}

TEST_F(CommandsZsets, WrongTypeAndBinaryMembers) {
  raw({"SET", "s", "v"});
  EXPECT_TRUE(is_server_error(call<long long>([&](auto cb) { c().zadd("s", {{"m", 1}}, std::move(cb)); }), "WRONGTYPE"));
  EXPECT_TRUE(is_server_error(call<OptD>([&](auto cb) { c().zscore("s", "m", std::move(cb)); }), "WRONGTYPE"));
  const std::string m("\0\r\n\xff", 4);
  ASSERT_TRUE(call<long long>([&](auto cb) { c().zadd("z", {{std::string_view(m), 1.5}}, std::move(cb)); }));
  EXPECT_EQ(*call<Scored>([&](auto cb) { c().zrange_withscores("z", ZRange::by_rank(0, -1), std::move(cb)); }),
            (Scored{{m, 1.5}}));
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zscore("z", m, std::move(cb)); }), 1.5);
}

// Seed-style scenario: a game leaderboard.
TEST_F(CommandsZsets, LeaderboardScenario) {
  const std::string board = "leaderboard:season1";
  std::map<std::string, double> initial{{"ann", 1200}, {"bob", 950}, {"cid", 1100}, {"dee", 800}, {"eve", 1000}};
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zadd(board, initial, std::move(cb)); }), 5);
  // A round of matches.
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().zincrby(board, 300, "bob", std::move(cb)); }), 1250);
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().zincrby(board, -150, "ann", std::move(cb)); }), 1050);
  EXPECT_DOUBLE_EQ(*call<double>([&](auto cb) { c().zincrby(board, 25.5, "dee", std::move(cb)); }), 825.5);
  // A new player joins without overwriting anyone.
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zadd(board, {{"fay", 1100}, {"ann", 0}}, {.condition = WriteCondition::nx}, std::move(cb)); }), 1);

  auto top3 = call<Scored>([&](auto cb) { c().zrevrange_withscores(board, 0, 2, std::move(cb)); });
  ASSERT_TRUE(top3) << top3.error().to_string();
  // Equal scores order by member, reversed with ZREVRANGE: fay before cid.
  EXPECT_EQ(*top3, (Scored{{"bob", 1250}, {"fay", 1100}, {"cid", 1100}}));
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().zrevrank(board, "ann", std::move(cb)); }), 3);
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().zrevrank(board, "zed", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zcount(board, 1000, ScoreBound::pos_inf(), std::move(cb)); }), 5);
  auto bottom = call<Scored>([&](auto cb) { c().zrange_withscores(board, ZRange::by_rank(0, 0), std::move(cb)); });
  EXPECT_EQ(*bottom, (Scored{{"dee", 825.5}}));
  // Season end: drop everyone under 1000, keep the top 3.
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zremrangebyscore(board, ScoreBound::neg_inf(), ScoreBound::exclusive(1000), std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zremrangebyrank(board, 0, -4, std::move(cb)); }), 2);
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().zrange(board, ZRange::by_rank(0, -1).rev(), std::move(cb)); }),
            (Strs{"bob", "fay", "cid"}));
  // Archive the final standings: a WITHSCORES result can be written back as is.
  auto final_board = call<Scored>([&](auto cb) { c().zrange_withscores(board, ZRange::by_rank(0, -1), std::move(cb)); });
  ASSERT_TRUE(final_board);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().zadd("archive:season1", *final_board, std::move(cb)); }), 3);
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().zscore("archive:season1", "bob", std::move(cb)); }), 1250);
}
