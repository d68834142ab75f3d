// uvredis-bench --pubsub: one publisher, one subscriber, one channel.
//
// Each run publishes N numbered messages of S bytes (a 12-digit sequence
// number, then 'x' padding) and receives them on the same loop. `depth`
// bounds the messages in flight end to end: published but not yet received
// by the subscriber (a sliding window; the next PUBLISH leaves when a
// message arrives). Bounding the PUBLISH replies instead would let the
// publisher run ahead of the subscriber and pile the difference up in the
// server's output buffer for the subscriber, which measures that buffer, not
// delivery. A run ends when every message arrived, in order, and every
// PUBLISH was answered with 1 receiver.
//
// Contenders, taking turns within each round in a rotating order:
//  - uvredis: a Client publishes, a Subscriber receives;
//  - hiredis: two redisAsyncContexts on the stock <hiredis/adapters/libuv.h>,
//    redisAsyncCommand SUBSCRIBE on one and PUBLISH on the other;
//  - redis-benchmark: `redis-benchmark -c 1 -P depth PUBLISH ch <payload>`
//    while a minimal subscriber (a thread reading and discarding raw bytes,
//    see RawSink) is attached, so the server does the same fan-out work.
//    Its figure is the rate redis-benchmark reports: the server accepting
//    PUBLISHes from one pipelining client, -P being a batch, not a window.
//    Delivery is checked (every byte arrives) but not timed, so this is a
//    reference for what the server sustains rather than a like-for-like
//    contender.
//
// CPU per message = getrusage(RUSAGE_SELF) user+sys over the measured phase /
// N: publisher and subscriber together, the server (a child) excluded.
//
// Instructions per message: the measured phase is bracketed for callgrind
// as in the command mode (see the top of uvredis-bench.cpp), e.g. with a
// server already running:
//   REDIS_URL=127.0.0.1:PORT valgrind --tool=callgrind --instr-atstart=no
//     build-rel/tests/bench/uvredis-bench --pubsub --only uvredis --depths 128
//     --sizes 16 --rounds 1 --n 20000                   (one command line)
// and divide the total Ir by N.

#include "pubsub.hpp"

#include <uvredis/uvredis.hpp>

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}
#include <hiredis/adapters/libuv.h>
#include <uv.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace bench {
namespace {

constexpr std::size_t kSeqDigits = 12;

struct PsSample {
  double msgs = 0;       // messages per second
  double cpu_us = -1;    // process CPU per message, microseconds; <0: not measured
  std::size_t max_turn = 0;  // uvredis only: most messages the Subscriber handled in one loop turn
};

// The number of a message, or -1 when it is not one of ours.
long long seq_of(std::string_view payload, std::size_t size) {
  if (payload.size() != size) return -1;
  unsigned long long v = 0;
  const char* end = payload.data() + kSeqDigits;
  auto [ptr, ec] = std::from_chars(payload.data(), end, v);
  if (ec != std::errc() || ptr != end) return -1;
  return static_cast<long long>(v);
}

// The window shared by the in-process contenders. Self provides
// publish(payload) and finish(); deliveries come back through message() and
// PUBLISH replies through acked().
template <class Self>
class PubSubWindow {
 public:
  PubSubWindow(std::size_t n, std::size_t depth, std::size_t size) : n_(n), depth_(depth), payload_(size, 'x') {}

  void begin() {
    if (finished_) return;
    BENCH_CG_START();
    cpu0_ = cpu_seconds();
    t0_ = std::chrono::steady_clock::now();
    while (issued_ < n_ && issued_ < depth_) publish_next();
  }

  void message(std::string_view payload) {
    if (finished_) return;
    if (seq_of(payload, payload_.size()) != static_cast<long long>(received_)) ++wrong_;
    ++received_;
    if (issued_ < n_) publish_next();
    check_done();
  }

  void acked(bool ok) {
    if (finished_) return;
    if (!ok) ++bad_acks_;
    ++acked_;
    check_done();
  }

  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    if (finished_) return;
    finished_ = true;
    self().finish();
  }

  PsSample result(const char* who) const {
    if (!error_.empty() || received_ != n_ || acked_ != n_ || wrong_ != 0 || bad_acks_ != 0)
      die(std::string(who) + " pub/sub: " + std::to_string(received_) + "/" + std::to_string(n_) + " received (" +
          std::to_string(wrong_) + " out of sequence), " + std::to_string(acked_) + " PUBLISH replies (" +
          std::to_string(bad_acks_) + " not 1)" + (error_.empty() ? "" : "; " + error_));
    return sample_;
  }

 protected:
  PsSample sample_;

 private:
  Self& self() { return static_cast<Self&>(*this); }

  void publish_next() {
    std::size_t v = issued_;  // kSeqDigits decimal digits, zero-padded (N < 10^12)
    for (std::size_t i = kSeqDigits; i-- > 0; v /= 10) payload_[i] = static_cast<char>('0' + v % 10);
    ++issued_;
    self().publish(payload_);  // both contenders copy the bytes before returning
  }

  void check_done() {
    if (received_ < n_ || acked_ < n_) return;
    const auto t1 = std::chrono::steady_clock::now();
    const double cpu1 = cpu_seconds();
    BENCH_CG_STOP();
    const double secs = std::chrono::duration<double>(t1 - t0_).count();
    sample_.msgs = static_cast<double>(n_) / secs;
    sample_.cpu_us = (cpu1 - cpu0_) * 1e6 / static_cast<double>(n_);
    finished_ = true;
    self().finish();
  }

  std::size_t n_, depth_;
  std::string payload_;
  std::size_t issued_ = 0, received_ = 0, acked_ = 0, wrong_ = 0, bad_acks_ = 0;
  bool finished_ = false;
  std::string error_;
  double cpu0_ = 0;
  std::chrono::steady_clock::time_point t0_;
};

// ------------------------------------------------------------------ uvredis

class UvredisPubSub : public PubSubWindow<UvredisPubSub> {
 public:
  UvredisPubSub(uvredis::Client& pub, uvredis::Subscriber& sub, std::string_view channel, std::size_t n,
                std::size_t depth, std::size_t size)
      : PubSubWindow(n, depth, size), pub_(pub), sub_(sub), channel_(channel) {}

  void publish(std::string_view payload) {
    pub_.command({"PUBLISH", channel_, payload}, [this](uvredis::Result<uvredis::Reply> r) {
      acked(r && r->is_integer() && r->integer() == 1);
    });
  }
  void finish() {
    sample_.max_turn = sub_.stats().max_turn_messages;
    sub_.close();
    pub_.close();
  }

 private:
  uvredis::Client& pub_;
  uvredis::Subscriber& sub_;
  std::string_view channel_;
};

PsSample run_uvredis(uv_loop_t* loop, const Target& t, const std::string& channel, std::size_t n, std::size_t depth,
                     std::size_t size) {
  uvredis::ClientOptions opts;
  opts.address.host = t.host;
  opts.address.port = t.port;
  opts.reconnect = false;  // a dropped link is a failed run
  uv_update_time(loop);    // the loop sat idle while redis-benchmark ran: timeouts start from now
  uvredis::Client pub(loop, opts);
  uvredis::Subscriber sub(loop, opts);
  UvredisPubSub run(pub, sub, channel, n, depth, size);
  int ready = 0;
  auto one_ready = [&] {
    if (++ready == 2) run.begin();
  };
  sub.on_state_change([&](uvredis::ConnectionState s, const uvredis::Error* e) {
    if (s == uvredis::ConnectionState::reconnecting || s == uvredis::ConnectionState::failed)
      run.fail(std::string("subscriber lost its link: ") + (e ? e->to_string() : std::string(uvredis::to_string(s))));
  });
  sub.subscribe({channel}, [&run](const uvredis::Message& m) { run.message(m.payload); },
                [&](uvredis::Result<void> r) {
                  if (!r) return run.fail("SUBSCRIBE: " + r.error().to_string());
                  one_ready();
                });
  pub.ping([&](uvredis::Result<std::string> r) {
    if (!r) return run.fail("PING: " + r.error().to_string());
    one_ready();
  });
  uv_run(loop, UV_RUN_DEFAULT);
  return run.result("uvredis");
}

// ------------------------------------------------------------------ hiredis

class HiredisPubSub : public PubSubWindow<HiredisPubSub> {
 public:
  HiredisPubSub(std::string channel, std::size_t n, std::size_t depth, std::size_t size)
      : PubSubWindow(n, depth, size), channel_(std::move(channel)) {}

  redisAsyncContext* pub = nullptr;
  redisAsyncContext* sub = nullptr;
  int ready = 0;

  void publish(std::string_view payload) {
    const char* argv[3] = {"PUBLISH", channel_.data(), payload.data()};
    const size_t lens[3] = {7, channel_.size(), payload.size()};
    redisAsyncCommandArgv(pub, &HiredisPubSub::on_ack, this, 3, argv, lens);
  }
  void finish() {
    // Inside a callback of one of them hiredis defers its part of this.
    if (pub) redisAsyncDisconnect(pub);
    if (sub) redisAsyncDisconnect(sub);
  }

  void one_ready() {
    if (++ready == 2) begin();
  }

  static void on_ack(redisAsyncContext*, void* r, void* priv) {
    const auto* rep = static_cast<const redisReply*>(r);
    if (rep == nullptr) return;  // the link went away; result() reports the shortfall
    static_cast<HiredisPubSub*>(priv)->acked(rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
  }

  // Called for the subscribe confirmation and then for every message.
  static void on_sub(redisAsyncContext*, void* r, void* priv) {
    const auto* rep = static_cast<const redisReply*>(r);
    if (rep == nullptr) return;
    auto* self = static_cast<HiredisPubSub*>(priv);
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 || rep->element[0]->type != REDIS_REPLY_STRING)
      return self->fail("unexpected reply on the subscriber");
    const std::string_view kind(rep->element[0]->str, rep->element[0]->len);
    if (kind == "message")
      self->message(std::string_view(rep->element[2]->str, rep->element[2]->len));
    else if (kind == "subscribe")
      self->one_ready();
  }

 private:
  std::string channel_;
};

redisAsyncContext* hiredis_connect(uv_loop_t* loop, const Target& t, HiredisPubSub* run) {
  redisAsyncContext* ac = redisAsyncConnect(t.host.c_str(), t.port);
  if (ac == nullptr) die("hiredis: out of memory");
  if (ac->err) {
    std::string e = ac->errstr;
    redisAsyncFree(ac);
    die("hiredis connect: " + e);
  }
  ac->data = run;
  if (redisLibuvAttach(ac, loop) != REDIS_OK) die("redisLibuvAttach failed");
  redisAsyncSetConnectCallback(ac, [](const redisAsyncContext* c, int status) {
    if (status == REDIS_OK) return;
    // hiredis frees a context whose connect failed, without its disconnect callback.
    auto* self = static_cast<HiredisPubSub*>(c->data);
    if (c == self->pub) self->pub = nullptr;
    if (c == self->sub) self->sub = nullptr;
    self->fail(std::string("connect: ") + c->errstr);
  });
  redisAsyncSetDisconnectCallback(ac, [](const redisAsyncContext* c, int status) {
    auto* self = static_cast<HiredisPubSub*>(c->data);
    if (c == self->pub) self->pub = nullptr;
    if (c == self->sub) self->sub = nullptr;
    if (status != REDIS_OK) self->fail(std::string("disconnect: ") + c->errstr);
  });
  return ac;
}

PsSample run_hiredis(uv_loop_t* loop, const Target& t, const std::string& channel, std::size_t n, std::size_t depth,
                     std::size_t size) {
  HiredisPubSub run(channel, n, depth, size);
  run.sub = hiredis_connect(loop, t, &run);
  run.pub = hiredis_connect(loop, t, &run);
  redisAsyncCommand(run.sub, &HiredisPubSub::on_sub, &run, "SUBSCRIBE %b", channel.data(), channel.size());
  redisAsyncCommand(
      run.pub,
      [](redisAsyncContext*, void* r, void* priv) {
        if (r != nullptr) static_cast<HiredisPubSub*>(priv)->one_ready();
      },
      &run, "PING");
  uv_run(loop, UV_RUN_DEFAULT);
  return run.result("hiredis");
}

// ---------------------------------------------------------- redis-benchmark

// The cheapest subscriber there is, for redis-benchmark's runs: SUBSCRIBE on
// a blocking socket, then a thread that reads and discards bytes until all
// the messages arrived (their size is known in advance) or the server has
// been silent for 5 s. It costs a read() per 64 KiB, so the server does the
// same fan-out work as in the other runs without a third busy process on
// the two cores (redis-cli printing every message would be one).
class RawSink {
 public:
  RawSink(const Target& t, const std::string& channel, std::size_t n, std::size_t size) {
    const std::string len = std::to_string(channel.size());
    expect_ = n * ("*3\r\n$7\r\nmessage\r\n$" + len + "\r\n" + channel + "\r\n$" + std::to_string(size) +
                   "\r\n\r\n").size() +
              n * size;
    fd_ = connect_blocking(t);
    if (fd_ < 0) die("sink: cannot connect to " + t.host + ":" + std::to_string(t.port));
    const std::string req = "*2\r\n$9\r\nSUBSCRIBE\r\n$" + len + "\r\n" + channel + "\r\n";
    const std::string confirm = "*3\r\n$9\r\nsubscribe\r\n$" + len + "\r\n" + channel + "\r\n:1\r\n";
    std::string got(confirm.size(), '\0');
    std::size_t have = 0;
    bool ok = write(fd_, req.data(), req.size()) == static_cast<ssize_t>(req.size());
    while (ok && have < got.size()) {
      const ssize_t k = read(fd_, got.data() + have, got.size() - have);
      ok = k > 0;
      if (ok) have += static_cast<std::size_t>(k);
    }
    if (!ok || got != confirm) {
      close(fd_);
      die("sink: SUBSCRIBE " + channel + " was not confirmed");
    }
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    thread_ = std::thread([this] { drain(); });
  }
  ~RawSink() { finish(); }
  RawSink(const RawSink&) = delete;
  RawSink& operator=(const RawSink&) = delete;

  /// Waits for the reader; true when every byte arrived.
  bool finish() {
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return got_ == expect_;
  }

 private:
  void drain() {
    std::vector<char> buf(64 * 1024);
    while (got_ < expect_) {
      const ssize_t k = read(fd_, buf.data(), std::min(buf.size(), expect_ - got_));
      if (k > 0)
        got_ += static_cast<std::size_t>(k);
      else if (k == 0 || errno != EINTR)
        break;
    }
  }

  int fd_ = -1;
  std::size_t expect_ = 0, got_ = 0;
  std::thread thread_;
};

PsSample run_redis_benchmark(const Target& t, const std::string& channel, std::size_t n, std::size_t depth,
                             std::size_t size) {
  RawSink sink(t, channel, n, size);
  auto [out, status] = capture({"timeout", "60", "redis-benchmark", "-h", t.host, "-p", std::to_string(t.port), "-c",
                                "1", "-P", std::to_string(depth), "-n", std::to_string(n), "--csv", "-q", "PUBLISH",
                                channel, std::string(size, 'x')});
  const bool delivered = sink.finish();
  if (status != 0) die("redis-benchmark exited with status " + std::to_string(status) + ":\n" + out);
  if (!delivered) die("redis-benchmark run: the subscriber did not receive every message");
  // Lines like "PUBLISH bench:ps:3 xxxx","123456.79",...
  for (std::size_t pos = 0; pos < out.size();) {
    std::size_t eol = out.find('\n', pos);
    if (eol == std::string::npos) eol = out.size();
    const std::string line = out.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.starts_with("\"PUBLISH")) continue;
    const std::size_t field = line.find("\",\"");
    if (field == std::string::npos) break;
    PsSample s;
    s.msgs = std::strtod(line.c_str() + field + 3, nullptr);
    if (s.msgs > 0) return s;
  }
  die("could not read redis-benchmark's CSV output:\n" + out);
}

// ------------------------------------------------------------------ report

enum Contender { kUvredis, kHiredis, kRedisBenchmark, kContenders };
const char* const kNames[kContenders] = {"uvredis", "hiredis", "redis-benchmark"};

}  // namespace

int run_pubsub(const PubSubConfig& cfg, const Target& t) {
  for (std::size_t s : cfg.sizes)
    if (s < kSeqDigits) die("--sizes: a payload needs at least " + std::to_string(kSeqDigits) + " bytes");
  const bool enabled[kContenders] = {cfg.uvredis, cfg.hiredis, cfg.redis_benchmark};
  std::fprintf(stderr, "pub/sub: N=%zu messages per run, %d round(s)\n", cfg.n, cfg.rounds);

  uv_loop_t loop;
  uv_loop_init(&loop);
  // samples[{size, depth}][contender]
  std::map<std::pair<std::size_t, std::size_t>, std::array<std::vector<PsSample>, kContenders>> samples;
  unsigned run_id = 0;

  for (int round = 0; round < cfg.rounds; ++round) {
    for (std::size_t size : cfg.sizes) {
      for (std::size_t depth : cfg.depths) {
        for (int k = 0; k < kContenders; ++k) {
          const int c = (k + round) % kContenders;  // rotate who goes first
          if (!enabled[c]) continue;
          const std::string channel = "bench:ps:" + std::to_string(++run_id);  // a fresh channel per run
          alarm(120);  // watchdog: a hung run must not keep the server alive forever
          PsSample s = c == kUvredis   ? run_uvredis(&loop, t, channel, cfg.n, depth, size)
                       : c == kHiredis ? run_hiredis(&loop, t, channel, cfg.n, depth, size)
                                       : run_redis_benchmark(t, channel, cfg.n, depth, size);
          alarm(0);
          samples[{size, depth}][c].push_back(s);
          std::fprintf(stderr, "round %d  %4zu B  depth %-5zu  %-15s  %10s msg/s", round + 1, size, depth, kNames[c],
                       grouped(s.msgs).c_str());
          if (s.cpu_us >= 0) std::fprintf(stderr, "  %6.3f us CPU/msg", s.cpu_us);
          if (c == kUvredis) std::fprintf(stderr, "  (subscriber: up to %zu msgs per loop turn)", s.max_turn);
          std::fprintf(stderr, "\n");
        }
      }
    }
  }
  if (uv_loop_close(&loop) != 0) std::fprintf(stderr, "warning: uv_loop_close found open handles\n");

  std::printf("\nPub/sub, one publisher and one subscriber on one loop: medians of %d round(s), N=%zu messages per "
              "run; ratios are of the medians.\n\n",
              cfg.rounds, cfg.n);
  std::printf(
      "| payload | depth | uvredis msg/s | hiredis msg/s | redis-benchmark PUBLISH/s | uvredis / hiredis | "
      "uvredis / redis-benchmark | uvredis CPU µs/msg | hiredis CPU µs/msg | CPU uvredis / hiredis |\n");
  std::printf("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (std::size_t size : cfg.sizes) {
    for (std::size_t depth : cfg.depths) {
      double msgs[kContenders], cpu[kContenders];
      for (int c = 0; c < kContenders; ++c) {
        std::vector<double> m, u;
        for (const PsSample& s : samples[{size, depth}][c]) {
          m.push_back(s.msgs);
          u.push_back(s.cpu_us);
        }
        msgs[c] = median(m);
        cpu[c] = median(u);
      }
      auto cell = [](double v, int prec) { return v > 0 ? (prec < 0 ? grouped(v) : fixed(v, prec)) : std::string("–"); };
      auto ratio = [](double a, double b) { return a > 0 && b > 0 ? fixed(a / b, 2) : std::string("–"); };
      std::printf("| %zu B | %zu | %s | %s | %s | %s | %s | %s | %s | %s |\n", size, depth, cell(msgs[kUvredis], -1).c_str(),
                  cell(msgs[kHiredis], -1).c_str(), cell(msgs[kRedisBenchmark], -1).c_str(),
                  ratio(msgs[kUvredis], msgs[kHiredis]).c_str(), ratio(msgs[kUvredis], msgs[kRedisBenchmark]).c_str(),
                  cell(cpu[kUvredis], 3).c_str(), cell(cpu[kHiredis], 3).c_str(),
                  ratio(cpu[kUvredis], cpu[kHiredis]).c_str());
    }
  }
  return 0;
}

}  // namespace bench
