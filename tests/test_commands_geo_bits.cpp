// GEO, HyperLogLog, bitmap and Functions commands against a real redis-server
// (7.0: FUNCTION, BITCOUNT ... BIT).
#include "support/commands_fixture.hpp"

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

namespace {

using Matches = std::vector<GeoMatch>;
using Positions = std::vector<std::optional<GeoPoint>>;
using Fields = std::vector<std::optional<long long>>;
using OptStrs = std::vector<std::optional<std::string>>;
using Libraries = std::vector<FunctionLibrary>;

// Redis' own GEO example: the distances and hashes below are the ones its
// documentation shows.
const std::vector<GeoPlace> kSicily{{13.361389, 38.115556, "Palermo"}, {15.087269, 37.502669, "Catania"}};

std::vector<std::string> members_of(const Matches& ms) {
  std::vector<std::string> out;
  for (const auto& m : ms) out.push_back(m.member);
  return out;
}

// A library with a writing function, a no-writes one and one that returns
// a nested array.
constexpr std::string_view kLibrary =
    "#!lua name=uvtest\n"
    "redis.register_function('setget', function(keys, args)\n"
    "  redis.call('SET', keys[1], args[1])\n"
    "  return redis.call('GET', keys[1])\n"
    "end)\n"
    "redis.register_function{function_name='readit', description='reads a key', flags={'no-writes'},\n"
    "  callback=function(keys, args) return redis.call('GET', keys[1]) end}\n"
    "redis.register_function('shape', function(keys, args) return {#keys, args[1], {7}} end)\n";

}  // namespace

class GeoBitsTest : public CommandsTest {
 protected:
  void SetUp() override {
    CommandsTest::SetUp();
    raw({"FUNCTION", "FLUSH"});  // FLUSHALL keeps libraries
  }
  void sicily() {
    auto n = call<long long>([&](auto cb) { c().geoadd("Sicily", kSicily, std::move(cb)); });
    ASSERT_TRUE(n) << n.error().to_string();
    ASSERT_EQ(*n, 2);
  }
  Matches search(std::string_view key, const GeoQuery& q) {
    auto r = call<Matches>([&](auto cb) { c().geosearch(key, q, std::move(cb)); });
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? *r : Matches{};
  }
  std::string load_library() {
    auto name = call<std::string>([&](auto cb) { c().function_load(kLibrary, std::move(cb)); });
    EXPECT_TRUE(name) << name.error().to_string();
    return name ? *name : std::string();
  }
};

// ------------------------------------------------------------------ GEO

TEST_F(GeoBitsTest, GeoaddCountsAddedOrChangedMembersUnderNxXx) {
  sicily();
  auto add = [&](const std::vector<GeoPlace>& places, GeoAddOptions o) {
    return *call<long long>([&](auto cb) { c().geoadd("Sicily", places, o, std::move(cb)); });
  };
  // Moving Palermo and adding Agrigento: plain counts only the new one; CH both.
  EXPECT_EQ(add({{13.4, 38.1, "Palermo"}, {13.583333, 37.316667, "Agrigento"}}, {}), 1);
  EXPECT_EQ(add({{13.361389, 38.115556, "Palermo"}, {14.0, 37.0, "Gela"}}, {.changed = true}), 2);
  // NX never moves, XX never adds.
  EXPECT_EQ(add({{13.0, 38.0, "Palermo"}, {15.55, 38.19, "Messina"}}, {.condition = WriteCondition::nx, .changed = true}), 1);
  EXPECT_EQ(add({{13.0, 38.0, "Palermo"}, {12.0, 37.9, "Trapani"}}, {.condition = WriteCondition::xx, .changed = true}), 1);
  EXPECT_EQ(raw({"ZCARD", "Sicily"}), "5");
  EXPECT_EQ(raw({"ZSCORE", "Sicily", "Trapani"}), "(nil)");
}

TEST_F(GeoBitsTest, GeosearchWithDistHashAndCoordAroundAPoint) {
  sicily();
  auto r = search("Sicily",
                  GeoQuery::around(15, 37).within_radius(200, GeoUnit::km).asc().with_coord().with_dist().with_hash());
  ASSERT_EQ(members_of(r), (Strs{"Catania", "Palermo"}));
  ASSERT_TRUE(r[0].dist && r[0].hash && r[0].coord);
  EXPECT_NEAR(*r[0].dist, 56.4413, 1e-3);
  EXPECT_EQ(*r[0].hash, 3479447370796909LL);
  EXPECT_NEAR(r[0].coord->longitude, 15.087269, 1e-5);
  EXPECT_NEAR(r[0].coord->latitude, 37.502669, 1e-5);
  EXPECT_NEAR(*r[1].dist, 190.4424, 1e-3);
  EXPECT_EQ(*r[1].hash, 3479099956230698LL);
  // Only what was asked for is filled in.
  auto dist_only = search("Sicily", GeoQuery::around(15, 37).within_radius(200, GeoUnit::km).desc().with_dist());
  ASSERT_EQ(members_of(dist_only), (Strs{"Palermo", "Catania"}));
  EXPECT_TRUE(dist_only[0].dist);
  EXPECT_FALSE(dist_only[0].hash);
  EXPECT_FALSE(dist_only[0].coord);
  auto coord_only = search("Sicily", GeoQuery::around(15, 37).within_radius(100, GeoUnit::km).with_coord());
  ASSERT_EQ(coord_only.size(), 1u);
  EXPECT_FALSE(coord_only[0].dist);
  EXPECT_TRUE(coord_only[0].coord);
  auto plain = search("Sicily", GeoQuery::around(15, 37).within_radius(100, GeoUnit::km));
  EXPECT_EQ(plain, (Matches{GeoMatch{"Catania", {}, {}, {}}}));
  EXPECT_TRUE(search("nothing", GeoQuery::around(15, 37).within_radius(100, GeoUnit::km)).empty());
}

TEST_F(GeoBitsTest, GeosearchFromAMemberInABoxWithCountAndAnyBinarySafe) {
  const std::string odd("a\0b\r\nc", 6);
  ASSERT_EQ(*call<long long>([&](auto cb) {
    c().geoadd("g", {{0.0, 0.0, "origin"}, {0.001, 0.0, odd}, {0.002, 0.0, "two"}, {1.0, 1.0, "far"}}, std::move(cb));
  }),
            4);
  auto box = search("g", GeoQuery::around_member("origin").within_box(500, 500, GeoUnit::m).asc().with_dist());
  ASSERT_EQ(members_of(box), (Strs{"origin", odd, "two"}));
  EXPECT_EQ(box[1].member.size(), 6u);
  EXPECT_NEAR(*box[0].dist, 0.0, 1e-6);
  EXPECT_NEAR(*box[1].dist, 111.19, 0.5);
  EXPECT_EQ(members_of(search("g", GeoQuery::around_member("origin").within_radius(1, GeoUnit::km).asc().limit(2))),
            (Strs{"origin", odd}));
  EXPECT_EQ(search("g", GeoQuery::around_member(odd).within_radius(1, GeoUnit::km).limit(1, true)).size(), 1u);
  // A FROMMEMBER member that does not exist is the server's to refuse.
  EXPECT_TRUE(is_server_error(call<Matches>([&](auto cb) {
                                c().geosearch("g", GeoQuery::around_member("nobody").within_radius(1, GeoUnit::km),
                                              std::move(cb));
                              }),
                              "ERR"));
}

TEST_F(GeoBitsTest, GeosearchstoreKeepsHashesOrDistances) {
  sicily();
  const auto q = GeoQuery::around(15, 37).within_radius(200, GeoUnit::km).asc().limit(1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().geosearchstore("near", "Sicily", q, std::move(cb)); }), 1);
  EXPECT_EQ(raw({"ZSCORE", "near", "Catania"}), "3479447370796909");
  EXPECT_EQ(*call<long long>([&](auto cb) {
    c().geosearchstore("dists", "Sicily", GeoQuery::around(15, 37).within_radius(200, GeoUnit::km), true,
                       std::move(cb));
  }),
            2);
  EXPECT_NEAR(std::stod(raw({"ZSCORE", "dists", "Palermo"})), 190.4424, 1e-3);
}

TEST_F(GeoBitsTest, GeodistGeoposAndGeohashWithMissingMembers) {
  sicily();
  using OptD = std::optional<double>;
  auto m = call<OptD>([&](auto cb) { c().geodist("Sicily", "Palermo", "Catania", std::move(cb)); });
  ASSERT_TRUE(m && *m);
  EXPECT_NEAR(**m, 166274.1516, 1e-3);
  auto km = call<OptD>([&](auto cb) { c().geodist("Sicily", "Palermo", "Catania", GeoUnit::km, std::move(cb)); });
  EXPECT_NEAR(**km, 166.2742, 1e-3);
  auto mi = call<OptD>([&](auto cb) { c().geodist("Sicily", "Palermo", "Catania", GeoUnit::mi, std::move(cb)); });
  EXPECT_NEAR(**mi, 103.3182, 1e-3);
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().geodist("Sicily", "Palermo", "Rome", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<OptD>([&](auto cb) { c().geodist("nothing", "a", "b", std::move(cb)); }), std::nullopt);

  auto pos = call<Positions>([&](auto cb) { c().geopos("Sicily", {"Palermo", "Rome", "Catania"}, std::move(cb)); });
  ASSERT_TRUE(pos) << pos.error().to_string();
  ASSERT_EQ(pos->size(), 3u);
  ASSERT_TRUE((*pos)[0]);
  EXPECT_NEAR((*pos)[0]->longitude, 13.361389, 1e-5);
  EXPECT_NEAR((*pos)[0]->latitude, 38.115556, 1e-5);
  EXPECT_FALSE((*pos)[1]);
  EXPECT_NEAR((*pos)[2]->longitude, 15.087269, 1e-5);
  EXPECT_EQ(*call<Positions>([&](auto cb) { c().geopos("nothing", "x", std::move(cb)); }), (Positions{std::nullopt}));

  auto hashes = call<OptStrs>([&](auto cb) { c().geohash("Sicily", {"Palermo", "Catania", "Rome"}, std::move(cb)); });
  EXPECT_EQ(*hashes, (OptStrs{"sqc8b49rny0", "sqdtr74hyu0", std::nullopt}));

  raw({"SET", "str", "x"});
  EXPECT_TRUE(is_server_error(call<Positions>([&](auto cb) { c().geopos("str", "a", std::move(cb)); }), "WRONGTYPE"));
}

// ---------------------------------------------------------- HyperLogLog

TEST_F(GeoBitsTest, HyperLogLogAddCountAndMerge) {
  const std::string nul("x\0y", 3);
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().pfadd("h1", {"a", "b", "c", nul}, std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().pfadd("h1", {"a", nul}, std::move(cb)); }));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().pfadd("h2", {"c", "d"}, std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().pfcount("h1", std::move(cb)); }), 4);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().pfcount({"h1", "h2", "none"}, std::move(cb)); }), 5);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().pfcount("none", std::move(cb)); }), 0);
  ASSERT_TRUE(call<void>([&](auto cb) { c().pfmerge("all", {"h1", "h2"}, std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().pfcount("all", std::move(cb)); }), 5);
  ASSERT_TRUE(call<void>([&](auto cb) { c().pfmerge("empty", StringList{}, std::move(cb)); }));
  EXPECT_EQ(raw({"EXISTS", "empty"}), "1");
  raw({"SET", "str", "not an hll"});
  EXPECT_TRUE(is_server_error(call<long long>([&](auto cb) { c().pfcount("str", std::move(cb)); }), "WRONGTYPE"));
}

// -------------------------------------------------------------- bitmaps

TEST_F(GeoBitsTest, SetBitGetBitCountAndPosition) {
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().set_bit("b", 7, 1, std::move(cb)); }));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().set_bit("b", 7, 1, std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().set_bit("b", 17, 1, std::move(cb)); }));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().get_bit("b", 7, std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().get_bit("b", 6, std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().get_bit("b", 100000, std::move(cb)); }));  // past the end
  EXPECT_EQ(raw({"STRLEN", "b"}), "3");
  // "b" is 0x01 0x00 0x40.
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitcount("b", std::move(cb)); }), 2);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitcount("b", {1, -1}, std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitcount("b", {0, 7, BitUnit::bit}, std::move(cb)); }), 1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitcount("b", {8, 16, BitUnit::bit}, std::move(cb)); }), 0);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitcount("none", std::move(cb)); }), 0);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitpos("b", 1, std::move(cb)); }), 7);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitpos("b", 1, 1, std::move(cb)); }), 17);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitpos("b", 0, std::move(cb)); }), 0);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitpos("b", 1, BitRange{8, 16, BitUnit::bit}, std::move(cb)); }), -1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitpos("b", 1, BitRange{8, 23, BitUnit::bit}, std::move(cb)); }), 17);
  // All set and no end: the first clear bit is past the string.
  raw({"SET", "ones", std::string(2, '\xff')});
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitpos("ones", 0, std::move(cb)); }), 16);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitpos("ones", 0, BitRange{0, -1}, std::move(cb)); }), -1);
  // The largest offset is accepted (GETBIT reads past the end as 0 and
  // allocates nothing).
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().get_bit("b", 4294967295LL, std::move(cb)); }));
}

TEST_F(GeoBitsTest, BitopCombinesStrings) {
  raw({"SET", "x", std::string("\xf0\x0f", 2)});
  raw({"SET", "y", std::string("\xff", 1)});
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitop(BitOperation::and_, "d", {"x", "y"}, std::move(cb)); }), 2);
  EXPECT_EQ(raw({"GET", "d"}), std::string("\xf0\x00", 2));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitop(BitOperation::or_, "d", {"x", "y"}, std::move(cb)); }), 2);
  EXPECT_EQ(raw({"GET", "d"}), std::string("\xff\x0f", 2));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitop(BitOperation::xor_, "d", {"x", "y"}, std::move(cb)); }), 2);
  EXPECT_EQ(raw({"GET", "d"}), std::string("\x0f\x0f", 2));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().bitop(BitOperation::not_, "d", "x", std::move(cb)); }), 2);
  EXPECT_EQ(raw({"GET", "d"}), std::string("\x0f\xf0", 2));
}

TEST_F(GeoBitsTest, BitfieldTypedSubOperationsAndOverflow) {
  using Op = BitFieldOp;
  auto bf = [&](const std::vector<Op>& ops) {
    auto r = call<Fields>([&](auto cb) { c().bitfield("f", ops, std::move(cb)); });
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? *r : Fields{};
  };
  // SET returns the old value, INCRBY the new one, GET the value.
  EXPECT_EQ(bf({Op::set("i5", 0, -7), Op::set("u8", BitFieldOffset::nth(1), 200), Op::get("i5", 0),
                Op::incrby("u8", 8, 50), Op::get("u4", 8)}),
            (Fields{0, 0, -7, 250, 15}));
  // Wrap (the default), saturate, fail: FAIL's result is nil and nothing is written.
  EXPECT_EQ(bf({Op::incrby("u8", 8, 10), Op::overflow(BitOverflow::sat), Op::incrby("u8", 8, 1000),
                Op::overflow(BitOverflow::fail), Op::incrby("u8", 8, 1), Op::get("u8", 8)}),
            (Fields{4, 255, std::nullopt, 255}));
  EXPECT_EQ(bf({Op::overflow(BitOverflow::fail), Op::set("i5", 0, 100), Op::get("i5", 0)}),
            (Fields{std::nullopt, -7}));
  EXPECT_EQ(bf({Op::set("i64", BitFieldOffset::nth(1), -1), Op::get("u63", 64)}), (Fields{0, 9223372036854775807LL}));
  EXPECT_EQ(*call<Fields>([&](auto cb) {
    c().bitfield_ro("f", {Op::get("u8", 8), Op::get("i64", BitFieldOffset::nth(1))}, std::move(cb));
  }),
            (Fields{255, -1}));
  EXPECT_EQ(*call<Fields>([&](auto cb) { c().bitfield_ro("none", {Op::get("u8", 0)}, std::move(cb)); }), (Fields{0}));
}

// ------------------------------------------------------------ Functions

TEST_F(GeoBitsTest, FunctionLoadCallListDeleteAndFlush) {
  EXPECT_EQ(load_library(), "uvtest");
  // Loading it again needs REPLACE.
  EXPECT_TRUE(is_server_error(call<std::string>([&](auto cb) { c().function_load(kLibrary, std::move(cb)); }), "ERR"));
  EXPECT_EQ(*call<std::string>([&](auto cb) { c().function_load(kLibrary, true, std::move(cb)); }), "uvtest");

  const std::string value("v\0\r\n", 4);
  auto set = call<Reply>([&](auto cb) { c().fcall("setget", "k", {value}, std::move(cb)); });
  ASSERT_TRUE(set) << set.error().to_string();
  EXPECT_EQ(set->str(), value);
  auto read = call<Reply>([&](auto cb) { c().fcall_ro("readit", "k", std::move(cb)); });
  ASSERT_TRUE(read) << read.error().to_string();
  EXPECT_EQ(read->str(), value);
  // FCALL_RO of a function that may write is refused by the server.
  EXPECT_TRUE(is_server_error(call<Reply>([&](auto cb) { c().fcall_ro("setget", "k", {"x"}, std::move(cb)); }), "ERR"));
  auto shape = call<Reply>([&](auto cb) { c().fcall("shape", {"a", "b"}, {"arg"}, std::move(cb)); });
  ASSERT_TRUE(shape && shape->is_array() && shape->size() == 3) << (shape ? "bad shape" : shape.error().to_string());
  EXPECT_EQ((*shape)[0].integer(), 2);
  EXPECT_EQ((*shape)[1].str(), "arg");
  EXPECT_EQ((*shape)[2][0].integer(), 7);
  EXPECT_TRUE(is_server_error(call<Reply>([&](auto cb) { c().fcall("nope", StringList{}, std::move(cb)); }), "ERR"));

  auto libs = call<Libraries>([&](auto cb) { c().function_list(std::move(cb)); });
  ASSERT_TRUE(libs) << libs.error().to_string();
  ASSERT_EQ(libs->size(), 1u);
  const FunctionLibrary& lib = libs->front();
  EXPECT_EQ(lib.name, "uvtest");
  EXPECT_EQ(lib.engine, "LUA");
  EXPECT_FALSE(lib.code);
  ASSERT_EQ(lib.functions.size(), 3u);
  for (const FunctionInfo& f : lib.functions) {
    if (f.name == "readit") {
      EXPECT_EQ(f.description, "reads a key");
      EXPECT_EQ(f.flags, (Strs{"no-writes"}));
    } else {
      EXPECT_TRUE(f.name == "setget" || f.name == "shape") << f.name;
      EXPECT_FALSE(f.description);
      EXPECT_TRUE(f.flags.empty());
    }
  }
  auto with_code = call<Libraries>([&](auto cb) {
    c().function_list({.library_pattern = "uv*", .with_code = true}, std::move(cb));
  });
  ASSERT_EQ(with_code->size(), 1u);
  EXPECT_EQ(with_code->front().code, std::string(kLibrary));
  EXPECT_TRUE(call<Libraries>([&](auto cb) { c().function_list({.library_pattern = "other*"}, std::move(cb)); })->empty());

  ASSERT_TRUE(call<void>([&](auto cb) { c().function_delete("uvtest", std::move(cb)); }));
  EXPECT_TRUE(is_server_error(call<void>([&](auto cb) { c().function_delete("uvtest", std::move(cb)); }), "ERR"));
  load_library();
  ASSERT_TRUE(call<void>([&](auto cb) { c().function_flush(FlushMode::sync, std::move(cb)); }));
  EXPECT_TRUE(call<Libraries>([&](auto cb) { c().function_list(std::move(cb)); })->empty());
}

// --------------------------------------------------- checks before sending

TEST_F(GeoBitsTest, UsageErrorsSendNothing) {
  raw({"CONFIG", "RESETSTAT"});
  using Op = BitFieldOp;
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().geoadd("g", {{0, 85.1, "x"}}, std::move(cb)); }),
                             "GEOADD: the latitude 85.1"));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().geoadd("g", {{180.01, 0, "x"}}, std::move(cb)); }),
                             "GEOADD: the longitude 180.01"));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().geoadd("g", std::vector<GeoPlace>{}, std::move(cb)); }),
                             "GEOADD: the list of members is empty"));
  EXPECT_TRUE(is_usage_error(call<Matches>([&](auto cb) {
                               c().geosearch("g", GeoQuery::around(0, -86).within_radius(1, GeoUnit::km), std::move(cb));
                             }),
                             "GEOSEARCH: the latitude -86"));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) {
                               c().geosearchstore("d", "g", GeoQuery::around_member("a").with_hash(), std::move(cb));
                             }),
                             "GEOSEARCHSTORE"));
  EXPECT_TRUE(is_usage_error(call<Positions>([&](auto cb) { c().geopos("g", StringList{}, std::move(cb)); }), "GEOPOS"));
  EXPECT_TRUE(is_usage_error(call<OptStrs>([&](auto cb) { c().geohash("g", StringList{}, std::move(cb)); }), "GEOHASH"));
  EXPECT_TRUE(is_usage_error(call<bool>([&](auto cb) { c().pfadd("h", StringList{}, std::move(cb)); }),
                             "PFADD: the list of elements is empty"));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().pfcount(StringList{}, std::move(cb)); }),
                             "PFCOUNT: the list of keys is empty"));
  EXPECT_TRUE(is_usage_error(call<bool>([&](auto cb) { c().set_bit("b", -1, 1, std::move(cb)); }), "SETBIT: the bit offset -1"));
  EXPECT_TRUE(is_usage_error(call<bool>([&](auto cb) { c().set_bit("b", 1LL << 32, 1, std::move(cb)); }),
                             "SETBIT: the bit offset 4294967296"));
  EXPECT_TRUE(is_usage_error(call<bool>([&](auto cb) { c().set_bit("b", 0, 7, std::move(cb)); }),
                             "SETBIT: the bit value must be 0 or 1, got 7"));
  EXPECT_TRUE(is_usage_error(call<bool>([&](auto cb) { c().get_bit("b", -3, std::move(cb)); }), "GETBIT"));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().bitpos("b", 2, std::move(cb)); }), "BITPOS"));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().bitop(BitOperation::or_, "d", StringList{}, std::move(cb)); }),
                             "BITOP: the list of sources is empty"));
  EXPECT_TRUE(is_usage_error(call<Fields>([&](auto cb) { c().bitfield("f", {Op::get("i65", 0)}, std::move(cb)); }),
                             "BITFIELD: 'i65' is not a bitfield type"));
  EXPECT_TRUE(is_usage_error(call<Fields>([&](auto cb) { c().bitfield("f", {Op::set("u8", 1LL << 32, 1)}, std::move(cb)); }),
                             "BITFIELD: the bit offset"));
  EXPECT_TRUE(is_usage_error(call<Fields>([&](auto cb) { c().bitfield("f", {}, std::move(cb)); }), "BITFIELD"));
  EXPECT_TRUE(is_usage_error(call<Fields>([&](auto cb) { c().bitfield_ro("f", {Op::incrby("u8", 0, 1)}, std::move(cb)); }),
                             "BITFIELD_RO"));
  EXPECT_TRUE(is_usage_error(call<Reply>([&](auto cb) { c().fcall("", "k", std::move(cb)); }), "FCALL"));
  EXPECT_TRUE(is_usage_error(call<std::string>([&](auto cb) { c().function_load("", std::move(cb)); }), "FUNCTION"));
  // Nothing reached the server: none of these commands ran (or was rejected).
  const std::string stats = raw({"INFO", "commandstats"});
  for (const char* name : {"cmdstat_geo", "cmdstat_pf", "cmdstat_setbit", "cmdstat_getbit", "cmdstat_bit",
                           "cmdstat_fcall", "cmdstat_function"})
    EXPECT_EQ(stats.find(name), std::string::npos) << name << " in " << stats;
}

// ------------------------------------------------------------ other sinks

TEST_F(GeoBitsTest, OnAPipelineAndInATransaction) {
  Pipeline p(c());
  auto added = p.geoadd("Sicily", kSicily);
  auto near = p.geosearch("Sicily", GeoQuery::around_member("Palermo").within_radius(100, GeoUnit::km).with_dist());
  auto pf = p.pfadd("h", {"a", "b"});
  auto fields = p.bitfield("f", {BitFieldOp::set("u8", 0, 9), BitFieldOp::get("u8", 0)});
  auto bad = p.geoadd("Sicily", {{0, 90, "pole"}});
  std::optional<ExecSummary> summary;
  p.exec([&](ExecSummary s) { summary = s; });
  ASSERT_TRUE(wait([&] { return summary.has_value(); }));
  EXPECT_EQ(summary->commands, 5u);
  EXPECT_EQ(summary->failed, 1u);
  EXPECT_EQ(*added.result(), 2);
  ASSERT_EQ(near.result()->size(), 1u);
  EXPECT_EQ(near.result()->front().member, "Palermo");
  EXPECT_NEAR(*near.result()->front().dist, 0.0, 1e-6);
  EXPECT_TRUE(*pf.result());
  EXPECT_EQ(*fields.result(), (Fields{0, 9}));
  EXPECT_TRUE(is_usage_error(bad.result(), "GEOADD: the latitude 90"));

  load_library();
  Transaction tx(c());
  auto old_bit = tx.set_bit("b", 3, 1);
  auto count = tx.bitcount("b");
  auto called = tx.fcall("setget", "k", {"from-tx"});
  auto merged = tx.pfmerge("h2", "h");
  std::optional<Result<Transaction::Outcome>> outcome;
  tx.exec([&](Result<Transaction::Outcome> o) { outcome.emplace(std::move(o)); });
  ASSERT_TRUE(wait([&] { return outcome.has_value(); }));
  ASSERT_TRUE(*outcome) << outcome->error().to_string();
  EXPECT_EQ(**outcome, Transaction::Outcome::committed);
  EXPECT_FALSE(*old_bit.result());
  EXPECT_EQ(*count.result(), 1);
  EXPECT_EQ(called.result()->str(), "from-tx");
  EXPECT_TRUE(merged.ok());
  EXPECT_EQ(raw({"PFCOUNT", "h2"}), "2");

  // A usage error keeps the whole transaction from being sent.
  Transaction bad_tx(c());
  auto never = bad_tx.set_bit("b", 4, 1);
  auto refused = bad_tx.bitfield("f", {BitFieldOp::get("q8", 0)});
  std::optional<Result<Transaction::Outcome>> bad_outcome;
  bad_tx.exec([&](Result<Transaction::Outcome> o) { bad_outcome.emplace(std::move(o)); });
  ASSERT_TRUE(wait([&] { return bad_outcome.has_value(); }));
  EXPECT_TRUE(is_usage_error(*bad_outcome, "BITFIELD"));
  EXPECT_FALSE(never.ok());
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(raw({"GETBIT", "b", "4"}), "0");
}

TEST_F(GeoBitsTest, OnALease) {
  auto lease = c().lease();
  EXPECT_EQ(*call<long long>([&](auto cb) { lease->geoadd("g", {{1, 2, "m"}}, std::move(cb)); }), 1);
  EXPECT_EQ(*call<bool>([&](auto cb) { lease->pfadd("h", "x", std::move(cb)); }), true);
  lease.reset();
}
