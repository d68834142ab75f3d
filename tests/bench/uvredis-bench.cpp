// uvredis-bench: uvredis against raw hiredis async (stock libuv adapter) and
// redis-benchmark, in one run, on one private redis-server.
//
// Run by hand, never by the tests:
//
//   meson setup build-rel --buildtype=release -Dtests=false
//   ninja -C build-rel && build-rel/tests/bench/uvredis-bench      # full run
//   build-rel/tests/bench/uvredis-bench --quick                    # smoke test
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
// run on one connection, with `depth` commands in flight (a sliding window:
// the next command is issued when a reply arrives), and in one burst (all N
// issued in one loop turn). The three contenders take turns within each
// round, in an order that rotates from round to round; medians over the
// rounds are quoted, because these machines are noisy.
//
// Client CPU per command = getrusage(RUSAGE_SELF) user+sys delta over the
// measured phase / N. The private redis-server is a child process, so its CPU
// is not counted. For redis-benchmark only its throughput is used.
//
// Instructions per command (repeatable where wall-clock is not): the
// measured phase of each uvredis/hiredis run is bracketed by callgrind's
// START/STOP_INSTRUMENTATION requests, so with --instr-atstart=no callgrind
// counts nothing but that phase (setup, connect, PING and close excluded).
// Start a server first so that valgrind does not see its start-up, then:
//
//   REDIS_URL=127.0.0.1:PORT valgrind --tool=callgrind --instr-atstart=no
//     --callgrind-out-file=cg.uv build-rel/tests/bench/uvredis-bench --only uvredis
//     --depths 128 --no-burst --rounds 1 --n 100000      (one command line)
//   callgrind_annotate cg.uv | head -30
//
// and divide the total Ir by 2 x N (one SET run and one GET run); repeat
// with `--only hiredis` for the baseline. The requests compile to a few
// no-op instructions outside valgrind (and to nothing where
// <valgrind/callgrind.h> is missing).

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
  double cpu_us = 0;  // client CPU (user+sys) per command, microseconds; <0: not measured
};

// The sliding window shared by the in-process contenders. Self provides
// issue(i) and finish(); replies come back through reply(ok).
template <class Self>
class Window {
 public:
  Window(std::size_t n, std::size_t depth) : n_(n), depth_(depth == 0 ? n : depth) {}

  void begin() {
    BENCH_CG_START();
    cpu0_ = cpu_seconds();
    t0_ = std::chrono::steady_clock::now();
    const std::size_t first = std::min(n_, depth_);
    while (issued_ < first) self().issue(issued_++);
  }

  void reply(bool ok) {
    if (!ok) ++bad_;
    ++done_;
    if (issued_ < n_) {
      self().issue(issued_++);
    } else if (done_ == n_) {
      const auto t1 = std::chrono::steady_clock::now();
      const double cpu1 = cpu_seconds();
      BENCH_CG_STOP();
      const double secs = std::chrono::duration<double>(t1 - t0_).count();
      sample_.ops = static_cast<double>(n_) / secs;
      sample_.cpu_us = (cpu1 - cpu0_) * 1e6 / static_cast<double>(n_);
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

  std::size_t n_, depth_, issued_ = 0, done_ = 0, bad_ = 0;
  double cpu0_ = 0;
  std::chrono::steady_clock::time_point t0_;
  Sample sample_;
};

// --------------------------------------------------------------- contenders

class UvredisRun : public Window<UvredisRun> {
 public:
  UvredisRun(uvredis::Client& c, Op op, std::size_t n, std::size_t depth) : Window(n, depth), client_(c), op_(op) {}

  void issue(std::size_t i) {
    const std::string_view key = g_keys[i % kKeys];
    if (op_ == Op::set) {
      client_.command({"SET", key, kValue},
                      [this](uvredis::Result<uvredis::Reply> r) { reply(r && r->is_status()); });
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
};

Sample run_uvredis(uv_loop_t* loop, const Target& t, Op op, std::size_t n, std::size_t depth) {
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
  UvredisRun run(client, op, n, depth);
  client.ping([&](uvredis::Result<std::string> r) {
    if (!r) {
      run.error_ = r.error().to_string();
      client.close();
      return;
    }
    run.begin();
  });
  uv_run(loop, UV_RUN_DEFAULT);
  return run.result("uvredis", op);
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
// sliding window; depth 0 (one burst) becomes -P N.
std::array<Sample, 2> run_redis_benchmark(const Target& t, std::size_t n, std::size_t depth) {
  const std::vector<std::string> args = {
      "timeout", "60", "redis-benchmark", "-h", t.host, "-p", std::to_string(t.port), "-r", std::to_string(kKeys),
      "-d", std::to_string(kValue.size()), "-c", "1", "-P", std::to_string(depth == 0 ? n : depth), "-n",
      std::to_string(n), "-t", "set,get", "--csv", "-q"};
  auto [out, status] = capture(args);
  if (status != 0) die("redis-benchmark exited with status " + std::to_string(status) + ":\n" + out);
  std::array<Sample, 2> s{};
  bool seen[2] = {false, false};
  std::size_t pos = 0;
  while (pos < out.size()) {  // lines like "SET","123456.79",...
    std::size_t eol = out.find('\n', pos);
    if (eol == std::string::npos) eol = out.size();
    const std::string line = out.substr(pos, eol - pos);
    pos = eol + 1;
    for (int i = 0; i < 2; ++i) {
      const std::string head = std::string("\"") + op_name(i == 0 ? Op::set : Op::get) + "\",\"";
      if (line.rfind(head, 0) != 0) continue;
      s[i].ops = std::strtod(line.c_str() + head.size(), nullptr);
      s[i].cpu_us = -1;
      seen[i] = s[i].ops > 0;
    }
  }
  if (!seen[0] || !seen[1]) die("could not read redis-benchmark's CSV output:\n" + out);
  return s;
}

// ------------------------------------------------------------------ report

enum Contender { kUvredis, kHiredis, kRedisBenchmark, kContenders };
const char* contender_name(int c) {
  static const char* names[] = {"uvredis", "hiredis", "redis-benchmark"};
  return names[c];
}

std::string mode_name(std::size_t depth) { return depth == 0 ? "burst" : std::to_string(depth); }

struct Config {
  std::size_t n = 100'000;
  int rounds = 5;
  std::vector<std::size_t> depths = {1, 16, 128, 1024};
  bool burst = true;
  bool enabled[kContenders] = {true, true, true};
  bool pubsub = false;
  bool cluster = false, tls = false;
  bool n_set = false, rounds_set = false, depths_set = false;
  std::vector<std::size_t> sizes = {16, 256};
  std::string csv;  // --csv FILE: the medians of the commands mode, for tests/bench/plot.py
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "uvredis-bench: %s\n"
               "usage: uvredis-bench [--quick] [--n N] [--rounds R] [--depths 1,16,128,1024]\n"
               "                     [--no-burst] [--only uvredis|hiredis|redis-benchmark] [--csv FILE]\n"
               "       uvredis-bench --pubsub [--quick] [--n N] [--rounds R] [--depths 1,128,1024]\n"
               "                     [--sizes 16,256] [--only uvredis|hiredis|redis-benchmark]\n"
               "       uvredis-bench --cluster|--tls [--quick] [--n N] [--rounds R] [--depths 16,128,1024]\n"
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
      if (!c.enabled[0] && !c.enabled[1] && !c.enabled[2]) usage("unknown contender");
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
  return c;
}

int run_commands(const Config& cfg, const Target& target) {
  std::fprintf(stderr, "N=%zu commands per run, %d round(s)\n", cfg.n, cfg.rounds);

  uv_loop_t loop;
  uv_loop_init(&loop);

  std::vector<std::size_t> modes = cfg.depths;
  if (cfg.burst) modes.push_back(0);
  // samples[mode][op][contender]
  std::map<std::size_t, std::array<std::array<std::vector<Sample>, kContenders>, 2>> samples;

  for (int round = 0; round < cfg.rounds; ++round) {
    for (std::size_t depth : modes) {
      for (int k = 0; k < kContenders; ++k) {
        const int c = (k + round) % kContenders;  // rotate who goes first
        if (!cfg.enabled[c]) continue;
        alarm(120);  // watchdog: a hung run must not keep the server alive forever
        std::array<Sample, 2> s{};
        if (c == kRedisBenchmark) {
          s = run_redis_benchmark(target, cfg.n, depth);
        } else {
          for (int o = 0; o < 2; ++o) {
            const Op op = o == 0 ? Op::set : Op::get;
            s[o] = c == kUvredis ? run_uvredis(&loop, target, op, cfg.n, depth)
                                 : run_hiredis(&loop, target, op, cfg.n, depth);
          }
        }
        alarm(0);
        for (int o = 0; o < 2; ++o) {
          samples[depth][o][c].push_back(s[o]);
          std::fprintf(stderr, "round %d  depth %-5s  %-15s  %s  %10s ops/s", round + 1, mode_name(depth).c_str(),
                       contender_name(c), o == 0 ? "SET" : "GET", grouped(s[o].ops).c_str());
          if (s[o].cpu_us >= 0) std::fprintf(stderr, "  %6.3f us CPU/cmd", s[o].cpu_us);
          std::fprintf(stderr, "\n");
        }
      }
    }
  }

  if (uv_loop_close(&loop) != 0) std::fprintf(stderr, "warning: uv_loop_close found open handles\n");

  std::printf("\nMedians of %d round(s), N=%zu commands per run; ratios are of the medians.\n\n", cfg.rounds, cfg.n);
  std::printf(
      "| depth | op | uvredis ops/s | hiredis ops/s | redis-benchmark ops/s | uvredis / redis-benchmark | "
      "uvredis / hiredis | uvredis CPU µs/cmd | hiredis CPU µs/cmd | CPU uvredis / hiredis |\n");
  std::printf("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  // One line per depth and op, medians as in the table; an empty cell is a
  // contender that did not run (or, for redis-benchmark's CPU, is not measured).
  FILE* csv = nullptr;
  if (!cfg.csv.empty()) {
    csv = std::fopen(cfg.csv.c_str(), "w");
    if (csv == nullptr) die("cannot write " + cfg.csv);
    std::fprintf(csv, "depth,op,n,rounds,uvredis_ops,hiredis_ops,redis_benchmark_ops,uvredis_cpu_us,hiredis_cpu_us\n");
  }
  for (std::size_t depth : modes) {
    for (int o = 0; o < 2; ++o) {
      double ops[kContenders], cpu[kContenders];
      for (int c = 0; c < kContenders; ++c) {
        std::vector<double> o_v, c_v;
        for (const Sample& s : samples[depth][o][c]) {
          o_v.push_back(s.ops);
          c_v.push_back(s.cpu_us);
        }
        ops[c] = median(o_v);
        cpu[c] = median(c_v);
      }
      auto cell = [](double v, int prec) { return v > 0 ? (prec < 0 ? grouped(v) : fixed(v, prec)) : std::string("–"); };
      auto ratio = [](double a, double b) { return a > 0 && b > 0 ? fixed(a / b, 2) : std::string("–"); };
      std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mode_name(depth).c_str(), o == 0 ? "SET" : "GET",
                  cell(ops[kUvredis], -1).c_str(), cell(ops[kHiredis], -1).c_str(),
                  cell(ops[kRedisBenchmark], -1).c_str(), ratio(ops[kUvredis], ops[kRedisBenchmark]).c_str(),
                  ratio(ops[kUvredis], ops[kHiredis]).c_str(), cell(cpu[kUvredis], 3).c_str(),
                  cell(cpu[kHiredis], 3).c_str(), ratio(cpu[kUvredis], cpu[kHiredis]).c_str());
      if (csv != nullptr) {
        auto num = [](double v, int prec) { return v > 0 ? fixed(v, prec) : std::string(); };
        std::fprintf(csv, "%s,%s,%zu,%d,%s,%s,%s,%s,%s\n", mode_name(depth).c_str(), o == 0 ? "SET" : "GET", cfg.n,
                     cfg.rounds, num(ops[kUvredis], 0).c_str(), num(ops[kHiredis], 0).c_str(),
                     num(ops[kRedisBenchmark], 0).c_str(), num(cpu[kUvredis], 3).c_str(), num(cpu[kHiredis], 3).c_str());
      }
    }
  }
  if (csv != nullptr && std::fclose(csv) != 0) die("cannot write " + cfg.csv);
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
