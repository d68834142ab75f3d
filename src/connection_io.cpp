#include "connection.hpp"

#include "encode.hpp"
#include "hiredis_replies.hpp"
#include "logging.hpp"

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>

// Connection, part 2: the libuv adapter for hiredis (poll, prepare-driven
// flush), replies, commands, timeouts and deferred work.

namespace uvredis::detail {

// Runs fn on a later loop turn through a self-closing timer: for the rare
// completions that arrive after the connection's own handles are gone.
void post_detached(uv_loop_t* loop, detail::Function<void()> fn) {
  struct Box {
    uv_timer_t timer;
    detail::Function<void()> fn;
  };
  auto* b = new Box{};
  b->fn = std::move(fn);
  uv_timer_init(loop, &b->timer);
  b->timer.data = b;
  uv_timer_start(
      &b->timer,
      [](uv_timer_t* t) {
        auto* box = static_cast<Box*>(t->data);
        auto f = std::move(box->fn);
        uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete static_cast<Box*>(h->data); });
        if (f) f();
      },
      0, 0);
}

namespace {
constexpr std::size_t kHandoffBytes = 256 * 1024;
// Slices of a big command handed per loop turn (about 1 ms of copying each
// at memory speed, and a write): bounded work per turn, whatever the size.
constexpr int kSlicesPerTurn = 8;
// submit_owned: below this a command is encoded as usual (one copy is cheap);
// arguments from kOwnedPieceBytes up are written from the caller's strings.
constexpr std::size_t kOwnedMinBytes = 1024 * 1024;
constexpr std::size_t kOwnedPieceBytes = 64 * 1024;
}  // namespace

// ----------------------------------------------------------------------- I/O

void Connection::schedule_flush() {
  if (flush_scheduled_ || !prepare_) return;
  flush_scheduled_ = true;
  uv_prepare_start(prepare_.get(), [](uv_prepare_t* p) { static_cast<Connection*>(p->data)->flush(false); });
}

void Connection::hand(Request&& r, const char* bytes, std::size_t len) {
  // Straight into hiredis' output buffer, no hiredis callback record: our
  // own read path answers the request (drain_replies). `len` may be a
  // first slice of the command.
  const int rc = redisAppendFormattedCommand(&ac_->c, bytes, len);
  if (rc != REDIS_OK) {
    complete(r, drop_error());
    return;
  }
  if (!r.internal) {
    ++stats_.sent;
    ++stats_.in_flight;
  }
  r.stage = Stage::written;
  inflight_.push_back(std::move(r));
}

// Once per loop turn (prepare) or when the socket turns writable: move
// commands from our queue into hiredis, a bounded amount at a time (hiredis
// 0.14 memmoves its whole buffer after a partial write), and write.
void Connection::flush(bool from_writable) {
  flush_scheduled_ = false;
  uv_prepare_stop(prepare_.get());
  if (!ac_ || in_flush_ || !(ac_->c.flags & REDIS_CONNECTED)) return;
  in_flush_ = true;
  int slices = 0;
  for (;;) {
    if (link_ == Link::handshaking && !handshake_.empty()) {
      std::size_t off = 0;
      auto hs = std::move(handshake_);
      handshake_.clear();
      for (auto& r : hs) {
        const char* bytes = handshake_bytes_.data() + off;
        off += r.len;
        hand(std::move(r), bytes, r.len);
        if (!ac_) break;
      }
      handshake_bytes_.clear();
    }
    if (link_ == Link::ready) {
      // The rest of a big command goes first, a slice per pass: a 512 MB
      // value is never copied into hiredis' buffer (nor memmoved there after
      // a partial write) in one loop turn.
      if (ac_ && tail_left_ > 0 && sdslen(ac_->c.obuf) < kHandoffBytes && !hand_tail_slice()) break;
      std::size_t group_left = 0;  // members of a group still to hand in this pass
      while (ac_ && tail_left_ == 0 && !queued_.empty() &&
             (group_left > 0 || sdslen(ac_->c.obuf) < kHandoffBytes)) {
        Request& r = queued_.front();
        if (group_left > 0)
          --group_left;
        else if (r.group > 1)
          group_left = r.group - 1;
        if (r.owned) {
          // Its bytes are in bodies_.front(): the head (which names the
          // command) now, the moved arguments a slice at a time.
          if (r.completed()) {
            bodies_.pop_front();
            queued_.pop_front();
            continue;
          }
          const std::string& head = bodies_.front().front();
          tail_owned_ = true;
          tail_piece_ = 1;
          tail_off_ = 0;
          tail_left_ = r.len - head.size();
          queued_bytes_ -= head.size();
          if (!r.internal) --stats_.queued;
          Request moved = std::move(r);
          queued_.pop_front();
          hand(std::move(moved), head.data(), head.size());
          if (tail_left_ == 0) end_tail();
          continue;
        }
        const char* bytes = out_.data() + out_pos_;
        if (!r.completed()) {
          // A group (MULTI ... EXEC) is handed whole: a drop must never
          // leave half of it to go out on the next link.
          const std::size_t first = (r.group == 1 && r.len > kHandoffBytes) ? kHandoffBytes : r.len;
          out_pos_ += first;
          tail_left_ = r.len - first;
          queued_bytes_ -= first;
          if (!r.internal) --stats_.queued;
          Request moved = std::move(r);
          queued_.pop_front();
          hand(std::move(moved), bytes, first);
        } else {
          out_pos_ += r.len;
          queued_.pop_front();
        }
      }
      if (queued_.empty() && tail_left_ == 0) {
        out_.clear();
        out_pos_ = 0;
      } else if (out_pos_ > (1u << 20) && out_pos_ * 2 > out_.size()) {
        out_.erase(0, out_pos_);
        out_pos_ = 0;
      }
    }
    if (!ac_ || sdslen(ac_->c.obuf) == 0) break;
    if (tls_direct()) {
      // TLS direct mode: straight into the bridge, unless the server is
      // behind (then on_drain brings us back).
      if (tls_congested()) break;
      ++stats_.writes;
      write_tls();
      if (!ac_ || !tls_direct() || tls_congested() || queued_.empty() || link_ != Link::ready) break;
      continue;
    }
    if (want_writable_ && !from_writable) break;  // kernel buffer full: wait for POLLOUT
    in_write_ = true;
    ++stats_.writes;
    redisAsyncHandleWrite(ac_);
    in_write_ = false;
    from_writable = false;
    if (!ac_ || want_writable_ || link_ != Link::ready || (queued_.empty() && tail_left_ == 0)) break;
    // A big command's tail: one slice per loop turn, so the loop breathes
    // (other handles run between slices) even when the socket keeps up.
    if (tail_left_ > 0 && ++slices >= kSlicesPerTurn) break;
  }
  in_flush_ = false;
  if (ac_ && link_ == Link::ready && (!queued_.empty() || tail_left_ > 0) && !want_writable_ && !tls_congested())
    schedule_flush();
}

namespace {
// Giving hundreds of MiB back to the kernel (munmap) takes tens of ms: the
// moved strings of a big command are freed on libuv's thread pool, so the
// loop does not stall for it. Small bodies are simply freed here.
void release_body(uv_loop_t* loop, std::vector<std::string>&& pieces) {
  std::size_t bytes = 0;
  for (const auto& p : pieces) bytes += p.capacity();
  if (bytes < (8u << 20)) return;  // freed by the caller's pop
  struct Job {
    uv_work_t req;
    std::vector<std::string> pieces;
  };
  auto* job = new Job{};
  job->pieces = std::move(pieces);
  job->req.data = job;
  const int rc = uv_queue_work(
      loop, &job->req, [](uv_work_t* r) { static_cast<Job*>(r->data)->pieces.clear(); },
      [](uv_work_t* r, int) { delete static_cast<Job*>(r->data); });
  if (rc != 0) delete job;
}
}  // namespace

// One slice of a big command's rest into hiredis' output buffer: from out_,
// or from the strings the caller moved in (submit_owned). False when memory
// ran out (the link is being dropped).
bool Connection::hand_tail_slice() {
  std::size_t room = std::min(tail_left_, kHandoffBytes - sdslen(ac_->c.obuf));
  while (room > 0) {
    const char* from;
    std::size_t n;
    if (tail_owned_) {
      const std::string& piece = bodies_.front()[tail_piece_];
      n = std::min(room, piece.size() - tail_off_);
      from = piece.data() + tail_off_;
    } else {
      n = room;
      from = out_.data() + out_pos_;
    }
    sds grown = sdscatlen(ac_->c.obuf, from, n);
    if (grown == nullptr) {
      request_drop(Error{ErrorKind::connection_lost, "connection lost: out of memory writing a command"});
      return false;
    }
    ac_->c.obuf = grown;
    room -= n;
    tail_left_ -= n;
    queued_bytes_ -= n;
    if (!tail_owned_) {
      out_pos_ += n;
    } else if ((tail_off_ += n) == bodies_.front()[tail_piece_].size()) {
      ++tail_piece_;
      tail_off_ = 0;
    }
  }
  if (tail_left_ == 0) end_tail();
  return true;
}

// The big command in progress is all handed over, or its link is gone.
void Connection::end_tail() {
  if (tail_owned_) {
    release_body(loop_, std::move(bodies_.front()));
    bodies_.pop_front();
    tail_owned_ = false;
  } else {
    out_pos_ += tail_left_;
  }
  queued_bytes_ -= tail_left_;
  tail_left_ = 0;
}

void Connection::update_poll() {
  if (!poll_) return;
  int ev = (reading_ ? UV_READABLE : 0) | (want_writable_ ? UV_WRITABLE : 0);
  if (ev == poll_events_) return;
  poll_events_ = ev;
  if (ev == 0) {
    uv_poll_stop(poll_.get());
  } else {
    uv_poll_start(poll_.get(), ev,
                  [](uv_poll_t* h, int status, int events) { static_cast<Connection*>(h->data)->on_poll(status, events); });
  }
}

void Connection::on_poll(int status, int events) {
  if (status < 0) {
    // libuv stopped the handle. hiredis' own adapter returns here and the
    // connect callback never runs; we let hiredis meet the error instead.
    poll_events_ = 0;
    events = UV_READABLE | UV_WRITABLE;
  }
  if (!ac_) return;
  if (events & UV_WRITABLE) {
    if (!(ac_->c.flags & REDIS_CONNECTED)) {
      in_write_ = true;
      redisAsyncHandleWrite(ac_);
      in_write_ = false;
    } else {
      flush(true);
    }
  }
  if (ac_ && (events & UV_READABLE) && (ac_->c.flags & REDIS_CONNECTED)) read_input();
  if (ac_ && status < 0) update_poll();
}

void Connection::read_input() {
  if (cfg_.push_mode && drop_requested_) return;  // a drop is decided: nobody wants more replies
  if (!read_socket()) {
    // A read error or EOF left its mark in the context (c.err): hiredis'
    // redisBufferRead then returns at once, and redisAsyncHandleRead takes
    // its own disconnect path (cleanup hook, disconnect callback, free),
    // failing what is in flight.
    redisAsyncHandleRead(ac_);
  } else {
    process_input();
  }
  if (on_read_) {
    auto fn = on_read_;
    fn();
  }
}

// Hands every complete reply in hiredis' reader to its command; then, when
// the reply guard refused what followed them, takes hiredis' disconnect path.
void Connection::process_input() {
  drain_replies();
  if (refused_input_ && ac_) {
    refused_input_ = false;
    ac_->c.err = REDIS_ERR_PROTOCOL;
    std::snprintf(ac_->c.errstr, sizeof ac_->c.errstr, "%s", "reply element too large");
    redisAsyncHandleRead(ac_);
  }
}

// What hiredis' redisBufferRead does (one read of up to 16 KiB, fed to the
// reader), with the bytes shown to the reply guard before the reader
// buffers them, and the time of arrival noted for the liveness rule.
bool Connection::read_socket() {
  redisContext* c = &ac_->c;
  if (c->err) return false;
  char buf[16 * 1024];
  const ssize_t n = ::read(c->fd, buf, sizeof buf);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;  // nothing yet
    c->err = REDIS_ERR_IO;
    std::snprintf(c->errstr, sizeof c->errstr, "%s", std::strerror(errno));
    return false;
  }
  if (n == 0) {
    c->err = REDIS_ERR_EOF;
    std::snprintf(c->errstr, sizeof c->errstr, "%s", "Server closed the connection");
    return false;
  }
  return feed(buf, static_cast<std::size_t>(n));
}

// Input from the socket or the TLS bridge: what the reply guard lets pass
// goes to hiredis' reader. False when the reader failed (c.err set).
bool Connection::feed(const char* data, std::size_t len) {
  last_rx_ms_ = uv_now(loop_);
  std::string why;
  if (!guard_.scan(data, len, why)) {
    log_->error("[{}] {}: dropping the link", cfg_.name, why);
    if (!drop_reason_) drop_reason_ = Error{ErrorKind::protocol, std::move(why)};
    refused_input_ = true;
    len = guard_.good_bytes();  // the complete replies before it still count
  }
  if (len > 0 && redisReaderFeed(ac_->c.reader, data, len) != REDIS_OK) {
    ac_->c.err = ac_->c.reader->err;
    std::snprintf(ac_->c.errstr, sizeof ac_->c.errstr, "%s", ac_->c.reader->errstr);
    return false;
  }
  return true;
}

// What redisProcessCallbacks does, with no hiredis callback records: every
// complete reply in hiredis' reader (fed by read_socket or by the TLS
// bridge) answers the oldest request in flight, in order. In push mode
// (sharded pub/sub) a push is first told from a reply by push_kind_of, which
// does not assert on an `smessage` as hiredis 0.14 would. hiredis' callback
// lists stay empty, so its teardown has nothing to call: hook_cleanup fails
// our requests instead.
void Connection::drain_replies() {
  redisContext* c = &ac_->c;
  for (;;) {
    void* obj = nullptr;
    if (redisReaderGetReply(c->reader, &obj) != REDIS_OK) {
      // Malformed input, or a reply nobody asked for (accept_reply): take
      // hiredis' disconnect path with the reader's error.
      c->err = c->reader->err;
      std::snprintf(c->errstr, sizeof c->errstr, "%s", c->reader->errstr);
      redisAsyncHandleRead(ac_);
      return;
    }
    if (obj == nullptr) return;
    std::unique_ptr<Reply> reply(static_cast<Reply*>(obj));  // built by ReplyBuilder
    if (!cfg_.push_mode) {
      on_reply(reply.get());  // accept_reply made sure a request awaits it
      // A callback cannot free the context (every drop is deferred); replies
      // already here still answer their commands, as hiredis would.
      if (!ac_) return;
      continue;
    }
    dispatch_pushed(std::move(*reply));
    // Listeners cannot free the context (every drop is deferred), but a
    // destroyed connection or a decided drop wants nothing more.
    if (!ac_ || drop_requested_ || destroyed_) return;
  }
}

void Connection::dispatch_pushed(Reply&& reply) {
  const std::uint8_t kind = push_kind_of(reply);
  if (kind == kNotPush) {
    if (inflight_.empty()) {
      protocol_violation_ = true;
      std::string what = reply.is_error() ? ": " + std::string(reply.str()) : std::string();
      request_drop(Error{ErrorKind::protocol, "protocol error: the server sent a reply nobody asked for" + what});
      return;
    }
    on_reply(&reply);  // error replies to a subscription command land here too
    return;
  }
  // A confirmation counts towards the subscription command in front; one
  // nobody asked for (Redis 7 unsubscribes by itself from the channels of a
  // slot that moved away) finds none and is only a push.
  std::uint64_t answered = 0;
  if (is_confirmation(kind) && !inflight_.empty()) {
    Request& front = inflight_.front();
    if (count_confirmation(front.push, front.pushes, kind)) answered = front.seq;
  }
  if (on_push_) {
    auto fn = on_push_;
    fn(std::move(reply));
  }
  if (answered != 0 && !inflight_.empty() && inflight_.front().seq == answered) {
    Reply ok = Reply::status("OK");
    on_reply(&ok);
  }
}

bool Connection::send_subscription(std::span<const std::string_view> argv, Callback<Reply> done) {
  if (!cfg_.push_mode || !ac_ || link_ != Link::ready || closing_ || argv.size() < 2) return false;
  const std::uint8_t kind = command_push_kind(argv[0]);
  if (!is_confirmation(kind)) return false;
  const std::size_t len = encode_command(out_, argv);
  Request r;
  r.seq = next_seq_++;
  r.cb = std::move(done);
  r.len = static_cast<std::uint32_t>(len);
  r.internal = true;
  r.push = kind;
  r.pushes = static_cast<std::uint32_t>(argv.size() - 1);
  queued_.push_back(std::move(r));
  queued_bytes_ += len;
  schedule_flush();
  return true;
}

void Connection::hook_add_read(void* p) {
  auto* c = static_cast<Connection*>(p);
  c->reading_ = true;
  c->update_poll();
}
void Connection::hook_del_read(void* p) {
  auto* c = static_cast<Connection*>(p);
  c->reading_ = false;
  c->update_poll();
}
void Connection::hook_add_write(void* p) {
  auto* c = static_cast<Connection*>(p);
  // While connecting, or when a write came up short, wait for POLLOUT.
  // Otherwise new bytes are waiting: flush once, before the loop polls.
  if (!c->ac_ || !(c->ac_->c.flags & REDIS_CONNECTED) || c->in_write_) {
    c->want_writable_ = true;
    c->update_poll();
  } else if (!c->in_flush_) {
    c->schedule_flush();
  }
}
void Connection::hook_del_write(void* p) {
  auto* c = static_cast<Connection*>(p);
  c->want_writable_ = false;
  c->update_poll();
}

void Connection::hook_cleanup(void* p) {
  auto* c = static_cast<Connection*>(p);
  if (!c->ac_) return;
  c->last_error_ = c->drop_error();
  // A close the user asked for says close_notify; failures just cut the link.
  c->release_bridge(!c->drop_reason_ || c->drop_reason_->kind == ErrorKind::closed);
  c->poll_.close();  // the fd is still open: hiredis closes it after this hook
  c->poll_events_ = 0;
  c->reading_ = false;
  c->want_writable_ = false;
  c->ac_ = nullptr;
  c->link_gone_ = true;
  // Half a big command went out: its rest is useless now (the command
  // fails with the link), and the commands queued behind it start after it.
  if (c->tail_left_ > 0 || c->tail_owned_) c->end_tail();
  c->schedule_deferred();
  // hiredis holds no callback of ours to fail with a NULL reply: fail what
  // is in flight in order (drop_error() is last_error_ now).
  while (!c->inflight_.empty()) c->on_reply(nullptr);
}

bool Connection::accept_reply() noexcept {
  if (!inflight_.empty() || cfg_.push_mode) return true;  // push mode sorts replies out itself
  protocol_violation_ = true;
  return false;
}

void Connection::on_reply(Reply* reply) {
  if (inflight_.empty()) return;  // cannot happen: one entry per hiredis callback
  Request r = std::move(inflight_.front());
  inflight_.pop_front();
  if (r.stage == Stage::owed) --timed_out_inflight_;
  if (!r.internal) {
    if (r.stage != Stage::owed) --stats_.in_flight;
    if (reply) ++stats_.replies;
  }
  bool demoted = false;
  if (!r.completed()) {
    if (reply == nullptr) {
      complete(r, drop_error());
    } else if (reply->is_error()) {
      // Sentinel mode: the master we talk to was demoted under us.
      demoted = cfg_.sentinel && reply->str().starts_with("READONLY");
      complete(r, Error{ErrorKind::server, reply->take_str()});
    } else {
      complete(r, std::move(*reply));
    }
  }
  if (demoted && link_ == Link::ready && !closing_)
    request_drop(Error{ErrorKind::connection_lost,
                       "connection lost: " + cfg_.address.to_string() + " is no longer the master (READONLY)"});
  prune_deadlines();
  if (closing_ && inflight_.size() == timed_out_inflight_) schedule_deferred();
}

Error Connection::drop_error() const {
  if (drop_reason_) return *drop_reason_;
  if (destroyed_) return Error{ErrorKind::closed, "client destroyed"};
  if (!ac_) return last_error_;
  std::string msg = ac_->c.errstr;
  if (protocol_violation_) return Error{ErrorKind::protocol, "protocol error: the server sent a reply nobody asked for"};
  if (ac_->c.err == REDIS_ERR_PROTOCOL) return Error{ErrorKind::protocol, "protocol error: " + msg};
  if (msg.empty()) msg = "connection closed";
  if (link_ != Link::ready) return Error{ErrorKind::connect, "connect to " + cfg_.address.to_string() + " failed: " + msg};
  return Error{ErrorKind::connection_lost, "connection lost: " + msg};
}

// --------------------------------------------------------- commands, timeouts

bool Connection::overflowed(std::size_t extra_bytes, std::size_t extra_cmds, Error& err) const {
  const QueueBounds bounds{cfg_.max_queued_commands, cfg_.max_queued_bytes};
  if (queue_fits(bounds, stats_.queued, queued_bytes_, extra_bytes, extra_cmds)) return false;
  err = *queue_bounds_error(bounds, stats_.queued, queued_bytes_, extra_bytes, extra_cmds);
  return true;
}

// A user command whose bytes are ready (in out_, or owned: the newest entry
// of bodies_): queued with its deadline, and the link told.
inline void Connection::enqueue(Callback<Reply>&& cb, std::size_t len, bool owned,
                                std::optional<std::chrono::milliseconds> timeout) {
  Request r;
  r.seq = next_seq_++;
  r.cb = std::move(cb);
  r.len = static_cast<std::uint32_t>(len);
  r.owned = owned;
  auto t = timeout.value_or(cfg_.command_timeout);
  r.timeout_ms = static_cast<std::uint32_t>(std::clamp<long long>(t.count(), 0, UINT32_MAX));
  const std::uint64_t seq = r.seq;
  queued_.push_back(std::move(r));
  ++stats_.queued;
  queued_bytes_ += len;
  if (t.count() > 0) add_deadline(seq, t);
  if (link_ == Link::ready)
    schedule_flush();
  else if (link_ == Link::idle)
    start();
}

// A new command on a closing or failed connection fails on a later turn.
bool Connection::refused(Callback<Reply>& cb) {
  if (closing_ || destroyed_) {
    fail_later(std::move(cb), Error{ErrorKind::closed, "client is closed"});
    return true;
  }
  if (link_ == Link::failed) {
    fail_later(std::move(cb), last_error_);
    return true;
  }
  return false;
}

void Connection::submit(std::span<const std::string_view> argv, Callback<Reply> cb,
                        std::optional<std::chrono::milliseconds> timeout) {
  if (refused(cb)) return;
  std::size_t total = 0;
  for (std::string_view a : argv) total += a.size();
  if (total >= kOwnedMinBytes && argv.size() >= 2) {
    // A big command is copied once into strings of its own, which then go
    // out a slice per turn and are freed off the loop: out_ never grows to
    // hold it (nor keeps that capacity afterwards).
    submit_owned(std::vector<std::string>(argv.begin(), argv.end()), std::move(cb), timeout);
    return;
  }
  // The usual path: encoded into out_, handed to hiredis at the next flush.
  const std::size_t before = out_.size();
  const std::size_t len = encode_command(out_, argv);
  if (Error err; overflowed(len, 1, err)) {
    out_.resize(before);
    fail_later(std::move(cb), std::move(err));
    return;
  }
  enqueue(std::move(cb), len, false, timeout);
}

void Connection::submit_owned(std::vector<std::string>&& argv, Callback<Reply> cb,
                              std::optional<std::chrono::milliseconds> timeout) {
  if (refused(cb)) return;
  std::size_t total = 0;
  for (const auto& a : argv) total += a.size();
  if (total < kOwnedMinBytes || argv.size() < 2) {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    submit(views, std::move(cb), timeout);  // takes the usual path for these
    return;
  }
  // Pieces: encoded headers and small arguments, with every big argument
  // (never the command name, which hiredis reads) moved in as a piece of
  // its own.
  std::vector<std::string> pieces;
  std::string head;
  encode_header(head, '*', argv.size());
  for (std::size_t i = 0; i < argv.size(); ++i) {
    encode_header(head, '$', argv[i].size());
    if (i > 0 && argv[i].size() >= kOwnedPieceBytes) {
      pieces.push_back(std::move(head));
      pieces.push_back(std::move(argv[i]));
      head.assign("\r\n", 2);
    } else {
      head.append(argv[i]);
      head.append("\r\n", 2);
    }
  }
  pieces.push_back(std::move(head));
  std::size_t len = 0;
  for (const auto& p : pieces) len += p.size();
  if (Error err; overflowed(len, 1, err)) {
    fail_later(std::move(cb), std::move(err));
    return;
  }
  bodies_.push_back(std::move(pieces));
  enqueue(std::move(cb), len, true, timeout);
}

void Connection::submit_group(const std::vector<std::vector<std::string>>& cmds,
                              detail::Function<void(std::vector<Result<Reply>>)> done,
                              std::optional<std::chrono::milliseconds> timeout) {
  struct Gather {
    std::vector<std::optional<Result<Reply>>> results;
    std::size_t left;
    detail::Function<void(std::vector<Result<Reply>>)> done;
  };
  auto fail_all = [this, n = cmds.size()](detail::Function<void(std::vector<Result<Reply>>)> d, Error err) {
    stats_.errors += n;
    post([d = std::move(d), err = std::move(err), n]() mutable {
      std::vector<Result<Reply>> v(n, Result<Reply>(err));
      d(std::move(v));
    });
  };
  if (closing_ || destroyed_) return fail_all(std::move(done), Error{ErrorKind::closed, "client is closed"});
  if (link_ == Link::failed) return fail_all(std::move(done), last_error_);
  const std::size_t before = out_.size();
  std::vector<std::size_t> lens;
  std::vector<std::string_view> argv;
  for (const auto& cmd : cmds) {
    argv.assign(cmd.begin(), cmd.end());
    lens.push_back(encode_command(out_, argv));
  }
  if (Error err; overflowed(out_.size() - before, cmds.size(), err)) {
    out_.resize(before);
    return fail_all(std::move(done), std::move(err));
  }
  auto g = std::make_shared<Gather>();
  g->results.resize(cmds.size());
  g->left = cmds.size();
  g->done = std::move(done);
  auto t = timeout.value_or(cfg_.command_timeout);
  const std::uint64_t first = next_seq_;
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    Request r;
    r.seq = next_seq_++;
    r.len = static_cast<std::uint32_t>(lens[i]);
    r.group = i == 0 ? static_cast<std::uint32_t>(cmds.size()) : 0;
    r.timeout_ms = static_cast<std::uint32_t>(std::clamp<long long>(t.count(), 0, UINT32_MAX));
    r.cb = [g, i](Result<Reply> res) {
      g->results[i].emplace(std::move(res));
      if (--g->left != 0) return;
      std::vector<Result<Reply>> out;
      out.reserve(g->results.size());
      for (auto& x : g->results) out.push_back(std::move(*x));
      auto d = std::move(g->done);
      d(std::move(out));
    };
    queued_.push_back(std::move(r));
    ++stats_.queued;
    queued_bytes_ += lens[i];
  }
  if (t.count() > 0) add_deadline(first, t);
  if (link_ == Link::ready)
    schedule_flush();
  else if (link_ == Link::idle)
    start();
}

void Connection::fail_later(Callback<Reply> cb, Error err) {
  ++stats_.errors;
  post([cb = std::move(cb), err = std::move(err)]() mutable { cb(std::move(err)); });
}

void Connection::post(detail::Function<void()> fn) {
  if (handles_closing_) {
    post_detached(loop_, std::move(fn));
    return;
  }
  immediate_.push_back(std::move(fn));
  schedule_deferred();
}

void Connection::complete(Request& r, Result<Reply> result) {
  auto cb = std::move(r.cb);
  if (r.stage != Stage::owed) r.stage = Stage::done;
  if (!r.internal && !result) ++stats_.errors;
  if (cb) cb(std::move(result));
  if (!r.internal) notify_idle_if_drained();
}

void Connection::add_deadline(std::uint64_t seq, std::chrono::milliseconds timeout) {
  // The loop's clock is as old as this turn: a caller that blocked the loop
  // before issuing the command would otherwise lose that time from its
  // timeout. (libuv's coarse clock: a few nanoseconds.)
  uv_update_time(loop_);
  const std::uint64_t due = uv_now(loop_) + static_cast<std::uint64_t>(timeout.count());
  deadlines_.add(seq, due, timeout == cfg_.command_timeout);
  if (timer_due_ == 0 || due < timer_due_) arm_timeout_timer();
}

void Connection::arm_timeout_timer() {
  const std::uint64_t next = deadlines_.next();
  if (next == 0) {
    if (timer_due_ != 0) uv_timer_stop(cmd_timer_.get());
    timer_due_ = 0;
    return;
  }
  if (timer_due_ == next) return;
  timer_due_ = next;
  const std::uint64_t now = uv_now(loop_);
  uv_timer_start(
      cmd_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_timeout_timer(); },
      next > now ? next - now : 0, 0);
}

void Connection::on_timeout_timer() {
  timer_due_ = 0;
  // Timers run before the loop polls: when the loop was busy, replies may
  // be waiting in the socket. Read them first, so only commands that really
  // got no answer time out.
  if (ac_ && reading_ && link_ == Link::ready && !inflight_.empty()) {
    read_input();
    if (destroyed_ || timer_due_ != 0) return;  // a callback closed us, or re-armed the timer
  }
  const std::uint64_t now = uv_now(loop_);
  while (auto seq = deadlines_.pop_due(now)) expire(*seq);
  arm_timeout_timer();
  if (closing_) schedule_deferred();  // close() may have waited for these
}

// Deadline entries of commands that already completed are dropped as replies
// arrive (Deadlines::prune), so the FIFO holds only what is still pending.
void Connection::prune_deadlines() {
  std::uint64_t oldest = next_seq_;
  if (!inflight_.empty())
    oldest = inflight_.front().seq;
  else if (!queued_.empty())
    oldest = queued_.front().seq;
  deadlines_.prune(oldest);
  if (deadlines_.empty() && timer_due_ != 0) {
    uv_timer_stop(cmd_timer_.get());
    timer_due_ = 0;
  }
}

std::pair<std::deque<Connection::Request>*, std::size_t> Connection::find(std::uint64_t seq) {
  auto by_seq = [](const Request& r, std::uint64_t s) { return r.seq < s; };
  for (auto* q : {&inflight_, &queued_}) {
    auto it = std::lower_bound(q->begin(), q->end(), seq, by_seq);
    if (it != q->end() && it->seq == seq) return {q, static_cast<std::size_t>(it - q->begin())};
  }
  return {nullptr, 0};
}

void Connection::expire(std::uint64_t seq) {
  auto [q, idx] = find(seq);
  if (q == nullptr || (*q)[idx].completed()) return;
  const bool sent = q == &inflight_;
  // A group (MULTI ... EXEC) times out as a whole: never half of it sent.
  const std::size_t count = std::max<std::uint32_t>((*q)[idx].group, 1);
  const bool internal = (*q)[idx].internal;
  const std::uint32_t ms = (*q)[idx].timeout_ms;
  const Error err{ErrorKind::timeout, "no reply within " + std::to_string(ms) + " ms"};
  // Completing may run user code that queues more (push_back keeps element
  // references valid in a deque), so walk by sequence number.
  const std::uint64_t first = seq;
  for (std::size_t k = 0; k < count; ++k) {
    auto [qq, i] = find(first + k);
    if (qq == nullptr) continue;
    Request& r = (*qq)[i];
    if (r.completed()) continue;
    if (qq == &inflight_) {
      // Written: its reply is still owed (and dropped when it comes), but
      // the command is no longer in flight for anyone counting.
      r.stage = Stage::owed;
      ++timed_out_inflight_;
      if (!r.internal) --stats_.in_flight;
    } else {
      queued_bytes_ -= r.len;
      if (!r.internal) --stats_.queued;
    }
    if (!r.internal) ++stats_.timeouts;
    complete(r, err);
  }
  // A blocking connection stays blocked on the server: drop it, never reuse.
  if (sent && cfg_.drop_on_timeout && !internal)
    request_drop(Error{ErrorKind::connection_lost, "dropped after a blocking command timed out"});
  else if (sent)
    watch_silence();
}

// Liveness (ClientOptions::dead_link_timeout): while a timed-out command's
// reply is owed, the server must send something every window; Redis answers
// in order, so silence means it is not working through our commands at all.
void Connection::watch_silence() {
  if (silence_watch_ || timed_out_inflight_ == 0 || link_ != Link::ready || cfg_.dead_link_timeout.count() <= 0)
    return;
  silence_watch_ = true;
  silent_since_ms_ = uv_now(loop_);
  uv_timer_start(
      link_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_link_timer(); },
      static_cast<std::uint64_t>(cfg_.dead_link_timeout.count()), 0);
}

void Connection::check_silence() {
  silence_watch_ = false;
  if (timed_out_inflight_ == 0 || link_ != Link::ready) return;
  const auto window = static_cast<std::uint64_t>(cfg_.dead_link_timeout.count());
  const std::uint64_t quiet_since = std::max(silent_since_ms_, last_rx_ms_);
  const std::uint64_t now = uv_now(loop_);
  if (now - quiet_since < window) {
    silence_watch_ = true;
    uv_timer_start(
        link_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_link_timer(); },
        quiet_since + window - now, 0);
    return;
  }
  log_->warn("[{}] {} sent nothing for {} ms while {} timed-out command(s) await a reply: dropping the link",
             cfg_.name, cfg_.address.to_string(), now - quiet_since, timed_out_inflight_);
  request_drop(Error{ErrorKind::connection_lost, "connection lost: the server sent nothing for " +
                                                     std::to_string(now - quiet_since) +
                                                     " ms after a command timed out (dead_link_timeout)"});
}

void Connection::fail_queued(const Error& err) {
  if (queued_.empty()) return;
  auto q = std::move(queued_);
  queued_.clear();
  out_.clear();
  out_pos_ = 0;
  queued_bytes_ = 0;
  // (Only while the link is going: a big command half handed over loses
  // its rest with the link.)
  tail_left_ = 0;
  tail_owned_ = false;
  bodies_.clear();
  for (auto& r : q)
    if (!r.completed() && !r.internal) --stats_.queued;
  for (auto& r : q)
    if (!r.completed()) complete(r, err);
  prune_deadlines();
}

void Connection::notify_idle_if_drained() {
  if (on_idle_ && pending() == 0 && !closing_) on_idle_();
}

}  // namespace uvredis::detail
