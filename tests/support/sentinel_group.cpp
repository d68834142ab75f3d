#include "sentinel_group.hpp"

#include <sstream>
#include <stdexcept>
#include <thread>

namespace uvredis::test {

namespace {

// Value of `field` in a flat field/value reply rendered one item per line.
std::string field_of(const std::string& rendered, const std::string& field) {
  std::istringstream in(rendered);
  std::string k, v;
  while (std::getline(in, k) && std::getline(in, v))
    if (k == field) return v;
  return {};
}

}  // namespace

SentinelGroup::SentinelGroup() {
  data_.push_back(std::make_unique<RedisServer>());
  const std::string mport = std::to_string(data_[0]->port());
  ServerOptions replica;
  replica.extra_args = {"--replicaof", "127.0.0.1", mport};
  data_.push_back(std::make_unique<RedisServer>(replica));
  for (int i = 0; i < 3; ++i) {
    ServerOptions s;
    s.sentinel = true;
    s.config_lines = {"protected-mode no",
                      std::string("sentinel monitor ") + kName + " 127.0.0.1 " + mport + " 2",
                      std::string("sentinel down-after-milliseconds ") + kName + " 1000",
                      std::string("sentinel failover-timeout ") + kName + " 5000"};
    sentinels_.push_back(std::make_unique<RedisServer>(s));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("sentinels did not discover each other and the replica: " + sentinels_[0]->log_tail());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool SentinelGroup::ready() {
  std::string info = data_[1]->cmd({"INFO", "replication"});
  if (info.find("master_link_status:up") == std::string::npos) return false;
  for (auto& s : sentinels_) {
    std::string m = s->cmd({"SENTINEL", "MASTER", kName});
    if (field_of(m, "num-slaves") != "1" || field_of(m, "num-other-sentinels") != "2") return false;
  }
  return true;
}

std::string SentinelGroup::url() const {
  std::string u = "redis+sentinel://";
  for (std::size_t i = 0; i < sentinels_.size(); ++i) {
    if (i) u += ",";
    u += "127.0.0.1:" + std::to_string(sentinels_[i]->port());
  }
  return u + "/" + kName;
}

std::uint16_t SentinelGroup::master_port() {
  for (auto& s : sentinels_) {
    if (s->pid() <= 0) continue;
    try {
      std::string r = s->cmd({"SENTINEL", "get-master-addr-by-name", kName});
      auto nl = r.find('\n');
      if (nl != std::string::npos) return static_cast<std::uint16_t>(std::stoi(r.substr(nl + 1)));
    } catch (const std::exception&) {
    }
  }
  return 0;
}

RedisServer* SentinelGroup::node(std::uint16_t port) {
  for (auto& d : data_)
    if (d->port() == port) return d.get();
  return nullptr;
}

std::uint16_t SentinelGroup::wait_master_change(std::uint16_t old_port, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::uint16_t p = master_port();
    if (p != 0 && p != old_port) return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

bool SentinelGroup::wait_settled(std::uint16_t port, std::chrono::milliseconds limit) {
  RedisServer* m = node(port);
  if (!m) return false;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      std::string info = m->cmd({"INFO", "replication"});
      if (info.find("role:master") != std::string::npos && info.find("state=online") != std::string::npos)
        return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace uvredis::test
