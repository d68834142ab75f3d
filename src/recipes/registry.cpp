#include <uvredis/registry.hpp>

#include <memory>
#include <set>
#include <stdexcept>

namespace uvredis {

// ------------------------------------------------------------------ Registry

void Registry::register_redis(std::string_view address, int db, std::string_view code, ClientOptions base) {
  entries_.push_back(Entry{std::string(address), db, std::string(code), std::move(base)});
}

Result<std::unique_ptr<Engine>> Registry::validate(uv_loop_s* loop, int max_db) const {
  std::vector<std::string> problems;
  std::set<std::string, std::less<>> seen;
  std::vector<PoolConfig> configs;
  for (const Entry& e : entries_) {
    const std::string who = "pool '" + e.code + "'";
    if (e.code.empty()) problems.push_back("a pool has an empty code (address '" + Address::redact(e.address) + "')");
    else if (!seen.insert(e.code).second) problems.push_back(who + " is registered twice");
    if (e.db < 0 || e.db > max_db)
      problems.push_back(who + ": db " + std::to_string(e.db) + " is out of range 0.." + std::to_string(max_db));
    auto addr = Address::parse(e.address);
    if (!addr) {
      problems.push_back(who + ": " + addr.error().message);
      continue;
    }
    // A URL may carry its own db ("redis://h:6379/2"); it must not contradict.
    if (addr->db != 0 && e.db != 0 && addr->db != e.db)
      problems.push_back(who + ": the address selects db " + std::to_string(addr->db) + " but db " +
                         std::to_string(e.db) + " was registered");
    if (addr->tls && !tls_supported()) problems.push_back(who + ": rediss:// (TLS) is not supported by this build");
    PoolConfig pc;
    pc.code = e.code;
    pc.address = e.address;
    pc.db = e.db != 0 ? e.db : addr->db;
    pc.options = e.base;
    pc.options.address = std::move(*addr);
    pc.options.address.db = pc.db;
    configs.push_back(std::move(pc));
  }
  if (entries_.empty()) problems.push_back("no redis pool is registered");
  if (!problems.empty()) {
    std::string msg = "redis registry: " + std::to_string(problems.size()) + " problem(s)";
    for (const auto& p : problems) msg += "\n  - " + p;
    return Error{ErrorKind::usage, std::move(msg)};
  }
  std::unique_ptr<Engine> engine(new Engine());
  for (PoolConfig& pc : configs) {
    Engine::Pool p;
    p.client = std::make_unique<Client>(loop, pc.options);
    p.config = std::move(pc);
    std::string code = p.config.code;
    engine->pools_.emplace(std::move(code), std::move(p));
  }
  return engine;
}

// -------------------------------------------------------------------- Engine

Engine::~Engine() = default;

const Engine::Pool& Engine::pool(std::string_view code) const {
  auto it = pools_.find(code);
  if (it != pools_.end()) return it->second;
  std::string known;
  for (const auto& [c, p] : pools_) known += (known.empty() ? "" : ", ") + c;
  throw std::out_of_range("no redis pool registered as '" + std::string(code) + "' (known: " + known + ")");
}

Client& Engine::redis(std::string_view code) { return *pool(code).client; }

bool Engine::has(std::string_view code) const noexcept { return pools_.find(code) != pools_.end(); }

const PoolConfig& Engine::config(std::string_view code) const { return pool(code).config; }

std::vector<std::string> Engine::codes() const {
  std::vector<std::string> out;
  for (const auto& [c, p] : pools_) out.push_back(c);
  return out;
}

void Engine::close(Once<void()> done) {
  auto left = std::make_shared<std::size_t>(pools_.size());
  auto shared_done = std::make_shared<Once<void()>>(std::move(done));
  for (auto& [c, p] : pools_) {
    p.client->close([left, shared_done] {
      if (--*left == 0 && *shared_done) (*shared_done)();
    });
  }
}

}  // namespace uvredis
