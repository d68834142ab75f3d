#include "client/client_impl.hpp"

#include "protocol/cluster_reads.hpp"
#include "protocol/command_info.hpp"
#include "base/logging.hpp"

#include <uvredis/lease.hpp>

#include <uv.h>

#include <algorithm>
#include <array>
#include <memory>

namespace uvredis {

std::string_view to_string(ConnectionState s) noexcept {
  switch (s) {
    case ConnectionState::connecting: return "connecting";
    case ConnectionState::connected: return "connected";
    case ConnectionState::reconnecting: return "reconnecting";
    case ConnectionState::failed: return "failed";
    case ConnectionState::closed: return "closed";
  }
  return "unknown";
}

namespace detail {

ClientImpl::ClientImpl(uv_loop_t* loop, ClientOptions options)
    : loop_(loop), opts_(std::move(options)), tls_(make_tls_context(opts_)), post_(std::make_shared<PostState>()) {
  if (opts_.sentinel.enabled())
    sentinel_ = std::make_shared<SentinelResolver>(loop_, opts_.sentinel, logger_or_silent(opts_.logger));
  ConnectionConfig main_cfg = config_for("main");
  // Through a shared slot: the hook may be set after the connection exists.
  main_cfg.extra_handshake = [hook = main_handshake_] {
    return *hook ? (*hook)() : std::vector<HandshakeStep>{};
  };
  main_ = new Connection(loop_, std::move(main_cfg));
  leases_ = std::make_shared<LeasePool>();
  leases_->loop = loop_;
  leases_->config = config_for("lease");
  main_->set_state_listener([this](ConnectionState s, const Error* e) {
    if (internal_state_) internal_state_(s, e);  // library code: never destroys the client
    auto fn = on_state_;  // the listener may destroy the client
    if (fn) call_user(fn, s, e);
  });

  // The close callback owns a reference to the post state: it runs after
  // close() or the destructor, when this object may be gone, and drains what
  // was accepted but not yet run (every accepted post runs exactly once).
  uv_async_t* a = async_.allocate(
      [](void* ctx) {
        std::unique_ptr<std::shared_ptr<PostState>> hold(static_cast<std::shared_ptr<PostState>*>(ctx));
        PostState& st = **hold;
        st.run_queued();
        st.drained = true;
        auto waiters = std::move(st.drain_waiters);
        st.drain_waiters.clear();
        for (auto& w : waiters) w();
      },
      new std::shared_ptr<PostState>(post_));
  uv_async_init(loop_, a, [](uv_async_t* h) { static_cast<PostState*>(h->data)->run_queued(); });
  a->data = post_.get();
  // Posting is optional; an idle poster must not keep the loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(a));
  post_->async = a;

  main_->start();
}

ClientImpl::~ClientImpl() {
  life_->impl = nullptr;
  fail_parked_reads(Error{ErrorKind::closed, "client destroyed"});
  {
    std::lock_guard<std::mutex> lock(post_->mu);
    post_->closed = true;
  }
  // Accepted posts still run, from the async handle's close callback on a
  // later loop turn (they must not use this client any more: documented).
  async_.close();
  for (WaitingBlocking& w : blocking_wait_)
    main_->fail_later(std::move(w.cb), Error{ErrorKind::closed, "client destroyed"});
  blocking_wait_.clear();
  for (Connection* c : blocking_) c->destroy();
  leases_->shut(true, {});
  main_->destroy();
  if (sentinel_) sentinel_->shutdown({});
}

ConnectionConfig ClientImpl::config_for(std::string name) const {
  ConnectionConfig c{opts_};
  c.tls = tls_;
  c.name = std::move(name);
  c.address_source = sentinel_;
  return c;
}

void ClientImpl::command(std::span<const std::string_view> argv, Callback<Reply>&& cb, const CommandOptions& opts) {
  if (closing_) {
    main_->fail_later(std::move(cb), Error{ErrorKind::closed, "client is closed"});
    return;
  }
  CommandClass cls = classify_command(argv);
  switch (cls.route) {
    case CommandRoute::refused:
      main_->fail_later(std::move(cb), Error{ErrorKind::usage, std::string(cls.reason)});
      return;
    case CommandRoute::blocking:
      blocking_command(argv, std::move(cb), effective_timeout(cls, opts.timeout, opts_.command_timeout));
      return;
    case CommandRoute::normal: break;
  }
  if (opts_.read_retry.attempts > 0 && !cls.block_time && replica_readable(argv)) [[unlikely]] {
    auto rr = std::make_shared<RetriedRead>();
    rr->argv.assign(argv.begin(), argv.end());
    rr->cb = std::move(cb);
    rr->timeout = opts.timeout;
    rr->left = opts_.read_retry.attempts;
    rr->delay = opts_.read_retry.backoff;
    send_read(std::move(rr));
    return;
  }
  main_->submit(argv, std::move(cb), cls.block_time ? effective_timeout(cls, opts.timeout, opts_.command_timeout)
                                                    : opts.timeout);
}

// Big values moved in: the main connection writes them from these strings.
// Anything routed elsewhere (refused, blocking) takes the ordinary path.
void ClientImpl::command_owned(std::vector<std::string>&& argv, Callback<Reply>&& cb, const CommandOptions& opts) {
  std::vector<std::string_view> views(argv.begin(), argv.end());
  const CommandClass cls = classify_command(views);
  if (closing_ || cls.route != CommandRoute::normal || cls.block_time ||
      (opts_.read_retry.attempts > 0 && replica_readable(views))) {
    command(views, std::move(cb), opts);
    return;
  }
  main_->submit_owned(std::move(argv), std::move(cb), opts.timeout);
}

// ------------------------------------------------------------ read retry

void ClientImpl::send_read(std::shared_ptr<RetriedRead> rr) {
  std::vector<std::string_view> views(rr->argv.begin(), rr->argv.end());
  const auto timeout = rr->timeout;
  main_->submit(
      views,
      [life = life_, rr](Result<Reply> r) mutable {
        if (!r && r.error().kind == ErrorKind::connection_lost && rr->left > 0 && life->impl &&
            !life->impl->closing_)
          return life->impl->read_failed(std::move(rr), std::move(r));
        auto cb = std::move(rr->cb);
        cb(std::move(r));
      },
      timeout);
}

// The link dropped under a read: it waits for its backoff, then goes again.
void ClientImpl::read_failed(std::shared_ptr<RetriedRead> rr, Result<Reply> r) {
  (void)r;  // connection_lost: the next try tells
  --rr->left;
  ++read_retries_;
  const auto delay = static_cast<std::uint64_t>(std::max<long long>(rr->delay.count(), 0));
  rr->delay = std::min(rr->delay * 2, std::max(opts_.read_retry.max_backoff, opts_.read_retry.backoff));
  const std::uint64_t due = uv_now(loop_) + delay;
  parked_.emplace(due, std::move(rr));
  if (!retry_timer_) {
    uv_timer_init(loop_, retry_timer_.allocate());
    retry_timer_.get()->data = this;
  }
  const std::uint64_t first = parked_.begin()->first;
  const std::uint64_t now = uv_now(loop_);
  uv_timer_start(
      retry_timer_.get(), [](uv_timer_t* t) { static_cast<ClientImpl*>(t->data)->on_retry_timer(); },
      first > now ? first - now : 0, 0);
}

void ClientImpl::on_retry_timer() {
  const std::uint64_t now = uv_now(loop_);
  while (!parked_.empty() && parked_.begin()->first <= now && !closing_) {
    auto rr = std::move(parked_.begin()->second);
    parked_.erase(parked_.begin());
    send_read(std::move(rr));
  }
  if (!parked_.empty() && !closing_)
    uv_timer_start(
        retry_timer_.get(), [](uv_timer_t* t) { static_cast<ClientImpl*>(t->data)->on_retry_timer(); },
        parked_.begin()->first - now, 0);
}

// close() or the destructor: reads waiting for a resend fail on a later turn.
void ClientImpl::fail_parked_reads(const Error& err) {
  retry_timer_.close();
  auto parked = std::move(parked_);
  parked_.clear();
  for (auto& [due, rr] : parked) main_->fail_later(std::move(rr->cb), err);
}

Connection* ClientImpl::idle_blocking_connection() {
  for (Connection* c : blocking_)
    if (c->pending() == 0 && c->state() != ConnectionState::failed) return c;
  if (blocking_.size() >= std::max<std::size_t>(opts_.max_blocking_connections, 1)) return nullptr;
  auto cfg = config_for("blocking-" + std::to_string(blocking_.size() + 1));
  cfg.drop_on_timeout = true;
  cfg.options.health_check_interval = std::chrono::milliseconds(0);
  cfg.options.latency_histogram = false;  // a blocking command's wait is not latency
  auto* c = new Connection(loop_, std::move(cfg));
  c->set_idle_listener([this] { dispatch_waiting_blocking(); });
  blocking_.push_back(c);
  c->start();
  return c;
}

void ClientImpl::blocking_command(std::span<const std::string_view> argv, Callback<Reply> cb,
                                  std::optional<std::chrono::milliseconds> timeout) {
  if (blocking_wait_.empty()) {
    if (Connection* c = idle_blocking_connection()) {
      c->submit(argv, std::move(cb), timeout);
      return;
    }
  }
  WaitingBlocking w;
  w.argv.assign(argv.begin(), argv.end());
  w.cb = std::move(cb);
  w.timeout = timeout;
  blocking_wait_.push_back(std::move(w));
}

void ClientImpl::dispatch_waiting_blocking() {
  while (!blocking_wait_.empty() && !closing_) {
    Connection* c = idle_blocking_connection();
    if (!c) return;
    WaitingBlocking w = std::move(blocking_wait_.front());
    blocking_wait_.pop_front();
    std::vector<std::string_view> args(w.argv.begin(), w.argv.end());
    c->submit(args, std::move(w.cb), w.timeout);
  }
}

void ClientImpl::close(Once<void()> done) {
  if (!closing_) {
    closing_ = true;
    for (WaitingBlocking& w : blocking_wait_)
      main_->fail_later(std::move(w.cb), Error{ErrorKind::closed, "client closed before the command was sent"});
    blocking_wait_.clear();
    fail_parked_reads(Error{ErrorKind::closed, "client closed before a read was resent"});
    {
      std::lock_guard<std::mutex> lock(post_->mu);
      post_->closed = true;
    }
    async_.close();
  }
  // Every connection reports back; the last one calls `done`.
  struct Countdown {
    std::size_t left;
    Once<void()> done;
  };
  // The poster counts as one more party: `done` comes only after every
  // accepted post has run.
  const bool wait_posts = !post_->drained;
  auto cd = std::make_shared<Countdown>(Countdown{
      1 + blocking_.size() + leases_->idle.size() + (sentinel_ ? 1 : 0) + (wait_posts ? 1 : 0), std::move(done)});
  auto one = [cd] {
    if (--cd->left == 0 && cd->done) {
      auto d = std::move(cd->done);
      d();
    }
  };
  if (wait_posts) post_->drain_waiters.push_back(one);
  main_->close(one);
  for (Connection* c : blocking_) c->close(one);
  leases_->shut(false, [&one]() -> Once<void()> { return one; });
  if (sentinel_) sentinel_->shutdown(one);
}

void ClientImpl::command_group(const std::vector<std::vector<std::string>>& cmds,
                               Once<void(std::vector<Result<Reply>>)> done, const CommandOptions& opts) {
  if (closing_ || cmds.empty()) {
    Error err = closing_ ? Error{ErrorKind::closed, "client is closed"} : Error{ErrorKind::usage, "empty command group"};
    main_->post([done = std::move(done), err = std::move(err), n = cmds.size()]() mutable {
      std::vector<Result<Reply>> v(n, Result<Reply>(err));
      if (v.empty()) v.emplace_back(err);
      done(std::move(v));
    });
    return;
  }
  main_->submit_group(cmds, std::move(done), opts.timeout);
}

void ClientImpl::on_state_change(std::function<void(ConnectionState, const Error*)> fn) { on_state_ = std::move(fn); }

ClientStats ClientImpl::stats() const noexcept {
  ClientStats s = main_->stats();
  for (const Connection* c : blocking_) {
    const ClientStats& b = c->stats();
    s.sent += b.sent;
    s.replies += b.replies;
    s.errors += b.errors;
    s.timeouts += b.timeouts;
    s.reconnects += b.reconnects;
    s.writes += b.writes;
    s.in_flight += b.in_flight;
    s.queued += b.queued;
    s.latency.merge(b.latency);
  }
  s.queued += blocking_wait_.size() + parked_.size();
  s.read_retries = read_retries_;
  return s;
}

}  // namespace detail

// ------------------------------------------------------------------- Client

Client::Client(uv_loop_s* loop, ClientOptions options) : impl_(new detail::ClientImpl(loop, std::move(options))) {}

// Out of line, where the impl is complete; destroying it runs the same
// teardown as the former `delete impl_` (the impl defers what must outlive us).
Client::~Client() = default;

void Client::command(std::span<const std::string_view> argv, Callback<Reply> cb, CommandOptions opts) {
  impl_->command(argv, std::move(cb), opts);
}

void Client::command(std::span<const std::string> argv, Callback<Reply> cb, CommandOptions opts) {
  std::vector<std::string_view> v(argv.begin(), argv.end());
  impl_->command(v, std::move(cb), opts);
}

void Client::command(std::vector<std::string>&& argv, Callback<Reply> cb, CommandOptions opts) {
  impl_->command_owned(std::move(argv), std::move(cb), opts);
}

void Client::close(Once<void()> done) { impl_->close(std::move(done)); }
void Client::command_group(const std::vector<std::vector<std::string>>& cmds,
                           Once<void(std::vector<Result<Reply>>)> done, CommandOptions opts) {
  impl_->command_group(cmds, std::move(done), opts);
}
void Client::post(Once<void()> fn) { impl_->post(std::move(fn)); }
ConnectionState Client::state() const noexcept { return impl_->state(); }
void Client::on_state_change(Listener<void(ConnectionState, const Error*)> fn) {
  impl_->on_state_change(std::move(fn));
}
ClientStats Client::stats() const noexcept { return impl_->stats(); }
Poster Client::poster() { return impl_->poster(); }
std::unique_ptr<Lease> Client::lease() {
  auto& pool = impl_->leases();
  return std::unique_ptr<Lease>(new Lease(pool, pool->take()));
}
uv_loop_s* Client::loop() const noexcept { return impl_->loop(); }
const ClientOptions& Client::options() const noexcept { return impl_->options(); }

}  // namespace uvredis
