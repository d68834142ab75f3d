// WsFanout's resuming clients: a join with last_id gets what the room's stream holds after it, then the live messages.
#include "ws_fanout_impl.hpp"

namespace uvredis::detail {

std::optional<WsFanoutImpl::StreamId> WsFanoutImpl::parse_id(std::string_view id) {
  auto dash = id.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == id.size() || id.size() > 41) return std::nullopt;
  StreamId out;
  for (char ch : id.substr(0, dash)) {
    if (ch < '0' || ch > '9') return std::nullopt;
    out.ms = out.ms * 10 + static_cast<unsigned>(ch - '0');
  }
  for (char ch : id.substr(dash + 1)) {
    if (ch < '0' || ch > '9') return std::nullopt;
    out.seq = out.seq * 10 + static_cast<unsigned>(ch - '0');
  }
  return out;
}

// A client that saw up to `last_id` (say before its connection dropped):
// the stream's entries after it are queued for it, then what reached the
// room meanwhile (each id once), then it joins. At most queue_frames
// entries are read back; beyond that, and when the stream was trimmed
// past last_id, it gets a `lost` notice first (count unknown).
void WsFanoutImpl::start_resume(Client& c, const std::string& room, const std::string& last_id) {
  ++counters_.resumes;
  resumes_[c.id] = Resume{room, last_id, false, {}};
  const std::string stream = o_.channel_prefix + room + ":history";
  redis_->command({"XRANGE", stream, "-", "+", "COUNT", "1"}, [this, id = c.id, last_id](Result<Reply> r) {
    auto it = resumes_.find(id);
    if (it == resumes_.end() || !r || !r->is_array() || r->size() == 0 || !(*r)[0].is_array()) return;
    auto first = parse_id((*r)[0][0].str());
    it->second.trimmed = first && *first > *parse_id(last_id);
  });
  const std::string count = std::to_string(o_.queue_frames);
  redis_->command({"XRANGE", stream, "(" + last_id, "+", "COUNT", count}, [this, id = c.id](Result<Reply> r) {
    auto it = resumes_.find(id);
    if (it == resumes_.end()) return;
    Resume res = std::move(it->second);
    resumes_.erase(it);
    Client* cl = hub_.find(id);
    if (cl == nullptr) return;
    if (!r) {
      hub_.send(*cl, hub_.make_frame(dump({{"type", "error"}, {"error", "resume failed: " + r.error().to_string()}})));
    } else {
      bool full = r->is_array() && r->size() >= o_.queue_frames;
      if (res.trimmed || full) {
        hub_.send(*cl, hub_.make_frame(dump({{"type", "lost"}, {"room", res.room}, {"after", res.last_id},
                                             {"count", nullptr}})));
      }
      StreamId high = *parse_id(res.last_id);
      if (r->is_array()) {
        for (const Reply& e : r->elements()) {
          if (!e.is_array() || e.size() < 2 || !e[1].is_array()) continue;
          const Reply& fields = e[1];
          for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
            if (fields[i].str() != "payload") continue;
            auto eid = parse_id(e[0].str());
            if (!eid || *eid <= high) break;
            high = *eid;
            ++counters_.resumed_frames;
            hub_.send(*cl, resumable_frame(res.room, std::string(e[0].str()), std::string(fields[i + 1].str())));
          }
        }
      }
      for (auto& [lid, f] : res.live) {
        auto eid = parse_id(lid);
        if (!eid || *eid <= high) continue;
        high = *eid;
        hub_.send(*cl, f);
      }
    }
    hub_.join(*cl, res.room);
    if (o_.verbose) log_->info("client #{} ({}) resumed in room {} after {}", cl->id, cl->name, res.room, res.last_id);
  });
}

}  // namespace uvredis::detail
