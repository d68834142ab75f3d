#pragma once
/// @file script_recipes.hpp
/// Small atomic read-modify-write operations built on Lua scripts (the
/// seed's patterns): compare-and-swap, increment with a limit, inventory
/// deduction and a two-key points transfer. Each is one script run through
/// Script::run, so it works on any Executor (Client, Lease, cluster).
///
/// Threading: loop-thread only. Lifetime: the Executor must outlive the
/// callback; keys and values are copied before the call returns. Every
/// callback runs exactly once, never inside the call.
///
/// Numbers are Lua numbers (doubles) inside the scripts: counters, limits,
/// stocks and balances are exact up to 2^53.
///
/// Cluster: the keys of one call must hash to one slot (use a hash tag,
/// `{user:1}:points`), as for any multi-key script.

#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>
#include <uvredis/result.hpp>

#include <optional>
#include <string_view>

namespace uvredis::recipes {

/// Sets `key` to `desired` only if its current value is `expected`
/// (`std::nullopt`: only if the key does not exist). Yields true when it
/// swapped, false when the current value differed (not an error). The key's
/// TTL is kept. WRONGTYPE and the like arrive as server errors.
UVREDIS_API void compare_and_swap(Executor& ex, std::string_view key, std::optional<std::string_view> expected,
                      std::string_view desired, Callback<bool> cb);

/// Outcome of increment_with_limit.
struct UVREDIS_API LimitedIncrement {
  bool incremented = false;  ///< False when the increment would have passed the limit.
  long long value = 0;       ///< The value after the call (unchanged when not incremented).
};

/// Adds `by` to the integer at `key` (a missing key counts as 0) unless the
/// result would exceed `limit`; hitting the limit is a normal outcome, not
/// an error. A value that is not an integer is a server error (ERR).
UVREDIS_API void increment_with_limit(Executor& ex, std::string_view key, long long by, long long limit,
                          Callback<LimitedIncrement> cb);

/// Outcome of deduct_inventory.
struct UVREDIS_API Deduction {
  bool deducted = false;  ///< False when the stock was insufficient (nothing taken).
  long long stock = 0;    ///< The stock after the call (the unchanged stock when not deducted).
};

/// Takes `quantity` (> 0) items from the stock counter at `key` (missing key:
/// zero stock) if at least that many are there. Insufficient stock is a
/// normal outcome (`deducted == false`), not an error.
UVREDIS_API void deduct_inventory(Executor& ex, std::string_view key, long long quantity, Callback<Deduction> cb);

/// Balances after a transfer.
struct UVREDIS_API Transfer {
  long long from_balance = 0;
  long long to_balance = 0;
};

/// Moves `amount` (> 0) points from the integer at `from` to the one at `to`
/// (missing keys count as 0), atomically. Insufficient balance is an error:
/// Error{ErrorKind::server, "INSUFFICIENT balance <have> < <amount>"}, code()
/// "INSUFFICIENT", and nothing changes. A non-positive amount is a usage error.
UVREDIS_API void transfer_points(Executor& ex, std::string_view from, std::string_view to, long long amount,
                     Callback<Transfer> cb);

}  // namespace uvredis::recipes
