// KeyspaceSubscriber: typed keyspace notifications on one real server and on
// a 6-node cluster that fails over and moves a slot.

#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/cluster_helpers.hpp"
#include "support/loop.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClusterClient;
using uvredis::ErrorKind;
using uvredis::KeyspaceEvent;
using uvredis::KeyspaceForm;
using uvredis::KeyspaceOptions;
using uvredis::KeyspaceSubscriber;
using uvredis::Result;
using uvredis::test::await;
using uvredis::test::close_and_wait;
using uvredis::test::options_for;
using uvredis::test::RedisCluster;
using uvredis::test::RedisServer;
using uvredis::test::run_one;
using uvredis::test::TestLoop;

namespace {

std::string name_of(const RedisServer& s) { return "127.0.0.1:" + std::to_string(s.port()); }

// Confirms a watch (exactly once, never inside the call) and returns its result.
template <class Start>
Result<void> confirm(TestLoop& loop, Start&& start) {
  return await<void>(loop, [&](uvredis::Callback<void> cb) { start(std::move(cb)); }, 30s);
}

struct Recorder {
  std::vector<KeyspaceEvent> events;
  uvredis::KeyspaceHandler handler() {
    return [this](const KeyspaceEvent& e) { events.push_back(e); };
  }
  int count(const std::string& key, const std::string& event) const {
    int n = 0;
    for (auto& e : events) n += (e.key == key && e.event == event) ? 1 : 0;
    return n;
  }
};

}  // namespace

TEST(KeyspaceParse, BothFormsDatabaseAndBinaryKeys) {
  auto a = uvredis::parse_keyspace_event("__keyspace@0__:user:1", "set");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->form, KeyspaceForm::keyspace);
  EXPECT_EQ(a->key, "user:1");
  EXPECT_EQ(a->event, "set");
  EXPECT_EQ(a->db, 0);
  auto b = uvredis::parse_keyspace_event("__keyevent@12__:expired", "k");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->form, KeyspaceForm::keyevent);
  EXPECT_EQ(b->key, "k");
  EXPECT_EQ(b->event, "expired");
  EXPECT_EQ(b->db, 12);
  const std::string bin("a\0b__:c\xff", 8);
  auto c = uvredis::parse_keyspace_event("__keyspace@3__:" + bin, "del");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->key, bin);
  EXPECT_EQ(c->db, 3);
  EXPECT_FALSE(uvredis::parse_keyspace_event("news", "x"));
  EXPECT_FALSE(uvredis::parse_keyspace_event("__keyspace@__:k", "x"));
  EXPECT_FALSE(uvredis::parse_keyspace_event("__keyspace@1_:k", "x"));
  EXPECT_FALSE(uvredis::parse_keyspace_event("__keyevent@x__:set", "k"));
}

TEST(Keyspace, ConfigSetThenSetExpireDelAsTypedKeySpaceEvents) {
  RedisServer server;  // notifications off, as by default
  TestLoop loop;
  {
    KeyspaceOptions ko;
    ko.notify_keyspace_events = "KEA";
    KeyspaceSubscriber ks(loop.get(), options_for(server), ko);
    Recorder rec;
    int errors = 0;
    ks.on_error([&](const uvredis::Error&) { ++errors; });
    auto ok = confirm(loop, [&](auto cb) { ks.watch_keys("user:*", {}, rec.handler(), std::move(cb)); });
    ASSERT_TRUE(ok) << ok.error().to_string();
    EXPECT_EQ(server.cmd({"CONFIG", "GET", "notify-keyspace-events"}).find("AKE") != std::string::npos ||
                  server.cmd({"CONFIG", "GET", "notify-keyspace-events"}).find("KEA") != std::string::npos,
              true)
        << server.cmd({"CONFIG", "GET", "notify-keyspace-events"});
    EXPECT_EQ(ks.nodes(), std::vector<std::string>{name_of(server)});

    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c, {"SET", "user:1", "v"}));
    ASSERT_TRUE(run_one(loop, c, {"EXPIRE", "user:1", "100"}));
    ASSERT_TRUE(run_one(loop, c, {"DEL", "user:1"}));
    ASSERT_TRUE(run_one(loop, c, {"SET", "other", "v"}));  // not watched
    ASSERT_TRUE(loop.run_until([&] { return rec.events.size() >= 3; }));
    loop.run_for(50ms);
    ASSERT_EQ(rec.events.size(), 3u);
    const char* want[] = {"set", "expire", "del"};
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(rec.events[i].event, want[i]);
      EXPECT_EQ(rec.events[i].key, "user:1");
      EXPECT_EQ(rec.events[i].form, KeyspaceForm::keyspace);
      EXPECT_EQ(rec.events[i].db, 0);
      EXPECT_EQ(rec.events[i].node, name_of(server));
    }
    EXPECT_EQ(ks.events(), 3u);
    EXPECT_EQ(errors, 0);
    close_and_wait(loop, c);
    close_and_wait(loop, ks);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Keyspace, KeyEventFormInAnotherDatabaseIncludingExpired) {
  RedisServer server({{"--notify-keyspace-events", "KEA"}});
  TestLoop loop;
  {
    KeyspaceOptions ko;
    ko.db = 3;
    KeyspaceSubscriber ks(loop.get(), options_for(server), ko);
    Recorder rec;
    auto ok = confirm(loop, [&](auto cb) { ks.watch_events({"set", "expired"}, rec.handler(), std::move(cb)); });
    ASSERT_TRUE(ok) << ok.error().to_string();
    auto o3 = options_for(server);
    o3.address.db = 3;
    Client c3(loop.get(), o3);
    Client c0(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c0, {"SET", "in-db0", "v"}));  // another database: not watched
    ASSERT_TRUE(run_one(loop, c3, {"SET", "session:9", "v", "PX", "30"}));
    // Redis removes it (and says so) by its background sweep, ~10 times a second.
    ASSERT_TRUE(loop.run_until([&] { return rec.count("session:9", "expired") == 1; }, 10s));
    loop.run_for(50ms);
    ASSERT_EQ(rec.events.size(), 2u);
    EXPECT_EQ(rec.count("session:9", "set"), 1);
    for (auto& e : rec.events) {
      EXPECT_EQ(e.form, KeyspaceForm::keyevent);
      EXPECT_EQ(e.db, 3);
    }
    close_and_wait(loop, c3);
    close_and_wait(loop, c0);
    close_and_wait(loop, ks);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Keyspace, BinaryKeysEventFilterAndUnwatch) {
  RedisServer server({{"--notify-keyspace-events", "KEA"}});
  TestLoop loop;
  {
    KeyspaceSubscriber ks(loop.get(), options_for(server));
    Recorder only_del, all;
    auto ok = confirm(loop, [&](auto cb) { ks.watch_keys("bin*", {"del"}, only_del.handler(), std::move(cb)); });
    ASSERT_TRUE(ok) << ok.error().to_string();
    uvredis::KeyspaceWatchId id = 0;
    ok = confirm(loop, [&](auto cb) { id = ks.watch_keys("bin*", {}, all.handler(), std::move(cb)); });
    ASSERT_TRUE(ok) << ok.error().to_string();

    const std::string key("bin\0x__:y\xfe", 10);
    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c, {"SET", key, "v"}));
    ASSERT_TRUE(run_one(loop, c, {"DEL", key}));
    ASSERT_TRUE(loop.run_until([&] { return only_del.events.size() == 1 && all.events.size() == 2; }));
    EXPECT_EQ(only_del.events[0].key, key);
    EXPECT_EQ(only_del.events[0].event, "del");
    EXPECT_EQ(all.count(key, "set"), 1);

    // The pattern stays subscribed for the other watch.
    ok = confirm(loop, [&](auto cb) { ks.unwatch(id, std::move(cb)); });
    ASSERT_TRUE(ok);
    ASSERT_TRUE(run_one(loop, c, {"SET", key, "v"}));
    ASSERT_TRUE(run_one(loop, c, {"DEL", key}));
    ASSERT_TRUE(loop.run_until([&] { return only_del.events.size() == 2; }));
    loop.run_for(50ms);
    EXPECT_EQ(all.events.size(), 2u);
    EXPECT_EQ(ks.events(), 4u);
    close_and_wait(loop, c);
    close_and_wait(loop, ks);
  }
  EXPECT_EQ(loop.close(), 0);
}

// CONFIG renamed away: the confirmation and on_error say so, naming the node;
// the subscription still works with notifications set in the configuration.
TEST(Keyspace, RefusedConfigSetIsReportedAndSubscriptionsStay) {
  RedisServer server({{"--notify-keyspace-events", "KEA", "--rename-command", "CONFIG", ""}});
  TestLoop loop;
  {
    KeyspaceOptions ko;
    ko.notify_keyspace_events = "Kx";
    KeyspaceSubscriber ks(loop.get(), options_for(server), ko);
    std::vector<uvredis::Error> errors;
    ks.on_error([&](const uvredis::Error& e) { errors.push_back(e); });
    Recorder rec;
    auto r = confirm(loop, [&](auto cb) { ks.watch_events({"set"}, rec.handler(), std::move(cb)); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::server);
    EXPECT_NE(r.error().message.find("CONFIG SET notify-keyspace-events refused by " + name_of(server)),
              std::string::npos)
        << r.error().message;
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].message, r.error().message);
    // A later watch on the same node learns of the refusal too.
    Recorder rec2;
    auto r2 = confirm(loop, [&](auto cb) { ks.watch_events({"del"}, rec2.handler(), std::move(cb)); });
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().kind, ErrorKind::server);

    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c, {"SET", "k", "v"}));
    ASSERT_TRUE(loop.run_until([&] { return rec.count("k", "set") == 1; }));
    EXPECT_EQ(errors.size(), 1u);
    close_and_wait(loop, c);
    close_and_wait(loop, ks);
  }
  EXPECT_EQ(loop.close(), 0);
}

// An ACL user without +config: NOPERM reaches the confirmation, no password in it.
TEST(Keyspace, ConfigSetRefusedByAclNamesNoSecret) {
  RedisServer server;
  server.cmd({"ACL", "SETUSER", "watcher", "on", ">s3cret-pw", "~*", "&*", "+@all", "-config"});
  TestLoop loop;
  {
    auto o = options_for(server);
    o.address.username = "watcher";
    o.address.password = "s3cret-pw";
    KeyspaceOptions ko;
    ko.notify_keyspace_events = "KEA";
    KeyspaceSubscriber ks(loop.get(), o, ko);
    Recorder rec;
    auto r = confirm(loop, [&](auto cb) { ks.watch_keys("*", {}, rec.handler(), std::move(cb)); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::server);
    EXPECT_NE(r.error().message.find("NOPERM"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("s3cret"), std::string::npos);
    close_and_wait(loop, ks);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Keyspace, DestroyInsideHandlerAndPendingConfirmationsFailClosedOnce) {
  RedisServer server({{"--notify-keyspace-events", "KEA"}});
  TestLoop loop;
  {
    auto ks = std::make_unique<KeyspaceSubscriber>(loop.get(), options_for(server));
    int handled = 0;
    auto ok = confirm(loop, [&](auto cb) {
      ks->watch_events({"set"}, [&](const KeyspaceEvent&) {
        ++handled;
        ks.reset();  // from inside its own handler
      }, std::move(cb));
    });
    ASSERT_TRUE(ok);
    // A second watch on the same pattern would also be told: it must not be,
    // the subscriber is gone after the first handler.
    int second = 0;
    ASSERT_TRUE(confirm(loop, [&](auto cb) { ks->watch_events({"set"}, [&](const KeyspaceEvent&) { ++second; }, std::move(cb)); }));
    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c, {"SET", "k", "v"}));
    ASSERT_TRUE(loop.run_until([&] { return !ks; }));
    loop.run_for(50ms);
    EXPECT_EQ(handled, 1);
    EXPECT_EQ(second, 0);

    // Destroyed right after the call: closed, once, on a later turn.
    auto ks2 = std::make_unique<KeyspaceSubscriber>(loop.get(), options_for(server));
    int calls = 0;
    std::optional<ErrorKind> kind;
    ks2->watch_keys("*", {}, [](const KeyspaceEvent&) {}, [&](Result<void> r) {
      ++calls;
      if (!r) kind = r.error().kind;
    });
    ks2.reset();
    EXPECT_EQ(calls, 0);
    ASSERT_TRUE(loop.run_until([&] { return calls > 0; }));
    loop.run_for(50ms);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(kind, ErrorKind::closed);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Keyspace, UsageErrors) {
  TestLoop loop;
  {
    uvredis::ClientOptions o;
    o.address.port = 1;  // never reached
    KeyspaceSubscriber ks(loop.get(), o);
    auto r = confirm(loop, [&](auto cb) { ks.watch_events({}, [](const KeyspaceEvent&) {}, std::move(cb)); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::usage);
    close_and_wait(loop, ks);

    KeyspaceOptions negative;
    negative.db = -1;
    KeyspaceSubscriber ks2(loop.get(), o, negative);
    r = confirm(loop, [&](auto cb) { ks2.watch_keys("*", {}, [](const KeyspaceEvent&) {}, std::move(cb)); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::usage);
    close_and_wait(loop, ks2);

    uvredis::ClusterOptions co;
    co.seeds = {"127.0.0.1:1"};
    KeyspaceOptions db3;
    db3.db = 3;
    KeyspaceSubscriber ks3(loop.get(), co, db3);
    r = confirm(loop, [&](auto cb) { ks3.watch_keys("*", {}, [](const KeyspaceEvent&) {}, std::move(cb)); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::usage);
    EXPECT_NE(r.error().message.find("database 0 only"), std::string::npos) << r.error().message;
    close_and_wait(loop, ks3);

    co.seeds = {"redis://user:pa55word@bad host:1"};
    KeyspaceSubscriber ks4(loop.get(), co);
    r = confirm(loop, [&](auto cb) { ks4.watch_keys("*", {}, [](const KeyspaceEvent&) {}, std::move(cb)); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::usage);
    EXPECT_EQ(r.error().message.find("pa55word"), std::string::npos) << r.error().message;
    close_and_wait(loop, ks4);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A restarted server forgot CONFIG SET: it is sent again after the reconnect.
TEST(Keyspace, ConfigSetAgainAfterARestart) {
  RedisServer server;
  TestLoop loop;
  {
    KeyspaceOptions ko;
    ko.notify_keyspace_events = "K$";
    KeyspaceSubscriber ks(loop.get(), options_for(server), ko);
    int connected = 0;
    ks.on_node_state([&](const std::string& node, uvredis::ConnectionState s, const uvredis::Error*) {
      EXPECT_EQ(node, name_of(server));
      if (s == uvredis::ConnectionState::connected) ++connected;
    });
    Recorder rec;
    auto ok = confirm(loop, [&](auto cb) { ks.watch_keys("k", {}, rec.handler(), std::move(cb)); });
    ASSERT_TRUE(ok) << ok.error().to_string();
    const int before = connected;
    server.restart();
    ASSERT_TRUE(loop.run_until([&] {
      return connected > before &&
             server.cmd({"CONFIG", "GET", "notify-keyspace-events"}).find('K') != std::string::npos;
    }));
    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(run_one(loop, c, {"SET", "k", "v"}));
    ASSERT_TRUE(loop.run_until([&] { return rec.count("k", "set") == 1; }));
    close_and_wait(loop, c);
    close_and_wait(loop, ks);
  }
  EXPECT_EQ(loop.close(), 0);
}

// ------------------------------------------------------------------ cluster

namespace {

long long info_field(RedisServer& s, const std::string& field) {
  const std::string info = s.cmd({"INFO", "replication"});
  auto at = info.find(field + ":");
  return at == std::string::npos ? -1 : std::atoll(info.c_str() + at + field.size() + 1);
}

RedisServer* replica_of(RedisCluster& cluster, RedisServer& m) {
  for (auto& n : cluster.nodes())
    if (n.get() != &m && n->pid() > 0 &&
        n->cmd({"INFO", "replication"}).find("master_port:" + std::to_string(m.port())) != std::string::npos)
      return n.get();
  return nullptr;
}

bool is_master(TestLoop& loop, Client& c) {
  auto role = run_one(loop, c, {"ROLE"});
  return role && role->is_array() && role->size() > 0 && (*role)[0].to_string() == "\"master\"";
}

}  // namespace

// Keys on every master, then a manual failover (the demoted master stays up
// and would report its new master's writes as a replica: it must be dropped),
// then a slot moved to another master.
TEST(KeyspaceCluster, EveryMasterFailoverAndReshardEachEventOnce) {
  RedisCluster cluster;
  TestLoop loop;
  {
    auto co = uvredis::test::cluster_options(cluster);
    KeyspaceOptions ko;
    ko.notify_keyspace_events = "KEA";
    ko.topology_interval = 200ms;
    KeyspaceSubscriber ks(loop.get(), co, ko);
    Recorder rec;
    auto ok = confirm(loop, [&](auto cb) { ks.watch_events({"set"}, rec.handler(), std::move(cb)); });
    ASSERT_TRUE(ok) << ok.error().to_string();
    auto masters = cluster.masters();
    ASSERT_EQ(masters.size(), 3u);
    std::vector<std::string> names;
    for (auto* m : masters) names.push_back(name_of(*m));
    std::sort(names.begin(), names.end());
    EXPECT_EQ(ks.nodes(), names);

    ClusterClient cc(loop.get(), co);
    // One key per master: each event once, from that master, in db 0.
    std::map<std::string, std::string> key_node;
    for (auto* m : masters) key_node[uvredis::test::key_on(cluster, *m, "ks")] = name_of(*m);
    for (auto& [k, n] : key_node) ASSERT_TRUE(uvredis::test::run(loop, cc, {"SET", k, "v"}));
    ASSERT_TRUE(loop.run_until([&] { return rec.events.size() >= key_node.size(); }));
    for (auto& e : rec.events) {
      EXPECT_EQ(e.node, key_node[e.key]) << e.key;
      EXPECT_EQ(e.db, 0);
    }
    for (auto& [k, n] : key_node) EXPECT_EQ(rec.count(k, "set"), 1) << k;

    // Manual failover: Y takes X's slots, X (still up) becomes Y's replica.
    RedisServer& x = *masters[0];
    RedisServer* y = replica_of(cluster, x);
    ASSERT_NE(y, nullptr);
    {
      Client admin(loop.get(), options_for(*y));
      bool promoted = false;
      for (int attempt = 0; attempt < 3 && !promoted; ++attempt) {
        auto f = run_one(loop, admin, {"CLUSTER", "FAILOVER"});
        ASSERT_TRUE(f) << f.error().to_string();
        promoted = loop.run_until([&] { return is_master(loop, admin); }, 7s);
      }
      ASSERT_TRUE(promoted) << y->log_tail();
      close_and_wait(loop, admin);
    }
    // Wait until x has synced with its new master (so it replays y's writes,
    // which is what would duplicate) and the subscriber dropped x.
    ASSERT_TRUE(loop.run_until(
        [&] {
          auto n = ks.nodes();
          return std::find(n.begin(), n.end(), name_of(*y)) != n.end() &&
                 std::find(n.begin(), n.end(), name_of(x)) == n.end() &&
                 x.cmd({"INFO", "replication"}).find("master_link_status:up") != std::string::npos;
        },
        20s));
    // A watch confirmed now is confirmed by every node of nodes(), y
    // included: y's subscriptions (sent when y joined) are in place.
    Recorder dels;
    ok = confirm(loop, [&](auto cb) { ks.watch_events({"del"}, dels.handler(), std::move(cb)); });
    ASSERT_TRUE(ok) << ok.error().to_string();
    rec.events.clear();
    std::vector<std::string> on_y;
    for (int i = 0; i < 20; ++i) {
      std::string k = uvredis::test::key_on(cluster, *y, "fo" + std::to_string(i) + "-");
      on_y.push_back(k);
      ASSERT_TRUE(uvredis::test::run(loop, cc, {"SET", k, "v"}));
    }
    ASSERT_TRUE(loop.run_until([&] { return rec.events.size() >= on_y.size(); }))
        << [&] {
             std::string m;
             for (auto& k : on_y)
               if (rec.count(k, "set") != 1)
                 m += k + " (slot " + std::to_string(ClusterClient::key_slot(k)) + ", x has it: " +
                      x.cmd({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(ClusterClient::key_slot(k))}) + ") ";
             for (auto& e : rec.events) m += e.key + "@" + e.node + " ";
             return m;
           }()
        << rec.events.size() << " events; y's notify-keyspace-events: "
        << y->cmd({"CONFIG", "GET", "notify-keyspace-events"}) << "; y's clients: " << y->cmd({"CLIENT", "LIST"});
    // x, now y's replica, has applied (and would have published) every write.
    const long long target = info_field(*y, "master_repl_offset");
    ASSERT_TRUE(loop.run_until([&] { return info_field(x, "slave_repl_offset") >= target; }, 10s));
    loop.run_for(100ms);
    for (auto& k : on_y) EXPECT_EQ(rec.count(k, "set"), 1) << k;
    for (auto& e : rec.events) EXPECT_EQ(e.node, name_of(*y));
    EXPECT_EQ(rec.events.size(), on_y.size());

    // Reshard: move the slot of a key from master a to master b; the next
    // write in that slot is reported by b, once.
    auto now = cluster.masters();
    RedisServer& a = *now[0];
    RedisServer& b = *now[1];
    const std::string moving = uvredis::test::key_on(cluster, a, "mv");
    const int slot = ClusterClient::key_slot(moving);
    ASSERT_TRUE(uvredis::test::run(loop, cc, {"SET", moving, "1"}));
    ASSERT_TRUE(loop.run_until([&] { return rec.count(moving, "set") == 1; }));
    EXPECT_EQ(rec.events.back().node, name_of(a));
    cluster.move_slot(slot, b);
    ASSERT_TRUE(cluster.wait_ok());
    const std::string moved2 = "{" + moving + "}x";
    ASSERT_TRUE(uvredis::test::run(loop, cc, {"SET", moved2, "2"}));
    ASSERT_TRUE(loop.run_until([&] { return rec.count(moved2, "set") == 1; }));
    loop.run_for(200ms);
    EXPECT_EQ(rec.count(moved2, "set"), 1);
    EXPECT_EQ(rec.events.back().node, name_of(b));
    EXPECT_GT(ks.map_reads(), 1u);

    // kill -9 of a master: its replica is promoted and subscribed; the old
    // master comes back (configured to publish) as a replica and is not.
    RedisServer& z = *cluster.masters()[2];
    RedisServer* r = replica_of(cluster, z);
    ASSERT_NE(r, nullptr);
    ASSERT_TRUE(loop.run_until(
        [&] { return r->cmd({"INFO", "replication"}).find("master_link_status:up") != std::string::npos; }));
    z.kill();
    ASSERT_TRUE(loop.run_until(
        [&] {
          auto n = ks.nodes();
          return std::find(n.begin(), n.end(), name_of(*r)) != n.end() &&
                 std::find(n.begin(), n.end(), name_of(z)) == n.end();
        },
        20s))
        << "nodes: " << ::testing::PrintToString(ks.nodes());
    z.add_args({"--notify-keyspace-events", "KEA"});
    z.start();
    ASSERT_TRUE(loop.run_until(
        [&] {
          const std::string info = z.cmd({"INFO", "replication"});
          return info.find("role:slave") != std::string::npos &&
                 info.find("master_link_status:up") != std::string::npos;
        },
        20s))
        << z.cmd({"INFO", "replication"});
    Recorder expires;
    ok = confirm(loop, [&](auto cb) { ks.watch_events({"expire"}, expires.handler(), std::move(cb)); });
    ASSERT_TRUE(ok) << ok.error().to_string();
    rec.events.clear();
    std::vector<std::string> on_r;
    for (int i = 0; i < 10; ++i) {
      std::string k = uvredis::test::key_on(cluster, *r, "kill" + std::to_string(i) + "-");
      on_r.push_back(k);
      ASSERT_TRUE(uvredis::test::run(loop, cc, {"SET", k, "v"}));
    }
    ASSERT_TRUE(loop.run_until([&] { return rec.events.size() >= on_r.size(); }));
    const long long r_offset = info_field(*r, "master_repl_offset");
    ASSERT_TRUE(loop.run_until([&] { return info_field(z, "slave_repl_offset") >= r_offset; }, 10s));
    loop.run_for(100ms);
    for (auto& k : on_r) EXPECT_EQ(rec.count(k, "set"), 1) << k;
    for (auto& e : rec.events) EXPECT_EQ(e.node, name_of(*r));
    EXPECT_EQ(rec.events.size(), on_r.size());

    uvredis::test::close_and_wait(loop, cc);
    close_and_wait(loop, ks);
  }
  EXPECT_EQ(loop.close(), 0);
}
