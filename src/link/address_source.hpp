#pragma once
// Where a link connects, asked anew at the start of every attempt by the
// link machine (link_machine.hpp): the address in the options as it is
// (FixedAddress), or the master a group's sentinels name (SentinelResolver,
// sentinel.hpp). The connection is given one and knows nothing of Sentinel:
// it applies the answer, and drops a link when the source says the node
// moved or, for a source that follows a master, when the node says READONLY.
//
// Lifetime: a source outlives every machine that asks it (a connection
// holds its source by shared_ptr). Loop-thread only.

#include <uvredis/callbacks.hpp>
#include <uvredis/options.hpp>
#include <uvredis/result.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace uvredis::detail {

/// A TCP node's host (a name or an IP literal) and port.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

class AddressSource {
 public:
  using Done = Once<void(Result<HostPort>)>;

  /// Told when the source learns by itself that the node moved (a
  /// sentinel's +switch-master), so a link to the old node ends at once.
  class Listener {
   public:
    /// `why` says so in words fit for an error (no secret in it).
    virtual void address_moved(const HostPort& now, const std::string& why) = 0;

   protected:
    ~Listener() = default;
  };

  /// The outcome of next(): the answer at once, or the ticket of a question.
  struct Asked {
    std::optional<HostPort> now;
    std::uint64_t ticket = 0;
  };

  virtual ~AddressSource() = default;

  /// Where the next attempt goes. A source that knows at once returns it in
  /// `now` and lets `done` go uncalled; one that must find out starts asking
  /// and returns a ticket: `done` then runs exactly once, on a later loop
  /// turn (never inside this call), unless cancel(ticket) comes first.
  virtual Asked next(Done&& done) = 0;
  /// Forgets a question; its `done` will not run.
  virtual void cancel(std::uint64_t ticket) = 0;

  /// The node must say it is a master (ROLE in every handshake), and a
  /// READONLY reply means it was demoted: the link is dropped.
  virtual bool follows_master() const noexcept { return false; }
  /// For messages: "<asking()> timed out after N ms"; naming(now) is logged
  /// when the answer differs from the last one ("sentinels name h:p as
  /// master 'm'").
  virtual std::string asking() const { return "asking for the address"; }
  virtual std::string naming(const HostPort& now) const {
    return "the address source names " + now.host + ":" + std::to_string(now.port);
  }

  virtual void add_listener(Listener*) {}
  virtual void remove_listener(Listener*) {}
};

/// The address of the options, always the same: answers at once.
class FixedAddress final : public AddressSource {
 public:
  explicit FixedAddress(const Address& a) : where_{a.host, a.port} {}
  Asked next(Done&&) override { return Asked{where_, 0}; }
  void cancel(std::uint64_t) override {}

 private:
  HostPort where_;
};

}  // namespace uvredis::detail
