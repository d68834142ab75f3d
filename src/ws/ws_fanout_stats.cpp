// WsFanout's counters: stats(), the /stats JSON over HTTP, and the tick that measures loop lag.
#include "ws_fanout_impl.hpp"

#include <cstring>

namespace uvredis::detail {

WsFanoutStats WsFanoutImpl::stats() const {
  WsFanoutStats s = counters_;
  const fanout::HubCounters& h = hub_.counters();
  s.clients = hub_.clients();
  s.rooms = hub_.rooms();
  s.frames_queued = h.frames_queued;
  s.dropped = h.dropped;
  s.slow_clients = h.slow_clients;
  s.slow_disconnects = h.slow_disconnects;
  s.deepest_queue = hub_.deepest_queue();
  s.deepest_queue_bytes = hub_.deepest_queue_bytes();
  s.subscribed = subscribed_;
  for (const auto& [room, r] : resumable_) s.recovered += r.sub->stats().recovered;
  return s;
}

std::string WsFanoutImpl::stats_json() const {
  WsFanoutStats s = stats();
  json redis = {{"subscribed", s.subscribed}, {"outages", s.redis_outages}};
  if (subscriber_) {
    SubscriberStats sub = subscriber_->stats();
    ClientStats cli = redis_->stats();
    redis["subscriber_state"] = to_string(subscriber_->state());
    redis["client_state"] = to_string(redis_->state());
    redis["resubscribes"] = sub.resubscribes;
    redis["max_turn_messages"] = sub.max_turn_messages;
    redis["commands_in_flight"] = cli.in_flight;
    redis["commands_queued"] = cli.queued;
  }
  json resumable = json::object();
  for (const auto& [room, r] : resumable_) {
    ResumableSubscriberStats rs = r.sub->stats();
    resumable[room] = {{"live", r.sub->live()},         {"last_id", r.sub->last_id()}, {"delivered", rs.delivered},
                       {"recovered", rs.recovered},     {"duplicates", rs.duplicates}, {"catch_ups", rs.catch_ups},
                       {"lost", rs.lost},               {"errors", rs.errors}};
  }
  json j = {
      {"clients", s.clients},
      {"rooms", s.rooms},
      {"connections", s.connections},
      {"queue_limit", o_.queue_frames},
      {"queue_bytes", o_.queue_bytes},
      {"slow_policy", o_.slow_policy == WsSlowPolicy::drop_oldest ? "drop-oldest" : "disconnect"},
      {"deepest_queue", s.deepest_queue},
      {"deepest_queue_bytes", s.deepest_queue_bytes},
      {"published", s.published},
      {"publish_errors", s.publish_errors},
      {"redis_messages", s.redis_messages},
      {"unrouted", s.unrouted},
      {"oversize", s.oversize},
      {"frames_queued", s.frames_queued},
      {"frames_sent", s.frames_sent},
      {"direct_writes", s.direct_writes},
      {"writeables", s.writeables},
      {"socket_full", s.socket_full},
      {"budget_full", s.budget_full},
      {"dropped", s.dropped},
      {"slow_clients", s.slow_clients},
      {"slow_disconnects", s.slow_disconnects},
      {"bad_requests", s.bad_requests},
      {"recovered", s.recovered},
      {"history_lost", s.history_lost},
      {"resumes", s.resumes},
      {"resumed_frames", s.resumed_frames},
      {"loop_lag_ms", {{"last", s.loop_lag_ms_last}, {"max", s.loop_lag_ms_max}}},
      {"redis", redis},
      {"resumable", resumable},
  };
  return dump(j);
}

int WsFanoutImpl::on_http(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  switch (reason) {
    case LWS_CALLBACK_HTTP: {  // only the stats mount gets here
      std::string body = stats_json() + "\n";
      // `?reset_lag` starts the loop-lag maximum afresh (for a benchmark's
      // phases), after this answer.
      char args[64] = {};
      if (lws_hdr_copy(wsi, args, sizeof args, WSI_TOKEN_HTTP_URI_ARGS) > 0 && std::strstr(args, "reset_lag"))
        counters_.loop_lag_ms_max = 0;
      unsigned char hdr[LWS_PRE + 512];
      unsigned char* start = hdr + LWS_PRE;
      unsigned char* p = start;
      unsigned char* end = hdr + sizeof hdr - 1;
      if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "application/json", body.size(), &p, end) ||
          lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                       reinterpret_cast<const unsigned char*>("no-store"), 8, &p, end) ||
          lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
      http_bodies_[wsi] = std::string(LWS_PRE, '\0') + body;
      lws_callback_on_writable(wsi);
      return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE: {
      auto it = http_bodies_.find(wsi);
      if (it == http_bodies_.end()) break;
      std::string buf = std::move(it->second);
      http_bodies_.erase(it);
      auto* data = reinterpret_cast<unsigned char*>(buf.data()) + LWS_PRE;
      std::size_t n = buf.size() - LWS_PRE;
      if (lws_write(wsi, data, n, LWS_WRITE_HTTP_FINAL) != static_cast<int>(n)) return 1;
      return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
      http_bodies_.erase(wsi);
      break;
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

void WsFanoutImpl::on_tick() {
  std::uint64_t now = uv_now(loop_);
  std::uint64_t lag = now - last_tick_ > kTickMs ? now - last_tick_ - kTickMs : 0;
  last_tick_ = now;
  counters_.loop_lag_ms_last = lag;
  if (lag > counters_.loop_lag_ms_max) counters_.loop_lag_ms_max = lag;
  // Every 5 s, a line when slow clients lost something since the last one.
  if (++ticks_ % 50 != 0) return;
  const fanout::HubCounters& h = hub_.counters();
  if (h.dropped != logged_dropped_ || h.slow_disconnects != logged_kicks_) {
    log_->warn("slow clients: {} frames dropped, {} clients disconnected so far", h.dropped, h.slow_disconnects);
    logged_dropped_ = h.dropped;
    logged_kicks_ = h.slow_disconnects;
  }
}

}  // namespace uvredis::detail
