#include "connection.hpp"

#include "encode.hpp"
#include "hiredis_replies.hpp"
#include "logging.hpp"
#ifdef UVREDIS_HAVE_TLS
#include "tls_bridge.hpp"
#endif
#include "sentinel.hpp"

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <random>

// Connection, part 1: life cycle of a link (resolve, connect, handshake,
// ready, drop, backoff) and teardown. The I/O half is connection_io.cpp.

namespace uvredis::detail {

namespace {

// hiredis writes with write(2); a peer reset must not kill the host with
// SIGPIPE. We ignore the signal process-wide, but only when nobody installed
// a handler of their own (documented in docs/client.md).
void ignore_sigpipe_once() {
  static const bool done = [] {
    struct sigaction sa {};
    if (sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

// Empty when a ROLE reply says "master", else what it says instead.
std::string role_is_not_master(const Reply& r) {
  if (r.is_array() && r.size() >= 1 && r[0].is_string() && r[0].str() == "master") return {};
  if (r.is_array() && r.size() >= 1 && r[0].is_string()) return "is not the master (ROLE: " + std::string(r[0].str()) + ")";
  return "gave an unexpected answer to ROLE";
}

std::string replica_check(const Reply& r) {
  std::string why = replica_link_problem(r);
  return why.empty() ? why : "serves no reads: " + why;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::string replica_link_problem(const Reply& role) {
  if (!role.is_array() || role.size() < 1 || !role[0].is_string()) return "unexpected answer to ROLE";
  const std::string_view kind = role[0].str();
  if (kind == "master") return {};
  if (kind != "slave") return "ROLE says " + std::string(kind);
  if (role.size() < 4 || !role[3].is_string()) return "unexpected answer to ROLE";
  if (role[3].str() == "connected") return {};
  return "the replica's link to its master is '" + std::string(role[3].str()) + "', not 'connected' (not in sync)";
}

ConnectionConfig ConnectionConfig::from(const ClientOptions& o) {
  ConnectionConfig c;
  c.address = o.address;
  c.client_name = o.client_name;
  c.connect_timeout = o.connect_timeout;
  c.command_timeout = o.command_timeout;
  c.reconnect = o.reconnect;
  c.reconnect_min_delay = o.reconnect_min_delay;
  c.reconnect_max_delay = o.reconnect_max_delay;
  c.max_queued_commands = o.max_queued_commands;
  c.max_queued_bytes = o.max_queued_bytes;
  c.health_check_interval = o.health_check_interval;
  c.dead_link_timeout = o.dead_link_timeout;
  c.max_reply_element = o.max_reply_element;
  c.tcp_keepalive = o.tcp_keepalive;
  c.readonly = o.cluster_readonly;
  c.logger = o.logger;
  return c;
}

std::shared_ptr<TlsContext> make_tls_context(const ClientOptions& options) {
#ifdef UVREDIS_HAVE_TLS
  if (options.address.tls) return TlsContext::create(options, options.logger);
#else
  (void)options;
#endif
  return nullptr;
}

Connection::Connection(uv_loop_t* loop, ConnectionConfig cfg)
    : loop_(loop), cfg_(std::move(cfg)), log_(logger_or_silent(cfg_.logger)) {
  guard_ = ReplyGuard(cfg_.max_reply_element);
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
  if (cfg_.sentinel) cfg_.sentinel->add_listener(this);
}

Connection::~Connection() {
  if (cfg_.sentinel) cfg_.sentinel->remove_listener(this);
}

void Connection::on_master_switched(const MasterAddr& now) {
  if (closing_ || destroyed_) return;
  if (link_ == Link::waiting) {
    uv_timer_start(
        link_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_link_timer(); }, 0, 0);
    return;
  }
  if (!ac_ || (now.host == cfg_.address.host && now.port == cfg_.address.port)) return;
  request_drop(Error{link_ == Link::ready ? ErrorKind::connection_lost : ErrorKind::connect,
                     "connection lost: the sentinels moved master '" + cfg_.sentinel->master_name() + "' to " +
                         now.host + ":" + std::to_string(now.port)});
}

// ---------------------------------------------------------------- life cycle

void Connection::start() {
  if (link_ != Link::idle) return;
  if (cfg_.address.tls) {
    std::optional<Error> problem;
#ifdef UVREDIS_HAVE_TLS
    if (!cfg_.tls)
      problem = Error{ErrorKind::usage, "rediss:// without TLS settings (internal: no TLS context was built)"};
    else if (cfg_.tls->error())
      problem = *cfg_.tls->error();
#else
    problem = Error{ErrorKind::usage, "rediss:// needs TLS support, which this build of uvredis does not have"};
#endif
    if (problem) {
      link_ = Link::failed;
      last_error_ = std::move(*problem);
      log_->error("[{}] {}", cfg_.name, last_error_.message);
      set_state(ConnectionState::failed, &last_error_);
      return;
    }
  }
  begin_connect();
}

void Connection::begin_connect() {
  uv_update_time(loop_);  // the connect timeout counts from now, not from this turn's start
  uv_timer_start(
      link_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_link_timer(); },
      static_cast<std::uint64_t>(std::max<long long>(cfg_.connect_timeout.count(), 1)), 0);
  addrs_.clear();
  addr_index_ = 0;
  if (cfg_.sentinel) {
    link_ = Link::discovering;
    discovery_ticket_ = cfg_.sentinel->discover([this](Result<MasterAddr> r) {
      discovery_ticket_ = 0;
      on_discovered(std::move(r));
    });
    return;
  }
  connect_address();
}

void Connection::on_discovered(Result<MasterAddr> r) {
  if (link_ != Link::discovering) return;
  if (!r) {
    connect_attempt_failed(r.error());
    return;
  }
  if (r->host != cfg_.address.host || r->port != cfg_.address.port)
    log_->info("[{}] sentinels name {}:{} as master '{}'", cfg_.name, r->host, r->port, cfg_.sentinel->master_name());
  cfg_.address.host = std::move(r->host);
  cfg_.address.port = r->port;
  connect_address();
}

void Connection::cancel_discovery() {
  if (discovery_ticket_ == 0) return;
  cfg_.sentinel->cancel(std::exchange(discovery_ticket_, 0));
}

void Connection::connect_address() {
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
    if (cfg_.address.tls) {
      if (connect_tls(ip)) return;
      continue;
    }
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
    release_bridge(false);
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
  guard_.reset();
  refused_input_ = false;
  timed_out_inflight_ = 0;
  silence_watch_ = false;
  ac->c.reader->fn = reply_functions();
  ac->c.reader->privdata = this;
  ac->data = this;
  // (With TLS hiredis is on a unix socket; the bridge sets keepalive on TCP.)
  if (cfg_.tcp_keepalive && cfg_.address.kind == Address::Kind::tcp && !bridge_) redisEnableKeepAlive(&ac->c);

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
  if (bridge_ && !tls_ready_) {
    hiredis_up_ = true;  // the TLS handshake is still under way: wait for it
    return;
  }
  if (bridge_ && !tls_early_.empty()) {
    // Bytes the server sent on its own (an error before any command).
    std::string early = std::move(tls_early_);
    tls_early_.clear();
    on_tls_data(early.data(), early.size());
    if (!ac_ || link_ != Link::connecting) return;
  }
  begin_handshake();
}

// TLS: hiredis talks to the bridge's unix socket, which accepts at once, so
// its connect callback says nothing about the server. The link counts as up
// once the TLS handshake is done (on_tls_ready) and hiredis is connected.
bool Connection::connect_tls(const std::string& ip) {
#ifdef UVREDIS_HAVE_TLS
  const std::string where = ip + ":" + std::to_string(cfg_.address.port);
  TlsBridge::Events ev;
  ev.on_ready = [this] { on_tls_ready(); };
  ev.on_error = [this](std::string msg) { on_tls_error(std::move(msg)); };
  ev.on_closed = [this] { handle_closed(); };
  // hiredis' output and the decrypted replies pass between hiredis' buffers
  // and the bridge in memory; the private socket only tells hiredis when the
  // link ends.
  ev.on_data = [this](const char* data, std::size_t len) { on_tls_data(data, len); };
  ev.on_drain = [this] { schedule_flush(); };
  std::string name = cfg_.tls->server_name().empty() ? cfg_.address.host : cfg_.tls->server_name();
  std::string err;
  TlsBridge* b = TlsBridge::open(loop_, cfg_.tls, std::move(name), ip, cfg_.address.port, cfg_.tcp_keepalive,
                                 std::move(ev), err);
  if (!b) {
    last_error_ = Error{ErrorKind::connect, "connect to " + where + " failed: " + err};
    return false;
  }
  ++open_handles_;
  bridge_ = b;
  tls_ready_ = false;
  hiredis_up_ = false;
  tls_early_.clear();
  const std::string path = b->socket_path();
  redisAsyncContext* ac = redisAsyncConnectUnix(path.c_str());
  if (ac == nullptr || ac->err) {
    last_error_ = Error{ErrorKind::connect, "connect to " + where + " failed: TLS bridge: " +
                                                (ac ? std::string(ac->errstr) : std::string("out of memory"))};
    if (ac) redisAsyncFree(ac);
    release_bridge(false);
    return false;
  }
  attach(ac);
  return true;
#else
  (void)ip;
  return false;
#endif
}

void Connection::on_tls_ready() {
  tls_ready_ = true;
  if (hiredis_up_ && link_ == Link::connecting) begin_handshake();
}

void Connection::on_tls_data(const char* data, std::size_t len) {
  if (!ac_) return;  // hiredis is gone: the link is ending
  if (!(ac_->c.flags & REDIS_CONNECTED)) {
    tls_early_.append(data, len);
    return;
  }
  // What redisAsyncHandleRead does after its read(): feed, then dispatch.
  if (!feed(data, len)) {
    request_drop(Error{ErrorKind::protocol, "protocol error: cannot buffer the server's reply"});
    return;
  }
  if (cfg_.push_mode && drop_requested_) return;  // as read_input: nobody wants more
  process_input();
  if (on_read_) {
    auto fn = on_read_;
    fn();
  }
}

// Direct mode: hiredis' output buffer goes to the bridge, not to the socket.
void Connection::write_tls() {
#ifdef UVREDIS_HAVE_TLS
  const std::size_t n = sdslen(ac_->c.obuf);
  if (n == 0 || bridge_->congested()) return;
  bridge_->send(ac_->c.obuf, n);  // on failure the bridge reports through on_tls_error
  if (ac_) sdsclear(ac_->c.obuf);
#endif
}

bool Connection::tls_direct() const noexcept { return bridge_ && tls_ready_; }

bool Connection::tls_congested() const noexcept {
#ifdef UVREDIS_HAVE_TLS
  return bridge_ && bridge_->congested();
#else
  return false;
#endif
}

void Connection::on_tls_error(std::string msg) {
  // The bridge is closing its sockets; hiredis would only see a bare EOF.
  Error err = link_ == Link::ready ? Error{ErrorKind::connection_lost, "connection lost: " + msg}
                                   : Error{ErrorKind::connect, "connect to " + cfg_.address.to_string() + " failed: " + msg};
  last_error_ = err;
  request_drop(std::move(err));
}

void Connection::release_bridge(bool graceful) {
#ifdef UVREDIS_HAVE_TLS
  if (bridge_) bridge_->close(graceful);  // counted in open_handles_ until it reports closed
#else
  (void)graceful;
#endif
  bridge_ = nullptr;
  tls_ready_ = false;
  hiredis_up_ = false;
}

void Connection::begin_handshake() {
  link_ = Link::handshaking;
  handshake_.clear();
  handshake_bytes_.clear();
  using Check = std::string (*)(const Reply&);
  auto add = [this](std::initializer_list<std::string_view> argv, std::string what, Check check = nullptr) {
    std::size_t len = encode_command(handshake_bytes_, std::span<const std::string_view>(argv.begin(), argv.size()));
    Request r;
    r.seq = next_seq_++;
    r.len = static_cast<std::uint32_t>(len);
    r.internal = true;
    r.cb = [this, what = std::move(what), check](Result<Reply> res) {
      if (!res) {
        // Transport errors mean the link is already going away.
        if (res.error().kind == ErrorKind::server && link_ == Link::handshaking)
          request_drop(Error{ErrorKind::connect, what + " failed: " + res.error().message});
        return;
      }
      if (check && link_ == Link::handshaking) {
        if (std::string why = check(*res); !why.empty()) {
          request_drop(Error{ErrorKind::connect, cfg_.address.to_string() + " " + why});
          return;
        }
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
  // A cluster replica forgets READONLY with the link: it belongs in every handshake.
  if (cfg_.readonly) {
    add({"READONLY"}, "READONLY");
    // A replica that is not in sync (just restarted, still loading from its
    // master) would answer reads from an empty or old data set: such a link
    // fails to connect and tries again; reads go to the master meanwhile.
    add({"ROLE"}, "ROLE", &replica_check);
  }
  // Sentinels may still name a node that was just demoted: write nowhere
  // but to a node that says it is the master.
  if (cfg_.sentinel) add({"ROLE"}, "ROLE", &role_is_not_master);
  // TLS 1.3 servers refuse a client certificate after our side of the
  // handshake is complete: one round trip makes such a refusal a connect
  // error instead of a link that drops right after "connected".
  if (cfg_.address.tls && handshake_.empty()) add({"PING"}, "PING");
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
  if (cfg_.health_check_interval.count() > 0 && !closing_) {
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
  timed_out_inflight_ = 0;
  silence_watch_ = false;
  if (!closing_) uv_timer_stop(health_timer_.get());  // while closing it holds close()'s limit
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
    case Link::ready: check_silence(); break;
    case Link::discovering:
      cancel_discovery();
      link_ = Link::connecting;
      connect_attempt_failed(Error{ErrorKind::connect, "asking the sentinels (" + cfg_.sentinel->sentinel_list() +
                                                           ") for master '" + cfg_.sentinel->master_name() +
                                                           "' timed out after " +
                                                           std::to_string(cfg_.connect_timeout.count()) + " ms"});
      break;
    case Link::resolving:
      if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
      link_ = Link::connecting;  // makes on_resolved ignore a late answer
      connect_attempt_failed(Error{ErrorKind::connect, "resolving '" + cfg_.address.host + "' timed out after " +
                                                           std::to_string(cfg_.connect_timeout.count()) + " ms"});
      break;
    case Link::connecting:
    case Link::handshaking: {
      addr_index_ = addrs_.size();
      const std::string ms = std::to_string(cfg_.connect_timeout.count());
#ifdef UVREDIS_HAVE_TLS
      if (bridge_ && bridge_->tcp_connected() && !bridge_->handshake_done()) {
        request_drop(Error{ErrorKind::connect, "TLS handshake timed out after " + ms + " ms (" +
                                                   cfg_.address.to_string() + "; is this a TLS port?)"});
        break;
      }
#endif
      request_drop(Error{ErrorKind::connect, "connect to " + cfg_.address.to_string() + " timed out after " + ms + " ms"});
      break;
    }
    default: break;
  }
}

void Connection::request_drop(Error reason) {
  if (!ac_) return;
  if (!drop_reason_) drop_reason_ = std::move(reason);
  drop_requested_ = true;
  schedule_deferred();
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
  arm_close_limit();
  schedule_deferred();
}

// close() lets pending commands finish, but not for ever: every one of them
// has met its deadline by the latest one, and what has none (timeout zero)
// gets a short grace after that. Then whatever is left fails with `closed`.
void Connection::arm_close_limit() {
  constexpr std::uint64_t kGraceMs = 1000;
  uv_update_time(loop_);
  const std::uint64_t now = uv_now(loop_);
  const std::uint64_t last = deadlines_.last(now);
  uv_timer_stop(health_timer_.get());  // no more health checks while closing
  uv_timer_start(
      health_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Connection*>(t->data);
        if (self->handles_closing_) return;
        self->log_->warn("[{}] close: commands still unanswered after their deadlines; failing them", self->cfg_.name);
        self->close_forced_ = true;
        self->maybe_finish_close();
      },
      last - now + kGraceMs, 0);
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
  const bool queued_live = std::any_of(queued_.begin(), queued_.end(), [](const Request& r) { return !r.completed(); });
  // A push-mode (subscriber) link has nothing worth waiting for: its
  // subscription commands fail with closed, as on a classic subscriber.
  if (!destroyed_ && !close_forced_ && !cfg_.push_mode) {
    // Graceful: commands issued before close() still go out. While a connect
    // attempt is under way it decides their fate (bounded by connect_timeout).
    // Commands that already timed out are not waited for: their replies may
    // never come (a hung server), and nobody wants them.
    const bool attempting = link_ == Link::discovering || link_ == Link::resolving || link_ == Link::connecting || link_ == Link::handshaking;
    if (attempting && queued_live) return;
    if (link_ == Link::ready && (inflight_.size() > timed_out_inflight_ || queued_live)) return;
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
  cancel_discovery();
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
  release_bridge(false);       // normally gone already, with its context
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

}  // namespace uvredis::detail
