#include "pubsub/cluster_sharded.hpp"

#include "cluster/cluster_impl.hpp"
#include "protocol/callbacks.hpp"

#include "base/logging.hpp"

#include <algorithm>
#include <array>

// ClusterSubscriber, sharded half: which node holds which shard channel, and
// moving channels when a node dies or a slot moves (see the header).

namespace uvredis::detail {

namespace {

// Error replies after which the channel is placed again rather than given up.
bool transient(std::string_view msg) {
  const std::string_view code = msg.substr(0, msg.find(' '));
  return code == "MOVED" || code == "ASK" || code == "TRYAGAIN" || code == "CLUSTERDOWN" || code == "LOADING" ||
         code == "MASTERDOWN";
}

}  // namespace

ShardRouter::ShardRouter(uv_loop_t* loop, const ClusterOptions& options, Address base, Hooks hooks)
    : loop_(loop), opts_(options), base_(std::move(base)), hooks_(std::move(hooks)),
      log_(logger_or_silent(opts_.client.logger)), alive_(std::make_shared<bool>(true)) {
  uv_timer_init(loop_, map_timer_.allocate());
  map_timer_.get()->data = this;
  uv_timer_init(loop_, sweep_timer_.allocate());
  sweep_timer_.get()->data = this;
  ClientOptions t = opts_.client;
  t.address = base_;
  tls_ = make_tls_context(t);
}

ShardRouter::~ShardRouter() {
  *alive_ = false;
  for (auto& [name, recs] : pending_)
    for (auto& rec : recs)
      if (rec->cb) fail_later(std::move(rec->cb), Error{ErrorKind::closed, "subscriber destroyed"});
  pending_.clear();
  links_.clear();  // their connections fail nothing of the user's and free themselves
  map_client_.reset();
}

// ------------------------------------------------------------ user calls

void ShardRouter::subscribe(std::vector<std::string> names, MessageHandler handler, Callback<void> confirmed) {
  if (closing_) return fail_later(std::move(confirmed), Error{ErrorKind::closed, "subscriber is closed"});
  if (names.empty())
    return fail_later(std::move(confirmed), Error{ErrorKind::usage, "ssubscribe needs at least one channel"});
  std::shared_ptr<Confirm> rec;
  if (confirmed) rec = std::make_shared<Confirm>(Confirm{names.size(), std::move(confirmed)});
  std::unordered_map<ShardLink*, std::vector<std::string>> again;
  std::vector<std::string> homeless;
  for (const std::string& n : names) {
    Channel& ch = channels_[n];
    ch.handler = handler;
    if (rec) pending_[n].push_back(rec);
    if (ch.link)
      again[ch.link].push_back(n);  // the server confirms it again
    else
      homeless.push_back(n);
  }
  for (auto& [l, v] : again) l->add(v);
  if (map_known_)
    place(homeless);
  else
    request_map(false);
}

void ShardRouter::unsubscribe(std::vector<std::string> names, Callback<void> done) {
  const bool had_gap = gap();
  std::unordered_map<ShardLink*, std::vector<std::string>> leaving;
  for (const std::string& n : names) {
    if (auto it = channels_.find(n); it != channels_.end()) {
      if (it->second.link) leaving[it->second.link].push_back(n);
      if (it->second.ever_confirmed && !it->second.confirmed) --gap_;
      channels_.erase(it);
    }
    if (auto p = pending_.find(n); p != pending_.end()) {
      for (auto& rec : p->second)
        if (rec->cb) fail_later(std::move(rec->cb), Error{ErrorKind::closed, "unsubscribed before the server confirmed"});
      pending_.erase(p);
    }
  }
  for (auto& [l, v] : leaving) l->remove(v);
  schedule_sweep();
  if (done) run_later(loop_, [cb = std::move(done)]() mutable { cb(Result<void>()); });
  if (had_gap && !gap()) {
    gap_error_.reset();
    gap_changed();
  }
}

void ShardRouter::close(Function<void()> done) {
  if (!closing_) {
    closing_ = true;
    for (auto& [name, recs] : pending_)
      for (auto& rec : recs)
        if (rec->cb) fail_later(std::move(rec->cb), Error{ErrorKind::closed, "subscriber closed"});
    pending_.clear();
    map_timer_.close();
    sweep_timer_.close();
  }
  const std::size_t n = links_.size() + (map_client_ ? 1 : 0);
  if (n == 0) {
    if (done) run_later(loop_, std::move(done));
    return;
  }
  auto one = join_n(n, std::move(done));
  for (auto& [name, l] : links_) l->close(one);
  if (map_client_) map_client_->close(one);
}

std::optional<std::string> ShardRouter::node_of(const std::string& channel) const {
  auto it = channels_.find(channel);
  if (it == channels_.end() || !it->second.confirmed || !it->second.link) return std::nullopt;
  return it->second.link->node();
}

// ------------------------------------------------------------ placement

ShardLink* ShardRouter::link_for(const std::string& node) {
  if (auto it = links_.find(node); it != links_.end()) return it->second.get();
  std::string host;
  std::uint16_t port = 0;
  split_host_port(node, host, port);
  const ClientOptions& o = opts_.client;
  ConnectionConfig c{o};
  c.options.address = base_;
  c.options.address.kind = Address::Kind::tcp;
  c.options.address.host = host;
  c.options.address.port = port;
  c.options.address.db = 0;
  c.options.cluster_readonly = false;  // subscriptions work on any node, no READONLY
  // As on a ClusterClient's nodes: the map, not the link, decides when a
  // node is given up, and a dead master's link must not wait long.
  c.options.reconnect = true;
  c.options.reconnect_max_delay = std::min(o.reconnect_max_delay, std::chrono::milliseconds(1000));
  c.options.reconnect_min_delay = std::min(o.reconnect_min_delay, c.options.reconnect_max_delay);
  // Our own read path makes PING fine in subscribed mode (["pong", ""]):
  // health_check_interval applies as given.
  c.tls = tls_;
  c.name = "shard " + node;
  ShardLink::Events ev;
  ev.message = [this](ShardLink& l, std::string ch, std::string payload) {
    on_message(l, std::move(ch), std::move(payload));
  };
  ev.confirmed = [this](ShardLink& l, const std::string& ch) { on_confirmed(l, ch); };
  ev.dropped = [this](ShardLink& l, const std::string& ch) { on_dropped(l, ch); };
  ev.refused = [this](ShardLink& l, std::vector<std::string> chs, const Error& e) { on_refused(l, std::move(chs), e); };
  ev.state = [this](ShardLink& l, ConnectionState s, const Error* e) { on_link_state(l, s, e); };
  auto link = std::make_unique<ShardLink>(loop_, std::move(c), node, std::move(ev));
  ShardLink* raw = link.get();
  links_.emplace(node, std::move(link));
  return raw;
}

const SlotRange* ShardRouter::owner(int slot) const {
  auto it = std::upper_bound(map_.begin(), map_.end(), slot, [](int s, const SlotRange& r) { return s < r.first; });
  if (it == map_.begin()) return nullptr;
  --it;
  return slot <= it->last ? &*it : nullptr;
}

// Homeless channels go to the owner of their slot; those whose slot no map
// covers wait for the next map.
void ShardRouter::place(const std::vector<std::string>& names) {
  std::unordered_map<ShardLink*, std::vector<std::string>> to;
  bool orphans = false;
  for (const std::string& n : names) {
    auto it = channels_.find(n);
    if (it == channels_.end() || it->second.link) continue;
    const SlotRange* o = owner(key_slot(n));
    if (!o) {
      orphans = true;
      continue;
    }
    ShardLink* l = link_for(node_name(o->host, o->port));
    it->second.link = l;
    to[l].push_back(n);
  }
  for (auto& [l, v] : to) l->add(v);
  if (orphans) request_map(true);
}

void ShardRouter::unconfirm(Channel& ch) {
  if (!ch.confirmed) return;
  ch.confirmed = false;
  ++gap_;  // confirmed implies ever_confirmed
}

void ShardRouter::complete(const std::string& name, std::optional<Error> err) {
  auto it = pending_.find(name);
  if (it == pending_.end()) return;
  auto recs = std::move(it->second);
  pending_.erase(it);
  auto alive = alive_;
  for (auto& rec : recs) {
    if (!rec->cb) continue;
    if (err) {
      auto cb = std::move(rec->cb);
      cb(*err);
    } else if (--rec->left == 0) {
      auto cb = std::move(rec->cb);
      cb(Result<void>());
    }
    if (!*alive) return;
  }
}

void ShardRouter::fail_later(Callback<void> cb, Error err) {
  if (!cb) return;
  run_later(loop_, [cb = std::move(cb), err = std::move(err)]() mutable { cb(std::move(err)); });
}

// ------------------------------------------------------------ link events

void ShardRouter::on_message(ShardLink& l, std::string channel, std::string payload) {
  if (closing_) return;
  auto it = channels_.find(channel);
  if (it == channels_.end() || it->second.link != &l) return;
  const Message m{std::move(channel), std::move(payload), {}};
  if (hooks_.deliver) hooks_.deliver(&it->second.handler, m);
}

void ShardRouter::on_confirmed(ShardLink& l, const std::string& channel) {
  if (closing_) return;
  auto it = channels_.find(channel);
  if (it == channels_.end() || it->second.link != &l) return;
  Channel& ch = it->second;
  ch.redirects = 0;
  bool closed_gap = false;
  if (!ch.confirmed) {
    if (ch.ever_confirmed && --gap_ == 0) closed_gap = true;
    ch.confirmed = true;
    ch.ever_confirmed = true;
  }
  if (closed_gap) {
    ++resubscribes_;
    gap_error_.reset();
  }
  auto alive = alive_;
  complete(channel, std::nullopt);
  if (*alive && closed_gap) gap_changed();
}

void ShardRouter::on_dropped(ShardLink& l, const std::string& channel) {
  if (closing_) return;
  auto it = channels_.find(channel);
  if (it == channels_.end() || it->second.link != &l) return;
  it->second.link = nullptr;
  const bool was = gap();
  unconfirm(it->second);
  gap_error_ = Error{ErrorKind::connection_lost, "the server unsubscribed shard channel '" + channel + "' (slot " +
                                                     std::to_string(key_slot(channel)) + " moved away from " +
                                                     l.node() + ")"};
  schedule_sweep();
  request_map(false);  // the slot's new owner
  if (!was && gap()) gap_changed();
}

void ShardRouter::on_refused(ShardLink& l, std::vector<std::string> names, const Error& err) {
  if (closing_) return;
  const bool was = gap();
  const auto redirect = parse_redirect(err.message);
  std::vector<std::string> redirected, failed;
  bool homeless = false;
  for (const std::string& n : names) {
    auto it = channels_.find(n);
    if (it == channels_.end() || it->second.link != &l) continue;
    Channel& ch = it->second;
    ch.link = nullptr;
    unconfirm(ch);
    if (!transient(err.message)) {
      failed.push_back(n);
    } else if (redirect && !redirect->ask && ++ch.redirects <= opts_.max_redirects) {
      redirected.push_back(n);
    } else {
      homeless = true;
    }
  }
  if (!redirected.empty()) {
    ShardLink* t = link_for(node_name(redirect->host, redirect->port));
    for (const std::string& n : redirected) channels_[n].link = t;
    t->add(redirected);
  }
  // MOVED says the map is stale; the others need time before trying again.
  if (!redirected.empty() || homeless) request_map(homeless);
  schedule_sweep();
  if (!failed.empty())
    log_->warn("cluster subscriber: {} refused SSUBSCRIBE of {} channel(s): {}", l.node(), failed.size(), err.message);
  auto alive = alive_;
  for (const std::string& n : failed) {
    if (auto it = channels_.find(n); it != channels_.end()) {
      if (it->second.ever_confirmed && !it->second.confirmed) --gap_;
      channels_.erase(it);
    }
    complete(n, err);
    if (!*alive) return;
  }
  if (was != gap()) gap_changed();
}

void ShardRouter::on_link_state(ShardLink& l, ConnectionState s, const Error* e) {
  if (closing_ || s == ConnectionState::connected || s == ConnectionState::closed) return;
  // Dropped or not reachable: what it held waits for its reconnect or for a
  // map that puts its slots elsewhere (a failover).
  const bool was = gap();
  bool lost = false;
  for (const std::string& n : l.held()) {
    auto it = channels_.find(n);
    if (it == channels_.end() || it->second.link != &l || !it->second.confirmed) continue;
    unconfirm(it->second);
    lost = true;
  }
  if (e && lost) gap_error_ = *e;
  if (!l.held().empty()) request_map(!lost);
  if (was != gap()) gap_changed();
}

// ------------------------------------------------------------ slot map

std::uint64_t ShardRouter::next_backoff() {
  const auto lo = static_cast<std::uint64_t>(std::max<long long>(opts_.refresh_min_interval.count(), 10));
  const auto hi = std::max<std::uint64_t>(lo, 1000);
  backoff_ms_ = backoff_ms_ == 0 ? lo : std::min(hi, backoff_ms_ * 2);
  return backoff_ms_;
}

void ShardRouter::request_map(bool backoff) {
  if (closing_ || !map_timer_) return;
  if (asking_) {
    again_ = backoff ? std::max(again_, Again::later) : Again::now;
    return;
  }
  const std::uint64_t now = uv_now(loop_);
  if (!backoff && map_due_ != 0 && map_due_ <= now) return;
  if (backoff && map_due_ != 0) return;  // armed already, sooner or as soon
  const std::uint64_t delay = backoff ? next_backoff() : 0;
  map_due_ = now + delay;
  uv_timer_start(
      map_timer_.get(), [](uv_timer_t* t) { static_cast<ShardRouter*>(t->data)->ask_map(); }, delay, 0);
}

void ShardRouter::ask_map() {
  map_due_ = 0;
  if (closing_) return;
  if (!map_client_) {
    ClusterOptions o = opts_;
    o.refresh_interval = std::chrono::milliseconds(0);  // we ask when we need to
    map_client_ = std::make_unique<ClusterClient>(loop_, std::move(o));
  }
  asking_ = true;
  again_ = Again::none;
  std::array<std::string_view, 2> argv{"CLUSTER", "SLOTS"};
  map_client_->command(argv, [this, alive = alive_](Result<Reply> r) {
    if (*alive) on_map(std::move(r));
  });
}

void ShardRouter::on_map(Result<Reply> r) {
  asking_ = false;
  if (closing_) return;
  std::optional<std::vector<SlotRange>> ranges;
  if (r) {
    // An empty host means "the node you asked", which the map client chose;
    // Redis 7 fills it in, so the first seed's host is a fair guess.
    std::string host;
    if (!opts_.seeds.empty())
      if (auto a = Address::parse(opts_.seeds.front())) host = a->host;
    auto parsed = parse_cluster_slots(*r, host);
    if (parsed && !parsed->empty()) ranges = std::move(*parsed);
    else log_->debug("cluster subscriber: no usable slot map: {}", parsed ? "no slots" : parsed.error().message);
  } else {
    log_->debug("cluster subscriber: CLUSTER SLOTS failed: {}", r.error().to_string());
  }
  if (!ranges) {
    const bool now = again_ == Again::now;  // wanted at once while we asked
    again_ = Again::none;
    request_map(!now);
    return;
  }
  std::sort(ranges->begin(), ranges->end(), [](const SlotRange& a, const SlotRange& b) { return a.first < b.first; });
  map_ = std::move(*ranges);
  map_known_ = true;
  apply_map();
}

// Places what is homeless, and moves what sits on a link that is down when
// the map now names another owner (after a failover).
void ShardRouter::apply_map() {
  std::vector<std::string> homeless;
  std::unordered_map<ShardLink*, std::vector<std::string>> leaving;
  for (auto& [name, ch] : channels_) {
    if (!ch.link) {
      homeless.push_back(name);
      continue;
    }
    if (ch.link->state() == ConnectionState::connected) continue;
    const SlotRange* o = owner(key_slot(name));
    if (o && node_name(o->host, o->port) != ch.link->node()) {
      leaving[ch.link].push_back(name);
      homeless.push_back(name);
    }
  }
  for (auto& [l, v] : leaving) {
    l->remove(v);  // down: nothing is sent
    for (const std::string& n : v) channels_[n].link = nullptr;
  }
  place(homeless);
  bool unsettled = false;
  for (auto& [name, ch] : channels_)
    if (!ch.link || ch.link->state() != ConnectionState::connected) {
      unsettled = true;
      break;
    }
  const Again again = again_;
  again_ = Again::none;
  if (again == Again::now)
    request_map(false);
  else if (again == Again::later || unsettled)
    request_map(true);
  else
    backoff_ms_ = 0;
  schedule_sweep();
}

// Links that hold nothing go, but never from inside their own callbacks.
void ShardRouter::schedule_sweep() {
  if (!sweep_timer_ || uv_is_active(reinterpret_cast<uv_handle_t*>(sweep_timer_.get()))) return;
  uv_timer_start(
      sweep_timer_.get(), [](uv_timer_t* t) { static_cast<ShardRouter*>(t->data)->sweep(); }, 0, 0);
}

void ShardRouter::sweep() {
  if (closing_) return;
  for (auto it = links_.begin(); it != links_.end();) {
    if (it->second->held().empty())
      it = links_.erase(it);
    else
      ++it;
  }
}

void ShardRouter::gap_changed() {
  if (hooks_.gap_changed) hooks_.gap_changed();
}

}  // namespace uvredis::detail
