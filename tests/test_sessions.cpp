// SessionStore and Presence against a real server.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::Result;
using uvredis::SessionData;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::await;
using uvredis::test::close_and_wait;
using uvredis::test::run_one;
using uvredis::test::options_for;

TEST(Sessions, CreateGetUpdateExtendDelete) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    uvredis::SessionStore store(c, {"sess:", 2s});
    auto id = await<std::string>(loop, [&](auto cb) { store.create({{"user", "alice"}, {"bin", std::string("a\0b", 3)}}, cb); });
    ASSERT_TRUE(id) << id.error().to_string();
    ASSERT_EQ(id->size(), 32u);  // 128 bits in hex
    EXPECT_EQ(id->find_first_not_of("0123456789abcdef"), std::string::npos);
    long long pttl = server.cmd_int({"PTTL", "sess:" + *id});
    EXPECT_GT(pttl, 1000);
    EXPECT_LE(pttl, 2000);

    auto got = await<std::optional<SessionData>>(loop, [&](auto cb) { store.get(*id, cb); });
    ASSERT_TRUE(got);
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ(**got, (SessionData{{"user", "alice"}, {"bin", std::string("a\0b", 3)}}));

    auto upd = await<bool>(loop, [&](auto cb) { store.set_field(*id, "level", "7", cb); });
    ASSERT_TRUE(upd);
    EXPECT_TRUE(*upd);
    EXPECT_EQ(server.cmd({"HGET", "sess:" + *id, "level"}), "7");

    server.cmd({"PEXPIRE", "sess:" + *id, "100"});
    auto ext = await<bool>(loop, [&](auto cb) { store.extend(*id, cb); });
    ASSERT_TRUE(ext);
    EXPECT_TRUE(*ext);
    EXPECT_GT(server.cmd_int({"PTTL", "sess:" + *id}), 1000);

    auto del = await<bool>(loop, [&](auto cb) { store.remove(*id, cb); });
    ASSERT_TRUE(del);
    EXPECT_TRUE(*del);
    auto gone = await<std::optional<SessionData>>(loop, [&](auto cb) { store.get(*id, cb); });
    ASSERT_TRUE(gone);
    EXPECT_FALSE(gone->has_value());
    // Updates never re-create a deleted session.
    auto upd2 = await<bool>(loop, [&](auto cb) { store.set_field(*id, "level", "8", cb); });
    ASSERT_TRUE(upd2);
    EXPECT_FALSE(*upd2);
    EXPECT_EQ(server.cmd({"EXISTS", "sess:" + *id}), "0");
    auto ext2 = await<bool>(loop, [&](auto cb) { store.extend(*id, cb); });
    EXPECT_FALSE(*ext2);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Sessions, EmptySessionExistsExpiredIsGoneIdsAreUnique) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    uvredis::SessionStore store(c, {"s:", 150ms});
    auto id = await<std::string>(loop, [&](auto cb) { store.create({}, cb); });
    ASSERT_TRUE(id);
    auto got = await<std::optional<SessionData>>(loop, [&](auto cb) { store.get(*id, cb); });
    ASSERT_TRUE(got && got->has_value());
    EXPECT_TRUE((*got)->empty());
    // Expiry is the server's: wait until the key is gone, then ask the store.
    ASSERT_TRUE(loop.run_until([&] { return server.cmd({"EXISTS", "s:" + *id}) == "0"; }, 5s));
    auto gone = await<std::optional<SessionData>>(loop, [&](auto cb) { store.get(*id, cb); });
    ASSERT_TRUE(gone);
    EXPECT_FALSE(gone->has_value());

    std::set<std::string> ids;
    int made = 0;
    for (int i = 0; i < 200; ++i)
      store.create({{"i", std::to_string(i)}}, [&](Result<std::string> r) {
        ASSERT_TRUE(r);
        ids.insert(*r);
        ++made;
      });
    ASSERT_TRUE(loop.run_until([&] { return made == 200; }));
    EXPECT_EQ(ids.size(), 200u);

    auto reserved = await<std::string>(loop, [&](auto cb) { store.create({{"__session", "x"}}, cb); });
    ASSERT_FALSE(reserved);
    EXPECT_EQ(reserved.error().kind, uvredis::ErrorKind::usage);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Presence, OnlineOfflineAndListsOfASet) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    uvredis::Presence presence(c);
    for (auto u : {"alice", "bob", "carol"})
      ASSERT_TRUE(await<void>(loop, [&](auto cb) { presence.online(u, 10s, cb); }));
    ASSERT_TRUE(await<void>(loop, [&](auto cb) { presence.online("dave", 100ms, cb); }));
    ASSERT_TRUE(await<void>(loop, [&](auto cb) { presence.offline("bob", cb); }));
    auto a = await<bool>(loop, [&](auto cb) { presence.is_online("alice", cb); });
    EXPECT_TRUE(a && *a);
    auto b = await<bool>(loop, [&](auto cb) { presence.is_online("bob", cb); });
    EXPECT_TRUE(b && !*b);
    ASSERT_TRUE(loop.run_until([&] { return server.cmd({"EXISTS", "presence:dave"}) == "0"; }, 5s));

    auto of = await<std::vector<std::string>>(loop, [&](auto cb) { presence.online_of({"zed", "carol", "bob", "dave", "alice"}, cb); });
    ASSERT_TRUE(of);
    EXPECT_EQ(*of, (std::vector<std::string>{"carol", "alice"}));

    server.cmd({"SADD", "room:1", "alice", "bob", "carol", "dave"});
    auto in = await<std::vector<std::string>>(loop, [&](auto cb) { presence.online_in_set("room:1", cb); });
    ASSERT_TRUE(in);
    std::set<std::string> got(in->begin(), in->end());
    EXPECT_EQ(got, (std::set<std::string>{"alice", "carol"}));
    auto none = await<std::vector<std::string>>(loop, [&](auto cb) { presence.online_in_set("room:empty", cb); });
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}
