#pragma once
// Layer recipes (src/recipes/): what is written on top of Executor and the
// subscribers: locks, rate limiters, caches (plain and server-tracked), key-
// value and session stores, presence, registry, script recipes, consumer
// groups, resumable channels. No recipe reaches into a link's internals except
// the tracked caches, which own their links. May include: every layer up to
// pubsub.
//
// Pure parts of the lock recipe (no I/O), kept apart so tests can check them
// without a server.

#include <uvredis/lock.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace uvredis::detail {

/// The fencing counter's key for a lock key, in the lock's cluster slot.
/// A key with a hash tag gets ":fence" appended (same tag); a key without
/// braces becomes "{key}:fence" (its tag is the whole key, which hashes like
/// the key itself). Anything else (a stray '}' or an empty tag) gets
/// ":fence" appended: right on one server; on a cluster pass
/// ObtainOptions::fence_key.
std::string fence_key_for(std::string_view key);

/// The wait before retry number `attempt` (0-based): d = min(retry_max,
/// retry_min * 2^attempt), scaled into [d/2, d] by `random`; at least 1 ms.
std::chrono::milliseconds lock_retry_delay(unsigned attempt, const LockerOptions& o, std::uint64_t random) noexcept;

/// The drift margin for a TTL: ceil(ttl * drift_factor) + drift_extra
/// (negative settings count as zero).
std::chrono::milliseconds lock_drift(std::chrono::milliseconds ttl, const LockerOptions& o) noexcept;

/// The end of validity (ms, same clock as `sent_at`) of a grant of `ttl`
/// whose command was issued at `sent_at`: sent_at + ttl - drift, and no
/// later than sent_at + ttl; `sent_at` itself when the margin eats the TTL.
std::uint64_t lock_valid_until(std::uint64_t sent_at, std::chrono::milliseconds ttl, const LockerOptions& o) noexcept;

}  // namespace uvredis::detail
