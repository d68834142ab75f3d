// Server and connection commands, and the typed helpers on every sink
// (Pipeline, Transaction, Lease), against a real redis-server.
#include "support/commands_fixture.hpp"

#include <cmath>

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

using CommandsServer = CommandsTest;

TEST_F(CommandsServer, PingAndEcho) {
  EXPECT_EQ(*call<std::string>([&](auto cb) { c().ping(std::move(cb)); }), "PONG");
  const std::string msg("hi\0\r\nthere", 10);
  EXPECT_EQ(*call<std::string>([&](auto cb) { c().ping(msg, std::move(cb)); }), msg);
  EXPECT_EQ(*call<std::string>([&](auto cb) { c().echo(msg, std::move(cb)); }), msg);
  EXPECT_EQ(*call<std::string>([&](auto cb) { c().echo("", std::move(cb)); }), "");
}

TEST_F(CommandsServer, DbsizeAndFlushdbModes) {
  EXPECT_EQ(*call<long long>([&](auto cb) { c().dbsize(std::move(cb)); }), 0);
  raw({"MSET", "a", "1", "b", "2"});
  EXPECT_EQ(*call<long long>([&](auto cb) { c().dbsize(std::move(cb)); }), 2);
  ASSERT_TRUE(call<void>([&](auto cb) { c().flushdb(FlushMode::sync, std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().dbsize(std::move(cb)); }), 0);
  raw({"SET", "a", "1"});
  ASSERT_TRUE(call<void>([&](auto cb) { c().flushdb(FlushMode::async, std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().dbsize(std::move(cb)); }), 0);
  raw({"SET", "a", "1"});
  ASSERT_TRUE(call<void>([&](auto cb) { c().flushdb(std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().dbsize(std::move(cb)); }), 0);
}

TEST_F(CommandsServer, FlushdbOnlyTouchesTheClientsDatabase) {
  Client& db2 = extra_client([](ClientOptions& o) { o.address.db = 2; });
  ASSERT_TRUE(call<bool>([&](auto cb) { db2.set("k", "v", std::move(cb)); }));
  ASSERT_TRUE(call<bool>([&](auto cb) { c().set("k", "v", std::move(cb)); }));
  ASSERT_TRUE(call<void>([&](auto cb) { db2.flushdb(FlushMode::sync, std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { db2.dbsize(std::move(cb)); }), 0);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().dbsize(std::move(cb)); }), 1);
}

TEST_F(CommandsServer, InfoIsParsedIntoSections) {
  raw({"SET", "k", "v"});
  auto all = call<InfoSections>([&](auto cb) { c().info(std::move(cb)); });
  ASSERT_TRUE(all) << all.error().to_string();
  ASSERT_TRUE(all->contains("server"));
  EXPECT_EQ(all->at("server").at("redis_version").substr(0, 2), "7.");
  EXPECT_EQ(all->at("server").at("tcp_port"), std::to_string(server().port()));
  ASSERT_TRUE(all->contains("keyspace"));
  EXPECT_EQ(all->at("keyspace").at("db0").substr(0, 7), "keys=1,");
  EXPECT_TRUE(all->contains("memory"));

  auto one = call<InfoSections>([&](auto cb) { c().info("keyspace", std::move(cb)); });
  ASSERT_TRUE(one);
  EXPECT_EQ(one->size(), 1u);
  EXPECT_TRUE(one->contains("keyspace"));
  auto two = call<InfoSections>([&](auto cb) { c().info({"server", "clients"}, std::move(cb)); });
  ASSERT_TRUE(two);
  EXPECT_EQ(two->size(), 2u);
  EXPECT_TRUE(two->at("clients").contains("connected_clients"));
  auto none = call<InfoSections>([&](auto cb) { c().info("nosuchsection", std::move(cb)); });
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(CommandsServer, TimeIsTheServersClock) {
  auto t = call<ServerTime>([&](auto cb) { c().time(std::move(cb)); });
  ASSERT_TRUE(t) << t.error().to_string();
  const auto local = std::chrono::system_clock::now();
  const auto diff = local - std::chrono::system_clock::time_point(*t);
  EXPECT_LT(std::chrono::abs(diff), 5s);  // same machine
  auto t2 = call<ServerTime>([&](auto cb) { c().time(std::move(cb)); });
  EXPECT_GE(*t2, *t);
}

TEST_F(CommandsServer, PublishCountsReceivers) {
  EXPECT_EQ(*call<long long>([&](auto cb) { c().publish("news", "nobody listens", std::move(cb)); }), 0);
  Subscriber sub(loop(), options());
  std::vector<std::string> got;
  bool confirmed = false;
  sub.subscribe({"news"}, [&](const Message& m) { got.push_back(m.payload); },
                [&](Result<void> r) {
                  EXPECT_TRUE(r);
                  confirmed = true;
                });
  ASSERT_TRUE(wait([&] { return confirmed; }));
  const std::string payload("bin\0\r\n", 6);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().publish("news", payload, std::move(cb)); }), 1);
  ASSERT_TRUE(wait([&] { return !got.empty(); }));
  EXPECT_EQ(got.front(), payload);
  bool closed = false;
  sub.close([&] { closed = true; });
  ASSERT_TRUE(wait([&] { return closed; }));
}

TEST_F(CommandsServer, TypedHelpersOnAPipeline) {
  raw({"SET", "wrong", "x"});
  Pipeline p(c());
  auto set = p.set("k", "v", {.ttl = 100s});
  auto get = p.get("k");
  auto incr = p.incrby("n", 5);
  auto hset = p.hset("h", {{"a", "1"}, {"b", "2"}});
  auto hgetall = p.hgetall("h");
  auto zadd = p.zadd("z", {{"x", 1}, {"y", 2}});
  auto top = p.zrange_withscores("z", ZRange::by_rank(0, 0).rev());
  auto ttl = p.ttl("k");
  auto wrongtype = p.lpush("wrong", "e");
  auto usage = p.mget(Strs{});
  std::optional<Result<OptStr>> via_cb;
  auto with_cb = p.get("k", catcher<OptStr>(via_cb));
  auto nothing = p.blpop("empty-queue", 100ms);  // goes to a blocking connection, times out empty
  std::optional<ExecSummary> summary;
  p.exec([&](ExecSummary s) { summary = s; });
  ASSERT_TRUE(wait([&] { return summary.has_value(); }));
  EXPECT_EQ(summary->commands, 12u);
  EXPECT_EQ(summary->failed, 2u);
  EXPECT_TRUE(*set.result());
  EXPECT_EQ(*get.result(), "v");
  EXPECT_EQ(*incr.result(), 5);
  EXPECT_EQ(*hset.result(), 2);
  EXPECT_EQ(*hgetall.result(), (FieldMap{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(*zadd.result(), 2);
  EXPECT_EQ(*top.result(), (std::vector<ScoredMember>{{"y", 2}}));
  EXPECT_TRUE(ttl.result()->expires());
  EXPECT_TRUE(is_server_error(wrongtype.result(), "WRONGTYPE"));
  EXPECT_TRUE(is_usage_error(usage.result(), "MGET"));
  ASSERT_TRUE(via_cb.has_value());
  EXPECT_EQ(**via_cb, "v");
  EXPECT_EQ(*with_cb.result(), "v");
  ASSERT_TRUE(nothing.ok()) << nothing.result().error().to_string();
  EXPECT_EQ(*nothing.result(), std::nullopt);
}

TEST_F(CommandsServer, TypedHelpersInATransaction) {
  raw({"SET", "wrong", "x"});
  Transaction tx(c());
  auto incr = tx.incr("counter");
  auto push = tx.rpush("list", {"a", "b", "c"});
  auto range = tx.lrange("list", 0, -1);
  auto sadd = tx.sadd("tags", {"x", "y"});
  auto inter = tx.sinter({"tags", "tags"});
  auto zadd = tx.zadd_incr("z", "m", 1.5);
  auto wrong = tx.hget("wrong", "f");  // fails at EXEC time; the others still run
  auto popped = tx.blpop("list", 1s);  // inside MULTI it does not block
  std::optional<Result<Transaction::Outcome>> outcome;
  tx.exec([&](Result<Transaction::Outcome> o) { outcome.emplace(std::move(o)); });
  ASSERT_TRUE(wait([&] { return outcome.has_value(); }));
  ASSERT_TRUE(*outcome) << outcome->error().to_string();
  EXPECT_EQ(**outcome, Transaction::Outcome::committed);
  EXPECT_EQ(*incr.result(), 1);
  EXPECT_EQ(*push.result(), 3);
  EXPECT_EQ(*range.result(), (Strs{"a", "b", "c"}));
  EXPECT_EQ(*sadd.result(), 2);
  EXPECT_EQ(inter.result()->size(), 2u);
  EXPECT_EQ(*zadd.result(), 1.5);
  EXPECT_TRUE(is_server_error(wrong.result(), "WRONGTYPE"));
  ASSERT_TRUE(popped.ok());
  EXPECT_EQ(*popped.result(), (KeyedElement{"list", "a"}));
}

TEST_F(CommandsServer, AUsageErrorKeepsATransactionFromBeingSent) {
  Transaction tx(c());
  auto set = tx.set("k", "v");
  auto bad = tx.zadd("z", {{"m", std::nan("")}});
  std::optional<Result<Transaction::Outcome>> outcome;
  tx.exec([&](Result<Transaction::Outcome> o) { outcome.emplace(std::move(o)); });
  ASSERT_TRUE(wait([&] { return outcome.has_value(); }));
  EXPECT_TRUE(is_usage_error(*outcome, "NaN"));
  EXPECT_TRUE(is_usage_error(bad.result(), "NaN"));
  EXPECT_FALSE(set.ok());
  EXPECT_EQ(raw({"EXISTS", "k"}), "0");
}

TEST_F(CommandsServer, TypedHelpersOnALease) {
  auto lease = c().lease();
  EXPECT_TRUE(*call<bool>([&](auto cb) { lease->set("k", "1", std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { lease->incr("k", std::move(cb)); }), 2);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { lease->get("k", std::move(cb)); }), "2");
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { lease->del(Strs{}, std::move(cb)); }), "DEL"));
  lease.reset();
}

TEST_F(CommandsServer, HelpersOnAClosedClientFailWithClosed) {
  close(c());
  auto r = call<OptStr>([&](auto cb) { c().get("k", std::move(cb)); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::closed);
  // A usage error is still reported as such (it is found before sending).
  auto u = call<long long>([&](auto cb) { c().del(Strs{}, std::move(cb)); });
  EXPECT_TRUE(is_usage_error(u, "DEL"));
}

TEST_F(CommandsServer, FireAndForgetNeedsNoCallback) {
  c().set("k", "v");
  c().incr("n");
  c().zadd("z", {{"m", 1}});
  c().mget(Strs{});  // a usage error with nobody to tell: dropped quietly
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().get("k", std::move(cb)); }), "v");
  EXPECT_EQ(raw({"GET", "n"}), "1");
}
