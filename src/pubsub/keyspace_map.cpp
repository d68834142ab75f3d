// KeyspaceSubscriber on a cluster: reading CLUSTER SLOTS for the masters to watch, with backoff while one is down.
#include "pubsub/keyspace_impl.hpp"

#include "protocol/callbacks.hpp"
#include "protocol/cluster_keys.hpp"
#include "link/connection.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace uvredis::detail {

void KeyspaceImpl::schedule_map(std::uint64_t delay) {
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

void KeyspaceImpl::ask_map() {
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

void KeyspaceImpl::on_map(Result<Reply> r) {
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

std::uint64_t KeyspaceImpl::next_backoff() {
  backoff_ = backoff_ == 0 ? 50 : std::min<std::uint64_t>(backoff_ * 2, 1000);
  return backoff_;
}

}  // namespace uvredis::detail
