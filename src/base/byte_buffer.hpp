#pragma once
// A growable run of bytes for commands waiting to be written (internal,
// loop-thread only). Unlike std::string it grows in steps of an eighth once
// it is large (std::string doubles: a burst of queued commands kept up to
// twice their size), through realloc, which moves large blocks by
// remapping pages rather than copying them; it does not zero what it adds;
// and a buffer grown past 4 MiB is freed when it empties, so a burst's memory
// goes back once the burst is written.

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace uvredis::detail {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), cap_(std::exchange(o.cap_, 0)) {}
  ~ByteBuffer() { std::free(data_); }

  char* data() noexcept { return data_; }
  const char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t capacity() const noexcept { return cap_; }

  /// Adds `n` bytes at the end, uninitialised: returns where they start.
  char* grow(std::size_t n) {
    if (cap_ - size_ < n) [[unlikely]]
      reserve_more(n);
    char* p = data_ + size_;
    size_ += n;
    return p;
  }
  void append(const char* p, std::size_t n) {
    if (n != 0) std::memcpy(grow(n), p, n);
  }
  /// Shortens to `n` bytes (n <= size()).
  void truncate(std::size_t n) noexcept { size_ = n; }
  /// Drops the first `n` bytes.
  void drop_front(std::size_t n) noexcept {
    std::memmove(data_, data_ + n, size_ - n);
    size_ -= n;
  }
  /// Empties it; a buffer grown past kKeep is freed.
  void clear() noexcept {
    size_ = 0;
    if (cap_ > kKeep) {
      std::free(std::exchange(data_, nullptr));
      cap_ = 0;
    }
  }

  static constexpr std::size_t kKeep = 4u << 20;

 private:
  void reserve_more(std::size_t n) {
    const std::size_t need = size_ + n;
    std::size_t cap = cap_ < 4096 ? 4096 : cap_;
    while (cap < need) cap += cap < (4u << 20) ? cap : cap / 8;
    void* p = std::realloc(data_, cap);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    cap_ = cap;
  }

  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};

}  // namespace uvredis::detail
