#include "link/connection.hpp"

#include "base/logging.hpp"

#include <algorithm>
#include <csignal>

// Connection: construction, deferred work (run later, never inside the
// caller), close and teardown. The rest, by behaviour:
//   connection_link.cpp     resolve, connect, handshake, ready, reconnect backoff
//   connection_tls.cpp      rediss:// links through the TLS bridge
//   transport.cpp           hiredis' async context, its poll handle, the bridge: bytes and events
//   connection_write.cpp    submitting commands and writing them
//   connection_read.cpp     reading replies, telling pushes from replies, completion
//   connection_timeouts.cpp command deadlines, dead-link detection, health checks

namespace uvredis::detail {

namespace {

// hiredis writes with write(2); a peer reset must not kill the host with
// SIGPIPE. We ignore the signal process-wide, but only when nobody installed
// a handler of their own (documented in docs/client.md).
void ignore_sigpipe_once() {
  static const bool done = [] {
    struct sigaction sa {};
    if (sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

}  // namespace

Connection::Connection(uv_loop_t* loop, ConnectionConfig cfg)
    : loop_(loop),
      cfg_(std::move(cfg)),
      log_(logger_or_silent(cfg_.options.logger)),
      sched_(Scheduler::on(loop)),
      q_(stats_, QueueBounds{cfg_.options.max_queued_commands, cfg_.options.max_queued_bytes}) {
  guard_ = ReplyGuard(cfg_.options.max_reply_element);
  if (!cfg_.address_source) cfg_.address_source = std::make_shared<FixedAddress>(cfg_.options.address);
  source_ = cfg_.address_source.get();
  follows_master_ = source_->follows_master();
  const ClientOptions& o = cfg_.options;
  link_ = LinkMachine(LinkPolicy{o.reconnect, o.reconnect_min_delay, o.reconnect_max_delay}, source_);
  q_.set_usual_timeout(timeout_ms_of(o.command_timeout));
  q_.set_hooks(
      this, [](void* self) { static_cast<Connection*>(self)->notify_idle_if_drained(); },
      [](void* self, std::vector<std::string>&& pieces) {
        release_body(static_cast<Connection*>(self)->loop_, std::move(pieces));
      });
  ignore_sigpipe_once();
  auto closed = [](void* self) {
    auto* c = static_cast<Connection*>(self);
    --c->open_handles_;
    c->handle_closed();
  };
  uv_timer_init(loop_, cmd_timer_.allocate(closed, this));
  uv_timer_init(loop_, link_timer_.allocate(closed, this));
  uv_timer_init(loop_, health_timer_.allocate(closed, this));
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(cmd_timer_.get()),
                         reinterpret_cast<uv_handle_t*>(link_timer_.get()),
                         reinterpret_cast<uv_handle_t*>(health_timer_.get())}) {
    h->data = this;
    ++open_handles_;
  }
  source_->add_listener(this);
  if ((cfg_.options.observer || cfg_.options.latency_histogram) && !cfg_.push_mode) {
    tracker_ = std::make_unique<Tracker>(cfg_.options.observer, cfg_.options.observe_arguments,
                                         cfg_.options.latency_histogram ? &stats_.latency : nullptr);
    set_tracked_node();
    q_.set_tracker(tracker_.get());
  }
}

// The node as an observer sees it: never the credentials.
void Connection::set_tracked_node() {
  const Address& a = cfg_.options.address;
  if (a.kind == Address::Kind::unix_socket)
    tracker_->set_node(a.path);
  else if (a.host.find(':') != std::string::npos)
    tracker_->set_node("[" + a.host + "]:" + std::to_string(a.port));
  else
    tracker_->set_node(a.host + ":" + std::to_string(a.port));
}

Connection::~Connection() { source_->remove_listener(this); }

void Connection::post(Once<void()> fn) {
  if (handles_closing_) {
    run_later(loop_, std::move(fn));  // close() no longer waits: nothing of ours is touched
    return;
  }
  // While any post is owed its turn, close does not end (close callbacks run
  // after every command callback), so this connection is alive when it runs.
  // The function waits here rather than inside a second Once (which would
  // not fit the small buffer and cost an allocation per post): the
  // scheduler runs later() functions in order, so each run takes the oldest.
  posted_.push_back(std::move(fn));
  sched_->later([this] {
    Once<void()> next = std::move(posted_.front());
    posted_.pop_front();
    next();
    if (posted_.empty() && closing_) schedule_deferred();
  });
}

void Connection::fail_later(Callback<Reply> cb, Error err) {
  ++stats_.errors;
  post([cb = std::move(cb), err = std::move(err)]() mutable { cb(std::move(err)); });
}

void Connection::request_drop(Error reason) {
  if (!tp_.up()) return;
  if (!drop_reason_) drop_reason_ = std::move(reason);
  drop_requested_ = true;
  schedule_deferred();
}

void Connection::schedule_deferred() {
  if (handles_closing_) return;  // nothing left to do but wait for the handles
  sched_->soon(deferred_task_);
}

void Connection::run_deferred() {
  if (drop_requested_) {
    drop_requested_ = false;
    tp_.drop();  // not inside hiredis: frees now, fails in-flight commands
  }
  if (link_gone_) {
    link_gone_ = false;
    after_link_gone();
  }
  if (closing_) maybe_finish_close();
}

void Connection::close(Once<void()> done) {
  if (finished_) {
    if (done) run_later(loop_, std::move(done));
    return;
  }
  if (done) close_cbs_.push_back(std::move(done));
  if (closing_) return;
  closing_ = true;
  log_->debug("[{}] closing", cfg_.name);
  arm_close_limit();
  schedule_deferred();
}

void Connection::destroy() {
  on_state_ = nullptr;
  on_idle_ = nullptr;
  on_push_ = nullptr;
  on_read_ = nullptr;
  if (destroyed_) return;
  destroyed_ = true;
  if (finished_) {
    if (!in_finish_) maybe_delete();
    return;
  }
  closing_ = true;
  if (!drop_reason_) drop_reason_ = Error{ErrorKind::closed, "client destroyed"};
  schedule_deferred();
}

void Connection::maybe_finish_close() {
  if (!closing_ || handles_closing_) return;
  const bool queued_live = q_.has_live_queued();
  // A push-mode (subscriber) link has nothing worth waiting for: its
  // subscription commands fail with closed, as on a classic subscriber.
  if (!destroyed_ && !close_forced_ && !cfg_.push_mode) {
    // Graceful: commands issued before close() still go out. While a connect
    // attempt is under way it decides their fate (bounded by connect_timeout).
    // Commands that already timed out are not waited for: their replies may
    // never come (a hung server), and nobody wants them.
    if (link_.attempting() && queued_live) return;
    if (link_.ready() && (q_.inflight_size() > q_.owed() || queued_live)) return;
  }
  if (!q_.queued_empty())
    fail_queued(Error{ErrorKind::closed, destroyed_ ? "client destroyed" : "client closed before the command was sent"});
  if (tp_.up()) {
    if (!drop_reason_) drop_reason_ = Error{ErrorKind::closed, "client closed"};
    tp_.drop();  // synchronous here: fails what is left, runs transport_closing/closed
  }
  if (link_gone_) {
    link_gone_ = false;
    after_link_gone();
  }
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
  link_.stop_asking();
  if (!q_.queued_empty()) fail_queued(Error{ErrorKind::closed, "client closed"});
  if (!posted_.empty()) return;  // deliver those first; the last one brings us back here
  link_.close();
  close_handles();
}

void Connection::close_handles() {
  handles_closing_ = true;
  flush_task_.cancel();
  deferred_task_.cancel();
  // A closed client may outlive its loop's last turn: it holds nothing of
  // the loop's from here on (later work goes through run_later).
  sched_ = Scheduler::Ref();
  tp_.close_handles();  // the bridge is normally gone already, with its context
  cmd_timer_.close();
  link_timer_.close();
  health_timer_.close();
}

void Connection::handle_closed() {
  if (handles_closing_ && handles_open() == 0 && !finished_) finish();
  maybe_delete();
}

void Connection::finish() {
  if (resolving_) return;  // its callback comes back through maybe_delete
  finished_ = true;
  in_finish_ = true;
  set_state(ConnectionState::closed, nullptr);
  auto cbs = std::move(close_cbs_);
  close_cbs_.clear();
  for (auto& cb : cbs)
    if (cb) cb();
  in_finish_ = false;
}

void Connection::maybe_delete() {
  if (handles_closing_ && handles_open() == 0 && !resolving_ && !finished_) finish();
  if (destroyed_ && finished_ && !in_finish_ && handles_open() == 0 && !resolving_) delete this;
}

void Connection::set_state(ConnectionState s, const Error* why) {
  if (s == state_) return;
  state_ = s;
  if (on_state_) {
    auto fn = on_state_;  // the listener may replace itself
    fn(s, why);
  }
}

void Connection::fail_queued(const Error& err) {
  q_.fail_queued(err);
  prune_deadlines();
}

void Connection::notify_idle_if_drained() {
  if (on_idle_ && pending() == 0 && !closing_) on_idle_();
}

}  // namespace uvredis::detail
