// The link life cycle without I/O (src/link/link_machine.hpp): every phase's
// answer to every event, the address source asked at every attempt (a fake
// one here: no sockets, no loop), the address list and the backoff bounds.

#include "../src/link/link_machine.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

using uvredis::Address;
using uvredis::Error;
using uvredis::ErrorKind;
using uvredis::Result;
using uvredis::detail::AddressSource;
using uvredis::detail::FixedAddress;
using uvredis::detail::HostPort;
using uvredis::detail::LinkMachine;
using uvredis::detail::LinkPhase;
using uvredis::detail::LinkPolicy;
using namespace std::chrono_literals;

namespace {

using Go = LinkMachine::Go;
using Timer = LinkMachine::Timer;
using Lost = LinkMachine::Lost;
using After = LinkMachine::After;

Address tcp_to(std::string host, std::uint16_t port = 6379) {
  Address a;
  a.host = std::move(host);
  a.port = port;
  return a;
}

Address unix_to(std::string path) {
  Address a;
  a.kind = Address::Kind::unix_socket;
  a.path = std::move(path);
  return a;
}

// New attempts with no source: the target as it is.
Go begin_name(LinkMachine& m) {
  Address a = tcp_to("redis.local");
  return m.begin(a, nullptr);
}
Go begin_unix(LinkMachine& m) {
  Address a = unix_to("/tmp/redis.sock");
  return m.begin(a, nullptr);
}

// An address source without sockets: answers at once when it `knows`, else
// keeps the question (and its callback) until the test answers or the
// machine withdraws it.
struct FakeSource final : AddressSource {
  std::optional<HostPort> knows;
  int asked = 0;
  std::uint64_t last_ticket = 0;
  std::vector<std::uint64_t> cancelled;
  Done pending;

  Asked next(Done&& done) override {
    ++asked;
    if (knows) return Asked{knows, 0};
    pending = std::move(done);
    return Asked{std::nullopt, ++last_ticket};
  }
  void cancel(std::uint64_t ticket) override {
    cancelled.push_back(ticket);
    pending.reset();
  }
  // What a connection does with an answer: hands it back on a later turn.
  void answer(Result<HostPort> r) {
    Done d = std::move(pending);
    ASSERT_TRUE(d);
    d(std::move(r));
  }
};

// A source that never answers: machines wait on it in `discovering`.
FakeSource& silent_source() {
  static FakeSource s;
  return s;
}

// A machine brought into `phase` the way a connection would get there.
LinkMachine in_phase(LinkPhase phase, LinkPolicy policy = {}) {
  LinkMachine m(policy, phase == LinkPhase::discovering ? &silent_source() : nullptr);
  switch (phase) {
    case LinkPhase::idle: break;
    case LinkPhase::discovering: begin_name(m); break;
    case LinkPhase::resolving: begin_name(m); break;
    case LinkPhase::connecting: begin_unix(m); break;
    case LinkPhase::handshaking:
      begin_unix(m);
      m.handshake(2);
      break;
    case LinkPhase::ready:
      begin_unix(m);
      m.handshake(0);
      m.up();
      break;
    case LinkPhase::waiting:
      begin_unix(m);
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
  FakeSource source;  // must be asked (as the sentinels are)
  LinkMachine m(LinkPolicy{}, &source);
  EXPECT_EQ(m.phase(), LinkPhase::idle);
  EXPECT_FALSE(m.attempting());
  Address target = tcp_to("10.9.9.9");  // the source's answer replaces host and port
  EXPECT_EQ(m.begin(target, nullptr), Go::ask_address);
  EXPECT_EQ(m.phase(), LinkPhase::discovering);
  EXPECT_TRUE(m.awaiting_address());
  EXPECT_TRUE(m.answer_came());
  EXPECT_EQ(m.answered(target, HostPort{"10.0.0.1", 7000}), Go::connect_next);
  EXPECT_FALSE(m.awaiting_address());  // a second answer would be too late
  EXPECT_FALSE(m.answer_came());
  EXPECT_EQ(target.host, "10.0.0.1");
  EXPECT_EQ(target.port, 7000);
  EXPECT_EQ(m.phase(), LinkPhase::connecting);
  EXPECT_EQ(m.next_address(), "10.0.0.1");
  EXPECT_FALSE(m.addresses_left());
  EXPECT_EQ(m.next_address(), "");

  LinkMachine plain;  // no source: the target as it is
  EXPECT_EQ(begin_unix(plain), Go::connect_unix);
  EXPECT_EQ(plain.phase(), LinkPhase::connecting);
  EXPECT_EQ(begin_name(plain), Go::resolve);
  EXPECT_EQ(plain.phase(), LinkPhase::resolving);
  EXPECT_TRUE(plain.attempting());
}

TEST(LinkMachine, AFixedAddressAnswersAtOnceAndNeverAsks) {
  Address ip = tcp_to("127.0.0.1", 7001), name = tcp_to("localhost", 7001), sock = unix_to("/tmp/r.sock");
  FixedAddress fixed_ip(ip), fixed_name(name), fixed_sock(sock);
  LinkMachine a(LinkPolicy{}, &fixed_ip), b(LinkPolicy{}, &fixed_name), c(LinkPolicy{}, &fixed_sock);
  int answered = 0;
  EXPECT_EQ(a.begin(ip, [&answered](Result<HostPort>) { ++answered; }), Go::connect_next);
  EXPECT_EQ(a.next_address(), "127.0.0.1");
  EXPECT_EQ(b.begin(name, nullptr), Go::resolve);
  EXPECT_EQ(c.begin(sock, nullptr), Go::connect_unix);
  EXPECT_EQ(ip, tcp_to("127.0.0.1", 7001));  // unchanged
  EXPECT_EQ(sock, unix_to("/tmp/r.sock"));
  EXPECT_FALSE(a.awaiting_address());
  EXPECT_EQ(answered, 0);  // the callback of an answer given at once is never called
}

TEST(LinkMachine, AKnowingSourceMovesATcpTargetButNotAUnixSocket) {
  FakeSource source;
  source.knows = HostPort{"::1", 7002};
  LinkMachine m(LinkPolicy{}, &source);
  Address target = tcp_to("redis.local");
  EXPECT_EQ(m.begin(target, nullptr), Go::connect_next);
  EXPECT_EQ(target.host, "::1");
  EXPECT_EQ(target.port, 7002);
  EXPECT_EQ(m.next_address(), "::1");
  Address sock = unix_to("/tmp/r.sock");
  EXPECT_EQ(m.begin(sock, nullptr), Go::connect_unix);
  EXPECT_EQ(sock, unix_to("/tmp/r.sock"));
  EXPECT_EQ(source.asked, 2);
  EXPECT_TRUE(source.cancelled.empty());
}

TEST(LinkMachine, TheSourceIsAskedAtEveryAttemptAndAnOpenQuestionIsWithdrawn) {
  FakeSource source;
  LinkMachine m(LinkPolicy{}, &source);
  Address target = tcp_to("unused");
  int answers = 0;
  Result<HostPort> got = Error{ErrorKind::usage, "none yet"};
  auto record = [&](Result<HostPort> r) {
    ++answers;
    got = std::move(r);
  };

  // The answer takes too long: the question is withdrawn, never answered.
  EXPECT_EQ(m.begin(target, record), Go::ask_address);
  EXPECT_EQ(source.asked, 1);
  EXPECT_EQ(m.timer_fired(), Timer::ask_timed_out);
  EXPECT_EQ(source.cancelled, (std::vector<std::uint64_t>{1}));
  EXPECT_FALSE(source.pending);
  EXPECT_FALSE(m.answer_came());  // a late answer is ignored
  EXPECT_EQ(m.attempt_failed(false), After::wait);
  m.backoff(false, 0);

  // The next attempt asks again; an error answer fails the attempt.
  EXPECT_EQ(m.begin(target, record), Go::ask_address);
  EXPECT_EQ(source.asked, 2);
  source.answer(Error{ErrorKind::connect, "no sentinel could name the master"});
  EXPECT_EQ(answers, 1);
  EXPECT_FALSE(got);
  EXPECT_TRUE(m.answer_came());
  EXPECT_EQ(m.attempt_failed(false), After::wait);
  m.backoff(false, 0);

  // A third one gets an address and goes on to resolve it.
  EXPECT_EQ(m.begin(target, record), Go::ask_address);
  source.answer(HostPort{"redis-2.local", 6380});
  ASSERT_TRUE(got);
  EXPECT_TRUE(m.answer_came());
  EXPECT_EQ(m.answered(target, *got), Go::resolve);
  EXPECT_EQ(target.host, "redis-2.local");
  EXPECT_EQ(target.port, 6380);
  EXPECT_EQ(source.cancelled.size(), 1u);  // answered questions are not withdrawn

  // close() while asking withdraws the question.
  ASSERT_TRUE(m.resolved({"10.0.0.2"}));
  m.handshake(0);
  m.up();
  EXPECT_EQ(m.lost(false), Lost::reconnect_now);
  m.backoff(true, 0);
  EXPECT_EQ(m.begin(target, record), Go::ask_address);
  m.close();
  EXPECT_EQ(source.cancelled, (std::vector<std::uint64_t>{1, 4}));
  EXPECT_EQ(m.phase(), LinkPhase::closed);
  EXPECT_EQ(answers, 2);
}

TEST(LinkMachine, ResolvedAddressesAreTriedInOrderOnceEach) {
  LinkMachine m;
  begin_name(m);
  ASSERT_TRUE(m.resolved({"::1", "127.0.0.1", "::1", "127.0.0.1"}));
  EXPECT_EQ(m.phase(), LinkPhase::connecting);
  EXPECT_EQ(m.next_address(), "::1");
  // The first address refused: the link "drops" while connecting, and the
  // next address is tried within the same attempt.
  EXPECT_EQ(m.lost(false), Lost::try_next_address);
  EXPECT_EQ(m.next_address(), "127.0.0.1");
  EXPECT_EQ(m.lost(false), Lost::attempt_failed);
  // A new attempt starts the list afresh.
  begin_name(m);
  EXPECT_FALSE(m.addresses_left());
  ASSERT_TRUE(m.resolved({"127.0.0.1"}));
  EXPECT_EQ(m.next_address(), "127.0.0.1");
}

TEST(LinkMachine, ALateResolveIsIgnored) {
  LinkMachine m;
  begin_name(m);
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
  begin_unix(m);
  EXPECT_TRUE(m.handshake(0));  // nothing to say: ready at once
  begin_unix(m);
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
  begin_name(m);
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
