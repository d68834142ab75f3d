// ClusterClient's slot map: asking the seeds and nodes for CLUSTER SLOTS, applying it, and what it answers.
#include "cluster/cluster_impl.hpp"

#include "link/connection.hpp"
#include "base/logging.hpp"

#include <uv.h>

#include <algorithm>
#include <array>
#include <unordered_set>

namespace uvredis::detail {

// ------------------------------------------------------------- slot map

void ClusterImpl::request_refresh() {
  if (closing_ || invalid_) return;
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  const std::uint64_t now = uv_now(loop_);
  const auto min_gap = static_cast<std::uint64_t>(std::max<long long>(opts_.refresh_min_interval.count(), 0));
  if (ever_refreshed_ && now < last_refresh_ + min_gap) {
    arm_refresh_timer(last_refresh_ + min_gap - now);
    return;
  }
  start_refresh();
}

void ClusterImpl::arm_refresh_timer(std::uint64_t delay_ms) {
  uv_timer_start(
      refresh_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<ClusterImpl*>(t->data);
        self->request_refresh();
      },
      delay_ms, 0);
}

void ClusterImpl::start_refresh() {
  refreshing_ = true;
  refresh_again_ = false;
  ever_refreshed_ = true;
  last_refresh_ = uv_now(loop_);
  ++counters_.refreshes;
  uv_timer_stop(refresh_timer_.get());
  // Connected masters first, then the others we know, then the seeds.
  candidates_.clear();
  candidate_ = 0;
  std::unordered_set<std::string> seen;
  auto add = [&](const std::string& name) {
    if (seen.insert(name).second) candidates_.push_back(name);
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < masters_.size(); ++i) {
      Node* m = masters_[(next_master_ + i) % masters_.size()];
      if ((m->client->state() == ConnectionState::connected) == (pass == 0)) add(m->name);
    }
  }
  for (const Address& a : seeds_) add(node_name(a.host, a.port));
  last_refresh_error_ = Error{ErrorKind::connect, "no cluster node to ask"};
  try_next_candidate();
}

void ClusterImpl::try_next_candidate() {
  while (candidate_ < candidates_.size()) {
    const std::string name = candidates_[candidate_++];
    Node* n = node(name);
    if (!n) continue;
    std::array<std::string_view, 2> argv{"CLUSTER", "SLOTS"};
    const std::string host = n->host;
    n->client->command(argv, [life = life_, host](Result<Reply> r) {
      if (life->impl) life->impl->on_slots(host, std::move(r));
    });
    return;
  }
  refresh_finished(false);
}

void ClusterImpl::on_slots(const std::string& asked, Result<Reply> r) {
  if (shut_) {
    refreshing_ = false;
    return;
  }
  if (!r) {
    last_refresh_error_ = r.error();
    log_->debug("cluster: CLUSTER SLOTS failed: {}", r.error().to_string());
    try_next_candidate();
    return;
  }
  auto ranges = parse_cluster_slots(*r, asked);
  if (!ranges || ranges->empty()) {
    last_refresh_error_ = ranges ? Error{ErrorKind::server, "the cluster serves no slots yet"} : ranges.error();
    try_next_candidate();
    return;
  }
  std::vector<Node*> slots(kClusterSlots, nullptr);
  std::vector<Node*> masters;
  std::vector<std::pair<Node*, Node*>> replica_of;  // (master, replica)
  for (const SlotRange& range : *ranges) {
    Node* n = node(range.host, range.port);
    if (std::find(masters.begin(), masters.end(), n) == masters.end()) masters.push_back(n);
    for (int s = range.first; s <= range.last; ++s) slots[static_cast<std::size_t>(s)] = n;
    if (replica_reads_)
      for (const auto& [host, port] : range.replicas) replica_of.emplace_back(n, node(host, port));
  }
  for (auto& [name, n] : nodes_) {
    n->master = false;
    n->replica = false;
    n->replicas.clear();
  }
  for (Node* m : masters) m->master = true;
  std::size_t kept = 0;
  for (auto [m, r] : replica_of) {
    // A node named both ways (a map caught mid-failover) serves as a master.
    if (r->master || std::find(m->replicas.begin(), m->replicas.end(), r) != m->replicas.end()) continue;
    m->replicas.push_back(r);
    r->replica = true;
    ++kept;
  }
  // Connections to nodes that are neither masters nor replicas kept for
  // reads go (seeds that were replicas, a failed master, a replica that
  // failed). Commands queued there are re-routed.
  std::vector<Node*> gone;
  for (auto& [name, n] : nodes_)
    if (!n->master && !n->replica) gone.push_back(n.get());
  slots_ = std::move(slots);
  masters_ = std::move(masters);
  if (next_master_ >= masters_.size()) next_master_ = 0;
  const bool first = !map_ready_;
  map_ready_ = true;
  if (first) log_->info("cluster: slot map with {} masters, {} replicas for reads", masters_.size(), kept);
  for (Node* n : gone) retire(n);
  refresh_finished(true);
}

void ClusterImpl::refresh_finished(bool ok) {
  refreshing_ = false;
  if (!ok) {
    ++counters_.refresh_failures;
    log_->warn("cluster: slot map refresh failed: {}", last_refresh_error_.to_string());
  }
  if (!map_ready_ && !ok) {
    // Nothing to route with: what waited for this refresh learns why.
    auto w = std::move(waiting_);
    waiting_.clear();
    Error err{ErrorKind::connect, "no cluster node answered CLUSTER SLOTS: " + last_refresh_error_.message};
    for (auto& op : w) fail_soon(std::move(op), err);
  } else if (map_ready_) {
    auto w = std::move(waiting_);
    waiting_.clear();
    for (auto& op : w) dispatch(std::move(op));
  }
  if (close_after_refresh_) {
    shut_nodes();
    return;
  }
  if (refresh_again_) {
    refresh_again_ = false;
    request_refresh();
  } else if (opts_.refresh_interval.count() > 0 && !closing_) {
    arm_refresh_timer(static_cast<std::uint64_t>(opts_.refresh_interval.count()));
  }
}

std::vector<std::string> ClusterImpl::masters() const {
  std::vector<std::string> v;
  for (const Node* n : masters_) v.push_back(n->name);
  return v;
}

std::optional<std::string> ClusterImpl::node_for_key(std::string_view key) const {
  if (!map_ready_) return std::nullopt;
  const Node* n = slots_[static_cast<std::size_t>(key_slot(key))];
  if (!n) return std::nullopt;
  return n->name;
}

ClusterStats ClusterImpl::stats() const noexcept {
  ClusterStats s = counters_;
  for (const auto& [name, n] : nodes_) {
    ClientStats c = n->client->stats();
    s.nodes.sent += c.sent;
    s.nodes.replies += c.replies;
    s.nodes.errors += c.errors;
    s.nodes.timeouts += c.timeouts;
    s.nodes.reconnects += c.reconnects;
    s.nodes.writes += c.writes;
    s.nodes.in_flight += c.in_flight;
    s.nodes.queued += c.queued;
    s.nodes.latency.merge(c.latency);
  }
  s.masters = masters_.size();
  for (const Node* m : masters_) {
    s.replicas += m->replicas.size();
    for (const Node* r : m->replicas) s.replicas_connected += r->client->state() == ConnectionState::connected;
  }
  s.waiting = waiting_.size() + delayed_.size();
  return s;
}

std::vector<NodeStats> ClusterImpl::node_stats() const {
  std::vector<NodeStats> out;
  out.reserve(nodes_.size());
  for (const auto& [name, n] : nodes_) out.push_back(NodeStats{name, n->master, n->client->stats()});
  std::sort(out.begin(), out.end(), [](const NodeStats& a, const NodeStats& b) { return a.node < b.node; });
  return out;
}

}  // namespace uvredis::detail
