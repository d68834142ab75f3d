// TLS (rediss://) against real redis-server processes with a TLS port and
// certificates made by the harness: round trips, pipelines and pub/sub by
// IP and by name, every refusal with its own clear error, mutual TLS, a
// server killed mid-stream, large values, and the private bridge socket.
#include <uvredis/uvredis.hpp>

#include "support/await.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"
#include "support/tls_certs.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>

using namespace std::chrono_literals;
using uvredis::Client;
using uvredis::ClientOptions;
using uvredis::ErrorKind;
using uvredis::ExecSummary;
using uvredis::Message;
using uvredis::Pipeline;
using uvredis::Reply;
using uvredis::Result;
using uvredis::Subscriber;
using uvredis::test::RedisServer;
using uvredis::test::ServerOptions;
using uvredis::test::ServerTls;
using uvredis::test::TestLoop;
using uvredis::test::tls_certs;
using uvredis::test::close_and_wait;

#define REQUIRE_TLS()                                                   \
  do {                                                                  \
    if (!uvredis::tls_supported()) GTEST_SKIP() << "built without TLS"; \
  } while (0)

namespace {

enum class ServerCert { test_ca, other_ca };

ServerOptions tls_server(ServerCert cert = ServerCert::test_ca, bool auth_clients = false) {
  const auto& c = tls_certs();
  ServerTls t;
  t.cert_file = cert == ServerCert::test_ca ? c.server_cert : c.other_server_cert;
  t.key_file = cert == ServerCert::test_ca ? c.server_key : c.other_server_key;
  t.ca_file = c.ca_file;
  t.auth_clients = auth_clients;
  ServerOptions o;
  o.tls = t;
  return o;
}

ClientOptions tls_opts(const RedisServer& s, const std::string& host = "127.0.0.1") {
  auto o = ClientOptions::from_url(s.tls_url(host));
  EXPECT_TRUE(o);
  o->tls_ca_file = tls_certs().ca_file;
  o->connect_timeout = 3s;
  return *o;
}

Result<Reply> run_one(TestLoop& loop, Client& c, std::initializer_list<std::string_view> argv) {
  std::optional<Result<Reply>> out;
  int calls = 0;
  c.command(argv, [&](Result<Reply> r) {
    ++calls;
    out.emplace(std::move(r));
  });
  EXPECT_TRUE(loop.run_until([&] { return calls > 0; }, 15s));
  loop.run_for(5ms);
  EXPECT_EQ(calls, 1);
  if (!out) return uvredis::Error{ErrorKind::usage, "no reply"};
  return std::move(*out);
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// A TCP port that accepts connections (the kernel does, from the backlog)
// and never says a word: a TLS handshake against it can only time out.
struct SilentListener {
  int fd = -1;
  std::uint16_t port = 0;
  SilentListener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd); }
};

// Connects with `o` (no reconnect) and returns the error of one command.
uvredis::Error refused(TestLoop& loop, ClientOptions o) {
  o.reconnect = false;
  Client c(loop.get(), std::move(o));
  auto r = run_one(loop, c, {"PING"});
  EXPECT_FALSE(r);
  EXPECT_EQ(c.state(), uvredis::ConnectionState::failed);
  uvredis::Error e = r ? uvredis::Error{} : r.error();
  std::printf("[ info ] refused: %s\n", e.to_string().c_str());
  close_and_wait(loop, c);
  return e;
}

}  // namespace

TEST(Tls, RoundTripsByIpAndByName) {
  REQUIRE_TLS();
  RedisServer server(tls_server());
  TestLoop loop;
  {
    Client by_ip(loop.get(), tls_opts(server, "127.0.0.1"));
    Client by_name(loop.get(), tls_opts(server, "localhost"));
    const std::string value("bin\0ary\r\n", 9);
    auto set = run_one(loop, by_ip, {"SET", "k", value});
    ASSERT_TRUE(set) << set.error().to_string();
    EXPECT_EQ(set->str(), "OK");
    auto get = run_one(loop, by_name, {"GET", "k"});
    ASSERT_TRUE(get) << get.error().to_string();
    EXPECT_EQ(get->str(), value);
    EXPECT_EQ(by_ip.state(), uvredis::ConnectionState::connected);
    EXPECT_EQ(by_name.state(), uvredis::ConnectionState::connected);
    EXPECT_EQ(server.cmd({"GET", "k"}), value);
    // Blocking commands take a connection of their own: TLS as well.
    auto blpop = run_one(loop, by_name, {"BLPOP", "empty-list", "0.05"});
    ASSERT_TRUE(blpop) << blpop.error().to_string();
    EXPECT_TRUE(blpop->is_nil());
    // They all came in on the TLS port (laddr is the server's end).
    const std::string list = server.cmd({"CLIENT", "LIST"});
    const std::string tls_laddr = "laddr=127.0.0.1:" + std::to_string(server.tls_port()) + " ";
    std::size_t on_tls = 0;
    for (auto pos = list.find(tls_laddr); pos != std::string::npos; pos = list.find(tls_laddr, pos + 1)) ++on_tls;
    EXPECT_EQ(on_tls, 3u) << list;  // by_ip, by_name and by_name's blocking connection
    close_and_wait(loop, by_ip);
    close_and_wait(loop, by_name);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, PipelineOfManyCommands) {
  REQUIRE_TLS();
  RedisServer server(tls_server());
  TestLoop loop;
  {
    Client c(loop.get(), tls_opts(server, "localhost"));
    Pipeline p(c);
    constexpr int kN = 2000;
    std::vector<uvredis::Handle<std::optional<std::string>>> gets;
    int per_command = 0;
    for (int i = 0; i < kN; ++i) {
      p.command({"SET", "key:" + std::to_string(i), "value:" + std::to_string(i)},
                [&](Result<Reply> r) {
                  EXPECT_TRUE(r);
                  ++per_command;
                });
      gets.push_back(p.get("key:" + std::to_string(i)));
    }
    int done = 0;
    p.exec([&](ExecSummary s) {
      EXPECT_EQ(s.commands, 2u * kN);
      EXPECT_EQ(s.failed, 0u);
      ++done;
    });
    ASSERT_TRUE(loop.run_until([&] { return done > 0; }));
    loop.run_for(5ms);
    EXPECT_EQ(done, 1);
    EXPECT_EQ(per_command, kN);
    for (int i = 0; i < kN; ++i) {
      ASSERT_TRUE(gets[i].ok());
      EXPECT_EQ(*gets[i].result().value(), "value:" + std::to_string(i));
    }
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, SubscriberByNameAndByIp) {
  REQUIRE_TLS();
  RedisServer server(tls_server());
  TestLoop loop;
  {
    Client pub(loop.get(), tls_opts(server));
    Subscriber by_name(loop.get(), tls_opts(server, "localhost"));
    Subscriber by_ip(loop.get(), tls_opts(server, "127.0.0.1"));
    std::vector<std::string> got_name, got_ip;
    int confirmed = 0;
    by_name.subscribe({"news"}, [&](const Message& m) { got_name.push_back(m.payload); }, [&](Result<void> r) {
      EXPECT_TRUE(r);
      ++confirmed;
    });
    by_ip.psubscribe({"ne*"}, [&](const Message& m) { got_ip.push_back(m.payload); }, [&](Result<void> r) {
      EXPECT_TRUE(r);
      ++confirmed;
    });
    ASSERT_TRUE(loop.run_until([&] { return confirmed == 2; }));
    for (int i = 0; i < 100; ++i) {
      auto r = run_one(loop, pub, {"PUBLISH", "news", "m" + std::to_string(i)});
      ASSERT_TRUE(r) << r.error().to_string();
      EXPECT_EQ(r->integer(), 2);
    }
    ASSERT_TRUE(loop.run_until([&] { return got_name.size() == 100 && got_ip.size() == 100; }));
    EXPECT_EQ(got_name.front(), "m0");
    EXPECT_EQ(got_ip.back(), "m99");
    EXPECT_EQ(confirmed, 2);
    close_and_wait(loop, by_name);
    close_and_wait(loop, by_ip);
    close_and_wait(loop, pub);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, CertificateFromAnotherCaIsRefused) {
  REQUIRE_TLS();
  RedisServer server(tls_server(ServerCert::other_ca));
  TestLoop loop;
  {
    auto e = refused(loop, tls_opts(server));
    EXPECT_EQ(e.kind, ErrorKind::connect);
    EXPECT_TRUE(contains(e.message, "certificate verify failed: ")) << e.message;
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, WrongHostNameOrIpIsRefused) {
  REQUIRE_TLS();
  RedisServer server(tls_server());
  TestLoop loop;
  {
    auto o = tls_opts(server);
    o.tls_server_name = "redis.example.com";
    auto e = refused(loop, o);
    EXPECT_EQ(e.kind, ErrorKind::connect);
    EXPECT_TRUE(contains(e.message, "hostname mismatch")) << e.message;
    EXPECT_TRUE(contains(e.message, "redis.example.com")) << e.message;

    o.tls_server_name = "127.0.0.2";  // checked as an IP address
    e = refused(loop, o);
    EXPECT_TRUE(contains(e.message, "hostname mismatch")) << e.message;
    EXPECT_TRUE(contains(e.message, "127.0.0.2")) << e.message;

    o.tls_server_name = "localhost";  // the right name through an IP address
    Client c(loop.get(), o);
    auto ok = run_one(loop, c, {"PING"});
    EXPECT_TRUE(ok) << ok.error().to_string();
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, SilentServerTimesOutTheHandshake) {
  REQUIRE_TLS();
  SilentListener silent;
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("rediss://127.0.0.1:" + std::to_string(silent.port));
    ASSERT_TRUE(o);
    o->connect_timeout = 300ms;
    const auto t0 = std::chrono::steady_clock::now();
    auto e = refused(loop, *o);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(e.kind, ErrorKind::connect);
    EXPECT_TRUE(contains(e.message, "TLS handshake timed out")) << e.message;
    EXPECT_LT(took, 3s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, PlaintextPortIsAClearHandshakeErrorNotAHang) {
  REQUIRE_TLS();
  RedisServer server(tls_server());
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("rediss://127.0.0.1:" + std::to_string(server.port()));
    ASSERT_TRUE(o);
    o->connect_timeout = 500ms;
    const auto t0 = std::chrono::steady_clock::now();
    auto e = refused(loop, *o);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(e.kind, ErrorKind::connect);
    // Redis either waits for the end of an inline command (the handshake
    // times out) or answers the ClientHello with an error line.
    EXPECT_TRUE(contains(e.message, "TLS handshake timed out") || contains(e.message, "TLS handshake failed"))
        << e.message;
    EXPECT_LT(took, 3s);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, ServerKilledMidStreamFailsEachCallbackOnceThenReconnects) {
  REQUIRE_TLS();
  RedisServer server(tls_server());
  TestLoop loop;
  {
    auto o = tls_opts(server);
    o.command_timeout = 10s;
    o.reconnect_min_delay = 20ms;
    o.reconnect_max_delay = 100ms;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    constexpr int kN = 50;
    std::vector<int> calls(kN + 1, 0);
    std::vector<ErrorKind> kinds(kN + 1, ErrorKind::usage);
    c.command({"DEBUG", "SLEEP", "5"}, [&](Result<Reply> r) {
      ++calls[0];
      if (!r) kinds[0] = r.error().kind;
    });
    for (int i = 1; i <= kN; ++i)
      c.command({"GET", "k"}, [&, i](Result<Reply> r) {
        ++calls[i];
        if (!r) kinds[i] = r.error().kind;
      });
    loop.run_for(100ms);  // all of them are out, the server is asleep
    server.kill();
    ASSERT_TRUE(loop.run_until([&] {
      for (int n : calls)
        if (n == 0) return false;
      return true;
    }));
    loop.run_for(50ms);
    for (int i = 0; i <= kN; ++i) {
      EXPECT_EQ(calls[i], 1) << i;
      EXPECT_EQ(kinds[i], ErrorKind::connection_lost) << i;
    }
    server.start();
    ASSERT_TRUE(loop.run_until([&] { return c.state() == uvredis::ConnectionState::connected; }));
    auto again = run_one(loop, c, {"PING"});
    EXPECT_TRUE(again) << again.error().to_string();
    EXPECT_GE(c.stats().reconnects, 1u);
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, MutualTlsWithAndWithoutClientCertificate) {
  REQUIRE_TLS();
  RedisServer server(tls_server(ServerCert::test_ca, true));
  TestLoop loop;
  {
    auto o = tls_opts(server);
    o.tls_cert_file = tls_certs().client_cert;
    o.tls_key_file = tls_certs().client_key;
    Client with(loop.get(), o);
    auto r = run_one(loop, with, {"PING"});
    EXPECT_TRUE(r) << r.error().to_string();
    close_and_wait(loop, with);

    auto e = refused(loop, tls_opts(server));
    EXPECT_EQ(e.kind, ErrorKind::connect);
    EXPECT_TRUE(contains(e.message, "TLS")) << e.message;
    EXPECT_TRUE(contains(e.message, "certificate")) << e.message;

    auto lone = tls_opts(server);
    lone.tls_cert_file = tls_certs().client_cert;  // without its key
    auto u = refused(loop, lone);
    EXPECT_EQ(u.kind, ErrorKind::usage);
    EXPECT_TRUE(contains(u.message, "tls_key_file")) << u.message;
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, EightMegabyteValuesInBoundedTime) {
  REQUIRE_TLS();
  RedisServer server(tls_server());
  TestLoop loop;
  {
    Client c(loop.get(), tls_opts(server));
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    std::vector<std::string> values;
    for (int i = 0; i < 3; ++i) {
      std::string v(8u << 20, '\0');
      for (std::size_t j = 0; j < v.size(); ++j) v[j] = static_cast<char>((j * 31 + i * 7) & 0xff);
      values.push_back(std::move(v));
    }
    const auto t0 = std::chrono::steady_clock::now();
    int sets = 0;
    std::vector<std::optional<Result<Reply>>> gets(values.size());
    for (std::size_t i = 0; i < values.size(); ++i)
      c.command({"SET", "big:" + std::to_string(i), values[i]}, [&](Result<Reply> r) {
        EXPECT_TRUE(r) << r.error().to_string();
        ++sets;
      });
    for (std::size_t i = 0; i < values.size(); ++i)
      c.command({"GET", "big:" + std::to_string(i)}, [&, i](Result<Reply> r) {
        EXPECT_FALSE(gets[i].has_value());
        gets[i].emplace(std::move(r));
      });
    ASSERT_TRUE(loop.run_until([&] {
      return sets == 3 && std::all_of(gets.begin(), gets.end(), [](auto& g) { return g.has_value(); });
    }));
    const auto took = std::chrono::steady_clock::now() - t0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      ASSERT_TRUE(*gets[i]) << gets[i]->error().to_string();
      EXPECT_TRUE((*gets[i])->str() == values[i]) << i;
    }
    EXPECT_LT(took, 10s);
    std::printf("[ info ] 3 x 8 MB SET + GET over TLS: %lld ms\n",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, PrivateSocketIsGoneOnceConnected) {
  REQUIRE_TLS();
  RedisServer server(tls_server());
  char tmpl[] = "/tmp/uvredis-tlsdir-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", dir.c_str(), 1);
  TestLoop loop;
  {
    Client c(loop.get(), tls_opts(server));
    Subscriber s(loop.get(), tls_opts(server));
    bool saw_socket_dir = !std::filesystem::is_empty(dir);  // created at once, before the loop runs
    auto r = run_one(loop, c, {"PING"});
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(loop.run_until([&] { return s.state() == uvredis::ConnectionState::connected; }));
    EXPECT_TRUE(saw_socket_dir);
    EXPECT_TRUE(std::filesystem::is_empty(dir));
    close_and_wait(loop, c);
    close_and_wait(loop, s);
  }
  EXPECT_EQ(loop.close(), 0);
  if (old)
    ::setenv("TMPDIR", saved.c_str(), 1);
  else
    ::unsetenv("TMPDIR");
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

TEST(Tls, InsecureSkipVerifyConnectsAndIsLoggedOnce) {
  REQUIRE_TLS();
  RedisServer server(tls_server(ServerCert::other_ca));
  std::ostringstream captured;
  auto logger = std::make_shared<spdlog::logger>("tls", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  logger->set_level(spdlog::level::warn);
  TestLoop loop;
  {
    auto o = tls_opts(server);
    o.tls_insecure_skip_verify = true;
    o.reconnect_min_delay = 10ms;
    o.logger = logger;
    Client c(loop.get(), o);
    ASSERT_TRUE(run_one(loop, c, {"PING"}));
    server.cmd({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
    ASSERT_TRUE(loop.run_until([&] { return c.stats().reconnects == 1; }));
    auto r = run_one(loop, c, {"PING"});
    EXPECT_TRUE(r) << r.error().to_string();
    close_and_wait(loop, c);
  }
  EXPECT_EQ(loop.close(), 0);
  logger->flush();
  const std::string log = captured.str();
  std::size_t n = 0;
  for (auto pos = log.find("tls_insecure_skip_verify"); pos != std::string::npos;
       pos = log.find("tls_insecure_skip_verify", pos + 1))
    ++n;
  EXPECT_EQ(n, 1u) << log;
}

TEST(Tls, UnreadableCaFileIsAUsageError) {
  REQUIRE_TLS();
  TestLoop loop;
  {
    auto o = ClientOptions::from_url("rediss://127.0.0.1:1");
    ASSERT_TRUE(o);
    o->tls_ca_file = "/nonexistent/ca.pem";
    auto e = refused(loop, *o);
    EXPECT_EQ(e.kind, ErrorKind::usage);
    EXPECT_TRUE(contains(e.message, "/nonexistent/ca.pem")) << e.message;
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(Tls, CloseLetsInFlightRepliesArriveAndDestroyFailsTheRest) {
  REQUIRE_TLS();
  RedisServer server(tls_server());
  TestLoop loop;
  {
    int ok = 0, calls = 0;
    {
      Client c(loop.get(), tls_opts(server));
      ASSERT_TRUE(run_one(loop, c, {"PING"}));
      for (int i = 0; i < 500; ++i)
        c.command({"INCR", "n"}, [&](Result<Reply> r) {
          ++calls;
          if (r) ++ok;
        });
      close_and_wait(loop, c);
    }
    EXPECT_EQ(ok, 500);
    EXPECT_EQ(calls, 500);
    EXPECT_EQ(server.cmd({"GET", "n"}), "500");

    calls = 0;
    int closed_errors = 0;
    {
      Client c(loop.get(), tls_opts(server));
      ASSERT_TRUE(run_one(loop, c, {"PING"}));
      for (int i = 0; i < 100; ++i)
        c.command({"INCR", "n"}, [&](Result<Reply> r) {
          ++calls;
          if (!r && r.error().kind == ErrorKind::closed) ++closed_errors;
        });
    }  // destroyed with commands queued
    ASSERT_TRUE(loop.run_until([&] { return calls == 100; }));
    loop.run_for(20ms);
    EXPECT_EQ(calls, 100);
    EXPECT_EQ(closed_errors, 100);
  }
  EXPECT_EQ(loop.close(), 0);
}

