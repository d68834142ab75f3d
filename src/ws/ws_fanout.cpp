// WsFanout: starting libwebsockets on the caller's loop and Redis, closing, the public API.
//
// uvredis::WsFanout: libwebsockets in foreign-loop mode on the caller's
// libuv loop, rooms and queues in fanout::Hub (ws_fanout_hub.hpp), Redis
// through uvredis' Client, Subscriber and ResumableSubscriber.
#include "ws_fanout_impl.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace uvredis::detail {

namespace {

constexpr std::size_t kMaxRoom = 64;

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

int http_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);
int ws_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);

template <class H>
void close_handle(H*& h) {
  if (h == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<H*>(x); });
  h = nullptr;
}

}  // namespace

bool valid_room(std::string_view r) {
  if (r.empty() || r.size() > kMaxRoom) return false;
  for (char c : r) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

WsFanoutImpl::WsFanoutImpl(uv_loop_t* loop, ClientOptions redis, WsFanoutOptions o)
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

Result<int> WsFanoutImpl::start(std::shared_ptr<WsFanoutImpl> self) {
  if (started_) return Error{ErrorKind::usage, "WsFanout::start called twice"};
  if (closing_) return Error{ErrorKind::closed, "WsFanout is closed"};
  if (o_.port < 0 || o_.port > 65535) return Error{ErrorKind::usage, "port must be 0-65535"};
  if (o_.queue_frames == 0 || o_.queue_bytes < 1024) return Error{ErrorKind::usage, "queue limits too small"};
  if (o_.turn_budget_frames == 0) return Error{ErrorKind::usage, "turn_budget_frames must not be 0"};
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

void WsFanoutImpl::close(Function<void()> done) {
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

// The WsFanout is gone: none of the user's callbacks runs any more.
void WsFanoutImpl::detach() {
  detached_ = true;
  on_text_ = {};
  on_connect_ = {};
  on_disconnect_ = {};
}

bool WsFanoutImpl::send(WsFanout::ClientId id, std::string_view text) {
  Client* c = hub_.find(id);
  if (c == nullptr) return false;
  hub_.send(*c, hub_.make_frame(text));
  return true;
}

bool WsFanoutImpl::join(WsFanout::ClientId id, std::string_view room) {
  Client* c = hub_.find(id);
  if (c == nullptr || !valid_room(room)) return false;
  hub_.join(*c, std::string(room));
  return true;
}

bool WsFanoutImpl::send_room(std::string_view room, std::string_view text) {
  return hub_.send_room(std::string(room), hub_.make_frame(text));
}

void WsFanoutImpl::publish(std::string_view room, std::string_view text, Callback<void> cb) {
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

void WsFanoutImpl::check_lws_closed() {
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

void WsFanoutImpl::closed_one() {
  if (--pending_closes_ > 0) return;
  finished_ = true;
  log_->info("ws fan-out stopped: {}", stats_json());
  post_dones();
}

// Runs the close callbacks on a later loop turn; the last reference this
// object holds to itself goes with them.
void WsFanoutImpl::post_dones() {
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
