#pragma once
// uvredis-bench --cluster and --tls: uvredis against itself in another
// setting (a 6-node Redis Cluster vs one server; rediss:// vs plain TCP, and
// vs redis-benchmark --tls). Workload and contenders: top of modes.cpp.

#include <cstddef>
#include <vector>

namespace bench {

struct ModeConfig {
  std::size_t n = 100'000;
  int rounds = 3;
  std::vector<std::size_t> depths = {16, 128, 1024};
};

int run_cluster(const ModeConfig& cfg);
int run_tls(const ModeConfig& cfg);

}  // namespace bench
