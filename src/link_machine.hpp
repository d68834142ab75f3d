#pragma once
// The life cycle of one link, without I/O: which phase it is in, what to do
// on each event (an address known, addresses resolved, connected, a
// handshake step answered, the link timer fired, the link lost, an attempt
// failed, close), the resolved addresses still to try and the reconnect
// backoff. Connection (connection_link.cpp) does the I/O each answer names
// and reports the outcome back; tests/test_link_machine.cpp drives every
// transition with plain calls.
//
//   idle -> [discovering] -> [resolving] -> connecting -> handshaking -> ready
//              ^                                                          |
//              +------------------ waiting (backoff) <--------------------+
//   any -> closed (close), any attempt -> failed (no reconnect)
//
// Where the address comes from (the options, or the sentinels) is the
// caller's: the machine only knows whether it must be asked first.
//
// Lifetime: a value inside its Connection. Loop-thread only.

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

/// How to reach an address once it is known.
enum class AddressForm { unix_socket, ip, name };

class LinkMachine {
 public:
  explicit LinkMachine(LinkPolicy p = {}) : policy_(p) {}

  LinkPhase phase() const noexcept { return phase_; }
  /// An attempt is under way (asking, resolving, connecting or handshaking).
  bool attempting() const noexcept;
  bool ready() const noexcept { return phase_ == LinkPhase::ready; }
  /// Failed attempts since the link was last ready.
  unsigned attempt() const noexcept { return attempt_; }

  // --- an attempt

  enum class Go { ask_address, connect_unix, resolve, connect_next };
  /// A new attempt: ask the address source first when there is one.
  Go begin(bool ask_first, AddressForm form);
  /// The attempt waits for the address source's answer; false when an
  /// answer comes too late (the attempt is over).
  bool awaiting_address() const noexcept { return phase_ == LinkPhase::discovering; }
  /// The address is known (from the options, or the sentinels answered).
  Go address(AddressForm form, const std::string& ip_literal = {});
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

  /// close() is final: no further attempt.
  void close() noexcept { phase_ = LinkPhase::closed; }
  /// A configuration problem found before any attempt.
  void fail() noexcept { phase_ = LinkPhase::failed; }

 private:
  LinkPolicy policy_;
  LinkPhase phase_ = LinkPhase::idle;
  unsigned attempt_ = 0;
  std::vector<std::string> addrs_;
  std::size_t index_ = 0;
  std::size_t steps_left_ = 0;
};

const char* to_string(LinkPhase p) noexcept;

}  // namespace uvredis::detail
