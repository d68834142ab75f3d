#pragma once
// Test harness: a private Redis Cluster of 6 redis-server processes (3
// masters, 3 replicas) on free loopback ports, each in its own temp dir,
// created with `redis-cli --cluster create ... --cluster-replicas 1`.
// Every process is killed by pid in the destructor (RedisServer does it).
//
// A TLS cluster (RedisClusterOptions::tls) keeps every node's plain port for
// the harness (readiness, cmd(), cluster creation) and adds a TLS port, with
// `tls-cluster yes` and `tls-replication yes`: the cluster bus, replication
// and MIGRATE run over TLS, and Redis 7.0 announces a node's TLS port to
// clients connected over TLS (CLUSTER SLOTS, CLUSTER NODES, MOVED, ASK) and
// its plain port to plain clients. So a client seeded with tls_seeds() only
// ever hears of TLS ports.

#include "redis_server.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace uvredis::test {

struct RedisClusterOptions {
  /// Every node also listens for TLS with the test CA's server certificate
  /// (tls_certs()); client certificates are not required.
  bool tls = false;
};

class RedisCluster {
 public:
  /// Starts the nodes, creates the cluster and waits until every node says
  /// cluster_state:ok and every replica is in sync. Throws on failure.
  explicit RedisCluster(RedisClusterOptions options = {});
  ~RedisCluster() = default;
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  /// "127.0.0.1:port" of every node (plain ports).
  std::vector<std::string> seeds() const;
  /// "rediss://127.0.0.1:tls_port" of every node (TLS clusters only).
  std::vector<std::string> tls_seeds() const;
  bool tls() const { return options_.tls; }
  std::vector<std::unique_ptr<RedisServer>>& nodes() { return nodes_; }

  /// The node on `port`, its plain or its TLS port (throws when there is none).
  RedisServer& node(std::uint16_t port);
  /// Masters that serve slots, as a live node sees the map now.
  std::vector<RedisServer*> masters();
  /// The master serving `slot` now.
  RedisServer& master_of(int slot);
  /// The node id (CLUSTER MYID) of a node.
  std::string id_of(RedisServer& s);

  /// FLUSHALL on every master.
  void flush_all();

  /// Waits until every live node reports cluster_state:ok and they agree on
  /// the slot map (true), or `timeout` passes (false).
  bool wait_ok(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  /// Moves `slot` with all its keys from its master to `to` (CLUSTER SETSLOT
  /// IMPORTING/MIGRATING, MIGRATE in batches, SETSLOT NODE everywhere).
  /// `between_batches` runs after each MIGRATE batch (to let clients run
  /// into ASK while the slot is half moved).
  void move_slot(int slot, RedisServer& to, int batch = 10, const std::function<void()>& between_batches = {});

 private:
  RedisServer* any_live();
  RedisClusterOptions options_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace uvredis::test
