// ClusterClient and ClusterSubscriber over TLS, against a real 6-node TLS
// cluster (3 masters, 3 replicas; tls-cluster and tls-replication on). The
// client is seeded with rediss:// URLs only: every node it learns of comes
// from CLUSTER SLOTS or a redirection, which announce TLS ports to a TLS
// client, so every node connection must be TLS (a plain connection to a TLS
// port would not even get a reply).
#include <uvredis/uvredis.hpp>

#include "support/cluster_helpers.hpp"
#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_cluster.hpp"
#include "support/tls_certs.hpp"

#include <gtest/gtest.h>

#include <map>
#include <uv.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using uvredis::ClusterClient;
using uvredis::ClusterOptions;
using uvredis::ErrorKind;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::RedisCluster;
using uvredis::test::RedisClusterOptions;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::key_in_slot_of;
using uvredis::test::key_on;
using uvredis::test::run;
using uvredis::test::tls_certs;
using uvredis::test::close_and_wait;

namespace {

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

std::string tls_name(const RedisServer& s) { return "127.0.0.1:" + std::to_string(s.tls_port()); }

// Two seeds (a master and a replica, as created), over TLS, trusting the test CA.
ClusterOptions tls_opts(RedisCluster& c) {
  ClusterOptions o;
  o.seeds = {c.tls_seeds()[0], c.tls_seeds()[3]};
  o.client.tls_ca_file = tls_certs().ca_file;
  o.client.command_timeout = 3s;
  o.client.connect_timeout = 2s;
  return o;
}

// One TLS cluster for the suite. Tests that kill a node start it again, so
// the order does not matter; every test starts from an empty data set.
class TlsCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!uvredis::tls_supported()) return;
    const auto t0 = std::chrono::steady_clock::now();
    cluster_ = new RedisCluster(RedisClusterOptions{.tls = true});
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::printf("TLS cluster up in %lld ms\n", static_cast<long long>(took.count()));
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (!uvredis::tls_supported()) GTEST_SKIP() << "built without TLS";
    ASSERT_NE(cluster_, nullptr);
    ASSERT_TRUE(cluster_->wait_ok());
    cluster_->flush_all();
  }
  static RedisCluster* cluster_;
};
RedisCluster* TlsCluster::cluster_ = nullptr;

}  // namespace

TEST_F(TlsCluster, NodesAnnounceTheirTlsPortToTlsClientsAndTheirPlainPortToOthers) {
  // What the client relies on (checked with redis-cli against Redis 7.0):
  // the plain harness connection hears plain ports.
  RedisServer& m = *cluster_->masters()[0];
  const std::string plain = m.cmd({"CLUSTER", "NODES"});
  EXPECT_TRUE(contains(plain, "127.0.0.1:" + std::to_string(m.port()) + "@")) << plain;
  EXPECT_FALSE(contains(plain, "127.0.0.1:" + std::to_string(m.tls_port()) + "@")) << plain;
  // And a TLS client (below) hears TLS ports.
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), tls_opts(*cluster_));
    auto r = run(loop, cc, {"CLUSTER", "NODES"});
    ASSERT_TRUE(r) << r.error().to_string();
    const std::string text(r->str());
    for (auto& n : cluster_->nodes()) {
      EXPECT_TRUE(contains(text, tls_name(*n) + "@")) << text;
      EXPECT_FALSE(contains(text, "127.0.0.1:" + std::to_string(n->port()) + "@")) << text;
    }
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(TlsCluster, TypedCommandsRouteOverTlsToAllThreeMasters) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), tls_opts(*cluster_));
    const int n = 300;
    std::vector<int> calls(n, 0);
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      cc.set("tk:" + std::to_string(i), "v" + std::to_string(i), [&, i](Result<bool> r) {
        ++calls[static_cast<std::size_t>(i)];
        if (r && *r) ++ok;
        else ADD_FAILURE() << (r ? std::string("SET answered false") : r.error().to_string());
      });
    }
    ASSERT_TRUE(loop.run_until([&] { return std::all_of(calls.begin(), calls.end(), [](int c) { return c > 0; }); }));
    EXPECT_EQ(ok, n);
    auto got = uvredis::test::await<std::optional<std::string>>(
        loop, [&](uvredis::Callback<std::optional<std::string>> cb) { cc.get("tk:7", std::move(cb)); });
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got.value(), std::optional<std::string>("v7"));

    // Every master holds the keys of its slots (read through the plain port).
    auto masters = cluster_->masters();
    ASSERT_EQ(masters.size(), 3u);
    long long total = 0;
    for (RedisServer* m : masters) {
      const long long size = m->cmd_int({"DBSIZE"});
      EXPECT_GT(size, 50) << "master on port " << m->port();
      total += size;
    }
    EXPECT_EQ(total, n);
    for (int i = 0; i < n; i += 13) {
      const std::string k = "tk:" + std::to_string(i);
      RedisServer& owner = cluster_->master_of(ClusterClient::key_slot(k));
      EXPECT_EQ(owner.cmd({"GET", k}), "v" + std::to_string(i));
      EXPECT_EQ(cc.node_for_key(k), tls_name(owner));
    }

    // The client's map names the masters by their TLS ports.
    std::set<std::string> want, have;
    for (RedisServer* m : masters) want.insert(tls_name(*m));
    for (const std::string& name : cc.masters()) have.insert(name);
    EXPECT_EQ(have, want);
    const auto st = cc.stats();
    EXPECT_EQ(st.masters, 3u);
    EXPECT_EQ(st.moved, 0u);
    EXPECT_EQ(st.refresh_failures, 0u);
    EXPECT_GE(st.nodes.replies, static_cast<std::uint64_t>(n));

    // command_to by the names of the map: the TLS ports, which answer
    // nothing but TLS, so these replies came over TLS.
    for (RedisServer* m : masters) {
      std::array<std::string_view, 3> argv{"CONFIG", "GET", "tls-port"};
      auto r = uvredis::test::await<Reply>(
          loop, [&](uvredis::Callback<Reply> cb) { cc.command_to(tls_name(*m), argv, std::move(cb)); });
      ASSERT_TRUE(r) << r.error().to_string();
      ASSERT_EQ(r->size(), 2u);
      EXPECT_EQ(r->elements()[1].str(), std::to_string(m->tls_port()));
    }

    auto dbsize = run(loop, cc, {"DBSIZE"});  // every master, summed
    ASSERT_TRUE(dbsize) << dbsize.error().to_string();
    EXPECT_EQ(dbsize->integer(), n);
    close_and_wait(loop, cc);
    for (int c : calls) EXPECT_EQ(c, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(TlsCluster, MgetMsetAcrossSlotsAreSplitOverTls) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), tls_opts(*cluster_));
    std::vector<std::pair<std::string, std::string>> pairs;
    for (int i = 0; i < 40; ++i) pairs.emplace_back("ms" + std::to_string(i), "value-" + std::to_string(i));
    auto set = uvredis::test::await<void>(loop, [&](uvredis::Callback<void> cb) { cc.mset(pairs, std::move(cb)); });
    ASSERT_TRUE(set) << set.error().to_string();
    // The parts landed on all three masters.
    for (RedisServer* m : cluster_->masters()) EXPECT_GT(m->cmd_int({"DBSIZE"}), 0) << m->port();

    std::vector<std::string> keys;
    for (int i = 0; i < 45; ++i) keys.push_back("ms" + std::to_string((i * 7) % 45));  // scrambled, some absent
    auto got = uvredis::test::await<std::vector<std::optional<std::string>>>(
        loop, [&](uvredis::Callback<std::vector<std::optional<std::string>>> cb) { cc.mget(keys, std::move(cb)); });
    ASSERT_TRUE(got) << got.error().to_string();
    ASSERT_EQ(got->size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const int k = std::stoi(keys[i].substr(2));
      if (k < 40)
        EXPECT_EQ((*got)[i], std::optional<std::string>("value-" + std::to_string(k))) << keys[i];
      else
        EXPECT_FALSE((*got)[i].has_value()) << keys[i];
    }
    EXPECT_GE(cc.stats().splits, 2u);
    auto del = run(loop, cc, {"DEL", "ms1", "ms2", "ms3", "ms4", "ms5", "nope"});
    ASSERT_TRUE(del) << del.error().to_string();
    EXPECT_EQ(del->integer(), 5);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(TlsCluster, PipelineAndTransactionOverTls) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), tls_opts(*cluster_));
    uvredis::Pipeline p(cc);
    std::vector<uvredis::Handle<Reply>> handles;
    const int n = 600;
    for (int i = 0; i < n; ++i) {
      const std::string k = "pl" + std::to_string((i / 2) % 60);
      handles.push_back(i % 2 == 0 ? p.command({"INCR", k}) : p.command({"GET", k}));
    }
    int execs = 0;
    std::optional<uvredis::ExecSummary> sum;
    p.exec([&](uvredis::ExecSummary s) {
      ++execs;
      sum = s;
    });
    ASSERT_TRUE(loop.run_until([&] { return execs > 0; }));
    EXPECT_EQ(sum->commands, static_cast<std::size_t>(n));
    EXPECT_EQ(sum->failed, 0u);
    for (int i = 0; i < n; i += 2) {
      const long long expect = i / 120 + 1;
      ASSERT_EQ(handles[static_cast<std::size_t>(i)].result()->integer(), expect) << i;
      ASSERT_EQ(handles[static_cast<std::size_t>(i + 1)].result()->str(), std::to_string(expect)) << i;
    }

    uvredis::Transaction tx(cc);
    auto a = tx.command({"INCR", "{acct}.a"});
    auto b = tx.command({"INCRBY", "{acct}.b", "5"});
    auto g = tx.get("{acct}.a");
    int outs = 0;
    std::optional<Result<uvredis::Transaction::Outcome>> out;
    tx.exec([&](Result<uvredis::Transaction::Outcome> o) {
      ++outs;
      out.emplace(std::move(o));
    });
    ASSERT_TRUE(loop.run_until([&] { return outs > 0; }));
    ASSERT_TRUE(*out) << out->error().to_string();
    EXPECT_EQ(out->value(), uvredis::Transaction::Outcome::committed);
    EXPECT_EQ(a.result()->integer(), 1);
    EXPECT_EQ(b.result()->integer(), 5);
    EXPECT_EQ(g.result().value(), std::optional<std::string>("1"));
    EXPECT_EQ(cluster_->master_of(ClusterClient::key_slot("acct")).cmd({"GET", "{acct}.b"}), "5");
    close_and_wait(loop, cc);
    loop.run_for(5ms);
    EXPECT_EQ(execs, 1);
    EXPECT_EQ(outs, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(TlsCluster, AnUntrustedCertificateFailsEveryCommandOnceWithAVerifyError) {
  TestLoop loop;
  {
    ClusterOptions o = tls_opts(*cluster_);
    o.client.tls_ca_file = tls_certs().other_ca_file;
    o.client.connect_timeout = 3s;
    const auto t0 = std::chrono::steady_clock::now();
    ClusterClient cc(loop.get(), o);
    std::vector<uvredis::Error> errors;
    int replies = 0, calls = 0;
    auto on_reply = [&](Result<Reply> r) {
      ++calls;
      if (r) ++replies;
      else errors.push_back(r.error());
    };
    for (int i = 0; i < 20; ++i) cc.command({"SET", "bad" + std::to_string(i), "x"}, on_reply);
    cc.command({"MGET", "a", "b", "c", "d"}, on_reply);  // split over slots
    cc.command({"PING"}, on_reply);                       // keyless
    uvredis::Pipeline p(cc);
    auto h1 = p.command({"SET", "pa", "1"});
    auto h2 = p.command({"GET", "pb"});
    int execs = 0;
    std::optional<uvredis::ExecSummary> sum;
    p.exec([&](uvredis::ExecSummary s) {
      ++execs;
      sum = s;
    });
    uvredis::Transaction tx(cc);
    tx.command({"INCR", "{t}a"});
    int tx_calls = 0;
    std::optional<Result<uvredis::Transaction::Outcome>> tx_out;
    tx.exec([&](Result<uvredis::Transaction::Outcome> r) {
      ++tx_calls;
      tx_out.emplace(std::move(r));
    });
    ASSERT_TRUE(loop.run_until([&] { return calls == 22 && execs == 1 && tx_calls == 1; }, 10s))
        << calls << " " << execs << " " << tx_calls;
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 5s);  // refused at once, not after a timeout
    EXPECT_EQ(replies, 0);
    ASSERT_EQ(errors.size(), 22u);
    for (const uvredis::Error& e : errors) {
      EXPECT_EQ(e.kind, ErrorKind::connect) << e.to_string();
      EXPECT_TRUE(contains(e.message, "certificate verify failed")) << e.message;
    }
    EXPECT_EQ(sum->failed, 2u);
    ASSERT_TRUE(h1.ready() && h2.ready());
    EXPECT_TRUE(contains(h1.result().error().message, "certificate verify failed")) << h1.result().error().message;
    ASSERT_FALSE(*tx_out);
    EXPECT_TRUE(contains(tx_out->error().message, "certificate verify failed")) << tx_out->error().message;
    EXPECT_EQ(cc.stats().masters, 0u);
    EXPECT_GE(cc.stats().refresh_failures, 1u);
    // Nothing reached the cluster.
    for (RedisServer* m : cluster_->masters()) EXPECT_EQ(m->cmd_int({"DBSIZE"}), 0);
    close_and_wait(loop, cc);
    loop.run_for(20ms);
    EXPECT_EQ(calls, 22);
    EXPECT_EQ(execs, 1);
    EXPECT_EQ(tx_calls, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(TlsCluster, NodeCertificatesAreCheckedForTheAnnouncedAddressOrTlsServerName) {
  TestLoop loop;
  {
    // A seed by name; the nodes it announces are IP literals, checked
    // against the certificate's IP addresses (and sent no SNI).
    ClusterOptions o = tls_opts(*cluster_);
    o.seeds = {"rediss://localhost:" + std::to_string(cluster_->nodes()[1]->tls_port())};
    ClusterClient cc(loop.get(), o);
    auto r = run(loop, cc, {"SET", "named", "1"});
    ASSERT_TRUE(r) << r.error().to_string();
    for (const std::string& m : cc.masters()) EXPECT_EQ(m.rfind("127.0.0.1:", 0), 0u) << m;
    close_and_wait(loop, cc);

    // tls_server_name is the name every node must prove.
    o.client.tls_server_name = "localhost";
    ClusterClient named(loop.get(), o);
    auto n = run(loop, named, {"GET", "named"});
    ASSERT_TRUE(n) << n.error().to_string();
    EXPECT_EQ(n->str(), "1");
    close_and_wait(loop, named);

    o.client.tls_server_name = "redis.example.com";
    ClusterClient wrong(loop.get(), o);
    auto w = run(loop, wrong, {"GET", "named"});
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().kind, ErrorKind::connect);
    EXPECT_TRUE(contains(w.error().message, "hostname mismatch")) << w.error().message;
    EXPECT_TRUE(contains(w.error().message, "redis.example.com")) << w.error().message;
    close_and_wait(loop, wrong);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(TlsCluster, SubscriberOverTlsHearsPublishesAndMovesToAnotherNode) {
  // Seeds: the replicas (killing one needs no failover).
  auto masters = cluster_->masters();
  std::vector<RedisServer*> replicas;
  for (auto& n : cluster_->nodes())
    if (std::find(masters.begin(), masters.end(), n.get()) == masters.end()) replicas.push_back(n.get());
  ASSERT_EQ(replicas.size(), 3u);
  RedisServer* killed = nullptr;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), tls_opts(*cluster_));
    ClusterOptions so = tls_opts(*cluster_);
    so.seeds.clear();
    for (RedisServer* r : replicas) so.seeds.push_back(r->tls_url());
    uvredis::ClusterSubscriber sub(loop.get(), so);
    std::vector<std::string> got;
    int confirmed = 0, pconfirmed = 0;
    sub.subscribe({"news"}, [&](const uvredis::Message& m) { got.push_back(m.channel + "=" + m.payload); },
                  [&](Result<void> r) {
                    EXPECT_TRUE(r) << r.error().to_string();
                    ++confirmed;
                  });
    sub.psubscribe({"ev:*"}, [&](const uvredis::Message& m) { got.push_back(m.pattern + ":" + m.channel + "=" + m.payload); },
                   [&](Result<void> r) {
                     EXPECT_TRUE(r) << r.error().to_string();
                     ++pconfirmed;
                   });
    ASSERT_TRUE(loop.run_until([&] { return confirmed == 1 && pconfirmed == 1; }, 10s));
    EXPECT_EQ(sub.state(), uvredis::ConnectionState::connected);
    EXPECT_EQ(sub.node(), tls_name(*replicas[0]));

    auto pub = run(loop, cc, {"PUBLISH", "news", "one"});
    ASSERT_TRUE(pub) << pub.error().to_string();
    ASSERT_TRUE(loop.run_until([&] { return got.size() == 1; }));
    ASSERT_TRUE(run(loop, cc, {"PUBLISH", "ev:x", "two"}));
    ASSERT_TRUE(loop.run_until([&] { return got.size() == 2; }));
    EXPECT_EQ(got[0], "news=one");
    EXPECT_EQ(got[1], "ev:*:ev:x=two");

    // Its node goes: it subscribes again on the next seed, over TLS.
    killed = replicas[0];
    killed->kill();
    ASSERT_TRUE(loop.run_until(
        [&] { return sub.moves() >= 1 && sub.state() == uvredis::ConnectionState::connected; }, 10s));
    EXPECT_NE(sub.node(), tls_name(*killed));
    ASSERT_TRUE(run(loop, cc, {"PUBLISH", "news", "three"}));
    ASSERT_TRUE(loop.run_until([&] { return got.size() == 3; }));
    EXPECT_EQ(got[2], "news=three");
    EXPECT_EQ(confirmed, 1);
    EXPECT_EQ(pconfirmed, 1);

    close_and_wait(loop, sub);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
  // Back in the cluster for the tests that follow (it keeps its nodes.conf).
  if (killed) {
    killed->start();
    EXPECT_TRUE(cluster_->wait_ok());
  }
}

TEST_F(TlsCluster, ShardedPubSubOverTlsOnAllThreeMasters) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), tls_opts(*cluster_));
    uvredis::ClusterSubscriber sub(loop.get(), tls_opts(*cluster_));
    std::map<std::string, std::vector<std::string>> got;
    std::map<std::string, RedisServer*> owner;
    for (RedisServer* m : cluster_->masters()) owner[key_on(*cluster_, *m, "shard:")] = m;
    ASSERT_EQ(owner.size(), 3u);
    std::vector<std::string> chans;
    for (auto& [c, m] : owner) chans.push_back(c);
    int confirmed = 0;
    sub.ssubscribe(
        chans, [&](const uvredis::Message& m) { got[m.channel].push_back(m.payload); },
        [&](Result<void> r) {
          EXPECT_TRUE(r) << r.error().to_string();
          ++confirmed;
        });
    ASSERT_TRUE(loop.run_until([&] { return confirmed > 0; }, 10s));
    EXPECT_EQ(confirmed, 1);
    // Each channel is held on its master's TLS port.
    for (auto& [c, m] : owner) EXPECT_EQ(sub.shard_node(c), tls_name(*m)) << c;
    for (auto& [c, m] : owner) {
      auto r = run(loop, cc, {"SPUBLISH", c, "tls:" + c});
      ASSERT_TRUE(r) << r.error().to_string();
      EXPECT_EQ(r->integer(), 1) << c;  // one receiver: our subscription on the owner
    }
    ASSERT_TRUE(loop.run_until([&] { return got.size() == 3 && got.rbegin()->second.size() == 1; }, 10s));
    loop.run_for(50ms);
    for (auto& [c, m] : owner) EXPECT_EQ(got[c], std::vector<std::string>{"tls:" + c}) << c;
    EXPECT_EQ(cc.stats().moved, 0u);
    close_and_wait(loop, sub);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(TlsCluster, MovedAndAskDuringAReshardFollowTlsPorts) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), tls_opts(*cluster_));
    const std::string tag = "movetag";
    const int slot = ClusterClient::key_slot(tag);
    std::vector<std::string> keys;
    for (int i = 0; i < 30; ++i) keys.push_back("{" + tag + "}:" + std::to_string(i));
    for (const std::string& k : keys) ASSERT_TRUE(run(loop, cc, {"SET", k, k}));
    RedisServer& from = cluster_->master_of(slot);
    RedisServer* to = nullptr;
    for (RedisServer* m : cluster_->masters())
      if (m != &from) to = m;
    ASSERT_NE(to, nullptr);
    EXPECT_EQ(cc.node_for_key(keys[0]), tls_name(from));

    // While the slot is half moved, keys already gone answer ASK (to the
    // importing node's TLS port); every GET still finds its value.
    int rounds = 0;
    cluster_->move_slot(slot, *to, 10, [&] {
      ++rounds;
      int left = static_cast<int>(keys.size());
      for (const std::string& k : keys) {
        cc.get(k, [&, k](Result<std::optional<std::string>> r) {
          --left;
          if (!r) ADD_FAILURE() << k << ": " << r.error().to_string();
          else EXPECT_EQ(*r, std::optional<std::string>(k));
        });
      }
      EXPECT_TRUE(loop.run_until([&] { return left == 0; }, 10s));
    });
    EXPECT_EQ(rounds, 3);
    EXPECT_GE(cc.stats().ask, 1u);
    EXPECT_EQ(cc.node_for_key(keys[0]), tls_name(from));  // ASK leaves the map alone

    // Now MOVED: the client's map still names `from`.
    auto r = run(loop, cc, {"GET", keys[5]});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->str(), keys[5]);
    EXPECT_GE(cc.stats().moved, 1u);
    EXPECT_EQ(cc.node_for_key(keys[0]), tls_name(*to));
    auto w = run(loop, cc, {"INCR", "{" + tag + "}:n"});
    ASSERT_TRUE(w) << w.error().to_string();
    EXPECT_EQ(to->cmd({"GET", "{" + tag + "}:n"}), "1");
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(TlsCluster, CommandsSucceedAgainAfterAMasterFailsOver) {
  RedisServer* killed = nullptr;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), tls_opts(*cluster_));
    auto masters = cluster_->masters();
    ASSERT_EQ(masters.size(), 3u);
    RedisServer& victim = *masters[0];
    const std::string k = key_on(*cluster_, victim, "victim");
    // The replica has the write before the master goes (WAIT in one group).
    std::optional<std::vector<Result<Reply>>> acked;
    cc.command_group({{"SET", k, "before"}, {"WAIT", "1", "2000"}},
                     [&](std::vector<Result<Reply>> rs) { acked.emplace(std::move(rs)); });
    ASSERT_TRUE(loop.run_until([&] { return acked.has_value(); }));
    ASSERT_TRUE((*acked)[0]) << (*acked)[0].error().to_string();
    ASSERT_TRUE((*acked)[1]) << (*acked)[1].error().to_string();
    ASSERT_EQ((*acked)[1]->integer(), 1);

    std::vector<int> calls(100, 0);
    int done = 0;
    for (int i = 0; i < 100; ++i)
      cc.command({"INCR", "{" + k + "}n"}, [&, i](Result<Reply>) {
        ++calls[static_cast<std::size_t>(i)];
        ++done;
      });
    killed = &victim;
    victim.kill();
    ASSERT_TRUE(loop.run_until([&] { return done == 100; }, 15s));

    const auto start = std::chrono::steady_clock::now();
    bool ok = false;
    std::string last;
    while (std::chrono::steady_clock::now() - start < 12s) {
      auto r = run(loop, cc, {"GET", k});
      if (r) {
        EXPECT_EQ(r->to_string(), "\"before\"");
        ok = true;
        break;
      }
      last = r.error().to_string();
      loop.run_for(100ms);
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    ASSERT_TRUE(ok) << "last error: " << last;
    std::printf("TLS failover: commands succeed again after %lld ms\n", static_cast<long long>(took.count()));
    // The promoted replica, by its TLS port.
    const std::string now = cc.node_for_key(k).value_or("");
    EXPECT_NE(now, tls_name(victim));
    EXPECT_EQ(now, tls_name(cluster_->master_of(ClusterClient::key_slot(k))));
    auto w = run(loop, cc, {"SET", k, "after"});
    ASSERT_TRUE(w) << w.error().to_string();
    close_and_wait(loop, cc);
    for (int c : calls) EXPECT_EQ(c, 1);
  }
  EXPECT_EQ(loop.close(), 0);
  // It comes back as a replica of the promoted one: 3 + 3 again for any
  // test that runs after this one.
  if (killed) {
    killed->start();
    EXPECT_TRUE(cluster_->wait_ok());
  }
}
