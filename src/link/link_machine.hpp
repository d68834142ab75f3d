#pragma once
// The life cycle of one link, without I/O: which phase it is in, what to do
// on each event (the address source answered, addresses resolved,
// connected, a handshake step answered, the link timer fired, the link
// lost, an attempt failed, close), the resolved addresses still to try and
// the reconnect backoff. Connection (connection_link.cpp) does the I/O each
// answer names and reports the outcome back; tests/test_link_machine.cpp
// drives every transition with plain calls.
//
//   idle -> [discovering] -> [resolving] -> connecting -> handshaking -> ready
//              ^                                                          |
//              +------------------ waiting (backoff) <--------------------+
//   any -> closed (close), any attempt -> failed (no reconnect)
//
// Where the address comes from is an injected AddressSource
// (address_source.hpp: the options' fixed address, or the sentinels), asked
// at the start of every attempt; a source that must find out puts the
// attempt in `discovering` until its answer comes, and a question still
// open when the attempt ends is withdrawn here.
//
// Lifetime: a value inside its Connection. Loop-thread only.

#include "link/address_source.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace uvredis::detail {

enum class LinkPhase { idle, discovering, resolving, connecting, handshaking, ready, waiting, failed, closed };

struct LinkPolicy {
  bool reconnect = true;
  std::chrono::milliseconds reconnect_min_delay{50};
  std::chrono::milliseconds reconnect_max_delay{5000};
};

class LinkMachine {
 public:
  /// `source` is asked at every attempt (it outlives the machine); null:
  /// every attempt goes to the target given to begin() as it is.
  explicit LinkMachine(LinkPolicy p = {}, AddressSource* source = nullptr) : policy_(p), source_(source) {}

  LinkPhase phase() const noexcept { return phase_; }
  /// An attempt is under way (asking, resolving, connecting or handshaking).
  bool attempting() const noexcept;
  bool ready() const noexcept { return phase_ == LinkPhase::ready; }
  /// Failed attempts since the link was last ready.
  unsigned attempt() const noexcept { return attempt_; }

  // --- an attempt

  enum class Go { ask_address, connect_unix, resolve, connect_next };
  /// A new attempt to reach `target` (the options' address): asks the
  /// source where the node is now. When it knows at once, a TCP `target`
  /// takes its host and port, and the answer says how to reach it (a unix
  /// socket, an IP literal, or a name to resolve). Else `ask_address`: the
  /// answer comes to `on_answer` on a later turn, for answered().
  Go begin(Address& target, AddressSource::Done on_answer);
  /// The attempt waits for the address source's answer; false when an
  /// answer comes too late (the attempt is over).
  bool awaiting_address() const noexcept { return phase_ == LinkPhase::discovering; }
  /// The source's answer came: true when the attempt awaits it, false when
  /// it is too late (ignore it). Then an error answer fails the attempt
  /// (attempt_failed), an address goes to answered().
  bool answer_came() noexcept;
  /// The source named `where`: a TCP `target` takes it, and the answer says
  /// how to reach it.
  Go answered(Address& target, const HostPort& where);
  /// The source's question is withdrawn (close, or the answer came).
  void stop_asking();
  /// Resolved addresses, in the resolver's order (duplicates are dropped).
  /// False (and the answer is ignored) unless a resolve was under way.
  bool resolved(const std::vector<std::string>& ips);
  /// The next address to try, or empty when none is left.
  std::string next_address();
  bool addresses_left() const noexcept { return index_ < addrs_.size(); }
  /// A socket is being connected (after resolve, or directly).
  void connecting() noexcept { phase_ = LinkPhase::connecting; }
  /// The socket is up: the handshake of `steps` commands begins. True when
  /// there are none (the link is ready at once).
  bool handshake(std::size_t steps);
  /// A handshake reply that was fine; true when it was the last one.
  bool step_done();
  /// Ready: the backoff starts over.
  void up() noexcept;

  // --- failures, timer, close

  enum class Timer { none, reconnect, check_silence, ask_timed_out, resolve_timed_out, connect_timed_out };
  /// The link timer fired (connect timeout, backoff or silence check).
  Timer timer_fired();

  enum class Lost { closed, try_next_address, reconnect_now, give_up, attempt_failed };
  /// The link (or the socket being connected) is gone.
  Lost lost(bool closing);

  enum class After { closed, give_up, wait };
  /// An attempt failed; `wait`: call backoff() and wait that long.
  After attempt_failed(bool closing);
  /// The next reconnect delay: doubling from the minimum with each failed
  /// attempt, capped at the maximum, then jittered into [d/2, d] by
  /// `random` (any 64-bit value; uniform gives uniform jitter). Zero when
  /// `immediate` (a ready link just dropped).
  std::uint64_t backoff(bool immediate, std::uint64_t random);

  /// close() is final: no further attempt (an open question is withdrawn).
  void close() {
    stop_asking();
    phase_ = LinkPhase::closed;
  }
  /// A configuration problem found before any attempt.
  void fail() noexcept { phase_ = LinkPhase::failed; }

 private:
  Go reach(const Address& target);

  LinkPolicy policy_;
  AddressSource* source_ = nullptr;
  std::uint64_t ticket_ = 0;  // the source's open question, 0 = none
  LinkPhase phase_ = LinkPhase::idle;
  unsigned attempt_ = 0;
  std::vector<std::string> addrs_;
  std::size_t index_ = 0;
  std::size_t steps_left_ = 0;
};

const char* to_string(LinkPhase p) noexcept;

}  // namespace uvredis::detail
