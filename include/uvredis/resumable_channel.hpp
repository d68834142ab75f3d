#pragma once
/// @file resumable_channel.hpp
/// A pub/sub channel that survives gaps. Redis pub/sub is at-most-once: a
/// subscriber that reconnects has missed whatever was published meanwhile.
/// Here each message is also kept in a capped stream:
///
/// - ResumableChannel::publish appends the message to the stream
///   (`XADD stream MAXLEN ~ N * ...`) and PUBLISHes it with its stream id, in
///   one round trip (a Lua script, so both happen atomically on the stream's
///   node; on a ClusterClient the script is routed by the stream key and the
///   PUBLISH reaches subscribers on every node).
/// - ResumableSubscriber delivers each message with its id, in id order,
///   each once. After a gap (its pub/sub connection dropped and came back)
///   it reads the stream from the last id it delivered, delivers what it
///   missed, then the live messages that arrived meanwhile, skipping any id
///   it already delivered. When the stream was trimmed past that id (the cap
///   was reached while it was away) it reports how much history was lost.
///
/// Each stream entry holds two fields: "n", the message's sequence number
/// in the stream (1, 2, 3 ... counted by the publish script from the
/// previous entry; it is how lost history is counted), and "payload". Write
/// to the stream only through publish(): entries added or removed (XDEL) by
/// other means break the count (nothing else).
///
/// Threading: loop-thread only, like the Executor and Subscriber they use.

#include <uvredis/callbacks.hpp>
#include <uvredis/error.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>
#include <uvredis/link_types.hpp>
#include <uvredis/options.hpp>
#include <uvredis/result.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct uv_loop_s;

namespace uvredis {

namespace detail {
struct ResumableState;
}

/// Names and cap of a resumable channel. A plain value.
struct UVREDIS_API ResumableChannelOptions {
  std::string channel;  ///< The pub/sub channel (any bytes, not empty).
  /// The stream key; empty derives `channel` + ":history".
  std::string stream;
  /// MAXLEN ~ of each XADD (> 0): the stream keeps at least this many of the
  /// newest messages (a little more, as the server trims whole nodes).
  long long max_len = 10000;
};

/// The publishing side: a small value holding the Executor and the options.
/// Copyable. Destroying it while publishes are in flight is safe (their
/// callbacks still run). The Executor must outlive every publish.
class UVREDIS_API ResumableChannel {
 public:
  ResumableChannel(Executor& ex, ResumableChannelOptions options);

  /// Appends `payload` (any bytes, copied before the call returns) to the
  /// stream and publishes it, atomically, in one round trip. `cb` gets the
  /// message's stream id (exactly once, never inside this call), or the
  /// error (usage for bad options; then nothing is sent).
  void publish(std::string_view payload, Callback<std::string> cb = {}, CommandOptions opts = {});

  const std::string& channel() const noexcept { return o_.channel; }
  const std::string& stream() const noexcept { return o_.stream; }

 private:
  Executor* ex_;
  ResumableChannelOptions o_;
};

/// One delivered message: its stream id, its sequence number in the stream
/// (see the top of this file) and its payload.
struct UVREDIS_API ChannelMessage {
  std::string id;
  long long sequence = 0;
  std::string payload;
};

/// History that could not be delivered: the stream no longer held the
/// messages after `after_id` up to (not including) `resumed_id`, the first one
/// delivered again. `count` is how many were lost, when known (it is not
/// when the subscriber started from an id without its sequence and that id
/// was trimmed: then some messages may have been lost, maybe none).
struct UVREDIS_API HistoryLoss {
  std::string after_id;
  std::string resumed_id;
  std::optional<long long> count;
};

/// Settings of a ResumableSubscriber. A plain value.
struct UVREDIS_API ResumableSubscriberOptions {
  std::string channel;  ///< As in ResumableChannelOptions.
  std::string stream;   ///< As in ResumableChannelOptions (empty: derived the same way).
  /// Where to start: empty delivers every message added after the stream's
  /// newest entry at the time the subscription is first established; an id
  /// (say the last one a reconnecting browser saw) delivers every message
  /// after it that the stream still holds, then the live ones.
  std::string last_id;
  /// The sequence number of `last_id` when known (0: unknown), so a loss
  /// can be counted when `last_id` itself was trimmed.
  long long last_sequence = 0;
  /// COUNT of each XRANGE while catching up (> 0).
  long long batch = 500;
};

/// Counters of a ResumableSubscriber (since it was created).
struct UVREDIS_API ResumableSubscriberStats {
  std::uint64_t delivered = 0;   ///< Messages handed to the handler.
  std::uint64_t live = 0;        ///< ... of which came live from pub/sub.
  std::uint64_t recovered = 0;   ///< ... of which were read back from the stream.
  std::uint64_t duplicates = 0;  ///< Messages dropped because their id was already delivered.
  std::uint64_t catch_ups = 0;   ///< Catch-ups run (the first one included).
  std::uint64_t lost = 0;        ///< Messages reported lost (counted ones only).
  std::uint64_t errors = 0;      ///< Errors reported to the error listener.
};

/// The subscribing side: a Subscriber of its own for the live messages plus
/// an Executor (a Client or ClusterClient) for reading the stream.
///
/// Lifetime: borrows the loop and the Executor (which must outlive it).
/// close(cb) or destroy it at any time, also from inside one of its own
/// callbacks: nothing is called back afterwards (except close's `done`).
/// Loop-thread only.
class UVREDIS_API ResumableSubscriber {
 public:
  /// Gets each message in id order, each once; never inside a call made by
  /// the user.
  using Handler = Listener<void(const ChannelMessage&)>;

  /// Starts at once: subscribes with `sub_options` (as for Subscriber) and,
  /// once subscribed, catches up from `options.last_id` (see above). Bad
  /// options are reported to the error listener on a later loop turn and
  /// nothing is delivered.
  ResumableSubscriber(uv_loop_s* loop, ClientOptions sub_options, Executor& reader,
                      ResumableSubscriberOptions options, Handler handler);
  ~ResumableSubscriber();
  ResumableSubscriber(const ResumableSubscriber&) = delete;
  ResumableSubscriber& operator=(const ResumableSubscriber&) = delete;

  /// Told (before the message at `resumed_id` is delivered) when history
  /// was lost. None by default (the loss is only counted).
  void on_loss(Listener<void(const HistoryLoss&)> fn);
  /// Told of errors it recovered from: a failed stream read (retried, with a
  /// growing delay up to 2 s, while live messages wait in a buffer), a
  /// malformed live message (dropped), bad options.
  void on_error(Listener<void(const Error&)> fn);
  /// The state of the pub/sub connection, as Subscriber::on_state_change;
  /// `connected` comes once subscribed again, before the catch-up.
  void on_state_change(Listener<void(ConnectionState, const Error*)> fn);

  /// True while delivering live messages (subscribed and caught up).
  bool live() const noexcept;
  /// The id of the last message delivered (or the starting point).
  const std::string& last_id() const noexcept;
  ResumableSubscriberStats stats() const noexcept;

  /// Stops delivery at once (live messages buffered and stream reads in
  /// flight are dropped) and closes the pub/sub connection; `done` runs once
  /// it closed (exactly once, on a later loop turn; not when the subscriber
  /// is destroyed first).
  void close(Once<void()> done = {});

 private:
  std::shared_ptr<detail::ResumableState> s_;
};

}  // namespace uvredis
