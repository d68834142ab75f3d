#pragma once
// The transport under one Connection: the one redisAsyncContext of the
// current link (hiredis' socket, reader and output buffer), the uv poll
// handle that drives it, hiredis' event hooks, and for rediss:// the TLS
// bridge hiredis talks through. It only moves bytes and reports events
// (connected, readable, writable, write wanted, closing/closed, handle
// closed, TLS errors) to its owner, which keeps the request queue and the
// link machine. Plain TCP, unix socket or TLS.
//
// Lifetime: a member of its owner; one context at a time, from open_*() until
// hiredis tears it down (reported through Events::closing/closed). Its uv
// handles count in open_handles() until their close callbacks ran. Loop
// thread only.
//
// The small accessors used for every command (append, out_len, next_reply)
// are inline here: the hot path pays no call for the split.

#include "base/uv_handle.hpp"

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}

#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace uvredis::detail {

class TlsBridge;
class TlsContext;

class Transport {
 public:
  /// What the transport reports to its owner (always from loop callbacks,
  /// never from inside an open_*() call).
  class Events {
   public:
    /// hiredis' connect callback (REDIS_OK when up; for TLS, only once the
    /// TLS handshake is done as well). On failure errstr() says why, and the
    /// context is torn down right after (closing/closed follow).
    virtual void transport_connected(bool ok) = 0;
    /// The socket has input (plain links): call read() and feed().
    virtual void transport_readable() = 0;
    /// The socket turned writable after a short write (connected links).
    virtual void transport_writable() = 0;
    /// hiredis has output to write and nothing is writing: flush soon.
    virtual void transport_write_wanted() = 0;
    /// Decrypted input from the TLS bridge (connected links).
    virtual void transport_tls_data(const char* data, std::size_t len) = 0;
    /// The TLS bridge failed (it closes its sockets; hiredis would see a bare EOF).
    virtual void transport_tls_error(std::string msg) = 0;
    /// The TLS bridge can take output again.
    virtual void transport_drained() = 0;
    /// The context is being torn down; errstr() still answers. Returns
    /// whether a TLS link ends gracefully (close_notify).
    virtual bool transport_closing() = 0;
    /// The context is gone (up() is false).
    virtual void transport_closed() = 0;
    /// One of the transport's uv handles (or the bridge) finished closing.
    virtual void transport_handle_closed() = 0;

   protected:
    ~Events() = default;
  };

  enum class Open { ok, no_memory, failed, unwatchable };

  Transport(uv_loop_t* loop, Events* ev, void* reader_owner) : loop_(loop), ev_(ev), reader_owner_(reader_owner) {}
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  /// Connects over TCP to a numeric address. On failure `why` is hiredis'
  /// message (or uv's, for unwatchable).
  Open open_tcp(const std::string& ip, int port, bool keepalive, std::string& why);
  Open open_unix(const std::string& path, std::string& why);
  /// TLS through a bridge: hiredis talks to the bridge's private unix
  /// socket. On failure `why` says what failed (bridge or hiredis).
  Open open_tls(const std::shared_ptr<TlsContext>& tls, std::string server_name, const std::string& ip, int port,
                bool keepalive, std::string& why);

  /// A context exists (from open_*() until closed).
  bool up() const noexcept { return ac_ != nullptr; }
  /// hiredis counts the socket as connected.
  bool connected() const noexcept { return ac_ && (ac_->c.flags & REDIS_CONNECTED); }
  bool reading() const noexcept { return reading_; }
  /// A short write left output waiting for POLLOUT.
  bool want_writable() const noexcept { return want_writable_; }

  // --- output (hiredis' output buffer)
  std::size_t out_len() const noexcept { return sdslen(ac_->c.obuf); }
  /// A formatted command into the output buffer; false when memory ran out.
  bool append(const char* bytes, std::size_t len) {
    return redisAppendFormattedCommand(&ac_->c, bytes, len) == REDIS_OK;
  }
  /// Raw bytes (a slice of a big command) into the output buffer.
  bool append_raw(std::string_view bytes) {
    sds grown = sdscatlen(ac_->c.obuf, bytes.data(), bytes.size());
    if (grown == nullptr) return false;
    ac_->c.obuf = grown;
    return true;
  }
  /// One write of the output buffer to the socket (as hiredis' write path
  /// does it: a short write arms POLLOUT, a failure tears the context down).
  void write();
  /// TLS up: output goes straight to the bridge ...
  bool tls_direct() const noexcept { return bridge_ && tls_ready_; }
  /// ... which wants us to wait for transport_drained.
  bool tls_congested() const noexcept;
  /// The output buffer into the bridge.
  void write_tls();
  /// A TLS link whose TCP connect is done but whose handshake is not.
  bool tls_handshake_stalled() const noexcept;

  // --- input (hiredis' reader)
  /// One read of the socket into `buf`: bytes read, 0 when nothing is
  /// there yet, -1 on error or EOF (recorded in the context).
  long read(char* buf, std::size_t cap);
  /// Into hiredis' reader; false when it failed (recorded in the context).
  bool feed(const char* data, std::size_t len) {
    if (redisReaderFeed(reader_, data, len) == REDIS_OK) return true;
    take_reader_error();
    return false;
  }
  /// The next complete reply (a Reply* built by ReplyBuilder) or null; false
  /// when the reader failed (recorded in the context: call fail_read()).
  bool next_reply(void** obj) {
    if (redisReaderGetReply(reader_, obj) == REDIS_OK) return true;
    take_reader_error();
    return false;
  }
  /// Bytes the reader holds that no reply consumed yet.
  std::size_t reader_buffered() const noexcept { return reader_->len - reader_->pos; }

  // --- errors and teardown
  /// hiredis' disconnect path for an error recorded in the context (read,
  /// EOF, reader): tears the context down now.
  void fail_read() { redisAsyncHandleRead(ac_); }
  /// A protocol error of our own, then hiredis' disconnect path.
  void fail_protocol(const char* msg);
  /// Frees the context now (not from inside hiredis): fails nothing of
  /// ours, runs the teardown events.
  void drop() {
    if (ac_) redisAsyncFree(ac_);
  }
  const char* errstr() const noexcept { return ac_ ? ac_->c.errstr : ""; }
  bool protocol_error() const noexcept { return ac_ && ac_->c.err == REDIS_ERR_PROTOCOL; }

  /// Closes the handles for good (the owner is closing); the bridge too.
  void close_handles();
  /// uv handles (and the bridge) not yet closed.
  int open_handles() const noexcept { return open_; }

 private:
  Open attach(redisAsyncContext* ac, bool keepalive, std::string& why);
  void release_bridge(bool graceful);
  void update_poll();
  void on_poll(int status, int events);
  void on_tls_ready();
  void on_tls_data(const char* data, std::size_t len);
  void on_connected(int status);
  void take_reader_error();
  void handle_closed();

  static void hook_add_read(void* p);
  static void hook_del_read(void* p);
  static void hook_add_write(void* p);
  static void hook_del_write(void* p);
  static void hook_cleanup(void* p);
  static void connect_cb(const redisAsyncContext* ac, int status);
  static void disconnect_cb(const redisAsyncContext* ac, int status);

  uv_loop_t* loop_;
  Events* ev_;
  void* reader_owner_;  // the reader's privdata (ReplyBuilder's Connection)
  redisAsyncContext* ac_ = nullptr;
  redisReader* reader_ = nullptr;  // ac_->c.reader, kept at hand for the per-reply calls
  UvHandle<uv_poll_t> poll_;
  int open_ = 0;
  int poll_events_ = 0;
  bool reading_ = false;
  bool want_writable_ = false;
  bool in_write_ = false;
  // write() keeps an output buffer of up to this size for the next command.
  static constexpr std::size_t kKeptOutputBytes = 16 * 1024;
  // rediss://: the TLS bridge of the current link (it counts as one open
  // handle until it reports itself closed), and which of its two halves is up.
  TlsBridge* bridge_ = nullptr;
  bool tls_ready_ = false;
  bool hiredis_up_ = false;
  std::string tls_early_;  // decrypted before hiredis was connected
};

}  // namespace uvredis::detail
