// The ClientCache object: it makes the two links and wires them to the
// shared state (whose parts are in client_cache_store.cpp,
// client_cache_tracking.cpp and client_cache_reads.cpp), and closes them.
#include "recipes/client_cache_state.hpp"

#include "client/client_impl.hpp"
#include "base/logging.hpp"

#include <uv.h>

#include <cctype>

namespace uvredis {

ClientCache::ClientCache(uv_loop_s* loop, ClientOptions options, ClientCacheOptions cache)
    : st_(std::make_shared<State>()) {
  State& st = *st_;
  st.loop = loop;
  st.opts = std::move(cache);
  st.log = detail::logger_or_silent(options.logger);
  if (st.opts.mode != TrackingMode::broadcast && !st.opts.prefixes.empty())
    st.config_error = Error{ErrorKind::usage, "client cache: prefixes need TrackingMode::broadcast"};
  for (const std::string& c : st.opts.cached_commands) {
    std::string u;
    for (char ch : c) u += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    st.extra_cmds.push_back(std::move(u));
  }
  std::weak_ptr<State> w = st_;

  // The invalidation link: a push-mode connection (like a Subscriber's)
  // whose handshake asks CLIENT ID, so the id is exactly this link's.
  detail::ConnectionConfig c{options};
  c.options.cluster_readonly = false;
  c.tls = detail::make_tls_context(options);
  c.push_mode = true;
  c.name = "invalidate";
  if (options.sentinel.enabled()) {
    st.sentinel = std::make_shared<detail::SentinelResolver>(loop, options.sentinel, st.log);
    c.address_source = st.sentinel;
  }
  c.extra_handshake = [w] {
    detail::HandshakeStep step;
    step.argv = {"CLIENT", "ID"};
    step.check = [w](const Reply& r) -> std::string {
      if (!r.is_integer() || r.integer() <= 0) return "CLIENT ID gave no id";
      if (auto s = w.lock()) s->pending_inv_id = r.integer();
      return {};
    };
    return std::vector<detail::HandshakeStep>{std::move(step)};
  };
  st.inv = new detail::Connection(loop, std::move(c));
  st.inv->set_state_listener([w](ConnectionState s, const Error*) {
    if (auto p = w.lock()) p->on_inv_state(s);
  });
  st.inv->set_push_listener([w](Reply&& r) {
    if (auto p = w.lock()) p->on_push(std::move(r));
  });

  // The data link: tracking in every handshake, redirected to the
  // invalidation link's current id when it is subscribed; otherwise it goes
  // out as a command once it is (enable_tracking).
  client_ = std::make_unique<Client>(loop, std::move(options));
  st.client = client_.get();
  hits_ = &st.hits_out;
  detail::ClientImpl* impl = client_->impl_.get();
  impl->set_main_handshake([w] {
    std::vector<detail::HandshakeStep> steps;
    auto p = w.lock();
    if (!p || p->closed) return steps;
    p->tracking_for = 0;
    p->update_serving();
    if (!p->tracking_accepted || !p->sub_ready || p->inv_id == 0) return steps;
    const long long id = p->inv_id;
    detail::HandshakeStep step;
    step.argv = p->tracking_argv(id);
    step.check = [w, id](const Reply&) -> std::string {
      if (auto q = w.lock()) {
        q->tracking_for = id;
        q->update_serving();
      }
      return {};
    };
    steps.push_back(std::move(step));
    return steps;
  });
  impl->set_internal_state_listener([w](ConnectionState s, const Error*) {
    if (auto p = w.lock()) p->on_data_state(s);
  });
  st.inv->start();
}

ClientCache::~ClientCache() {
  st_->closed = true;
  st_->update_serving();
  st_->flush(false);
  st_->on_inv = nullptr;
  st_->on_ready = nullptr;
  // Pending reads fail with `closed` on a later turn; their callbacks hold
  // the state, never this object.
  st_->client = nullptr;
  client_.reset();
  st_->inv->destroy();
  st_->inv = nullptr;
  if (st_->sentinel) st_->sentinel->shutdown({});
}

Client& ClientCache::client() noexcept { return *client_; }

void ClientCache::command(std::span<const std::string_view> argv, Callback<Reply> cb) {
  st_->passing(argv);
  client_->command(argv, std::move(cb));
}

void ClientCache::forget(std::span<const std::string_view> argv) { st_->passing(argv); }

void ClientCache::fail_reply(Callback<Reply> cb, Error err) { client_->fail_later(std::move(cb), std::move(err)); }

bool ClientCache::ready() const noexcept { return st_->ready(); }

void ClientCache::clear() { st_->flush(); }

ClientCacheStats ClientCache::stats() const noexcept { return st_->stats; }

void ClientCache::on_invalidation(Listener<void(const std::vector<std::string>*)> fn) {
  st_->on_inv = std::move(fn);
}

void ClientCache::on_ready_change(Listener<void(bool)> fn) { st_->on_ready = std::move(fn); }

void ClientCache::close(Once<void()> done) {
  State& st = *st_;
  const bool first = !st.closed;
  st.closed = true;
  st.update_serving();
  st.flush(false);
  st.on_ready = nullptr;  // closing is not news
  // No hit is served once closed: the loop's scheduler is let go (a closed
  // cache kept until after uv_loop_close must not keep its handles open),
  // after the batch still owed, if any (drain_hits()).
  if (!st.drain_task.scheduled()) st.sched = {};
  if (!first) {
    // Already closing: both parts report to the first close(); this one
    // waits for the client alone (its close() accepts repeats).
    client_->close(std::move(done));
    return;
  }
  struct Countdown {
    int left;
    Once<void()> done;
  };
  auto cd = std::make_shared<Countdown>(Countdown{st.sentinel ? 3 : 2, std::move(done)});
  auto one = [cd] {
    if (--cd->left == 0 && cd->done) {
      auto d = std::move(cd->done);
      d();
    }
  };
  client_->close(one);
  st.inv->close(one);
  if (st.sentinel) st.sentinel->shutdown(one);
}

}  // namespace uvredis
