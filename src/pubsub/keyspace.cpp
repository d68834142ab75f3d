#include <uvredis/keyspace.hpp>

#include "protocol/callbacks.hpp"
#include "protocol/cluster_keys.hpp"
#include "link/connection.hpp"
#include "base/uv_handle.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <unordered_set>

// KeyspaceSubscriber: one Node (a Subscriber, plus a Client for CONFIG SET)
// per server. On a single server that is one node for life; on a cluster the
// nodes are the masters of the latest CLUSTER SLOTS reply (asked through a
// ClusterClient of our own), reconciled after every read of the map. Every
// node is subscribed to every pattern any watch needs; messages come back
// through one router that turns them into KeyspaceEvents and hands them to
// the watches of their pattern.
//
// Confirmations are counted per (node, subscription) and per (node, CONFIG
// SET); a node dropped by the map meanwhile counts as done: its successor is
// subscribed when the map names it. A confirmation is always completed from
// a posted function, so nothing of the user's runs inside our own loops.

namespace uvredis {

std::optional<KeyspaceEvent> parse_keyspace_event(std::string_view channel, std::string_view payload) {
  KeyspaceEvent ev;
  std::string_view rest;
  if (channel.starts_with("__keyspace@")) {
    ev.form = KeyspaceForm::keyspace;
    rest = channel.substr(11);
  } else if (channel.starts_with("__keyevent@")) {
    ev.form = KeyspaceForm::keyevent;
    rest = channel.substr(11);
  } else {
    return std::nullopt;
  }
  // Digits, then "__:", then the key or event (which may hold anything,
  // "__:" included: the first one after the digits is the separator).
  std::size_t i = 0;
  long db = 0;
  while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && i < 9) db = db * 10 + (rest[i++] - '0');
  if (i == 0 || !rest.substr(i).starts_with("__:")) return std::nullopt;
  ev.db = static_cast<int>(db);
  std::string_view tail = rest.substr(i + 3);
  if (ev.form == KeyspaceForm::keyspace) {
    ev.key.assign(tail);
    ev.event.assign(payload);
  } else {
    ev.event.assign(tail);
    ev.key.assign(payload);
  }
  return ev;
}

namespace detail {

class KeyspaceImpl {
 public:
  // Single server.
  KeyspaceImpl(uv_loop_t* loop, ClientOptions o, KeyspaceOptions k)
      : loop_(loop), client_(std::move(o)), ks_(std::move(k)), life_(std::make_shared<Life>(Life{this})) {
    init_timer();
    db_ = ks_.db.value_or(client_->address.db);
    if (db_ < 0) invalid_ = Error{ErrorKind::usage, "KeyspaceOptions.db must not be negative"};
    const Address& a = client_->address;
    add_node(a.kind == Address::Kind::unix_socket ? a.path : a.host + ":" + std::to_string(a.port), *client_);
    map_known_ = true;
  }

  // Cluster.
  KeyspaceImpl(uv_loop_t* loop, ClusterOptions o, KeyspaceOptions k)
      : loop_(loop), cluster_(std::move(o)), ks_(std::move(k)), life_(std::make_shared<Life>(Life{this})) {
    init_timer();
    db_ = ks_.db.value_or(0);
    is_cluster_ = true;
    base_ = cluster_->client.address;
    for (std::size_t i = 0; i < cluster_->seeds.size() && !invalid_; ++i) {
      // By position: the parse error shows the seed only redacted already,
      // and a seed may carry the password.
      auto a = Address::parse(cluster_->seeds[i]);
      if (!a) {
        invalid_ = Error{ErrorKind::usage, "cluster seed #" + std::to_string(i + 1) + ": " + a.error().message};
      } else {
        if (base_.password.empty() && !a->password.empty()) {
          base_.username = a->username;
          base_.password = a->password;
        }
        base_.tls = base_.tls || a->tls;
        if (seed_host_.empty()) seed_host_ = a->host;
      }
    }
    if (!invalid_ && cluster_->seeds.empty()) invalid_ = Error{ErrorKind::usage, "ClusterOptions.seeds is empty"};
    if (!invalid_ && db_ != 0) invalid_ = Error{ErrorKind::usage, "a cluster has database 0 only (KeyspaceOptions.db)"};
    if (!invalid_) ask_map();
  }

  ~KeyspaceImpl() {
    life_->impl = nullptr;
    for (auto& p : pending_) fail_later(p, Error{ErrorKind::closed, "keyspace subscriber destroyed"});
    pending_.clear();
    nodes_.clear();  // their pending callbacks see life_->impl == nullptr
    map_client_.reset();
  }

  KeyspaceWatchId watch(KeyspaceForm form, std::vector<std::string> patterns, std::vector<std::string> events,
                        KeyspaceHandler handler, Callback<void> confirmed) {
    const KeyspaceWatchId id = ++next_id_;
    auto p = std::make_shared<Pending>();
    p->cb = std::move(confirmed);
    if (invalid_ || closing_ || patterns.empty()) {
      Error err = invalid_   ? *invalid_
                  : closing_ ? Error{ErrorKind::closed, "keyspace subscriber is closed"}
                             : Error{ErrorKind::usage, "watch_events needs at least one event name"};
      fail_later(p, std::move(err));
      return id;
    }
    std::vector<std::string> channels;
    const std::string prefix =
        std::string(form == KeyspaceForm::keyspace ? "__keyspace@" : "__keyevent@") + std::to_string(db_) + "__:";
    for (auto& pat : patterns) channels.push_back(prefix + pat);
    std::sort(channels.begin(), channels.end());  // a pattern named twice is one subscription, one delivery
    channels.erase(std::unique(channels.begin(), channels.end()), channels.end());
    for (auto& c : channels) by_pattern_[c].push_back(id);
    Watch w{form, channels, {events.begin(), events.end()}, std::make_shared<KeyspaceHandler>(std::move(handler))};
    watches_.emplace(id, std::move(w));
    p->patterns = std::move(channels);
    pending_.push_back(p);
    if (!map_known_) {
      unplaced_.push_back(p);  // attached to the masters of the first map
      return id;
    }
    for (auto& [name, n] : nodes_) attach(p, *n);
    release(p);
    return id;
  }

  void unwatch(KeyspaceWatchId id, Callback<void> done) {
    auto it = watches_.find(id);
    std::vector<std::string> drop;
    if (it != watches_.end()) {
      for (auto& c : it->second.patterns) {
        auto& ids = by_pattern_[c];
        std::erase(ids, id);
        if (ids.empty()) {
          by_pattern_.erase(c);
          drop.push_back(c);
        }
      }
      watches_.erase(it);
    }
    if (drop.empty() || nodes_.empty()) {
      if (done) run_later(loop_, [cb = std::move(done)]() mutable { cb(Result<void>()); });
      return;
    }
    // One completion over every node; a node removed meanwhile counts as done.
    struct Join {
      std::size_t left;
      std::optional<Error> err;
      Callback<void> cb;
    };
    auto j = std::make_shared<Join>(Join{nodes_.size(), std::nullopt, std::move(done)});
    for (auto& [name, n] : nodes_) {
      n->sub->punsubscribe(drop, [j, removed = n->removed](Result<void> r) {
        if (!r && !(*removed && r.error().kind == ErrorKind::closed) && !j->err) j->err = r.error();
        if (--j->left != 0 || !j->cb) return;
        auto cb = std::move(j->cb);
        if (j->err)
          cb(*j->err);
        else
          cb(Result<void>());
      });
    }
  }

  void close(Function<void()> done) {
    if (closing_) {
      if (done) run_later(loop_, std::move(done));
      return;
    }
    closing_ = true;
    map_timer_.close();
    for (auto& p : unplaced_) fail_later(p, Error{ErrorKind::closed, "keyspace subscriber is closed"});
    unplaced_.clear();
    std::size_t n = map_client_ ? 1 : 0;
    for (auto& [name, node] : nodes_) n += node->config ? 2 : 1;
    if (n == 0) {
      if (done) run_later(loop_, std::move(done));
      return;
    }
    auto one = join_n(n, std::move(done));
    // Pending subscriptions fail with closed through their own callbacks.
    for (auto& [name, node] : nodes_) {
      node->sub->close(one);
      if (node->config) node->config->close(one);
    }
    if (map_client_) map_client_->close(one);
  }

  std::vector<std::string> nodes() const {
    std::vector<std::string> v;
    for (auto& [name, n] : nodes_) v.push_back(name);
    return v;  // std::map: sorted
  }

  std::function<void(const Error&)> on_error_;
  std::function<void(const std::string&, ConnectionState, const Error*)> on_node_state_;
  std::uint64_t events_ = 0;
  std::uint64_t map_reads_ = 0;

 private:
  struct Life {
    KeyspaceImpl* impl;
  };
  struct Pending {
    std::vector<std::string> patterns;
    std::size_t left = 1;  // the issuing call's own share, released when it has attached everything
    std::optional<Error> err;
    Callback<void> cb;
  };
  struct Watch {
    KeyspaceForm form;
    std::vector<std::string> patterns;
    std::unordered_set<std::string> events;  // key-space form: only these (empty: all)
    std::shared_ptr<KeyspaceHandler> handler;  // shared: it may unwatch itself while it runs
  };
  enum class Config { none, pending, ok, failed };
  struct Node {
    std::string name;
    std::unique_ptr<Subscriber> sub;
    std::unique_ptr<Client> config;  // only with notify_keyspace_events
    Config config_state = Config::none;
    std::optional<Error> config_err;
    std::vector<std::shared_ptr<Pending>> config_waiters;
    std::shared_ptr<bool> removed = std::make_shared<bool>(false);
    bool connected_once = false;
  };

  void init_timer() {
    uv_timer_init(loop_, map_timer_.allocate());
    map_timer_.get()->data = this;
  }

  // ------------------------------------------------------------ confirmations

  void attach(const std::shared_ptr<Pending>& p, Node& n) {
    ++p->left;
    n.sub->psubscribe(p->patterns, router(n.name),
                      [life = life_, p, removed = n.removed](Result<void> r) {
                        KeyspaceImpl* self = life->impl;
                        if (!self || !p->cb) return;
                        std::optional<Error> e;
                        // A node the map dropped is no one's business any more.
                        if (!r && !(*removed && r.error().kind == ErrorKind::closed && !self->closing_)) e = r.error();
                        self->part(p, std::move(e));
                      });
    if (n.config_state == Config::pending) {
      ++p->left;
      n.config_waiters.push_back(p);
    } else if (n.config_state == Config::failed && n.config_err && !n.config_err->is_transport()) {
      // Already refused on this node: this confirmation learns it too (a
      // failed link is tried again on its next connect instead).
      ++p->left;
      part(p, n.config_err);
    }
  }

  void release(const std::shared_ptr<Pending>& p) { part(p, std::nullopt); }

  void part(const std::shared_ptr<Pending>& p, std::optional<Error> e) {
    if (e && !p->err) p->err = std::move(e);
    if (--p->left != 0) return;
    Result<void> r = p->err ? Result<void>(*p->err) : Result<void>();
    std::erase(pending_, p);
    complete_later(p, std::move(r));
  }

  void fail_later(const std::shared_ptr<Pending>& p, Error err) { complete_later(p, Result<void>(std::move(err))); }

  // Whichever completion of `p` runs first takes its callback.
  void complete_later(const std::shared_ptr<Pending>& p, Result<void> r) {
    if (!p->cb) return;
    run_later(loop_, [p, r = std::move(r)]() mutable {
      if (!p->cb) return;
      auto cb = std::move(p->cb);
      cb(std::move(r));
    });
  }

  // ------------------------------------------------------------ nodes

  MessageHandler router(const std::string& node) {
    return [life = life_, node](const Message& m) {
      if (life->impl) life->impl->route(node, m);
    };
  }

  void route(const std::string& node, const Message& m) {
    auto users = watchers_of(m.pattern);
    if (users.empty()) return;
    auto ev = parse_keyspace_event(m.channel, m.payload);
    if (!ev) return;
    ev->node = node;
    auto life = life_;
    for (KeyspaceWatchId id : users) {
      auto it = watches_.find(id);  // an earlier handler may have unwatched it
      if (it == watches_.end()) continue;
      const Watch& w = it->second;
      if (w.form == KeyspaceForm::keyspace && !w.events.empty() && !w.events.count(ev->event)) continue;
      if (!*w.handler) continue;
      ++events_;
      auto fn = w.handler;  // keeps it alive if it unwatches itself
      call_user(*fn, *ev);
      if (!life->impl) return;  // destroyed by the handler
    }
  }

  std::vector<KeyspaceWatchId> watchers_of(const std::string& pattern) const {
    auto it = by_pattern_.find(pattern);
    return it == by_pattern_.end() ? std::vector<KeyspaceWatchId>{} : it->second;
  }

  ClientOptions node_options(const std::string& name) const {
    ClientOptions o = cluster_->client;
    std::string host;
    std::uint16_t port = 0;
    split_host_port(name, host, port);
    o.address = base_;
    o.address.kind = Address::Kind::tcp;
    o.address.host = host;
    o.address.port = port;
    o.address.db = 0;
    // The map, not the link, decides when a node is given up, and a dead
    // master's link must not wait long before it tells us.
    o.reconnect = true;
    o.reconnect_max_delay = std::min(o.reconnect_max_delay, std::chrono::milliseconds(1000));
    o.reconnect_min_delay = std::min(o.reconnect_min_delay, o.reconnect_max_delay);
    return o;
  }

  void add_node(const std::string& name, const ClientOptions& o) {
    auto n = std::make_unique<Node>();
    n->name = name;
    n->sub = std::make_unique<Subscriber>(loop_, o);
    n->sub->on_state_change([life = life_, name](ConnectionState s, const Error* e) {
      if (life->impl) life->impl->on_node_state(name, s, e);
    });
    std::vector<std::string> all;
    for (auto& [c, ids] : by_pattern_) all.push_back(c);
    if (!all.empty()) n->sub->psubscribe(std::move(all), router(name));
    if (!ks_.notify_keyspace_events.empty()) {
      n->config = std::make_unique<Client>(loop_, o);
      n->config_state = Config::pending;
      send_config(*n);
    }
    nodes_.emplace(name, std::move(n));
  }

  void remove_node(const std::string& name) {
    auto it = nodes_.find(name);
    if (it == nodes_.end()) return;
    std::unique_ptr<Node> n = std::move(it->second);
    nodes_.erase(it);
    *n->removed = true;
    for (auto& p : n->config_waiters) part(p, std::nullopt);
    // Destroying them fails their callbacks with closed on a later turn;
    // `removed` makes those count as done.
  }

  void send_config(Node& n) {
    std::array<std::string_view, 4> argv{"CONFIG", "SET", "notify-keyspace-events", ks_.notify_keyspace_events};
    n.config->command(argv, [life = life_, removed = n.removed, name = n.name](Result<Reply> r) {
      KeyspaceImpl* self = life->impl;
      if (!self || *removed) return;
      std::optional<Error> e;
      if (!r)
        e = r.error();
      else if (r->is_error())
        e = Error{ErrorKind::server, std::string(r->str())};
      if (e && e->kind == ErrorKind::server)
        e = Error{e->kind, "CONFIG SET notify-keyspace-events refused by " + name + ": " + e->message +
                               " (set notify-keyspace-events in the server's configuration, or allow CONFIG SET)"};
      else if (e && !(e->kind == ErrorKind::closed && self->closing_))
        e = Error{e->kind, "CONFIG SET notify-keyspace-events failed on " + name + ": " + e->message};
      self->on_config(name, std::move(e));
    });
  }

  void on_config(const std::string& name, std::optional<Error> e) {
    auto it = nodes_.find(name);
    if (it == nodes_.end()) return;
    Node& n = *it->second;
    n.config_state = e ? Config::failed : Config::ok;
    n.config_err = e;
    auto waiters = std::move(n.config_waiters);
    n.config_waiters.clear();
    for (auto& p : waiters) part(p, e);
    if (e && e->kind != ErrorKind::closed && on_error_) {
      auto fn = on_error_;  // may destroy us: last thing here
      call_user(fn, *e);
    }
  }

  void on_node_state(const std::string& name, ConnectionState s, const Error* e) {
    auto it = nodes_.find(name);
    if (it == nodes_.end() || closing_) return;
    Node& n = *it->second;
    if (s == ConnectionState::connected) {
      // A restarted server forgot the setting: say it again (also after a
      // failure of the link, not after a refusal: that is told once).
      const bool link_failed = n.config_state == Config::failed && n.config_err && n.config_err->is_transport();
      if ((n.connected_once || link_failed) && n.config && n.config_state != Config::pending) {
        n.config_state = Config::pending;
        send_config(n);
      }
      n.connected_once = true;
    } else if (is_cluster_ && (s == ConnectionState::reconnecting || s == ConnectionState::failed)) {
      map_soon_ = true;  // a failover may be under way: read the map now, then with backoff
      schedule_map(0);
    }
    if (on_node_state_) {
      auto fn = on_node_state_;  // may destroy us: last thing here
      call_user(fn, name, s, e);
    }
  }

  // ------------------------------------------------------------ the map

  void schedule_map(std::uint64_t delay) {
    if (closing_ || !is_cluster_ || invalid_) return;
    if (asking_) {
      again_ = true;
      return;
    }
    uv_timer_t* t = map_timer_.get();
    const std::uint64_t due = uv_now(loop_) + delay;
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(t)) && due_ <= due) return;
    due_ = due;
    uv_timer_start(t, [](uv_timer_t* h) { static_cast<KeyspaceImpl*>(h->data)->ask_map(); }, delay, 0);
  }

  void ask_map() {
    if (closing_) return;
    if (!map_client_) {
      ClusterOptions o = *cluster_;
      o.refresh_interval = std::chrono::milliseconds(0);  // we ask when we need to
      map_client_ = std::make_unique<ClusterClient>(loop_, std::move(o));
    }
    asking_ = true;
    again_ = false;
    std::array<std::string_view, 2> argv{"CLUSTER", "SLOTS"};
    map_client_->command(argv, [life = life_](Result<Reply> r) {
      if (life->impl) life->impl->on_map(std::move(r));
    });
  }

  void on_map(Result<Reply> r) {
    asking_ = false;
    if (closing_) return;
    ++map_reads_;
    std::optional<std::set<std::string>> masters;
    if (r && !r->is_error()) {
      auto parsed = parse_cluster_slots(*r, seed_host_);
      if (parsed && !parsed->empty()) {
        masters.emplace();
        for (auto& range : *parsed) masters->insert(range.host + ":" + std::to_string(range.port));
      }
    }
    if (!masters) {
      schedule_map(next_backoff());
      return;
    }
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      const std::string name = (it++)->first;
      if (!masters->count(name)) remove_node(name);
    }
    for (auto& m : *masters)
      if (!nodes_.count(m)) add_node(m, node_options(m));
    if (!map_known_) {
      map_known_ = true;
      auto ps = std::move(unplaced_);
      unplaced_.clear();
      for (auto& p : ps) {
        for (auto& [name, n] : nodes_) attach(p, *n);
        release(p);
      }
    }
    // While a master's link is down the map may still name it (a failover
    // takes a few seconds): look again soon.
    bool down = false;
    for (auto& [name, n] : nodes_) down = down || n->sub->state() != ConnectionState::connected;
    if (again_) {
      schedule_map(0);
    } else if (down && map_soon_) {
      schedule_map(next_backoff());
    } else {
      map_soon_ = false;
      backoff_ = 0;
      if (ks_.topology_interval.count() > 0) schedule_map(static_cast<std::uint64_t>(ks_.topology_interval.count()));
    }
  }

  std::uint64_t next_backoff() {
    backoff_ = backoff_ == 0 ? 50 : std::min<std::uint64_t>(backoff_ * 2, 1000);
    return backoff_;
  }

  uv_loop_t* loop_;
  std::optional<ClientOptions> client_;
  std::optional<ClusterOptions> cluster_;
  KeyspaceOptions ks_;
  std::shared_ptr<Life> life_;
  int db_ = 0;
  bool is_cluster_ = false;
  bool closing_ = false;
  std::optional<Error> invalid_;
  Address base_;
  std::string seed_host_;
  KeyspaceWatchId next_id_ = 0;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::unordered_map<KeyspaceWatchId, Watch> watches_;
  std::map<std::string, std::vector<KeyspaceWatchId>> by_pattern_;  // channel pattern -> its watches
  std::vector<std::shared_ptr<Pending>> pending_, unplaced_;
  bool map_known_ = false;
  std::unique_ptr<ClusterClient> map_client_;
  UvHandle<uv_timer_t> map_timer_;
  std::uint64_t due_ = 0, backoff_ = 0;
  bool asking_ = false, again_ = false, map_soon_ = false;
};

}  // namespace detail

KeyspaceSubscriber::KeyspaceSubscriber(uv_loop_s* loop, ClientOptions options, KeyspaceOptions keyspace)
    : impl_(new detail::KeyspaceImpl(loop, std::move(options), std::move(keyspace))) {}
KeyspaceSubscriber::KeyspaceSubscriber(uv_loop_s* loop, ClusterOptions options, KeyspaceOptions keyspace)
    : impl_(new detail::KeyspaceImpl(loop, std::move(options), std::move(keyspace))) {}
// Out of line, where the impl is complete; destroying it runs the same
// teardown as the former `delete impl_` (the impl defers what must outlive us).
KeyspaceSubscriber::~KeyspaceSubscriber() = default;

KeyspaceWatchId KeyspaceSubscriber::watch_keys(std::string key_pattern, std::vector<std::string> events,
                                               KeyspaceHandler handler, Callback<void> confirmed) {
  return impl_->watch(KeyspaceForm::keyspace, {std::move(key_pattern)}, std::move(events), std::move(handler),
                      std::move(confirmed));
}
KeyspaceWatchId KeyspaceSubscriber::watch_events(std::vector<std::string> events, KeyspaceHandler handler,
                                                 Callback<void> confirmed) {
  return impl_->watch(KeyspaceForm::keyevent, std::move(events), {}, std::move(handler), std::move(confirmed));
}
void KeyspaceSubscriber::unwatch(KeyspaceWatchId id, Callback<void> done) { impl_->unwatch(id, std::move(done)); }
void KeyspaceSubscriber::on_error(Listener<void(const Error&)> fn) { impl_->on_error_ = std::move(fn); }
void KeyspaceSubscriber::on_node_state(
    std::function<void(const std::string& node, ConnectionState, const Error*)> fn) {
  impl_->on_node_state_ = std::move(fn);
}
std::vector<std::string> KeyspaceSubscriber::nodes() const { return impl_->nodes(); }
std::uint64_t KeyspaceSubscriber::events() const noexcept { return impl_->events_; }
std::uint64_t KeyspaceSubscriber::map_reads() const noexcept { return impl_->map_reads_; }
void KeyspaceSubscriber::close(Once<void()> done) { impl_->close(std::move(done)); }

}  // namespace uvredis
