// ws_fanout: Redis pub/sub fanned out to WebSocket clients, on one libuv loop.
//
// Browsers join a room and chat. A message from a browser is PUBLISHed to
// `chat:room:<id>` with a uvredis Client; the server PSUBSCRIBEs `chat:room:*`
// with a uvredis Subscriber and forwards every message to the WebSocket
// clients in that room. libwebsockets serves the static page, a /stats JSON
// endpoint and the WebSocket protocol on one port, on the same loop
// (lws "foreign loop" mode): one thread, no locks.
//
// Redis pub/sub is at-most-once: a message published while this server is
// disconnected from Redis is never seen by it. The Subscriber reconnects and
// resubscribes by itself; the server then tells every browser that it may
// have missed messages. The same holds on the WebSocket side: a client that
// does not read fast enough loses its oldest queued messages (or is
// disconnected, with --policy disconnect), and is told how many it lost.
//
// Usage: ws_fanout [--redis URL] [--port N] [--www DIR] [--queue N]
//                  [--queue-bytes N] [--policy drop-oldest|disconnect] [--verbose]
// Listens on 127.0.0.1 only; with --port 0 the kernel picks a free port.
// The one line on stdout, once listening, is `listening on 127.0.0.1:PORT`.

#include "ws_fanout_hub.hpp"

#include <uvredis/uvredis.hpp>

#include <libwebsockets.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#ifndef WS_FANOUT_WWW
#define WS_FANOUT_WWW "examples/ws_fanout"
#endif

namespace {

using json = nlohmann::json;
using fanout::Client;
using fanout::FramePtr;
using fanout::SlowPolicy;

constexpr std::string_view kChannelPrefix = "chat:room:";
constexpr const char* kPattern = "chat:room:*";
constexpr const char* kProtocolName = "uvredis-chat";
constexpr std::size_t kMaxIncoming = 8 * 1024;  // one message from a browser
constexpr std::size_t kMaxText = 2000;
constexpr std::size_t kMaxName = 32;
constexpr std::size_t kMaxRoom = 64;
// Bytes written per WRITEABLE callback, at most (then the next client gets
// its turn). One loop turn can bring hundreds of small messages from Redis
// (a 16 KiB read), so the budget is in bytes, not frames: writing stops
// earlier anyway when the socket is full.
constexpr std::size_t kBytesPerWriteable = 256 * 1024;
// Bytes written to all clients together per loop turn, roughly: each
// WRITEABLE callback may write its client's equal share of it (at least one
// frame, so every busy client moves every turn). Every frame is a send()
// (a few µs), so a thousand clients with 50 frames queued each would
// otherwise keep one turn busy for a third of a second (seen: loop lag up
// to 0.9 s); with the share, timers, Redis and new connections get the loop
// back within milliseconds and no client waits while others are served
// again.
constexpr std::size_t kBytesPerTurn = 1024 * 1024;
constexpr std::uint64_t kTickMs = 100;

struct Config {
  std::string redis_url;
  int port = 7681;
  std::string www = WS_FANOUT_WWW;
  fanout::Limits limits;  // per-client queue: frames, bytes (also the largest message forwarded), policy
  bool verbose = false;
};

// lws writes a frame's header into the LWS_PRE bytes in front of its
// payload. A frame is shared by every client it is queued for; writing the
// header again per client is safe because lws_write either sends the frame
// or copies what it could not send before returning.
FramePtr make_frame(const fanout::Hub& hub, const json& j) {
  return hub.make_frame(j.dump(-1, ' ', false, json::error_handler_t::replace));
}

// lws's per-session memory is raw bytes without constructors: it holds only
// the id of our Client (in the Hub).
struct Pss {
  std::uint64_t id;  // 0: no client (lws zero-fills this)
};

struct Counters {
  std::uint64_t connections = 0;     // WebSocket clients ever accepted
  std::uint64_t published = 0;       // PUBLISH commands issued for browsers
  std::uint64_t publish_errors = 0;  // ... that failed (Redis down, timeout)
  std::uint64_t redis_messages = 0;  // messages received from Redis
  std::uint64_t unrouted = 0;        // ... for a room nobody here is in
  std::uint64_t oversize = 0;        // ... larger than a client queue may hold (not forwarded)
  std::uint64_t frames_sent = 0;
  std::uint64_t writeables = 0;      // WRITEABLE callbacks
  std::uint64_t socket_full = 0;     // ... that stopped because the socket was full
  std::uint64_t share_full = 0;      // ... that stopped at their share of the loop turn's budget
  std::uint64_t bad_requests = 0;
  std::uint64_t redis_outages = 0;   // times the subscriber lost Redis
  std::uint64_t loop_lag_ms_last = 0;
  std::uint64_t loop_lag_ms_max = 0;
};

bool valid_room(std::string_view r) {
  if (r.empty() || r.size() > kMaxRoom) return false;
  for (char c : r) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.';
    if (!ok) return false;
  }
  return true;
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > kMaxName) return false;
  for (unsigned char c : n)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

std::optional<std::string> string_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// Whether 127.0.0.1:port can be bound now (with SO_REUSEADDR, as lws does).
bool port_is_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int http_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);
int chat_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);

const lws_protocols kProtocols[] = {
    {"http", http_callback, 0, 0, 0, nullptr, 0},
    {kProtocolName, chat_callback, sizeof(Pss), 4096, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

class FanoutServer {
 public:
  FanoutServer(uv_loop_t* loop, Config cfg, uvredis::ClientOptions redis_opts, std::shared_ptr<spdlog::logger> log)
      : loop_(loop),
        cfg_(std::move(cfg)),
        log_(std::move(log)),
        redis_(loop, redis_opts),
        subscriber_(loop, redis_opts),
        hub_(cfg_.limits, LWS_PRE,
             {.wake = [](Client& c) { lws_callback_on_writable(static_cast<lws*>(c.handle)); },
              .kick =
                  [this](Client& c) {
                    log_->warn("client #{} ({}) is slow: disconnecting it", c.id, c.name);
                    // Asynchronous: the hub may be iterating over a room.
                    lws_set_timeout(static_cast<lws*>(c.handle), PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
                  },
              .first_drop =
                  [this](Client& c) {
                    log_->warn("client #{} ({}) is slow: dropping its oldest messages", c.id, c.name);
                  }}) {}

  FanoutServer(const FanoutServer&) = delete;
  FanoutServer& operator=(const FanoutServer&) = delete;

  enum class Started { ok, port_taken, lws_failed };

  /// Subscribes, starts the timers and signal watchers, creates the lws
  /// context. After lws_failed the loop must not run again (see below).
  Started start() {
    if (cfg_.port != 0 && !port_is_free(cfg_.port)) {
      log_->error("127.0.0.1:{} is in use", cfg_.port);
      return Started::port_taken;
    }
    subscriber_.on_state_change([this](uvredis::ConnectionState s, const uvredis::Error* e) { on_redis_state(s, e); });
    subscriber_.psubscribe({kPattern}, [this](const uvredis::Message& m) { on_redis_message(m); },
                           [this](uvredis::Result<void> r) {
                             if (!r) log_->warn("PSUBSCRIBE {} not confirmed: {}", kPattern, r.error().to_string());
                           });

    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    last_tick_ = uv_now(loop_);
    uv_timer_start(
        timer_, [](uv_timer_t* t) { static_cast<FanoutServer*>(t->data)->on_tick(); }, kTickMs, kTickMs);
    for (int signum : {SIGINT, SIGTERM}) {
      auto* sig = new uv_signal_t;
      uv_signal_init(loop_, sig);
      sig->data = this;
      uv_signal_start(
          sig,
          [](uv_signal_t* s, int n) {
            auto* self = static_cast<FanoutServer*>(s->data);
            self->log_->info("signal {}: shutting down", n);
            self->shutdown();
          },
          signum);
      signals_.push_back(sig);
    }

    // The mounts must outlive the context: they are members.
    stats_mount_.mountpoint = "/stats";
    stats_mount_.mountpoint_len = 6;
    stats_mount_.protocol = "http";
    stats_mount_.origin_protocol = LWSMPRO_CALLBACK;
    stats_mount_.mount_next = &files_mount_;
    files_mount_.mountpoint = "/";
    files_mount_.mountpoint_len = 1;
    files_mount_.origin = cfg_.www.c_str();
    files_mount_.def = "index.html";
    files_mount_.origin_protocol = LWSMPRO_FILE;

    lws_context_creation_info info{};
    info.port = cfg_.port;
    info.iface = "127.0.0.1";
    info.protocols = kProtocols;
    info.mounts = &stats_mount_;
    // Without FAIL_UPON_UNABLE_TO_BIND lws returns a context without its
    // vhost when the port is taken.
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
                   LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    foreign_loops_[0] = loop_;
    info.foreign_loops = foreign_loops_;
    info.user = this;
    info.server_string = "uvredis-ws-fanout";
    ctx_ = lws_create_context(&info);
    if (ctx_ == nullptr) {
      // lws 4.1 in foreign-loop mode: a failed lws_create_context leaves
      // closing handles on our loop whose callbacks live in its libuv plugin,
      // which it has already unloaded; running the loop then crashes. Hence
      // the port check above, and no more uv_run after this.
      log_->error("could not start the WebSocket server on 127.0.0.1:{}", cfg_.port);
      return Started::lws_failed;
    }
    lws_vhost* vh = lws_get_vhost_by_name(ctx_, "default");
    if (vh == nullptr) {
      log_->error("could not listen on 127.0.0.1:{}", cfg_.port);
      return Started::port_taken;
    }
    port_ = lws_get_vhost_listen_port(vh);
    log_->info("serving {} and ws protocol '{}' on 127.0.0.1:{}; slow clients: queue {} frames / {} bytes, {}",
               cfg_.www, kProtocolName, port_, cfg_.limits.frames, cfg_.limits.bytes,
               fanout::to_string(cfg_.limits.policy));
    return Started::ok;
  }

  int port() const { return port_; }

  /// First half of the shutdown, on the loop: closes our handles, the Redis
  /// connections and (first lws_context_destroy) every WebSocket and lws
  /// handle. uv_run then returns once all of them are closed.
  void shutdown() {
    if (stopping_) return;
    stopping_ = true;
    hub_.stop();
    for (uv_signal_t* s : signals_) uv_close(reinterpret_cast<uv_handle_t*>(s), [](uv_handle_t* h) {
        delete reinterpret_cast<uv_signal_t*>(h);
      });
    signals_.clear();
    if (timer_) {
      uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      timer_ = nullptr;
    }

    subscriber_.close();
    redis_.close();
    if (ctx_) lws_context_destroy(ctx_);
  }

  /// Second half, after uv_run returned: in foreign-loop mode lws frees the
  /// context only on this second call.
  void finish() {
    if (ctx_) lws_context_destroy(ctx_);
    ctx_ = nullptr;
    log_->info("stopped: {}", stats_json().dump());
  }

  // ------------------------------------------------------------ lws events

  int on_http(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
    switch (reason) {
      case LWS_CALLBACK_HTTP: {  // only the /stats mount gets here
        std::string body = stats_json().dump(2) + "\n";
        unsigned char hdr[LWS_PRE + 512];
        unsigned char* start = hdr + LWS_PRE;
        unsigned char* p = start;
        unsigned char* end = hdr + sizeof hdr - 1;
        if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "application/json", body.size(), &p, end) ||
            lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                         reinterpret_cast<const unsigned char*>("no-store"), 8, &p, end) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
          return 1;
        http_bodies_[wsi] = std::string(LWS_PRE, '\0') + body;
        lws_callback_on_writable(wsi);
        return 0;
      }
      case LWS_CALLBACK_HTTP_WRITEABLE: {
        auto it = http_bodies_.find(wsi);
        if (it == http_bodies_.end()) break;
        std::string buf = std::move(it->second);
        http_bodies_.erase(it);
        auto* data = reinterpret_cast<unsigned char*>(buf.data()) + LWS_PRE;
        std::size_t n = buf.size() - LWS_PRE;
        if (lws_write(wsi, data, n, LWS_WRITE_HTTP_FINAL) != static_cast<int>(n)) return 1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
      }
      case LWS_CALLBACK_CLOSED_HTTP:
        http_bodies_.erase(wsi);
        break;
      default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }

  int on_chat(lws* wsi, lws_callback_reasons reason, Pss* pss, void* in, std::size_t len) {
    switch (reason) {
      case LWS_CALLBACK_ESTABLISHED: {
        Client& c = hub_.add(wsi);
        pss->id = c.id;
        ++counters_.connections;
        if (cfg_.verbose) log_->info("client #{} connected", c.id);
        return 0;
      }
      case LWS_CALLBACK_RECEIVE: {
        Client* c = hub_.find(pss->id);
        if (c == nullptr) return -1;
        if (lws_frame_is_binary(wsi)) {
          static const char why[] = "text frames only";
          lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                           reinterpret_cast<unsigned char*>(const_cast<char*>(why)), sizeof why - 1);
          return -1;
        }
        bool complete = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
        auto part = partial_.find(c->id);
        if (complete && part == partial_.end()) {  // the usual case: the whole message at once
          on_client_message(*c, std::string(static_cast<const char*>(in), len));
          return 0;
        }
        if (part == partial_.end()) part = partial_.emplace(c->id, std::string()).first;
        part->second.append(static_cast<const char*>(in), len);
        if (part->second.size() > kMaxIncoming) {
          static const char why[] = "message too large";
          lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                           reinterpret_cast<unsigned char*>(const_cast<char*>(why)), sizeof why - 1);
          return -1;
        }
        if (!complete) return 0;
        std::string text = std::move(part->second);
        partial_.erase(part);
        on_client_message(*c, text);
        return 0;
      }
      case LWS_CALLBACK_SERVER_WRITEABLE: {
        Client* c = hub_.find(pss->id);
        return c ? write_some(*c) : -1;
      }
      case LWS_CALLBACK_CLOSED: {
        if (pss->id == 0) return 0;
        if (cfg_.verbose) log_->info("client #{} disconnected", pss->id);
        partial_.erase(pss->id);
        hub_.remove(pss->id);
        pss->id = 0;
        return 0;
      }
      default:
        return 0;
    }
  }

 private:
  // ---------------------------------------------------- browser -> Redis

  void on_client_message(Client& s, const std::string& text) {
    json msg = json::parse(text, nullptr, false);
    if (msg.is_discarded() || !msg.is_object()) return reply_error(s, "not a JSON object");
    std::string type = string_field(msg, "type").value_or("");
    if (type == "join") {
      auto room = string_field(msg, "room");
      if (!room || !valid_room(*room)) return reply_error(s, "room must be 1-64 of A-Z a-z 0-9 - _ .");
      if (auto name = string_field(msg, "name"); name && !name->empty()) {
        if (!valid_name(*name)) return reply_error(s, "name must be 1-32 bytes, no control characters");
        s.name = *name;
      }
      hub_.join(s, *room);
      if (cfg_.verbose) log_->info("client #{} ({}) joined room {}", s.id, s.name, s.room);
      hub_.send(s, make_frame(hub_, {{"type", "joined"}, {"room", s.room}, {"name", s.name}}));
    } else if (type == "say") {
      if (s.room.empty()) return reply_error(s, "join a room first");
      auto body = string_field(msg, "text");
      if (!body || body->empty() || body->size() > kMaxText) return reply_error(s, "text must be 1-2000 bytes");
      publish(s, *body);
    } else {
      reply_error(s, "unknown message type");
    }
  }

  void reply_error(Client& s, std::string_view what) {
    ++counters_.bad_requests;
    hub_.send(s, make_frame(hub_, {{"type", "error"}, {"error", what}}));
  }

  void publish(Client& s, const std::string& text) {
    json msg = {{"type", "message"}, {"room", s.room}, {"from", s.name}, {"text", text}, {"ts", now_ms()}};
    std::string payload = msg.dump(-1, ' ', false, json::error_handler_t::replace);
    std::string channel = std::string(kChannelPrefix) + s.room;
    ++counters_.published;
    // The message reaches this browser too, through Redis, like any other.
    redis_.command({"PUBLISH", channel, payload}, [this, id = s.id](uvredis::Result<uvredis::Reply> r) {
      if (r) return;
      ++counters_.publish_errors;
      log_->warn("PUBLISH failed: {}", r.error().to_string());
      if (Client* c = hub_.find(id))
        hub_.send(*c, make_frame(hub_, {{"type", "error"}, {"error", "not sent: " + r.error().to_string()}}));
    });
  }

  // ---------------------------------------------------- Redis -> browsers

  void on_redis_message(const uvredis::Message& m) {
    ++counters_.redis_messages;
    std::string_view channel = m.channel;
    if (!channel.starts_with(kChannelPrefix)) return;
    std::string room(channel.substr(kChannelPrefix.size()));
    if (!hub_.has_room(room)) {
      ++counters_.unrouted;
      return;
    }
    if (m.payload.size() > cfg_.limits.bytes) {
      if (counters_.oversize++ == 0)
        log_->warn("a {}-byte message on {} is larger than a client queue may hold ({}): not forwarded",
                   m.payload.size(), m.channel, cfg_.limits.bytes);
      return;
    }
    hub_.send_room(room, frame_for(room, m.payload));
  }

  // A JSON object is forwarded byte for byte (the parse also proves it is
  // valid UTF-8, which a text frame must be). Anything else, for example
  // `redis-cli PUBLISH chat:room:lobby hello`, is wrapped in a message.
  FramePtr frame_for(const std::string& room, const std::string& payload) const {
    json j = json::parse(payload, nullptr, false);
    if (!j.is_discarded() && j.is_object()) return hub_.make_frame(payload);
    return make_frame(hub_, {{"type", "message"}, {"room", room}, {"from", "redis"}, {"text", payload}});
  }

  void broadcast(const json& j) { hub_.send_all(make_frame(hub_, j)); }

  void on_redis_state(uvredis::ConnectionState st, const uvredis::Error* e) {
    using uvredis::ConnectionState;
    if (st == ConnectionState::connected) {
      subscribed_ = true;
      if (redis_down_) {
        log_->warn("Redis is back and {} is subscribed again; messages published meanwhile are lost", kPattern);
        broadcast({{"type", "status"}, {"redis", "up"}, {"gap", true}});
      } else {
        log_->info("subscribed to {}", kPattern);
      }
      redis_down_ = false;
    } else if (st == ConnectionState::reconnecting || st == ConnectionState::failed) {
      subscribed_ = false;
      if (!redis_down_) ++counters_.redis_outages;
      redis_down_ = true;
      log_->warn("subscriber lost Redis ({}): {}", uvredis::to_string(st), e ? e->to_string() : "no error");
      broadcast({{"type", "status"}, {"redis", "down"}});
    }
  }

  // ------------------------------------------------------------ writes

  int write_some(Client& c) {
    if (c.kicked) return -1;
    ++counters_.writeables;
    auto* wsi = static_cast<lws*>(c.handle);
    // The share is by connected clients, not by those with frames waiting:
    // a bound that holds from the first turn of a burst.
    const std::size_t share =
        std::min(kBytesPerWriteable, kBytesPerTurn / std::max<std::size_t>(hub_.clients(), 1));
    for (std::size_t written = 0;;) {
      if (written >= share) {
        if (hub_.pending(c)) ++counters_.share_full;
        break;
      }
      FramePtr frame = hub_.next(c);
      if (!frame) break;
      int sent = lws_write(wsi, frame->data(), frame->size(), LWS_WRITE_TEXT);
      if (sent < static_cast<int>(frame->size())) {
        log_->warn("client #{}: write failed ({})", c.id, sent);
        return -1;
      }
      ++counters_.frames_sent;
      written += frame->size();
      // Choked also means lws kept part of that frame to send later.
      if (lws_send_pipe_choked(wsi)) {
        ++counters_.socket_full;
        break;
      }
    }
    if (hub_.pending(c)) lws_callback_on_writable(wsi);
    return 0;
  }

  // ------------------------------------------------------------ stats

  void on_tick() {
    std::uint64_t now = uv_now(loop_);
    std::uint64_t lag = now - last_tick_ > kTickMs ? now - last_tick_ - kTickMs : 0;
    last_tick_ = now;
    counters_.loop_lag_ms_last = lag;
    if (lag > counters_.loop_lag_ms_max) counters_.loop_lag_ms_max = lag;
    // Every 5 s, a line when slow clients lost something since the last one.
    if (++ticks_ % 50 != 0) return;
    const fanout::HubCounters& h = hub_.counters();
    if (h.dropped != logged_dropped_ || h.slow_disconnects != logged_kicks_) {
      log_->warn("slow clients: {} frames dropped, {} clients disconnected so far", h.dropped, h.slow_disconnects);
      logged_dropped_ = h.dropped;
      logged_kicks_ = h.slow_disconnects;
    }
  }

  json stats_json() const {
    uvredis::SubscriberStats sub = subscriber_.stats();
    uvredis::ClientStats cli = redis_.stats();
    const Counters& c = counters_;
    const fanout::HubCounters& h = hub_.counters();
    return {
        {"clients", hub_.clients()},
        {"rooms", hub_.rooms()},
        {"connections", c.connections},
        {"queue_limit", cfg_.limits.frames},
        {"queue_bytes", cfg_.limits.bytes},
        {"slow_policy", fanout::to_string(cfg_.limits.policy)},
        {"deepest_queue", hub_.deepest_queue()},
        {"deepest_queue_bytes", hub_.deepest_queue_bytes()},
        {"published", c.published},
        {"publish_errors", c.publish_errors},
        {"redis_messages", c.redis_messages},
        {"unrouted", c.unrouted},
        {"oversize", c.oversize},
        {"frames_queued", h.frames_queued},
        {"frames_sent", c.frames_sent},
        {"writeables", c.writeables},
        {"socket_full", c.socket_full},
        {"share_full", c.share_full},
        {"dropped", h.dropped},
        {"slow_clients", h.slow_clients},
        {"slow_disconnects", h.slow_disconnects},
        {"bad_requests", c.bad_requests},
        {"loop_lag_ms", {{"last", c.loop_lag_ms_last}, {"max", c.loop_lag_ms_max}}},
        {"redis",
         {{"subscribed", subscribed_},
          {"subscriber_state", uvredis::to_string(subscriber_.state())},
          {"client_state", uvredis::to_string(redis_.state())},
          {"outages", c.redis_outages},
          {"resubscribes", sub.resubscribes},
          {"max_turn_messages", sub.max_turn_messages},
          {"commands_in_flight", cli.in_flight},
          {"commands_queued", cli.queued}}},
    };
  }

  uv_loop_t* loop_;
  Config cfg_;
  std::shared_ptr<spdlog::logger> log_;
  uvredis::Client redis_;
  uvredis::Subscriber subscriber_;

  lws_context* ctx_ = nullptr;
  void* foreign_loops_[1] = {nullptr};
  lws_http_mount stats_mount_{};
  lws_http_mount files_mount_{};
  int port_ = 0;

  uv_timer_t* timer_ = nullptr;

  std::vector<uv_signal_t*> signals_;
  std::uint64_t last_tick_ = 0;
  std::uint64_t ticks_ = 0;
  std::uint64_t logged_dropped_ = 0;
  std::uint64_t logged_kicks_ = 0;

  fanout::Hub hub_;
  std::unordered_map<std::uint64_t, std::string> partial_;  // messages arriving in fragments
  std::unordered_map<lws*, std::string> http_bodies_;  // /stats responses waiting for WRITEABLE
  Counters counters_;
  bool subscribed_ = false;
  bool redis_down_ = false;
  bool stopping_ = false;
};

FanoutServer* server_of(lws* wsi) {
  return static_cast<FanoutServer*>(lws_context_user(lws_get_context(wsi)));
}

int http_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  FanoutServer* server = server_of(wsi);
  if (server == nullptr) return lws_callback_http_dummy(wsi, reason, user, in, len);
  return server->on_http(wsi, reason, user, in, len);
}

int chat_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  FanoutServer* server = server_of(wsi);
  if (server == nullptr || user == nullptr) return 0;
  return server->on_chat(wsi, reason, static_cast<Pss*>(user), in, len);
}

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--redis URL] [--port N] [--www DIR] [--queue N] [--queue-bytes N]\n"
               "          [--policy drop-oldest|disconnect] [--verbose]\n"
               "  --redis   Redis URL (default: $REDIS_URL, else redis://127.0.0.1:6379)\n"
               "  --port    TCP port on 127.0.0.1 (default 7681; 0 picks a free one)\n"
               "  --www     directory of the static page (default %s)\n"
               "  --queue   frames queued per client before the slow-client policy applies (default 1024;\n"
               "            keep it above what one loop turn brings from Redis: up to ~270 tiny messages)\n"
               "  --queue-bytes  the same bound in bytes (default 8 MiB); larger messages are not forwarded\n"
               "  --policy  what to do with a slow client: drop its oldest frames, or disconnect it\n",
               argv0, WS_FANOUT_WWW);
}

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  const char* env = std::getenv("REDIS_URL");
  cfg.redis_url = env && *env ? env : "redis://127.0.0.1:6379";
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
      cfg.port = static_cast<int>(*n);
    } else if (a == "--www") {
      auto v = next();
      if (!v) return std::nullopt;
      cfg.www = *v;
    } else if (a == "--queue") {
      auto n = number(1, 1'000'000);
      if (!n) return std::nullopt;
      cfg.limits.frames = static_cast<std::size_t>(*n);
    } else if (a == "--queue-bytes") {
      auto n = number(1024, std::numeric_limits<int>::max());
      if (!n) return std::nullopt;
      cfg.limits.bytes = static_cast<std::size_t>(*n);
    } else if (a == "--policy") {
      auto v = next();
      if (v == "drop-oldest") cfg.limits.policy = SlowPolicy::drop_oldest;
      else if (v == "disconnect") cfg.limits.policy = SlowPolicy::disconnect;
      else return std::nullopt;
    } else if (a == "--verbose") {
      cfg.verbose = true;
    } else {
      return std::nullopt;
    }
  }
  return cfg;
}

void log_open_handles(uv_loop_t* loop, spdlog::logger& log) {
  uv_walk(
      loop,
      [](uv_handle_t* h, void* arg) {
        static_cast<spdlog::logger*>(arg)->error("handle still open: {}", uv_handle_type_name(uv_handle_get_type(h)));
      },
      &log);
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
  // The file mount wants an absolute directory.
  if (char* real = realpath(cfg->www.c_str(), nullptr)) {
    cfg->www = real;
    std::free(real);
  } else {
    std::fprintf(stderr, "no such directory: %s\n", cfg->www.c_str());
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
  lws_set_log_level(LLL_ERR | LLL_WARN, nullptr);

  uv_loop_t loop;
  uv_loop_init(&loop);
  int status = 0;
  {
    FanoutServer server(&loop, *cfg, *redis_opts, log);
    switch (server.start()) {
      case FanoutServer::Started::ok:
        std::printf("listening on 127.0.0.1:%d\n", server.port());
        std::fflush(stdout);
        break;
      case FanoutServer::Started::port_taken:
        status = 1;
        server.shutdown();
        break;
      case FanoutServer::Started::lws_failed:
        std::fflush(nullptr);
        std::_Exit(1);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    server.finish();
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // nothing should be left; closes stragglers if there are
  if (int rc = uv_loop_close(&loop); rc != 0) {
    log->error("uv_loop_close: {}", uv_strerror(rc));
    log_open_handles(&loop, *log);
    return 1;
  }
  return status;
}
