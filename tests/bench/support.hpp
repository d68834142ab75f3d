#pragma once
// What the modes of uvredis-bench share: the private redis-server, CPU
// clock, child processes, a blocking one-shot command and table formatting.
// Benchmark code only; never part of the library or the tests.

// Callgrind brackets around a measured phase (see the top of uvredis-bench.cpp):
// a few no-op instructions outside valgrind, nothing without its header.
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_CG_START() CALLGRIND_START_INSTRUMENTATION
#define BENCH_CG_STOP() CALLGRIND_STOP_INSTRUMENTATION
#else
#define BENCH_CG_START() ((void)0)
#define BENCH_CG_STOP() ((void)0)
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bench {

[[noreturn]] void die(const std::string& msg);

/// Where the contenders connect.
struct Target {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};

/// REDIS_URL as a plain host:port (dies on anything else).
Target target_from_env();

/// SIGINT/SIGTERM/SIGHUP/SIGALRM stop the private server (by pid) and exit;
/// SIGPIPE is ignored.
void install_signal_handlers();

/// Harness servers (--cluster, --tls) that the signal handler must also
/// kill by pid; their owners (RedisServer) stop them on the normal path.
/// Up to 16 pids; unwatch_pid forgets one again.
void watch_pid(int pid);
void unwatch_pid(int pid);

/// A redis-server of our own: free loopback port (never 6379), temp dir, no
/// persistence. Stopped by pid in the destructor, by the signal handler, and
/// by the kernel (PR_SET_PDEATHSIG) should this process die some other way.
class PrivateServer {
 public:
  PrivateServer();
  ~PrivateServer() { stop(); }
  PrivateServer(const PrivateServer&) = delete;
  PrivateServer& operator=(const PrivateServer&) = delete;

  std::uint16_t port() const { return port_; }
  void stop() noexcept;

 private:
  bool spawn();
  std::string log_tail() const;
  void cleanup_dir() noexcept;

  std::string dir_, log_;
  std::uint16_t port_ = 0;
  int pid_ = -1;
};

/// A blocking TCP connection to `t` (numeric IPv4 host) with a 1 s receive
/// timeout, or -1.
int connect_blocking(const Target& t);

/// One command on a fresh blocking connection; the raw RESP reply (first
/// read, up to 4 KiB), or "" on failure.
std::string blocking_command(const Target& t, const std::vector<std::string>& argv);

/// Runs a command line with stdout captured; returns stdout and the exit status.
/// With `cpu_seconds_out`, also the child's user+sys CPU time (wait4's rusage).
std::pair<std::string, int> capture(const std::vector<std::string>& args, double* cpu_seconds_out = nullptr);

/// Resident set size of this process now, in bytes (/proc/self/statm).
std::size_t rss_bytes();

/// Heap bytes in use now (mallinfo2: arena + mmapped chunks).
std::size_t heap_bytes();

/// Process CPU time (user + sys) in seconds.
double cpu_seconds();

double median(std::vector<double> v);
std::string grouped(double x);           // 1234567.8 -> "1,234,568"
std::string fixed(double x, int prec);   // printf %.*f

}  // namespace bench
