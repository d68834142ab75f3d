// Address parsing: every accepted form, and errors that name the bad part.
#include <uvredis/options.hpp>

#include <gtest/gtest.h>

#include <initializer_list>
#include <iterator>
#include <random>
#include <string>

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
  EXPECT_EQ(s.find("bob"), std::string::npos);  // the whole userinfo is masked: it may be a password
  EXPECT_EQ(s, "redis://***@host:1/3");
}

TEST(Address, PasswordMayHoldSeparatorsUnescaped) {
  // Everything up to the last '@' is credentials: generated passwords with
  // '/', '?', '#', '&', ':' or '@' work without escaping.
  auto a = Address::parse("redis://admin:a/b?c#d&e:f@g@h:7/2");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->username, "admin");
  EXPECT_EQ(a->password, "a/b?c#d&e:f@g");
  EXPECT_EQ(a->host, "h");
  EXPECT_EQ(a->port, 7);
  EXPECT_EQ(a->db, 2);
}

TEST(Address, UnixSocketWithCredentials) {
  auto a = Address::parse("unix://app:s%40cret@/run/redis.sock?db=3");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->kind, Address::Kind::unix_socket);
  EXPECT_EQ(a->username, "app");
  EXPECT_EQ(a->password, "s@cret");
  EXPECT_EQ(a->path, "/run/redis.sock");
  EXPECT_EQ(a->db, 3);
  EXPECT_EQ(a->to_string(), "unix://***@/run/redis.sock?db=3");
  // A path straight after unix:// has no credentials, even with '@' in it.
  auto b = Address::parse("unix:///run/user@1000/redis.sock");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->path, "/run/user@1000/redis.sock");
  EXPECT_TRUE(b->password.empty());
}

TEST(Address, BracketsHoldOnlyAnIpv6Address) {
  // "[[]" used to give host "[", printed as redis://[:6379, which did not parse back.
  for (const char* bad : {"[[]", "[[]:1", "[]", "[]:1", "[host]:1", "[1.2.3.4]", "[::1]]", "[::1]x", "[:::]",
                          "redis://[[]", "redis://[a]b]:1", "[fe80::1%]:1", "[fe80::1%a/b]:1"}) {
    auto a = Address::parse(bad);
    EXPECT_FALSE(a) << bad << " gave host '" << a->host << "'";
  }
  auto z = Address::parse("[fe80::1%eth0]:7000");
  ASSERT_TRUE(z) << z.error().message;
  EXPECT_EQ(z->host, "fe80::1%eth0");
  auto m = Address::parse("[::ffff:10.0.0.1]");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->to_string(), "redis://[::ffff:10.0.0.1]:6379");
}

TEST(Address, HostIsANameOrAnAddress) {
  for (const char* bad : {"a b:1", "h[x", "h]x:1", "ho%st", "h\\x", "redis://h~x", "redis://h,x:1", "h\x01"}) {
    auto a = Address::parse(bad);
    EXPECT_FALSE(a) << bad << " gave host '" << a->host << "'";
  }
  for (const char* good : {"my_host-1.example.org:1", "10.0.0.1", "LOCALHOST"})
    EXPECT_TRUE(Address::parse(good)) << good;
}

// parse(to_string(a)) == a for every parsed address a; with credentials,
// to_string() masks them, so the round trip gives user "***" and no password.
void expect_round_trip(const std::string& text) {
  auto a = Address::parse(text);
  ASSERT_TRUE(a) << text << ": " << a.error().message;
  const std::string printed = a->to_string();
  auto b = Address::parse(printed);
  ASSERT_TRUE(b) << text << " printed as " << printed << " does not parse: " << b.error().message;
  Address expected = *a;
  if (!a->username.empty() || !a->password.empty()) {
    expected.username = "***";
    expected.password.clear();
  }
  EXPECT_EQ(*b, expected) << text << " printed as " << printed << " parses back as " << b->to_string();
  EXPECT_EQ(b->to_string(), printed) << text;
}

TEST(Address, ToStringParsesBackToAnEqualAddress) {
  for (const char* u :
       {"h", "h:1", "example.org:6380", "10.1.2.3", "10.1.2.3:65535", "[::1]", "[::1]:7000", "[2001:db8::1]:6380",
        "[fe80::1%eth0]:6379", "[::ffff:1.2.3.4]:5", "[::]", "redis://h", "redis://h:65535/15", "redis://h:1?db=3",
        "redis://h/0", "rediss://h:2/1", "redis://[2001:db8::1]:6380/2", "rediss://[::1]", "unix:///run/r.sock",
        "unix:///run/r.sock?db=4", "unix:///tmp/a@b.sock", "redis://my_host-1.local:1", "REDIS-HOST.example:9",
        "redis://:pw@h", "redis://u:p@h:1/2", "rediss://u@h", "redis://@h", "unix://u:p@/run/x.sock?db=1",
        "redis://u:p/w?x#y@z@h:3/1", "redis://u:%25%40@[::1]:4"}) {
    SCOPED_TRACE(u);
    expect_round_trip(u);
  }
}

// The same property over many generated strings: whatever the parser
// accepts, it prints in a form that it reads back as the same address.
TEST(Address, EveryAcceptedStringRoundTrips) {
  const std::string alphabet = "ab1:9[]/@?#%&=.-_, f";
  const char* prefixes[] = {"", "redis://", "rediss://", "unix://", "unix:///", "redis://u:p@", "["};
  std::mt19937 rng(12345);
  int accepted = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string s = prefixes[rng() % std::size(prefixes)];
    const std::size_t n = 1 + rng() % 10;
    for (std::size_t k = 0; k < n; ++k) s += alphabet[rng() % alphabet.size()];
    auto a = Address::parse(s);
    if (!a) continue;
    ++accepted;
    SCOPED_TRACE(s);
    expect_round_trip(s);
    if (HasFatalFailure() || HasNonfatalFailure()) return;
  }
  EXPECT_GT(accepted, 1000);  // the generator must reach the parser's good paths too
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
                      BadCase{"host:abc", "port is not a number"}, BadCase{"host:0", "port is not a number"},
                      BadCase{"host:70000", "port is not a number"}, BadCase{"redis://host:1/x", "database is not"},
                      BadCase{"redis://host:1/-1", "database is not"}, BadCase{"redis://:1", "empty host"},
                      BadCase{"unix://relative.sock", "must be absolute"}, BadCase{"unix://", "empty unix socket path"},
                      BadCase{"unix:///tmp/s?foo=1", "unknown parameter #1"},
                      BadCase{"redis://h?db=1&foo=2", "unknown parameter #2"}, BadCase{"::1:6379", "brackets"},
                      BadCase{"redis://u:%zz@h", "password"}, BadCase{"redis://%zz:p@h", "user name"},
                      BadCase{"host:", "empty port"}, BadCase{"[::1", "without its ']'"},
                      BadCase{"[[]", "not an IPv6 address"}, BadCase{"[::1]x", "after ']'"},
                      BadCase{"a b:1", "a space"}, BadCase{"h[x", "'[' at position 2"},
                      BadCase{"u:p@h:1", "need the URL form redis://"},
                      BadCase{"redis+sentinel://h/m", "ClientOptions::from_url"},
                      // The text comes back redacted, so the user sees which one is wrong.
                      BadCase{"redis://u:p@h:0", "'redis://***@h:***'"}));

TEST(Address, RedactMasksCredentialsAndAnythingThatMayHoldThem) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"redis://admin:pw@h:1/2", "redis://***@h:1/2"},
           {"redis://admin:pw/x@h", "redis://***@h"},
           {"admin:pw@127.0.0.1:6379", "***@127.0.0.1:6379"},
           {"redis://admin:pw", "redis://admin:***"},
           {"redis://:a:b", "redis://***"},
           {"redis://h:1/x?db=2", "redis://h:1/***?db=2"},
           {"redis://h?foo=pw", "redis://h?***"},
           {"[[]:1", "[***]:1"},
           {"[::1]:99999", "[::1]:***"},
           {"unix://admin:pw@/run/r.sock?db=1", "unix://***@/run/r.sock?db=1"},
           {"unix://admin:pw", "unix://***"},
           {"redis+sentinel://a:pw@h1,h2:5/m/1?sentinel_password=x@y", "redis+sentinel://***@h1,h2:5/***?***"},
           {"", ""},
       }) {
    EXPECT_EQ(Address::redact(c.in), c.out) << c.in;
  }
}
