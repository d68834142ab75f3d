#include <uvredis/subscriber.hpp>

#include "link/connection.hpp"
#include "base/logging.hpp"
#include "protocol/command_info.hpp"
#include "sentinel/sentinel.hpp"

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace uvredis {
namespace detail {

class SubscriberImpl {
 public:
  SubscriberImpl(uv_loop_t* loop, const ClientOptions& o) : alive_(std::make_shared<bool>(true)) {
    ConnectionConfig c{o};
    c.options.cluster_readonly = false;
    c.tls = make_tls_context(o);
    // Our own read path tells pushes from replies, so the link answers PING
    // in subscribed mode too: health checks work as on a Client.
    c.push_mode = true;
    c.name = "subscriber";
    if (o.sentinel.enabled()) {
      sentinel_ = std::make_shared<SentinelResolver>(loop, o.sentinel, logger_or_silent(o.logger));
      c.address_source = sentinel_;
    }
    conn_ = new Connection(loop, std::move(c));
    conn_->set_state_listener([this](ConnectionState s, const Error* e) { on_link_state(s, e); });
    conn_->set_push_listener([this](Reply&& r) { on_push(std::move(r)); });
    conn_->set_read_listener([this] {
      if (turn_messages_ == 0) return;
      stats_.last_turn_messages = turn_messages_;
      stats_.max_turn_messages = std::max(stats_.max_turn_messages, turn_messages_);
      turn_messages_ = 0;
    });
    conn_->start();
  }

  ~SubscriberImpl() {
    *alive_ = false;
    fail_all_pending(Error{ErrorKind::closed, "subscriber destroyed"});
    conn_->destroy();
    if (sentinel_) sentinel_->shutdown({});
  }

  void subscribe(bool pattern, std::vector<std::string> names, MessageHandler handler, Callback<void> confirmed) {
    if (closing_) {
      complete_later(std::move(confirmed), Error{ErrorKind::closed, "subscriber is closed"});
      return;
    }
    if (names.empty()) {
      complete_later(std::move(confirmed), Error{ErrorKind::usage, "subscribe needs at least one channel or pattern"});
      return;
    }
    auto& handlers = pattern ? patterns_ : channels_;
    auto& pending = pattern ? pending_patterns_ : pending_channels_;
    std::shared_ptr<Confirm> rec;
    if (confirmed) rec = std::make_shared<Confirm>(Confirm{names.size(), std::move(confirmed)});
    for (const std::string& n : names) {
      handlers[n] = handler;
      if (rec) pending[n].push_back(rec);
    }
    if (link_up_) send(pattern ? "PSUBSCRIBE" : "SUBSCRIBE", names);
    // Otherwise the subscription goes out with the others once connected.
  }

  void unsubscribe(bool pattern, std::vector<std::string> names, Callback<void> done) {
    forget(pattern, names, Error{ErrorKind::closed, "unsubscribed before the server confirmed"});
    if (link_up_ && !names.empty()) {
      // `done` runs once the server confirmed every name (a PUBLISH from it
      // no longer counts this subscriber), or the link went: then nothing
      // is subscribed any more either, and these are not restored.
      auto all = std::make_shared<Unsubscribed>();
      all->done = std::move(done);
      send(pattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE", names, all);
      if (all->batches == 0) complete_later(std::move(all->done), Result<void>());
      return;
    }
    if (done) complete_later(std::move(done), Result<void>());
  }

  void close(Once<void()> done) {
    if (!closing_) {
      closing_ = true;
      fail_all_pending(Error{ErrorKind::closed, "subscriber closed"});
    }
    if (!sentinel_) {
      conn_->close(std::move(done));
      return;
    }
    // The link and the sentinel watch both close; the second calls `done`.
    auto left = std::make_shared<int>(2);
    auto d = std::make_shared<Once<void()>>(std::move(done));
    auto one = [left, d] {
      if (--*left == 0 && *d) (*d)();
    };
    conn_->close(one);
    sentinel_->shutdown(one);
  }

  ConnectionState state() const noexcept {
    ConnectionState s = conn_->state();
    // Connected means "connected and subscribed again".
    if (s == ConnectionState::connected && !reported_connected_)
      return ever_connected_ ? ConnectionState::reconnecting : ConnectionState::connecting;
    return s;
  }

  SubscriberStats stats() const noexcept {
    SubscriberStats s = stats_;
    s.channels = channels_.size();
    s.patterns = patterns_.size();
    return s;
  }

  MessageHandler catch_all_;
  std::function<void(ConnectionState, const Error*)> on_state_;

 private:
  struct Confirm {
    std::size_t left;
    Callback<void> cb;
  };
  using PendingMap = std::unordered_map<std::string, std::vector<std::shared_ptr<Confirm>>>;

  // An unsubscribe's callback: it runs when the last of its commands is answered.
  struct Unsubscribed {
    std::size_t batches = 0;
    Callback<void> done;
  };

  void complete_later(Callback<void> cb, Result<void> r) {
    if (!cb) return;
    conn_->post([cb = std::move(cb), r = std::move(r)]() mutable { cb(std::move(r)); });
  }

  void fail_all_pending(const Error& err) {
    for (PendingMap* m : {&pending_channels_, &pending_patterns_}) {
      for (auto& [name, recs] : *m)
        for (auto& rec : recs)
          if (rec->cb) complete_later(std::move(rec->cb), err);
      m->clear();
    }
  }

  // (P)SUBSCRIBE or (P)UNSUBSCRIBE `names`, kNamesPerSubscribe per command. Confirmed
  // subscriptions arrive as pushes (on_push); a subscription the server
  // refused (an ACL without access to the channel) fails its callbacks.
  void send(std::string_view cmd, const std::vector<std::string>& names,
            const std::shared_ptr<Unsubscribed>& unsub = nullptr) {
    const bool subscribing = cmd == "SUBSCRIBE" || cmd == "PSUBSCRIBE";
    const bool pattern = cmd[0] == 'P';
    for (std::size_t i = 0; i < names.size(); i += kNamesPerSubscribe) {
      std::vector<std::string_view> argv;
      argv.reserve(1 + std::min(kNamesPerSubscribe, names.size() - i));
      argv.push_back(cmd);
      for (std::size_t j = i; j < names.size() && j < i + kNamesPerSubscribe; ++j) argv.push_back(names[j]);
      Callback<Reply> answered;
      if (subscribing) {
        auto batch = std::make_shared<std::vector<std::string>>(argv.begin() + 1, argv.end());
        answered = [this, alive = alive_, batch, pattern](Result<Reply> r) {
          if (*alive && !r && r.error().kind == ErrorKind::server) forget(pattern, *batch, r.error());
        };
      } else if (unsub) {
        ++unsub->batches;
        answered = [unsub](Result<Reply> r) {
          if (--unsub->batches != 0 || !unsub->done) return;
          auto done = std::move(unsub->done);
          if (!r && (r.error().kind == ErrorKind::server || r.error().kind == ErrorKind::closed))
            done(r.error());
          else
            done(Result<void>());
        };
      }
      if (!conn_->send_subscription(argv, std::move(answered))) {
        if (unsub) --unsub->batches;  // never sent: not waited for
        return;  // link going down: restored on reconnect
      }
    }
  }

  // Names no longer subscribed (unsubscribed, or a (P)SUBSCRIBE the server
  // refused): their handlers go, subscribe callbacks still waiting for the
  // server get `err`, and they are not restored after a reconnect.
  void forget(bool pattern, const std::vector<std::string>& names, const Error& err) {
    auto& handlers = pattern ? patterns_ : channels_;
    auto& pending = pattern ? pending_patterns_ : pending_channels_;
    for (const std::string& n : names) {
      handlers.erase(n);
      (pattern ? resub_patterns_ : resub_channels_).erase(n);
      auto it = pending.find(n);
      if (it == pending.end()) continue;
      for (auto& rec : it->second)
        if (rec->cb) complete_later(std::move(rec->cb), err);
      pending.erase(it);
    }
    maybe_resubscribed();
  }

  void report(ConnectionState s, const Error* e) {
    if (s == last_reported_) return;
    last_reported_ = s;
    auto fn = on_state_;  // may destroy the subscriber
    if (fn) call_user(fn, s, e);
  }

  void on_link_state(ConnectionState s, const Error* e) {
    if (s != ConnectionState::connected) {
      link_up_ = false;
      restoring_ = false;
      reported_connected_ = false;
      report(s, e);
      return;
    }
    link_up_ = true;
    // Restore every subscription; "connected" is reported once all are back.
    resub_channels_.clear();
    resub_patterns_.clear();
    std::vector<std::string> chans, pats;
    for (auto& [name, h] : channels_) {
      chans.push_back(name);
      resub_channels_.insert(name);
    }
    for (auto& [name, h] : patterns_) {
      pats.push_back(name);
      resub_patterns_.insert(name);
    }
    restoring_ = true;
    if (!chans.empty()) send("SUBSCRIBE", chans);
    if (!pats.empty()) send("PSUBSCRIBE", pats);
    maybe_resubscribed();
  }

  void maybe_resubscribed() {
    if (!restoring_ || !link_up_ || !resub_channels_.empty() || !resub_patterns_.empty()) return;
    restoring_ = false;
    if (ever_connected_) ++stats_.resubscribes;
    ever_connected_ = true;
    reported_connected_ = true;
    report(ConnectionState::connected, nullptr);
  }

  void confirm(bool pattern, const std::string& name) {
    auto& pending = pattern ? pending_patterns_ : pending_channels_;
    (pattern ? resub_patterns_ : resub_channels_).erase(name);
    auto it = pending.find(name);
    if (it != pending.end() && !it->second.empty()) {
      std::shared_ptr<Confirm> rec = it->second.front();
      it->second.erase(it->second.begin());
      if (it->second.empty()) pending.erase(it);
      if (rec->left > 0 && --rec->left == 0 && rec->cb) {
        auto cb = std::move(rec->cb);
        auto alive = alive_;
        cb(Result<void>());
        if (!*alive) return;
      }
    }
    maybe_resubscribed();
  }

  void deliver(const MessageHandler* h, Message msg) {
    if (h == nullptr || !*h) {
      if (!catch_all_) {
        ++stats_.unhandled;
        return;
      }
      h = &catch_all_;
    }
    ++stats_.messages;
    ++turn_messages_;
    MessageHandler fn = *h;  // the handler may unsubscribe itself
    call_user(fn, msg);
  }

  void on_push(Reply&& r) {
    if (closing_ || !r.is_array() || r.size() < 3 || !r[0].is_string()) return;
    std::string_view kind = r[0].str();
    auto alive = alive_;
    if (kind == "message") {
      std::string channel = r.elements()[1].take_str();
      auto it = channels_.find(channel);
      deliver(it == channels_.end() ? nullptr : &it->second, Message{std::move(channel), r.elements()[2].take_str(), {}});
    } else if (kind == "pmessage" && r.size() >= 4) {
      std::string pattern = r.elements()[1].take_str();
      auto it = patterns_.find(pattern);
      deliver(it == patterns_.end() ? nullptr : &it->second,
              Message{r.elements()[2].take_str(), r.elements()[3].take_str(), std::move(pattern)});
    } else if (kind == "subscribe" || kind == "psubscribe") {
      confirm(kind == "psubscribe", std::string(r[1].str()));
    }
    (void)alive;
  }

  Connection* conn_ = nullptr;
  std::shared_ptr<SentinelResolver> sentinel_;
  std::shared_ptr<bool> alive_;
  std::unordered_map<std::string, MessageHandler> channels_, patterns_;
  PendingMap pending_channels_, pending_patterns_;
  std::unordered_set<std::string> resub_channels_, resub_patterns_;
  bool link_up_ = false;
  ConnectionState last_reported_ = ConnectionState::connecting;
  bool restoring_ = false;
  bool ever_connected_ = false;
  bool reported_connected_ = false;
  bool closing_ = false;
  std::size_t turn_messages_ = 0;
  SubscriberStats stats_;
};

}  // namespace detail

Subscriber::Subscriber(uv_loop_s* loop, ClientOptions options)
    : impl_(new detail::SubscriberImpl(loop, options)) {}
// Out of line, where the impl is complete; destroying it runs the same
// teardown as the former `delete impl_` (the impl defers what must outlive us).
Subscriber::~Subscriber() = default;

void Subscriber::subscribe(std::vector<std::string> channels, MessageHandler handler, Callback<void> confirmed) {
  impl_->subscribe(false, std::move(channels), std::move(handler), std::move(confirmed));
}
void Subscriber::psubscribe(std::vector<std::string> patterns, MessageHandler handler, Callback<void> confirmed) {
  impl_->subscribe(true, std::move(patterns), std::move(handler), std::move(confirmed));
}
void Subscriber::unsubscribe(std::vector<std::string> channels, Callback<void> done) {
  impl_->unsubscribe(false, std::move(channels), std::move(done));
}
void Subscriber::punsubscribe(std::vector<std::string> patterns, Callback<void> done) {
  impl_->unsubscribe(true, std::move(patterns), std::move(done));
}
void Subscriber::on_message(MessageHandler catch_all) { impl_->catch_all_ = std::move(catch_all); }
void Subscriber::on_state_change(Listener<void(ConnectionState, const Error*)> fn) {
  impl_->on_state_ = std::move(fn);
}
ConnectionState Subscriber::state() const noexcept { return impl_->state(); }
SubscriberStats Subscriber::stats() const noexcept { return impl_->stats(); }
void Subscriber::close(Once<void()> done) { impl_->close(std::move(done)); }

}  // namespace uvredis
