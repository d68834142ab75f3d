#pragma once
// Layer pubsub (src/pubsub/): subscriptions: Subscriber, sharded pub/sub links
// and ClusterSubscriber, keyspace notifications (plain and cluster). May
// include: every layer up to cluster.
//
// ShardLink: sharded pub/sub (SSUBSCRIBE) on one server, over a push-mode
// Connection (our own read path: hiredis 0.14 aborts on an `smessage` when
// its redisProcessCallbacks sees it). The link holds the set of shard
// channels it should be subscribed to, subscribes them again after every
// reconnect, and tells its owner what happens to each channel. Where a
// channel belongs (which node owns its slot) is the owner's business.
//
// Loop thread only. Events are never delivered after the destructor ran;
// an event handler may destroy the ShardLink.

#include <uvredis/client.hpp>

#include "link/connection.hpp"

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace uvredis::detail {

class ShardLink {
 public:
  struct Events {
    /// An `smessage` on a channel this link holds.
    std::function<void(ShardLink&, std::string channel, std::string payload)> message;
    /// The server confirmed a held channel (after every SSUBSCRIBE of it).
    std::function<void(ShardLink&, const std::string& channel)> confirmed;
    /// The server unsubscribed a held channel by itself (Redis 7 does so when
    /// the channel's slot moves to another node); it is no longer held.
    std::function<void(ShardLink&, const std::string& channel)> dropped;
    /// The server refused an SSUBSCRIBE (MOVED, CLUSTERDOWN, NOPERM ...):
    /// those of its channels still held are held no longer.
    std::function<void(ShardLink&, std::vector<std::string> channels, const Error& err)> refused;
    /// The link's state changed (connected: every held channel was sent).
    std::function<void(ShardLink&, ConnectionState, const Error*)> state;
  };

  /// Connects at once. `cfg.push_mode` is forced on.
  ShardLink(uv_loop_t* loop, ConnectionConfig cfg, std::string node, Events events);
  ~ShardLink();
  ShardLink(const ShardLink&) = delete;
  ShardLink& operator=(const ShardLink&) = delete;

  /// Holds `channels` from now on and sends SSUBSCRIBE for every one of them
  /// (again, for those already held) when connected; otherwise they go out
  /// on connect. One command per hash slot (a cluster requires it).
  void add(const std::vector<std::string>& channels);
  /// Stops holding `channels`; sends SUNSUBSCRIBE when connected.
  void remove(const std::vector<std::string>& channels);

  bool holds(const std::string& channel) const { return held_.count(channel) != 0; }
  const std::unordered_set<std::string>& held() const noexcept { return held_; }
  ConnectionState state() const noexcept { return conn_->state(); }
  /// The node name the owner gave ("host:port").
  const std::string& node() const noexcept { return node_; }

  /// Closes the connection; `done` runs once everything is released.
  void close(Function<void()> done);

 private:
  void send(std::string_view command, const std::vector<const std::string*>& channels);
  void on_push(Reply&& r);
  void on_state(ConnectionState s, const Error* e);
  void on_refused(const std::vector<std::string>& channels, const Error& err);

  Connection* conn_;
  std::string node_;
  Events ev_;
  std::shared_ptr<bool> alive_;
  std::unordered_set<std::string> held_;
  // Our SUNSUBSCRIBEs awaiting their confirmation, by channel: a
  // `sunsubscribe` push beyond these is the server's own.
  std::unordered_map<std::string, unsigned> own_unsubscribes_;
};

}  // namespace uvredis::detail
