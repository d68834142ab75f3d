// The I/O-free parts of a connection's request bookkeeping
// (src/link/request_queue.hpp), driven by plain calls: no socket, no loop.

#include "../src/protocol/encode.hpp"
#include "../src/link/request_queue.hpp"
#include "../src/link/tracker.hpp"
#include "support/recorder.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

using uvredis::ErrorKind;
using uvredis::Reply;
using namespace uvredis::detail;  // the push kinds
using uvredis::detail::Deadlines;
using uvredis::detail::queue_bounds_error;
using uvredis::detail::queue_fits;
using uvredis::detail::QueueBounds;

namespace {

// Every deadline due at `now`, in the order pop_due hands them out.
Reply push(std::string kind, std::string a, std::string b) {
  std::vector<Reply> v;
  v.push_back(Reply::string(std::move(kind)));
  v.push_back(Reply::string(std::move(a)));
  v.push_back(Reply::string(std::move(b)));
  return Reply::array(std::move(v));
}

std::vector<std::uint64_t> expire_all(Deadlines& d, std::uint64_t now) {
  std::vector<std::uint64_t> out;
  while (auto seq = d.pop_due(now)) out.push_back(*seq);
  return out;
}

}  // namespace

TEST(Deadlines, EmptyHasNothingDue) {
  Deadlines d;
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.next(), 0u);
  EXPECT_EQ(d.last(77), 77u);
  EXPECT_FALSE(d.pop_due(UINT64_MAX).has_value());
}

TEST(Deadlines, InOrderDeadlinesExpireOldestFirstAndOnlyWhenDue) {
  Deadlines d;
  d.add(1, 100, true);
  d.add(2, 100, true);
  d.add(3, 150, true);
  EXPECT_EQ(d.next(), 100u);
  EXPECT_EQ(d.last(0), 150u);
  EXPECT_TRUE(expire_all(d, 99).empty());
  EXPECT_EQ(expire_all(d, 100), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(d.next(), 150u);
  EXPECT_EQ(expire_all(d, 1000), (std::vector<std::uint64_t>{3}));
  EXPECT_TRUE(d.empty());
}

TEST(Deadlines, OtherTimeoutsAreOrderedByDueTime) {
  Deadlines d;
  d.add(1, 500, false);
  d.add(2, 50, false);
  d.add(3, 300, false);
  d.add(4, 10, true);
  EXPECT_EQ(d.next(), 10u);
  EXPECT_EQ(d.last(0), 500u);
  EXPECT_EQ(expire_all(d, 60), (std::vector<std::uint64_t>{4, 2}));
  EXPECT_EQ(d.next(), 300u);
  EXPECT_EQ(expire_all(d, 1000), (std::vector<std::uint64_t>{3, 1}));
  EXPECT_EQ(d.size(), 0u);
}

TEST(Deadlines, NextIsTheEarlierOfFifoAndHeap) {
  Deadlines d;
  d.add(1, 200, true);
  d.add(2, 120, false);
  EXPECT_EQ(d.next(), 120u);
  EXPECT_EQ(expire_all(d, 130), (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(d.next(), 200u);
}

TEST(Deadlines, PruneDropsFifoEntriesOfCompletedCommandsOnly) {
  Deadlines d;
  for (std::uint64_t s = 1; s <= 5; ++s) d.add(s, 100 + s, true);
  d.add(2, 50, false);  // heap entries stay until due (expiring them is a no-op)
  d.prune(4);           // 1..3 answered
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.next(), 50u);
  EXPECT_EQ(expire_all(d, 1000), (std::vector<std::uint64_t>{4, 5, 2}));
  d.prune(100);
  EXPECT_TRUE(d.empty());
}

TEST(Deadlines, DeadlinesAddedWhileExpiringAreKept) {
  // The caller expires one at a time; a completion may issue a command.
  Deadlines d;
  d.add(1, 10, true);
  d.add(2, 20, true);
  std::vector<std::uint64_t> expired;
  while (auto seq = d.pop_due(20)) {
    expired.push_back(*seq);
    if (*seq == 1) d.add(3, 40, true);
  }
  EXPECT_EQ(expired, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(d.next(), 40u);
  EXPECT_EQ(d.size(), 1u);
}

TEST(QueueBounds, FitsWithinEveryBound) {
  const QueueBounds b{3, 100};
  EXPECT_TRUE(queue_fits(b, 0, 0, 100, 1));
  EXPECT_TRUE(queue_fits(b, 2, 60, 40, 1));
  EXPECT_FALSE(queue_bounds_error(b, 2, 60, 40, 1).has_value());
}

TEST(QueueBounds, TooManyCommands) {
  const QueueBounds b{3, 1000};
  EXPECT_FALSE(queue_fits(b, 3, 10, 5, 1));
  EXPECT_FALSE(queue_fits(b, 1, 10, 5, 3));  // a group of 3 does not fit behind 1
  auto e = queue_bounds_error(b, 3, 10, 5, 1);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, ErrorKind::overflow);
  EXPECT_EQ(e->message, "queue full: 3 commands are waiting (max_queued_commands)");
}

TEST(QueueBounds, CommandLargerThanTheByteBound) {
  const QueueBounds b{10, 100};
  EXPECT_FALSE(queue_fits(b, 0, 0, 101, 1));
  auto e = queue_bounds_error(b, 0, 0, 101, 1);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, ErrorKind::overflow);
  EXPECT_EQ(e->message, "command too large: 101 bytes, more than max_queued_bytes (100)");
}

TEST(QueueBounds, CommandOfMoreThan4GiB) {
  const QueueBounds b{10, SIZE_MAX};
  const std::size_t big = std::size_t{UINT32_MAX} + 1;
  EXPECT_FALSE(queue_fits(b, 0, 0, big, 1));
  auto e = queue_bounds_error(b, 0, 0, big, 1);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->message, "command too large: " + std::to_string(big) + " bytes, more than 4 GiB");
}

TEST(QueueBounds, BytesAlreadyWaiting) {
  const QueueBounds b{10, 100};
  EXPECT_FALSE(queue_fits(b, 1, 70, 31, 1));
  auto e = queue_bounds_error(b, 1, 70, 31, 1);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->message, "queue full: 70 bytes are waiting (max_queued_bytes)");
}

TEST(QueueBounds, FitsAndErrorAgree) {
  const QueueBounds b{4, 64};
  for (std::size_t qc = 0; qc <= 5; ++qc)
    for (std::size_t qb = 0; qb <= 70; qb += 7)
      for (std::size_t eb = 0; eb <= 70; eb += 5)
        for (std::size_t ec = 1; ec <= 3; ++ec)
          EXPECT_EQ(queue_fits(b, qc, qb, eb, ec), !queue_bounds_error(b, qc, qb, eb, ec).has_value())
              << qc << " " << qb << " " << eb << " " << ec;
}

TEST(PushKinds, PushesAreToldFromReplies) {
  EXPECT_EQ(push_kind_of(push("message", "ch", "hello")), kMessage);
  EXPECT_EQ(push_kind_of(push("pmessage", "p*", "ch")), kPMessage);
  EXPECT_EQ(push_kind_of(push("smessage", "ch", "hello")), kSMessage);
  EXPECT_EQ(push_kind_of(push("ssubscribe", "ch", "1")), kSSubscribe);
  EXPECT_EQ(push_kind_of(push("sunsubscribe", "ch", "0")), kSUnsubscribe);
  // Replies to ordinary commands, even when they look a little like pushes.
  EXPECT_EQ(push_kind_of(Reply::string("message")), kNotPush);
  EXPECT_EQ(push_kind_of(Reply::status("OK")), kNotPush);
  EXPECT_EQ(push_kind_of(push("MESSAGE", "ch", "x")), kNotPush);  // the server sends lower case
  EXPECT_EQ(push_kind_of(push("get", "ch", "x")), kNotPush);
  std::vector<Reply> two;
  two.push_back(Reply::string("message"));
  two.push_back(Reply::string("ch"));
  EXPECT_EQ(push_kind_of(Reply::array(std::move(two))), kNotPush);  // LRANGE of two, say
  std::vector<Reply> not_string;
  not_string.push_back(Reply::integer(1));
  not_string.push_back(Reply::string("message"));
  not_string.push_back(Reply::string("x"));
  EXPECT_EQ(push_kind_of(Reply::array(std::move(not_string))), kNotPush);
}

TEST(PushKinds, CommandsThatExpectConfirmations) {
  EXPECT_EQ(command_push_kind("SSUBSCRIBE"), kSSubscribe);
  EXPECT_EQ(command_push_kind("sunsubscribe"), kSUnsubscribe);
  EXPECT_EQ(command_push_kind("PSubscribe"), kPSubscribe);
  EXPECT_EQ(command_push_kind("GET"), kNotPush);
  EXPECT_EQ(command_push_kind("MESSAGE"), kNotPush);  // a push, never a command
  EXPECT_TRUE(is_confirmation(kSubscribe));
  EXPECT_TRUE(is_confirmation(kSUnsubscribe));
  EXPECT_FALSE(is_confirmation(kSMessage));
  EXPECT_FALSE(is_confirmation(kNotPush));
}

TEST(PushKinds, ConfirmationsCountDownOnlyForTheirCommand) {
  // SSUBSCRIBE a b c: answered by the third ssubscribe confirmation, whatever
  // messages come in between.
  const std::uint8_t want = command_push_kind("SSUBSCRIBE");
  std::uint32_t left = 3;
  const Reply stream[] = {push("ssubscribe", "a", "1"), push("smessage", "a", "m1"), push("sunsubscribe", "z", "0"),
                          push("ssubscribe", "b", "2"), push("smessage", "b", "m2"), push("ssubscribe", "c", "3")};
  std::vector<int> answered_at;
  for (int i = 0; i < 6; ++i) {
    const std::uint8_t kind = push_kind_of(stream[i]);
    ASSERT_NE(kind, kNotPush);
    if (is_confirmation(kind) && count_confirmation(want, left, kind)) answered_at.push_back(i);
  }
  EXPECT_EQ(answered_at, std::vector<int>{5});
  EXPECT_EQ(left, 0u);
  // Once answered, further confirmations (Redis 7 unsubscribing by itself)
  // count towards nothing.
  EXPECT_FALSE(count_confirmation(want, left, kSSubscribe));
  EXPECT_EQ(left, 0u);
}

// ------------------------------------------------------------ RequestQueue
//
// The queue driven as a connection drives it: push (after encoding into
// out()), take + written (handed to the link), answer_front (a
// reply, or the link's end), expire (a deadline), fail_queued (a link that
// failed or closed). Every callback is counted: exactly once on every path.

#include "../src/protocol/encode.hpp"

namespace {

using uvredis::ClientStats;
using uvredis::Error;
using uvredis::Result;
using uvredis::detail::Request;
using uvredis::detail::Ring;
using uvredis::detail::RequestQueue;
using uvredis::detail::Stage;

struct Harness {
  ClientStats stats;
  RequestQueue q{stats, QueueBounds{1000, 64u << 20}};
  std::vector<std::string> log;  // "seq:ok:value" or "seq:err:kind" in completion order
  std::vector<std::string> wire;  // bytes handed, per take
  std::vector<std::vector<std::string>> released;
  int idle_calls = 0;

  Harness() {
    q.set_usual_timeout(100);  // submit's: records without an extension, but groups'
    q.set_hooks(
        this, [](void* self) { ++static_cast<Harness*>(self)->idle_calls; },
        [](void* self, std::vector<std::string>&& pieces) {
          static_cast<Harness*>(self)->released.push_back(std::move(pieces));
        });
  }

  // Queues a user command; its callback logs its result under `tag`.
  std::uint64_t submit(std::vector<std::string_view> argv, std::string tag, std::uint32_t group = 1) {
    Request r;
    r.len = static_cast<std::uint32_t>(uvredis::detail::encode_command(q.out(), argv));
    r.group = group;
    r.timeout_ms = 100;
    r.cb = [this, tag](Result<Reply> res) {
      log.push_back(tag + (res ? ":ok:" + std::string(res->is_string() || res->is_status() ? res->str() : "")
                               : ":err:" + std::string(uvredis::to_string(res.error().kind))));
    };
    return q.push(std::move(r));
  }

  // Hands everything queued to the "link" (whole commands and tails).
  std::size_t hand_all() {
    std::size_t n = 0, group_left = 0;
    RequestQueue::Handoff h;
    for (;;) {
      while (q.tail_left() > 0) {
        auto s = q.tail_slice(4096);
        wire.back().append(s);
        q.tail_consumed(s.size());
      }
      if (!q.take(h, group_left)) break;
      wire.emplace_back(h.bytes, h.len);
      q.written_taken();
      ++n;
    }
    q.compact();
    return n;
  }

  // The oldest request in flight gets `reply` (nullptr: the link ended with `err`).
  void answer(const Reply* reply, const Error& err = Error{ErrorKind::connection_lost, "gone"}) {
    ASSERT_FALSE(q.inflight_empty());
    // (A late reply after its timeout is dropped: no result is made.)
    q.answer_front(reply != nullptr, [&]() -> uvredis::Result<Reply> {
      if (reply) return Reply(*reply);
      return err;
    });
  }
};

std::string resp(std::vector<std::string_view> argv) {
  std::string s;
  uvredis::detail::encode_command(s, argv);
  return s;
}

}  // namespace

TEST(RequestQueue, RepliesCompleteInOrderExactlyOnce) {
  Harness t;
  t.submit({"GET", "a"}, "a");
  t.submit({"GET", "b"}, "b");
  t.submit({"GET", "c"}, "c");
  EXPECT_EQ(t.stats.queued, 3u);
  ASSERT_EQ(t.hand_all(), 3u);
  EXPECT_EQ(t.stats.queued, 0u);
  EXPECT_EQ(t.stats.in_flight, 3u);
  EXPECT_EQ(t.stats.sent, 3u);
  ASSERT_EQ(t.wire.size(), 3u);
  EXPECT_EQ(t.wire[1], resp({"GET", "b"}));
  for (const char* v : {"1", "2", "3"}) {
    Reply r = Reply::string(v);
    t.answer(&r);
  }
  EXPECT_EQ(t.log, (std::vector<std::string>{"a:ok:1", "b:ok:2", "c:ok:3"}));
  EXPECT_EQ(t.stats.in_flight, 0u);
  EXPECT_EQ(t.stats.replies, 3u);
  EXPECT_EQ(t.idle_calls, 3);
  EXPECT_TRUE(t.q.inflight_empty());
  EXPECT_FALSE(t.q.has_work());
}

TEST(RequestQueue, AQueuedCommandThatTimedOutIsNeverHandedOver) {
  Harness t;
  t.submit({"SET", "k", "1"}, "first");
  const std::uint64_t mid = t.submit({"SET", "k", "2"}, "mid");
  t.submit({"SET", "k", "3"}, "last");
  auto what = t.q.expire(mid);
  EXPECT_TRUE(what.found);
  EXPECT_FALSE(what.written);
  EXPECT_EQ(t.log, (std::vector<std::string>{"mid:err:timeout"}));
  EXPECT_EQ(t.stats.timeouts, 1u);
  EXPECT_EQ(t.stats.queued, 2u);
  EXPECT_FALSE(t.q.expire(mid).found);  // twice: nothing more
  ASSERT_EQ(t.hand_all(), 2u);
  EXPECT_EQ(t.wire[0], resp({"SET", "k", "1"}));
  EXPECT_EQ(t.wire[1], resp({"SET", "k", "3"}));
  EXPECT_EQ(t.q.queued_bytes(), 0u);
  Reply ok = Reply::status("OK");
  t.answer(&ok);
  t.answer(&ok);
  EXPECT_EQ(t.log, (std::vector<std::string>{"mid:err:timeout", "first:ok:OK", "last:ok:OK"}));
}

TEST(RequestQueue, AWrittenCommandThatTimedOutOwesItsReplyWhichIsDropped) {
  Harness t;
  const std::uint64_t a = t.submit({"GET", "a"}, "a");
  t.submit({"GET", "b"}, "b");
  t.hand_all();
  auto what = t.q.expire(a);
  EXPECT_TRUE(what.found);
  EXPECT_TRUE(what.written);
  EXPECT_EQ(t.q.owed(), 1u);
  EXPECT_EQ(t.stats.in_flight, 1u);  // no longer counted as in flight
  EXPECT_EQ(t.log, (std::vector<std::string>{"a:err:timeout"}));
  Reply late = Reply::string("late");
  t.answer(&late);  // a's late reply: dropped
  EXPECT_EQ(t.q.owed(), 0u);
  Reply b = Reply::string("B");
  t.answer(&b);
  EXPECT_EQ(t.log, (std::vector<std::string>{"a:err:timeout", "b:ok:B"}));
  EXPECT_EQ(t.stats.in_flight, 0u);
}

// The connection hands commands whose bytes follow each other in out() as
// one run (one append): take() says when they do, and never across a
// command skipped because it timed out while queued.
TEST(RequestQueue, ConsecutiveCommandsAreOneRunOfBytesUntilASkippedOne) {
  Harness t;
  t.submit({"GET", "a"}, "a");
  t.submit({"GET", "b"}, "b");
  const std::uint64_t c = t.submit({"GET", "c"}, "c");
  t.submit({"GET", "d"}, "d");
  EXPECT_TRUE(t.q.expire(c).found);  // c times out queued: skipped when its turn comes
  std::size_t group_left = 0;
  RequestQueue::Handoff h;
  std::vector<std::pair<const char*, std::size_t>> taken;
  while (t.q.take(h, group_left)) {
    EXPECT_TRUE(h.in_out);
    taken.emplace_back(h.bytes, h.len);
    t.q.written_taken();
  }
  ASSERT_EQ(taken.size(), 3u);
  EXPECT_EQ(std::string(taken[0].first, taken[0].second + taken[1].second), "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n");
  EXPECT_EQ(taken[1].first, taken[0].first + taken[0].second);  // b right after a: one run
  EXPECT_NE(taken[2].first, taken[1].first + taken[1].second);  // c's bytes lie between: a new run
  EXPECT_EQ(std::string(taken[2].first, taken[2].second), "*2\r\n$3\r\nGET\r\n$1\r\nd\r\n");
  EXPECT_EQ(t.log, (std::vector<std::string>{"c:err:timeout"}));
}

TEST(RequestQueue, AGroupIsHandedWholeAndTimesOutAsOne) {
  Harness t;
  t.submit({"GET", "before"}, "before");
  const std::uint64_t first = t.submit({"MULTI"}, "multi", 3);
  Request r;
  t.submit({"INCR", "n"}, "incr", 0);
  t.submit({"EXEC"}, "exec", 0);
  // A pass that takes the group's first member takes all of it.
  std::size_t group_left = 0;
  RequestQueue::Handoff h;
  ASSERT_TRUE(t.q.take(h, group_left));  // "before"
  EXPECT_EQ(group_left, 0u);
  t.q.written_taken();
  ASSERT_TRUE(t.q.take(h, group_left));  // MULTI
  EXPECT_EQ(group_left, 2u);
  t.q.written_taken();
  // Its deadline, while two members wait: all three complete, once.
  auto what = t.q.expire(first);
  EXPECT_TRUE(what.written);
  EXPECT_EQ(t.log, (std::vector<std::string>{"multi:err:timeout", "incr:err:timeout", "exec:err:timeout"}));
  // The waiting members are skipped; the written one owes its reply.
  EXPECT_FALSE(t.q.take(h, group_left));
  EXPECT_EQ(t.q.owed(), 1u);
  EXPECT_EQ(t.stats.timeouts, 3u);
  EXPECT_EQ(t.stats.queued, 0u);
}

TEST(RequestQueue, TheLinksEndFailsWhatIsInFlightAndFailQueuedTheRestOnce) {
  Harness t;
  t.submit({"GET", "a"}, "a");
  t.submit({"GET", "b"}, "b");
  t.hand_all();
  t.submit({"GET", "c"}, "c");
  const std::uint64_t d = t.submit({"GET", "d"}, "d");
  t.q.expire(d);
  while (!t.q.inflight_empty()) t.answer(nullptr);
  t.q.fail_queued(Error{ErrorKind::closed, "client closed"});
  t.q.fail_queued(Error{ErrorKind::closed, "again"});  // nothing left: nothing more
  EXPECT_EQ(t.log, (std::vector<std::string>{"d:err:timeout", "a:err:connection lost", "b:err:connection lost",
                                             "c:err:closed"}));
  EXPECT_EQ(t.stats.queued, 0u);
  EXPECT_EQ(t.stats.in_flight, 0u);
  EXPECT_EQ(t.stats.errors, 4u);
  EXPECT_FALSE(t.q.has_work());
  EXPECT_TRUE(t.q.prune());  // no deadline was added: none left
}

TEST(RequestQueue, OverflowBoundsCountWhatWaits) {
  ClientStats stats;
  RequestQueue q(stats, QueueBounds{2, 1 << 20});
  Error err;
  EXPECT_FALSE(q.overflowed(10, 1, err));
  for (int i = 0; i < 2; ++i) {
    Request r;
    r.len = static_cast<std::uint32_t>(uvredis::detail::encode_command(q.out(), std::vector<std::string_view>{"PING"}));
    q.push(std::move(r));
  }
  EXPECT_TRUE(q.overflowed(10, 1, err));
  EXPECT_EQ(err.kind, ErrorKind::overflow);
  EXPECT_TRUE(q.overflowed(2u << 20, 0, err));
  EXPECT_NE(err.message.find("command too large"), std::string::npos);
  // Internal requests (handshake, health check) do not count.
  Request internal;
  internal.internal = true;
  q.push(std::move(internal));
  EXPECT_EQ(stats.queued, 2u);
}

TEST(RequestQueue, ConfirmationsAnswerTheSubscriptionInFrontAmidMessages) {
  Harness t;
  Request sub;
  sub.len = static_cast<std::uint32_t>(
      uvredis::detail::encode_command(t.q.out(), std::vector<std::string_view>{"SUBSCRIBE", "x", "y"}));
  sub.internal = true;
  sub.push = kSubscribe;
  sub.pushes = 2;
  const std::uint64_t seq = t.q.push(std::move(sub));
  t.submit({"PING"}, "ping");
  t.hand_all();
  EXPECT_EQ(t.q.count_push(kMessage), 0u);      // a message: counts nothing
  EXPECT_EQ(t.q.count_push(kUnsubscribe), 0u);  // another kind: nothing
  EXPECT_EQ(t.q.count_push(kSubscribe), 0u);    // one of two
  EXPECT_EQ(t.q.count_push(kMessage), 0u);
  EXPECT_EQ(t.q.count_push(kSubscribe), seq);   // the second answers it
  Reply ok = Reply::status("OK");
  t.answer(&ok);
  EXPECT_EQ(t.q.count_push(kSubscribe), 0u);  // the PING in front awaits no confirmation
  Reply pong = Reply::status("PONG");
  t.answer(&pong);
  EXPECT_EQ(t.log, (std::vector<std::string>{"ping:ok:PONG"}));
}

TEST(RequestQueue, ABigCommandLeavesInSlicesWithItsBytesIntact) {
  Harness t;
  const std::string value(3 * RequestQueue::kSliceBytes + 123, 'v');
  t.submit({"SET", "big", value}, "big");
  t.submit({"GET", "small"}, "small");
  Request r;
  RequestQueue::Handoff h;
  std::size_t group_left = 0;
  ASSERT_TRUE(t.q.take(h, group_left));
  EXPECT_EQ(h.len, RequestQueue::kSliceBytes);
  std::string wire(h.bytes, h.len);
  t.q.written_taken();
  EXPECT_GT(t.q.tail_left(), 0u);
  const std::size_t expected_slices = (t.q.tail_left() + 99999) / 100000;
  std::size_t slices = 0;
  while (t.q.tail_left() > 0) {
    auto s = t.q.tail_slice(100000);
    ASSERT_LE(s.size(), 100000u);
    wire.append(s);
    t.q.tail_consumed(s.size());
    ++slices;
  }
  EXPECT_EQ(slices, expected_slices);
  EXPECT_EQ(wire, resp({"SET", "big", value}));
  ASSERT_TRUE(t.q.take(h, group_left));
  EXPECT_EQ(std::string(h.bytes, h.len), resp({"GET", "small"}));
}

TEST(RequestQueue, AnOwnedBodyIsHandedFromItsPiecesAndReleasedOnce) {
  Harness t;
  const std::string big(200000, 'x');
  std::vector<std::string> pieces = {"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200000\r\n", big, "\r\n"};
  std::size_t len = 0;
  for (const auto& p : pieces) len += p.size();
  t.q.push_body(std::move(pieces));
  Request r;
  r.len = static_cast<std::uint32_t>(len);
  r.owned = true;
  r.cb = [&](Result<Reply>) { t.log.push_back("owned"); };
  t.q.push(std::move(r));
  EXPECT_EQ(t.hand_all(), 1u);
  EXPECT_EQ(t.wire[0], resp({"SET", "k", big}));
  ASSERT_EQ(t.released.size(), 1u);
  EXPECT_EQ(t.released[0][1].size(), big.size());
  EXPECT_EQ(t.q.queued_bytes(), 0u);
}

TEST(RequestQueue, AnAbandonedTailIsNotHandedAndWhatFollowsStartsClean) {
  Harness t;
  const std::string value(2 * RequestQueue::kSliceBytes, 'v');
  t.submit({"SET", "big", value}, "big");
  t.submit({"GET", "next"}, "next");
  Request r;
  RequestQueue::Handoff h;
  std::size_t group_left = 0;
  ASSERT_TRUE(t.q.take(h, group_left));
  t.q.written_taken();
  ASSERT_GT(t.q.tail_left(), 0u);
  // The link ends mid-command: the command fails, its rest is dropped.
  t.q.abandon_tail();
  t.answer(nullptr);
  EXPECT_EQ(t.q.tail_left(), 0u);
  ASSERT_TRUE(t.q.take(h, group_left));
  EXPECT_EQ(std::string(h.bytes, h.len), resp({"GET", "next"}));
  EXPECT_EQ(t.log, (std::vector<std::string>{"big:err:connection lost"}));
}

TEST(RequestQueue, ACallbackMayQueueMoreWhileItsGroupTimesOut) {
  Harness t;
  int extra = 0;
  // MULTI's callback queues a new command while the rest of its group is
  // still to be completed by the same expire().
  Request multi;
  multi.len = static_cast<std::uint32_t>(
      uvredis::detail::encode_command(t.q.out(), std::vector<std::string_view>{"MULTI"}));
  multi.group = 3;
  multi.timeout_ms = 50;
  multi.cb = [&](Result<Reply> res) {
    t.log.push_back(res ? "multi:ok" : "multi:err");
    for (int i = 0; i < 100; ++i) {  // enough to grow the deque under expire()
      Request r;
      r.len = static_cast<std::uint32_t>(
          uvredis::detail::encode_command(t.q.out(), std::vector<std::string_view>{"PING"}));
      r.cb = [&](Result<Reply> res2) { extra += res2 ? 1 : 1000; };
      t.q.push(std::move(r));
    }
  };
  const std::uint64_t first = t.q.push(std::move(multi));
  t.submit({"SET", "a", "1"}, "set", 0);
  t.submit({"EXEC"}, "exec", 0);
  t.q.expire(first);
  EXPECT_EQ(t.log, (std::vector<std::string>{"multi:err", "set:err:timeout", "exec:err:timeout"}));
  EXPECT_EQ(t.hand_all(), 100u);
  EXPECT_EQ(t.wire[0], resp({"PING"}));
  Reply pong = Reply::status("PONG");
  for (int i = 0; i < 100; ++i) t.answer(&pong);
  EXPECT_EQ(extra, 100);
}

TEST(RequestQueue, DeadlinesOfCompletedRequestsArePruned) {
  Harness t;
  const std::uint64_t a = t.submit({"GET", "a"}, "a");
  const std::uint64_t b = t.submit({"GET", "b"}, "b");
  t.q.add_deadline(a, 100, true);
  t.q.add_deadline(b, 100, true);
  EXPECT_EQ(t.q.next_deadline(), 100u);
  t.hand_all();
  Reply v = Reply::string("v");
  t.answer(&v);
  EXPECT_FALSE(t.q.prune());  // b still pending
  t.answer(&v);
  EXPECT_TRUE(t.q.prune());
  EXPECT_FALSE(t.q.pop_due(1000).has_value());
}

// The observer hooks on the queue: each tracked request is seen written
// once and completed once, whatever way it ends.
TEST(TrackedQueue, EachTrackedRequestIsWrittenAndCompletedOnceOnEveryPath) {
  using namespace uvredis::detail;
  uvredis::ClientStats stats;
  RequestQueue q(stats, QueueBounds{100, 1u << 20});
  auto rec = std::make_shared<uvredis::test::Recorder>();
  Tracker t(rec, true, &stats.latency);
  t.set_node("n:1");
  q.set_tracker(&t);
  std::map<std::string, int> calls;
  auto push = [&](std::string_view name, bool tracked) {
    std::vector<std::string_view> argv{name, "key"};
    Request r;
    r.len = static_cast<std::uint32_t>(encode_command(q.out(), argv));
    r.cb = [&calls, n = std::string(name)](Result<Reply>) { ++calls[n]; };
    r.track = tracked ? t.begin(argv) : 0;
    return q.push(std::move(r));
  };
  auto hand_all = [&] {
    RequestQueue::Handoff h;
    std::size_t group_left = 0;
    while (q.take(h, group_left)) q.written_taken();
    q.compact();
  };
  push("ANSWERED", true);
  const std::uint64_t late = push("LATE", true);
  push("UNTRACKED", false);
  hand_all();
  push("QUEUED", true);
  EXPECT_EQ(rec->events.size(), 2u) << "written: the two tracked ones handed over";

  int made = 0;
  auto ok_reply = [&made]() -> uvredis::Result<Reply> {
    ++made;
    return Reply::status("OK");
  };
  t.reply_bytes = 5;
  q.answer_front(true, ok_reply);
  t.reply_bytes = 0;
  EXPECT_TRUE(q.expire(late).found);  // times out while written
  q.answer_front(true, ok_reply);     // its late reply: dropped, no result made
  EXPECT_EQ(made, 1);
  q.answer_front(true, ok_reply);
  EXPECT_EQ(made, 2);
  q.fail_queued(uvredis::Error{ErrorKind::closed, "client is closed"});

  EXPECT_EQ(calls, (std::map<std::string, int>{{"ANSWERED", 1}, {"LATE", 1}, {"UNTRACKED", 1}, {"QUEUED", 1}}));
  ASSERT_EQ(rec->of("ANSWERED", false).size(), 1u);
  const uvredis::test::Seen ok = rec->of("ANSWERED", false)[0];
  EXPECT_FALSE(ok.error);
  EXPECT_EQ(ok.bytes_in, 5u);
  EXPECT_EQ(ok.node, "n:1");
  EXPECT_EQ(ok.args, (std::vector<std::string>{"key"}));
  ASSERT_EQ(rec->of("LATE", false).size(), 1u);
  EXPECT_EQ(rec->of("LATE", false)[0].error, ErrorKind::timeout);
  EXPECT_EQ(rec->of("LATE", true).size(), 1u);
  ASSERT_EQ(rec->of("QUEUED", false).size(), 1u);
  EXPECT_EQ(rec->of("QUEUED", false)[0].error, ErrorKind::closed);
  EXPECT_TRUE(rec->of("QUEUED", true).empty());
  EXPECT_TRUE(rec->of("UNTRACKED", false).empty() && rec->of("UNTRACKED", true).empty());
  EXPECT_EQ(rec->events.size(), 5u);
  EXPECT_EQ(stats.latency.count(), 1u) << "only the answered command is a latency sample";
}

// The rings under the queues: wrap-around and growth keep the order, and
// each element is destroyed exactly once.
namespace {
struct Counted {
  static inline int live = 0;
  int v;
  explicit Counted(int x) : v(x) { ++live; }
  Counted(Counted&& o) noexcept : v(o.v) { ++live; }
  ~Counted() { --live; }
};
}  // namespace

TEST(Ring, WrapsAroundAndGrowsInOrder) {
  {
    Ring<Counted> r;
    EXPECT_EQ(r.capacity(), 0u);
    int next_in = 0, next_out = 0;
    // Keep 10 in a ring of 16 so that head and tail wrap many times.
    for (int round = 0; round < 100; ++round) {
      while (r.size() < 10) r.emplace_back(next_in++);
      for (int k = 0; k < 7; ++k) {
        ASSERT_EQ(r.front().v, next_out++);
        r.pop_front();
      }
    }
    EXPECT_EQ(r.capacity(), 16u);  // settled: no growth, no allocation per element
    // Grow while wrapped: the order survives the move into the new array.
    while (r.size() < 40) r.emplace_back(next_in++);
    EXPECT_EQ(r.capacity(), 64u);
    for (std::size_t i = 0; i < r.size(); ++i) ASSERT_EQ(r[i].v, next_out + static_cast<int>(i));
    EXPECT_EQ(r.back().v, next_in - 1);
    EXPECT_EQ(Counted::live, 40);
    Ring<Counted> moved = std::move(r);
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(moved.front().v, next_out);
    moved.clear();
    EXPECT_EQ(Counted::live, 0);
    moved.emplace_back(7);
  }
  EXPECT_EQ(Counted::live, 0);  // the destructor destroyed what was left
}

TEST(Ring, ABurstsArrayIsFreedOnceDrainedTheUsualOneStays) {
  Ring<int> r;
  for (int i = 0; i < 100; ++i) r.emplace_back(i);
  while (!r.empty()) r.pop_front();
  EXPECT_EQ(r.capacity(), 128u);  // small: kept for the next commands
  const int burst = static_cast<int>(Ring<int>::kKeep) * 2 + 1;
  for (int i = 0; i < burst; ++i) r.emplace_back(i);
  EXPECT_GT(r.capacity(), Ring<int>::kKeep);
  for (int i = 0; i < burst; ++i) {
    ASSERT_EQ(r.front(), i);
    r.pop_front();
  }
  EXPECT_EQ(r.capacity(), 0u);  // freed when drained
  r.emplace_back(1);
  EXPECT_EQ(r.front(), 1);
}

TEST(RequestQueue, ManyRequestsThroughWrappedAndGrownRingsCompleteInOrderOnce) {
  Harness t;
  std::vector<std::string> want;
  int n = 0;
  // Waves of different sizes: the rings wrap, then grow while wrapped.
  for (int wave : {5, 12, 3, 30, 1, 70, 9}) {
    for (int k = 0; k < wave; ++k) t.submit({"GET", "k"}, std::to_string(n++));
    t.hand_all();
    // Answer all but two: what stays in flight makes the next wave wrap.
    while (t.q.inflight_size() > 2) {
      Reply v = Reply::string("v");
      t.answer(&v);
    }
  }
  while (!t.q.inflight_empty()) {
    Reply v = Reply::string("v");
    t.answer(&v);
  }
  for (int i = 0; i < n; ++i) want.push_back(std::to_string(i) + ":ok:v");
  EXPECT_EQ(t.log, want);
  EXPECT_EQ(t.stats.replies, static_cast<std::uint64_t>(n));
  EXPECT_FALSE(t.q.has_work());
}

TEST(RequestQueue, ExpiryFindsRequestsAcrossTheWrap) {
  Harness t;
  for (int k = 0; k < 14; ++k) t.submit({"GET", "k"}, "old");
  t.hand_all();
  for (int k = 0; k < 12; ++k) {
    Reply v = Reply::string("v");
    t.answer(&v);
  }
  // In flight: 2 old, then these, across the end of the 16-slot array.
  std::vector<std::uint64_t> seqs;
  for (int k = 0; k < 10; ++k) seqs.push_back(t.submit({"GET", "k"}, "w" + std::to_string(k)));
  t.hand_all();
  for (int k = 0; k < 3; ++k) t.submit({"GET", "k"}, "q" + std::to_string(k));  // queued
  t.log.clear();
  EXPECT_TRUE(t.q.expire(seqs[9]).written);
  EXPECT_TRUE(t.q.expire(seqs[4]).written);
  EXPECT_EQ(t.log, (std::vector<std::string>{"w9:err:timeout", "w4:err:timeout"}));
  EXPECT_EQ(t.q.owed(), 2u);
}

// A loop turn's commands share one deadline: consecutive sequence numbers
// with the same in-order deadline fill one bucket, which still expires and
// prunes command by command.
TEST(Deadlines, ATurnsCommandsShareOneBucket) {
  Deadlines d;
  for (std::uint64_t s = 1; s <= 1000; ++s) d.add(s, 100, true);
  EXPECT_EQ(d.buckets(), 1u);
  EXPECT_EQ(d.size(), 1000u);
  d.add(1002, 100, true);  // 1001 has no deadline (or another one): a new bucket
  d.add(1003, 105, true);  // a later turn
  EXPECT_EQ(d.buckets(), 3u);
  d.prune(998);  // 1..997 answered: 998..1000 keep their deadline
  EXPECT_EQ(d.size(), 5u);
  EXPECT_EQ(d.next(), 100u);
  EXPECT_EQ(expire_all(d, 100), (std::vector<std::uint64_t>{998, 999, 1000, 1002}));
  EXPECT_EQ(d.next(), 105u);
  EXPECT_TRUE(expire_all(d, 104).empty());
  EXPECT_EQ(expire_all(d, 105), (std::vector<std::uint64_t>{1003}));
  EXPECT_TRUE(d.empty());
}

TEST(RequestQueue, ABucketTimesOutOnlyItsPendingCommands) {
  Harness t;
  std::vector<std::uint64_t> seqs;
  for (int k = 0; k < 4; ++k) seqs.push_back(t.submit({"GET", "k"}, "c" + std::to_string(k)));
  for (auto s : seqs) t.q.add_deadline(s, 100, true);
  t.hand_all();
  Reply v = Reply::string("v");
  t.answer(&v);  // c0 answered in time
  EXPECT_FALSE(t.q.prune());
  while (auto seq = t.q.pop_due(100)) t.q.expire(*seq);
  EXPECT_EQ(t.log, (std::vector<std::string>{"c0:ok:v", "c1:err:timeout", "c2:err:timeout", "c3:err:timeout"}));
  EXPECT_EQ(t.stats.timeouts, 3u);
  EXPECT_EQ(t.q.owed(), 3u);
}

// ------------------------------------------------------- request records

namespace {
// A callback of `capture` bytes that records its call.
template <std::size_t N>
uvredis::Callback<Reply> sized_callback(std::vector<std::string>& log, std::shared_ptr<int> alive, std::string tag) {
  struct Fill {
    char bytes[N];
  };
  return [&log, alive = std::move(alive), tag = std::move(tag), fill = Fill{}](uvredis::Result<Reply> r) {
    (void)fill;
    log.push_back(tag + (r ? ":" + std::string(r->str()) : ":err"));
  };
}

uvredis::Result<std::optional<std::string>> as_text(uvredis::Result<Reply>&& r) {
  return std::optional<std::string>(std::string(r->str()));
}
// Rising sequence numbers with gaps, one of them wider than 16 bits.
std::uint64_t seq_of(int i) { return 100 + 3 * static_cast<std::uint64_t>(i) + (i >= 1500 ? 100000 : 0); }
}  // namespace

// Records of every callable size (none, small, the largest kept inline, one
// kept on the heap, a decoder in front of a user callback) across many
// chunks: each is found by sequence number, called once in order, and every
// capture is released.
TEST(RequestFifo, RecordsOfEverySizeAreFoundCalledOnceAndReleased) {
  using uvredis::Callback;
  std::vector<std::string> log;
  auto alive = std::make_shared<int>(0);
  RequestFifo fifo;
  constexpr int kCount = 3000;
  std::vector<std::string> want;
  for (int i = 0; i < kCount; ++i) {
    Callback<Reply> cb;
    const std::string tag = std::to_string(i);
    switch (i % 5) {
      case 0: break;  // no callback
      case 1: cb = sized_callback<1>(log, alive, tag); break;
      case 2: cb = sized_callback<40>(log, alive, tag); break;  // all but the largest inline
      case 3: cb = sized_callback<200>(log, alive, tag); break;  // on the heap
      case 4: {
        Callback<std::optional<std::string>> user = [&log, alive, tag](uvredis::Result<std::optional<std::string>> r) {
          log.push_back(tag + "=" + **r);
        };
        cb = Callback<Reply>::converting(&as_text, std::move(user));
        break;
      }
    }
    if (i % 5 != 0) want.push_back(tag + (i % 5 == 4 ? "=" : ":") + "v" + tag);
    RecordHead head;
    head.len = static_cast<std::uint32_t>(i);
    const RecordExt ext{7, 1, 0, static_cast<std::uint32_t>(i), 0};
    // Sequence numbers rise with gaps (requests that went elsewhere), one
    // gap wider than a record's 16-bit offset.
    Record& r = fifo.push(seq_of(i), head, i % 7 == 0 ? &ext : nullptr, cb);
    EXPECT_FALSE(cb);  // moved in
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.callable()) % 8, 0u);
  }
  EXPECT_EQ(fifo.size(), static_cast<std::size_t>(kCount));
  EXPECT_GT(fifo.bytes_held(), 8192u * 5);  // many chunks
  EXPECT_EQ(alive.use_count(), 1 + (kCount / 5) * 4);
  for (int i = 0; i < kCount; i += 37) {
    Record* r = fifo.find(seq_of(i));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->len, static_cast<std::uint32_t>(i));
    EXPECT_EQ(r->timeout_ms(5), i % 7 == 0 ? 7u : 5u);
    EXPECT_EQ(fifo.find(seq_of(i) + 1), nullptr);  // in a gap
  }
  EXPECT_EQ(fifo.find(99), nullptr);
  EXPECT_EQ(fifo.find(seq_of(kCount)), nullptr);
  // Half answered from the front, in order.
  for (int i = 0; i < kCount / 2; ++i) {
    Callback<Reply> cb;
    fifo.front().take_callback(cb);
    if (cb) cb(Reply::string("v" + std::to_string(i)));
    fifo.pop_front();
  }
  EXPECT_EQ(fifo.find(seq_of(0)), nullptr);
  EXPECT_EQ(fifo.front_seq(), seq_of(kCount / 2));
  ASSERT_NE(fifo.find(seq_of(kCount / 2)), nullptr);
  // The rest moved to another FIFO (as written requests are), then answered.
  RequestFifo inflight;
  while (!fifo.empty()) {
    inflight.push_from(fifo.front_seq(), fifo.front());
    fifo.pop_front();
  }
  ASSERT_NE(inflight.find(seq_of(kCount - 1)), nullptr);
  for (int i = kCount / 2; i < kCount; ++i) {
    ASSERT_EQ(inflight.front_seq(), seq_of(i));
    Callback<Reply> cb;
    inflight.front().take_callback(cb);
    if (cb) cb(Reply::string("v" + std::to_string(i)));
    inflight.pop_front();
  }
  EXPECT_EQ(log, want);
  EXPECT_EQ(alive.use_count(), 1);
  EXPECT_TRUE(inflight.empty());
}

// A FIFO dropped with records in it destroys their callables uncalled.
TEST(RequestFifo, DroppedRecordsReleaseTheirCaptures) {
  std::vector<std::string> log;
  auto alive = std::make_shared<int>(0);
  {
    RequestFifo fifo;
    for (int i = 0; i < 500; ++i) {
      auto cb = i % 2 ? sized_callback<8>(log, alive, "a") : sized_callback<300>(log, alive, "b");
      fifo.push(static_cast<std::uint64_t>(i) + 1, RecordHead{}, nullptr, cb);
    }
    for (int i = 0; i < 100; ++i) fifo.pop_front();
    EXPECT_EQ(alive.use_count(), 401);
  }
  EXPECT_EQ(alive.use_count(), 1);
  EXPECT_TRUE(log.empty());
}

// What a queued typed GET costs: its record (header and the decoder's link
// in front of a callback capturing one pointer) is 40 bytes, so a million
// queued take 40 MB of records, not the 144 MB of whole requests.
TEST(RequestFifo, AQueuedTypedReadTakesFortyBytes) {
  RequestFifo fifo;
  int calls = 0;
  constexpr std::size_t kCount = 20000;
  for (std::size_t i = 0; i < kCount; ++i) {
    uvredis::Callback<std::optional<std::string>> user = [&calls](uvredis::Result<std::optional<std::string>>) {
      ++calls;
    };
    auto cb = uvredis::Callback<Reply>::converting(&as_text, std::move(user));
    Record& r = fifo.push(i + 1, RecordHead{}, nullptr, cb);
    EXPECT_EQ(reinterpret_cast<unsigned char*>(r.callable()) - reinterpret_cast<unsigned char*>(&r), 16);
  }
  EXPECT_LE(fifo.bytes_held(), kCount * 40 * 101 / 100 + 8192);
  while (!fifo.empty()) fifo.pop_front();
  EXPECT_EQ(calls, 0);
  EXPECT_LE(fifo.bytes_held(), 2u * 8192);  // one chunk in use, one spare
}

// The command buffer: uninitialised growth, truncation, dropping a prefix;
// grown large, it holds at most an eighth more than its bytes, and it is
// freed when emptied.
TEST(ByteBuffer, GrowsByAnEighthOnceLargeAndFreesWhenEmptied) {
  ByteBuffer b;
  b.append("hello", 5);
  std::memcpy(b.grow(6), " world", 6);
  EXPECT_EQ(std::string(b.data(), b.size()), "hello world");
  b.truncate(5);
  b.drop_front(1);
  EXPECT_EQ(std::string(b.data(), b.size()), "ello");
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_GT(b.capacity(), 0u);  // small: kept
  std::size_t total = 0;
  while (total < (40u << 20)) {
    const std::size_t n = 53;
    std::memset(b.grow(n), 'x', n);
    total += n;
  }
  EXPECT_EQ(b.size(), total);
  EXPECT_LE(b.capacity(), total + total / 8 + 64);
  b.clear();
  EXPECT_EQ(b.capacity(), 0u);
}

// A callable that needs 16-byte alignment gets it wherever its record
// falls, and keeps it when the record moves to another FIFO.
TEST(RequestFifo, WideCallablesAreAlignedInEveryRecord) {
  struct alignas(16) Wide {
    long double x = 1;
  };
  int calls = 0;
  RequestFifo a, b;
  for (std::uint64_t i = 1; i <= 200; ++i) {
    uvredis::Callback<Reply> cb;
    if (i % 3 == 0)
      cb = [&calls, w = Wide{}](uvredis::Result<Reply>) { calls += w.x == 1 ? 1 : 1000; };
    else
      cb = [&calls](uvredis::Result<Reply>) { ++calls; };
    Record& r = a.push(i, RecordHead{}, nullptr, cb);
    if (i % 3 == 0) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.callable()) % 16, 0u);
    }
  }
  std::uint64_t seq = 1;
  while (!a.empty()) {
    Record& r = b.push_from(a.front_seq(), a.front());
    a.pop_front();
    if (seq % 3 == 0) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.callable()) % 16, 0u);
    }
    ++seq;
  }
  while (!b.empty()) {
    uvredis::Callback<Reply> cb;
    b.front().take_callback(cb);
    cb(Reply::status("OK"));
    b.pop_front();
  }
  EXPECT_EQ(calls, 200);
}

// A callback run in place (answer_front) that queues and hands over more
// than a chunk's worth of requests: what it runs in is not reused under
// it, and everything completes once, in order.
TEST(RequestQueue, ACallbackRunInPlaceMayQueueAndHandOverMore) {
  Harness t;
  t.submit({"GET", "a"}, "a");
  t.hand_all();
  bool more_done = false;
  {
    // "a"'s reply: its callback (logged by submit's lambda) is followed by
    // a second answer whose callback floods the queue.
    Request r;
    r.len = static_cast<std::uint32_t>(uvredis::detail::encode_command(t.q.out(), std::vector<std::string_view>{"X"}));
    r.timeout_ms = 100;
    std::string big(64, 'z');  // captures that fill the callable
    r.cb = [&t, &more_done, big](Result<Reply>) {
      for (int i = 0; i < 600; ++i) t.submit({"GET", "k"}, "m" + std::to_string(i));
      t.hand_all();  // into the in-flight queue, while this runs from it
      more_done = big.size() == 64;
    };
    t.q.push(std::move(r));
    t.hand_all();
  }
  Reply v = Reply::string("v");
  t.answer(&v);  // a
  t.answer(&v);  // the flooding one
  EXPECT_TRUE(more_done);
  EXPECT_EQ(t.q.inflight_size(), 600u);
  for (int i = 0; i < 600; ++i) t.answer(&v);
  ASSERT_EQ(t.log.size(), 601u);
  EXPECT_EQ(t.log[0], "a:ok:v");
  for (int i = 0; i < 600; ++i) EXPECT_EQ(t.log[1 + i], "m" + std::to_string(i) + ":ok:v");
  EXPECT_TRUE(t.q.inflight_empty());
}

namespace {
// A trivially copyable callable of about N bytes whose bytes are a pattern
// made from `tag`: it logs whether the pattern arrived intact, so a move
// that left bytes behind (or took the wrong ones) shows.
template <std::size_t N>
struct Patterned {
  std::vector<std::string>* log;
  int tag;
  unsigned char bytes[N];
  static Patterned make(std::vector<std::string>& l, int t) {
    Patterned p{&l, t, {}};
    for (std::size_t k = 0; k < N; ++k) p.bytes[k] = static_cast<unsigned char>(t * 31 + static_cast<int>(k) * 7);
    return p;
  }
  bool intact() const {
    for (std::size_t k = 0; k < N; ++k)
      if (bytes[k] != static_cast<unsigned char>(tag * 31 + static_cast<int>(k) * 7)) return false;
    return true;
  }
  template <class R>
  void operator()(R&& r) {
    log->push_back(std::to_string(tag) + (intact() ? ":intact" : ":damaged") + (r ? "" : ":err"));
  }
};
static_assert(std::is_trivially_copyable_v<Patterned<7>> && sizeof(Patterned<64>) + 16 == uvredis::Callback<Reply>::kInline);

template <std::size_t N>
uvredis::Callback<Reply> patterned(std::vector<std::string>& log, int tag, bool typed) {
  if (!typed) return Patterned<N>::make(log, tag);
  uvredis::Callback<std::optional<std::string>> user = Patterned<N>::make(log, tag);
  return uvredis::Callback<Reply>::converting(&as_text, std::move(user));
}
}  // namespace

// Callables with nothing to destroy (no call through their destroy is made
// for them, alone or behind a decoder): through Once's move and move
// assignment, the decoder's link, a record, a move to another FIFO and
// back into a Once, every byte of every size arrives, each is called once.
// (Callables that do own something are released: the tests above count
// their captures.)
TEST(RequestFifo, TriviallyCopyableCallablesKeepEveryByteThroughEveryMove) {
  std::vector<std::string> log, want;
  RequestFifo queued, inflight;
  constexpr int kCount = 600;
  for (int i = 0; i < kCount; ++i) {
    const bool typed = i % 2 == 1;
    uvredis::Callback<Reply> cb;
    switch (i % 12 / 2) {
      case 0: cb = patterned<1>(log, i, typed); break;
      case 1: cb = patterned<7>(log, i, typed); break;
      case 2: cb = patterned<13>(log, i, typed); break;
      case 3: cb = patterned<33>(log, i, typed); break;
      case 4: cb = patterned<60>(log, i, typed); break;
      case 5: cb = patterned<64>(log, i, typed); break;  // with the link: the whole inline buffer
    }
    uvredis::Callback<Reply> moved(std::move(cb));
    uvredis::Callback<Reply> assigned;
    assigned = std::move(moved);
    EXPECT_FALSE(cb);
    EXPECT_FALSE(moved);
    RecordHead head;
    const RecordExt ext{9, 1, 0, 0, 0};
    queued.push(static_cast<std::uint64_t>(i) + 1, head, i % 5 == 0 ? &ext : nullptr, assigned);
    want.push_back(std::to_string(i) + ":intact");
  }
  while (!queued.empty()) {
    inflight.push_from(queued.front_seq(), queued.front());
    queued.pop_front();
  }
  while (!inflight.empty()) {
    uvredis::Callback<Reply> cb;
    inflight.front().take_callback(cb);
    inflight.pop_front();
    uvredis::Callback<Reply> again = std::move(cb);
    again(Reply::string("v"));
  }
  EXPECT_EQ(log, want);
}
