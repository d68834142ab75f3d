#pragma once
// Layer tls (src/tls/): TLS under a link, for a hiredis that has none: the
// OpenSSL memory-BIO bridge and its uv TCP socket. May include: base.
//
// TLS for hiredis 0.14, which has neither TLS nor pluggable I/O: an
// in-process bridge on the connection's own loop. hiredis connects with
// redisAsyncConnectUnix to a private unix socket (in a fresh 0700 directory,
// unlinked as soon as the one expected peer, this very process, is
// accepted). The data itself does not cross that socket: once TLS is up the
// connection hands hiredis' output buffer to send() (OpenSSL with memory
// BIOs, then a uv TCP connection to the server) and feeds the decrypted
// replies (on_data) straight into hiredis' reader. The socket stays open
// only to carry the end of the link to hiredis (EOF), so teardown follows
// hiredis' usual path. First version relayed every byte through the socket:
// four more system calls per batch, about 0.7-0.85 of plaintext throughput
// against 0.8-0.95 now (uvredis-bench --tls, same run).
//
// Only the connection layer uses this (it is the only layer that may touch
// hiredis, uv or OpenSSL). Loop thread only.

#include <uvredis/options.hpp>

#include "base/uv_handle.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace spdlog {
class logger;
}

namespace uvredis::detail {

/// The OpenSSL client context built from a ClientOptions: loaded once per
/// Client (or Subscriber) and shared by its connections. Building never
/// throws: a file that cannot be loaded is reported by error().
class TlsContext {
 public:
  static std::shared_ptr<TlsContext> create(const ClientOptions& options,
                                            const std::shared_ptr<spdlog::logger>& log);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// Set when the context is unusable (a usage error: bad file, lone key).
  const std::optional<Error>& error() const noexcept { return error_; }
  ssl_ctx_st* get() const noexcept { return ctx_; }
  bool verify() const noexcept { return verify_; }
  /// tls_server_name, or empty to use the address's host.
  const std::string& server_name() const noexcept { return server_name_; }
  bool has_client_cert() const noexcept { return client_cert_; }

 private:
  TlsContext() = default;
  ssl_ctx_st* ctx_ = nullptr;
  bool verify_ = true;
  bool client_cert_ = false;
  std::string server_name_;
  std::optional<Error> error_;
};

/// One TLS link: created per connect attempt, released with close().
///
/// Lifetime: open() returns a bridge owned by the caller until close(); from
/// then on it owns itself and deletes itself after its last uv close
/// callback, calling `on_closed` just before (always from a close callback,
/// never inside a call the owner made). on_ready / on_error run from uv
/// callbacks only, at most once each, and never after close().
class TlsBridge {
 public:
  struct Events {
    std::function<void()> on_ready;                  // TLS handshake done and hiredis accepted
    std::function<void(std::string)> on_error;       // the bridge failed and is closing its sockets
    std::function<void()> on_closed;                 // every handle is closed; `this` goes next
    // Decrypted bytes from the server, in order, as they arrive (may close
    // the bridge). on_drain: the bytes waiting for the server fell below the
    // low-water mark after send() left the bridge congested().
    std::function<void(const char*, std::size_t)> on_data;
    std::function<void()> on_drain;
  };

  /// Starts listening on a fresh private unix socket and connecting to
  /// `ip`:`port`. `name` is what the certificate must be valid for (a host
  /// name or an IP literal). Null with `err` set when setting up failed.
  static TlsBridge* open(uv_loop_t* loop, std::shared_ptr<TlsContext> ctx, std::string name, const std::string& ip,
                         std::uint16_t port, bool keepalive, Events events, std::string& err);

  /// Where hiredis must connect; the file is removed once it has.
  const std::string& socket_path() const noexcept { return path_; }
  bool tcp_connected() const noexcept { return tcp_connected_; }
  bool handshake_done() const noexcept { return handshake_done_; }

  /// Encrypts `len` bytes for the server. False when the link failed
  /// (on_error runs, or ran). Only after on_ready, before close().
  bool send(const char* data, std::size_t len);
  /// True while so much waits for the server that the owner should hold
  /// its output until on_drain.
  bool congested() const;

  /// The owner lets go. Graceful: send close_notify and let it flush (bounded
  /// by a short linger) before closing; otherwise close at once.
  void close(bool graceful);

  TlsBridge(const TlsBridge&) = delete;
  TlsBridge& operator=(const TlsBridge&) = delete;

 private:
  struct WriteReq;

  TlsBridge(uv_loop_t* loop, std::shared_ptr<TlsContext> ctx, Events events);
  ~TlsBridge();

  bool listen(std::string& err);
  bool connect(const std::string& ip, std::uint16_t port, std::string& err);
  void remove_socket_file();

  void on_accept(int status);
  void on_tcp_connected(int status);
  void on_tcp_read(ssize_t nread, const uv_buf_t* buf);
  void on_pipe_read(ssize_t nread, const uv_buf_t* buf);
  void on_written(WriteReq* w, int status);

  void handshake();
  void maybe_ready();
  void pump_tls();
  bool encrypt(const char* data, std::size_t len);
  void flush_tls();
  void write_tcp(std::string data);
  void update_reading();
  void peer_finished();
  std::string handshake_error();
  std::string after_handshake(std::string why) const;
  std::string link_error(int uv_err) const;
  void fail(std::string msg);
  void close_all();
  void on_handle_closed();

  uv_loop_t* loop_;
  std::shared_ptr<TlsContext> ctx_;
  Events ev_;
  std::string name_;
  bool keepalive_ = true;
  ssl_st* ssl_ = nullptr;
  bio_st* net_in_ = nullptr;   // network -> OpenSSL
  bio_st* net_out_ = nullptr;  // OpenSSL -> network

  UvHandle<uv_pipe_t> listener_;
  UvHandle<uv_pipe_t> pipe_;  // hiredis' side
  UvHandle<uv_tcp_t> tcp_;    // the server's side
  UvHandle<uv_timer_t> linger_;
  uv_connect_t connect_req_{};
  uv_shutdown_t tcp_shutdown_{};
  uv_shutdown_t pipe_shutdown_{};
  int open_handles_ = 0;

  std::string dir_;
  std::string path_;
  std::string held_;  // plaintext waiting until OpenSSL can take it (renegotiation)

  bool accepted_ = false;
  bool tcp_connected_ = false;
  bool handshake_done_ = false;
  bool ready_ = false;
  bool peer_done_ = false;   // the server closed (close_notify or EOF): no more input
  bool released_ = false;    // close() was called
  bool closing_ = false;     // handles are being closed
  bool pipe_eof_ = false;    // hiredis closed its end
  bool pipe_shutdown_started_ = false;
  bool tcp_reading_ = false;
  bool pipe_reading_ = false;
  bool congested_ = false;  // direct mode: send() passed the high-water mark
  bool got_data_ = false;   // the server sent application data
  char buf_[64 * 1024];
};

}  // namespace uvredis::detail
