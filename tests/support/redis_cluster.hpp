#pragma once
// Test harness: a private Redis Cluster of 6 redis-server processes (3
// masters, 3 replicas) on free loopback ports, each in its own temp dir,
// created with `redis-cli --cluster create ... --cluster-replicas 1`.
// Every process is killed by pid in the destructor (RedisServer does it).

#include "redis_server.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace uvredis::test {

class RedisCluster {
 public:
  /// Starts the nodes, creates the cluster and waits until every node says
  /// cluster_state:ok and every replica is in sync. Throws on failure.
  RedisCluster();
  ~RedisCluster() = default;
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  /// "127.0.0.1:port" of every node.
  std::vector<std::string> seeds() const;
  std::vector<std::unique_ptr<RedisServer>>& nodes() { return nodes_; }

  /// The node on `port` (throws when there is none).
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
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace uvredis::test
