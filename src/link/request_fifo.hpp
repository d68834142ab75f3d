#pragma once
// Requests in order, each held in the bytes it needs (internal to the
// request queue, loop-thread only):
// - Request: a request on its way in (push) or out (pop_answered): its
//   fields and its callback as a whole Once;
// - Record: the same request inside a queue: a 24-byte header, the rarely
//   set fields only when set, then the callback's callable, moved out of
//   its Once into exactly the bytes it uses (a typed GET: 24);
// - RequestFifo: records in fixed-size chunks that never move, so growing
//   moves nothing, a burst holds no spare doubling, and a queue that
//   settles at a size allocates nothing per request.

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
};

struct Record {
  static constexpr std::uint8_t kInternal = 1, kOwned = 2, kExt = 4;

  const void* ops = nullptr;  // the callback's operations; null: none, or it has run
  std::uint64_t seq = 0;
  std::uint32_t len = 0;
  Stage stage = Stage::queued;
  std::uint8_t flags = 0;
  std::uint8_t units = 0;  // bytes of the record / 16
  std::uint8_t push = 0;

  bool internal() const noexcept { return (flags & kInternal) != 0; }
  bool owned() const noexcept { return (flags & kOwned) != 0; }
  bool completed() const noexcept { return stage >= Stage::owed; }
  RecordExt* ext() noexcept {
    return (flags & kExt) ? std::launder(reinterpret_cast<RecordExt*>(bytes() + sizeof(Record))) : nullptr;
  }
  const RecordExt* ext() const noexcept { return const_cast<Record*>(this)->ext(); }
  std::uint32_t group() const noexcept { return ext() ? ext()->group : 1; }
  std::uint32_t track() const noexcept { return ext() ? ext()->track : 0; }
  std::uint32_t timeout_ms(std::uint32_t usual) const noexcept { return ext() ? ext()->timeout_ms : usual; }
  // The callable of the callback, after the header (and the extension).
  void* callable() noexcept { return bytes() + sizeof(Record) + ((flags & kExt) ? sizeof(RecordExt) : 0); }
  // Bytes the callable may use (what its Once is told when it goes back).
  std::uint32_t callable_room() const noexcept {
    const std::size_t room = std::size_t{units} * 16 - sizeof(Record) - ((flags & kExt) ? sizeof(RecordExt) : 0);
    return static_cast<std::uint32_t>(room < Callback<Reply>::kInline ? room : Callback<Reply>::kInline);
  }
  // Moves the callback out into `cb` (empty); the record holds none after.
  void take_callback(Callback<Reply>& cb) noexcept {
    ReplyCallbackStorage::move_in(cb, std::exchange(ops, nullptr), callable_room(), callable());
  }

 private:
  unsigned char* bytes() noexcept { return reinterpret_cast<unsigned char*>(this); }
};
static_assert(sizeof(Record) == 24 && sizeof(RecordExt) == 16, "records start 8 bytes past a 16-byte boundary");

class RequestFifo {
 public:
  RequestFifo() = default;
  RequestFifo(const RequestFifo&) = delete;
  RequestFifo& operator=(const RequestFifo&) = delete;
  RequestFifo(RequestFifo&& o) noexcept
      : chunks_(std::move(o.chunks_)),
        head_(std::exchange(o.head_, 0)),
        count_(std::exchange(o.count_, 0)),
        spare_(std::exchange(o.spare_, nullptr)) {}
  ~RequestFifo() {
    clear();
    while (!chunks_.empty()) {
      ::operator delete(chunks_.front());
      chunks_.pop_front();
    }
    ::operator delete(spare_);
  }

  bool empty() const noexcept { return count_ == 0; }
  std::size_t size() const noexcept { return count_; }
  /// Memory held, in bytes (its chunks).
  std::size_t bytes_held() const noexcept { return (chunks_.size() + (spare_ ? 1 : 0)) * kChunkBytes; }
  Record& front() noexcept { return *at(chunks_.front(), head_); }
  const Record& front() const noexcept { return *at(chunks_.front(), head_); }

  /// A new record at the back, its header from `head` (seq, len, stage,
  /// flags, push; kExt set by `ext`), the callable moved out of `cb`.
  Record& push(const Record& head, const RecordExt* ext, Callback<Reply>& cb) {
    const std::size_t fixed = sizeof(Record) + (ext ? sizeof(RecordExt) : 0);
    Record& r = place(head, ext, fixed + ReplyCallbackStorage::size(cb));
    r.ops = ReplyCallbackStorage::move_out(cb, r.callable());
    return r;
  }
  /// A new record at the back that takes over `from` (of another FIFO):
  /// the same header and callable; `from` holds no callable afterwards.
  Record& push_from(Record& from) {
    const RecordExt* ext = from.ext();
    Record& r = place(from, ext, std::size_t{from.units} * 16);
    if (from.ops) ReplyCallbackStorage::relocate(from.ops, r.callable(), from.callable());
    r.ops = std::exchange(from.ops, nullptr);
    return r;
  }

  /// Drops the front record (and its callable, if it still has one).
  void pop_front() noexcept {
    Record& r = front();
    ReplyCallbackStorage::destroy(r.ops, r.callable());
    head_ += std::size_t{r.units} * 16;
    --count_;
    Chunk* c = chunks_.front();
    if (head_ < c->used) return;
    head_ = 0;
    if (chunks_.size() == 1) {
      c->used = 0;  // the last chunk stays for what comes next
      return;
    }
    chunks_.pop_front();
    if (spare_ == nullptr)
      spare_ = c;
    else
      ::operator delete(c);
  }

  void clear() noexcept {
    while (count_ > 0) pop_front();
  }

  /// The record with sequence number `seq`, or null (records are in
  /// sequence order): the chunk by binary search, then a scan within it.
  Record* find(std::uint64_t seq) noexcept {
    if (count_ == 0) return nullptr;
    std::size_t lo = 0, hi = chunks_.size();  // the last chunk whose first record is <= seq
    while (hi - lo > 1) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (at(chunks_[mid], 0)->seq <= seq)
        lo = mid;
      else
        hi = mid;
    }
    Chunk* c = chunks_[lo];
    for (std::size_t off = lo == 0 ? head_ : 0; off < c->used;) {
      Record* r = at(c, off);
      if (r->seq == seq) return r;
      if (r->seq > seq) break;
      off += std::size_t{r->units} * 16;
    }
    return nullptr;
  }

  template <class F>
  void for_each(F&& fn) {
    for (std::size_t i = 0; i < chunks_.size(); ++i) {
      Chunk* c = chunks_[i];
      for (std::size_t off = i == 0 ? head_ : 0; off < c->used; off += std::size_t{at(c, off)->units} * 16)
        fn(*at(c, off));
    }
  }
  template <class F>
  bool any_of(F&& fn) const {
    for (std::size_t i = 0; i < chunks_.size(); ++i) {
      const Chunk* c = chunks_[i];
      for (std::size_t off = i == 0 ? head_ : 0; off < c->used; off += std::size_t{at(c, off)->units} * 16)
        if (fn(*at(c, off))) return true;
    }
    return false;
  }

 private:
  // 8 bytes of header, so that records (16-byte multiples) start 8 bytes
  // past a 16-byte boundary and their callables, 24 or 40 bytes in, on one.
  static constexpr std::size_t kChunkBytes = 8192;
  struct Chunk {
    std::uint32_t used;  // bytes of data in use, from 0 (records popped from the front included)
    std::uint32_t unused;
    unsigned char data[kChunkBytes - 8];
  };
  static_assert(sizeof(Chunk) == kChunkBytes && offsetof(Chunk, data) == 8);
  static constexpr std::size_t kData = sizeof(Chunk::data);

  static Record* at(Chunk* c, std::size_t off) noexcept { return std::launder(reinterpret_cast<Record*>(c->data + off)); }
  static const Record* at(const Chunk* c, std::size_t off) noexcept {
    return std::launder(reinterpret_cast<const Record*>(c->data + off));
  }

  Record& place(const Record& head, const RecordExt* ext, std::size_t bytes) {
    bytes = (bytes + 15) & ~std::size_t{15};
    if (chunks_.empty() || chunks_.back()->used + bytes > kData) [[unlikely]]
      add_chunk();
    Chunk* c = chunks_.back();
    Record* r = ::new (static_cast<void*>(c->data + c->used)) Record(head);
    r->ops = nullptr;
    r->units = static_cast<std::uint8_t>(bytes / 16);
    if (ext) {
      r->flags |= Record::kExt;
      ::new (static_cast<void*>(c->data + c->used + sizeof(Record))) RecordExt(*ext);
    } else {
      r->flags &= static_cast<std::uint8_t>(~Record::kExt);
    }
    c->used += static_cast<std::uint32_t>(bytes);
    ++count_;
    return *r;
  }

  void add_chunk() {
    Chunk* c = spare_ ? std::exchange(spare_, nullptr) : static_cast<Chunk*>(::operator new(sizeof(Chunk)));
    c->used = 0;
    chunks_.push_back(std::move(c));
  }

  Ring<Chunk*> chunks_;
  std::size_t head_ = 0;  // offset of the front record in the first chunk
  std::size_t count_ = 0;
  Chunk* spare_ = nullptr;  // one chunk kept for reuse
};

}  // namespace uvredis::detail
