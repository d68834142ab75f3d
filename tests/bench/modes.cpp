// uvredis-bench --cluster and --tls.
//
// Workload (both modes): SET, then GET, of 16-byte values over 100,000
// distinct keys ("key:" + 12 digits; they hash to every one of the 16,384
// slots), N commands per run, `depth` commands in flight as a sliding
// window. Each uvredis client is created once per mode and kept; before
// every measured run it does 2,000 unmeasured SETs (so a cluster client has
// its slot map and a connection to every master). Contenders alternate
// within each round, in an order that rotates; medians over the rounds.
//
// --cluster: uvredis::ClusterClient against a private 6-node cluster
//   (3 masters + 3 replicas, tests/support/redis_cluster.hpp) and
//   uvredis::Client against a private single redis-server, same workload.
//   The cluster spreads the work over 3 server processes, the single
//   client is one process talking to one.
// --tls: one private redis-server with a plain and a TLS port (certificates
//   from tests/support/tls_certs.hpp); uvredis over rediss:// and over plain
//   TCP, and redis-benchmark --tls -c 1 -P depth on the TLS port.
//
// Every server is a child process stopped by pid: by its owner on the
// normal path, by the signal handler (watch_pid) on SIGINT/SIGTERM/SIGALRM,
// and by the kernel (PR_SET_PDEATHSIG) should this process die otherwise.

#include "modes.hpp"

#include <uvredis/cluster.hpp>
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include "support.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"
#include "support/tls_certs.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bench {
namespace {

constexpr std::size_t kKeys = 100'000;
constexpr std::size_t kWarm = 2'000;
constexpr std::string_view kValue = "xxxxxxxxxxxxxxxx";  // 16 bytes

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> v;
    v.reserve(kKeys);
    for (std::size_t i = 0; i < kKeys; ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "key:%012zu", i);
      v.emplace_back(buf);
    }
    return v;
  }();
  return k;
}

enum class Op { set, get };

// One sliding-window run on any uvredis executor (Client or ClusterClient).
class Run {
 public:
  Run(uvredis::Executor& ex, Op op, std::size_t n, std::size_t depth, std::function<void()> done)
      : ex_(ex), op_(op), n_(n), depth_(depth), done_cb_(std::move(done)) {}

  void start() {
    t0_ = std::chrono::steady_clock::now();
    const std::size_t first = std::min(n_, depth_);
    while (issued_ < first) issue(issued_++);
  }

  double ops() const { return static_cast<double>(n_) / std::chrono::duration<double>(t1_ - t0_).count(); }
  bool ok() const { return done_ == n_ && bad_ == 0; }
  std::string why() const {
    return std::to_string(done_) + "/" + std::to_string(n_) + " replies, " + std::to_string(bad_) + " wrong" +
           (first_error_.empty() ? "" : "; first error: " + first_error_);
  }

 private:
  void issue(std::size_t i) {
    const std::string_view key = keys()[i % kKeys];
    if (op_ == Op::set) {
      ex_.command({"SET", key, kValue}, [this](uvredis::Result<uvredis::Reply> r) {
        reply(r && r->is_status(), r ? std::string(r->is_error() ? r->str() : "") : r.error().to_string());
      });
    } else {
      ex_.command({"GET", key}, [this](uvredis::Result<uvredis::Reply> r) {
        reply(r && r->is_string() && r->str().size() == kValue.size(),
              r ? std::string(r->is_error() ? r->str() : "") : r.error().to_string());
      });
    }
  }

  void reply(bool good, std::string err) {
    if (!good) {
      ++bad_;
      if (first_error_.empty()) first_error_ = err.empty() ? "unexpected reply" : std::move(err);
    }
    ++done_;
    if (issued_ < n_) {
      issue(issued_++);
    } else if (done_ == n_) {
      t1_ = std::chrono::steady_clock::now();
      done_cb_();
    }
  }

  uvredis::Executor& ex_;
  Op op_;
  std::size_t n_, depth_, issued_ = 0, done_ = 0, bad_ = 0;
  std::function<void()> done_cb_;
  std::string first_error_;
  std::chrono::steady_clock::time_point t0_, t1_;
};

// Warm-up (unmeasured), then the measured run; the loop is stopped, not
// drained, so the client stays connected for the next run.
double measure(uv_loop_t* loop, uvredis::Executor& ex, Op op, std::size_t n, std::size_t depth, const char* who) {
  uv_update_time(loop);  // the loop sat idle while others ran
  alarm(120);            // watchdog: the signal handler kills the servers by pid
  bool finished = false;
  Run run(ex, op, n, depth, [&] {
    finished = true;
    uv_stop(loop);
  });
  Run warm(ex, Op::set, kWarm, 64, [&] { run.start(); });
  warm.start();
  while (!finished) {
    if (uv_run(loop, UV_RUN_DEFAULT) == 0 && !finished) break;  // nothing left to wait for
  }
  alarm(0);
  if (!warm.ok()) die(std::string(who) + " warm-up: " + warm.why());
  if (!run.ok()) die(std::string(who) + (op == Op::set ? " SET: " : " GET: ") + run.why());
  return run.ops();
}

// Closes a client (graceful) and runs the loop until it is gone.
template <class C>
void close_client(uv_loop_t* loop, C& c) {
  bool closed = false;
  c.close([&] {
    closed = true;
    uv_stop(loop);  // the other client's handles would keep uv_run going
  });
  while (!closed && uv_run(loop, UV_RUN_DEFAULT) != 0) {
  }
}

uvredis::ClientOptions plain_options(std::uint16_t port) {
  uvredis::ClientOptions o;
  o.address.host = "127.0.0.1";
  o.address.port = port;
  o.reconnect = false;  // a dropped link is a failed run
  return o;
}

std::string mode_line(std::size_t n, int rounds) {
  return "Medians of " + std::to_string(rounds) + " round(s), N=" + std::to_string(n) +
         " commands per run, one connection per node; ratios are of the medians.";
}

std::string ratio(double a, double b) { return a > 0 && b > 0 ? fixed(a / b, 2) : std::string("–"); }

// samples[depth index][op][contender]
using Samples = std::vector<std::array<std::vector<std::vector<double>>, 2>>;

Samples make_samples(std::size_t depths, std::size_t contenders) {
  Samples s(depths);
  for (auto& d : s)
    for (auto& o : d) o.assign(contenders, {});
  return s;
}

// Watches every harness pid for the signal handler while alive.
class Watch {
 public:
  void add(int pid) {
    watch_pid(pid);
    pids_.push_back(pid);
  }
  ~Watch() {
    for (int p : pids_) unwatch_pid(p);
  }

 private:
  std::vector<int> pids_;
};

// ------------------------------------------------------------ redis-benchmark

std::array<double, 2> redis_benchmark_tls(std::uint16_t port, std::size_t n, std::size_t depth) {
  const auto& c = uvredis::test::tls_certs();
  const std::vector<std::string> args = {
      "timeout", "60", "redis-benchmark", "--tls", "--cacert", c.ca_file, "--cert", c.client_cert, "--key",
      c.client_key, "-h", "127.0.0.1", "-p", std::to_string(port), "-c", "1", "-t", "set,get", "-d",
      std::to_string(kValue.size()), "-r", std::to_string(kKeys), "-P", std::to_string(depth), "-n",
      std::to_string(n), "--csv", "-q"};
  auto [out, status] = capture(args);
  if (status != 0) die("redis-benchmark --tls exited with status " + std::to_string(status) + ":\n" + out);
  std::array<double, 2> r{0, 0};
  std::size_t pos = 0;
  while (pos < out.size()) {  // "SET","123456.79",...
    std::size_t eol = out.find('\n', pos);
    if (eol == std::string::npos) eol = out.size();
    const std::string line = out.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.rfind("\"SET\",\"", 0) == 0) r[0] = std::strtod(line.c_str() + 7, nullptr);
    if (line.rfind("\"GET\",\"", 0) == 0) r[1] = std::strtod(line.c_str() + 7, nullptr);
  }
  if (r[0] <= 0 || r[1] <= 0) die("could not read redis-benchmark's CSV output:\n" + out);
  return r;
}

}  // namespace

// ---------------------------------------------------------------- --cluster

int run_cluster(const ModeConfig& cfg) {
  enum { kCluster, kSingle, kN };
  const char* names[kN] = {"uvredis cluster", "uvredis single"};

  alarm(180);  // cluster creation has its own timeouts; this is the backstop
  Watch watch;
  PrivateServer single;  // watched by support.cpp itself
  uvredis::test::RedisCluster cluster;
  for (auto& node : cluster.nodes()) watch.add(node->pid());
  alarm(0);
  std::fprintf(stderr, "cluster seeds:");
  for (const auto& s : cluster.seeds()) std::fprintf(stderr, " %s", s.c_str());
  std::fprintf(stderr, "; single server 127.0.0.1:%u\nN=%zu commands per run, %d round(s)\n", single.port(), cfg.n,
               cfg.rounds);

  uv_loop_t loop;
  uv_loop_init(&loop);
  double masters = 0;
  Samples samples = make_samples(cfg.depths.size(), kN);
  {
    uvredis::ClusterOptions co;
    co.seeds = cluster.seeds();
    uvredis::ClusterClient cc(&loop, co);
    uvredis::Client sc(&loop, plain_options(single.port()));
    for (int round = 0; round < cfg.rounds; ++round) {
      for (std::size_t d = 0; d < cfg.depths.size(); ++d) {
        for (int k = 0; k < kN; ++k) {
          const int c = (k + round) % kN;
          for (int o = 0; o < 2; ++o) {
            const Op op = o == 0 ? Op::set : Op::get;
            const double ops = c == kCluster ? measure(&loop, cc, op, cfg.n, cfg.depths[d], names[c])
                                             : measure(&loop, sc, op, cfg.n, cfg.depths[d], names[c]);
            samples[d][o][c].push_back(ops);
            std::fprintf(stderr, "round %d  depth %-5zu  %-16s  %s  %10s ops/s\n", round + 1, cfg.depths[d], names[c],
                         o == 0 ? "SET" : "GET", grouped(ops).c_str());
          }
        }
      }
    }
    const auto st = cc.stats();
    masters = static_cast<double>(st.masters);
    std::fprintf(stderr, "cluster client: %zu masters, %llu MOVED, %llu ASK, %llu retries\n", st.masters,
                 static_cast<unsigned long long>(st.moved), static_cast<unsigned long long>(st.ask),
                 static_cast<unsigned long long>(st.retries));
    close_client(&loop, cc);
    close_client(&loop, sc);
  }
  if (uv_loop_close(&loop) != 0) std::fprintf(stderr, "warning: uv_loop_close found open handles\n");

  std::printf("\n%s Cluster: %.0f masters + replicas.\n\n", mode_line(cfg.n, cfg.rounds).c_str(), masters);
  std::printf("| depth | op | uvredis cluster ops/s | uvredis single ops/s | cluster / single |\n");
  std::printf("|---|---|--:|--:|--:|\n");
  for (std::size_t d = 0; d < cfg.depths.size(); ++d) {
    for (int o = 0; o < 2; ++o) {
      const double a = median(samples[d][o][kCluster]), b = median(samples[d][o][kSingle]);
      std::printf("| %zu | %s | %s | %s | %s |\n", cfg.depths[d], o == 0 ? "SET" : "GET", grouped(a).c_str(),
                  grouped(b).c_str(), ratio(a, b).c_str());
    }
  }
  return 0;  // the cluster's and the single server's destructors stop them by pid
}

// -------------------------------------------------------------------- --tls

int run_tls(const ModeConfig& cfg) {
  if (!uvredis::tls_supported()) die("--tls: this uvredis was built without TLS");
  enum { kTls, kPlain, kRedisBenchmark, kN };
  const char* names[kN] = {"uvredis rediss", "uvredis plain", "redis-benchmark"};

  const auto& certs = uvredis::test::tls_certs();
  uvredis::test::ServerTls t;
  t.cert_file = certs.server_cert;
  t.key_file = certs.server_key;
  t.ca_file = certs.ca_file;
  uvredis::test::ServerOptions so;
  so.tls = t;
  alarm(60);
  Watch watch;
  uvredis::test::RedisServer server(so);
  watch.add(server.pid());
  alarm(0);
  std::fprintf(stderr, "server 127.0.0.1: plain %u, TLS %u\nN=%zu commands per run, %d round(s)\n", server.port(),
               server.tls_port(), cfg.n, cfg.rounds);

  auto tls_opts = uvredis::ClientOptions::from_url(server.tls_url());
  if (!tls_opts) die("from_url: " + tls_opts.error().to_string());
  tls_opts->tls_ca_file = certs.ca_file;
  tls_opts->reconnect = false;

  uv_loop_t loop;
  uv_loop_init(&loop);
  Samples samples = make_samples(cfg.depths.size(), kN);
  {
    uvredis::Client tc(&loop, *tls_opts);
    uvredis::Client pc(&loop, plain_options(server.port()));
    for (int round = 0; round < cfg.rounds; ++round) {
      for (std::size_t d = 0; d < cfg.depths.size(); ++d) {
        for (int k = 0; k < kN; ++k) {
          const int c = (k + round) % kN;
          std::array<double, 2> ops{};
          if (c == kRedisBenchmark) {
            alarm(120);
            ops = redis_benchmark_tls(server.tls_port(), cfg.n, cfg.depths[d]);
            alarm(0);
          } else {
            for (int o = 0; o < 2; ++o)
              ops[o] = measure(&loop, c == kTls ? tc : pc, o == 0 ? Op::set : Op::get, cfg.n, cfg.depths[d], names[c]);
          }
          for (int o = 0; o < 2; ++o) {
            samples[d][o][c].push_back(ops[o]);
            std::fprintf(stderr, "round %d  depth %-5zu  %-16s  %s  %10s ops/s\n", round + 1, cfg.depths[d], names[c],
                         o == 0 ? "SET" : "GET", grouped(ops[o]).c_str());
          }
        }
      }
    }
    close_client(&loop, tc);
    close_client(&loop, pc);
  }
  if (uv_loop_close(&loop) != 0) std::fprintf(stderr, "warning: uv_loop_close found open handles\n");

  std::printf("\n%s Same server for all three: TLS port and plain port.\n\n", mode_line(cfg.n, cfg.rounds).c_str());
  std::printf(
      "| depth | op | uvredis TLS ops/s | uvredis plain ops/s | redis-benchmark TLS ops/s | TLS / plain | "
      "uvredis TLS / redis-benchmark TLS |\n");
  std::printf("|---|---|--:|--:|--:|--:|--:|\n");
  for (std::size_t d = 0; d < cfg.depths.size(); ++d) {
    for (int o = 0; o < 2; ++o) {
      const double a = median(samples[d][o][kTls]), b = median(samples[d][o][kPlain]),
                   r = median(samples[d][o][kRedisBenchmark]);
      std::printf("| %zu | %s | %s | %s | %s | %s | %s |\n", cfg.depths[d], o == 0 ? "SET" : "GET", grouped(a).c_str(),
                  grouped(b).c_str(), grouped(r).c_str(), ratio(a, b).c_str(), ratio(a, r).c_str());
    }
  }
  return 0;  // the server's destructor stops it by pid
}

}  // namespace bench
