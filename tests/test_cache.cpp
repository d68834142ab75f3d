// Cache-aside against a real server: one load per stampede, hits, negative
// caching, invalidation, loader errors, TTL jitter.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using uvredis::Cache;
using uvredis::CacheOptions;
using uvredis::Client;
using uvredis::Result;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::await;
using uvredis::test::close_and_wait;
using uvredis::test::run_one;
using uvredis::test::options_for;
using Value = std::optional<std::string>;

namespace {

// A loader that answers on a later loop turn, counting its calls.
Cache::Loader counting_loader(Client& c, int& calls, Result<Value> answer) {
  return [&c, &calls, answer](const std::string&, uvredis::Callback<Value> done) {
    ++calls;
    c.post([done = std::move(done), answer]() mutable { done(answer); });
  };
}

Result<Value> fetch(TestLoop& loop, Cache& cache, std::string_view key, Cache::Loader loader) {
  std::optional<Result<Value>> out;
  int calls = 0;
  cache.get_or_load(key, 10s, std::move(loader), [&](Result<Value> r) {
    ++calls;
    out.emplace(std::move(r));
  });
  EXPECT_TRUE(loop.run_until([&] { return calls > 0; }));
  EXPECT_EQ(calls, 1);
  return out ? std::move(*out) : Result<Value>(uvredis::Error{uvredis::ErrorKind::usage, "no reply"});
}

}  // namespace

TEST(Cache, StampedeOfAThousandCallersRunsTheLoaderOnce) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Cache cache(c);
    int loader_calls = 0;
    auto loader = counting_loader(c, loader_calls, Value("fresh"));
    const int n = 1000;
    int answered = 0, right = 0;
    for (int i = 0; i < n; ++i)
      cache.get_or_load("hot", 10s, loader, [&](Result<Value> r) {
        ++answered;
        if (r && *r == Value("fresh")) ++right;
      });
    ASSERT_TRUE(loop.run_until([&] { return answered == n; }));
    EXPECT_EQ(right, n);
    EXPECT_EQ(loader_calls, 1);
    EXPECT_EQ(cache.loads(), 1u);
    // Stored with its TTL, in the cache's own format.
    ASSERT_TRUE(loop.run_until([&] { return server.cmd({"EXISTS", "cache:hot"}) == "1"; }, 5s));
    EXPECT_EQ(server.cmd({"GET", "cache:hot"}), "vfresh");
    long long pttl = server.cmd_int({"PTTL", "cache:hot"});
    EXPECT_GT(pttl, 8000);
    EXPECT_LE(pttl, 10000);
    // A later call is a hit: no load.
    auto again = fetch(loop, cache, "hot", loader);
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, Value("fresh"));
    EXPECT_EQ(loader_calls, 1);
    EXPECT_EQ(cache.hits(), 1u);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Cache, NotFoundIsCachedOnlyWhenAskedAndInvalidateReloads) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    int plain_calls = 0, neg_calls = 0;
    Cache plain(c, CacheOptions{"plain:", 0ms, 0.0});
    Cache negative(c, CacheOptions{"neg:", 5s, 0.0});
    for (int i = 0; i < 2; ++i) {
      auto a = fetch(loop, plain, "ghost", counting_loader(c, plain_calls, Value()));
      ASSERT_TRUE(a);
      EXPECT_FALSE(a->has_value());
      auto b = fetch(loop, negative, "ghost", counting_loader(c, neg_calls, Value()));
      ASSERT_TRUE(b);
      EXPECT_FALSE(b->has_value());
    }
    EXPECT_EQ(plain_calls, 2);  // nothing cached: loads each time
    EXPECT_EQ(neg_calls, 1);    // "not found" remembered
    EXPECT_EQ(server.cmd({"GET", "neg:ghost"}), "n");
    EXPECT_LE(server.cmd_int({"PTTL", "neg:ghost"}), 5000);

    bool invalidated = false;
    negative.invalidate("ghost", [&](Result<void> r) {
      EXPECT_TRUE(r);
      invalidated = true;
    });
    ASSERT_TRUE(loop.run_until([&] { return invalidated; }));
    auto c3 = fetch(loop, negative, "ghost", counting_loader(c, neg_calls, Value("now here")));
    ASSERT_TRUE(c3);
    EXPECT_EQ(*c3, Value("now here"));
    EXPECT_EQ(neg_calls, 2);

    bool put_done = false;
    negative.put("ghost", std::string("bin\0ary", 7), 10s, [&](Result<void> r) {
      EXPECT_TRUE(r);
      put_done = true;
    });
    ASSERT_TRUE(loop.run_until([&] { return put_done; }));
    auto c4 = fetch(loop, negative, "ghost", counting_loader(c, neg_calls, Value("unused")));
    ASSERT_TRUE(c4);
    EXPECT_EQ(*c4, Value(std::string("bin\0ary", 7)));
    EXPECT_EQ(neg_calls, 2);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Cache, LoaderErrorReachesEveryWaiterAndNothingIsStored) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Cache cache(c);
    int calls = 0;
    auto loader = counting_loader(c, calls, Result<Value>(uvredis::Error{uvredis::ErrorKind::server, "ERR db down"}));
    int errors = 0;
    for (int i = 0; i < 10; ++i)
      cache.get_or_load("k", 1s, loader, [&](Result<Value> r) {
        if (!r && r.error().message == "ERR db down") ++errors;
      });
    ASSERT_TRUE(loop.run_until([&] { return errors == 10; }));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(server.cmd({"EXISTS", "cache:k"}), "0");
    // A bad TTL is a usage error, delivered later, exactly once.
    int bad = 0;
    cache.get_or_load("k2", 0ms, loader, [&](Result<Value> r) {
      EXPECT_EQ(r.error().kind, uvredis::ErrorKind::usage);
      ++bad;
    });
    EXPECT_EQ(bad, 0);
    ASSERT_TRUE(loop.run_until([&] { return bad == 1; }));
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Cache, TtlJitterSpreadsExpiries) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Cache cache(c, CacheOptions{"j:", 0ms, 0.2});
    int stored = 0;
    for (int i = 0; i < 50; ++i)
      cache.put("k" + std::to_string(i), "v", 100s, [&](Result<void> r) {
        EXPECT_TRUE(r);
        ++stored;
      });
    ASSERT_TRUE(loop.run_until([&] { return stored == 50; }));
    long long lo = 1LL << 60, hi = 0;
    for (int i = 0; i < 50; ++i) {
      long long t = server.cmd_int({"PTTL", "j:k" + std::to_string(i)});
      lo = std::min(lo, t);
      hi = std::max(hi, t);
    }
    EXPECT_GE(lo, 79000);
    EXPECT_LE(hi, 120000);
    EXPECT_GT(hi - lo, 1000);  // 50 draws over +/-20 s: not all alike
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}
