#pragma once
/// @file consumer_group.hpp
/// ConsumerGroup: a worker of one Redis Streams consumer group. It reads
/// entries with XREADGROUP, hands each to a handler with a one-shot
/// EntryDone, acknowledges the handled ones (one XACK per loop turn), takes
/// over entries other consumers left idle (XAUTOCLAIM) and moves entries that
/// keep failing to a dead-letter stream.
///
/// Delivery is at least once: an entry is acknowledged only after its handler
/// said done(true). A handler that fails (done(false), or drops its EntryDone
/// without calling it), a worker that dies, a link that drops before the XACK
/// landed: the entry stays pending and is handed out again, to this worker or
/// another one, once it has been idle for `claim_idle`. Without failures each
/// entry is handled exactly once, provided handlers finish well within
/// `claim_idle` (a slower one is taken over by another consumer meanwhile).
///
/// Works on any Executor: a Client (each worker's reads use one of its
/// blocking connections while they wait, so nothing else on the client waits
/// behind them; with more than ClientOptions::max_blocking_connections
/// workers on one client, reads queue for a connection) or a ClusterClient
/// (every key of a worker lives on the stream's slot: the dead-letter stream
/// must share it, which the default name does). On a Lease everything shares
/// its one connection, so acknowledgements wait behind a blocked read.
///
/// Threading: loop-thread only. Lifetime: the Executor must outlive the
/// worker. Destroying the worker at any time is safe: nothing is called back
/// afterwards (not even a pending stop() callback), the entries it held stay
/// pending in the group and are claimed by others after `claim_idle`, and
/// EntryDone objects still in the user's hands become no-ops.

#include <uvredis/callbacks.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/error.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace uvredis {

namespace detail {
struct GroupWorker;
}

/// Settings of a ConsumerGroup. A plain value.
struct UVREDIS_API ConsumerGroupOptions {
  std::string stream;    ///< The stream key.
  std::string group;     ///< The consumer group.
  std::string consumer;  ///< This worker's consumer name (unique within the group).

  /// XGROUP CREATE stream group `create_from` MKSTREAM before reading (an
  /// existing group is fine). Also re-creates the group if it disappears
  /// (NOGROUP, say after a server restart without persistence).
  bool create_group = true;
  /// Where a new group starts: "0" (the whole stream) or "$" (only entries
  /// added from now on).
  std::string create_from = "0";

  long long batch = 10;                 ///< COUNT of each read (> 0).
  std::chrono::milliseconds block{1000};  ///< BLOCK of each read of new entries (> 0).
  /// At most this many entries are in handlers at once (> 0): reading pauses
  /// while the handlers hold that many.
  std::size_t max_in_flight = 100;

  /// Entries pending (in any consumer of the group) without an
  /// acknowledgement for this long are taken over with XAUTOCLAIM.
  std::chrono::milliseconds claim_idle{30000};
  /// How often to look for such entries; zero: claim_idle / 2.
  std::chrono::milliseconds claim_interval{0};

  /// An entry delivered more than this many times is not handed out again:
  /// it goes to the dead-letter stream and is acknowledged. Zero: never.
  long long max_deliveries = 5;
  /// The dead-letter stream; empty derives it in the stream's cluster slot:
  /// `s:dead` when `s` has a hash tag, else `{s}:dead`. Each dead-letter
  /// entry holds the fields "id" (the original id), "group", "deliveries"
  /// (the delivery count, including the delivery that sent it here), then
  /// the original fields in their order.
  std::string dead_letter;

  /// Wait after a failed read before trying again; doubles up to 2 s while
  /// reads keep failing.
  std::chrono::milliseconds retry_delay{50};
};

/// Counters of a ConsumerGroup (since it was created).
struct UVREDIS_API ConsumerGroupStats {
  std::uint64_t handled = 0;        ///< Entries handed to the handler.
  std::uint64_t failed = 0;         ///< done(false) (or an EntryDone dropped unused).
  std::uint64_t acked = 0;          ///< Entries the server counted as acknowledged (XACK replies).
  std::uint64_t acks_sent = 0;      ///< XACK commands sent.
  std::uint64_t claimed = 0;        ///< Entries taken over with XAUTOCLAIM.
  std::uint64_t dead_lettered = 0;  ///< Entries moved to the dead-letter stream.
  std::uint64_t errors = 0;         ///< Errors reported to the error listener.
};

/// The one-shot completion of one entry, handed to the handler. Call it once
/// with true (handled: the entry will be acknowledged) or false (not
/// handled: it stays pending and is handed out again after `claim_idle`).
/// Later calls are ignored; destroying it uncalled counts as false. It may be
/// called from the handler itself or on any later loop turn; after the worker
/// is gone it does nothing. Move-only; loop-thread only.
class UVREDIS_API EntryDone {
 public:
  EntryDone() = default;
  EntryDone(EntryDone&& o) noexcept = default;
  EntryDone& operator=(EntryDone&& o) noexcept;
  ~EntryDone();
  EntryDone(const EntryDone&) = delete;
  EntryDone& operator=(const EntryDone&) = delete;

  void operator()(bool ok);
  /// False once called (or for a moved-from or default one).
  explicit operator bool() const noexcept { return worker_ != nullptr; }

 private:
  friend struct detail::GroupWorker;
  EntryDone(std::shared_ptr<detail::GroupWorker> w, std::string id) : worker_(std::move(w)), id_(std::move(id)) {}
  std::shared_ptr<detail::GroupWorker> worker_;
  std::string id_;
};

/// The worker (see the top of this file). Not copyable (it owns its timers
/// and its place in the group). Loop-thread only.
class UVREDIS_API ConsumerGroup {
 public:
  /// Gets each entry (moved in) and its EntryDone. Runs on the loop, never
  /// inside a uvredis call made by the user; it may call stop() or destroy
  /// the worker.
  using Handler = Listener<void(StreamEntry entry, EntryDone done)>;
  /// Gets each error the worker met and recovered from (or stopped at): a
  /// failed read, XACK, claim or dead-lettering. Reads are retried after
  /// `retry_delay`; an XACK that failed is sent again (XACK of an entry that
  /// is no longer pending counts nothing, so nothing is acknowledged twice).
  using ErrorListener = Listener<void(const Error&)>;

  /// Starts at once: creates the group (option), re-reads this consumer's
  /// own pending entries (id 0, entries another run of it left unacknowledged),
  /// then reads new ones (">"). Bad options (empty stream, group or consumer,
  /// a non-positive batch, block or max_in_flight) are reported to the error
  /// listener set right after construction, on a later loop turn, and nothing
  /// is read.
  ConsumerGroup(Executor& ex, ConsumerGroupOptions options, Handler handler);
  ~ConsumerGroup();
  ConsumerGroup(const ConsumerGroup&) = delete;
  ConsumerGroup& operator=(const ConsumerGroup&) = delete;

  /// Replaces the error listener (none by default: errors are only counted).
  void on_error(ErrorListener fn);

  /// Stops reading and claiming, waits for the handlers in flight, sends
  /// their acknowledgements, then calls `done` (exactly once, on a later loop
  /// turn; each call of stop() gets its own). Entries that a read or claim in
  /// flight brings in after stop() are not handed out: they stay pending for
  /// this consumer (read again when it starts next time, or claimed by
  /// others). An XACK failing while stopping is not retried (the entries stay
  /// pending). Not called when the worker is destroyed first.
  void stop(Once<void()> done = {});

  /// True from stop() on.
  bool stopping() const noexcept;
  /// Entries in handlers right now.
  std::size_t in_flight() const noexcept;
  ConsumerGroupStats stats() const noexcept;
  /// The dead-letter stream's key (the option, or the derived name).
  const std::string& dead_letter_stream() const noexcept;

 private:
  std::shared_ptr<detail::GroupWorker> w_;
};

}  // namespace uvredis
