// uvredis::WsFanout (library uvredis-ws) on a test loop, against a private
// redis-server, with a minimal WebSocket client on a thread of its own (it
// blocks on its socket; the loop runs on the test's thread). The browser
// tests are in tests/ws/.

#include <uvredis/uvredis.hpp>
#include <uvredis/ws_fanout.hpp>

#include "support/await.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace uvredis;
using test::RedisServer;
using test::TestLoop;

// A WebSocket client of the JSON protocol: connects, upgrades, then a reader
// thread keeps every text frame it receives.
class Peer {
 public:
  explicit Peer(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // The kernel completes the connection from the listen backlog; the
    // upgrade needs the loop, so the reader thread waits for it.
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    const std::string req =
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: uvredis-chat\r\n\r\n";
    if (connected_) write_all(req);
    reader_ = std::thread([this] { read_loop(); });
  }
  ~Peer() {
    ::shutdown(fd_, SHUT_RDWR);
    reader_.join();
    ::close(fd_);
  }

  bool upgraded() const { return upgraded_; }
  bool closed() const { return closed_; }

  /// Sends one masked text frame (mask 0: the payload goes as it is).
  void send(const std::string& text) {
    std::string f;
    f += static_cast<char>(0x81);
    if (text.size() < 126) {
      f += static_cast<char>(0x80 | text.size());
    } else {
      f += static_cast<char>(0x80 | 126);
      f += static_cast<char>(text.size() >> 8);
      f += static_cast<char>(text.size() & 0xff);
    }
    f += std::string(4, '\0');
    f += text;
    write_all(f);
  }

  std::vector<std::string> frames() const {
    std::lock_guard<std::mutex> lock(mu_);
    return frames_;
  }
  bool has(const std::string& needle) const {
    for (const std::string& f : frames())
      if (f.find(needle) != std::string::npos) return true;
    return false;
  }

 private:
  void write_all(const std::string& s) {
    for (std::size_t off = 0; off < s.size();) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  bool fill(std::string& buf) {
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  void read_loop() {
    std::string buf;
    while (buf.find("\r\n\r\n") == std::string::npos)
      if (!fill(buf)) return finish();
    if (buf.rfind("HTTP/1.1 101", 0) != 0) return finish();
    buf.erase(0, buf.find("\r\n\r\n") + 4);
    upgraded_ = true;
    for (;;) {
      while (buf.size() < 2)
        if (!fill(buf)) return finish();
      auto b0 = static_cast<unsigned char>(buf[0]);
      std::size_t len = static_cast<unsigned char>(buf[1]) & 0x7f;
      std::size_t head = 2;
      if (len == 126) head = 4;
      if (len == 127) head = 10;
      while (buf.size() < head)
        if (!fill(buf)) return finish();
      if (len >= 126) {
        len = 0;
        for (std::size_t i = 2; i < head; ++i) len = (len << 8) | static_cast<unsigned char>(buf[i]);
      }
      while (buf.size() < head + len)
        if (!fill(buf)) return finish();
      if ((b0 & 0x0f) == 0x1) {
        std::lock_guard<std::mutex> lock(mu_);
        frames_.push_back(buf.substr(head, len));
      } else if ((b0 & 0x0f) == 0x8) {
        return finish();
      }
      buf.erase(0, head + len);
    }
  }
  void finish() { closed_ = true; }

  int fd_ = -1;
  bool connected_ = false;
  std::atomic<bool> upgraded_{false};
  std::atomic<bool> closed_{false};
  mutable std::mutex mu_;
  std::vector<std::string> frames_;
  std::thread reader_;
};

WsFanoutOptions quick_options() {
  WsFanoutOptions o;
  o.port = 0;
  o.stats_path = "/stats";
  return o;
}

TEST(WsFanout, NeverStartedClosesAtOnce) {
  TestLoop loop;
  {
    WsFanout f(loop.get(), ClientOptions{}, quick_options());
    EXPECT_EQ(f.port(), 0);
    test::close_and_wait(loop, f);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(WsFanout, BadOptionsAndPortInUse) {
  RedisServer redis;
  TestLoop loop;
  {
    WsFanoutOptions bad = quick_options();
    bad.resumable_rooms = {"no spaces"};
    WsFanout f(loop.get(), test::options_for(redis), bad);
    auto r = f.start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::usage);
    test::close_and_wait(loop, f);
  }
  {
    WsFanout first(loop.get(), test::options_for(redis), quick_options());
    auto p = first.start();
    ASSERT_TRUE(p) << p.error().to_string();
    WsFanoutOptions o = quick_options();
    o.port = *p;
    WsFanout second(loop.get(), test::options_for(redis), o);
    auto r = second.start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connect);
    EXPECT_NE(r.error().message.find("in use"), std::string::npos);
    EXPECT_FALSE(first.start()) << "a second start must fail";
    test::close_and_wait(loop, second);
    test::close_and_wait(loop, first);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(WsFanout, RoomsGetWhatIsPublishedAndFramesGoOutAtOnce) {
  RedisServer redis;
  TestLoop loop;
  {
    WsFanoutOptions o = quick_options();
    o.resumable_rooms = {"saved"};
    WsFanout f(loop.get(), test::options_for(redis), o);
    std::vector<WsFanout::ClientId> connected, gone;
    std::vector<std::string> custom;
    f.on_connect([&](WsFanout::ClientId id) { connected.push_back(id); });
    f.on_disconnect([&](WsFanout::ClientId id) { gone.push_back(id); });
    f.on_text([&](WsFanout::ClientId id, std::string_view text) {
      if (text != "ping") return false;
      custom.emplace_back(text);
      EXPECT_TRUE(f.send(id, "{\"type\":\"pong\"}"));
      return true;
    });
    auto port = f.start();
    ASSERT_TRUE(port) << port.error().to_string();
    ASSERT_TRUE(loop.run_until([&] { return f.stats().subscribed; }));

    Client pub(loop.get(), test::options_for(redis));
    {
      Peer peer(*port);
      ASSERT_TRUE(loop.run_until([&] { return peer.upgraded() && connected.size() == 1; }));
      peer.send("ping");
      ASSERT_TRUE(loop.run_until([&] { return peer.has("pong"); }));
      EXPECT_EQ(custom.size(), 1u);

      peer.send(R"({"type":"join","room":"lobby","name":"ann"})");
      ASSERT_TRUE(loop.run_until([&] { return peer.has(R"("type":"joined")"); }));
      auto n = test::run_one(loop, pub, {"PUBLISH", "chat:room:lobby", R"({"type":"message","text":"hi"})"});
      ASSERT_TRUE(n) << n.error().to_string();
      EXPECT_EQ(n->integer(), 1);
      ASSERT_TRUE(loop.run_until([&] { return peer.has(R"("text":"hi")"); }));
      // A plain payload is wrapped.
      ASSERT_TRUE(test::run_one(loop, pub, {"PUBLISH", "chat:room:lobby", "plain"}));
      ASSERT_TRUE(loop.run_until([&] { return peer.has(R"("text":"plain")"); }));
      EXPECT_TRUE(peer.has(R"("from":"redis")"));

      // publish() goes through Redis and back; its callback runs once.
      auto r = test::await<void>(loop, [&](Callback<void> cb) { f.publish("lobby", "{\"n\":1}", std::move(cb)); });
      EXPECT_TRUE(r) << r.error().to_string();
      ASSERT_TRUE(loop.run_until([&] { return peer.has(R"({"n":1})"); }));
      EXPECT_TRUE(f.send_room("lobby", "{\"local\":true}"));
      EXPECT_FALSE(f.send_room("nobody-here", "{}"));
      ASSERT_TRUE(loop.run_until([&] { return peer.has("local"); }));

      // A resumable room: messages carry their stream id.
      EXPECT_TRUE(f.join(connected[0], "saved"));
      EXPECT_FALSE(f.join(connected[0], "bad room"));
      ASSERT_TRUE(loop.run_until([&] { return f.stats_json().find(R"("live":true)") != std::string::npos; }));
      auto rr = test::await<void>(loop, [&](Callback<void> cb) { f.publish("saved", "{\"k\":2}", std::move(cb)); });
      EXPECT_TRUE(rr) << rr.error().to_string();
      ASSERT_TRUE(loop.run_until([&] { return peer.has(R"(","k":2})"); }));
      EXPECT_TRUE(peer.has(R"({"id":")"));

      WsFanoutStats st = f.stats();
      EXPECT_EQ(st.clients, 1u);
      EXPECT_EQ(st.connections, 1u);
      EXPECT_EQ(st.frames_sent, st.frames_queued);
      // Nothing was waiting: every frame went out at once, without a
      // writable event.
      EXPECT_EQ(st.direct_writes, st.frames_sent);
      EXPECT_EQ(st.writeables, 0u);
      EXPECT_EQ(st.dropped, 0u);
      EXPECT_GE(st.redis_messages, 4u);
    }
    ASSERT_TRUE(loop.run_until([&] { return gone.size() == 1; }));
    EXPECT_EQ(gone[0], connected[0]);
    EXPECT_EQ(f.stats().clients, 0u);
    test::close_and_wait(loop, pub);
    test::close_and_wait(loop, f);
  }
  EXPECT_EQ(loop.close(), 0);
}

// 200 messages to 3 clients with a small turn budget `o`: every frame
// arrives, in order, and the budget stopped the burst at least once.
void burst_past_the_turn_budget(WsFanoutOptions o) {
  RedisServer redis;
  TestLoop loop;
  {
    WsFanout f(loop.get(), test::options_for(redis), o);
    auto port = f.start();
    ASSERT_TRUE(port) << port.error().to_string();
    ASSERT_TRUE(loop.run_until([&] { return f.stats().subscribed; }));
    Peer a(*port), b(*port), c(*port);
    ASSERT_TRUE(loop.run_until([&] { return a.upgraded() && b.upgraded() && c.upgraded() && f.stats().clients == 3; }));
    for (Peer* p : {&a, &b, &c}) p->send(R"({"type":"join","room":"burst"})");
    ASSERT_TRUE(loop.run_until([&] { return a.has("joined") && b.has("joined") && c.has("joined"); }));
    Client pub(loop.get(), test::options_for(redis));
    constexpr int kMessages = 200;
    int replies = 0;
    for (int i = 0; i < kMessages; ++i)
      pub.command({"PUBLISH", "chat:room:burst", "{\"seq\":" + std::to_string(i) + "}"},
                  [&](Result<Reply> r) { replies += r ? 1 : 0; });
    auto seqs = [](const Peer& p) {
      std::vector<int> out;
      for (const std::string& fr : p.frames())
        if (auto at = fr.find("\"seq\":"); at != std::string::npos) out.push_back(std::stoi(fr.substr(at + 6)));
      return out;
    };
    ASSERT_TRUE(loop.run_until([&] {
      return replies == kMessages && seqs(a).size() == kMessages && seqs(b).size() == kMessages &&
             seqs(c).size() == kMessages;
    }));
    for (Peer* p : {&a, &b, &c}) {
      std::vector<int> got = seqs(*p);
      for (int i = 0; i < kMessages; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i);
    }
    WsFanoutStats st = f.stats();
    EXPECT_GT(st.budget_full, 0u) << "the budget never stopped a burst of " << kMessages * 3 << " frames";
    EXPECT_EQ(st.dropped, 0u);
    EXPECT_EQ(st.frames_sent, st.frames_queued);
    test::close_and_wait(loop, pub);
    test::close_and_wait(loop, f);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(WsFanout, ABurstPastTheTurnBudgetWaitsForLaterTurnsInOrder) {
  WsFanoutOptions o = quick_options();
  o.turn_budget_bytes = 2048;  // a few dozen frames per loop turn, for all clients together
  burst_past_the_turn_budget(o);
}

// Small frames: the byte budget (1 MiB) is never reached, the frame budget is.
TEST(WsFanout, ABurstPastTheTurnFrameBudgetWaitsForLaterTurnsInOrder) {
  WsFanoutOptions o = quick_options();
  o.turn_budget_frames = 8;
  burst_past_the_turn_budget(o);
}

TEST(WsFanout, AZeroTurnFrameBudgetIsRefused) {
  TestLoop loop;
  {
    WsFanoutOptions o = quick_options();
    o.turn_budget_frames = 0;
    WsFanout f(loop.get(), ClientOptions{}, o);
    auto port = f.start();
    ASSERT_FALSE(port);
    EXPECT_EQ(port.error().kind, ErrorKind::usage);
    test::close_and_wait(loop, f);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(WsFanout, CloseWithClientsConnectedClosesThem) {
  RedisServer redis;
  TestLoop loop;
  {
    WsFanout f(loop.get(), test::options_for(redis), quick_options());
    auto port = f.start();
    ASSERT_TRUE(port) << port.error().to_string();
    Peer a(*port), b(*port);
    ASSERT_TRUE(loop.run_until([&] { return f.stats().clients == 2; }));
    int publish_calls = 0;
    test::close_and_wait(loop, f);
    // After close: publish fails with closed, on a later turn.
    f.publish("lobby", "x", [&](Result<void> r) {
      ++publish_calls;
      EXPECT_FALSE(r);
      if (!r) {
        EXPECT_EQ(r.error().kind, ErrorKind::closed);
      }
    });
    EXPECT_EQ(publish_calls, 0);
    ASSERT_TRUE(loop.run_until([&] { return publish_calls == 1 && a.closed() && b.closed(); }));
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(WsFanout, ClosedFromInsideItsOwnCallback) {
  RedisServer redis;
  TestLoop loop;
  {
    WsFanout f(loop.get(), test::options_for(redis), quick_options());
    int done_calls = 0;
    f.on_text([&](WsFanout::ClientId, std::string_view text) {
      if (text == "bye") f.close([&] { ++done_calls; });
      return true;
    });
    auto port = f.start();
    ASSERT_TRUE(port) << port.error().to_string();
    Peer a(*port);
    ASSERT_TRUE(loop.run_until([&] { return a.upgraded() && f.stats().clients == 1; }));
    a.send("bye");
    ASSERT_TRUE(loop.run_until([&] { return done_calls == 1 && a.closed(); }));
    EXPECT_EQ(done_calls, 1);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(WsFanout, DestroyedWhileStartedStillClosesEverything) {
  RedisServer redis;
  TestLoop loop;
  bool connected = false;
  {
    WsFanout f(loop.get(), test::options_for(redis), quick_options());
    f.on_connect([&](WsFanout::ClientId) { connected = true; });
    auto port = f.start();
    ASSERT_TRUE(port) << port.error().to_string();
    Peer a(*port);
    ASSERT_TRUE(loop.run_until([&] { return connected; }));
  }
  // Only the test loop's own timer is left once the close completed.
  auto handles = [&] {
    int n = 0;
    uv_walk(loop.get(), [](uv_handle_t*, void* arg) { ++*static_cast<int*>(arg); }, &n);
    return n;
  };
  EXPECT_TRUE(loop.run_until([&] { return handles() <= 1; }));
  EXPECT_EQ(loop.close(), 0);
}

}  // namespace
