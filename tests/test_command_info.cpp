// Which commands the Client refuses or routes to a blocking connection.
// Pure logic, no network.
#include "../src/command_info.hpp"
#include "../src/encode.hpp"

#include <gtest/gtest.h>

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

  c = classify({"WAIT", "1", "100"});
  ASSERT_TRUE(c.block_time);
  EXPECT_EQ(*c.block_time, 100ms);
}

TEST(Encode, ProducesRespArrays) {
  std::string out;
  std::vector<std::string_view> argv{"SET", std::string_view("a\0b", 3), ""};
  auto n = encode_command(out, argv);
  EXPECT_EQ(out, std::string("*3\r\n$3\r\nSET\r\n$3\r\na\0b\r\n$0\r\n\r\n", 28));
  EXPECT_EQ(n, out.size());
}

TEST(Encode, IequalsIsAsciiCaseInsensitive) {
  EXPECT_TRUE(iequals("blpop", "BLPOP"));
  EXPECT_FALSE(iequals("blpo", "BLPOP"));
  EXPECT_FALSE(iequals("b1pop", "BLPOP"));
}
