#include "link/request_queue.hpp"

#include "protocol/encode.hpp"
#include "link/tracker.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>

namespace uvredis::detail {

std::optional<Error> queue_bounds_error(const QueueBounds& bounds, std::size_t queued_cmds, std::size_t queued_bytes,
                                        std::size_t extra_bytes, std::size_t extra_cmds) {
  if (queued_cmds + extra_cmds > bounds.max_commands)
    return Error{ErrorKind::overflow,
                 "queue full: " + std::to_string(queued_cmds) + " commands are waiting (max_queued_commands)"};
  if (extra_bytes > bounds.max_bytes || extra_bytes > UINT32_MAX)
    return Error{ErrorKind::overflow, "command too large: " + std::to_string(extra_bytes) + " bytes, more than " +
                                          (extra_bytes > bounds.max_bytes
                                               ? "max_queued_bytes (" + std::to_string(bounds.max_bytes) + ")"
                                               : std::string("4 GiB"))};
  if (queued_bytes + extra_bytes > bounds.max_bytes)
    return Error{ErrorKind::overflow,
                 "queue full: " + std::to_string(queued_bytes) + " bytes are waiting (max_queued_bytes)"};
  return std::nullopt;
}

std::uint8_t push_kind_of(const Reply& r) noexcept {
  if (!r.is_array() || r.size() < 3 || !r[0].is_string()) return kNotPush;
  const std::string_view name = r[0].str();
  // Messages are most of what a subscriber receives; they are pushes only,
  // not commands, so they have no row.
  if (name == "message") return kMessage;
  if (name == "pmessage") return kPMessage;
  if (name == "smessage") return kSMessage;
  // A confirmation is named after its command, exactly, in lower case: the
  // table matches any case (and names of 32 bytes or more not at all, so a
  // big value is not read), upper case is turned away here.
  const CommandFacts* facts = find_command(name);
  if (facts == nullptr || facts->push == kNotPush) return kNotPush;
  for (char c : name)
    if (c >= 'A' && c <= 'Z') return kNotPush;
  return facts->push;
}

std::uint8_t command_push_kind(std::string_view command) noexcept {
  const CommandFacts* facts = find_command(command);
  return facts != nullptr ? facts->push : std::uint8_t{kNotPush};
}

void RequestQueue::store(RequestFifo& fifo, Request& r) {
  RecordHead head;
  head.len = r.len;
  head.stage = r.stage;
  head.internal = r.internal;
  head.owned = r.owned;
  put(fifo, r.seq, head, RecordExt{r.timeout_ms, r.group, r.track, r.pushes, r.push}, r.cb);
}

const Record* RequestQueue::take(Handoff& h, std::size_t& group_left, bool first_only) {
  if (!first_.empty()) {
    // Handshake commands are small: always handed whole.
    Record& r = first_.front();
    h = Handoff{first_out_.data() + first_pos_, r.len};
    first_pos_ += r.len;
    from_first_ = true;
    return &r;
  }
  if (first_only) return nullptr;
  while (!queued_.empty()) {
    Record& r = queued_.front();
    if (group_left > 0) {
      --group_left;
    } else if (r.has_ext()) [[unlikely]] {
      if (r.group() > 1) group_left = r.group() - 1;
    }
    if (r.owned()) {
      if (r.completed()) {
        bodies_.pop_front();
        queued_.pop_front();
        continue;
      }
      // Its bytes are in bodies_.front(): the head (which names the
      // command) now, the moved arguments a slice at a time.
      const std::string& head = bodies_.front().front();
      tail_owned_ = true;
      tail_piece_ = 1;
      tail_off_ = 0;
      tail_left_ = r.len - head.size();
      queued_bytes_ -= head.size();
      if (!r.internal()) --stats_.queued;
      h = Handoff{head.data(), head.size()};
      return &r;
    }
    const char* bytes = out_.data() + out_pos_;
    if (r.completed()) {
      out_pos_ += r.len;
      queued_.pop_front();
      continue;
    }
    const std::size_t first = (r.len > kSliceBytes && r.group() == 1) ? kSliceBytes : r.len;
    out_pos_ += first;
    tail_left_ = r.len - first;
    queued_bytes_ -= first;
    if (!r.internal()) --stats_.queued;
    h = Handoff{bytes, first, true};
    return &r;
  }
  return nullptr;
}

void RequestQueue::tail_consumed(std::size_t n) {
  tail_left_ -= n;
  queued_bytes_ -= n;
  if (!tail_owned_) {
    out_pos_ += n;
  } else if ((tail_off_ += n) == bodies_.front()[tail_piece_].size()) {
    ++tail_piece_;
    tail_off_ = 0;
  }
  if (tail_left_ == 0) end_tail();
}

// The big command in progress is all handed over, or its link is gone.
void RequestQueue::end_tail() {
  if (tail_owned_) {
    if (release_) release_(ctx_, std::move(bodies_.front()));
    bodies_.pop_front();
    tail_owned_ = false;
  } else {
    out_pos_ += tail_left_;
  }
  queued_bytes_ -= tail_left_;
  tail_left_ = 0;
}

Record* RequestQueue::find(std::uint64_t seq, bool& in_flight) {
  // Each queue is in sequence order.
  if (Record* r = inflight_.find(seq)) {
    in_flight = true;
    return r;
  }
  in_flight = false;
  return queued_.find(seq);
}

RequestQueue::Expired RequestQueue::expire(std::uint64_t seq) {
  Expired what;
  bool in_flight = false;
  Record* first = find(seq, in_flight);
  if (first == nullptr || first->completed()) return what;
  what.found = true;
  what.written = in_flight;
  what.internal = first->internal();
  const std::size_t count = std::max<std::uint32_t>(first->group(), 1);
  const Error err{ErrorKind::timeout, "no reply within " + std::to_string(first->timeout_ms(usual_timeout_ms_)) + " ms"};
  // Completing may run user code that queues more, or ends the link (which
  // empties the queues), so find each by sequence number.
  for (std::size_t k = 0; k < count; ++k) {
    Record* r = find(seq + k, in_flight);
    if (r == nullptr || r->completed()) continue;
    if (in_flight) {
      // Written: its reply is still owed (and dropped when it comes), but
      // the command is no longer in flight for anyone counting.
      r->set_stage(Stage::owed);
      ++owed_;
      if (!r->internal()) --stats_.in_flight;
    } else {
      queued_bytes_ -= r->len;
      if (!r->internal()) --stats_.queued;
    }
    if (!r->internal()) ++stats_.timeouts;
    complete(*r, err);
  }
  return what;
}

// Out of line: only requests that a Tracker watches come here.
void RequestQueue::track_written(const Record& r) { tracker_->written(r.track(), r.len); }

void RequestQueue::track_completed(std::uint32_t slot, std::uint32_t len, const Result<Reply>& result) {
  tracker_->completed(slot, len, result);
}

void RequestQueue::fail_queued(const Error& err) {
  if (queued_.empty()) return;
  RequestFifo q = std::move(queued_);
  out_.clear();
  out_pos_ = 0;
  queued_bytes_ = 0;
  // (Only while the link is going: a big command half handed over loses
  // its rest with the link.)
  tail_left_ = 0;
  tail_owned_ = false;
  bodies_.clear();
  q.for_each([this](Record& r) {
    if (!r.completed() && !r.internal()) --stats_.queued;
  });
  // `q` is ours alone: callbacks that queue more reach queued_, not it.
  q.for_each([this, &err](Record& r) {
    if (!r.completed()) complete(r, err);
  });
  prune();
}

}  // namespace uvredis::detail
