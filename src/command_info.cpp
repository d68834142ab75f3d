#include "command_info.hpp"

#include "encode.hpp"

#include <charconv>
#include <cstdint>
#include <cmath>
#include <string>

namespace uvredis::detail {

namespace {

// A timeout argument in seconds (may be fractional, as BLPOP accepts).
std::optional<std::chrono::milliseconds> seconds_arg(std::string_view s) {
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (tmp.empty() || end != tmp.c_str() + tmp.size() || !std::isfinite(v) || v <= 0) return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(v * 1000.0)));
}

std::optional<std::chrono::milliseconds> millis_arg(std::string_view s) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return std::chrono::milliseconds(v);
}

// Every command name classify_command treats specially. Most traffic (GET,
// SET, HGET ...) is none of them; a (first letter, length) table answers that
// without a string compare (the benchmark showed ~12% of client CPU here).
constexpr std::string_view kSpecialNames[] = {
    "SELECT", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
    "MONITOR", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "AUTH", "HELLO", "RESET", "QUIT", "SYNC",
    "PSYNC", "CLIENT", "BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX", "BLMOVE", "BRPOPLPUSH", "BLMPOP",
    "BZMPOP", "WAIT", "WAITAOF", "XREAD", "XREADGROUP"};

struct SpecialFilter {
  // bit `len` of mask[letter] set when a special name of that shape exists
  std::uint32_t mask[26] = {};
  constexpr SpecialFilter() {
    for (std::string_view n : kSpecialNames) mask[n[0] - 'A'] |= std::uint32_t{1} << n.size();
  }
  bool maybe_special(std::string_view name) const noexcept {
    if (name.empty() || name.size() >= 32) return false;
    const unsigned char c = static_cast<unsigned char>(name[0]) & 0xDF;  // ASCII upper case
    if (c < 'A' || c > 'Z') return false;
    return (mask[c - 'A'] >> name.size()) & 1u;
  }
};
constexpr SpecialFilter kFilter{};

CommandClass refused(std::string_view why) { return {CommandRoute::refused, why, std::nullopt}; }
CommandClass blocking(std::optional<std::chrono::milliseconds> t) { return {CommandRoute::blocking, {}, t}; }

}  // namespace

CommandClass classify_command(std::span<const std::string_view> argv) {
  if (argv.empty()) return refused("empty command");
  const std::string_view name = argv[0];
  const std::size_t n = argv.size();
  if (!kFilter.maybe_special(name)) return {};

  if (iequals(name, "SELECT"))
    return refused("SELECT is not allowed: the database belongs to the client's options (address.db)");
  if (iequals(name, "SUBSCRIBE") || iequals(name, "PSUBSCRIBE") || iequals(name, "SSUBSCRIBE") ||
      iequals(name, "UNSUBSCRIBE") || iequals(name, "PUNSUBSCRIBE") || iequals(name, "SUNSUBSCRIBE"))
    return refused("subscriptions need a connection of their own: use uvredis::Subscriber");
  if (iequals(name, "MONITOR")) return refused("MONITOR is not supported on a Client");
  if (iequals(name, "MULTI") || iequals(name, "EXEC") || iequals(name, "DISCARD") ||
      iequals(name, "WATCH") || iequals(name, "UNWATCH"))
    return refused("transactions would interleave with other commands on the shared connection: use the transaction API");
  if (iequals(name, "AUTH") || iequals(name, "HELLO") || iequals(name, "RESET"))
    return refused("connection state (credentials, protocol) belongs to the client's options");
  if (iequals(name, "QUIT")) return refused("QUIT is not allowed: use Client::close()");
  if (iequals(name, "SYNC") || iequals(name, "PSYNC")) return refused("replication commands are not supported");
  if (iequals(name, "CLIENT") && n >= 2 && iequals(argv[1], "REPLY"))
    return refused("CLIENT REPLY would break reply ordering on the shared connection");

  if (iequals(name, "BLPOP") || iequals(name, "BRPOP") || iequals(name, "BZPOPMIN") ||
      iequals(name, "BZPOPMAX") || iequals(name, "BLMOVE") || iequals(name, "BRPOPLPUSH"))
    return blocking(n >= 2 ? seconds_arg(argv[n - 1]) : std::nullopt);
  if (iequals(name, "BLMPOP") || iequals(name, "BZMPOP"))
    return blocking(n >= 2 ? seconds_arg(argv[1]) : std::nullopt);
  // WAIT counts the writes of the connection it runs on: on a connection of
  // its own it would always be satisfied at once. It stays on the shared
  // connection (holding it for up to its timeout) with a longer deadline.
  if (iequals(name, "WAIT")) return {CommandRoute::normal, {}, n >= 3 ? millis_arg(argv[2]) : std::nullopt};
  if (iequals(name, "WAITAOF")) return {CommandRoute::normal, {}, n >= 4 ? millis_arg(argv[3]) : std::nullopt};
  if (iequals(name, "XREAD") || iequals(name, "XREADGROUP")) {
    // Options sit between the command (XREADGROUP: after GROUP group
    // consumer, names that may read "BLOCK") and STREAMS.
    for (std::size_t i = iequals(name, "XREADGROUP") ? 4 : 1; i + 1 < n; ++i) {
      if (iequals(argv[i], "STREAMS")) break;
      if (iequals(argv[i], "BLOCK")) return blocking(millis_arg(argv[i + 1]));
      if (iequals(argv[i], "COUNT")) ++i;
    }
  }
  return {};
}

std::optional<std::chrono::milliseconds> effective_timeout(const CommandClass& cls,
                                                           std::optional<std::chrono::milliseconds> requested,
                                                           std::chrono::milliseconds command_timeout) {
  if (requested) return requested;
  // A command that waits on the server (BLPOP 5, WAIT 1 500) gets that wait
  // on top of the usual timeout.
  if (cls.block_time) return command_timeout.count() > 0 ? *cls.block_time + command_timeout : command_timeout;
  if (cls.route != CommandRoute::blocking) return std::nullopt;
  return std::chrono::milliseconds(0);  // blocks for ever (timeout argument 0): no deadline
}

bool is_transaction_command(std::string_view name) noexcept {
  return iequals(name, "MULTI") || iequals(name, "EXEC") || iequals(name, "DISCARD") || iequals(name, "WATCH") ||
         iequals(name, "UNWATCH");
}

}  // namespace uvredis::detail
