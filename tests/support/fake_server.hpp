#pragma once
// FakeServer: a scripted TCP peer on a free loopback port, for faults a real
// redis-server cannot produce (hostile replies, resets, silence). Each
// accepted connection runs the handler on a thread of its own with blocking
// sockets; the destructor shuts every socket down and joins the threads.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace uvredis::test {

class FakeConnection {
 public:
  FakeConnection(int fd, std::function<void(int)> forget) : fd_(fd), forget_(std::move(forget)) {}
  ~FakeConnection();
  FakeConnection(const FakeConnection&) = delete;
  FakeConnection& operator=(const FakeConnection&) = delete;

  /// Reads one RESP command (array of bulk strings); empty on EOF or error.
  std::vector<std::string> read_command();
  /// Reads whatever is there (at least one byte); empty on EOF.
  std::string read_some();
  /// Sends all of `bytes`.
  void send(const std::string& bytes);
  /// Sends `bytes` in chunks of `chunk` bytes, `pause_us` microseconds apart.
  void send_chunked(const std::string& bytes, std::size_t chunk, unsigned pause_us);
  /// Orderly close (FIN).
  void close();
  /// Abortive close (RST): SO_LINGER with a zero timeout.
  void reset();
  int fd() const { return fd_; }

 private:
  bool fill();
  void close_fd();
  int fd_;
  std::function<void(int)> forget_;  // unregisters fd_ before it is closed (no shutdown of a reused fd)
  std::string in_;
};

class FakeServer {
 public:
  using Handler = std::function<void(FakeConnection&)>;
  explicit FakeServer(Handler handler);
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void accept_loop();
  Handler handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> workers_;
};

}  // namespace uvredis::test
