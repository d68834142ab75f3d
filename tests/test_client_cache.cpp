// Client-side caching over RESP2 against real servers: hits, invalidation by
// another client's write, concurrent rounds ending in agreement with the
// server, a killed invalidation link, FLUSHALL, TTL and max_age, the byte
// bound, BCAST prefixes, OPTIN, and tracking restored after a reconnect.
#include <uvredis/uvredis.hpp>

#include "../src/recipes/client_cache_index.hpp"
#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientCache;
using uvredis::ClientCacheOptions;
using uvredis::Result;
using uvredis::TrackingMode;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::await;
using uvredis::test::close_and_wait;
using uvredis::test::options_for;
using uvredis::test::run_one;
using Value = std::optional<std::string>;

namespace {

Result<Value> get(TestLoop& loop, ClientCache& c, std::string_view key) {
  return await<Value>(loop, [&](uvredis::Callback<Value> cb) { c.get(key, std::move(cb)); });
}

void set(TestLoop& loop, Client& c, std::string_view key, std::string_view value) {
  auto r = run_one(loop, c, {"SET", key, value});
  ASSERT_TRUE(r) << r.error().to_string();
}

// Records the keys of every invalidation message (null: "all").
struct Seen {
  std::vector<std::string> keys;
  int all = 0;
  void watch(ClientCache& c) {
    c.on_invalidation([this](const std::vector<std::string>* k) {
      if (!k)
        ++all;
      else
        keys.insert(keys.end(), k->begin(), k->end());
    });
  }
  bool saw(const std::string& key) const { return std::find(keys.begin(), keys.end(), key) != keys.end(); }
};

}  // namespace

TEST(ClientCache, HitAfterMissThenAnotherClientsWriteIsSeen) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCache cache(loop.get(), options_for(server));
    Client writer(loop.get(), options_for(server));
    Seen seen;
    seen.watch(cache);
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    set(loop, writer, "user:1", "v1");

    auto r = get(loop, cache, "user:1");
    ASSERT_TRUE(r && *r == Value("v1"));
    EXPECT_EQ(cache.stats().misses, 1u);
    r = get(loop, cache, "user:1");  // from memory, still on a later loop turn
    ASSERT_TRUE(r && *r == Value("v1"));
    EXPECT_EQ(cache.stats().hits, 1u);
    EXPECT_EQ(cache.stats().entries, 1u);
    EXPECT_GT(cache.stats().bytes, 0u);

    set(loop, writer, "user:1", "v2");
    ASSERT_TRUE(loop.run_until([&] { return seen.saw("user:1"); }, 5s));
    EXPECT_EQ(cache.stats().entries, 0u);
    r = get(loop, cache, "user:1");
    ASSERT_TRUE(r && *r == Value("v2"));

    // An absent key is cached as absent, and its creation invalidates it.
    r = get(loop, cache, "nobody");
    ASSERT_TRUE(r && !*r);
    r = get(loop, cache, "nobody");
    ASSERT_TRUE(r && !*r);
    EXPECT_EQ(cache.stats().hits, 2u);
    set(loop, writer, "nobody", "here");
    ASSERT_TRUE(loop.run_until([&] { return seen.saw("nobody"); }, 5s));
    r = get(loop, cache, "nobody");
    ASSERT_TRUE(r && *r == Value("here"));

    // The other cached reads.
    ASSERT_TRUE(run_one(loop, writer, {"HSET", "h", "a", "1", "b", "2"}));
    for (int i = 0; i < 2; ++i) {
      auto hv = await<Value>(loop, [&](auto cb) { cache.hget("h", "a", std::move(cb)); });
      ASSERT_TRUE(hv && *hv == Value("1"));
      auto all = await<uvredis::FieldMap>(loop, [&](auto cb) { cache.hgetall("h", std::move(cb)); });
      ASSERT_TRUE(all && all->size() == 2u);
      auto hm = await<std::vector<Value>>(loop, [&](auto cb) { cache.hmget("h", {"a", "zz"}, std::move(cb)); });
      ASSERT_TRUE(hm && hm->size() == 2u && (*hm)[0] == Value("1") && !(*hm)[1]);
      auto ex = await<long long>(loop, [&](auto cb) { cache.exists({"h"}, std::move(cb)); });
      ASSERT_TRUE(ex && *ex == 1);
      auto len = await<long long>(loop, [&](auto cb) { cache.strlen("user:1", std::move(cb)); });
      ASSERT_TRUE(len && *len == 2);
      auto mg = await<std::vector<Value>>(loop, [&](auto cb) { cache.mget({"user:1", "nobody", "h2"}, std::move(cb)); });
      ASSERT_TRUE(mg && mg->size() == 3u && (*mg)[0] == Value("v2") && (*mg)[1] == Value("here") && !(*mg)[2]);
    }
    // The second pass came from memory: 6 requests, MGET counting 3 keys.
    EXPECT_GE(cache.stats().hits, 2u + 8u);
    ASSERT_TRUE(run_one(loop, writer, {"HSET", "h", "a", "9"}));
    ASSERT_TRUE(loop.run_until([&] { return seen.saw("h"); }, 5s));
    auto hv = await<Value>(loop, [&](auto cb) { cache.hget("h", "a", std::move(cb)); });
    ASSERT_TRUE(hv && *hv == Value("9"));

    close_and_wait(loop, writer);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClientCache, OwnWriteThroughTheCacheIsReadBackAtOnce) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCache cache(loop.get(), options_for(server));
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    ASSERT_TRUE(await<bool>(loop, [&](auto cb) { cache.set("k", "1", std::move(cb)); }));
    ASSERT_TRUE(get(loop, cache, "k"));
    ASSERT_TRUE(get(loop, cache, "k"));
    EXPECT_EQ(cache.stats().hits, 1u);
    // Same loop turn: the write drops the entry before the read is looked up.
    int calls = 0;
    Value read;
    cache.set("k", "2", [&](Result<bool> r) { calls += r ? 1 : 100; });
    cache.get("k", [&](Result<Value> r) {
      ++calls;
      if (r) read = *r;
    });
    EXPECT_EQ(calls, 0);
    ASSERT_TRUE(loop.run_until([&] { return calls >= 2; }));
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(read, Value("2"));
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

// 10,000 rounds of read / write / read on four hot keys, from two caches
// writing each other's keys (one through the cache, one around it), 10
// rounds per loop turn. Every 20 turns, and at the end, once the last
// invalidation has arrived (a marker key written last: invalidations reach
// a connection in order), both caches agree with the server on every key.
TEST(ClientCache, ConcurrentRoundsEndInAgreementWithTheServer) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCache a(loop.get(), options_for(server));
    ClientCache b(loop.get(), options_for(server));
    Client marker_writer(loop.get(), options_for(server));
    int markers_a = 0, markers_b = 0;
    a.on_invalidation([&](const std::vector<std::string>* k) {
      if (k && std::find(k->begin(), k->end(), "marker") != k->end()) ++markers_a;
    });
    b.on_invalidation([&](const std::vector<std::string>* k) {
      if (k && std::find(k->begin(), k->end(), "marker") != k->end()) ++markers_b;
    });
    ASSERT_TRUE(loop.run_until([&] { return a.ready() && b.ready(); }, 10s));
    const std::vector<std::string> keys{"hot:0", "hot:1", "hot:2", "hot:3"};
    int disagreements = 0;
    auto agree = [&] {
      ASSERT_TRUE(get(loop, a, "marker") && get(loop, b, "marker"));
      const int ma = markers_a, mb = markers_b;
      set(loop, marker_writer, "marker", "m");
      ASSERT_TRUE(loop.run_until([&] { return markers_a > ma && markers_b > mb; }, 5s));
      for (const std::string& k : keys) {
        const std::string truth = server.cmd({"GET", k});
        auto va = get(loop, a, k);
        auto vb = get(loop, b, k);
        ASSERT_TRUE(va && vb);
        if (truth == "(nil)") continue;
        if (*va != Value(truth) || *vb != Value(truth)) ++disagreements;
      }
    };
    long long issued = 0, done = 0, failed = 0;
    auto count = [&](auto r) {
      ++done;
      if (!r) ++failed;
    };
    for (int batch = 0; batch < 1000; ++batch) {
      for (int i = 0; i < 10; ++i) {
        const int round = batch * 10 + i;
        const std::string& k = keys[(batch + i) % keys.size()];
        // One round per turn writes (both clients, the key rotating); the
        // others only read, the written key among them, so values get
        // cached between writes and reads race the writes.
        const bool writes = i == 0;
        a.get(k, count);
        if (writes) b.set(k, "b" + std::to_string(round), count);
        a.get(k, count);
        b.get(k, count);
        if (writes) a.client().set(k, "a" + std::to_string(round), count);
        b.get(k, count);
        issued += writes ? 6 : 4;
      }
      ASSERT_TRUE(loop.run_until([&] { return done == issued; }, 20s));
      if (batch % 20 == 19) agree();
    }
    EXPECT_EQ(done, issued);
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(disagreements, 0);
    EXPECT_GT(a.stats().hits + b.stats().hits, 0u);
    EXPECT_GT(a.stats().invalidations + b.stats().invalidations, 0u);
    close_and_wait(loop, marker_writer);
    close_and_wait(loop, a);
    close_and_wait(loop, b);
  }
  EXPECT_EQ(loop.close(), 0);
}

// CLIENT KILL of the invalidation connection while another client keeps
// writing increasing numbers. The writer's replies and the invalidations
// travel on different connections, so the cache cannot know of a write
// before its invalidation (or the flush of a drop) arrives; from then on it
// must never serve an older value. So each read must return at least the
// value the writer had confirmed when the cache last saw an invalidation of
// the key or flushed: from the moment the drop is noticed, through the
// reconnect and after it.
TEST(ClientCache, KilledInvalidationLinkNeverServesStaleAfterTheDropIsNoticed) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCache cache(loop.get(), options_for(server));
    Client writer(loop.get(), options_for(server));
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    set(loop, writer, "n", "0");
    ASSERT_TRUE(get(loop, cache, "n"));

    long long next = 1, acked = 0, floor_now = 0;
    bool marker_seen = false;
    cache.on_invalidation([&](const std::vector<std::string>* keys) {
      floor_now = acked;
      if (keys && std::find(keys->begin(), keys->end(), "marker") != keys->end()) marker_seen = true;
    });
    int writes_out = 0;
    auto write_one = [&] {
      const long long v = next++;
      ++writes_out;
      writer.set("n", std::to_string(v), [&, v](Result<bool> r) {
        --writes_out;
        if (r) acked = std::max(acked, v);
      });
    };
    int reads_out = 0, stale = 0, checked = 0, errors = 0;
    auto read_one = [&] {
      const long long floor = floor_now;
      ++reads_out;
      cache.get("n", [&, floor](Result<Value> r) {
        --reads_out;
        if (!r || !*r) {
          ++errors;
          return;
        }
        ++checked;
        if (std::stoll(**r) < floor) ++stale;
      });
    };
    // Warm up: writes and reads with the cache working.
    for (int i = 0; i < 50; ++i) {
      write_one();
      ASSERT_TRUE(loop.run_until([&] { return writes_out == 0; }));
      read_one();
      ASSERT_TRUE(loop.run_until([&] { return reads_out == 0; }));
    }
    // The key is in memory when the link dies (the last write's
    // invalidation has arrived, then a miss stores it, then a hit).
    ASSERT_TRUE(get(loop, cache, "marker"));
    set(loop, writer, "marker", "x");
    ASSERT_TRUE(loop.run_until([&] { return marker_seen; }, 5s));
    ASSERT_TRUE(get(loop, cache, "n"));
    const auto hits = cache.stats().hits;
    ASSERT_TRUE(get(loop, cache, "n"));
    ASSERT_EQ(cache.stats().hits, hits + 1);
    const auto flushes = cache.stats().flushes;
    // Killed and written while the loop stands still: the write's
    // invalidation is lost with the link, before the cache can notice.
    ASSERT_EQ(server.cmd({"CLIENT", "KILL", "TYPE", "pubsub"}), "1");
    ASSERT_EQ(server.cmd({"SET", "n", std::to_string(next)}), "OK");
    acked = next++;
    ASSERT_TRUE(loop.run_until([&] { return cache.stats().flushes > flushes; }, 5s));
    floor_now = acked;
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 5s));
    read_one();
    ASSERT_TRUE(loop.run_until([&] { return reads_out == 0; }));
    ASSERT_EQ(stale, 0) << "the value cached before the drop was served";
    // Then writes and reads go on together.
    int rounds_after = 0;
    ASSERT_TRUE(loop.run_until(
        [&] {
          if (writes_out == 0) write_one();
          if (reads_out == 0) {
            if (cache.ready()) ++rounds_after;
            read_one();
          }
          return rounds_after > 300;
        },
        15s));
    ASSERT_TRUE(loop.run_until([&] { return writes_out == 0 && reads_out == 0; }));
    EXPECT_EQ(stale, 0);
    EXPECT_EQ(errors, 0);
    EXPECT_GT(checked, 300);
    EXPECT_TRUE(cache.ready());
    // Tracking points at the new invalidation link: a write is still seen.
    // Quiet first: the marker's invalidation follows those of every write
    // before it (one writer, one invalidation link), so none is still on
    // its way when the hit below is counted.
    marker_seen = false;
    ASSERT_TRUE(get(loop, cache, "marker"));
    set(loop, writer, "marker", "y");
    ASSERT_TRUE(loop.run_until([&] { return marker_seen; }, 5s));
    auto before = cache.stats().invalidations;
    ASSERT_TRUE(get(loop, cache, "n"));
    const auto hits_now = cache.stats().hits;
    ASSERT_TRUE(get(loop, cache, "n"));
    EXPECT_EQ(cache.stats().hits, hits_now + 1) << "hits are served from memory again on the new link";
    set(loop, writer, "n", "final");
    ASSERT_TRUE(loop.run_until([&] { return cache.stats().invalidations > before; }, 5s));
    auto r = get(loop, cache, "n");
    ASSERT_TRUE(r && *r == Value("final"));
    close_and_wait(loop, writer);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

// The data link reconnects: its handshake turns tracking on again (CLIENT
// TRACKINGINFO shows the redirect) and the cache was emptied meanwhile.
TEST(ClientCache, DataLinkReconnectRestoresTrackingInTheHandshake) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCache cache(loop.get(), options_for(server));
    Client writer(loop.get(), options_for(server));
    Seen seen;
    seen.watch(cache);
    std::vector<bool> flips;
    cache.on_ready_change([&](bool r) { flips.push_back(r); });
    ASSERT_TRUE(loop.run_until([&] { return !flips.empty(); }, 10s));
    EXPECT_TRUE(cache.ready());
    set(loop, writer, "k", "1");
    ASSERT_TRUE(get(loop, cache, "k"));
    auto id = run_one(loop, cache.client(), {"CLIENT", "ID"});
    ASSERT_TRUE(id && id->is_integer());
    const auto flushes = cache.stats().flushes;
    ASSERT_TRUE(run_one(loop, writer, {"CLIENT", "KILL", "ID", std::to_string(id->integer())}));
    ASSERT_TRUE(loop.run_until([&] { return cache.stats().flushes > flushes; }, 5s));
    EXPECT_EQ(cache.stats().entries, 0u);
    ASSERT_TRUE(loop.run_until([&] { return flips.size() >= 3u; }, 10s));
    EXPECT_EQ(flips, (std::vector<bool>{true, false, true}));
    EXPECT_TRUE(cache.ready());
    auto info = run_one(loop, cache.client(), {"CLIENT", "TRACKINGINFO"});
    ASSERT_TRUE(info) << info.error().to_string();
    EXPECT_NE(info->to_string().find("on"), std::string::npos) << info->to_string();
    ASSERT_TRUE(get(loop, cache, "k"));
    const auto hits = cache.stats().hits;
    ASSERT_TRUE(get(loop, cache, "k"));
    EXPECT_EQ(cache.stats().hits, hits + 1) << "hits are served from memory again after the reconnect";
    set(loop, writer, "k", "2");
    ASSERT_TRUE(loop.run_until([&] { return seen.saw("k"); }, 5s));
    auto r = get(loop, cache, "k");
    ASSERT_TRUE(r && *r == Value("2"));
    close_and_wait(loop, writer);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClientCache, FlushallEmptiesTheCache) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCache cache(loop.get(), options_for(server));
    Client writer(loop.get(), options_for(server));
    Seen seen;
    seen.watch(cache);
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    for (std::string k : {"a", "b", "c"}) {
      set(loop, writer, k, "x");
      ASSERT_TRUE(get(loop, cache, k));
    }
    EXPECT_EQ(cache.stats().entries, 3u);
    const auto flushes = cache.stats().flushes;
    ASSERT_TRUE(run_one(loop, writer, {"FLUSHALL"}));
    ASSERT_TRUE(loop.run_until([&] { return seen.all > 0; }, 5s));
    EXPECT_EQ(cache.stats().entries, 0u);
    EXPECT_EQ(cache.stats().bytes, 0u);
    EXPECT_GT(cache.stats().flushes, flushes);
    auto r = get(loop, cache, "a");
    ASSERT_TRUE(r && !*r);
    close_and_wait(loop, writer);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

// With active expiry off the server sends no invalidation when a key's TTL
// passes: the local entry must end by itself.
TEST(ClientCache, EntryNeverOutlivesTheKeysTtlNorMaxAge) {
  RedisServer server({{"--enable-debug-command", "local"}});
  TestLoop loop;
  {
    ClientCacheOptions co;
    co.max_age = 300ms;
    ClientCache cache(loop.get(), options_for(server), co);
    Client writer(loop.get(), options_for(server));
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    ASSERT_TRUE(run_one(loop, writer, {"DEBUG", "SET-ACTIVE-EXPIRE", "0"}));
    ASSERT_TRUE(run_one(loop, writer, {"SET", "short", "v", "PX", "150"}));
    set(loop, writer, "forever", "v");
    ASSERT_TRUE(get(loop, cache, "short"));
    ASSERT_TRUE(get(loop, cache, "forever"));
    ASSERT_TRUE(get(loop, cache, "short"));
    EXPECT_EQ(cache.stats().hits, 1u);
    // Time passing is what is tested here.
    loop.run_for(200ms);
    auto r = get(loop, cache, "short");
    ASSERT_TRUE(r && !*r) << "served past its TTL";
    EXPECT_GE(cache.stats().expirations, 1u);
    loop.run_for(150ms);
    const auto misses = cache.stats().misses;
    r = get(loop, cache, "forever");
    ASSERT_TRUE(r && *r == Value("v"));
    EXPECT_EQ(cache.stats().misses, misses + 1) << "served past max_age";
    close_and_wait(loop, writer);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClientCache, ByteBoundHoldsUnderAHundredThousandKeys) {
  RedisServer server({{"--enable-debug-command", "local"}});
  TestLoop loop;
  {
    ClientCacheOptions co;
    co.max_bytes = 1 << 20;
    ClientCache cache(loop.get(), options_for(server), co);
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    ASSERT_TRUE(run_one(loop, cache.client(), {"DEBUG", "POPULATE", "100000", "key", "20"}));
    std::size_t max_bytes_seen = 0;
    int done = 0, bad = 0;
    for (int base = 0; base < 100000; base += 500) {
      std::vector<std::string> keys;
      for (int i = base; i < base + 500; ++i) keys.push_back("key:" + std::to_string(i));
      cache.mget(keys, [&](Result<std::vector<Value>> r) {
        ++done;
        if (!r || r->size() != 500 || !(*r)[0]) ++bad;
      });
      // Single GETs too, in the same turn.
      cache.get(keys[7], [&](Result<Value> r) {
        ++done;
        if (!r || !*r) ++bad;
      });
      if (base % 5000 == 0) {
        ASSERT_TRUE(loop.run_until([&] { return done == (base / 500 + 1) * 2; }));
        max_bytes_seen = std::max(max_bytes_seen, cache.stats().bytes);
      }
    }
    ASSERT_TRUE(loop.run_until([&] { return done == 400; }));
    EXPECT_EQ(bad, 0);
    auto s = cache.stats();
    max_bytes_seen = std::max(max_bytes_seen, s.bytes);
    EXPECT_LE(max_bytes_seen, co.max_bytes);
    EXPECT_GT(s.evictions, 50000u);
    EXPECT_LT(s.entries, 100000u);
    EXPECT_GT(s.entries, 1000u);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClientCache, EntryBoundEvictsLeastRecentlyUsed) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCacheOptions co;
    co.max_entries = 2;
    ClientCache cache(loop.get(), options_for(server), co);
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    ASSERT_TRUE(get(loop, cache, "a"));
    ASSERT_TRUE(get(loop, cache, "b"));
    ASSERT_TRUE(get(loop, cache, "a"));  // a is now the most recent
    ASSERT_TRUE(get(loop, cache, "c"));  // evicts b
    EXPECT_EQ(cache.stats().evictions, 1u);
    const auto hits = cache.stats().hits;
    ASSERT_TRUE(get(loop, cache, "a"));
    EXPECT_EQ(cache.stats().hits, hits + 1);
    ASSERT_TRUE(get(loop, cache, "b"));
    EXPECT_EQ(cache.stats().hits, hits + 1);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClientCache, BroadcastPrefixModeCachesOnlyItsPrefixes) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCacheOptions co;
    co.mode = TrackingMode::broadcast;
    co.prefixes = {"cfg:"};
    ClientCache cache(loop.get(), options_for(server), co);
    Client writer(loop.get(), options_for(server));
    Seen seen;
    seen.watch(cache);
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    set(loop, writer, "cfg:a", "1");
    set(loop, writer, "other", "1");
    ASSERT_TRUE(get(loop, cache, "cfg:a"));
    ASSERT_TRUE(get(loop, cache, "cfg:a"));
    EXPECT_EQ(cache.stats().hits, 1u);
    ASSERT_TRUE(get(loop, cache, "other"));
    ASSERT_TRUE(get(loop, cache, "other"));
    EXPECT_EQ(cache.stats().hits, 1u) << "a key outside the prefixes is never cached";
    // BCAST reports every key under the prefix, read or not.
    set(loop, writer, "cfg:never-read", "x");
    ASSERT_TRUE(loop.run_until([&] { return seen.saw("cfg:never-read"); }, 5s));
    set(loop, writer, "cfg:a", "2");
    ASSERT_TRUE(loop.run_until([&] { return seen.saw("cfg:a"); }, 5s));
    auto r = get(loop, cache, "cfg:a");
    ASSERT_TRUE(r && *r == Value("2"));
    EXPECT_FALSE(seen.saw("other"));
    close_and_wait(loop, writer);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClientCache, OptinModeAndMarkedCommands) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCacheOptions co;
    co.mode = TrackingMode::optin;
    co.cached_commands = {"smembers"};
    ClientCache cache(loop.get(), options_for(server), co);
    Client writer(loop.get(), options_for(server));
    Seen seen;
    seen.watch(cache);
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    ASSERT_TRUE(run_one(loop, writer, {"SADD", "s", "x"}));
    for (int i = 0; i < 2; ++i) {
      auto m = await<std::vector<std::string>>(loop, [&](auto cb) { cache.smembers("s", std::move(cb)); });
      ASSERT_TRUE(m && m->size() == 1u);
    }
    EXPECT_EQ(cache.stats().hits, 1u);
    // A raw command is not cached unless asked through cached().
    ASSERT_TRUE(run_one(loop, writer, {"SET", "raw", "1"}));
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(await<uvredis::Reply>(loop, [&](auto cb) { cache.command({"GET", "raw"}, std::move(cb)); }));
    EXPECT_EQ(cache.stats().hits, 1u);
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(await<uvredis::Reply>(loop, [&](auto cb) { cache.cached({"GET", "raw"}, std::move(cb)); }));
    EXPECT_EQ(cache.stats().hits, 2u);
    ASSERT_TRUE(run_one(loop, writer, {"SADD", "s", "y"}));
    ASSERT_TRUE(loop.run_until([&] { return seen.saw("s"); }, 5s));
    auto m = await<std::vector<std::string>>(loop, [&](auto cb) { cache.smembers("s", std::move(cb)); });
    ASSERT_TRUE(m && m->size() == 2u);
    close_and_wait(loop, writer);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClientCache, DestroyedWithReadsInFlightCallsEachOnceWithClosed) {
  RedisServer server;
  TestLoop loop;
  int calls = 0, closed = 0;
  {
    auto cache = std::make_unique<ClientCache>(loop.get(), options_for(server));
    ASSERT_TRUE(loop.run_until([&] { return cache->ready(); }, 10s));
    ASSERT_TRUE(get(loop, *cache, "k"));
    for (int i = 0; i < 10; ++i)
      cache->get(i % 2 ? "k" : "other", [&](Result<Value> r) {
        ++calls;
        if (!r && r.error().kind == uvredis::ErrorKind::closed) ++closed;
      });
    cache.reset();
    EXPECT_EQ(calls, 0);
    ASSERT_TRUE(loop.run_until([&] { return calls == 10; }));
    loop.run_for(50ms);
    EXPECT_EQ(calls, 10);
    EXPECT_EQ(closed, 5);  // the hits were taken before the destruction
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ClientCache, PrefixesOutsideBroadcastModeAreAUsageError) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCacheOptions co;
    co.prefixes = {"cfg:"};
    ClientCache cache(loop.get(), options_for(server), co);
    auto r = get(loop, cache, "cfg:a");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, uvredis::ErrorKind::usage);
    auto c = await<uvredis::Reply>(loop, [&](auto cb) { cache.cached({"GET"}, std::move(cb)); });
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, uvredis::ErrorKind::usage);
    // Uncached commands still work.
    ASSERT_TRUE(await<bool>(loop, [&](auto cb) { cache.set("cfg:a", "1", std::move(cb)); }));
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A user the server does not allow CLIENT TRACKING: nothing is served from
// memory, but reads work, and the data link still reconnects (tracking is
// kept out of its handshake, where the refusal would fail every connect).
TEST(ClientCache, RefusedTrackingLeavesAWorkingUncachedClient) {
  RedisServer server;
  ASSERT_EQ(server.cmd({"ACL", "SETUSER", "plain", "on", ">pw", "~*", "&*", "+@all", "-client|tracking"}), "OK");
  TestLoop loop;
  {
    auto o = options_for(server);
    o.address.username = "plain";
    o.address.password = "pw";
    o.reconnect_max_delay = 100ms;
    ClientCache cache(loop.get(), o);
    Client writer(loop.get(), options_for(server));
    set(loop, writer, "k", "1");
    for (int i = 0; i < 3; ++i) {
      auto r = get(loop, cache, "k");
      ASSERT_TRUE(r && *r == Value("1")) << (r ? "" : r.error().to_string());
    }
    EXPECT_FALSE(cache.ready());
    EXPECT_EQ(cache.stats().hits, 0u);
    EXPECT_EQ(cache.client().state(), uvredis::ConnectionState::connected);
    auto id = run_one(loop, cache.client(), {"CLIENT", "ID"});
    ASSERT_TRUE(id && id->is_integer());
    bool back = false, dropped = false;
    cache.client().on_state_change([&](uvredis::ConnectionState s, const uvredis::Error*) {
      if (s != uvredis::ConnectionState::connected) dropped = true;
      if (dropped && s == uvredis::ConnectionState::connected) back = true;
    });
    ASSERT_TRUE(run_one(loop, writer, {"CLIENT", "KILL", "ID", std::to_string(id->integer())}));
    ASSERT_TRUE(loop.run_until([&] { return back; }, 5s));
    auto r = get(loop, cache, "k");
    ASSERT_TRUE(r && *r == Value("1"));
    EXPECT_EQ(cache.stats().hits, 0u);
    close_and_wait(loop, writer);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

// The hits of one turn (typed GET, another typed read, a raw cached read)
// are answered together on a later turn, each exactly once and none inside
// its call; hits owed when the cache is closed are still answered; and a
// cache that is closed but not yet destroyed lets the loop close.
TEST(ClientCache, HitsOfOneTurnAnswerOnALaterTurnEachOnceAndAClosedCacheLetsTheLoopClose) {
  RedisServer server;
  TestLoop loop;
  ClientCache cache(loop.get(), options_for(server));
  ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
  set(loop, cache.client(), "hot", "v");
  ASSERT_TRUE(run_one(loop, cache.client(), {"HSET", "h", "f", "x"}));
  ASSERT_TRUE(get(loop, cache, "hot"));  // misses: stored
  ASSERT_TRUE(await<Value>(loop, [&](uvredis::Callback<Value> cb) { cache.hget("h", "f", std::move(cb)); }));
  const auto hits0 = cache.stats().hits;

  constexpr int kReads = 100;
  int got = 0, hgot = 0, raw = 0, bad = 0;
  auto issue = [&] {
    for (int i = 0; i < kReads; ++i)
      cache.get("hot", [&](Result<Value> v) {
        ++got;
        if (!v || *v != Value("v")) ++bad;
      });
    cache.hget("h", "f", [&](Result<Value> v) {
      ++hgot;
      if (!v || *v != Value("x")) ++bad;
    });
    cache.cached({"GET", "hot"}, [&](Result<uvredis::Reply> r) {
      ++raw;
      if (!r || r->str() != "v") ++bad;
    });
  };
  issue();
  EXPECT_EQ(got + hgot + raw, 0);  // never inside the call
  EXPECT_EQ(cache.stats().hits, hits0 + kReads + 2);
  ASSERT_TRUE(loop.run_until([&] { return got == kReads && hgot == 1 && raw == 1; }, 5s));

  // Hits owed at close() are still answered, once, with the value served.
  issue();
  bool closed = false;
  cache.close([&] { closed = true; });
  EXPECT_EQ(got + hgot + raw, kReads + 2);
  ASSERT_TRUE(loop.run_until([&] { return closed && got == 2 * kReads && hgot == 2 && raw == 2; }, 10s));
  loop.run_until([] { return false; }, 50ms);  // a callback owed twice would show now
  EXPECT_EQ(got, 2 * kReads);
  EXPECT_EQ(hgot, 2);
  EXPECT_EQ(raw, 2);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(loop.close(), 0);  // the cache object still exists
}

// A GET hit waiting for its turn views the cached entry; an entry that goes
// before that turn (a write through the cache, clear(), LRU eviction, the
// cache destroyed by an earlier callback of the same batch) must not change
// or break what the hit delivers: the value served at get(), once.
TEST(ClientCache, HitsStillOwedDeliverTheValueServedWhenTheirEntryGoes) {
  RedisServer server;
  TestLoop loop;
  {
    ClientCacheOptions co;
    co.max_entries = 2;
    auto cache = std::make_unique<ClientCache>(loop.get(), options_for(server), co);
    ASSERT_TRUE(loop.run_until([&] { return cache->ready(); }, 10s));
    set(loop, cache->client(), "a", "va");
    set(loop, cache->client(), "b", std::string(100, 'b'));  // not inline in std::string
    ASSERT_TRUE(get(loop, *cache, "a"));
    ASSERT_TRUE(get(loop, *cache, "b"));
    ASSERT_EQ(cache->stats().entries, 2u);

    int got = 0, bad = 0;
    auto expect = [&](std::string want) {
      return [&, want](Result<Value> v) {
        ++got;
        if (!v || *v != Value(want)) ++bad;
      };
    };
    // Within one turn: hits on both, then a write of a through the cache
    // (drops a), a read of a (a miss: the new value), clear() (drops b).
    cache->get("a", expect("va"));
    cache->get("b", expect(std::string(100, 'b')));
    cache->command({"SET", "a", "va2"}, [&](Result<uvredis::Reply> r) {
      ++got;
      if (!r) ++bad;
    });
    cache->get("a", expect("va2"));
    cache->clear();
    EXPECT_EQ(got, 0);
    ASSERT_TRUE(loop.run_until([&] { return got == 4; }, 5s));
    EXPECT_EQ(bad, 0);

    // Eviction with hits waiting. Cached: b, a (c and d do not exist). c's
    // reply is stored (a goes), then its callback reads b and c from memory
    // (b is now the least recently used); d's reply, read with c's, is
    // stored before those hits' turn and evicts b.
    ASSERT_TRUE(get(loop, *cache, "a"));
    ASSERT_TRUE(get(loop, *cache, "b"));
    got = 0;
    const auto evictions = cache->stats().evictions;
    auto nil = [&](Result<Value> v) {
      ++got;
      if (!v || v->has_value()) ++bad;
    };
    cache->get("c", [&](Result<Value> v) {
      nil(std::move(v));
      cache->get("b", expect(std::string(100, 'b')));
      cache->get("c", nil);
    });
    cache->get("d", nil);
    ASSERT_TRUE(loop.run_until([&] { return got == 4; }, 5s));
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(cache->stats().evictions, evictions + 2);

    // The first callback of a batch clears the cache, the second destroys
    // it: every hit of the batch still gets the value it was served.
    ASSERT_TRUE(get(loop, *cache, "b"));
    ASSERT_TRUE(get(loop, *cache, "b"));  // a hit: cached
    got = 0;
    const std::string vb(100, 'b');
    cache->get("b", [&](Result<Value> v) {
      ++got;
      if (!v || *v != Value(vb)) ++bad;
      cache->clear();
    });
    cache->get("b", [&](Result<Value> v) {
      ++got;
      if (!v || *v != Value(vb)) ++bad;
      cache.reset();
    });
    for (int i = 0; i < 8; ++i) cache->get("b", expect(vb));
    ASSERT_TRUE(loop.run_until([&] { return got == 10; }, 5s));
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(cache, nullptr);
    loop.run_for(50ms);  // a callback owed twice would show now
    EXPECT_EQ(got, 10);
  }
  EXPECT_EQ(loop.close(), 0);
}

// get_view lends the value: from the server on a miss (the reply stored as
// get() stores it), from memory on a hit, empty for a missing key, the
// server's error for a key of another type; a lent hit whose entry goes
// before its turn (a write through the cache, clear()) still sees the value
// it was served; each callback runs once, also after close.
TEST(ClientCache, GetViewLendsTheValueFromTheServerAndFromMemory) {
  RedisServer server;
  TestLoop loop;
  using Lent = std::optional<std::string_view>;
  {
    ClientCache cache(loop.get(), options_for(server));
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    const std::string big(100, 'v');  // not inline in a std::string
    set(loop, cache.client(), "k", big);
    ASSERT_TRUE(run_one(loop, cache.client(), {"RPUSH", "list", "x"}));

    // What a callback saw, copied while it ran (the view ends with it).
    struct Seen {
      int calls = 0;
      bool ok = false;
      std::optional<std::string> value;
      uvredis::ErrorKind error{};
    };
    auto read = [&](std::string_view key) {
      Seen seen;
      cache.get_view(key, [&seen](Result<Lent> r) {
        ++seen.calls;
        seen.ok = static_cast<bool>(r);
        if (!r)
          seen.error = r.error().kind;
        else if (r->has_value())
          seen.value = std::string(**r);
      });
      EXPECT_EQ(seen.calls, 0);  // never inside the call
      EXPECT_TRUE(loop.run_until([&] { return seen.calls > 0; }, 5s));
      return seen;
    };

    const auto misses = cache.stats().misses;
    Seen a = read("k");
    ASSERT_TRUE(a.ok);
    EXPECT_EQ(a.value, big);
    EXPECT_EQ(cache.stats().misses, misses + 1);
    const auto hits = cache.stats().hits;
    Seen b = read("k");  // from memory now
    ASSERT_TRUE(b.ok);
    EXPECT_EQ(b.value, big);
    EXPECT_EQ(cache.stats().hits, hits + 1);
    auto c = get(loop, cache, "k");  // get() and get_view() share the entry
    ASSERT_TRUE(c && *c == Value(big));
    EXPECT_EQ(cache.stats().hits, hits + 2);

    Seen none = read("absent");
    ASSERT_TRUE(none.ok);
    EXPECT_FALSE(none.value.has_value());
    Seen none_again = read("absent");  // a cached nil
    ASSERT_TRUE(none_again.ok);
    EXPECT_FALSE(none_again.value.has_value());

    Seen wrong = read("list");
    EXPECT_FALSE(wrong.ok);
    EXPECT_EQ(wrong.error, uvredis::ErrorKind::server);

    // Lent hits owed when their entry goes: they see what they were served.
    int got = 0, bad = 0;
    auto expect = [&](std::string want) {
      return [&, want](Result<Lent> r) {
        ++got;
        if (!r || !r->has_value() || **r != want) ++bad;
      };
    };
    cache.get_view("k", expect(big));
    cache.get_view("k", expect(big));
    cache.command({"SET", "k", "new"}, [&](Result<uvredis::Reply> r) {
      ++got;
      if (!r) ++bad;
    });
    cache.get_view("k", expect("new"));  // after the write: from the server
    cache.get_view("absent", [&](Result<Lent> r) {
      ++got;
      if (!r || r->has_value()) ++bad;
    });
    cache.clear();
    ASSERT_TRUE(loop.run_until([&] { return got == 5; }, 5s));
    EXPECT_EQ(bad, 0);

    // After close: an error, once.
    bool closed = false;
    cache.close([&] { closed = true; });
    int after = 0;
    uvredis::ErrorKind kind{};
    cache.get_view("k", [&](Result<Lent> r) {
      ++after;
      if (!r) kind = r.error().kind;
    });
    ASSERT_TRUE(loop.run_until([&] { return closed && after == 1; }, 5s));
    EXPECT_EQ(kind, uvredis::ErrorKind::closed);
    loop.run_for(50ms);  // a callback owed twice would show now
    EXPECT_EQ(after, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

// get() and get_view() build a hit's callback where the hit waits for its
// turn, from whatever they were given: a Callback, a lambda (moved or
// copied), one too big to be stored inline (it goes to the heap), one that
// owns what it captured, or nothing at all. Each runs once, on a later turn.
TEST(ClientCache, HitsTakeAnyCallableAndCallEachOnce) {
  RedisServer server;
  TestLoop loop;
  using Lent = std::optional<std::string_view>;
  {
    ClientCache cache(loop.get(), options_for(server));
    ASSERT_TRUE(loop.run_until([&] { return cache.ready(); }, 10s));
    set(loop, cache.client(), "k", "v");
    ASSERT_TRUE(get(loop, cache, "k"));  // a miss stores it
    const auto hits = cache.stats().hits;

    int calls = 0, right = 0;
    auto check = [&](auto r) {  // a Result of an optional string or view
      ++calls;
      if (r && *r && **r == "v") ++right;
    };
    cache.get("k", check);  // copied
    cache.get_view("k", check);
    cache.get("k", uvredis::Callback<Value>(check));
    cache.get_view("k", uvredis::Callback<Lent>(check));
    std::array<char, 2 * uvredis::Callback<Value>::kInline> big{};
    big.back() = 'b';
    cache.get("k", [&, big](Result<Value> r) {
      check(std::move(r));
      EXPECT_EQ(big.back(), 'b');
    });
    cache.get_view("k", [&, big](Result<Lent> r) {
      check(std::move(r));
      EXPECT_EQ(big.back(), 'b');
    });
    auto owned = std::make_unique<int>(7);
    cache.get_view("k", [&, owned = std::move(owned)](Result<Lent> r) {
      check(std::move(r));
      EXPECT_EQ(*owned, 7);
    });
    cache.get("k");
    cache.get_view("k");
    cache.get("k", nullptr);
    cache.get_view("k", {});
    EXPECT_EQ(calls, 0) << "a hit is answered on a later turn, never inside the call";
    EXPECT_EQ(cache.stats().hits, hits + 11);
    ASSERT_TRUE(loop.run_until([&] { return calls == 7; }, 5s));
    ASSERT_TRUE(get(loop, cache, "k"));  // a later turn: nothing runs twice
    EXPECT_EQ(calls, 7);
    EXPECT_EQ(right, 7);
    close_and_wait(loop, cache);
  }
  EXPECT_EQ(loop.close(), 0);
}

// The GET index alone (no network): many keys, lookups, removals in any
// order (runs of probes wrap round the table), the slot found last, clear.
TEST(ClientCacheIndex, FindsEveryKeyItHoldsAndNoOther) {
  struct Entry {
    std::string key;
  };
  using Iter = std::list<Entry>::iterator;
  std::list<Entry> entries;
  uvredis::detail::KeyIndex<Iter> index;
  std::map<std::string, Iter> model;
  std::mt19937 rng(7);
  auto check = [&](const std::string& k) {
    const Iter* it = index.find(k);
    auto m = model.find(k);
    if (m == model.end()) {
      EXPECT_EQ(it, nullptr) << k;
    } else {
      ASSERT_NE(it, nullptr) << k;
      EXPECT_EQ(*it, m->second) << k;
    }
  };
  EXPECT_EQ(index.find("x"), nullptr);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 3000; ++i) {
      // Lengths 0..40, so every tail of the hash and the compare is used.
      std::string k = "k" + std::to_string(rng() % 5000);
      k.resize(rng() % 41, static_cast<char>('a' + i % 26));
      if (model.count(k)) {
        index.erase(model[k]);
        entries.erase(model[k]);
        model.erase(k);
      } else {
        entries.push_front(Entry{k});
        index.insert(entries.begin());
        model[k] = entries.begin();
      }
      check(k);
      if (i % 7 == 0) check("k" + std::to_string(rng() % 5000));
    }
    EXPECT_EQ(index.size(), model.size());
    for (const auto& [k, it] : model) check(k);
    // The slot found last is dropped with its entry.
    if (!model.empty()) {
      const std::string k = model.begin()->first;
      check(k);
      index.erase(model[k]);
      entries.erase(model[k]);
      model.erase(k);
      check(k);
    }
  }
  index.clear();
  EXPECT_EQ(index.size(), 0u);
  for (const auto& [k, it] : model) EXPECT_EQ(index.find(k), nullptr);
}
