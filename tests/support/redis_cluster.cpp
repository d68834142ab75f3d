#include "redis_cluster.hpp"

#include "tls_certs.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace uvredis::test {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

// Runs a program to completion (stdout/stderr to `log`), killing it after
// `timeout`. Returns its exit status, or -1.
int run(const std::vector<std::string>& args, const std::string& log, std::chrono::milliseconds timeout) {
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

struct NodeLine {
  std::string id;
  std::uint16_t port = 0;
  bool master = false;
  bool failed = false;
  std::vector<std::pair<int, int>> slots;
};

std::vector<NodeLine> parse_nodes(const std::string& text) {
  std::vector<NodeLine> out;
  for (const std::string& line : split(text, '\n')) {
    auto f = split(line, ' ');
    if (f.size() < 8) continue;
    NodeLine n;
    n.id = f[0];
    auto colon = f[1].rfind(':');
    auto at = f[1].find('@');
    if (colon == std::string::npos) continue;
    n.port = static_cast<std::uint16_t>(std::stoi(f[1].substr(colon + 1, at - colon - 1)));
    n.master = f[2].find("master") != std::string::npos;
    n.failed = f[2].find("fail") != std::string::npos && f[2].find("fail?") == std::string::npos;
    for (std::size_t i = 8; i < f.size(); ++i) {
      if (f[i].empty() || f[i][0] == '[') continue;  // importing/migrating markers
      auto dash = f[i].find('-');
      if (dash == std::string::npos)
        n.slots.emplace_back(std::stoi(f[i]), std::stoi(f[i]));
      else
        n.slots.emplace_back(std::stoi(f[i].substr(0, dash)), std::stoi(f[i].substr(dash + 1)));
    }
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace

RedisCluster::RedisCluster(RedisClusterOptions options) : options_(options) {
  for (int i = 0; i < 6; ++i) {
    ServerOptions o;
    o.extra_args = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
                    // The bus would listen on port + 10000: with random free
                    // ports that may be taken, or beyond 65535. It gets its own.
                    "--cluster-port", std::to_string(free_port()),
                    // a replica syncs at once instead of after the default 5 s
                    "--repl-diskless-sync-delay", "0"};
    if (options_.tls) {
      const TlsCerts& c = tls_certs();
      // The cluster bus always asks for a client certificate (whatever
      // tls-auth-clients says), and a node presents its tls-cert-file there:
      // it needs clientAuth as well as serverAuth. Clients of the data port
      // need no certificate.
      o.tls = ServerTls{c.node_cert, c.node_key, c.ca_file, false};
      o.extra_args.insert(o.extra_args.end(), {"--tls-cluster", "yes", "--tls-replication", "yes"});
    }
    nodes_.push_back(std::make_unique<RedisServer>(o));
  }
  std::vector<std::string> args = {"redis-cli", "--cluster", "create"};
  for (const auto& s : seeds()) args.push_back(s);
  args.insert(args.end(), {"--cluster-replicas", "1", "--cluster-yes"});
  const std::string log = nodes_[0]->dir() + "/cluster-create.log";
  if (int rc = run(args, log, std::chrono::seconds(30)); rc != 0)
    throw std::runtime_error("redis-cli --cluster create failed (" + std::to_string(rc) + "), see " + log);
  if (!wait_ok(std::chrono::seconds(30))) throw std::runtime_error("cluster did not reach cluster_state:ok");
}

std::vector<std::string> RedisCluster::seeds() const {
  std::vector<std::string> v;
  for (const auto& n : nodes_) v.push_back("127.0.0.1:" + std::to_string(n->port()));
  return v;
}

std::vector<std::string> RedisCluster::tls_seeds() const {
  if (!options_.tls) throw std::runtime_error("tls_seeds(): not a TLS cluster");
  std::vector<std::string> v;
  for (const auto& n : nodes_) v.push_back(n->tls_url());
  return v;
}

RedisServer& RedisCluster::node(std::uint16_t port) {
  for (auto& n : nodes_)
    if (n->port() == port || (n->tls_port() != 0 && n->tls_port() == port)) return *n;
  throw std::runtime_error("no node on port " + std::to_string(port));
}

RedisServer* RedisCluster::any_live() {
  for (auto& n : nodes_)
    if (n->pid() > 0) return n.get();
  throw std::runtime_error("no live node");
}

std::vector<RedisServer*> RedisCluster::masters() {
  std::vector<RedisServer*> out;
  for (const NodeLine& n : parse_nodes(any_live()->cmd({"CLUSTER", "NODES"})))
    if (n.master && !n.failed && !n.slots.empty()) out.push_back(&node(n.port));
  return out;
}

RedisServer& RedisCluster::master_of(int slot) {
  for (const NodeLine& n : parse_nodes(any_live()->cmd({"CLUSTER", "NODES"}))) {
    if (!n.master || n.failed) continue;
    for (auto [a, b] : n.slots)
      if (slot >= a && slot <= b) return node(n.port);
  }
  throw std::runtime_error("no master serves slot " + std::to_string(slot));
}

std::string RedisCluster::id_of(RedisServer& s) { return s.cmd({"CLUSTER", "MYID"}); }

void RedisCluster::flush_all() {
  for (RedisServer* m : masters()) m->cmd({"FLUSHALL"});
}

bool RedisCluster::wait_ok(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    bool ok = true;
    try {
      std::string first_view;
      for (auto& n : nodes_) {
        if (n->pid() <= 0) continue;
        std::string info = n->cmd({"CLUSTER", "INFO"});
        if (info.find("cluster_state:ok") == std::string::npos) {
          ok = false;
          break;
        }
        // Every node agrees on who serves what, and every replica is in sync.
        std::string view;
        for (const NodeLine& l : parse_nodes(n->cmd({"CLUSTER", "NODES"})))
          if (l.master && !l.slots.empty() && !l.failed)
            view += std::to_string(l.port) + ":" + std::to_string(l.slots.front().first) + ";";
        std::vector<std::string> parts = split(view, ';');
        std::sort(parts.begin(), parts.end());
        std::string sorted;
        for (auto& p : parts) sorted += p + ";";
        if (first_view.empty())
          first_view = sorted;
        else if (sorted != first_view)
          ok = false;
        std::string repl = n->cmd({"INFO", "replication"});
        if (repl.find("role:slave") != std::string::npos && repl.find("master_link_status:up") == std::string::npos)
          ok = false;
        if (!ok) break;
      }
    } catch (const std::exception&) {
      ok = false;
    }
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void RedisCluster::move_slot(int slot, RedisServer& to, int batch, const std::function<void()>& between_batches) {
  RedisServer& from = master_of(slot);
  if (&from == &to) return;
  const std::string s = std::to_string(slot);
  const std::string from_id = id_of(from);
  const std::string to_id = id_of(to);
  auto check = [](const std::string& r, const char* what) {
    if (r.rfind("(error)", 0) == 0) throw std::runtime_error(std::string(what) + ": " + r);
  };
  check(to.cmd({"CLUSTER", "SETSLOT", s, "IMPORTING", from_id}), "SETSLOT IMPORTING");
  check(from.cmd({"CLUSTER", "SETSLOT", s, "MIGRATING", to_id}), "SETSLOT MIGRATING");
  for (;;) {
    std::vector<std::string> keys = split(from.cmd({"CLUSTER", "GETKEYSINSLOT", s, std::to_string(batch)}), '\n');
    if (keys.empty()) break;
    // With tls-cluster, MIGRATE connects over TLS: it needs the TLS port.
    const std::uint16_t port = options_.tls ? to.tls_port() : to.port();
    std::vector<std::string> argv = {"MIGRATE", "127.0.0.1", std::to_string(port), "", "0", "5000", "KEYS"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    check(from.cmd(argv), "MIGRATE");
    if (between_batches) between_batches();
  }
  // The new owner first, then the old one, then everybody else (the order
  // redis-cli uses, so no node ever thinks the slot is nobody's).
  check(to.cmd({"CLUSTER", "SETSLOT", s, "NODE", to_id}), "SETSLOT NODE (target)");
  check(from.cmd({"CLUSTER", "SETSLOT", s, "NODE", to_id}), "SETSLOT NODE (source)");
  for (RedisServer* m : masters())
    if (m != &to && m != &from) m->cmd({"CLUSTER", "SETSLOT", s, "NODE", to_id});
}

}  // namespace uvredis::test
