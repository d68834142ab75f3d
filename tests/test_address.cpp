// Address parsing: every accepted form, and errors that name the bad part.
#include <uvredis/options.hpp>

#include <gtest/gtest.h>

using uvredis::Address;
using uvredis::ErrorKind;

TEST(Address, HostPort) {
  auto a = Address::parse("example.org:6380");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->kind, Address::Kind::tcp);
  EXPECT_EQ(a->host, "example.org");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 0);
  EXPECT_FALSE(a->tls);
}

TEST(Address, HostWithoutPortDefaultsTo6379) {
  auto a = Address::parse("cache");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "cache");
  EXPECT_EQ(a->port, 6379);
}

TEST(Address, BracketedIpv6) {
  auto a = Address::parse("[::1]:7000");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 7000);
  EXPECT_EQ(a->to_string(), "redis://[::1]:7000");
}

TEST(Address, RedisUrlWithEverything) {
  auto a = Address::parse("redis://alice:s%3Acret@10.1.2.3:6390/4");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->username, "alice");
  EXPECT_EQ(a->password, "s:cret");
  EXPECT_EQ(a->host, "10.1.2.3");
  EXPECT_EQ(a->port, 6390);
  EXPECT_EQ(a->db, 4);
}

TEST(Address, PasswordOnlyUrl) {
  auto a = Address::parse("redis://:secret@localhost");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->username, "");
  EXPECT_EQ(a->password, "secret");
  EXPECT_EQ(a->port, 6379);
}

TEST(Address, DbAsQueryParameter) {
  auto a = Address::parse("redis://localhost:1234?db=7");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->db, 7);
}

TEST(Address, TlsScheme) {
  auto a = Address::parse("rediss://default:pw@cache.example:6379");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->tls);
  EXPECT_EQ(a->username, "default");
}

TEST(Address, UnixSocket) {
  auto a = Address::parse("unix:///run/redis/redis.sock?db=2");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->kind, Address::Kind::unix_socket);
  EXPECT_EQ(a->path, "/run/redis/redis.sock");
  EXPECT_EQ(a->db, 2);
  EXPECT_EQ(a->to_string(), "unix:///run/redis/redis.sock?db=2");
}

TEST(Address, ToStringNeverShowsThePassword) {
  auto a = Address::parse("redis://bob:hunter2@host:1/3");
  ASSERT_TRUE(a);
  std::string s = a->to_string();
  EXPECT_EQ(s.find("hunter2"), std::string::npos);
  EXPECT_EQ(s, "redis://bob:***@host:1/3");
}

struct BadCase {
  const char* text;
  const char* mentions;
};

class AddressErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(AddressErrors, NameTheOffendingPart) {
  auto a = Address::parse(GetParam().text);
  ASSERT_FALSE(a) << GetParam().text;
  EXPECT_EQ(a.error().kind, ErrorKind::usage);
  EXPECT_NE(a.error().message.find(GetParam().mentions), std::string::npos)
      << "message: " << a.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    All, AddressErrors,
    ::testing::Values(BadCase{"", "empty"}, BadCase{"http://x:1", "scheme 'http'"},
                      BadCase{"host:abc", "port 'abc'"}, BadCase{"host:0", "port '0'"},
                      BadCase{"host:70000", "port '70000'"}, BadCase{"redis://host:1/x", "database 'x'"},
                      BadCase{"redis://host:1/-1", "database '-1'"}, BadCase{"redis://:1", "empty host"},
                      BadCase{"unix://relative.sock", "must be absolute"},
                      BadCase{"unix:///tmp/s?foo=1", "parameter 'foo'"}, BadCase{"::1:6379", "brackets"},
                      BadCase{"redis://u:%zz@h", "password"}, BadCase{"host:", "empty port"},
                      BadCase{"[::1", "unclosed"}));
