// ClusterClient with reads from replicas (ReadFrom::replica_preferred): the
// read-only table (pure), then a real 6-node cluster (3 masters, 3
// replicas) on loopback, with the servers' own INFO commandstats as the
// witness of where each command ran.
#include <uvredis/uvredis.hpp>

#include "../src/protocol/cluster_reads.hpp"
#include "../src/link/connection.hpp"
#include "../src/link/handshake.hpp"
#include "support/cluster_helpers.hpp"
#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_cluster.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using uvredis::ClusterClient;
using uvredis::ClusterOptions;
using uvredis::ErrorKind;
using uvredis::ReadFrom;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::RedisCluster;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::key_in_slot_of;
using uvredis::test::key_on;
using uvredis::test::run;
using uvredis::test::close_and_wait;
namespace d = uvredis::detail;

// ------------------------------------------------------------ pure logic

TEST(ReplicaReadable, OnlyMastersAndReplicasInSyncServeReads) {
  using uvredis::detail::replica_link_problem;
  auto role = [](std::vector<Reply> v) { return Reply::array(std::move(v)); };
  EXPECT_EQ(replica_link_problem(role({Reply::string("master"), Reply::integer(10), Reply::array({})})), "");
  auto replica = [&](const char* state) {
    return role({Reply::string("slave"), Reply::string("127.0.0.1"), Reply::integer(7000), Reply::string(state),
                 Reply::integer(42)});
  };
  EXPECT_EQ(replica_link_problem(replica("connected")), "");
  for (const char* s : {"connect", "connecting", "sync"}) {
    const std::string why = replica_link_problem(replica(s));
    EXPECT_NE(why.find("not in sync"), std::string::npos) << s << ": " << why;
    EXPECT_NE(why.find(s), std::string::npos) << why;
  }
  EXPECT_FALSE(replica_link_problem(role({Reply::string("sentinel"), Reply::array({})})).empty());
  EXPECT_FALSE(replica_link_problem(Reply::string("OK")).empty());
  EXPECT_FALSE(replica_link_problem(role({Reply::string("slave")})).empty());
}

TEST(ReplicaReadable, ReadOnlyCommandsWithKeysAreReadsAndNothingElse) {
  auto ro = [](std::vector<std::string_view> argv) { return d::replica_readable(argv); };
  for (auto name : {"GET", "get", "MGET", "HGETALL", "ZRANGE", "EXISTS", "LCS", "GEOSEARCH", "SORT_RO",
                    "EVAL_RO", "EVALSHA_RO", "FCALL_RO", "BITFIELD_RO", "GEORADIUS_RO", "ZRANGEBYSCORE",
                    "XRANGE", "XPENDING", "DUMP", "PEXPIRETIME", "SUBSTR", "SINTERCARD", "ZUNION"})
    EXPECT_TRUE(ro({name, "k", "x"})) << name;
  // Writes, scripts that may write, commands flagged write although they
  // often only read (SORT, BITFIELD, GETEX), and TOUCH (it is about the
  // master's access times).
  for (auto name : {"SET", "INCR", "DEL", "GETEX", "GETDEL", "SORT", "BITFIELD", "EVAL", "EVALSHA", "FCALL",
                    "TOUCH", "GEORADIUS", "ZRANGESTORE", "XREADGROUP", "PFMERGE", "UNKNOWNCMD"})
    EXPECT_FALSE(ro({name, "k", "x"})) << name;
  // Blocking and keyless commands stay on masters.
  EXPECT_FALSE(ro({"BLPOP", "k", "0"}));
  EXPECT_FALSE(ro({"DBSIZE"}));
  EXPECT_FALSE(ro({"SCAN", "0"}));
  EXPECT_FALSE(ro({"GET"}));
  EXPECT_FALSE(ro({}));
  EXPECT_TRUE(ro({"XREAD", "COUNT", "2", "STREAMS", "s", "0"}));
  EXPECT_FALSE(ro({"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}));
  // Subcommands.
  EXPECT_TRUE(ro({"OBJECT", "ENCODING", "k"}));
  EXPECT_FALSE(ro({"OBJECT", "IDLETIME", "k"}));
  EXPECT_FALSE(ro({"OBJECT", "FREQ", "k"}));
  EXPECT_TRUE(ro({"xinfo", "stream", "s"}));
  EXPECT_FALSE(ro({"XINFO", "HELP"}));
  for (auto name : {"XLEN", "XRANGE", "XREVRANGE", "XPENDING"}) EXPECT_TRUE(ro({name, "s", "x"})) << name;
  for (auto name : {"XADD", "XDEL", "XTRIM", "XACK", "XCLAIM", "XAUTOCLAIM", "XSETID"}) EXPECT_FALSE(ro({name, "s", "x"})) << name;
  EXPECT_TRUE(ro({"XINFO", "GROUPS", "s"}));
  EXPECT_TRUE(ro({"XINFO", "CONSUMERS", "s", "g"}));
  EXPECT_FALSE(ro({"XGROUP", "CREATE", "s", "g", "$"}));
  EXPECT_FALSE(ro({"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"}));
  EXPECT_FALSE(ro({"XREAD", "COUNT", "1", "BLOCK", "10", "STREAMS", "s", "$"}));
  EXPECT_TRUE(ro({"MEMORY", "USAGE", "k"}));
  EXPECT_FALSE(ro({"MEMORY", "STATS"}));
  EXPECT_TRUE(ro({"PFCOUNT", "hll"}));
  EXPECT_FALSE(ro({"PFCOUNT", "{h}a", "{h}b"}));
}

// ------------------------------------------------------ helpers

namespace {

// The test cluster's options, reading from `rf`.
ClusterOptions reading_from(RedisCluster& c, ReadFrom rf) {
  ClusterOptions o = uvredis::test::cluster_options(c);
  o.read_from = rf;
  return o;
}

std::vector<RedisServer*> replicas_of(RedisCluster& c) {
  auto masters = c.masters();
  std::vector<RedisServer*> out;
  for (auto& n : c.nodes())
    if (std::find(masters.begin(), masters.end(), n.get()) == masters.end()) out.push_back(n.get());
  return out;
}

// How often `cmd` (lower case, "object|idletime" for subcommands) ran on a
// node since the last CONFIG RESETSTAT, from INFO commandstats.
long long calls_of(RedisServer& s, const std::string& cmd) {
  const std::string info = s.cmd({"INFO", "commandstats"});
  const std::string tag = "cmdstat_" + cmd + ":calls=";
  auto at = info.find(tag);
  if (at == std::string::npos) return 0;
  return std::stoll(info.substr(at + tag.size()));
}

long long sum_calls(const std::vector<RedisServer*>& nodes, const std::string& cmd) {
  long long n = 0;
  for (RedisServer* s : nodes) n += calls_of(*s, cmd);
  return n;
}

void reset_stats(RedisCluster& c, const RedisServer* except = nullptr) {
  for (auto& n : c.nodes())
    if (n.get() != except) n->cmd({"CONFIG", "RESETSTAT"});
}

std::string key(int i) { return "rk:" + std::to_string(i); }
std::string value(int i) { return "value-" + std::to_string(i); }

// Waits until the replica of `k`'s master has every write sent so far
// through this client to that master: WAIT counts the writes of its own
// connection, and the group goes over the one connection they all used.
void replicate(TestLoop& loop, ClusterClient& cc, const std::string& k) {
  std::optional<std::vector<Result<Reply>>> rs;
  cc.command_group({{"SET", k, "1"}, {"WAIT", "1", "5000"}},
                   [&](std::vector<Result<Reply>> v) { rs.emplace(std::move(v)); });
  ASSERT_TRUE(loop.run_until([&] { return rs.has_value(); }));
  ASSERT_EQ(rs->size(), 2u);
  ASSERT_TRUE((*rs)[1]) << (*rs)[1].error().to_string();
  ASSERT_EQ((*rs)[1]->integer(), 1) << "the replica did not acknowledge the writes before " << k;
}

// Writes key(i) = value(i) for i < n, then waits until every replica has them.
void write_and_replicate(TestLoop& loop, ClusterClient& cc, RedisCluster& c, int n) {
  int ok = 0, calls = 0;
  for (int i = 0; i < n; ++i)
    cc.command({"SET", key(i), value(i)}, [&](Result<Reply> r) {
      ++calls;
      if (r && r->str() == "OK") ++ok;
    });
  ASSERT_TRUE(loop.run_until([&] { return calls == n; }));
  ASSERT_EQ(ok, n);
  for (RedisServer* m : c.masters()) replicate(loop, cc, key_on(c, *m, "wait"));
}

// Map known and every replica connection up (READONLY done). Right after
// the cluster was created a node may not have heard of every replica yet
// (gossip), and CLUSTER SLOTS then lists fewer: ask again until it knows
// (refresh() is rate limited by refresh_min_interval).
void await_replicas(TestLoop& loop, ClusterClient& cc, std::size_t n) {
  ASSERT_TRUE(uvredis::test::run_one(loop, cc, {"PING"}));
  ASSERT_TRUE(loop.run_until([&] {
    if (cc.stats().replicas < n) cc.refresh();
    return cc.stats().replicas_connected == n;
  }, 10s))
      << cc.stats().replicas_connected << " of " << n << " replicas connected, " << cc.stats().replicas << " known";
  EXPECT_EQ(cc.stats().replicas, n);
}

// Issues GET key(i) for every i < n and checks each reply and that each
// callback ran exactly once.
void read_all(TestLoop& loop, ClusterClient& cc, int n) {
  std::vector<int> calls(static_cast<std::size_t>(n), 0);
  int answered = 0;
  for (int i = 0; i < n; ++i)
    cc.command({"GET", key(i)}, [&, i](Result<Reply> r) {
      ++calls[static_cast<std::size_t>(i)];
      ++answered;
      if (!r)
        ADD_FAILURE() << key(i) << ": " << r.error().to_string();
      else
        EXPECT_EQ(r->to_string(), "\"" + value(i) + "\"") << key(i);
    });
  ASSERT_TRUE(loop.run_until([&] { return answered == n; }, 15s)) << answered << " of " << n;
  loop.run_for(10ms);
  for (int c : calls) ASSERT_EQ(c, 1);
}

class ClusterReplicas : public uvredis::test::ClusterSuite {};

}  // namespace

// ------------------------------------------------------ against a cluster

TEST_F(ClusterReplicas, ReadsGoToReplicasAndSeeWhatWasWrittenAndByDefaultNeverDo) {
  const int n = 1500;  // keys in slots of all three masters
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), reading_from(*cluster_, ReadFrom::replica_preferred));
    write_and_replicate(loop, cc, *cluster_, n);
    await_replicas(loop, cc, 3);
    const auto masters = cluster_->masters();
    const auto replicas = replicas_of(*cluster_);
    ASSERT_EQ(replicas.size(), 3u);
    reset_stats(*cluster_);
    const auto before = cc.stats();

    read_all(loop, cc, n);
    EXPECT_EQ(sum_calls(masters, "get"), 0);
    EXPECT_EQ(sum_calls(replicas, "get"), n);
    for (RedisServer* r : replicas) EXPECT_GT(calls_of(*r, "get"), n / 6) << "replica on port " << r->port();
    auto st = cc.stats();
    EXPECT_EQ(st.replica_reads - before.replica_reads, static_cast<std::uint64_t>(n));
    EXPECT_EQ(st.replica_fallbacks, 0u);
    EXPECT_EQ(st.moved, 0u);

    // An MGET over many slots is split; every part is a read too.
    std::vector<std::string> mget = {"MGET"};
    for (int i = 0; i < 60; ++i) mget.push_back(key(i * 7));
    std::vector<std::string_view> mget_v(mget.begin(), mget.end());
    auto g = uvredis::test::await<Reply>(loop, [&](auto cb) { cc.command(mget_v, std::move(cb)); });
    ASSERT_TRUE(g) << g.error().to_string();
    ASSERT_EQ(g->size(), 60u);
    for (int i = 0; i < 60; ++i) EXPECT_EQ((*g)[static_cast<std::size_t>(i)].str(), value(i * 7));
    EXPECT_EQ(sum_calls(masters, "mget"), 0);
    EXPECT_GE(sum_calls(replicas, "mget"), 3);
    EXPECT_EQ(cc.stats().replica_reads - st.replica_reads, static_cast<std::uint64_t>(sum_calls(replicas, "mget")));
    close_and_wait(loop, cc);
  }
  {
    // The default: every read on the masters, no replica connection at all.
    reset_stats(*cluster_);
    ClusterClient cc(loop.get(), reading_from(*cluster_, ReadFrom::master));
    read_all(loop, cc, n);
    EXPECT_EQ(sum_calls(cluster_->masters(), "get"), n);
    EXPECT_EQ(sum_calls(replicas_of(*cluster_), "get"), 0);
    auto st = cc.stats();
    EXPECT_EQ(st.replica_reads, 0u);
    EXPECT_EQ(st.replicas, 0u);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

// SCRIPT LOAD goes to every master but Redis 7 does not replicate it: a
// replica answers EVALSHA_RO with NOSCRIPT, and the read goes to the master.
TEST_F(ClusterReplicas, EvalshaRoThatAReplicaDoesNotKnowIsAnsweredByTheMaster) {
  const int n = 60;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), reading_from(*cluster_, ReadFrom::replica_preferred));
    write_and_replicate(loop, cc, *cluster_, n);
    await_replicas(loop, cc, 3);
    const std::string script = "return redis.call('GET', KEYS[1])";
    for (auto& node : cluster_->nodes()) node->cmd({"SCRIPT", "FLUSH"});
    auto sha = uvredis::test::run_one(loop, cc, {"SCRIPT", "LOAD", script});
    ASSERT_TRUE(sha) << sha.error().to_string();
    const std::string sha1(sha->str());
    reset_stats(*cluster_);
    const auto before = cc.stats();
    int answered = 0;
    std::vector<int> calls(2 * n, 0);
    for (int i = 0; i < n; ++i) {
      cc.command({"EVALSHA_RO", sha1, "1", key(i)}, [&, i](Result<Reply> r) {
        ++calls[static_cast<std::size_t>(2 * i)];
        ++answered;
        ASSERT_TRUE(r) << r.error().to_string();
        EXPECT_EQ(r->str(), value(i));
      });
    }
    ASSERT_TRUE(loop.run_until([&] { return answered == n; }));
    // Only now: EVAL_RO puts the script in the cache of the node it runs on.
    for (int i = 0; i < n; ++i) {
      cc.command({"EVAL_RO", script, "1", key(i)}, [&, i](Result<Reply> r) {
        ++calls[static_cast<std::size_t>(2 * i + 1)];
        ++answered;
        ASSERT_TRUE(r) << r.error().to_string();
        EXPECT_EQ(r->str(), value(i));
      });
    }
    ASSERT_TRUE(loop.run_until([&] { return answered == 2 * n; }));
    loop.run_for(10ms);
    for (int c : calls) EXPECT_EQ(c, 1);
    const auto masters = cluster_->masters();
    const auto replicas = replicas_of(*cluster_);
    EXPECT_EQ(sum_calls(masters, "evalsha_ro"), n);
    EXPECT_EQ(sum_calls(replicas, "eval_ro"), n);
    EXPECT_EQ(sum_calls(masters, "eval_ro"), 0);
    auto st = cc.stats();
    EXPECT_EQ(st.replica_reads - before.replica_reads, static_cast<std::uint64_t>(2 * n));
    EXPECT_EQ(st.replica_fallbacks - before.replica_fallbacks, static_cast<std::uint64_t>(n));
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(ClusterReplicas, WritesGoToMastersWithReplicaReadsOn) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), reading_from(*cluster_, ReadFrom::replica_preferred));
    await_replicas(loop, cc, 3);
    const int n = 300;
    int ok = 0, answered = 0;
    std::vector<int> calls(static_cast<std::size_t>(4 * n), 0);
    auto cb = [&](int i) {
      return [&, i](Result<Reply> r) {
        ++calls[static_cast<std::size_t>(i)];
        ++answered;
        if (r)
          ++ok;
        else
          ADD_FAILURE() << i << ": " << r.error().to_string();
      };
    };
    for (int i = 0; i < n; ++i) {
      cc.command({"SET", "w:" + std::to_string(i), "v"}, cb(4 * i));
      cc.command({"INCR", "c:" + std::to_string(i)}, cb(4 * i + 1));
      cc.command({"HSET", "h:" + std::to_string(i), "f", "v"}, cb(4 * i + 2));
      cc.command({"EVAL", "return redis.call('LPUSH', KEYS[1], ARGV[1])", "1", "l:" + std::to_string(i), "x"},
                 cb(4 * i + 3));
    }
    ASSERT_TRUE(loop.run_until([&] { return answered == 4 * n; }, 15s));
    EXPECT_EQ(ok, 4 * n);
    for (int c : calls) EXPECT_EQ(c, 1);
    // A write sent to a replica would have come back as MOVED.
    auto st = cc.stats();
    EXPECT_EQ(st.moved, 0u);
    EXPECT_EQ(st.replica_reads, 0u);
    long long total = 0;
    for (RedisServer* m : cluster_->masters()) total += m->cmd_int({"DBSIZE"});
    EXPECT_EQ(total, 4 * n);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(ClusterReplicas, CommandsThatAreNotPlainReadsNeverGoToAReplica) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), reading_from(*cluster_, ReadFrom::replica_preferred));
    const std::string k = "{nr}str", l = "{nr}list", s = "{nr}stream";
    ASSERT_TRUE(uvredis::test::run_one(loop, cc, {"SET", k, "abc"}));
    ASSERT_TRUE(uvredis::test::run_one(loop, cc, {"RPUSH", l, "3", "1", "2"}));
    ASSERT_TRUE(uvredis::test::run_one(loop, cc, {"XADD", s, "*", "f", "v"}));
    replicate(loop, cc, "{nr}wait");
    await_replicas(loop, cc, 3);
    reset_stats(*cluster_);
    const auto before = cc.stats();

    // Read-only in effect, but not in the table: flagged write (GETEX, SORT,
    // BITFIELD), scripts that could write (EVAL), per-node bookkeeping
    // (TOUCH, OBJECT IDLETIME), blocking (XREAD BLOCK), keyless (DBSIZE,
    // RANDOMKEY), and groups and transactions of plain reads.
    std::vector<std::vector<std::string>> cmds = {
        {"GETEX", k},
        {"SORT", l},
        {"BITFIELD", k, "GET", "u8", "0"},
        {"EVAL", "return redis.call('GET', KEYS[1])", "1", k},
        {"TOUCH", k},
        {"OBJECT", "IDLETIME", k},
        {"XREAD", "BLOCK", "10", "STREAMS", s, "$"},
        {"DBSIZE"},
        {"RANDOMKEY"},
    };
    std::vector<int> calls(cmds.size(), 0);
    std::size_t answered = 0;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      std::vector<std::string_view> v(cmds[i].begin(), cmds[i].end());
      cc.command(v, [&, i](Result<Reply> r) {
        ++calls[i];
        ++answered;
        EXPECT_TRUE(r) << cmds[i][0] << ": " << r.error().to_string();
      });
    }
    ASSERT_TRUE(loop.run_until([&] { return answered == cmds.size(); }));
    std::optional<std::vector<Result<Reply>>> group;
    cc.command_group({{"GET", k}, {"LRANGE", l, "0", "-1"}},
                     [&](std::vector<Result<Reply>> rs) { group.emplace(std::move(rs)); });
    ASSERT_TRUE(loop.run_until([&] { return group.has_value(); }));
    ASSERT_TRUE((*group)[0]);
    EXPECT_EQ((*group)[0]->str(), "abc");
    uvredis::Transaction tx(cc);
    auto tx_get = tx.get(k);
    std::optional<Result<uvredis::Transaction::Outcome>> out;
    tx.exec([&](Result<uvredis::Transaction::Outcome> o) { out.emplace(std::move(o)); });
    ASSERT_TRUE(loop.run_until([&] { return out.has_value(); }));
    ASSERT_TRUE(*out) << out->error().to_string();
    EXPECT_EQ(tx_get.result().value(), std::optional<std::string>("abc"));
    // The control: a plain read in the same slot does go to a replica.
    auto plain = uvredis::test::run_one(loop, cc, {"GET", k});
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->str(), "abc");

    loop.run_for(10ms);
    for (int c : calls) EXPECT_EQ(c, 1);
    const auto masters = cluster_->masters();
    const auto replicas = replicas_of(*cluster_);
    for (const char* name : {"getex", "sort", "bitfield", "eval", "touch", "object|idletime", "xread", "dbsize",
                             "randomkey", "multi", "exec", "lrange"}) {
      EXPECT_EQ(sum_calls(replicas, name), 0) << name << " ran on a replica";
      EXPECT_GE(sum_calls(masters, name), 1) << name << " did not run on a master";
    }
    EXPECT_EQ(sum_calls(masters, "get"), 3);  // the script's, the group's and the transaction's
    EXPECT_EQ(sum_calls(replicas, "get"), 1);
    EXPECT_EQ(cc.stats().replica_reads - before.replica_reads, 1u);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(ClusterReplicas, ReplicaConnectionsSendReadonlyAgainAfterAReconnect) {
  const int n = 300;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), reading_from(*cluster_, ReadFrom::replica_preferred));
    write_and_replicate(loop, cc, *cluster_, n);
    await_replicas(loop, cc, 3);
    const auto reconnects = cc.stats().nodes.reconnects;
    const auto replicas = replicas_of(*cluster_);
    for (RedisServer* r : replicas)  // our connections there are READONLY ("r")
      EXPECT_NE(r->cmd({"CLIENT", "LIST"}).find(" flags=r "), std::string::npos) << r->port();
    // Drops every connection but the harness's own (SKIPME yes).
    for (RedisServer* r : replicas) r->cmd({"CLIENT", "KILL", "TYPE", "normal"});
    ASSERT_TRUE(loop.run_until([&] {
      auto st = cc.stats();
      return st.nodes.reconnects >= reconnects + 3 && st.replicas_connected == 3;
    }, 10s));
    reset_stats(*cluster_);
    read_all(loop, cc, n);
    // Without READONLY on the new links these would have been MOVED.
    EXPECT_EQ(sum_calls(replicas, "get"), n);
    EXPECT_EQ(sum_calls(cluster_->masters(), "get"), 0);
    for (RedisServer* r : replicas)
      EXPECT_NE(r->cmd({"CLIENT", "LIST"}).find(" flags=r "), std::string::npos) << r->port();
    EXPECT_EQ(cc.stats().moved, 0u);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

// Its own cluster: a killed replica leaves the shared one short of a node.
TEST(ClusterReplicaLoss, ReadsKeepSucceedingWhenAReplicaIsKilled) {
  RedisCluster cluster;
  const int nkeys = 600;
  TestLoop loop;
  {
    ClusterOptions o = reading_from(cluster, ReadFrom::replica_preferred);
    o.refresh_interval = 300ms;  // so that the test sees the failed replica leave the map
    ClusterClient cc(loop.get(), o);
    write_and_replicate(loop, cc, cluster, nkeys);
    await_replicas(loop, cc, 3);
    const auto replicas = replicas_of(cluster);
    ASSERT_EQ(replicas.size(), 3u);
    RedisServer& victim = *replicas[0];
    // The master the victim replicates.
    RedisServer* victim_master = nullptr;
    const std::string role = victim.cmd({"ROLE"});
    for (RedisServer* m : cluster.masters())
      if (role.find("\n" + std::to_string(m->port()) + "\n") != std::string::npos) victim_master = m;
    ASSERT_NE(victim_master, nullptr) << role;

    // A steady read load, the replica killed in the middle of it.
    std::vector<int> calls;
    std::size_t issued = 0, answered = 0, failed = 0;
    uv_timer_t timer;
    uv_timer_init(loop.get(), &timer);
    std::function<void()> pump = [&] {
      for (int j = 0; j < 20; ++j) {
        const int i = static_cast<int>(issued % nkeys);
        const std::size_t id = issued++;
        calls.push_back(0);
        cc.command({"GET", key(i)}, [&, i, id](Result<Reply> r) {
          ++calls[id];
          ++answered;
          if (!r) {
            ++failed;
            ADD_FAILURE() << key(i) << ": " << r.error().to_string();
          } else if (r->to_string() != "\"" + value(i) + "\"") {
            ++failed;
            ADD_FAILURE() << key(i) << ": " << r->to_string();
          }
        });
      }
    };
    timer.data = &pump;
    uv_timer_start(&timer, [](uv_timer_t* t) { (*static_cast<std::function<void()>*>(t->data))(); }, 1, 2);
    loop.run_for(100ms);
    const auto before_kill = cc.stats();
    EXPECT_GT(before_kill.replica_reads, 0u);
    victim.kill();
    reset_stats(cluster, &victim);
    // Long enough for the cluster to mark the replica failed (node timeout
    // 1 s) and for a refresh to drop it.
    ASSERT_TRUE(loop.run_until([&] { return cc.stats().replicas == 2; }, 10s)) << cc.stats().replicas;
    loop.run_for(200ms);
    uv_timer_stop(&timer);
    ASSERT_TRUE(loop.run_until([&] { return answered == issued; }, 15s)) << answered << " of " << issued;
    loop.run_for(10ms);
    EXPECT_EQ(failed, 0u);
    for (int c : calls) ASSERT_EQ(c, 1);
    auto st = cc.stats();
    EXPECT_EQ(st.replicas_connected, 2u);
    std::printf("replica killed: %zu reads, %llu on replicas, %llu fell back to a master\n", issued,
                static_cast<unsigned long long>(st.replica_reads),
                static_cast<unsigned long long>(st.replica_fallbacks));
    // After the kill: the victim's slots were read on its master, the
    // others still on their replicas.
    EXPECT_GT(calls_of(*victim_master, "get"), 0);
    for (RedisServer* r : replicas) {
      if (r == &victim) continue;
      EXPECT_GT(calls_of(*r, "get"), 0) << "replica on port " << r->port();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}
