#pragma once
/// @file cluster_subscriber.hpp
/// ClusterSubscriber: classic pub/sub (SUBSCRIBE/PSUBSCRIBE) on a Redis
/// Cluster. In a cluster every node, master or replica, receives every
/// PUBLISH (the cluster bus broadcasts it), so one connection to any node
/// hears everything. The subscriber holds one Subscriber on one node and,
/// when that node's link drops, moves to the next of the seed nodes at
/// once and subscribes again to everything it held. Publish with a
/// ClusterClient (`PUBLISH` is keyless: any node).
///
/// Messages published while it moves are lost (Redis pub/sub is
/// at-most-once); on_state_change reports `reconnecting` when the link
/// drops and `connected` once every subscription is back on the new node.
///
/// Sharded pub/sub (SSUBSCRIBE/SPUBLISH) is not offered: hiredis' async API
/// (0.14, and still 1.x) only knows SUBSCRIBE/PSUBSCRIBE as entering
/// subscribed mode; an `smessage` then arrives with no callback queued and
/// hiredis aborts on `assert(c->flags & REDIS_SUBSCRIBED || ...)` in
/// redisProcessCallbacks. It would need a connection that parses pushed
/// replies itself instead of going through redisAsyncHandleRead.
///
/// Threading: loop-thread only. Lifetime: borrows the loop; close(cb) or
/// destroy it (pending confirmations fail with closed), then keep running
/// the loop until it returns.

#include <uvredis/cluster.hpp>
#include <uvredis/subscriber.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct uv_loop_s;

namespace uvredis {

namespace detail {
class ClusterSubscriberImpl;
}

class ClusterSubscriber {
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

  /// Handler for messages of subscriptions that have none (null: drop them).
  void on_message(MessageHandler catch_all);
  /// Told of every state change (see the file comment for moves).
  void on_state_change(std::function<void(ConnectionState, const Error*)> fn);

  ConnectionState state() const noexcept;
  /// Counters summed over every node this subscriber has used.
  SubscriberStats stats() const noexcept;
  /// "host:port" of the node in use now.
  std::string node() const;
  /// How many times it moved to another node.
  std::uint64_t moves() const noexcept;

  /// Closes the connection: pending confirmations fail with closed, every
  /// handle closes, then `done` runs once on the loop.
  void close(detail::Function<void()> done = {});

 private:
  detail::ClusterSubscriberImpl* impl_;
};

}  // namespace uvredis
