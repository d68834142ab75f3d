// WsFanout's clients: connecting, closing, and what they send (join, say) as JSON.
#include "ws_fanout_impl.hpp"

#include <chrono>

namespace uvredis::detail {

namespace {

constexpr std::size_t kMaxName = 32;

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > kMaxName) return false;
  for (unsigned char c : n)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

std::optional<std::string> string_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

int WsFanoutImpl::on_ws(lws* wsi, lws_callback_reasons reason, Pss* pss, void* in, std::size_t len) {
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
      if (closing_) return -1;
      Client& c = hub_.add(wsi);
      pss->id = c.id;
      ++counters_.connections;
      if (o_.verbose) log_->info("client #{} connected", c.id);
      if (on_connect_) on_connect_(c.id);
      return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
      Client* c = hub_.find(pss->id);
      if (c == nullptr) return -1;
      if (lws_frame_is_binary(wsi)) {
        static const char why[] = "text frames only";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                         reinterpret_cast<unsigned char*>(const_cast<char*>(why)), sizeof why - 1);
        return -1;
      }
      bool complete = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
      auto part = partial_.find(c->id);
      if (complete && part == partial_.end()) {  // the usual case: the whole message at once
        if (len > o_.max_incoming) return too_large(wsi);
        on_client_text(*c, std::string_view(static_cast<const char*>(in), len));
        return 0;
      }
      if (part == partial_.end()) part = partial_.emplace(c->id, std::string()).first;
      part->second.append(static_cast<const char*>(in), len);
      if (part->second.size() > o_.max_incoming) return too_large(wsi);
      if (!complete) return 0;
      std::string text = std::move(part->second);
      partial_.erase(part);
      on_client_text(*c, text);
      return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
      Client* c = hub_.find(pss->id);
      return c ? on_writeable(*c) : -1;
    }
    case LWS_CALLBACK_CLOSED: {
      if (pss->id == 0) return 0;
      std::uint64_t id = pss->id;
      pss->id = 0;
      if (o_.verbose) log_->info("client #{} disconnected", id);
      partial_.erase(id);
      resumes_.erase(id);
      hub_.remove(id);
      if (on_disconnect_ && !closing_) on_disconnect_(id);
      return 0;
    }
    default:
      return 0;
  }
}

int WsFanoutImpl::too_large(lws* wsi) {
  static const char why[] = "message too large";
  lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                   reinterpret_cast<unsigned char*>(const_cast<char*>(why)), sizeof why - 1);
  return -1;
}

void WsFanoutImpl::on_client_text(Client& s, std::string_view text) {
  if (on_text_ && on_text_(s.id, text)) return;
  json msg = json::parse(text, nullptr, false);
  if (msg.is_discarded() || !msg.is_object()) return reply_error(s, "not a JSON object");
  std::string type = string_field(msg, "type").value_or("");
  if (type == "join") {
    auto room = string_field(msg, "room");
    if (!room || !valid_room(*room)) return reply_error(s, "room must be 1-64 of A-Z a-z 0-9 - _ .");
    if (auto name = string_field(msg, "name"); name && !name->empty()) {
      if (!valid_name(*name)) return reply_error(s, "name must be 1-32 bytes, no control characters");
      s.name = *name;
    }
    resumes_.erase(s.id);
    auto last_id = string_field(msg, "last_id");
    bool resumable = resumable_.contains(*room);
    if (last_id && (!resumable || !valid_stream_id(*last_id)))
      return reply_error(s, "last_id needs a resumable room and a stream id (ms-seq)");
    json j = {{"type", "joined"}, {"room", *room}, {"name", s.name}};
    if (resumable) j["resumable"] = true;
    if (last_id) {
      // Joins once what it missed has been queued for it (start_resume).
      hub_.leave(s);
      hub_.send(s, hub_.make_frame(dump(j)));
      return start_resume(s, *room, *last_id);
    }
    hub_.join(s, *room);
    if (o_.verbose) log_->info("client #{} ({}) joined room {}", s.id, s.name, s.room);
    hub_.send(s, hub_.make_frame(dump(j)));
  } else if (type == "say") {
    if (s.room.empty()) return reply_error(s, "join a room first");
    auto body = string_field(msg, "text");
    if (!body || body->empty() || body->size() > o_.max_text)
      return reply_error(s, "text must be 1-" + std::to_string(o_.max_text) + " bytes");
    json m = {{"type", "message"}, {"room", s.room}, {"from", s.name}, {"text", *body}, {"ts", now_ms()}};
    // The message reaches this client too, through Redis, like any other.
    publish(s.room, dump(m), [this, id = s.id](Result<void> r) {
      if (r) return;
      if (Client* c = hub_.find(id))
        hub_.send(*c, hub_.make_frame(dump({{"type", "error"}, {"error", "not sent: " + r.error().to_string()}})));
    });
  } else {
    reply_error(s, "unknown message type");
  }
}

void WsFanoutImpl::reply_error(Client& s, std::string_view what) {
  ++counters_.bad_requests;
  hub_.send(s, hub_.make_frame(dump({{"type", "error"}, {"error", what}})));
}

}  // namespace uvredis::detail
