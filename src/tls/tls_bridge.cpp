// TlsBridge once linked: reading and decrypting, encrypting and writing with flow control, closing.
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

std::size_t queued(uv_stream_t* s) { return s ? uv_stream_get_write_queue_size(s) : 0; }

}  // namespace

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
