#pragma once
// The I/O-free parts of a connection's request bookkeeping, driven by plain
// calls and unit-tested without a socket or a loop (tests/test_request_queue.cpp):
// - Deadlines: when each pending command times out;
// - queue_bounds_error: the overflow rules of submit (max_queued_commands,
//   max_queued_bytes, "command too large");
// - push kinds: how a pub/sub push is told from a reply (push mode), and the
//   counting of a subscription command's confirmations.
// Connection owns one of each and keeps the uv timer; times are plain
// milliseconds on the loop's clock. Loop-thread only, like the connection.

#include <uvredis/error.hpp>
#include <uvredis/reply.hpp>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace uvredis::detail {

// Deadlines by sequence number. The default command timeout is the same for
// all, so its deadlines arrive in order and a FIFO suffices; other timeouts
// go to a heap. An entry may outlive its command (completed by a reply):
// expiring it is then a no-op for the caller, and prune() drops such FIFO
// entries as replies arrive, so the FIFO holds only what is still pending.
class Deadlines {
 public:
  // `in_order`: `due` is no earlier than any in_order deadline added before
  // (the common timeout on a clock that never goes back).
  void add(std::uint64_t seq, std::uint64_t due, bool in_order) {
    if (in_order) {
      fifo_.emplace_back(due, seq);
    } else {
      heap_.emplace_back(due, seq);
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
    }
  }

  bool empty() const noexcept { return fifo_.empty() && heap_.empty(); }

  // The earliest deadline, 0 when there is none.
  std::uint64_t next() const noexcept {
    std::uint64_t n = 0;
    if (!fifo_.empty()) n = fifo_.front().first;
    if (!heap_.empty() && (n == 0 || heap_.front().first < n)) n = heap_.front().first;
    return n;
  }

  // The latest deadline, or `floor` when none is later.
  std::uint64_t last(std::uint64_t floor) const noexcept {
    std::uint64_t l = floor;
    if (!fifo_.empty()) l = std::max(l, fifo_.back().first);
    for (const auto& d : heap_) l = std::max(l, d.first);
    return l;
  }

  // Takes one deadline due at `now` or before: the FIFO's first, then the
  // heap's (the caller expires it, which may add deadlines meanwhile).
  std::optional<std::uint64_t> pop_due(std::uint64_t now) {
    if (!fifo_.empty() && fifo_.front().first <= now) {
      const std::uint64_t seq = fifo_.front().second;
      fifo_.pop_front();
      return seq;
    }
    if (!heap_.empty() && heap_.front().first <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
      const std::uint64_t seq = heap_.back().second;
      heap_.pop_back();
      return seq;
    }
    return std::nullopt;
  }

  // Every command below `oldest` has completed: drops their FIFO entries.
  // (Heap entries stay until due: few, and expiring them is a no-op.)
  void prune(std::uint64_t oldest) {
    while (!fifo_.empty() && fifo_.front().second < oldest) fifo_.pop_front();
  }

  std::size_t size() const noexcept { return fifo_.size() + heap_.size(); }

 private:
  std::deque<std::pair<std::uint64_t, std::uint64_t>> fifo_;  // (deadline ms, seq)
  std::vector<std::pair<std::uint64_t, std::uint64_t>> heap_;  // min-heap of the same
};

struct QueueBounds {
  std::size_t max_commands = 0;
  std::size_t max_bytes = 0;
};

// True when `extra_cmds` more commands of `extra_bytes` bytes in all may join
// a queue holding `queued_cmds` commands of `queued_bytes` bytes (inline: it
// runs for every command).
inline bool queue_fits(const QueueBounds& bounds, std::size_t queued_cmds, std::size_t queued_bytes,
                       std::size_t extra_bytes, std::size_t extra_cmds) noexcept {
  return queued_cmds + extra_cmds <= bounds.max_commands && extra_bytes <= bounds.max_bytes &&
         extra_bytes <= UINT32_MAX && queued_bytes + extra_bytes <= bounds.max_bytes;
}

// Why `extra_cmds` more commands of `extra_bytes` bytes in all may not join
// a queue holding `queued_cmds` commands of `queued_bytes` bytes: an overflow
// error, or nothing when they fit. A single command of more than 4 GiB never
// fits (its length is kept in 32 bits).
std::optional<Error> queue_bounds_error(const QueueBounds& bounds, std::size_t queued_cmds, std::size_t queued_bytes,
                                        std::size_t extra_bytes, std::size_t extra_cmds);

// Push mode: the kinds of RESP2 pub/sub pushes (lower case on the wire) and
// of the commands whose confirmations they are.
enum PushKind : std::uint8_t {
  kNotPush = 0,
  kSubscribe,
  kPSubscribe,
  kSSubscribe,
  kUnsubscribe,
  kPUnsubscribe,
  kSUnsubscribe,
  kMessage,
  kPMessage,
  kSMessage,
};

// A (un)subscribe confirmation (as opposed to a message, or no push at all).
inline bool is_confirmation(std::uint8_t k) noexcept { return k >= kSubscribe && k <= kSUnsubscribe; }

// The push kind of a reply: an array of at least three whose first element
// names a kind exactly (the server sends them in lower case); kNotPush for
// every other reply, which then answers the oldest command in flight.
std::uint8_t push_kind_of(const Reply& r) noexcept;

// The confirmation kind a command expects (its name in any case), kNotPush
// for a command that is not a (un)subscribe.
std::uint8_t command_push_kind(std::string_view command) noexcept;

// A confirmation of kind `kind` arrived while the command in front awaits
// `left` confirmations of kind `want`: counts it. True when it was the last
// one owed (the command is answered). Other kinds, or a command that awaits
// none (Redis 7 unsubscribes by itself when a slot moves), count nothing.
inline bool count_confirmation(std::uint8_t want, std::uint32_t& left, std::uint8_t kind) noexcept {
  return want == kind && left > 0 && --left == 0;
}

}  // namespace uvredis::detail
