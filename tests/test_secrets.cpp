// No password in any error text or log line. Known passwords go through every
// malformed URL shape we know of (and valid ones), as addresses, URLs for
// ClientOptions, sentinel URLs, cluster seeds (ClusterClient and
// ClusterSubscriber) and Registry entries; then through real connections that
// fail (wrong password, nothing listening, no cluster, no sentinel) with a
// logger that captures everything. No piece of a password may appear.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using uvredis::Address;
using uvredis::Callback;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ClusterClient;
using uvredis::ClusterOptions;
using uvredis::ClusterSubscriber;
using uvredis::Error;
using uvredis::Registry;
using uvredis::test::RedisServer;
using uvredis::test::TestLoop;
using uvredis::test::close_and_wait;
using uvredis::test::run_one;

namespace {

// Every password is made of these pieces and separators between them, so a
// leak of part of a password is caught too, not only of the whole one.
const std::vector<std::string> kPieces = {"Pw1x", "Kq7z", "Mn3v"};

std::vector<std::string> passwords() {
  std::vector<std::string> out = {"Pw1xKq7zMn3v"};
  for (char c : std::string("/?#&@:[]% ,=;+\\\"'\t.-_!*()~$")) {
    const std::string sep(1, c);
    out.push_back("Pw1x" + sep + "Kq7z" + sep + "Mn3v");
  }
  for (const char* p : {"Pw1x/Kq7z?Mn3v", "Pw1x@Kq7z/Mn3v", "Pw1x]:Kq7z@[Mn3v", "Pw1x%zzKq7z%4Mn3v",
                        "Pw1x%40Kq7z%2FMn3v",
                        "Pw1x?db=1&Kq7z=Mn3v", "Pw1x:26379,Kq7z/Mn3v", "Pw1x#Kq7z@Mn3v?x", "Pw1x://Kq7z@Mn3v",
                        "Pw1x?sentinel_password=Kq7z@Mn3v", "/Pw1x@/Kq7z/Mn3v", "Pw1x@", "@Pw1x:Kq7z[Mn3v]"})
    out.push_back(p);
  return out;
}

// %-escapes every byte but letters and digits: the "correct" way to write it.
std::string escaped(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

struct Shape {
  const char* text;  ///< {P} is the password, {E} the same %-escaped
  // Shapes in which the password stands where a host or port would: with an
  // '@' in the password they become valid URLs whose host is its tail.
  bool no_host = false;
};

// Malformed shapes (and some valid ones): the issue's examples first.
const std::vector<Shape> kShapes = {
    {"redis://admin:{P}/x@h"},  // unescaped '/' used to leave the tail as the port
    {"admin:{P}@127.0.0.1:6379"},  // scheme forgotten
    {"unix://admin:{P}@/run/redis.sock"},
    {"redis+sentinel://h1,h2/mymaster?sentinel_password={P}&x"},
    {"redis://admin:{P}@h"},
    {"redis://admin:{P}@h:1/2"},
    {"redis://:{P}@h"},
    {"rediss://admin:{P}@h:1"},
    {"redis://{P}@h"},  // the password where the user name goes
    {"redis://admin:{E}@h:1"},
    {"redis://admin:{P}@h:bad"},
    {"redis://admin:{P}@h:99999"},
    {"redis://admin:{P}@h:"},
    {"redis://admin:{P}@h/x"},
    {"redis://admin:{P}@h/-1"},
    {"redis://admin:{P}@h?x=1"},
    {"redis://admin:{P}@h?db=1&x"},
    {"redis://admin:{P}@h?db=z"},
    {"redis://admin:{P}@[::1"},
    {"redis://admin:{P}@[[]:1"},
    {"redis://admin:{P}@[h]:1"},
    {"redis://admin:{P}@[::1]x"},
    {"redis://admin:{P}@::1:1"},
    {"redis://admin:{P}@"},
    {"redis://admin:{P}@h b"},
    {"redis://admin:{P}@h#frag"},
    {"redis://admin:%zz{P}@h"},
    {"redis://ad%zzmin:{P}@h"},
    {"redis://admin:{P}%@h"},
    {"redis://admin:{P}", true},
    {"redis://:{P}", true},
    {"rediss://admin:{P}", true},
    {"redis://admin:{P}/3", true},
    {"redis://admin:{P}:1", true},
    {"redis://[admin:{P}]", true},
    {":{P}@h"},
    {"{P}@h:1"},
    {"admin:{P}@[::1]:1"},
    {"admin:{P}@h/0"},
    {"admin:{P}", true},
    {"redis:/admin:{P}@h"},
    {"redis//admin:{P}@h"},
    {"redis:admin:{P}@h"},
    {"REDIS://admin:{P}@h"},
    {"http://admin:{P}@h"},
    {" redis://admin:{P}@h"},
    {"redis+sentinel://admin:{P}@h"},  // a sentinel URL given to Address::parse
    {"unix://admin:{P}@/run/redis.sock?db=x"},
    {"unix://admin:{P}@/run/redis.sock?foo=1"},
    {"unix://admin:{P}@run/redis.sock"},
    {"unix://admin:{P}@"},
    {"unix://admin:{P}", true},
    {"unix://:{P}@/x?db=1&y"},
    {"redis+sentinel://admin:{P}@h1,h2/mymaster"},
    {"redis+sentinel://admin:{P}@h1:x/m"},
    {"redis+sentinel://admin:{P}@h1,,h2/m"},
    {"redis+sentinel://admin:{P}@/m"},
    {"redis+sentinel://admin:{P}@h1"},
    {"redis+sentinel://admin:{P}@h1/m/x"},
    {"redis+sentinel://admin:{P}@[h1]/m"},
    {"redis+sentinel://admin:{E}@h1/m?sentinel_password={P}"},
    {"redis+sentinel://admin:{P}@h1/m?sentinel_password={P}"},
    {"redis+sentinel://admin:{P}@h1/m?foo=1&sentinel_password={P}"},
    {"redis+sentinel://h1/m?sentinel_password={P}"},
    {"redis+sentinel://h1/m?sentinel_password={E}"},
    {"redis+sentinel://h1/m?sentinel_username=u&sentinel_password={P}%zz"},
    {"redis+sentinel://h1:99999/m?sentinel_password={P}"},
    {"redis+sentinel://h1/?sentinel_password={P}"},
};

void expect_no_piece(const std::string& where, const std::string& text) {
  for (const std::string& p : kPieces) {
    EXPECT_EQ(text.find(p), std::string::npos) << "'" << p << "' appears in " << where << ":\n" << text;
  }
}

// The shapes with every password: (input, shape is a no-host one).
std::vector<std::string> all_inputs() {
  std::vector<std::string> out;
  for (const std::string& pw : passwords()) {
    for (const Shape& s : kShapes) {
      if (s.no_host && pw.find('@') != std::string::npos) continue;
      out.push_back(replace_all(replace_all(s.text, "{P}", pw), "{E}", escaped(pw)));
    }
  }
  return out;
}

struct Capture {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
  Capture()
      : logger(std::make_shared<spdlog::logger>("secrets", std::make_shared<spdlog::sinks::ostream_sink_mt>(out))) {
    logger->set_level(spdlog::level::trace);
  }
  std::string text() {
    logger->flush();
    return out.str();
  }
};

}  // namespace

// The tests below must be able to fail: the inputs hold the pieces.
TEST(Secrets, TheInputsHoldThePasswords) {
  const auto inputs = all_inputs();
  EXPECT_GT(inputs.size(), 1500u);
  for (const std::string& in : inputs) {
    bool has = false;
    for (const std::string& p : kPieces) has = has || in.find(p) != std::string::npos;
    EXPECT_TRUE(has) << in;
  }
}

TEST(Secrets, ParsingNeverEchoesAPassword) {
  std::size_t errors = 0, parsed = 0;
  for (const std::string& in : all_inputs()) {
    SCOPED_TRACE(in);
    auto a = Address::parse(in);
    if (a) {
      ++parsed;
      expect_no_piece("Address::to_string", a->to_string());
    } else {
      ++errors;
      EXPECT_EQ(a.error().kind, uvredis::ErrorKind::usage);
      expect_no_piece("Address::parse error", a.error().to_string());
    }
    expect_no_piece("Address::redact", Address::redact(in));
    auto o = ClientOptions::from_url(in);
    if (o) {
      expect_no_piece("from_url address", o->address.to_string());
      for (const Address& s : o->sentinel.sentinels) expect_no_piece("from_url sentinel", s.to_string());
    } else {
      expect_no_piece("ClientOptions::from_url error", o.error().to_string());
    }
    if (HasFailure()) return;  // one input's report is enough to read
  }
  // Both paths were walked many times.
  EXPECT_GT(errors, 1000u);
  EXPECT_GT(parsed, 100u);
}

TEST(Secrets, PasswordsWithSeparatorsParseWhole) {
  for (const std::string& pw : passwords()) {
    if (pw.find('%') != std::string::npos) continue;  // a raw '%' must be written %25
    SCOPED_TRACE(pw);
    auto a = Address::parse("redis://admin:" + pw + "@h:1/2");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->password, pw);
    EXPECT_EQ(a->host, "h");
    EXPECT_EQ(a->db, 2);
    auto e = Address::parse("redis://admin:" + escaped(pw) + "@h");
    ASSERT_TRUE(e) << e.error().message;
    EXPECT_EQ(e->password, pw);
    // A data password that itself holds "sentinel_password=" cannot be told
    // from the query: the one thing a sentinel URL's password cannot hold.
    if (pw.find("sentinel_password=") != std::string::npos) continue;
    auto s = ClientOptions::from_url("redis+sentinel://admin:" + pw + "@h1,h2:5/m?sentinel_password=" + escaped(pw));
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->address.password, pw);
    EXPECT_EQ(s->sentinel.password, pw);
    ASSERT_EQ(s->sentinel.sentinels.size(), 2u);
    if (pw.find('&') == std::string::npos) {
      // Unescaped in the query too, as long as no '&' splits it.
      auto r = ClientOptions::from_url("redis+sentinel://h1/m?sentinel_password=" + pw);
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r->sentinel.password, pw);
      ASSERT_EQ(r->sentinel.sentinels.size(), 1u);
      EXPECT_EQ(r->sentinel.sentinels[0].host, "h1");
    }
  }
}

// Seeds go through ClusterClient and ClusterSubscriber: a malformed one fails
// every command (and confirmation) with usage, and neither the error nor a
// log line shows it.
TEST(Secrets, ClusterSeedErrorsAndLogsNeverEchoAPassword) {
  TestLoop loop;
  Capture cap;
  std::size_t refused = 0, subscriber_refused = 0;
  {
    // Closed together at the end: one close_and_wait per client would spend
    // its after-close turns ~2,000 times over.
    std::vector<std::unique_ptr<ClusterClient>> clients;
    std::vector<std::unique_ptr<ClusterSubscriber>> subscribers;
    for (const std::string& in : all_inputs()) {
      auto a = Address::parse(in);
      // Valid TCP seeds with db 0 would start connecting: the tests below
      // cover those against real servers.
      if (a && a->kind == Address::Kind::tcp && a->db == 0) continue;
      SCOPED_TRACE(in);
      ClusterOptions o;
      o.seeds = {"127.0.0.1:1", in};
      o.client.logger = cap.logger;
      ClusterClient& cc = *clients.emplace_back(std::make_unique<ClusterClient>(loop.get(), o));
      auto r = run_one(loop, cc, {"GET", "k"});
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().kind, uvredis::ErrorKind::usage);
      EXPECT_NE(r.error().message.find("cluster seed #2"), std::string::npos) << r.error().message;
      expect_no_piece("ClusterClient error", r.error().to_string());
      if (HasFailure()) break;
      ++refused;
      if (a && a->kind == Address::Kind::tcp) continue;  // ClusterSubscriber ignores a seed's db: it would connect
      ClusterSubscriber& sub = *subscribers.emplace_back(std::make_unique<ClusterSubscriber>(loop.get(), o));
      auto c = uvredis::test::await<void>(
          loop, [&](Callback<void> cb) { sub.subscribe({"ch"}, [](const uvredis::Message&) {}, std::move(cb)); });
      ASSERT_FALSE(c);
      expect_no_piece("ClusterSubscriber error", c.error().to_string());
      ++subscriber_refused;
      if (HasFailure()) break;
    }
    close_and_wait(loop, clients, subscribers);
  }
  EXPECT_GT(refused, 1000u);
  EXPECT_GT(subscriber_refused, 1000u);
  EXPECT_EQ(loop.close(), 0);
  expect_no_piece("log", cap.text());
}

TEST(Secrets, RegistryReportNeverEchoesAPassword) {
  TestLoop loop;
  Registry reg;
  int n = 0;
  for (const std::string& in : all_inputs()) reg.register_redis(in, 0, "p" + std::to_string(++n));
  reg.register_redis("redis://admin:Pw1x/Kq7z@h:1", 0, "");  // empty code: the report names the address
  auto e = reg.validate(loop.get());
  ASSERT_FALSE(e);
  const std::string& msg = e.error().message;
  EXPECT_NE(msg.find("empty code (address 'redis://***@h:1')"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pool 'p2': invalid address '***@127.0.0.1:6379'"), std::string::npos) << msg;
  expect_no_piece("Registry::validate report", msg);
  EXPECT_EQ(loop.close(), 0);
}

// Real links that fail in every way we can arrange on loopback, with the
// password written raw (separators and all) in the URL: errors, state
// changes and log lines stay clean.
TEST(Secrets, FailingConnectionsNeverShowThePassword) {
  const std::string pw = "Pw1x/Kq7z?Mn3v#&@:";
  RedisServer server({{"--requirepass", pw}});
  RedisServer no_auth;
  const std::string port = std::to_string(server.port());
  std::string dead_port;
  {
    RedisServer gone;
    dead_port = std::to_string(gone.port());
  }
  TestLoop loop;
  Capture cap;
  std::vector<std::string> errors;
  auto collect = [&](Client& c) {
    c.on_state_change([&](uvredis::ConnectionState, const Error* e) {
      if (e) errors.push_back(e->to_string());
    });
  };
  {
    const std::string wrong = "Kq7z@Mn3v/Pw1x";
    for (const std::string& url : {"redis://default:" + pw + "@127.0.0.1:" + port,            // right
                                   "redis://default:" + wrong + "@127.0.0.1:" + port,         // WRONGPASS
                                   "redis://" + pw + "@127.0.0.1:" + port,                    // user name only
                                   "redis://default:" + pw + "@127.0.0.1:" + dead_port + "/3",  // refused
                                   "redis://default:" + pw + "@127.0.0.1:" +
                                       std::to_string(no_auth.port())}) {  // AUTH to a server without one
      SCOPED_TRACE(Address::redact(url));
      auto o = ClientOptions::from_url(url);
      ASSERT_TRUE(o) << o.error().message;
      o->logger = cap.logger;
      o->reconnect = false;
      o->connect_timeout = 2s;
      Client c(loop.get(), *o);
      collect(c);
      auto r = run_one(loop, c, {"PING"});
      if (!r) errors.push_back(r.error().to_string());
      close_and_wait(loop, c);
    }
    // The right password does get in (the URL carried it whole).
    auto ok = ClientOptions::from_url("redis://default:" + pw + "@127.0.0.1:" + port);
    ok->logger = cap.logger;
    Client c(loop.get(), *ok);
    EXPECT_TRUE(run_one(loop, c, {"PING"}));
    close_and_wait(loop, c);

    // Sentinel mode: the sentinels' password in the query, no sentinel there.
    auto s = ClientOptions::from_url("redis+sentinel://default:" + pw + "@127.0.0.1:" + dead_port +
                                     "/mymaster?sentinel_password=" + escaped(pw));
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->sentinel.password, pw);
    s->logger = cap.logger;
    s->reconnect = false;
    s->sentinel.timeout = 500ms;
    Client sc(loop.get(), *s);
    collect(sc);
    auto sr = run_one(loop, sc, {"PING"});
    ASSERT_FALSE(sr);
    errors.push_back(sr.error().to_string());
    close_and_wait(loop, sc);

    // A cluster seed with the password, on a server without cluster mode
    // (right and wrong password): the commands fail after the retries.
    for (const std::string& p : {pw, wrong}) {
      ClusterOptions co;
      co.seeds = {"redis://default:" + p + "@127.0.0.1:" + port};
      co.client.logger = cap.logger;
      co.max_retries = 2;
      ClusterClient cc(loop.get(), co);
      auto cr = run_one(loop, cc, {"GET", "k"}, 30s);
      ASSERT_FALSE(cr);
      errors.push_back(cr.error().to_string());
      close_and_wait(loop, cc);
    }
  }
  EXPECT_EQ(loop.close(), 0);
  EXPECT_GE(errors.size(), 6u);
  for (const std::string& e : errors) expect_no_piece("error", e);
  const std::string log = cap.text();
  EXPECT_NE(log.find("***@127.0.0.1"), std::string::npos) << log;  // addresses are logged, masked
  expect_no_piece("log", log);
}
