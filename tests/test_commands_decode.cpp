// Decoders without a server: reply shapes in, typed results out.
#include <uvredis/callbacks.hpp>
#include <uvredis/decode.hpp>
#include <uvredis/link_types.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>

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

TEST(CommandsDecode, StreamEntriesAndBatches) {
  const std::string bin("v\0w", 3);
  auto entry = [](std::string id, std::vector<Reply> kv) { return arr({s(std::move(id)), arr(std::move(kv))}); };
  auto es = decode::stream_entries(ok(arr({entry("1-0", {s("b"), s(bin), s("a"), s("x")}),
                                           arr({s("2-0"), Reply()}),  // deleted while pending
                                           Reply()})));               // a vanished XCLAIM id (old servers)
  ASSERT_TRUE(es) << es.error().to_string();
  ASSERT_EQ(es->size(), 2u);
  EXPECT_EQ((*es)[0], (StreamEntry{"1-0", {{"b", bin}, {"a", "x"}}}));
  EXPECT_EQ((*es)[1], (StreamEntry{"2-0", {}, true}));
  EXPECT_TRUE(decode::stream_entries(ok(Reply()))->empty());
  EXPECT_FALSE(decode::stream_entries(ok(arr({entry("1-0", {s("odd")})}))));
  EXPECT_FALSE(decode::stream_entries(ok(arr({arr({s("1-0")})}))));
  EXPECT_FALSE(decode::stream_entries(ok(s("x"))));

  auto bs = decode::stream_batches(ok(arr({arr({s("k"), arr({entry("3-1", {s("f"), s("v")})})})})));
  ASSERT_TRUE(bs) << bs.error().to_string();
  EXPECT_EQ(*bs, (std::vector<StreamBatch>{{"k", {{"3-1", {{"f", "v"}}}}}}));
  EXPECT_TRUE(decode::stream_batches(ok(Reply()))->empty());  // XREAD BLOCK timed out
  EXPECT_FALSE(decode::stream_batches(ok(arr({arr({s("k")})}))));
}

TEST(CommandsDecode, PendingAndAutoclaim) {
  auto sum = decode::pending_summary(ok(arr({i(3), s("1-0"), s("3-0"), arr({arr({s("c1"), s("2")}), arr({s("c2"), s("1")})})})));
  ASSERT_TRUE(sum) << sum.error().to_string();
  EXPECT_EQ(*sum, (PendingSummary{3, "1-0", "3-0", {{"c1", 2}, {"c2", 1}}}));
  EXPECT_EQ(*decode::pending_summary(ok(arr({i(0), Reply(), Reply(), Reply()}))), PendingSummary{});
  EXPECT_FALSE(decode::pending_summary(ok(arr({i(0)}))));
  EXPECT_FALSE(decode::pending_summary(ok(arr({i(1), s("1-0"), s("1-0"), arr({arr({s("c"), s("x")})})}))));

  auto pe = decode::pending_entries(ok(arr({arr({s("1-0"), s("c"), i(1500), i(2)})})));
  ASSERT_TRUE(pe);
  EXPECT_EQ(*pe, (std::vector<PendingEntry>{{"1-0", "c", std::chrono::milliseconds(1500), 2}}));
  EXPECT_FALSE(decode::pending_entries(ok(arr({arr({s("1-0"), s("c"), i(1)})}))));

  // Redis 7: [next, claimed, deleted]; 6.2: [next, claimed].
  auto ac = decode::autoclaim_entries(ok(arr({s("0-0"), arr({arr({s("1-0"), arr({s("f"), s("v")})})}), arr({s("2-0")})})));
  ASSERT_TRUE(ac) << ac.error().to_string();
  EXPECT_TRUE(ac->done());
  EXPECT_EQ(ac->claimed, (std::vector<StreamEntry>{{"1-0", {{"f", "v"}}}}));
  EXPECT_EQ(ac->deleted_ids, (std::vector<std::string>{"2-0"}));
  auto old = decode::autoclaim_ids(ok(arr({s("5-0"), arr({s("1-0"), s("2-0")})})));
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->done());
  EXPECT_EQ(old->claimed, (std::vector<std::string>{"1-0", "2-0"}));
  EXPECT_TRUE(old->deleted_ids.empty());
  EXPECT_FALSE(decode::autoclaim_ids(ok(arr({s("0-0")}))));
}

TEST(CommandsDecode, XinfoReplies) {
  auto info = decode::stream_info(ok(arr({s("length"), i(2), s("radix-tree-keys"), i(1), s("radix-tree-nodes"), i(2),
                                          s("last-generated-id"), s("2-0"), s("max-deleted-entry-id"), s("0-0"),
                                          s("entries-added"), i(2), s("recorded-first-entry-id"), s("1-0"),
                                          s("groups"), i(1), s("first-entry"), arr({s("1-0"), arr({s("a"), s("1")})}),
                                          s("last-entry"), Reply(), s("some-future-field"), arr({})})));
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_EQ(info->length, 2);
  EXPECT_EQ(info->radix_tree_nodes, 2);
  EXPECT_EQ(info->last_generated_id, "2-0");
  EXPECT_EQ(info->recorded_first_entry_id, "1-0");
  EXPECT_EQ(info->groups, 1);
  EXPECT_EQ(info->first_entry, (StreamEntry{"1-0", {{"a", "1"}}}));
  EXPECT_FALSE(info->last_entry);
  EXPECT_FALSE(decode::stream_info(ok(arr({s("length")}))));
  EXPECT_FALSE(decode::stream_info(ok(arr({s("length"), s("many")}))));

  auto groups = decode::stream_groups(ok(arr({arr({s("name"), s("g"), s("consumers"), i(1), s("pending"), i(0),
                                                   s("last-delivered-id"), s("0-0"), s("entries-read"), Reply(),
                                                   s("lag"), i(4)})})));
  ASSERT_TRUE(groups) << groups.error().to_string();
  EXPECT_EQ(*groups, (std::vector<StreamGroupInfo>{{"g", 1, 0, "0-0", std::nullopt, 4}}));

  auto consumers = decode::stream_consumers(
      ok(arr({arr({s("name"), s("a"), s("pending"), i(1), s("idle"), i(20), s("inactive"), i(-1)}),
              arr({s("name"), s("b"), s("pending"), i(0), s("idle"), i(5), s("inactive"), i(7)})})));
  ASSERT_TRUE(consumers) << consumers.error().to_string();
  ASSERT_EQ(consumers->size(), 2u);
  EXPECT_EQ((*consumers)[0].idle, std::chrono::milliseconds(20));
  EXPECT_FALSE((*consumers)[0].inactive);  // never read successfully
  EXPECT_EQ((*consumers)[1].inactive, std::chrono::milliseconds(7));
}

TEST(CommandsDecode, GeoMatchesTellTheirPartsByType) {
  const Reply nil;
  // Plain members, binary-safe.
  auto plain = decode::geo_matches(ok(arr({s("a"), s(std::string("b\0c", 3))})));
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->size(), 2u);
  EXPECT_EQ((*plain)[1].member, std::string("b\0c", 3));
  EXPECT_FALSE((*plain)[1].dist || (*plain)[1].hash || (*plain)[1].coord);
  // [member, dist, hash, [lon, lat]] and each part alone.
  auto full = decode::geo_matches(ok(arr({arr({s("m"), s("1.5"), i(42), arr({s("13.5"), s("38.25")})}),
                                          arr({s("n"), i(7)}), arr({s("o"), arr({s("1"), s("2")})})})));
  ASSERT_TRUE(full) << full.error().to_string();
  EXPECT_EQ((*full)[0], (GeoMatch{"m", 1.5, 42, GeoPoint{13.5, 38.25}}));
  EXPECT_EQ((*full)[1], (GeoMatch{"n", std::nullopt, 7, std::nullopt}));
  EXPECT_EQ((*full)[2], (GeoMatch{"o", std::nullopt, std::nullopt, GeoPoint{1, 2}}));
  EXPECT_TRUE(decode::geo_matches(ok(nil))->empty());
  // Shapes no server sends.
  EXPECT_FALSE(decode::geo_matches(ok(s("x"))));
  EXPECT_FALSE(decode::geo_matches(ok(arr({arr({})}))));
  EXPECT_FALSE(decode::geo_matches(ok(arr({arr({s("m"), i(1), i(2)})}))));
  EXPECT_FALSE(decode::geo_matches(ok(arr({arr({s("m"), s("x")})}))));
  EXPECT_FALSE(decode::geo_matches(ok(arr({arr({s("m"), arr({s("1")})})}))));
  EXPECT_FALSE(decode::geo_matches(ok(arr({i(3)}))));
}

TEST(CommandsDecode, GeoPositionsAndOptionalIntegers) {
  const Reply nil;
  auto pos = decode::geo_positions(ok(arr({arr({s("1.25"), s("-2.5")}), nil})));
  ASSERT_TRUE(pos);
  EXPECT_EQ(*pos, (std::vector<std::optional<GeoPoint>>{GeoPoint{1.25, -2.5}, std::nullopt}));
  EXPECT_FALSE(decode::geo_positions(ok(arr({arr({s("1"), s("2"), s("3")})}))));
  EXPECT_FALSE(decode::geo_positions(ok(arr({s("1")}))));
  auto ints = decode::optional_integer_list(ok(arr({i(-3), nil, i(255)})));
  ASSERT_TRUE(ints);
  EXPECT_EQ(*ints, (std::vector<std::optional<long long>>{-3, std::nullopt, 255}));
  EXPECT_FALSE(decode::optional_integer_list(ok(arr({s("1")}))));
  EXPECT_FALSE(decode::optional_integer_list(ok(i(1))));
  EXPECT_FALSE(decode::optional_integer_list(Result<Reply>(Error{ErrorKind::server, "ERR x"})));
}

TEST(CommandsDecode, FunctionListSkipsUnknownFields) {
  const Reply nil;
  auto fn = [&](std::string name, Reply desc, std::vector<Reply> flags) {
    return arr({s("name"), s(std::move(name)), s("description"), std::move(desc), s("flags"), arr(std::move(flags)),
                s("added-later"), i(1)});
  };
  auto libs = decode::function_libraries(ok(arr({arr({s("library_name"), s("lib"), s("engine"), s("LUA"),
                                                      s("functions"), arr({fn("f", nil, {}), fn("g", s("d"), {s("no-writes")})}),
                                                      s("library_code"), s("#!lua name=lib")})})));
  ASSERT_TRUE(libs) << libs.error().to_string();
  ASSERT_EQ(libs->size(), 1u);
  const FunctionLibrary want{"lib", "LUA", {{"f", std::nullopt, {}}, {"g", "d", {"no-writes"}}}, "#!lua name=lib"};
  EXPECT_EQ(libs->front(), want);
  EXPECT_TRUE(decode::function_libraries(ok(arr({})))->empty());
  EXPECT_FALSE(decode::function_libraries(ok(arr({arr({s("library_name")})}))));
  EXPECT_FALSE(decode::function_libraries(ok(arr({arr({s("functions"), s("x")})}))));
  EXPECT_FALSE(decode::function_libraries(ok(arr({arr({s("library_name"), i(3)})}))));
}

// Once::converting, what the typed helpers send with: a decoder in front of
// the user's callback, in one Once, called once with the decoded value.
TEST(OnceConverting, DecodesAndCallsTheInnerCallbackOnce) {
  int calls = 0;
  std::optional<std::string> got;
  Callback<std::optional<std::string>> inner = [&](Result<std::optional<std::string>> r) {
    ++calls;
    ASSERT_TRUE(r);
    got = *r;
  };
  auto outer = Callback<Reply>::converting(&decode::optional_string, std::move(inner));
  EXPECT_FALSE(inner);
  auto moved = std::move(outer);  // the link moves along with the callable
  moved(Reply::string("a value longer than fifteen bytes"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(got, std::optional<std::string>("a value longer than fifteen bytes"));
  // Errors pass through the decoder to the same callback.
  Callback<long long> on_int = [&](Result<long long> r) {
    ++calls;
    EXPECT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::server);
  };
  auto conv = Callback<Reply>::converting(&decode::integer, std::move(on_int));
  conv(Error{ErrorKind::server, "ERR nope"});
  EXPECT_EQ(calls, 2);
}

TEST(OnceConverting, LargeCapturesEmptyCallbacksAndDropsWithoutACall) {
  int calls = 0;
  // Too big for the shared buffer: wrapped instead, same behaviour.
  std::string pad(1, 'p');
  char bulk[90] = {7};
  Callback<long long> big = [&calls, bulk, pad](Result<long long> r) { calls += static_cast<int>(*r) + bulk[0]; };
  auto a = Callback<Reply>::converting(&decode::integer, std::move(big));
  a(Reply::integer(3));
  EXPECT_EQ(calls, 10);
  // No callback: the decoded value goes nowhere, nothing fails.
  auto b = Callback<Reply>::converting(&decode::integer, Callback<long long>{});
  ASSERT_TRUE(b);
  b(Reply::integer(1));
  // Dropped without a call: the inner callable's captures are released once.
  auto held = std::make_shared<int>(0);
  {
    Callback<long long> keep = [held](Result<long long>) {};
    auto c = Callback<Reply>::converting(&decode::integer, std::move(keep));
    auto d = std::move(c);
    EXPECT_EQ(held.use_count(), 2);
  }
  EXPECT_EQ(held.use_count(), 1);
  EXPECT_EQ(calls, 10);
}
