// The link life cycle without I/O (src/link_machine.hpp): every phase's
// answer to every event, the address list and the backoff bounds.

#include "../src/link_machine.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using uvredis::detail::AddressForm;
using uvredis::detail::LinkMachine;
using uvredis::detail::LinkPhase;
using uvredis::detail::LinkPolicy;
using namespace std::chrono_literals;

namespace {

using Go = LinkMachine::Go;
using Timer = LinkMachine::Timer;
using Lost = LinkMachine::Lost;
using After = LinkMachine::After;

// A machine brought into `phase` the way a connection would get there.
LinkMachine in_phase(LinkPhase phase, LinkPolicy policy = {}) {
  LinkMachine m(policy);
  switch (phase) {
    case LinkPhase::idle: break;
    case LinkPhase::discovering: m.begin(true, AddressForm::name); break;
    case LinkPhase::resolving: m.begin(false, AddressForm::name); break;
    case LinkPhase::connecting: m.begin(false, AddressForm::unix_socket); break;
    case LinkPhase::handshaking:
      m.begin(false, AddressForm::unix_socket);
      m.handshake(2);
      break;
    case LinkPhase::ready:
      m.begin(false, AddressForm::unix_socket);
      m.handshake(0);
      m.up();
      break;
    case LinkPhase::waiting:
      m.begin(false, AddressForm::unix_socket);
      m.backoff(false, 0);  // waiting for the next attempt (whatever the policy would decide)
      break;
    case LinkPhase::failed: m.fail(); break;
    case LinkPhase::closed: m.close(); break;
  }
  EXPECT_EQ(m.phase(), phase) << uvredis::detail::to_string(phase);
  return m;
}

const LinkPhase kAll[] = {LinkPhase::idle,        LinkPhase::discovering, LinkPhase::resolving,
                          LinkPhase::connecting,  LinkPhase::handshaking, LinkPhase::ready,
                          LinkPhase::waiting,     LinkPhase::failed,      LinkPhase::closed};

}  // namespace

TEST(LinkMachine, AnAttemptStartsWhereTheAddressSays) {
  LinkMachine m;
  EXPECT_EQ(m.phase(), LinkPhase::idle);
  EXPECT_FALSE(m.attempting());
  EXPECT_EQ(m.begin(true, AddressForm::ip), Go::ask_address);
  EXPECT_EQ(m.phase(), LinkPhase::discovering);
  EXPECT_TRUE(m.awaiting_address());
  EXPECT_EQ(m.address(AddressForm::ip, "10.0.0.1"), Go::connect_next);
  EXPECT_FALSE(m.awaiting_address());  // a second answer would be too late
  EXPECT_EQ(m.phase(), LinkPhase::connecting);
  EXPECT_EQ(m.next_address(), "10.0.0.1");
  EXPECT_FALSE(m.addresses_left());
  EXPECT_EQ(m.next_address(), "");

  EXPECT_EQ(m.begin(false, AddressForm::unix_socket), Go::connect_unix);
  EXPECT_EQ(m.phase(), LinkPhase::connecting);
  EXPECT_EQ(m.begin(false, AddressForm::name), Go::resolve);
  EXPECT_EQ(m.phase(), LinkPhase::resolving);
  EXPECT_TRUE(m.attempting());
}

TEST(LinkMachine, ResolvedAddressesAreTriedInOrderOnceEach) {
  LinkMachine m;
  m.begin(false, AddressForm::name);
  ASSERT_TRUE(m.resolved({"::1", "127.0.0.1", "::1", "127.0.0.1"}));
  EXPECT_EQ(m.phase(), LinkPhase::connecting);
  EXPECT_EQ(m.next_address(), "::1");
  // The first address refused: the link "drops" while connecting, and the
  // next address is tried within the same attempt.
  EXPECT_EQ(m.lost(false), Lost::try_next_address);
  EXPECT_EQ(m.next_address(), "127.0.0.1");
  EXPECT_EQ(m.lost(false), Lost::attempt_failed);
  // A new attempt starts the list afresh.
  m.begin(false, AddressForm::name);
  EXPECT_FALSE(m.addresses_left());
  ASSERT_TRUE(m.resolved({"127.0.0.1"}));
  EXPECT_EQ(m.next_address(), "127.0.0.1");
}

TEST(LinkMachine, ALateResolveIsIgnored) {
  LinkMachine m;
  m.begin(false, AddressForm::name);
  EXPECT_EQ(m.timer_fired(), Timer::resolve_timed_out);
  EXPECT_FALSE(m.resolved({"127.0.0.1"}));
  EXPECT_FALSE(m.addresses_left());
  for (LinkPhase p : kAll) {
    if (p == LinkPhase::resolving) continue;
    LinkMachine other = in_phase(p);
    EXPECT_FALSE(other.resolved({"127.0.0.1"})) << to_string(p);
    EXPECT_EQ(other.phase(), p);
  }
}

TEST(LinkMachine, TheHandshakeEndsWithItsLastStep) {
  LinkMachine m;
  m.begin(false, AddressForm::unix_socket);
  EXPECT_TRUE(m.handshake(0));  // nothing to say: ready at once
  m.begin(false, AddressForm::unix_socket);
  EXPECT_FALSE(m.handshake(3));
  EXPECT_EQ(m.phase(), LinkPhase::handshaking);
  EXPECT_FALSE(m.step_done());
  EXPECT_FALSE(m.step_done());
  EXPECT_TRUE(m.step_done());
  EXPECT_FALSE(m.step_done());  // no step is counted twice
  m.up();
  EXPECT_TRUE(m.ready());
  // Replies to a handshake of a link that is gone count for nothing.
  for (LinkPhase p : kAll) {
    if (p == LinkPhase::handshaking) continue;
    LinkMachine other = in_phase(p);
    EXPECT_FALSE(other.step_done()) << to_string(p);
  }
}

TEST(LinkMachine, TheLinkTimerMeansWhatThePhaseSays) {
  struct Case {
    LinkPhase phase;
    Timer answer;
    LinkPhase after;
  };
  const Case cases[] = {
      {LinkPhase::idle, Timer::none, LinkPhase::idle},
      {LinkPhase::discovering, Timer::ask_timed_out, LinkPhase::connecting},
      {LinkPhase::resolving, Timer::resolve_timed_out, LinkPhase::connecting},
      {LinkPhase::connecting, Timer::connect_timed_out, LinkPhase::connecting},
      {LinkPhase::handshaking, Timer::connect_timed_out, LinkPhase::handshaking},
      {LinkPhase::ready, Timer::check_silence, LinkPhase::ready},
      {LinkPhase::waiting, Timer::reconnect, LinkPhase::waiting},
      {LinkPhase::failed, Timer::none, LinkPhase::failed},
      {LinkPhase::closed, Timer::none, LinkPhase::closed},
  };
  for (const Case& c : cases) {
    LinkMachine m = in_phase(c.phase);
    EXPECT_EQ(m.timer_fired(), c.answer) << to_string(c.phase);
    EXPECT_EQ(m.phase(), c.after) << to_string(c.phase);
  }
  // A connect timeout ends the attempt: the other addresses are not tried.
  LinkMachine m;
  m.begin(false, AddressForm::name);
  m.resolved({"::1", "127.0.0.1"});
  m.next_address();
  EXPECT_EQ(m.timer_fired(), Timer::connect_timed_out);
  EXPECT_FALSE(m.addresses_left());
  EXPECT_EQ(m.lost(false), Lost::attempt_failed);
}

TEST(LinkMachine, ALostLinkInEveryPhase) {
  for (LinkPhase p : kAll) {
    // Closing wins everywhere.
    LinkMachine closing = in_phase(p);
    EXPECT_EQ(closing.lost(true), Lost::closed) << to_string(p);
    EXPECT_EQ(closing.phase(), LinkPhase::closed);

    LinkMachine m = in_phase(p);
    const Lost l = m.lost(false);
    if (p == LinkPhase::ready) {
      EXPECT_EQ(l, Lost::reconnect_now);
      EXPECT_EQ(m.phase(), LinkPhase::waiting);
      EXPECT_EQ(m.backoff(true, 12345), 0u);  // the first reconnect of a ready link is immediate
    } else {
      EXPECT_EQ(l, Lost::attempt_failed) << to_string(p);
    }

    LinkMachine once = in_phase(p, LinkPolicy{false, 50ms, 5000ms});
    const Lost l2 = once.lost(false);
    if (p == LinkPhase::ready) {
      EXPECT_EQ(l2, Lost::give_up);
      EXPECT_EQ(once.phase(), LinkPhase::failed);
    } else {
      EXPECT_EQ(l2, Lost::attempt_failed) << to_string(p);
    }
  }
}

TEST(LinkMachine, AFailedAttemptWaitsGivesUpOrCloses) {
  for (LinkPhase p : kAll) {
    LinkMachine m = in_phase(p);
    EXPECT_EQ(m.attempt_failed(false), After::wait);
    EXPECT_EQ(m.phase(), LinkPhase::waiting);
    LinkMachine once = in_phase(p, LinkPolicy{false, 50ms, 5000ms});
    EXPECT_EQ(once.attempt_failed(false), After::give_up);
    EXPECT_EQ(once.phase(), LinkPhase::failed);
    LinkMachine closing = in_phase(p);
    EXPECT_EQ(closing.attempt_failed(true), After::closed);
    EXPECT_EQ(closing.phase(), LinkPhase::closed);
  }
}

TEST(LinkMachine, CloseFromEveryPhaseIsFinal) {
  for (LinkPhase p : kAll) {
    LinkMachine m = in_phase(p);
    m.close();
    EXPECT_EQ(m.phase(), LinkPhase::closed);
    EXPECT_FALSE(m.attempting());
    EXPECT_EQ(m.timer_fired(), Timer::none);
    EXPECT_FALSE(m.step_done());
  }
}

TEST(LinkMachine, BackoffDoublesWithinItsJitterBoundsUpToTheCap) {
  LinkMachine m(LinkPolicy{true, 100ms, 1000ms});
  const std::uint64_t lo_random = 0, hi_random = std::numeric_limits<std::uint64_t>::max();
  // Expected bases: 100, 200, 400, 800, then capped at 1000.
  const std::uint64_t bases[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (std::uint64_t base : bases) {
    LinkMachine lo = m, hi = m;
    const std::uint64_t a = lo.backoff(false, lo_random);
    const std::uint64_t b = hi.backoff(false, hi_random);
    EXPECT_GE(a, base / 2);
    EXPECT_LE(b, base);
    for (std::uint64_t r = 0; r < 2000; r += 7) {
      LinkMachine x = m;
      const std::uint64_t d = x.backoff(false, r);
      EXPECT_GE(d, base / 2);
      EXPECT_LE(d, base);
    }
    // Both ends of the range are reachable.
    bool saw_low = false, saw_high = false;
    for (std::uint64_t r = 0; r <= base; ++r) {
      LinkMachine x = m;
      const std::uint64_t d = x.backoff(false, r);
      saw_low |= d == base / 2;
      saw_high |= d == base;
    }
    EXPECT_TRUE(saw_low && saw_high) << base;
    m.backoff(false, 0);
  }
  EXPECT_EQ(m.attempt(), std::size(bases));
  // A ready link starts over from the minimum.
  m.up();
  EXPECT_EQ(m.attempt(), 0u);
  const std::uint64_t first = m.backoff(false, 0);
  EXPECT_EQ(first, 50u);
}

TEST(LinkMachine, BackoffNeverOverflowsAndTreatsZeroAsOneMillisecond) {
  LinkMachine m(LinkPolicy{true, 0ms, 0ms});
  for (int i = 0; i < 3; ++i) EXPECT_LE(m.backoff(false, 99), 1u);
  LinkMachine big(LinkPolicy{true, 1000ms, std::chrono::milliseconds(std::numeric_limits<std::int32_t>::max())});
  std::uint64_t last = 0;
  for (int i = 0; i < 64; ++i) last = big.backoff(false, std::numeric_limits<std::uint64_t>::max());
  EXPECT_LE(last, static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()));
  EXPECT_GT(last, 0u);
}
