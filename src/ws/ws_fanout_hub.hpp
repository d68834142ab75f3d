#pragma once
// Layer ws (src/ws/): the uvredis-ws component (its own library): WebSocket
// fan-out of channels to rooms. May include: every layer; nothing includes it.
//
// The I/O-free core of the WebSocket fan-out (src/ws/ws_fanout.cpp, library
// uvredis-ws): clients, rooms, bounded per-client queues and the slow-client
// policy. No sockets, no libuv, no
// libwebsockets here, so it is tested without a network
// (tests/test_ws_fanout_hub.cpp). Single-threaded, like the loop it runs on.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace fanout {

/// What to do with a client whose queue is full.
enum class SlowPolicy {
  drop_oldest,  ///< Drop its oldest frames; it is told how many (a `dropped` frame).
  disconnect,   ///< Close it.
};

inline const char* to_string(SlowPolicy p) { return p == SlowPolicy::drop_oldest ? "drop-oldest" : "disconnect"; }

struct Limits {
  std::size_t frames = 1024;   ///< Frames queued per client.
  std::size_t bytes = 8u << 20;  ///< Bytes queued per client; also the largest frame accepted.
  SlowPolicy policy = SlowPolicy::drop_oldest;
};

/// One outgoing frame, built once and shared by every client it is queued
/// for, with `headroom` bytes in front of the payload for the transport's
/// frame header (LWS_PRE for libwebsockets).
class Frame {
 public:
  Frame(std::string_view payload, std::size_t headroom) : buf_(headroom + payload.size(), '\0'), headroom_(headroom) {
    payload.copy(buf_.data() + headroom, payload.size());
  }
  unsigned char* data() { return reinterpret_cast<unsigned char*>(buf_.data()) + headroom_; }
  std::size_t size() const { return buf_.size() - headroom_; }
  std::string_view view() const { return std::string_view(buf_).substr(headroom_); }

 private:
  std::string buf_;
  std::size_t headroom_;
};
using FramePtr = std::shared_ptr<Frame>;

/// One connected client.
struct Client {
  std::uint64_t id = 0;
  void* handle = nullptr;  ///< The transport's connection (an lws*).
  std::string name;
  std::string room;  ///< Empty until joined.
  std::deque<FramePtr> queue;
  std::size_t queued_bytes = 0;
  std::uint64_t dropped = 0;           ///< Frames lost to the limits, ever.
  std::uint64_t unreported_drops = 0;  ///< Not yet told to the client.
  bool kicked = false;                 ///< Being disconnected for being slow.
  // Transport state, kept here so the transport needs no second lookup.
  bool armed = false;   ///< Write interest requested (a writable event will come).
  bool broken = false;  ///< A write failed: close it at the next writable event.
  bool deferred = false;  ///< Waiting for a later loop turn's write budget (not for the socket).
};

struct HubCounters {
  std::uint64_t frames_queued = 0;
  std::uint64_t frames_taken = 0;  ///< Handed to the transport by next() (drop notices included).
  std::uint64_t dropped = 0;
  std::uint64_t slow_clients = 0;  ///< Clients that lost at least one frame.
  std::uint64_t slow_disconnects = 0;
};

class Hub {
 public:
  /// How the hub asks the transport to act. None of them may remove a
  /// client synchronously: the hub may be iterating over a room.
  struct Hooks {
    std::function<void(Client&)> wake;        ///< The client has frames waiting (it had none).
    std::function<void(Client&)> kick;        ///< Close this client soon (disconnect policy).
    std::function<void(Client&)> first_drop;  ///< The client lost its first frame (for a log line).
  };

  Hub(Limits limits, std::size_t headroom, Hooks hooks)
      : limits_(limits), headroom_(headroom), hooks_(std::move(hooks)) {}
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  FramePtr make_frame(std::string_view payload) const { return std::make_shared<Frame>(payload, headroom_); }

  Client& add(void* handle) {
    auto c = std::make_unique<Client>();
    c->id = ++next_id_;
    c->handle = handle;
    c->name = "guest-" + std::to_string(c->id);
    Client& ref = *c;
    clients_.emplace(ref.id, std::move(c));
    return ref;
  }

  void remove(std::uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    leave(*it->second);
    clients_.erase(it);
  }

  Client* find(std::uint64_t id) {
    auto it = clients_.find(id);
    return it == clients_.end() ? nullptr : it->second.get();
  }

  void join(Client& c, std::string room) {
    leave(c);
    c.room = std::move(room);
    rooms_[c.room].insert(&c);
  }

  void leave(Client& c) {
    if (c.room.empty()) return;
    auto it = rooms_.find(c.room);
    if (it != rooms_.end()) {
      it->second.erase(&c);
      if (it->second.empty()) rooms_.erase(it);
    }
    c.room.clear();
  }

  /// Queues `frame` for `c`, applying the slow-client policy when a limit
  /// would be passed. A frame larger than the byte limit is not queued.
  void send(Client& c, FramePtr frame) {
    if (stopped_ || c.kicked || frame->size() > limits_.bytes) return;
    while (!c.queue.empty() &&
           (c.queue.size() >= limits_.frames || c.queued_bytes + frame->size() > limits_.bytes)) {
      if (limits_.policy == SlowPolicy::disconnect) return kick(c);
      c.queued_bytes -= c.queue.front()->size();
      c.queue.pop_front();
      ++counters_.dropped;
      ++c.unreported_drops;
      if (c.dropped++ == 0) {
        ++counters_.slow_clients;
        if (hooks_.first_drop) hooks_.first_drop(c);
      }
    }
    bool was_idle = !pending(c);
    c.queued_bytes += frame->size();
    c.queue.push_back(std::move(frame));
    ++counters_.frames_queued;
    if (was_idle && hooks_.wake) hooks_.wake(c);
  }

  bool has_room(const std::string& room) const { return rooms_.contains(room); }

  /// To everyone in `room`; false when nobody is there.
  bool send_room(const std::string& room, const FramePtr& frame) {
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return false;
    for (Client* c : it->second) send(*c, frame);
    return true;
  }

  void send_all(const FramePtr& frame) {
    for (auto& [id, c] : clients_) send(*c, frame);
  }

  /// To every client for which `pred(client)` holds.
  template <class Pred>
  void send_if(const FramePtr& frame, Pred pred) {
    for (auto& [id, c] : clients_)
      if (pred(*c)) send(*c, frame);
  }

  /// The next frame to write to `c`: a drop notice when frames were lost
  /// since the last one (it lands just where the gap is, before the oldest
  /// frame still queued), else the oldest queued frame; null when none.
  FramePtr next(Client& c) {
    FramePtr f;
    if (c.unreported_drops > 0) {
      f = make_frame("{\"type\":\"dropped\",\"count\":" + std::to_string(c.unreported_drops) + "}");
      c.unreported_drops = 0;
    } else if (!c.queue.empty()) {
      f = std::move(c.queue.front());
      c.queue.pop_front();
      c.queued_bytes -= f->size();
    } else {
      return nullptr;
    }
    ++counters_.frames_taken;
    return f;
  }

  bool pending(const Client& c) const { return !c.queue.empty() || c.unreported_drops > 0; }

  /// From now on nothing is queued (shutdown).
  void stop() { stopped_ = true; }

  const Limits& limits() const { return limits_; }
  const HubCounters& counters() const { return counters_; }
  std::size_t clients() const { return clients_.size(); }
  std::size_t rooms() const { return rooms_.size(); }
  std::size_t deepest_queue() const {
    std::size_t n = 0;
    for (const auto& [id, c] : clients_) n = std::max(n, c->queue.size());
    return n;
  }
  std::size_t deepest_queue_bytes() const {
    std::size_t n = 0;
    for (const auto& [id, c] : clients_) n = std::max(n, c->queued_bytes);
    return n;
  }

 private:
  void kick(Client& c) {
    c.kicked = true;
    c.queue.clear();
    c.queued_bytes = 0;
    c.unreported_drops = 0;
    ++counters_.slow_disconnects;
    if (hooks_.kick) hooks_.kick(c);
  }

  Limits limits_;
  std::size_t headroom_;
  Hooks hooks_;
  std::uint64_t next_id_ = 0;
  std::unordered_map<std::uint64_t, std::unique_ptr<Client>> clients_;
  std::unordered_map<std::string, std::unordered_set<Client*>> rooms_;
  HubCounters counters_;
  bool stopped_ = false;
};

}  // namespace fanout
