#include "link/transport.hpp"

#include "link/hiredis_replies.hpp"
#ifdef UVREDIS_HAVE_TLS
#include "tls/tls_bridge.hpp"
#endif

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

// The transport: hiredis' async context on a uv poll handle, plain or
// through the TLS bridge. Bytes and events only; what they mean is the
// Connection's business.

namespace uvredis::detail {

Transport::Open Transport::open_tcp(const std::string& ip, int port, bool keepalive, std::string& why) {
  redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), port);
  if (ac == nullptr) return Open::no_memory;
  if (ac->err) {
    why = ac->errstr;
    redisAsyncFree(ac);
    return Open::failed;
  }
  return attach(ac, keepalive, why);
}

Transport::Open Transport::open_unix(const std::string& path, std::string& why) {
  redisAsyncContext* ac = redisAsyncConnectUnix(path.c_str());
  if (ac == nullptr || ac->err) {
    why = ac ? std::string(ac->errstr) : std::string("out of memory");
    if (ac) redisAsyncFree(ac);
    return Open::failed;
  }
  return attach(ac, false, why);
}

// TLS: hiredis talks to the bridge's unix socket, which accepts at once, so
// its connect callback says nothing about the server. The link counts as up
// once the TLS handshake is done (on_tls_ready) and hiredis is connected.
Transport::Open Transport::open_tls(const std::shared_ptr<TlsContext>& tls, std::string server_name,
                                    const std::string& ip, int port, bool keepalive, std::string& why) {
#ifdef UVREDIS_HAVE_TLS
  TlsBridge::Events ev;
  ev.on_ready = [this] { on_tls_ready(); };
  ev.on_error = [this](std::string msg) { ev_->transport_tls_error(std::move(msg)); };
  ev.on_closed = [this] { handle_closed(); };
  // hiredis' output and the decrypted replies pass between hiredis' buffers
  // and the bridge in memory; the private socket only tells hiredis when the
  // link ends.
  ev.on_data = [this](const char* data, std::size_t len) { on_tls_data(data, len); };
  ev.on_drain = [this] { ev_->transport_drained(); };
  TlsBridge* b = TlsBridge::open(loop_, tls, std::move(server_name), ip, port, keepalive, std::move(ev), why);
  if (!b) return Open::failed;
  ++open_;
  bridge_ = b;
  tls_ready_ = false;
  hiredis_up_ = false;
  tls_early_.clear();
  const std::string path = b->socket_path();
  redisAsyncContext* ac = redisAsyncConnectUnix(path.c_str());
  if (ac == nullptr || ac->err) {
    why = "TLS bridge: " + (ac ? std::string(ac->errstr) : std::string("out of memory"));
    if (ac) redisAsyncFree(ac);
    release_bridge(false);
    return Open::failed;
  }
  return attach(ac, false, why);
#else
  (void)tls, (void)server_name, (void)ip, (void)port, (void)keepalive;
  why = "TLS is not supported by this build";
  return Open::failed;
#endif
}

Transport::Open Transport::attach(redisAsyncContext* ac, bool keepalive, std::string& why) {
  uv_poll_t* p = poll_.allocate([](void* self) { static_cast<Transport*>(self)->handle_closed(); }, this);
  if (int rc = uv_poll_init_socket(loop_, p, ac->c.fd); rc != 0) {
    poll_.discard();
    redisAsyncFree(ac);
    release_bridge(false);
    why = uv_strerror(rc);
    return Open::unwatchable;
  }
  p->data = this;
  ++open_;
  poll_events_ = 0;
  reading_ = false;
  want_writable_ = false;
  ac_ = ac;
  reader_ = ac->c.reader;
  ac->c.reader->fn = reply_functions();
  ac->c.reader->privdata = reader_owner_;
  ac->data = this;
  // (With TLS hiredis is on a unix socket; the bridge sets keepalive on TCP.)
  if (keepalive && !bridge_) redisEnableKeepAlive(&ac->c);

  // Hooks first: setting the connect callback arms the write event.
  ac->ev.data = this;
  ac->ev.addRead = &hook_add_read;
  ac->ev.delRead = &hook_del_read;
  ac->ev.addWrite = &hook_add_write;
  ac->ev.delWrite = &hook_del_write;
  ac->ev.cleanup = &hook_cleanup;
  redisAsyncSetDisconnectCallback(ac, &disconnect_cb);
  redisAsyncSetConnectCallback(ac, &connect_cb);
  return Open::ok;
}

void Transport::connect_cb(const redisAsyncContext* ac, int status) {
  static_cast<Transport*>(ac->data)->on_connected(status);
}

void Transport::disconnect_cb(const redisAsyncContext*, int) {
  // Everything is handled in hook_cleanup, which runs on every teardown
  // path (this callback does not run after a failed connect).
}

void Transport::on_connected(int status) {
  if (status != REDIS_OK) {
    ev_->transport_connected(false);  // hiredis frees the context right after this; hook_cleanup follows
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
    if (!ac_) return;
  }
  ev_->transport_connected(true);
}

void Transport::on_tls_ready() {
  tls_ready_ = true;
  if (hiredis_up_) ev_->transport_connected(true);
}

void Transport::on_tls_data(const char* data, std::size_t len) {
  if (!ac_) return;  // hiredis is gone: the link is ending
  if (!(ac_->c.flags & REDIS_CONNECTED)) {
    tls_early_.append(data, len);
    return;
  }
  ev_->transport_tls_data(data, len);
}

// Direct mode: hiredis' output buffer goes to the bridge, not to the socket.
void Transport::write_tls() {
#ifdef UVREDIS_HAVE_TLS
  const std::size_t n = sdslen(ac_->c.obuf);
  if (n == 0 || bridge_->congested()) return;
  bridge_->send(ac_->c.obuf, n);  // on failure the bridge reports through transport_tls_error
  if (ac_) sdsclear(ac_->c.obuf);
#endif
}

bool Transport::tls_congested() const noexcept {
#ifdef UVREDIS_HAVE_TLS
  return bridge_ && bridge_->congested();
#else
  return false;
#endif
}

bool Transport::tls_handshake_stalled() const noexcept {
#ifdef UVREDIS_HAVE_TLS
  return bridge_ && bridge_->tcp_connected() && !bridge_->handshake_done();
#else
  return false;
#endif
}

void Transport::release_bridge(bool graceful) {
#ifdef UVREDIS_HAVE_TLS
  if (bridge_) bridge_->close(graceful);  // counted in open_ until it reports closed
#else
  (void)graceful;
#endif
  bridge_ = nullptr;
  tls_ready_ = false;
  hiredis_up_ = false;
}

// What hiredis' redisBufferRead does (one read, the error recorded in the
// context), leaving the bytes to the owner (the reply guard sees them before
// hiredis' reader buffers them).
long Transport::read(char* buf, std::size_t cap) {
  redisContext* c = &ac_->c;
  if (c->err) return -1;
  const ssize_t n = ::read(c->fd, buf, cap);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;  // nothing yet
    c->err = REDIS_ERR_IO;
    std::snprintf(c->errstr, sizeof c->errstr, "%s", std::strerror(errno));
    return -1;
  }
  if (n == 0) {
    c->err = REDIS_ERR_EOF;
    std::snprintf(c->errstr, sizeof c->errstr, "%s", "Server closed the connection");
    return -1;
  }
  return static_cast<long>(n);
}

void Transport::take_reader_error() {
  ac_->c.err = ac_->c.reader->err;
  std::snprintf(ac_->c.errstr, sizeof ac_->c.errstr, "%s", ac_->c.reader->errstr);
}

void Transport::fail_protocol(const char* msg) {
  if (!ac_) return;
  ac_->c.err = REDIS_ERR_PROTOCOL;
  std::snprintf(ac_->c.errstr, sizeof ac_->c.errstr, "%s", msg);
  redisAsyncHandleRead(ac_);
}

void Transport::close_handles() {
  release_bridge(false);  // normally gone already, with its context
  poll_.close();
}

void Transport::handle_closed() {
  --open_;
  ev_->transport_handle_closed();  // may delete the owner, and this with it
}

void Transport::on_poll(int status, int events) {
  if (status < 0) {
    // libuv stopped the handle. hiredis' own adapter returns here and the
    // connect callback never runs; we let hiredis meet the error instead.
    poll_events_ = 0;
    events = UV_READABLE | UV_WRITABLE;
  }
  if (!ac_) return;
  if (events & UV_WRITABLE) {
    if (!(ac_->c.flags & REDIS_CONNECTED))
      write();
    else
      ev_->transport_writable();
  }
  if (ac_ && (events & UV_READABLE) && (ac_->c.flags & REDIS_CONNECTED)) ev_->transport_readable();
  if (ac_ && status < 0) update_poll();
}

// hiredis' write path frees the output buffer after every complete write
// and makes a new empty one, which the next command grows again: a free, a
// calloc and a realloc per write, most of a round trip's user-space work
// when one command or message is in flight at a time. The complete write
// is done here instead and the buffer cleared, keeping its allocation
// (when small: a big one goes back as hiredis lets it). Anything else (a
// short write, a full socket, an error, not yet connected) goes through
// hiredis' path, which writes what is left and arms POLLOUT, or tears the
// context down, as it always does.
void Transport::write() {
  redisContext& c = ac_->c;
  const std::size_t len = sdslen(c.obuf);
  if (len > 0 && (c.flags & REDIS_CONNECTED) && c.err == 0 && sdsalloc(c.obuf) <= kKeptOutputBytes) {
    const ssize_t n = ::write(c.fd, c.obuf, len);
    if (n == static_cast<ssize_t>(len)) {
      sdsclear(c.obuf);
      hook_del_write(this);  // what hiredis does after a complete write
      hook_add_read(this);
      return;
    }
    if (n > 0) sdsrange(c.obuf, static_cast<int>(n), -1);
  }
  // Restored, not cleared: a write made from the connect callback runs
  // inside hiredis' write of the connect, which goes on after it.
  const bool outer = std::exchange(in_write_, true);
  redisAsyncHandleWrite(ac_);
  in_write_ = outer;
}

void Transport::update_poll() {
  if (!poll_) return;
  int ev = (reading_ ? UV_READABLE : 0) | (want_writable_ ? UV_WRITABLE : 0);
  if (ev == poll_events_) return;
  poll_events_ = ev;
  if (ev == 0) {
    uv_poll_stop(poll_.get());
  } else {
    uv_poll_start(poll_.get(), ev,
                  [](uv_poll_t* h, int status, int events) { static_cast<Transport*>(h->data)->on_poll(status, events); });
  }
}

void Transport::hook_add_read(void* p) {
  auto* t = static_cast<Transport*>(p);
  t->reading_ = true;
  t->update_poll();
}

void Transport::hook_del_read(void* p) {
  auto* t = static_cast<Transport*>(p);
  t->reading_ = false;
  t->update_poll();
}

void Transport::hook_add_write(void* p) {
  auto* t = static_cast<Transport*>(p);
  // While connecting, or when a write came up short, wait for POLLOUT.
  // Otherwise new bytes are waiting: the owner flushes once, before the
  // loop polls.
  if (!t->ac_ || !(t->ac_->c.flags & REDIS_CONNECTED) || t->in_write_) {
    t->want_writable_ = true;
    t->update_poll();
  } else {
    t->ev_->transport_write_wanted();
  }
}

void Transport::hook_del_write(void* p) {
  auto* t = static_cast<Transport*>(p);
  t->want_writable_ = false;
  t->update_poll();
}

// Runs on every teardown path of the context, just before hiredis closes
// the fd and frees it.
void Transport::hook_cleanup(void* p) {
  auto* t = static_cast<Transport*>(p);
  if (!t->ac_) return;
  // A close the owner asked for says close_notify; failures just cut the link.
  const bool graceful = t->ev_->transport_closing();
  t->release_bridge(graceful);
  t->poll_.close();  // the fd is still open: hiredis closes it after this hook
  t->poll_events_ = 0;
  t->reading_ = false;
  t->want_writable_ = false;
  t->ac_ = nullptr;
  t->reader_ = nullptr;
  t->ev_->transport_closed();
}

}  // namespace uvredis::detail
