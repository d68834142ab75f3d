#pragma once
// Test harness: a private redis-server process on a free loopback port, in a
// temp directory, with no persistence. Always stopped by pid (and killed by
// the kernel if the test process dies: PR_SET_PDEATHSIG).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct redisContext;

namespace uvredis::test {

/// A loopback port nothing listens on now (never 6379). With
/// UVREDIS_TEST_PORTS=LO-HI in the environment, one from that range only.
std::uint16_t free_port();

/// A TLS listener next to the plain one (which stays open for readiness
/// checks and the harness's own commands).
struct ServerTls {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;        ///< CA that client certificates must chain to.
  bool auth_clients = false;  ///< --tls-auth-clients yes: a client certificate is required.
};

struct ServerOptions {
  ServerOptions() = default;
  /// `RedisServer server({{"--maxmemory", "1mb"}})`: just extra arguments.
  ServerOptions(std::vector<std::string> args) : extra_args(std::move(args)) {}  // NOLINT: implicit by design

  std::vector<std::string> extra_args;  ///< Appended to the command line.
  std::optional<ServerTls> tls;         ///< Also listen for TLS on tls_port().
  /// Written to <dir>/redis.conf once, before the first start, and passed as
  /// the config file (a sentinel needs one it can rewrite). Empty: none.
  std::vector<std::string> config_lines;
  bool sentinel = false;  ///< Run as `redis-server <conf> --sentinel`.
};

class RedisServer {
 public:
  explicit RedisServer(ServerOptions opts = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  /// The TLS port (0 without ServerOptions::tls).
  std::uint16_t tls_port() const { return tls_port_; }
  /// rediss://host:tls_port().
  std::string tls_url(const std::string& host = "127.0.0.1") const {
    return "rediss://" + host + ":" + std::to_string(tls_port_);
  }
  std::string host() const { return "127.0.0.1"; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  std::string unix_path() const { return dir_ + "/redis.sock"; }
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }

  void kill();     ///< SIGKILL and reap.
  void stop();     ///< SIGTERM (SIGKILL after 3 s) and reap.
  void start();    ///< Starts again on the same port; waits until it answers.
  void restart();  ///< stop() + start().
  /// Adds command-line arguments for the next start() (e.g. a load delay).
  void add_args(const std::vector<std::string>& args);
  /// Starts without waiting until the data set is loaded: returns once the
  /// server accepts connections (a LOADING reply counts as up).
  void start_loading();
  void pause();    ///< SIGSTOP: the kernel still accepts, nothing answers.
  void resume();   ///< SIGCONT.

  /// Runs one command on a private synchronous connection and renders the
  /// reply: strings/status as text, integers in decimal, nil as "(nil)",
  /// errors as "(error) text", arrays as elements joined by "\n". Throws on
  /// transport failure.
  std::string cmd(const std::vector<std::string>& argv);
  long long cmd_int(const std::vector<std::string>& argv);
  void client_pause(int ms);
  /// Sends DEBUG SLEEP on its own connection and returns at once.
  void debug_sleep(double seconds);
  /// The last 2,000 bytes of the server's log file.
  std::string log_tail() const;

 private:
  void spawn();
  std::string cmd_once(const std::vector<std::string>& argv);
  bool wait_ready(int ms);
  void drop_connections();

  ServerOptions opts_;
  std::string dir_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
  bool accept_loading_ = false;
  std::string password_;
  redisContext* sync_ = nullptr;
  std::vector<redisContext*> sleepers_;
};

}  // namespace uvredis::test
