#pragma once
/// @file presence.hpp
/// Presence: who is online, as keys with a TTL (a user stays online while
/// the game server keeps marking them, and drops off by itself when it
/// stops), over any Executor (Client, Lease, ClusterClient).
///
/// Threading: loop-thread only. Lifetime: the Executor must outlive the
/// calls in flight; Presence holds only its prefix and may be destroyed at
/// any time (callbacks still run exactly once).

#include <uvredis/commands.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

class UVREDIS_API Presence {
 public:
  explicit Presence(Executor& ex, std::string prefix = "presence:");

  /// Marks `user` online for `ttl` (call again before it runs out).
  void online(std::string_view user, std::chrono::milliseconds ttl, Callback<void> cb = {});
  /// Marks `user` offline at once.
  void offline(std::string_view user, Callback<void> cb = {});
  void is_online(std::string_view user, Callback<bool> cb);
  /// The users of `users` that are online, in the given order.
  void online_of(std::vector<std::string> users, Callback<std::vector<std::string>> cb);
  /// The members of the Redis set `set_key` (say, a room's or a friend
  /// list's members) that are online.
  void online_in_set(std::string_view set_key, Callback<std::vector<std::string>> cb);

 private:
  std::string key(std::string_view user) const { return prefix_ + std::string(user); }
  Executor* ex_;
  std::string prefix_;
};

}  // namespace uvredis
