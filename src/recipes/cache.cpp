#include <uvredis/cache.hpp>

#include "protocol/callbacks.hpp"

#include <algorithm>
#include <random>
#include <unordered_map>
#include <vector>

namespace uvredis {

struct Cache::State {
  Executor* ex;
  CacheOptions opts;
  // Keys with a GET or a load under way, and everyone waiting for them.
  std::unordered_map<std::string, std::vector<Callback<std::optional<std::string>>>> flights;
  std::uint64_t loads = 0;
  std::uint64_t hits = 0;
  std::minstd_rand rng{std::random_device{}()};

  std::string full_key(std::string_view key) const { return opts.prefix + std::string(key); }

  std::chrono::milliseconds jittered(std::chrono::milliseconds ttl) {
    const double j = std::clamp(opts.ttl_jitter, 0.0, 0.5);
    if (j == 0.0 || ttl.count() <= 0) return ttl;
    std::uniform_real_distribution<double> d(1.0 - j, 1.0 + j);
    return std::chrono::milliseconds(std::max<long long>(1, static_cast<long long>(static_cast<double>(ttl.count()) * d(rng))));
  }

  void land(const std::string& key, const Result<std::optional<std::string>>& r) {
    auto it = flights.find(key);
    if (it == flights.end()) return;
    auto waiters = std::move(it->second);
    flights.erase(it);
    for (auto& w : waiters) w(r);
  }

  void store(const std::string& key, char marker, std::string_view bytes, std::chrono::milliseconds ttl,
             Callback<Reply> cb) {
    std::string v;
    v.reserve(bytes.size() + 1);
    v += marker;
    v += bytes;
    const std::string px = std::to_string(jittered(ttl).count());
    const std::string fk = full_key(key);
    ex->command({"SET", fk, v, "PX", px}, std::move(cb));
  }
};

Cache::Cache(Executor& ex, CacheOptions options) : st_(std::make_shared<State>()) {
  st_->ex = &ex;
  st_->opts = std::move(options);
}

Cache::~Cache() = default;

std::uint64_t Cache::loads() const noexcept { return st_->loads; }
std::uint64_t Cache::hits() const noexcept { return st_->hits; }

void Cache::get_or_load(std::string_view key_view, std::chrono::milliseconds ttl, Loader loader,
                        Callback<std::optional<std::string>> cb) {
  std::string key(key_view);
  auto& waiters = st_->flights[key];
  waiters.push_back(std::move(cb));
  if (waiters.size() > 1) return;  // someone is already fetching this key
  if (ttl.count() <= 0) {
    st_->ex->post([st = st_, key] { st->land(key, Error{ErrorKind::usage, "cache TTL must be positive"}); });
    return;
  }
  auto st = st_;
  st->ex->get(st->full_key(key), [st, key, ttl, loader = std::move(loader)](Result<std::optional<std::string>> r) mutable {
    if (!r) return st->land(key, std::move(r).error());
    if (*r && !(*r)->empty()) {
      const std::string& v = **r;
      if (v[0] == 'v' || v[0] == 'n') {
        ++st->hits;
        if (v[0] == 'n') return st->land(key, std::optional<std::string>{});
        return st->land(key, std::optional<std::string>(v.substr(1)));
      }
      // Not written by a Cache: treat as a miss and overwrite it.
    }
    ++st->loads;
    detail::call_user(loader, key, [st, key, ttl](Result<std::optional<std::string>> loaded) {
      if (!loaded) return st->land(key, loaded);
      const bool found = loaded->has_value();
      if (found || st->opts.negative_ttl.count() > 0) {
        // Callers get the value at once; the write goes out meanwhile.
        st->store(key, found ? 'v' : 'n', found ? std::string_view(**loaded) : std::string_view(),
                  found ? ttl : st->opts.negative_ttl, [](Result<Reply>) {});
      }
      st->land(key, loaded);
    });
  });
}

void Cache::put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl, Callback<void> cb) {
  if (ttl.count() <= 0) {
    st_->ex->post([cb = std::move(cb)]() mutable {
      if (cb) cb(Error{ErrorKind::usage, "cache TTL must be positive"});
    });
    return;
  }
  st_->store(std::string(key), 'v', value, ttl, detail::ignore_value(std::move(cb)));
}

void Cache::invalidate(std::string_view key, Callback<void> cb) {
  const std::string fk = st_->full_key(key);
  st_->ex->command({"DEL", fk}, detail::ignore_value(std::move(cb)));
}

}  // namespace uvredis
