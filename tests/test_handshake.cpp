// The handshake plan (src/link/handshake.hpp) for each kind of link, without a
// server: which commands, in which order, and how their replies are judged.

#include "../src/link/handshake.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

using uvredis::Reply;
using uvredis::detail::ConnectionConfig;
using uvredis::detail::handshake_plan;
using uvredis::detail::HandshakeStep;
using uvredis::detail::role_is_not_master;

namespace {

std::vector<std::string> joined(const std::vector<HandshakeStep>& plan) {
  std::vector<std::string> out;
  for (const auto& s : plan) {
    std::string line;
    for (const auto& a : s.argv) line += (line.empty() ? "" : " ") + a;
    out.push_back(line);
  }
  return out;
}

Reply role(std::vector<Reply> parts) { return Reply::array(std::move(parts)); }

}  // namespace

TEST(Handshake, APlainLinkSaysNothing) {
  ConnectionConfig cfg;
  EXPECT_TRUE(handshake_plan(cfg).empty());
}

TEST(Handshake, EverySettingInItsOrder) {
  ConnectionConfig cfg;
  cfg.options.address.password = "s3cret";
  cfg.options.address.db = 3;
  cfg.options.client_name = "game-7";
  cfg.options.cluster_readonly = true;
  int asked = 0;
  cfg.extra_handshake = [&asked] {
    ++asked;
    std::vector<HandshakeStep> v;
    v.push_back({{"CLIENT", "TRACKING", "on"}, nullptr});
    return v;
  };
  const auto plan = handshake_plan(cfg);
  EXPECT_EQ(joined(plan), (std::vector<std::string>{"AUTH s3cret", "SELECT 3", "CLIENT SETNAME game-7", "READONLY",
                                                    "ROLE", "CLIENT TRACKING on"}));
  EXPECT_EQ(asked, 1);
  // Errors name the step, never its arguments (the password stays out).
  EXPECT_EQ(plan[0].what, "AUTH");
  EXPECT_EQ(plan[1].what, "SELECT 3");
  EXPECT_EQ(plan[5].what, "CLIENT");
  EXPECT_FALSE(plan[0].check);
  EXPECT_TRUE(plan[4].check);  // the replica's ROLE is judged
}

TEST(Handshake, AuthWithAUserNameSendsBoth) {
  ConnectionConfig cfg;
  cfg.options.address.username = "app";
  cfg.options.address.password = "pw";
  EXPECT_EQ(joined(handshake_plan(cfg)), (std::vector<std::string>{"AUTH app pw"}));
  // A user name without a password says nothing (the default user).
  ConnectionConfig only_user;
  only_user.options.address.username = "app";
  EXPECT_TRUE(handshake_plan(only_user).empty());
}

TEST(Handshake, TlsWithNothingToSayStillMakesOneRoundTrip) {
  ConnectionConfig cfg;
  cfg.options.address.tls = true;
  EXPECT_EQ(joined(handshake_plan(cfg)), (std::vector<std::string>{"PING"}));
  cfg.options.address.db = 1;
  EXPECT_EQ(joined(handshake_plan(cfg)), (std::vector<std::string>{"SELECT 1"}));
}

TEST(Handshake, AReplicaOutOfSyncIsRefusedAMasterOrSyncedReplicaIsNot) {
  ConnectionConfig cfg;
  cfg.options.cluster_readonly = true;
  const auto plan = handshake_plan(cfg);
  ASSERT_EQ(plan.size(), 2u);
  const auto& check = plan[1].check;
  ASSERT_TRUE(check);
  auto replica = [](const char* state) {
    return role({Reply::string("slave"), Reply::string("127.0.0.1"), Reply::integer(7000), Reply::string(state),
                 Reply::integer(10)});
  };
  EXPECT_EQ(check(role({Reply::string("master"), Reply::integer(0), Reply::array({})})), "");
  EXPECT_EQ(check(replica("connected")), "");
  EXPECT_NE(check(replica("sync")).find("not in sync"), std::string::npos);
  EXPECT_NE(check(replica("connecting")).find("serves no reads"), std::string::npos);
  EXPECT_NE(check(Reply::string("odd")), "");
}

TEST(Handshake, ASentinelFoundNodeMustSayItIsTheMaster) {
  EXPECT_EQ(role_is_not_master(role({Reply::string("master"), Reply::integer(0)})), "");
  EXPECT_NE(role_is_not_master(role({Reply::string("slave")})).find("is not the master (ROLE: slave)"),
            std::string::npos);
  EXPECT_NE(role_is_not_master(Reply::integer(3)), "");
}

TEST(Handshake, ExtraStepsAreAskedForAtEveryPlanAndComeLast) {
  ConnectionConfig cfg;
  cfg.options.client_name = "n";
  int asked = 0;
  cfg.extra_handshake = [&asked] {
    ++asked;
    std::vector<HandshakeStep> v;
    v.push_back({{"CLIENT", "ID"}, [](const Reply& r) { return r.is_integer() ? std::string() : "no id"; }});
    return v;
  };
  for (int i = 1; i <= 3; ++i) {
    const auto plan = handshake_plan(cfg);
    ASSERT_EQ(plan.size(), 2u);
    EXPECT_EQ(plan.back().argv.front(), "CLIENT");
    EXPECT_EQ(plan.back().check(Reply::integer(5)), "");
    EXPECT_EQ(plan.back().check(Reply::string("x")), "no id");
    EXPECT_EQ(asked, i);
  }
}
