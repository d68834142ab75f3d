// Coroutines (issue 23): every awaitable of coro.hpp against a real server,
// Task (eager, awaited by a task, detached with its completion), the close of
// a client under an awaiting coroutine (resumes once, with closed), the
// Subscriber Inbox (buffering, order, end), and the co_await shapes that GCC
// 12.2 mishandles for temporaries with non-trivial destructors (this suite
// runs in the AddressSanitizer build too).
#include <uvredis/coro.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::co;
using uvredis::ErrorKind;
using uvredis::Message;
using uvredis::Operation;
using uvredis::Reply;
using uvredis::Result;
using uvredis::Task;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::close_and_wait;
using uvredis::test::options_for;
using OptString = std::optional<std::string>;

namespace {

// Runs a detached task to completion: its on_done must run exactly once, on
// a later loop turn (every uvredis operation completes on a later turn).
template <class T, class Check>
void finish(TestLoop& loop, Task<T> task, Check check, std::chrono::milliseconds limit = 20s) {
  int calls = 0;
  std::optional<T> out;
  std::move(task).detach([&](T v) {
    ++calls;
    out.emplace(std::move(v));
  });
  EXPECT_EQ(calls, 0) << "the task finished before it awaited anything";
  ASSERT_TRUE(loop.run_until([&] { return calls > 0; }, limit));
  EXPECT_EQ(calls, 1);
  check(*out);
}

void finish(TestLoop& loop, Task<> task, std::chrono::milliseconds limit = 20s) {
  int calls = 0;
  std::move(task).detach([&] { ++calls; });
  EXPECT_EQ(calls, 0);
  ASSERT_TRUE(loop.run_until([&] { return calls > 0; }, limit));
  EXPECT_EQ(calls, 1);
}

struct Fixture : ::testing::Test {
  RedisServer server;
  TestLoop loop;
  std::unique_ptr<Client> client = std::make_unique<Client>(loop.get(), options_for(server));

  void TearDown() override {
    if (client) close_and_wait(loop, *client);
    client.reset();
    EXPECT_EQ(loop.close(), 0);
  }
};

using Coro = Fixture;

}  // namespace

TEST_F(Coro, TypedCommandsYieldTheCallbacksResult) {
  auto body = [](Client& c) -> Task<> {
    Result<bool> w = co_await co(c).set("coro:a", "1");
    EXPECT_TRUE(w && *w);
    Result<long long> n = co_await co(c).incr("coro:a");
    EXPECT_TRUE(n && *n == 2);
    Result<OptString> v = co_await co(c).get("coro:a");
    EXPECT_TRUE(v && *v == "2");
    Result<OptString> absent = co_await co(c).get("coro:none");
    EXPECT_TRUE(absent && !*absent);  // absent is not an error
    Result<long long> wrong = co_await co(c).lpush("coro:a", "x");  // WRONGTYPE
    EXPECT_FALSE(wrong);
    if (!wrong) {
      EXPECT_EQ(wrong.error().code(), "WRONGTYPE");
    }
    // GCC 12 rejects a braced list inside a co_await expression: start the
    // operation in a statement of its own (it is issued there).
    auto raw = co(c).command({"ECHO", "hi"});
    Result<Reply> echo = co_await raw;
    EXPECT_TRUE(echo && echo->str() == "hi");
    auto del = co(c).del({"coro:a", "coro:none"});
    Result<long long> removed = co_await del;
    EXPECT_TRUE(removed && *removed == 1);
    const std::vector<std::vector<std::string>> group{{"SET", "coro:g", "1"}, {"INCR", "coro:g"}};
    std::vector<Result<Reply>> replies = co_await co(c).command_group(group);
    EXPECT_TRUE(replies.size() == 2 && replies[1] && replies[1]->integer() == 2);
    // A usage error found before sending arrives through the awaitable too.
    Result<std::vector<OptString>> none = co_await co(c).mget(std::vector<std::string>{});
    EXPECT_FALSE(none);
    if (!none) {
      EXPECT_EQ(none.error().kind, ErrorKind::usage);
    }
  };
  finish(loop, body(*client));
}

TEST_F(Coro, OperationsStartedTogetherLeaveInOneWriteAndEachResumesOnce) {
  auto body = [](Client& c) -> Task<long long> {
    EXPECT_TRUE(co_await co(c).ping());  // connected: the handshake's write is behind us
    const auto before = c.stats().writes;
    auto a = co(c).set("coro:x", "10");
    auto b = co(c).incrby("coro:x", 5);
    auto d = co(c).get("coro:x");
    Result<OptString> x = co_await d;  // awaited out of order: a and b are in by now
    EXPECT_TRUE(a.ready());
    EXPECT_TRUE(b.ready());
    Result<bool> ra = co_await a;
    Result<long long> rb = co_await b;
    EXPECT_TRUE(ra && rb && x && *x == "15");
    EXPECT_LE(c.stats().writes - before, 1u);
    co_return *rb;
  };
  finish(loop, body(*client), [](long long v) { EXPECT_EQ(v, 15); });
}

namespace {
Task<std::string> child_value(Client& c, std::string key) {
  auto w = co_await co(c).set(key, "child-" + key);
  if (!w) co_return "error";
  Result<OptString> v = co_await co(c).get(key);
  co_return v && *v ? **v : "missing";
}
Task<std::string> parent(Client& c) {
  std::string a = co_await child_value(c, "coro:c1");
  Task<std::string> later = child_value(c, "coro:c2");  // eager: already running
  std::string b = co_await later;
  co_return a + "|" + b;
}
Task<int> no_suspension() { co_return 7; }
}  // namespace

TEST_F(Coro, TaskAwaitsTaskAndDetachedTaskReportsOnce) {
  finish(loop, parent(*client), [](const std::string& s) { EXPECT_EQ(s, "child-coro:c1|child-coro:c2"); });
  // A task that never suspends is done before detach(): on_done runs there.
  int calls = 0;
  no_suspension().detach([&](int v) {
    ++calls;
    EXPECT_EQ(v, 7);
  });
  EXPECT_EQ(calls, 1);
  // Dropping a running Task detaches it: it still finishes (the counter) and
  // frees its frame (the ASan build checks for leaks).
  int finished = 0;
  auto dropped = [](Client& c, int& f) -> Task<> {
    auto r = co_await co(c).ping();
    EXPECT_TRUE(r);
    ++f;
  };
  { Task<> t = dropped(*client, finished); }
  ASSERT_TRUE(loop.run_until([&] { return finished == 1; }));
  // A finished Task awaited later, and a task awaited as a temporary.
  auto outer = [](Client& c) -> Task<int> {
    Task<int> done_already = no_suspension();
    EXPECT_TRUE(done_already.done());
    int a = co_await done_already;
    std::string s = co_await child_value(c, "coro:c3");
    co_return a + static_cast<int>(s.size());
  };
  finish(loop, outer(*client), [](int v) { EXPECT_EQ(v, 7 + 13); });
}

TEST_F(Coro, CloseUnderAnAwaitingCoroutineResumesItOnceWithClosed) {
  int resumed = 0;
  std::optional<Result<Reply>> got;
  auto waiter = [](Client& c, int& n, std::optional<Result<Reply>>& out) -> Task<> {
    // Blocks on the server for ever; only the close ends it.
    uvredis::CommandOptions no_timeout{0ms};
    auto op = co(c).command({"BLPOP", "coro:never", "0"}, no_timeout);
    out.emplace(co_await op);
    ++n;
  };
  int done = 0;
  waiter(*client, resumed, got).detach([&] { ++done; });
  loop.run_for(50ms);  // the BLPOP is on the server
  EXPECT_EQ(resumed, 0);
  close_and_wait(loop, *client);
  ASSERT_TRUE(loop.run_until([&] { return done == 1; }));
  EXPECT_EQ(resumed, 1);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().kind, ErrorKind::closed) << got->error().to_string();
  // Issued on a closed client: closed too, on a later turn.
  auto after = [](Client& c) -> Task<Result<OptString>> { co_return co_await co(c).get("k"); };
  finish(loop, after(*client), [](const Result<OptString>& r) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::closed);
  });
  loop.run_for(20ms);
  EXPECT_EQ(resumed, 1);
}

TEST_F(Coro, DestroyedClientResumesTheAwaitingCoroutineWithClosed) {
  std::optional<Result<Reply>> got;
  auto waiter = [](Client& c, std::optional<Result<Reply>>& out) -> Task<> {
    auto op = co(c).command({"BLPOP", "coro:never", "0"}, uvredis::CommandOptions{0ms});
    out.emplace(co_await op);
  };
  int done = 0;
  waiter(*client, got).detach([&] { ++done; });
  loop.run_for(50ms);
  client.reset();
  ASSERT_TRUE(loop.run_until([&] { return done == 1; }));
  ASSERT_TRUE(got && !*got);
  EXPECT_EQ(got->error().kind, ErrorKind::closed);
}

TEST_F(Coro, PipelineTransactionAndWatchRounds) {
  auto pipeline_part = [](Client& c) -> Task<> {
    uvredis::Pipeline pipe(c);
    pipe.set("coro:p", "41");
    uvredis::Handle<long long> incr = pipe.incr("coro:p");
    uvredis::Handle<long long> bad = pipe.lpush("coro:p", "x");
    uvredis::ExecSummary s = co_await co(pipe).exec();
    EXPECT_EQ(s.commands, 3u);
    EXPECT_EQ(s.failed, 1u);
    EXPECT_TRUE(incr.ok() && *incr.result() == 42);
    EXPECT_FALSE(bad.ok());

    uvredis::Transaction tx(c);
    uvredis::Handle<long long> t1 = tx.incr("coro:p");
    auto outcome = co_await co(tx).exec();
    EXPECT_TRUE(outcome && *outcome == uvredis::Transaction::Outcome::committed);
    EXPECT_TRUE(t1.ok() && *t1.result() == 43);
  };
  finish(loop, pipeline_part(*client));

  // WATCH rounds with a coroutine body; a rival write during the first round
  // makes it run again.
  auto transfer = [](Client& c, Client& rival, int& rounds) -> Task<Result<uvredis::Transaction::Outcome>> {
    auto init = co(c).mset({{"coro:alice", "100"}, {"coro:bob", "0"}});
    EXPECT_TRUE(co_await init);
    auto op = co(c).watch_transaction(
        {"coro:alice", "coro:bob"}, 5,
        [&rounds, &rival](uvredis::Lease& lease, uvredis::Transaction& tx) -> Task<bool> {
          ++rounds;
          Result<OptString> a = co_await co(lease).get("coro:alice");
          if (rounds == 1) {
            EXPECT_TRUE(co_await co(rival).set("coro:alice", "90"));  // lose the race once
          }
          const long long alice = a && *a ? std::stoll(**a) : 0;
          if (alice < 30) co_return false;
          tx.decrby("coro:alice", 30);
          tx.incrby("coro:bob", 30);
          co_return true;
        });
    co_return co_await op;
  };
  Client rival(loop.get(), options_for(server));
  int rounds = 0;
  finish(loop, transfer(*client, rival, rounds), [&](const Result<uvredis::Transaction::Outcome>& r) {
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(*r, uvredis::Transaction::Outcome::committed);
  });
  EXPECT_EQ(rounds, 2);
  auto check = [](Client& c) -> Task<Result<OptString>> { co_return co_await co(c).get("coro:alice"); };
  finish(loop, check(*client), [](const Result<OptString>& r) { EXPECT_TRUE(r && *r == "60"); });
  close_and_wait(loop, rival);
}

TEST_F(Coro, ScriptLocksAndLimiters) {
  auto body = [](Client& c) -> Task<> {
    uvredis::Script script("return tonumber(ARGV[1]) + 1");
    auto raw = co(script).run(c, {}, {"41"});
    Result<Reply> r = co_await raw;
    EXPECT_TRUE(r && r->integer() == 42);
    auto typed = co(script).run<long long>(c, {}, {"1"}, &uvredis::decode::integer);
    Result<long long> t = co_await typed;
    EXPECT_TRUE(t && *t == 2);

    uvredis::Locker locker(c);
    Result<std::optional<uvredis::Lock>> got = co_await co(locker).obtain("coro:lock", 5s, 0ms);
    EXPECT_TRUE(got && *got);
    if (!got || !*got) co_return;
    uvredis::Lock& lock = **got;
    Result<std::optional<uvredis::Lock>> held = co_await co(locker).obtain("coro:lock", 5s, 50ms);
    EXPECT_TRUE(held && !*held);  // still ours: not obtained, not an error
    EXPECT_TRUE(co_await co(lock).refresh(8s));
    Result<std::chrono::milliseconds> ttl = co_await co(lock).ttl();
    EXPECT_TRUE(ttl && *ttl > 5s && *ttl <= 8s);
    Result<bool> released = co_await co(lock).release();
    EXPECT_TRUE(released && *released);
    Result<bool> again = co_await co(lock).release();
    EXPECT_TRUE(again && !*again);

    uvredis::RateLimiter limiter(c);
    const auto limit = uvredis::RateLimit::per_minute(2);
    Result<uvredis::RateResult> one = co_await co(limiter).allow("coro:rl", limit);
    EXPECT_TRUE(one && one->allowed == 1);
    Result<uvredis::RateResult> two = co_await co(limiter).allow_at_most("coro:rl", limit, 5);
    EXPECT_TRUE(two && two->allowed == 1);
    Result<uvredis::RateResult> three = co_await co(limiter).allow_n("coro:rl", limit, 1);
    EXPECT_TRUE(three && three->allowed == 0);
    EXPECT_TRUE(co_await co(limiter).reset("coro:rl"));
    Result<bool> shorthand = co_await co(limiter).rate_limit("coro:rl2", 1min, 1);
    EXPECT_TRUE(shorthand && *shorthand);

    uvredis::FixedWindowLimiter fixed(c);
    uvredis::SlidingWindowLimiter sliding(c);
    Result<uvredis::WindowResult> f1 = co_await co(fixed).allow("coro:fw", 1, 1min);
    Result<uvredis::WindowResult> f2 = co_await co(fixed).allow("coro:fw", 1, 1min);
    EXPECT_TRUE(f1 && f1->allowed && f2 && !f2->allowed);
    Result<uvredis::WindowResult> s1 = co_await co(sliding).allow("coro:sw", 1, 1min);
    EXPECT_TRUE(s1 && s1->allowed);

    // Any other callback API through the generic adapter.
    auto pttl = uvredis::awaitable<Result<uvredis::Ttl>>([&](auto cb) { c.pttl("fw:coro:fw", std::move(cb)); });
    Result<uvredis::Ttl> left = co_await pttl;
    EXPECT_TRUE(left && left->expires());
  };
  finish(loop, body(*client));
}

TEST_F(Coro, CacheSingleFlightKvStoreAndSessions) {
  int loads = 0;
  uvredis::Cache cache(*client);
  // The loader is a coroutine too: it reads a "database" (here: Redis).
  auto loader = uvredis::co_loader([&loads, &c = *client](const std::string& key) -> Task<Result<OptString>> {
    ++loads;
    Result<OptString> row = co_await co(c).get("db:" + key);
    if (!row) co_return row.error();
    co_return OptString(row->value_or("none") + " for " + key);
  });
  auto reader = [](uvredis::Cache& cache, uvredis::Cache::Loader load) -> Task<Result<OptString>> {
    co_return co_await co(cache).get_or_load("user:1", 1min, std::move(load));
  };
  auto seed = [](Client& c, uvredis::Cache& cache) -> Task<> {
    EXPECT_TRUE(co_await co(c).set("db:user:1", "row"));
    EXPECT_TRUE(co_await co(cache).invalidate("user:1"));
  };
  finish(loop, seed(*client, cache));
  int answers = 0;
  for (int i = 0; i < 3; ++i)
    reader(cache, loader).detach([&](Result<OptString> r) {
      ++answers;
      EXPECT_TRUE(r && *r == "row for user:1");
    });
  ASSERT_TRUE(loop.run_until([&] { return answers == 3; }));
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(cache.loads(), 1u);

  auto stores = [](Client& c, uvredis::Cache& cache) -> Task<> {
    EXPECT_TRUE(co_await co(cache).put("user:2", "cached", 1min));
    Result<OptString> hit = co_await co(cache).get_or_load("user:2", 1min, [](const std::string&, auto done) {
      done(uvredis::Error{ErrorKind::usage, "must not load"});
    });
    EXPECT_TRUE(hit && *hit == "cached");

    uvredis::KvStore<uvredis::RawCodec> kv(c, "coro:kv:");
    EXPECT_TRUE(co_await co(kv).set<std::string>("a", "1"));
    std::vector<std::pair<std::string, std::string>> items{{"b", "2"}, {"c", "3"}};
    EXPECT_TRUE(co_await co(kv).batch_set(items));
    Result<OptString> a = co_await co(kv).get<std::string>("a");
    EXPECT_TRUE(a && *a == "1");
    Result<std::vector<OptString>> many = co_await co(kv).batch_get<std::string>(std::vector<std::string>(1, "b"));
    EXPECT_TRUE(many && many->size() == 1 && (*many)[0] == "2");
    Result<std::vector<std::string>> listed = co_await co(kv).list("");
    EXPECT_TRUE(listed && listed->size() == 3);
    Result<bool> removed = co_await co(kv).remove("a");
    EXPECT_TRUE(removed && *removed);
    std::vector<std::string> both{"b", "c"};
    Result<std::size_t> gone = co_await co(kv).batch_remove(std::move(both));
    EXPECT_TRUE(gone && *gone == 2);
    EXPECT_TRUE(co_await co(kv).health(2s));

    uvredis::SessionStore sessions(c);
    uvredis::SessionData data{{"user", "7"}};
    Result<std::string> id = co_await co(sessions).create(data);
    EXPECT_TRUE(id && id->size() == 32);
    if (!id) co_return;
    EXPECT_TRUE(co_await co(sessions).set_field(*id, "room", "lobby"));
    Result<bool> extended = co_await co(sessions).extend(*id);
    EXPECT_TRUE(extended && *extended);
    Result<std::optional<uvredis::SessionData>> s = co_await co(sessions).get(*id);
    EXPECT_TRUE(s && *s && (**s)["room"] == "lobby" && (**s)["user"] == "7");
    Result<bool> dropped = co_await co(sessions).remove(*id);
    EXPECT_TRUE(dropped && *dropped);
  };
  finish(loop, stores(*client, cache));
}

TEST_F(Coro, InboxBuffersMessagesInOrderAndEndsWithClosed) {
  uvredis::Subscriber sub(loop.get(), options_for(server));
  uvredis::Inbox inbox(sub, 2);  // a small buffer: the third message is dropped
  int states = 0;
  inbox.on_state_change([&](uvredis::ConnectionState, const uvredis::Error*) { ++states; });
  auto reader = [](Client& c, uvredis::Inbox& in) -> Task<std::vector<std::string>> {
    std::vector<std::string> seen;
    auto subscribed = in.subscribe(std::vector<std::string>(1, "coro:ch"));
    EXPECT_TRUE(co_await subscribed);
    // Published while nobody awaits next(): buffered (up to 2).
    // (A braced list in a coroutine must not live across a co_await on GCC 12.)
    const std::vector<std::string> payloads{"one", "two", "three"};
    for (const std::string& p : payloads) EXPECT_TRUE(co_await co(c).publish("coro:ch", p));
    EXPECT_TRUE(co_await co(c).ping());
    for (;;) {
      Result<Message> m = co_await in.next();
      if (!m) {
        seen.push_back("end:" + std::string(uvredis::to_string(m.error().kind)));
        break;
      }
      seen.push_back(m->payload);
      if (seen.size() == 2) {
        EXPECT_TRUE(co_await co(c).publish("coro:ch", "four"));  // next() awaited then: handed over directly
      }
      if (seen.size() == 3) in.close();
    }
    Result<Message> after = co_await in.next();  // the end repeats
    EXPECT_FALSE(after);
    co_return seen;
  };
  finish(loop, reader(*client, inbox), [](const std::vector<std::string>& seen) {
    EXPECT_EQ(seen, (std::vector<std::string>{"one", "two", "four", "end:closed"}));
  });
  EXPECT_EQ(inbox.dropped(), 1u);
  EXPECT_GE(states, 1);

  // A reader waiting when the subscriber closes resumes once, with closed.
  uvredis::Inbox second(sub);
  auto waiting = [](uvredis::Inbox& in) -> Task<Result<Message>> {
    auto s = in.subscribe(std::vector<std::string>(1, "coro:other"));
    EXPECT_TRUE(co_await s);
    co_return co_await in.next();
  };
  int calls = 0;
  std::optional<Result<Message>> last;
  waiting(second).detach([&](Result<Message> m) {
    ++calls;
    last.emplace(std::move(m));
  });
  loop.run_for(50ms);
  EXPECT_EQ(calls, 0);
  close_and_wait(loop, sub);
  ASSERT_TRUE(loop.run_until([&] { return calls == 1; }));
  ASSERT_TRUE(last && !*last);
  EXPECT_EQ(last->error().kind, ErrorKind::closed);
}

// The shapes of co_await that GCC 12.2 gets wrong for temporaries with
// non-trivial destructors: in conditions, arguments, two in one expression,
// a ternary, results holding heap strings. ASan reports a double free or a
// leak if an awaitable or a Task is destroyed twice or never.
TEST_F(Coro, CoAwaitShapesThatGcc12MishandlesStaySound) {
  auto shapes = [](Client& c) -> Task<std::string> {
    const std::string big(200, 'v');  // heap-allocated strings in every result
    EXPECT_TRUE(co_await co(c).set("coro:big", big));
    if (Result<OptString> v = co_await co(c).get("coro:big"); v && *v) {
      EXPECT_EQ(**v, big);
    }
    std::string both = (co_await co(c).get("coro:big"))->value_or("") + (co_await co(c).get("coro:big"))->value_or("");
    EXPECT_EQ(both.size(), 400u);
    auto size_of = [](const Result<OptString>& r) { return r && *r ? (*r)->size() : 0; };
    EXPECT_EQ(size_of(co_await co(c).get("coro:big")), 200u);
    const bool flag = both.size() == 400;
    Result<OptString> t = flag ? co_await co(c).get("coro:big") : co_await co(c).get("coro:none");
    EXPECT_TRUE(t && *t);
    std::string s = co_await child_value(c, "coro:shape");
    while ((co_await co(c).incr("coro:loop")).value_or(100) < 3) {
    }
    co_return s + "/" + std::to_string(both.size());
  };
  finish(loop, shapes(*client), [](const std::string& s) { EXPECT_EQ(s, "child-coro:shape/400"); });
  // An Operation whose result is in but is never awaited frees it.
  auto unawaited = [](Client& c) -> Task<> {
    auto op = co(c).get("coro:big");
    co_await co(c).next_turn();
    while (!op.ready()) co_await co(c).next_turn();
  };
  finish(loop, unawaited(*client));
}

TEST(CoroDeath, AnExceptionEscapingATaskEndsTheProgramWithAMessage) {
  auto thrower = []() -> Task<> {
    throw std::runtime_error("boom in a task");
    co_return;
  };
  EXPECT_DEATH({ thrower().detach(); }, "uvredis: an exception escaped a coroutine task: boom in a task");
}

TEST(CoroDeath, DestroyingAPendingOperationAbortsWithAMessage) {
  EXPECT_DEATH(
      {
        TestLoop loop;
        auto opts = uvredis::ClientOptions::from_url("redis://127.0.0.1:1");  // nothing listens: fails later
        Client c(loop.get(), *opts);
        { auto op = co(c).ping(); }
      },
      "an Operation was destroyed before its result arrived");
}

TEST_F(Coro, InboxReaderResumesOnceWhenTheSubscriberIsDestroyed) {
  auto sub = std::make_unique<uvredis::Subscriber>(loop.get(), options_for(server));
  uvredis::Inbox inbox(*sub);
  auto waiting = [](uvredis::Inbox& in) -> Task<Result<Message>> {
    auto s = in.subscribe(std::vector<std::string>(1, "coro:gone"));
    EXPECT_TRUE(co_await s);
    co_return co_await in.next();
  };
  int calls = 0;
  std::optional<Result<Message>> last;
  waiting(inbox).detach([&](Result<Message> m) {
    ++calls;
    last.emplace(std::move(m));
  });
  loop.run_for(50ms);
  EXPECT_EQ(calls, 0);
  sub.reset();
  ASSERT_TRUE(loop.run_until([&] { return calls == 1; }, 5s));
  ASSERT_TRUE(last && !*last);
  EXPECT_EQ(last->error().kind, ErrorKind::closed);
  loop.run_for(20ms);
  EXPECT_EQ(calls, 1);
}
