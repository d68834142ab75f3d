#pragma once
// uvredis-bench --pubsub: messages per second from one publisher to one
// subscriber on one loop, uvredis (Client + Subscriber) against raw hiredis
// async (stock libuv adapter) and redis-benchmark PUBLISH. See pubsub.cpp.

#include "support.hpp"

#include <cstddef>
#include <vector>

namespace bench {

struct PubSubConfig {
  std::size_t n = 50'000;                        ///< Messages per run.
  int rounds = 5;
  std::vector<std::size_t> depths = {1, 128, 1024};  ///< Messages in flight.
  std::vector<std::size_t> sizes = {16, 256};        ///< Payload bytes (>= 12).
  bool uvredis = true, hiredis = true, redis_benchmark = true;
};

/// Runs every round against `t`; prints progress on stderr and the table of
/// medians (markdown) on stdout. Returns the exit status.
int run_pubsub(const PubSubConfig& cfg, const Target& t);

}  // namespace bench
