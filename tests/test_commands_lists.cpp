// List commands, blocking pops included, against a real redis-server.
#include "support/commands_fixture.hpp"

#include <climits>
#include <map>

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

using CommandsLists = CommandsTest;
using OptKeyed = std::optional<KeyedElement>;

namespace {
std::chrono::milliseconds since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
}
}  // namespace

TEST_F(CommandsLists, PushAndPopAtBothEnds) {
  EXPECT_EQ(*call<long long>([&](auto cb) { c().lpush("l", {"b", "a"}, std::move(cb)); }), 2);  // a b
  EXPECT_EQ(*call<long long>([&](auto cb) { c().rpush("l", {"c", "d"}, std::move(cb)); }), 4);  // a b c d
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().lrange("l", 0, -1, std::move(cb)); }), (Strs{"a", "b", "c", "d"}));
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().lpop("l", std::move(cb)); }), "a");
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().rpop("l", std::move(cb)); }), "d");
  EXPECT_EQ(*call<long long>([&](auto cb) { c().lpushx("absent", "x", std::move(cb)); }), 0);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().rpushx("absent", {"x", "y"}, std::move(cb)); }), 0);
  EXPECT_EQ(raw({"EXISTS", "absent"}), "0");
  EXPECT_EQ(*call<long long>([&](auto cb) { c().lpushx("l", "z", std::move(cb)); }), 3);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().rpushx("l", "e", std::move(cb)); }), 4);
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().lpop("absent", std::move(cb)); }), std::nullopt);
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().rpush("l", Strs{}, std::move(cb)); }), "RPUSH"));
}

TEST_F(CommandsLists, PopWithCount) {
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().lpop("absent", 3, std::move(cb)); })->empty());
  raw({"RPUSH", "l", "1", "2", "3", "4", "5"});
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().lpop("l", 2, std::move(cb)); }), (Strs{"1", "2"}));
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().rpop("l", 1, std::move(cb)); }), (Strs{"5"}));
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().rpop("l", LLONG_MAX, std::move(cb)); }), (Strs{"4", "3"}));
  EXPECT_EQ(raw({"EXISTS", "l"}), "0");
  EXPECT_TRUE(is_usage_error(call<Strs>([&](auto cb) { c().lpop("l", -1, std::move(cb)); }), "negative"));
}

TEST_F(CommandsLists, RangeLengthIndexSetInsertRemoveTrim) {
  raw({"RPUSH", "l", "a", "b", "c", "b", "d", "b"});
  EXPECT_EQ(*call<long long>([&](auto cb) { c().llen("l", std::move(cb)); }), 6);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().llen("absent", std::move(cb)); }), 0);
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().lrange("l", -2, -1, std::move(cb)); }), (Strs{"d", "b"}));
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().lrange("l", 10, 20, std::move(cb)); })->empty());
  EXPECT_TRUE(call<Strs>([&](auto cb) { c().lrange("absent", 0, -1, std::move(cb)); })->empty());
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().lindex("l", -1, std::move(cb)); }), "b");
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().lindex("l", 99, std::move(cb)); }), std::nullopt);
  ASSERT_TRUE(call<void>([&](auto cb) { c().lset("l", 0, "A", std::move(cb)); }));
  EXPECT_TRUE(is_server_error(call<void>([&](auto cb) { c().lset("l", 99, "x", std::move(cb)); }), "ERR"));
  EXPECT_TRUE(is_server_error(call<void>([&](auto cb) { c().lset("absent", 0, "x", std::move(cb)); }), "ERR"));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().linsert("l", InsertPosition::before, "c", "bc", std::move(cb)); }), 7);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().linsert("l", InsertPosition::after, "d", "de", std::move(cb)); }), 8);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().linsert("l", InsertPosition::after, "zz", "x", std::move(cb)); }), -1);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().linsert("absent", InsertPosition::after, "a", "x", std::move(cb)); }), 0);
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().lrange("l", 0, -1, std::move(cb)); }),
            (Strs{"A", "b", "bc", "c", "b", "d", "de", "b"}));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().lrem("l", -1, "b", std::move(cb)); }), 1);  // the last b
  EXPECT_EQ(*call<long long>([&](auto cb) { c().lrem("l", 0, "b", std::move(cb)); }), 2);
  ASSERT_TRUE(call<void>([&](auto cb) { c().ltrim("l", 1, 2, std::move(cb)); }));
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().lrange("l", 0, -1, std::move(cb)); }), (Strs{"bc", "c"}));
}

TEST_F(CommandsLists, Lpos) {
  raw({"RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"});
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().lpos("l", "c", std::move(cb)); }), 2);
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().lpos("l", "c", {.rank = -1}, std::move(cb)); }), 7);
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().lpos("l", "c", {.rank = 2}, std::move(cb)); }), 6);
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().lpos("l", "zz", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<std::optional<long long>>([&](auto cb) { c().lpos("absent", "c", std::move(cb)); }), std::nullopt);
  EXPECT_EQ(*call<std::vector<long long>>([&](auto cb) { c().lpos("l", "c", 0, std::move(cb)); }),
            (std::vector<long long>{2, 6, 7}));
  EXPECT_EQ(*call<std::vector<long long>>([&](auto cb) { c().lpos("l", "c", 2, {.rank = -1}, std::move(cb)); }),
            (std::vector<long long>{7, 6}));
  EXPECT_EQ(*call<std::vector<long long>>([&](auto cb) { c().lpos("l", "c", 0, {.maxlen = 3}, std::move(cb)); }),
            (std::vector<long long>{2}));
  EXPECT_TRUE(call<std::vector<long long>>([&](auto cb) { c().lpos("l", "zz", 0, std::move(cb)); })->empty());
  EXPECT_TRUE(is_usage_error(
      call<std::optional<long long>>([&](auto cb) { c().lpos("l", "c", {.rank = 0}, std::move(cb)); }), "RANK"));
}

TEST_F(CommandsLists, LmoveBetweenLists) {
  raw({"RPUSH", "src", "1", "2", "3"});
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().lmove("src", "dst", ListEnd::right, ListEnd::left, std::move(cb)); }), "3");
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().lmove("src", "dst", ListEnd::left, ListEnd::right, std::move(cb)); }), "1");
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().lrange("dst", 0, -1, std::move(cb)); }), (Strs{"3", "1"}));
  // Rotation in place.
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().lmove("dst", "dst", ListEnd::left, ListEnd::right, std::move(cb)); }), "3");
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().lmove("absent", "dst", ListEnd::left, ListEnd::left, std::move(cb)); }),
            std::nullopt);
}

TEST_F(CommandsLists, BlockingPopTimeoutIsNothingNotAnError) {
  // A command timeout shorter than the blocking wait must not cut it short.
  reset_client([](ClientOptions& o) { o.command_timeout = 300ms; });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = call<OptKeyed>([&](auto cb) { c().blpop({"q1", "q2"}, 1s, std::move(cb)); });
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, std::nullopt);
  EXPECT_GE(since(t0), 900ms);
  auto m = call<OptStr>([&](auto cb) { c().blmove("q1", "q2", ListEnd::left, ListEnd::left, 200ms, std::move(cb)); });
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(*m, std::nullopt);
  EXPECT_EQ(c().stats().timeouts, 0u);
}

TEST_F(CommandsLists, BlockingPopNeverDelaysOtherCommands) {
  std::optional<Result<OptKeyed>> popped;
  c().brpop("jobs", 0ms, catcher<OptKeyed>(popped));  // waits forever, on its own connection
  int done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i)
    c().incr("counter", [&](Result<long long> r) {
      EXPECT_TRUE(r);
      ++done;
    });
  ASSERT_TRUE(wait([&] { return done == 200; }));
  EXPECT_LT(since(t0), 2s);
  EXPECT_FALSE(popped.has_value());
  loop_.run_for(100ms);
  EXPECT_FALSE(popped.has_value());
  ASSERT_TRUE(call<long long>([&](auto cb) { c().lpush("jobs", "job-1", std::move(cb)); }));
  ASSERT_TRUE(wait([&] { return popped.has_value(); }));
  ASSERT_TRUE(*popped);
  EXPECT_EQ(**popped, (KeyedElement{"jobs", "job-1"}));
}

TEST_F(CommandsLists, BlockingCallsWakeOnPush) {
  std::optional<Result<OptKeyed>> a;
  std::optional<Result<OptStr>> moved;
  c().blpop({"empty", "q"}, 5s, catcher<OptKeyed>(a));
  c().blmove("src", "dst", ListEnd::left, ListEnd::right, 5s, catcher<OptStr>(moved));
  loop_.run_for(50ms);
  Client& other = extra_client();
  ASSERT_TRUE(call<long long>([&](auto cb) { other.rpush("q", {"x", "y"}, std::move(cb)); }));
  ASSERT_TRUE(call<long long>([&](auto cb) { other.rpush("src", "m", std::move(cb)); }));
  ASSERT_TRUE(wait([&] { return a && moved; }));
  EXPECT_EQ(**a, (KeyedElement{"q", "x"}));
  EXPECT_EQ(**moved, "m");
  EXPECT_EQ(raw({"LRANGE", "dst", "0", "-1"}), "m");
  EXPECT_TRUE(is_usage_error(call<OptKeyed>([&](auto cb) { c().blpop("q", -5ms, std::move(cb)); }), "negative"));
  EXPECT_TRUE(is_usage_error(call<OptKeyed>([&](auto cb) { c().brpop(Strs{}, 1s, std::move(cb)); }), "keys"));
}

TEST_F(CommandsLists, BlockingPopOnALeaseGetsTheLongerTimeoutToo) {
  reset_client([](ClientOptions& o) { o.command_timeout = 200ms; });
  auto lease = c().lease();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = call<OptKeyed>([&](auto cb) { lease->brpop("nothing", 700ms, std::move(cb)); });
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, std::nullopt);
  EXPECT_GE(since(t0), 600ms);
  lease.reset();
}

TEST_F(CommandsLists, WrongTypeAndBinaryElements) {
  raw({"SET", "s", "v"});
  EXPECT_TRUE(is_server_error(call<long long>([&](auto cb) { c().lpush("s", "x", std::move(cb)); }), "WRONGTYPE"));
  EXPECT_TRUE(is_server_error(call<Strs>([&](auto cb) { c().lrange("s", 0, -1, std::move(cb)); }), "WRONGTYPE"));
  EXPECT_TRUE(is_server_error(call<OptKeyed>([&](auto cb) { c().blpop("s", 100ms, std::move(cb)); }), "WRONGTYPE"));
  const std::string e1("\0\r\n", 3), e2("*1\r\n$3\r\nfoo\r\n");
  ASSERT_TRUE(call<long long>([&](auto cb) { c().rpush("b", {std::string_view(e1), std::string_view(e2)}, std::move(cb)); }));
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().lrange("b", 0, -1, std::move(cb)); }), (Strs{e1, e2}));
  EXPECT_EQ(**call<OptKeyed>([&](auto cb) { c().blpop("b", 1s, std::move(cb)); }), (KeyedElement{"b", e1}));
}

TEST_F(CommandsLists, HundredThousandElements) {
  Strs many;
  for (int i = 0; i < 100000; ++i) many.push_back(std::to_string(i));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().rpush("big", many, std::move(cb)); }), 100000);
  auto all = call<Strs>([&](auto cb) { c().lrange("big", 0, -1, std::move(cb)); });
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, many);
}

// Seed-style scenario: producers LPUSH jobs, three workers BRPOP them.
TEST_F(CommandsLists, WorkQueueScenario) {
  const int jobs = 60;
  const int workers = 3;
  std::map<std::string, int> handled;  // job -> times handled
  std::vector<int> per_worker(workers, 0);
  int issued = 0, completed = 0, stopped = 0;
  std::vector<std::string> order;
  std::vector<std::vector<int>> per_worker_jobs(workers);

  std::function<void(int)> work = [&](int w) {
    ++issued;
    c().brpop("queue", 5s, [&, w](Result<OptKeyed> r) {
      ++completed;
      ASSERT_TRUE(r) << r.error().to_string();
      ASSERT_TRUE(r->has_value()) << "worker " << w << " timed out";
      const std::string job = (*r)->element;
      if (job == "stop") {
        ++stopped;
        return;
      }
      ++handled[job];
      ++per_worker[static_cast<std::size_t>(w)];
      order.push_back(job);
      per_worker_jobs[static_cast<std::size_t>(w)].push_back(std::stoi(job.substr(4)));
      work(w);
    });
  };
  for (int w = 0; w < workers; ++w) work(w);
  loop_.run_for(50ms);  // the workers are waiting

  Client& producer = extra_client();
  int pushed = 0;
  for (int i = 0; i < jobs; i += 6) {
    Strs batch;
    for (int j = i; j < i + 6; ++j) batch.push_back("job-" + std::to_string(j));
    producer.lpush("queue", batch, [&](Result<long long> r) {
      EXPECT_TRUE(r);
      ++pushed;
    });
  }
  ASSERT_TRUE(wait([&] { return static_cast<int>(order.size()) == jobs; }));
  producer.lpush("queue", {"stop", "stop", "stop"}, [&](Result<long long> r) { EXPECT_TRUE(r); });
  ASSERT_TRUE(wait([&] { return stopped == workers; }));
  EXPECT_EQ(issued, completed);
  EXPECT_EQ(handled.size(), static_cast<std::size_t>(jobs));
  for (const auto& [job, n] : handled) EXPECT_EQ(n, 1) << job;
  // LPUSH + BRPOP is a FIFO queue: each worker sees its jobs in push order.
  // (Across workers the replies come over different connections, so the
  // order in which the loop hands them out is not defined.)
  for (int w = 0; w < workers; ++w) {
    const auto& seq = per_worker_jobs[static_cast<std::size_t>(w)];
    for (std::size_t i = 1; i < seq.size(); ++i) EXPECT_LT(seq[i - 1], seq[i]) << "worker " << w;
  }
  for (int w = 0; w < workers; ++w) EXPECT_GT(per_worker[static_cast<std::size_t>(w)], 0) << "worker " << w;
  EXPECT_EQ(*call<long long>([&](auto cb) { c().llen("queue", std::move(cb)); }), 0);
}
