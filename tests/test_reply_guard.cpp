// The reply-size guard (src/protocol/reply_guard.hpp) alone: it scans the bytes a
// link reads and refuses a reply over the limit as soon as a header shows it,
// in any piece sizes. No socket, no loop; the guard on a live link is tested
// in test_liveness.cpp.
#include "../src/protocol/reply_guard.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

using uvredis::detail::ReplyGuard;

TEST(ReplyGuard, AcceptsOrdinaryRepliesInAnyPieces) {
  const std::string stream =
      "+OK\r\n-ERR bad\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*3\r\n$1\r\na\r\n:1\r\n*2\r\n+x\r\n$0\r\n\r\n$3\r\n\r\n\n\r\n";
  for (std::size_t piece : {1u, 2u, 3u, 7u, 1000u}) {
    ReplyGuard g(16);
    std::string why;
    for (std::size_t i = 0; i < stream.size(); i += piece)
      ASSERT_TRUE(g.scan(stream.data() + i, std::min(piece, stream.size() - i), why)) << piece << ": " << why;
  }
}

TEST(ReplyGuard, RefusesABulkHeaderOverTheLimitBeforeItsEnd) {
  ReplyGuard g(1024);
  std::string why;
  ASSERT_TRUE(g.scan("$102", 4, why));
  EXPECT_FALSE(g.scan("5", 1, why));  // 1025 > 1024, before the CRLF
  EXPECT_NE(why.find("bulk string"), std::string::npos) << why;
  EXPECT_NE(why.find("max_reply_element"), std::string::npos) << why;
  EXPECT_EQ(g.good_bytes(), 0u);  // the element began in an earlier piece
}

TEST(ReplyGuard, CompleteRepliesBeforeTheRefusedOneAreGood) {
  ReplyGuard g(8);
  std::string why;
  const std::string s = "+OK\r\n$3\r\nabc\r\n$9\r\n";
  EXPECT_FALSE(g.scan(s.data(), s.size(), why));
  EXPECT_EQ(g.good_bytes(), 14u);
}

TEST(ReplyGuard, ExactlyTheLimitIsFine) {
  ReplyGuard g(4);
  std::string why;
  EXPECT_TRUE(g.scan("$4\r\nabcd\r\n*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", 31, why)) << why;
}

TEST(ReplyGuard, RefusesAnAggregateOverTheLimit) {
  ReplyGuard g(100);
  std::string why;
  const std::string s = "*2\r\n*101\r\n";
  EXPECT_FALSE(g.scan(s.data(), s.size(), why));
  EXPECT_NE(why.find("aggregate"), std::string::npos) << why;
}

TEST(ReplyGuard, RefusesAnEndlessLine) {
  ReplyGuard g(10);
  std::string why;
  EXPECT_TRUE(g.scan("+12345678", 9, why));
  EXPECT_FALSE(g.scan("90123456", 8, why));
}

TEST(ReplyGuard, AWholeLineOverTheLimitInOnePieceIsRefused) {
  ReplyGuard g(10);
  std::string why;
  const std::string ok = "+1234567890\r\n";  // 10 bytes of text: fine
  EXPECT_TRUE(g.scan(ok.data(), ok.size(), why)) << why;
  const std::string s = "-ERR 12345678901\r\n";
  EXPECT_FALSE(g.scan(s.data(), s.size(), why));
}

TEST(ReplyGuard, BulkPayloadBytesAreNotMistakenForHeaders) {
  ReplyGuard g(8);
  std::string why;
  // The payload looks like a huge header; it is data.
  const std::string s = "$8\r\n$9999999\r\n+OK\r\n";
  EXPECT_TRUE(g.scan(s.data(), s.size(), why)) << why;
}

TEST(ReplyGuard, HugeDigitStringsDoNotOverflow) {
  ReplyGuard g(SIZE_MAX);
  std::string why;
  const std::string s = "$99999999999999999999999999\r\n";
  EXPECT_FALSE(g.scan(s.data(), s.size(), why));
}
