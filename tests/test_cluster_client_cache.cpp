// Client-side caching on a 6-node cluster: one ClientCache per master, an
// invalidation from another client, and a failover (kill -9 of a master)
// while another client keeps writing: no value older than what the cache
// could know of is served, and caching resumes on the promoted replica;
// and a slot migrated to another master while its keys are cached.
#include <uvredis/uvredis.hpp>

#include "support/cluster_helpers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using uvredis::ClusterClient;
using uvredis::ClusterClientCache;
using uvredis::Result;
using uvredis::test::RedisCluster;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::await;
using uvredis::test::cluster_options;
using uvredis::test::key_in_slot_of;
using uvredis::test::key_on;
using uvredis::test::run;
using uvredis::test::close_and_wait;
using Value = std::optional<std::string>;

namespace {

Result<Value> get(TestLoop& loop, ClusterClientCache& c, const std::string& key) {
  return await<Value>(loop, [&](uvredis::Callback<Value> cb) { c.get(key, std::move(cb)); });
}

}  // namespace

TEST(ClusterClientCache, CachesPerMasterAndResumesAfterAFailover) {
  RedisCluster cluster;
  TestLoop loop;
  {
    ClusterClientCache cache(loop.get(), cluster_options(cluster));
    ClusterClient writer(loop.get(), cluster_options(cluster));
    auto masters = cluster.masters();
    ASSERT_EQ(masters.size(), 3u);
    RedisServer& victim = *masters[0];
    const std::string k = key_on(cluster, victim, "victim");
    const std::string other = key_on(cluster, *masters[1], "other");
    // The replica has the value before its master goes (WAIT in one group).
    std::optional<std::vector<Result<uvredis::Reply>>> acked_group;
    writer.command_group({{"SET", k, "0"}, {"WAIT", "1", "2000"}},
                         [&](std::vector<Result<uvredis::Reply>> rs) { acked_group.emplace(std::move(rs)); });
    ASSERT_TRUE(loop.run_until([&] { return acked_group.has_value(); }));
    ASSERT_TRUE((*acked_group)[0] && (*acked_group)[1]);
    ASSERT_TRUE(run(loop, writer, {"SET", other, "x"}));

    long long acked = 0, floor_now = 0;
    std::vector<std::string> seen;
    cache.on_invalidation([&](const std::vector<std::string>* keys) {
      floor_now = acked;
      if (keys) seen.insert(seen.end(), keys->begin(), keys->end());
    });
    auto saw = [&](const std::string& key) { return std::find(seen.begin(), seen.end(), key) != seen.end(); };

    // Warm: the first reads make the masters' caches; then reads are hits.
    ASSERT_TRUE(loop.run_until(
        [&] {
          auto a = get(loop, cache, k);
          auto b = get(loop, cache, other);
          EXPECT_TRUE(a && b);
          return cache.stats().hits >= 4;
        },
        10s));
    EXPECT_EQ(cache.ready_masters(), 2u);
    ASSERT_TRUE(run(loop, writer, {"SET", other, "y"}));
    ASSERT_TRUE(loop.run_until([&] { return saw(other); }, 5s));
    auto r = get(loop, cache, other);
    ASSERT_TRUE(r && *r == Value("y"));
    // get_view: the same entry, lent (a hit now), once per call.
    for (int i = 0; i < 2; ++i) {
      const auto hits = cache.stats().hits;
      int calls = 0;
      std::string lent;
      cache.get_view(other, [&](Result<std::optional<std::string_view>> v) {
        ++calls;
        if (v && *v) lent = std::string(**v);
      });
      ASSERT_TRUE(loop.run_until([&] { return calls > 0; }, 5s));
      EXPECT_EQ(lent, "y");
      EXPECT_EQ(cache.stats().hits, hits + 1);
      loop.run_for(5ms);
      EXPECT_EQ(calls, 1);
    }

    // Failover while writes go on. Each read must return at least the value
    // the writer had confirmed when the cache last heard of a change (an
    // invalidation or the flush of a dropped link).
    long long next = 1;
    int writes_out = 0, reads_out = 0, stale = 0, checked = 0, hits_after = 0;
    bool written_after = false;
    auto flushes = cache.stats().flushes;
    victim.kill();
    const auto hits_at_kill = cache.stats().hits;
    ASSERT_TRUE(loop.run_until(
        [&] {
          if (cache.stats().flushes != flushes) {
            flushes = cache.stats().flushes;
            floor_now = acked;
          }
          if (writes_out == 0) {
            const long long v = next++;
            ++writes_out;
            writer.set(k, std::to_string(v), [&, v](Result<bool> w) {
              --writes_out;
              if (!w) return;
              acked = std::max(acked, v);
              written_after = true;
            });
          }
          if (reads_out == 0) {
            const long long floor = floor_now;
            ++reads_out;
            cache.get(k, [&, floor](Result<Value> v) {
              --reads_out;
              if (!v || !*v) return;  // failed during the failover
              ++checked;
              if (std::stoll(**v) < floor) ++stale;
            });
          }
          hits_after = static_cast<int>(cache.stats().hits - hits_at_kill);
          return written_after && hits_after > 100;
        },
        30s));
    ASSERT_TRUE(loop.run_until([&] { return writes_out == 0 && reads_out == 0; }, 10s));
    EXPECT_EQ(stale, 0);
    EXPECT_GT(checked, 100);
    // The promoted replica's cache sees another client's write.
    seen.clear();
    ASSERT_TRUE(get(loop, cache, k));
    ASSERT_TRUE(run(loop, writer, {"SET", k, "final"}));
    ASSERT_TRUE(loop.run_until([&] { return saw(k); }, 5s));
    r = get(loop, cache, k);
    ASSERT_TRUE(r && *r == Value("final"));
    close_and_wait(loop, cache, writer, 15s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// Item 5 of the design: a master's entries do not outlive its slots. A slot
// holding a cached key and a key read as absent moves to another master
// (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE); both are then
// written on the new owner. The next reads return the new values, although
// the cache's slot map still names the old owner: the migrated key was
// reported invalidated by the old owner (MIGRATE deletes it there), and an
// absence is never stored in a cluster (nothing would report its end).
TEST(ClusterClientCache, ASlotMovedToAnotherMasterServesNoStaleValue) {
  RedisCluster cluster;
  TestLoop loop;
  {
    ClusterClientCache cache(loop.get(), cluster_options(cluster));
    ClusterClient writer(loop.get(), cluster_options(cluster));
    auto masters = cluster.masters();
    ASSERT_EQ(masters.size(), 3u);
    RedisServer& from = *masters[0];
    RedisServer& to = *masters[1];
    const std::string tag = key_on(cluster, from, "moving");  // its slot is from's
    const std::string k = key_in_slot_of(tag, 0);
    const std::string absent = key_in_slot_of(tag, 1);
    const int slot = ClusterClient::key_slot(k);
    ASSERT_EQ(ClusterClient::key_slot(absent), slot);
    ASSERT_TRUE(run(loop, writer, {"SET", k, "old"}));

    std::vector<std::string> seen;
    cache.on_invalidation([&](const std::vector<std::string>* keys) {
      if (keys) seen.insert(seen.end(), keys->begin(), keys->end());
    });
    auto saw = [&](const std::string& key) { return std::find(seen.begin(), seen.end(), key) != seen.end(); };

    // Warm until reads of k are hits of from's cache; the absent key is
    // read each time too and never stored.
    ASSERT_TRUE(loop.run_until(
        [&] {
          auto a = get(loop, cache, absent);
          EXPECT_TRUE(a && !*a);
          auto v = get(loop, cache, k);
          EXPECT_TRUE(v && *v == Value("old"));
          return cache.stats().hits >= 2;
        },
        10s));
    EXPECT_EQ(cache.stats().entries, 1u);  // k only

    cluster.move_slot(slot, to);
    ASSERT_EQ(&cluster.master_of(slot), &to);
    // MIGRATE deleted k on from, which reports it to from's cache.
    ASSERT_TRUE(loop.run_until([&] { return saw(k); }, 5s));
    EXPECT_EQ(cache.stats().entries, 0u);
    ASSERT_TRUE(run(loop, writer, {"SET", absent, "now"}));
    ASSERT_TRUE(run(loop, writer, {"SET", k, "new"}));
    auto a = get(loop, cache, absent);
    ASSERT_TRUE(a && *a == Value("now"));
    auto v = get(loop, cache, k);
    ASSERT_TRUE(v && *v == Value("new"));

    // Caching resumes on the new owner, whose invalidations are heard.
    const auto hits = cache.stats().hits;
    ASSERT_TRUE(loop.run_until(
        [&] {
          auto r = get(loop, cache, k);
          EXPECT_TRUE(r && *r == Value("new"));
          return cache.stats().hits >= hits + 2;
        },
        10s));
    seen.clear();
    ASSERT_TRUE(run(loop, writer, {"SET", k, "newer"}));
    ASSERT_TRUE(loop.run_until([&] { return saw(k); }, 5s));
    v = get(loop, cache, k);
    ASSERT_TRUE(v && *v == Value("newer"));
    close_and_wait(loop, cache, writer, 15s);
  }
  EXPECT_EQ(loop.close(), 0);
}
