// Which commands the Client refuses or routes to a blocking connection.
// Pure logic, no network.
#include "../src/protocol/command_info.hpp"
#include "../src/protocol/encode.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

using namespace uvredis::detail;
using namespace std::chrono_literals;

namespace {
CommandClass classify(std::vector<std::string_view> argv) { return classify_command(argv); }
}  // namespace

TEST(CommandInfo, RefusesConnectionStateCommands) {
  for (auto name : {"SELECT", "select", "SUBSCRIBE", "psubscribe", "SSUBSCRIBE", "UNSUBSCRIBE", "MONITOR", "MULTI",
                    "EXEC", "WATCH", "AUTH", "HELLO", "QUIT", "RESET"}) {
    auto c = classify({name, "x"});
    EXPECT_EQ(c.route, CommandRoute::refused) << name;
    EXPECT_FALSE(c.reason.empty()) << name;
  }
  EXPECT_EQ(classify({"CLIENT", "REPLY", "OFF"}).route, CommandRoute::refused);
  EXPECT_EQ(classify({}).route, CommandRoute::refused);
}

TEST(CommandInfo, SelectReasonPointsToOptions) {
  EXPECT_NE(classify({"SELECT", "1"}).reason.find("options"), std::string_view::npos);
  EXPECT_NE(classify({"SUBSCRIBE", "c"}).reason.find("Subscriber"), std::string_view::npos);
}

TEST(CommandInfo, OrdinaryCommandsAreNormal) {
  EXPECT_EQ(classify({"GET", "k"}).route, CommandRoute::normal);
  EXPECT_EQ(classify({"CLIENT", "SETNAME", "x"}).route, CommandRoute::normal);
  EXPECT_EQ(classify({"XREAD", "COUNT", "1", "STREAMS", "s", "0"}).route, CommandRoute::normal);
  EXPECT_EQ(classify({"PUBLISH", "c", "m"}).route, CommandRoute::normal);
}

TEST(CommandInfo, BlockingCommandsCarryTheirWait) {
  auto c = classify({"BLPOP", "a", "b", "1.5"});
  EXPECT_EQ(c.route, CommandRoute::blocking);
  ASSERT_TRUE(c.block_time);
  EXPECT_EQ(*c.block_time, 1500ms);

  c = classify({"brpop", "a", "0"});
  EXPECT_EQ(c.route, CommandRoute::blocking);
  EXPECT_FALSE(c.block_time);  // forever

  c = classify({"BLMOVE", "a", "b", "LEFT", "RIGHT", "2"});
  ASSERT_TRUE(c.block_time);
  EXPECT_EQ(*c.block_time, 2000ms);

  c = classify({"BZMPOP", "0.25", "1", "z", "MIN"});
  ASSERT_TRUE(c.block_time);
  EXPECT_EQ(*c.block_time, 250ms);

  c = classify({"XREAD", "COUNT", "2", "BLOCK", "300", "STREAMS", "s", "$"});
  EXPECT_EQ(c.route, CommandRoute::blocking);
  ASSERT_TRUE(c.block_time);
  EXPECT_EQ(*c.block_time, 300ms);

  // WAIT counts its own connection's writes: it stays on the shared one,
  // with its wait added to the deadline.
  c = classify({"WAIT", "1", "100"});
  EXPECT_EQ(c.route, CommandRoute::normal);
  ASSERT_TRUE(c.block_time);
  EXPECT_EQ(*c.block_time, 100ms);
  EXPECT_EQ(effective_timeout(c, std::nullopt, 1000ms), 1100ms);
  EXPECT_EQ(effective_timeout(classify({"GET", "k"}), std::nullopt, 1000ms), std::nullopt);
}

TEST(Encode, ProducesRespArrays) {
  std::string out;
  std::vector<std::string_view> argv{"SET", std::string_view("a\0b", 3), ""};
  auto n = encode_command(out, argv);
  EXPECT_EQ(out, std::string("*3\r\n$3\r\nSET\r\n$3\r\na\0b\r\n$0\r\n\r\n", 28));
  EXPECT_EQ(n, out.size());
}

TEST(Encode, LengthsAcrossDigitBoundariesAppendAfterWhatIsThere) {
  // Arguments of 0..100001 bytes and argument counts of 1..12, appended to
  // a buffer that already holds bytes: compared with RESP written out by hand.
  for (std::size_t len : {0u, 1u, 9u, 10u, 11u, 99u, 100u, 101u, 999u, 1000u, 99999u, 100000u, 100001u}) {
    for (std::size_t count : {1u, 9u, 10u, 12u}) {
      std::vector<std::string> args;
      for (std::size_t i = 0; i < count; ++i) args.push_back(std::string(i == 0 ? 3 : len, static_cast<char>('a' + i)));
      std::vector<std::string_view> argv(args.begin(), args.end());
      std::string want = "*" + std::to_string(count) + "\r\n";
      for (const std::string& a : args) want += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
      std::string out = "prefix";
      const std::size_t n = encode_command(out, argv);
      EXPECT_EQ(n, want.size()) << len << " x " << count;
      EXPECT_EQ(out, "prefix" + want) << len << " x " << count;
    }
  }
}

TEST(Encode, IequalsIsAsciiCaseInsensitive) {
  EXPECT_TRUE(iequals("blpop", "BLPOP"));
  EXPECT_FALSE(iequals("blpo", "BLPOP"));
  EXPECT_FALSE(iequals("b1pop", "BLPOP"));
}

// The (letter, length) pre-filter must never let a special name through as
// normal, in any letter case.
TEST(CommandInfo, PreFilterKeepsEverySpecialNameInAnyCase) {
  const std::vector<std::vector<std::string>> special = {
      {"SELECT", "1"}, {"SUBSCRIBE", "c"}, {"PSUBSCRIBE", "c"}, {"SSUBSCRIBE", "c"}, {"UNSUBSCRIBE"},
      {"PUNSUBSCRIBE"}, {"SUNSUBSCRIBE"}, {"MONITOR"}, {"MULTI"}, {"EXEC"}, {"DISCARD"}, {"WATCH", "k"},
      {"UNWATCH"}, {"AUTH", "p"}, {"HELLO"}, {"RESET"}, {"QUIT"}, {"SYNC"}, {"PSYNC", "?", "-1"},
      {"CLIENT", "REPLY", "OFF"}, {"BLPOP", "k", "1"}, {"BRPOP", "k", "1"}, {"BZPOPMIN", "k", "1"},
      {"BZPOPMAX", "k", "1"}, {"BLMOVE", "a", "b", "LEFT", "RIGHT", "1"}, {"BRPOPLPUSH", "a", "b", "1"},
      {"BLMPOP", "1", "1", "k", "LEFT"}, {"BZMPOP", "1", "1", "k", "MIN"},
      {"XREAD", "BLOCK", "100", "STREAMS", "s", "$"},
      {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "100", "STREAMS", "s", ">"}};
  for (auto argv : special) {
    for (int variant = 0; variant < 3; ++variant) {
      std::string& name = argv[0];
      for (std::size_t i = 0; i < name.size(); ++i) {
        const char up = static_cast<char>(std::toupper(static_cast<unsigned char>(name[i])));
        const char low = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
        name[i] = variant == 0 ? up : variant == 1 ? low : (i % 2 ? low : up);
      }
      std::vector<std::string_view> v(argv.begin(), argv.end());
      EXPECT_NE(classify(v).route, CommandRoute::normal) << name;
    }
  }
  // Same letter and length as a special name, but ordinary.
  EXPECT_EQ(classify({"SUBSTR", "k", "0", "1"}).route, CommandRoute::normal);  // like SELECT's shape
  EXPECT_EQ(classify({"EXISTS", "k"}).route, CommandRoute::normal);
  EXPECT_EQ(classify({"\xff", "k"}).route, CommandRoute::normal);
}
