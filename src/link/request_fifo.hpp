#pragma once
// Requests in order, each held in the bytes it needs (internal to the
// request queue, loop-thread only):
// - Request: a request on its way in (push): its fields and its callback
//   as a whole Once;
// - Record: the same request inside a queue: a 16-byte header, the rarely
//   set fields only when set, then the callback's callable, moved out of
//   its Once into exactly the bytes it uses (a typed GET: 24, so 40 in
//   all);
// - RequestFifo: records in fixed-size chunks that never move, so growing
//   moves nothing, a burst holds no spare doubling, and a queue that
//   settles at a size allocates nothing per request. A record's sequence
//   number is its chunk's first plus a 16-bit offset.

#include "base/ring.hpp"

#include <uvredis/callbacks.hpp>
#include <uvredis/link_types.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

namespace uvredis::detail {

// Where a request is between submit and completion.
enum class Stage : std::uint8_t {
  queued,   // waiting to be handed to the link
  written,  // handed over, awaiting its reply
  owed,     // written, then completed by its timeout: the late reply is still owed (and dropped)
  done,     // completed
};

struct Request {
  std::uint64_t seq = 0;
  // Push mode: a subscription command is answered by `pushes` pushes of
  // kind `push` (one per channel) instead of one reply.
  std::uint32_t pushes = 0;
  std::uint8_t push = 0;
  Stage stage = Stage::queued;
  bool internal = false;  // handshake, health check or subscription: not counted as user traffic
  bool owned = false;     // its bytes are the next body (push_body), not in out()
  Callback<Reply> cb;
  std::uint32_t len = 0;  // bytes of the encoded command
  std::uint32_t timeout_ms = 0;
  std::uint32_t group = 1;  // on a group's first request: how many leave together (0 on the others)
  // Its slot in the connection's Tracker (observer, histogram); 0 when
  // nothing watches.
  std::uint32_t track = 0;
  bool completed() const noexcept { return stage >= Stage::owed; }
};

using ReplyCallbackStorage = OnceStorage<void(Result<Reply>)>;

// The fields most requests leave at their defaults (timeout: the queue's).
struct RecordExt {
  std::uint32_t timeout_ms = 0;
  std::uint32_t group = 1;
  std::uint32_t track = 0;
  std::uint32_t pushes = 0;
  std::uint8_t push = 0;
};

// What a request is, as push() is given it (no sequence number, no size).
struct RecordHead {
  std::uint32_t len = 0;
  Stage stage = Stage::queued;
  bool internal = false;
  bool owned = false;
};

class Record {
 public:
  const void* ops = nullptr;  // the callback's operations; null: none, or it has run
  std::uint32_t len = 0;      // bytes of the encoded command

  Stage stage() const noexcept { return static_cast<Stage>(bits_ & kStageMask); }
  void set_stage(Stage s) noexcept { bits_ = static_cast<std::uint8_t>((bits_ & ~kStageMask) | static_cast<std::uint8_t>(s)); }
  bool completed() const noexcept { return stage() >= Stage::owed; }
  bool internal() const noexcept { return (bits_ & kInternal) != 0; }
  bool owned() const noexcept { return (bits_ & kOwned) != 0; }
  bool has_ext() const noexcept { return (bits_ & kExt) != 0; }
  RecordExt* ext() noexcept {
    return has_ext() ? std::launder(reinterpret_cast<RecordExt*>(bytes() + sizeof(Record))) : nullptr;
  }
  // Bytes the extension takes (keeping the callable 8-byte aligned).
  static constexpr std::size_t kExtBytes = 24;
  const RecordExt* ext() const noexcept { return const_cast<Record*>(this)->ext(); }
  std::uint32_t group() const noexcept { return has_ext() ? ext()->group : 1; }
  std::uint32_t track() const noexcept { return has_ext() ? ext()->track : 0; }
  std::uint32_t timeout_ms(std::uint32_t usual) const noexcept { return has_ext() ? ext()->timeout_ms : usual; }
  // The callable of the callback, after the header (and the extension, and
  // 8 bytes of padding for one that needs 16-byte alignment).
  void* callable() noexcept { return bytes() + callable_offset(); }
  // Moves the callback out into `cb` (empty); the record holds none after.
  void take_callback(Callback<Reply>& cb) noexcept {
    ReplyCallbackStorage::move_in(cb, std::exchange(ops, nullptr), callable_room(), (bits_ & kWide) != 0, callable());
  }

 private:
  friend class RequestFifo;
  static constexpr std::uint8_t kStageMask = 3, kInternal = 4, kOwned = 8, kExt = 16, kPadded = 32, kWide = 64;

  unsigned char* bytes() noexcept { return reinterpret_cast<unsigned char*>(this); }
  std::size_t callable_offset() const noexcept {
    // sizeof(Record) + (kExt ? kExtBytes : 0) + (kPadded ? 8 : 0), by table.
    static constexpr unsigned char kOffset[4] = {16, 16 + kExtBytes, 24, 24 + kExtBytes};
    static_assert(kExt == 16 && kPadded == 32);
    return kOffset[(bits_ >> 4) & 3];
  }
  // Bytes the callable may use (what its Once is told when it goes back).
  std::uint32_t callable_room() const noexcept {
    const std::size_t room = std::size_t{units_} * 8 - callable_offset();
    return static_cast<std::uint32_t>(room < Callback<Reply>::kInline ? room : Callback<Reply>::kInline);
  }

  std::uint16_t delta_ = 0;  // sequence number - the chunk's first
  std::uint8_t bits_ = 0;    // stage, kInternal, kOwned, kExt, kPadded, kWide
  std::uint8_t units_ = 0;   // bytes of the record / 8
};
static_assert(sizeof(Record) == 16 && sizeof(RecordExt) <= Record::kExtBytes, "a record's header is 16 bytes");

class RequestFifo {
 public:
  RequestFifo() = default;
  RequestFifo(const RequestFifo&) = delete;
  RequestFifo& operator=(const RequestFifo&) = delete;
  RequestFifo(RequestFifo&& o) noexcept
      : chunks_(std::move(o.chunks_)),
        head_(std::exchange(o.head_, 0)),
        count_(std::exchange(o.count_, 0)),
        spare_(std::exchange(o.spare_, nullptr)),
        pins_(std::exchange(o.pins_, 0)),
        parked_(std::move(o.parked_)) {}
  ~RequestFifo() {
    clear();
    while (!chunks_.empty()) {
      ::operator delete(chunks_.front());
      chunks_.pop_front();
    }
    release_parked();
    ::operator delete(spare_);
  }

  bool empty() const noexcept { return count_ == 0; }
  std::size_t size() const noexcept { return count_; }
  /// Memory held, in bytes (its chunks).
  std::size_t bytes_held() const noexcept { return (chunks_.size() + (spare_ ? 1 : 0)) * kChunkBytes; }
  Record& front() noexcept { return *at(chunks_.front(), head_); }
  const Record& front() const noexcept { return *at(chunks_.front(), head_); }
  std::uint64_t front_seq() const noexcept { return chunks_.front()->first_seq + front().delta_; }

  /// A new record at the back with sequence number `seq` (above every
  /// other's), its fields from `head` and `ext` (null: defaults), the
  /// callable moved out of `cb`.
  Record& push(std::uint64_t seq, const RecordHead& head, const RecordExt* ext, Callback<Reply>& cb) {
    std::uint8_t bits = static_cast<std::uint8_t>(static_cast<std::uint8_t>(head.stage) |
                                                  (head.internal ? Record::kInternal : 0) |
                                                  (head.owned ? Record::kOwned : 0));
    if (ReplyCallbackStorage::wide(cb)) bits |= Record::kWide;
    Record& r = place(seq, bits, ext, ReplyCallbackStorage::size(cb));
    r.len = head.len;
    r.ops = ReplyCallbackStorage::move_out(cb, r.callable());
    return r;
  }
  /// A new record at the back that takes over `from` (of another FIFO,
  /// sequence number `seq`): the same fields and callable; `from` holds no
  /// callable afterwards.
  Record& push_from(std::uint64_t seq, Record& from) {
    Record& r = place(seq, from.bits_, from.ext(), from.callable_room());
    r.len = from.len;
    if (from.ops) ReplyCallbackStorage::relocate(from.ops, r.callable(), from.callable());
    r.ops = std::exchange(from.ops, nullptr);
    return r;
  }

  /// Drops the front record (and its callable, if it still has one).
  void pop_front() noexcept {
    Record& r = front();
    ReplyCallbackStorage::destroy(r.ops, r.callable());
    advance(r);
  }
  /// Pins the FIFO's memory: until unpin(), records popped stay where they
  /// are (their chunks are not reused), so a popped record's callable can
  /// run in place while it pushes more records.
  void pin() noexcept { ++pins_; }
  void unpin() noexcept {
    if (--pins_ > 0) return;
    release_parked();
    if (count_ == 0 && chunks_.size() == 1) {
      chunks_.front()->used = 0;
      head_ = 0;
    }
  }
  /// As pop_front(), for a pinned FIFO, leaving the record's callable alone
  /// (its ops taken by the caller, who runs and destroys it before unpin()).
  void pop_front_pinned() noexcept { advance(front()); }

  void clear() noexcept {
    while (count_ > 0) pop_front();
  }

  /// The record with sequence number `seq`, or null: the chunk by binary
  /// search, then a scan within it (sequence numbers rise through a FIFO).
  Record* find(std::uint64_t seq) noexcept {
    if (count_ == 0 || seq < front_seq()) return nullptr;
    std::size_t lo = 0, hi = chunks_.size();  // the last chunk whose first record is <= seq
    while (hi - lo > 1) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (chunks_[mid]->first_seq <= seq)
        lo = mid;
      else
        hi = mid;
    }
    Chunk* c = chunks_[lo];
    if (seq - c->first_seq > UINT16_MAX) return nullptr;
    const auto delta = static_cast<std::uint16_t>(seq - c->first_seq);
    for (std::size_t off = lo == 0 ? head_ : 0; off < c->used;) {
      Record* r = at(c, off);
      if (r->delta_ == delta) return r;
      if (r->delta_ > delta) break;
      off += std::size_t{r->units_} * 8;
    }
    return nullptr;
  }

  template <class F>
  void for_each(F&& fn) {
    for (std::size_t i = 0; i < chunks_.size(); ++i) {
      Chunk* c = chunks_[i];
      for (std::size_t off = i == 0 ? head_ : 0; off < c->used; off += std::size_t{at(c, off)->units_} * 8)
        fn(*at(c, off));
    }
  }
  template <class F>
  bool any_of(F&& fn) const {
    for (std::size_t i = 0; i < chunks_.size(); ++i) {
      const Chunk* c = chunks_[i];
      for (std::size_t off = i == 0 ? head_ : 0; off < c->used; off += std::size_t{at(c, off)->units_} * 8)
        if (fn(*at(c, off))) return true;
    }
    return false;
  }

 private:
  static constexpr std::size_t kChunkBytes = 8192;
  struct Chunk {
    std::uint64_t first_seq;  // of the first record placed in it
    std::uint32_t used;       // bytes of data in use, from 0 (records popped from the front included)
    std::uint16_t last;       // delta of the last record placed
    std::uint16_t unused;
    unsigned char data[kChunkBytes - 16];
  };
  static_assert(sizeof(Chunk) == kChunkBytes && offsetof(Chunk, data) == 16);
  static constexpr std::size_t kData = sizeof(Chunk::data);

  static Record* at(Chunk* c, std::size_t off) noexcept { return std::launder(reinterpret_cast<Record*>(c->data + off)); }
  static const Record* at(const Chunk* c, std::size_t off) noexcept {
    return std::launder(reinterpret_cast<const Record*>(c->data + off));
  }

  // Room for a record at the back: its header (the extension copied from
  // `ext`) and `size` bytes of callable, 16-byte aligned when `bits` say
  // kWide.
  Record& place(std::uint64_t seq, std::uint8_t bits, const RecordExt* ext, std::size_t size) {
    const std::size_t fixed = sizeof(Record) + (ext ? Record::kExtBytes : 0);
    std::size_t bytes = (fixed + size + 7) & ~std::size_t{7};
    Chunk* c = chunks_.empty() ? nullptr : chunks_.back();
    // The same chunk while the record fits, its number follows the last one
    // placed there and is within 16 bits of the chunk's first.
    if (c == nullptr || c->used + bytes + 8 > kData ||
        (c->used > 0 && (seq <= c->first_seq + c->last || seq - c->first_seq > UINT16_MAX))) [[unlikely]]
      c = add_chunk(seq);
    if (c->used == 0) c->first_seq = seq;
    if ((bits & Record::kWide) && (c->used + fixed) % 16 != 0) {
      bits |= Record::kPadded;  // the chunk's data is 16-byte aligned
      bytes += 8;
    } else {
      bits &= static_cast<std::uint8_t>(~Record::kPadded);
    }
    Record* r = ::new (static_cast<void*>(c->data + c->used)) Record();
    r->delta_ = static_cast<std::uint16_t>(seq - c->first_seq);
    r->units_ = static_cast<std::uint8_t>(bytes / 8);
    if (ext) {
      bits |= Record::kExt;
      ::new (static_cast<void*>(c->data + c->used + sizeof(Record))) RecordExt(*ext);
    } else {
      bits &= static_cast<std::uint8_t>(~Record::kExt);
    }
    r->bits_ = bits;
    c->last = r->delta_;
    c->used += static_cast<std::uint32_t>(bytes);
    ++count_;
    return *r;
  }

  void advance(const Record& r) noexcept {
    head_ += std::size_t{r.units_} * 8;
    --count_;
    Chunk* c = chunks_.front();
    if (head_ < c->used) return;
    if (chunks_.size() == 1) {
      // The last chunk stays for what comes next; from its start again,
      // unless pinned (then after what was popped).
      if (pins_ == 0) c->used = 0, head_ = 0;
      return;
    }
    head_ = 0;
    chunks_.pop_front();
    if (pins_ > 0)
      parked_.push_back(std::move(c));
    else
      retire(c);
  }
  void retire(Chunk* c) noexcept {
    if (spare_ == nullptr)
      spare_ = c;
    else
      ::operator delete(c);
  }
  void release_parked() noexcept {
    while (!parked_.empty()) {
      retire(parked_.front());
      parked_.pop_front();
    }
  }

  Chunk* add_chunk(std::uint64_t seq) {
    Chunk* c = chunks_.empty() ? nullptr : chunks_.back();
    if (c != nullptr && count_ == 0) {
      c->used = 0;  // an empty FIFO starts its chunk afresh
    } else {
      c = spare_ ? std::exchange(spare_, nullptr) : static_cast<Chunk*>(::operator new(sizeof(Chunk)));
      c->used = 0;
      chunks_.push_back(std::move(c));
    }
    c->first_seq = seq;
    c->last = 0;
    return c;
  }

  Ring<Chunk*> chunks_;
  std::size_t head_ = 0;  // offset of the front record in the first chunk
  std::size_t count_ = 0;
  Chunk* spare_ = nullptr;  // one chunk kept for reuse
  int pins_ = 0;
  Ring<Chunk*> parked_;  // popped while pinned
};

}  // namespace uvredis::detail
