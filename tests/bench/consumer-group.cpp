// consumer-group: throughput of a ConsumerGroup worker (entries handled and
// acknowledged per second) against a hand-written XREADGROUP/XACK loop on
// raw hiredis async (its stock libuv adapter), on the same loop, against the
// same private redis-server, in the same run. Run by hand, never by the tests:
//
//   meson setup build-rel --buildtype=release -Dtests=false -Dexamples=false
//   ninja -C build-rel tests/bench/consumer-group && build-rel/tests/bench/consumer-group
//   build-rel/tests/bench/consumer-group --entries 50000 --rounds 5
//
// For each batch size (COUNT of a read: 1 and 100) and round, a fresh stream
// of N entries and a fresh group are consumed to the end by each contender
// (the order alternates per round). The handler does nothing but acknowledge.
// - uvredis: ConsumerGroup with `batch` = `max_in_flight` = the batch size;
//   reads go on a blocking connection, the acks of a loop turn in one XACK
//   on the main connection.
// - hiredis: one connection; on each XREADGROUP reply one XACK with the
//   batch's ids, then the next XREADGROUP (pipelined behind the XACK).
// Printed: entries/s of each (median over the rounds) and the median of the
// per-round ratios uvredis / hiredis.

#include <uvredis/uvredis.hpp>

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}
#include <hiredis/adapters/libuv.h>
#include <uv.h>

#include "support/redis_server.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "consumer-group: %s\n", why.c_str());
  std::exit(1);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// A fresh stream of `n` entries and a group at its start.
void prepare(uvredis::test::RedisServer& s, int n) {
  s.cmd({"DEL", "bench"});
  for (int done = 0; done < n; done += 10000) {
    const int chunk = std::min(10000, n - done);
    s.cmd({"EVAL", "for i = 1, tonumber(ARGV[1]) do redis.call('XADD', KEYS[1], '*', 'n', i, 'payload', ARGV[2]) end",
           "1", "bench", std::to_string(chunk), std::string(64, 'x')});
  }
  s.cmd({"XGROUP", "CREATE", "bench", "g", "0"});
}

double run_uvredis(uv_loop_t* loop, const std::string& url, int n, long long batch) {
  auto o = uvredis::ClientOptions::from_url(url);
  if (!o) die(o.error().to_string());
  uvredis::Client client(loop, *o);
  bool ready = false;
  client.command({"PING"}, [&](uvredis::Result<uvredis::Reply>) { ready = true; });
  while (!ready) uv_run(loop, UV_RUN_ONCE);

  uvredis::ConsumerGroupOptions go;
  go.stream = "bench";
  go.group = "g";
  go.consumer = "uvredis";
  go.create_group = false;
  go.batch = batch;
  go.max_in_flight = static_cast<std::size_t>(batch);
  go.max_deliveries = 0;
  const std::uint64_t t0 = uv_hrtime();
  std::uint64_t t1 = 0;
  {
    uvredis::ConsumerGroup w(client, go, [](uvredis::StreamEntry, uvredis::EntryDone done) { done(true); });
    w.on_error([](const uvredis::Error& e) { die("worker: " + e.to_string()); });
    while (w.stats().acked < static_cast<std::uint64_t>(n)) uv_run(loop, UV_RUN_ONCE);
    t1 = uv_hrtime();
    bool stopped = false;
    w.stop([&] { stopped = true; });
    while (!stopped) uv_run(loop, UV_RUN_ONCE);
  }
  bool closed = false;
  client.close([&] { closed = true; });
  while (!closed) uv_run(loop, UV_RUN_ONCE);
  return n / (static_cast<double>(t1 - t0) / 1e9);
}

struct RawLoop {
  redisAsyncContext* ac = nullptr;
  long long batch = 1;
  int n = 0;
  long long acked = 0;
  long long handled = 0;
  std::string count;

  void read() {
    redisAsyncCommand(ac, &RawLoop::on_read, this, "XREADGROUP GROUP g raw COUNT %s BLOCK 1000 STREAMS bench >",
                      count.c_str());
  }
  static void on_read(redisAsyncContext*, void* r, void* p) {
    auto* self = static_cast<RawLoop*>(p);
    auto* reply = static_cast<redisReply*>(r);
    if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) die("raw XREADGROUP failed");
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1) {
      redisReply* entries = reply->element[0]->element[1];
      std::vector<const char*> argv{"XACK", "bench", "g"};
      std::vector<std::size_t> lens{4, 5, 1};
      for (std::size_t i = 0; i < entries->elements; ++i) {
        redisReply* id = entries->element[i]->element[0];
        ++self->handled;  // the "handler"
        argv.push_back(id->str);
        lens.push_back(id->len);
      }
      redisAsyncCommandArgv(self->ac, &RawLoop::on_ack, self, static_cast<int>(argv.size()), argv.data(),
                            lens.data());
    }
    if (self->handled < self->n) self->read();
  }
  static void on_ack(redisAsyncContext*, void* r, void* p) {
    auto* self = static_cast<RawLoop*>(p);
    auto* reply = static_cast<redisReply*>(r);
    if (reply == nullptr || reply->type != REDIS_REPLY_INTEGER) die("raw XACK failed");
    self->acked += reply->integer;
  }
};

double run_hiredis(uv_loop_t* loop, const uvredis::test::RedisServer& s, int n, long long batch) {
  RawLoop raw;
  raw.ac = redisAsyncConnect("127.0.0.1", s.port());
  if (raw.ac == nullptr || raw.ac->err) die("hiredis connect failed");
  redisLibuvAttach(raw.ac, loop);
  raw.batch = batch;
  raw.n = n;
  raw.count = std::to_string(batch);
  const std::uint64_t t0 = uv_hrtime();
  raw.read();
  while (raw.acked < n) uv_run(loop, UV_RUN_ONCE);
  const std::uint64_t t1 = uv_hrtime();
  redisAsyncDisconnect(raw.ac);
  for (int i = 0; i < 100; ++i) uv_run(loop, UV_RUN_NOWAIT);
  return n / (static_cast<double>(t1 - t0) / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  int entries = 20000;
  int rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--entries")) entries = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    else die(std::string("unknown option ") + argv[i]);
  }
  if (entries <= 0 || rounds <= 0) die("--entries and --rounds must be positive");
  uvredis::test::RedisServer server;
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::printf("consumer-group: %d entries per run, %d rounds, redis-server on port %u\n", entries, rounds,
              server.port());
  std::printf("%6s %16s %16s %8s\n", "batch", "uvredis/s", "hiredis/s", "ratio");
  for (long long batch : {1LL, 100LL}) {
    // Batch 1 costs a round trip per entry: fewer entries keep the run short.
    const int n = batch == 1 ? std::max(1, entries / 4) : entries;
    std::vector<double> ours, theirs, ratios;
    for (int r = 0; r < rounds; ++r) {
      double u = 0, h = 0;
      for (int k = 0; k < 2; ++k) {
        prepare(server, n);
        if ((k == 0) == (r % 2 == 0)) {
          u = run_uvredis(&loop, server.url(), n, batch);
        } else {
          h = run_hiredis(&loop, server, n, batch);
        }
      }
      ours.push_back(u);
      theirs.push_back(h);
      ratios.push_back(u / h);
    }
    std::printf("%6lld %16.0f %16.0f %8.2f\n", batch, median(ours), median(theirs), median(ratios));
  }
  while (uv_loop_alive(&loop)) uv_run(&loop, UV_RUN_NOWAIT);
  if (uv_loop_close(&loop) != 0) die("handles left open");
  return 0;
}
