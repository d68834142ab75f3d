// ClusterClient against a real 6-node cluster (3 masters, 3 replicas) on
// loopback: routing, transactions, resharding, failover, pub/sub, recipes
// (pure key logic is in test_cluster_keys.cpp, fake nodes in test_cluster_fake.cpp).
#include <uvredis/uvredis.hpp>

#include "support/shell.hpp"
#include "support/cluster_helpers.hpp"
#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_cluster.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <set>

using namespace std::chrono_literals;
using uvredis::ClusterClient;
using uvredis::ClusterOptions;
using uvredis::ErrorKind;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::RedisCluster;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::cluster_options;
using uvredis::test::key_in_slot_of;
using uvredis::test::key_on;
using uvredis::test::run;
using uvredis::test::close_and_wait;

// ------------------------------------------------------ helpers

namespace {

class Cluster : public uvredis::test::ClusterSuite {};

}  // namespace

// ------------------------------------------------------ against a cluster

TEST_F(Cluster, CommandsRouteToTheMasterOfTheirSlotOnAllThreeMasters) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    const int n = 300;
    std::vector<int> calls(n, 0);
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      std::string k = "key:" + std::to_string(i);
      cc.command({"SET", k, "v" + std::to_string(i)}, [&, i](Result<Reply> r) {
        ++calls[static_cast<std::size_t>(i)];
        if (r && r->str() == "OK") ++ok;
        else ADD_FAILURE() << (r ? r->to_string() : r.error().to_string());
      });
    }
    ASSERT_TRUE(loop.run_until([&] { return ok == n; }));
    // Typed helper (shared command table) on the cluster.
    std::optional<Result<std::optional<std::string>>> got;
    cc.get("key:7", [&](Result<std::optional<std::string>> r) { got.emplace(std::move(r)); });
    ASSERT_TRUE(loop.run_until([&] { return got.has_value(); }));
    ASSERT_TRUE(*got);
    EXPECT_EQ(got->value(), std::optional<std::string>("v7"));

    // Server side: every master holds exactly the keys of its slots.
    auto masters = cluster_->masters();
    ASSERT_EQ(masters.size(), 3u);
    long long total = 0;
    for (RedisServer* m : masters) {
      long long size = m->cmd_int({"DBSIZE"});
      EXPECT_GT(size, 50) << "master on port " << m->port();
      total += size;
    }
    EXPECT_EQ(total, n);
    for (int i = 0; i < n; i += 17) {
      std::string k = "key:" + std::to_string(i);
      RedisServer& owner = cluster_->master_of(ClusterClient::key_slot(k));
      EXPECT_EQ(owner.cmd({"GET", k}), "v" + std::to_string(i));
      EXPECT_EQ(cc.node_for_key(k), "127.0.0.1:" + std::to_string(owner.port()));
    }
    EXPECT_EQ(cc.masters().size(), 3u);
    auto st = cc.stats();
    EXPECT_EQ(st.masters, 3u);
    EXPECT_EQ(st.moved, 0u);
    // DBSIZE, SCRIPT LOAD, FLUSHALL ... go to every master.
    auto dbsize_all = run(loop, cc, {"DBSIZE"});
    ASSERT_TRUE(dbsize_all);
    EXPECT_EQ(dbsize_all->integer(), n);
    auto sha = run(loop, cc, {"SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"});
    ASSERT_TRUE(sha) << sha.error().to_string();
    for (int i = 0; i < 30; ++i) {
      auto e = run(loop, cc, {"EVALSHA", sha->str().data(), "1", "key:" + std::to_string(i)});
      ASSERT_TRUE(e) << e.error().to_string();  // no NOSCRIPT on any master
      EXPECT_EQ(e->str(), "v" + std::to_string(i));
    }
    // Keyless commands go to some master.
    auto ping = run(loop, cc, {"PING"});
    ASSERT_TRUE(ping);
    EXPECT_EQ(ping->str(), "PONG");
    // Per node: command_to.
    std::string first = cc.masters()[0];
    std::optional<Result<Reply>> dbsize;
    std::array<std::string_view, 1> dbsize_argv{"DBSIZE"};
    cc.command_to(first, dbsize_argv, [&](Result<Reply> r) { dbsize.emplace(std::move(r)); });
    ASSERT_TRUE(loop.run_until([&] { return dbsize.has_value(); }));
    ASSERT_TRUE(*dbsize);
    EXPECT_EQ((*dbsize)->integer(), cluster_->node(static_cast<std::uint16_t>(std::stoi(first.substr(10)))).cmd_int({"DBSIZE"}));
    auto flushed = run(loop, cc, {"FLUSHALL"});
    ASSERT_TRUE(flushed) << flushed.error().to_string();
    for (RedisServer* m : masters) EXPECT_EQ(m->cmd_int({"DBSIZE"}), 0);
    close_and_wait(loop, cc);
    for (int c : calls) EXPECT_EQ(c, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, EveryTypedCommandFamilyRoutesToTheOwnerOfItsKeyOnAllThreeMasters) {
  using uvredis::test::await;
  using OptString = std::optional<std::string>;
  using Strings = std::vector<std::string>;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    auto masters = cluster_->masters();
    ASSERT_EQ(masters.size(), 3u);
    int checked = 0;
    for (RedisServer* m : masters) {
      // One key per family, each in a slot this master serves.
      const std::string s = key_on(*cluster_, *m, "str:"), h = key_on(*cluster_, *m, "hash:"),
                        l = key_on(*cluster_, *m, "list:"), st = key_on(*cluster_, *m, "set:"),
                        z = key_on(*cluster_, *m, "zset:"), c = key_on(*cluster_, *m, "ctr:");
      // strings
      ASSERT_TRUE(await<bool>(loop, [&](auto cb) { cc.set(s, "sv", cb); }).value());
      EXPECT_EQ(await<OptString>(loop, [&](auto cb) { cc.get(s, cb); }).value(), OptString("sv"));
      EXPECT_EQ(await<long long>(loop, [&](auto cb) { cc.incr(c, cb); }).value(), 1);
      // hashes
      EXPECT_EQ(await<long long>(loop, [&](auto cb) { cc.hset(h, "f", "hv", cb); }).value(), 1);
      EXPECT_EQ(await<OptString>(loop, [&](auto cb) { cc.hget(h, "f", cb); }).value(), OptString("hv"));
      // lists
      EXPECT_EQ(await<long long>(loop, [&](auto cb) { cc.rpush(l, {"a", "b"}, cb); }).value(), 2);
      EXPECT_EQ(await<Strings>(loop, [&](auto cb) { cc.lrange(l, 0, -1, cb); }).value(), (Strings{"a", "b"}));
      // sets
      EXPECT_EQ(await<long long>(loop, [&](auto cb) { cc.sadd(st, {"x"}, cb); }).value(), 1);
      EXPECT_EQ(await<Strings>(loop, [&](auto cb) { cc.smembers(st, cb); }).value(), (Strings{"x"}));
      // sorted sets
      EXPECT_EQ(await<long long>(loop, [&](auto cb) { cc.zadd(z, {{"m", 2.5}}, cb); }).value(), 1);
      EXPECT_EQ(await<std::optional<double>>(loop, [&](auto cb) { cc.zscore(z, "m", cb); }).value(),
                std::optional<double>(2.5));
      // keys
      EXPECT_TRUE(await<bool>(loop, [&](auto cb) { cc.expire(s, 100s, cb); }).value());
      EXPECT_TRUE(await<uvredis::Ttl>(loop, [&](auto cb) { cc.ttl(s, cb); }).value().exists());
      EXPECT_EQ(await<std::string>(loop, [&](auto cb) { cc.type(z, cb); }).value(), "zset");
      // Server side: each key lives on this master, with the right type.
      EXPECT_EQ(m->cmd({"TYPE", s}), "string");
      EXPECT_EQ(m->cmd({"TYPE", c}), "string");
      EXPECT_EQ(m->cmd({"TYPE", h}), "hash");
      EXPECT_EQ(m->cmd({"TYPE", l}), "list");
      EXPECT_EQ(m->cmd({"TYPE", st}), "set");
      EXPECT_EQ(m->cmd({"TYPE", z}), "zset");
      EXPECT_GT(m->cmd_int({"TTL", s}), 0);
      // DEL over all six keys: one slot each, split and summed.
      EXPECT_EQ(await<long long>(loop, [&](auto cb) { cc.del({s, c, h, l, st, z}, cb); }).value(), 6);
      EXPECT_EQ(m->cmd_int({"DBSIZE"}), 0);
      ++checked;
    }
    EXPECT_EQ(checked, 3);
    EXPECT_EQ(cc.stats().moved, 0u);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, StreamCommandsRouteToTheOwnerOfTheStreamOnAllThreeMasters) {
  using uvredis::test::await;
  using Batches = std::vector<uvredis::StreamBatch>;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    auto masters = cluster_->masters();
    ASSERT_EQ(masters.size(), 3u);
    for (RedisServer* m : masters) {
      const std::string s = key_on(*cluster_, *m, "stream:");
      // A group called "streams" and a consumer called "STREAMS": still routed by the key.
      ASSERT_TRUE(await<void>(loop, [&](auto cb) { cc.xgroup_create(s, "streams", "$", {.mkstream = true}, cb); }).ok());
      const auto id = await<std::string>(loop, [&](auto cb) { cc.xadd(s, {{"f", "v"}}, cb); });
      ASSERT_TRUE(id.ok()) << id.error().to_string();
      auto read = await<Batches>(loop, [&](auto cb) { cc.xreadgroup("streams", "STREAMS", {{s, ">"}}, {.count = 5}, cb); });
      ASSERT_TRUE(read.ok()) << read.error().to_string();
      ASSERT_EQ(read.value().size(), 1u);
      EXPECT_EQ(read.value()[0].entries.front().id, id.value());
      EXPECT_EQ(await<long long>(loop, [&](auto cb) { cc.xack(s, "streams", {id.value()}, cb); }).value(), 1);
      EXPECT_EQ(await<uvredis::StreamInfo>(loop, [&](auto cb) { cc.xinfo_stream(s, cb); }).value().length, 1);
      // XREAD BLOCK waits on the stream's master; an XADD there wakes it.
      std::optional<uvredis::Result<Batches>> woken;
      // After the last id (not "$": the XADD below may reach the server first).
      cc.xread({{s, id.value()}}, {.block = 20s}, [&](uvredis::Result<Batches> r) { woken.emplace(std::move(r)); });
      EXPECT_EQ(await<long long>(loop, [&](auto cb) { cc.xlen(s, cb); }).value(), 1);
      ASSERT_TRUE(await<std::string>(loop, [&](auto cb) { cc.xadd(s, {{"f", "w"}}, cb); }).ok());
      ASSERT_TRUE(loop.run_until([&] { return woken.has_value(); }, 20s));
      ASSERT_TRUE(*woken) << woken->error().to_string();
      ASSERT_EQ((*woken)->size(), 1u);
      EXPECT_EQ((**woken)[0].entries.front().fields, (std::vector<uvredis::FieldValue>{{"f", "w"}}));
      EXPECT_EQ(m->cmd({"TYPE", s}), "stream");
      EXPECT_EQ(m->cmd_int({"XLEN", s}), 2);
    }
    EXPECT_EQ(cc.stats().moved, 0u);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, FunctionLoadReachesEveryMasterAndFcallRoutesByItsKeys) {
  using uvredis::test::await;
  using uvredis::Reply;
  const std::string lib =
      "#!lua name=uvcluster\n"
      "redis.register_function('put', function(keys, args) redis.call('SET', keys[1], args[1]) return args[1] end)\n"
      "redis.register_function{function_name='peek', flags={'no-writes'},\n"
      "  callback=function(keys, args) return redis.call('GET', keys[1]) end}\n";
  auto masters = cluster_->masters();
  ASSERT_EQ(masters.size(), 3u);
  for (RedisServer* m : masters) m->cmd({"FUNCTION", "FLUSH"});
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    // FUNCTION LOAD goes to every master (a master that lacked the library
    // would fail the FCALLs routed to it below).
    auto name = await<std::string>(loop, [&](auto cb) { cc.function_load(lib, cb); });
    ASSERT_TRUE(name.ok()) << name.error().to_string();
    EXPECT_EQ(name.value(), "uvcluster");
    for (RedisServer* m : masters) EXPECT_NE(m->cmd({"FUNCTION", "LIST"}).find("uvcluster"), std::string::npos);
    auto again = await<std::string>(loop, [&](auto cb) { cc.function_load(lib, cb); });
    EXPECT_FALSE(again.ok());  // every master has it: without REPLACE each refuses
    ASSERT_TRUE(await<std::string>(loop, [&](auto cb) { cc.function_load(lib, true, cb); }).ok());
    for (RedisServer* m : masters) {
      const std::string k = key_on(*cluster_, *m, "fn:");
      auto put = await<Reply>(loop, [&](auto cb) { cc.fcall("put", k, {"v-" + k}, cb); });
      ASSERT_TRUE(put.ok()) << put.error().to_string();
      EXPECT_EQ(put.value().str(), "v-" + k);
      EXPECT_EQ(m->cmd({"GET", k}), "v-" + k);
      auto peek = await<Reply>(loop, [&](auto cb) { cc.fcall_ro("peek", k, cb); });
      ASSERT_TRUE(peek.ok()) << peek.error().to_string();
      EXPECT_EQ(peek.value().str(), "v-" + k);
      // The other new families route by their key as well.
      const std::string g = key_on(*cluster_, *m, "geo:"), h = key_on(*cluster_, *m, "hll:"),
                        b = key_on(*cluster_, *m, "bits:");
      EXPECT_EQ(await<long long>(loop, [&](auto cb) { cc.geoadd(g, {{13.36, 38.11, "Palermo"}}, cb); }).value(), 1);
      EXPECT_TRUE(await<bool>(loop, [&](auto cb) { cc.pfadd(h, {"a", "b"}, cb); }).value());
      EXPECT_FALSE(await<bool>(loop, [&](auto cb) { cc.set_bit(b, 9, 1, cb); }).value());
      EXPECT_EQ(m->cmd({"TYPE", g}), "zset");
      EXPECT_EQ(m->cmd_int({"PFCOUNT", h}), 2);
      EXPECT_EQ(m->cmd_int({"GETBIT", b, "9"}), 1);
      for (const std::string& key : {k, g, h, b}) EXPECT_EQ(m->cmd_int({"DEL", key}), 1) << key;
    }
    // Keys of two masters' slots in one FCALL: refused before sending.
    auto cross = await<Reply>(loop, [&](auto cb) {
      cc.fcall("put", {key_on(*cluster_, *masters[0], "x:"), key_on(*cluster_, *masters[1], "x:")}, {"v"}, cb);
    });
    ASSERT_FALSE(cross.ok());
    EXPECT_EQ(cross.error().kind, ErrorKind::usage);
    // FUNCTION DELETE goes to every master too.
    ASSERT_TRUE(await<void>(loop, [&](auto cb) { cc.function_delete("uvcluster", cb); }).ok());
    for (RedisServer* m : masters) EXPECT_EQ(m->cmd({"FUNCTION", "LIST"}), "");
    EXPECT_EQ(cc.stats().moved, 0u);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, ScanAllWalksEveryMasterAndCanStopEarly) {
  using uvredis::test::await;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));  // scan_all is the first call: it waits for the map
    std::set<std::string> seen;
    int batches = 0;
    uvredis::ScanOptions so;
    so.match = "walk:*";
    so.count = 50;
    auto none = await<void>(loop, [&](auto cb) {
      cc.scan_all(so, [&](std::vector<std::string> b) { batches += static_cast<int>(b.size()); return true; }, cb);
    });
    ASSERT_TRUE(none) << none.error().to_string();
    EXPECT_EQ(batches, 0);
    std::vector<std::string> argv{"MSET"};
    for (int i = 0; i < 1500; ++i) {
      argv.push_back("walk:" + std::to_string(i));
      argv.push_back("x");
    }
    ASSERT_TRUE(run(loop, cc, argv));
    ASSERT_TRUE(run(loop, cc, {"SET", "other", "y"}));
    for (RedisServer* m : cluster_->masters()) EXPECT_GT(m->cmd_int({"DBSIZE"}), 300);
    auto all = await<void>(loop, [&](auto cb) {
      cc.scan_all(so,
                  [&](std::vector<std::string> b) {
                    ++batches;
                    seen.insert(b.begin(), b.end());
                    return true;
                  },
                  cb);
    });
    ASSERT_TRUE(all) << all.error().to_string();
    EXPECT_EQ(seen.size(), 1500u);
    EXPECT_EQ(seen.count("other"), 0u);
    EXPECT_GT(batches, 3);
    // on_batch says stop: no more batches, done once with success.
    int after_stop = 0;
    auto stopped = await<void>(loop, [&](auto cb) {
      cc.scan_all(so, [&](std::vector<std::string>) { ++after_stop; return false; }, cb);
    });
    ASSERT_TRUE(stopped);
    EXPECT_EQ(after_stop, 1);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, HashTagsKeepMultiKeyCommandsOnOneSlot) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    ASSERT_TRUE(run(loop, cc, {"SADD", "{user1000}.following", "a", "b"}));
    ASSERT_TRUE(run(loop, cc, {"SADD", "{user1000}.followers", "b", "c"}));
    auto inter = run(loop, cc, {"SINTERSTORE", "{user1000}.both", "{user1000}.following", "{user1000}.followers"});
    ASSERT_TRUE(inter) << inter.error().to_string();
    EXPECT_EQ(inter->integer(), 1);
    auto renamed = run(loop, cc, {"RENAME", "{user1000}.both", "{user1000}.common"});
    ASSERT_TRUE(renamed) << renamed.error().to_string();
    auto script = run(loop, cc, {"EVAL", "return redis.call('SCARD', KEYS[1]) + redis.call('SCARD', KEYS[2])", "2",
                                 "{user1000}.following", "{user1000}.common"});
    ASSERT_TRUE(script) << script.error().to_string();
    EXPECT_EQ(script->integer(), 3);
    EXPECT_EQ(cc.stats().moved, 0u);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, MgetMsetDelExistsAcrossSlotsKeepTheCallersOrder) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    std::vector<std::string> mset = {"MSET"};
    for (int i = 0; i < 40; ++i) {
      mset.push_back("m" + std::to_string(i));
      mset.push_back("value-" + std::to_string(i));
    }
    auto r = run(loop, cc, mset);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->str(), "OK");
    std::vector<std::string> mget = {"MGET"};
    for (int i = 0; i < 45; ++i) mget.push_back("m" + std::to_string((i * 7) % 45));  // some missing, scrambled
    auto g = run(loop, cc, mget);
    ASSERT_TRUE(g) << g.error().to_string();
    ASSERT_EQ(g->size(), 45u);
    for (int i = 0; i < 45; ++i) {
      int k = (i * 7) % 45;
      if (k < 40)
        EXPECT_EQ((*g)[static_cast<std::size_t>(i)].str(), "value-" + std::to_string(k));
      else
        EXPECT_TRUE((*g)[static_cast<std::size_t>(i)].is_nil());
    }
    auto ex = run(loop, cc, {"EXISTS", "m1", "m2", "nope", "m3", "m1"});
    ASSERT_TRUE(ex);
    EXPECT_EQ(ex->integer(), 4);
    auto touch = run(loop, cc, {"TOUCH", "m1", "m2", "nope"});
    ASSERT_TRUE(touch);
    EXPECT_EQ(touch->integer(), 2);
    auto del = run(loop, cc, {"DEL", "m1", "m2", "m3", "nope"});
    ASSERT_TRUE(del);
    EXPECT_EQ(del->integer(), 3);
    auto unlink = run(loop, cc, {"UNLINK", "m4", "m5"});
    ASSERT_TRUE(unlink);
    EXPECT_EQ(unlink->integer(), 2);
    long long total = 0;
    for (RedisServer* m : cluster_->masters()) total += m->cmd_int({"DBSIZE"});
    EXPECT_EQ(total, 35);
    EXPECT_GE(cc.stats().splits, 6u);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, CrossSlotCommandIsAUsageErrorBeforeSending) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    ASSERT_TRUE(run(loop, cc, {"PING"}));  // map known, connections up
    const auto sent_before = cc.stats().nodes.sent;
    ASSERT_NE(ClusterClient::key_slot("a"), ClusterClient::key_slot("b"));
    int calls = 0;
    std::optional<Result<Reply>> out;
    cc.command({"SUNIONSTORE", "a", "b", "c"}, [&](Result<Reply> r) {
      ++calls;
      out.emplace(std::move(r));
    });
    EXPECT_EQ(calls, 0);  // never inside the call
    ASSERT_TRUE(loop.run_until([&] { return calls == 1; }));
    ASSERT_FALSE(*out);
    EXPECT_EQ(out->error().kind, ErrorKind::usage);
    EXPECT_NE(out->error().message.find("hash slot"), std::string::npos) << out->error().message;
    auto msetnx = run(loop, cc, {"MSETNX", "a", "1", "b", "2"});
    ASSERT_FALSE(msetnx);
    EXPECT_EQ(msetnx.error().kind, ErrorKind::usage);
    EXPECT_EQ(cc.stats().nodes.sent, sent_before);
    // Refused on any Executor: SELECT and SUBSCRIBE.
    auto sel = run(loop, cc, {"SELECT", "1"});
    ASSERT_FALSE(sel);
    EXPECT_EQ(sel.error().kind, ErrorKind::usage);
    // WAIT alone would count another connection's writes: refused, with the way out.
    auto wait = run(loop, cc, {"WAIT", "1", "100"});
    ASSERT_FALSE(wait);
    EXPECT_EQ(wait.error().kind, ErrorKind::usage);
    EXPECT_NE(wait.error().message.find("command_group"), std::string::npos);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, TransactionOnOneSlotCommitsAndOnTwoSlotsIsAUsageError) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    uvredis::Transaction tx(cc);
    auto a = tx.command({"INCR", "{acct}.a"});
    auto b = tx.command({"INCRBY", "{acct}.b", "5"});
    auto g = tx.get("{acct}.a");
    std::optional<Result<uvredis::Transaction::Outcome>> out;
    tx.exec([&](Result<uvredis::Transaction::Outcome> o) { out.emplace(std::move(o)); });
    ASSERT_TRUE(loop.run_until([&] { return out.has_value(); }));
    ASSERT_TRUE(*out) << out->error().to_string();
    EXPECT_EQ(out->value(), uvredis::Transaction::Outcome::committed);
    EXPECT_EQ(a.result()->integer(), 1);
    EXPECT_EQ(b.result()->integer(), 5);
    EXPECT_EQ(g.result().value(), std::optional<std::string>("1"));
    EXPECT_EQ(cluster_->master_of(ClusterClient::key_slot("acct")).cmd({"GET", "{acct}.b"}), "5");

    uvredis::Transaction bad(cc);
    auto x = bad.command({"INCR", "a"});
    auto y = bad.command({"INCR", "b"});
    std::optional<Result<uvredis::Transaction::Outcome>> bad_out;
    bad.exec([&](Result<uvredis::Transaction::Outcome> o) { bad_out.emplace(std::move(o)); });
    ASSERT_TRUE(loop.run_until([&] { return bad_out.has_value(); }));
    ASSERT_FALSE(*bad_out);
    EXPECT_EQ(bad_out->error().kind, ErrorKind::usage);
    EXPECT_NE(bad_out->error().message.find("transaction"), std::string::npos) << bad_out->error().message;
    ASSERT_TRUE(x.ready() && y.ready());
    EXPECT_FALSE(x.ok());
    EXPECT_EQ(cluster_->master_of(ClusterClient::key_slot("a")).cmd({"EXISTS", "a"}), "0");
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

namespace {

// One read-modify-write racer: `each` increments of `key` through
// watch_transaction on `cc`, one after the other.
struct WatchRacer {
  ClusterClient* cc = nullptr;
  std::string key;
  int each = 0;
  int committed = 0;
  int rounds = 0;  // body runs: first tries plus retries
  int done_calls = 0;
  std::vector<uvredis::Error> errors;
  std::function<void()> next;

  void start() {
    next = [this] {
      uvredis::watch_transaction(
          *cc, {key}, 1000,
          [this](uvredis::Lease& lease, uvredis::Transaction& tx, uvredis::detail::Function<void(bool)> go) {
            ++rounds;
            lease.get(key, [this, &tx, go = std::move(go)](Result<std::optional<std::string>> v) mutable {
              if (!v) {
                errors.push_back(v.error());
                return go(false);
              }
              tx.command({"SET", key, std::to_string(std::stoll(v->value_or("0")) + 1)});
              go(true);
            });
          },
          [this](Result<uvredis::Transaction::Outcome> o) {
            ++done_calls;
            if (o && *o == uvredis::Transaction::Outcome::committed)
              ++committed;
            else
              errors.push_back(o ? uvredis::Error{ErrorKind::server, "outcome not committed"} : o.error());
            if (done_calls < each) next();
          });
    };
    next();
  }
};

}  // namespace

TEST_F(Cluster, WatchTransactionsRacingOnOneSlotEndExact) {
  TestLoop loop;
  {
    ClusterClient a(loop.get(), cluster_options(*cluster_));
    ClusterClient b(loop.get(), cluster_options(*cluster_));
    const std::string key = "{acct7}.balance";
    WatchRacer ra, rb;
    ra.cc = &a;
    rb.cc = &b;
    for (WatchRacer* r : {&ra, &rb}) {
      r->key = key;
      r->each = 300;
    }
    ra.start();
    rb.start();
    ASSERT_TRUE(loop.run_until([&] { return ra.done_calls == ra.each && rb.done_calls == rb.each; }, 60s));
    EXPECT_TRUE(ra.errors.empty()) << ra.errors.front().to_string();
    EXPECT_TRUE(rb.errors.empty()) << rb.errors.front().to_string();
    EXPECT_EQ(ra.committed + rb.committed, 600);
    EXPECT_EQ(cluster_->master_of(ClusterClient::key_slot(key)).cmd({"GET", key}), "600");
    EXPECT_GT(ra.rounds + rb.rounds, 600) << "the race never produced a conflict";
    ra.next = nullptr;
    rb.next = nullptr;
    close_and_wait(loop, a);
    close_and_wait(loop, b);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, WatchTransactionOnKeysOfTwoSlotsIsAUsageErrorBeforeSending) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    int bodies = 0;
    auto out = uvredis::test::await<uvredis::Transaction::Outcome>(loop, [&](auto cb) {
      uvredis::watch_transaction(
          cc, {"a", "b"}, 3,
          [&](uvredis::Lease&, uvredis::Transaction&, uvredis::detail::Function<void(bool)> go) {
            ++bodies;
            go(true);
          },
          std::move(cb));
    });
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().kind, ErrorKind::usage);
    EXPECT_NE(out.error().message.find("different hash slots"), std::string::npos) << out.error().message;
    EXPECT_EQ(bodies, 0);
    EXPECT_EQ(cc.stats().nodes.sent, 0u);
    auto none = uvredis::test::await<uvredis::Transaction::Outcome>(loop, [&](auto cb) {
      uvredis::watch_transaction(
          cc, {}, 3, [&](uvredis::Lease&, uvredis::Transaction&, uvredis::detail::Function<void(bool)>) { ++bodies; },
          std::move(cb));
    });
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().kind, ErrorKind::usage);
    EXPECT_EQ(bodies, 0);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, LeaseTalksToTheMasterOfTheKeysSlot) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    std::set<std::string> ids;
    for (RedisServer* m : cluster_->masters()) {
      const std::string key = key_on(*cluster_, *m, "lease");
      auto lease = uvredis::test::await<std::unique_ptr<uvredis::Lease>>(
          loop, [&](auto cb) { cc.lease(key, std::move(cb)); });
      ASSERT_TRUE(lease) << lease.error().to_string();
      auto id = uvredis::test::run_one(loop, **lease, {"CLUSTER", "MYID"});
      ASSERT_TRUE(id) << id.error().to_string();
      EXPECT_EQ(id->str(), cluster_->id_of(*m));
      ids.insert(std::string(id->str()));
      // WATCH is refused on the shared connections but allowed here.
      auto w = uvredis::test::run_one(loop, **lease, {"WATCH", key});
      EXPECT_TRUE(w) << w.error().to_string();
    }
    EXPECT_EQ(ids.size(), 3u);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, WatchTransactionFollowsASlotThatMovedBehindTheClientsBack) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    const std::string key = "{wmove}.n";
    const int slot = ClusterClient::key_slot(key);
    ASSERT_TRUE(run(loop, cc, {"SET", key, "41"}));  // the client now knows the map
    RedisServer& from = cluster_->master_of(slot);
    RedisServer* to = nullptr;
    for (RedisServer* m : cluster_->masters())
      if (m != &from) to = m;
    cluster_->move_slot(slot, *to);
    const auto moved_before = cc.stats().moved;
    int bodies = 0;
    auto out = uvredis::test::await<uvredis::Transaction::Outcome>(loop, [&](auto cb) {
      uvredis::watch_transaction(
          cc, {key}, 1,
          [&](uvredis::Lease& lease, uvredis::Transaction& tx, uvredis::detail::Function<void(bool)> go) {
            ++bodies;
            lease.get(key, [&tx, &key, go = std::move(go)](Result<std::optional<std::string>> v) mutable {
              if (!v || !*v) return go(false);
              tx.command({"SET", key, std::to_string(std::stoll(**v) + 1)});
              go(true);
            });
          },
          std::move(cb));
    });
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(*out, uvredis::Transaction::Outcome::committed);
    EXPECT_EQ(bodies, 1);  // the MOVED WATCH never reached the body
    EXPECT_GT(cc.stats().moved, moved_before);
    EXPECT_EQ(to->cmd({"GET", key}), "42");
    cluster_->move_slot(slot, from);
    ASSERT_TRUE(cluster_->wait_ok());
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, LeaseRequestedThenClientDestroyedGetsClosedOnce) {
  TestLoop loop;
  int calls = 0;
  std::optional<Result<std::unique_ptr<uvredis::Lease>>> got;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    cc.lease("k", [&](Result<std::unique_ptr<uvredis::Lease>> l) {
      ++calls;
      got.emplace(std::move(l));
    });
  }  // destroyed before the slot map arrived
  ASSERT_TRUE(loop.run_until([&] { return calls > 0; }, 10s));
  loop.run_for(50ms);
  EXPECT_EQ(calls, 1);
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().kind, ErrorKind::closed);
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, PipelineOverAllNodesDeliversResultsInOrder) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    uvredis::Pipeline p(cc);
    std::vector<uvredis::Handle<Reply>> handles;
    const int n = 2000;
    std::vector<int> order;
    for (int i = 0; i < n; ++i) {
      std::string k = "p" + std::to_string((i / 2) % 100);
      if (i % 2 == 0)
        handles.push_back(p.command({"INCR", k}));
      else
        handles.push_back(p.command({"GET", k}));
    }
    std::optional<uvredis::ExecSummary> sum;
    p.exec([&](uvredis::ExecSummary s) { sum = s; });
    ASSERT_TRUE(loop.run_until([&] { return sum.has_value(); }));
    EXPECT_EQ(sum->failed, 0u);
    // INCR number j on key k returns j; the GET right after it sees the same.
    for (int i = 0; i < n; i += 2) {
      const long long expect = i / 200 + 1;
      ASSERT_EQ(handles[static_cast<std::size_t>(i)].result()->integer(), expect) << i;
      ASSERT_EQ(handles[static_cast<std::size_t>(i + 1)].result()->str(), std::to_string(expect)) << i;
    }
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, AskDuringMigrationReachesTheImportingNodeWithoutChangingTheMap) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    const std::string tag = "asktag";
    const int slot = ClusterClient::key_slot(tag);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(run(loop, cc, {"SET", key_in_slot_of(tag, i), std::to_string(i)}));
    RedisServer& from = cluster_->master_of(slot);
    RedisServer* to = nullptr;
    for (RedisServer* m : cluster_->masters())
      if (m != &from) to = m;
    const std::string s = std::to_string(slot);
    ASSERT_EQ(to->cmd({"CLUSTER", "SETSLOT", s, "IMPORTING", cluster_->id_of(from)}), "OK");
    ASSERT_EQ(from.cmd({"CLUSTER", "SETSLOT", s, "MIGRATING", cluster_->id_of(*to)}), "OK");
    ASSERT_EQ(from.cmd({"MIGRATE", "127.0.0.1", std::to_string(to->port()), key_in_slot_of(tag, 0), "0", "5000"}), "OK");
    const auto owner_before = cc.node_for_key(key_in_slot_of(tag, 0));

    auto moved_key = run(loop, cc, {"GET", key_in_slot_of(tag, 0)});
    ASSERT_TRUE(moved_key) << moved_key.error().to_string();
    EXPECT_EQ(moved_key->str(), "0");
    auto new_key = run(loop, cc, {"SET", key_in_slot_of(tag, 9), "nine"});  // absent on the source: ASK
    ASSERT_TRUE(new_key) << new_key.error().to_string();
    auto still_here = run(loop, cc, {"GET", key_in_slot_of(tag, 1)});
    ASSERT_TRUE(still_here);
    EXPECT_EQ(still_here->str(), "1");
    EXPECT_EQ(cc.stats().ask, 2u);
    EXPECT_EQ(cc.stats().moved, 0u);
    EXPECT_EQ(cc.node_for_key(key_in_slot_of(tag, 0)), owner_before);
    EXPECT_EQ(to->cmd({"ASKING"}), "OK");
    EXPECT_EQ(to->cmd({"GET", key_in_slot_of(tag, 9)}), "nine");

    // One key moved, one not: a multi-key command gets TRYAGAIN and is
    // retried with backoff until the move is over.
    std::optional<Result<Reply>> mget;
    cc.command({"MGET", key_in_slot_of(tag, 0), key_in_slot_of(tag, 1)},
               [&](Result<Reply> r) { mget.emplace(std::move(r)); });
    ASSERT_TRUE(loop.run_until([&] { return cc.stats().retries >= 2; }, 5s));
    EXPECT_FALSE(mget.has_value());

    // Finish the move; the next access is a MOVED that updates the map.
    cluster_->move_slot(slot, *to);
    ASSERT_TRUE(loop.run_until([&] { return mget.has_value(); }, 5s));
    ASSERT_TRUE(*mget) << mget->error().to_string();
    EXPECT_EQ((*mget)->to_string(), Reply::array({Reply::string("0"), Reply::string("1")}).to_string());

    // A transaction sent with the old map: MOVED while queueing aborts it
    // (EXECABORT, nothing ran), so it is sent again to the new owner.
    cluster_->move_slot(slot, from);  // back: the client believes `to` now
    uvredis::Transaction tx(cc);
    auto set = tx.command({"SET", key_in_slot_of(tag, 20), "tx"});
    auto incr = tx.command({"INCR", key_in_slot_of(tag, 21)});
    std::optional<Result<uvredis::Transaction::Outcome>> tx_out;
    const auto moved_before = cc.stats().moved;
    tx.exec([&](Result<uvredis::Transaction::Outcome> o) { tx_out.emplace(std::move(o)); });
    ASSERT_TRUE(loop.run_until([&] { return tx_out.has_value(); }));
    ASSERT_TRUE(*tx_out) << tx_out->error().to_string();
    EXPECT_EQ(tx_out->value(), uvredis::Transaction::Outcome::committed);
    EXPECT_TRUE(set.ok());
    EXPECT_EQ(incr.result()->integer(), 1);
    EXPECT_GT(cc.stats().moved, moved_before);
    EXPECT_EQ(from.cmd({"GET", key_in_slot_of(tag, 20)}), "tx");
    cluster_->move_slot(slot, *to);
    auto after = run(loop, cc, {"GET", key_in_slot_of(tag, 1)});
    ASSERT_TRUE(after) << after.error().to_string();
    EXPECT_EQ(after->str(), "1");
    EXPECT_GE(cc.stats().moved, 1u);
    EXPECT_EQ(cc.node_for_key(key_in_slot_of(tag, 1)), "127.0.0.1:" + std::to_string(to->port()));
    ASSERT_TRUE(cluster_->wait_ok());
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, ReshardingASlotUnderLoadLosesNoCommand) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    const std::string tag = "hot";
    const int slot = ClusterClient::key_slot(tag);
    const int nkeys = 60;
    for (int i = 0; i < nkeys; ++i) ASSERT_TRUE(run(loop, cc, {"SET", key_in_slot_of(tag, i), "0"}));

    // Load: a steady stream of INCRs over the slot's keys (and other keys),
    // each acknowledged increment counted per key.
    std::vector<long long> acked(nkeys, 0);
    std::uint64_t issued = 0, answered = 0, failed = 0;
    bool load = true;
    std::function<void()> pump;
    uv_timer_t timer;
    uv_timer_init(loop.get(), &timer);
    timer.data = &pump;
    pump = [&] {
      for (int j = 0; j < 20; ++j) {
        const int k = static_cast<int>(issued % nkeys);
        ++issued;
        cc.command({"INCR", key_in_slot_of(tag, k)}, [&, k](Result<Reply> r) {
          ++answered;
          if (r)
            ++acked[static_cast<std::size_t>(k)];
          else {
            ++failed;
            ADD_FAILURE() << r.error().to_string();
          }
        });
      }
    };
    uv_timer_start(&timer, [](uv_timer_t* t) { (*static_cast<std::function<void()>*>(t->data))(); }, 1, 2);
    loop.run_for(50ms);

    RedisServer& from = cluster_->master_of(slot);
    RedisServer* to = nullptr;
    for (RedisServer* m : cluster_->masters())
      if (m != &from) to = m;
    cluster_->move_slot(slot, *to, 5, [&] { loop.run_for(15ms); });
    loop.run_for(200ms);
    load = false;
    uv_timer_stop(&timer);
    ASSERT_TRUE(loop.run_until([&] { return answered == issued; }, 15s)) << answered << " of " << issued;
    EXPECT_EQ(failed, 0u);
    EXPECT_GT(issued, 200u);
    for (int i = 0; i < nkeys; ++i)
      EXPECT_EQ(to->cmd({"GET", key_in_slot_of(tag, i)}), std::to_string(acked[static_cast<std::size_t>(i)])) << i;
    EXPECT_EQ(from.cmd({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}), "0");
    auto st = cc.stats();
    EXPECT_GT(st.moved, 0u);
    EXPECT_GT(st.ask, 0u);
    EXPECT_EQ(cc.node_for_key(tag), "127.0.0.1:" + std::to_string(to->port()));
    (void)load;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    ASSERT_TRUE(cluster_->wait_ok());
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, UnreachableSeedsFailWithAConnectError) {
  TestLoop loop;
  {
    ClusterOptions o;
    o.seeds = {"127.0.0.1:1"};
    ClusterClient cc(loop.get(), o);
    auto r = run(loop, cc, {"GET", "x"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connect);
    EXPECT_GE(cc.stats().refresh_failures, 1u);
    close_and_wait(loop, cc);

    ClusterOptions none;
    ClusterClient bad(loop.get(), none);
    auto b = run(loop, bad, {"GET", "x"});
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().kind, ErrorKind::usage);
    close_and_wait(loop, bad);

    // Seeds that disagree on TLS: refused up front (a schemeless seed goes
    // with either), nothing is sent.
    ClusterOptions mixed;
    mixed.seeds = {"127.0.0.1:1", "rediss://127.0.0.1:2", "redis://127.0.0.1:3"};
    ClusterClient mix(loop.get(), mixed);
    auto m = run(loop, mix, {"GET", "x"});
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().kind, ErrorKind::usage);
    EXPECT_NE(m.error().message.find("mix redis:// and rediss://"), std::string::npos) << m.error().message;
    EXPECT_EQ(mix.stats().nodes.sent, 0u);
    close_and_wait(loop, mix);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, DestroyingOrClosingWithCommandsInFlightCallsEveryCallbackOnce) {
  TestLoop loop;
  {
    std::vector<int> calls(600, 0);
    int closed_errors = 0, replies = 0;
    auto cb = [&](int i) {
      return [&, i](Result<Reply> r) {
        ++calls[static_cast<std::size_t>(i)];
        if (r)
          ++replies;
        else if (r.error().kind == ErrorKind::closed)
          ++closed_errors;
      };
    };
    {
      // Destroyed before the map is even known: everything fails with closed.
      auto cc = std::make_unique<ClusterClient>(loop.get(), cluster_options(*cluster_));
      for (int i = 0; i < 200; ++i) cc->command({"SET", "d" + std::to_string(i), "1"}, cb(i));
      cc.reset();
      EXPECT_EQ(closed_errors + replies, 0);
      ASSERT_TRUE(loop.run_until([&] { return closed_errors == 200; }));
    }
    {
      // Destroyed with commands on the wire: each completes exactly once.
      auto cc = std::make_unique<ClusterClient>(loop.get(), cluster_options(*cluster_));
      ASSERT_TRUE(run(loop, *cc, {"PING"}));
      for (int i = 200; i < 400; ++i) cc->command({"SET", "d" + std::to_string(i), "1"}, cb(i));
      loop.run_until([&] { return replies > 0; }, 2s);
      cc.reset();
      ASSERT_TRUE(loop.run_until([&] {
        return std::all_of(calls.begin() + 200, calls.begin() + 400, [](int c) { return c == 1; });
      }));
    }
    {
      // Destroyed from inside one of its own callbacks.
      auto cc = std::make_unique<ClusterClient>(loop.get(), cluster_options(*cluster_));
      int inner = 0;
      cc->command({"SET", "inside", "1"}, [&](Result<Reply> r) {
        EXPECT_TRUE(r);
        cc.reset();
        ++inner;
      });
      cc->command({"GET", "inside"}, [&](Result<Reply>) { ++inner; });
      ASSERT_TRUE(loop.run_until([&] { return inner == 2; }));
      EXPECT_FALSE(cc);
    }
    {
      // Graceful close: what was issued before close() completes normally.
      ClusterClient cc(loop.get(), cluster_options(*cluster_));
      const int replies_before = replies;
      for (int i = 400; i < 600; ++i) cc.command({"SET", "d" + std::to_string(i), "1"}, cb(i));
      close_and_wait(loop, cc);
      EXPECT_EQ(replies - replies_before, 200);
      auto late = run(loop, cc, {"GET", "x"});
      ASSERT_FALSE(late);
      EXPECT_EQ(late.error().kind, ErrorKind::closed);
    }
    loop.run_for(20ms);
    for (int c : calls) EXPECT_EQ(c, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClusterFailover, CommandsSucceedAgainSoonAfterAMasterIsKilled) {
  RedisCluster cluster;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(cluster));
    auto masters = cluster.masters();
    ASSERT_EQ(masters.size(), 3u);
    RedisServer& victim = *masters[0];
    const std::string k = key_on(cluster, victim, "victim");
    const std::string other = key_on(cluster, *masters[1], "other");
    ASSERT_TRUE(run(loop, cc, {"SET", other, "x"}));
    // The replica must have the write before the master goes. WAIT counts
    // the writes of its own connection: it goes in a group with the SET.
    std::optional<std::vector<Result<Reply>>> acked;
    cc.command_group({{"SET", k, "before"}, {"WAIT", "1", "2000"}},
                     [&](std::vector<Result<Reply>> rs) { acked.emplace(std::move(rs)); });
    ASSERT_TRUE(loop.run_until([&] { return acked.has_value(); }));
    ASSERT_TRUE((*acked)[0]);
    ASSERT_TRUE((*acked)[1]);
    ASSERT_EQ((*acked)[1]->integer(), 1);

    // Commands in flight when the master dies either succeed or fail; each
    // callback runs once.
    std::vector<int> calls(200, 0);
    int done = 0, incr_ok = 0, incr_lost = 0;
    // Half of them answered before the kill, half on the wire when it comes.
    for (int i = 0; i < 200; ++i) {
      if (i == 100) {
        ASSERT_TRUE(loop.run_until([&] { return done == 100; }));
      }
      cc.command({"INCR", "{" + k + "}n"}, [&, i](Result<Reply> r) {
        if (r)
          ++incr_ok;
        else if (r.error().kind == ErrorKind::connection_lost || r.error().kind == ErrorKind::timeout)
          ++incr_lost;  // may or may not have run
        ++calls[static_cast<std::size_t>(i)];
        ++done;
      });
    }
    victim.kill();
    ASSERT_TRUE(loop.run_until([&] { return done == 200; }, 15s));

    // The other masters keep serving.
    auto o = run(loop, cc, {"GET", other});
    ASSERT_TRUE(o) << o.error().to_string();

    const auto start = std::chrono::steady_clock::now();
    bool ok = false;
    std::string last;
    while (std::chrono::steady_clock::now() - start < 15s) {
      auto r = run(loop, cc, {"GET", k});
      if (r) {
        EXPECT_EQ(r->to_string(), "\"before\"") << "after " << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count() << " ms; " << cc.stats().moved << " moved, " << cc.stats().retries << " retries";
        ok = true;
        break;
      }
      last = r.error().to_string();
      loop.run_for(100ms);
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    ASSERT_TRUE(ok) << "last error: " << last;
    EXPECT_LT(took, 10s);
    std::printf("failover: commands succeed again after %lld ms\n", static_cast<long long>(took.count()));
    EXPECT_NE(cc.node_for_key(k), "127.0.0.1:" + std::to_string(victim.port()));
    auto w = run(loop, cc, {"SET", k, "after"});
    ASSERT_TRUE(w) << w.error().to_string();
    // At most once: nothing that may have run was sent again.
    auto n = run(loop, cc, {"GET", "{" + k + "}n"});
    ASSERT_TRUE(n) << n.error().to_string();
    const long long counted = n->is_nil() ? 0 : std::stoll(std::string(n->str()));
    EXPECT_GE(incr_ok, 100);
    EXPECT_LE(counted, incr_ok + incr_lost);
    std::printf("failover: %d INCR ok, %d lost in flight, value %lld\n", incr_ok, incr_lost, counted);
    close_and_wait(loop, cc);
    for (int c : calls) EXPECT_EQ(c, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

namespace {

// Keeps `depth` SETs on the wire at all times, each to a key of its own in
// the slot of {tag}; a key counts once its SET was acknowledged.
struct Writer {
  Writer(ClusterClient& cc, std::string tag) : cc_(cc), tag_(std::move(tag)) {}
  void start(int depth) {
    stop = false;
    for (int i = 0; i < depth; ++i) write_one();
  }
  std::string key(int i) const { return "{" + tag_ + "}:" + std::to_string(i); }

  bool stop = false;
  int next = 0, outstanding = 0, acked = 0, failed = 0;
  std::vector<int> calls;
  std::vector<bool> ok;
  std::string last_error;

 private:
  void write_one() {
    const int i = next++;
    calls.push_back(0);
    ok.push_back(false);
    ++outstanding;
    cc_.command({"SET", key(i), std::to_string(i)}, [this, i](Result<Reply> r) {
      ++calls[static_cast<std::size_t>(i)];
      --outstanding;
      if (r) {
        ++acked;
        ok[static_cast<std::size_t>(i)] = true;
      } else {
        ++failed;
        last_error = r.error().to_string();
      }
      if (!stop) write_one();
    });
  }
  ClusterClient& cc_;
  std::string tag_;
};

bool is_master(TestLoop& loop, uvredis::Client& c) {
  auto role = run(loop, c, {"ROLE"});
  return role && role->is_array() && role->size() > 0 && (*role)[0].to_string() == "\"master\"";
}

}  // namespace

// Issue 15: CLUSTER FAILOVER hands master X's slots to its replica Y, then Y
// is killed and X takes them back. The same ClusterClient must write to X
// again and read every write it acknowledged.
TEST(ClusterFailover, ManualFailoverThenKillOfTheNewMasterWritesResumeOnTheOldMaster) {
  using uvredis::test::await;
  RedisCluster cluster;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(cluster));
    auto masters = cluster.masters();
    ASSERT_EQ(masters.size(), 3u);
    RedisServer& x = *masters[0];
    RedisServer* y = nullptr;
    for (auto& n : cluster.nodes())
      if (n.get() != &x && n->cmd({"INFO", "replication"}).find("master_port:" + std::to_string(x.port())) !=
                               std::string::npos)
        y = n.get();
    ASSERT_NE(y, nullptr) << "no replica of " << x.port();
    const std::string x_name = "127.0.0.1:" + std::to_string(x.port());
    const std::string y_name = "127.0.0.1:" + std::to_string(y->port());
    Writer w(cc, key_on(cluster, x, "fo"));  // every key in one slot of X
    const std::string probe = w.key(0);
    constexpr int kDepth = 16;
    w.start(kDepth);
    ASSERT_TRUE(loop.run_until([&] { return w.acked >= 100; }));

    // Manual failover, writes going on: Y takes X's slots, X becomes Y's replica.
    {
      auto yo = uvredis::ClientOptions::from_url(y->url());
      ASSERT_TRUE(yo);
      uvredis::Client admin(loop.get(), *yo);
      // A manual failover right after the cluster formed may time out (5 s)
      // when X has not heard of Y as its replica yet: ask again then.
      bool promoted = false;
      for (int attempt = 0; attempt < 3 && !promoted; ++attempt) {
        auto f = run(loop, admin, {"CLUSTER", "FAILOVER"});
        ASSERT_TRUE(f) << f.error().to_string();
        promoted = loop.run_until([&] { return is_master(loop, admin); }, 7s);
      }
      ASSERT_TRUE(promoted) << y->log_tail();
      uvredis::test::close_and_wait(loop, admin);
    }
    // The client follows (MOVED) and writes go on, now to Y.
    int before = w.acked;
    ASSERT_TRUE(loop.run_until([&] { return cc.node_for_key(probe) == y_name && w.acked >= before + 100; }, 20s))
        << "acked " << w.acked << ", failed " << w.failed << ", last error " << w.last_error;

    // X can only be promoted again once it has synced with its new master
    // (a replica that never had a master link refuses to fail over), and
    // only writes that reached X survive a kill -9 of Y: wait for the link,
    // then, with the writer paused for a moment, for every acknowledged
    // write to be on X (WAIT, on the connection that wrote them).
    {
      auto xo = uvredis::ClientOptions::from_url(x.url());
      ASSERT_TRUE(xo);
      uvredis::Client admin(loop.get(), *xo);
      ASSERT_TRUE(loop.run_until(
          [&] {
            auto info = run(loop, admin, {"INFO", "replication"});
            return info && info->to_string().find("master_link_status:up") != std::string::npos;
          },
          20s));
      uvredis::test::close_and_wait(loop, admin);
    }
    w.stop = true;
    ASSERT_TRUE(loop.run_until([&] { return w.outstanding == 0; }));
    std::optional<std::vector<Result<Reply>>> synced;
    cc.command_group({{"SET", probe, "0"}, {"WAIT", "1", "5000"}},
                     [&](std::vector<Result<Reply>> rs) { synced.emplace(std::move(rs)); });
    ASSERT_TRUE(loop.run_until([&] { return synced.has_value(); }));
    ASSERT_TRUE((*synced)[1]) << (*synced)[1].error().to_string();
    ASSERT_EQ((*synced)[1]->integer(), 1);
    std::printf("failover: %d writes acknowledged, %d failed, before the kill\n", w.acked, w.failed);

    // The writer starts again and Y dies before those writes leave (they go
    // out on the next loop turn): every write acknowledged from now on was
    // written by X. The cluster promotes X again (cluster-node-timeout 1 s).
    w.start(kDepth);
    y->kill();
    const auto killed = std::chrono::steady_clock::now();
    before = w.acked;
    const bool resumed = loop.run_until([&] { return w.acked >= before + 100; }, 30s);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed);
    const auto st = cc.stats();
    ASSERT_TRUE(resumed) << "writes did not resume: node_for_key " << cc.node_for_key(probe).value_or("-")
                         << ", acked " << w.acked << ", failed " << w.failed << ", last error " << w.last_error
                         << ", node timeouts " << st.nodes.timeouts << ", refreshes " << st.refreshes;
    std::printf("failover: writes resume %lld ms after the kill (%llu refreshes, %llu links replaced)\n",
                static_cast<long long>(took.count()), static_cast<unsigned long long>(st.refreshes),
                static_cast<unsigned long long>(st.replaced_links));
    EXPECT_EQ(cc.node_for_key(probe), x_name);
    auto ping = await<Reply>(loop, [&](uvredis::Callback<Reply> cb) {
      std::array<std::string_view, 1> a{"PING"};
      cc.command_to(x_name, a, std::move(cb));
    });
    EXPECT_TRUE(ping) << ping.error().to_string();

    w.stop = true;
    ASSERT_TRUE(loop.run_until([&] { return w.outstanding == 0; }));
    // Every acknowledged write is readable through the same client.
    int missing = 0, read_errors = 0;
    std::string first_problem;
    for (int i = 0; i < w.next; ++i) {
      if (!w.ok[static_cast<std::size_t>(i)]) continue;
      auto r = run(loop, cc, {"GET", w.key(i)});
      const std::string want = i == 0 ? "0" : std::to_string(i);  // key 0 is also the WAIT probe
      if (!r) {
        ++read_errors;
        if (first_problem.empty()) first_problem = r.error().to_string();
      } else if (r->is_nil() || std::string(r->str()) != want) {
        ++missing;
        if (first_problem.empty()) first_problem = w.key(i) + ": " + r->to_string();
      }
    }
    EXPECT_EQ(read_errors, 0) << first_problem;
    EXPECT_EQ(missing, 0) << first_problem;
    std::printf("failover: %d writes acknowledged (%d failed), all readable\n", w.acked, w.failed);
    close_and_wait(loop, cc);
    for (int c : w.calls) EXPECT_EQ(c, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A master that stops answering its clients (CLIENT PAUSE ALL: the cluster
// bus goes on, so nobody fails it over) while its link looks connected: a
// timeout there makes the client refresh the map, and a PING that gets
// nothing back either makes it replace the node's connection. Writes go on
// once the node answers again, and every callback runs once.
TEST(ClusterFailover, ANodeThatStopsAnsweringGetsANewConnectionAndAMapRefresh) {
  RedisCluster cluster;
  TestLoop loop;
  {
    ClusterOptions o = cluster_options(cluster);
    o.client.command_timeout = 300ms;
    ClusterClient cc(loop.get(), o);
    RedisServer& x = *cluster.masters()[0];
    Writer w(cc, key_on(cluster, x, "quiet"));
    w.start(4);
    ASSERT_TRUE(loop.run_until([&] { return w.acked >= 50; }));
    const auto before = cc.stats();
    EXPECT_EQ(before.replaced_links, 0u);

    x.client_pause(2500);
    ASSERT_TRUE(loop.run_until([&] { return cc.stats().replaced_links >= 1; }, 15s))
        << "timeouts " << cc.stats().nodes.timeouts << ", failed writes " << w.failed;
    const auto after = cc.stats();
    EXPECT_GT(after.refreshes, before.refreshes) << "no map refresh followed the timeouts";
    EXPECT_GT(w.failed, 0);

    // Once the pause is over, writes are answered again.
    const int acked = w.acked;
    ASSERT_TRUE(loop.run_until([&] { return w.acked >= acked + 50; }, 20s)) << w.last_error;
    w.stop = true;
    ASSERT_TRUE(loop.run_until([&] { return w.outstanding == 0; }));
    close_and_wait(loop, cc);
    for (int c : w.calls) EXPECT_EQ(c, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClusterPubSub, SubscriberHearsPublishesAndMovesToAnotherNodeWhenItsNodeDies) {
  RedisCluster cluster;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(cluster));
    ClusterOptions so = cluster_options(cluster);
    // Start on a replica so that killing it needs no failover.
    std::vector<std::string> seeds;
    auto masters = cluster.masters();
    for (auto& n : cluster.nodes())
      if (std::find(masters.begin(), masters.end(), n.get()) == masters.end())
        seeds.push_back("127.0.0.1:" + std::to_string(n->port()));
    ASSERT_EQ(seeds.size(), 3u);
    so.seeds = seeds;
    uvredis::ClusterSubscriber sub(loop.get(), so);
    std::vector<std::string> got;
    int confirmed = 0, pconfirmed = 0;
    std::vector<uvredis::ConnectionState> states;
    sub.on_state_change([&](uvredis::ConnectionState s, const uvredis::Error*) { states.push_back(s); });
    sub.subscribe({"news"}, [&](const uvredis::Message& m) { got.push_back(m.channel + "=" + m.payload); },
                  [&](Result<void> r) {
                    EXPECT_TRUE(r);
                    ++confirmed;
                  });
    sub.psubscribe({"ev:*"}, [&](const uvredis::Message& m) { got.push_back(m.pattern + ":" + m.channel + "=" + m.payload); },
                   [&](Result<void> r) {
                     EXPECT_TRUE(r);
                     ++pconfirmed;
                   });
    ASSERT_TRUE(loop.run_until([&] { return confirmed == 1 && pconfirmed == 1; }));
    EXPECT_EQ(sub.state(), uvredis::ConnectionState::connected);
    const std::string first = sub.node();
    EXPECT_EQ(first, seeds[0]);

    // Published through any master, heard on a replica.
    // (Each PUBLISH may go through a different master: wait for each.)
    ASSERT_TRUE(run(loop, cc, {"PUBLISH", "news", "one"}));
    ASSERT_TRUE(loop.run_until([&] { return got.size() == 1; }));
    ASSERT_TRUE(run(loop, cc, {"PUBLISH", "ev:x", "two"}));
    ASSERT_TRUE(loop.run_until([&] { return got.size() == 2; }));
    EXPECT_EQ(got[0], "news=one");
    EXPECT_EQ(got[1], "ev:*:ev:x=two");

    cluster.node(static_cast<std::uint16_t>(std::stoi(first.substr(10)))).kill();
    ASSERT_TRUE(loop.run_until([&] { return sub.moves() >= 1 && sub.state() == uvredis::ConnectionState::connected; }, 10s));
    EXPECT_NE(sub.node(), first);
    ASSERT_TRUE(states.size() >= 3u);
    EXPECT_EQ(states[states.size() - 2], uvredis::ConnectionState::reconnecting);
    EXPECT_EQ(states.back(), uvredis::ConnectionState::connected);

    ASSERT_TRUE(run(loop, cc, {"PUBLISH", "news", "three"}));
    ASSERT_TRUE(loop.run_until([&] { return std::count(got.begin(), got.end(), "news=three") == 1; }));
    // The cluster bus carries each PUBLISH to every node, and on a loaded
    // machine it may reach the new node after the subscriber is there: a
    // message from before the move can be heard once more. Nothing else.
    for (std::size_t i = 2; i < got.size(); ++i)
      EXPECT_TRUE(got[i] == "news=three" || got[i] == "news=one" || got[i] == "ev:*:ev:x=two") << got[i];
    EXPECT_EQ(sub.stats().messages, got.size());
    EXPECT_EQ(confirmed, 1);

    // SSUBSCRIBE is refused on a ClusterClient like every subscription.
    auto ss = run(loop, cc, {"SSUBSCRIBE", "x"});
    ASSERT_FALSE(ss);
    EXPECT_EQ(ss.error().kind, ErrorKind::usage);

    close_and_wait(loop, sub);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

// The recipes take any Executor: on a ClusterClient they work unchanged,
// with their keys spread over the three masters.
TEST_F(Cluster, RecipesWorkUnchangedOnTheCluster) {
  using uvredis::test::await;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));

    // Locks: exclusive, released, with a fencing number that grows.
    uvredis::Locker locker(cc);
    auto a = await<std::optional<uvredis::Lock>>(loop, [&](auto cb) { locker.obtain("lock:{room}", 2s, 0ms, cb); });
    ASSERT_TRUE(a) << a.error().to_string();
    ASSERT_TRUE(a->has_value());
    auto b = await<std::optional<uvredis::Lock>>(loop, [&](auto cb) { locker.obtain("lock:{room}", 2s, 0ms, cb); });
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->has_value()) << "a held lock must not be granted twice";
    const long long fence = (*a)->fence();
    auto rel = await<bool>(loop, [&](auto cb) { (*a)->release(cb); });
    ASSERT_TRUE(rel);
    EXPECT_TRUE(*rel);
    auto c = await<std::optional<uvredis::Lock>>(loop, [&](auto cb) { locker.obtain("lock:{room}", 2s, 0ms, cb); });
    ASSERT_TRUE(c && c->has_value());
    EXPECT_GT((*c)->fence(), fence);
    ASSERT_TRUE(await<bool>(loop, [&](auto cb) { (*c)->release(cb); }));

    // Rate limiter: exactly `limit` of a burst pass, on several keys (slots).
    uvredis::RateLimiter limiter(cc);
    for (const char* key : {"login:alice", "login:bob", "login:carol"}) {
      int allowed = 0, answered = 0;
      for (int i = 0; i < 8; ++i)
        limiter.rate_limit(key, 10s, 5, [&](Result<bool> r) {
          ASSERT_TRUE(r) << r.error().to_string();
          allowed += *r ? 1 : 0;
          ++answered;
        });
      ASSERT_TRUE(loop.run_until([&] { return answered == 8; }));
      EXPECT_EQ(allowed, 5) << key;
    }

    // Key-value batches across slots, and sessions.
    uvredis::KvStore<uvredis::RawCodec> kv(cc, "kv:");
    std::vector<std::pair<std::string, std::string>> items;
    std::vector<std::string> keys;
    for (int i = 0; i < 300; ++i) {
      items.emplace_back("k" + std::to_string(i), "v" + std::to_string(i));
      keys.push_back("k" + std::to_string(i));
    }
    ASSERT_TRUE(await<void>(loop, [&](auto cb) { kv.batch_set(items, cb); }));
    auto got = await<std::vector<std::optional<std::string>>>(loop, [&](auto cb) { kv.batch_get<std::string>(keys, cb); });
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 300u);
    for (int i = 0; i < 300; ++i) EXPECT_EQ((*got)[i], std::optional<std::string>("v" + std::to_string(i)));
    for (RedisServer* m : cluster_->masters()) EXPECT_GT(m->cmd_int({"DBSIZE"}), 50);
    // list() walks every master (SCAN is per node).
    auto listed = await<std::vector<std::string>>(loop, [&](auto cb) { kv.list("k", cb); });
    ASSERT_TRUE(listed) << listed.error().to_string();
    std::set<std::string> unique(listed->begin(), listed->end());
    EXPECT_EQ(unique, std::set<std::string>(keys.begin(), keys.end()));

    uvredis::SessionStore sessions(cc);
    auto id = await<std::string>(loop, [&](auto cb) { sessions.create({{"user", "alice"}}, cb); });
    ASSERT_TRUE(id) << id.error().to_string();
    auto s = await<std::optional<uvredis::SessionData>>(loop, [&](auto cb) { sessions.get(*id, cb); });
    ASSERT_TRUE(s && s->has_value());
    EXPECT_EQ((**s).at("user"), "alice");

    uvredis::Cache cache(cc);
    int loads = 0, answers = 0;
    for (int i = 0; i < 50; ++i)
      cache.get_or_load("board", 10s,
                        [&](const std::string&, uvredis::Callback<std::optional<std::string>> done) {
                          ++loads;
                          done(std::optional<std::string>("top"));
                        },
                        [&](Result<std::optional<std::string>> r) {
                          EXPECT_TRUE(r && *r == std::optional<std::string>("top"));
                          ++answers;
                        });
    ASSERT_TRUE(loop.run_until([&] { return answers == 50; }));
    EXPECT_EQ(loads, 1);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(Cluster, ExampleRunsAgainstTheCluster) {
  const char* dir = std::getenv("UVREDIS_EXAMPLES_DIR");
  if (!dir) GTEST_SKIP() << "UVREDIS_EXAMPLES_DIR not set (run through meson test or tests/run-all.sh)";
  std::string seeds;
  for (const std::string& s : cluster_->seeds()) seeds += (seeds.empty() ? "" : ",") + s;
  const std::string cmd = "REDIS_CLUSTER=" + seeds + " timeout 30 " + dir + "/cluster 2>&1";
  int st = -1;
  const std::string out = uvredis::test::run_shell(cmd, st);
  EXPECT_EQ(st, 0) << out;
  EXPECT_NE(out.find("MGET -> hello from a cluster | bye | 100"), std::string::npos) << out;
  EXPECT_NE(out.find("transfer: committed"), std::string::npos) << out;
  EXPECT_NE(out.find("smessage room:{42}: hello shard"), std::string::npos) << out;
  RedisServer& acct = cluster_->master_of(ClusterClient::key_slot("acct"));
  EXPECT_EQ(acct.cmd({"GET", "{acct}.alice"}), "90");
  EXPECT_EQ(acct.cmd({"GET", "{acct}.bob"}), "10");
}
