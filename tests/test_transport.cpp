// The transport under a Connection (src/link/transport.hpp), driven alone:
// over a listening socket of the test's own on loopback, no Redis server.
// Every event is counted; each test ends with the loop closable.

#include "../src/link/transport.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include <uv.h>

using uvredis::detail::Transport;

namespace {

// A blocking listener on 127.0.0.1 with a port of the kernel's choosing.
struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 4), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() {
    if (fd >= 0) ::close(fd);
  }
};

// Counts every event; the test decides what each one does.
struct Recorder : Transport::Events {
  int connected_ok = 0, connected_failed = 0, readable = 0, writable = 0, write_wanted = 0, closing = 0, closed = 0,
      handles_closed = 0, tls = 0;
  std::function<void()> on_connected, on_readable, on_writable, on_closed;
  void transport_connected(bool ok) override {
    ++(ok ? connected_ok : connected_failed);
    if (on_connected) on_connected();
  }
  void transport_readable() override {
    ++readable;
    if (on_readable) on_readable();
  }
  void transport_writable() override {
    ++writable;
    if (on_writable) on_writable();
  }
  void transport_write_wanted() override { ++write_wanted; }
  void transport_tls_data(const char*, std::size_t) override { ++tls; }
  void transport_tls_error(std::string) override { ++tls; }
  void transport_drained() override { ++tls; }
  bool transport_closing() override {
    ++closing;
    return true;
  }
  void transport_closed() override {
    ++closed;
    if (on_closed) on_closed();
  }
  void transport_handle_closed() override { ++handles_closed; }
};

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  void run() { uv_run(&loop, UV_RUN_DEFAULT); }
  int close() {
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop);
  }
};

TEST(Transport, MovesBytesBothWaysAndReportsThePeersClose) {
  Loop l;
  Listener srv;
  Recorder ev;
  Transport t(&l.loop, &ev, nullptr);
  int peer = -1;
  std::string got_by_server, got_by_client;
  ev.on_connected = [&] {
    peer = ::accept(srv.fd, nullptr, nullptr);
    ASSERT_GE(peer, 0);
    // Bytes out: into hiredis' output buffer, then one write.
    const std::string cmd = "*1\r\n$4\r\nPING\r\n";
    ASSERT_TRUE(t.append(cmd.data(), cmd.size()));
    EXPECT_EQ(t.out_len(), cmd.size());
    t.write();
    EXPECT_EQ(t.out_len(), 0u);
    char buf[64];
    while (got_by_server.size() < cmd.size()) {
      const ssize_t n = ::read(peer, buf, sizeof buf);
      ASSERT_GT(n, 0);
      got_by_server.append(buf, static_cast<std::size_t>(n));
    }
    ASSERT_EQ(::write(peer, "+PONG\r\n", 7), 7);
  };
  ev.on_readable = [&] {
    char buf[64];
    const long n = t.read(buf, sizeof buf);
    if (n > 0) {
      got_by_client.append(buf, static_cast<std::size_t>(n));
      if (got_by_client.size() == 7) ::shutdown(peer, SHUT_RDWR);  // the peer goes away
    } else if (n < 0) {
      EXPECT_STREQ(t.errstr(), "Server closed the connection");
      t.fail_read();  // hiredis' disconnect path: closing, closed
    }
  };
  std::string why;
  ASSERT_EQ(t.open_tcp("127.0.0.1", srv.port, true, why), Transport::Open::ok) << why;
  EXPECT_TRUE(t.up());
  EXPECT_FALSE(t.connected());
  EXPECT_EQ(ev.connected_ok, 0);  // never inside the call
  l.run();
  EXPECT_EQ(got_by_server, "*1\r\n$4\r\nPING\r\n");
  EXPECT_EQ(got_by_client, "+PONG\r\n");
  EXPECT_EQ(ev.connected_ok, 1);
  EXPECT_EQ(ev.connected_failed, 0);
  EXPECT_EQ(ev.closing, 1);
  EXPECT_EQ(ev.closed, 1);
  EXPECT_EQ(ev.handles_closed, 1);
  EXPECT_EQ(ev.tls, 0);
  EXPECT_FALSE(t.up());
  EXPECT_EQ(t.open_handles(), 0);
  ::close(peer);
  EXPECT_EQ(l.close(), 0);
}

TEST(Transport, AFailedConnectIsReportedOnceThenTornDown) {
  Loop l;
  int port = 0;
  {
    Listener gone;  // a port nobody listens on any more
    port = gone.port;
  }
  Recorder ev;
  Transport t(&l.loop, &ev, nullptr);
  std::string why;
  const Transport::Open opened = t.open_tcp("127.0.0.1", port, false, why);
  if (opened == Transport::Open::failed) {
    // The kernel refused at once: told in the call, with nothing to tear down.
    EXPECT_FALSE(why.empty());
    EXPECT_EQ(t.open_handles(), 0);
    l.run();
    EXPECT_EQ(ev.connected_ok + ev.connected_failed + ev.closing + ev.closed + ev.handles_closed, 0);
    EXPECT_EQ(l.close(), 0);
    return;
  }
  ASSERT_EQ(opened, Transport::Open::ok) << why;
  std::string err_at_connect;
  ev.on_connected = [&] { err_at_connect = t.errstr(); };
  l.run();
  EXPECT_EQ(ev.connected_ok, 0);
  EXPECT_EQ(ev.connected_failed, 1);
  EXPECT_FALSE(err_at_connect.empty());
  EXPECT_EQ(ev.closing, 1);
  EXPECT_EQ(ev.closed, 1);
  EXPECT_EQ(ev.handles_closed, 1);
  EXPECT_FALSE(t.up());
  EXPECT_EQ(l.close(), 0);
}

TEST(Transport, AMissingUnixSocketFailsInTheCall) {
  Loop l;
  Recorder ev;
  Transport t(&l.loop, &ev, nullptr);
  std::string why;
  EXPECT_EQ(t.open_unix("/nonexistent/uvredis-test.sock", why), Transport::Open::failed);
  EXPECT_FALSE(why.empty());
  EXPECT_FALSE(t.up());
  EXPECT_EQ(t.open_handles(), 0);
  l.run();
  EXPECT_EQ(ev.connected_ok + ev.connected_failed + ev.closing + ev.closed + ev.handles_closed, 0);
  EXPECT_EQ(l.close(), 0);
}

TEST(Transport, DropTearsDownAtOnceAndClosesTheHandle) {
  Loop l;
  Listener srv;
  Recorder ev;
  Transport t(&l.loop, &ev, nullptr);
  std::string why;
  ASSERT_EQ(t.open_tcp("127.0.0.1", srv.port, false, why), Transport::Open::ok) << why;
  t.drop();
  EXPECT_EQ(ev.closing, 1);  // synchronous: the owner asked for it
  EXPECT_EQ(ev.closed, 1);
  EXPECT_FALSE(t.up());
  l.run();
  EXPECT_EQ(ev.connected_ok + ev.connected_failed, 0);
  EXPECT_EQ(ev.handles_closed, 1);
  EXPECT_EQ(t.open_handles(), 0);
  EXPECT_EQ(l.close(), 0);
}

// Output the socket cannot take at once, in writes small enough that the
// transport keeps its buffer after each complete one: a short write keeps
// the rest in order and waits for POLLOUT, which brings the transport back
// until all is written; the peer gets every byte once, in order. (The
// writes are made outside the connect callback, where hiredis' own write,
// still running, would also write what is left.)
TEST(Transport, ShortWritesKeepTheRestInOrderUntilAllIsWritten) {
  Loop l;
  Listener srv;
  Recorder ev;
  Transport t(&l.loop, &ev, nullptr);
  int peer = -1;
  ev.on_connected = [&] { peer = ::accept(srv.fd, nullptr, nullptr); };
  int writes_after = 0;
  ev.on_writable = [&] {
    ++writes_after;
    t.write();
  };
  ev.on_readable = [&] {
    char buf[64];
    if (t.read(buf, sizeof buf) < 0) t.fail_read();
  };
  std::string why;
  ASSERT_EQ(t.open_tcp("127.0.0.1", srv.port, false, why), Transport::Open::ok) << why;
  while (ev.connected_ok + ev.connected_failed == 0) uv_run(&l.loop, UV_RUN_ONCE);
  ASSERT_EQ(ev.connected_ok, 1);
  ASSERT_GE(peer, 0);
  // Numbered chunks until a write comes up short (the peer reads nothing yet).
  std::string sent;
  int i = 0;
  do {
    std::string chunk = std::to_string(i++) + ":";
    chunk.resize(1000, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(t.append_raw(chunk));
    sent += chunk;
    t.write();
  } while (!t.want_writable() && sent.size() < (512u << 20));
  ASSERT_TRUE(t.want_writable());
  EXPECT_GT(t.out_len(), 0u);
  // Now the peer reads it all, then goes away.
  std::string got;
  std::thread reader([&, total = sent.size()] {
    char buf[65536];
    while (got.size() < total) {
      const ssize_t n = ::read(peer, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    ::shutdown(peer, SHUT_RDWR);
  });
  l.run();
  reader.join();
  EXPECT_GE(writes_after, 1);
  EXPECT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent) << "the bytes the peer got differ from those written";
  EXPECT_EQ(ev.closing, 1);
  EXPECT_EQ(ev.closed, 1);
  EXPECT_EQ(ev.handles_closed, 1);
  ::close(peer);
  EXPECT_EQ(l.close(), 0);
}

// A write to a peer that reset the connection fails through hiredis' path:
// the context is torn down once. The write is made when the reset has
// arrived (the socket turns readable), before anything reads it.
TEST(Transport, AWriteToAResetPeerTearsDownOnce) {
  std::signal(SIGPIPE, SIG_IGN);  // as a Connection has it (hiredis writes with write(2))
  Loop l;
  Listener srv;
  Recorder ev;
  Transport t(&l.loop, &ev, nullptr);
  int writes = 0;
  ev.on_connected = [&] {
    ASSERT_TRUE(t.append_raw("*1\r\n$4\r\nPING\r\n"));
    t.write();  // goes out whole: the peer has not closed yet
    EXPECT_TRUE(t.up());
    const int peer = ::accept(srv.fd, nullptr, nullptr);
    ASSERT_GE(peer, 0);
    linger lg{1, 0};  // close with a reset
    ::setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(peer);
  };
  ev.on_readable = [&] {
    if (writes++ == 0) {
      ASSERT_TRUE(t.append_raw("*1\r\n$4\r\nPING\r\n"));
      t.write();
      if (!t.up()) return;  // the write failed and tore the context down
    }
    char buf[64];
    if (t.read(buf, sizeof buf) < 0) t.fail_read();
  };
  std::string why;
  ASSERT_EQ(t.open_tcp("127.0.0.1", srv.port, false, why), Transport::Open::ok) << why;
  l.run();
  EXPECT_EQ(writes, 1);
  EXPECT_FALSE(t.up());
  EXPECT_EQ(ev.closing, 1);
  EXPECT_EQ(ev.closed, 1);
  EXPECT_EQ(ev.handles_closed, 1);
  EXPECT_EQ(l.close(), 0);
}

}  // namespace
