// ws_fanout: Redis pub/sub fanned out to WebSocket clients, on one libuv loop,
// with uvredis-ws (include/uvredis/ws_fanout.hpp).
//
// Browsers join a room and chat. A message from a browser is PUBLISHed to
// `chat:room:<id>`; the server PSUBSCRIBEs `chat:room:*` and forwards every
// message to the WebSocket clients in that room. Rooms named with --resumable
// go through a resumable channel instead (a capped stream next to the
// channel): after the server's subscriber reconnects, what was published
// meanwhile is read back and delivered in order. libwebsockets serves the
// static page, a /stats JSON endpoint and the WebSocket protocol on one port,
// on the same loop: one thread, no locks. docs/ws-fanout.md has the protocol.
//
// Usage: ws_fanout [--redis URL] [--port N] [--www DIR] [--queue N]
//                  [--queue-bytes N] [--policy drop-oldest|disconnect]
//                  [--resumable ROOM]... [--prefix P] [--verbose]
// Listens on 127.0.0.1 only; with --port 0 the kernel picks a free port.
// The one line on stdout, once listening, is `listening on 127.0.0.1:PORT`.

#include <uvredis/uvredis.hpp>
#include <uvredis/ws_fanout.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#ifndef WS_FANOUT_WWW
#define WS_FANOUT_WWW "examples/ws_fanout"
#endif

namespace {

struct Config {
  std::string redis_url;
  uvredis::WsFanoutOptions fanout;
};

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--redis URL] [--port N] [--www DIR] [--queue N] [--queue-bytes N]\n"
               "          [--policy drop-oldest|disconnect] [--resumable ROOM]... [--prefix P] [--verbose]\n"
               "  --redis   Redis URL (default: $REDIS_URL, else redis://127.0.0.1:6379)\n"
               "  --port    TCP port on 127.0.0.1 (default 7681; 0 picks a free one)\n"
               "  --www     directory of the static page (default %s)\n"
               "  --queue   frames queued per client before the slow-client policy applies (default 1024;\n"
               "            keep it above what one loop turn brings from Redis: up to ~270 tiny messages)\n"
               "  --queue-bytes  the same bound in bytes (default 8 MiB); larger messages are not forwarded\n"
               "  --policy  what to do with a slow client: drop its oldest frames, or disconnect it\n"
               "  --resumable  a room whose messages go through a resumable channel (gaps are filled)\n"
               "  --prefix  channel prefix of the rooms (default chat:room:)\n",
               argv0, WS_FANOUT_WWW);
}

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  const char* env = std::getenv("REDIS_URL");
  cfg.redis_url = env && *env ? env : "redis://127.0.0.1:6379";
  cfg.fanout.www = WS_FANOUT_WWW;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    auto number = [&](long lo, long hi) -> std::optional<long> {
      auto v = next();
      if (!v) return std::nullopt;
      char* end = nullptr;
      long n = std::strtol(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || n < lo || n > hi) return std::nullopt;
      return n;
    };
    if (a == "--redis") {
      auto v = next();
      if (!v) return std::nullopt;
      cfg.redis_url = *v;
    } else if (a == "--port") {
      auto n = number(0, 65535);
      if (!n) return std::nullopt;
      cfg.fanout.port = static_cast<int>(*n);
    } else if (a == "--www") {
      auto v = next();
      if (!v) return std::nullopt;
      cfg.fanout.www = *v;
    } else if (a == "--queue") {
      auto n = number(1, 1'000'000);
      if (!n) return std::nullopt;
      cfg.fanout.queue_frames = static_cast<std::size_t>(*n);
    } else if (a == "--queue-bytes") {
      auto n = number(1024, std::numeric_limits<int>::max());
      if (!n) return std::nullopt;
      cfg.fanout.queue_bytes = static_cast<std::size_t>(*n);
    } else if (a == "--policy") {
      auto v = next();
      if (v == "drop-oldest") cfg.fanout.slow_policy = uvredis::WsSlowPolicy::drop_oldest;
      else if (v == "disconnect") cfg.fanout.slow_policy = uvredis::WsSlowPolicy::disconnect;
      else return std::nullopt;
    } else if (a == "--prefix") {
      auto v = next();
      if (!v || v->empty()) return std::nullopt;
      cfg.fanout.channel_prefix = *v;
    } else if (a == "--resumable") {
      auto v = next();
      if (!v) return std::nullopt;
      cfg.fanout.resumable_rooms.push_back(*v);
    } else if (a == "--verbose") {
      cfg.fanout.verbose = true;
    } else {
      return std::nullopt;
    }
  }
  return cfg;
}

struct Shutdown {
  uvredis::WsFanout* fanout;
  std::shared_ptr<spdlog::logger> log;
  std::vector<uv_signal_t*> signals;
};

void stop(Shutdown& s) {
  for (uv_signal_t* sig : s.signals)
    uv_close(reinterpret_cast<uv_handle_t*>(sig), [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
  s.signals.clear();
  s.fanout->close([log = s.log] { log->info("closed"); });
}

}  // namespace

int main(int argc, char** argv) {
  // A browser that goes away mid-write must not kill the server with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<Config> cfg = parse_args(argc, argv);
  if (!cfg) {
    usage(argv[0]);
    return 2;
  }
  auto log = spdlog::stderr_logger_st("ws_fanout");
  log->set_pattern("%H:%M:%S.%e %n %l: %v");
  auto redis_opts = uvredis::ClientOptions::from_url(cfg->redis_url);
  if (!redis_opts) {
    log->error("bad Redis URL: {}", redis_opts.error().message);
    return 2;
  }
  redis_opts->client_name = "ws-fanout";
  redis_opts->logger = log;

  uv_loop_t loop;
  uv_loop_init(&loop);
  int status = 0;
  {
    uvredis::WsFanout fanout(&loop, *redis_opts, cfg->fanout);
    Shutdown sd{&fanout, log, {}};
    uvredis::Result<int> port = fanout.start();
    if (!port) {
      log->error("{}", port.error().message);
      if (port.error().message.find("must not run again") != std::string::npos) {
        std::fflush(nullptr);
        std::_Exit(1);
      }
      status = port.error().kind == uvredis::ErrorKind::usage ? 2 : 1;
      stop(sd);
    } else {
      std::printf("listening on 127.0.0.1:%d\n", *port);
      std::fflush(stdout);
      for (int signum : {SIGINT, SIGTERM}) {
        auto* sig = new uv_signal_t;
        uv_signal_init(&loop, sig);
        sig->data = &sd;
        uv_signal_start(
            sig,
            [](uv_signal_t* h, int n) {
              auto* s = static_cast<Shutdown*>(h->data);
              s->log->info("signal {}: shutting down", n);
              stop(*s);
            },
            signum);
        sd.signals.push_back(sig);
      }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // nothing should be left; closes stragglers if there are
  if (int rc = uv_loop_close(&loop); rc != 0) {
    log->error("uv_loop_close: {}", uv_strerror(rc));
    uv_walk(
        &loop,
        [](uv_handle_t* h, void* arg) {
          static_cast<spdlog::logger*>(arg)->error("handle still open: {}",
                                                   uv_handle_type_name(uv_handle_get_type(h)));
        },
        log.get());
    return 1;
  }
  return status;
}
