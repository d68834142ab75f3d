// WsFanout's rooms: Redis messages (plain, resumable) framed for the clients of their room; Redis status notices.
#include "ws_fanout_impl.hpp"

namespace uvredis::detail {

void WsFanoutImpl::on_plain_message(const Message& m) {
  std::string_view channel = m.channel;
  if (!channel.starts_with(o_.channel_prefix)) return;
  std::string room(channel.substr(o_.channel_prefix.size()));
  if (resumable_.contains(room)) return;  // its ResumableSubscriber delivers it, with its id
  ++counters_.redis_messages;
  if (!routable(room, m.payload.size(), m.channel)) return;
  // A JSON object is forwarded byte for byte (the parse also proves it is
  // valid UTF-8, which a text frame must be). Anything else, for example
  // `redis-cli PUBLISH chat:room:lobby hello`, is wrapped in a message.
  json j = json::parse(m.payload, nullptr, false);
  FramePtr f = !j.is_discarded() && j.is_object()
                   ? hub_.make_frame(m.payload)
                   : hub_.make_frame(dump({{"type", "message"}, {"room", room}, {"from", "redis"}, {"text", m.payload}}));
  hub_.send_room(room, f);
}

bool WsFanoutImpl::routable(const std::string& room, std::size_t size, const std::string& channel) {
  if (!hub_.has_room(room)) {
    ++counters_.unrouted;
    return false;
  }
  if (size > o_.queue_bytes) {
    if (counters_.oversize++ == 0)
      log_->warn("a {}-byte message on {} is larger than a client queue may hold ({}): not forwarded", size, channel,
                 o_.queue_bytes);
    return false;
  }
  return true;
}

// Resumable messages carry their stream id: `"id"` is put first in a JSON
// object; anything else is wrapped, with the id.
void WsFanoutImpl::on_resumable_message(const std::string& room, const ChannelMessage& m) {
  ++counters_.redis_messages;
  bool resuming = false;
  for (const auto& [id, r] : resumes_) resuming = resuming || r.room == room;
  if (!resuming && !routable(room, m.payload.size(), o_.channel_prefix + room)) return;
  if (m.payload.size() > o_.queue_bytes) return;
  FramePtr f = resumable_frame(room, m.id, m.payload);
  for (auto& [id, r] : resumes_)
    if (r.room == room) r.live.emplace_back(m.id, f);
  hub_.send_room(room, f);
}

FramePtr WsFanoutImpl::resumable_frame(const std::string& room, const std::string& id, const std::string& payload) {
  json j = json::parse(payload, nullptr, false);
  std::string text;
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("id")) j.erase("id");
    text = "{\"id\":" + dump(id);
    std::string rest = dump(j);  // "{...}"
    if (rest.size() > 2) text += "," + rest.substr(1);
    else text += "}";
  } else {
    text = dump({{"type", "message"}, {"id", id}, {"room", room}, {"from", "redis"}, {"text", payload}});
  }
  return hub_.make_frame(text);
}

void WsFanoutImpl::start_resumable(const std::string& room) {
  Resumable r;
  ResumableChannelOptions co;
  co.channel = o_.channel_prefix + room;
  co.max_len = o_.resumable_max_len;
  r.channel = std::make_unique<ResumableChannel>(*redis_, co);
  ResumableSubscriberOptions so;
  so.channel = co.channel;
  r.sub = std::make_unique<ResumableSubscriber>(loop_, redis_opts_, *redis_, so,
                                                [this, room](const ChannelMessage& m) { on_resumable_message(room, m); });
  r.sub->on_loss([this, room](const HistoryLoss& loss) {
    if (loss.count) counters_.history_lost += static_cast<std::uint64_t>(*loss.count);
    log_->warn("room {}: history lost between {} and {} ({} messages)", room, loss.after_id, loss.resumed_id,
               loss.count ? std::to_string(*loss.count) : "unknown");
    json j = {{"type", "lost"}, {"room", room}, {"after", loss.after_id}, {"resumed", loss.resumed_id}};
    j["count"] = loss.count ? json(*loss.count) : json(nullptr);
    hub_.send_room(room, hub_.make_frame(dump(j)));
  });
  r.sub->on_error([this, room](const Error& e) { log_->warn("room {}: {}", room, e.to_string()); });
  r.sub->on_state_change([this, room](ConnectionState st, const Error* e) {
    Resumable& rr = resumable_.at(room);
    if (st == ConnectionState::connected) {
      if (rr.down) {
        log_->warn("room {}: Redis is back; catching up from the stream", room);
        hub_.send_room(room, hub_.make_frame(dump({{"type", "status"}, {"redis", "up"}, {"room", room}, {"gap", false}})));
      }
      rr.down = false;
    } else if (st == ConnectionState::reconnecting || st == ConnectionState::failed) {
      if (!rr.down) {
        log_->warn("room {}: subscriber lost Redis ({}): {}", room, to_string(st), e ? e->to_string() : "no error");
        hub_.send_room(room, hub_.make_frame(dump({{"type", "status"}, {"redis", "down"}, {"room", room}})));
      }
      rr.down = true;
    }
  });
  resumable_.emplace(room, std::move(r));
}

// Plain rooms only: resumable rooms get their own notices.
void WsFanoutImpl::broadcast_plain(const json& j) {
  FramePtr f = hub_.make_frame(dump(j));
  hub_.send_if(f, [this](const Client& c) { return !resumable_.contains(c.room); });
}

void WsFanoutImpl::on_plain_state(ConnectionState st, const Error* e) {
  if (st == ConnectionState::connected) {
    subscribed_ = true;
    if (redis_down_) {
      log_->warn("Redis is back and {} is subscribed again; messages published meanwhile are lost", pattern_);
      broadcast_plain({{"type", "status"}, {"redis", "up"}, {"gap", true}});
    } else {
      log_->info("subscribed to {}", pattern_);
    }
    redis_down_ = false;
  } else if (st == ConnectionState::reconnecting || st == ConnectionState::failed) {
    subscribed_ = false;
    if (!redis_down_) ++counters_.redis_outages;
    redis_down_ = true;
    log_->warn("subscriber lost Redis ({}): {}", to_string(st), e ? e->to_string() : "no error");
    broadcast_plain({{"type", "status"}, {"redis", "down"}});
  }
}

}  // namespace uvredis::detail
