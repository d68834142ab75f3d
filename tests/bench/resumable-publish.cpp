// resumable-publish: the cost of ResumableChannel::publish (XADD to a capped
// stream + PUBLISH with the id, one Lua script) against a plain PUBLISH, on
// the same client, against the same private redis-server, in the same run.
// Run by hand, never by the tests:
//
//   meson setup build-rel --buildtype=release -Dtests=false -Dexamples=false
//   ninja -C build-rel tests/bench/resumable-publish && build-rel/tests/bench/resumable-publish
//   build-rel/tests/bench/resumable-publish --messages 100000 --rounds 5 --depth 64
//
// Each round publishes N messages of 64 bytes with each contender (the order
// alternates per round), keeping `depth` publishes in flight; one Subscriber
// listens on the channel in both cases, so PUBLISH has someone to deliver
// to. The stream is capped at 10,000 (MAXLEN ~). Printed: publishes/s of
// each (median over the rounds) and the median of the per-round ratios
// plain / resumable (how many times more a resumable publish costs).

#include <uvredis/uvredis.hpp>

#include <uv.h>

#include "support/redis_server.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "resumable-publish: %s\n", why.c_str());
  std::exit(1);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void run_until(uv_loop_t* loop, const bool& done) {
  while (!done) uv_run(loop, UV_RUN_ONCE);
}

// Publishes `n` messages keeping `depth` in flight; returns publishes/s.
template <class Publish>
double measure(uv_loop_t* loop, int n, int depth, Publish publish) {
  int sent = 0, acked = 0, failed = 0;
  bool done = false;
  std::function<void()> one;
  one = [&] {
    ++sent;
    publish([&](bool ok) {
      if (!ok) ++failed;
      if (++acked == n) done = true;
      if (sent < n) one();
    });
  };
  const std::uint64_t t0 = uv_hrtime();
  for (int i = 0; i < depth && sent < n; ++i) one();
  run_until(loop, done);
  const double secs = static_cast<double>(uv_hrtime() - t0) / 1e9;
  if (failed) die(std::to_string(failed) + " publishes failed");
  return n / secs;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 50000, rounds = 3, depth = 64;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](const char* what) {
      if (i + 1 >= argc) die(std::string(what) + " needs a value");
      return std::atoi(argv[++i]);
    };
    if (!std::strcmp(argv[i], "--messages")) n = next("--messages");
    else if (!std::strcmp(argv[i], "--rounds")) rounds = next("--rounds");
    else if (!std::strcmp(argv[i], "--depth")) depth = next("--depth");
    else die(std::string("unknown argument ") + argv[i] + " (--messages N --rounds R --depth D)");
  }
  if (n <= 0 || rounds <= 0 || depth <= 0) die("values must be positive");

  uvredis::test::RedisServer server;
  uv_loop_t* loop = uv_default_loop();
  auto opts = uvredis::ClientOptions::from_url(server.url());
  if (!opts) die(opts.error().to_string());
  {
    uvredis::Client client(loop, *opts);
    uvredis::Subscriber sub(loop, *opts);
    long long heard = 0;
    bool subscribed = false;
    sub.subscribe({"bench"}, [&](const uvredis::Message&) { ++heard; }, [&](uvredis::Result<void> r) {
      if (!r) die(r.error().to_string());
      subscribed = true;
    });
    run_until(loop, subscribed);

    uvredis::ResumableChannelOptions co;
    co.channel = "bench";
    co.stream = "bench:history";
    co.max_len = 10000;
    uvredis::ResumableChannel channel(client, co);
    const std::string payload(64, 'x');

    auto plain = [&] {
      return measure(loop, n, depth, [&](auto cb) {
        client.publish("bench", payload, [cb](uvredis::Result<long long> r) mutable { cb(static_cast<bool>(r)); });
      });
    };
    auto resumable = [&] {
      return measure(loop, n, depth, [&](auto cb) {
        channel.publish(payload, [cb](uvredis::Result<std::string> r) mutable { cb(static_cast<bool>(r)); });
      });
    };
    // One warm-up publish loads the script.
    resumable();

    std::vector<double> p, r, ratio;
    for (int round = 0; round < rounds; ++round) {
      double a, b;
      if (round % 2 == 0) {
        a = plain();
        b = resumable();
      } else {
        b = resumable();
        a = plain();
      }
      std::fprintf(stderr, "round %d  PUBLISH %10.0f/s  resumable %10.0f/s  ratio %.2f\n", round + 1, a, b, a / b);
      p.push_back(a);
      r.push_back(b);
      ratio.push_back(a / b);
    }
    std::printf("messages %d x %d rounds, depth %d, 64-byte payload, one subscriber, MAXLEN ~ 10000\n", n, rounds,
                depth);
    std::printf("| plain PUBLISH/s | resumable publish/s | plain / resumable (median of rounds) |\n");
    std::printf("| %.0f | %.0f | %.2f |\n", median(p), median(r), median(ratio));
    std::printf("stream length at the end: %s (subscriber heard %lld)\n", server.cmd({"XLEN", "bench:history"}).c_str(),
                heard);
    bool closed = false;
    int left = 2;
    sub.close([&] { closed = --left == 0; });
    client.close([&] { closed = --left == 0; });
    run_until(loop, closed);
  }
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
