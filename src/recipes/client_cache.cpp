#include <uvredis/client_cache.hpp>

#include "client/client_impl.hpp"
#include "protocol/cluster_keys.hpp"
#include "link/connection.hpp"
#include "protocol/encode.hpp"
#include "base/logging.hpp"
#include "link/sentinel.hpp"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <algorithm>
#include <cctype>
#include <list>
#include <optional>
#include <unordered_map>

namespace uvredis {

namespace {

constexpr std::string_view kChannel = "__redis__:invalidate";
// Per entry, beyond its bytes: list node, two index slots, the Reply shell.
constexpr std::size_t kEntryOverhead = 100;

std::size_t reply_bytes(const Reply& r) {
  std::size_t n = r.str().size() + (r.is_array() ? sizeof(Reply) * r.size() : 0);
  for (const Reply& e : r.elements()) n += reply_bytes(e);
  return n;
}

// Binary-safe request key: the command name upper-cased, every argument
// length-prefixed, so no two different requests share one.
std::string signature(std::span<const std::string_view> argv) {
  std::size_t total = 0;
  for (std::string_view a : argv) total += a.size() + 8;
  std::string s;
  s.reserve(total);
  for (std::size_t i = 0; i < argv.size(); ++i) {
    s += std::to_string(argv[i].size());
    s += ':';
    if (i == 0)
      for (char c : argv[0]) s += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;  // ASCII names
    else
      s.append(argv[i]);
  }
  return s;
}

std::string get_signature(std::string_view key) {
  const std::string_view argv[] = {"GET", key};
  return signature(argv);
}

}  // namespace

struct ClientCache::State : std::enable_shared_from_this<State> {
  struct Entry {
    std::string sig;
    std::string key;
    Reply value;
    std::uint64_t expires_ns = 0;  // 0: only an invalidation ends it
    std::size_t bytes = 0;
  };
  using Iter = std::list<Entry>::iterator;

  // What a read captured when it was sent; its reply is stored only when
  // nothing that could make it stale happened since (see fresh()).
  struct Ticket {
    std::uint64_t epoch = 0;
    std::uint64_t invalidated = 0;
  };
  struct InFlight {
    std::size_t refs = 0;
    std::uint64_t invalidated = 0;  // invalidations of the key seen while reads were in flight
  };

  uv_loop_t* loop = nullptr;
  ClientCacheOptions opts;
  std::shared_ptr<spdlog::logger> log;
  Client* client = nullptr;  // owned by the ClientCache; null once it is gone
  detail::Connection* inv = nullptr;
  std::shared_ptr<detail::SentinelResolver> sentinel;
  std::optional<Error> config_error;
  std::vector<std::string> extra_cmds;  // upper-case

  bool data_up = false;
  bool sub_ready = false;          // the invalidation link is connected and subscribed
  long long inv_id = 0;            // the invalidation link's client id (0: not connected)
  long long pending_inv_id = 0;    // from its handshake, taken once it reports connected
  long long tracking_for = 0;      // the id the data link's tracking is known to redirect to
  // The server accepted CLIENT TRACKING once: only then does it go into the
  // data link's handshake, where a refusal (an ACL without CLIENT, Redis
  // before 6) would fail every connect instead of only disabling the cache.
  bool tracking_accepted = false;
  std::uint64_t epoch = 1;         // bumped by every flush
  bool closed = false;

  std::list<Entry> lru;  // front: most recently used
  std::unordered_map<std::string, Iter> by_sig;
  std::unordered_map<std::string, std::vector<Iter>> by_key;
  std::unordered_map<std::string, InFlight> inflight;
  ClientCacheStats stats;
  std::function<void(const std::vector<std::string>*)> on_inv;

  bool ready() const noexcept { return !closed && data_up && sub_ready && inv_id != 0 && tracking_for == inv_id; }

  std::function<void(bool)> on_ready;
  bool reported_ready = false;
  bool report_posted = false;
  // Tells the listener when ready() flipped, on a later turn: it may destroy
  // the cache, which must not happen inside a connection's state listener.
  void report_ready() {
    if (report_posted || !client || ready() == reported_ready) return;
    report_posted = true;
    client->post([w = weak_from_this()] {
      auto st = w.lock();
      if (!st) return;
      st->report_posted = false;
      const bool now = st->ready();
      if (now == st->reported_ready) return;
      st->reported_ready = now;
      if (!st->on_ready) return;
      auto fn = st->on_ready;
      detail::call_user(fn, now);
    });
  }

  std::vector<std::string> tracking_argv(long long id) const {
    std::vector<std::string> v{"CLIENT", "TRACKING", "ON", "REDIRECT", std::to_string(id)};
    if (opts.mode == TrackingMode::broadcast) {
      v.emplace_back("BCAST");
      for (const std::string& p : opts.prefixes) {
        v.emplace_back("PREFIX");
        v.push_back(p);
      }
    } else if (opts.mode == TrackingMode::optin) {
      v.emplace_back("OPTIN");
    }
    return v;
  }

  // --- entries

  void erase(Iter it) {
    stats.bytes -= it->bytes;
    --stats.entries;
    by_sig.erase(it->sig);
    auto k = by_key.find(it->key);
    if (k != by_key.end()) {
      auto& v = k->second;
      v.erase(std::remove(v.begin(), v.end(), it), v.end());
      if (v.empty()) by_key.erase(k);
    }
    lru.erase(it);
  }

  const Reply* lookup(const std::string& sig) {
    auto f = by_sig.find(sig);
    if (f == by_sig.end()) return nullptr;
    Iter it = f->second;
    if (it->expires_ns != 0 && uv_hrtime() >= it->expires_ns) {
      ++stats.expirations;
      erase(it);
      return nullptr;
    }
    lru.splice(lru.begin(), lru, it);
    return &it->value;
  }

  void store(std::string sig, std::string key, Reply value, std::uint64_t expires_ns) {
    auto old = by_sig.find(sig);
    if (old != by_sig.end()) erase(old->second);
    // The request key and the key are held twice (entry and index).
    const std::size_t bytes = 2 * (sig.size() + key.size()) + reply_bytes(value) + kEntryOverhead;
    if (bytes > opts.max_bytes || opts.max_entries == 0) return;
    lru.push_front(Entry{std::move(sig), std::move(key), std::move(value), expires_ns, bytes});
    Iter it = lru.begin();
    by_sig.emplace(it->sig, it);
    by_key[it->key].push_back(it);
    stats.bytes += bytes;
    ++stats.entries;
    while (stats.entries > opts.max_entries || stats.bytes > opts.max_bytes) {
      ++stats.evictions;
      erase(std::prev(lru.end()));
    }
  }

  void drop_key(const std::string& key) {
    auto k = by_key.find(key);
    if (k == by_key.end()) return;
    std::vector<Iter> v = std::move(k->second);
    by_key.erase(k);
    for (Iter it : v) {
      stats.bytes -= it->bytes;
      --stats.entries;
      by_sig.erase(it->sig);
      lru.erase(it);
    }
  }

  // Everything goes, and no read sent before this point may store its reply.
  void flush(bool count = true) {
    ++epoch;
    if (count) ++stats.flushes;
    lru.clear();
    by_sig.clear();
    by_key.clear();
    stats.entries = 0;
    stats.bytes = 0;
  }

  // --- reads in flight

  Ticket begin_read(const std::string& key) {
    InFlight& f = inflight[key];
    ++f.refs;
    return Ticket{epoch, f.invalidated};
  }
  // Ends a read; true when its reply may be stored: no flush, no
  // invalidation of its key since it was sent, and the cache is ready.
  bool end_read(const std::string& key, const Ticket& t) {
    auto it = inflight.find(key);
    bool clean = true;
    if (it != inflight.end()) {
      clean = it->second.invalidated == t.invalidated;
      if (--it->second.refs == 0) inflight.erase(it);
    }
    return clean && t.epoch == epoch && ready();
  }

  std::uint64_t deadline(std::uint64_t sent_ns, const Result<Reply>& pttl) const {
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

  bool tracked_key(std::string_view key) const {
    if (opts.mode != TrackingMode::broadcast || opts.prefixes.empty()) return true;
    for (const std::string& p : opts.prefixes)
      if (key.substr(0, p.size()) == p) return true;
    return false;
  }

  // --- links

  void enable_tracking() {
    if (closed || !data_up || !sub_ready || inv_id == 0 || tracking_for == inv_id || !client) return;
    flush(false);  // nothing read under an earlier redirect may be stored
    const long long id = inv_id;
    // OFF first: a link already tracking (the invalidation link came back
    // with a new id) may not take BCAST prefixes it already has.
    std::vector<std::vector<std::string>> cmds{{"CLIENT", "TRACKING", "OFF"}, tracking_argv(id)};
    client->command_group(cmds, [w = weak_from_this(), id](std::vector<Result<Reply>> rs) {
      auto st = w.lock();
      if (!st) return;
      if (rs.size() == 2 && rs[1]) {
        st->tracking_accepted = true;
        if (st->inv_id == id && st->data_up) st->tracking_for = id;
        st->report_ready();
      } else if (!st->closed) {
        const Error& e = rs.size() == 2 ? rs[1].error() : rs[0].error();
        st->log->warn("[cache] CLIENT TRACKING failed: {}", e.message);
      }
    });
  }

  void on_data_state(ConnectionState s) {
    if (s == ConnectionState::connected) {
      data_up = true;
      enable_tracking();
    } else {
      if (data_up) flush();
      data_up = false;
      tracking_for = 0;
    }
    report_ready();
  }

  void on_inv_state(ConnectionState s) {
    if (s != ConnectionState::connected) {
      if (inv_id != 0 || sub_ready) flush();
      inv_id = 0;
      sub_ready = false;
      report_ready();
      return;
    }
    inv_id = pending_inv_id;
    sub_ready = false;
    const std::string_view argv[] = {"SUBSCRIBE", kChannel};
    inv->send_subscription(argv, [w = weak_from_this(), id = inv_id](Result<Reply> r) {
      auto st = w.lock();
      if (!st || st->closed || st->inv_id != id) return;
      if (!r) {
        st->log->warn("[cache] SUBSCRIBE {} failed: {}", kChannel, r.error().message);
        return;
      }
      st->sub_ready = true;
      st->enable_tracking();
      st->report_ready();
    });
  }

  void on_push(Reply&& r) {
    if (closed || !r.is_array() || r.size() < 3 || r[0].str() != "message" || r[1].str() != kChannel) return;
    Reply& payload = r.elements()[2];
    auto self = shared_from_this();  // the listener may destroy the cache
    if (payload.is_nil()) {
      flush();
      if (on_inv) {
        auto fn = on_inv;
        detail::call_user(fn, nullptr);
      }
      return;
    }
    std::vector<std::string> keys;
    if (payload.is_array()) {
      for (Reply& e : payload.elements()) keys.push_back(e.take_str());
    } else {
      keys.push_back(payload.take_str());
    }
    for (const std::string& k : keys) {
      ++stats.invalidations;
      drop_key(k);
      auto f = inflight.find(k);
      if (f != inflight.end()) ++f->second.invalidated;
    }
    if (on_inv) {
      auto fn = on_inv;
      detail::call_user(fn, &keys);
    }
  }

  // A command sent through the cache that is not a cached read may write
  // its keys: their entries go at once and reads of them in flight are not
  // stored, so a read issued after it sees it (read-your-writes through the
  // cache, before the server's invalidation arrives).
  void passing(std::span<const std::string_view> argv) {
    if (argv.empty() || stats.entries + inflight.size() == 0) return;
    if (detail::iequals(argv[0], "FLUSHALL") || detail::iequals(argv[0], "FLUSHDB")) {
      flush();
      return;
    }
    detail::command_keys(argv).for_each([&](std::size_t i) {
      if (i >= argv.size()) return;
      std::string key(argv[i]);
      drop_key(key);
      auto f = inflight.find(key);
      if (f != inflight.end()) ++f->second.invalidated;
    });
  }

  // --- cached reads

  // Hits of one loop turn are answered together on the next turn: one
  // posted function per batch, not per hit (the hot path of a hot key).
  struct Hit {
    Callback<Reply> cb;
    Reply value;
  };
  std::vector<Hit> hits_out;
  bool hits_posted = false;

  void deliver_later(Callback<Reply> cb, Reply r) {
    hits_out.push_back(Hit{std::move(cb), std::move(r)});
    if (hits_posted) return;
    hits_posted = true;
    // Runs even when the cache is destroyed meanwhile (the state stays).
    client->post([self = shared_from_this()] { self->drain_hits(); });
  }

  void drain_hits() {
    hits_posted = false;
    std::vector<Hit> batch;
    batch.swap(hits_out);
    // A callback may read again (a new batch) or destroy the cache.
    auto self = shared_from_this();
    for (Hit& h : batch) h.cb(std::move(h.value));
    batch.clear();
    if (hits_out.empty()) hits_out.swap(batch);  // keep the capacity
  }

  // One cached request on `key`: from memory when ready, else from the
  // server with the key's PTTL in the same round trip.
  void single(std::span<const std::string_view> argv, std::string_view key_view, Callback<Reply> cb) {
    std::string sig = signature(argv);
    if (ready()) {
      if (const Reply* hit = lookup(sig)) {
        ++stats.hits;
        deliver_later(std::move(cb), Reply(*hit));
        return;
      }
    }
    ++stats.misses;
    std::string key(key_view);
    std::vector<std::vector<std::string>> cmds;
    cmds.reserve(3);
    if (opts.mode == TrackingMode::optin) cmds.push_back({"CLIENT", "CACHING", "YES"});
    cmds.emplace_back(argv.begin(), argv.end());
    cmds.push_back({"PTTL", key});
    const Ticket t = begin_read(key);
    const std::uint64_t sent = uv_hrtime();
    client->command_group(cmds, [self = shared_from_this(), sig = std::move(sig), key = std::move(key), t, sent,
                                 cb = std::move(cb)](std::vector<Result<Reply>> rs) mutable {
      const std::size_t at = rs.size() - 2;
      const bool fresh = self->end_read(key, t);
      const bool caching_ok = at == 0 || rs[0];
      if (fresh && caching_ok && rs[at] && rs[at + 1]) {
        self->store(std::move(sig), std::move(key), *rs[at], self->deadline(sent, rs[at + 1]));
      } else if (!fresh && rs[at]) {
        ++self->stats.discarded;
      }
      cb(std::move(rs[at]));
    });
  }

  // MGET: each key is cached as its own GET, so MGET and GET share entries;
  // only the keys missing from memory go to the server.
  void mget(std::span<const std::string_view> argv, Callback<Reply> cb) {
    const std::size_t n = argv.size() - 1;
    std::vector<Reply> out(n);
    std::vector<std::size_t> missing;
    const bool serve = ready();
    for (std::size_t i = 0; i < n; ++i) {
      const Reply* hit = serve ? lookup(get_signature(argv[i + 1])) : nullptr;
      if (hit)
        out[i] = *hit;
      else
        missing.push_back(i);
    }
    stats.hits += n - missing.size();
    stats.misses += missing.size();
    if (missing.empty()) {
      deliver_later(std::move(cb), Reply::array(std::move(out)));
      return;
    }
    std::vector<std::vector<std::string>> cmds;
    if (opts.mode == TrackingMode::optin) cmds.push_back({"CLIENT", "CACHING", "YES"});
    std::vector<std::string> m{"MGET"};
    for (std::size_t i : missing) m.emplace_back(argv[i + 1]);
    cmds.push_back(std::move(m));
    std::vector<Ticket> tickets;
    std::vector<std::string> keys;
    for (std::size_t i : missing) {
      keys.emplace_back(argv[i + 1]);
      cmds.push_back({"PTTL", keys.back()});
      tickets.push_back(begin_read(keys.back()));
    }
    const std::uint64_t sent = uv_hrtime();
    const std::size_t at = cmds.size() - 1 - missing.size();
    client->command_group(cmds, [self = shared_from_this(), out = std::move(out), missing = std::move(missing),
                                 keys = std::move(keys), tickets = std::move(tickets), sent, at,
                                 cb = std::move(cb)](std::vector<Result<Reply>> rs) mutable {
      Result<Reply>& got = rs[at];
      const bool caching_ok = at == 0 || rs[0];
      const bool shaped = got && got->is_array() && got->size() == missing.size();
      for (std::size_t j = 0; j < missing.size(); ++j) {
        const bool fresh = self->end_read(keys[j], tickets[j]);
        if (!shaped) continue;
        Reply& v = got->elements()[j];
        if (fresh && caching_ok && rs[at + 1 + j])
          self->store(get_signature(keys[j]), keys[j], v, self->deadline(sent, rs[at + 1 + j]));
        else if (!fresh)
          ++self->stats.discarded;
        out[missing[j]] = std::move(v);
      }
      if (!got) {
        cb(std::move(got));
        return;
      }
      if (!shaped) {
        cb(Error{ErrorKind::protocol, "MGET answered with an unexpected reply"});
        return;
      }
      cb(Reply::array(std::move(out)));
    });
  }

  // Which cached path a command takes: 0 none, 1 single key, 2 MGET.
  int cache_path(std::span<const std::string_view> argv) const {
    if (argv.size() < 2) return 0;
    const std::string_view name = argv[0];
    using detail::iequals;
    if (iequals(name, "MGET")) {
      for (std::size_t i = 1; i < argv.size(); ++i)
        if (!tracked_key(argv[i])) return 0;
      return 2;
    }
    if (!tracked_key(argv[1])) return 0;
    if (iequals(name, "EXISTS")) return argv.size() == 2 ? 1 : 0;  // one key only: the entry belongs to it
    if (iequals(name, "GET") || iequals(name, "STRLEN") || iequals(name, "HGETALL")) return argv.size() == 2 ? 1 : 0;
    if (iequals(name, "HGET")) return argv.size() == 3 ? 1 : 0;
    if (iequals(name, "HMGET")) return argv.size() >= 3 ? 1 : 0;
    for (const std::string& c : extra_cmds)
      if (iequals(name, c)) return 1;
    return 0;
  }
};

ClientCache::ClientCache(uv_loop_s* loop, ClientOptions options, ClientCacheOptions cache)
    : st_(std::make_shared<State>()) {
  State& st = *st_;
  st.loop = loop;
  st.opts = std::move(cache);
  st.log = detail::logger_or_silent(options.logger);
  if (st.opts.mode != TrackingMode::broadcast && !st.opts.prefixes.empty())
    st.config_error = Error{ErrorKind::usage, "client cache: prefixes need TrackingMode::broadcast"};
  for (const std::string& c : st.opts.cached_commands) {
    std::string u;
    for (char ch : c) u += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    st.extra_cmds.push_back(std::move(u));
  }
  std::weak_ptr<State> w = st_;

  // The invalidation link: a push-mode connection (like a Subscriber's)
  // whose handshake asks CLIENT ID, so the id is exactly this link's.
  detail::ConnectionConfig c{options};
  c.options.cluster_readonly = false;
  c.tls = detail::make_tls_context(options);
  c.push_mode = true;
  c.name = "invalidate";
  if (options.sentinel.enabled()) {
    st.sentinel = std::make_shared<detail::SentinelResolver>(loop, options.sentinel, st.log);
    c.address_source = st.sentinel;
  }
  c.extra_handshake = [w] {
    detail::HandshakeStep step;
    step.argv = {"CLIENT", "ID"};
    step.check = [w](const Reply& r) -> std::string {
      if (!r.is_integer() || r.integer() <= 0) return "CLIENT ID gave no id";
      if (auto s = w.lock()) s->pending_inv_id = r.integer();
      return {};
    };
    return std::vector<detail::HandshakeStep>{std::move(step)};
  };
  st.inv = new detail::Connection(loop, std::move(c));
  st.inv->set_state_listener([w](ConnectionState s, const Error*) {
    if (auto p = w.lock()) p->on_inv_state(s);
  });
  st.inv->set_push_listener([w](Reply&& r) {
    if (auto p = w.lock()) p->on_push(std::move(r));
  });

  // The data link: tracking in every handshake, redirected to the
  // invalidation link's current id when it is subscribed; otherwise it goes
  // out as a command once it is (enable_tracking).
  client_ = std::make_unique<Client>(loop, std::move(options));
  st.client = client_.get();
  detail::ClientImpl* impl = client_->impl_.get();
  impl->set_main_handshake([w] {
    std::vector<detail::HandshakeStep> steps;
    auto p = w.lock();
    if (!p || p->closed) return steps;
    p->tracking_for = 0;
    if (!p->tracking_accepted || !p->sub_ready || p->inv_id == 0) return steps;
    const long long id = p->inv_id;
    detail::HandshakeStep step;
    step.argv = p->tracking_argv(id);
    step.check = [w, id](const Reply&) -> std::string {
      if (auto q = w.lock()) q->tracking_for = id;
      return {};
    };
    steps.push_back(std::move(step));
    return steps;
  });
  impl->set_internal_state_listener([w](ConnectionState s, const Error*) {
    if (auto p = w.lock()) p->on_data_state(s);
  });
  st.inv->start();
}

ClientCache::~ClientCache() {
  st_->closed = true;
  st_->flush(false);
  st_->on_inv = nullptr;
  st_->on_ready = nullptr;
  // Pending reads fail with `closed` on a later turn; their callbacks hold
  // the state, never this object.
  st_->client = nullptr;
  client_.reset();
  st_->inv->destroy();
  st_->inv = nullptr;
  if (st_->sentinel) st_->sentinel->shutdown({});
}

Client& ClientCache::client() noexcept { return *client_; }

void ClientCache::command(std::span<const std::string_view> argv, Callback<Reply> cb) {
  st_->passing(argv);
  client_->command(argv, std::move(cb));
}

void ClientCache::cached(std::span<const std::string_view> argv, Callback<Reply> cb) {
  if (st_->config_error) return fail_reply(std::move(cb), *st_->config_error);
  if (argv.size() < 2) return fail_reply(std::move(cb), Error{ErrorKind::usage, "cached() needs a command and a key"});
  if (st_->closed) return fail_reply(std::move(cb), Error{ErrorKind::closed, "client cache is closed"});
  if (!st_->tracked_key(argv[1])) return client_->command(argv, std::move(cb));
  st_->single(argv, argv[1], std::move(cb));
}

void ClientCache::route(std::span<const std::string_view> argv, Callback<Reply> cb) {
  const int path = st_->cache_path(argv);
  if (path == 0) {
    st_->passing(argv);
    return client_->command(argv, std::move(cb));
  }
  if (st_->config_error) return fail_reply(std::move(cb), *st_->config_error);
  if (st_->closed) return fail_reply(std::move(cb), Error{ErrorKind::closed, "client cache is closed"});
  if (path == 2)
    st_->mget(argv, std::move(cb));
  else
    st_->single(argv, argv[1], std::move(cb));
}

int ClientCache::cache_path(std::span<const std::string_view> argv) const {
  return st_->config_error ? 0 : st_->cache_path(argv);
}

void ClientCache::forget(std::span<const std::string_view> argv) { st_->passing(argv); }

void ClientCache::fail_reply(Callback<Reply> cb, Error err) { client_->fail_later(std::move(cb), std::move(err)); }

bool ClientCache::ready() const noexcept { return st_->ready(); }

void ClientCache::clear() { st_->flush(); }

ClientCacheStats ClientCache::stats() const noexcept { return st_->stats; }

void ClientCache::on_invalidation(Listener<void(const std::vector<std::string>*)> fn) {
  st_->on_inv = std::move(fn);
}

void ClientCache::on_ready_change(Listener<void(bool)> fn) { st_->on_ready = std::move(fn); }

void ClientCache::close(Once<void()> done) {
  State& st = *st_;
  const bool first = !st.closed;
  st.closed = true;
  st.flush(false);
  st.on_ready = nullptr;  // closing is not news
  if (!first) {
    // Already closing: both parts report to the first close(); this one
    // waits for the client alone (its close() accepts repeats).
    client_->close(std::move(done));
    return;
  }
  struct Countdown {
    int left;
    Once<void()> done;
  };
  auto cd = std::make_shared<Countdown>(Countdown{st.sentinel ? 3 : 2, std::move(done)});
  auto one = [cd] {
    if (--cd->left == 0 && cd->done) {
      auto d = std::move(cd->done);
      d();
    }
  };
  client_->close(one);
  st.inv->close(one);
  if (st.sentinel) st.sentinel->shutdown(one);
}

}  // namespace uvredis
