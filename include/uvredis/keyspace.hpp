#pragma once
/// @file keyspace.hpp
/// KeyspaceSubscriber: Redis keyspace notifications as typed events, on one
/// server or on every master of a cluster.
///
/// Redis publishes, for every change to a key, a message on
/// `__keyspace@<db>__:<key>` (payload: the event, such as `set`, `expire`,
/// `expired`, `del`) and one on `__keyevent@<db>__:<event>` (payload: the
/// key), when `notify-keyspace-events` allows it (off by default: set it in
/// redis.conf, or let this class send CONFIG SET, see KeyspaceOptions).
/// This class subscribes to such patterns (PSUBSCRIBE) and hands each
/// message over as a KeyspaceEvent: key (any bytes), event, database and the
/// node that published it.
///
/// Cluster: notifications stay on the node where the key changed, so the
/// subscriber keeps one Subscriber per master of the slot map (CLUSTER SLOTS,
/// asked through a ClusterClient of its own) and follows the map: a master
/// that appears is subscribed (and configured), one that is no longer a
/// master (failover, it left) is dropped. Replicas are never subscribed: a
/// replica replays its master's writes and would report them a second time.
/// The map is read again every `topology_interval`, and at once (then with
/// backoff) when a master's link drops. A master demoted while it stays up
/// (CLUSTER FAILOVER) is noticed at the next map read: until then it may
/// report its new master's writes as well; afterwards each event comes once.
///
/// Delivery is at-most-once, as all Redis pub/sub: events of a node whose
/// link is down, or of a new master before it is subscribed, are lost.
/// `expired` events come when Redis actually removes the key (on access or
/// by its background sweep), not at the exact expiry time.
///
/// Threading: loop-thread only. Lifetime: borrows the loop; close(cb) or
/// destroy it (pending confirmations fail with closed on a later turn), then
/// keep running the loop until it returns. A handler may unwatch, close or
/// destroy the subscriber from inside itself.

#include <uvredis/callbacks.hpp>
#include <uvredis/cluster.hpp>
#include <uvredis/export.hpp>
#include <uvredis/options.hpp>
#include <uvredis/result.hpp>
#include <uvredis/subscriber.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct uv_loop_s;

namespace uvredis {

namespace detail {
class KeyspaceImpl;
}

/// Which of the two notification channels an event came from.
enum class KeyspaceForm {
  keyspace,  ///< `__keyspace@<db>__:<key>`, payload the event (watch_keys).
  keyevent,  ///< `__keyevent@<db>__:<event>`, payload the key (watch_events).
};

/// One keyspace notification.
struct UVREDIS_API KeyspaceEvent {
  KeyspaceForm form = KeyspaceForm::keyspace;
  std::string key;    ///< The key, byte for byte.
  std::string event;  ///< The event name as Redis spells it: "set", "expire", "expired", "del", "hset" ...
  int db = 0;         ///< The database the key lives in.
  std::string node;   ///< "host:port" of the server that published it (as configured or as the map names it).
};

/// Runs on the loop thread for each event; must not throw.
using KeyspaceHandler = Listener<void(const KeyspaceEvent&)>;

/// Settings of a KeyspaceSubscriber. Every field has a default.
struct UVREDIS_API KeyspaceOptions {
  /// When not empty, sent as `CONFIG SET notify-keyspace-events <value>` to
  /// each server (each master) before its subscriptions count as confirmed,
  /// and again after each reconnect (a restarted server forgets it); for
  /// example "KEA" (everything) or "Kx" (key-space form, expired only).
  /// Empty: the server's setting is left alone. A refusal (CONFIG renamed or
  /// disabled, an ACL without +config|set) fails the confirmations waiting
  /// for that server with the server's reply (ErrorKind::server, text naming
  /// the node) and those of later watches too, and is also told to on_error;
  /// subscriptions stay in place.
  std::string notify_keyspace_events;
  /// Database whose events are watched; unset: the address's database on a
  /// single server, 0 on a cluster (which has only database 0). A negative
  /// number, or another one on a cluster, makes every watch fail with usage.
  std::optional<int> db;
  /// Cluster only: how often the slot map is read to notice new masters and
  /// failovers that did not drop a link. Zero: only when a link drops.
  std::chrono::milliseconds topology_interval{1000};
};

/// Identifies one watch (watch_keys / watch_events) for unwatch. Never 0.
using KeyspaceWatchId = std::uint64_t;

class UVREDIS_API KeyspaceSubscriber {
 public:
  /// One server (or a sentinel-managed master: `node` in events is then the
  /// configured address). Starts connecting at once; `options` as for a
  /// Subscriber.
  KeyspaceSubscriber(uv_loop_s* loop, ClientOptions options, KeyspaceOptions keyspace = {});
  /// A cluster: every master of the map (see the file comment). `options` as
  /// for a ClusterClient; invalid seeds make every confirmation fail with usage.
  KeyspaceSubscriber(uv_loop_s* loop, ClusterOptions options, KeyspaceOptions keyspace = {});
  ~KeyspaceSubscriber();
  KeyspaceSubscriber(const KeyspaceSubscriber&) = delete;
  KeyspaceSubscriber& operator=(const KeyspaceSubscriber&) = delete;

  /// Key-space form: events of keys matching `key_pattern` (glob, as
  /// PSUBSCRIBE: `session:*`; any bytes), only those named in `events`
  /// (exact names; empty: every event). `confirmed` runs once, on a later
  /// loop turn: when every server (every master of the map at that time;
  /// before the first map: of the first map) confirmed the subscription and,
  /// with notify_keyspace_events set, accepted CONFIG SET; or with the first
  /// error (closed when the subscriber closes first, usage for invalid
  /// cluster seeds, server for a refused CONFIG SET). Events may arrive
  /// before `confirmed`.
  KeyspaceWatchId watch_keys(std::string key_pattern, std::vector<std::string> events, KeyspaceHandler handler,
                             Callback<void> confirmed = {});
  /// Key-event form: every key that gets one of `events` (each a glob over
  /// event names: "expired", "h*"; "*" for all). Usage error for an empty
  /// list. `confirmed` as for watch_keys.
  KeyspaceWatchId watch_events(std::vector<std::string> events, KeyspaceHandler handler,
                               Callback<void> confirmed = {});
  /// Stops delivery for `id` at once; patterns no other watch uses are
  /// unsubscribed on every server. `done` runs once on a later loop turn
  /// (when every server confirmed, or at once for an unknown id).
  void unwatch(KeyspaceWatchId id, Callback<void> done = {});

  /// Told of every CONFIG SET failure (a refusal, or a link that failed
  /// before the reply), with the node's name in the text. A failure of the
  /// link is tried again when the node's subscriber reconnects.
  void on_error(Listener<void(const Error&)> fn);
  /// Told when a node's link changes state (reconnecting: its events are
  /// being lost), with the node's "host:port".
  void on_node_state(Listener<void(const std::string& node, ConnectionState, const Error*)> fn);

  /// "host:port" of every server subscribed now, or being subscribed
  /// (sorted); on a cluster the masters of the latest map. A watch confirmed
  /// after a node appeared here is in place on that node.
  std::vector<std::string> nodes() const;
  /// Events handed to handlers so far.
  std::uint64_t events() const noexcept;
  /// Cluster: how many slot maps were read; single server: 0.
  std::uint64_t map_reads() const noexcept;

  /// Closes every connection: pending confirmations fail with closed, then
  /// `done` runs once on the loop.
  void close(Once<void()> done = {});

 private:
  std::unique_ptr<detail::KeyspaceImpl> impl_;  // complete (and destroyed) in src/keyspace.cpp
};

/// Reads a keyspace notification channel and payload (pure, for tests and
/// for users of a plain Subscriber): nullopt when `channel` is not of the
/// form `__keyspace@<db>__:<key>` / `__keyevent@<db>__:<event>`.
UVREDIS_API std::optional<KeyspaceEvent> parse_keyspace_event(std::string_view channel, std::string_view payload);

}  // namespace uvredis
