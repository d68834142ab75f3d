#pragma once
/// @file ws_fanout.hpp
/// Redis pub/sub fanned out to WebSocket clients, embedded on the caller's
/// own libuv loop (library `uvredis-ws`: pkg-config `uvredis-ws`, CMake
/// `uvredis::ws`; built where libwebsockets with libuv support is installed).
///
/// One WsFanout serves, on one TCP port: WebSocket clients speaking a small
/// JSON protocol (docs/ws-fanout.md), optionally static files and a JSON
/// counters endpoint. Clients join rooms; room R is the Redis channel
/// `channel_prefix + R`. Plain rooms are subscribed with one PSUBSCRIBE
/// (`channel_prefix*`, at-most-once: after a reconnect clients are told of a
/// possible gap). Rooms listed in `resumable_rooms` go through a
/// ResumableChannel / ResumableSubscriber each: after a reconnect the missed
/// messages are read back from the stream and delivered in order, and
/// clients are told when history was lost.
///
/// Every client has a bounded queue (frames and bytes); a client that does
/// not read fast enough loses its oldest frames (and gets a `dropped` notice
/// saying how many) or is disconnected, by policy. Frames are written at
/// once while the socket takes them; write interest is armed only when it
/// does not, and a per-loop-turn byte budget keeps a burst to many clients
/// from holding the loop.
///
/// Threading: loop-thread only, like everything in uvredis. No callback runs
/// inside the call that caused it.

#include <uvredis/callbacks.hpp>
#include <uvredis/error.hpp>
#include <uvredis/export.hpp>
#include <uvredis/link_types.hpp>
#include <uvredis/options.hpp>
#include <uvredis/result.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct uv_loop_s;

namespace uvredis {

namespace detail {
class WsFanoutImpl;
}

/// What to do with a client whose queue is full.
enum class WsSlowPolicy {
  drop_oldest,  ///< Drop its oldest frames; it then gets `{"type":"dropped","count":N}` before the next frame.
  disconnect,   ///< Close its connection.
};

/// Settings of a WsFanout. A plain value.
struct UVREDIS_API WsFanoutOptions {
  std::string host = "127.0.0.1";  ///< Interface to listen on (an IPv4 address).
  int port = 7681;                 ///< TCP port; 0 lets the kernel pick one (see WsFanout::port()).
  std::string protocol = "uvredis-chat";  ///< WebSocket subprotocol name clients ask for.
  /// Directory of static files served at "/" (index.html by default); empty
  /// serves none.
  std::string www;
  /// Path of the JSON counters endpoint (WsFanout::stats_json()); empty: none.
  /// With `?reset_lag` the loop-lag maximum starts afresh after the answer.
  std::string stats_path = "/stats";
  std::string channel_prefix = "chat:room:";  ///< Room R is the channel prefix + R.
  /// Rooms whose channel is resumable (ResumableChannel with its stream
  /// `channel:history`): messages carry their stream id, gaps are filled.
  std::vector<std::string> resumable_rooms;
  long long resumable_max_len = 10000;  ///< MAXLEN ~ of those streams.

  std::size_t queue_frames = 1024;      ///< Frames queued per client before the slow-client policy applies.
  std::size_t queue_bytes = 8u << 20;   ///< The same in bytes; also the largest message forwarded.
  WsSlowPolicy slow_policy = WsSlowPolicy::drop_oldest;
  /// Bytes written to all clients together per loop turn, roughly: past it,
  /// frames wait for the next turn (and each waiting client gets an equal
  /// share then). Bounds the loop lag of a burst of large frames.
  std::size_t turn_budget_bytes = 1u << 20;
  /// Frames written to all clients together per loop turn, at most (not 0).
  /// Each frame is a send() whatever its size, so a burst of small frames
  /// is bounded by this one: 1 MiB of 128-byte messages would be 8,000
  /// writes in one turn.
  std::size_t turn_budget_frames = 512;
  /// Bytes written to one client per writable event, at most.
  std::size_t client_budget_bytes = 256u << 10;
  std::size_t max_incoming = 8 * 1024;  ///< Largest message accepted from a client (larger: closed).
  std::size_t max_text = 2000;          ///< Largest `say` text.
  bool verbose = false;                 ///< Log every connect, join and disconnect.
};

/// Counters since start (loop thread; plain values).
struct UVREDIS_API WsFanoutStats {
  std::size_t clients = 0;           ///< Connected now.
  std::size_t rooms = 0;             ///< Rooms with at least one client now.
  std::uint64_t connections = 0;     ///< WebSocket clients ever accepted.
  std::uint64_t published = 0;       ///< PUBLISH (or resumable publish) issued for clients.
  std::uint64_t publish_errors = 0;  ///< ... that failed.
  std::uint64_t redis_messages = 0;  ///< Messages received from Redis (plain and resumable).
  std::uint64_t unrouted = 0;        ///< ... for a room nobody here is in.
  std::uint64_t oversize = 0;        ///< ... larger than queue_bytes (not forwarded).
  std::uint64_t frames_queued = 0;   ///< Frames put in client queues.
  std::uint64_t frames_sent = 0;     ///< Frames handed to sockets.
  std::uint64_t direct_writes = 0;   ///< ... of which at once, without waiting for a writable event.
  std::uint64_t writeables = 0;      ///< Writable events handled.
  std::uint64_t socket_full = 0;     ///< Times the kernel did not take a whole frame (write interest armed).
  std::uint64_t budget_full = 0;     ///< Times a client stopped at the turn's (or its own) byte budget.
  std::uint64_t dropped = 0;         ///< Frames dropped by the drop_oldest policy.
  std::uint64_t slow_clients = 0;    ///< Clients that lost at least one frame.
  std::uint64_t slow_disconnects = 0;  ///< Clients closed by the disconnect policy.
  std::uint64_t bad_requests = 0;    ///< Client messages answered with an error frame.
  std::uint64_t redis_outages = 0;   ///< Times the plain subscriber lost Redis.
  std::uint64_t recovered = 0;       ///< Resumable messages read back from a stream after a gap.
  std::uint64_t history_lost = 0;    ///< Resumable messages reported lost (stream trimmed past them).
  std::uint64_t resumes = 0;         ///< Joins with a `last_id` (a client catching up).
  std::uint64_t resumed_frames = 0;  ///< Stream entries queued for such clients.
  std::size_t deepest_queue = 0;     ///< Longest client queue now (frames).
  std::size_t deepest_queue_bytes = 0;  ///< ... (bytes).
  std::uint64_t loop_lag_ms_last = 0;   ///< Lateness of the last 100 ms tick.
  std::uint64_t loop_lag_ms_max = 0;    ///< ... the worst one.
  bool subscribed = false;              ///< The plain subscriber is subscribed now.
};

/// The fan-out server. Lifetime: borrows the loop (which must outlive it);
/// owns its Redis connections (a Client for publishing and stream reads, a
/// Subscriber, one ResumableSubscriber per resumable room). Call close(done)
/// and let the loop run until `done` before ending the loop: afterwards no
/// handle of it is left (uv_loop_close() returns 0). Destroying it before
/// `done` starts the same close (and drops every callback of the user,
/// `done` included); the loop must still run until it completes.
/// Loop-thread only.
class UVREDIS_API WsFanout {
 public:
  using ClientId = std::uint64_t;
  /// Sees each complete text message of a client before the built-in
  /// protocol does; return true when it handled it. Must not throw.
  using TextHandler = Listener<bool(ClientId, std::string_view text)>;

  /// Keeps `redis` (address, credentials, timeouts, logger: the component
  /// logs through `redis.logger` too) for the connections start() opens.
  /// Opens nothing yet.
  WsFanout(uv_loop_s* loop, ClientOptions redis, WsFanoutOptions options);
  ~WsFanout();
  WsFanout(const WsFanout&) = delete;
  WsFanout& operator=(const WsFanout&) = delete;

  /// Subscribes and starts listening. Returns the port, or an error:
  /// `usage` for bad options, `connect` when the port is in use. Call once.
  /// (libwebsockets 4.1 cannot recover from a failure inside its own context
  /// creation on a foreign loop; then the error message says so and the
  /// loop must not run again.)
  Result<int> start();
  /// The listening port (0 before start()).
  int port() const noexcept;

  void on_text(TextHandler fn);                        ///< See TextHandler.
  void on_connect(Listener<void(ClientId)> fn);     ///< A client connected (before any message).
  void on_disconnect(Listener<void(ClientId)> fn);  ///< A client is gone.

  /// Queues a text frame (valid UTF-8) for one client; false when unknown.
  bool send(ClientId client, std::string_view text);
  /// Puts a client in a room (leaving its previous one); false when unknown
  /// or the room name is not 1-64 of A-Z a-z 0-9 - _ . .
  bool join(ClientId client, std::string_view room);
  /// Queues a text frame for every client here in `room` (not through
  /// Redis); false when nobody is in it.
  bool send_room(std::string_view room, std::string_view text);
  /// Publishes `text` to the room's channel (resumably for resumable rooms):
  /// every fan-out server subscribed to it delivers it. `cb` gets the result
  /// (exactly once, never inside this call).
  void publish(std::string_view room, std::string_view text, Callback<void> cb = {});

  WsFanoutStats stats() const;
  /// The counters as the JSON object served at `stats_path`.
  std::string stats_json() const;

  /// Stops accepting, closes every client and Redis connection and every
  /// handle; `done` runs once all are closed (exactly once, on a later loop
  /// turn; also when it was never started). A second call only adds its
  /// `done`. Publish callbacks still pending get `closed` errors first. May
  /// be called (and the WsFanout destroyed) from inside its own callbacks.
  void close(Once<void()> done = {});

 private:
  std::shared_ptr<detail::WsFanoutImpl> impl_;
};

}  // namespace uvredis
