// Named pools: validation of registrations, isolation of databases.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace std::chrono_literals;
using uvredis::Registry;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::await;
using uvredis::test::close_and_wait;
using uvredis::test::run_one;

TEST(Registry, ValidateReportsEveryProblemAtOnceAndConnectsNothing) {
  TestLoop loop;
  Registry reg;
  reg.register_redis("127.0.0.1:1", 0);
  reg.register_redis("127.0.0.1:2", 1);                 // "default" again
  reg.register_redis("127.0.0.1:notaport", 0, "bad");   // bad address
  reg.register_redis("127.0.0.1:3", 16, "far");         // db out of range
  reg.register_redis("redis://127.0.0.1:4/2", 5, "mix"); // URL db disagrees
  reg.register_redis("127.0.0.1:5", 0, "");              // empty code
  auto engine = reg.validate(loop.get());
  ASSERT_FALSE(engine);
  const std::string& msg = engine.error().message;
  EXPECT_EQ(engine.error().kind, uvredis::ErrorKind::usage);
  EXPECT_NE(msg.find("5 problem(s)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pool 'default' is registered twice"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pool 'bad': invalid address"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pool 'far': db 16 is out of range 0..15"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pool 'mix': the address selects db 2 but db 5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty code"), std::string::npos) << msg;
  // Nothing was created, so nothing is left on the loop.
  EXPECT_EQ(loop.close(), 0);
}

TEST(Registry, EmptyRegistryIsAProblemAndTlsOnlyWithoutOpenSsl) {
  TestLoop loop;
  Registry empty;
  auto e1 = empty.validate(loop.get());
  ASSERT_FALSE(e1);
  EXPECT_NE(e1.error().message.find("no redis pool"), std::string::npos);
  Registry tls;
  tls.register_redis("rediss://127.0.0.1:6380", 0);
  auto e2 = tls.validate(loop.get());
  if (uvredis::tls_supported()) {
    // Built with OpenSSL: rediss:// is fine (test_tls connects for real).
    ASSERT_TRUE(e2) << e2.error().message;
    int closed = 0;
    (*e2)->close([&] { ++closed; });
    ASSERT_TRUE(loop.run_until([&] { return closed == 1; }));
    e2 = uvredis::Error{uvredis::ErrorKind::closed, "engine released"};
  } else {
    ASSERT_FALSE(e2);
    EXPECT_NE(e2.error().message.find("TLS"), std::string::npos) << e2.error().message;
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Registry, TwoPoolsOnDatabasesZeroAndThreeStayIsolated) {
  RedisServer server;
  TestLoop loop;
  {
    Registry reg;
    reg.register_redis("127.0.0.1:" + std::to_string(server.port()), 0);
    reg.register_redis("redis://127.0.0.1:" + std::to_string(server.port()), 3, "test");
    auto made = reg.validate(loop.get());
    ASSERT_TRUE(made) << made.error().message;
    auto& engine = **made;
    EXPECT_EQ(engine.codes(), (std::vector<std::string>{"default", "test"}));
    EXPECT_EQ(engine.config("test").db, 3);
    EXPECT_EQ(engine.config("test").code, "test");
    EXPECT_EQ(engine.config().db, 0);
    EXPECT_EQ(engine.config("test").options.address.port, server.port());

    ASSERT_TRUE(run_one(loop, engine.redis(), {"SET", "k", "zero"}));
    ASSERT_TRUE(run_one(loop, engine.redis("test"), {"SET", "k", "three"}));
    EXPECT_EQ(server.cmd({"GET", "k"}), "zero");
    EXPECT_EQ(run_one(loop, engine.redis("test"), {"GET", "k"})->str(), "three");

    ASSERT_TRUE(run_one(loop, engine.redis("test"), {"FLUSHDB"}));
    EXPECT_TRUE(run_one(loop, engine.redis("test"), {"GET", "k"})->is_nil());
    EXPECT_EQ(run_one(loop, engine.redis(), {"GET", "k"})->str(), "zero");

    EXPECT_FALSE(engine.has("nope"));
    try {
      engine.redis("nope");
      ADD_FAILURE() << "an unknown code must be refused";
    } catch (const std::out_of_range& e) {
      EXPECT_NE(std::string(e.what()).find("'nope' (known: default, test)"), std::string::npos) << e.what();
    }

    int closed = 0;
    engine.close([&] { ++closed; });
    ASSERT_TRUE(loop.run_until([&] { return closed == 1; }));
    loop.run_for(20ms);
    EXPECT_EQ(closed, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}
