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
///   blocking commands get their own connections there too), plus one per
///   replica when reads from replicas are on (ClusterOptions::read_from).
///   Node names are resolved without blocking the loop.
/// - Routes by CRC16 key slot with {hash tags} (SPUBLISH by its channel's
///   slot, as sharded pub/sub requires). Keyless commands (PING, INFO,
///   EVAL with 0 keys, PUBLISH ...) go to one master, round robin, except
///   DBSIZE (summed), FLUSHALL, FLUSHDB, SCRIPT LOAD/FLUSH and FUNCTION
///   LOAD/DELETE/FLUSH/RESTORE, which go to every master (one reply: the
///   first, or the first error; not retried, as some masters may have run it).
///   For anything else per node use command_to(); a raw SCAN sent with
///   command() reaches one master only: walk them all with scan_all().
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
/// - WATCH: lease(key) lends a connection of its own on the master of the
///   key's slot, and watch_transaction(ClusterClient&, ...) runs the
///   optimistic WATCH ... MULTI/EXEC round there (all keys in one slot),
///   following the slot when it moves.
/// - TLS: rediss:// seeds (one is enough: every node connection then uses
///   TLS) with the `client.tls_*` options, which apply to every node. Nodes
///   are reached by the address the cluster announces (an IP literal unless
///   the nodes announce host names), and each node's certificate must be
///   valid for it, or for `client.tls_server_name` when set. The nodes must
///   run with `tls-cluster yes`: only then does Redis announce TLS ports
///   (in CLUSTER SLOTS, MOVED and ASK) to a client connected over TLS; without
///   it they announce their plain ports, where every TLS handshake fails.
/// - Reads from replicas (ReadFrom::replica_preferred, off by default): a
///   single read-only command whose keys share one slot (GET, HGETALL,
///   ZRANGE, MGET, EVAL_RO ...; each part of a split MGET or EXISTS) goes to
///   a connected replica of that slot's master, round robin, else to the
///   master. Writes, groups and transactions, keyless commands, blocking
///   commands, EVAL/EVALSHA/FCALL (use the _RO forms) and reads that are
///   about one node's bookkeeping stay on masters. A read that a replica
///   could not serve (not reachable, link lost, timeout, LOADING,
///   MASTERDOWN, NOSCRIPT, CLUSTERDOWN) is sent once more to the master;
///   resending a read is harmless. MOVED from a replica is followed to the new master.
///   Replicas lag behind: see ClusterOptions::read_from.
/// - Not supported: SELECT (a cluster has database 0 only), the SUBSCRIBE family
///   (see ClusterSubscriber). WAIT/WAITAOF alone are refused: they count the
///   writes of their own connection, so send them in a command_group right
///   after the writes they are about.

#include <uvredis/callbacks.hpp>
#include <uvredis/client.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>
#include <uvredis/lease.hpp>
#include <uvredis/options.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

namespace detail {
class ClusterImpl;
}

/// Where a ClusterClient sends read-only commands (ClusterOptions::read_from).
enum class ReadFrom {
  /// Every command goes to the master of its slot: reads see every write
  /// the master acknowledged. The default.
  master,
  /// Read-only commands go to a connected replica of their slot's master
  /// (round robin among them), to the master when none is connected or a
  /// replica cannot serve the read. Spreads read load; replies may be stale.
  replica_preferred,
};

/// How to reach and treat a cluster. Every field except `seeds` has a default.
struct UVREDIS_API ClusterOptions {
  /// Where discovery starts: "host:port", redis:// or rediss:// URLs, any
  /// subset of the cluster's nodes (masters or replicas). Credentials in a
  /// seed URL apply to every node unless `client.address` has its own; a
  /// rediss:// seed makes every node connection TLS (seeds that mix redis://
  /// and rediss:// are a usage error; "host:port" goes with either).
  std::vector<std::string> seeds;

  /// Per-node connection settings: timeouts, reconnect backoff, queue bounds,
  /// client name, logger, username/password, TLS files and checks
  /// (client.address.host, port and db are ignored: nodes come from the
  /// cluster, and a cluster has db 0; client.address.tls counts as a
  /// rediss:// seed).
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

  /// Where reads go (see the file comment for which commands count as
  /// reads). With ReadFrom::replica_preferred the client also connects to
  /// every replica that CLUSTER SLOTS lists (failed replicas are not
  /// listed), sending READONLY in each handshake (ClientOptions::
  /// cluster_readonly), and drops a replica's connection when a refresh no
  /// longer lists it. Staleness: replication is asynchronous, so a read
  /// issued right after a write, even an acknowledged one, may see the old
  /// value (or no key). Each handshake also asks ROLE: a replica whose link
  /// to its master is not `connected` (just restarted, still syncing) fails
  /// to connect and tries again, so its reads go to the master until it is
  /// in sync (a link that drops later is only seen at the next reconnect).
  /// Reads of a slot being migrated
  /// may miss keys that already moved. Send a read that must see your own
  /// writes through a client with the default, or after WAIT in the same
  /// command_group (groups always go to the master).
  ReadFrom read_from = ReadFrom::master;
};

/// Counters a user can read at any time (loop thread).
struct UVREDIS_API ClusterStats {
  ClientStats nodes;                   ///< Summed over every node's connections.
  std::uint64_t moved = 0;             ///< MOVED redirections followed.
  std::uint64_t ask = 0;               ///< ASK redirections followed.
  std::uint64_t retries = 0;           ///< Commands retried after TRYAGAIN/CLUSTERDOWN/unreachable node.
  std::uint64_t refreshes = 0;         ///< Slot map refreshes started.
  std::uint64_t refresh_failures = 0;  ///< Refreshes that found no node to answer.
  std::uint64_t splits = 0;            ///< Multi-key commands split across slots.
  std::uint64_t replica_reads = 0;     ///< Reads sent to a replica (each attempt).
  std::uint64_t replica_fallbacks = 0; ///< Of these, resent to the master because the replica could not serve them.
  /// Node connections replaced because they stopped answering: a command
  /// timed out there, and nothing at all came back on that link while a
  /// PING waited as long again.
  std::uint64_t replaced_links = 0;
  std::size_t masters = 0;             ///< Masters in the current map.
  std::size_t replicas = 0;            ///< Replica connections kept for reads (0 with ReadFrom::master).
  std::size_t replicas_connected = 0;  ///< Of these, connected now (the ones reads go to).
  std::size_t waiting = 0;             ///< Commands waiting for the map or a retry.
  std::uint64_t read_retries = 0;      ///< Reads resent after a lost link (ClientOptions::read_retry).
};

/// One node's counters (ClusterClient::node_stats()).
struct UVREDIS_API NodeStats {
  std::string node;     ///< "host:port" as the slot map spells it.
  bool master = false;  ///< Serves slots in the current map (else a replica kept for reads).
  /// The counters of its connections, with its latency histogram when
  /// ClusterOptions::client.latency_histogram is on.
  ClientStats stats;
};

class UVREDIS_API ClusterClient final : public Executor {
 public:
  /// Starts discovery at once. Invalid options (no seed, a seed that does
  /// not parse or is not TCP, a db other than 0, TLS in a build without it:
  /// see tls_supported()) do not throw: every command then fails with that
  /// usage error.
  ClusterClient(uv_loop_s* loop, ClusterOptions options);
  ~ClusterClient() override;
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  /// Sends any command to the master of its key's slot, or a read to one of
  /// that master's replicas with ReadFrom::replica_preferred (see the file
  /// comment for reads, keyless and multi-key commands). The arguments are
  /// copied before the call returns. `opts.timeout` applies to each attempt.
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
                     Once<void(std::vector<Result<Reply>>)> done, CommandOptions opts = {}) override;

  /// Lends a connection of its own on the master that serves `key`'s slot
  /// (waiting for the slot map if need be), for WATCH ... MULTI/EXEC on keys
  /// of that slot; `cb` runs once, on a later loop turn, with the Lease or
  /// the error (closed, a configuration error, no node for the slot after
  /// the retries). The Lease talks to that one node and follows no
  /// redirection: a MOVED reply reaches the caller as it is (prefer
  /// watch_transaction, which re-leases where the slot went). Give the
  /// Lease back (destroy it) before closing the ClusterClient.
  void lease(std::string_view key, Once<void(Result<std::unique_ptr<Lease>>)> cb);

  /// Walks the keyspace of every master in turn (SCAN is per node; a cursor
  /// means nothing to another node): waits for the slot map, then runs
  /// Executor::scan_all's SCAN chain on each master the map names at that
  /// moment, one after the other. Same contract as Executor::scan_all
  /// (on_batch may stop it; `done` once); a master lost during the walk ends
  /// it with that error. Keys that move between masters meanwhile may be
  /// missed or seen twice. KvStore::list and other recipes use this.
  void scan_all(const ScanOptions& opts, Listener<bool(std::vector<std::string>)> on_batch,
                Callback<void> done = {}) override;

  /// Runs `fn` on a later loop turn (loop thread only).
  void post(Once<void()> fn) override;
  uv_loop_s* loop() const noexcept override;

  /// Stops accepting commands, lets those sent finish (commands waiting for
  /// a retry fail with closed), closes every connection and handle, then
  /// calls `done` once on the loop. Calling it again is fine.
  void close(Once<void()> done = {});

  /// Asks for a slot map refresh now (still at most one at a time).
  void refresh();

  /// "host:port" of every master in the current map (empty before discovery).
  std::vector<std::string> masters() const;
  /// The master currently serving `key`'s slot, if the map knows it.
  std::optional<std::string> node_for_key(std::string_view key) const;

  ClusterStats stats() const noexcept;
  /// Counters per node (ClusterStats::nodes sums them), e.g. for latency
  /// figures per node. A snapshot: loop thread only, copied out.
  std::vector<NodeStats> node_stats() const;

  /// The hash slot (0..16383) of a key, honouring {hash tags}.
  static int key_slot(std::string_view key) noexcept;

 private:
  friend void watch_transaction(ClusterClient&, std::vector<std::string>, int,
                                Listener<void(Lease&, Transaction&, Once<void(bool)>)>,
                                Once<void(Result<Transaction::Outcome>)>);
  std::unique_ptr<detail::ClusterImpl> impl_;  // complete (and destroyed) in src/cluster.cpp
};

/// watch_transaction (lease.hpp) on a cluster: every key must hash to one
/// slot (a usage error before anything is sent otherwise; use a {hash tag}).
/// Each round leases a connection on the slot's master, WATCHes, runs
/// `body` and EXECs as on a Client. When the slot moved (WATCH answered
/// MOVED, or ASK/TRYAGAIN/CLUSTERDOWN while it moves) the round starts again
/// on the new master after a backoff; those restarts do not count against
/// `max_attempts` but are bounded by ClusterOptions::max_redirects +
/// max_retries. A transaction the server rejects (a queued command
/// answered MOVED: the slot moved between WATCH and EXEC and no watched
/// key was touched) ends with Outcome::rejected, as on a Client; the
/// commands' own results say why.
UVREDIS_API void watch_transaction(ClusterClient& cluster, std::vector<std::string> keys, int max_attempts,
                       Listener<void(Lease& lease, Transaction& tx, Once<void(bool)> go)> body,
                       Once<void(Result<Transaction::Outcome>)> done);

}  // namespace uvredis
