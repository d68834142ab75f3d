#pragma once
// The I/O-free half of a connection: every request from submit to
// completion, driven by plain calls and unit-tested without a socket or a
// loop (tests/test_request_queue.cpp):
// - RequestQueue: the queue of commands waiting for the link, their encoded
//   bytes, the FIFO of commands written and awaiting replies, each request
//   with one explicit Stage; command groups, queue bounds, deadlines, the
//   counting of push confirmations, and exactly-once completion on every
//   path (reply, timeout, link lost, close, overflow);
// - Deadlines: when each pending command times out;
// - queue_bounds_error: the overflow rules of submit;
// - push kinds: how a pub/sub push is told from a reply (push mode).
// Connection owns one RequestQueue, moves its bytes into hiredis' output
// buffer and keeps the uv timer; times are plain milliseconds on the loop's
// clock. Loop-thread only, like the connection.

#include "protocol/command_table.hpp"
#include "base/byte_buffer.hpp"
#include "base/ring.hpp"
#include "link/request_fifo.hpp"

#include <uvredis/error.hpp>
#include <uvredis/link_types.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace uvredis::detail {

class Tracker;

// Deadlines by sequence number. The default command timeout is the same for
// all, so its deadlines arrive in order and a FIFO suffices; other timeouts
// go to a heap. Consecutive commands with the same in-order deadline (a
// connection issues every command of a loop turn with one) share one FIFO
// bucket, a range of sequence numbers: no entry per command. An entry may
// outlive its command (completed by a reply): expiring it is then a no-op
// for the caller, and prune() drops buckets whose commands all completed as
// replies arrive, so the FIFO holds only what is still pending.
class Deadlines {
 public:
  // `in_order`: `due` is no earlier than any in_order deadline added before
  // (the common timeout on a clock that never goes back).
  void add(std::uint64_t seq, std::uint64_t due, bool in_order) {
    if (in_order) {
      // The next command of the last bucket, due with it: it joins it.
      if (!fifo_.empty()) {
        Bucket& b = fifo_.back();
        if (b.due == due && b.last + 1 == seq) {
          b.last = seq;
          return;
        }
      }
      fifo_.push_back(Bucket{due, seq, seq});
    } else {
      heap_.emplace_back(due, seq);
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
    }
  }

  bool empty() const noexcept { return fifo_.empty() && heap_.empty(); }

  // The earliest deadline, 0 when there is none.
  std::uint64_t next() const noexcept {
    std::uint64_t n = 0;
    if (!fifo_.empty()) n = fifo_.front().due;
    if (!heap_.empty() && (n == 0 || heap_.front().first < n)) n = heap_.front().first;
    return n;
  }

  // The latest deadline, or `floor` when none is later.
  std::uint64_t last(std::uint64_t floor) const noexcept {
    std::uint64_t l = floor;
    if (!fifo_.empty()) l = std::max(l, fifo_.back().due);
    for (const auto& d : heap_) l = std::max(l, d.first);
    return l;
  }

  // Takes one deadline due at `now` or before: the FIFO's first (one
  // sequence number of its first bucket at a time), then the heap's (the
  // caller expires it, which may add deadlines meanwhile).
  std::optional<std::uint64_t> pop_due(std::uint64_t now) {
    if (!fifo_.empty() && fifo_.front().due <= now) {
      Bucket& b = fifo_.front();
      const std::uint64_t seq = b.first++;
      if (b.first > b.last) fifo_.pop_front();
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
    while (!fifo_.empty() && fifo_.front().last < oldest) fifo_.pop_front();
    if (!fifo_.empty() && fifo_.front().first < oldest) fifo_.front().first = oldest;
  }

  // Commands with a deadline (completed ones not yet pruned included).
  std::size_t size() const noexcept {
    std::size_t n = heap_.size();
    for (std::size_t i = 0; i < fifo_.size(); ++i) n += fifo_[i].last - fifo_[i].first + 1;
    return n;
  }
  // FIFO buckets (for tests: commands of one turn share one).
  std::size_t buckets() const noexcept { return fifo_.size(); }

 private:
  struct Bucket {
    std::uint64_t due;    // deadline, ms
    std::uint64_t first;  // sequence numbers first..last, consecutive
    std::uint64_t last;
  };
  Ring<Bucket> fifo_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> heap_;  // min-heap of (deadline ms, seq)
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

// A timeout as the queue keeps it: whole milliseconds, 0 to UINT32_MAX.
inline std::uint32_t timeout_ms_of(std::chrono::milliseconds t) noexcept {
  return static_cast<std::uint32_t>(std::clamp<long long>(t.count(), 0, UINT32_MAX));
}

// Push mode: the push kinds (PushKind) are in command_table.hpp, beside the
// (un)subscribe rows that expect them.

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

class RequestQueue {
 public:
  /// After a user request completed (the connection tells its owner when
  /// nothing is pending any more).
  using DoneHook = void (*)(void* ctx);
  /// Frees the strings of a big command once handed over (the connection
  /// gives big ones to a thread pool).
  using BodyRelease = void (*)(void* ctx, std::vector<std::string>&& pieces);

  /// `stats`: the queued/in_flight/sent/replies/errors/timeouts counters this
  /// queue keeps (user requests only).
  RequestQueue(ClientStats& stats, QueueBounds bounds) : stats_(stats), bounds_(bounds) {}
  RequestQueue(const RequestQueue&) = delete;
  RequestQueue& operator=(const RequestQueue&) = delete;

  void set_hooks(void* ctx, DoneHook done, BodyRelease release) {
    ctx_ = ctx;
    done_ = done;
    release_ = release;
  }
  /// Told when a request with a `track` slot is written and completes.
  void set_tracker(Tracker* t) noexcept { tracker_ = t; }
  /// The timeout most requests have (the connection's command timeout):
  /// records keep another only when it differs.
  void set_usual_timeout(std::uint32_t ms) noexcept { usual_timeout_ms_ = ms; }

  // ---------------------------------------------------------------- submit

  /// Commands are encoded at the end of this buffer, then push()ed.
  ByteBuffer& out() noexcept { return out_; }
  /// Overflow: whether `extra_cmds` more commands of `extra_bytes` bytes may
  /// not be queued (and why, in `err`).
  bool overflowed(std::size_t extra_bytes, std::size_t extra_cmds, Error& err) const {
    if (queue_fits(bounds_, stats_.queued, queued_bytes_, extra_bytes, extra_cmds)) return false;
    err = *queue_bounds_error(bounds_, stats_.queued, queued_bytes_, extra_bytes, extra_cmds);
    return true;
  }
  /// The handshake lane: commands encoded at the end of first_out() and
  /// push_first()ed go before every queued request, and are the only ones
  /// take() hands while the link is handshaking (first_only). Internal
  /// requests, not counted as user traffic; dropped with drop_first() when
  /// their link is gone (their callbacks are not called: the link they were
  /// for is over).
  ByteBuffer& first_out() noexcept { return first_out_; }
  void push_first(Request&& r) {
    r.seq = next_seq_++;
    r.stage = Stage::queued;
    r.internal = true;
    store(first_, r);
  }
  std::size_t first_size() const noexcept { return first_.size(); }
  void drop_first() {
    first_.clear();
    first_out_.clear();
    first_pos_ = 0;
    from_first_ = false;
  }
  /// Queues `r`, whose r.len bytes are the last of out() (or, r.owned, the
  /// body pushed last): gives it its sequence number, which it returns.
  std::uint64_t push(Request&& r) {
    r.seq = next_seq_++;
    r.stage = Stage::queued;
    count_queued(r.len, r.internal);
    store(queued_, r);
    return r.seq;
  }
  /// A user request (not internal) of `len` bytes with callback `cb`:
  /// push()'s work without a Request in between. Returns its sequence
  /// number.
  std::uint64_t push_user(std::uint32_t len, Callback<Reply>&& cb, bool owned, std::uint32_t track,
                          std::uint32_t timeout_ms) {
    const std::uint64_t seq = next_seq_++;
    RecordHead head;
    head.len = len;
    head.owned = owned;
    count_queued(len, false);
    put(queued_, seq, head, RecordExt{timeout_ms, 1, track, 0, 0}, cb);
    return seq;
  }
  /// The pieces of an owned request (pushed next), handed over from these
  /// strings a slice at a time and never copied whole.
  void push_body(std::vector<std::string>&& pieces) { bodies_.push_back(std::move(pieces)); }

  // ------------------------------------------------------------- hand over

  /// What to hand to the link next: bytes of the command take() returned.
  struct Handoff {
    const char* bytes = nullptr;
    std::size_t len = 0;
    /// The bytes are in out(), right after those of the command taken
    /// before them, if that one's were too: consecutive commands can be
    /// handed over as one run of bytes.
    bool in_out = false;
  };
  /// Bytes of a command larger than this leave in slices (tail_slice).
  static constexpr std::size_t kSliceBytes = 256 * 1024;

  /// Takes the oldest queued request that has not completed (timed out
  /// requests are skipped) with its first bytes: the whole command, or of
  /// a big one its first slice (a group is handed whole: a drop must never
  /// leave half of it to go out on the next link), the rest then coming
  /// from tail_slice(). `group_left` counts the members of a group still to
  /// take (start at 0). Null when nothing is queued. The request stays in
  /// front until written_taken() (one move, not two).
  /// With `first_only`, only the handshake lane's requests.
  const Record* take(Handoff& h, std::size_t& group_left, bool first_only = false);
  /// take()'s bytes were handed: its request is in flight now.
  void written_taken() {
    if (from_first_) [[unlikely]] {
      from_first_ = false;
      written(first_.front_seq(), first_.front());
      first_.pop_front();
      if (first_.empty()) drop_first();
      return;
    }
    written(queued_.front_seq(), queued_.front());
    queued_.pop_front();
    taken();
  }
  /// Bytes of the command being handed that are still to hand.
  std::size_t tail_left() const noexcept { return tail_left_; }
  /// The next bytes of that command, at most `room`.
  std::string_view tail_slice(std::size_t room) const {
    if (!tail_owned_) return {out_.data() + out_pos_, std::min(room, tail_left_)};
    const std::string& piece = bodies_.front()[tail_piece_];
    return {piece.data() + tail_off_, std::min(room, piece.size() - tail_off_)};
  }
  /// `n` bytes from tail_slice() were handed.
  void tail_consumed(std::size_t n);
  /// The command being handed lost its link: its rest is not handed (it
  /// fails with the link; the commands behind it start afresh).
  void abandon_tail() {
    if (tail_left_ > 0 || tail_owned_) end_tail();
  }
  /// After a pass of take()s: gives back the space of the bytes handed.
  void compact() {
    if (queued_.empty() && tail_left_ == 0) {
      out_.clear();
      out_pos_ = 0;
    } else if (out_pos_ > (1u << 20) && out_pos_ * 2 > out_.size()) {
      out_.drop_front(out_pos_);
      out_pos_ = 0;
    }
  }
  /// `r` (number `seq`, the front of a queue, popped by the caller next)
  /// was handed to the link: it awaits its reply, in order.
  void written(std::uint64_t seq, Record& r) {
    if (!r.internal()) {
      ++stats_.sent;
      ++stats_.in_flight;
    }
    r.set_stage(Stage::written);
    const Record& w = inflight_.push_from(seq, r);
    if (w.track() != 0) [[unlikely]]
      track_written(w);
  }

  // --------------------------------------------------------------- answers

  bool inflight_empty() const noexcept { return inflight_.empty(); }
  std::size_t inflight_size() const noexcept { return inflight_.size(); }
  /// The oldest request in flight (inflight_empty() must be false).
  std::uint64_t inflight_front_seq() const noexcept { return inflight_.front_seq(); }
  /// The oldest request in flight was answered (`replied`: by a reply, else
  /// by its link's end): it leaves the queue and, unless it completed
  /// already (a late reply after its timeout: dropped), its callback runs
  /// with the result `make()` returns, where it lies (not moved first; the
  /// queue's memory is pinned meanwhile, so the callback may queue more).
  template <class Make>
  void answer_front(bool replied, Make&& make) {
    Record& f = inflight_.front();
    const Stage stage = f.stage();
    const bool internal = f.internal();
    const std::uint32_t len = f.len;
    RecordExt* e = f.ext();
    const std::uint32_t slot = e ? std::exchange(e->track, 0) : 0;
    Pinned held{inflight_, std::exchange(f.ops, nullptr), f.callable()};
    inflight_.pop_front_pinned();
    if (stage == Stage::owed) --owed_;
    if (!internal) {
      if (stage != Stage::owed) --stats_.in_flight;
      if (replied) ++stats_.replies;
    }
    if (stage < Stage::owed)
      finish(internal, slot, len, make(), [&held](Result<Reply>&& res) {
        if (held.ops) ReplyCallbackStorage::call(held.ops, held.callable, std::move(res));
      });
  }
  /// A push confirmation of kind `kind` arrived (push mode): the sequence
  /// number of the subscription command it answered in full, else 0.
  std::uint64_t count_push(std::uint8_t kind) noexcept {
    if (inflight_.empty()) return 0;
    Record& front = inflight_.front();
    RecordExt* e = front.ext();  // a subscription command's record has one (its pushes)
    return e != nullptr && count_confirmation(e->push, e->pushes, kind) ? inflight_.front_seq() : 0;
  }

  // ------------------------------------------------------------- deadlines

  /// `seq` times out at `due`; `in_order`: see Deadlines::add.
  void add_deadline(std::uint64_t seq, std::uint64_t due, bool in_order) { deadlines_.add(seq, due, in_order); }
  /// The earliest deadline, 0 when none.
  std::uint64_t next_deadline() const noexcept { return deadlines_.next(); }
  /// The latest deadline, or `floor`.
  std::uint64_t last_deadline(std::uint64_t floor) const noexcept { return deadlines_.last(floor); }
  /// A deadline due at `now`, if any (the caller expires it).
  std::optional<std::uint64_t> pop_due(std::uint64_t now) { return deadlines_.pop_due(now); }
  /// Drops deadlines of completed requests; true when none is left.
  bool prune() {
    std::uint64_t oldest = next_seq_;  // (records are in sequence order)
    if (!inflight_.empty())
      oldest = inflight_.front_seq();
    else if (!queued_.empty())
      oldest = queued_.front_seq();
    deadlines_.prune(oldest);
    return deadlines_.empty();
  }
  /// What expire() found.
  struct Expired {
    bool found = false;     // a request that had not completed
    bool written = false;   // ... already written: its reply is owed now
    bool internal = false;  // ... not a user command
  };
  /// Request `seq` timed out: it completes with a timeout error, with the
  /// rest of its group (a group times out as a whole). A written one stays
  /// in flight as owed (its late reply is dropped); a queued one is skipped
  /// when its turn comes.
  Expired expire(std::uint64_t seq);
  /// Written requests completed by their timeout whose replies are owed.
  std::size_t owed() const noexcept { return owed_; }

  // ----------------------------------------------------------------- fails

  /// Completes every queued request with `err` (the link failed, or closed).
  void fail_queued(const Error& err);
  /// A queued request has not completed yet.
  bool has_live_queued() const noexcept {
    return queued_.any_of([](const Record& r) { return !r.completed(); });
  }
  bool queued_empty() const noexcept { return queued_.empty(); }
  /// Something is left to hand over.
  bool has_work() const noexcept { return !queued_.empty() || tail_left_ > 0; }
  std::size_t queued_bytes() const noexcept { return queued_bytes_; }

 private:
  void count_queued(std::uint32_t len, bool internal) noexcept {
    queued_bytes_ += len;
    if (!internal) ++stats_.queued;
  }
  // `r` (its seq and stage set) into `fifo`, its callback moved in.
  void store(RequestFifo& fifo, Request& r);
  // A record at the back of `fifo`, with the extension only when `ext`
  // differs from what a record without one means.
  void put(RequestFifo& fifo, std::uint64_t seq, const RecordHead& head, const RecordExt& ext, Callback<Reply>& cb) {
    const bool usual = ext.timeout_ms == usual_timeout_ms_ && ext.group == 1 && ext.track == 0 && ext.pushes == 0 &&
                       ext.push == 0;
    fifo.push(seq, head, usual ? nullptr : &ext, cb);
  }
  // Runs the callback of a record still in a queue with `result` (moved
  // out first: the callback may queue more, or end the queue's link).
  void complete(Record& r, Result<Reply>&& result) {
    Callback<Reply> cb;
    r.take_callback(cb);
    if (r.stage() != Stage::owed) r.set_stage(Stage::done);
    RecordExt* e = r.ext();
    finish(r.internal(), e ? std::exchange(e->track, 0) : 0, r.len, std::move(result),
           [&cb](Result<Reply>&& res) {
             if (cb) cb.call_with(std::move(res));
           });
  }
  // The callable of an answered record, run in place: destroyed (and the
  // FIFO unpinned) when this goes, on every path.
  struct Pinned {
    RequestFifo& fifo;
    const void* ops;
    void* callable;
    Pinned(RequestFifo& f, const void* o, void* c) noexcept : fifo(f), ops(o), callable(c) { fifo.pin(); }
    Pinned(const Pinned&) = delete;
    Pinned& operator=(const Pinned&) = delete;
    ~Pinned() {
      ReplyCallbackStorage::destroy(ops, callable);
      fifo.unpin();
    }
  };
  // The completion itself, whichever way the callback is held (`call`
  // runs it with the result); nothing of the request is touched once the
  // callback runs.
  template <class Call>
  void finish(bool internal, std::uint32_t track_slot, std::uint32_t len, Result<Reply>&& result, Call&& call) {
    const bool user = !internal;
    if (user && !result) ++stats_.errors;
    if (track_slot != 0) [[unlikely]]
      track_completed(track_slot, len, result);
    call(std::move(result));
    if (user && done_) done_(ctx_);
  }
  Record* find(std::uint64_t seq, bool& in_flight);
  void end_tail();
  void track_written(const Record& r);
  void track_completed(std::uint32_t slot, std::uint32_t len, const Result<Reply>& result);
  // After a take()n request's bytes were handed: a big command with
  // nothing left to hand is finished (its body freed).
  void taken() {
    if (tail_left_ == 0 && tail_owned_) end_tail();
  }

  ClientStats& stats_;
  QueueBounds bounds_;
  void* ctx_ = nullptr;
  DoneHook done_ = nullptr;
  BodyRelease release_ = nullptr;
  Tracker* tracker_ = nullptr;

  // Once they reach the size of the traffic, no allocation per request.
  RequestFifo queued_;    // not yet handed over, in order
  RequestFifo inflight_;  // handed over, awaiting replies, in order
  ByteBuffer out_;        // bytes of queued_ requests, from out_pos_
  RequestFifo first_;     // the handshake lane
  ByteBuffer first_out_;  // its bytes, from first_pos_
  std::size_t first_pos_ = 0;
  bool from_first_ = false;  // the request take() returned is first_.front()
  std::uint32_t usual_timeout_ms_ = 0;
  std::size_t out_pos_ = 0;
  std::size_t queued_bytes_ = 0;
  // A big command half handed over: bytes still to hand, at out_pos_ or
  // (tail_owned_) in bodies_.front() from piece tail_piece_, offset tail_off_.
  std::size_t tail_left_ = 0;
  bool tail_owned_ = false;
  std::size_t tail_piece_ = 0;
  std::size_t tail_off_ = 0;
  Ring<std::vector<std::string>> bodies_;  // of the owned requests in queued_, in order
  std::uint64_t next_seq_ = 1;
  std::size_t owed_ = 0;
  Deadlines deadlines_;  // of pending requests
};

}  // namespace uvredis::detail
