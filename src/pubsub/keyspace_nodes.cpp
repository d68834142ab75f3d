// KeyspaceSubscriber's nodes: a Subscriber (and a CONFIG SET client) per server, routing their messages to watches.
#include "pubsub/keyspace_impl.hpp"

#include "protocol/callbacks.hpp"
#include "protocol/cluster_keys.hpp"
#include "link/connection.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace uvredis::detail {

MessageHandler KeyspaceImpl::router(const std::string& node) {
  return [life = life_, node](const Message& m) {
    if (life->impl) life->impl->route(node, m);
  };
}

void KeyspaceImpl::route(const std::string& node, const Message& m) {
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

std::vector<KeyspaceWatchId> KeyspaceImpl::watchers_of(const std::string& pattern) const {
  auto it = by_pattern_.find(pattern);
  return it == by_pattern_.end() ? std::vector<KeyspaceWatchId>{} : it->second;
}

ClientOptions KeyspaceImpl::node_options(const std::string& name) const {
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

void KeyspaceImpl::add_node(const std::string& name, const ClientOptions& o) {
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

void KeyspaceImpl::remove_node(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  std::unique_ptr<Node> n = std::move(it->second);
  nodes_.erase(it);
  *n->removed = true;
  for (auto& p : n->config_waiters) part(p, std::nullopt);
  // Destroying them fails their callbacks with closed on a later turn;
  // `removed` makes those count as done.
}

void KeyspaceImpl::send_config(Node& n) {
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

void KeyspaceImpl::on_config(const std::string& name, std::optional<Error> e) {
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

void KeyspaceImpl::on_node_state(const std::string& name, ConnectionState s, const Error* e) {
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

}  // namespace uvredis::detail
