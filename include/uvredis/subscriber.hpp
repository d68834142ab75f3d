#pragma once
/// @file subscriber.hpp
/// Subscriber: Redis pub/sub on a connection of its own, with automatic
/// recovery. After the link drops it reconnects (with the client's backoff),
/// subscribes again to every channel and pattern it held, and reports the
/// state change, so a fan-out server knows that messages published while it
/// was away are lost: Redis pub/sub is at-most-once.
///
/// Threading: loop-thread only. Lifetime: borrows the loop; close(cb) or
/// destroy it, then keep running the loop until it returns. A handler may
/// unsubscribe, close or even destroy the subscriber from inside itself.
///
/// Publishing is done with a Client (`client.publish(channel, message)`).
///
/// Liveness: no PING on the subscribed connection (hiredis 0.14 routes its
/// PONG to a channel callback); TCP keepalive detects a dead peer instead.
/// Slow consumers: messages are handed to handlers as they are parsed, at
/// most one socket read (16 KiB) per loop turn, so uvredis buffers nothing
/// without bound; the server's pubsub output-buffer limit drops a consumer
/// that falls too far behind, which shows up as a reconnect.
/// Sharded pub/sub (SSUBSCRIBE) is not offered here: hiredis' async API
/// aborts on the first `smessage`. ClusterSubscriber::ssubscribe offers it on
/// a cluster, over connections that bypass that part of hiredis.

#include <uvredis/callbacks.hpp>
#include <uvredis/client.hpp>
#include <uvredis/export.hpp>
#include <uvredis/options.hpp>
#include <uvredis/result.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct uv_loop_s;

namespace uvredis {

namespace detail {
class SubscriberImpl;
}

/// One published message. `pattern` is set when it matched a psubscribe.
struct UVREDIS_API Message {
  std::string channel;
  std::string payload;
  std::string pattern;
};

/// Runs on the loop thread for each message; like every uvredis callback it
/// must not throw (an escaping exception ends the program; see client.hpp).
using MessageHandler = Listener<void(const Message&)>;

/// Counters of a Subscriber (loop thread).
struct UVREDIS_API SubscriberStats {
  std::uint64_t messages = 0;             ///< Messages delivered to handlers.
  std::uint64_t unhandled = 0;            ///< Messages no handler wanted (dropped).
  std::uint64_t resubscribes = 0;         ///< Times the subscriptions were restored after a drop.
  std::size_t last_turn_messages = 0;     ///< Messages handled in the most recent loop turn with input.
  std::size_t max_turn_messages = 0;      ///< Most messages handled in one loop turn.
  std::size_t channels = 0;               ///< Channels subscribed (or to be, once connected).
  std::size_t patterns = 0;               ///< Patterns subscribed (or to be).
  std::size_t shard_channels = 0;         ///< Shard channels (ClusterSubscriber::ssubscribe).
};

class UVREDIS_API Subscriber {
 public:
  /// Starts connecting at once. Only the address, credentials, sentinel
  /// settings, timeouts, reconnect settings, keepalive and logger of
  /// `options` are used. In sentinel mode it follows the master through a
  /// failover and subscribes again there (messages in between are lost).
  Subscriber(uv_loop_s* loop, ClientOptions options);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  /// Subscribes to `channels` (any bytes), each with `handler` (replacing an
  /// earlier handler of that channel). `confirmed` runs once the server
  /// acknowledged every channel (after a reconnect if need be), or with an
  /// error (usage for an empty list, closed when the subscriber closes first).
  void subscribe(std::vector<std::string> channels, MessageHandler handler, Callback<void> confirmed = {});
  /// Like subscribe, for glob-style patterns (`chat:room:*`).
  void psubscribe(std::vector<std::string> patterns, MessageHandler handler, Callback<void> confirmed = {});
  /// Stops delivery for `channels` at once (even of messages already read)
  /// and tells the server; `done` runs once the server confirmed (a PUBLISH
  /// sent from it no longer counts this subscriber), or, when the link drops
  /// first, then (nothing is subscribed any more either); with `closed` when
  /// the subscriber closes first. Always on a later loop turn.
  void unsubscribe(std::vector<std::string> channels, Callback<void> done = {});
  void punsubscribe(std::vector<std::string> patterns, Callback<void> done = {});

  /// Handler for messages of subscriptions that have none (null: drop them).
  void on_message(MessageHandler catch_all);
  /// Told of every connection state change; `connected` after a reconnect
  /// comes once every subscription has been restored.
  void on_state_change(Listener<void(ConnectionState, const Error*)> fn);

  ConnectionState state() const noexcept;
  SubscriberStats stats() const noexcept;

  /// Unsubscribes from nothing, just closes: pending confirmations fail with
  /// closed, every handle closes, then `done` runs.
  void close(Once<void()> done = {});

 private:
  std::unique_ptr<detail::SubscriberImpl> impl_;  // complete (and destroyed) in src/subscriber.cpp
};

}  // namespace uvredis
