// The two links of a ClientCache: the data connection's CLIENT TRACKING
// (redirected to the invalidation connection's current id), the
// invalidation connection's subscription and the messages it receives, and
// when the cache may serve from memory (ready) as either link comes and goes.
#include "recipes/client_cache_state.hpp"

#include "protocol/cluster_keys.hpp"
#include "protocol/encode.hpp"

namespace uvredis {

using detail::kInvalidateChannel;

// Tells the listener when ready() flipped, on a later turn: it may destroy
// the cache, which must not happen inside a connection's state listener.
void ClientCache::State::report_ready() {
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

std::vector<std::string> ClientCache::State::tracking_argv(long long id) const {
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

void ClientCache::State::enable_tracking() {
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
      st->update_serving();
      st->report_ready();
    } else if (!st->closed) {
      const Error& e = rs.size() == 2 ? rs[1].error() : rs[0].error();
      st->log->warn("[cache] CLIENT TRACKING failed: {}", e.message);
    }
  });
}

void ClientCache::State::on_data_state(ConnectionState s) {
  if (s == ConnectionState::connected) {
    data_up = true;
    enable_tracking();
  } else {
    if (data_up) flush();
    data_up = false;
    tracking_for = 0;
  }
  update_serving();
  report_ready();
}

void ClientCache::State::on_inv_state(ConnectionState s) {
  if (s != ConnectionState::connected) {
    if (inv_id != 0 || sub_ready) flush();
    inv_id = 0;
    sub_ready = false;
    update_serving();
    report_ready();
    return;
  }
  inv_id = pending_inv_id;
  sub_ready = false;
  update_serving();
  const std::string_view argv[] = {"SUBSCRIBE", kInvalidateChannel};
  inv->send_subscription(argv, [w = weak_from_this(), id = inv_id](Result<Reply> r) {
    auto st = w.lock();
    if (!st || st->closed || st->inv_id != id) return;
    if (!r) {
      st->log->warn("[cache] SUBSCRIBE {} failed: {}", kInvalidateChannel, r.error().message);
      return;
    }
    st->sub_ready = true;
    st->update_serving();
    st->enable_tracking();
    st->report_ready();
  });
}

void ClientCache::State::on_push(Reply&& r) {
  if (closed || !r.is_array() || r.size() < 3 || r[0].str() != "message" || r[1].str() != kInvalidateChannel) return;
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
void ClientCache::State::passing(std::span<const std::string_view> argv) {
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

}  // namespace uvredis
