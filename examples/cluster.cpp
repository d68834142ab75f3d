// uvredis on Redis Cluster: typed commands routed by slot, a multi-key MGET
// over several slots, an optimistic WATCH transaction on one slot, and
// sharded pub/sub. Run with the cluster's nodes in REDIS_CLUSTER, e.g.
// REDIS_CLUSTER=127.0.0.1:7000,127.0.0.1:7001.
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

int main() {
  const char* seeds = std::getenv("REDIS_CLUSTER");
  if (!seeds || !*seeds) return std::fprintf(stderr, "set REDIS_CLUSTER=host:port[,host:port...]\n"), 2;

  uvredis::ClusterOptions opts;
  std::stringstream list(seeds);
  for (std::string s; std::getline(list, s, ',');) opts.seeds.push_back(s);
  // Reads go to the masters here, so the MGET below sees the SETs before it.
  // ReadFrom::replica_preferred would spread them over the replicas, which
  // may not have a write yet right after it was acknowledged.
  opts.read_from = uvredis::ReadFrom::master;

  uv_loop_t* loop = uv_default_loop();
  uvredis::ClusterClient cluster(loop, opts);
  uvredis::ClusterSubscriber sub(loop, opts);
  int status = 1;

  auto fail = [&](const char* what, const uvredis::Error& e) {
    std::fprintf(stderr, "%s failed: %s\n", what, e.to_string().c_str());
    sub.close();
    cluster.close();
  };

  // 4. Sharded pub/sub: the channel lives on the master of its slot.
  auto pubsub = [&] {
    sub.ssubscribe(
        {"room:{42}"},
        [&](const uvredis::Message& m) {
          std::printf("smessage %s: %s\n", m.channel.c_str(), m.payload.c_str());
          status = 0;
          sub.close();  // in-flight work finishes, handles close, uv_run returns
          cluster.close();
        },
        [&](uvredis::Result<void> r) {
          if (!r) return fail("SSUBSCRIBE", r.error());
          cluster.command({"SPUBLISH", "room:{42}", "hello shard"}, [&](uvredis::Result<uvredis::Reply> p) {
            if (!p) fail("SPUBLISH", p.error());
          });
        });
  };

  // 3. WATCH on a cluster: every key in one slot (the {acct} hash tag).
  auto transfer = [&] {
    uvredis::watch_transaction(
        cluster, {"{acct}.alice", "{acct}.bob"}, 5,
        [](uvredis::Lease& lease, uvredis::Transaction& tx, auto go) {
          lease.get("{acct}.alice", [&tx, go = std::move(go)](uvredis::Result<std::optional<std::string>> v) mutable {
            const long long alice = v && *v ? std::stoll(**v) : 0;
            if (alice < 10) return go(false);  // not enough: nothing is written
            tx.decrby("{acct}.alice", 10);
            tx.incrby("{acct}.bob", 10);
            go(true);
          });
        },
        [&](uvredis::Result<uvredis::Transaction::Outcome> o) {
          if (!o) return fail("transfer", o.error());
          std::printf("transfer: %s\n", *o == uvredis::Transaction::Outcome::committed ? "committed" : "not committed");
          pubsub();
        });
  };

  // 1. Typed commands: each key goes to the master of its slot.
  cluster.set("{acct}.alice", "100");
  cluster.set("greeting", "hello from a cluster");
  cluster.set("farewell", "bye");
  // 2. MGET over several slots: split per slot, answered in the caller's order.
  using Values = std::vector<std::optional<std::string>>;
  cluster.mget({"greeting", "farewell", "{acct}.alice"}, [&](uvredis::Result<Values> r) {
    if (!r) return fail("MGET", r.error());
    std::string values;
    for (const auto& v : *r) values += (values.empty() ? "" : " | ") + v.value_or("(nil)");
    std::printf("MGET -> %s\n", values.c_str());
    transfer();
  });

  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? status : 1;
}
