#include <uvredis/keyspace.hpp>

#include "protocol/callbacks.hpp"
#include "protocol/cluster_keys.hpp"
#include "link/connection.hpp"
#include "pubsub/keyspace_impl.hpp"
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

// Single server.
KeyspaceImpl::KeyspaceImpl(uv_loop_t* loop, ClientOptions o, KeyspaceOptions k)
    : loop_(loop), client_(std::move(o)), ks_(std::move(k)), life_(std::make_shared<Life>(Life{this})) {
  init_timer();
  db_ = ks_.db.value_or(client_->address.db);
  if (db_ < 0) invalid_ = Error{ErrorKind::usage, "KeyspaceOptions.db must not be negative"};
  const Address& a = client_->address;
  add_node(a.kind == Address::Kind::unix_socket ? a.path : a.host + ":" + std::to_string(a.port), *client_);
  map_known_ = true;
}

// Cluster.
KeyspaceImpl::KeyspaceImpl(uv_loop_t* loop, ClusterOptions o, KeyspaceOptions k)
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

KeyspaceImpl::~KeyspaceImpl() {
  life_->impl = nullptr;
  for (auto& p : pending_) fail_later(p, Error{ErrorKind::closed, "keyspace subscriber destroyed"});
  pending_.clear();
  nodes_.clear();  // their pending callbacks see life_->impl == nullptr
  map_client_.reset();
}

KeyspaceWatchId KeyspaceImpl::watch(KeyspaceForm form, std::vector<std::string> patterns,
                                    std::vector<std::string> events, KeyspaceHandler handler,
                                    Callback<void> confirmed) {
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

void KeyspaceImpl::unwatch(KeyspaceWatchId id, Callback<void> done) {
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

void KeyspaceImpl::close(Function<void()> done) {
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

std::vector<std::string> KeyspaceImpl::nodes() const {
  std::vector<std::string> v;
  for (auto& [name, n] : nodes_) v.push_back(name);
  return v;  // std::map: sorted
}

void KeyspaceImpl::init_timer() {
  uv_timer_init(loop_, map_timer_.allocate());
  map_timer_.get()->data = this;
}

void KeyspaceImpl::attach(const std::shared_ptr<Pending>& p, Node& n) {
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

void KeyspaceImpl::part(const std::shared_ptr<Pending>& p, std::optional<Error> e) {
  if (e && !p->err) p->err = std::move(e);
  if (--p->left != 0) return;
  Result<void> r = p->err ? Result<void>(*p->err) : Result<void>();
  std::erase(pending_, p);
  complete_later(p, std::move(r));
}

// Whichever completion of `p` runs first takes its callback.
void KeyspaceImpl::complete_later(const std::shared_ptr<Pending>& p, Result<void> r) {
  if (!p->cb) return;
  run_later(loop_, [p, r = std::move(r)]() mutable {
    if (!p->cb) return;
    auto cb = std::move(p->cb);
    cb(std::move(r));
  });
}


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
