// TlsBridge's way to a secure link: the private socket hiredis connects to, the TCP connection, the TLS handshake.
#include "tls/tls_bridge.hpp"

#include "base/logging.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace uvredis::detail {

namespace {

bool is_ip_literal(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// A short base for the private socket directory: sun_path holds 108 bytes.
std::string temp_base() {
  const char* t = std::getenv("TMPDIR");
  if (t && *t == '/' && std::strlen(t) < 64) return t;
  return "/tmp";
}

}  // namespace

TlsBridge* TlsBridge::open(uv_loop_t* loop, std::shared_ptr<TlsContext> ctx, std::string name, const std::string& ip,
                           std::uint16_t port, bool keepalive, Events events, std::string& err) {
  auto* b = new TlsBridge(loop, std::move(ctx), std::move(events));
  b->name_ = std::move(name);
  b->keepalive_ = keepalive;
  auto closed = [](void* self) { static_cast<TlsBridge*>(self)->on_handle_closed(); };
  // The linger timer lives as long as the bridge is owned: the bridge can
  // only go away (and report so) through a close callback after close().
  uv_timer_init(loop, b->linger_.allocate(closed, b));
  b->linger_.get()->data = b;
  ++b->open_handles_;
  if (!b->listen(err) || !b->connect(ip, port, err)) {
    b->released_ = true;
    b->ev_ = {};
    b->close_all();  // deletes itself from the close callbacks, silently
    return nullptr;
  }
  return b;
}

bool TlsBridge::listen(std::string& err) {
  std::string tmpl = temp_base() + "/uvredis-tls-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {  // mode 0700: nobody else may even look
    err = std::string("cannot create a private directory for the TLS bridge: ") + std::strerror(errno);
    return false;
  }
  dir_ = tmpl;
  path_ = dir_ + "/s";
  if (path_.size() >= sizeof(sockaddr_un::sun_path)) {
    err = "the TLS bridge's socket path is too long: " + path_;
    return false;
  }
  uv_pipe_t* l = listener_.allocate([](void* self) { static_cast<TlsBridge*>(self)->on_handle_closed(); }, this);
  if (int rc = uv_pipe_init(loop_, l, 0); rc != 0) {
    listener_.discard();
    err = std::string("TLS bridge: ") + uv_strerror(rc);
    return false;
  }
  l->data = this;
  ++open_handles_;
  int rc = uv_pipe_bind(l, path_.c_str());
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(l), 1,
                   [](uv_stream_t* s, int status) { static_cast<TlsBridge*>(s->data)->on_accept(status); });
  if (rc != 0) {
    err = "TLS bridge: cannot listen on " + path_ + ": " + uv_strerror(rc);
    return false;
  }
  return true;
}

bool TlsBridge::connect(const std::string& ip, std::uint16_t port, std::string& err) {
  sockaddr_storage sa{};
  int rc = ip.find(':') != std::string::npos ? uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(&sa))
                                             : uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(&sa));
  if (rc != 0) {
    err = "bad address '" + ip + "'";
    return false;
  }
  uv_tcp_t* t = tcp_.allocate([](void* self) { static_cast<TlsBridge*>(self)->on_handle_closed(); }, this);
  if (rc = uv_tcp_init(loop_, t); rc != 0) {
    tcp_.discard();
    err = std::string("TLS bridge: ") + uv_strerror(rc);
    return false;
  }
  t->data = this;
  ++open_handles_;
  connect_req_.data = this;
  rc = uv_tcp_connect(&connect_req_, t, reinterpret_cast<sockaddr*>(&sa), [](uv_connect_t* r, int status) {
    static_cast<TlsBridge*>(r->data)->on_tcp_connected(status);
  });
  if (rc != 0) {
    err = "connect to " + ip + ":" + std::to_string(port) + " failed: " + uv_strerror(rc);
    return false;
  }
  return true;
}

void TlsBridge::remove_socket_file() {
  if (!path_.empty()) ::unlink(path_.c_str());
  if (!dir_.empty()) ::rmdir(dir_.c_str());
  path_.clear();
  dir_.clear();
}

void TlsBridge::on_accept(int status) {
  if (closing_ || released_ || accepted_) return;
  if (status < 0) return fail(std::string("TLS bridge: accept failed: ") + uv_strerror(status));
  uv_pipe_t* p = pipe_.allocate([](void* self) { static_cast<TlsBridge*>(self)->on_handle_closed(); }, this);
  if (int rc = uv_pipe_init(loop_, p, 0); rc != 0) {
    pipe_.discard();
    return fail(std::string("TLS bridge: ") + uv_strerror(rc));
  }
  p->data = this;
  ++open_handles_;
  if (int rc = uv_accept(reinterpret_cast<uv_stream_t*>(listener_.get()), reinterpret_cast<uv_stream_t*>(p)); rc != 0)
    return fail(std::string("TLS bridge: accept failed: ") + uv_strerror(rc));
  // One peer only: nobody else can connect from now on.
  listener_.close();
  remove_socket_file();
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(p), &fd);
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid != ::getpid())
    return fail("TLS bridge: the private socket was connected by another process (pid " + std::to_string(cred.pid) +
                ")");
  accepted_ = true;
  maybe_ready();
}

void TlsBridge::on_tcp_connected(int status) {
  if (closing_ || released_) return;
  if (status < 0) return fail(std::string("TCP connect failed: ") + uv_strerror(status));
  tcp_connected_ = true;
  uv_tcp_nodelay(tcp_.get(), 1);
  if (keepalive_) uv_tcp_keepalive(tcp_.get(), 1, 15);
  ERR_clear_error();
  ssl_ = SSL_new(ctx_->get());
  net_in_ = BIO_new(BIO_s_mem());
  net_out_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !net_in_ || !net_out_) return fail("TLS setup failed: " + ssl_error_text("out of memory"));
  BIO_set_mem_eof_return(net_in_, -1);  // empty means "more to come", not EOF
  SSL_set_bio(ssl_, net_in_, net_out_);  // the SSL owns both from here
  SSL_set_connect_state(ssl_);
  const bool ip = is_ip_literal(name_);
  // No SNI for IP literals (RFC 6066); names go in both SNI and the check.
  if (!ip && SSL_set_tlsext_host_name(ssl_, name_.c_str()) != 1)
    return fail("TLS setup failed: bad server name '" + name_ + "'");
  if (ctx_->verify()) {
    X509_VERIFY_PARAM* vp = SSL_get0_param(ssl_);
    int ok = 0;
    if (ip) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(vp, name_.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = X509_VERIFY_PARAM_set1_host(vp, name_.c_str(), 0);
    }
    if (ok != 1) return fail("TLS setup failed: cannot verify against '" + name_ + "'");
  }
  update_reading();
  handshake();
}

void TlsBridge::handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  std::string why;
  if (rc != 1 && SSL_get_error(ssl_, rc) != SSL_ERROR_WANT_READ) why = handshake_error();
  flush_tls();  // ClientHello, Finished, or our alert
  if (closing_ || released_) return;
  if (!why.empty()) return fail(std::move(why));
  if (rc == 1) {
    handshake_done_ = true;
    maybe_ready();
  }
}

std::string TlsBridge::handshake_error() {
  const long vr = SSL_get_verify_result(ssl_);
  if (ctx_->verify() && vr != X509_V_OK) {
    ERR_clear_error();
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH)
      return "TLS hostname mismatch: the server's certificate is not valid for '" + name_ + "'";
    if (vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
      return "TLS hostname mismatch: the server's certificate is not valid for the IP address " + name_;
    return std::string("TLS certificate verify failed: ") + X509_verify_cert_error_string(vr);
  }
  std::string r = ssl_error_text("the handshake was aborted");
  if (r.find("wrong version number") != std::string::npos || r.find("packet length") != std::string::npos)
    r += " (is this a TLS port?)";
  return "TLS handshake failed: " + r;
}

// A TLS 1.3 server checks our certificate only after our side of the
// handshake is done: when it refuses a missing one, its alert may be lost to
// the connection reset that follows (our first command was on its way).
std::string TlsBridge::after_handshake(std::string why) const {
  if (!got_data_ && !ctx_->has_client_cert())
    why += " (right after the TLS handshake, before any reply: the server may require a client certificate, "
           "see tls_cert_file/tls_key_file)";
  return why;
}

std::string TlsBridge::link_error(int uv_err) const {
  std::string why = std::string("TLS connection failed: ") + uv_strerror(uv_err);
  return handshake_done_ ? after_handshake(std::move(why)) : why;
}

void TlsBridge::maybe_ready() {
  if (ready_ || !accepted_ || !handshake_done_ || closing_ || released_) return;
  ready_ = true;
  update_reading();
  if (ev_.on_ready) {
    auto fn = ev_.on_ready;  // may close us
    fn();
  }
  if (closing_ || released_) return;
  pump_tls();  // application data that came with the last handshake flight
}

}  // namespace uvredis::detail
