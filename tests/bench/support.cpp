#include "support.hpp"

#include <uvredis/uvredis.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace bench {

void die(const std::string& msg) { throw std::runtime_error(msg); }

namespace {

// What the signal handler needs to clean up, prepared in advance as plain C
// strings (only async-signal-safe calls are allowed there).
volatile pid_t g_server_pid = -1;
char g_server_log[512];
char g_server_dir[512];

constexpr int kWatched = 16;
volatile pid_t g_watched[kWatched] = {};

extern "C" void on_fatal_signal(int sig) {
  for (int i = 0; i < kWatched; ++i) {
    const pid_t p = g_watched[i];
    if (p > 0) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
  }
  if (g_server_pid > 0) {
    kill(g_server_pid, SIGKILL);
    waitpid(g_server_pid, nullptr, 0);
    unlink(g_server_log);
    rmdir(g_server_dir);
  }
  const char msg[] = "uvredis-bench: interrupted (or watchdog fired); private server stopped\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(128 + sig);
}

std::uint16_t free_loopback_port() {
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket: " + std::string(strerror(errno)));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      close(fd);
      die("bind 127.0.0.1:0: " + std::string(strerror(errno)));
    }
    close(fd);
    if (ntohs(a.sin_port) != 6379) return ntohs(a.sin_port);
  }
}

}  // namespace

int connect_blocking(const Target& t) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(t.port);
  if (inet_pton(AF_INET, t.host.c_str(), &a.sin_addr) != 1) {
    close(fd);
    return -1;
  }
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

namespace {

bool ping_blocking(std::uint16_t port) {
  return blocking_command(Target{"127.0.0.1", port}, {"PING"}).starts_with("+PONG");
}

}  // namespace

std::string blocking_command(const Target& t, const std::vector<std::string>& argv) {
  const int fd = connect_blocking(t);
  if (fd < 0) return {};
  std::string req = "*";
  req.append(std::to_string(argv.size())).append("\r\n");
  for (const auto& a : argv) req.append("$").append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
  std::string out;
  if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
    char buf[4096];
    const ssize_t k = read(fd, buf, sizeof buf);
    if (k > 0) out.assign(buf, static_cast<std::size_t>(k));
  }
  close(fd);
  return out;
}

void watch_pid(int pid) {
  for (int i = 0; i < kWatched; ++i) {
    if (g_watched[i] <= 0) {
      g_watched[i] = pid;
      return;
    }
  }
  die("watch_pid: more than 16 watched processes");
}

void unwatch_pid(int pid) {
  for (int i = 0; i < kWatched; ++i)
    if (g_watched[i] == pid) g_watched[i] = -1;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGALRM}) sigaction(sig, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a reset peer is an error to report, not a death
}

Target target_from_env() {
  Target t;
  const char* url = std::getenv("REDIS_URL");
  auto a = uvredis::Address::parse(url);
  if (!a) die("REDIS_URL: " + a.error().message);
  if (a->kind != uvredis::Address::Kind::tcp || a->tls || !a->password.empty() || a->db != 0)
    die("REDIS_URL: the benchmark wants a plain host:port (no TLS, password, db or unix socket)");
  t.host = a->host;
  t.port = a->port;
  return t;
}

// ------------------------------------------------------------ private server

PrivateServer::PrivateServer() {
  char tmpl[] = "/tmp/uvredis-bench-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp: " + std::string(strerror(errno)));
  dir_ = tmpl;
  log_ = dir_ + "/redis.log";
  std::snprintf(g_server_dir, sizeof g_server_dir, "%s", dir_.c_str());
  std::snprintf(g_server_log, sizeof g_server_log, "%s", log_.c_str());
  for (int attempt = 0; attempt < 3; ++attempt) {  // the free port may be taken meanwhile
    port_ = free_loopback_port();
    if (spawn()) return;
  }
  std::string tail = log_tail();
  cleanup_dir();
  die("redis-server did not start; its log ends with:\n" + tail);
}

void PrivateServer::stop() noexcept {
  if (pid_ > 0) {
    const pid_t pid = pid_;
    kill(pid, SIGTERM);
    bool gone = false;
    for (int i = 0; i < 300 && !gone; ++i) {
      if (waitpid(pid, nullptr, WNOHANG) == pid)
        gone = true;
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!gone) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    pid_ = -1;
    g_server_pid = -1;
  }
  cleanup_dir();
}

bool PrivateServer::spawn() {
  const pid_t parent = getpid();
  const std::string port = std::to_string(port_);
  const pid_t pid = fork();
  if (pid < 0) die("fork: " + std::string(strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", dir_.c_str(), "--daemonize", "no", "--loglevel", "warning",
           static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  g_server_pid = pid;
  for (int i = 0; i < 500; ++i) {  // up to ~5 s
    if (waitpid(pid, nullptr, WNOHANG) == pid) {  // exited: port taken, or no redis-server
      pid_ = -1;
      g_server_pid = -1;
      return false;
    }
    if (ping_blocking(port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop();
  die("redis-server on port " + port + " did not answer PING within 5 s");
}

std::string PrivateServer::log_tail() const {
  std::string s;
  if (FILE* f = std::fopen(log_.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
  }
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

void PrivateServer::cleanup_dir() noexcept {
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);  // ours: made by mkdtemp above
  dir_.clear();
}

// ------------------------------------------------------------ child processes

namespace {
pid_t fork_exec(const std::vector<std::string>& args, int out_fd) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) die("fork: " + std::string(strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    dup2(out_fd, 1);
    if (out_fd != 1) close(out_fd);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int wait_status(pid_t pid, double* cpu) {
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  if (cpu != nullptr)
    *cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
}  // namespace

std::pair<std::string, int> capture(const std::vector<std::string>& args, double* cpu_seconds_out) {
  int fds[2];
  if (pipe(fds) != 0) die("pipe: " + std::string(strerror(errno)));
  const pid_t pid = fork_exec(args, fds[1]);
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t k = read(fds[0], buf, sizeof buf);
    if (k > 0)
      out.append(buf, static_cast<std::size_t>(k));
    else if (k == 0 || errno != EINTR)
      break;
  }
  close(fds[0]);
  const int status = wait_status(pid, cpu_seconds_out);
  return {out, status};
}

// --------------------------------------------------------------- measuring

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::size_t rss_bytes() {
  unsigned long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

std::size_t heap_bytes() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string grouped(double x) {
  const std::string d = std::to_string(static_cast<long long>(x + 0.5));
  std::string out;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return out;
}

std::string fixed(double x, int prec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, x);
  return buf;
}

}  // namespace bench
