#include "link/link_machine.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

namespace uvredis::detail {

namespace {

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

bool LinkMachine::attempting() const noexcept {
  return phase_ == LinkPhase::discovering || phase_ == LinkPhase::resolving || phase_ == LinkPhase::connecting ||
         phase_ == LinkPhase::handshaking;
}

LinkMachine::Go LinkMachine::begin(Address& target, AddressSource::Done on_answer) {
  stop_asking();
  addrs_.clear();
  index_ = 0;
  steps_left_ = 0;
  if (source_) {
    AddressSource::Asked a = source_->next(std::move(on_answer));
    if (!a.now) {
      ticket_ = a.ticket;
      phase_ = LinkPhase::discovering;
      return Go::ask_address;
    }
    return answered(target, *a.now);
  }
  return reach(target);
}

bool LinkMachine::answer_came() noexcept {
  ticket_ = 0;  // answered: nothing to withdraw
  return phase_ == LinkPhase::discovering;
}

LinkMachine::Go LinkMachine::answered(Address& target, const HostPort& where) {
  if (target.kind == Address::Kind::tcp) {
    target.host = where.host;
    target.port = where.port;
  }
  return reach(target);
}

void LinkMachine::stop_asking() {
  if (ticket_ != 0 && source_) source_->cancel(ticket_);
  ticket_ = 0;
}

LinkMachine::Go LinkMachine::reach(const Address& target) {
  addrs_.clear();
  index_ = 0;
  if (target.kind == Address::Kind::unix_socket) {
    phase_ = LinkPhase::connecting;
    return Go::connect_unix;
  }
  if (is_ip_literal(target.host)) {
    addrs_.push_back(target.host);
    phase_ = LinkPhase::connecting;
    return Go::connect_next;
  }
  phase_ = LinkPhase::resolving;
  return Go::resolve;
}

bool LinkMachine::resolved(const std::vector<std::string>& ips) {
  if (phase_ != LinkPhase::resolving) return false;  // timed out or closed meanwhile
  for (const std::string& ip : ips)
    if (std::find(addrs_.begin(), addrs_.end(), ip) == addrs_.end()) addrs_.push_back(ip);
  phase_ = LinkPhase::connecting;
  return true;
}

std::string LinkMachine::next_address() { return index_ < addrs_.size() ? addrs_[index_++] : std::string(); }

bool LinkMachine::handshake(std::size_t steps) {
  phase_ = LinkPhase::handshaking;
  steps_left_ = steps;
  return steps == 0;
}

bool LinkMachine::step_done() {
  if (phase_ != LinkPhase::handshaking || steps_left_ == 0) return false;
  return --steps_left_ == 0;
}

void LinkMachine::up() noexcept {
  phase_ = LinkPhase::ready;
  attempt_ = 0;
  steps_left_ = 0;
}

LinkMachine::Timer LinkMachine::timer_fired() {
  switch (phase_) {
    case LinkPhase::waiting: return Timer::reconnect;
    case LinkPhase::ready: return Timer::check_silence;
    case LinkPhase::discovering:
      stop_asking();
      phase_ = LinkPhase::connecting;  // a late answer is ignored
      return Timer::ask_timed_out;
    case LinkPhase::resolving:
      phase_ = LinkPhase::connecting;  // a late answer is ignored
      return Timer::resolve_timed_out;
    case LinkPhase::connecting:
    case LinkPhase::handshaking:
      index_ = addrs_.size();  // the time is up for the other addresses too
      return Timer::connect_timed_out;
    default: return Timer::none;
  }
}

LinkMachine::Lost LinkMachine::lost(bool closing) {
  const LinkPhase was = phase_;
  steps_left_ = 0;
  if (closing) {
    phase_ = LinkPhase::closed;
    return Lost::closed;
  }
  if (was == LinkPhase::connecting && index_ < addrs_.size()) return Lost::try_next_address;
  if (was == LinkPhase::ready) {
    if (!policy_.reconnect) {
      phase_ = LinkPhase::failed;
      return Lost::give_up;
    }
    phase_ = LinkPhase::waiting;
    return Lost::reconnect_now;
  }
  return Lost::attempt_failed;
}

LinkMachine::After LinkMachine::attempt_failed(bool closing) {
  stop_asking();
  if (closing) {
    phase_ = LinkPhase::closed;
    return After::closed;
  }
  if (!policy_.reconnect) {
    phase_ = LinkPhase::failed;
    return After::give_up;
  }
  phase_ = LinkPhase::waiting;
  return After::wait;
}

std::uint64_t LinkMachine::backoff(bool immediate, std::uint64_t random) {
  phase_ = LinkPhase::waiting;
  if (immediate) return 0;
  const auto lo = static_cast<std::uint64_t>(std::max<long long>(policy_.reconnect_min_delay.count(), 1));
  const auto hi = static_cast<std::uint64_t>(std::max<long long>(policy_.reconnect_max_delay.count(), 1));
  std::uint64_t base = std::min(lo << std::min(attempt_, 20u), hi);
  ++attempt_;
  // Jitter in [base/2, base] so a fleet of clients does not reconnect in step.
  const std::uint64_t span = base - base / 2 + 1;
  return base / 2 + random % span;
}

const char* to_string(LinkPhase p) noexcept {
  switch (p) {
    case LinkPhase::idle: return "idle";
    case LinkPhase::discovering: return "discovering";
    case LinkPhase::resolving: return "resolving";
    case LinkPhase::connecting: return "connecting";
    case LinkPhase::handshaking: return "handshaking";
    case LinkPhase::ready: return "ready";
    case LinkPhase::waiting: return "waiting";
    case LinkPhase::failed: return "failed";
    case LinkPhase::closed: return "closed";
  }
  return "?";
}

}  // namespace uvredis::detail
