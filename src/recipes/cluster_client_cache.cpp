#include <uvredis/cluster_client_cache.hpp>

#include "protocol/cluster_keys.hpp"
#include "protocol/encode.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace uvredis {

struct ClusterClientCache::State : std::enable_shared_from_this<State> {
  uv_loop_s* loop = nullptr;
  ClusterOptions opts;
  ClientCacheOptions cache_opts;
  ClusterClient* cluster = nullptr;  // owned by the ClusterClientCache
  std::map<std::string, std::unique_ptr<ClientCache>> caches;  // by master "host:port"
  std::vector<std::unique_ptr<ClientCache>> retiring;          // closing; destroyed on a later turn
  std::function<void(const std::vector<std::string>*)> on_inv;
  bool closed = false;

  // The cache of `node`, made on first use (it is not ready yet then).
  ClientCache* cache_for(const std::string& node) {
    auto it = caches.find(node);
    if (it != caches.end()) return it->second.get();
    retire_departed();
    ClientOptions o = opts.client;
    auto addr = Address::parse(node);
    if (!addr) return nullptr;
    o.address.host = addr->host;
    o.address.port = addr->port;
    auto c = std::make_unique<ClientCache>(loop, std::move(o), cache_opts);
    c->on_invalidation([w = weak_from_this()](const std::vector<std::string>* keys) {
      auto st = w.lock();
      if (!st || !st->on_inv) return;
      auto fn = st->on_inv;
      detail::call_user(fn, keys);
    });
    ClientCache* raw = c.get();
    caches.emplace(node, std::move(c));
    return raw;
  }

  // Caches of nodes that are no longer masters are closed: nothing routes
  // there any more, and their links would retry a dead node forever.
  void retire_departed() {
    const std::vector<std::string> masters = cluster->masters();
    for (auto it = caches.begin(); it != caches.end();) {
      if (std::find(masters.begin(), masters.end(), it->first) != masters.end()) {
        ++it;
        continue;
      }
      ClientCache* c = it->second.get();
      retiring.push_back(std::move(it->second));
      it = caches.erase(it);
      c->close([w = weak_from_this(), c] {
        auto st = w.lock();
        if (!st) return;
        // Not inside its own close chain: destroyed on a later turn.
        st->cluster->post([w, c] {
          auto s2 = w.lock();
          if (!s2) return;
          auto& r = s2->retiring;
          r.erase(std::remove_if(r.begin(), r.end(), [c](const auto& p) { return p.get() == c; }), r.end());
        });
      });
    }
  }

  // Drops the local entries of a command's keys on the masters that own them.
  void forget(std::span<const std::string_view> argv) {
    if (caches.empty() || argv.empty()) return;
    if (detail::iequals(argv[0], "FLUSHALL") || detail::iequals(argv[0], "FLUSHDB")) {
      for (auto& [name, c] : caches) c->clear();
      return;
    }
    // Every cache: the key's owner may be about to change.
    for (auto& [name, c] : caches) c->forget(argv);
  }
};

ClusterClientCache::ClusterClientCache(uv_loop_s* loop, ClusterOptions options, ClientCacheOptions cache)
    : st_(std::make_shared<State>()) {
  st_->loop = loop;
  st_->opts = options;
  st_->cache_opts = std::move(cache);
  cluster_ = std::make_unique<ClusterClient>(loop, std::move(options));
  st_->cluster = cluster_.get();
}

ClusterClientCache::~ClusterClientCache() {
  st_->closed = true;
  st_->on_inv = nullptr;
  st_->caches.clear();
  st_->retiring.clear();
  cluster_.reset();
}

ClusterClient& ClusterClientCache::cluster() noexcept { return *cluster_; }

void ClusterClientCache::command(std::span<const std::string_view> argv, Callback<Reply> cb) {
  st_->forget(argv);
  cluster_->command(argv, std::move(cb));
}

void ClusterClientCache::route(std::span<const std::string_view> argv, Callback<Reply> cb) {
  State& st = *st_;
  if (st.closed || argv.size() < 2) return cluster_->command(argv, std::move(cb));
  // Any ClientCache classifies a command the same way; make one if need be.
  std::optional<std::string> node = cluster_->node_for_key(argv[1]);
  ClientCache* c = node ? st.cache_for(*node) : nullptr;
  const int path = c ? c->cache_path(argv) : 0;
  if (path == 0) {
    st.forget(argv);
    return cluster_->command(argv, std::move(cb));
  }
  if (path == 2)
    for (std::size_t i = 2; i < argv.size(); ++i)
      if (cluster_->node_for_key(argv[i]) != node) return cluster_->command(argv, std::move(cb));
  if (!c->ready()) return cluster_->command(argv, std::move(cb));
  std::vector<std::string> copy(argv.begin(), argv.end());
  c->route(argv, [w = std::weak_ptr<State>(st_), node = *node, copy = std::move(copy),
                  cb = std::move(cb)](Result<Reply> r) mutable {
    auto s = w.lock();
    const bool moved = !r && r.error().kind == ErrorKind::server &&
                       (r.error().message.rfind("MOVED", 0) == 0 || r.error().message.rfind("ASK", 0) == 0);
    if (!moved || !s || s->closed) return cb(std::move(r));
    // The slot left this master: its entries may describe keys it no
    // longer owns. Empty its cache, learn the new map, ask the cluster.
    auto it = s->caches.find(node);
    if (it != s->caches.end()) it->second->clear();
    s->cluster->refresh();
    std::vector<std::string_view> argv2(copy.begin(), copy.end());
    s->cluster->command(argv2, std::move(cb));
  });
}

ClientCacheStats ClusterClientCache::stats() const noexcept {
  ClientCacheStats sum;
  for (const auto& [name, c] : st_->caches) {
    const ClientCacheStats s = c->stats();
    sum.hits += s.hits;
    sum.misses += s.misses;
    sum.invalidations += s.invalidations;
    sum.evictions += s.evictions;
    sum.expirations += s.expirations;
    sum.flushes += s.flushes;
    sum.discarded += s.discarded;
    sum.entries += s.entries;
    sum.bytes += s.bytes;
  }
  return sum;
}

std::size_t ClusterClientCache::ready_masters() const noexcept {
  std::size_t n = 0;
  for (const auto& [name, c] : st_->caches) n += c->ready() ? 1 : 0;
  return n;
}

void ClusterClientCache::on_invalidation(Listener<void(const std::vector<std::string>*)> fn) {
  st_->on_inv = std::move(fn);
}

void ClusterClientCache::close(Once<void()> done) {
  State& st = *st_;
  st.closed = true;
  struct Countdown {
    std::size_t left;
    Once<void()> done;
  };
  auto cd = std::make_shared<Countdown>(Countdown{1 + st.caches.size() + st.retiring.size(), std::move(done)});
  auto one = [cd] {
    if (--cd->left == 0 && cd->done) {
      auto d = std::move(cd->done);
      d();
    }
  };
  for (auto& [name, c] : st.caches) c->close(one);
  for (auto& c : st.retiring) c->close(one);
  cluster_->close(one);
}

}  // namespace uvredis
