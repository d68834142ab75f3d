#include "link/connection.hpp"

#include "base/logging.hpp"

#include <algorithm>
#include <memory>

// Replies in: one read per readiness, bytes shown to the reply guard before
// hiredis' parser buffers them, every complete reply answering the oldest
// request in flight (in push mode, after telling a pub/sub push from a
// reply), completion of requests, and what a dropped link fails them with.

namespace uvredis::detail {

void Connection::read_input() {
  if (cfg_.push_mode && drop_requested_) return;  // a drop is decided: nobody wants more replies
  // What hiredis' redisBufferRead does (one read of up to 16 KiB, fed to the
  // reader), with the replies answered as they are fed (take_input).
  char buf[16 * 1024];
  const long n = tp_.read(buf, sizeof buf);
  if (n < 0 || (n > 0 && !take_input(buf, static_cast<std::size_t>(n)))) {
    // A read error or EOF (or a reader that failed) left its mark in the
    // context (c.err): hiredis' redisBufferRead then returns at once, and
    // redisAsyncHandleRead takes its own disconnect path (cleanup hook,
    // disconnect callback, free), failing what is in flight.
    tp_.fail_read();
  } else if (n == 0) {
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
  if (refused_input_ && tp_.up()) {
    refused_input_ = false;
    tp_.fail_protocol("reply element too large");
  }
}

// Input from the socket or the TLS bridge, fed to hiredis' reader a slice
// at a time, the complete replies of each slice answered before the next
// goes in. hiredis' reader moves what it still holds to the front of its
// buffer whenever a reply leaves 1 KiB or more of it consumed (read.c): fed
// 16 KiB of small replies at once, it would move about 8 KiB for every KiB
// of replies (for pipelined GETs that was the largest single cost, about
// 100 instructions a reply); a slice at a time, it moves less than a slice.
// False when the reader failed (recorded in the context).
bool Connection::take_input(const char* data, std::size_t len) {
  constexpr std::size_t kFeedSlice = 1024;
  for (std::size_t off = 0; off < len;) {
    const std::size_t n = std::min(kFeedSlice, len - off);
    if (!feed(data + off, n)) return false;
    off += n;
    if (cfg_.push_mode && (drop_requested_ || destroyed_)) break;  // nobody wants more
    process_input();
    // A dropped link (a refused reply, a reader error) takes no more.
    if (!tp_.up()) break;
  }
  return true;
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
  if (tracker_) rx_fed_ += len;
  return len == 0 || tp_.feed(data, len);
}

// What redisProcessCallbacks does, with no hiredis callback records: every
// complete reply in hiredis' reader (fed by read_socket or by the TLS
// bridge) answers the oldest request in flight, in order. In push mode
// (sharded pub/sub) a push is first told from a reply by push_kind_of, which
// does not assert on an `smessage` as hiredis 0.14 would. hiredis' callback
// lists stay empty, so its teardown has nothing to call: the transport's
// cleanup hook reports transport_closed, which fails our requests instead.
void Connection::drain_replies() {
  for (;;) {
    void* obj = nullptr;
    if (!tp_.next_reply(&obj)) {
      // Malformed input, or a reply nobody asked for (accept_reply): take
      // hiredis' disconnect path with the reader's error.
      tp_.fail_read();
      return;
    }
    if (obj == nullptr) return;
    std::unique_ptr<Reply> reply(static_cast<Reply*>(obj));  // built by ReplyBuilder
    if (!cfg_.push_mode) {
      if (tracker_) [[unlikely]] {
        // The reply's size on the wire: what the reader consumed since the
        // previous reply (fed, less what it still holds).
        const std::uint64_t consumed = rx_fed_ - tp_.reader_buffered();
        tracker_->reply_bytes = consumed - rx_replied_;
        rx_replied_ = consumed;
      }
      on_reply(reply.get());  // accept_reply made sure a request awaits it
      if (tracker_) tracker_->reply_bytes = 0;
      recycle(std::move(reply));
      // A callback cannot free the context (every drop is deferred); replies
      // already here still answer their commands, as hiredis would.
      if (!tp_.up()) return;
      continue;
    }
    dispatch_pushed(std::move(*reply));
    recycle(std::move(reply));
    // Listeners cannot free the context (every drop is deferred), but a
    // destroyed connection or a decided drop wants nothing more.
    if (!tp_.up() || drop_requested_ || destroyed_) return;
  }
}

void Connection::dispatch_pushed(Reply&& reply) {
  const std::uint8_t kind = push_kind_of(reply);
  if (kind == kNotPush) {
    if (q_.inflight_empty()) {
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
  const std::uint64_t answered = is_confirmation(kind) ? q_.count_push(kind) : 0;
  if (on_push_) {
    auto fn = on_push_;
    fn(std::move(reply));
  }
  if (answered != 0 && !q_.inflight_empty() && q_.inflight_front_seq() == answered) {
    Reply ok = Reply::status("OK");
    on_reply(&ok);
  }
}

bool Connection::accept_reply() noexcept {
  if (!q_.inflight_empty() || cfg_.push_mode) return true;  // push mode sorts replies out itself
  protocol_violation_ = true;
  return false;
}

void Connection::on_reply(Reply* reply) {
  if (q_.inflight_empty()) return;  // cannot happen: accept_reply checked
  bool demoted = false;
  q_.answer_front(reply != nullptr, [&]() -> Result<Reply> {
    if (reply == nullptr) return drop_error();
    if (reply->is_error()) {
      // A followed master (Sentinel) was demoted under us.
      demoted = follows_master_ && reply->str().starts_with("READONLY");
      return Error{ErrorKind::server, reply->take_str()};
    }
    return std::move(*reply);
  });
  if (demoted && link_.phase() == Link::ready && !closing_)
    request_drop(Error{ErrorKind::connection_lost,
                       "connection lost: " + cfg_.options.address.to_string() + " is no longer the master (READONLY)"});
  prune_deadlines();
  if (closing_ && q_.inflight_size() == q_.owed()) schedule_deferred();
}

// The context is being torn down (every path: a read error, a drop, a
// close): its error still answers, so the link's error is settled now.
bool Connection::transport_closing() {
  last_error_ = drop_error();
  // A close the user asked for says close_notify; failures just cut the link.
  return !drop_reason_ || drop_reason_->kind == ErrorKind::closed;
}

void Connection::transport_closed() {
  link_gone_ = true;
  // Half a big command went out: its rest is useless now (the command
  // fails with the link), and the commands queued behind it start after it.
  q_.abandon_tail();
  schedule_deferred();
  // hiredis holds no callback of ours to fail with a NULL reply: fail what
  // is in flight in order (drop_error() is last_error_ now).
  while (!q_.inflight_empty()) on_reply(nullptr);
}

Error Connection::drop_error() const {
  if (drop_reason_) return *drop_reason_;
  if (destroyed_) return Error{ErrorKind::closed, "client destroyed"};
  if (!tp_.up()) return last_error_;
  std::string msg = tp_.errstr();
  if (protocol_violation_) return Error{ErrorKind::protocol, "protocol error: the server sent a reply nobody asked for"};
  if (tp_.protocol_error()) return Error{ErrorKind::protocol, "protocol error: " + msg};
  if (msg.empty()) msg = "connection closed";
  if (link_.phase() != Link::ready) return Error{ErrorKind::connect, "connect to " + cfg_.options.address.to_string() + " failed: " + msg};
  return Error{ErrorKind::connection_lost, "connection lost: " + msg};
}

}  // namespace uvredis::detail
