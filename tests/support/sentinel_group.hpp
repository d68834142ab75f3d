#pragma once
// Test harness: one master, one replica and three sentinels (quorum 2,
// down-after 1000 ms, failover-timeout 5000 ms) on free loopback ports, each
// a RedisServer stopped by pid. The constructor returns once every sentinel
// knows the replica and the two other sentinels, so a failover can happen.

#include "redis_server.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace uvredis::test {

class SentinelGroup {
 public:
  static constexpr const char* kName = "mymaster";

  SentinelGroup();

  RedisServer& first_master() { return *data_[0]; }
  RedisServer& first_replica() { return *data_[1]; }
  RedisServer& sentinel(std::size_t i) { return *sentinels_[i]; }
  std::size_t sentinel_count() const { return sentinels_.size(); }

  /// redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/mymaster
  std::string url() const;

  /// The master's port as a live sentinel reports it (0 if none answers).
  std::uint16_t master_port();
  /// The data node on `port` (nullptr if none).
  RedisServer* node(std::uint16_t port);
  /// Waits (blocking, test thread) until a sentinel names another master
  /// than `old_port`; returns the new port or 0 after `limit`.
  std::uint16_t wait_master_change(std::uint16_t old_port, std::chrono::milliseconds limit);
  /// Waits until the node on `port` says ROLE master and has a replica in
  /// sync (a finished failover); false after `limit`.
  bool wait_settled(std::uint16_t port, std::chrono::milliseconds limit);

 private:
  bool ready();
  std::vector<std::unique_ptr<RedisServer>> data_;
  std::vector<std::unique_ptr<RedisServer>> sentinels_;
};

}  // namespace uvredis::test
