// ConsumerGroup against real redis-servers: sharing a group, claiming from a
// worker that died, dead-lettering, stop(), and surviving CLIENT KILL and a
// server restart.
#include "support/await.hpp"
#include "support/cluster_helpers.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <uvredis/uvredis.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

namespace {

// Adds `n` entries ("n" => 1..n offset by `first`) in one server-side loop.
void fill(RedisServer& s, const std::string& stream, int n, int first = 0) {
  s.cmd({"EVAL",
         "for i = 1, tonumber(ARGV[1]) do redis.call('XADD', KEYS[1], '*', 'n', tostring(i + tonumber(ARGV[2]))) end",
         "1", stream, std::to_string(n), std::to_string(first)});
}

long long pending_count(RedisServer& s, const std::string& stream, const std::string& group) {
  const std::string out = s.cmd({"XPENDING", stream, group});
  return std::stoll(out.substr(0, out.find('\n')));
}

ConsumerGroupOptions options(std::string consumer) {
  ConsumerGroupOptions o;
  o.stream = "jobs";
  o.group = "g";
  o.consumer = std::move(consumer);
  o.block = 200ms;
  return o;
}

// What the handlers saw: per entry id, how many times it was handled.
struct Tally {
  std::map<std::string, int> seen;
  std::size_t handled = 0;
  void add(const StreamEntry& e) {
    ++seen[e.id];
    ++handled;
  }
  int max_times() const {
    int m = 0;
    for (const auto& [id, n] : seen) m = std::max(m, n);
    return m;
  }
};

void stop_worker(TestLoop& loop, ConsumerGroup& w) {
  int calls = 0;
  w.stop([&] { ++calls; });
  EXPECT_EQ(calls, 0) << "stop called back inside the call";
  EXPECT_TRUE(loop.run_until([&] { return calls > 0; }, 10s));
  loop.run_for(5ms);
  EXPECT_EQ(calls, 1);
}

class ConsumerGroupTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { server_->cmd({"FLUSHALL"}); }

  // Stops a worker and checks its callback runs exactly once.
  void stop(ConsumerGroup& w) { stop_worker(loop_, w); }

  static RedisServer* server_;
  TestLoop loop_;
};

RedisServer* ConsumerGroupTest::server_ = nullptr;

TEST_F(ConsumerGroupTest, ThreeWorkersHandleEveryEntryExactlyOnce) {
  constexpr int kTotal = 10000;
  fill(*server_, "jobs", kTotal / 2);
  Client client(loop_.get(), options_for(*server_));
  Tally tally;
  std::vector<std::unique_ptr<ConsumerGroup>> workers;
  std::vector<std::size_t> per_worker(3, 0);
  std::size_t errors = 0;
  for (int i = 0; i < 3; ++i) {
    auto o = options("w" + std::to_string(i));
    o.batch = 50;
    o.max_in_flight = 100;
    o.claim_idle = 20s;  // nothing is slow here: nothing may be claimed
    workers.push_back(std::make_unique<ConsumerGroup>(client, o, [&, i](StreamEntry e, EntryDone done) {
      tally.add(e);
      ++per_worker[static_cast<std::size_t>(i)];
      EXPECT_EQ(e.fields.size(), 1u);
      // Half are done at once, half on a later loop turn.
      if (tally.handled % 2) {
        done(true);
      } else {
        client.post([d = std::move(done)]() mutable { d(true); });
      }
    }));
    workers.back()->on_error([&](const Error& e) {
      ++errors;
      ADD_FAILURE() << e.to_string();
    });
  }
  // The second half arrives while they run (blocked reads pick it up).
  ASSERT_TRUE(loop_.run_until([&] { return tally.handled >= 1000; }, 30s));
  fill(*server_, "jobs", kTotal / 2, kTotal / 2);
  auto acked = [&] {
    std::uint64_t n = 0;
    for (auto& w : workers) n += w->stats().acked;
    return n;
  };
  ASSERT_TRUE(loop_.run_until([&] { return acked() >= kTotal; }, 60s)) << tally.handled << " handled";
  for (auto& w : workers) stop(*w);
  EXPECT_EQ(tally.seen.size(), static_cast<std::size_t>(kTotal));
  EXPECT_EQ(tally.handled, static_cast<std::size_t>(kTotal));
  EXPECT_EQ(tally.max_times(), 1);
  EXPECT_EQ(acked(), static_cast<std::uint64_t>(kTotal));
  for (std::size_t i = 0; i < 3; ++i) EXPECT_GT(per_worker[i], 0u) << "worker " << i << " got nothing";
  for (auto& w : workers) {
    EXPECT_EQ(w->stats().claimed, 0u);
    EXPECT_EQ(w->in_flight(), 0u);
    // Acks of one loop turn share an XACK.
    EXPECT_LT(w->stats().acks_sent, w->stats().acked);
  }
  EXPECT_EQ(errors, 0u);
  EXPECT_EQ(pending_count(*server_, "jobs", "g"), 0);
  workers.clear();
  close_and_wait(loop_, client);
  EXPECT_EQ(loop_.close(), 0);
}

TEST_F(ConsumerGroupTest, EntriesOfADestroyedWorkerAreClaimedByOthers) {
  fill(*server_, "jobs", 100);
  Client client(loop_.get(), options_for(*server_));
  std::vector<EntryDone> kept;
  std::set<std::string> lost_ids;
  auto a_opts = options("a");
  a_opts.batch = 20;
  a_opts.max_in_flight = 20;
  auto a = std::make_unique<ConsumerGroup>(client, a_opts, [&](StreamEntry e, EntryDone done) {
    lost_ids.insert(e.id);
    kept.push_back(std::move(done));  // never acknowledged
  });
  ASSERT_TRUE(loop_.run_until([&] { return kept.size() == 20; }, 10s));
  a.reset();
  kept.clear();  // EntryDone of a destroyed worker: a no-op
  loop_.run_for(20ms);

  Tally tally;
  auto b_opts = options("b");
  b_opts.claim_idle = 200ms;
  b_opts.claim_interval = 50ms;
  ConsumerGroup b(client, b_opts, [&](StreamEntry e, EntryDone done) {
    tally.add(e);
    done(true);
  });
  ASSERT_TRUE(loop_.run_until([&] { return b.stats().acked >= 100; }, 20s)) << tally.handled;
  EXPECT_EQ(tally.seen.size(), 100u);
  EXPECT_EQ(tally.max_times(), 1);
  EXPECT_EQ(b.stats().claimed, 20u);
  for (const auto& id : lost_ids) EXPECT_EQ(tally.seen.count(id), 1u) << id;
  stop(b);
  EXPECT_EQ(pending_count(*server_, "jobs", "g"), 0);
  close_and_wait(loop_, client);
  EXPECT_EQ(loop_.close(), 0);
}

TEST_F(ConsumerGroupTest, AlwaysFailingEntryReachesTheDeadLetterStream) {
  server_->cmd({"XADD", "jobs", "1-1", "a", "1", "b", "two"});
  server_->cmd({"XADD", "jobs", "1-2", "ok", "yes"});
  Client client(loop_.get(), options_for(*server_));
  std::map<std::string, int> calls;
  auto o = options("w");
  o.claim_idle = 200ms;
  o.claim_interval = 50ms;
  o.max_deliveries = 3;
  ConsumerGroup w(client, o, [&](StreamEntry e, EntryDone done) {
    ++calls[e.id];
    done(e.id != "1-1");
  });
  EXPECT_EQ(w.dead_letter_stream(), "{jobs}:dead");
  ASSERT_TRUE(loop_.run_until([&] { return w.stats().dead_lettered == 1; }, 10s));
  loop_.run_for(300ms);  // nothing more happens to it
  EXPECT_EQ(calls["1-1"], 3);
  EXPECT_EQ(calls["1-2"], 1);
  EXPECT_EQ(w.stats().failed, 3u);
  EXPECT_EQ(w.stats().dead_lettered, 1u);
  stop(w);

  Result<std::vector<StreamEntry>> dead = await<std::vector<StreamEntry>>(
      loop_, [&](Callback<std::vector<StreamEntry>> cb) { client.xrange("{jobs}:dead", "-", "+", std::move(cb)); });
  ASSERT_TRUE(dead) << dead.error().to_string();
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].fields, (std::vector<FieldValue>{
                                   {"id", "1-1"}, {"group", "g"}, {"deliveries", "4"}, {"a", "1"}, {"b", "two"}}));
  EXPECT_EQ(pending_count(*server_, "jobs", "g"), 0);
  close_and_wait(loop_, client);
  EXPECT_EQ(loop_.close(), 0);
}

TEST_F(ConsumerGroupTest, StopWaitsForHandlersThenAcknowledges) {
  fill(*server_, "jobs", 5);
  Client client(loop_.get(), options_for(*server_));
  std::vector<EntryDone> held;
  ConsumerGroup w(client, options("w"), [&](StreamEntry, EntryDone done) { held.push_back(std::move(done)); });
  ASSERT_TRUE(loop_.run_until([&] { return held.size() == 5; }, 10s));
  int stopped = 0;
  w.stop([&] { ++stopped; });
  w.stop([&] { ++stopped; });  // each stop() gets its own callback
  loop_.run_for(50ms);
  EXPECT_EQ(stopped, 0) << "stop must wait for the handlers";
  for (auto& d : held) d(true);
  held[0](false);  // a second call is ignored
  ASSERT_TRUE(loop_.run_until([&] { return stopped == 2; }, 10s));
  loop_.run_for(20ms);
  EXPECT_EQ(stopped, 2);
  EXPECT_EQ(w.stats().acked, 5u);
  EXPECT_EQ(w.stats().failed, 0u);
  EXPECT_EQ(pending_count(*server_, "jobs", "g"), 0);
  close_and_wait(loop_, client);
  EXPECT_EQ(loop_.close(), 0);
}

TEST_F(ConsumerGroupTest, HandlersNeverHoldMoreThanMaxInFlight) {
  fill(*server_, "jobs", 300);
  Client client(loop_.get(), options_for(*server_));
  std::vector<EntryDone> held;
  std::size_t most = 0;
  Tally tally;
  auto o = options("w");
  o.batch = 5;
  o.max_in_flight = 7;
  o.claim_idle = 100ms;  // claims run too, and must respect the bound as well
  o.claim_interval = 20ms;
  // Handlers here may hold an entry longer than claim_idle (on a slow or
  // sanitized build), and every XAUTOCLAIM of a held entry counts as a
  // delivery on the server: no dead-lettering, which is not under test.
  o.max_deliveries = 0;
  ConsumerGroup w(client, o, [&](StreamEntry e, EntryDone done) {
    tally.add(e);
    held.push_back(std::move(done));
    most = std::max(most, held.size());
  });
  // Each time the handlers are full, give back every other one as failed
  // (claimed again after claim_idle) and the rest as handled.
  std::size_t round = 0;
  ASSERT_TRUE(loop_.run_until([&] {
    if (held.size() == 7 || (!held.empty() && ++round % 50 == 0)) {
      for (std::size_t i = 0; i < held.size(); ++i) held[i](tally.handled % 3 != 0 || i % 2 == 0);
      held.clear();
    }
    return w.stats().acked == 300;
  }, 30s)) << w.stats().acked << " acked, " << w.stats().dead_lettered << " dead-lettered";
  EXPECT_LE(most, 7u);
  EXPECT_EQ(most, 7u);
  EXPECT_EQ(tally.seen.size(), 300u);
  EXPECT_GT(w.stats().claimed, 0u);
  stop(w);
  close_and_wait(loop_, client);
  EXPECT_EQ(loop_.close(), 0);
}

TEST_F(ConsumerGroupTest, RestartRereadsOwnPendingEntriesFirst) {
  fill(*server_, "jobs", 10);
  Client client(loop_.get(), options_for(*server_));
  {
    // The first run takes three entries and never acknowledges them.
    std::vector<EntryDone> kept;
    auto o = options("w");
    o.batch = 3;
    o.max_in_flight = 3;
    ConsumerGroup first(client, o, [&](StreamEntry, EntryDone done) { kept.push_back(std::move(done)); });
    ASSERT_TRUE(loop_.run_until([&] { return kept.size() == 3; }, 10s));
  }
  std::vector<std::string> order;
  ConsumerGroup again(client, options("w"), [&](StreamEntry e, EntryDone done) {
    order.push_back(e.fields[0].second);
    done(true);
  });
  ASSERT_TRUE(loop_.run_until([&] { return again.stats().acked == 10; }, 10s));
  ASSERT_EQ(order.size(), 10u);
  EXPECT_EQ((std::vector<std::string>(order.begin(), order.begin() + 3)), (std::vector<std::string>{"1", "2", "3"}));
  stop(again);
  close_and_wait(loop_, client);
  EXPECT_EQ(loop_.close(), 0);
}

TEST_F(ConsumerGroupTest, DestroyedInsideItsHandlerCallsNothingMore) {
  fill(*server_, "jobs", 20);
  Client client(loop_.get(), options_for(*server_));
  int calls = 0;
  std::unique_ptr<ConsumerGroup> w;
  int stopped = 0;
  w = std::make_unique<ConsumerGroup>(client, options("w"), [&](StreamEntry, EntryDone done) {
    ++calls;
    done(true);
    w->stop([&] { ++stopped; });
    w.reset();
  });
  int errors = 0;
  w->on_error([&](const Error&) { ++errors; });
  ASSERT_TRUE(loop_.run_until([&] { return calls > 0; }, 10s));
  loop_.run_for(100ms);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(stopped, 0);
  EXPECT_EQ(errors, 0);
  close_and_wait(loop_, client);
  EXPECT_EQ(loop_.close(), 0);
}

TEST_F(ConsumerGroupTest, ClosingTheClientHaltsTheWorker) {
  fill(*server_, "jobs", 3);
  Client client(loop_.get(), options_for(*server_));
  int handled = 0;
  ConsumerGroup w(client, options("w"), [&](StreamEntry, EntryDone done) {
    ++handled;
    done(true);
  });
  std::vector<Error> errors;
  w.on_error([&](const Error& e) { errors.push_back(e); });
  ASSERT_TRUE(loop_.run_until([&] { return w.stats().acked == 3; }, 10s));
  close_and_wait(loop_, client);  // the blocked read fails with `closed`
  ASSERT_TRUE(loop_.run_until([&] { return !errors.empty(); }, 5s));
  EXPECT_EQ(errors.back().kind, ErrorKind::closed);
  loop_.run_for(100ms);
  EXPECT_EQ(errors.size(), 1u) << "a closed executor is not retried";
  stop(w);  // still calls back
  EXPECT_EQ(handled, 3);
  EXPECT_EQ(loop_.close(), 0);
}

TEST_F(ConsumerGroupTest, BadOptionsAreReportedOnALaterTurn) {
  Client client(loop_.get(), options_for(*server_));
  auto o = options("w");
  o.stream.clear();
  int handled = 0;
  ConsumerGroup w(client, o, [&](StreamEntry, EntryDone) { ++handled; });
  std::vector<Error> errors;
  w.on_error([&](const Error& e) { errors.push_back(e); });
  EXPECT_TRUE(errors.empty());
  ASSERT_TRUE(loop_.run_until([&] { return !errors.empty(); }, 5s));
  EXPECT_EQ(errors[0].kind, ErrorKind::usage);
  stop(w);
  EXPECT_EQ(errors.size(), 1u);
  EXPECT_EQ(handled, 0);
  close_and_wait(loop_, client);
  EXPECT_EQ(loop_.close(), 0);
}

// Two workers over `total` entries; `disrupt` runs when a quarter, a half and
// three quarters are handled (only the first time unless `disrupt_again`). Afterwards every entry was handled, nothing is pending and the
// dead-letter stream is empty: nothing dropped, nothing acknowledged twice.
void run_through_disruption(TestLoop& loop, RedisServer& server, int total, const std::function<void()>& disrupt,
                            bool disrupt_again = true) {
  fill(server, "jobs", total);
  auto co = options_for(server);
  co.reconnect_max_delay = 200ms;
  Client client(loop.get(), co);
  Tally tally;
  std::size_t errors = 0;
  std::vector<std::unique_ptr<ConsumerGroup>> workers;
  for (int i = 0; i < 2; ++i) {
    auto o = options("w" + std::to_string(i));
    o.batch = 20;
    o.claim_idle = 500ms;
    o.claim_interval = 100ms;
    o.max_deliveries = 0;
    workers.push_back(std::make_unique<ConsumerGroup>(client, o, [&](StreamEntry e, EntryDone done) {
      tally.add(e);
      client.post([d = std::move(done)]() mutable { d(true); });
    }));
    workers.back()->on_error([&](const Error&) { ++errors; });
  }
  // Three disruptions (a server restart: one), at a quarter, half and three quarters.
  for (int k = 1; k <= 3; ++k) {
    ASSERT_TRUE(loop.run_until([&] { return tally.handled >= static_cast<std::size_t>(total * k / 4); }, 30s));
    disrupt();
    if (!disrupt_again) break;
  }
  std::uint64_t next_check = 0;
  const bool done = loop.run_until(
      [&] {
        if (tally.seen.size() < static_cast<std::size_t>(total) || uv_hrtime() < next_check) return false;
        next_check = uv_hrtime() + 50'000'000;
        return pending_count(server, "jobs", "g") == 0;
      },
      60s);
  EXPECT_TRUE(done) << tally.seen.size() << " of " << total << " seen";
  for (auto& w : workers) stop_worker(loop, *w);
  EXPECT_EQ(tally.seen.size(), static_cast<std::size_t>(total));
  EXPECT_GT(errors, 0u) << "the disruption went unnoticed";
  std::uint64_t acked = 0;
  for (auto& w : workers) acked += w->stats().acked;
  EXPECT_LE(acked, static_cast<std::uint64_t>(total));
  EXPECT_EQ(server.cmd({"XLEN", "{jobs}:dead"}), "0");
  // Re-handled entries (those whose XACK reply or read was lost) are few.
  EXPECT_LT(tally.handled, static_cast<std::size_t>(total) + 500u);
  std::printf("  handled %zu of %d entries (%zu errors reported, %llu acked, %llu claimed)\n", tally.handled, total,
              errors, static_cast<unsigned long long>(acked),
              static_cast<unsigned long long>(workers[0]->stats().claimed + workers[1]->stats().claimed));
  workers.clear();
  close_and_wait(loop, client);
}

TEST_F(ConsumerGroupTest, SurvivesClientKillMidRun) {
  int kills = 0;
  run_through_disruption(loop_, *server_, 6000, [&] {
    server_->cmd({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
    ++kills;
  });
  EXPECT_EQ(kills, 3);
  EXPECT_EQ(loop_.close(), 0);
}

TEST(ConsumerGroupRestart, SurvivesServerRestartMidRun) {
  // Persistence on: the group's state has to be there after the restart.
  RedisServer server({{"--appendonly", "yes", "--appendfsync", "always"}});
  TestLoop loop;
  run_through_disruption(loop, server, 4000, [&] { server.restart(); }, false);
  EXPECT_EQ(loop.close(), 0);
}

// One stream on each master, two workers per stream on one ClusterClient;
// each stream has one entry that always fails: every key of a worker (the
// stream, its dead-letter stream) is served by the stream's master.
class ConsumerGroupCluster : public ClusterSuite {};

TEST_F(ConsumerGroupCluster, WorkersOnStreamsOfEveryMaster) {
  constexpr int kEach = 500;
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    auto masters = cluster_->masters();
    ASSERT_EQ(masters.size(), 3u);
    std::vector<std::string> streams;
    for (RedisServer* m : masters) {
      streams.push_back(key_on(*cluster_, *m, "jobs:"));
      m->cmd({"XADD", streams.back(), "1-1", "poison", "yes"});
      fill(*m, streams.back(), kEach);
    }
    Tally tally;
    std::vector<std::unique_ptr<ConsumerGroup>> workers;
    for (const std::string& s : streams) {
      for (int i = 0; i < 2; ++i) {
        auto o = options("w" + std::to_string(i));
        o.stream = s;
        o.batch = 25;
        o.claim_idle = 500ms;  // well above a loaded machine's ack latency: good entries are never claimed
        o.claim_interval = 100ms;
        o.max_deliveries = 2;
        workers.push_back(std::make_unique<ConsumerGroup>(cc, o, [&](StreamEntry e, EntryDone done) {
          tally.add(e);
          done(e.fields[0].first != "poison");
        }));
        workers.back()->on_error([](const Error& e) { ADD_FAILURE() << e.to_string(); });
      }
    }
    auto totals = [&] {
      ConsumerGroupStats t;
      for (auto& w : workers) {
        t.acked += w->stats().acked;
        t.dead_lettered += w->stats().dead_lettered;
      }
      return t;
    };
    ASSERT_TRUE(loop.run_until([&] { return totals().acked == 3 * kEach && totals().dead_lettered == 3; }, 30s))
        << totals().acked << " acked, " << totals().dead_lettered << " dead-lettered";
    for (auto& w : workers) stop_worker(loop, *w);
    for (std::size_t i = 0; i < streams.size(); ++i) {
      EXPECT_EQ(masters[i]->cmd({"XLEN", "{" + streams[i] + "}:dead"}), "1");
      EXPECT_EQ(pending_count(*masters[i], streams[i], "g"), 0);
    }
    // Each good entry once; the poison ones twice each (max_deliveries).
    EXPECT_EQ(tally.handled, static_cast<std::size_t>(3 * kEach + 3 * 2));
    EXPECT_EQ(cc.stats().moved, 0u);
    workers.clear();
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

}  // namespace
