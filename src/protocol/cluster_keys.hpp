#pragma once
// Cluster routing logic without I/O: key slots (CRC16 with hash tags), where
// the keys of a command are, MOVED/ASK replies and CLUSTER SLOTS replies.
// Pure functions, unit-tested without a network.

#include "protocol/command_table.hpp"

#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis::detail {

inline constexpr int kClusterSlots = 16384;

/// CRC16-CCITT (XModem: polynomial 0x1021, initial value 0), as Redis Cluster uses.
std::uint16_t crc16(std::string_view data) noexcept;

/// The hash slot of a key: CRC16 of the key, or of the part between the
/// first '{' and the next '}' when that part is not empty, modulo 16384.
int key_slot(std::string_view key) noexcept;

/// Where a command's keys are in its argv: positions first, first+step, ...
/// up to last (inclusive). `count() == 0` means a keyless command.
/// `extra`, when not zero, is one more key before the range (the
/// destination of ZUNIONSTORE and friends).
struct KeyRange {
  std::size_t first = 0;
  std::size_t last = 0;
  std::size_t step = 1;
  std::size_t extra = 0;

  std::size_t count() const noexcept { return (first == 0 ? 0 : (last - first) / step + 1) + (extra ? 1 : 0); }
  template <class F>
  void for_each(F&& f) const {
    if (extra) f(extra);
    if (first != 0)
      for (std::size_t i = first; i <= last; i += step) f(i);
  }
};

/// The key positions of argv (argv[0] is the command name, any case), from
/// the `keys` fact of command_table.hpp. Commands the table does not know take argv[1] as their key: a wrong guess
/// only costs one MOVED redirection. Malformed argv (a numkeys beyond the
/// end) is treated as keyless; the server then reports the error.
KeyRange command_keys(std::span<const std::string_view> argv) noexcept;

/// MGET, MSET, DEL, EXISTS, UNLINK, TOUCH: commands whose keys may be split
/// per slot, each part sent on its own, the replies combined (the `split`
/// fact of command_table.hpp).
SplitKind split_kind(std::string_view name) noexcept;

/// Keyless commands that act on one node's data set but that a caller means
/// for the whole cluster (the `fan_out` fact of command_table.hpp, with its
/// subcommands: SCRIPT LOAD, not SCRIPT EXISTS).
FanOut fan_out_kind(std::span<const std::string_view> argv) noexcept;

/// A redirection read from an error reply: "MOVED 3999 127.0.0.1:6381" or
/// "ASK 3999 127.0.0.1:6381".
struct Redirect {
  bool ask = false;
  int slot = 0;
  std::string host;
  std::uint16_t port = 0;
};
std::optional<Redirect> parse_redirect(std::string_view error_message);

/// Splits "host:port" ("[v6]:port" and "v6:port" too, the port after the
/// last colon).
bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port);

/// One master and the slot ranges it serves, from CLUSTER SLOTS.
struct SlotRange {
  int first = 0;
  int last = 0;
  std::string host;  ///< As announced; an empty host means "the node you asked".
  std::uint16_t port = 0;
  std::vector<std::pair<std::string, std::uint16_t>> replicas;
};

/// Reads a CLUSTER SLOTS reply. Empty or "?" hosts become `asked_host`.
/// Fails (kind protocol) on a reply that does not have the documented shape.
Result<std::vector<SlotRange>> parse_cluster_slots(const Reply& reply, std::string_view asked_host);

}  // namespace uvredis::detail
