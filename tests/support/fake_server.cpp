#include "fake_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

namespace uvredis::test {

FakeConnection::~FakeConnection() { close_fd(); }

void FakeConnection::close_fd() {
  if (fd_ < 0) return;
  forget_(fd_);
  ::close(fd_);
  fd_ = -1;
}

bool FakeConnection::fill() {
  if (fd_ < 0) return false;
  char buf[16384];
  ssize_t n;
  do n = ::recv(fd_, buf, sizeof buf, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  in_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::string FakeConnection::read_some() {
  if (in_.empty() && !fill()) return {};
  std::string out;
  out.swap(in_);
  return out;
}

std::vector<std::string> FakeConnection::read_command() {
  // Parses "*N\r\n($len\r\nbytes\r\n)*N" from in_, reading more as needed.
  for (;;) {
    std::size_t pos = 0;
    auto line = [&](std::string& out) {
      auto e = in_.find("\r\n", pos);
      if (e == std::string::npos) return false;
      out = in_.substr(pos, e - pos);
      pos = e + 2;
      return true;
    };
    std::string hdr;
    std::vector<std::string> argv;
    bool complete = false;
    if (line(hdr)) {
      if (hdr.empty() || hdr[0] != '*') return {};  // not a command: treat as EOF
      long n = std::stol(hdr.substr(1));
      bool ok = true;
      for (long i = 0; i < n && ok; ++i) {
        std::string len;
        if (!line(len)) { ok = false; break; }
        std::size_t l = std::stoul(len.substr(1));
        if (in_.size() < pos + l + 2) { ok = false; break; }
        argv.push_back(in_.substr(pos, l));
        pos += l + 2;
      }
      complete = ok;
    }
    if (complete) {
      in_.erase(0, pos);
      return argv;
    }
    if (!fill()) return {};
  }
}

void FakeConnection::send(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size() && fd_ >= 0) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

void FakeConnection::send_chunked(const std::string& bytes, std::size_t chunk, unsigned pause_us) {
  for (std::size_t off = 0; off < bytes.size(); off += chunk) {
    send(bytes.substr(off, chunk));
    ::usleep(pause_us);
  }
}

void FakeConnection::close() {
  if (fd_ < 0) return;
  ::shutdown(fd_, SHUT_WR);
  // Wait for the peer to hang up too, so the FIN is seen before anything else.
  char buf[4096];
  pollfd p{fd_, POLLIN, 0};
  while (::poll(&p, 1, 2000) > 0 && ::recv(fd_, buf, sizeof buf, 0) > 0) {
  }
  close_fd();
}

void FakeConnection::reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close_fd();
}

FakeServer::FakeServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 16) != 0)
    throw std::runtime_error("fake server: cannot listen on loopback");
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

void FakeServer::accept_loop() {
  for (;;) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 50);
    if (stopping_) return;
    if (r <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    ++accepted_;
    std::lock_guard<std::mutex> g(mu_);
    fds_.push_back(fd);
    workers_.emplace_back([this, fd] {
      FakeConnection c(fd, [this](int gone) {
        std::lock_guard<std::mutex> g2(mu_);
        std::erase(fds_, gone);
      });
      try {
        handler_(c);
      } catch (...) {
        // A parse failure in the fake is the test's problem, not a crash.
      }
    });
  }
}

FakeServer::~FakeServer() {
  stopping_ = true;
  acceptor_.join();
  ::close(listen_fd_);
  {
    std::lock_guard<std::mutex> g(mu_);
    // Unblock handlers stuck in recv; the fd itself is closed by its owner.
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : workers_) t.join();
}

}  // namespace uvredis::test
