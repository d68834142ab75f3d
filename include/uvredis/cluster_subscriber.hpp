#pragma once
/// @file cluster_subscriber.hpp
/// ClusterSubscriber: pub/sub on a Redis Cluster, classic and sharded.
///
/// Classic (SUBSCRIBE/PSUBSCRIBE): every node, master or replica, receives
/// every PUBLISH (the cluster bus broadcasts it), so one connection to any
/// node hears everything. The subscriber holds one Subscriber on one node
/// and, when that node's link drops, moves to the next of the seed nodes at
/// once and subscribes again to everything it held. Publish with a
/// ClusterClient (`PUBLISH` is keyless: any node).
///
/// Sharded (SSUBSCRIBE, Redis 7): a shard channel belongs to the hash slot
/// of its name (CRC16 with {hash tags}, as ClusterClient::key_slot) and only
/// the master owning that slot delivers it. Publish with
/// `cluster.command({"SPUBLISH", channel, msg})`, which ClusterClient routes
/// by that slot. The subscriber learns the slot map (CLUSTER SLOTS, through a
/// ClusterClient of its own, opened on the first ssubscribe) and keeps one
/// connection per master that owns subscribed channels. ssubscribe takes
/// channels of any slots: they are split per slot (one SSUBSCRIBE each, as
/// Redis requires) and `confirmed` runs once all are confirmed. A channel is
/// subscribed again at its new owner when
/// - its master's link drops: the map is asked again at once, then with
///   backoff (up to 1 s) while it still names the dead master; after a
///   failover the promoted replica gets the channel;
/// - the server unsubscribes it by itself (Redis 7 does when the slot
///   migrates to another master): map refresh, subscribe at the new owner;
/// - SSUBSCRIBE is answered with MOVED (followed at once, up to
///   `max_redirects` times) or TRYAGAIN/CLUSTERDOWN/ASK/LOADING (after a map
///   refresh with backoff). Any other error reply (NOPERM, a server without
///   SSUBSCRIBE ...) fails the call's `confirmed` with that server error and
///   the channel is dropped.
///
/// hiredis (0.14, and still 1.x) only knows SUBSCRIBE/PSUBSCRIBE as entering
/// subscribed mode: its redisProcessCallbacks aborts on the first `smessage`
/// (an assert). So shard connections do not use hiredis' callback machinery:
/// uvredis reads the socket through hiredis (redisBufferRead, its parser) and
/// dispatches every reply itself; hiredis still owns the connect, the writes
/// and the teardown. On these connections PING works (`health_check_interval`
/// of `options.client` applies), unlike on a classic subscriber.
///
/// Messages published while a channel has no live subscription are lost
/// (Redis pub/sub is at-most-once). on_state_change reports `reconnecting`
/// when the classic link drops or a shard channel that was subscribed lost
/// its subscription, and `connected` once everything is back.
///
/// Threading: loop-thread only. Lifetime: borrows the loop; close(cb) or
/// destroy it (pending confirmations fail with closed), then keep running
/// the loop until it returns. A handler may unsubscribe, close or destroy
/// the subscriber from inside itself.

#include <uvredis/callbacks.hpp>
#include <uvredis/cluster.hpp>
#include <uvredis/export.hpp>
#include <uvredis/subscriber.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct uv_loop_s;

namespace uvredis {

namespace detail {
class ClusterSubscriberImpl;
}

class UVREDIS_API ClusterSubscriber {
 public:
  /// Connects to the first seed at once; moves along `options.seeds` (in
  /// order, wrapping around) whenever the current node is lost. List several
  /// nodes. The per-node settings come from `options.client`, as for
  /// ClusterClient; a rediss:// seed is reached over TLS (so is every seed
  /// when `options.client.address.tls`); invalid seeds make every
  /// confirmation fail with usage.
  ClusterSubscriber(uv_loop_s* loop, ClusterOptions options);
  ~ClusterSubscriber();
  ClusterSubscriber(const ClusterSubscriber&) = delete;
  ClusterSubscriber& operator=(const ClusterSubscriber&) = delete;

  /// As Subscriber::subscribe. A confirmation still pending when the
  /// subscriber moves is completed by the new node's confirmation.
  void subscribe(std::vector<std::string> channels, MessageHandler handler, Callback<void> confirmed = {});
  /// As Subscriber::psubscribe.
  void psubscribe(std::vector<std::string> patterns, MessageHandler handler, Callback<void> confirmed = {});
  /// As Subscriber::unsubscribe / punsubscribe.
  void unsubscribe(std::vector<std::string> channels, Callback<void> done = {});
  void punsubscribe(std::vector<std::string> patterns, Callback<void> done = {});

  /// Sharded subscription (SSUBSCRIBE) to `channels` (any bytes, any slots),
  /// each with `handler` (replacing an earlier handler of that shard
  /// channel; shard channels and classic channels are separate, as in
  /// Redis). `confirmed` runs once, when the owning masters confirmed every
  /// channel, or with an error: usage for an empty list or invalid seeds,
  /// closed when the subscriber closes (or the channel is sunsubscribed)
  /// first, server when a master refused a channel for good. Messages are
  /// delivered with an empty `pattern`.
  void ssubscribe(std::vector<std::string> channels, MessageHandler handler, Callback<void> confirmed = {});
  /// Stops delivery for shard `channels` at once and tells their masters;
  /// `done` runs on a later loop turn.
  void sunsubscribe(std::vector<std::string> channels, Callback<void> done = {});
  /// "host:port" of the master a shard channel is confirmed on now; empty
  /// while it is not (not yet, or being moved). For diagnostics and tests.
  std::optional<std::string> shard_node(const std::string& channel) const;

  /// Handler for messages of subscriptions that have none (null: drop them).
  void on_message(MessageHandler catch_all);
  /// Told of every state change (see the file comment for moves).
  void on_state_change(Listener<void(ConnectionState, const Error*)> fn);

  ConnectionState state() const noexcept;
  /// Counters summed over every node this subscriber has used.
  SubscriberStats stats() const noexcept;
  /// "host:port" of the node the classic subscriptions use now.
  std::string node() const;
  /// How many times the classic subscriptions moved to another node.
  std::uint64_t moves() const noexcept;

  /// Closes the connection: pending confirmations fail with closed, every
  /// handle closes, then `done` runs once on the loop.
  void close(Once<void()> done = {});

 private:
  std::unique_ptr<detail::ClusterSubscriberImpl> impl_;  // complete (and destroyed) in src/cluster_subscriber.cpp
};

}  // namespace uvredis
