#include <uvredis/cluster_subscriber.hpp>

#include "protocol/callbacks.hpp"
#include "protocol/cluster_keys.hpp"
#include "pubsub/cluster_sharded.hpp"
#include "link/connection.hpp"
#include "base/uv_handle.hpp"

#include <algorithm>
#include <memory>
#include <unordered_map>

// ClusterSubscriber: one Subscriber at a time, on one node; moves to the next
// seed when its link drops. Messages go through one router so that the
// inner subscriber can be replaced without touching the user's handlers.
// Shard channels (SSUBSCRIBE) live in a ShardRouter (cluster_sharded.cpp),
// created on the first ssubscribe.

namespace uvredis {
namespace detail {

class ClusterSubscriberImpl {
 public:
  ClusterSubscriberImpl(uv_loop_t* loop, ClusterOptions o)
      : loop_(loop), opts_(std::move(o)), life_(std::make_shared<Life>(Life{this})) {
    uv_timer_init(loop_, move_timer_.allocate());
    move_timer_.get()->data = this;
    Address base = opts_.client.address;
    for (std::size_t i = 0; i < opts_.seeds.size(); ++i) {
      // By position, and the parse error shows the seed only redacted: it may
      // carry the password.
      const std::string which = "cluster seed #" + std::to_string(i + 1);
      auto a = Address::parse(opts_.seeds[i]);
      if (!a) {
        invalid_ = Error{ErrorKind::usage, which + ": " + a.error().message};
        break;
      }
      if (a->kind != Address::Kind::tcp) {
        invalid_ = Error{ErrorKind::usage, which + " ('" + Address::redact(opts_.seeds[i]) +
                                               "') is not a host:port or redis:// address"};
        break;
      }
      if (base.password.empty() && !a->password.empty()) {
        base.username = a->username;
        base.password = a->password;
      }
      Address n = base;
      n.kind = Address::Kind::tcp;
      n.host = a->host;
      n.port = a->port;
      n.db = 0;
      n.tls = n.tls || a->tls;
      seeds_.push_back(std::move(n));
    }
    if (!invalid_ && seeds_.empty()) invalid_ = Error{ErrorKind::usage, "ClusterOptions.seeds is empty"};
    if (!invalid_) open(0);
  }

  ~ClusterSubscriberImpl() {
    life_->impl = nullptr;
    sub_.reset();  // fails pending confirmations with closed, later
    shards_.reset();
  }

  void ssubscribe(std::vector<std::string> names, MessageHandler handler, Callback<void> confirmed) {
    if (invalid_ || closing_) {
      Error err = invalid_ ? *invalid_ : Error{ErrorKind::closed, "subscriber is closed"};
      if (confirmed) run_later(loop_, [cb = std::move(confirmed), err]() mutable { cb(err); });
      return;
    }
    shards().subscribe(std::move(names), std::move(handler), std::move(confirmed));
  }

  void sunsubscribe(std::vector<std::string> names, Callback<void> done) {
    if (!shards_) {
      if (done) run_later(loop_, [cb = std::move(done)]() mutable { cb(Result<void>()); });
      return;
    }
    shards_->unsubscribe(std::move(names), std::move(done));
  }

  std::optional<std::string> shard_node(const std::string& channel) const {
    return shards_ ? shards_->node_of(channel) : std::nullopt;
  }

  void subscribe(bool pattern, std::vector<std::string> names, MessageHandler handler, Callback<void> confirmed) {
    if (invalid_ || closing_) {
      Error err = invalid_ ? *invalid_ : Error{ErrorKind::closed, "subscriber is closed"};
      if (confirmed) run_later(loop_, [cb = std::move(confirmed), err]() mutable { cb(err); });
      return;
    }
    auto& table = pattern ? patterns_ : channels_;
    for (const std::string& n : names) table[n] = handler;
    std::shared_ptr<Pending> p;
    if (confirmed) {
      p = std::make_shared<Pending>(Pending{pattern, names, std::move(confirmed)});
      pending_.push_back(p);
    }
    issue(pattern, std::move(names), p);
  }

  void unsubscribe(bool pattern, std::vector<std::string> names, Callback<void> done) {
    auto& table = pattern ? patterns_ : channels_;
    for (const std::string& n : names) table.erase(n);
    if (!sub_) {
      if (done) run_later(loop_, [cb = std::move(done)]() mutable { cb(Result<void>()); });
      return;
    }
    if (pattern)
      sub_->punsubscribe(std::move(names), std::move(done));
    else
      sub_->unsubscribe(std::move(names), std::move(done));
  }

  void close(Function<void()> done) {
    closing_ = true;
    move_timer_.close();
    // The classic subscriber and the shard links close side by side.
    const std::size_t n = (sub_ ? 1 : 0) + (shards_ ? 1 : 0);
    if (n == 0) {
      if (done) run_later(loop_, std::move(done));
      return;
    }
    auto one = join_n(n, std::move(done));
    if (sub_) sub_->close(one);
    if (shards_) shards_->close(one);
  }

  ConnectionState state() const noexcept { return reported_; }

  SubscriberStats stats() const noexcept {
    SubscriberStats s = past_;
    if (sub_) {
      SubscriberStats c = sub_->stats();
      s.resubscribes += c.resubscribes;
      s.last_turn_messages = c.last_turn_messages;
      s.max_turn_messages = std::max(s.max_turn_messages, c.max_turn_messages);
    }
    s.messages = messages_;
    s.unhandled = unhandled_;
    s.channels = channels_.size();
    s.patterns = patterns_.size();
    if (shards_) {
      s.shard_channels = shards_->channels();
      s.resubscribes += shards_->resubscribes();
    }
    return s;
  }

  std::string node() const {
    if (seeds_.empty()) return {};
    const Address& a = seeds_[index_];
    return a.host + ":" + std::to_string(a.port);
  }

  MessageHandler catch_all_;
  std::function<void(ConnectionState, const Error*)> on_state_;
  std::uint64_t moves_ = 0;

 private:
  struct Life {
    ClusterSubscriberImpl* impl;
  };
  struct Pending {
    bool pattern;
    std::vector<std::string> names;
    Callback<void> cb;
    unsigned gen = 0;
  };

  // Subscribes on the current inner subscriber; a confirmation that fails
  // because we replaced that subscriber is not the user's business: the
  // replacement confirms it again.
  void issue(bool pattern, std::vector<std::string> names, const std::shared_ptr<Pending>& p) {
    if (!sub_) return;  // sent when the next subscriber opens
    Callback<void> cb;
    if (p) {
      p->gen = gen_;
      cb = [life = life_, p, gen = gen_](Result<void> r) {
        ClusterSubscriberImpl* self = life->impl;
        if (!r && r.error().kind == ErrorKind::closed && self && !self->closing_ && gen != self->gen_) return;
        if (!p->cb) return;
        if (self) std::erase(self->pending_, p);
        auto user = std::move(p->cb);
        user(std::move(r));
      };
    }
    MessageHandler router = [life = life_](const Message& m) {
      if (life->impl) life->impl->route(m);
    };
    if (pattern)
      sub_->psubscribe(std::move(names), std::move(router), std::move(cb));
    else
      sub_->subscribe(std::move(names), std::move(router), std::move(cb));
  }

  void route(const Message& m) {
    const MessageHandler* h = nullptr;
    if (m.pattern.empty()) {
      auto it = channels_.find(m.channel);
      if (it != channels_.end()) h = &it->second;
    } else {
      auto it = patterns_.find(m.pattern);
      if (it != patterns_.end()) h = &it->second;
    }
    deliver(h, m);
  }

  void deliver(const MessageHandler* h, const Message& m) {
    if (!h || !*h) h = catch_all_ ? &catch_all_ : nullptr;
    if (!h) {
      ++unhandled_;
      return;
    }
    ++messages_;
    MessageHandler fn = *h;  // the handler may unsubscribe itself
    call_user(fn, m);
  }

  void open(std::size_t index) {
    index_ = index;
    ++gen_;
    ClientOptions o = opts_.client;
    o.address = seeds_[index_];
    // The node's own reconnect would retry the dead node; we move instead.
    sub_ = std::make_unique<Subscriber>(loop_, std::move(o));
    sub_->on_message([life = life_](const Message& m) {
      if (life->impl) life->impl->route(m);
    });
    sub_->on_state_change([life = life_](ConnectionState s, const Error* e) {
      if (life->impl) life->impl->on_inner_state(s, e);
    });
    std::vector<std::string> chans, pats;
    for (auto& [n, h] : channels_) chans.push_back(n);
    for (auto& [n, h] : patterns_) pats.push_back(n);
    if (!chans.empty()) issue(false, std::move(chans), nullptr);
    if (!pats.empty()) issue(true, std::move(pats), nullptr);
    for (auto& p : pending_) issue(p->pattern, p->names, p);
  }

  ShardRouter& shards() {
    if (!shards_) {
      ShardRouter::Hooks h;
      h.deliver = [life = life_](const MessageHandler* handler, const Message& m) {
        if (life->impl) life->impl->deliver(handler, m);
      };
      h.gap_changed = [life = life_] {
        if (life->impl) life->impl->update_state(nullptr);
      };
      Address base = opts_.client.address;
      if (!seeds_.empty()) base = seeds_.front();  // credentials and TLS of the seeds
      shards_ = std::make_unique<ShardRouter>(loop_, opts_, std::move(base), std::move(h));
    }
    return *shards_;
  }

  void on_inner_state(ConnectionState s, const Error* e) {
    classic_ = s;
    if (s == ConnectionState::connected) failed_attempts_ = 0;
    auto life = life_;
    update_state(e);
    if (!life->impl) return;
    if ((s == ConnectionState::reconnecting || s == ConnectionState::failed) && !closing_) schedule_move();
  }

  // One state for both halves: the classic link's, except that a shard
  // channel that lost its subscription makes a connected link reconnecting.
  void update_state(const Error* e) {
    ConnectionState s = classic_ == ConnectionState::failed ? ConnectionState::reconnecting : classic_;
    if (s == ConnectionState::connected && shards_ && shards_->gap()) {
      s = ConnectionState::reconnecting;
      if (!e) e = shards_->gap_error();
    }
    report(s, e);
  }

  void schedule_move() {
    if (!move_timer_ || uv_is_active(reinterpret_cast<uv_handle_t*>(move_timer_.get()))) return;
    // The first move is immediate; while no node answers, back off.
    std::uint64_t delay = 0;
    if (failed_attempts_ > 0) {
      const auto lo = static_cast<std::uint64_t>(std::max<long long>(opts_.client.reconnect_min_delay.count(), 1));
      const auto hi = static_cast<std::uint64_t>(std::max<long long>(opts_.client.reconnect_max_delay.count(), 1));
      delay = std::min(hi, lo << std::min(failed_attempts_, 20u));
    }
    ++failed_attempts_;
    uv_timer_start(
        move_timer_.get(), [](uv_timer_t* t) { static_cast<ClusterSubscriberImpl*>(t->data)->move(); }, delay, 0);
  }

  void move() {
    if (closing_) return;
    // Not inside the old subscriber's callbacks: this runs from our timer.
    SubscriberStats c = sub_->stats();
    past_.resubscribes += c.resubscribes;
    past_.max_turn_messages = std::max(past_.max_turn_messages, c.max_turn_messages);
    sub_.reset();
    ++moves_;
    open((index_ + 1) % seeds_.size());
  }

  void report(ConnectionState s, const Error* e) {
    if (s == reported_) return;
    reported_ = s;
    auto fn = on_state_;  // may destroy us
    if (fn) call_user(fn, s, e);
  }

  uv_loop_t* loop_;
  ClusterOptions opts_;
  std::vector<Address> seeds_;
  std::optional<Error> invalid_;
  std::size_t index_ = 0;
  unsigned gen_ = 0;
  unsigned failed_attempts_ = 0;
  std::unique_ptr<Subscriber> sub_;
  std::unique_ptr<ShardRouter> shards_;
  ConnectionState classic_ = ConnectionState::connecting;
  UvHandle<uv_timer_t> move_timer_;
  std::unordered_map<std::string, MessageHandler> channels_, patterns_;
  std::vector<std::shared_ptr<Pending>> pending_;
  std::shared_ptr<Life> life_;
  ConnectionState reported_ = ConnectionState::connecting;
  bool closing_ = false;
  std::uint64_t messages_ = 0, unhandled_ = 0;
  SubscriberStats past_;
};

}  // namespace detail

ClusterSubscriber::ClusterSubscriber(uv_loop_s* loop, ClusterOptions options)
    : impl_(new detail::ClusterSubscriberImpl(loop, std::move(options))) {}
// Out of line, where the impl is complete; destroying it runs the same
// teardown as the former `delete impl_` (the impl defers what must outlive us).
ClusterSubscriber::~ClusterSubscriber() = default;

void ClusterSubscriber::subscribe(std::vector<std::string> channels, MessageHandler handler,
                                  Callback<void> confirmed) {
  impl_->subscribe(false, std::move(channels), std::move(handler), std::move(confirmed));
}
void ClusterSubscriber::psubscribe(std::vector<std::string> patterns, MessageHandler handler,
                                   Callback<void> confirmed) {
  impl_->subscribe(true, std::move(patterns), std::move(handler), std::move(confirmed));
}
void ClusterSubscriber::unsubscribe(std::vector<std::string> channels, Callback<void> done) {
  impl_->unsubscribe(false, std::move(channels), std::move(done));
}
void ClusterSubscriber::punsubscribe(std::vector<std::string> patterns, Callback<void> done) {
  impl_->unsubscribe(true, std::move(patterns), std::move(done));
}
void ClusterSubscriber::ssubscribe(std::vector<std::string> channels, MessageHandler handler,
                                   Callback<void> confirmed) {
  impl_->ssubscribe(std::move(channels), std::move(handler), std::move(confirmed));
}
void ClusterSubscriber::sunsubscribe(std::vector<std::string> channels, Callback<void> done) {
  impl_->sunsubscribe(std::move(channels), std::move(done));
}
std::optional<std::string> ClusterSubscriber::shard_node(const std::string& channel) const {
  return impl_->shard_node(channel);
}
void ClusterSubscriber::on_message(MessageHandler catch_all) { impl_->catch_all_ = std::move(catch_all); }
void ClusterSubscriber::on_state_change(Listener<void(ConnectionState, const Error*)> fn) {
  impl_->on_state_ = std::move(fn);
}
ConnectionState ClusterSubscriber::state() const noexcept { return impl_->state(); }
SubscriberStats ClusterSubscriber::stats() const noexcept { return impl_->stats(); }
std::string ClusterSubscriber::node() const { return impl_->node(); }
std::uint64_t ClusterSubscriber::moves() const noexcept { return impl_->moves_; }
void ClusterSubscriber::close(Once<void()> done) { impl_->close(std::move(done)); }

}  // namespace uvredis
