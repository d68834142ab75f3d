// WsFanout's write path: frames written at once when the socket takes them, write interest, the per-turn budget.
//
// The write path is built for few system calls per frame. A frame queued for
// a client whose queue was empty is written at once (one send()) when the
// socket is known to take it: no write interest armed, nothing left over in
// lws from an earlier write (lws_partial_buffered(), a flag, no poll()), and
// the loop turn's budget (bytes and frames) not used up. Only when the kernel does not
// take a whole frame, or the budget is spent, is write interest armed, and it
// stays armed until the queue is empty. With libwebsockets on libuv every
// arm/disarm is a uv_poll_start(), which in libuv 1.44 costs about two
// epoll_ctl each way; the previous per-message arming was most of the cost
// of a frame at a steady message rate.

#include "ws_fanout_impl.hpp"

#include <algorithm>

namespace uvredis::detail {

// The client's queue just stopped being empty.
void WsFanoutImpl::on_wake(Client& c) {
  if (c.armed || c.deferred) return;
  write_direct(c);
  // The socket did not take a whole frame, or a write failed (the
  // client is closed from its next writable event).
  if (!c.deferred && (hub_.pending(c) || c.broken)) arm(c);
}

void WsFanoutImpl::arm(Client& c) {
  if (c.armed) return;
  c.armed = true;
  lws_callback_on_writable(static_cast<lws*>(c.handle));
}

// Writes while the socket takes whole frames and the turn's budget lasts
// (and `limit` bytes for this client). A client stopped by the budget
// waits in the backlog for the next turn: no write interest (an
// epoll_ctl pair each) for a socket that is writable.
void WsFanoutImpl::write_direct(Client& c, std::size_t limit) {
  auto* wsi = static_cast<lws*>(c.handle);
  if (c.kicked || c.broken || lws_partial_buffered(wsi)) return;
  for (std::size_t written = 0; hub_.pending(c);) {
    if (turn_spent() || written >= limit) {
      ++counters_.budget_full;
      defer(c);
      return;
    }
    std::size_t before = turn_written_;
    if (!write_one(c, wsi)) return;
    written += turn_written_ - before;
    ++counters_.direct_writes;
    if (lws_partial_buffered(wsi)) {
      ++counters_.socket_full;
      return;
    }
  }
}

void WsFanoutImpl::defer(Client& c) {
  if (c.deferred) return;
  c.deferred = true;
  if (backlog_.empty()) uv_idle_start(backlog_idle_, [](uv_idle_t*) {});
  backlog_.push_back(c.id);
}

// Before each poll: a new budget, first for the clients that waited for
// it, each up to an equal share (the others keep their place in line).
void WsFanoutImpl::on_turn() {
  turn_written_ = 0;
  turn_frames_ = 0;
  if (backlog_.empty()) return;
  const std::size_t share =
      std::max<std::size_t>(1, o_.turn_budget_bytes / std::max<std::size_t>(backlog_.size(), 1));
  for (std::size_t n = backlog_.size(); n > 0 && !turn_spent(); --n) {
    std::uint64_t id = backlog_.front();
    backlog_.pop_front();
    Client* c = hub_.find(id);
    if (c == nullptr) continue;
    c->deferred = false;
    if (c->armed) continue;  // the socket's writable event takes over
    write_direct(*c, std::min(share, o_.client_budget_bytes));
    if (!c->deferred && (hub_.pending(*c) || c->broken)) arm(*c);
  }
  if (backlog_.empty()) uv_idle_stop(backlog_idle_);
}

bool WsFanoutImpl::write_one(Client& c, lws* wsi) {
  FramePtr frame = hub_.next(c);
  int sent = lws_write(wsi, frame->data(), frame->size(), LWS_WRITE_TEXT);
  if (sent < static_cast<int>(frame->size())) {
    log_->warn("client #{}: write failed ({})", c.id, sent);
    c.broken = true;
    return false;
  }
  ++counters_.frames_sent;
  turn_written_ += frame->size();
  ++turn_frames_;
  return true;
}

int WsFanoutImpl::on_writeable(Client& c) {
  c.armed = false;
  if (c.kicked || c.broken) return -1;
  ++counters_.writeables;
  auto* wsi = static_cast<lws*>(c.handle);
  // Each waiting client gets its share of the turn's budget; the share is
  // by connected clients, a bound that holds from the first turn of a burst.
  const std::size_t share =
      std::min(o_.client_budget_bytes, o_.turn_budget_bytes / std::max<std::size_t>(hub_.clients(), 1));
  for (std::size_t written = 0; hub_.pending(c);) {
    if (lws_partial_buffered(wsi)) {
      ++counters_.socket_full;
      arm(c);
      break;
    }
    if (written >= share || turn_spent()) {
      // The socket takes more: the rest goes out directly on a later turn.
      ++counters_.budget_full;
      defer(c);
      break;
    }
    std::size_t before = turn_written_;
    if (!write_one(c, wsi)) return -1;
    written += turn_written_ - before;
  }
  return 0;
}

}  // namespace uvredis::detail
