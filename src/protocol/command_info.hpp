#pragma once
// Which commands a Client must refuse or route to a blocking connection, and
// how long a blocking command may legitimately wait, from the `refused` and
// `wait` facts of command_table.hpp. Pure functions, no I/O.

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace uvredis::detail {

/// Channels or patterns named in one (S|P)SUBSCRIBE or (S|P)UNSUBSCRIBE when
/// many are (re)sent at once: keeps each command and its confirmations small.
inline constexpr std::size_t kNamesPerSubscribe = 1000;

enum class CommandRoute {
  normal,    ///< Shared, pipelined connection.
  blocking,  ///< Needs a connection of its own (it may wait on the server).
  refused,   ///< Not allowed through Client::command (see reason).
};

struct CommandClass {
  CommandRoute route = CommandRoute::normal;
  /// For refused commands: why, and what to use instead.
  std::string_view reason;
  /// For commands that wait on the server (blocking ones, and WAIT/WAITAOF,
  /// which stay on the shared connection): the wait they ask for; nullopt
  /// means "forever" (a timeout argument of 0), unknown, or no wait.
  std::optional<std::chrono::milliseconds> block_time;
};

/// Classifies argv (argv[0] is the command name, any case). An empty argv is
/// refused.
CommandClass classify_command(std::span<const std::string_view> argv);

/// The timeout a command gets: the caller's override, else for a blocking
/// command its own wait plus the client's timeout (none when it waits
/// forever), else nullopt (the connection's default).
std::optional<std::chrono::milliseconds> effective_timeout(const CommandClass& cls,
                                                           std::optional<std::chrono::milliseconds> requested,
                                                           std::chrono::milliseconds command_timeout);

/// MULTI, EXEC, DISCARD, WATCH, UNWATCH: refused on a shared connection,
/// allowed on a leased one.
bool is_transaction_command(std::string_view name) noexcept;

}  // namespace uvredis::detail
