#pragma once
// Randomness for recipes: unguessable tokens from the kernel's CSPRNG
// (getrandom(2)), and a cheap generator for jitter that only needs to differ
// between processes. Any thread.

#include <cstddef>
#include <cstdint>
#include <string>

namespace uvredis::detail {

/// Fills `buf` from getrandom(2) (blocking only until the kernel pool is
/// initialised at boot). False when the kernel refused (ENOSYS).
bool secure_random(void* buf, std::size_t n) noexcept;

/// `bytes` random bytes from secure_random, as lower-case hex (2*bytes
/// characters). Aborts when the kernel has no random source: a lock token
/// must never be guessable.
std::string random_hex_token(std::size_t bytes = 16);

/// A fast, non-cryptographic 64-bit random number (xorshift, per thread,
/// seeded from secure_random). For jitter, never for secrets.
std::uint64_t jitter_random() noexcept;

}  // namespace uvredis::detail
