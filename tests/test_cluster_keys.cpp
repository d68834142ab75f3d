// Redis Cluster without any server: CRC16 and slot hashing, hash tags, key
// positions, split and fan-out kinds, and parsing of redirections and of the
// CLUSTER SLOTS reply (the real cluster is in test_cluster.cpp, scripted fake
// nodes in test_cluster_fake.cpp).
#include <uvredis/uvredis.hpp>

#include "../src/protocol/cluster_keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

using uvredis::ClusterClient;
using uvredis::Reply;
namespace d = uvredis::detail;

// ------------------------------------------------------------ pure logic

namespace {
std::vector<std::size_t> key_positions(std::vector<std::string_view> argv) {
  std::vector<std::size_t> v;
  d::command_keys(argv).for_each([&](std::size_t i) { v.push_back(i); });
  return v;
}
using Pos = std::vector<std::size_t>;
}  // namespace

TEST(ClusterKeys, Crc16AndSlotsMatchKnownValues) {
  EXPECT_EQ(d::crc16("123456789"), 0x31C3);  // the XModem check value
  EXPECT_EQ(d::key_slot("foo"), 12182);
  EXPECT_EQ(d::key_slot("bar"), 5061);
  EXPECT_EQ(d::key_slot(""), 0);
  EXPECT_EQ(ClusterClient::key_slot("foo"), 12182);
}

TEST(ClusterKeys, HashTagsPickTheFirstNonEmptyBraces) {
  EXPECT_EQ(d::key_slot("{user1000}.following"), d::key_slot("{user1000}.followers"));
  EXPECT_EQ(d::key_slot("{user1000}.following"), d::key_slot("user1000"));
  EXPECT_EQ(d::key_slot("foo{bar}{zap}"), d::key_slot("bar"));
  EXPECT_EQ(d::key_slot("foo{{bar}}zap"), d::key_slot("{bar"));
  // Empty braces: the whole key is hashed.
  EXPECT_EQ(d::key_slot("foo{}{bar}"), d::crc16("foo{}{bar}") & 16383);
  EXPECT_EQ(d::key_slot("{}"), d::crc16("{}") & 16383);
  EXPECT_EQ(d::key_slot("a{b"), d::crc16("a{b") & 16383);
  // Binary-safe.
  EXPECT_EQ(d::key_slot(std::string_view("a\0b", 3)), d::crc16(std::string_view("a\0b", 3)) & 16383);
}

TEST(ClusterKeys, KeyPositionsForCommonAndSpecialCommands) {
  EXPECT_EQ(key_positions({"GET", "k"}), (Pos{1}));
  EXPECT_EQ(key_positions({"hset", "k", "f", "v"}), (Pos{1}));
  EXPECT_EQ(key_positions({"UNKNOWNCMD", "k", "x"}), (Pos{1}));
  EXPECT_EQ(key_positions({"PING"}), Pos{});
  EXPECT_EQ(key_positions({"INFO", "server"}), Pos{});
  EXPECT_EQ(key_positions({"PUBLISH", "chan", "msg"}), Pos{});
  EXPECT_EQ(key_positions({"MGET", "a", "b", "c"}), (Pos{1, 2, 3}));
  EXPECT_EQ(key_positions({"mset", "a", "1", "b", "2"}), (Pos{1, 3}));
  EXPECT_EQ(key_positions({"DEL", "a", "b"}), (Pos{1, 2}));
  EXPECT_EQ(key_positions({"EVAL", "return 1", "2", "a", "b", "arg"}), (Pos{3, 4}));
  EXPECT_EQ(key_positions({"EVALSHA", "abc", "0", "arg"}), Pos{});
  EXPECT_EQ(key_positions({"EVAL", "s", "5", "a"}), Pos{});  // malformed: the server will say so
  EXPECT_EQ(key_positions({"FCALL", "f", "1", "k", "a"}), (Pos{3}));
  EXPECT_EQ(key_positions({"ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2"}), (Pos{1, 3, 4}));
  EXPECT_EQ(key_positions({"ZINTER", "2", "a", "b"}), (Pos{2, 3}));
  EXPECT_EQ(key_positions({"XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"}), (Pos{4, 5}));
  EXPECT_EQ(key_positions({"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"}), (Pos{7}));
  EXPECT_EQ(key_positions({"BLPOP", "a", "b", "0"}), (Pos{1, 2}));
  EXPECT_EQ(key_positions({"BLMPOP", "0", "2", "a", "b", "LEFT"}), (Pos{3, 4}));
  EXPECT_EQ(key_positions({"RENAME", "a", "b"}), (Pos{1, 2}));
  EXPECT_EQ(key_positions({"BITOP", "AND", "dst", "a", "b"}), (Pos{2, 3, 4}));
  EXPECT_EQ(key_positions({"OBJECT", "ENCODING", "k"}), (Pos{2}));
  EXPECT_EQ(key_positions({"MEMORY", "USAGE", "k"}), (Pos{2}));
  EXPECT_EQ(key_positions({"MEMORY", "STATS"}), Pos{});
  EXPECT_EQ(key_positions({"XGROUP", "CREATE", "s", "g", "$"}), (Pos{2}));
  // Stream commands: keys after STREAMS (never a group or consumer that is
  // called "streams"), the key of XGROUP/XINFO subcommands, argv[1] otherwise.
  EXPECT_EQ(key_positions({"XREADGROUP", "GROUP", "streams", "STREAMS", "COUNT", "1", "STREAMS", "a", "b", ">", ">"}),
            (Pos{7, 8}));
  EXPECT_EQ(key_positions({"XREAD", "BLOCK", "0", "COUNT", "5", "STREAMS", "k", "$"}), (Pos{6}));
  EXPECT_EQ(key_positions({"XREAD", "STREAMS", "a", "0", "1"}), Pos{});  // odd: the server will say so
  EXPECT_EQ(key_positions({"XINFO", "CONSUMERS", "s", "g"}), (Pos{2}));
  EXPECT_EQ(key_positions({"XINFO", "HELP"}), Pos{});
  EXPECT_EQ(key_positions({"XGROUP", "DELCONSUMER", "s", "g", "c"}), (Pos{2}));
  for (auto name : {"XADD", "XLEN", "XRANGE", "XREVRANGE", "XDEL", "XTRIM", "XACK", "XPENDING", "XCLAIM", "XAUTOCLAIM"})
    EXPECT_EQ(key_positions({name, "s", "g", "c"}), (Pos{1})) << name;
}

TEST(ClusterKeys, SplittableCommands) {
  EXPECT_EQ(d::split_kind("mget"), d::SplitKind::mget);
  EXPECT_EQ(d::split_kind("MSET"), d::SplitKind::mset);
  for (auto n : {"DEL", "exists", "UNLINK", "Touch"}) EXPECT_EQ(d::split_kind(n), d::SplitKind::sum) << n;
  for (auto n : {"MSETNX", "SUNION", "RENAME", "GET"}) EXPECT_EQ(d::split_kind(n), d::SplitKind::none) << n;
}

TEST(ClusterKeys, AdminCommandsForEveryMaster) {
  auto fan = [](std::vector<std::string_view> argv) { return d::fan_out_kind(argv); };
  EXPECT_EQ(fan({"dbsize"}), d::FanOut::sum);
  EXPECT_EQ(fan({"FLUSHALL", "ASYNC"}), d::FanOut::same);
  EXPECT_EQ(fan({"script", "load", "return 1"}), d::FanOut::same);
  EXPECT_EQ(fan({"FUNCTION", "LOAD", "#!lua name=x"}), d::FanOut::same);
  EXPECT_EQ(fan({"SCRIPT", "EXISTS", "abc"}), d::FanOut::none);
  EXPECT_EQ(fan({"PING"}), d::FanOut::none);
  EXPECT_EQ(fan({"INFO"}), d::FanOut::none);
}

TEST(ClusterKeys, RedirectionsAreParsed) {
  auto m = d::parse_redirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->ask);
  EXPECT_EQ(m->slot, 3999);
  EXPECT_EQ(m->host, "127.0.0.1");
  EXPECT_EQ(m->port, 6381);
  auto a = d::parse_redirect("ASK 12182 ::1:7000");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ask);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 7000);
  EXPECT_FALSE(d::parse_redirect("MOVED 16384 h:1"));
  EXPECT_FALSE(d::parse_redirect("MOVED x h:1"));
  EXPECT_FALSE(d::parse_redirect("MOVED 1 h"));
  EXPECT_FALSE(d::parse_redirect("ERR MOVED 1 h:2"));
}

TEST(ClusterKeys, ClusterSlotsReplyIsRead) {
  auto node = [](std::string host, long long port) {
    return Reply::array({Reply::string(std::move(host)), Reply::integer(port), Reply::string("id")});
  };
  Reply r = Reply::array({
      Reply::array({Reply::integer(0), Reply::integer(5460), node("10.0.0.1", 7000), node("10.0.0.2", 7003)}),
      Reply::array({Reply::integer(5461), Reply::integer(16383), node("", 7001)}),
  });
  auto v = d::parse_cluster_slots(r, "seed.example");
  ASSERT_TRUE(v);
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ((*v)[0].host, "10.0.0.1");
  EXPECT_EQ((*v)[0].replicas.size(), 1u);
  EXPECT_EQ((*v)[1].host, "seed.example");  // empty host: the node we asked
  EXPECT_EQ((*v)[1].first, 5461);
  EXPECT_EQ((*v)[1].last, 16383);
  EXPECT_FALSE(d::parse_cluster_slots(Reply::status("OK"), "h"));
  EXPECT_FALSE(d::parse_cluster_slots(Reply::array({Reply::array({Reply::integer(9), Reply::integer(2), node("h", 1)})}), "h"));
}
