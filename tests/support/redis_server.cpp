#include "redis_server.hpp"

extern "C" {
#include <hiredis/hiredis.h>
}

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace uvredis::test {

namespace {

// Binds a socket to 127.0.0.1:`port` (0: the kernel picks one) and closes
// it: the port it got, or 0 when the port is taken (no SO_REUSEADDR, so a
// port in TIME_WAIT counts as taken too).
std::uint16_t bound_port(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  return ok ? ntohs(a.sin_port) : 0;
}

}  // namespace

std::uint16_t free_port() {
  // UVREDIS_TEST_PORTS=LO-HI (tests/run-all.sh, which runs two suites at a
  // time): ports from that range only, so that suites running side by side
  // never pick, or restart a server on, a port the other one uses.
  if (const char* range = std::getenv("UVREDIS_TEST_PORTS")) {
    unsigned lo = 0, hi = 0;
    if (std::sscanf(range, "%u-%u", &lo, &hi) == 2 && lo > 1024 && lo < hi && hi < 65536) {
      static std::mt19937 pick{std::random_device{}()};
      for (int attempt = 0; attempt < 10000; ++attempt) {
        const auto p = static_cast<std::uint16_t>(lo + pick() % (hi - lo + 1));
        if (p != 6379 && bound_port(p) == p) return p;
      }
      throw std::runtime_error(std::string("no free loopback port in UVREDIS_TEST_PORTS=") + range);
    }
  }
  const std::uint16_t p = bound_port(0);
  if (p == 0) throw std::runtime_error("cannot bind a loopback port");
  if (p == 6379) return free_port();
  return p;
}

namespace {

bool tcp_accepts(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

std::string render(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR: return "(error) " + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string s;
      for (std::size_t i = 0; i < r->elements; ++i) {
        if (i) s += "\n";
        s += render(r->element[i]);
      }
      return s;
    }
    default: return "?";
  }
}

}  // namespace

RedisServer::RedisServer(ServerOptions opts) : opts_(std::move(opts)) {
  for (std::size_t i = 0; i + 1 < opts_.extra_args.size(); ++i)
    if (opts_.extra_args[i] == "--requirepass") password_ = opts_.extra_args[i + 1];
  char tmpl[] = "/tmp/uvredis-test-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  if (!opts_.config_lines.empty()) {
    std::ofstream conf(dir_ + "/redis.conf");
    for (const auto& line : opts_.config_lines) conf << line << "\n";
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    if (opts_.tls) {
      do tls_port_ = free_port();
      while (tls_port_ == port_);
    }
    spawn();
    if (wait_ready(5000)) return;
    kill();
  }
  throw std::runtime_error("redis-server did not start: " + log_tail());
}

RedisServer::~RedisServer() {
  drop_connections();
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void RedisServer::spawn() {
  std::vector<std::string> args = {"redis-server"};
  if (!opts_.config_lines.empty()) args.push_back(dir_ + "/redis.conf");
  if (opts_.sentinel) args.push_back("--sentinel");
  std::vector<std::string> common = {"--port", std::to_string(port_),
                                   "--bind", "127.0.0.1",
                                   "--save", "",
                                   "--appendonly", "no",
                                   // A master would wait 5 s for more replicas
                                   // before a full sync: no test wants that.
                                   "--repl-diskless-sync-delay", "0",
                                   "--dir", dir_,
                                   "--unixsocket", unix_path(),
                                   "--unixsocketperm", "700",
                                   "--enable-debug-command", "local",
                                   "--daemonize", "no",
                                   "--logfile", dir_ + "/redis.log"};
  args.insert(args.end(), common.begin(), common.end());
  if (opts_.tls) {
    const ServerTls& t = *opts_.tls;
    args.insert(args.end(), {"--tls-port", std::to_string(tls_port_), "--tls-cert-file", t.cert_file,
                             "--tls-key-file", t.key_file, "--tls-ca-cert-file", t.ca_file,
                             "--tls-auth-clients", t.auth_clients ? "yes" : "no"});
  }
  for (const auto& a : opts_.extra_args) args.push_back(a);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  paused_ = false;
}

bool RedisServer::wait_ready(int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    timeval tv{0, 200000};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c && !c->err) {
      redisReply* r = static_cast<redisReply*>(
          password_.empty() ? redisCommand(c, "PING") : redisCommand(c, "AUTH %s", password_.c_str()));
      // LOADING means the process is up and reading its data set.
      bool ok = r && (r->type != REDIS_REPLY_ERROR || (accept_loading_ && std::strncmp(r->str, "LOADING", 7) == 0));
      if (r) freeReplyObject(r);
      redisFree(c);
      // Redis opens every listener before it serves the first client; check
      // the TLS port accepts too, so a failure to listen there shows up here.
      if (ok && tls_port_ != 0) ok = tcp_accepts(tls_port_);
      if (ok) return true;
    } else if (c) {
      redisFree(c);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void RedisServer::drop_connections() {
  if (sync_) redisFree(sync_);
  sync_ = nullptr;
  for (auto* c : sleepers_) redisFree(c);
  sleepers_.clear();
}

void RedisServer::kill() {
  drop_connections();
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  paused_ = false;
}

void RedisServer::stop() {
  drop_connections();
  if (pid_ <= 0) return;
  if (paused_) ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill();
}

void RedisServer::start() {
  if (pid_ > 0) return;
  for (int attempt = 0; attempt < 50; ++attempt) {
    spawn();
    if (wait_ready(5000)) return;
    kill();
    // The port may still be in TIME_WAIT trouble or taken; try again shortly.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("redis-server did not restart: " + log_tail());
}

void RedisServer::add_args(const std::vector<std::string>& args) {
  opts_.extra_args.insert(opts_.extra_args.end(), args.begin(), args.end());
}

void RedisServer::start_loading() {
  accept_loading_ = true;
  try {
    start();
  } catch (...) {
    accept_loading_ = false;
    throw;
  }
  accept_loading_ = false;
}

void RedisServer::restart() {
  stop();
  start();
}

void RedisServer::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
  paused_ = true;
}

void RedisServer::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
  paused_ = false;
}

std::string RedisServer::cmd(const std::vector<std::string>& argv) {
  try {
    return cmd_once(argv);
  } catch (const std::runtime_error&) {
    // The harness's own link may have been killed (CLIENT KILL during a
    // sentinel failover): one more try on a fresh connection.
    return cmd_once(argv);
  }
}

std::string RedisServer::cmd_once(const std::vector<std::string>& argv) {
  if (!sync_) {
    timeval tv{5, 0};
    sync_ = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (!sync_ || sync_->err) {
      std::string e = sync_ ? sync_->errstr : "oom";
      if (sync_) redisFree(sync_);
      sync_ = nullptr;
      throw std::runtime_error("harness connect failed: " + e);
    }
    redisSetTimeout(sync_, tv);
    if (!password_.empty()) {
      auto* r = static_cast<redisReply*>(redisCommand(sync_, "AUTH %s", password_.c_str()));
      if (r) freeReplyObject(r);
    }
  }
  std::vector<const char*> p;
  std::vector<size_t> l;
  for (const auto& a : argv) {
    p.push_back(a.data());
    l.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(sync_, static_cast<int>(argv.size()), p.data(), l.data()));
  if (!r) {
    std::string e = sync_->errstr;
    redisFree(sync_);
    sync_ = nullptr;
    throw std::runtime_error("harness command failed: " + e);
  }
  std::string out = render(r);
  freeReplyObject(r);
  return out;
}

long long RedisServer::cmd_int(const std::vector<std::string>& argv) {
  std::string s = cmd(argv);
  try {
    return std::stoll(s);
  } catch (...) {
    throw std::runtime_error("not an integer reply: " + s);
  }
}

void RedisServer::client_pause(int ms) { cmd({"CLIENT", "PAUSE", std::to_string(ms)}); }

void RedisServer::debug_sleep(double seconds) {
  timeval tv{5, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (!c || c->err) throw std::runtime_error("harness connect failed");
  if (!password_.empty()) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "AUTH %s", password_.c_str()));
    if (r) freeReplyObject(r);
  }
  std::string s = std::to_string(seconds);
  redisAppendCommand(c, "DEBUG SLEEP %s", s.c_str());
  int done = 0;
  while (!done)
    if (redisBufferWrite(c, &done) != REDIS_OK) break;
  sleepers_.push_back(c);
  // Return only once the server is asleep: a PING on a fresh connection
  // that gets no answer within 50 ms says so (the server is single-threaded).
  for (int attempt = 0; attempt < 100; ++attempt) {
    timeval probe_tv{0, 50000};
    redisContext* p = redisConnectWithTimeout("127.0.0.1", port_, probe_tv);
    if (!p || p->err) {
      if (p) redisFree(p);
      return;  // not even accepting in time: asleep
    }
    redisSetTimeout(p, probe_tv);
    auto* r = static_cast<redisReply*>(redisCommand(p, "PING"));
    // With a password the PING answers NOAUTH at once: also "awake".
    const bool awake = r != nullptr;
    if (r) freeReplyObject(r);
    redisFree(p);
    if (!awake) return;
  }
  throw std::runtime_error("DEBUG SLEEP did not take effect");
}

std::string RedisServer::log_tail() const {
  std::ifstream f(dir_ + "/redis.log");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

}  // namespace uvredis::test
