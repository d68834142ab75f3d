// uvredis::WsFanout: libwebsockets in foreign-loop mode on the caller's
// libuv loop, rooms and queues in fanout::Hub (ws_fanout_hub.hpp), Redis
// through uvredis' Client, Subscriber and ResumableSubscriber.
//
// The write path is built for few system calls per frame. A frame queued for
// a client whose queue was empty is written at once (one send()) when the
// socket is known to take it: no write interest armed, nothing left over in
// lws from an earlier write (lws_partial_buffered(), a flag, no poll()), and
// the loop turn's byte budget not used up. Only when the kernel does not
// take a whole frame, or the budget is spent, is write interest armed, and it
// stays armed until the queue is empty. With libwebsockets on libuv every
// arm/disarm is a uv_poll_start(), which in libuv 1.44 costs about two
// epoll_ctl each way; the previous per-message arming was most of the cost
// of a frame at a steady message rate.

#include <uvredis/client.hpp>
#include <uvredis/resumable_channel.hpp>
#include <uvredis/subscriber.hpp>
#include <uvredis/ws_fanout.hpp>

#include "ws_fanout_hub.hpp"

#include <libwebsockets.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace uvredis::detail {

namespace {

using json = nlohmann::json;
using fanout::Client;
using fanout::FramePtr;

constexpr std::uint64_t kTickMs = 100;
constexpr std::size_t kMaxRoom = 64;
constexpr std::size_t kMaxName = 32;

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

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Whether host:port can be bound now (with SO_REUSEADDR, as lws does). lws
// 4.1 cannot fail its context creation cleanly on a foreign loop, so the
// usual failure is ruled out before.
bool port_is_free(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) == 1 &&
            ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

// lws's per-session memory is raw bytes without constructors: it holds only
// the id of our Client (in the Hub).
struct Pss {
  std::uint64_t id;  // 0: no client (lws zero-fills this)
};

int http_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);
int ws_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);

template <class H>
void close_handle(H*& h) {
  if (h == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<H*>(x); });
  h = nullptr;
}

}  // namespace

class WsFanoutImpl : public std::enable_shared_from_this<WsFanoutImpl> {
 public:
  WsFanoutImpl(uv_loop_t* loop, ClientOptions redis, WsFanoutOptions o)
      : loop_(loop),
        o_(std::move(o)),
        redis_opts_(std::move(redis)),
        log_(redis_opts_.logger ? redis_opts_.logger : std::make_shared<spdlog::logger>("ws_fanout")),
        hub_(fanout::Limits{o_.queue_frames, o_.queue_bytes,
                            o_.slow_policy == WsSlowPolicy::drop_oldest ? fanout::SlowPolicy::drop_oldest
                                                                         : fanout::SlowPolicy::disconnect},
             LWS_PRE,
             {.wake = [this](Client& c) { on_wake(c); },
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

  WsFanoutImpl(const WsFanoutImpl&) = delete;
  WsFanoutImpl& operator=(const WsFanoutImpl&) = delete;

  // ------------------------------------------------------------ start

  Result<int> start(std::shared_ptr<WsFanoutImpl> self) {
    if (started_) return Error{ErrorKind::usage, "WsFanout::start called twice"};
    if (closing_) return Error{ErrorKind::closed, "WsFanout is closed"};
    if (o_.port < 0 || o_.port > 65535) return Error{ErrorKind::usage, "port must be 0-65535"};
    if (o_.queue_frames == 0 || o_.queue_bytes < 1024) return Error{ErrorKind::usage, "queue limits too small"};
    if (o_.protocol.empty() || o_.channel_prefix.empty())
      return Error{ErrorKind::usage, "protocol and channel_prefix must not be empty"};
    for (const std::string& r : o_.resumable_rooms)
      if (!valid_room(r)) return Error{ErrorKind::usage, "bad resumable room name: " + r};
    if (!o_.www.empty()) {
      char* real = ::realpath(o_.www.c_str(), nullptr);
      if (real == nullptr) return Error{ErrorKind::usage, "no such directory: " + o_.www};
      www_ = real;
      std::free(real);
    }
    if (o_.port != 0 && !port_is_free(o_.host, o_.port))
      return Error{ErrorKind::connect, o_.host + ":" + std::to_string(o_.port) + " is in use (or not an address here)"};
    started_ = true;
    self_ = std::move(self);  // released once close() completed

    redis_ = std::make_unique<uvredis::Client>(loop_, redis_opts_);
    subscriber_ = std::make_unique<Subscriber>(loop_, redis_opts_);
    subscriber_->on_state_change([this](ConnectionState s, const Error* e) { on_plain_state(s, e); });
    pattern_ = o_.channel_prefix + "*";
    subscriber_->psubscribe({pattern_}, [this](const Message& m) { on_plain_message(m); }, [this](Result<void> r) {
      if (!r) log_->warn("PSUBSCRIBE {} not confirmed: {}", pattern_, r.error().to_string());
    });
    for (const std::string& room : o_.resumable_rooms) start_resumable(room);

    tick_ = new uv_timer_t;
    uv_timer_init(loop_, tick_);
    tick_->data = this;
    last_tick_ = uv_now(loop_);
    uv_timer_start(tick_, [](uv_timer_t* t) { static_cast<WsFanoutImpl*>(t->data)->on_tick(); }, kTickMs, kTickMs);
    uv_unref(reinterpret_cast<uv_handle_t*>(tick_));
    // The turn budget starts again before each poll.
    turn_ = new uv_prepare_t;
    uv_prepare_init(loop_, turn_);
    turn_->data = this;
    uv_prepare_start(turn_, [](uv_prepare_t* p) { static_cast<WsFanoutImpl*>(p->data)->on_turn(); });
    uv_unref(reinterpret_cast<uv_handle_t*>(turn_));
    // Active only while clients wait for the budget: the poll then does not
    // block, so they get their turn at once.
    backlog_idle_ = new uv_idle_t;
    uv_idle_init(loop_, backlog_idle_);

    protocols_[0] = {"http", http_callback, 0, 0, 0, nullptr, 0};
    protocols_[1] = {o_.protocol.c_str(), ws_callback, sizeof(Pss), 4096, 0, nullptr, 0};
    protocols_[2] = {nullptr, nullptr, 0, 0, 0, nullptr, 0};
    const lws_http_mount* mounts = nullptr;
    if (!www_.empty()) {
      files_mount_.mountpoint = "/";
      files_mount_.mountpoint_len = 1;
      files_mount_.origin = www_.c_str();
      files_mount_.def = "index.html";
      files_mount_.origin_protocol = LWSMPRO_FILE;
      mounts = &files_mount_;
    }
    if (!o_.stats_path.empty()) {
      stats_mount_.mountpoint = o_.stats_path.c_str();
      stats_mount_.mountpoint_len = static_cast<unsigned char>(std::min<std::size_t>(o_.stats_path.size(), 255));
      stats_mount_.protocol = "http";
      stats_mount_.origin_protocol = LWSMPRO_CALLBACK;
      stats_mount_.mount_next = mounts;
      mounts = &stats_mount_;
    }

    // lws logs process-wide, to stderr: errors and warnings only (its
    // notices would print a banner per context).
    lws_set_log_level(LLL_ERR | LLL_WARN, nullptr);
    lws_context_creation_info info{};
    info.port = o_.port;
    info.iface = o_.host.c_str();
    info.protocols = protocols_;
    info.mounts = mounts;
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
      // closing handles on the loop whose callbacks live in its libuv plugin,
      // which it has already unloaded; running the loop then crashes.
      lws_broken_ = true;
      return Error{ErrorKind::connect, "libwebsockets could not start on " + o_.host + ":" + std::to_string(o_.port) +
                                           " (the loop must not run again)"};
    }
    lws_vhost* vh = lws_get_vhost_by_name(ctx_, "default");
    if (vh == nullptr) return Error{ErrorKind::connect, "could not listen on " + o_.host + ":" + std::to_string(o_.port)};
    port_ = lws_get_vhost_listen_port(vh);
    log_->info("ws fan-out on {}:{}: protocol '{}', rooms {}*{}; slow clients: queue {} frames / {} bytes, {}",
               o_.host, port_, o_.protocol, o_.channel_prefix,
               o_.resumable_rooms.empty() ? "" : fmt::format(" ({} resumable)", o_.resumable_rooms.size()),
               o_.queue_frames, o_.queue_bytes,
               o_.slow_policy == WsSlowPolicy::drop_oldest ? "drop-oldest" : "disconnect");
    return port_;
  }

  int port() const { return port_; }

  // ------------------------------------------------------------ close

  void close(Function<void()> done) {
    if (done) dones_.push_back(std::move(done));
    if (closing_) {
      if (finished_) post_dones();
      return;
    }
    closing_ = true;
    hub_.stop();
    close_handle(tick_);
    close_handle(turn_);
    close_handle(backlog_idle_);
    if (!started_) {
      finished_ = true;
      post_dones();
      return;
    }
    // Resumable subscribers read through redis_: they close first.
    for (auto& [room, r] : resumable_) {
      ++pending_closes_;
      r.sub->close([this] { closed_one(); });
    }
    ++pending_closes_;
    subscriber_->close([this] { closed_one(); });
    ++pending_closes_;
    redis_->close([this] { closed_one(); });
    if (ctx_ != nullptr && !lws_broken_) {
      // lws is destroyed from a timer of ours, never from inside one of its
      // own callbacks (close() may be called from on_text, say). The first
      // lws_context_destroy closes every connection and lws handle,
      // asynchronously. lws 4.1 on a foreign loop has no completion
      // callback; its handles are uv_close()d then or from their close
      // callbacks, so once no handle on the loop is closing any more, the
      // second lws_context_destroy (which frees the context) is safe.
      ++pending_closes_;
      lws_wait_ = new uv_timer_t;
      uv_timer_init(loop_, lws_wait_);
      lws_wait_->data = this;
      uv_timer_start(lws_wait_, [](uv_timer_t* t) { static_cast<WsFanoutImpl*>(t->data)->check_lws_closed(); }, 0, 1);
    }
  }

  // ------------------------------------------------------------ API

  // The WsFanout is gone: none of the user's callbacks runs any more.
  void detach() {
    detached_ = true;
    on_text_ = {};
    on_connect_ = {};
    on_disconnect_ = {};
  }

  void on_text(WsFanout::TextHandler fn) { on_text_ = std::move(fn); }
  void on_connect(std::function<void(WsFanout::ClientId)> fn) { on_connect_ = std::move(fn); }
  void on_disconnect(std::function<void(WsFanout::ClientId)> fn) { on_disconnect_ = std::move(fn); }

  bool send(WsFanout::ClientId id, std::string_view text) {
    Client* c = hub_.find(id);
    if (c == nullptr) return false;
    hub_.send(*c, hub_.make_frame(text));
    return true;
  }

  bool join(WsFanout::ClientId id, std::string_view room) {
    Client* c = hub_.find(id);
    if (c == nullptr || !valid_room(room)) return false;
    hub_.join(*c, std::string(room));
    return true;
  }

  bool send_room(std::string_view room, std::string_view text) {
    return hub_.send_room(std::string(room), hub_.make_frame(text));
  }

  void publish(std::string_view room, std::string_view text, Callback<void> cb) {
    if (!started_ || closing_ || !valid_room(room)) {
      Error e{closing_ ? ErrorKind::closed : ErrorKind::usage,
              closing_ ? "WsFanout is closed" : (!started_ ? "WsFanout is not started" : "bad room name")};
      post([self = shared_from_this(), cb = std::move(cb), e]() mutable {
        if (cb && !self->detached_) cb(e);
      });
      return;
    }
    ++counters_.published;
    auto on_done = [this, cb = std::move(cb)](Result<void> r) mutable {
      if (!r) {
        ++counters_.publish_errors;
        log_->warn("publish failed: {}", r.error().to_string());
      }
      if (cb && !detached_) cb(std::move(r));
    };
    auto rit = resumable_.find(std::string(room));
    if (rit != resumable_.end()) {
      rit->second.channel->publish(text, [on_done = std::move(on_done)](Result<std::string> r) mutable {
        if (r) on_done(Result<void>());
        else on_done(r.error());
      });
      return;
    }
    std::string channel = o_.channel_prefix + std::string(room);
    redis_->command({"PUBLISH", channel, text}, [on_done = std::move(on_done)](Result<Reply> r) mutable {
      if (r) on_done(Result<void>());
      else on_done(r.error());
    });
  }

  WsFanoutStats stats() const {
    WsFanoutStats s = counters_;
    const fanout::HubCounters& h = hub_.counters();
    s.clients = hub_.clients();
    s.rooms = hub_.rooms();
    s.frames_queued = h.frames_queued;
    s.dropped = h.dropped;
    s.slow_clients = h.slow_clients;
    s.slow_disconnects = h.slow_disconnects;
    s.deepest_queue = hub_.deepest_queue();
    s.deepest_queue_bytes = hub_.deepest_queue_bytes();
    s.subscribed = subscribed_;
    for (const auto& [room, r] : resumable_) s.recovered += r.sub->stats().recovered;
    return s;
  }

  std::string stats_json() const {
    WsFanoutStats s = stats();
    json redis = {{"subscribed", s.subscribed}, {"outages", s.redis_outages}};
    if (subscriber_) {
      SubscriberStats sub = subscriber_->stats();
      ClientStats cli = redis_->stats();
      redis["subscriber_state"] = to_string(subscriber_->state());
      redis["client_state"] = to_string(redis_->state());
      redis["resubscribes"] = sub.resubscribes;
      redis["max_turn_messages"] = sub.max_turn_messages;
      redis["commands_in_flight"] = cli.in_flight;
      redis["commands_queued"] = cli.queued;
    }
    json resumable = json::object();
    for (const auto& [room, r] : resumable_) {
      ResumableSubscriberStats rs = r.sub->stats();
      resumable[room] = {{"live", r.sub->live()},         {"last_id", r.sub->last_id()}, {"delivered", rs.delivered},
                         {"recovered", rs.recovered},     {"duplicates", rs.duplicates}, {"catch_ups", rs.catch_ups},
                         {"lost", rs.lost},               {"errors", rs.errors}};
    }
    json j = {
        {"clients", s.clients},
        {"rooms", s.rooms},
        {"connections", s.connections},
        {"queue_limit", o_.queue_frames},
        {"queue_bytes", o_.queue_bytes},
        {"slow_policy", o_.slow_policy == WsSlowPolicy::drop_oldest ? "drop-oldest" : "disconnect"},
        {"deepest_queue", s.deepest_queue},
        {"deepest_queue_bytes", s.deepest_queue_bytes},
        {"published", s.published},
        {"publish_errors", s.publish_errors},
        {"redis_messages", s.redis_messages},
        {"unrouted", s.unrouted},
        {"oversize", s.oversize},
        {"frames_queued", s.frames_queued},
        {"frames_sent", s.frames_sent},
        {"direct_writes", s.direct_writes},
        {"writeables", s.writeables},
        {"socket_full", s.socket_full},
        {"budget_full", s.budget_full},
        {"dropped", s.dropped},
        {"slow_clients", s.slow_clients},
        {"slow_disconnects", s.slow_disconnects},
        {"bad_requests", s.bad_requests},
        {"recovered", s.recovered},
        {"history_lost", s.history_lost},
        {"resumes", s.resumes},
        {"resumed_frames", s.resumed_frames},
        {"loop_lag_ms", {{"last", s.loop_lag_ms_last}, {"max", s.loop_lag_ms_max}}},
        {"redis", redis},
        {"resumable", resumable},
    };
    return dump(j);
  }

  // ------------------------------------------------------------ lws events

  int on_http(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
    switch (reason) {
      case LWS_CALLBACK_HTTP: {  // only the stats mount gets here
        std::string body = stats_json() + "\n";
        // `?reset_lag` starts the loop-lag maximum afresh (for a benchmark's
        // phases), after this answer.
        char args[64] = {};
        if (lws_hdr_copy(wsi, args, sizeof args, WSI_TOKEN_HTTP_URI_ARGS) > 0 && std::strstr(args, "reset_lag"))
          counters_.loop_lag_ms_max = 0;
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

  int on_ws(lws* wsi, lws_callback_reasons reason, Pss* pss, void* in, std::size_t len) {
    switch (reason) {
      case LWS_CALLBACK_ESTABLISHED: {
        if (closing_) return -1;
        Client& c = hub_.add(wsi);
        pss->id = c.id;
        ++counters_.connections;
        if (o_.verbose) log_->info("client #{} connected", c.id);
        if (on_connect_) on_connect_(c.id);
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
          if (len > o_.max_incoming) return too_large(wsi);
          on_client_text(*c, std::string_view(static_cast<const char*>(in), len));
          return 0;
        }
        if (part == partial_.end()) part = partial_.emplace(c->id, std::string()).first;
        part->second.append(static_cast<const char*>(in), len);
        if (part->second.size() > o_.max_incoming) return too_large(wsi);
        if (!complete) return 0;
        std::string text = std::move(part->second);
        partial_.erase(part);
        on_client_text(*c, text);
        return 0;
      }
      case LWS_CALLBACK_SERVER_WRITEABLE: {
        Client* c = hub_.find(pss->id);
        return c ? on_writeable(*c) : -1;
      }
      case LWS_CALLBACK_CLOSED: {
        if (pss->id == 0) return 0;
        std::uint64_t id = pss->id;
        pss->id = 0;
        if (o_.verbose) log_->info("client #{} disconnected", id);
        partial_.erase(id);
        resumes_.erase(id);
        hub_.remove(id);
        if (on_disconnect_ && !closing_) on_disconnect_(id);
        return 0;
      }
      default:
        return 0;
    }
  }

 private:
  struct Resumable {
    std::unique_ptr<ResumableChannel> channel;
    std::unique_ptr<ResumableSubscriber> sub;
    bool down = false;
  };

  int too_large(lws* wsi) {
    static const char why[] = "message too large";
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                     reinterpret_cast<unsigned char*>(const_cast<char*>(why)), sizeof why - 1);
    return -1;
  }

  // ---------------------------------------------------- client -> server

  void on_client_text(Client& s, std::string_view text) {
    if (on_text_ && on_text_(s.id, text)) return;
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
      resumes_.erase(s.id);
      auto last_id = string_field(msg, "last_id");
      bool resumable = resumable_.contains(*room);
      if (last_id && (!resumable || !valid_stream_id(*last_id)))
        return reply_error(s, "last_id needs a resumable room and a stream id (ms-seq)");
      json j = {{"type", "joined"}, {"room", *room}, {"name", s.name}};
      if (resumable) j["resumable"] = true;
      if (last_id) {
        // Joins once what it missed has been queued for it (start_resume).
        hub_.leave(s);
        hub_.send(s, hub_.make_frame(dump(j)));
        return start_resume(s, *room, *last_id);
      }
      hub_.join(s, *room);
      if (o_.verbose) log_->info("client #{} ({}) joined room {}", s.id, s.name, s.room);
      hub_.send(s, hub_.make_frame(dump(j)));
    } else if (type == "say") {
      if (s.room.empty()) return reply_error(s, "join a room first");
      auto body = string_field(msg, "text");
      if (!body || body->empty() || body->size() > o_.max_text)
        return reply_error(s, "text must be 1-" + std::to_string(o_.max_text) + " bytes");
      json m = {{"type", "message"}, {"room", s.room}, {"from", s.name}, {"text", *body}, {"ts", now_ms()}};
      // The message reaches this client too, through Redis, like any other.
      publish(s.room, dump(m), [this, id = s.id](Result<void> r) {
        if (r) return;
        if (Client* c = hub_.find(id))
          hub_.send(*c, hub_.make_frame(dump({{"type", "error"}, {"error", "not sent: " + r.error().to_string()}})));
      });
    } else {
      reply_error(s, "unknown message type");
    }
  }

  void reply_error(Client& s, std::string_view what) {
    ++counters_.bad_requests;
    hub_.send(s, hub_.make_frame(dump({{"type", "error"}, {"error", what}})));
  }

  // ---------------------------------------------------- Redis -> clients

  void on_plain_message(const Message& m) {
    std::string_view channel = m.channel;
    if (!channel.starts_with(o_.channel_prefix)) return;
    std::string room(channel.substr(o_.channel_prefix.size()));
    if (resumable_.contains(room)) return;  // its ResumableSubscriber delivers it, with its id
    ++counters_.redis_messages;
    if (!routable(room, m.payload.size(), m.channel)) return;
    // A JSON object is forwarded byte for byte (the parse also proves it is
    // valid UTF-8, which a text frame must be). Anything else, for example
    // `redis-cli PUBLISH chat:room:lobby hello`, is wrapped in a message.
    json j = json::parse(m.payload, nullptr, false);
    FramePtr f = !j.is_discarded() && j.is_object()
                     ? hub_.make_frame(m.payload)
                     : hub_.make_frame(dump({{"type", "message"}, {"room", room}, {"from", "redis"}, {"text", m.payload}}));
    hub_.send_room(room, f);
  }

  bool routable(const std::string& room, std::size_t size, const std::string& channel) {
    if (!hub_.has_room(room)) {
      ++counters_.unrouted;
      return false;
    }
    if (size > o_.queue_bytes) {
      if (counters_.oversize++ == 0)
        log_->warn("a {}-byte message on {} is larger than a client queue may hold ({}): not forwarded", size, channel,
                   o_.queue_bytes);
      return false;
    }
    return true;
  }

  // Resumable messages carry their stream id: `"id"` is put first in a JSON
  // object; anything else is wrapped, with the id.
  void on_resumable_message(const std::string& room, const ChannelMessage& m) {
    ++counters_.redis_messages;
    bool resuming = false;
    for (const auto& [id, r] : resumes_) resuming = resuming || r.room == room;
    if (!resuming && !routable(room, m.payload.size(), o_.channel_prefix + room)) return;
    if (m.payload.size() > o_.queue_bytes) return;
    FramePtr f = resumable_frame(room, m.id, m.payload);
    for (auto& [id, r] : resumes_)
      if (r.room == room) r.live.emplace_back(m.id, f);
    hub_.send_room(room, f);
  }

  FramePtr resumable_frame(const std::string& room, const std::string& id, const std::string& payload) {
    json j = json::parse(payload, nullptr, false);
    std::string text;
    if (!j.is_discarded() && j.is_object()) {
      if (j.contains("id")) j.erase("id");
      text = "{\"id\":" + dump(id);
      std::string rest = dump(j);  // "{...}"
      if (rest.size() > 2) text += "," + rest.substr(1);
      else text += "}";
    } else {
      text = dump({{"type", "message"}, {"id", id}, {"room", room}, {"from", "redis"}, {"text", payload}});
    }
    return hub_.make_frame(text);
  }

  // ---------------------------------------------------- a client resuming

  struct StreamId {
    unsigned long long ms = 0, seq = 0;
    friend auto operator<=>(const StreamId&, const StreamId&) = default;
  };
  static std::optional<StreamId> parse_id(std::string_view id) {
    auto dash = id.find('-');
    if (dash == std::string_view::npos || dash == 0 || dash + 1 == id.size() || id.size() > 41) return std::nullopt;
    StreamId out;
    for (char ch : id.substr(0, dash)) {
      if (ch < '0' || ch > '9') return std::nullopt;
      out.ms = out.ms * 10 + static_cast<unsigned>(ch - '0');
    }
    for (char ch : id.substr(dash + 1)) {
      if (ch < '0' || ch > '9') return std::nullopt;
      out.seq = out.seq * 10 + static_cast<unsigned>(ch - '0');
    }
    return out;
  }
  static bool valid_stream_id(std::string_view id) { return parse_id(id).has_value(); }

  struct Resume {
    std::string room;
    std::string last_id;
    bool trimmed = false;  // the stream's oldest entry is past last_id
    std::vector<std::pair<std::string, FramePtr>> live;  // delivered to the room meanwhile
  };

  // A client that saw up to `last_id` (say before its connection dropped):
  // the stream's entries after it are queued for it, then what reached the
  // room meanwhile (each id once), then it joins. At most queue_frames
  // entries are read back; beyond that, and when the stream was trimmed
  // past last_id, it gets a `lost` notice first (count unknown).
  void start_resume(Client& c, const std::string& room, const std::string& last_id) {
    ++counters_.resumes;
    resumes_[c.id] = Resume{room, last_id, false, {}};
    const std::string stream = o_.channel_prefix + room + ":history";
    redis_->command({"XRANGE", stream, "-", "+", "COUNT", "1"}, [this, id = c.id, last_id](Result<Reply> r) {
      auto it = resumes_.find(id);
      if (it == resumes_.end() || !r || !r->is_array() || r->size() == 0 || !(*r)[0].is_array()) return;
      auto first = parse_id((*r)[0][0].str());
      it->second.trimmed = first && *first > *parse_id(last_id);
    });
    const std::string count = std::to_string(o_.queue_frames);
    redis_->command({"XRANGE", stream, "(" + last_id, "+", "COUNT", count}, [this, id = c.id](Result<Reply> r) {
      auto it = resumes_.find(id);
      if (it == resumes_.end()) return;
      Resume res = std::move(it->second);
      resumes_.erase(it);
      Client* cl = hub_.find(id);
      if (cl == nullptr) return;
      if (!r) {
        hub_.send(*cl, hub_.make_frame(dump({{"type", "error"}, {"error", "resume failed: " + r.error().to_string()}})));
      } else {
        bool full = r->is_array() && r->size() >= o_.queue_frames;
        if (res.trimmed || full) {
          hub_.send(*cl, hub_.make_frame(dump({{"type", "lost"}, {"room", res.room}, {"after", res.last_id},
                                               {"count", nullptr}})));
        }
        StreamId high = *parse_id(res.last_id);
        if (r->is_array()) {
          for (const Reply& e : r->elements()) {
            if (!e.is_array() || e.size() < 2 || !e[1].is_array()) continue;
            const Reply& fields = e[1];
            for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
              if (fields[i].str() != "payload") continue;
              auto eid = parse_id(e[0].str());
              if (!eid || *eid <= high) break;
              high = *eid;
              ++counters_.resumed_frames;
              hub_.send(*cl, resumable_frame(res.room, std::string(e[0].str()), std::string(fields[i + 1].str())));
            }
          }
        }
        for (auto& [lid, f] : res.live) {
          auto eid = parse_id(lid);
          if (!eid || *eid <= high) continue;
          high = *eid;
          hub_.send(*cl, f);
        }
      }
      hub_.join(*cl, res.room);
      if (o_.verbose) log_->info("client #{} ({}) resumed in room {} after {}", cl->id, cl->name, res.room, res.last_id);
    });
  }

  void start_resumable(const std::string& room) {
    Resumable r;
    ResumableChannelOptions co;
    co.channel = o_.channel_prefix + room;
    co.max_len = o_.resumable_max_len;
    r.channel = std::make_unique<ResumableChannel>(*redis_, co);
    ResumableSubscriberOptions so;
    so.channel = co.channel;
    r.sub = std::make_unique<ResumableSubscriber>(loop_, redis_opts_, *redis_, so,
                                                  [this, room](const ChannelMessage& m) { on_resumable_message(room, m); });
    r.sub->on_loss([this, room](const HistoryLoss& loss) {
      if (loss.count) counters_.history_lost += static_cast<std::uint64_t>(*loss.count);
      log_->warn("room {}: history lost between {} and {} ({} messages)", room, loss.after_id, loss.resumed_id,
                 loss.count ? std::to_string(*loss.count) : "unknown");
      json j = {{"type", "lost"}, {"room", room}, {"after", loss.after_id}, {"resumed", loss.resumed_id}};
      j["count"] = loss.count ? json(*loss.count) : json(nullptr);
      hub_.send_room(room, hub_.make_frame(dump(j)));
    });
    r.sub->on_error([this, room](const Error& e) { log_->warn("room {}: {}", room, e.to_string()); });
    r.sub->on_state_change([this, room](ConnectionState st, const Error* e) {
      Resumable& rr = resumable_.at(room);
      if (st == ConnectionState::connected) {
        if (rr.down) {
          log_->warn("room {}: Redis is back; catching up from the stream", room);
          hub_.send_room(room, hub_.make_frame(dump({{"type", "status"}, {"redis", "up"}, {"room", room}, {"gap", false}})));
        }
        rr.down = false;
      } else if (st == ConnectionState::reconnecting || st == ConnectionState::failed) {
        if (!rr.down) {
          log_->warn("room {}: subscriber lost Redis ({}): {}", room, to_string(st), e ? e->to_string() : "no error");
          hub_.send_room(room, hub_.make_frame(dump({{"type", "status"}, {"redis", "down"}, {"room", room}})));
        }
        rr.down = true;
      }
    });
    resumable_.emplace(room, std::move(r));
  }

  // Plain rooms only: resumable rooms get their own notices.
  void broadcast_plain(const json& j) {
    FramePtr f = hub_.make_frame(dump(j));
    hub_.send_if(f, [this](const Client& c) { return !resumable_.contains(c.room); });
  }

  void on_plain_state(ConnectionState st, const Error* e) {
    if (st == ConnectionState::connected) {
      subscribed_ = true;
      if (redis_down_) {
        log_->warn("Redis is back and {} is subscribed again; messages published meanwhile are lost", pattern_);
        broadcast_plain({{"type", "status"}, {"redis", "up"}, {"gap", true}});
      } else {
        log_->info("subscribed to {}", pattern_);
      }
      redis_down_ = false;
    } else if (st == ConnectionState::reconnecting || st == ConnectionState::failed) {
      subscribed_ = false;
      if (!redis_down_) ++counters_.redis_outages;
      redis_down_ = true;
      log_->warn("subscriber lost Redis ({}): {}", to_string(st), e ? e->to_string() : "no error");
      broadcast_plain({{"type", "status"}, {"redis", "down"}});
    }
  }

  // ------------------------------------------------------------ writes

  // The client's queue just stopped being empty.
  void on_wake(Client& c) {
    if (c.armed || c.deferred) return;
    write_direct(c);
    // The socket did not take a whole frame, or a write failed (the
    // client is closed from its next writable event).
    if (!c.deferred && (hub_.pending(c) || c.broken)) arm(c);
  }

  void arm(Client& c) {
    if (c.armed) return;
    c.armed = true;
    lws_callback_on_writable(static_cast<lws*>(c.handle));
  }

  // Writes while the socket takes whole frames and the turn's budget lasts
  // (and `limit` bytes for this client). A client stopped by the budget
  // waits in the backlog for the next turn: no write interest (an
  // epoll_ctl pair each) for a socket that is writable.
  void write_direct(Client& c, std::size_t limit = SIZE_MAX) {
    auto* wsi = static_cast<lws*>(c.handle);
    if (c.kicked || c.broken || lws_partial_buffered(wsi)) return;
    for (std::size_t written = 0; hub_.pending(c);) {
      if (turn_written_ >= o_.turn_budget_bytes || written >= limit) {
        ++counters_.budget_full;
        defer(c);
        return;
      }
      std::size_t before = turn_written_;
      if (!write_one(c, wsi)) return;
      written += turn_written_ - before;
      ++counters_.direct_writes;
      if (lws_partial_buffered(wsi)) {
        ++counters_.socket_full;
        return;
      }
    }
  }

  void defer(Client& c) {
    if (c.deferred) return;
    c.deferred = true;
    if (backlog_.empty()) uv_idle_start(backlog_idle_, [](uv_idle_t*) {});
    backlog_.push_back(c.id);
  }

  // Before each poll: a new budget, first for the clients that waited for
  // it, each up to an equal share (the others keep their place in line).
  void on_turn() {
    turn_written_ = 0;
    if (backlog_.empty()) return;
    const std::size_t share =
        std::max<std::size_t>(1, o_.turn_budget_bytes / std::max<std::size_t>(backlog_.size(), 1));
    for (std::size_t n = backlog_.size(); n > 0 && turn_written_ < o_.turn_budget_bytes; --n) {
      std::uint64_t id = backlog_.front();
      backlog_.pop_front();
      Client* c = hub_.find(id);
      if (c == nullptr) continue;
      c->deferred = false;
      if (c->armed) continue;  // the socket's writable event takes over
      write_direct(*c, std::min(share, o_.client_budget_bytes));
      if (!c->deferred && (hub_.pending(*c) || c->broken)) arm(*c);
    }
    if (backlog_.empty()) uv_idle_stop(backlog_idle_);
  }

  bool write_one(Client& c, lws* wsi) {
    FramePtr frame = hub_.next(c);
    int sent = lws_write(wsi, frame->data(), frame->size(), LWS_WRITE_TEXT);
    if (sent < static_cast<int>(frame->size())) {
      log_->warn("client #{}: write failed ({})", c.id, sent);
      c.broken = true;
      return false;
    }
    ++counters_.frames_sent;
    turn_written_ += frame->size();
    return true;
  }

  int on_writeable(Client& c) {
    c.armed = false;
    if (c.kicked || c.broken) return -1;
    ++counters_.writeables;
    auto* wsi = static_cast<lws*>(c.handle);
    // Each waiting client gets its share of the turn's budget; the share is
    // by connected clients, a bound that holds from the first turn of a burst.
    const std::size_t share =
        std::min(o_.client_budget_bytes, o_.turn_budget_bytes / std::max<std::size_t>(hub_.clients(), 1));
    for (std::size_t written = 0; hub_.pending(c);) {
      if (lws_partial_buffered(wsi)) {
        ++counters_.socket_full;
        arm(c);
        break;
      }
      if (written >= share || turn_written_ >= o_.turn_budget_bytes) {
        // The socket takes more: the rest goes out directly on a later turn.
        ++counters_.budget_full;
        defer(c);
        break;
      }
      std::size_t before = turn_written_;
      if (!write_one(c, wsi)) return -1;
      written += turn_written_ - before;
    }
    return 0;
  }

  // ------------------------------------------------------------ misc

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

  void check_lws_closed() {
    if (!lws_destroying_) {
      lws_destroying_ = true;
      lws_context_destroy(ctx_);
      return;
    }
    bool closing = false;
    uv_walk(
        loop_,
        [](uv_handle_t* h, void* arg) {
          auto* self = static_cast<WsFanoutImpl*>(arg);
          if (h != reinterpret_cast<uv_handle_t*>(self->lws_wait_) && uv_is_closing(h)) self->any_closing_ = true;
        },
        this);
    closing = any_closing_;
    any_closing_ = false;
    if (closing) return;
    close_handle(lws_wait_);
    lws_context_destroy(ctx_);  // second half: frees the context
    ctx_ = nullptr;
    closed_one();
  }

  void closed_one() {
    if (--pending_closes_ > 0) return;
    finished_ = true;
    log_->info("ws fan-out stopped: {}", stats_json());
    post_dones();
  }

  // Runs the close callbacks on a later loop turn; the last reference this
  // object holds to itself goes with them.
  void post_dones() {
    if (dones_.empty() && !self_) return;
    auto* t = new uv_timer_t;
    uv_timer_init(loop_, t);
    t->data = new Posted{std::move(dones_), std::move(self_)};
    dones_.clear();
    uv_timer_start(
        t,
        [](uv_timer_t* h) {
          std::unique_ptr<Posted> p(static_cast<Posted*>(h->data));
          uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_timer_t*>(x); });
          for (auto& d : p->dones) d();
        },
        0, 0);
  }

  template <class F>
  void post(F fn) {
    auto* t = new uv_timer_t;
    uv_timer_init(loop_, t);
    t->data = new Function<void()>(std::move(fn));
    uv_timer_start(
        t,
        [](uv_timer_t* h) {
          std::unique_ptr<Function<void()>> f(static_cast<Function<void()>*>(h->data));
          uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_timer_t*>(x); });
          (*f)();
        },
        0, 0);
  }

  struct Posted {
    std::vector<Function<void()>> dones;
    std::shared_ptr<WsFanoutImpl> self;
  };

  uv_loop_t* loop_;
  WsFanoutOptions o_;
  ClientOptions redis_opts_;
  std::shared_ptr<spdlog::logger> log_;
  std::string www_;
  std::string pattern_;

  std::unique_ptr<uvredis::Client> redis_;
  std::unique_ptr<Subscriber> subscriber_;
  std::unordered_map<std::string, Resumable> resumable_;

  lws_context* ctx_ = nullptr;
  void* foreign_loops_[1] = {nullptr};
  lws_protocols protocols_[3] = {};
  lws_http_mount stats_mount_{};
  lws_http_mount files_mount_{};
  int port_ = 0;

  uv_timer_t* tick_ = nullptr;
  uv_prepare_t* turn_ = nullptr;
  uv_idle_t* backlog_idle_ = nullptr;
  std::deque<std::uint64_t> backlog_;  // clients waiting for a turn's write budget, in order
  uv_timer_t* lws_wait_ = nullptr;
  std::uint64_t last_tick_ = 0;
  std::uint64_t ticks_ = 0;
  std::uint64_t logged_dropped_ = 0;
  std::uint64_t logged_kicks_ = 0;
  std::size_t turn_written_ = 0;

  fanout::Hub hub_;
  std::unordered_map<std::uint64_t, std::string> partial_;  // messages arriving in fragments
  std::unordered_map<std::uint64_t, Resume> resumes_;        // clients catching up (join with last_id)
  std::unordered_map<lws*, std::string> http_bodies_;       // stats responses waiting for WRITEABLE
  WsFanoutStats counters_;
  WsFanout::TextHandler on_text_;
  std::function<void(WsFanout::ClientId)> on_connect_;
  std::function<void(WsFanout::ClientId)> on_disconnect_;

  bool started_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool lws_broken_ = false;
  bool subscribed_ = false;
  bool redis_down_ = false;
  bool any_closing_ = false;
  bool detached_ = false;
  bool lws_destroying_ = false;
  int pending_closes_ = 0;
  std::vector<Function<void()>> dones_;
  std::shared_ptr<WsFanoutImpl> self_;
};

namespace {

WsFanoutImpl* impl_of(lws* wsi) { return static_cast<WsFanoutImpl*>(lws_context_user(lws_get_context(wsi))); }

int http_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  WsFanoutImpl* impl = impl_of(wsi);
  if (impl == nullptr) return lws_callback_http_dummy(wsi, reason, user, in, len);
  return impl->on_http(wsi, reason, user, in, len);
}

int ws_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  WsFanoutImpl* impl = impl_of(wsi);
  if (impl == nullptr || user == nullptr) return 0;
  return impl->on_ws(wsi, reason, static_cast<Pss*>(user), in, len);
}

}  // namespace

}  // namespace uvredis::detail

namespace uvredis {

WsFanout::WsFanout(uv_loop_s* loop, ClientOptions redis, WsFanoutOptions options)
    : impl_(std::make_shared<detail::WsFanoutImpl>(loop, std::move(redis), std::move(options))) {}

WsFanout::~WsFanout() {
  impl_->detach();
  impl_->close({});
}

Result<int> WsFanout::start() { return impl_->start(impl_); }
int WsFanout::port() const noexcept { return impl_->port(); }
void WsFanout::on_text(TextHandler fn) { impl_->on_text(std::move(fn)); }
void WsFanout::on_connect(Listener<void(ClientId)> fn) { impl_->on_connect(std::move(fn)); }
void WsFanout::on_disconnect(Listener<void(ClientId)> fn) { impl_->on_disconnect(std::move(fn)); }
bool WsFanout::send(ClientId client, std::string_view text) { return impl_->send(client, text); }
bool WsFanout::join(ClientId client, std::string_view room) { return impl_->join(client, room); }
bool WsFanout::send_room(std::string_view room, std::string_view text) { return impl_->send_room(room, text); }
void WsFanout::publish(std::string_view room, std::string_view text, Callback<void> cb) {
  impl_->publish(room, text, std::move(cb));
}
WsFanoutStats WsFanout::stats() const { return impl_->stats(); }
std::string WsFanout::stats_json() const { return impl_->stats_json(); }
void WsFanout::close(Once<void()> done) { impl_->close(std::move(done)); }

}  // namespace uvredis
