#include "link/connection.hpp"

#include "protocol/encode.hpp"
#include "base/logging.hpp"


#include <algorithm>

// Time on a link: each command's deadline (one uv timer for all), what a
// timeout does to a queued or a written command, the dead-link rule
// (ClientOptions::dead_link_timeout), health-check PINGs, and close()'s limit.

namespace uvredis::detail {

void Connection::add_deadline(std::uint64_t seq, std::chrono::milliseconds timeout) {
  // Commands issued in one loop turn share one deadline (one FIFO bucket,
  // see Deadlines): the clock is read for the turn's first command only.
  // The loop's clock is as old as the turn's start: a caller that blocked
  // the loop before issuing its first command would otherwise lose that
  // time from its timeout, so that command reads the clock (libuv's coarse
  // clock) and the rest of the turn counts from it.
  if (uv_now(loop_) != turn_ms_) {
    uv_update_time(loop_);
    turn_ms_ = uv_now(loop_);
  }
  const std::uint64_t due = turn_ms_ + static_cast<std::uint64_t>(timeout.count());
  q_.add_deadline(seq, due, timeout == cfg_.options.command_timeout);
  if (timer_due_ == 0 || due < timer_due_) arm_timeout_timer();
}

void Connection::arm_timeout_timer() {
  const std::uint64_t next = q_.next_deadline();
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
  if (tp_.up() && tp_.reading() && link_.phase() == Link::ready && !q_.inflight_empty()) {
    read_input();
    if (destroyed_ || timer_due_ != 0) return;  // a callback closed us, or re-armed the timer
  }
  const std::uint64_t now = uv_now(loop_);
  while (auto seq = q_.pop_due(now)) expire(*seq);
  arm_timeout_timer();
  if (closing_) schedule_deferred();  // close() may have waited for these
}

// Deadline entries of commands that already completed are dropped as replies
// arrive (Deadlines::prune), so the FIFO holds only what is still pending.
void Connection::prune_deadlines() {
  if (q_.prune() && timer_due_ != 0) {
    uv_timer_stop(cmd_timer_.get());
    timer_due_ = 0;
  }
}

void Connection::expire(std::uint64_t seq) {
  // A group (MULTI ... EXEC) times out as a whole: never half of it sent.
  const RequestQueue::Expired what = q_.expire(seq);
  if (!what.written) return;
  // A blocking connection stays blocked on the server: drop it, never reuse.
  if (cfg_.drop_on_timeout && !what.internal)
    request_drop(Error{ErrorKind::connection_lost, "dropped after a blocking command timed out"});
  else
    watch_silence();
}

// Liveness (ClientOptions::dead_link_timeout): while a timed-out command's
// reply is owed, the server must send something every window; Redis answers
// in order, so silence means it is not working through our commands at all.
void Connection::watch_silence() {
  if (silence_watch_ || q_.owed() == 0 || link_.phase() != Link::ready || cfg_.options.dead_link_timeout.count() <= 0)
    return;
  silence_watch_ = true;
  silent_since_ms_ = uv_now(loop_);
  uv_timer_start(
      link_timer_.get(), [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_link_timer(); },
      static_cast<std::uint64_t>(cfg_.options.dead_link_timeout.count()), 0);
}

void Connection::check_silence() {
  silence_watch_ = false;
  if (q_.owed() == 0 || link_.phase() != Link::ready) return;
  const auto window = static_cast<std::uint64_t>(cfg_.options.dead_link_timeout.count());
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
             cfg_.name, cfg_.options.address.to_string(), now - quiet_since, q_.owed());
  request_drop(Error{ErrorKind::connection_lost, "connection lost: the server sent nothing for " +
                                                     std::to_string(now - quiet_since) +
                                                     " ms after a command timed out (dead_link_timeout)"});
}

void Connection::send_health_check() {
  if (link_.phase() != Link::ready || health_in_flight_ || closing_) return;
  health_in_flight_ = true;
  std::string_view argv[] = {"PING"};
  std::size_t len = encode_command(q_.out(), argv);
  Request r;
  r.len = static_cast<std::uint32_t>(len);
  r.internal = true;
  auto limit = cfg_.options.health_check_interval;
  if (cfg_.options.command_timeout.count() > 0) limit = std::min(limit, cfg_.options.command_timeout);
  r.timeout_ms = static_cast<std::uint32_t>(limit.count());
  r.cb = [this](Result<Reply> res) {
    health_in_flight_ = false;
    if (!res && res.error().kind != ErrorKind::closed && res.error().kind != ErrorKind::connection_lost)
      request_drop(Error{ErrorKind::connection_lost, "health check failed: " + res.error().message});
  };
  add_deadline(q_.push(std::move(r)), limit);
  schedule_flush();
}

// close() lets pending commands finish, but not for ever: every one of them
// has met its deadline by the latest one, and what has none (timeout zero)
// gets a short grace after that. Then whatever is left fails with `closed`.
void Connection::arm_close_limit() {
  constexpr std::uint64_t kGraceMs = 1000;
  uv_update_time(loop_);
  const std::uint64_t now = uv_now(loop_);
  const std::uint64_t last = q_.last_deadline(now);
  uv_timer_stop(health_timer_.get());  // no more health checks while closing
  uv_timer_start(
      health_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Connection*>(t->data);
        if (self->handles_closing_) return;
        self->log_->warn("[{}] close: commands still unanswered after their deadlines; failing them", self->cfg_.name);
        self->close_forced_ = true;
        self->maybe_finish_close();
      },
      last - now + kGraceMs, 0);
}

}  // namespace uvredis::detail
