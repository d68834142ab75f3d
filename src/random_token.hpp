#pragma once
// Unpredictable identifiers (session ids, lock tokens) from the kernel's
// cryptographic generator (getrandom(2)); never from a seeded PRNG.

#include <string>

namespace uvredis::detail {

/// `bytes` random bytes as lower-case hex (2 * bytes characters).
std::string random_hex(std::size_t bytes);

}  // namespace uvredis::detail
