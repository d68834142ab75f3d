#pragma once
// Layer base (src/base/): the pieces every other layer uses and that know
// nothing of Redis: logging, randomness, SHA-1, program-error reports, the
// error kinds' names and the ownership of uv handles. May include: only the
// public base headers (callbacks, error, result); no other src folder.
//
// One owner for a heap-allocated libuv handle: the memory is released only in
// the close callback, as libuv requires, and the owner can be told when that
// happened. Every uv handle in uvredis goes through this.

#include <uv.h>

#include <utility>

namespace uvredis::detail {

template <class T>
class UvHandle {
 public:
  using ClosedFn = void (*)(void* ctx);

  UvHandle() = default;
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { close(); }

  /// Allocates a fresh (uninitialised) handle; the caller runs uv_xxx_init on
  /// it and then commit()s, or discard()s it when init failed.
  T* allocate(ClosedFn on_closed = nullptr, void* ctx = nullptr) {
    close();
    box_ = new Box();
    box_->on_closed = on_closed;
    box_->ctx = ctx;
    return &box_->handle;
  }
  /// Frees a handle whose init failed (never passed to uv_close).
  void discard() {
    delete box_;
    box_ = nullptr;
  }

  T* get() const noexcept { return box_ ? &box_->handle : nullptr; }
  explicit operator bool() const noexcept { return box_ != nullptr; }

  /// Starts closing (idempotent); the memory goes in the close callback,
  /// which then calls the owner's on_closed.
  void close() {
    if (!box_) return;
    Box* b = std::exchange(box_, nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&b->handle), &on_close);
  }

 private:
  struct Box {
    T handle{};  // first member: the uv_handle_t* in the close callback is the Box*
    ClosedFn on_closed = nullptr;
    void* ctx = nullptr;
  };
  static void on_close(uv_handle_t* h) {
    Box* b = reinterpret_cast<Box*>(h);
    ClosedFn fn = b->on_closed;
    void* ctx = b->ctx;
    delete b;
    if (fn) fn(ctx);
  }
  Box* box_ = nullptr;
};

}  // namespace uvredis::detail
