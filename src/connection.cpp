#include "connection.hpp"

#include "encode.hpp"
#include "logging.hpp"

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <csignal>
#include <random>

namespace uvredis {

// Builds Reply trees straight from hiredis' parser (no redisReply in
// between), and refuses a reply that no command is waiting for: returning
// NULL makes the reader fail, and hiredis then drops the link instead of
// hitting its assert on an unexpected reply.
struct ReplyBuilder {
  static Reply* slot(const redisReadTask* t, ReplyType type) {
    Reply* r;
    if (t->parent) {
      auto* parent = static_cast<Reply*>(t->parent->obj);
      parent->elements_.emplace_back();
      r = &parent->elements_.back();
    } else {
      auto* conn = static_cast<detail::Connection*>(t->privdata);
      if (conn == nullptr || !conn->accept_reply()) return nullptr;
      r = new Reply();
    }
    r->type_ = type;
    return r;
  }
  static void* create_string(const redisReadTask* t, char* s, size_t len) {
    ReplyType type = t->type == REDIS_REPLY_ERROR    ? ReplyType::error
                     : t->type == REDIS_REPLY_STATUS ? ReplyType::status
                                                     : ReplyType::string;
    Reply* r = slot(t, type);
    if (r) r->str_.assign(s, len);
    return r;
  }
  // The element count is an int in hiredis 0.14 and a size_t in 1.x.
  template <class N>
  static void* create_array(const redisReadTask* t, N n) {
    if constexpr (std::is_signed_v<N>) {
      if (n < 0) return nullptr;
    }
    Reply* r = slot(t, ReplyType::array);
    // Reserve what is plausible, not what a hostile header claims.
    if (r) r->elements_.reserve(std::min<std::size_t>(static_cast<std::size_t>(n), 1024));
    return r;
  }
  static void* create_integer(const redisReadTask* t, long long v) {
    Reply* r = slot(t, ReplyType::integer);
    if (r) r->integer_ = v;
    return r;
  }
  static void* create_nil(const redisReadTask* t) { return slot(t, ReplyType::nil); }
  static void* create_double(const redisReadTask* t, double, char* s, size_t len) {
    Reply* r = slot(t, ReplyType::string);
    if (r) r->str_.assign(s, len);
    return r;
  }
  static void* create_bool(const redisReadTask* t, int b) {
    Reply* r = slot(t, ReplyType::integer);
    if (r) r->integer_ = b ? 1 : 0;
    return r;
  }
  static void free_object(void* p) { delete static_cast<Reply*>(p); }

  // Pub/sub connections keep hiredis' own reply objects (its subscription
  // bookkeeping reads them); this copies one into a Reply.
  static Reply from_hiredis(const redisReply* r) {
    Reply out;
    switch (r->type) {
      case REDIS_REPLY_STRING: out.type_ = ReplyType::string; break;
      case REDIS_REPLY_STATUS: out.type_ = ReplyType::status; break;
      case REDIS_REPLY_ERROR: out.type_ = ReplyType::error; break;
      case REDIS_REPLY_INTEGER: out.type_ = ReplyType::integer; break;
      case REDIS_REPLY_ARRAY: out.type_ = ReplyType::array; break;
      default: out.type_ = ReplyType::nil; break;
    }
    if (out.type_ == ReplyType::string || out.type_ == ReplyType::status || out.type_ == ReplyType::error)
      out.str_.assign(r->str, r->len);
    out.integer_ = r->integer;
    if (out.type_ == ReplyType::array) {
      out.elements_.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements_.push_back(from_hiredis(r->element[i]));
    }
    return out;
  }
};

namespace detail {

namespace {

template <class F>
struct SecondArg;
template <class R, class A, class B>
struct SecondArg<R (*)(A, B)> {
  using type = B;
};

// hiredis >= 1.0 adds RESP3 constructors; fill them when the struct has them.
template <class Fns>
void set_resp3_functions(Fns& f) {
  if constexpr (requires { f.createDouble; }) f.createDouble = &ReplyBuilder::create_double;
  if constexpr (requires { f.createBool; }) f.createBool = &ReplyBuilder::create_bool;
}

redisReplyObjectFunctions* reply_functions() {
  static redisReplyObjectFunctions fns = [] {
    redisReplyObjectFunctions f{};
    f.createString = &ReplyBuilder::create_string;
    f.createArray = &ReplyBuilder::create_array<SecondArg<decltype(f.createArray)>::type>;
    f.createInteger = &ReplyBuilder::create_integer;
    f.createNil = &ReplyBuilder::create_nil;
    f.freeObject = &ReplyBuilder::free_object;
    set_resp3_functions(f);
    return f;
  }();
  return &fns;
}

// hiredis writes with write(2); a peer reset must not kill the host with
// SIGPIPE. We ignore the signal process-wide, but only when nobody installed
// a handler of their own (documented in the README).
void ignore_sigpipe_once() {
  static const bool done = [] {
    struct sigaction sa {};
    if (sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Runs fn on a later loop turn through a self-closing timer: for the rare
// completions that arrive after the connection's own handles are gone.
void post_detached(uv_loop_t* loop, detail::Function<void()> fn) {
  struct Box {
    uv_timer_t timer;
    detail::Function<void()> fn;
  };
  auto* b = new Box{};
  b->fn = std::move(fn);
  uv_timer_init(loop, &b->timer);
  b->timer.data = b;
  uv_timer_start(
      &b->timer,
      [](uv_timer_t* t) {
        auto* box = static_cast<Box*>(t->data);
        auto f = std::move(box->fn);
        uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete static_cast<Box*>(h->data); });
        if (f) f();
      },
      0, 0);
}

constexpr std::size_t kHandoffBytes = 256 * 1024;

}  // namespace

Connection::Connection(uv_loop_t* loop, ConnectionConfig cfg)
    : loop_(loop), cfg_(std::move(cfg)), log_(logger_or_silent(cfg_.logger)) {
  ignore_sigpipe_once();
  auto closed = [](void* self) { static_cast<Connection*>(self)->handle_closed(); };
  uv_prepare_init(loop_, prepare_.allocate(closed, this));
  uv_idle_init(loop_, idle_.allocate(closed, this));
  uv_timer_init(loop_, cmd_timer_.allocate(closed, this));
  uv_timer_init(loop_, link_timer_.allocate(closed, this));
  uv_timer_init(loop_, health_timer_.allocate(closed, this));
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(prepare_.get()), reinterpret_cast<uv_handle_t*>(idle_.get()),
                         reinterpret_cast<uv_handle_t*>(cmd_timer_.get()),
                         reinterpret_cast<uv_handle_t*>(link_timer_.get()),
                         reinterpret_cast<uv_handle_t*>(health_timer_.get())}) {
    h->data = this;
    ++open_handles_;
  }
}

Connection::~Connection() = default;

// ---------------------------------------------------------------- life cycle

void Connection::start() {
  if (link_ != Link::idle) return;
  if (cfg_.address.tls) {
    link_ = Link::failed;
    last_error_ = Error{ErrorKind::usage, "rediss:// needs TLS support, which this build of uvredis does not have"};
    log_->error("[{}] {}", cfg_.name, last_error_.message);
    set_state(ConnectionState::failed, &last_error_);
    return;
  }
  begin_connect();
}

void Connection::begin_connect() {
  uv_timer_start(
      link_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_link_timer(); },
      static_cast<std::uint64_t>(std::max<long long>(cfg_.connect_timeout.count(), 1)), 0);
  addrs_.clear();
  addr_index_ = 0;
  const Address& a = cfg_.address;
  if (a.kind == Address::Kind::unix_socket) {
    link_ = Link::connecting;
    redisAsyncContext* ac = redisAsyncConnectUnix(a.path.c_str());
    if (ac == nullptr || ac->err) {
      Error err{ErrorKind::connect, "connect to " + a.to_string() + " failed: " +
                                        (ac ? std::string(ac->errstr) : std::string("out of memory"))};
      if (ac) redisAsyncFree(ac);
      connect_attempt_failed(std::move(err));
      return;
    }
    attach(ac);
    return;
  }
  if (is_ip_literal(a.host)) {
    addrs_.push_back(a.host);
    link_ = Link::connecting;
    connect_next();
    return;
  }
  // hiredis 0.14 would resolve with a blocking getaddrinfo; do it on the
  // loop's thread pool and hand hiredis numeric addresses only.
  link_ = Link::resolving;
  auto* req = new uv_getaddrinfo_t{};
  req->data = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(
      loop_, req,
      [](uv_getaddrinfo_t* r, int status, addrinfo* res) {
        auto* self = static_cast<Connection*>(r->data);
        if (self->resolving_ == r) self->resolving_ = nullptr;
        delete r;
        self->on_resolved(status, res);
        if (res) uv_freeaddrinfo(res);
        self->maybe_delete();
      },
      a.host.c_str(), nullptr, &hints);
  if (rc != 0) {
    delete req;
    connect_attempt_failed(Error{ErrorKind::connect, "cannot resolve '" + a.host + "': " + uv_strerror(rc)});
    return;
  }
  resolving_ = req;
}

void Connection::on_resolved(int status, addrinfo* res) {
  if (link_ != Link::resolving || closing_) return;  // timed out or closed meanwhile
  if (status != 0) {
    connect_attempt_failed(
        Error{ErrorKind::connect, "cannot resolve '" + cfg_.address.host + "': " + uv_strerror(status)});
    return;
  }
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* src = ai->ai_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || !inet_ntop(ai->ai_family, src, buf, sizeof buf))
      continue;
    if (std::find(addrs_.begin(), addrs_.end(), buf) == addrs_.end()) addrs_.emplace_back(buf);
  }
  if (addrs_.empty()) {
    connect_attempt_failed(Error{ErrorKind::connect, "'" + cfg_.address.host + "' has no IP address"});
    return;
  }
  link_ = Link::connecting;
  connect_next();
}

// Tries the resolved addresses in turn ("localhost" may give ::1 first while
// the server listens on 127.0.0.1 only).
void Connection::connect_next() {
  while (addr_index_ < addrs_.size()) {
    const std::string& ip = addrs_[addr_index_++];
    redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), cfg_.address.port);
    if (ac == nullptr) {
      last_error_ = Error{ErrorKind::connect, "out of memory creating a connection"};
      continue;
    }
    if (ac->err) {
      last_error_ = Error{ErrorKind::connect, "connect to " + ip + ":" + std::to_string(cfg_.address.port) +
                                                  " failed: " + ac->errstr};
      redisAsyncFree(ac);
      continue;
    }
    attach(ac);
    return;
  }
  connect_attempt_failed(last_error_);
}

void Connection::attach(redisAsyncContext* ac) {
  uv_poll_t* p = poll_.allocate([](void* self) { static_cast<Connection*>(self)->handle_closed(); }, this);
  if (int rc = uv_poll_init_socket(loop_, p, ac->c.fd); rc != 0) {
    poll_.discard();
    redisAsyncFree(ac);
    last_error_ = Error{ErrorKind::connect, std::string("cannot watch the socket: ") + uv_strerror(rc)};
    connect_next();
    return;
  }
  p->data = this;
  ++open_handles_;
  poll_events_ = 0;
  reading_ = false;
  want_writable_ = false;

  ac_ = ac;
  link_ = Link::connecting;
  protocol_violation_ = false;
  if (!cfg_.pubsub) {
    ac->c.reader->fn = reply_functions();
    ac->c.reader->privdata = this;
  }
  ac->data = this;
  if (cfg_.tcp_keepalive && cfg_.address.kind == Address::Kind::tcp) redisEnableKeepAlive(&ac->c);

  // Hooks first: setting the connect callback arms the write event.
  ac->ev.data = this;
  ac->ev.addRead = &hook_add_read;
  ac->ev.delRead = &hook_del_read;
  ac->ev.addWrite = &hook_add_write;
  ac->ev.delWrite = &hook_del_write;
  ac->ev.cleanup = &hook_cleanup;
  redisAsyncSetDisconnectCallback(ac, &disconnect_cb);
  redisAsyncSetConnectCallback(ac, &connect_cb);
  log_->debug("[{}] connecting to {}", cfg_.name, cfg_.address.to_string());
}

void Connection::connect_cb(const redisAsyncContext* ac, int status) {
  static_cast<Connection*>(ac->data)->on_connected(status);
}

void Connection::disconnect_cb(const redisAsyncContext*, int) {
  // Everything is handled in hook_cleanup, which runs on every teardown
  // path (this callback does not run after a failed connect).
}

void Connection::on_connected(int status) {
  if (status != REDIS_OK) {
    // hiredis frees the context right after this; hook_cleanup follows.
    last_error_ = Error{ErrorKind::connect, "connect to " + cfg_.address.to_string() + " failed: " +
                                                (ac_ && ac_->c.errstr[0] ? ac_->c.errstr : "unknown error")};
    drop_reason_ = last_error_;
    return;
  }
  link_ = Link::handshaking;
  handshake_.clear();
  handshake_bytes_.clear();
  auto add = [this](std::initializer_list<std::string_view> argv, std::string what) {
    std::size_t len = encode_command(handshake_bytes_, std::span<const std::string_view>(argv.begin(), argv.size()));
    Request r;
    r.seq = next_seq_++;
    r.len = static_cast<std::uint32_t>(len);
    r.internal = true;
    r.cb = [this, what = std::move(what)](Result<Reply> res) {
      if (!res) {
        // Transport errors mean the link is already going away.
        if (res.error().kind == ErrorKind::server && link_ == Link::handshaking)
          request_drop(Error{ErrorKind::connect, what + " failed: " + res.error().message});
        return;
      }
      if (link_ == Link::handshaking && --handshake_left_ == 0) on_ready();
    };
    handshake_.push_back(std::move(r));
  };
  const Address& a = cfg_.address;
  if (!a.password.empty()) {
    if (a.username.empty())
      add({"AUTH", a.password}, "AUTH");
    else
      add({"AUTH", a.username, a.password}, "AUTH");
  }
  std::string db = std::to_string(a.db);
  if (a.db != 0) add({"SELECT", db}, "SELECT " + db);
  if (!cfg_.client_name.empty()) add({"CLIENT", "SETNAME", cfg_.client_name}, "CLIENT SETNAME");
  handshake_left_ = handshake_.size();
  if (handshake_left_ == 0)
    on_ready();
  else
    schedule_flush();
}

void Connection::on_ready() {
  link_ = Link::ready;
  uv_timer_stop(link_timer_.get());
  attempt_ = 0;
  if (ever_ready_) ++stats_.reconnects;
  ever_ready_ = true;
  log_->info("[{}] connected to {}", cfg_.name, cfg_.address.to_string());
  if (cfg_.health_check_interval.count() > 0) {
    auto every = static_cast<std::uint64_t>(cfg_.health_check_interval.count());
    uv_timer_start(
        health_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->send_health_check(); }, every,
        every);
  }
  schedule_flush();
  set_state(ConnectionState::connected, nullptr);
}

void Connection::send_health_check() {
  if (link_ != Link::ready || health_in_flight_ || closing_) return;
  health_in_flight_ = true;
  std::string_view argv[] = {"PING"};
  std::size_t len = encode_command(out_, argv);
  Request r;
  r.seq = next_seq_++;
  r.len = static_cast<std::uint32_t>(len);
  r.internal = true;
  auto limit = cfg_.health_check_interval;
  if (cfg_.command_timeout.count() > 0) limit = std::min(limit, cfg_.command_timeout);
  r.timeout_ms = static_cast<std::uint32_t>(limit.count());
  r.cb = [this](Result<Reply> res) {
    health_in_flight_ = false;
    if (!res && res.error().kind != ErrorKind::closed && res.error().kind != ErrorKind::connection_lost)
      request_drop(Error{ErrorKind::connection_lost, "health check failed: " + res.error().message});
  };
  queued_.push_back(std::move(r));
  queued_bytes_ += len;
  add_deadline(queued_.back().seq, limit);
  schedule_flush();
}

// Runs once per teardown of a context (after hiredis failed every pending
// command with a NULL reply). The rest is decided outside hiredis' stack.
void Connection::after_link_gone() {
  const Link was = link_;
  Error err = last_error_;
  drop_reason_.reset();
  protocol_violation_ = false;
  handshake_.clear();
  handshake_bytes_.clear();
  handshake_left_ = 0;
  health_in_flight_ = false;
  uv_timer_stop(health_timer_.get());
  if (closing_) {
    link_ = Link::closed;
    return;
  }
  if (was == Link::connecting && addr_index_ < addrs_.size()) {
    connect_next();
    return;
  }
  uv_timer_stop(link_timer_.get());
  if (was == Link::ready) {
    log_->warn("[{}] link to {} lost: {}", cfg_.name, cfg_.address.to_string(), err.message);
    if (!cfg_.reconnect) {
      link_ = Link::failed;
      fail_queued(err);
      set_state(ConnectionState::failed, &err);
      return;
    }
    set_state(ConnectionState::reconnecting, &err);
    schedule_reconnect(true);
    return;
  }
  if (err.kind != ErrorKind::connect) err = Error{ErrorKind::connect, err.message};
  connect_attempt_failed(std::move(err));
}

void Connection::connect_attempt_failed(Error err) {
  uv_timer_stop(link_timer_.get());
  log_->warn("[{}] {}", cfg_.name, err.message);
  last_error_ = err;
  // Commands that waited for this attempt learn why it failed; later ones
  // wait for the next attempt.
  fail_queued(err);
  if (closing_) {
    link_ = Link::closed;
    schedule_deferred();  // close() was waiting for this attempt
    return;
  }
  if (!cfg_.reconnect) {
    link_ = Link::failed;
    set_state(ConnectionState::failed, &last_error_);
    return;
  }
  set_state(ConnectionState::reconnecting, &last_error_);
  schedule_reconnect(false);
}

void Connection::schedule_reconnect(bool immediate) {
  link_ = Link::waiting;
  std::uint64_t delay = 0;
  if (!immediate) {
    static thread_local std::minstd_rand rng{std::random_device{}()};
    const auto lo = static_cast<std::uint64_t>(std::max<long long>(cfg_.reconnect_min_delay.count(), 1));
    const auto hi = static_cast<std::uint64_t>(std::max<long long>(cfg_.reconnect_max_delay.count(), 1));
    std::uint64_t base = lo << std::min(attempt_, 20u);
    base = std::min(base, hi);
    // Jitter in [base/2, base] so a fleet of clients does not reconnect in step.
    std::uniform_int_distribution<std::uint64_t> d(base / 2, base);
    delay = d(rng);
    ++attempt_;
  }
  uv_timer_start(
      link_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_link_timer(); }, delay, 0);
}

void Connection::on_link_timer() {
  switch (link_) {
    case Link::waiting: begin_connect(); break;
    case Link::resolving:
      if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
      link_ = Link::connecting;  // makes on_resolved ignore a late answer
      connect_attempt_failed(Error{ErrorKind::connect, "resolving '" + cfg_.address.host + "' timed out after " +
                                                           std::to_string(cfg_.connect_timeout.count()) + " ms"});
      break;
    case Link::connecting:
    case Link::handshaking:
      addr_index_ = addrs_.size();
      request_drop(Error{ErrorKind::connect, "connect to " + cfg_.address.to_string() + " timed out after " +
                                                 std::to_string(cfg_.connect_timeout.count()) + " ms"});
      break;
    default: break;
  }
}

void Connection::request_drop(Error reason) {
  if (!ac_) return;
  if (!drop_reason_) drop_reason_ = std::move(reason);
  drop_requested_ = true;
  schedule_deferred();
}

// ----------------------------------------------------------------------- I/O

void Connection::schedule_flush() {
  if (flush_scheduled_ || !prepare_) return;
  flush_scheduled_ = true;
  uv_prepare_start(prepare_.get(), [](uv_prepare_t* p) { static_cast<Connection*>(p->data)->flush(false); });
}

void Connection::hand(Request&& r, const char* bytes) {
  if (redisAsyncFormattedCommand(ac_, &reply_cb, this, bytes, r.len) != REDIS_OK) {
    complete(r, drop_error());
    return;
  }
  if (!r.internal) {
    ++stats_.sent;
    ++stats_.in_flight;
  }
  inflight_.push_back(std::move(r));
}

// Once per loop turn (prepare) or when the socket turns writable: move
// commands from our queue into hiredis, a bounded amount at a time (hiredis
// 0.14 memmoves its whole buffer after a partial write), and write.
void Connection::flush(bool from_writable) {
  flush_scheduled_ = false;
  uv_prepare_stop(prepare_.get());
  if (!ac_ || in_flush_ || !(ac_->c.flags & REDIS_CONNECTED)) return;
  in_flush_ = true;
  for (;;) {
    if (link_ == Link::handshaking && !handshake_.empty()) {
      std::size_t off = 0;
      auto hs = std::move(handshake_);
      handshake_.clear();
      for (auto& r : hs) {
        const char* bytes = handshake_bytes_.data() + off;
        off += r.len;
        hand(std::move(r), bytes);
        if (!ac_) break;
      }
      handshake_bytes_.clear();
    }
    if (link_ == Link::ready) {
      std::size_t group_left = 0;  // members of a group still to hand in this pass
      while (ac_ && !queued_.empty() && (group_left > 0 || sdslen(ac_->c.obuf) < kHandoffBytes)) {
        Request& r = queued_.front();
        if (group_left > 0)
          --group_left;
        else if (r.group > 1)
          group_left = r.group - 1;
        const char* bytes = out_.data() + out_pos_;
        out_pos_ += r.len;
        if (!r.done) {
          queued_bytes_ -= r.len;
          if (!r.internal) --stats_.queued;
          Request moved = std::move(r);
          queued_.pop_front();
          hand(std::move(moved), bytes);
        } else {
          queued_.pop_front();
        }
      }
      if (queued_.empty()) {
        out_.clear();
        out_pos_ = 0;
      } else if (out_pos_ > (1u << 20) && out_pos_ * 2 > out_.size()) {
        out_.erase(0, out_pos_);
        out_pos_ = 0;
      }
    }
    if (!ac_ || sdslen(ac_->c.obuf) == 0) break;
    if (want_writable_ && !from_writable) break;  // kernel buffer full: wait for POLLOUT
    in_write_ = true;
    ++stats_.writes;
    redisAsyncHandleWrite(ac_);
    in_write_ = false;
    from_writable = false;
    if (!ac_ || want_writable_ || link_ != Link::ready || queued_.empty()) break;
  }
  in_flush_ = false;
  if (ac_ && link_ == Link::ready && !queued_.empty() && !want_writable_) schedule_flush();
}

void Connection::update_poll() {
  if (!poll_) return;
  int ev = (reading_ ? UV_READABLE : 0) | (want_writable_ ? UV_WRITABLE : 0);
  if (ev == poll_events_) return;
  poll_events_ = ev;
  if (ev == 0) {
    uv_poll_stop(poll_.get());
  } else {
    uv_poll_start(poll_.get(), ev,
                  [](uv_poll_t* h, int status, int events) { static_cast<Connection*>(h->data)->on_poll(status, events); });
  }
}

void Connection::on_poll(int status, int events) {
  if (status < 0) {
    // libuv stopped the handle. hiredis' own adapter returns here and the
    // connect callback never runs; we let hiredis meet the error instead.
    poll_events_ = 0;
    events = UV_READABLE | UV_WRITABLE;
  }
  if (!ac_) return;
  if (events & UV_WRITABLE) {
    if (!(ac_->c.flags & REDIS_CONNECTED)) {
      in_write_ = true;
      redisAsyncHandleWrite(ac_);
      in_write_ = false;
    } else {
      flush(true);
    }
  }
  if (ac_ && (events & UV_READABLE) && (ac_->c.flags & REDIS_CONNECTED)) {
    redisAsyncHandleRead(ac_);
    if (on_read_) {
      auto fn = on_read_;
      fn();
    }
  }
  if (ac_ && status < 0) update_poll();
}

void Connection::hook_add_read(void* p) {
  auto* c = static_cast<Connection*>(p);
  c->reading_ = true;
  c->update_poll();
}
void Connection::hook_del_read(void* p) {
  auto* c = static_cast<Connection*>(p);
  c->reading_ = false;
  c->update_poll();
}
void Connection::hook_add_write(void* p) {
  auto* c = static_cast<Connection*>(p);
  // While connecting, or when a write came up short, wait for POLLOUT.
  // Otherwise new bytes are waiting: flush once, before the loop polls.
  if (!c->ac_ || !(c->ac_->c.flags & REDIS_CONNECTED) || c->in_write_) {
    c->want_writable_ = true;
    c->update_poll();
  } else if (!c->in_flush_) {
    c->schedule_flush();
  }
}
void Connection::hook_del_write(void* p) {
  auto* c = static_cast<Connection*>(p);
  c->want_writable_ = false;
  c->update_poll();
}

void Connection::hook_cleanup(void* p) {
  auto* c = static_cast<Connection*>(p);
  if (!c->ac_) return;
  c->last_error_ = c->drop_error();
  c->poll_.close();  // the fd is still open: hiredis closes it after this hook
  c->poll_events_ = 0;
  c->reading_ = false;
  c->want_writable_ = false;
  c->ac_ = nullptr;
  c->link_gone_ = true;
  c->schedule_deferred();
}

bool Connection::accept_reply() noexcept {
  if (!inflight_.empty()) return true;
  protocol_violation_ = true;
  return false;
}

void Connection::reply_cb(redisAsyncContext*, void* reply, void* priv) {
  auto* self = static_cast<Connection*>(priv);
  if (self->cfg_.pubsub && reply) {
    Reply copy = ReplyBuilder::from_hiredis(static_cast<redisReply*>(reply));
    self->on_reply(&copy);
    return;
  }
  self->on_reply(static_cast<Reply*>(reply));
}

void Connection::push_cb(redisAsyncContext*, void* reply, void* priv) {
  auto* self = static_cast<Connection*>(priv);
  if (reply == nullptr || !self->on_push_ || self->destroyed_) return;  // NULL: the link is going away
  auto fn = self->on_push_;
  fn(ReplyBuilder::from_hiredis(static_cast<redisReply*>(reply)));
}

bool Connection::send_pubsub(std::span<const std::string_view> argv) {
  if (!ac_ || link_ != Link::ready || closing_ || argv.size() < 2) return false;
  // hiredis scans the channel names of a (P)SUBSCRIBE up to a NUL byte, so
  // the command gets a buffer of its own.
  std::string bytes;
  encode_command(bytes, argv);
  return redisAsyncFormattedCommand(ac_, &push_cb, this, bytes.c_str(), bytes.size()) == REDIS_OK;
}

void Connection::on_reply(Reply* reply) {
  if (inflight_.empty()) return;  // cannot happen: one entry per hiredis callback
  Request r = std::move(inflight_.front());
  inflight_.pop_front();
  if (!r.internal) {
    --stats_.in_flight;
    if (reply) ++stats_.replies;
  }
  if (!r.done) {
    if (reply == nullptr)
      complete(r, drop_error());
    else if (reply->is_error())
      complete(r, Error{ErrorKind::server, reply->take_str()});
    else
      complete(r, std::move(*reply));
  }
  prune_deadlines();
  if (closing_ && inflight_.empty()) schedule_deferred();
}

Error Connection::drop_error() const {
  if (drop_reason_) return *drop_reason_;
  if (destroyed_) return Error{ErrorKind::closed, "client destroyed"};
  if (!ac_) return last_error_;
  std::string msg = ac_->c.errstr;
  if (protocol_violation_) return Error{ErrorKind::protocol, "protocol error: the server sent a reply nobody asked for"};
  if (ac_->c.err == REDIS_ERR_PROTOCOL) return Error{ErrorKind::protocol, "protocol error: " + msg};
  if (msg.empty()) msg = "connection closed";
  if (link_ != Link::ready) return Error{ErrorKind::connect, "connect to " + cfg_.address.to_string() + " failed: " + msg};
  return Error{ErrorKind::connection_lost, "connection lost: " + msg};
}

// --------------------------------------------------------- commands, timeouts

bool Connection::overflowed(std::size_t extra_bytes, std::size_t extra_cmds, Error& err) const {
  if (stats_.queued + extra_cmds > cfg_.max_queued_commands) {
    err = Error{ErrorKind::overflow, "queue full: " + std::to_string(stats_.queued) +
                                         " commands are waiting (max_queued_commands)"};
    return true;
  }
  if (queued_bytes_ + extra_bytes > cfg_.max_queued_bytes || extra_bytes > UINT32_MAX) {
    err = Error{ErrorKind::overflow, "queue full: " + std::to_string(queued_bytes_) +
                                         " bytes are waiting (max_queued_bytes)"};
    return true;
  }
  return false;
}

void Connection::submit(std::span<const std::string_view> argv, Callback<Reply> cb,
                        std::optional<std::chrono::milliseconds> timeout) {
  if (closing_ || destroyed_) {
    fail_later(std::move(cb), Error{ErrorKind::closed, "client is closed"});
    return;
  }
  if (link_ == Link::failed) {
    fail_later(std::move(cb), last_error_);
    return;
  }
  const std::size_t before = out_.size();
  const std::size_t len = encode_command(out_, argv);
  if (Error err; overflowed(len, 1, err)) {
    out_.resize(before);
    fail_later(std::move(cb), std::move(err));
    return;
  }
  Request r;
  r.seq = next_seq_++;
  r.cb = std::move(cb);
  r.len = static_cast<std::uint32_t>(len);
  auto t = timeout.value_or(cfg_.command_timeout);
  r.timeout_ms = static_cast<std::uint32_t>(std::clamp<long long>(t.count(), 0, UINT32_MAX));
  const std::uint64_t seq = r.seq;
  queued_.push_back(std::move(r));
  ++stats_.queued;
  queued_bytes_ += len;
  if (t.count() > 0) add_deadline(seq, t);
  if (link_ == Link::ready)
    schedule_flush();
  else if (link_ == Link::idle)
    start();
}

void Connection::submit_group(const std::vector<std::vector<std::string>>& cmds,
                              detail::Function<void(std::vector<Result<Reply>>)> done,
                              std::optional<std::chrono::milliseconds> timeout) {
  struct Gather {
    std::vector<std::optional<Result<Reply>>> results;
    std::size_t left;
    detail::Function<void(std::vector<Result<Reply>>)> done;
  };
  auto fail_all = [this, n = cmds.size()](detail::Function<void(std::vector<Result<Reply>>)> d, Error err) {
    stats_.errors += n;
    post([d = std::move(d), err = std::move(err), n]() mutable {
      std::vector<Result<Reply>> v(n, Result<Reply>(err));
      d(std::move(v));
    });
  };
  if (closing_ || destroyed_) return fail_all(std::move(done), Error{ErrorKind::closed, "client is closed"});
  if (link_ == Link::failed) return fail_all(std::move(done), last_error_);
  const std::size_t before = out_.size();
  std::vector<std::size_t> lens;
  std::vector<std::string_view> argv;
  for (const auto& cmd : cmds) {
    argv.assign(cmd.begin(), cmd.end());
    lens.push_back(encode_command(out_, argv));
  }
  if (Error err; overflowed(out_.size() - before, cmds.size(), err)) {
    out_.resize(before);
    return fail_all(std::move(done), std::move(err));
  }
  auto g = std::make_shared<Gather>();
  g->results.resize(cmds.size());
  g->left = cmds.size();
  g->done = std::move(done);
  auto t = timeout.value_or(cfg_.command_timeout);
  const std::uint64_t first = next_seq_;
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    Request r;
    r.seq = next_seq_++;
    r.len = static_cast<std::uint32_t>(lens[i]);
    r.group = i == 0 ? static_cast<std::uint32_t>(cmds.size()) : 0;
    r.timeout_ms = static_cast<std::uint32_t>(std::clamp<long long>(t.count(), 0, UINT32_MAX));
    r.cb = [g, i](Result<Reply> res) {
      g->results[i].emplace(std::move(res));
      if (--g->left != 0) return;
      std::vector<Result<Reply>> out;
      out.reserve(g->results.size());
      for (auto& x : g->results) out.push_back(std::move(*x));
      auto d = std::move(g->done);
      d(std::move(out));
    };
    queued_.push_back(std::move(r));
    ++stats_.queued;
    queued_bytes_ += lens[i];
  }
  if (t.count() > 0) add_deadline(first, t);
  if (link_ == Link::ready)
    schedule_flush();
  else if (link_ == Link::idle)
    start();
}

void Connection::fail_later(Callback<Reply> cb, Error err) {
  ++stats_.errors;
  post([cb = std::move(cb), err = std::move(err)]() mutable { cb(std::move(err)); });
}

void Connection::post(detail::Function<void()> fn) {
  if (handles_closing_) {
    post_detached(loop_, std::move(fn));
    return;
  }
  immediate_.push_back(std::move(fn));
  schedule_deferred();
}

void Connection::complete(Request& r, Result<Reply> result) {
  auto cb = std::move(r.cb);
  r.done = true;
  if (!r.internal && !result) ++stats_.errors;
  if (cb) cb(std::move(result));
  if (!r.internal) notify_idle_if_drained();
}

void Connection::add_deadline(std::uint64_t seq, std::chrono::milliseconds timeout) {
  const std::uint64_t due = uv_now(loop_) + static_cast<std::uint64_t>(timeout.count());
  if (timeout == cfg_.command_timeout) {
    fifo_deadlines_.emplace_back(due, seq);
  } else {
    heap_deadlines_.emplace_back(due, seq);
    std::push_heap(heap_deadlines_.begin(), heap_deadlines_.end(), std::greater<>());
  }
  if (timer_due_ == 0 || due < timer_due_) arm_timeout_timer();
}

void Connection::arm_timeout_timer() {
  std::uint64_t next = 0;
  if (!fifo_deadlines_.empty()) next = fifo_deadlines_.front().first;
  if (!heap_deadlines_.empty() && (next == 0 || heap_deadlines_.front().first < next))
    next = heap_deadlines_.front().first;
  if (next == 0) {
    if (timer_due_ != 0) uv_timer_stop(cmd_timer_.get());
    timer_due_ = 0;
    return;
  }
  if (timer_due_ == next) return;
  timer_due_ = next;
  const std::uint64_t now = uv_now(loop_);
  uv_timer_start(
      cmd_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_timeout_timer(); },
      next > now ? next - now : 0, 0);
}

void Connection::on_timeout_timer() {
  timer_due_ = 0;
  const std::uint64_t now = uv_now(loop_);
  while (!fifo_deadlines_.empty() && fifo_deadlines_.front().first <= now) {
    auto seq = fifo_deadlines_.front().second;
    fifo_deadlines_.pop_front();
    expire(seq);
  }
  while (!heap_deadlines_.empty() && heap_deadlines_.front().first <= now) {
    std::pop_heap(heap_deadlines_.begin(), heap_deadlines_.end(), std::greater<>());
    auto seq = heap_deadlines_.back().second;
    heap_deadlines_.pop_back();
    expire(seq);
  }
  arm_timeout_timer();
}

// Deadline entries of commands that already completed are dropped as replies
// arrive, so the FIFO holds only what is still pending.
void Connection::prune_deadlines() {
  std::uint64_t oldest = next_seq_;
  if (!inflight_.empty())
    oldest = inflight_.front().seq;
  else if (!queued_.empty())
    oldest = queued_.front().seq;
  while (!fifo_deadlines_.empty() && fifo_deadlines_.front().second < oldest) fifo_deadlines_.pop_front();
  if (fifo_deadlines_.empty() && heap_deadlines_.empty() && timer_due_ != 0) {
    uv_timer_stop(cmd_timer_.get());
    timer_due_ = 0;
  }
}

std::pair<std::deque<Connection::Request>*, std::size_t> Connection::find(std::uint64_t seq) {
  auto by_seq = [](const Request& r, std::uint64_t s) { return r.seq < s; };
  for (auto* q : {&inflight_, &queued_}) {
    auto it = std::lower_bound(q->begin(), q->end(), seq, by_seq);
    if (it != q->end() && it->seq == seq) return {q, static_cast<std::size_t>(it - q->begin())};
  }
  return {nullptr, 0};
}

void Connection::expire(std::uint64_t seq) {
  auto [q, idx] = find(seq);
  if (q == nullptr || (*q)[idx].done) return;
  const bool sent = q == &inflight_;
  // A group (MULTI ... EXEC) times out as a whole: never half of it sent.
  const std::size_t count = std::max<std::uint32_t>((*q)[idx].group, 1);
  const bool internal = (*q)[idx].internal;
  const std::uint32_t ms = (*q)[idx].timeout_ms;
  const Error err{ErrorKind::timeout, "no reply within " + std::to_string(ms) + " ms"};
  // Completing may run user code that queues more (push_back keeps element
  // references valid in a deque), so walk by sequence number.
  const std::uint64_t first = seq;
  for (std::size_t k = 0; k < count; ++k) {
    auto [qq, i] = find(first + k);
    if (qq == nullptr) continue;
    Request& r = (*qq)[i];
    if (r.done) continue;
    if (!sent) {
      queued_bytes_ -= r.len;
      if (!r.internal) --stats_.queued;
    }
    if (!r.internal) ++stats_.timeouts;
    complete(r, err);
  }
  // A blocking connection stays blocked on the server: drop it, never reuse.
  if (sent && cfg_.drop_on_timeout && !internal)
    request_drop(Error{ErrorKind::connection_lost, "dropped after a blocking command timed out"});
}

void Connection::fail_queued(const Error& err) {
  if (queued_.empty()) return;
  auto q = std::move(queued_);
  queued_.clear();
  out_.clear();
  out_pos_ = 0;
  queued_bytes_ = 0;
  for (auto& r : q)
    if (!r.done && !r.internal) --stats_.queued;
  for (auto& r : q)
    if (!r.done) complete(r, err);
  prune_deadlines();
}

void Connection::notify_idle_if_drained() {
  if (on_idle_ && pending() == 0 && !closing_) on_idle_();
}

// ------------------------------------------------------ deferred, teardown

void Connection::schedule_deferred() {
  if (deferred_scheduled_ || !idle_) return;
  deferred_scheduled_ = true;
  uv_idle_start(idle_.get(), [](uv_idle_t* h) { static_cast<Connection*>(h->data)->run_deferred(); });
}

void Connection::run_deferred() {
  deferred_scheduled_ = false;
  uv_idle_stop(idle_.get());
  if (drop_requested_) {
    drop_requested_ = false;
    if (ac_) redisAsyncFree(ac_);  // not inside hiredis: frees now, fails in-flight commands
  }
  if (link_gone_) {
    link_gone_ = false;
    after_link_gone();
  }
  if (!immediate_.empty()) {
    auto v = std::move(immediate_);
    immediate_.clear();
    for (auto& fn : v) fn();
  }
  if (closing_) maybe_finish_close();
}

void Connection::close(detail::Function<void()> done) {
  if (finished_) {
    if (done) post_detached(loop_, std::move(done));
    return;
  }
  if (done) close_cbs_.push_back(std::move(done));
  if (closing_) return;
  closing_ = true;
  log_->debug("[{}] closing", cfg_.name);
  schedule_deferred();
}

void Connection::destroy() {
  on_state_ = nullptr;
  on_idle_ = nullptr;
  on_push_ = nullptr;
  on_read_ = nullptr;
  if (destroyed_) return;
  destroyed_ = true;
  if (finished_) {
    if (!in_finish_) maybe_delete();
    return;
  }
  closing_ = true;
  if (!drop_reason_) drop_reason_ = Error{ErrorKind::closed, "client destroyed"};
  schedule_deferred();
}

void Connection::maybe_finish_close() {
  if (!closing_ || handles_closing_) return;
  const bool queued_live = std::any_of(queued_.begin(), queued_.end(), [](const Request& r) { return !r.done; });
  if (!destroyed_) {
    // Graceful: commands issued before close() still go out. While a connect
    // attempt is under way it decides their fate (bounded by connect_timeout).
    const bool attempting = link_ == Link::resolving || link_ == Link::connecting || link_ == Link::handshaking;
    if (attempting && queued_live) return;
    if (link_ == Link::ready && (!inflight_.empty() || queued_live)) return;
  }
  if (!queued_.empty())
    fail_queued(Error{ErrorKind::closed, destroyed_ ? "client destroyed" : "client closed before the command was sent"});
  if (ac_) {
    if (!drop_reason_) drop_reason_ = Error{ErrorKind::closed, "client closed"};
    redisAsyncFree(ac_);  // synchronous here: fails what is left, runs hook_cleanup
  }
  if (link_gone_) {
    link_gone_ = false;
    after_link_gone();
  }
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
  if (!queued_.empty()) fail_queued(Error{ErrorKind::closed, "client closed"});
  if (!immediate_.empty()) {
    schedule_deferred();  // deliver those first; we come back here afterwards
    return;
  }
  link_ = Link::closed;
  close_handles();
}

void Connection::close_handles() {
  handles_closing_ = true;
  deferred_scheduled_ = true;  // nothing may restart the idle handle now
  poll_.close();
  prepare_.close();
  idle_.close();
  cmd_timer_.close();
  link_timer_.close();
  health_timer_.close();
}

void Connection::handle_closed() {
  --open_handles_;
  if (handles_closing_ && open_handles_ == 0 && !finished_) finish();
  maybe_delete();
}

void Connection::finish() {
  if (resolving_) return;  // its callback comes back through maybe_delete
  finished_ = true;
  in_finish_ = true;
  set_state(ConnectionState::closed, nullptr);
  auto cbs = std::move(close_cbs_);
  close_cbs_.clear();
  for (auto& cb : cbs)
    if (cb) cb();
  in_finish_ = false;
}

void Connection::maybe_delete() {
  if (handles_closing_ && open_handles_ == 0 && !resolving_ && !finished_) finish();
  if (destroyed_ && finished_ && !in_finish_ && open_handles_ == 0 && !resolving_) delete this;
}

void Connection::set_state(ConnectionState s, const Error* why) {
  if (s == state_) return;
  state_ = s;
  if (on_state_) {
    auto fn = on_state_;  // the listener may replace itself
    fn(s, why);
  }
}

}  // namespace detail
}  // namespace uvredis
