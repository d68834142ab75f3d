// Decoders without a server: reply shapes in, typed results out.
#include <uvredis/decode.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace uvredis;

namespace {

Reply s(std::string v) { return Reply::string(std::move(v)); }
Reply i(long long v) { return Reply::integer(v); }
Reply arr(std::vector<Reply> v) { return Reply::array(std::move(v)); }
Result<Reply> ok(Reply r) { return r; }

}  // namespace

TEST(CommandsDecode, ParseDoubleAcceptsRedisSpellings) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(decode::parse_double("1.5"), 1.5);
  EXPECT_EQ(decode::parse_double("-0.25"), -0.25);
  EXPECT_EQ(decode::parse_double("inf"), inf);
  EXPECT_EQ(decode::parse_double("+inf"), inf);
  EXPECT_EQ(decode::parse_double("-inf"), -inf);
  EXPECT_EQ(decode::parse_double("1e+20"), 1e20);
  EXPECT_EQ(decode::parse_double("17"), 17.0);
  EXPECT_FALSE(decode::parse_double(""));
  EXPECT_FALSE(decode::parse_double("+"));
  EXPECT_FALSE(decode::parse_double("++1"));
  EXPECT_FALSE(decode::parse_double("1.5x"));
  EXPECT_FALSE(decode::parse_double("abc"));
}

TEST(CommandsDecode, ScalarsAndNil) {
  EXPECT_EQ(*decode::optional_integer(ok(Reply())), std::nullopt);
  EXPECT_EQ(*decode::optional_integer(ok(i(3))), 3);
  EXPECT_EQ(*decode::floating(ok(s("2.5"))), 2.5);
  EXPECT_EQ(*decode::floating(ok(i(4))), 4.0);
  EXPECT_EQ(*decode::optional_floating(ok(Reply())), std::nullopt);
  auto bad = decode::floating(ok(s("nope")));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::protocol);
  auto wrong = decode::integer(ok(s("1")));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().kind, ErrorKind::protocol);
}

TEST(CommandsDecode, ErrorsPassThroughUnchanged) {
  Error e{ErrorKind::server, "WRONGTYPE Operation against a key holding the wrong kind of value"};
  auto r = decode::field_map(Result<Reply>(e));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), e);
  EXPECT_EQ(r.error().code(), "WRONGTYPE");
}

TEST(CommandsDecode, Ttl) {
  EXPECT_EQ(decode::ttl_seconds(ok(i(-2)))->state, Ttl::State::no_key);
  EXPECT_EQ(decode::ttl_seconds(ok(i(-1)))->state, Ttl::State::no_expiry);
  auto t = decode::ttl_seconds(ok(i(7)));
  EXPECT_TRUE(t->expires());
  EXPECT_EQ(t->remaining, std::chrono::seconds(7));
  EXPECT_EQ(decode::ttl_millis(ok(i(1234)))->remaining, std::chrono::milliseconds(1234));
  EXPECT_EQ(decode::ttl_millis(ok(i(0)))->state, Ttl::State::expires);
  EXPECT_FALSE(decode::ttl_seconds(ok(i(-3))));
}

TEST(CommandsDecode, Lists) {
  EXPECT_EQ(*decode::string_list(ok(Reply())), std::vector<std::string>{});
  EXPECT_EQ(*decode::string_list(ok(arr({s("a"), s("b")}))), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(decode::string_list(ok(arr({s("a"), Reply()}))));
  auto m = decode::optional_string_list(ok(arr({s("a"), Reply(), s("")})));
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, (std::vector<std::optional<std::string>>{"a", std::nullopt, ""}));
  EXPECT_EQ(*decode::boolean_list(ok(arr({i(1), i(0)}))), (std::vector<bool>{true, false}));
  EXPECT_EQ(*decode::integer_list(ok(arr({i(4), i(9)}))), (std::vector<long long>{4, 9}));
  auto z = decode::optional_floating_list(ok(arr({s("1.5"), Reply(), s("-inf")})));
  ASSERT_TRUE(z);
  EXPECT_EQ((*z)[0], 1.5);
  EXPECT_EQ((*z)[1], std::nullopt);
  EXPECT_EQ((*z)[2], -std::numeric_limits<double>::infinity());
}

TEST(CommandsDecode, PairsAndScoredMembers) {
  auto m = decode::field_map(ok(arr({s("f1"), s("v1"), s("f2"), s("v2")})));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->size(), 2u);
  EXPECT_EQ(m->at("f2"), "v2");
  EXPECT_FALSE(decode::field_map(ok(arr({s("odd")}))));
  auto fv = decode::field_values(ok(arr({s("f"), s("v"), s("f"), s("w")})));
  ASSERT_TRUE(fv);
  EXPECT_EQ(fv->size(), 2u);  // repeats are kept (HRANDFIELD with a negative count)
  auto sm = decode::scored_members(ok(arr({s("a"), s("1"), s("b"), s("inf")})));
  ASSERT_TRUE(sm);
  EXPECT_EQ((*sm)[0], (ScoredMember{"a", 1}));
  EXPECT_TRUE(std::isinf((*sm)[1].score));
  EXPECT_EQ(*decode::optional_scored_member(ok(arr({}))), std::nullopt);
  EXPECT_EQ(*decode::optional_scored_member(ok(arr({s("m"), s("2")}))), (ScoredMember{"m", 2}));
}

TEST(CommandsDecode, BlockingPops) {
  EXPECT_EQ(*decode::keyed_element(ok(Reply())), std::nullopt);
  EXPECT_EQ(*decode::keyed_element(ok(arr({s("q"), s("job")}))), (KeyedElement{"q", "job"}));
  EXPECT_EQ(*decode::keyed_member(ok(Reply())), std::nullopt);
  EXPECT_EQ(*decode::keyed_member(ok(arr({s("z"), s("m"), s("3.5")}))), (KeyedMember{"z", "m", 3.5}));
  EXPECT_FALSE(decode::keyed_member(ok(arr({s("z"), s("m")}))));
}

TEST(CommandsDecode, ScanPages) {
  auto p = decode::scan_strings(ok(arr({s("17"), arr({s("k1"), s("k2")})})));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->cursor, 17u);
  EXPECT_FALSE(p->done());
  EXPECT_EQ(p->items.size(), 2u);
  auto big = decode::scan_strings(ok(arr({s("18446744073709551615"), arr({})})));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->cursor, 18446744073709551615ull);
  auto z = decode::scan_scored_members(ok(arr({s("0"), arr({s("m"), s("1.25")})})));
  ASSERT_TRUE(z);
  EXPECT_TRUE(z->done());
  EXPECT_EQ(z->items.front(), (ScoredMember{"m", 1.25}));
  auto h = decode::scan_field_values(ok(arr({s("0"), arr({s("f"), s("v")})})));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->items.front(), (FieldValue{"f", "v"}));
  EXPECT_FALSE(decode::scan_strings(ok(arr({s("x"), arr({})}))));
  EXPECT_FALSE(decode::scan_strings(ok(arr({s("0")}))));
}

TEST(CommandsDecode, InfoSections) {
  auto info = decode::parse_info(
      "# Server\r\nredis_version:7.0.15\r\nexecutable:/usr/bin/redis-server\r\nconfig_file:\r\n\r\n"
      "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\nweird line\n");
  EXPECT_EQ(info["server"]["redis_version"], "7.0.15");
  EXPECT_EQ(info["server"]["executable"], "/usr/bin/redis-server");  // split at the first colon only
  EXPECT_EQ(info["server"]["config_file"], "");
  EXPECT_EQ(info["keyspace"]["db0"], "keys=1,expires=0,avg_ttl=0");
  EXPECT_TRUE(info["keyspace"].contains("weird line"));
  EXPECT_EQ(info.size(), 2u);
  EXPECT_TRUE(decode::parse_info("").empty());
}

TEST(CommandsDecode, ServerTime) {
  auto t = decode::server_time(ok(arr({s("1700000000"), s("123456")})));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->time_since_epoch(), std::chrono::seconds(1700000000) + std::chrono::microseconds(123456));
  EXPECT_FALSE(decode::server_time(ok(arr({s("1700000000")}))));
  EXPECT_FALSE(decode::server_time(ok(arr({s("x"), s("1")}))));
}
