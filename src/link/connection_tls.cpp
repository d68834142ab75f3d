#include "link/connection.hpp"

#include "base/logging.hpp"
#ifdef UVREDIS_HAVE_TLS
#include "tls/tls_bridge.hpp"
#endif

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}

// rediss:// links: hiredis talks to the TLS bridge's private unix socket;
// once the TLS handshake is done, hiredis' output goes straight to the
// bridge (write_tls) and decrypted input straight to the reader (on_tls_data).

namespace uvredis::detail {

std::shared_ptr<TlsContext> make_tls_context(const ClientOptions& options) {
#ifdef UVREDIS_HAVE_TLS
  if (options.address.tls) return TlsContext::create(options, options.logger);
#else
  (void)options;
#endif
  return nullptr;
}

// TLS: hiredis talks to the bridge's unix socket, which accepts at once, so
// its connect callback says nothing about the server. The link counts as up
// once the TLS handshake is done (on_tls_ready) and hiredis is connected.
bool Connection::connect_tls(const std::string& ip) {
#ifdef UVREDIS_HAVE_TLS
  const std::string where = ip + ":" + std::to_string(cfg_.options.address.port);
  TlsBridge::Events ev;
  ev.on_ready = [this] { on_tls_ready(); };
  ev.on_error = [this](std::string msg) { on_tls_error(std::move(msg)); };
  ev.on_closed = [this] { handle_closed(); };
  // hiredis' output and the decrypted replies pass between hiredis' buffers
  // and the bridge in memory; the private socket only tells hiredis when the
  // link ends.
  ev.on_data = [this](const char* data, std::size_t len) { on_tls_data(data, len); };
  ev.on_drain = [this] { schedule_flush(); };
  std::string name = cfg_.tls->server_name().empty() ? cfg_.options.address.host : cfg_.tls->server_name();
  std::string err;
  TlsBridge* b = TlsBridge::open(loop_, cfg_.tls, std::move(name), ip, cfg_.options.address.port,
                                 cfg_.options.tcp_keepalive, std::move(ev), err);
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
  if (hiredis_up_ && link_.phase() == Link::connecting) begin_handshake();
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
  Error err = link_.phase() == Link::ready ? Error{ErrorKind::connection_lost, "connection lost: " + msg}
                                   : Error{ErrorKind::connect,
                                           "connect to " + cfg_.options.address.to_string() + " failed: " + msg};
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

}  // namespace uvredis::detail
