// client-cache: what ClientCache buys on a hot key, against the same
// client's uncached GET, on one loop, one private redis-server, one run. Run
// by hand, never by the tests:
//
//   meson setup build-rel --buildtype=release -Dtests=false -Dexamples=false
//   ninja -C build-rel tests/bench/client-cache && build-rel/tests/bench/client-cache
//   build-rel/tests/bench/client-cache --reads 1000000 --rounds 5
//
// Printed, medians over the rounds:
// - throughput: GETs of one hot key completed per second with 1024 in
//   flight, cached (hits) and uncached (cache.client().get), and the ratio;
//   the same for cached hits through get_view (the value lent, not copied);
// - latency at the client, one read at a time: from the call to the first
//   line of its callback (a hit still waits for the next loop turn, as every
//   uvredis callback does: the clock is read in the callback, which runs in
//   that turn's idle phase); from the call to the end of that loop turn
//   (which adds the turn's poll for I/O, a system call); and the time spent
//   inside the call itself (lookup and copy);
// - invalidation latency: another client writes the cached key; from the
//   writer's reply to the cache dropping the entry (negative when the
//   invalidation arrived first: the two travel on different connections),
//   and from the write being issued to the drop; p50 and p99.
//
// Instructions per cached hit: `--callgrind get` (or `get_view`) runs only
// that throughput phase, bracketed for callgrind, after one warming miss:
//   valgrind --tool=callgrind --instr-atstart=no
//     build-rel/tests/bench/client-cache --callgrind get_view --reads 400000
// then divide the total Ir by the number of reads.

#include <uvredis/uvredis.hpp>
#include <uv.h>

#include "support.hpp"  // callgrind's brackets only
#include "support/redis_server.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

using Value = uvredis::Result<std::optional<std::string>>;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "client-cache: %s\n", what);
  std::exit(1);
}

void run_until(uv_loop_t* loop, const std::function<bool()>& done) {
  const std::uint64_t deadline = uv_hrtime() + 60'000'000'000ull;
  while (!done()) {
    if (uv_hrtime() > deadline) die("timed out");
    uv_run(loop, UV_RUN_NOWAIT);
  }
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// Reads of `key` per second, `depth` in flight, `n` in all.
template <class Issue>
double throughput(uv_loop_t* loop, long n, int depth, Issue issue) {
  long started = 0, done = 0, bad = 0;
  std::function<void()> more;
  auto cb = [&](auto v) {  // a Result of an optional string, or of a view (get_view)
    ++done;
    if (!v || !*v) ++bad;
  };
  const std::uint64_t t0 = uv_hrtime();
  run_until(loop, [&] {
    while (started < n && started - done < depth) {
      issue(cb);
      ++started;
    }
    return done == n;
  });
  const double secs = static_cast<double>(uv_hrtime() - t0) / 1e9;
  if (bad) die("a read failed");
  return static_cast<double>(n) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  long reads = 1'000'000;
  int rounds = 5;
  int invalidations = 2000;
  std::string callgrind;  // "get" or "get_view": that phase only
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--reads")) reads = std::atol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--callgrind")) callgrind = argv[i + 1];
    else if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--invalidations")) invalidations = std::atoi(argv[i + 1]);
    else die("options: --reads N --rounds N --invalidations N --callgrind get|get_view");
  }
  uvredis::test::RedisServer server;
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::printf("client-cache: %ld reads per run, %d rounds, redis-server on port %u\n", reads, rounds, server.port());
  auto opts = uvredis::ClientOptions::from_url(server.url());
  if (!opts) die("bad url");
  {
    uvredis::ClientCache cache(&loop, *opts);
    uvredis::Client writer(&loop, *opts);
    run_until(&loop, [&] { return cache.ready(); });
    server.cmd({"SET", "hot", std::string(100, 'x')});

    if (!callgrind.empty()) {
      if (callgrind != "get" && callgrind != "get_view") die("--callgrind takes get or get_view");
      bool warm = false;
      cache.get("hot", [&](Value) { warm = true; });
      run_until(&loop, [&] { return warm; });
      const auto hits = cache.stats().hits;
      BENCH_CG_START();
      if (callgrind == "get")
        throughput(&loop, reads, 1024, [&](auto& cb) { cache.get("hot", cb); });
      else
        throughput(&loop, reads, 1024, [&](auto& cb) { cache.get_view("hot", cb); });
      BENCH_CG_STOP();
      if (cache.stats().hits - hits != static_cast<std::uint64_t>(reads)) die("not every read was a hit");
      std::printf("%ld cached reads through %s measured: divide callgrind's Ir by %ld\n", reads, callgrind.c_str(),
                  reads);
      rounds = 0;
      invalidations = 0;
    }

    std::vector<double> cached_tp, lent_tp, plain_tp, ratio, lent_ratio, hit_lat, hit_turn, call_ns, miss_lat, miss_turn;
    for (int r = 0; r < rounds; ++r) {
      // Warm: one miss stores the entry.
      bool warm = false;
      cache.get("hot", [&](Value) { warm = true; });
      run_until(&loop, [&] { return warm; });
      const double c = throughput(&loop, reads, 1024, [&](auto& cb) { cache.get("hot", cb); });
      const double l = throughput(&loop, reads, 1024, [&](auto& cb) { cache.get_view("hot", cb); });
      const double p = throughput(&loop, reads / 10, 1024, [&](auto& cb) { cache.client().get("hot", cb); });
      cached_tp.push_back(c);
      lent_tp.push_back(l);
      plain_tp.push_back(p);
      ratio.push_back(c / p);
      lent_ratio.push_back(l / p);
      // One at a time: call-to-callback and time inside the call.
      for (int i = 0; i < 2000; ++i) {
        bool got = false;
        std::uint64_t at_cb = 0;
        const std::uint64_t t0 = uv_hrtime();
        cache.get("hot", [&](Value) {
          at_cb = uv_hrtime();
          got = true;
        });
        const std::uint64_t t1 = uv_hrtime();
        run_until(&loop, [&] { return got; });
        hit_turn.push_back(static_cast<double>(uv_hrtime() - t0) / 1e3);
        hit_lat.push_back(static_cast<double>(at_cb - t0) / 1e3);
        call_ns.push_back(static_cast<double>(t1 - t0));
        got = false;
        const std::uint64_t m0 = uv_hrtime();
        cache.client().get("hot", [&](Value) {
          at_cb = uv_hrtime();
          got = true;
        });
        run_until(&loop, [&] { return got; });
        miss_turn.push_back(static_cast<double>(uv_hrtime() - m0) / 1e3);
        miss_lat.push_back(static_cast<double>(at_cb - m0) / 1e3);
      }
    }
    const auto hits = cache.stats().hits;

    // Invalidation latency: read (stores), write from the other client, wait
    // for the drop.
    std::vector<double> from_reply, from_issue;
    std::uint64_t dropped_at = 0;
    cache.on_invalidation([&](const std::vector<std::string>* k) {
      if (k && std::find(k->begin(), k->end(), "hot") != k->end()) dropped_at = uv_hrtime();
    });
    for (int i = 0; i < invalidations; ++i) {
      bool read = false;
      cache.get("hot", [&](Value) { read = true; });
      run_until(&loop, [&] { return read; });
      dropped_at = 0;
      std::uint64_t replied_at = 0;
      const std::uint64_t issued_at = uv_hrtime();
      std::string value = std::to_string(i);  // ("v" + to_string trips GCC 12's -Wrestrict at -O2)
      writer.set("hot", value, [&](uvredis::Result<bool>) { replied_at = uv_hrtime(); });
      run_until(&loop, [&] { return dropped_at != 0 && replied_at != 0; });
      from_reply.push_back((static_cast<double>(dropped_at) - static_cast<double>(replied_at)) / 1e3);
      from_issue.push_back(static_cast<double>(dropped_at - issued_at) / 1e3);
    }

    if (callgrind.empty()) {  // (--callgrind measured nothing else)
      std::printf("hot-key GET, 1024 in flight: cached %.0f/s, uncached %.0f/s, ratio %.1fx (hits %llu)\n",
                  pct(cached_tp, 0.5), pct(plain_tp, 0.5), pct(ratio, 0.5), static_cast<unsigned long long>(hits));
      std::printf("hot-key GET lending the value (get_view), 1024 in flight: cached %.0f/s, ratio to uncached get %.1fx\n",
                  pct(lent_tp, 0.5), pct(lent_ratio, 0.5));
      std::printf("one at a time, call to callback: cached p50 %.2f us p99 %.2f us; uncached p50 %.2f us p99 %.2f us\n",
                  pct(hit_lat, 0.5), pct(hit_lat, 0.99), pct(miss_lat, 0.5), pct(miss_lat, 0.99));
      std::printf("one at a time, call to the end of its loop turn: cached p50 %.2f us p99 %.2f us; uncached p50 %.2f us p99 %.2f us\n",
                  pct(hit_turn, 0.5), pct(hit_turn, 0.99), pct(miss_turn, 0.5), pct(miss_turn, 0.99));
      std::printf("inside the cached get() call: p50 %.0f ns p99 %.0f ns\n", pct(call_ns, 0.5), pct(call_ns, 0.99));
      std::printf("invalidation: writer reply -> drop p50 %.1f us p99 %.1f us; write issued -> drop p50 %.1f us p99 %.1f us\n",
                  pct(from_reply, 0.5), pct(from_reply, 0.99), pct(from_issue, 0.5), pct(from_issue, 0.99));
    }

    bool closed = false;
    int left = 2;
    cache.close([&] { closed = --left == 0; });
    writer.close([&] { closed = --left == 0; });
    run_until(&loop, [&] { return closed; });
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  return uv_loop_close(&loop) == 0 ? 0 : 1;
}
