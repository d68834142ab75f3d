// Lua scripts: SHA1, EVALSHA with NOSCRIPT fallback (also after SCRIPT FLUSH
// on a live server), read-only scripts, script errors, the seed's recipes,
// and the WATCH race from issue 4.
#include <uvredis/uvredis.hpp>

#include "../src/base/sha1.hpp"
#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <memory>
#include <string>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ErrorKind;
using uvredis::Reply;
using uvredis::Result;
using uvredis::Script;
using uvredis::ScriptOptions;
using uvredis::Transaction;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::options_for;
using uvredis::test::close_and_wait;
using uvredis::test::await;
namespace recipes = uvredis::recipes;
namespace script_decode = uvredis::script_decode;

namespace {

// Runs `script` once and returns its result, asserting exactly one callback.
Result<Reply> run_script(TestLoop& loop, Client& c, const Script& script, std::vector<std::string_view> keys = {},
                         std::vector<std::string_view> args = {}) {
  std::optional<Result<Reply>> out;
  int calls = 0;
  script.run(c, keys, args, [&](Result<Reply> r) {
    ++calls;
    out.emplace(std::move(r));
  });
  EXPECT_EQ(calls, 0);  // never inside the call
  EXPECT_TRUE(loop.run_until([&] { return calls > 0; }, 10s));
  loop.run_for(5ms);
  EXPECT_EQ(calls, 1);
  if (!out) return uvredis::Error{ErrorKind::usage, "no reply"};
  return std::move(*out);
}

// "cmdstat_eval:calls=3,..." -> 3 (0 when the command never ran).
long long command_calls(RedisServer& s, const std::string& cmd) {
  std::string info = s.cmd({"INFO", "commandstats"});
  std::string needle = "cmdstat_" + cmd + ":calls=";
  auto p = info.find(needle);
  if (p == std::string::npos) return 0;
  return std::stoll(info.substr(p + needle.size()));
}

}  // namespace

// ------------------------------------------------------------------ SHA1

TEST(Sha1, KnownVectors) {
  using uvredis::detail::sha1_hex;
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(sha1_hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  EXPECT_EQ(sha1_hex("return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");  // as SCRIPT LOAD says
}

TEST(Sha1, PiecewiseUpdatesEqualOneShotAtEveryPaddingBoundary) {
  using uvredis::detail::Sha1;
  std::string msg;
  for (int i = 0; i < 300; ++i) msg.push_back(static_cast<char>(i * 7 + 3));
  for (std::size_t len : {0u, 1u, 55u, 56u, 57u, 63u, 64u, 65u, 119u, 120u, 128u, 300u}) {
    std::string_view m(msg.data(), len);
    const std::string one = uvredis::detail::sha1_hex(m);
    for (std::size_t step : {1u, 3u, 63u, 64u}) {
      Sha1 s;
      for (std::size_t i = 0; i < len; i += step) s.update(m.substr(i, step));
      auto d = s.finish();
      std::string hex;
      for (auto b : d) {
        char buf[3];
        std::snprintf(buf, sizeof buf, "%02x", b);
        hex += buf;
      }
      EXPECT_EQ(hex, one) << "len " << len << " step " << step;
    }
  }
}

// ------------------------------------------------------------- decoders

TEST(ScriptDecode, ShapesOfLuaValues) {
  EXPECT_EQ(*script_decode::lua_boolean(Reply::integer(1)), true);
  EXPECT_EQ(*script_decode::lua_boolean(Reply()), false);
  EXPECT_FALSE(script_decode::lua_boolean(Reply::string("x")));
  EXPECT_EQ(*script_decode::optional_integer(Reply::integer(7)), 7);
  EXPECT_FALSE(script_decode::optional_integer(Reply())->has_value());
  auto ints = script_decode::integers(Reply::array({Reply::integer(1), Reply::string("-2")}));
  ASSERT_TRUE(ints);
  EXPECT_EQ(*ints, (std::vector<long long>{1, -2}));
  auto bad = script_decode::integers(Reply::array({Reply::integer(1), Reply::string("x")}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::protocol);
  EXPECT_NE(bad.error().message.find("element 1"), std::string::npos);
  auto strs = script_decode::strings(Reply::array({Reply::string("a"), Reply::integer(3)}));
  ASSERT_TRUE(strs);
  EXPECT_EQ(*strs, (std::vector<std::string>{"a", "3"}));
  EXPECT_DOUBLE_EQ(*script_decode::number(Reply::string("0.25")), 0.25);
  EXPECT_DOUBLE_EQ(*script_decode::number(Reply::integer(-3)), -3.0);
  EXPECT_FALSE(script_decode::number(Reply::string("1.5x")));
  EXPECT_FALSE(script_decode::integer_at(Reply::array({}), 0));
  // Errors pass through untouched.
  auto err = script_decode::integers(uvredis::Error{ErrorKind::server, "BOOM x"});
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().code(), "BOOM");
}

// ------------------------------------------------------------- running

TEST(Script, NoscriptFallsBackToEvalAlsoAfterScriptFlushOnALiveServer) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    const Script script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}");
    EXPECT_EQ(script.sha1(), uvredis::detail::sha1_hex(script.source()));

    // Never loaded: EVALSHA -> NOSCRIPT -> EVAL, one callback.
    auto r = run_script(loop, c, script, {"counter"}, {"hello"});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->to_string(), Reply::array({Reply::string("counter"), Reply::string("hello"), Reply::integer(1)})
                                  .to_string());
    EXPECT_EQ(command_calls(server, "eval"), 1);
    EXPECT_EQ(server.cmd({"SCRIPT", "EXISTS", script.sha1()}), "1");

    // Cached now: EVALSHA alone.
    for (int i = 2; i <= 3; ++i) {
      auto again = run_script(loop, c, script, {"counter"}, {"x"});
      ASSERT_TRUE(again);
      EXPECT_EQ((*again)[2].integer(), i);
    }
    EXPECT_EQ(command_calls(server, "eval"), 1);

    // SCRIPT FLUSH behind the client's back, same connection stays up.
    EXPECT_EQ(server.cmd({"SCRIPT", "FLUSH"}), "OK");
    EXPECT_EQ(server.cmd({"SCRIPT", "EXISTS", script.sha1()}), "0");
    auto after = run_script(loop, c, script, {"counter"}, {"y"});
    ASSERT_TRUE(after) << after.error().to_string();
    EXPECT_EQ((*after)[2].integer(), 4);
    EXPECT_EQ(command_calls(server, "eval"), 2);
    EXPECT_EQ(server.cmd({"SCRIPT", "EXISTS", script.sha1()}), "1");

    // Many concurrent runs after a flush: each falls back on its own, every
    // callback once, every increment applied once.
    server.cmd({"SCRIPT", "FLUSH"});
    int done = 0;
    for (int i = 0; i < 50; ++i)
      script.run(c, {"counter"}, {"z"}, [&](Result<Reply> rr) {
        EXPECT_TRUE(rr) << rr.error().to_string();
        ++done;
      });
    ASSERT_TRUE(loop.run_until([&] { return done == 50; }));
    loop.run_for(10ms);
    EXPECT_EQ(done, 50);
    EXPECT_EQ(server.cmd({"GET", "counter"}), "54");

    // Owned strings work too.
    std::vector<std::string> keys{"counter"}, args{"owned"};
    std::optional<Result<Reply>> owned;
    script.run(c, keys, args, [&](Result<Reply> rr) { owned.emplace(std::move(rr)); });
    ASSERT_TRUE(loop.run_until([&] { return owned.has_value(); }));
    ASSERT_TRUE(*owned);
    EXPECT_EQ((**owned)[1].str(), "owned");
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Script, SurvivesItsOwnDestructionWhileInFlightAndTypedRunDecodes) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    std::optional<Result<long long>> out;
    int calls = 0;
    {
      Script temp("return tonumber(ARGV[1]) * 2");
      temp.run<long long>(c, {}, {"21"}, &uvredis::decode::integer, [&](Result<long long> r) {
        ++calls;
        out.emplace(std::move(r));
      });
    }  // destroyed before the NOSCRIPT reply arrives: the fallback still has the source
    ASSERT_TRUE(loop.run_until([&] { return calls > 0; }));
    loop.run_for(5ms);
    EXPECT_EQ(calls, 1);
    ASSERT_TRUE(*out) << out->error().to_string();
    EXPECT_EQ(**out, 42);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Script, LoadPreloadsSoRunNeedsNoFallback) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    std::vector<Script> scripts{Script("return 1"), Script("return 2"), Script("return redis.call('PING')")};
    auto loaded = await<void>(loop, [&](auto cb) { Script::load(c, scripts, std::move(cb)); }, 10s);
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    for (const auto& s : scripts) EXPECT_EQ(server.cmd({"SCRIPT", "EXISTS", s.sha1()}), "1");
    auto r = run_script(loop, c, scripts[2]);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->str(), "PONG");
    EXPECT_EQ(command_calls(server, "eval"), 0);

    auto none = await<void>(loop, [&](auto cb) { Script::load(c, {}, std::move(cb)); }, 10s);
    EXPECT_TRUE(none);
    // A script that does not compile: the load reports the server's error.
    auto bad = await<void>(loop, [&](auto cb) { Script::load(c, {Script("return 1"), Script("return (")}, std::move(cb)); }, 10s);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, ErrorKind::server);
    EXPECT_EQ(bad.error().code(), "ERR");
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Script, ScriptErrorsArriveAsServerErrorsWithTheirText) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    // Each runs twice: once through the EVAL fallback, once through EVALSHA.
    for (int round = 0; round < 2; ++round) {
      auto e1 = run_script(loop, c, Script("return redis.error_reply('MYERR something went wrong')"));
      ASSERT_FALSE(e1);
      EXPECT_EQ(e1.error().kind, ErrorKind::server);
      EXPECT_EQ(e1.error().code(), "MYERR");
      EXPECT_EQ(e1.error().message, "MYERR something went wrong");

      auto e2 = run_script(loop, c, Script("return {err = 'INSUFFICIENT funds'}"));
      ASSERT_FALSE(e2);
      EXPECT_EQ(e2.error().kind, ErrorKind::server);
      EXPECT_EQ(e2.error().message, "INSUFFICIENT funds");

      auto e3 = run_script(loop, c, Script("error('boom')"));
      ASSERT_FALSE(e3);
      EXPECT_EQ(e3.error().code(), "ERR");
      EXPECT_NE(e3.error().message.find("boom"), std::string::npos) << e3.error().message;

      server.cmd({"SET", "str", "abc"});
      auto e4 = run_script(loop, c, Script("return redis.call('INCR', KEYS[1])"), {"str"});
      ASSERT_FALSE(e4);
      EXPECT_EQ(e4.error().code(), "ERR");
      EXPECT_NE(e4.error().message.find("not an integer"), std::string::npos) << e4.error().message;

      // A nested error (redis.pcall's result inside a table) stays in the reply.
      auto e5 = run_script(loop, c, Script("return {1, redis.pcall('INCR', KEYS[1])}"), {"str"});
      ASSERT_TRUE(e5);
      ASSERT_EQ(e5->size(), 2u);
      EXPECT_TRUE((*e5)[1].is_error());

      auto e6 = run_script(loop, c, Script("return (("));  // does not compile
      ASSERT_FALSE(e6);
      EXPECT_EQ(e6.error().code(), "ERR");
    }
    // The connection is fine afterwards.
    auto ok = run_script(loop, c, Script("return 'fine'"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->str(), "fine");
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Script, ReadOnlyScriptsUseTheRoCommandsAndRunOnAReplica) {
  RedisServer master({{"--repl-diskless-sync-delay", "0"}});
  RedisServer replica({{"--replicaof", "127.0.0.1", std::to_string(master.port())}});
  master.cmd({"SET", "k", "v"});
  TestLoop loop;
  {
    Client m(loop.get(), options_for(master));
    Client r(loop.get(), options_for(replica));
    const Script reader("return redis.call('GET', KEYS[1])", ScriptOptions{.read_only = true});
    const Script writer("return redis.call('SET', KEYS[1], 'x')", ScriptOptions{.read_only = true});
    const Script plain_writer("return redis.call('SET', KEYS[1], 'x')");

    auto got = run_script(loop, m, reader, {"k"});
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->str(), "v");
    EXPECT_EQ(command_calls(master, "eval_ro"), 1);
    got = run_script(loop, m, reader, {"k"});
    ASSERT_TRUE(got);
    EXPECT_GE(command_calls(master, "evalsha_ro"), 1);
    EXPECT_EQ(command_calls(master, "eval"), 0);

    auto refused = run_script(loop, m, writer, {"k"});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::server);
    EXPECT_NE(refused.error().message.find("read-only"), std::string::npos) << refused.error().message;
    EXPECT_EQ(master.cmd({"GET", "k"}), "v");

    // On the replica: the read-only script runs once the data is there; a
    // plain EVAL of a writing script is refused.
    ASSERT_TRUE(loop.run_until([&] { return replica.cmd({"GET", "k"}) == "v"; }, 10s));
    auto on_replica = run_script(loop, r, reader, {"k"});
    ASSERT_TRUE(on_replica) << on_replica.error().to_string();
    EXPECT_EQ(on_replica->str(), "v");
    auto ro_refused = run_script(loop, r, plain_writer, {"k"});
    ASSERT_FALSE(ro_refused);
    EXPECT_EQ(ro_refused.error().code(), "READONLY");
    // A script that declares itself `no-writes` runs on the replica through
    // plain EVALSHA/EVAL (no option needed).
    const Script flagged("#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])");
    for (int i = 0; i < 2; ++i) {  // EVAL fallback, then EVALSHA
      auto f = run_script(loop, r, flagged, {"k"});
      ASSERT_TRUE(f) << f.error().to_string();
      EXPECT_EQ(f->str(), "v");
    }
    close_and_wait(loop, m, r);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Script, FailsWithTheTransportErrorWhenTheServerIsGone) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.reconnect = false;
    Client c(loop.get(), o);
    auto warm = run_script(loop, c, Script("return 1"));
    ASSERT_TRUE(warm);
    server.kill();
    auto r = run_script(loop, c, Script("return 2"));
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is_transport() || r.error().kind == ErrorKind::connect) << r.error().to_string();
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// ------------------------------------------------------------- recipes

TEST(Recipes, CompareAndSwap) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    auto cas = [&](std::optional<std::string_view> expected, std::string_view desired) {
      return await<bool>(loop, [&](auto cb) { recipes::compare_and_swap(c, "cas", expected, desired, std::move(cb)); }, 10s);
    };
    EXPECT_FALSE(*cas("a", "b"));          // missing key is not "a"
    EXPECT_TRUE(*cas(std::nullopt, "a"));  // create only if absent
    EXPECT_FALSE(*cas(std::nullopt, "z"));
    EXPECT_EQ(server.cmd({"GET", "cas"}), "a");
    server.cmd({"PEXPIRE", "cas", "100000"});
    EXPECT_TRUE(*cas("a", "b"));
    EXPECT_EQ(server.cmd({"GET", "cas"}), "b");
    EXPECT_GT(server.cmd_int({"PTTL", "cas"}), 0);  // TTL kept
    EXPECT_FALSE(*cas("a", "c"));
    EXPECT_EQ(server.cmd({"GET", "cas"}), "b");
    // Binary-safe values.
    std::string bin("x\0y", 3);
    EXPECT_TRUE(*cas("b", bin));
    EXPECT_TRUE(*cas(std::string_view(bin), "d"));
    server.cmd({"LPUSH", "list", "x"});
    auto wrong = await<bool>(loop, [&](auto cb) { recipes::compare_and_swap(c, "list", "a", "b", std::move(cb)); }, 10s);
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().kind, ErrorKind::server);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Recipes, IncrementWithLimit) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    auto inc = [&](long long by) {
      return await<recipes::LimitedIncrement>(
          loop, [&](auto cb) { recipes::increment_with_limit(c, "hits", by, 10, std::move(cb)); }, 10s);
    };
    auto a = inc(4);
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->incremented);
    EXPECT_EQ(a->value, 4);
    EXPECT_EQ(inc(6)->value, 10);
    auto over = inc(1);
    ASSERT_TRUE(over);
    EXPECT_FALSE(over->incremented);
    EXPECT_EQ(over->value, 10);
    EXPECT_EQ(server.cmd({"GET", "hits"}), "10");
    server.cmd({"SET", "hits", "1.5"});
    auto bad = inc(1);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), "ERR");

    // Concurrent increments of 1 by 4 clients: exactly the limit goes through.
    server.cmd({"DEL", "hits"});
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<Client>(loop.get(), options_for(server)));
    int done = 0, yes = 0;
    for (int round = 0; round < 10; ++round)
      for (auto& cl : clients)
        recipes::increment_with_limit(*cl, "hits", 1, 25, [&](Result<recipes::LimitedIncrement> r) {
          ASSERT_TRUE(r);
          yes += r->incremented;
          ++done;
        });
    ASSERT_TRUE(loop.run_until([&] { return done == 40; }));
    EXPECT_EQ(yes, 25);
    EXPECT_EQ(server.cmd({"GET", "hits"}), "25");
    int n = 0;
    for (auto& cl : clients) cl->close([&] { ++n; });
    ASSERT_TRUE(loop.run_until([&] { return n == 4; }));
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Recipes, InventoryDeductionReportsInsufficientStockAsAResult) {
  RedisServer server;
  server.cmd({"SET", "stock:sku1", "250"});
  TestLoop loop;
  {
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<Client>(loop.get(), options_for(server)));
    int done = 0, deducted = 0, insufficient = 0, errors = 0;
    for (int i = 0; i < 100; ++i)
      for (auto& cl : clients)
        recipes::deduct_inventory(*cl, "stock:sku1", 1, [&](Result<recipes::Deduction> r) {
          ++done;
          if (!r) {
            ++errors;
            return;
          }
          if (r->deducted) {
            ++deducted;
          } else {
            ++insufficient;
            EXPECT_EQ(r->stock, 0);
          }
        });
    ASSERT_TRUE(loop.run_until([&] { return done == 400; }));
    EXPECT_EQ(errors, 0);
    EXPECT_EQ(deducted, 250);
    EXPECT_EQ(insufficient, 150);
    EXPECT_EQ(server.cmd({"GET", "stock:sku1"}), "0");

    Client& c = *clients[0];
    server.cmd({"SET", "stock:sku2", "3"});
    auto big = await<recipes::Deduction>(loop, [&](auto cb) { recipes::deduct_inventory(c, "stock:sku2", 5, std::move(cb)); }, 10s);
    ASSERT_TRUE(big);
    EXPECT_FALSE(big->deducted);
    EXPECT_EQ(big->stock, 3);
    auto fits = await<recipes::Deduction>(loop, [&](auto cb) { recipes::deduct_inventory(c, "stock:sku2", 3, std::move(cb)); }, 10s);
    ASSERT_TRUE(fits);
    EXPECT_TRUE(fits->deducted);
    EXPECT_EQ(fits->stock, 0);
    auto missing = await<recipes::Deduction>(loop, [&](auto cb) { recipes::deduct_inventory(c, "stock:none", 1, std::move(cb)); }, 10s);
    ASSERT_TRUE(missing);
    EXPECT_FALSE(missing->deducted);
    EXPECT_EQ(server.cmd({"EXISTS", "stock:none"}), "0");
    auto zero = await<recipes::Deduction>(loop, [&](auto cb) { recipes::deduct_inventory(c, "stock:sku2", 0, std::move(cb)); }, 10s);
    ASSERT_FALSE(zero);
    EXPECT_EQ(zero.error().kind, ErrorKind::usage);
    int n = 0;
    for (auto& cl : clients) cl->close([&] { ++n; });
    ASSERT_TRUE(loop.run_until([&] { return n == 4; }));
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Recipes, PointsTransferFailsWithAnErrorOnInsufficientBalance) {
  RedisServer server;
  server.cmd({"SET", "{u}:alice", "100"});
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    auto transfer = [&](std::string_view from, std::string_view to, long long amount) {
      return await<recipes::Transfer>(loop, [&](auto cb) { recipes::transfer_points(c, from, to, amount, std::move(cb)); }, 10s);
    };
    auto t = transfer("{u}:alice", "{u}:bob", 30);
    ASSERT_TRUE(t) << t.error().to_string();
    EXPECT_EQ(t->from_balance, 70);
    EXPECT_EQ(t->to_balance, 30);

    auto no = transfer("{u}:bob", "{u}:alice", 31);
    ASSERT_FALSE(no);
    EXPECT_EQ(no.error().kind, ErrorKind::server);
    EXPECT_EQ(no.error().code(), "INSUFFICIENT");
    EXPECT_EQ(no.error().message, "INSUFFICIENT balance 30 < 31");
    EXPECT_EQ(server.cmd({"GET", "{u}:alice"}), "70");
    EXPECT_EQ(server.cmd({"GET", "{u}:bob"}), "30");

    server.cmd({"SET", "{u}:carol", "not a number"});
    auto bad_target = transfer("{u}:alice", "{u}:carol", 1);
    ASSERT_FALSE(bad_target);
    EXPECT_EQ(bad_target.error().code(), "ERR");
    EXPECT_EQ(server.cmd({"GET", "{u}:alice"}), "70");  // nothing moved

    auto neg = transfer("{u}:alice", "{u}:bob", -5);
    ASSERT_FALSE(neg);
    EXPECT_EQ(neg.error().kind, ErrorKind::usage);

    // Many concurrent transfers back and forth conserve the total.
    int done = 0, refused = 0;
    for (int i = 0; i < 200; ++i) {
      bool forward = i % 3 != 0;
      recipes::transfer_points(c, forward ? "{u}:alice" : "{u}:bob", forward ? "{u}:bob" : "{u}:alice", 7,
                               [&](Result<recipes::Transfer> r) {
                                 if (!r) {
                                   EXPECT_EQ(r.error().code(), "INSUFFICIENT");
                                   ++refused;
                                 }
                                 ++done;
                               });
    }
    ASSERT_TRUE(loop.run_until([&] { return done == 200; }));
    EXPECT_GT(refused, 0);
    EXPECT_EQ(server.cmd_int({"GET", "{u}:alice"}) + server.cmd_int({"GET", "{u}:bob"}), 100);
    EXPECT_GE(server.cmd_int({"GET", "{u}:alice"}), 0);
    EXPECT_GE(server.cmd_int({"GET", "{u}:bob"}), 0);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// ------------------------------------------------------ WATCH (issue 4)

TEST(WatchRace, TwoClientsThousandReadModifyWritesEachEndExactWithRetries) {
  RedisServer server;
  server.cmd({"SET", "balance", "0"});
  TestLoop loop;
  {
    Client a(loop.get(), options_for(server));
    Client b(loop.get(), options_for(server));
    constexpr int kEach = 1000;
    struct Racer {
      Client* client = nullptr;
      int committed = 0;
      int rounds = 0;   // body invocations (first tries + retries)
      int failures = 0;
      std::function<void()> next;
    };
    Racer ra, rb;
    ra.client = &a;
    rb.client = &b;
    for (Racer* r : {&ra, &rb}) {
      r->next = [r] {
        // Every aborted attempt of one racer needs a commit of the other
        // inside its WATCH window, and the windows of one racer do not
        // overlap: kEach + 1 attempts can never run out (with kEach, one
        // round can lose to every one of the other's commits when the two
        // run in lockstep on the shared loop, and then fails).
        uvredis::watch_transaction(
            *r->client, {"balance"}, kEach + 1,
            [r](uvredis::Lease& lease, Transaction& tx, uvredis::detail::Function<void(bool)> go) {
              ++r->rounds;
              lease.get("balance", [&tx, go = std::move(go)](Result<std::optional<std::string>> v) mutable {
                if (!v) return go(false);
                tx.command({"SET", "balance", std::to_string(std::stoll(v->value_or("0")) + 1)});
                go(true);
              });
            },
            [r](Result<Transaction::Outcome> o) {
              if (o && *o == Transaction::Outcome::committed)
                ++r->committed;
              else
                ++r->failures;
              if (r->committed + r->failures < kEach) r->next();
            });
      };
    }
    ra.next();
    rb.next();
    ASSERT_TRUE(loop.run_until([&] { return ra.committed + ra.failures == kEach && rb.committed + rb.failures == kEach; },
                               60s));
    EXPECT_EQ(ra.failures + rb.failures, 0);
    EXPECT_EQ(server.cmd_int({"GET", "balance"}), 2 * kEach);
    const int retries = ra.rounds + rb.rounds - 2 * kEach;
    EXPECT_GT(retries, 0) << "the race never produced a conflict";
    std::printf("WatchRace: %d retries over %d commits\n", retries, 2 * kEach);
    ra.next = nullptr;
    rb.next = nullptr;
    close_and_wait(loop, a, b);
  }
  EXPECT_EQ(loop.close(), 0);
}
