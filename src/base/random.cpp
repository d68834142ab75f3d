#include "base/random.hpp"

#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace uvredis::detail {

bool secure_random(void* buf, std::size_t n) noexcept {
  auto* p = static_cast<unsigned char*>(buf);
  while (n > 0) {
    ssize_t got = ::getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

std::string random_hex_token(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (!secure_random(raw.data(), raw.size())) {
    std::fputs("uvredis: getrandom(2) failed; refusing to make a guessable lock token\n", stderr);
    std::abort();
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes);
  for (unsigned char c : raw) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 0xF]);
  }
  return out;
}

std::uint64_t jitter_random() noexcept {
  // Re-seeded after fork(): children of one parent must not share a sequence.
  thread_local pid_t seeded_for = -1;
  thread_local std::uint64_t state = 0;
  const pid_t pid = ::getpid();
  if (pid != seeded_for) {
    seeded_for = pid;
    if (!secure_random(&state, sizeof(state)))
      state = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
              (static_cast<std::uint64_t>(pid) << 32);
    if (state == 0) state = 0x9E3779B97F4A7C15ull;
  }
  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

}  // namespace uvredis::detail
