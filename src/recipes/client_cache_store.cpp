// The local store of a ClientCache: entries in LRU order, found by request
// key or by Redis key, bounded by entries and bytes, with a TTL each; and
// the bookkeeping of reads in flight that decides whether a reply may be
// stored when it arrives.
#include "recipes/client_cache_state.hpp"

#include <uv.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace uvredis {

namespace {

// Per entry, beyond its bytes: list node, two index slots, the Reply shell.
constexpr std::size_t kEntryOverhead = 100;

std::size_t reply_bytes(const Reply& r) {
  std::size_t n = r.str().size() + (r.is_array() ? sizeof(Reply) * r.size() : 0);
  for (const Reply& e : r.elements()) n += reply_bytes(e);
  return n;
}

}  // namespace

namespace detail {

// Appends "<len>:" to p.
static char* put_length(char* p, std::size_t n) {
  if (n < 10) {
    *p++ = static_cast<char>('0' + n);
  } else {
    p = std::to_chars(p, p + 20, n).ptr;
  }
  *p++ = ':';
  return p;
}

void cache_signature(std::string& s, std::span<const std::string_view> argv) {
  std::size_t total = 0;
  for (std::string_view a : argv) total += a.size() + 21;
  s.resize(total);
  char* const begin = s.data();
  char* p = begin;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    p = put_length(p, argv[i].size());
    if (i == 0) {
      for (char c : argv[0]) *p++ = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;  // ASCII names
    } else if (!argv[i].empty()) {
      std::memcpy(p, argv[i].data(), argv[i].size());
      p += argv[i].size();
    }
  }
  s.resize(static_cast<std::size_t>(p - begin));
}

std::string cache_signature(std::span<const std::string_view> argv) {
  std::string s;
  cache_signature(s, argv);
  return s;
}

}  // namespace detail

// Called before entries go (erase, drop_key, flush): no waiting hit may
// still view one afterwards. Cheap when every waiting hit is pinned already.
void ClientCache::State::pin_hits() {
  for (std::size_t i = out_pinned; i < hits_out.size(); ++i) hits_out[i].pin();
  out_pinned = hits_out.size();
  for (std::size_t i = run_pinned; i < hits_running.size(); ++i) hits_running[i].pin();
  run_pinned = hits_running.size();
}

// Takes the entry out of its request-key index.
void ClientCache::State::unindex(Iter it) {
  if (it->sig.empty())
    by_get.erase(it);
  else
    by_sig.erase(it->sig);
}

void ClientCache::State::erase(Iter it) {
  pin_hits();
  stats.bytes -= it->bytes;
  --stats.entries;
  unindex(it);
  auto k = by_key.find(it->key);
  if (k != by_key.end()) {
    auto& v = k->second;
    v.erase(std::remove(v.begin(), v.end(), it), v.end());
    if (v.empty()) by_key.erase(k);
  }
  lru.erase(it);
}

const Reply* ClientCache::State::lookup(std::string_view sig) {
  auto f = by_sig.find(sig);
  return f == by_sig.end() ? nullptr : serve(f->second);
}

void ClientCache::State::expire(Iter it) {
  ++stats.expirations;
  erase(it);
}

void ClientCache::State::store(std::string sig, std::string key, Reply value, std::uint64_t expires_ns) {
  const bool get = sig.empty();
  if (get) {
    if (const Iter* old = by_get.find(key)) erase(*old);
  } else {
    auto old = by_sig.find(sig);
    if (old != by_sig.end()) erase(old->second);
  }
  // The request key and the key are held twice (entry and index); a GET
  // entry has no request key, and its index holds no copy of the key.
  const std::size_t bytes = 2 * (sig.size() + key.size()) + reply_bytes(value) + kEntryOverhead;
  if (bytes > opts.max_bytes || opts.max_entries == 0) return;
  lru.push_front(Entry{std::move(sig), std::move(key), std::move(value), expires_ns, bytes});
  Iter it = lru.begin();
  if (get)
    by_get.insert(it);
  else
    by_sig.emplace(it->sig, it);
  by_key[it->key].push_back(it);
  stats.bytes += bytes;
  ++stats.entries;
  while (stats.entries > opts.max_entries || stats.bytes > opts.max_bytes) {
    ++stats.evictions;
    erase(std::prev(lru.end()));
  }
}

void ClientCache::State::drop_key(const std::string& key) {
  auto k = by_key.find(key);
  if (k == by_key.end()) return;
  pin_hits();
  std::vector<Iter> v = std::move(k->second);
  by_key.erase(k);
  for (Iter it : v) {
    stats.bytes -= it->bytes;
    --stats.entries;
    unindex(it);
    lru.erase(it);
  }
}

// Everything goes, and no read sent before this point may store its reply.
void ClientCache::State::flush(bool count) {
  ++epoch;
  if (count) ++stats.flushes;
  pin_hits();
  by_get.clear();
  by_sig.clear();
  lru.clear();
  by_key.clear();
  stats.entries = 0;
  stats.bytes = 0;
}

ClientCache::State::Ticket ClientCache::State::begin_read(const std::string& key) {
  InFlight& f = inflight[key];
  ++f.refs;
  return Ticket{epoch, f.invalidated};
}

// Ends a read; true when its reply may be stored: no flush, no
// invalidation of its key since it was sent, and the cache is ready.
bool ClientCache::State::end_read(const std::string& key, const Ticket& t) {
  auto it = inflight.find(key);
  bool clean = true;
  if (it != inflight.end()) {
    clean = it->second.invalidated == t.invalidated;
    if (--it->second.refs == 0) inflight.erase(it);
  }
  return clean && t.epoch == epoch && ready();
}

std::uint64_t ClientCache::State::deadline(std::uint64_t sent_ns, const Result<Reply>& pttl) const {
  std::uint64_t d = 0;
  // Measured from the send: the server read the TTL later, so this is early.
  if (pttl && pttl->is_integer() && pttl->integer() >= 0)
    d = sent_ns + static_cast<std::uint64_t>(pttl->integer()) * 1000000ull;
  if (opts.max_age.count() > 0) {
    const std::uint64_t cap = sent_ns + static_cast<std::uint64_t>(opts.max_age.count()) * 1000000ull;
    d = d == 0 ? cap : std::min(d, cap);
  }
  return d;
}

// Whether a reply read with this PTTL may be stored (PTTL -2: no such key).
bool ClientCache::State::storable(const Result<Reply>& pttl) const {
  if (!pttl) return false;
  return store_absent || !pttl->is_integer() || pttl->integer() != -2;
}

bool ClientCache::State::under_prefix(std::string_view key) const {
  for (const std::string& p : opts.prefixes)
    if (key.substr(0, p.size()) == p) return true;
  return false;
}

}  // namespace uvredis
