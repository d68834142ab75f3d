#include "sentinel/sentinel.hpp"

#include "link/connection.hpp"
#include "base/logging.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace uvredis::detail {

SentinelResolver::SentinelResolver(uv_loop_s* loop, SentinelOptions opts, std::shared_ptr<spdlog::logger> log)
    : loop_(loop), opts_(std::move(opts)), log_(std::move(log)) {}

SentinelResolver::~SentinelResolver() {
  drop_query();
  drop_watch();
}

void SentinelResolver::add_listener(Listener* l) { listeners_.push_back(l); }

void SentinelResolver::remove_listener(Listener* l) {
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), l), listeners_.end());
}

std::string SentinelResolver::asking() const {
  return "asking the sentinels (" + sentinel_list() + ") for master '" + opts_.master_name + "'";
}

std::string SentinelResolver::naming(const HostPort& now) const {
  return "sentinels name " + now.host + ":" + std::to_string(now.port) + " as master '" + opts_.master_name + "'";
}

void SentinelResolver::shutdown(Once<void()> done) {
  // Questions still open are answered as usual (a graceful close lets
  // queued commands go out); only the watch ends here.
  shut_ = true;
  if (watch_) {
    Connection* w = std::exchange(watch_, nullptr);
    w->close(std::move(done));  // a closed watch still needs destroy() to be deleted
    w->destroy();
    return;
  }
  if (done) run_later(loop_, std::move(done));
}

// A one-shot link to sentinel `i` with the sentinels' credentials: never
// reconnects by itself, every wait bounded by the per-sentinel timeout.
ConnectionConfig SentinelResolver::link_config(std::size_t i, std::string_view name) const {
  ConnectionConfig c;
  c.options.address = opts_.sentinels[i];
  c.options.address.username = opts_.username;
  c.options.address.password = opts_.password;
  c.options.address.db = 0;
  c.options.connect_timeout = opts_.timeout;
  c.options.command_timeout = opts_.timeout;
  c.options.reconnect = false;
  c.options.logger = log_;
  c.name = std::string(name) + c.options.address.host + ":" + std::to_string(c.options.address.port);
  return c;
}

// One pub/sub link to the sentinel that answered last. When it fails it is
// not retried by itself: the next discovery round starts a new one.
void SentinelResolver::watch(std::size_t i) {
  if (watch_ || shut_) return;
  ConnectionConfig c = link_config(i, "sentinel watch ");
  c.push_mode = true;
  watch_ = new Connection(loop_, std::move(c));
  std::weak_ptr<SentinelResolver> weak = weak_from_this();
  Connection* w = watch_;
  watch_->set_state_listener([weak, w](ConnectionState s, const Error*) {
    auto self = weak.lock();
    if (!self || self->watch_ != w) return;
    if (s == ConnectionState::connected) {
      std::string_view argv[] = {"SUBSCRIBE", "+switch-master"};
      w->send_subscription(argv, {});  // a refusal leaves the watch quiet; discovery still works
    } else if (s == ConnectionState::failed) {
      self->drop_watch();
    }
  });
  watch_->set_push_listener([weak](Reply&& r) {
    if (auto self = weak.lock()) self->on_watch_message(r);
  });
  watch_->start();
}

// "message", "+switch-master", "<name> <old ip> <old port> <new ip> <new port>"
void SentinelResolver::on_watch_message(const Reply& r) {
  if (!r.is_array() || r.size() < 3 || r[0].str() != "message") return;
  std::istringstream in{std::string(r[2].str())};
  std::string name, old_ip, new_ip;
  unsigned old_port = 0, new_port = 0;
  if (!(in >> name >> old_ip >> old_port >> new_ip >> new_port) || name != opts_.master_name || new_port == 0 ||
      new_port > 65535)
    return;
  log_->info("[sentinel] +switch-master {}: {}:{} -> {}:{}", name, old_ip, old_port, new_ip, new_port);
  MasterAddr now{new_ip, static_cast<std::uint16_t>(new_port)};
  const std::string why = "connection lost: the sentinels moved master '" + opts_.master_name + "' to " + now.host +
                          ":" + std::to_string(now.port);
  auto keep = shared_from_this();
  auto ls = listeners_;  // a listener may go away while we tell the others
  for (Listener* l : ls)
    if (std::find(listeners_.begin(), listeners_.end(), l) != listeners_.end()) l->address_moved(now, why);
}

void SentinelResolver::drop_watch() {
  if (!watch_) return;
  Connection* w = std::exchange(watch_, nullptr);
  w->destroy();
}

std::string SentinelResolver::sentinel_list() const {
  std::string s;
  for (const Address& a : opts_.sentinels) {
    if (!s.empty()) s += ", ";
    s += a.host + ":" + std::to_string(a.port);
  }
  return s;
}

std::uint64_t SentinelResolver::discover(Done done) {
  const std::uint64_t ticket = next_ticket_++;
  waiters_.emplace(ticket, std::move(done));
  if (opts_.sentinels.empty()) {
    // Answered on a later turn, like every other outcome.
    std::weak_ptr<SentinelResolver> weak = weak_from_this();
    run_later(loop_, [weak] {
      if (auto self = weak.lock(); self && !self->running_ && !self->waiters_.empty())
        self->finish_round(Error{ErrorKind::connect, "no sentinel configured for master '" +
                                                         self->opts_.master_name + "'"});
    });
    return ticket;
  }
  if (!running_) start_round();
  return ticket;
}

void SentinelResolver::cancel(std::uint64_t ticket) {
  waiters_.erase(ticket);
  if (waiters_.empty() && running_) {
    // Nobody wants the answer (the connection closed or timed out).
    running_ = false;
    ++round_;
    drop_query();
  }
}

void SentinelResolver::start_round() {
  running_ = true;
  ++round_;
  asked_ = 0;
  failures_.clear();
  ask(first_);
}

void SentinelResolver::ask(std::size_t i) {
  drop_query();
  ++asked_;
  ConnectionConfig c = link_config(i, "sentinel ");
  c.options.tcp_keepalive = false;
  query_ = new Connection(loop_, std::move(c));
  std::string_view argv[] = {"SENTINEL", "get-master-addr-by-name", opts_.master_name};
  std::weak_ptr<SentinelResolver> weak = weak_from_this();
  const std::uint64_t round = round_;
  query_->submit(argv, [weak, round, i](Result<Reply> r) {
    auto self = weak.lock();
    if (!self) return;
    if (!r) return self->on_answer(round, i, r.error());
    const Reply& rep = *r;
    if (rep.is_nil())
      return self->on_answer(round, i, Error{ErrorKind::connect, "does not know master '" + self->opts_.master_name + "'"});
    unsigned port = 0;
    if (!rep.is_array() || rep.size() != 2 || !rep[0].is_string() || !rep[1].is_string() ||
        std::sscanf(std::string(rep[1].str()).c_str(), "%u", &port) != 1 || port == 0 || port > 65535)
      return self->on_answer(round, i, Error{ErrorKind::protocol, "unexpected answer to get-master-addr-by-name"});
    self->on_answer(round, i, MasterAddr{std::string(rep[0].str()), static_cast<std::uint16_t>(port)});
  });
}

void SentinelResolver::on_answer(std::uint64_t round, std::size_t i, Result<MasterAddr> r) {
  if (round != round_ || !running_) return;
  const Address& s = opts_.sentinels[i];
  if (r) {
    log_->debug("[sentinel] {}:{} says master '{}' is at {}:{}", s.host, s.port, opts_.master_name, r->host, r->port);
    first_ = i;
    watch(i);
    finish_round(std::move(r));
    return;
  }
  log_->warn("[sentinel] {}:{}: {}", s.host, s.port, r.error().message);
  failures_.push_back(s.host + ":" + std::to_string(s.port) + " (" + r.error().message + ")");
  if (asked_ < opts_.sentinels.size()) {
    ask((i + 1) % opts_.sentinels.size());
    return;
  }
  std::string msg = "no sentinel could name the master '" + opts_.master_name + "'; tried ";
  for (std::size_t k = 0; k < failures_.size(); ++k) msg += (k ? ", " : "") + failures_[k];
  finish_round(Error{ErrorKind::connect, std::move(msg)});
}

void SentinelResolver::finish_round(Result<MasterAddr> r) {
  running_ = false;
  ++round_;
  drop_query();
  // A waiter may cancel others, or ask again, from inside its callback: take
  // each one out of the map before calling it, and keep ourselves alive.
  auto keep = shared_from_this();
  std::vector<std::uint64_t> tickets;
  for (auto& [t, fn] : waiters_) tickets.push_back(t);
  for (std::uint64_t t : tickets) {
    auto it = waiters_.find(t);
    if (it == waiters_.end()) continue;
    Done fn = std::move(it->second);
    waiters_.erase(it);
    fn(r);
  }
}

void SentinelResolver::drop_query() {
  if (!query_) return;
  Connection* q = std::exchange(query_, nullptr);
  q->destroy();  // its pending callback fails with closed and is ignored (old round)
}

}  // namespace uvredis::detail
