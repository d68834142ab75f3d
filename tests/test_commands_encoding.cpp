// The command table without a server: a recording sink captures the argv
// each typed helper builds, or the usage error it reports instead.
#include <uvredis/commands.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/pipeline.hpp>

#include "../src/protocol/cluster_keys.hpp"
#include "../src/protocol/cluster_reads.hpp"
#include "../src/protocol/command_info.hpp"
#include "../src/protocol/command_table.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

using namespace std::chrono_literals;
using namespace uvredis;

// Every helper compiles on every sink (class templates only instantiate the
// members a program uses; these force all of them). A compile-time check, so
// the plain build makes it; the sanitizer build, where generating all this
// code costs half a minute, skips it (the tests below run in both).
#if !defined(__SANITIZE_ADDRESS__)
template class uvredis::StringCommands<uvredis::Executor>;
template class uvredis::KeyCommands<uvredis::Executor>;
template class uvredis::HashCommands<uvredis::Executor>;
template class uvredis::ListCommands<uvredis::Executor>;
template class uvredis::SetCommands<uvredis::Executor>;
template class uvredis::SortedSetCommands<uvredis::Executor>;
template class uvredis::StreamCommands<uvredis::Executor>;
template class uvredis::ServerCommands<uvredis::Executor>;
template class uvredis::GeoCommands<uvredis::Executor>;
template class uvredis::BitCommands<uvredis::Executor>;
template class uvredis::FunctionCommands<uvredis::Executor>;
template class uvredis::StringCommands<uvredis::Pipeline>;
template class uvredis::KeyCommands<uvredis::Pipeline>;
template class uvredis::HashCommands<uvredis::Pipeline>;
template class uvredis::ListCommands<uvredis::Pipeline>;
template class uvredis::SetCommands<uvredis::Pipeline>;
template class uvredis::SortedSetCommands<uvredis::Pipeline>;
template class uvredis::StreamCommands<uvredis::Pipeline>;
template class uvredis::ServerCommands<uvredis::Pipeline>;
template class uvredis::GeoCommands<uvredis::Pipeline>;
template class uvredis::BitCommands<uvredis::Pipeline>;
template class uvredis::FunctionCommands<uvredis::Pipeline>;
template class uvredis::StringCommands<uvredis::Transaction>;
template class uvredis::KeyCommands<uvredis::Transaction>;
template class uvredis::HashCommands<uvredis::Transaction>;
template class uvredis::ListCommands<uvredis::Transaction>;
template class uvredis::SetCommands<uvredis::Transaction>;
template class uvredis::SortedSetCommands<uvredis::Transaction>;
template class uvredis::StreamCommands<uvredis::Transaction>;
template class uvredis::ServerCommands<uvredis::Transaction>;
template class uvredis::GeoCommands<uvredis::Transaction>;
template class uvredis::BitCommands<uvredis::Transaction>;
template class uvredis::FunctionCommands<uvredis::Transaction>;
#endif

namespace {

struct Recorder;

}  // namespace

template <>
struct uvredis::SinkTraits<Recorder> {
  template <class T>
  using result = void;
};

namespace {

// Records what the table hands to a sink. Never calls the callbacks: the
// encoding is what is under test here.
struct Recorder : Commands<Recorder> {
  std::vector<std::string> argv;
  std::optional<Error> error;
  int sends = 0;

  template <class T>
  void send(std::span<const std::string_view> a, Decoder<T>, Callback<T>) {
    ++sends;
    // Every helper run here also proves its command has a row of facts
    // (test_command_table scans the headers for the ones not run here).
    EXPECT_NE(detail::find_command(a[0]), nullptr) << a[0] << " has no row in src/protocol/command_table.cpp";
    argv.assign(a.begin(), a.end());
    error.reset();
  }
  template <class T>
  void fail(Error e, Callback<T>) {
    argv.clear();
    error = std::move(e);
  }
};

using V = std::vector<std::string>;

// Runs `issue` on a fresh recorder and returns the argv (empty on error).
template <class F>
V argv_of(F&& issue) {
  Recorder r;
  issue(r);
  EXPECT_FALSE(r.error) << r.error->message;
  return r.argv;
}

template <class F>
std::string usage_error_of(F&& issue) {
  Recorder r;
  issue(r);
  EXPECT_EQ(r.sends, 0);
  if (!r.error) return "(no error)";
  EXPECT_EQ(r.error->kind, ErrorKind::usage);
  return r.error->message;
}

}  // namespace

TEST(CommandsEncoding, SetOptionsPickSecondsOrMilliseconds) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.set("k", "v"); }), (V{"SET", "k", "v"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.set("k", "v", {.ttl = 10s, .condition = WriteCondition::nx}); }),
            (V{"SET", "k", "v", "NX", "EX", "10"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.set("k", "v", {.ttl = 1500ms}); }), (V{"SET", "k", "v", "PX", "1500"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.set("k", "v", {.keep_ttl = true, .condition = WriteCondition::xx}); }),
            (V{"SET", "k", "v", "XX", "KEEPTTL"}));
  const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(2'000'000'000));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.set("k", "v", {.expire_at = at}); }),
            (V{"SET", "k", "v", "EXAT", "2000000000"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.set("k", "v", {.expire_at = at + 5ms}); }),
            (V{"SET", "k", "v", "PXAT", "2000000000005"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.set_get("k", "v"); }), (V{"SET", "k", "v", "GET"}));
}

TEST(CommandsEncoding, SetRefusesContradictoryOrNonPositiveExpiry) {
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.set("k", "v", {.ttl = 0ms}); }),
            "SET: the expiry must be positive, got 0 ms");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.set("k", "v", {.ttl = -5s}); }),
            "SET: the expiry must be positive, got -5000 ms");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.set("k", "v", {.ttl = 1s, .keep_ttl = true}); }),
            "SET: set at most one of ttl, expire_at and keep_ttl");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.getex("k", {.ttl = 1s, .persist = true}); }),
            "GETEX: set at most one of ttl, expire_at and persist");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.setex("k", 0s, "v"); }),
            "SETEX: the expiry must be positive, got 0");
}

TEST(CommandsEncoding, ExpiryCommandsFollowThePrecisionOfTheArgument) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.setex("k", 3s, "v"); }), (V{"SETEX", "k", "3", "v"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.setex("k", 2500ms, "v"); }), (V{"PSETEX", "k", "2500", "v"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.expire("k", 60s); }), (V{"EXPIRE", "k", "60"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.expire("k", 60s, ExpireCondition::gt); }), (V{"EXPIRE", "k", "60", "GT"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.expire("k", 250ms, ExpireCondition::nx); }),
            (V{"PEXPIRE", "k", "250", "NX"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.pexpire("k", 2s, ExpireCondition::xx); }), (V{"PEXPIRE", "k", "2000", "XX"}));
  const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(1'900'000'000));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.expireat("k", at, ExpireCondition::lt); }),
            (V{"EXPIREAT", "k", "1900000000", "LT"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.expireat("k", at + 1ms); }), (V{"PEXPIREAT", "k", "1900000000001"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.getex("k", {.ttl = 5s}); }), (V{"GETEX", "k", "EX", "5"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.getex("k", {.persist = true}); }), (V{"GETEX", "k", "PERSIST"}));
}

TEST(CommandsEncoding, ListsOfKeysAcceptManyContainerShapes) {
  std::vector<std::string> vs{"a", "b"};
  std::set<std::string_view> ss{"x", "y"};
  std::string one = "solo";
  EXPECT_EQ(argv_of([&](Recorder& r) { r.del(vs); }), (V{"DEL", "a", "b"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.exists(ss); }), (V{"EXISTS", "x", "y"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.unlink(one); }), (V{"UNLINK", "solo"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.touch("t"); }), (V{"TOUCH", "t"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.mget({"a", "b", "c"}); }), (V{"MGET", "a", "b", "c"}));

  std::map<std::string, std::string> m{{"f1", "v1"}, {"f2", "v2"}};
  EXPECT_EQ(argv_of([&](Recorder& r) { r.hset("h", m); }), (V{"HSET", "h", "f1", "v1", "f2", "v2"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.hset("h", "f", "v"); }), (V{"HSET", "h", "f", "v"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.mset({{"a", "1"}, {"b", "2"}}); }), (V{"MSET", "a", "1", "b", "2"}));
  std::unordered_map<std::string, double> scores{{"solo", 2.5}};
  EXPECT_EQ(argv_of([&](Recorder& r) { r.zadd("z", scores); }), (V{"ZADD", "z", "2.5", "solo"}));
}

TEST(CommandsEncoding, EmptyListsAreUsageErrorsNamingTheCommand) {
  std::vector<std::string> none;
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.del(none); }), "DEL: the list of keys is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.mget(none); }), "MGET: the list of keys is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.mset(std::map<std::string, std::string>{}); }),
            "MSET: the list of key/value pairs is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.hset("h", std::map<std::string, std::string>{}); }),
            "HSET: the list of fields is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.hdel("h", none); }), "HDEL: the list of fields is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.lpush("l", none); }), "LPUSH: the list of elements is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.sadd("s", none); }), "SADD: the list of members is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.sunion(none); }), "SUNION: the list of keys is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.sinterstore("d", none); }), "SINTERSTORE: the list of keys is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.zadd("z", MemberScores{}); }), "ZADD: the list of members is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.zrem("z", none); }), "ZREM: the list of members is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.blpop(none, 1s); }), "BLPOP: the list of keys is empty");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.bzpopmax(none, 1s); }), "BZPOPMAX: the list of keys is empty");
}

TEST(CommandsEncoding, ScoresKeepFullPrecisionAndInfinities) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(argv_of([&](Recorder& r) { r.zadd("z", {{"a", 0.1}, {"b", -inf}, {"c", 1e300}}); }),
            (V{"ZADD", "z", "0.1", "a", "-inf", "b", "1e+300", "c"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.zincrby("z", 1.0 / 3, "a"); }), (V{"ZINCRBY", "z", "0.3333333333333333", "a"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.zcount("z", ScoreBound::exclusive(1.5), ScoreBound::pos_inf()); }),
            (V{"ZCOUNT", "z", "(1.5", "+inf"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.zremrangebyscore("z", ScoreBound::neg_inf(), 3); }),
            (V{"ZREMRANGEBYSCORE", "z", "-inf", "3"}));
  EXPECT_EQ(argv_of([&](Recorder& r) { r.incrbyfloat("k", -2.5); }), (V{"INCRBYFLOAT", "k", "-2.5"}));
}

TEST(CommandsEncoding, NaNIsAUsageError) {
  const double nan = std::nan("");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.zadd("z", {{"a", 1}, {"b", nan}}); }), "ZADD: a score is NaN");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.zincrby("z", nan, "a"); }), "ZINCRBY: the increment is NaN");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.zcount("z", nan, 1); }), "ZCOUNT: a score bound is NaN");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.hincrbyfloat("h", "f", nan); }),
            "HINCRBYFLOAT: the increment is NaN");
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.zrange("z", ZRange::by_score(nan, 1)); }),
            "ZRANGE: a score bound is NaN");
}

TEST(CommandsEncoding, ZAddOptions) {
  EXPECT_EQ(argv_of([](Recorder& r) {
              r.zadd("z", {{"m", 1}}, {.condition = WriteCondition::xx, .compare = ScoreCompare::gt, .changed = true});
            }),
            (V{"ZADD", "z", "XX", "GT", "CH", "1", "m"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.zadd_incr("z", "m", 2, {.condition = WriteCondition::nx}); }),
            (V{"ZADD", "z", "NX", "INCR", "2", "m"}));
  EXPECT_EQ(usage_error_of([](Recorder& r) {
              r.zadd("z", {{"m", 1}}, {.condition = WriteCondition::nx, .compare = ScoreCompare::lt});
            }),
            "ZADD: NX cannot be combined with GT or LT");
}

TEST(CommandsEncoding, ZRangeQueries) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.zrange("z", ZRange::by_rank(0, -1)); }), (V{"ZRANGE", "z", "0", "-1"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.zrange_withscores("z", ZRange::by_rank(0, 9).rev()); }),
            (V{"ZRANGE", "z", "0", "9", "REV", "WITHSCORES"}));
  // Bounds are given low to high; with rev() the server gets them swapped.
  EXPECT_EQ(argv_of([](Recorder& r) {
              r.zrange("z", ZRange::by_score(ScoreBound::exclusive(1), ScoreBound::pos_inf()).rev().limit(2, 5));
            }),
            (V{"ZRANGE", "z", "+inf", "(1", "BYSCORE", "REV", "LIMIT", "2", "5"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.zrange("z", ZRange::by_lex(LexBound::inclusive("a"), LexBound::exclusive("c"))); }),
            (V{"ZRANGE", "z", "[a", "(c", "BYLEX"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.zrange("z", ZRange::by_lex(LexBound::min(), LexBound::max()).rev()); }),
            (V{"ZRANGE", "z", "+", "-", "BYLEX", "REV"}));
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.zrange_withscores("z", ZRange::by_lex(LexBound::min(), LexBound::max())); }),
            "ZRANGE: WITHSCORES cannot be combined with a lex range");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.zrange("z", ZRange::by_rank(0, 1).limit(0, 1)); }),
            "ZRANGE: LIMIT needs a score or lex range");
  EXPECT_EQ(argv_of([](Recorder& r) { r.zrevrangebyscore_withscores("z", 10, 0, Limit{0, 3}); }),
            (V{"ZREVRANGEBYSCORE", "z", "10", "0", "WITHSCORES", "LIMIT", "0", "3"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.zrangebyscore("z", ScoreBound::neg_inf(), ScoreBound::exclusive(5)); }),
            (V{"ZRANGEBYSCORE", "z", "-inf", "(5"}));
}

TEST(CommandsEncoding, BlockingTimeoutsInSecondsWithMilliseconds) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.blpop({"a", "b"}, 2s); }), (V{"BLPOP", "a", "b", "2"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.brpop("q", 1500ms); }), (V{"BRPOP", "q", "1.500"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bzpopmin("z", 5ms); }), (V{"BZPOPMIN", "z", "0.005"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bzpopmax("z", 0ms); }), (V{"BZPOPMAX", "z", "0"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.blmove("s", "d", ListEnd::right, ListEnd::left, 1s); }),
            (V{"BLMOVE", "s", "d", "RIGHT", "LEFT", "1"}));
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.blpop("q", -1ms); }), "BLPOP: the timeout is negative");
}

TEST(CommandsEncoding, CountsAndRanks) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.lpop("l", 3); }), (V{"LPOP", "l", "3"}));
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.lpop("l", -1); }), "LPOP: the count must not be negative, got -1");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.spop("s", -2); }), "SPOP: the count must not be negative, got -2");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.zpopmin("z", -2); }), "ZPOPMIN: the count must not be negative, got -2");
  EXPECT_EQ(argv_of([](Recorder& r) { r.srandmember("s", -5); }), (V{"SRANDMEMBER", "s", "-5"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.lpos("l", "x", {.rank = -1, .maxlen = 10}); }),
            (V{"LPOS", "l", "x", "RANK", "-1", "MAXLEN", "10"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.lpos("l", "x", 0); }), (V{"LPOS", "l", "x", "COUNT", "0"}));
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.lpos("l", "x", {.rank = 0}); }), "LPOS: RANK must not be zero");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.lpos("l", "x", -1); }), "LPOS: COUNT must not be negative, got -1");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.setrange("k", -1, "x"); }),
            "SETRANGE: the offset must not be negative, got -1");
  EXPECT_EQ(argv_of([](Recorder& r) { r.sintercard({"a", "b"}, 10); }), (V{"SINTERCARD", "2", "a", "b", "LIMIT", "10"}));
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.sintercard({"a"}, -1); }),
            "SINTERCARD: LIMIT must not be negative, got -1");
  EXPECT_EQ(argv_of([](Recorder& r) { r.linsert("l", InsertPosition::before, "p", "e"); }),
            (V{"LINSERT", "l", "BEFORE", "p", "e"}));
}

TEST(CommandsEncoding, ScanOptions) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.scan(0); }), (V{"SCAN", "0"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.scan(18446744073709551615ull, {.match = "user:*", .count = 100, .type = "hash"}); }),
            (V{"SCAN", "18446744073709551615", "MATCH", "user:*", "COUNT", "100", "TYPE", "hash"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.zscan("z", 7, {.count = 5}); }), (V{"ZSCAN", "z", "7", "COUNT", "5"}));
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.hscan("h", 0, {.type = "string"}); }), "HSCAN: TYPE is only valid for SCAN");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.sscan("s", 0, {.count = -1}); }),
            "SSCAN: COUNT must be positive, got -1");
}

TEST(CommandsEncoding, ServerCommands) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.flushdb(); }), (V{"FLUSHDB"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.flushdb(FlushMode::async); }), (V{"FLUSHDB", "ASYNC"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.info(); }), (V{"INFO"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.info({"server", "memory"}); }), (V{"INFO", "server", "memory"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.ping(); }), (V{"PING"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.copy("a", "b", {.db = 2, .replace = true}); }),
            (V{"COPY", "a", "b", "DB", "2", "REPLACE"}));
}

TEST(CommandsEncoding, ManyArgumentsAndNumbersKeepTheirBytes) {
  // Past the builder's inline room (8 arguments, 4 numbers) everything moves
  // to the heap; every view must still read its own bytes.
  std::vector<std::pair<std::string, double>> members;
  V want{"ZADD", "z"};
  for (int i = 0; i < 40; ++i) {
    members.emplace_back("m" + std::to_string(i), i + 0.5);
    want.push_back(std::to_string(i) + ".5");
    want.push_back("m" + std::to_string(i));
  }
  EXPECT_EQ(argv_of([&](Recorder& r) { r.zadd("z", members); }), want);
  const std::string long_bound(100, 'x');
  EXPECT_EQ(argv_of([&](Recorder& r) {
              r.zrange("z", ZRange::by_lex(LexBound::inclusive(long_bound), LexBound::exclusive("y")).limit(1, 2));
            }),
            (V{"ZRANGE", "z", "[" + long_bound, "(y", "BYLEX", "LIMIT", "1", "2"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.lpos("l", "x", 3, {.rank = -2, .maxlen = 99}); }),
            (V{"LPOS", "l", "x", "COUNT", "3", "RANK", "-2", "MAXLEN", "99"}));
}

TEST(CommandsEncoding, BinaryArgumentsPassUntouched) {
  const std::string key("k\0\r\n", 4);
  const std::string value("\0\xff\r\nend", 7);
  auto v = argv_of([&](Recorder& r) { r.set(key, value); });
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[1], key);
  EXPECT_EQ(v[2], value);
}

// The Client learns from the argv that a command blocks and for how long
// (its row in src/protocol/command_table.cpp, read by src/protocol/command_info.cpp), and adds its command timeout on top: the typed
// blocking helpers must produce argv it understands.
TEST(CommandsEncoding, BlockingHelpersAreRecognisedWithTheirWait) {
  auto cls = [](const V& argv) {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    return detail::classify_command(views);
  };
  const std::vector<std::pair<V, std::optional<std::chrono::milliseconds>>> cases{
      {argv_of([](Recorder& r) { r.blpop({"a", "b"}, 1500ms); }), 1500ms},
      {argv_of([](Recorder& r) { r.brpop("q", 2s); }), 2000ms},
      {argv_of([](Recorder& r) { r.blmove("s", "d", ListEnd::left, ListEnd::right, 5ms); }), 5ms},
      {argv_of([](Recorder& r) { r.bzpopmin("z", 999ms); }), 999ms},
      {argv_of([](Recorder& r) { r.bzpopmax({"z", "y"}, 0ms); }), std::nullopt},  // forever
  };
  for (const auto& [argv, wait] : cases) {
    auto c = cls(argv);
    EXPECT_EQ(c.route, detail::CommandRoute::blocking) << argv[0];
    EXPECT_EQ(c.block_time, wait) << argv[0];
  }
  EXPECT_EQ(cls(argv_of([](Recorder& r) { r.lmove("s", "d", ListEnd::left, ListEnd::right); })).route,
            detail::CommandRoute::normal);
}

TEST(CommandsEncoding, StreamCommandsBuildTheServersArgv) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.xadd("s", {{"f", "v"}, {"g", "w"}}); }), (V{"XADD", "s", "*", "f", "v", "g", "w"}));
  EXPECT_EQ(argv_of([](Recorder& r) {
              r.xadd("s", {{"f", "v"}}, {.id = "5-*", .trim = StreamTrim::max_len(100).approx(10)});
            }),
            (V{"XADD", "s", "MAXLEN", "~", "100", "LIMIT", "10", "5-*", "f", "v"}));
  EXPECT_EQ(argv_of([](Recorder& r) {
              r.xadd_nomkstream("s", {{"f", "v"}}, {.id = "7", .trim = StreamTrim::min_id("3-1")});
            }),
            (V{"XADD", "s", "NOMKSTREAM", "MINID", "=", "3-1", "7", "f", "v"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.xrange("s", "(1-0", "+", 5); }), (V{"XRANGE", "s", "(1-0", "+", "COUNT", "5"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.xrevrange("s", "+", "-"); }), (V{"XREVRANGE", "s", "+", "-"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.xtrim("s", StreamTrim::max_len(0)); }), (V{"XTRIM", "s", "MAXLEN", "=", "0"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.xread({{"a", "0"}, {"b", "$"}}, {.count = 2, .block = 1500ms}); }),
            (V{"XREAD", "COUNT", "2", "BLOCK", "1500", "STREAMS", "a", "b", "0", "$"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.xreadgroup("g", "c", {{"s", ">"}}, {.count = 1, .noack = true}); }),
            (V{"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "NOACK", "STREAMS", "s", ">"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.xgroup_create("s", "g", "$", {.mkstream = true, .entries_read = 3}); }),
            (V{"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM", "ENTRIESREAD", "3"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.xgroup_setid("s", "g", "0", 0); }),
            (V{"XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "0"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.xpending("s", "g", {.start = "(1-1", .count = 10, .consumer = "c", .min_idle = 5s}); }),
            (V{"XPENDING", "s", "g", "IDLE", "5000", "(1-1", "+", "10", "c"}));
  const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(2'000'000'000));
  EXPECT_EQ(argv_of([&](Recorder& r) {
              r.xclaim_justid("s", "g", "c", 1s, {"1-0", "2-0"}, {.idle = 0ms, .time = at, .retry_count = 2, .force = true});
            }),
            (V{"XCLAIM", "s", "g", "c", "1000", "1-0", "2-0", "IDLE", "0", "TIME", "2000000000000", "RETRYCOUNT", "2",
               "FORCE", "JUSTID"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.xautoclaim("s", "g", "c", 0ms, "0-0", 25); }),
            (V{"XAUTOCLAIM", "s", "g", "c", "0", "0-0", "COUNT", "25"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.xinfo_consumers("s", "g"); }), (V{"XINFO", "CONSUMERS", "s", "g"}));
  // Field values are binary: an embedded NUL, CR LF pass untouched.
  const std::string value("a\0b\r\n", 5);
  EXPECT_EQ(argv_of([&](Recorder& r) { r.xadd("s", {{"f", value}}); }), (V{"XADD", "s", "*", "f", value}));
}

TEST(CommandsEncoding, StreamUsageErrorsSendNothing) {
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xadd("s", PairList{}); }), "XADD: the list of fields is empty");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xadd("s", {{"f", "v"}}, {.id = "12-x"}); }),
            "XADD: the id is not a valid stream id");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xadd("s", {{"f", "v"}}, {.id = "$"}); }),
            "XADD: the id is not a valid stream id");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xadd("s", {{"f", "v"}}, {.trim = StreamTrim::max_len(-1)}); }),
            "XADD: MAXLEN must not be negative, got -1");
  EXPECT_EQ(usage_error_of([](Recorder& r) {
              auto t = StreamTrim::max_len(5);
              t.limit = 3;
              r.xtrim("s", t);
            }),
            "XTRIM: LIMIT needs approximate trimming (approx())");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xtrim("s", StreamTrim::min_id("-")); }),
            "XTRIM: MINID is not a valid stream id");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xrange("s", "-", "+", -1); }), "XRANGE: COUNT must not be negative, got -1");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xrange("s", "1-", "+"); }), "XRANGE: the start is not a valid stream id");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xrevrange("s", "+", "-1"); }), "XREVRANGE: the start is not a valid stream id");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xdel("s", StringList{}); }), "XDEL: the list of ids is empty");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xdel("s", {"1-1", "*"}); }), "XDEL: an id is not a valid stream id");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xread(PairList{}); }), "XREAD: the list of streams is empty");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xread({{"s", ">"}}); }), "XREAD: an id is not a valid stream id");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xread({{"s", "0"}}, {.count = 0}); }),
            "XREAD: COUNT must be positive, got 0");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xread({{"s", "0"}}, {.block = -1ms}); }), "XREAD: BLOCK is negative");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xreadgroup("g", "c", {{"s", "$"}}); }),
            "XREADGROUP: an id is not a valid stream id");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xgroup_create("s", "g", ">"); }), "XGROUP: the id is not a valid stream id");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xgroup_create("s", "g", "0", {.entries_read = -2}); }),
            "XGROUP: ENTRIESREAD must not be negative, got -2");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xack("s", "g", StringList{}); }), "XACK: the list of ids is empty");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xpending("s", "g", {.count = -1}); }),
            "XPENDING: the count must not be negative, got -1");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xpending("s", "g", {.end = "x"}); }),
            "XPENDING: the end is not a valid stream id");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xclaim("s", "g", "c", -1ms, {"1-1"}); }),
            "XCLAIM: the minimum idle time is negative");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xclaim("s", "g", "c", 0ms, {"1-1"}, {.retry_count = -1}); }),
            "XCLAIM: RETRYCOUNT must not be negative, got -1");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xautoclaim("s", "g", "c", 0ms, "0-0", 0); }),
            "XAUTOCLAIM: COUNT must be positive, got 0");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.xautoclaim_justid("s", "g", "c", 0ms, "-"); }),
            "XAUTOCLAIM: the start is not a valid stream id");
}

TEST(CommandsEncoding, StreamIdForms) {
  using namespace detail::stream_id;
  for (auto id : {"0", "0-0", "1700000000000-5", "18446744073709551615-18446744073709551615"})
    EXPECT_TRUE(detail::valid_stream_id(id, plain)) << id;
  for (auto id : {"", "-", "+", "*", "$", ">", "1-", "-1", "1--1", "a-1", "1-a", " 1", "1 ", "+1", "1.5",
                  "18446744073709551616", "1-18446744073709551616", "(1", "1-*", "1-0-0"})
    EXPECT_FALSE(detail::valid_stream_id(id, plain)) << id;
  EXPECT_TRUE(detail::valid_stream_id("*", star));
  EXPECT_TRUE(detail::valid_stream_id("12-*", auto_seq));
  EXPECT_FALSE(detail::valid_stream_id("*-*", auto_seq));
  EXPECT_TRUE(detail::valid_stream_id("$", dollar));
  EXPECT_TRUE(detail::valid_stream_id(">", greater));
  EXPECT_TRUE(detail::valid_stream_id("-", extremes));
  EXPECT_TRUE(detail::valid_stream_id("+", extremes));
  EXPECT_TRUE(detail::valid_stream_id("(5-1", exclusive));
  EXPECT_FALSE(detail::valid_stream_id("(", exclusive));
  EXPECT_FALSE(detail::valid_stream_id("(+", exclusive | extremes));
}

TEST(CommandsEncoding, StreamReadsWithBlockAreRecognisedAsBlocking) {
  auto cls = [](const V& argv) {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    return detail::classify_command(views);
  };
  auto a = cls(argv_of([](Recorder& r) { r.xread({{"s", "$"}}, {.count = 5, .block = 2500ms}); }));
  EXPECT_EQ(a.route, detail::CommandRoute::blocking);
  EXPECT_EQ(a.block_time, 2500ms);
  auto b = cls(argv_of([](Recorder& r) { r.xreadgroup("g", "c", {{"s", ">"}}, {.block = 0ms}); }));
  EXPECT_EQ(b.route, detail::CommandRoute::blocking);
  EXPECT_EQ(b.block_time, std::nullopt);  // forever
  EXPECT_EQ(cls(argv_of([](Recorder& r) { r.xread({{"s", "0"}}, {.count = 5}); })).route, detail::CommandRoute::normal);
  // Group and consumer names that read like keywords are names.
  EXPECT_EQ(cls(argv_of([](Recorder& r) { r.xreadgroup("BLOCK", "5", {{"s", ">"}}); })).route,
            detail::CommandRoute::normal);
  EXPECT_EQ(cls(argv_of([](Recorder& r) { r.xreadgroup("g", "block", {{"s", ">"}}, {.count = 1}); })).route,
            detail::CommandRoute::normal);
}

TEST(CommandsEncoding, GeoCommandsBuildTheServersArgv) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.geoadd("g", {{13.361389, 38.115556, "Palermo"}, {-180, 85.05112878, "edge"}}); }),
            (V{"GEOADD", "g", "13.361389", "38.115556", "Palermo", "-180", "85.05112878", "edge"}));
  EXPECT_EQ(argv_of([](Recorder& r) {
              r.geoadd("g", {{1, 2, "m"}}, {.condition = WriteCondition::xx, .changed = true});
            }),
            (V{"GEOADD", "g", "XX", "CH", "1", "2", "m"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.geoadd("g", {{1, 2, "m"}}, {.condition = WriteCondition::nx}); }),
            (V{"GEOADD", "g", "NX", "1", "2", "m"}));
  EXPECT_EQ(argv_of([](Recorder& r) {
              r.geosearch("g", GeoQuery::around_member("Palermo").within_radius(200, GeoUnit::km));
            }),
            (V{"GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km"}));
  EXPECT_EQ(argv_of([](Recorder& r) {
              r.geosearch("g", GeoQuery::around(15, 37.5)
                                   .within_box(400, 250.5, GeoUnit::mi)
                                   .desc()
                                   .limit(3, true)
                                   .with_coord()
                                   .with_dist()
                                   .with_hash());
            }),
            (V{"GEOSEARCH", "g", "FROMLONLAT", "15", "37.5", "BYBOX", "400", "250.5", "mi", "DESC", "COUNT", "3", "ANY",
               "WITHCOORD", "WITHDIST", "WITHHASH"}));
  EXPECT_EQ(argv_of([](Recorder& r) {
              r.geosearchstore("d", "g", GeoQuery::around(0, 0).within_radius(1, GeoUnit::ft).asc().limit(2), true);
            }),
            (V{"GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "ft", "ASC", "COUNT", "2",
               "STOREDIST"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.geodist("g", "a", "b"); }), (V{"GEODIST", "g", "a", "b", "m"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.geodist("g", "a", "b", GeoUnit::km); }), (V{"GEODIST", "g", "a", "b", "km"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.geopos("g", {"a", "b"}); }), (V{"GEOPOS", "g", "a", "b"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.geohash("g", "a"); }), (V{"GEOHASH", "g", "a"}));
}

TEST(CommandsEncoding, GeoUsageErrorsSendNothing) {
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.geoadd("g", {{0, 85.06, "x"}}); }),
            "GEOADD: the latitude 85.06 is outside -85.05112878 to 85.05112878");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.geoadd("g", {{1, 2, "ok"}, {-180.5, 0, "x"}}); }),
            "GEOADD: the longitude -180.5 is outside -180 to 180");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.geoadd("g", {{std::nan(""), 0, "x"}}); }),
            "GEOADD: the longitude nan is outside -180 to 180");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.geoadd("g", std::vector<GeoPlace>{}); }),
            "GEOADD: the list of members is empty");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.geosearch("g", GeoQuery::around(0, -90).within_radius(1, GeoUnit::m)); }),
            "GEOSEARCH: the latitude -90 is outside -85.05112878 to 85.05112878");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.geosearch("g", GeoQuery::around_member("a").within_radius(-1, GeoUnit::m)); }),
            "GEOSEARCH: the radius must be a finite number >= 0, got -1");
  EXPECT_EQ(usage_error_of([](Recorder& r) {
              r.geosearch("g", GeoQuery::around_member("a").within_box(1, std::numeric_limits<double>::infinity(),
                                                                       GeoUnit::m));
            }),
            "GEOSEARCH: the box height must be a finite number >= 0, got inf");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.geosearch("g", GeoQuery::around_member("a").limit(0)); }),
            "GEOSEARCH: COUNT must be positive, got 0");
  auto any_alone = GeoQuery::around_member("a");
  any_alone.any = true;
  EXPECT_EQ(usage_error_of([&](Recorder& r) { r.geosearch("g", any_alone); }), "GEOSEARCH: ANY needs a COUNT");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.geosearchstore("d", "g", GeoQuery::around_member("a").with_dist()); }),
            "GEOSEARCHSTORE: WITHCOORD, WITHDIST and WITHHASH are for GEOSEARCH (use store_dist to keep distances)");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.geopos("g", StringList{}); }), "GEOPOS: the list of members is empty");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.geohash("g", StringList{}); }), "GEOHASH: the list of members is empty");
}

TEST(CommandsEncoding, HyperLogLogAndBitmapCommandsBuildTheServersArgv) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.pfadd("h", {"a", "b"}); }), (V{"PFADD", "h", "a", "b"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.pfcount({"h", "i"}); }), (V{"PFCOUNT", "h", "i"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.pfmerge("d", {"h", "i"}); }), (V{"PFMERGE", "d", "h", "i"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.pfmerge("d", StringList{}); }), (V{"PFMERGE", "d"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.set_bit("b", 4294967295LL, 1); }), (V{"SETBIT", "b", "4294967295", "1"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.get_bit("b", 0); }), (V{"GETBIT", "b", "0"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bitcount("b"); }), (V{"BITCOUNT", "b"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bitcount("b", {1, -2}); }), (V{"BITCOUNT", "b", "1", "-2"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bitcount("b", {5, 30, BitUnit::bit}); }), (V{"BITCOUNT", "b", "5", "30", "BIT"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bitpos("b", 0); }), (V{"BITPOS", "b", "0"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bitpos("b", 1, 2); }), (V{"BITPOS", "b", "1", "2"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bitpos("b", 1, BitRange{0, 9, BitUnit::bit}); }),
            (V{"BITPOS", "b", "1", "0", "9", "BIT"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bitop(BitOperation::xor_, "d", {"a", "b"}); }), (V{"BITOP", "XOR", "d", "a", "b"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bitop(BitOperation::not_, "d", "a"); }), (V{"BITOP", "NOT", "d", "a"}));
  EXPECT_EQ(argv_of([](Recorder& r) {
              r.bitfield("f", {BitFieldOp::set("i5", 3, -7), BitFieldOp::overflow(BitOverflow::fail),
                               BitFieldOp::incrby("u8", BitFieldOffset::nth(2), 300),
                               BitFieldOp::overflow(BitOverflow::sat), BitFieldOp::get("i64", 0),
                               BitFieldOp::overflow(BitOverflow::wrap)});
            }),
            (V{"BITFIELD", "f", "SET", "i5", "3", "-7", "OVERFLOW", "FAIL", "INCRBY", "u8", "#2", "300", "OVERFLOW",
               "SAT", "GET", "i64", "0", "OVERFLOW", "WRAP"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.bitfield_ro("f", {BitFieldOp::get("u63", BitFieldOffset::nth(1))}); }),
            (V{"BITFIELD_RO", "f", "GET", "u63", "#1"}));
}

TEST(CommandsEncoding, BitmapUsageErrorsSendNothing) {
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.pfadd("h", StringList{}); }), "PFADD: the list of elements is empty");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.pfcount(StringList{}); }), "PFCOUNT: the list of keys is empty");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.set_bit("b", -1, 1); }), "SETBIT: the bit offset -1 is outside 0 to 2^32 - 1");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.set_bit("b", 1LL << 32, 0); }),
            "SETBIT: the bit offset 4294967296 is outside 0 to 2^32 - 1");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.set_bit("b", 1, 2); }), "SETBIT: the bit value must be 0 or 1, got 2");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.get_bit("b", -5); }), "GETBIT: the bit offset -5 is outside 0 to 2^32 - 1");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.bitpos("b", -1); }), "BITPOS: the bit value must be 0 or 1, got -1");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.bitop(BitOperation::and_, "d", StringList{}); }),
            "BITOP: the list of sources is empty");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.bitop(BitOperation::not_, "d", {"a", "b"}); }),
            "BITOP: NOT takes exactly one source");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.bitfield("f", {}); }), "BITFIELD: the list of sub-operations is empty");
  for (const char* bad : {"", "i", "u", "i0", "u0", "i65", "u64", "x8", "I8", "i08", "i8 ", "i-1", "i100"})
    EXPECT_EQ(usage_error_of([&](Recorder& r) { r.bitfield("f", {BitFieldOp::get(bad, 0)}); }),
              std::string("BITFIELD: '") + bad + "' is not a bitfield type (i1 to i64 or u1 to u63)")
        << bad;
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.bitfield("f", {BitFieldOp::get("u8", 0), BitFieldOp::set("i4", -1, 0)}); }),
            "BITFIELD: the bit offset -1 is outside 0 to 2^32 - 1");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.bitfield("f", {BitFieldOp::incrby("i8", BitFieldOffset::nth(1LL << 29), 1)}); }),
            "BITFIELD: the field number #536870912 of i8 is outside the 2^32 bits of a string");
  EXPECT_EQ(argv_of([](Recorder& r) { r.bitfield("f", {BitFieldOp::get("i8", BitFieldOffset::nth((1LL << 29) - 1))}); }),
            (V{"BITFIELD", "f", "GET", "i8", "#536870911"}));
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.bitfield_ro("f", {BitFieldOp::set("u8", 0, 1)}); }),
            "BITFIELD_RO: only GET sub-operations are read-only");
}

TEST(CommandsEncoding, FunctionCommandsBuildTheServersArgv) {
  EXPECT_EQ(argv_of([](Recorder& r) { r.function_load("#!lua name=l\n"); }), (V{"FUNCTION", "LOAD", "#!lua name=l\n"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.function_load("code", true); }), (V{"FUNCTION", "LOAD", "REPLACE", "code"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.fcall("f", {"k1", "k2"}, {"a"}); }), (V{"FCALL", "f", "2", "k1", "k2", "a"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.fcall("f", StringList{}); }), (V{"FCALL", "f", "0"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.fcall_ro("f", "k", {"x", "y"}); }), (V{"FCALL_RO", "f", "1", "k", "x", "y"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.function_list(); }), (V{"FUNCTION", "LIST"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.function_list({.library_pattern = "my*", .with_code = true}); }),
            (V{"FUNCTION", "LIST", "LIBRARYNAME", "my*", "WITHCODE"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.function_delete("l"); }), (V{"FUNCTION", "DELETE", "l"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.function_flush(); }), (V{"FUNCTION", "FLUSH"}));
  EXPECT_EQ(argv_of([](Recorder& r) { r.function_flush(FlushMode::sync); }), (V{"FUNCTION", "FLUSH", "SYNC"}));
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.fcall("", {"k"}); }), "FCALL: the function name is empty");
  EXPECT_EQ(usage_error_of([](Recorder& r) { r.function_load(""); }), "FUNCTION: the library code is empty");
}

// A ClusterClient routes a typed command by the argv it builds: the key
// shape of its row (src/protocol/command_table.cpp) must find exactly the helper's
// keys, its replica fact must let only reads go to a replica, and FUNCTION LOAD/DELETE/FLUSH must reach every master.
TEST(CommandsEncoding, GeoBitAndFunctionHelpersMeetTheClusterTables) {
  struct Case {
    V argv;
    V keys;
    bool read_only;
  };
  auto keys_of = [](const V& argv) {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    V out;
    detail::command_keys(views).for_each([&](std::size_t i) { out.push_back(argv[i]); });
    return out;
  };
  auto readable = [](const V& argv) {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    return detail::replica_readable(views);
  };
  const auto q = GeoQuery::around_member("m").within_radius(1, GeoUnit::km);
  const std::vector<Case> cases{
      {argv_of([](Recorder& r) { r.geoadd("g", {{1, 2, "m"}}, {.condition = WriteCondition::nx}); }), {"g"}, false},
      {argv_of([&](Recorder& r) { r.geosearch("g", q); }), {"g"}, true},
      {argv_of([&](Recorder& r) { r.geosearchstore("d", "g", q, true); }), {"d", "g"}, false},
      {argv_of([](Recorder& r) { r.geodist("g", "a", "b", GeoUnit::km); }), {"g"}, true},
      {argv_of([](Recorder& r) { r.geopos("g", {"a", "b"}); }), {"g"}, true},
      {argv_of([](Recorder& r) { r.geohash("g", "a"); }), {"g"}, true},
      {argv_of([](Recorder& r) { r.pfadd("h", {"a", "b"}); }), {"h"}, false},
      {argv_of([](Recorder& r) { r.pfcount("h"); }), {"h"}, true},
      {argv_of([](Recorder& r) { r.pfcount({"{t}a", "{t}b"}); }), {"{t}a", "{t}b"}, false},  // one key only: see cluster_reads
      {argv_of([](Recorder& r) { r.pfmerge("{t}d", {"{t}a", "{t}b"}); }), {"{t}d", "{t}a", "{t}b"}, false},
      {argv_of([](Recorder& r) { r.set_bit("b", 1, 1); }), {"b"}, false},
      {argv_of([](Recorder& r) { r.get_bit("b", 1); }), {"b"}, true},
      {argv_of([](Recorder& r) { r.bitcount("b", {0, 1, BitUnit::bit}); }), {"b"}, true},
      {argv_of([](Recorder& r) { r.bitpos("b", 1, BitRange{}); }), {"b"}, true},
      {argv_of([](Recorder& r) { r.bitop(BitOperation::and_, "{t}d", {"{t}a", "{t}b"}); }), {"{t}d", "{t}a", "{t}b"}, false},
      {argv_of([](Recorder& r) { r.bitop(BitOperation::not_, "{t}d", "{t}a"); }), {"{t}d", "{t}a"}, false},
      {argv_of([](Recorder& r) { r.bitfield("f", {BitFieldOp::get("u8", 0)}); }), {"f"}, false},
      {argv_of([](Recorder& r) { r.bitfield_ro("f", {BitFieldOp::get("u8", 0)}); }), {"f"}, true},
      {argv_of([](Recorder& r) { r.fcall("fn", {"{t}a", "{t}b"}, {"x", "y"}); }), {"{t}a", "{t}b"}, false},
      {argv_of([](Recorder& r) { r.fcall_ro("fn", "k", {"x"}); }), {"k"}, true},
      {argv_of([](Recorder& r) { r.fcall("fn", StringList{}, {"x"}); }), {}, false},
      {argv_of([](Recorder& r) { r.function_list(); }), {}, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(keys_of(c.argv), c.keys) << c.argv[0];
    EXPECT_EQ(readable(c.argv), c.read_only) << c.argv[0];
    std::vector<std::string_view> views(c.argv.begin(), c.argv.end());
    EXPECT_EQ(detail::fan_out_kind(views), detail::FanOut::none) << c.argv[0];
    EXPECT_EQ(detail::classify_command(views).route, detail::CommandRoute::normal) << c.argv[0];
  }
  for (const V& argv : {argv_of([](Recorder& r) { r.function_load("code", true); }),
                        argv_of([](Recorder& r) { r.function_delete("lib"); }),
                        argv_of([](Recorder& r) { r.function_flush(FlushMode::async); })}) {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    EXPECT_EQ(detail::fan_out_kind(views), detail::FanOut::same) << argv[1];
    EXPECT_EQ(keys_of(argv), V{}) << argv[1];
  }
}
