#pragma once
// Layer sentinel (src/sentinel/): Redis Sentinel: the address source that asks
// a group's sentinels where the master is, and the watch that hears it move.
// It sits above link because each query is a short-lived Connection, and below
// client, which gives it to its connections. May include: base, protocol, tls,
// link.
//
// SentinelResolver: asks a group's sentinels where its master is. Shared by
// every connection of one Client (or Subscriber) as their address source
// (address_source.hpp): a connection about to connect asks it (next(), or
// discover()) and gets the master's host and port, or a connect error
// naming every sentinel tried. Simultaneous questions share one round
// of queries. Each query is a short-lived Connection to one sentinel (no
// reconnect, its own timeout), so nothing ever blocks the loop.
//
// Lifetime: held by shared_ptr in each ConnectionConfig (address_source); its last owner may
// be a Connection deleting itself. A query still running then is destroyed
// with it (its handles close on later loop turns). Loop thread only.

#include "link/address_source.hpp"

#include <uvredis/options.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/detail/function.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct uv_loop_s;

namespace spdlog {
class logger;
}

namespace uvredis::detail {

class Connection;
struct ConnectionConfig;

/// Where the sentinels say the master is.
using MasterAddr = HostPort;

class SentinelResolver final : public AddressSource, public std::enable_shared_from_this<SentinelResolver> {
 public:
  SentinelResolver(uv_loop_s* loop, SentinelOptions opts, std::shared_ptr<spdlog::logger> log);
  ~SentinelResolver();
  SentinelResolver(const SentinelResolver&) = delete;
  SentinelResolver& operator=(const SentinelResolver&) = delete;

  /// Finds the master; `done` runs exactly once, from a later loop turn
  /// (never inside this call), unless cancel(ticket) came first.
  std::uint64_t discover(Done done);
  /// Forgets a question; `done` will not run. When nobody is waiting any
  /// more the query under way stops.
  void cancel(std::uint64_t ticket) override;

  // AddressSource: always asks (discover); the node must be the master.
  Asked next(Done&& done) override { return Asked{std::nullopt, discover(std::move(done))}; }
  bool follows_master() const noexcept override { return true; }
  std::string asking() const override;
  std::string naming(const HostPort& now) const override;

  /// Connections told when the sentinels announce +switch-master (they drop
  /// a link to the old master at once instead of waiting for READONLY).
  void add_listener(Listener* l) override;
  void remove_listener(Listener* l) override;

  /// The owner closes: stop the +switch-master watch and any query; `done`
  /// runs once their handles are closed (on a later loop turn).
  void shutdown(Once<void()> done);

  const std::string& master_name() const noexcept { return opts_.master_name; }
  /// "h1:p1, h2:p2": for messages.
  std::string sentinel_list() const;

 private:
  void start_round();
  void ask(std::size_t i);
  ConnectionConfig link_config(std::size_t i, std::string_view name) const;
  void on_answer(std::uint64_t round, std::size_t i, Result<MasterAddr> r);
  void finish_round(Result<MasterAddr> r);
  void drop_query();
  void watch(std::size_t i);
  void on_watch_message(const Reply& r);
  void drop_watch();

  uv_loop_s* loop_;
  SentinelOptions opts_;
  std::shared_ptr<spdlog::logger> log_;
  std::map<std::uint64_t, Done> waiters_;
  std::uint64_t next_ticket_ = 1;
  std::uint64_t round_ = 0;     // bumped per round: late answers of an old one are dropped
  bool running_ = false;
  std::size_t first_ = 0;       // the sentinel that answered last is asked first
  std::size_t asked_ = 0;       // sentinels tried in this round
  std::vector<std::string> failures_;
  Connection* query_ = nullptr;
  Connection* watch_ = nullptr;  // subscribed to +switch-master on one sentinel
  std::vector<Listener*> listeners_;
  bool shut_ = false;
};

}  // namespace uvredis::detail
