#include <uvredis/kv_store.hpp>
#include <uvredis/pipeline.hpp>

#include "protocol/callbacks.hpp"

#include <memory>
#include <unordered_set>

namespace uvredis::detail {

namespace {

// SCAN MATCH treats * ? [ ] and \ as glob syntax: escape them so a prefix
// matches only itself.
std::string glob_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 4);
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

KvCore::KvCore(Executor& ex, std::string prefix) : ex_(&ex), prefix_(std::move(prefix)) {}

Error KvCore::decode_error(std::string_view key, const Error& why) {
  return Error{ErrorKind::decode, "value of key '" + std::string(key) + "' does not decode: " + why.message};
}

void KvCore::set_bytes(std::string_view key, std::string bytes, std::chrono::milliseconds ttl, Callback<void> cb) {
  const std::string k = prefix_ + std::string(key);
  if (ttl.count() > 0) {
    const std::string px = std::to_string(ttl.count());
    ex_->command({"SET", k, bytes, "PX", px}, ignore_value(std::move(cb)));
  } else {
    ex_->command({"SET", k, bytes}, ignore_value(std::move(cb)));
  }
}

void KvCore::get_bytes(std::string_view key, Callback<std::optional<std::string>> cb) {
  ex_->get(prefix_ + std::string(key), std::move(cb));
}

void KvCore::remove(std::string_view key, Callback<bool> cb) {
  const std::string k = prefix_ + std::string(key);
  ex_->command({"DEL", k}, [cb = std::move(cb)](Result<Reply> r) mutable {
    if (!r) return cb(std::move(r).error());
    cb(r->integer() > 0);
  });
}

void KvCore::batch_set_bytes(std::vector<std::pair<std::string, std::string>> items, std::chrono::milliseconds ttl,
                             Callback<void> cb) {
  auto p = std::make_shared<Pipeline>(*ex_);
  std::vector<Handle<Reply>> hs;
  hs.reserve(items.size());
  const std::string px = std::to_string(ttl.count());
  for (const auto& [key, bytes] : items) {
    const std::string k = prefix_ + key;
    if (ttl.count() > 0)
      hs.push_back(p->command({"SET", k, bytes, "PX", px}));
    else
      hs.push_back(p->command({"SET", k, bytes}));
  }
  p->exec([p, hs = std::move(hs), cb = std::move(cb)](ExecSummary) mutable {
    if (!cb) return;
    for (auto& h : hs)
      if (!h.result()) return cb(h.result().error());  // the first failure stands for all
    cb(Result<void>());
  });
}

void KvCore::batch_get_bytes(std::vector<std::string> keys, Callback<std::vector<std::optional<std::string>>> cb) {
  auto p = std::make_shared<Pipeline>(*ex_);
  std::vector<Handle<std::optional<std::string>>> hs;
  hs.reserve(keys.size());
  for (const auto& key : keys) hs.push_back(p->get(prefix_ + key));
  p->exec([p, hs = std::move(hs), cb = std::move(cb)](ExecSummary) mutable {
    std::vector<std::optional<std::string>> out;
    out.reserve(hs.size());
    for (auto& h : hs) {
      const auto& r = h.result();
      if (!r) return cb(r.error());
      out.push_back(*r);
    }
    cb(std::move(out));
  });
}

void KvCore::batch_remove(std::vector<std::string> keys, Callback<std::size_t> cb) {
  auto p = std::make_shared<Pipeline>(*ex_);
  std::vector<Handle<Reply>> hs;
  hs.reserve(keys.size());
  for (const auto& key : keys) {
    const std::string k = prefix_ + key;
    hs.push_back(p->command({"DEL", k}));
  }
  p->exec([p, hs = std::move(hs), cb = std::move(cb)](ExecSummary) mutable {
    std::size_t removed = 0;
    for (auto& h : hs) {
      const auto& r = h.result();
      if (!r) return cb(r.error());
      removed += static_cast<std::size_t>(r->integer());
    }
    cb(removed);
  });
}

void KvCore::list(std::string_view prefix, Callback<std::vector<std::string>> cb) {
  struct Found {
    std::unordered_set<std::string> seen;  // SCAN may return a key twice
    std::vector<std::string> keys;
  };
  auto found = std::make_shared<Found>();
  ScanOptions so;
  so.match = glob_escape(prefix_) + glob_escape(prefix) + "*";
  so.count = 1000;
  // Executor::scan_all: one SCAN per reply, so the loop stays free; on a
  // ClusterClient it walks every master.
  ex_->scan_all(
      so,
      [found, strip = prefix_.size()](std::vector<std::string> batch) {
        for (auto& key : batch)
          if (found->seen.insert(key).second) found->keys.push_back(key.substr(strip));
        return true;
      },
      [found, cb = std::move(cb)](Result<void> r) mutable {
        if (!r) return cb(std::move(r).error());
        cb(std::move(found->keys));
      });
}

void KvCore::health(std::chrono::milliseconds deadline, Callback<void> cb) {
  ex_->command({"PING"}, ignore_value(std::move(cb)), CommandOptions{deadline});
}

}  // namespace uvredis::detail
