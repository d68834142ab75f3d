#pragma once
// Which commands a ClusterClient may send to a replica: reads that never
// change data and never wait on the server (the `replica` fact of
// command_table.hpp). Pure function, no I/O.

#include <span>
#include <string_view>

namespace uvredis::detail {

/// True when argv (argv[0] the command name, any case) is a read that a
/// replica can answer as its master would, apart from replication lag:
/// flagged `readonly` by Redis 7.0, not blocking (XREAD without BLOCK only),
/// not node-local bookkeeping (OBJECT FREQ/IDLETIME, TOUCH), and with keys
/// (keyless reads such as DBSIZE or SCAN are about one node). The caller
/// still checks that all keys share one slot.
bool replica_readable(std::span<const std::string_view> argv) noexcept;

}  // namespace uvredis::detail
