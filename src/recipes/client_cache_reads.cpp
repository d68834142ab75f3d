// The read paths of a ClientCache: which commands are cached, a hit
// answered from memory on the next loop turn (batched: one scheduler task
// per turn, whatever the number of hits), a single-key miss sent with the
// key's PTTL in the same round trip, and MGET split into per-key entries.
#include "recipes/client_cache_state.hpp"

#include "protocol/encode.hpp"

#include <uv.h>

#include <utility>

namespace uvredis {

using detail::cache_signature;

namespace {

// GET key: its entry is found by the key alone (by_get).
bool is_get(std::span<const std::string_view> argv) { return argv.size() == 2 && detail::iequals(argv[0], "GET"); }

}  // namespace

// Which cached path a command takes: 0 none, 1 single key, 2 MGET.
int ClientCache::State::cache_path(std::span<const std::string_view> argv) const {
  if (argv.size() < 2) return 0;
  const std::string_view name = argv[0];
  using detail::iequals;
  // GET first: the hot path of a hot key.
  if (iequals(name, "GET")) return argv.size() == 2 && tracked_key(argv[1]) ? 1 : 0;
  if (iequals(name, "MGET")) {
    for (std::size_t i = 1; i < argv.size(); ++i)
      if (!tracked_key(argv[i])) return 0;
    return 2;
  }
  if (!tracked_key(argv[1])) return 0;
  if (iequals(name, "EXISTS")) return argv.size() == 2 ? 1 : 0;  // one key only: the entry belongs to it
  if (iequals(name, "STRLEN") || iequals(name, "HGETALL")) return argv.size() == 2 ? 1 : 0;
  if (iequals(name, "HGET")) return argv.size() == 3 ? 1 : 0;
  if (iequals(name, "HMGET")) return argv.size() >= 3 ? 1 : 0;
  for (const std::string& c : extra_cmds)
    if (iequals(name, c)) return 1;
  return 0;
}

// The entry answering a cached read, or null (not ready, not in memory,
// expired). The request key is built in a reused buffer and looked up
// without a copy; GET needs none.
const Reply* ClientCache::State::hit(std::span<const std::string_view> argv) {
  if (!ready()) return nullptr;
  const Reply* r;
  if (is_get(argv)) {
    r = lookup_get(argv[1]);
  } else {
    cache_signature(scratch, argv);
    r = lookup(scratch);
  }
  if (r) ++stats.hits;
  return r;
}

void ClientCache::State::schedule_drain() {
  if (!sched) sched = detail::Scheduler::on(loop);
  keep = shared_from_this();
  sched->soon(drain_task);
}

void ClientCache::State::drain_hits() {
  // The callbacks may read again (a new batch, next turn) or destroy the
  // cache: this batch is moved aside and the state held until it is done.
  auto self = std::move(keep);
  hits_running.swap(hits_out);
  run_pinned = std::exchange(out_pinned, 0);
  // A callback that drops entries pins the hits not delivered yet (pin()
  // passes over delivered ones); nothing is added to this batch meanwhile.
  for (detail::CacheHit& h : hits_running) h.deliver();
  hits_running.clear();  // keeps its capacity for the next batch
  run_pinned = 0;
  if (closed && !drain_task.scheduled()) sched = {};  // see close()
}

// One cached request on `key`: from memory when ready, else from the
// server with the key's PTTL in the same round trip.
void ClientCache::State::single(std::span<const std::string_view> argv, std::string_view key_view, Callback<Reply> cb) {
  if (const Reply* r = hit(argv)) {
    schedule_hits();
    hits_out.emplace_back(std::move(cb), Reply(*r));
    return;
  }
  ++stats.misses;
  std::string sig = is_get(argv) ? std::string() : cache_signature(argv);
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
    if (fresh && caching_ok && rs[at] && self->storable(rs[at + 1])) {
      self->store(std::move(sig), std::move(key), *rs[at], self->deadline(sent, rs[at + 1]));
    } else if (!fresh && rs[at]) {
      ++self->stats.discarded;
    }
    cb(std::move(rs[at]));
  });
}

// MGET: each key is cached as its own GET, so MGET and GET share entries;
// only the keys missing from memory go to the server.
void ClientCache::State::mget(std::span<const std::string_view> argv, Callback<Reply> cb) {
  const std::size_t n = argv.size() - 1;
  std::vector<Reply> out(n);
  std::vector<std::size_t> missing;
  const bool serve = ready();
  for (std::size_t i = 0; i < n; ++i) {
    const Reply* hit = serve ? lookup_get(argv[i + 1]) : nullptr;
    if (hit)
      out[i] = *hit;
    else
      missing.push_back(i);
  }
  stats.hits += n - missing.size();
  stats.misses += missing.size();
  if (missing.empty()) {
    schedule_hits();
    hits_out.emplace_back(std::move(cb), Reply::array(std::move(out)));
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
      if (fresh && caching_ok && self->storable(rs[at + 1 + j]))
        self->store(std::string(), keys[j], v, self->deadline(sent, rs[at + 1 + j]));
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

// ---------------------------------------------------------------- the object

// The typed helpers' fast path: a single-key cached read found in memory.
// Anything else (a miss included) goes through route().
const Reply* ClientCache::hit(std::span<const std::string_view> argv) {
  if (st_->config_error || st_->cache_path(argv) != 1) return nullptr;
  const Reply* r = st_->hit(argv);
  if (r) st_->schedule_hits();
  return r;
}

const Reply* ClientCache::get_hit(std::string_view key) {
  State& st = *st_;
  if (!st.serving && !st.may_serve(key)) return nullptr;
  const Reply* r = st.lookup_get(key);
  if (!r) return nullptr;
  ++st.stats.hits;
  st.schedule_hits();
  return r;
}

void ClientCache::get_miss(std::string_view key, Callback<std::optional<std::string>>&& cb) {
  Commands<ClientCache>::get(key, std::move(cb));
}

void ClientCache::get_view_miss(std::string_view key, Callback<std::optional<std::string_view>>&& cb) {
  const std::string_view argv[] = {"GET", key};
  route(argv, detail::CacheHit::lending(std::move(cb)));
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

}  // namespace uvredis
