#pragma once
// A FIFO on one power-of-two array that wraps around: push at the back, pop
// at the front, index from the front. It grows by doubling (moving its
// elements once), so a queue that settles at a size does
// no allocation per element, unlike a std::deque, which allocates a block
// every few elements as its front and back advance; an array grown past
// kKeep by a burst is freed when the ring empties. Growth invalidates
// references, as a std::vector's does. Loop-thread only, like its owners.

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace uvredis::detail {

template <class T>
class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  Ring(Ring&& o) noexcept
      : slots_(std::exchange(o.slots_, nullptr)),
        mask_(std::exchange(o.mask_, 0)),
        head_(std::exchange(o.head_, 0)),
        size_(std::exchange(o.size_, 0)) {}
  Ring& operator=(Ring&& o) noexcept {
    if (this != &o) {
      destroy();
      slots_ = std::exchange(o.slots_, nullptr);
      mask_ = std::exchange(o.mask_, 0);
      head_ = std::exchange(o.head_, 0);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~Ring() { destroy(); }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  /// Slots allocated (0 before the first push).
  std::size_t capacity() const noexcept { return slots_ ? mask_ + 1 : 0; }

  T& operator[](std::size_t i) noexcept { return slots_[(head_ + i) & mask_]; }
  const T& operator[](std::size_t i) const noexcept { return slots_[(head_ + i) & mask_]; }
  T& front() noexcept { return slots_[head_]; }
  const T& front() const noexcept { return slots_[head_]; }
  T& back() noexcept { return (*this)[size_ - 1]; }
  const T& back() const noexcept { return (*this)[size_ - 1]; }

  template <class... A>
  T& emplace_back(A&&... a) {
    if (slots_ == nullptr || size_ == mask_ + 1) [[unlikely]]
      grow();
    T* p = &slots_[(head_ + size_) & mask_];
    ::new (static_cast<void*>(p)) T(std::forward<A>(a)...);
    ++size_;
    return *p;
  }
  void push_back(T&& v) { emplace_back(std::move(v)); }

  void pop_front() noexcept {
    slots_[head_].~T();
    head_ = (head_ + 1) & mask_;
    if (--size_ == 0) [[unlikely]] {
      head_ = 0;  // start over at the array's beginning: fewer wraps
      // A burst's array goes once drained; the usual traffic's stays.
      if (mask_ + 1 > kKeep) release();
    }
  }

  void clear() noexcept {
    while (size_ > 0) pop_front();
    head_ = 0;
  }

  /// Arrays larger than this are freed when the ring empties (after a burst).
  static constexpr std::size_t kKeep = 4096;

  /// Calls `fn` on each element, front to back.
  template <class F>
  void for_each(F&& fn) {
    for (std::size_t i = 0; i < size_; ++i) fn((*this)[i]);
  }
  template <class F>
  bool any_of(F&& fn) const {
    for (std::size_t i = 0; i < size_; ++i)
      if (fn((*this)[i])) return true;
    return false;
  }

 private:
  // Raw storage: slots hold live objects only in [head_, head_ + size_).
  static T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignof(T)}));
  }
  static void deallocate(T* p) { ::operator delete(p, std::align_val_t{alignof(T)}); }

  void grow() {
    const std::size_t cap = slots_ ? (mask_ + 1) * 2 : kFirst;
    T* fresh = allocate(cap);
    for (std::size_t i = 0; i < size_; ++i) {
      T& from = (*this)[i];
      ::new (static_cast<void*>(fresh + i)) T(std::move(from));
      from.~T();
    }
    if (slots_) deallocate(slots_);
    slots_ = fresh;
    mask_ = cap - 1;
    head_ = 0;
  }

  void destroy() noexcept {
    if (slots_ == nullptr) return;
    clear();
    release();
  }
  // Frees the array (the ring is empty).
  void release() noexcept {
    if (slots_) deallocate(slots_);
    slots_ = nullptr;
    mask_ = 0;
    head_ = 0;
  }

  static constexpr std::size_t kFirst = 16;
  T* slots_ = nullptr;
  std::size_t mask_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace uvredis::detail
