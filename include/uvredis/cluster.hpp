#pragma once
/// @file cluster.hpp
/// ClusterClient: the Executor for Redis Cluster. Same typed helpers,
/// Pipeline, Transaction and recipes as a single-server Client; each command
/// goes to the master that owns its key's hash slot.
///
/// Threading: loop-thread only (no thread-safe poster yet; use a Client's
/// Poster or your own uv_async to reach the loop from other threads).
///
/// Lifetime: the ClusterClient borrows the loop; it never runs or closes it.
/// Close it with close(cb) (graceful: commands already sent get their
/// replies) or destroy it (pending commands fail with ErrorKind::closed on a
/// later loop turn). Either way keep running the loop until it returns.
///
/// What it does:
/// - Discovers the slot map with CLUSTER SLOTS from the seeds (then from any
///   known master), keeps one connection per master (a Client each, so
///   blocking commands get their own connections there too). Node names are
///   resolved without blocking the loop.
/// - Routes by CRC16 key slot with {hash tags} (SPUBLISH by its channel's
///   slot, as sharded pub/sub requires). Keyless commands (PING, INFO,
///   EVAL with 0 keys, PUBLISH ...) go to one master, round robin, except
///   DBSIZE (summed), FLUSHALL, FLUSHDB, SCRIPT LOAD/FLUSH and FUNCTION
///   LOAD/DELETE/FLUSH/RESTORE, which go to every master (one reply: the
///   first, or the first error; not retried, as some masters may have run it).
///   For anything else per node use command_to().
/// - MOVED: updates the map, resends, refreshes the map. ASK: sends ASKING +
///   the command to the importing node as one group, map unchanged.
///   TRYAGAIN, CLUSTERDOWN and commands that never left (the node could not
///   be reached) are retried with exponential backoff up to max_retries.
///   A command that was sent and then lost its link fails with
///   connection_lost (at-most-once, as on a Client) and the map is refreshed,
///   so later commands reach the new master after a failover.
/// - MGET, MSET, DEL, EXISTS, UNLINK and TOUCH over several slots are split
///   per slot and their replies combined in the caller's order (not atomic:
///   a part may fail while others succeeded; the first error is reported).
///   Other commands whose keys are in different slots fail with a usage
///   error before anything is sent.
/// - command_group (Transaction) needs all keys in one slot (usage error
///   otherwise). A MULTI/EXEC group aborted by MOVED/ASK/TRYAGAIN (EXECABORT,
///   nothing ran) is sent again to the right node.
/// - Not supported: WATCH (needs a leased connection: watch_transaction takes
///   a Client), SELECT (a cluster has database 0 only), the SUBSCRIBE family
///   (see ClusterSubscriber), reads from replicas. WAIT/WAITAOF alone are
///   refused: they count the writes of their own connection, so send them
///   in a command_group right after the writes they are about.

#include <uvredis/client.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/options.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

namespace detail {
class ClusterImpl;
}

/// How to reach and treat a cluster. Every field except `seeds` has a default.
struct ClusterOptions {
  /// Where discovery starts: "host:port" or redis:// URLs, any subset of the
  /// cluster's nodes (masters or replicas). Credentials in a seed URL apply
  /// to every node unless `client.address` has its own.
  std::vector<std::string> seeds;

  /// Per-node connection settings: timeouts, reconnect backoff, queue bounds,
  /// client name, logger, username/password (client.address.host, port and
  /// db are ignored: nodes come from the cluster, and a cluster has db 0).
  /// Node connections always reconnect (`client.reconnect` is ignored: the
  /// slot map decides when a node is dropped), and their reconnect delay is
  /// capped at 1 s so that commands queued for a dead master learn quickly
  /// that they must go elsewhere.
  ClientOptions client;

  /// MOVED/ASK redirections followed per command before giving up.
  int max_redirects = 5;
  /// Retries per command after TRYAGAIN, CLUSTERDOWN or an unreachable node
  /// (the command was never sent), with exponential backoff between these.
  int max_retries = 12;
  std::chrono::milliseconds retry_min_delay{20};
  std::chrono::milliseconds retry_max_delay{500};

  /// The slot map is refreshed this often even without redirections; zero
  /// disables the periodic refresh.
  std::chrono::milliseconds refresh_interval{30000};
  /// At most one refresh runs at a time, and two start at least this far apart.
  std::chrono::milliseconds refresh_min_interval{100};
};

/// Counters a user can read at any time (loop thread).
struct ClusterStats {
  ClientStats nodes;                   ///< Summed over every node's connections.
  std::uint64_t moved = 0;             ///< MOVED redirections followed.
  std::uint64_t ask = 0;               ///< ASK redirections followed.
  std::uint64_t retries = 0;           ///< Commands retried after TRYAGAIN/CLUSTERDOWN/unreachable node.
  std::uint64_t refreshes = 0;         ///< Slot map refreshes started.
  std::uint64_t refresh_failures = 0;  ///< Refreshes that found no node to answer.
  std::uint64_t splits = 0;            ///< Multi-key commands split across slots.
  std::size_t masters = 0;             ///< Masters in the current map.
  std::size_t waiting = 0;             ///< Commands waiting for the map or a retry.
};

class ClusterClient final : public Executor {
 public:
  /// Starts discovery at once. Invalid options (no seed, a seed that does
  /// not parse, a db other than 0, rediss://) do not throw: every command
  /// then fails with that usage error.
  ClusterClient(uv_loop_s* loop, ClusterOptions options);
  ~ClusterClient() override;
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  /// Sends any command to the master of its key's slot (see the file
  /// comment for keyless and multi-key commands). The arguments are copied
  /// before the call returns. `opts.timeout` applies to each attempt.
  using Executor::command;
  void command(std::span<const std::string_view> argv, Callback<Reply> cb, CommandOptions opts = {}) override;

  /// Sends a command to one node by its "host:port" name as the slot map
  /// spells it (see masters()), without redirections: for per-node commands
  /// such as DBSIZE, INFO or FLUSHALL. An unknown name is a usage error.
  void command_to(std::string_view node, std::span<const std::string_view> argv, Callback<Reply> cb,
                  CommandOptions opts = {});

  /// An unbreakable group on the connection of the one slot its keys share
  /// (keyless groups: any master); usage error when the keys span slots.
  void command_group(const std::vector<std::vector<std::string>>& cmds,
                     detail::Function<void(std::vector<Result<Reply>>)> done, CommandOptions opts = {}) override;

  /// Runs `fn` on a later loop turn (loop thread only).
  void post(detail::Function<void()> fn) override;
  uv_loop_s* loop() const noexcept override;

  /// Stops accepting commands, lets those sent finish (commands waiting for
  /// a retry fail with closed), closes every connection and handle, then
  /// calls `done` once on the loop. Calling it again is fine.
  void close(detail::Function<void()> done = {});

  /// Asks for a slot map refresh now (still at most one at a time).
  void refresh();

  /// "host:port" of every master in the current map (empty before discovery).
  std::vector<std::string> masters() const;
  /// The master currently serving `key`'s slot, if the map knows it.
  std::optional<std::string> node_for_key(std::string_view key) const;

  ClusterStats stats() const noexcept;

  /// The hash slot (0..16383) of a key, honouring {hash tags}.
  static int key_slot(std::string_view key) noexcept;

 private:
  detail::ClusterImpl* impl_;
};

}  // namespace uvredis
