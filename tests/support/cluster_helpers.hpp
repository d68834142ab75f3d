#pragma once
// Helpers shared by the cluster suites (plain, TLS, replicas, sharded):
// one command awaited on any executor, and keys placed on a given master or
// slot (closing is close_and_wait from await.hpp).

#include "await.hpp"
#include "loop.hpp"
#include "redis_cluster.hpp"

#include <uvredis/uvredis.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis::test {

/// Options for a ClusterClient (or ClusterSubscriber) of the test cluster:
/// two seeds (a master and a replica), 3 s command and 2 s connect timeouts.
inline ClusterOptions cluster_options(RedisCluster& c) {
  ClusterOptions o;
  o.seeds = {c.seeds()[0], c.seeds()[3]};
  o.client.command_timeout = std::chrono::seconds(3);
  o.client.connect_timeout = std::chrono::seconds(2);
  return o;
}

/// A fixture with one private 6-node cluster per suite (started before its
/// first test, killed after its last); every test starts from an empty
/// data set.
class ClusterSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new RedisCluster(); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { cluster_->flush_all(); }
  static inline RedisCluster* cluster_ = nullptr;
};

/// One command on any executor; checks that its callback ran exactly once.
inline Result<Reply> run(TestLoop& loop, Executor& ex, const std::vector<std::string>& argv,
                         std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  std::vector<std::string_view> v(argv.begin(), argv.end());
  return await<Reply>(loop, [&](Callback<Reply> cb) { ex.command(v, std::move(cb)); }, limit);
}

/// A key whose slot the master `m` serves now.
inline std::string key_on(RedisCluster& c, RedisServer& m, const std::string& prefix) {
  for (int i = 0;; ++i) {
    std::string k = prefix + std::to_string(i);
    if (&c.master_of(ClusterClient::key_slot(k)) == &m) return k;
  }
}

/// The i-th key of the slot of {tag}.
inline std::string key_in_slot_of(const std::string& tag, int i) { return "{" + tag + "}:" + std::to_string(i); }

}  // namespace uvredis::test
