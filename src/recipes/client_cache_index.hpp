#pragma once
// The index of a ClientCache's GET entries by their Redis key (internal).
// A hot GET looks its key up on every hit: with std::unordered_map the
// lookup (murmur hash out of line, a modulo, a node walk) cost more than
// the rest of the hit's bookkeeping together, so GET entries have this
// small open-addressing table of their own.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace uvredis::detail {

// Eight bytes per multiply, the last 1..8 read with at most two loads.
// Neither better nor worse against chosen keys than std::hash, which is
// not seeded either.
struct KeyHash {
  static std::uint64_t mix(std::uint64_t h) noexcept {
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
  }
  std::uint64_t operator()(std::string_view s) const noexcept {
    const char* p = s.data();
    std::size_t n = s.size();
    std::uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    std::uint64_t w;
    for (; n > 8; n -= 8, p += 8) {
      std::memcpy(&w, p, 8);
      h = mix(h ^ w);
    }
    // The length is in h already, so two loads that overlap are enough.
    std::uint32_t a = 0, b = 0;
    if (n >= 4) {
      std::memcpy(&a, p, 4);
      std::memcpy(&b, p + n - 4, 4);
    } else if (n > 0) {
      a = static_cast<unsigned char>(p[0]) | static_cast<std::uint32_t>(static_cast<unsigned char>(p[n / 2])) << 8 |
          static_cast<std::uint32_t>(static_cast<unsigned char>(p[n - 1])) << 16;
    }
    return mix(h ^ (static_cast<std::uint64_t>(b) << 32 | a));
  }
};

// Whether two runs of n bytes are equal: inline (memcmp is a call, and
// keys are short), with loads that may overlap as in KeyHash.
inline bool same_bytes(const char* a, const char* b, std::size_t n) noexcept {
  std::uint64_t x, y;
  for (; n > 8; n -= 8, a += 8, b += 8) {
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return false;
  }
  if (n >= 4) {
    std::uint32_t p, q, r, s;
    std::memcpy(&p, a, 4);
    std::memcpy(&q, b, 4);
    std::memcpy(&r, a + n - 4, 4);
    std::memcpy(&s, b + n - 4, 4);
    return ((p ^ q) | (r ^ s)) == 0;
  }
  // 0..3 bytes: positions 0, n/2 and n-1 cover them all.
  return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

// Entry iterators (`it->key` is the key) by key: linear probing in a
// power-of-two table at most half full, with backward-shift deletion (no
// tombstones, so a probe ends at the first empty slot). A slot keeps the
// full hash, so a probe compares keys only when the hashes agree.
template <class Iter>
class KeyIndex {
 public:
  // The entry of `key`, or null. The slot found last is tried first: a hot
  // key read over and over is then neither hashed nor probed for.
  const Iter* find(std::string_view key) const noexcept {
    if (last_ && matches(*last_, key)) return &last_->it;
    return probe(key);
  }

  // Adds an entry whose key is not in the index.
  void insert(Iter it) {
    last_ = nullptr;  // slots may move
    if ((used_ + 1) * 2 > slots_.size()) grow();
    place(hash(it->key), it);
    ++used_;
  }

  // Removes an entry that is in the index.
  void erase(Iter it) noexcept {
    last_ = nullptr;  // slots may move
    if (used_ == 0) return;
    std::size_t i = hash(it->key) & mask_;
    for (; slots_[i].it != it; i = (i + 1) & mask_)
      if (slots_[i].hash == 0) return;  // not indexed
    // Close the gap: a later slot of the same run moves into it unless its
    // home slot lies (cyclically) after the gap, where a probe for it starts.
    for (std::size_t j = (i + 1) & mask_; slots_[j].hash != 0; j = (j + 1) & mask_) {
      const std::size_t home = slots_[j].hash & mask_;
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
    --used_;
  }

  // Empties it and gives its memory back (a flush: rare, and the cache
  // may stay small afterwards).
  void clear() noexcept {
    std::vector<Slot>().swap(slots_);
    last_ = nullptr;
    mask_ = 0;
    used_ = 0;
  }

  std::size_t size() const noexcept { return used_; }

 private:
  struct Slot {
    std::uint64_t hash = 0;  // 0: empty
    Iter it{};
  };

  // find() past the slot found last: out of line, so that the hit on the
  // last key stays a short function.
  [[gnu::noinline]] const Iter* probe(std::string_view key) const noexcept {
    if (used_ == 0) return nullptr;
    const std::uint64_t h = hash(key);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.hash == 0) return nullptr;
      if (s.hash == h && matches(s, key)) {
        last_ = &s;
        return &s.it;
      }
    }
  }

  static bool matches(const Slot& s, std::string_view key) noexcept {
    return s.it->key.size() == key.size() && same_bytes(s.it->key.data(), key.data(), key.size());
  }
  static std::uint64_t hash(std::string_view key) noexcept {
    const std::uint64_t h = KeyHash{}(key);
    return h != 0 ? h : 1;
  }
  void place(std::uint64_t h, Iter it) noexcept {
    std::size_t i = h & mask_;
    while (slots_[i].hash != 0) i = (i + 1) & mask_;
    slots_[i] = Slot{h, it};
  }
  void grow() {
    std::vector<Slot> old(slots_.empty() ? 16 : 2 * slots_.size());
    old.swap(slots_);
    mask_ = slots_.size() - 1;
    for (const Slot& s : old)
      if (s.hash != 0) place(s.hash, s.it);
  }

  std::vector<Slot> slots_;
  mutable const Slot* last_ = nullptr;  // a slot holding an entry, or null
  std::size_t mask_ = 0;
  std::size_t used_ = 0;
};

}  // namespace uvredis::detail
