#include "link/connection.hpp"

#include "base/logging.hpp"
#ifdef UVREDIS_HAVE_TLS
#include "tls/tls_bridge.hpp"
#endif

// rediss:// links: the transport puts the TLS bridge under hiredis (hiredis
// talks to the bridge's private unix socket); once the TLS handshake is
// done, hiredis' output goes straight to the bridge and decrypted input
// comes here (transport_tls_data) for the reader.

namespace uvredis::detail {

std::shared_ptr<TlsContext> make_tls_context(const ClientOptions& options) {
#ifdef UVREDIS_HAVE_TLS
  if (options.address.tls) return TlsContext::create(options, options.logger);
#else
  (void)options;
#endif
  return nullptr;
}

// The link counts as up once the TLS handshake is done and hiredis is
// connected (the transport reports transport_connected then).
bool Connection::connect_tls(const std::string& ip) {
#ifdef UVREDIS_HAVE_TLS
  const std::string where = ip + ":" + std::to_string(cfg_.options.address.port);
  std::string name = cfg_.tls->server_name().empty() ? cfg_.options.address.host : cfg_.tls->server_name();
  std::string why;
  switch (tp_.open_tls(cfg_.tls, std::move(name), ip, cfg_.options.address.port, cfg_.options.tcp_keepalive, why)) {
    case Transport::Open::ok: opened(); return true;
    case Transport::Open::unwatchable:
      last_error_ = Error{ErrorKind::connect, "cannot watch the socket: " + why};
      return false;  // the next address, if any
    case Transport::Open::no_memory:
    case Transport::Open::failed: break;
  }
  last_error_ = Error{ErrorKind::connect, "connect to " + where + " failed: " + why};
  return false;
#else
  (void)ip;
  return false;
#endif
}

void Connection::transport_tls_data(const char* data, std::size_t len) {
  // What redisAsyncHandleRead does after its read(): feed, then dispatch.
  if (!take_input(data, len)) {
    request_drop(Error{ErrorKind::protocol, "protocol error: cannot buffer the server's reply"});
    return;
  }
  if (cfg_.push_mode && drop_requested_) return;  // as read_input: nobody wants more
  if (on_read_) {
    auto fn = on_read_;
    fn();
  }
}

void Connection::transport_tls_error(std::string msg) {
  // The bridge is closing its sockets; hiredis would only see a bare EOF.
  Error err = link_.phase() == Link::ready ? Error{ErrorKind::connection_lost, "connection lost: " + msg}
                                   : Error{ErrorKind::connect,
                                           "connect to " + cfg_.options.address.to_string() + " failed: " + msg};
  last_error_ = err;
  request_drop(std::move(err));
}

}  // namespace uvredis::detail
