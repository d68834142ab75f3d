// The I/O-free parts of a connection's request bookkeeping
// (src/request_queue.hpp), driven by plain calls: no socket, no loop.

#include "../src/request_queue.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
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
