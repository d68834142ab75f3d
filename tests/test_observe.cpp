// Observability: the CommandObserver (written/completed events on every
// path: reply, error reply, timeout, lost link, close), the latency
// histogram in stats(), the Prometheus example, and the opt-in retry of
// reads after a lost link (writes are never re-sent). Against real
// redis-server processes (and one 6-node cluster).
#include <uvredis/uvredis.hpp>
#include <uvredis/observe.hpp>

#include "../src/protocol/encode.hpp"
#include "../src/link/tracker.hpp"
#include "support/await.hpp"
#include "support/cluster_helpers.hpp"
#include "support/loop.hpp"
#include "support/recorder.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::CommandEvent;
using uvredis::ErrorKind;
using uvredis::LatencyHistogram;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::close_and_wait;
using uvredis::test::options_for;
using uvredis::test::Recorder;
using uvredis::test::Seen;
using uvredis::test::RedisServer;
using uvredis::test::run_one;
using uvredis::test::TestLoop;

namespace {

std::string node_of(const RedisServer& s) { return "127.0.0.1:" + std::to_string(s.port()); }

}  // namespace

// ------------------------------------------------------------- histogram

TEST(LatencyHistogram, BucketsAreExactBelowEightMicrosecondsThenEightPerPowerOfTwo) {
  for (std::uint64_t us = 0; us < 16; ++us) EXPECT_EQ(LatencyHistogram::bucket_of(us), us);
  EXPECT_EQ(LatencyHistogram::bucket_of(16), 16u);
  EXPECT_EQ(LatencyHistogram::bucket_of(17), 16u);
  EXPECT_EQ(LatencyHistogram::bucket_of(18), 17u);
  // Every bucket's upper bound starts the next bucket, up to the last.
  for (std::size_t i = 0; i + 1 < LatencyHistogram::kBuckets; ++i) {
    const std::uint64_t upper = LatencyHistogram::bucket_upper_us(i);
    EXPECT_EQ(LatencyHistogram::bucket_of(upper - 1), i) << i;
    EXPECT_EQ(LatencyHistogram::bucket_of(upper), i + 1) << i;
    if (i >= 8) {
      EXPECT_LE((upper - LatencyHistogram::bucket_upper_us(i - 1)) * 8, upper) << "wider than 1/8: " << i;
    }
  }
  EXPECT_EQ(LatencyHistogram::bucket_of(std::uint64_t{1} << 50), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogram, PercentilesCountsAndMerge) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.p99(), 0ns);
  for (int i = 1; i <= 100; ++i) h.record(std::chrono::microseconds(i * 10));  // 10 us .. 1000 us
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.max(), 1000us);
  EXPECT_EQ(h.sum(), std::chrono::microseconds(10 * 5050));
  // The 50th sample is 500 us: its bucket is [480, 512) us.
  EXPECT_EQ(h.p50(), 512us);
  EXPECT_EQ(h.p90(), 960us);  // 900 us in [896, 960)
  EXPECT_EQ(h.p99(), 1000us);  // 990 us in [960, 1024), capped at max
  EXPECT_EQ(h.percentile(1.0), 1000us);
  LatencyHistogram other;
  other.record(5s);
  h.merge(other);
  EXPECT_EQ(h.count(), 101u);
  EXPECT_EQ(h.max(), 5s);
  EXPECT_EQ(h.p50(), 512us);
  EXPECT_EQ(h.percentile(1.0), 5s);
}

// -------------------------------------------------------------- observer

TEST(Observer, SeesEachCommandWrittenThenCompletedWithSizesAndOutcome) {
  RedisServer server;
  TestLoop loop;
  {
    auto rec = std::make_shared<Recorder>();
    auto o = options_for(server);
    o.observer = rec;
    Client c(loop.get(), o);
    int calls = 0;
    std::vector<std::string> order;  // the observer's completion comes before the callback
    auto cb = [&](Result<Reply>) {
      ++calls;
      order.push_back(rec->events.empty() ? "" : rec->events.back().command);
    };
    c.command({"SET", "k", "v"}, cb);
    c.command({"GET", "k"}, cb);
    c.command({"incr", "k"}, cb);  // WRONGTYPE-ish: not an integer
    EXPECT_TRUE(rec->events.empty()) << "nothing is observed inside the issuing call";
    ASSERT_TRUE(loop.run_until([&] { return calls == 3; }));
    EXPECT_EQ(order, (std::vector<std::string>{"SET", "GET", "incr"}));
    ASSERT_EQ(rec->events.size(), 6u);
    for (const char* name : {"SET", "GET", "incr"}) {
      ASSERT_EQ(rec->of(name, true).size(), 1u) << name;
      ASSERT_EQ(rec->of(name, false).size(), 1u) << name;
    }
    const Seen set_w = rec->of("SET", true)[0];
    const Seen set_c = rec->of("SET", false)[0];
    EXPECT_EQ(set_w.node, node_of(server));
    EXPECT_EQ(set_w.bytes_out, std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n").size());
    EXPECT_EQ(set_c.bytes_out, set_w.bytes_out);
    EXPECT_EQ(set_c.bytes_in, std::string("+OK\r\n").size());
    EXPECT_FALSE(set_c.error);
    EXPECT_TRUE(set_w.args.empty() && set_c.args.empty()) << "no argument values unless asked for";
    EXPECT_GE(set_c.latency, set_w.latency);
    EXPECT_GT(set_c.latency, 0ns);
    EXPECT_EQ(rec->of("GET", false)[0].bytes_in, std::string("$1\r\nv\r\n").size());
    const Seen incr = rec->of("incr", false)[0];
    ASSERT_TRUE(incr.error);
    EXPECT_EQ(*incr.error, ErrorKind::server);
    EXPECT_EQ(incr.error_code, "ERR");
    EXPECT_GT(incr.bytes_in, 10u);
    // Written events come in order, before any completion of a later command.
    EXPECT_TRUE(rec->events[0].written);
    close_and_wait(loop, c);
    EXPECT_EQ(rec->events.size(), 6u) << "close sends nothing observed";
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Observer, ArgumentsOnlyWhenAskedAndNeverOfSecretBearingCommands) {
  RedisServer server({{"--requirepass", "s3cr3t-pw"}});
  TestLoop loop;
  {
    auto rec = std::make_shared<Recorder>();
    auto o = options_for(server);
    o.address.password = "s3cr3t-pw";
    o.observer = rec;
    o.observe_arguments = true;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"SET", "k", "value-1"}));
    // A secret in a user's own AUTH, HELLO and CONFIG SET calls: the first
    // two are refused before sending (the handshake owns them), CONFIG is
    // observed without its arguments.
    for (auto argv : {std::vector<std::string_view>{"AUTH", "default", "s3cr3t-pw"},
                      std::vector<std::string_view>{"HELLO", "2", "AUTH", "default", "s3cr3t-pw"}}) {
      auto r = uvredis::test::await<Reply>(loop, [&](uvredis::Callback<Reply> cb) { c.command(argv, std::move(cb)); });
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().kind, ErrorKind::usage);
    }
    EXPECT_TRUE(run_one(loop, c, {"CONFIG", "SET", "masterauth", "s3cr3t-pw"}));
    const auto set = rec->of("SET", false);
    ASSERT_EQ(set.size(), 1u);
    EXPECT_EQ(set[0].args, (std::vector<std::string>{"k", "value-1"}));
    const auto config = rec->of("CONFIG", false);
    ASSERT_EQ(config.size(), 1u);
    EXPECT_TRUE(config[0].args.empty());
    EXPECT_TRUE(rec->of("AUTH", false).empty() && rec->of("HELLO", false).empty());
    for (const Seen& s : rec->events) {
      for (const std::string& a : s.args) EXPECT_EQ(a.find("s3cr3t"), std::string::npos);
      EXPECT_EQ(s.command.find("s3cr3t"), std::string::npos);
      EXPECT_EQ(s.node.find("s3cr3t"), std::string::npos);
      EXPECT_EQ(s.error_code.find("s3cr3t"), std::string::npos);
    }
    // The handshake (AUTH with the password) is the library's own: unseen.
    EXPECT_EQ(rec->events.size(), 4u);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Observer, TimeoutLostLinkAndDestroyAreEachObservedOnce) {
  RedisServer server;
  TestLoop loop;
  {
    auto rec = std::make_shared<Recorder>();
    auto o = options_for(server);
    o.observer = rec;
    o.command_timeout = 300ms;
    o.reconnect_min_delay = 20ms;
    o.reconnect_max_delay = 100ms;
    auto c = std::make_unique<Client>(loop.get(), o);
    auto c2 = std::make_unique<Client>(loop.get(), o);  // the same observer on a second client
    ASSERT_TRUE(run_one(loop, *c, {"PING"}));
    ASSERT_TRUE(run_one(loop, *c2, {"PING"}));

    // Timeout: written, never answered in time.
    server.pause();
    auto r = run_one(loop, *c, {"GET", "slow"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::timeout);
    // Closed: written on the second client, which is destroyed meanwhile.
    int closed_calls = 0;
    c2->command(
        {"GET", "never"},
        [&](Result<Reply> x) {
          ++closed_calls;
          EXPECT_FALSE(x);
          if (!x) {
            EXPECT_EQ(x.error().kind, ErrorKind::closed);
          }
        },
        uvredis::CommandOptions{0ms});
    // Lost link: written, then the server dies under it.
    int lost_calls = 0;
    c->command(
        {"GET", "lost"},
        [&](Result<Reply> x) {
          ++lost_calls;
          EXPECT_FALSE(x);
          if (!x) {
            EXPECT_EQ(x.error().kind, ErrorKind::connection_lost);
          }
        },
        uvredis::CommandOptions{0ms});
    ASSERT_TRUE(loop.run_until([&] { return rec->of("GET", true).size() == 3; }));
    c2.reset();
    ASSERT_TRUE(loop.run_until([&] { return closed_calls == 1; }));
    server.kill();
    ASSERT_TRUE(loop.run_until([&] { return lost_calls == 1; }));
    c.reset();
    loop.run_for(50ms);
    EXPECT_EQ(lost_calls, 1);
    EXPECT_EQ(closed_calls, 1);

    auto gets = rec->of("GET", false);
    ASSERT_EQ(gets.size(), 3u);
    ASSERT_TRUE(gets[0].error && gets[1].error && gets[2].error);
    EXPECT_EQ(*gets[0].error, ErrorKind::timeout);
    EXPECT_EQ(*gets[1].error, ErrorKind::closed);
    EXPECT_EQ(*gets[2].error, ErrorKind::connection_lost);
    for (const Seen& g : gets) EXPECT_EQ(g.bytes_in, 0u);
    EXPECT_EQ(rec->of("GET", true).size(), 3u);
    EXPECT_EQ(rec->of("PING", false).size(), 2u);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Observer, EveryMemberOfAGroupIsObservedOnce) {
  RedisServer server;
  TestLoop loop;
  {
    auto rec = std::make_shared<Recorder>();
    auto o = options_for(server);
    o.observer = rec;
    Client c(loop.get(), o);
    int calls = 0;
    c.command_group({{"MULTI"}, {"SET", "g", "1"}, {"INCR", "g"}, {"EXEC"}}, [&](std::vector<Result<Reply>> rs) {
      ++calls;
      EXPECT_EQ(rs.size(), 4u);
    });
    ASSERT_TRUE(loop.run_until([&] { return calls == 1; }));
    for (const char* name : {"MULTI", "SET", "INCR", "EXEC"}) {
      EXPECT_EQ(rec->of(name, true).size(), 1u) << name;
      EXPECT_EQ(rec->of(name, false).size(), 1u) << name;
    }
    EXPECT_EQ(rec->events.size(), 8u);
    close_and_wait(loop, c);
    EXPECT_EQ(calls, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Observer, LatencyHistogramCountsAnsweredCommandsWhenOn) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.latency_histogram = true;
    Client with(loop.get(), o);
    Client without(loop.get(), options_for(server));
    int calls = 0;
    auto cb = [&](Result<Reply>) { ++calls; };
    for (int i = 0; i < 200; ++i) {
      with.command({"INCR", "n"}, cb);
      without.command({"INCR", "n"}, cb);
    }
    with.command({"HSET", "n", "f", "v"}, cb);  // an error reply counts too: the server answered
    ASSERT_TRUE(loop.run_until([&] { return calls == 401; }));
    const auto s = with.stats();
    EXPECT_EQ(s.latency.count(), 201u);
    EXPECT_GT(s.latency.max(), 0ns);
    EXPECT_LE(s.latency.p50(), s.latency.p90());
    EXPECT_LE(s.latency.p90(), s.latency.p99());
    EXPECT_LE(s.latency.p99(), s.latency.max());
    EXPECT_EQ(without.stats().latency.count(), 0u) << "off by default";
    close_and_wait(loop, with);
    close_and_wait(loop, without);
  }
  EXPECT_EQ(loop.close(), 0);
}

// ------------------------------------------------------------ read retry

namespace {

// The connection kills itself: CLIENT KILL ID <own id> is answered, then
// the server closes the link without reading what was pipelined behind it,
// so the commands issued in the same loop turn are written and never
// answered (connection_lost), deterministically.
void kill_own_link_then(TestLoop& loop, Client& c, const std::function<void()>& behind) {
  auto id = run_one(loop, c, {"CLIENT", "ID"});
  ASSERT_TRUE(id) << id.error().to_string();
  // SKIPME no: by default CLIENT KILL spares the connection that sends it.
  c.command({"CLIENT", "KILL", "ID", std::to_string(id->integer()), "SKIPME", "no"}, [](Result<Reply>) {});
  behind();
}

}  // namespace

TEST(ReadRetry, ReadInFlightWhenTheLinkDropsIsAnsweredWriteFailsAndIsNotResent) {
  RedisServer server;
  TestLoop loop;
  {
    auto rec = std::make_shared<Recorder>();
    auto o = options_for(server);
    o.reconnect_min_delay = 10ms;
    o.reconnect_max_delay = 50ms;
    o.read_retry.attempts = 2;
    o.read_retry.backoff = 20ms;
    o.observer = rec;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"SET", "k", "kept"}));
    ASSERT_TRUE(run_one(loop, c, {"SET", "n", "5"}));
    ASSERT_TRUE(run_one(loop, c, {"CONFIG", "RESETSTAT"}));
    int read_calls = 0, write_calls = 0;
    std::optional<Result<Reply>> read, write;
    kill_own_link_then(loop, c, [&] {
      c.command({"GET", "k"}, [&](Result<Reply> r) {
        ++read_calls;
        read.emplace(std::move(r));
      });
      c.command({"INCR", "n"}, [&](Result<Reply> r) {
        ++write_calls;
        write.emplace(std::move(r));
      });
    });
    ASSERT_TRUE(loop.run_until([&] { return read_calls == 1 && write_calls == 1; }));
    ASSERT_TRUE(write.has_value() && read.has_value());
    ASSERT_FALSE(*write);
    EXPECT_EQ(write->error().kind, ErrorKind::connection_lost);
    ASSERT_TRUE(*read) << read->error().to_string();
    EXPECT_EQ((*read)->str(), "kept");
    EXPECT_EQ(c.stats().read_retries, 1u);
    // One more round trip, then the server's own view: INCR never ran.
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    loop.run_for(50ms);
    EXPECT_EQ(read_calls, 1);
    EXPECT_EQ(write_calls, 1);
    const std::string stats = server.cmd({"INFO", "commandstats"});
    EXPECT_EQ(server.cmd({"GET", "n"}), "5");
    EXPECT_EQ(stats.find("cmdstat_incr"), std::string::npos) << stats;
    EXPECT_NE(stats.find("cmdstat_get:calls=1,"), std::string::npos) << stats;
    // The observer saw both tries of the read: lost, then ok.
    const auto gets = rec->of("GET", false);
    ASSERT_EQ(gets.size(), 2u);
    ASSERT_TRUE(gets[0].error);
    EXPECT_EQ(*gets[0].error, ErrorKind::connection_lost);
    EXPECT_FALSE(gets[1].error);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ReadRetry, OffByDefaultTheReadFailsWithTheLostLink) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.reconnect_min_delay = 10ms;
    Client c(loop.get(), o);
    int calls = 0;
    std::optional<Result<Reply>> read;
    kill_own_link_then(loop, c, [&] {
      c.command({"GET", "k"}, [&](Result<Reply> r) {
        ++calls;
        read.emplace(std::move(r));
      });
    });
    ASSERT_TRUE(loop.run_until([&] { return calls == 1; }));
    ASSERT_TRUE(read.has_value());
    ASSERT_FALSE(*read);
    EXPECT_EQ(read->error().kind, ErrorKind::connection_lost);
    EXPECT_EQ(c.stats().read_retries, 0u);
    close_and_wait(loop, c);
    EXPECT_EQ(calls, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ReadRetry, ARetryWaitingForItsBackoffFailsWithClosedOnClose) {
  RedisServer server;
  TestLoop loop;
  {
    auto o = options_for(server);
    o.read_retry.attempts = 3;
    o.read_retry.backoff = 2s;  // still waiting when close() comes
    Client c(loop.get(), o);
    int calls = 0;
    std::optional<Result<Reply>> read;
    kill_own_link_then(loop, c, [&] {
      c.command({"GET", "k"}, [&](Result<Reply> r) {
        ++calls;
        read.emplace(std::move(r));
      });
    });
    ASSERT_TRUE(loop.run_until([&] { return c.stats().read_retries == 1; }));
    EXPECT_EQ(calls, 0);
    close_and_wait(loop, c);
    ASSERT_EQ(calls, 1);
    ASSERT_TRUE(read.has_value());
    ASSERT_FALSE(*read);
    EXPECT_EQ(read->error().kind, ErrorKind::closed);
  }
  EXPECT_EQ(loop.close(), 0);
}

// ------------------------------------------------------------ Prometheus

namespace {

std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

TEST(Prometheus, ExampleServesAWellFormedTextPage) {
  const char* dir = std::getenv("UVREDIS_EXAMPLES_DIR");
  if (!dir) GTEST_SKIP() << "UVREDIS_EXAMPLES_DIR not set (run through meson test or tests/run-all.sh)";
  RedisServer server;
  const std::string cmd = "REDIS_URL=" + server.url() + " timeout 30 " + dir + "/prometheus --port 0 --scrapes 2";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char line[256] = {};
  ASSERT_NE(std::fgets(line, sizeof line, p), nullptr);
  std::smatch m;
  const std::string first = line;
  ASSERT_TRUE(std::regex_search(first, m, std::regex(R"(http://127\.0\.0\.1:(\d+)/metrics)"))) << first;
  const auto port = static_cast<std::uint16_t>(std::stoi(m[1]));
  const std::string missing = http_get(port, "/nothing");
  EXPECT_TRUE(missing.starts_with("HTTP/1.0 404")) << missing;
  const std::string page = http_get(port, "/metrics");
  const int st = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "the example exits cleanly after two scrapes";

  ASSERT_TRUE(page.starts_with("HTTP/1.0 200 OK\r\n")) << page;
  EXPECT_NE(page.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  const std::size_t body_at = page.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  const std::string body = page.substr(body_at + 4);
  ASSERT_FALSE(body.empty());
  EXPECT_EQ(body.back(), '\n');

  // Every line: a HELP or TYPE comment, or `name{labels} value`; every
  // sample belongs to the family TYPE declared last.
  const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
  const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary))");
  const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? ([-+]?[0-9.eE+-]+|\+Inf|NaN))");
  std::istringstream in(body);
  std::string l, family;
  std::map<std::string, std::string> values;  // name{labels} -> value
  std::vector<std::pair<double, double>> buckets;  // le, cumulative count
  int samples = 0;
  while (std::getline(in, l)) {
    std::smatch lm;
    if (std::regex_match(l, lm, help)) continue;
    if (std::regex_match(l, lm, type)) {
      family = lm[1];
      continue;
    }
    ASSERT_TRUE(std::regex_match(l, lm, sample)) << "not a sample line: " << l;
    const std::string name = lm[1];
    EXPECT_TRUE(name.starts_with(family)) << name << " outside its family " << family;
    values[name + lm[2].str()] = lm[3];
    ++samples;
    if (name == "uvredis_command_duration_seconds_bucket") {
      const std::string labels = lm[2];
      const std::string le = labels.substr(5, labels.size() - 7);
      buckets.emplace_back(le == "+Inf" ? 1e300 : std::stod(le), std::stod(lm[3]));
    }
  }
  EXPECT_GT(samples, 15);
  // 400 commands ran before the page was served: 300 answered fine, 100 with WRONGTYPE.
  EXPECT_EQ(values["uvredis_commands_sent_total"], "400");
  EXPECT_EQ(values["uvredis_command_errors_total"], "100");
  EXPECT_EQ(values["uvredis_command_duration_seconds_count"], "400");
  EXPECT_EQ(values["uvredis_observed_commands_total{command=\"INCR\",outcome=\"server\"}"], "100");
  EXPECT_EQ(values["uvredis_observed_commands_total{command=\"GET\",outcome=\"ok\"}"], "100");
  EXPECT_EQ(values["uvredis_observed_commands_total{command=\"SET\",outcome=\"ok\"}"], "100");
  EXPECT_NE(values["uvredis_observed_bytes_total{direction=\"out\"}"], "0");
  EXPECT_NE(values["uvredis_observed_bytes_total{direction=\"in\"}"], "0");
  ASSERT_GE(buckets.size(), 2u);
  for (std::size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_GT(buckets[i].first, buckets[i - 1].first) << "le bounds ascend";
    EXPECT_GE(buckets[i].second, buckets[i - 1].second) << "buckets are cumulative";
  }
  EXPECT_EQ(buckets.back().first, 1e300);
  EXPECT_EQ(buckets.back().second, 400.0);
  for (const char* q : {"0.5", "0.9", "0.99"})
    EXPECT_TRUE(values.count(std::string("uvredis_command_latency_seconds{quantile=\"") + q + "\"}")) << q;
}

// --------------------------------------------------------------- cluster

class ObserveCluster : public uvredis::test::ClusterSuite {};

TEST_F(ObserveCluster, NodesAreNamedAndEachHasItsHistogram) {
  TestLoop loop;
  {
    auto rec = std::make_shared<Recorder>();
    auto o = uvredis::test::cluster_options(*cluster_);
    o.client.observer = rec;
    o.client.latency_histogram = true;
    uvredis::ClusterClient cc(loop.get(), o);
    int calls = 0;
    for (int i = 0; i < 60; ++i) cc.command({"SET", "key:" + std::to_string(i), "v"}, [&](Result<Reply>) { ++calls; });
    ASSERT_TRUE(loop.run_until([&] { return calls == 60; }));
    std::map<std::string, int> set_nodes, per_node;  // answered commands per node (the map's CLUSTER SLOTS too)
    for (const Seen& s : rec->of("SET", false)) ++set_nodes[s.node];
    EXPECT_EQ(set_nodes.size(), 3u) << "60 keys spread over the three masters";
    for (const Seen& s : rec->events)
      if (!s.written && (!s.error || *s.error == ErrorKind::server)) ++per_node[s.node];
    const auto nodes = cc.node_stats();
    std::uint64_t total = 0;
    for (const auto& n : nodes) {
      total += n.stats.latency.count();
      if (per_node.count(n.node)) {
        EXPECT_EQ(n.stats.latency.count(), static_cast<std::uint64_t>(per_node[n.node])) << n.node;
      }
    }
    EXPECT_GE(total, 60u);
    EXPECT_EQ(cc.stats().nodes.latency.count(), total);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST_F(ObserveCluster, ReadInFlightWhenTheLinkDropsIsRetriedWriteIsNot) {
  TestLoop loop;
  {
    auto o = uvredis::test::cluster_options(*cluster_);
    o.client.read_retry.attempts = 2;
    o.client.read_retry.backoff = 20ms;
    uvredis::ClusterClient cc(loop.get(), o);
    ASSERT_TRUE(run_one(loop, cc, {"SET", "{r}k", "kept"}));
    ASSERT_TRUE(run_one(loop, cc, {"SET", "{r}n", "5"}));
    const auto node = cc.node_for_key("{r}k");
    ASSERT_TRUE(node);
    auto id = uvredis::test::await<Reply>(
        loop, [&](uvredis::Callback<Reply> cb) { cc.command_to(*node, std::vector<std::string_view>{"CLIENT", "ID"}, std::move(cb)); });
    ASSERT_TRUE(id);
    int read_calls = 0, write_calls = 0;
    std::optional<Result<Reply>> read, write;
    const std::string sid = std::to_string(id->integer());
    cc.command_to(*node, std::vector<std::string_view>{"CLIENT", "KILL", "ID", sid, "SKIPME", "no"}, [](Result<Reply>) {});
    cc.command({"GET", "{r}k"}, [&](Result<Reply> r) {
      ++read_calls;
      read.emplace(std::move(r));
    });
    cc.command({"INCR", "{r}n"}, [&](Result<Reply> r) {
      ++write_calls;
      write.emplace(std::move(r));
    });
    ASSERT_TRUE(loop.run_until([&] { return read_calls == 1 && write_calls == 1; }));
    ASSERT_TRUE(write.has_value() && read.has_value());
    ASSERT_FALSE(*write);
    EXPECT_EQ(write->error().kind, ErrorKind::connection_lost);
    ASSERT_TRUE(*read) << read->error().to_string();
    EXPECT_EQ((*read)->str(), "kept");
    EXPECT_EQ(cc.stats().read_retries, 1u);
    auto n = run_one(loop, cc, {"GET", "{r}n"});
    ASSERT_TRUE(n);
    EXPECT_EQ(n->str(), "5") << "the INCR was not re-sent";
    EXPECT_EQ(read_calls, 1);
    EXPECT_EQ(write_calls, 1);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}
