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

// Flow control towards the server: send() reports congestion once kHighWater
// bytes wait for the socket, and on_drain runs when fewer than kLowWater do.
constexpr std::size_t kHighWater = 4u << 20;
constexpr std::size_t kLowWater = 1u << 20;
// How long a graceful close may wait for close_notify to leave.
constexpr std::uint64_t kLingerMs = 1000;

bool is_ip_literal(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// The oldest error on OpenSSL's (thread-local) queue, which is the root
// cause, as readable text; the queue is left empty.
std::string ssl_error_text(const char* fallback = "unknown error") {
  unsigned long e = ERR_get_error();
  std::string out;
  if (e != 0) {
    if (const char* r = ERR_reason_error_string(e)) {
      out = r;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      out = buf;
    }
  } else {
    out = fallback;
  }
  ERR_clear_error();
  return out;
}

// A short base for the private socket directory: sun_path holds 108 bytes.
std::string temp_base() {
  const char* t = std::getenv("TMPDIR");
  if (t && *t == '/' && std::strlen(t) < 64) return t;
  return "/tmp";
}

std::size_t queued(uv_stream_t* s) { return s ? uv_stream_get_write_queue_size(s) : 0; }

}  // namespace

// ---------------------------------------------------------------- context

std::shared_ptr<TlsContext> TlsContext::create(const ClientOptions& o, const std::shared_ptr<spdlog::logger>& logger) {
  auto log = logger_or_silent(logger);
  std::shared_ptr<TlsContext> c(new TlsContext());
  auto bad = [&](std::string msg) {
    c->error_ = Error{ErrorKind::usage, std::move(msg)};
    log->error("{}", c->error_->message);
    return c;
  };
  ERR_clear_error();
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!c->ctx_) return bad("cannot create a TLS context: " + ssl_error_text());
  SSL_CTX_set_min_proto_version(c->ctx_, TLS1_2_VERSION);
  // held bytes are retried from another buffer (see encrypt)
  SSL_CTX_set_mode(c->ctx_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  c->server_name_ = o.tls_server_name;
  c->verify_ = !o.tls_insecure_skip_verify;
  if (c->verify_) {
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
    if (!o.tls_ca_file.empty() || !o.tls_ca_dir.empty()) {
      const char* file = o.tls_ca_file.empty() ? nullptr : o.tls_ca_file.c_str();
      const char* dir = o.tls_ca_dir.empty() ? nullptr : o.tls_ca_dir.c_str();
      if (SSL_CTX_load_verify_locations(c->ctx_, file, dir) != 1)
        return bad("cannot load TLS CA certificates from '" + (file ? o.tls_ca_file : o.tls_ca_dir) +
                   "': " + ssl_error_text());
    } else if (SSL_CTX_set_default_verify_paths(c->ctx_) != 1) {
      return bad("cannot load the system's CA certificates: " + ssl_error_text());
    }
  } else {
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_NONE, nullptr);
    log->warn("tls_insecure_skip_verify is set: the certificate of {} is NOT verified; anyone on the path can "
              "read and change this traffic",
              o.address.to_string());
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty())
    return bad("tls_cert_file and tls_key_file must be given together");
  if (!o.tls_cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(c->ctx_, o.tls_cert_file.c_str()) != 1)
      return bad("cannot load the TLS client certificate '" + o.tls_cert_file + "': " + ssl_error_text());
    if (SSL_CTX_use_PrivateKey_file(c->ctx_, o.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return bad("cannot load the TLS client key '" + o.tls_key_file + "': " + ssl_error_text());
    if (SSL_CTX_check_private_key(c->ctx_) != 1)
      return bad("the TLS client key '" + o.tls_key_file + "' does not match '" + o.tls_cert_file + "'");
    c->client_cert_ = true;
  }
  return c;
}

TlsContext::~TlsContext() {
  if (ctx_) SSL_CTX_free(ctx_);  // SSL objects still alive hold their own reference
}

// ---------------------------------------------------------------- bridge

struct TlsBridge::WriteReq {
  uv_write_t req{};
  TlsBridge* self = nullptr;
  std::string data;
};

TlsBridge::TlsBridge(uv_loop_t* loop, std::shared_ptr<TlsContext> ctx, Events events)
    : loop_(loop), ctx_(std::move(ctx)), ev_(std::move(events)) {}

TlsBridge::~TlsBridge() {
  remove_socket_file();
  if (ssl_) {
    SSL_free(ssl_);  // and the BIOs it owns
  } else {
    if (net_in_) BIO_free(net_in_);
    if (net_out_) BIO_free(net_out_);
  }
}

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

void TlsBridge::on_tcp_read(ssize_t nread, const uv_buf_t* buf) {
  if (closing_ || released_ || nread == 0) return;
  if (nread < 0) {
    if (nread == UV_EOF) {
      if (!handshake_done_) return fail("TLS handshake failed: the server closed the connection");
      return peer_finished();
    }
    if (!handshake_done_) return fail(std::string("TLS handshake failed: ") + uv_strerror(static_cast<int>(nread)));
    return fail(link_error(static_cast<int>(nread)));
  }
  BIO_write(net_in_, buf->base, static_cast<int>(nread));
  if (!handshake_done_)
    handshake();
  else if (ready_)
    pump_tls();
}

// Decrypts what the server sent and hands it to the owner (hiredis' reader).
void TlsBridge::pump_tls() {
  bool notified = false;  // the server sent close_notify
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(ssl_, buf_, static_cast<int>(sizeof buf_));
    if (n > 0) {
      got_data_ = true;
      if (ev_.on_data) ev_.on_data(buf_, static_cast<std::size_t>(n));  // may close us
      if (closing_ || released_) return;
      continue;
    }
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      notified = true;
      break;
    }
    flush_tls();  // an alert of ours, if any, before we go
    return fail("TLS error: " + ssl_error_text());
  }
  flush_tls();  // key updates and the like
  if (closing_) return;
  if (!held_.empty()) {
    std::string h = std::move(held_);
    held_.clear();
    if (!encrypt(h.data(), h.size())) return;
    flush_tls();
    if (closing_) return;
  }
  if (notified) return peer_finished();
  update_reading();
}

bool TlsBridge::send(const char* data, std::size_t len) {
  if (closing_ || released_ || !ready_) return false;
  if (!encrypt(data, len)) return false;
  flush_tls();
  if (closing_) return false;
  if (queued(reinterpret_cast<uv_stream_t*>(tcp_.get())) >= kHighWater) congested_ = true;
  return true;
}

bool TlsBridge::congested() const { return congested_; }

// hiredis writes nothing to the private socket (its output reaches send()):
// the socket only tells each side when the other is gone.
void TlsBridge::on_pipe_read(ssize_t nread, const uv_buf_t*) {
  if (closing_ || released_ || nread == 0) return;
  if (nread > 0) return fail("TLS bridge: unexpected bytes on the private socket");
  if (nread != UV_EOF) return fail(std::string("TLS bridge: ") + uv_strerror(static_cast<int>(nread)));
  pipe_eof_ = true;
  update_reading();
}

// Hands plaintext to OpenSSL. With memory BIOs a write takes all or nothing;
// it can only be refused while a renegotiation waits for the server, and
// then the bytes are held (and reading from hiredis paused) until it answers.
bool TlsBridge::encrypt(const char* data, std::size_t len) {
  if (!held_.empty()) {
    held_.append(data, len);
    return true;
  }
  ERR_clear_error();
  int n = SSL_write(ssl_, data, static_cast<int>(len));
  if (n > 0 && static_cast<std::size_t>(n) == len) return true;
  int e = SSL_get_error(ssl_, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    held_.assign(data, len);
    return true;
  }
  fail("TLS error: " + ssl_error_text());
  return false;
}

// Sends whatever OpenSSL produced to the server.
void TlsBridge::flush_tls() {
  if (!net_out_ || !tcp_ || closing_) return;
  const std::size_t n = BIO_ctrl_pending(net_out_);
  if (n == 0) return;
  std::string s(n, '\0');
  BIO_read(net_out_, s.data(), static_cast<int>(n));
  write_tcp(std::move(s));
}

void TlsBridge::write_tcp(std::string data) {
  auto* s = reinterpret_cast<uv_stream_t*>(tcp_.get());
  if (!s || data.empty() || closing_) return;
  if (queued(s) == 0) {
    uv_buf_t b = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
    int n = uv_try_write(s, &b, 1);
    if (n == static_cast<int>(data.size())) return;
    if (n > 0) {
      data.erase(0, static_cast<std::size_t>(n));
    } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
      return fail(link_error(n));
    }
  }
  auto* w = new WriteReq();
  w->self = this;
  w->data = std::move(data);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, s, &b, 1, [](uv_write_t* r, int status) {
    auto* wr = static_cast<WriteReq*>(r->data);
    wr->self->on_written(wr, status);
  });
  if (rc != 0) {
    delete w;
    fail(link_error(rc));
  }
}

void TlsBridge::on_written(WriteReq* w, int status) {
  delete w;
  if (closing_ || released_) return;
  if (status < 0) return fail(link_error(status));
  update_reading();
  if (congested_ && queued(reinterpret_cast<uv_stream_t*>(tcp_.get())) < kLowWater) {
    congested_ = false;
    if (ev_.on_drain) ev_.on_drain();
  }
}

// Reads the server while it may send, and the private socket for its end.
void TlsBridge::update_reading() {
  if (closing_) return;
  auto* tcp = reinterpret_cast<uv_stream_t*>(tcp_.get());
  auto* pipe = reinterpret_cast<uv_stream_t*>(pipe_.get());
  // Replies go to the owner as they are decrypted: nothing to hold back.
  const bool want_tcp = !released_ && tcp && tcp_connected_ && !peer_done_;
  const bool want_pipe = !released_ && pipe && ready_ && !pipe_eof_;
  auto alloc = [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
    auto* self = static_cast<TlsBridge*>(h->data);
    *b = uv_buf_init(self->buf_, sizeof self->buf_);
  };
  if (want_tcp != tcp_reading_) {
    tcp_reading_ = want_tcp;
    if (want_tcp)
      uv_read_start(tcp, alloc, [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        static_cast<TlsBridge*>(s->data)->on_tcp_read(n, b);
      });
    else
      uv_read_stop(tcp);
  }
  if (want_pipe != pipe_reading_) {
    pipe_reading_ = want_pipe;
    if (want_pipe)
      uv_read_start(pipe, alloc, [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        static_cast<TlsBridge*>(s->data)->on_pipe_read(n, b);
      });
    else
      uv_read_stop(pipe);
  }
}

// The server is done sending (close_notify or EOF): replies already
// decrypted still reach hiredis, then it sees the end of its stream.
void TlsBridge::peer_finished() {
  peer_done_ = true;
  update_reading();
  if (!ready_) return fail("TLS connection closed by the server");
  if (!got_data_) return fail(after_handshake("TLS connection closed by the server"));
  if (pipe_shutdown_started_) return;
  pipe_shutdown_started_ = true;
  if (uv_shutdown(&pipe_shutdown_, reinterpret_cast<uv_stream_t*>(pipe_.get()), [](uv_shutdown_t*, int) {}) != 0)
    close_all();
}

void TlsBridge::fail(std::string msg) {
  if (closing_) return;
  auto fn = std::move(ev_.on_error);
  ev_.on_error = nullptr;
  ev_.on_ready = nullptr;
  close_all();
  if (fn && !released_) fn(std::move(msg));
}

void TlsBridge::close(bool graceful) {
  if (released_) return;
  released_ = true;
  ev_.on_ready = nullptr;
  ev_.on_error = nullptr;
  if (closing_) {
    linger_.close();  // the other handles are already closing
    return;
  }
  remove_socket_file();
  if (graceful && handshake_done_ && !peer_done_ && tcp_) {
    // hiredis is gone: close its side, say close_notify, let it flush.
    update_reading();
    listener_.close();
    pipe_.close();
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
    flush_tls();
    if (closing_) return;
    tcp_shutdown_.data = this;
    if (uv_shutdown(&tcp_shutdown_, reinterpret_cast<uv_stream_t*>(tcp_.get()), [](uv_shutdown_t* r, int) {
          static_cast<TlsBridge*>(r->data)->close_all();
        }) == 0) {
      uv_timer_start(
          linger_.get(), [](uv_timer_t* t) { static_cast<TlsBridge*>(t->data)->close_all(); }, kLingerMs, 0);
      return;
    }
  }
  close_all();
}

void TlsBridge::close_all() {
  if (closing_) return;
  closing_ = true;
  remove_socket_file();
  listener_.close();
  pipe_.close();
  tcp_.close();
  if (released_) linger_.close();
}

void TlsBridge::on_handle_closed() {
  if (--open_handles_ > 0) return;
  auto fn = std::move(ev_.on_closed);
  delete this;
  if (fn) fn();
}

}  // namespace uvredis::detail
