// Programming errors that uvredis cannot turn into an Error: reading the
// value of an error Result, and a callback that throws. Both end the program,
// and both must say why on stderr first (death tests: each runs in a child
// process, re-executed from the start in "threadsafe" style so the parent's
// threads and servers do not matter).
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ConnectionState;
using uvredis::Error;
using uvredis::ErrorKind;
using uvredis::Reply;
using uvredis::Result;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;

namespace {

class Misuse : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

Result<int> failed_int() { return Error{ErrorKind::timeout, "no reply within 5 ms"}; }
Result<std::string> failed_string() { return Error{ErrorKind::server, "WRONGTYPE Operation against a key"}; }

// Runs the loop until the process dies; returns only if it did not.
void run_until_dead(TestLoop& loop) { loop.run_until([] { return false; }, 20s); }

}  // namespace

TEST_F(Misuse, DereferencingAnErrorResultPrintsKindAndMessage) {
  EXPECT_DEATH((void)*failed_int(), "read the value of a Result that holds an error: timeout: no reply within 5 ms");
}

TEST_F(Misuse, ArrowAndValueOfAnErrorResultPrintTheError) {
  EXPECT_DEATH((void)failed_string()->size(), "holds an error: server: WRONGTYPE Operation against a key");
  const Result<int> r = failed_int();
  EXPECT_DEATH((void)r.value(), "holds an error: timeout: no reply within 5 ms");
}

TEST_F(Misuse, ErrorOfASuccessfulResultSaysSo) {
  EXPECT_DEATH((void)Result<int>(7).error(), "asked a successful Result for its error");
  EXPECT_DEATH((void)Result<void>().error(), "asked a successful Result for its error");
}

TEST_F(Misuse, ReadingAGoodResultOrTestingFirstIsFine) {
  Result<int> good(7);
  EXPECT_EQ(*good, 7);
  Result<int> bad = failed_int();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::timeout);
  EXPECT_EQ(bad.value_or(3), 3);
}

TEST_F(Misuse, ThrowingCompletionCallbackTerminatesWithItsWhat) {
  RedisServer server;
  const std::string url = server.url();
  EXPECT_DEATH(
      {
        TestLoop loop;
        Client c(loop.get(), uvredis::test::options_for(url));
        c.command({"PING"}, [](Result<Reply>) { throw std::runtime_error("boom from the PING callback"); });
        run_until_dead(loop);
      },
      "a callback threw an exception: boom from the PING callback");
}

TEST_F(Misuse, ThrowingStateListenerTerminatesWithItsWhat) {
  RedisServer server;
  const std::string url = server.url();
  EXPECT_DEATH(
      {
        TestLoop loop;
        Client c(loop.get(), uvredis::test::options_for(url));
        c.on_state_change([](ConnectionState s, const Error*) {
          if (s == ConnectionState::connected) throw std::logic_error("boom from on_state_change");
        });
        run_until_dead(loop);
      },
      "a callback threw an exception: boom from on_state_change");
}

TEST_F(Misuse, ThrowingSomethingElseIsNamedToo) {
  RedisServer server;
  const std::string url = server.url();
  EXPECT_DEATH(
      {
        TestLoop loop;
        Client c(loop.get(), uvredis::test::options_for(url));
        c.get("k", [](Result<std::optional<std::string>>) { throw 42; });
        run_until_dead(loop);
      },
      "a callback threw an exception that is not a std::exception");
}
