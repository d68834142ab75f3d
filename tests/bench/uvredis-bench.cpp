// uvredis-bench: uvredis against raw hiredis async (stock libuv adapter) and
// redis-benchmark, in one run, on one private redis-server.
//
// Run by hand, never by the tests:
//
//   meson setup build-rel --buildtype=release -Dbench=true -Dtests=false
//   ninja -C build-rel && build-rel/tests/bench/uvredis-bench      # full run
//   build-rel/tests/bench/uvredis-bench --quick                    # smoke test
//   build-rel/tests/bench/uvredis-bench --n 200000 --rounds 3      # shorter run
//   REDIS_URL=127.0.0.1:7000 build-rel/tests/bench/uvredis-bench   # your server
//   build-rel/tests/bench/uvredis-bench --pubsub                   # pub/sub mode
//   build-rel/tests/bench/uvredis-bench --cluster                  # 6-node cluster vs one server
//   build-rel/tests/bench/uvredis-bench --tls                      # rediss:// vs plain, redis-benchmark --tls
//   build-rel/tests/bench/uvredis-bench --csv docs/data/commands.csv   # also write the medians as CSV
//   python3 tests/bench/plot.py docs/data/commands.csv docs/img/throughput.svg   # chart + table
//
// --pubsub measures one publisher to one subscriber instead; its workload
// and contenders are described at the top of tests/bench/pubsub.cpp;
// --cluster and --tls start servers of their own (REDIS_URL is ignored) and
// are described at the top of tests/bench/modes.cpp. What follows is about
// the default mode (commands).
//
// Workload: SET, then GET, of 16-byte values over 100,000 distinct keys
// ("key:" + 12 digits, the names redis-benchmark -r uses), N commands per
// run (default 1,000,000; 100,000 at depth 1, --n-latency) on one
// connection, with `depth` commands in flight, and in one burst (all N
// issued in one loop turn). uvredis and raw hiredis keep a sliding window
// (the next command is issued when a reply arrives); redis-benchmark -c 1
// -P depth sends a batch of `depth` and waits for all of it (burst: -P N).
// Four contenders: uvredis through the typed helpers (client.set /
// client.get), uvredis through command() (a Reply for each), raw hiredis
// async on its stock libuv adapter, redis-benchmark. They take turns for
// each depth and op within every round, in an order that rotates from round
// to round; throughput and CPU are medians over the rounds, and every ratio
// is the median of the ratios taken within each round (paired), not a ratio
// of medians.
//
// Client CPU per command = user+sys delta over the measured phase / N:
// getrusage(RUSAGE_SELF) for the in-process contenders, wait4's rusage of the
// redis-benchmark child (one invocation per op; its start-up is included).
// The private redis-server is a child process whose CPU is not counted.
//
// Latency (depth 1): every command is timed from issue to reply with
// steady_clock; p50/p99/p99.9 over the run. redis-benchmark's come from its
// own "Latency by percentile distribution" report.
//
// Memory per queued command (burst): RSS (/proc/self/statm) and heap bytes
// in use (mallinfo2) are sampled just before and just after the N commands
// are queued in one loop turn, before any reply is read; growth / N.
//
// Instructions per command (repeatable where wall-clock is not): the
// measured phase of each uvredis/hiredis run is bracketed by callgrind's
// START/STOP_INSTRUMENTATION requests, so with --instr-atstart=no callgrind
// counts nothing but that phase (setup, connect, PING and close excluded).
// tests/bench/callgrind.sh does it all (private server, one valgrind run per
// contender and op, Ir / N and the ratios to hiredis):
//
//   tests/bench/callgrind.sh build-rel/tests/bench/uvredis-bench 1024
//
// By hand, with a server of yours on PORT, to see where they go:
//
//   REDIS_URL=127.0.0.1:PORT valgrind --tool=callgrind --instr-atstart=no
//     --callgrind-out-file=cg.uv build-rel/tests/bench/uvredis-bench --only uvredis
//     --op get --depths 1024 --no-burst --rounds 1 --n 100000      (one command line)
//   callgrind_annotate --tree=caller cg.uv | less     (PROGRAM TOTALS / N per command)
//
// The requests compile to a few no-op instructions outside valgrind (and to
// nothing where <valgrind/callgrind.h> is missing).

#include <uvredis/uvredis.hpp>

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}
#include <hiredis/adapters/libuv.h>
#include <uv.h>

#include "modes.hpp"
#include "pubsub.hpp"
#include "support.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using bench::capture;
using bench::cpu_seconds;
using bench::die;
using bench::fixed;
using bench::grouped;
using bench::median;
using bench::Target;

constexpr std::size_t kKeys = 100'000;
constexpr std::string_view kValue = "xxxxxxxxxxxxxxxx";  // 16 bytes, like redis-benchmark -d 16

std::vector<std::string> g_keys;

// --------------------------------------------------------------- measuring

enum class Op { set, get };
const char* op_name(Op op) { return op == Op::set ? "SET" : "GET"; }

struct Sample {
  double ops = 0;     // commands per second
  double cpu_us = 0;  // client CPU (user+sys) per command, microseconds
  // Depth 1 only: latency percentiles of the commands, microseconds (0: not measured).
  double p50 = 0, p99 = 0, p999 = 0;
  // One burst only (in-process contenders): growth of RSS and of heap bytes in
  // use while all N commands were queued, per command (<0: not measured).
  double rss_per_cmd = -1, heap_per_cmd = -1;
};

// The value at quantile q of sorted v.
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const std::size_t i = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

// The sliding window shared by the in-process contenders. Self provides
// issue(i) and finish(); replies come back through reply(ok). At depth 1 it
// times every command (issue to reply, one clock read each way); in a burst
// it samples RSS and heap right after queueing all N, before the loop runs.
template <class Self>
class Window {
 public:
  Window(std::size_t n, std::size_t depth) : n_(n), depth_(depth == 0 ? n : depth), burst_(depth == 0) {
    if (depth_ == 1) latencies_.reserve(n_);
  }

  void begin() {
    std::size_t rss0 = 0, heap0 = 0;
    if (burst_) {
      rss0 = bench::rss_bytes();
      heap0 = bench::heap_bytes();
    }
    BENCH_CG_START();
    cpu0_ = cpu_seconds();
    t0_ = std::chrono::steady_clock::now();
    const std::size_t first = std::min(n_, depth_);
    while (issued_ < first) issue_next();
    if (burst_) {  // all N queued, no reply read yet
      const double rss1 = static_cast<double>(bench::rss_bytes()), heap1 = static_cast<double>(bench::heap_bytes());
      sample_.rss_per_cmd = (rss1 - static_cast<double>(rss0)) / static_cast<double>(n_);
      sample_.heap_per_cmd = (heap1 - static_cast<double>(heap0)) / static_cast<double>(n_);
    }
  }

  void reply(bool ok) {
    if (depth_ == 1)
      latencies_.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - sent_).count());
    if (!ok) ++bad_;
    ++done_;
    if (issued_ < n_) {
      issue_next();
    } else if (done_ == n_) {
      const auto t1 = std::chrono::steady_clock::now();
      const double cpu1 = cpu_seconds();
      BENCH_CG_STOP();
      const double secs = std::chrono::duration<double>(t1 - t0_).count();
      sample_.ops = static_cast<double>(n_) / secs;
      sample_.cpu_us = (cpu1 - cpu0_) * 1e6 / static_cast<double>(n_);
      if (!latencies_.empty()) {
        std::sort(latencies_.begin(), latencies_.end());
        sample_.p50 = quantile(latencies_, 0.50);
        sample_.p99 = quantile(latencies_, 0.99);
        sample_.p999 = quantile(latencies_, 0.999);
      }
      self().finish();
    }
  }

  Sample result(const char* who, Op op) const {
    if (done_ != n_ || bad_ != 0 || !error_.empty())
      die(std::string(who) + " " + op_name(op) + ": " + std::to_string(done_) + "/" + std::to_string(n_) +
          " replies, " + std::to_string(bad_) + " wrong" + (error_.empty() ? "" : "; " + error_));
    return sample_;
  }

  std::string error_;

 private:
  Self& self() { return static_cast<Self&>(*this); }
  void issue_next() {
    if (depth_ == 1) sent_ = std::chrono::steady_clock::now();
    self().issue(issued_++);
  }

  std::size_t n_, depth_;
  bool burst_;
  std::size_t issued_ = 0, done_ = 0, bad_ = 0;
  double cpu0_ = 0;
  std::chrono::steady_clock::time_point t0_, sent_;
  std::vector<double> latencies_;
  Sample sample_;
};

// --------------------------------------------------------------- contenders

// uvredis through the typed helpers (client.set / client.get, what users
// call), or with `generic` through command() with a Reply for both.
class UvredisRun : public Window<UvredisRun> {
 public:
  UvredisRun(uvredis::Client& c, Op op, bool generic, std::size_t n, std::size_t depth)
      : Window(n, depth), client_(c), op_(op), generic_(generic) {}

  void issue(std::size_t i) {
    const std::string_view key = g_keys[i % kKeys];
    if (generic_) {
      if (op_ == Op::set)
        client_.command({"SET", key, kValue}, [this](uvredis::Result<uvredis::Reply> r) { reply(r && r->is_status()); });
      else
        client_.command({"GET", key}, [this](uvredis::Result<uvredis::Reply> r) { reply(r && r->is_string()); });
    } else if (op_ == Op::set) {
      client_.set(key, kValue, [this](uvredis::Result<bool> r) { reply(r && *r); });
    } else {
      client_.get(key, [this](uvredis::Result<std::optional<std::string>> r) {
        reply(r && r->has_value() && (*r)->size() == kValue.size());
      });
    }
  }
  void finish() { client_.close(); }

 private:
  uvredis::Client& client_;
  Op op_;
  bool generic_;
};

Sample run_uvredis(uv_loop_t* loop, const Target& t, Op op, bool generic, std::size_t n, std::size_t depth) {
  uvredis::ClientOptions opts;
  opts.address.host = t.host;
  opts.address.port = t.port;
  opts.reconnect = false;  // a dropped link is a failed run, not something to hide
  // What observability costs (docs/observability.md): UVREDIS_BENCH_HISTOGRAM=1
  // keeps the latency histogram, UVREDIS_BENCH_OBSERVER=1 adds an observer
  // that does nothing. Off by default: the figures are of the plain client.
  struct NullObserver final : uvredis::CommandObserver {};
  if (const char* h = std::getenv("UVREDIS_BENCH_HISTOGRAM"); h && *h == '1') opts.latency_histogram = true;
  if (const char* o = std::getenv("UVREDIS_BENCH_OBSERVER"); o && *o == '1')
    opts.observer = std::make_shared<NullObserver>();
  // The loop sat idle while other contenders ran (redis-benchmark blocks us
  // for seconds): refresh its cached clock, or the command timeouts armed
  // below start from a stale "now" and fire at once.
  uv_update_time(loop);
  uvredis::Client client(loop, opts);
  UvredisRun run(client, op, generic, n, depth);
  client.ping([&](uvredis::Result<std::string> r) {
    if (!r) {
      run.error_ = r.error().to_string();
      client.close();
      return;
    }
    run.begin();
  });
  uv_run(loop, UV_RUN_DEFAULT);
  return run.result(generic ? "uvredis command()" : "uvredis", op);
}

class HiredisRun : public Window<HiredisRun> {
 public:
  HiredisRun(redisAsyncContext* ac, Op op, std::size_t n, std::size_t depth) : Window(n, depth), ac_(ac), op_(op) {}

  void issue(std::size_t i) {
    const std::string& key = g_keys[i % kKeys];
    const char* argv[3] = {op_ == Op::set ? "SET" : "GET", key.data(), kValue.data()};
    const size_t lens[3] = {3, key.size(), kValue.size()};
    redisAsyncCommandArgv(ac_, &HiredisRun::on_reply, this, op_ == Op::set ? 3 : 2, argv, lens);
  }
  void finish() { redisAsyncDisconnect(ac_); }

  static void on_reply(redisAsyncContext*, void* r, void* priv) {
    auto* self = static_cast<HiredisRun*>(priv);
    const auto* rep = static_cast<const redisReply*>(r);
    if (rep == nullptr) return;  // the link went away; result() reports the shortfall
    const bool ok = self->op_ == Op::set
                        ? rep->type == REDIS_REPLY_STATUS
                        : rep->type == REDIS_REPLY_STRING && rep->len == static_cast<int>(kValue.size());
    self->reply(ok);
  }

 private:
  redisAsyncContext* ac_;
  Op op_;
};

Sample run_hiredis(uv_loop_t* loop, const Target& t, Op op, std::size_t n, std::size_t depth) {
  redisAsyncContext* ac = redisAsyncConnect(t.host.c_str(), t.port);
  if (ac == nullptr) die("hiredis: out of memory");
  if (ac->err) {
    std::string e = ac->errstr;
    redisAsyncFree(ac);
    die("hiredis connect: " + e);
  }
  HiredisRun run(ac, op, n, depth);
  ac->data = &run;
  // The stock adapter, as a user of hiredis would take it. (It never reports
  // a refused connect; the watchdog covers that here.)
  if (redisLibuvAttach(ac, loop) != REDIS_OK) die("redisLibuvAttach failed");
  redisAsyncSetConnectCallback(ac, [](const redisAsyncContext* c, int status) {
    if (status != REDIS_OK) static_cast<HiredisRun*>(c->data)->error_ = std::string("connect: ") + c->errstr;
  });
  redisAsyncSetDisconnectCallback(ac, [](const redisAsyncContext* c, int status) {
    if (status != REDIS_OK) static_cast<HiredisRun*>(c->data)->error_ = std::string("disconnect: ") + c->errstr;
  });
  redisAsyncCommand(
      ac,
      [](redisAsyncContext*, void* r, void* priv) {
        auto* self = static_cast<HiredisRun*>(priv);
        if (r == nullptr) return;
        self->begin();
      },
      &run, "PING");
  uv_run(loop, UV_RUN_DEFAULT);
  return run.result("hiredis", op);
}

// redis-benchmark -P is a batch (send P, wait for all P replies), not a
// sliding window; depth 0 (one burst) becomes -P N. One op per invocation,
// so that the child's CPU (wait4's rusage, start-up included) belongs to it.
// Its plain-text report gives the throughput and, from the "Latency by
// percentile distribution" lines ("P% <= V milliseconds (cumulative count
// C)"), the latency percentiles: the first V whose C reaches the quantile.
Sample run_redis_benchmark(const Target& t, Op op, std::size_t n, std::size_t depth) {
  const std::vector<std::string> args = {
      "timeout", "120", "redis-benchmark", "-h", t.host, "-p", std::to_string(t.port), "-r", std::to_string(kKeys),
      "-d", std::to_string(kValue.size()), "-c", "1", "-P", std::to_string(depth == 0 ? n : depth), "-n",
      std::to_string(n), "-t", op == Op::set ? "set" : "get"};
  double cpu = 0;
  auto [raw, status] = capture(args, &cpu);
  if (status != 0) die("redis-benchmark exited with status " + std::to_string(status) + ":\n" + raw);
  std::string out;  // its progress lines end in \r
  for (char ch : raw) out += ch == '\r' ? '\n' : ch;
  Sample s;
  s.cpu_us = cpu * 1e6 / static_cast<double>(n);
  std::vector<std::pair<double, double>> dist;  // (latency ms, cumulative count)
  bool in_dist = false;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t eol = out.find('\n', pos);
    if (eol == std::string::npos) eol = out.size();
    const std::string line = out.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.find("Latency by percentile distribution") != std::string::npos) {
      in_dist = true;
    } else if (line.find("Cumulative distribution") != std::string::npos) {
      in_dist = false;
    } else if (const auto k = line.find("throughput summary:"); k != std::string::npos) {
      s.ops = std::strtod(line.c_str() + k + 19, nullptr);
    } else if (in_dist) {
      const auto le = line.find("<= "), cc = line.find("cumulative count ");
      if (le != std::string::npos && cc != std::string::npos)
        dist.emplace_back(std::strtod(line.c_str() + le + 3, nullptr), std::strtod(line.c_str() + cc + 17, nullptr));
    }
  }
  if (s.ops <= 0) die("could not read redis-benchmark's report:\n" + out);
  if (depth == 1 && !dist.empty()) {
    const double total = dist.back().second;
    auto at = [&](double q) {
      for (const auto& [ms, count] : dist)
        if (count >= q * total) return ms * 1000;
      return dist.back().first * 1000;
    };
    s.p50 = at(0.50);
    s.p99 = at(0.99);
    s.p999 = at(0.999);
  }
  return s;
}

// ------------------------------------------------------------------ report

enum Contender { kUvredis, kUvredisCommand, kHiredis, kRedisBenchmark, kContenders };
const char* contender_name(int c) {
  static const char* names[] = {"uvredis", "uvredis-command", "hiredis", "redis-benchmark"};
  return names[c];
}

std::string mode_name(std::size_t depth) { return depth == 0 ? "burst" : std::to_string(depth); }

struct Config {
  std::size_t n = 1'000'000;
  std::size_t n_latency = 100'000;  // depth 1 runs (a round trip each: 1,000,000 would take minutes)
  int rounds = 3;
  std::vector<std::size_t> depths = {1, 16, 128, 1024};
  bool burst = true;
  bool enabled[kContenders] = {true, true, true, true};
  bool ops[2] = {true, true};
  bool pubsub = false;
  bool cluster = false, tls = false;
  bool n_set = false, rounds_set = false, depths_set = false;
  std::vector<std::size_t> sizes = {16, 256};
  std::string csv;  // --csv FILE: the medians of the commands mode, for tests/bench/plot.py
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "uvredis-bench: %s\n"
               "usage: uvredis-bench [--quick] [--n N] [--n-latency N] [--rounds R] [--depths 1,16,128,1024]\n"
               "                     [--no-burst] [--op set|get] [--csv FILE]\n"
               "                     [--only uvredis|uvredis-command|hiredis|redis-benchmark]\n"
               "       uvredis-bench --pubsub [--quick] [--n N] [--rounds R] [--depths 1,128,1024]\n"
               "                     [--sizes 16,256] [--only uvredis|hiredis|redis-benchmark]\n"
               "       uvredis-bench --cluster|--tls [--quick] [--n N] [--rounds R] [--depths 16,128,1024]\n"
               "Commands mode: N=1000000 per run (depth 1: --n-latency, default 100000), 3 rounds.\n"
               "--pubsub: one publisher to one subscriber (default N=50000, 5 rounds);\n"
               "see tests/bench/pubsub.cpp. REDIS_URL=host:port uses that server instead of a\n"
               "private one.\n"
               "--cluster: uvredis on a private 6-node cluster vs on one server; --tls: uvredis\n"
               "rediss:// vs plain and vs redis-benchmark --tls (default N=100000, 3 rounds;\n"
               "see tests/bench/modes.cpp; both start their own servers).\n",
               why);
  std::exit(2);
}

std::vector<std::size_t> number_list(std::string_view s, const char* what) {
  std::vector<std::size_t> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    const std::string part(s.substr(0, comma));
    const long v = std::strtol(part.c_str(), nullptr, 10);
    if (v <= 0) usage(what);
    out.push_back(static_cast<std::size_t>(v));
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
  }
  if (out.empty()) usage(what);
  return out;
}

Config parse_args(int argc, char** argv) {
  Config c;
  bool quick = false;
  auto number = [&](int& i) -> std::size_t {
    if (i + 1 >= argc) usage("missing number");
    char* end = nullptr;
    const unsigned long long v = std::strtoull(argv[++i], &end, 10);
    if (*end != '\0' || v == 0) usage("bad number");
    return static_cast<std::size_t>(v);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--pubsub") {
      c.pubsub = true;
    } else if (a == "--cluster") {
      c.cluster = true;
    } else if (a == "--tls") {
      c.tls = true;
    } else if (a == "--n") {
      c.n = number(i);
      c.n_set = true;
    } else if (a == "--n-latency") {
      c.n_latency = number(i);
    } else if (a == "--op") {
      if (i + 1 >= argc) usage("missing op");
      const std::string_view op = argv[++i];
      c.ops[0] = op == "set";
      c.ops[1] = op == "get";
      if (!c.ops[0] && !c.ops[1]) usage("--op is set or get");
    } else if (a == "--rounds") {
      c.rounds = static_cast<int>(number(i));
      c.rounds_set = true;
    } else if (a == "--no-burst") {
      c.burst = false;
    } else if (a == "--depths") {
      if (i + 1 >= argc) usage("missing depths");
      c.depths = number_list(argv[++i], "bad depth");
      c.depths_set = true;
    } else if (a == "--sizes") {
      if (i + 1 >= argc) usage("missing sizes");
      c.sizes = number_list(argv[++i], "bad size");
    } else if (a == "--csv") {
      if (i + 1 >= argc) usage("missing file name");
      c.csv = argv[++i];
    } else if (a == "--only") {
      if (i + 1 >= argc) usage("missing contender");
      const std::string_view who = argv[++i];
      for (int k = 0; k < kContenders; ++k) c.enabled[k] = who == contender_name(k);
      if (!c.enabled[0] && !c.enabled[1] && !c.enabled[2] && !c.enabled[3]) usage("unknown contender");
    } else {
      usage("unknown argument");
    }
  }
  if (c.pubsub + c.cluster + c.tls > 1) usage("--pubsub, --cluster and --tls are separate modes");
  if (!c.csv.empty() && (c.pubsub || c.cluster || c.tls)) usage("--csv is for the commands mode only");
  if (quick) {  // --n and --rounds given as well win
    if (!c.n_set) c.n = 10'000;
    if (!c.rounds_set) c.rounds = 1;
    c.n_set = c.rounds_set = true;
  }
  c.n_latency = std::min(c.n_latency, c.n);
  return c;
}

int run_commands(const Config& cfg, const Target& target) {
  std::fprintf(stderr, "N=%zu commands per run (depth 1: %zu), %d round(s)\n", cfg.n, cfg.n_latency, cfg.rounds);

  uv_loop_t loop;
  uv_loop_init(&loop);

  std::vector<std::size_t> modes = cfg.depths;
  if (cfg.burst) modes.push_back(0);
  auto n_for = [&](std::size_t depth) { return depth == 1 ? cfg.n_latency : cfg.n; };
  // samples[mode][op][contender], one per round (every enabled contender runs
  // in every round, so index r of each vector is round r).
  std::map<std::size_t, std::array<std::array<std::vector<Sample>, kContenders>, 2>> samples;

  for (int round = 0; round < cfg.rounds; ++round) {
    for (std::size_t depth : modes) {
      for (int o = 0; o < 2; ++o) {
        if (!cfg.ops[o]) continue;
        const Op op = o == 0 ? Op::set : Op::get;
        for (int k = 0; k < kContenders; ++k) {
          const int c = (k + round) % kContenders;  // rotate who goes first
          if (!cfg.enabled[c]) continue;
          alarm(300);  // watchdog: a hung run must not keep the server alive forever
          const std::size_t n = n_for(depth);
          Sample s;
          if (c == kRedisBenchmark)
            s = run_redis_benchmark(target, op, n, depth);
          else if (c == kHiredis)
            s = run_hiredis(&loop, target, op, n, depth);
          else
            s = run_uvredis(&loop, target, op, c == kUvredisCommand, n, depth);
          alarm(0);
          samples[depth][o][c].push_back(s);
          std::fprintf(stderr, "round %d  depth %-5s  %-15s  %s  %10s ops/s  %7.3f us CPU/cmd", round + 1,
                       mode_name(depth).c_str(), contender_name(c), op_name(op), grouped(s.ops).c_str(), s.cpu_us);
          if (s.p50 > 0) std::fprintf(stderr, "  p50/p99/p99.9 %.0f/%.0f/%.0f us", s.p50, s.p99, s.p999);
          if (s.rss_per_cmd >= 0) std::fprintf(stderr, "  +%.0f B RSS/cmd", s.rss_per_cmd);
          std::fprintf(stderr, "\n");
        }
      }
    }
  }

  if (uv_loop_close(&loop) != 0) std::fprintf(stderr, "warning: uv_loop_close found open handles\n");

  // Medians over the rounds of one figure of one contender, and medians of
  // the ratios a/b taken within each round (the two ran minutes apart at
  // most, under the same load).
  auto med = [&](std::size_t depth, int o, int c, double Sample::*f) {
    std::vector<double> v;
    for (const Sample& s : samples[depth][o][c]) v.push_back(s.*f);
    return v.empty() ? -1.0 : median(v);
  };
  auto paired = [&](std::size_t depth, int o, int a, int b, double Sample::*f) {
    const auto& va = samples[depth][o][a];
    const auto& vb = samples[depth][o][b];
    std::vector<double> r;
    for (std::size_t i = 0; i < va.size() && i < vb.size(); ++i)
      if (va[i].*f > 0 && vb[i].*f > 0) r.push_back(va[i].*f / vb[i].*f);
    return r.empty() ? -1.0 : median(r);
  };
  auto cell = [](double v, int prec) { return v > 0 ? (prec < 0 ? grouped(v) : fixed(v, prec)) : std::string("–"); };
  auto ops_of = [](int o) { return o == 0 ? "SET" : "GET"; };

  std::printf(
      "\nN=%zu commands per run (depth 1: %zu), %d round(s), one connection, 16-byte values over %zu keys.\n"
      "Depth = commands in flight: a sliding window for uvredis and hiredis (the next command leaves when a\n"
      "reply arrives); redis-benchmark -c 1 -P depth sends a batch of `depth` and waits for all of it.\n"
      "burst = all N issued in one loop turn (redis-benchmark -P N). uvredis = typed client.set/get;\n"
      "uvredis-command = client.command() with a Reply; hiredis = raw hiredis async, stock libuv adapter.\n"
      "Ops/s and CPU: medians over the rounds; ratios: medians of the ratios within each round.\n"
      "CPU = client user+sys per command (redis-benchmark: its process, start-up included).\n\n",
      cfg.n, cfg.n_latency, cfg.rounds, kKeys);
  std::printf(
      "| depth | op | uvredis ops/s | uvredis-command ops/s | hiredis ops/s | redis-benchmark -P ops/s | "
      "uvredis / redis-benchmark | uvredis / hiredis | command() / typed |\n|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
  for (std::size_t depth : modes)
    for (int o = 0; o < 2; ++o) {
      if (!cfg.ops[o]) continue;
      std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mode_name(depth).c_str(), ops_of(o),
                  cell(med(depth, o, kUvredis, &Sample::ops), -1).c_str(),
                  cell(med(depth, o, kUvredisCommand, &Sample::ops), -1).c_str(),
                  cell(med(depth, o, kHiredis, &Sample::ops), -1).c_str(),
                  cell(med(depth, o, kRedisBenchmark, &Sample::ops), -1).c_str(),
                  cell(paired(depth, o, kUvredis, kRedisBenchmark, &Sample::ops), 2).c_str(),
                  cell(paired(depth, o, kUvredis, kHiredis, &Sample::ops), 2).c_str(),
                  cell(paired(depth, o, kUvredisCommand, kUvredis, &Sample::ops), 2).c_str());
    }

  std::printf(
      "\nClient CPU per command, µs (user+sys):\n\n"
      "| depth | op | uvredis | uvredis-command | hiredis | redis-benchmark | uvredis / hiredis | "
      "uvredis / redis-benchmark |\n|---|---|--:|--:|--:|--:|--:|--:|\n");
  for (std::size_t depth : modes)
    for (int o = 0; o < 2; ++o) {
      if (!cfg.ops[o]) continue;
      std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", mode_name(depth).c_str(), ops_of(o),
                  cell(med(depth, o, kUvredis, &Sample::cpu_us), 3).c_str(),
                  cell(med(depth, o, kUvredisCommand, &Sample::cpu_us), 3).c_str(),
                  cell(med(depth, o, kHiredis, &Sample::cpu_us), 3).c_str(),
                  cell(med(depth, o, kRedisBenchmark, &Sample::cpu_us), 3).c_str(),
                  cell(paired(depth, o, kUvredis, kHiredis, &Sample::cpu_us), 2).c_str(),
                  cell(paired(depth, o, kUvredis, kRedisBenchmark, &Sample::cpu_us), 2).c_str());
    }

  if (std::find(modes.begin(), modes.end(), std::size_t{1}) != modes.end()) {
    std::printf(
        "\nLatency at depth 1, µs (issue to reply; medians over the rounds; redis-benchmark's from its own\n"
        "histogram):\n\n| op | contender | p50 | p99 | p99.9 |\n|---|---|--:|--:|--:|\n");
    for (int o = 0; o < 2; ++o) {
      if (!cfg.ops[o]) continue;
      for (int c = 0; c < kContenders; ++c) {
        if (!cfg.enabled[c]) continue;
        std::printf("| %s | %s | %s | %s | %s |\n", ops_of(o), contender_name(c),
                    cell(med(1, o, c, &Sample::p50), 1).c_str(), cell(med(1, o, c, &Sample::p99), 1).c_str(),
                    cell(med(1, o, c, &Sample::p999), 1).c_str());
      }
    }
  }

  if (cfg.burst) {
    std::printf(
        "\nMemory per queued command, burst of N=%zu (growth right after queueing all N, before any reply\n"
        "is read; RSS from /proc/self/statm, heap = mallinfo2 bytes in use; medians over the rounds):\n\n"
        "| op | uvredis RSS B/cmd | uvredis heap B/cmd | uvredis-command RSS B/cmd | hiredis RSS B/cmd | "
        "hiredis heap B/cmd | RSS uvredis / hiredis |\n|---|--:|--:|--:|--:|--:|--:|\n",
        cfg.n);
    for (int o = 0; o < 2; ++o) {
      if (!cfg.ops[o]) continue;
      std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", ops_of(o),
                  cell(med(0, o, kUvredis, &Sample::rss_per_cmd), 1).c_str(),
                  cell(med(0, o, kUvredis, &Sample::heap_per_cmd), 1).c_str(),
                  cell(med(0, o, kUvredisCommand, &Sample::rss_per_cmd), 1).c_str(),
                  cell(med(0, o, kHiredis, &Sample::rss_per_cmd), 1).c_str(),
                  cell(med(0, o, kHiredis, &Sample::heap_per_cmd), 1).c_str(),
                  cell(paired(0, o, kUvredis, kHiredis, &Sample::rss_per_cmd), 2).c_str());
    }
  }

  if (!cfg.csv.empty()) {  // the medians, for tests/bench/plot.py
    FILE* csv = std::fopen(cfg.csv.c_str(), "w");
    if (csv == nullptr) die("cannot write " + cfg.csv);
    std::fprintf(csv,
                 "depth,op,n,rounds,uvredis_ops,hiredis_ops,redis_benchmark_ops,uvredis_cpu_us,hiredis_cpu_us,"
                 "uvredis_command_ops,redis_benchmark_cpu_us\n");
    auto num = [](double v, int prec) { return v > 0 ? fixed(v, prec) : std::string(); };
    for (std::size_t depth : modes)
      for (int o = 0; o < 2; ++o) {
        if (!cfg.ops[o]) continue;
        std::fprintf(csv, "%s,%s,%zu,%d,%s,%s,%s,%s,%s,%s,%s\n", mode_name(depth).c_str(), ops_of(o), n_for(depth),
                     cfg.rounds, num(med(depth, o, kUvredis, &Sample::ops), 0).c_str(),
                     num(med(depth, o, kHiredis, &Sample::ops), 0).c_str(),
                     num(med(depth, o, kRedisBenchmark, &Sample::ops), 0).c_str(),
                     num(med(depth, o, kUvredis, &Sample::cpu_us), 3).c_str(),
                     num(med(depth, o, kHiredis, &Sample::cpu_us), 3).c_str(),
                     num(med(depth, o, kUvredisCommand, &Sample::ops), 0).c_str(),
                     num(med(depth, o, kRedisBenchmark, &Sample::cpu_us), 3).c_str());
      }
    if (std::fclose(csv) != 0) die("cannot write " + cfg.csv);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse_args(argc, argv);
  bench::install_signal_handlers();
  try {
    if (cfg.cluster || cfg.tls) {
      bench::ModeConfig mc;
      if (cfg.n_set) mc.n = cfg.n;
      if (cfg.rounds_set) mc.rounds = cfg.rounds;
      if (cfg.depths_set) mc.depths = cfg.depths;
      return cfg.cluster ? bench::run_cluster(mc) : bench::run_tls(mc);
    }
    std::optional<bench::PrivateServer> server;
    Target target;
    if (std::getenv("REDIS_URL") && *std::getenv("REDIS_URL")) {
      target = bench::target_from_env();
    } else {
      server.emplace();
      target.port = server->port();
    }
    std::fprintf(stderr, "server %s:%u (%s)\n", target.host.c_str(), target.port, server ? "private" : "REDIS_URL");
    if (cfg.pubsub) {
      bench::PubSubConfig ps;
      if (cfg.n_set) ps.n = cfg.n;
      if (cfg.rounds_set) ps.rounds = cfg.rounds;
      if (cfg.depths_set) ps.depths = cfg.depths;
      ps.sizes = cfg.sizes;
      ps.uvredis = cfg.enabled[kUvredis];
      ps.hiredis = cfg.enabled[kHiredis];
      ps.redis_benchmark = cfg.enabled[kRedisBenchmark];
      return bench::run_pubsub(ps, target);
    }
    g_keys.reserve(kKeys);
    for (std::size_t i = 0; i < kKeys; ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "key:%012zu", i);
      g_keys.emplace_back(buf);
    }
    return run_commands(cfg, target);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uvredis-bench: %s\n", e.what());
    return 1;
  }
}
