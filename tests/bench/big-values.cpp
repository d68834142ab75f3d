// big-values: how long one big SET holds the loop, uvredis against raw
// hiredis async (its stock libuv adapter) on the same loop, same server, same
// run. Run by hand, never by the tests:
//
//   meson setup build-rel --buildtype=release -Dtests=false
//   ninja -C build-rel tests/bench/big-values && build-rel/tests/bench/big-values
//   build-rel/tests/bench/big-values --sizes 64,256,512 --rounds 3
//
// For each size (MiB) and contender: the time spent inside the call that
// issues the SET (encoding and copying the value), the longest gap between
// two loop turns while the SET is on its way (a 1 ms repeating timer keeps the
// loop turning; a gap is the time between two consecutive check callbacks),
// and the time until the reply. uvredis is measured twice: the value passed
// as a string_view (copied once, in the call) and moved in as a std::string
// through command(std::vector<std::string>&&) (written from the caller's
// string, never copied whole). Medians over the rounds.

#include <uvredis/uvredis.hpp>

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}
#include <hiredis/adapters/libuv.h>
#include <uv.h>

#include "support.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

std::uint64_t now_ns() { return uv_hrtime(); }

// Longest gap between two loop turns while `active`.
struct GapMeter {
  uv_check_t check{};
  uv_timer_t tick{};
  std::uint64_t last = 0;
  std::uint64_t worst = 0;
  bool active = false;

  explicit GapMeter(uv_loop_t* loop) {
    uv_check_init(loop, &check);
    uv_timer_init(loop, &tick);
    check.data = this;
    uv_check_start(&check, [](uv_check_t* h) {
      auto* m = static_cast<GapMeter*>(h->data);
      const std::uint64_t t = now_ns();
      if (m->active && m->last != 0) m->worst = std::max(m->worst, t - m->last);
      m->last = t;
    });
    uv_timer_start(&tick, [](uv_timer_t*) {}, 1, 1);
  }
  void start() {
    active = true;
    worst = 0;
    last = now_ns();
  }
  void close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  }
};

struct Sample {
  double call_ms = 0, gap_ms = 0, total_ms = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

Sample run_uvredis(uv_loop_t* loop, const bench::Target& t, const std::string& value, bool moved) {
  auto o = uvredis::ClientOptions::from_url(t.host + ":" + std::to_string(t.port));
  if (!o) bench::die(o.error().to_string());
  o->command_timeout = std::chrono::minutes(2);
  o->max_queued_bytes = std::size_t{2} << 30;
  Sample s;
  {
    uvredis::Client c(loop, *o);
    bool ready = false;
    c.command({"PING"}, [&](uvredis::Result<uvredis::Reply>) { ready = true; });
    while (!ready) uv_run(loop, UV_RUN_ONCE);
    GapMeter gap(loop);
    bool done = false;
    // The caller's own strings, made before the measured phase.
    std::vector<std::string> argv;
    if (moved) argv = {"SET", "big", value};
    uv_run(loop, UV_RUN_NOWAIT);
    gap.start();
    const std::uint64_t t0 = now_ns();
    auto cb = [&](uvredis::Result<uvredis::Reply> r) {
      if (!r) bench::die("SET failed: " + r.error().to_string());
      done = true;
    };
    if (moved) {
      c.command(std::move(argv), cb);
      s.call_ms = static_cast<double>(now_ns() - t0) / 1e6;
    } else {
      c.command({"SET", "big", value}, cb);
      s.call_ms = static_cast<double>(now_ns() - t0) / 1e6;
    }
    while (!done) uv_run(loop, UV_RUN_ONCE);
    s.total_ms = static_cast<double>(now_ns() - t0) / 1e6;
    s.gap_ms = static_cast<double>(gap.worst) / 1e6;
    gap.close();
    bool closed = false;
    c.close([&] { closed = true; });
    while (!closed) uv_run(loop, UV_RUN_ONCE);
  }
  uv_run(loop, UV_RUN_NOWAIT);
  return s;
}

Sample run_hiredis(uv_loop_t* loop, const bench::Target& t, const std::string& value) {
  redisAsyncContext* ac = redisAsyncConnect(t.host.c_str(), t.port);
  if (ac == nullptr || ac->err) bench::die("hiredis connect failed");
  redisLibuvAttach(ac, loop);
  struct State {
    bool done = false;
  } st;
  Sample s;
  GapMeter gap(loop);
  gap.start();
  const std::uint64_t t0 = now_ns();
  redisAsyncCommand(
      ac, [](redisAsyncContext*, void* r, void* p) {
        if (r == nullptr) bench::die("hiredis SET failed");
        static_cast<State*>(p)->done = true;
      },
      &st, "SET big %b", value.data(), value.size());
  s.call_ms = static_cast<double>(now_ns() - t0) / 1e6;
  while (!st.done) uv_run(loop, UV_RUN_ONCE);
  s.total_ms = static_cast<double>(now_ns() - t0) / 1e6;
  s.gap_ms = static_cast<double>(gap.worst) / 1e6;
  gap.close();
  redisAsyncDisconnect(ac);
  for (int i = 0; i < 100; ++i) uv_run(loop, UV_RUN_NOWAIT);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes{64, 256, 512};
  int rounds = 3;
  std::size_t hiredis_max = 64;  // its memmove after each partial write is quadratic: bigger takes minutes
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::string list = argv[++i];
      for (std::size_t p = 0; p < list.size();) {
        std::size_t q = list.find(',', p);
        sizes.push_back(std::strtoull(list.substr(p, q - p).c_str(), nullptr, 10));
        p = q == std::string::npos ? list.size() : q + 1;
      }
    } else if (a == "--hiredis-max" && i + 1 < argc) {
      hiredis_max = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: big-values [--sizes 64,256,512] [--rounds N] [--hiredis-max MiB]\n");
      return 2;
    }
  }
  bench::install_signal_handlers();
  bench::PrivateServer server;
  bench::Target t{"127.0.0.1", server.port()};
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::printf("%-8s %-22s %12s %14s %12s\n", "MiB", "contender", "in call ms", "max gap ms", "total ms");
  for (std::size_t mib : sizes) {
    const std::string value(mib << 20, 'v');
    struct Row {
      const char* name;
      std::function<Sample()> run;
    };
    std::vector<Row> rows{{"uvredis (string_view)", [&] { return run_uvredis(&loop, t, value, false); }},
                          {"uvredis (std::string)", [&] { return run_uvredis(&loop, t, value, true); }}};
    if (mib <= hiredis_max) rows.push_back({"raw hiredis async", [&] { return run_hiredis(&loop, t, value); }});
    for (const Row& row : rows) {
      std::vector<double> call, gap, total;
      for (int r = 0; r < rounds; ++r) {
        Sample s = row.run();
        call.push_back(s.call_ms);
        gap.push_back(s.gap_ms);
        total.push_back(s.total_ms);
      }
      std::printf("%-8zu %-22s %12.1f %14.1f %12.1f\n", mib, row.name, median(call), median(gap), median(total));
      std::fflush(stdout);
    }
  }
  uv_loop_close(&loop);
  return 0;
}
