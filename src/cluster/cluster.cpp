#include "cluster/cluster_impl.hpp"

#include "link/connection.hpp"
#include "base/logging.hpp"

#include <uv.h>

#include <algorithm>
#include <array>
#include <unordered_set>

// ClusterClient, part 1: nodes, the slot map and its refresh, deferred work,
// close. Routing is in cluster_route.cpp.

namespace uvredis {

namespace detail {

namespace {

std::string node_name(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace

ClusterImpl::ClusterImpl(uv_loop_t* loop, ClusterOptions options)
    : loop_(loop), opts_(std::move(options)), replica_reads_(opts_.read_from != ReadFrom::master),
      log_(logger_or_silent(opts_.client.logger)),
      sched_(Scheduler::on(loop)),
      life_(std::make_shared<Life>(Life{this})) {
  uv_timer_init(loop_, retry_timer_.allocate());
  retry_timer_.get()->data = this;
  uv_timer_init(loop_, refresh_timer_.allocate());
  refresh_timer_.get()->data = this;
  // The periodic refresh alone must not keep the loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(refresh_timer_.get()));

  base_ = opts_.client.address;
  if (opts_.seeds.empty()) invalid_ = Error{ErrorKind::usage, "ClusterOptions.seeds is empty"};
  bool saw_tls = false, saw_plain = false;  // explicit schemes only: "host:port" goes with either
  // Seeds are named by position and shown only as Address::redact does: a
  // seed URL may carry the password.
  for (std::size_t i = 0; i < opts_.seeds.size() && !invalid_; ++i) {
    const std::string& s = opts_.seeds[i];
    const std::string which = "cluster seed #" + std::to_string(i + 1);
    auto a = Address::parse(s);
    if (!a) {
      invalid_ = Error{ErrorKind::usage, which + ": " + a.error().message};
    } else if (a->kind != Address::Kind::tcp) {
      invalid_ = Error{ErrorKind::usage, which + " ('" + Address::redact(s) + "') is not a TCP address"};
    } else {
      if (base_.password.empty() && !a->password.empty()) {
        base_.username = a->username;
        base_.password = a->password;
      }
      if (a->db != 0)
        invalid_ =
            Error{ErrorKind::usage, "Redis Cluster has database 0 only (" + which + " '" + Address::redact(s) + "')"};
      if (a->tls) base_.tls = true;
      // Every node connection uses one scheme: a plain redis:// seed next to
      // a rediss:// one would silently become TLS.
      if (s.find("://") != std::string::npos) {
        if (a->tls ? saw_plain : saw_tls)
          invalid_ = Error{ErrorKind::usage, "cluster seeds mix redis:// and rediss:// (" + which + " '" +
                                                 Address::redact(s) + "'); every node connection uses one scheme"};
        (a->tls ? saw_tls : saw_plain) = true;
      }
      seeds_.push_back(std::move(*a));
    }
  }
  if (!invalid_ && base_.db != 0) invalid_ = Error{ErrorKind::usage, "Redis Cluster has database 0 only"};
  // Each node client would refuse it too, but only as the reason why no node
  // answered CLUSTER SLOTS: say it up front, as a usage error.
  if (!invalid_ && base_.tls && !tls_supported())
    invalid_ = Error{ErrorKind::usage, "rediss:// needs TLS support, which this build of uvredis does not have"};
  base_.db = 0;
  base_.kind = Address::Kind::tcp;
  if (invalid_) {
    log_->error("cluster: {}", invalid_->message);
    return;
  }
  for (const Address& a : seeds_) node(a.host, a.port);
  request_refresh();
}

ClusterImpl::~ClusterImpl() {
  life_->impl = nullptr;
  // Commands still parked here fail on a later turn; those inside node
  // clients fail when the clients go (their callbacks see life_ cleared).
  auto parked = std::make_shared<std::vector<OpPtr>>();
  for (auto& op : waiting_) parked->push_back(std::move(op));
  for (auto& [due, op] : delayed_) parked->push_back(std::move(op));
  waiting_.clear();
  delayed_.clear();
  if (!parked->empty()) {
    run_later(loop_, [parked] {
      for (auto& op : *parked) {
        Error err{ErrorKind::closed, "cluster client destroyed"};
        if (op->group)
          finish_group(op, err);
        else
          finish(op, err);
      }
    });
  }
  // Work posted but not yet run is still owed its turn: it waits in the
  // loop's scheduler, which this impl does not own.
  for (auto& [name, n] : nodes_) delete n->client;
  nodes_.clear();
}

// ---------------------------------------------------------------- nodes

ClusterImpl::Node* ClusterImpl::node(const std::string& host, std::uint16_t port) {
  const std::string name = node_name(host, port);
  if (auto it = nodes_.find(name); it != nodes_.end()) return it->second.get();
  auto n = std::make_unique<Node>();
  n->name = name;
  n->host = host;
  n->port = port;
  n->client = make_client(host, port);
  log_->debug("cluster: node {} added", name);
  Node* raw = n.get();
  nodes_.emplace(name, std::move(n));
  return raw;
}

Client* ClusterImpl::make_client(const std::string& host, std::uint16_t port) {
  ClientOptions o = opts_.client;
  o.address = base_;
  o.address.host = host;
  o.address.port = port;
  // A node client that gave up would fail its slots for good while the map
  // still names it: nodes always reconnect (the map decides when to drop one).
  o.reconnect = true;
  o.reconnect_max_delay = std::min(o.reconnect_max_delay, std::chrono::milliseconds(1000));
  o.reconnect_min_delay = std::min(o.reconnect_min_delay, o.reconnect_max_delay);
  // Every node, not only the replicas: READONLY changes nothing on a master,
  // and a node that changes role keeps a connection that suits it.
  o.cluster_readonly = replica_reads_;
  // Reads are resent here, where the next try is routed afresh (the node
  // client would only wait for its own node).
  o.read_retry.attempts = 0;
  auto* c = new Client(loop_, std::move(o));
  c->on_state_change([life = life_](ConnectionState s, const Error*) {
    // A master that dropped may have failed over: look at the map again.
    if (life->impl && s == ConnectionState::reconnecting) life->impl->request_refresh();
  });
  return c;
}

ClusterImpl::Node* ClusterImpl::node(const std::string& name) {
  if (auto it = nodes_.find(name); it != nodes_.end()) return it->second.get();
  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(name, host, port)) return nullptr;
  return node(host, port);
}

// Closes a node's client gracefully (commands already sent get their
// replies; queued ones fail with closed and are re-routed) and frees it
// once it is done, whether or not this impl still exists then.
void ClusterImpl::retire(Node* n) {
  log_->debug("cluster: node {} retired", n->name);
  close_client(n->client);
  std::erase(masters_, n);
  for (Node* m : masters_) std::erase(m->replicas, n);
  nodes_.erase(n->name);
}

void ClusterImpl::close_client(Client* c) {
  c->on_state_change(nullptr);
  ++retiring_->left;
  uv_loop_t* loop = loop_;
  c->close([c, loop, r = retiring_] {
    run_later(loop, [c, r] {
      delete c;
      if (--r->left == 0) {
        auto ws = std::move(r->waiters);
        r->waiters.clear();
        for (auto& w : ws) w();
      }
    });
  });
}

ClusterImpl::Node* ClusterImpl::node_of(const Client* c) {
  for (auto& [name, n] : nodes_)
    if (n->client == c) return n.get();
  return nullptr;
}

// A command timed out on `via`. The node may have failed (or be failing
// over) without the link noticing: the map is asked again (rate-limited as
// every refresh). And the link itself may be dead while it looks connected:
// one PING finds out. A link on which nothing at all arrives while that
// PING waits is replaced by a new one (see on_probe).
void ClusterImpl::node_timed_out(const Client* via) {
  if (closing_) return;
  request_refresh();
  Node* n = node_of(via);
  if (!n || n->probing) return;
  n->probing = true;
  const ClientStats before = n->client->stats();
  CommandOptions co;
  co.timeout = opts_.client.command_timeout.count() > 0 ? opts_.client.command_timeout : std::chrono::milliseconds(3000);
  std::array<std::string_view, 1> argv{"PING"};
  n->client->command(
      argv,
      [life = life_, via, replies = before.replies, reconnects = before.reconnects](Result<Reply> r) {
        if (life->impl) life->impl->on_probe(via, r, replies, reconnects);
      },
      co);
}

void ClusterImpl::on_probe(const Client* via, const Result<Reply>& r, std::uint64_t replies,
                           std::uint64_t reconnects) {
  Node* n = node_of(via);
  if (!n) return;  // retired or replaced meanwhile
  n->probing = false;
  // Answered, or the link failed in a way the client handles itself
  // (dropped, reconnecting): nothing to do here.
  if (r || r.error().kind != ErrorKind::timeout || closing_) return;
  // A late reply to any command means a slow server, not a dead link.
  const ClientStats now = n->client->stats();
  if (now.replies != replies || now.reconnects != reconnects) return;
  replace_client(n);
}

// The node keeps its place in the map; only its connection is new. The old
// client closes gracefully: what it already sent completes (replies, or
// timeouts), and it is freed once done, as a retired node's client.
void ClusterImpl::replace_client(Node* n) {
  log_->warn("cluster: node {} stopped answering (a command timed out and a PING got nothing back either): "
             "replacing its connection",
             n->name);
  ++counters_.replaced_links;
  Client* old = n->client;
  n->client = make_client(n->host, n->port);
  close_client(old);
  request_refresh();
}

ClusterImpl::Node* ClusterImpl::any_master() {
  if (masters_.empty()) return nullptr;
  next_master_ = (next_master_ + 1) % masters_.size();
  return masters_[next_master_];
}

// The next connected replica of `m`, round robin; null when none is
// connected (the read then goes to the master rather than wait).
ClusterImpl::Node* ClusterImpl::pick_replica(Node* m) {
  const std::size_t k = m->replicas.size();
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t at = (m->next_replica + i) % k;
    Node* r = m->replicas[at];
    if (r->client->state() != ConnectionState::connected) continue;
    m->next_replica = (at + 1) % k;
    return r;
  }
  return nullptr;
}

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

// ------------------------------------------------------ deferred work

// Every function posted before close() completes runs before its callback
// (the scheduler runs them in order), and after this impl is gone too.
void ClusterImpl::post(Function<void()> fn) {
  if (sched_)
    sched_->later(std::move(fn));
  else
    run_later(loop_, std::move(fn));  // closed: this impl no longer holds the scheduler
}

void ClusterImpl::schedule_retry(OpPtr op, std::uint64_t delay_ms) {
  const std::uint64_t due = uv_now(loop_) + delay_ms;
  delayed_.emplace(due, std::move(op));
  if (retry_due_ != 0 && retry_due_ <= due) return;
  retry_due_ = due;
  uv_timer_start(
      retry_timer_.get(), [](uv_timer_t* t) { static_cast<ClusterImpl*>(t->data)->on_retry_timer(); }, delay_ms, 0);
}

void ClusterImpl::on_retry_timer() {
  retry_due_ = 0;
  const std::uint64_t now = uv_now(loop_);
  std::vector<OpPtr> due;
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    due.push_back(std::move(delayed_.begin()->second));
    delayed_.erase(delayed_.begin());
  }
  if (!delayed_.empty()) {
    retry_due_ = delayed_.begin()->first;
    uv_timer_start(
        retry_timer_.get(), [](uv_timer_t* t) { static_cast<ClusterImpl*>(t->data)->on_retry_timer(); },
        retry_due_ - now, 0);
  }
  auto life = life_;
  for (auto& op : due) {
    if (!life->impl) return;
    dispatch(std::move(op));
  }
}

void ClusterImpl::fail_parked(const Error& err) {
  auto w = std::move(waiting_);
  waiting_.clear();
  for (auto& op : w) fail_soon(std::move(op), err);
  for (auto& [due, op] : delayed_) fail_soon(std::move(op), err);
  delayed_.clear();
  retry_due_ = 0;
  uv_timer_stop(retry_timer_.get());
}

// ---------------------------------------------------------------- close

void ClusterImpl::close(Function<void()> done) {
  if (closed_handles_) {
    if (done) run_later(loop_, std::move(done));
    return;
  }
  if (done) close_waiters_.push_back(std::move(done));
  if (closing_) return;
  closing_ = true;
  uv_timer_stop(refresh_timer_.get());
  // Retries would wait for an unknown time: they fail now.
  for (auto& [due, op] : delayed_) fail_soon(std::move(op), Error{ErrorKind::closed, "cluster client closed before the command was retried"});
  delayed_.clear();
  retry_due_ = 0;
  uv_timer_stop(retry_timer_.get());
  // Commands issued before close() while the first map was on its way still
  // go out once it arrives (or fail with its error), as on a Client.
  if (!waiting_.empty() && refreshing_) {
    close_after_refresh_ = true;
    return;
  }
  shut_nodes();
}

void ClusterImpl::shut_nodes() {
  close_after_refresh_ = false;
  shut_ = true;
  fail_parked(Error{ErrorKind::closed, "cluster client closed before the command was sent"});

  // Every node client, and every retiring one, reports back; then our own
  // handles close and the waiters run.
  struct Countdown {
    std::size_t left;
    std::shared_ptr<Life> life;
  };
  auto cd = std::make_shared<Countdown>(Countdown{nodes_.size() + 1, life_});
  auto one = [cd] {
    if (--cd->left != 0) return;
    ClusterImpl* self = cd->life->impl;
    if (!self) return;  // destroyed meanwhile: its destructor released everything
    self->closed_handles_ = true;
    // Anything posted before the end still runs first: the scheduler runs in order.
    self->retry_timer_.close();
    self->refresh_timer_.close();
    auto ws = std::move(self->close_waiters_);
    self->close_waiters_.clear();
    // A closed client may outlive its loop's last turn: it lets go of the scheduler.
    self->sched_ = Scheduler::Ref();
    run_later(self->loop_, [ws = std::make_shared<decltype(ws)>(std::move(ws))] {
      for (auto& w : *ws)
        if (w) w();
    });
  };
  for (auto& [name, n] : nodes_) n->client->close(one);
  if (retiring_->left == 0)
    one();
  else
    retiring_->waiters.push_back(one);
}

}  // namespace detail

// ------------------------------------------------------------ ClusterClient

ClusterClient::ClusterClient(uv_loop_s* loop, ClusterOptions options)
    : impl_(new detail::ClusterImpl(loop, std::move(options))) {}
// Out of line, where the impl is complete; destroying it runs the same
// teardown as the former `delete impl_` (the impl defers what must outlive us).
ClusterClient::~ClusterClient() = default;

void ClusterClient::command(std::span<const std::string_view> argv, Callback<Reply> cb, CommandOptions opts) {
  impl_->command(argv, std::move(cb), opts);
}
void ClusterClient::command_to(std::string_view node, std::span<const std::string_view> argv, Callback<Reply> cb,
                               CommandOptions opts) {
  impl_->command_to(node, argv, std::move(cb), opts);
}
void ClusterClient::command_group(const std::vector<std::vector<std::string>>& cmds,
                                  Once<void(std::vector<Result<Reply>>)> done, CommandOptions opts) {
  impl_->command_group(cmds, std::move(done), opts);
}
void ClusterClient::post(Once<void()> fn) { impl_->post(std::move(fn)); }
uv_loop_s* ClusterClient::loop() const noexcept { return impl_->loop(); }
void ClusterClient::close(Once<void()> done) { impl_->close(std::move(done)); }
void ClusterClient::refresh() { impl_->refresh(); }
std::vector<std::string> ClusterClient::masters() const { return impl_->masters(); }
std::optional<std::string> ClusterClient::node_for_key(std::string_view key) const {
  return impl_->node_for_key(key);
}
ClusterStats ClusterClient::stats() const noexcept { return impl_->stats(); }
std::vector<NodeStats> ClusterClient::node_stats() const { return impl_->node_stats(); }
int ClusterClient::key_slot(std::string_view key) noexcept { return detail::key_slot(key); }

}  // namespace uvredis
