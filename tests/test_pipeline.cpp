// Pipelines, transactions and WATCH against a real redis-server.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ErrorKind;
using uvredis::ExecSummary;
using uvredis::Handle;
using uvredis::Pipeline;
using uvredis::Reply;
using uvredis::Result;
using uvredis::Transaction;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::options_for;
using uvredis::test::close_and_wait;

namespace {

}  // namespace

TEST(Pipeline, TenThousandMixedCommandsMatchOneByOne) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    // One by one first, recording the results.
    const int n = 10000;
    std::vector<std::string> one_by_one(n);
    auto argv_for = [](int i) -> std::vector<std::string> {
      std::string k = "k" + std::to_string(i % 97);
      switch (i % 4) {
        case 0: return {"INCR", k};
        case 1: return {"GET", k};
        case 2: return {"APPEND", "s" + std::to_string(i % 13), "x"};
        default: return {"LPUSH", k, "v"};  // WRONGTYPE on string keys
      }
    };
    int done = 0;
    for (int i = 0; i < n; ++i) {
      auto a = argv_for(i);
      c.command(std::span<const std::string>(a), [&, i](Result<Reply> r) {
        one_by_one[static_cast<std::size_t>(i)] = r ? r->to_string() : "ERR:" + std::string(r.error().code());
        ++done;
      });
    }
    ASSERT_TRUE(loop.run_until([&] { return done == n; }, 30s));
    bool flushed = false;
    c.command({"FLUSHDB"}, [&](Result<Reply> r) {
      EXPECT_TRUE(r);
      flushed = true;
    });
    ASSERT_TRUE(loop.run_until([&] { return flushed; }));

    Pipeline p(c);
    std::vector<Handle<Reply>> handles;
    for (int i = 0; i < n; ++i) {
      auto a = argv_for(i);
      std::vector<std::string_view> v(a.begin(), a.end());
      handles.push_back(p.command(v));
    }
    EXPECT_EQ(p.size(), static_cast<std::size_t>(n));
    std::optional<ExecSummary> summary;
    int calls = 0;
    p.exec([&](ExecSummary s) {
      ++calls;
      summary = s;
      for (auto& h : handles) EXPECT_TRUE(h.ready());
    });
    ASSERT_TRUE(loop.run_until([&] { return calls == 1; }, 30s));
    EXPECT_EQ(summary->commands, static_cast<std::size_t>(n));
    std::size_t failed = 0;
    for (int i = 0; i < n; ++i) {
      const auto& r = handles[static_cast<std::size_t>(i)].result();
      if (!r) ++failed;
      std::string got = r ? r->to_string() : "ERR:" + std::string(r.error().code());
      ASSERT_EQ(got, one_by_one[static_cast<std::size_t>(i)]) << "command " << i;
    }
    EXPECT_EQ(summary->failed, failed);
    EXPECT_GT(failed, 0u);  // the WRONGTYPE ones failed alone
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Pipeline, TypedHelpersReturnHandlesAndEmptyPipelineCallsBackLater) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Pipeline empty(c);
    bool called = false;
    empty.exec([&](ExecSummary s) {
      EXPECT_EQ(s.commands, 0u);
      called = true;
    });
    EXPECT_FALSE(called);
    ASSERT_TRUE(loop.run_until([&] { return called; }));

    Pipeline p(c);
    p.command({"SET", "a", "1"});
    auto g = p.get("a");
    auto missing = p.get("nope");
    int per_command = 0;
    p.get("a", [&](Result<std::optional<std::string>> r) {
      ASSERT_TRUE(r);
      EXPECT_EQ(**r, "1");
      ++per_command;
    });
    bool done = false;
    p.exec([&](ExecSummary s) {
      EXPECT_EQ(s.failed, 0u);
      done = true;
    });
    ASSERT_TRUE(loop.run_until([&] { return done; }));
    EXPECT_EQ(per_command, 1);
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(*g.result().value(), "1");
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing.result().value().has_value());
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Pipeline, DroppedConnectionFailsEveryHandle) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.reconnect = false;
    Client c(loop.get(), o);
    bool ready = false;
    c.command({"PING"}, [&](Result<Reply>) { ready = true; });
    ASSERT_TRUE(loop.run_until([&] { return ready; }));
    server.kill();
    Pipeline p(c);
    std::vector<Handle<Reply>> hs;
    for (int i = 0; i < 100; ++i) hs.push_back(p.command({"INCR", "x"}));
    bool done = false;
    p.exec([&](ExecSummary s) {
      EXPECT_EQ(s.failed, 100u);
      done = true;
    });
    ASSERT_TRUE(loop.run_until([&] { return done; }));
    for (auto& h : hs) {
      ASSERT_TRUE(h.ready());
      ASSERT_FALSE(h.result());
      EXPECT_TRUE(h.result().error().is_transport()) << h.result().error().to_string();
    }
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Transaction, CommitsAndMapsResults) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Transaction tx(c);
    tx.command({"SET", "bal", "10"});
    auto inc = tx.command({"INCRBY", "bal", "5"});
    auto got = tx.get("bal");
    auto wrong = tx.command({"LPUSH", "bal", "x"});  // runtime error inside EXEC: only this one fails
    std::optional<Result<Transaction::Outcome>> out;
    tx.exec([&](Result<Transaction::Outcome> o) { out.emplace(std::move(o)); });
    ASSERT_TRUE(loop.run_until([&] { return out.has_value(); }));
    ASSERT_TRUE(*out);
    EXPECT_EQ(**out, Transaction::Outcome::committed);
    EXPECT_EQ(inc.result()->integer(), 15);
    EXPECT_EQ(*got.result().value(), "15");
    ASSERT_FALSE(wrong.result());
    EXPECT_EQ(wrong.result().error().code(), "WRONGTYPE");
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Transaction, QueueingErrorIsExecAbort) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Transaction tx(c);
    auto ok = tx.command({"SET", "t", "1"});
    auto bad = tx.command({"SET"});  // wrong number of arguments: refused while queueing
    std::optional<Result<Transaction::Outcome>> out;
    tx.exec([&](Result<Transaction::Outcome> o) { out.emplace(std::move(o)); });
    ASSERT_TRUE(loop.run_until([&] { return out.has_value(); }));
    ASSERT_TRUE(*out);
    EXPECT_EQ(**out, Transaction::Outcome::rejected);
    ASSERT_FALSE(ok.result());
    EXPECT_EQ(ok.result().error().code(), "EXECABORT");
    ASSERT_FALSE(bad.result());
    EXPECT_EQ(bad.result().error().code(), "ERR");
    EXPECT_EQ(server.cmd({"EXISTS", "t"}), "0");
    // The shared connection is not left inside MULTI.
    bool pinged = false;
    c.command({"PING"}, [&](Result<Reply> r) {
      ASSERT_TRUE(r);
      EXPECT_EQ(r->str(), "PONG");
      pinged = true;
    });
    ASSERT_TRUE(loop.run_until([&] { return pinged; }));
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Transaction, OtherCommandsNeverInterleave) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    int plain = 0;
    std::vector<std::unique_ptr<Transaction>> txs;
    int committed = 0;
    for (int i = 0; i < 200; ++i) {
      c.command({"INCR", "plain"}, [&](Result<Reply> r) {
        EXPECT_TRUE(r);
        EXPECT_TRUE(r->is_integer());  // never "QUEUED"
        ++plain;
      });
      auto tx = std::make_unique<Transaction>(c);
      tx->command({"INCR", "a"});
      tx->command({"INCR", "b"});
      tx->exec([&](Result<Transaction::Outcome> o) {
        ASSERT_TRUE(o);
        if (*o == Transaction::Outcome::committed) ++committed;
      });
      txs.push_back(std::move(tx));
    }
    ASSERT_TRUE(loop.run_until([&] { return plain == 200 && committed == 200; }));
    EXPECT_EQ(server.cmd_int({"GET", "a"}), 200);
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Transaction, WatchAbortIsToldApartAndRetryWins) {
  RedisServer server;
  server.cmd({"SET", "balance", "0"});
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    Client other(loop.get(), options_for(server));
    int rounds = 0;
    std::optional<Result<Transaction::Outcome>> out;
    uvredis::watch_transaction(
        c, {"balance"}, 5,
        [&](uvredis::Lease& lease, Transaction& tx, uvredis::detail::Function<void(bool)> go) {
          ++rounds;
          lease.get("balance", [&, &tx = tx, go = std::move(go)](Result<std::optional<std::string>> r) mutable {
            ASSERT_TRUE(r);
            long long bal = std::stoll(r->value_or("0"));
            auto write = [&tx, bal, go = std::move(go)]() mutable {
              tx.command({"SET", "balance", std::to_string(bal + 100)});
              go(true);
            };
            if (rounds == 1) {
              // Someone else changes the key between our read and EXEC.
              other.command({"INCRBY", "balance", "7"}, [write = std::move(write)](Result<Reply> w) mutable {
                EXPECT_TRUE(w);
                write();
              });
            } else {
              write();
            }
          });
        },
        [&](Result<Transaction::Outcome> o) { out.emplace(std::move(o)); });
    ASSERT_TRUE(loop.run_until([&] { return out.has_value(); }));
    ASSERT_TRUE(*out) << out->error().to_string();
    EXPECT_EQ(**out, Transaction::Outcome::committed);
    EXPECT_EQ(rounds, 2);
    EXPECT_EQ(server.cmd_int({"GET", "balance"}), 107);

    // A plain Transaction on a Lease sees the abort as such (no retry).
    auto lease = c.lease();
    bool watched = false;
    lease->command({"WATCH", "balance"}, [&](Result<Reply> r) {
      EXPECT_TRUE(r) << r.error().to_string();
      watched = true;
    });
    ASSERT_TRUE(loop.run_until([&] { return watched; }));
    server.cmd({"SET", "balance", "1"});
    Transaction tx(*lease);
    auto h = tx.command({"SET", "balance", "2"});
    std::optional<Result<Transaction::Outcome>> o2;
    tx.exec([&](Result<Transaction::Outcome> o) { o2.emplace(std::move(o)); });
    ASSERT_TRUE(loop.run_until([&] { return o2.has_value(); }));
    ASSERT_TRUE(*o2);
    EXPECT_EQ(**o2, Transaction::Outcome::aborted);
    EXPECT_FALSE(h.result());
    EXPECT_EQ(server.cmd({"GET", "balance"}), "1");
    lease.reset();
    close_and_wait(loop, c, other);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Transaction, WatchIsRefusedOnTheSharedConnection) {
  RedisServer server;
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    bool done = false;
    c.command({"WATCH", "k"}, [&](Result<Reply> r) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().kind, ErrorKind::usage);
      done = true;
    });
    ASSERT_TRUE(loop.run_until([&] { return done; }));
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A lease given back mid-transaction (WATCH set, MULTI open) is cleaned up
// with DISCARD and UNWATCH before the next borrower gets the connection, and
// DISCARD sent by hand drops what was queued.
TEST(Transaction, AbandonedLeaseIsDiscardedUnwatchedAndReused) {
  RedisServer server;
  server.cmd({"SET", "k", "0"});
  TestLoop loop;
  {
    Client c(loop.get(), options_for(server));
    ASSERT_TRUE(uvredis::test::run_one(loop, c, {"PING"}));
    {
      auto lease = c.lease();
      ASSERT_TRUE(uvredis::test::run_one(loop, *lease, {"WATCH", "k"}));
      ASSERT_TRUE(uvredis::test::run_one(loop, *lease, {"MULTI"}));
      auto queued = uvredis::test::run_one(loop, *lease, {"SET", "k", "from-abandoned"});
      ASSERT_TRUE(queued);
      EXPECT_EQ(queued->str(), "QUEUED");
    }  // abandoned: no EXEC
    server.cmd({"SET", "k", "changed"});  // would abort a transaction still watching k
    auto lease = c.lease();  // the same connection, clean again
    Transaction tx(*lease);
    auto h = tx.command({"SET", "k", "committed"});
    auto out = uvredis::test::await<Transaction::Outcome>(loop, [&](auto cb) { tx.exec(cb); });
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(*out, Transaction::Outcome::committed) << "the next borrower must not inherit WATCH or MULTI";
    EXPECT_TRUE(h.ok());
    EXPECT_EQ(server.cmd({"GET", "k"}), "committed");
    // Only the main connection and one lease connection were ever opened.
    const std::string list = server.cmd({"CLIENT", "LIST"});
    std::size_t conns = 0;
    for (auto at = list.find("id="); at != std::string::npos; at = list.find("id=", at + 1)) ++conns;
    EXPECT_EQ(conns, 3u) << list;  // + the harness' own

    // DISCARD by hand.
    ASSERT_TRUE(uvredis::test::run_one(loop, *lease, {"MULTI"}));
    ASSERT_TRUE(uvredis::test::run_one(loop, *lease, {"SET", "k", "discarded"}));
    auto d = uvredis::test::run_one(loop, *lease, {"DISCARD"});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->str(), "OK");
    EXPECT_EQ(server.cmd({"GET", "k"}), "committed");
    lease.reset();
    close_and_wait(loop, c, 10s);
  }
  EXPECT_EQ(loop.close(), 0);
}
