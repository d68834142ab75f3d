#include "link/connection.hpp"

#include "protocol/encode.hpp"
#include "link/handshake.hpp"
#include "base/logging.hpp"
#ifdef UVREDIS_HAVE_TLS
#include "tls/tls_bridge.hpp"
#endif

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <random>

// The life cycle of a link: asking the address source (the options' fixed
// address, or the sentinels), resolve, connect, the handshake (AUTH,
// SELECT, CLIENT SETNAME, READONLY/ROLE checks), ready, and after a drop the
// reconnect backoff. TLS specifics are in connection_tls.cpp.

namespace uvredis::detail {

void Connection::address_moved(const HostPort& now, const std::string& why) {
  if (closing_ || destroyed_) return;
  if (link_.phase() == Link::waiting) {
    uv_timer_start(
        link_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_link_timer(); }, 0, 0);
    return;
  }
  if (!tp_.up() || (now.host == cfg_.options.address.host && now.port == cfg_.options.address.port)) return;
  request_drop(Error{link_.phase() == Link::ready ? ErrorKind::connection_lost : ErrorKind::connect, why});
}

void Connection::start() {
  if (link_.phase() != Link::idle) return;
  if (cfg_.options.address.tls) {
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
      link_.fail();
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
      static_cast<std::uint64_t>(std::max<long long>(cfg_.options.connect_timeout.count(), 1)), 0);
  // A fixed address answers at once (the callback is dropped unused); a
  // source that must find out (the sentinels) answers on a later turn.
  connect_to(link_.begin(cfg_.options.address, [this](Result<HostPort> r) { on_address(std::move(r)); }));
}

void Connection::on_address(Result<HostPort> r) {
  if (!link_.answer_came()) return;  // the attempt timed out meanwhile
  if (!r) {
    connect_attempt_failed(r.error());
    return;
  }
  if (r->host != cfg_.options.address.host || r->port != cfg_.options.address.port)
    log_->info("[{}] {}", cfg_.name, source_->naming(*r));
  const LinkMachine::Go go = link_.answered(cfg_.options.address, *r);
  if (tracker_) set_tracked_node();
  connect_to(go);
}

void Connection::connect_to(LinkMachine::Go go) {
  const Address& a = cfg_.options.address;
  if (go == LinkMachine::Go::ask_address) return;  // on_address comes next
  if (go == LinkMachine::Go::connect_unix) {
    std::string why;
    switch (tp_.open_unix(a.path, why)) {
      case Transport::Open::ok: opened(); return;
      case Transport::Open::unwatchable:
        last_error_ = Error{ErrorKind::connect, "cannot watch the socket: " + why};
        connect_next();
        return;
      case Transport::Open::no_memory:
      case Transport::Open::failed: break;
    }
    connect_attempt_failed(Error{ErrorKind::connect, "connect to " + a.to_string() + " failed: " + why});
    return;
  }
  if (go == LinkMachine::Go::connect_next) {
    connect_next();
    return;
  }
  // hiredis 0.14 would resolve with a blocking getaddrinfo; do it on the
  // loop's thread pool and hand hiredis numeric addresses only.
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
  if (link_.phase() != Link::resolving || closing_) return;  // timed out or closed meanwhile
  if (status != 0) {
    connect_attempt_failed(
        Error{ErrorKind::connect, "cannot resolve '" + cfg_.options.address.host + "': " + uv_strerror(status)});
    return;
  }
  std::vector<std::string> ips;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* src = ai->ai_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || !inet_ntop(ai->ai_family, src, buf, sizeof buf))
      continue;
    ips.emplace_back(buf);
  }
  link_.resolved(ips);
  if (!link_.addresses_left()) {
    connect_attempt_failed(Error{ErrorKind::connect, "'" + cfg_.options.address.host + "' has no IP address"});
    return;
  }
  connect_next();
}

// Tries the resolved addresses in turn ("localhost" may give ::1 first while
// the server listens on 127.0.0.1 only).
void Connection::connect_next() {
  while (link_.addresses_left()) {
    const std::string ip = link_.next_address();
    if (cfg_.options.address.tls) {
      if (connect_tls(ip)) return;
      continue;
    }
    std::string why;
    const bool keepalive = cfg_.options.tcp_keepalive && cfg_.options.address.kind == Address::Kind::tcp;
    switch (tp_.open_tcp(ip, cfg_.options.address.port, keepalive, why)) {
      case Transport::Open::ok: opened(); return;
      case Transport::Open::no_memory:
        last_error_ = Error{ErrorKind::connect, "out of memory creating a connection"};
        continue;
      case Transport::Open::failed:
        last_error_ = Error{ErrorKind::connect, "connect to " + ip + ":" + std::to_string(cfg_.options.address.port) +
                                                    " failed: " + why};
        continue;
      case Transport::Open::unwatchable:
        last_error_ = Error{ErrorKind::connect, "cannot watch the socket: " + why};
        continue;
    }
  }
  connect_attempt_failed(last_error_);
}

// A context is open (the transport's open_*() succeeded): a new link, a new
// reader, a new reply guard.
void Connection::opened() {
  rx_fed_ = rx_replied_ = 0;
  link_.connecting();
  protocol_violation_ = false;
  guard_.reset();
  refused_input_ = false;
  silence_watch_ = false;
  log_->debug("[{}] connecting to {}", cfg_.name, cfg_.options.address.to_string());
}

void Connection::transport_connected(bool ok) {
  if (!ok) {
    // hiredis frees the context right after this; transport_closing follows.
    const char* why = tp_.errstr();
    last_error_ = Error{ErrorKind::connect, "connect to " + cfg_.options.address.to_string() + " failed: " +
                                                (why[0] ? why : "unknown error")};
    drop_reason_ = last_error_;
    return;
  }
  if (link_.phase() != Link::connecting) return;
  begin_handshake();
}

void Connection::begin_handshake() {
  q_.drop_first();
  for (HandshakeStep& step : handshake_plan(cfg_)) {
    std::vector<std::string_view> argv(step.argv.begin(), step.argv.end());
    std::size_t len = encode_command(q_.first_out(), argv);
    Request r;
    r.len = static_cast<std::uint32_t>(len);
    r.cb = [this, what = std::move(step.what), check = std::move(step.check)](Result<Reply> res) {
      if (!res) {
        // Transport errors mean the link is already going away.
        if (res.error().kind == ErrorKind::server && link_.phase() == Link::handshaking)
          request_drop(Error{ErrorKind::connect, what + " failed: " + res.error().message});
        return;
      }
      if (check && link_.phase() == Link::handshaking) {
        if (std::string why = check(*res); !why.empty()) {
          request_drop(Error{ErrorKind::connect, cfg_.options.address.to_string() + " " + why});
          return;
        }
      }
      if (link_.step_done()) on_ready();
    };
    q_.push_first(std::move(r));
  }
  if (link_.handshake(q_.first_size()))
    on_ready();
  else
    schedule_flush();
}

void Connection::on_ready() {
  link_.up();
  uv_timer_stop(link_timer_.get());
  if (ever_ready_) ++stats_.reconnects;
  ever_ready_ = true;
  log_->info("[{}] connected to {}", cfg_.name, cfg_.options.address.to_string());
  if (cfg_.options.health_check_interval.count() > 0 && !closing_) {
    auto every = static_cast<std::uint64_t>(cfg_.options.health_check_interval.count());
    uv_timer_start(
        health_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->send_health_check(); }, every,
        every);
  }
  schedule_flush();
  set_state(ConnectionState::connected, nullptr);
}

// Runs once per teardown of a context (after hiredis failed every pending
// command with a NULL reply). The rest is decided outside hiredis' stack.
void Connection::after_link_gone() {
  Error err = last_error_;
  drop_reason_.reset();
  protocol_violation_ = false;
  q_.drop_first();
  health_in_flight_ = false;
  silence_watch_ = false;
  if (!closing_) uv_timer_stop(health_timer_.get());  // while closing it holds close()'s limit
  const LinkMachine::Lost lost = link_.lost(closing_);
  if (lost == LinkMachine::Lost::closed) return;
  if (lost == LinkMachine::Lost::try_next_address) {
    connect_next();
    return;
  }
  uv_timer_stop(link_timer_.get());
  if (lost == LinkMachine::Lost::attempt_failed) {
    if (err.kind != ErrorKind::connect) err = Error{ErrorKind::connect, err.message};
    connect_attempt_failed(std::move(err));
    return;
  }
  // A ready link dropped: give up (no reconnect) or reconnect at once.
  log_->warn("[{}] link to {} lost: {}", cfg_.name, cfg_.options.address.to_string(), err.message);
  if (lost == LinkMachine::Lost::give_up) {
    fail_queued(err);
    set_state(ConnectionState::failed, &err);
    return;
  }
  set_state(ConnectionState::reconnecting, &err);
  schedule_reconnect(true);
}

void Connection::connect_attempt_failed(Error err) {
  uv_timer_stop(link_timer_.get());
  log_->warn("[{}] {}", cfg_.name, err.message);
  last_error_ = err;
  // Commands that waited for this attempt learn why it failed; later ones
  // wait for the next attempt.
  fail_queued(err);
  switch (link_.attempt_failed(closing_)) {
    case LinkMachine::After::closed: schedule_deferred(); return;  // close() was waiting for this attempt
    case LinkMachine::After::give_up: set_state(ConnectionState::failed, &last_error_); return;
    case LinkMachine::After::wait: break;
  }
  set_state(ConnectionState::reconnecting, &last_error_);
  schedule_reconnect(false);
}

void Connection::schedule_reconnect(bool immediate) {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  const std::uint64_t delay = link_.backoff(immediate, immediate ? 0 : (std::uint64_t{rng()} << 31) ^ rng());
  uv_timer_start(
      link_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_link_timer(); }, delay, 0);
}

void Connection::on_link_timer() {
  switch (link_.timer_fired()) {
    case LinkMachine::Timer::reconnect: begin_connect(); break;
    case LinkMachine::Timer::check_silence: check_silence(); break;
    case LinkMachine::Timer::ask_timed_out: {  // the machine withdrew the question
      const std::string ms = std::to_string(cfg_.options.connect_timeout.count());
      connect_attempt_failed(Error{ErrorKind::connect, source_->asking() + " timed out after " + ms + " ms"});
      break;
    }
    case LinkMachine::Timer::resolve_timed_out: {
      if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
      const std::string ms = std::to_string(cfg_.options.connect_timeout.count());
      connect_attempt_failed(
          Error{ErrorKind::connect, "resolving '" + cfg_.options.address.host + "' timed out after " + ms + " ms"});
      break;
    }
    case LinkMachine::Timer::connect_timed_out: {
      const std::string ms = std::to_string(cfg_.options.connect_timeout.count());
      if (tp_.tls_handshake_stalled()) {
        request_drop(Error{ErrorKind::connect, "TLS handshake timed out after " + ms + " ms (" +
                                                   cfg_.options.address.to_string() + "; is this a TLS port?)"});
        break;
      }
      request_drop(Error{ErrorKind::connect,
                         "connect to " + cfg_.options.address.to_string() + " timed out after " + ms + " ms"});
      break;
    }
    case LinkMachine::Timer::none: break;
  }
}

}  // namespace uvredis::detail
