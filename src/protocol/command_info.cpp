#include "protocol/command_info.hpp"

#include "protocol/command_table.hpp"
#include "protocol/encode.hpp"

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

CommandClass refused(std::string_view why) { return {CommandRoute::refused, why, std::nullopt}; }
CommandClass blocking(std::optional<std::chrono::milliseconds> t) { return {CommandRoute::blocking, {}, t}; }

}  // namespace

CommandClass classify_command(std::span<const std::string_view> argv) {
  if (argv.empty()) return refused("empty command");
  const std::string_view name = argv[0];
  const std::size_t n = argv.size();
  // Most traffic (GET, SET, HGET ...) has nothing classified: the filter
  // says so from the first letter and the length (the benchmark showed ~12%
  // of client CPU here when this was a chain of string compares).
  if (!kClassifiedFilter.maybe(name)) return {};
  const CommandFacts* facts = find_command(name);
  if (facts == nullptr) return {};
  // CLIENT is refused with REPLY only: its row lists the subcommand.
  const bool any_sub = facts->refused_subs.empty();
  if (!facts->refused.empty() && (any_sub || (n >= 2 && in_word_list(facts->refused_subs, argv[1]))))
    return refused(facts->refused);

  switch (facts->wait) {
    case Wait::none: break;
    case Wait::last_seconds: return blocking(n >= 2 ? seconds_arg(argv[n - 1]) : std::nullopt);
    case Wait::arg1_seconds: return blocking(n >= 2 ? seconds_arg(argv[1]) : std::nullopt);
    // WAIT counts the writes of the connection it runs on: on a connection
    // of its own it would always be satisfied at once. It stays on the
    // shared connection (holding it for up to its timeout) with a longer
    // deadline.
    case Wait::arg2_millis: return {CommandRoute::normal, {}, n >= 3 ? millis_arg(argv[2]) : std::nullopt};
    case Wait::arg3_millis: return {CommandRoute::normal, {}, n >= 4 ? millis_arg(argv[3]) : std::nullopt};
    case Wait::block_option:
      // Options sit between the command (XREADGROUP: after GROUP group
      // consumer, names that may read "BLOCK") and STREAMS.
      for (std::size_t i = facts->options_at; i + 1 < n; ++i) {
        if (iequals(argv[i], "STREAMS")) break;
        if (iequals(argv[i], "BLOCK")) return blocking(millis_arg(argv[i + 1]));
        if (iequals(argv[i], "COUNT")) ++i;
      }
      break;
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
  const CommandFacts* facts = find_command(name);
  return facts != nullptr && facts->transaction;
}

}  // namespace uvredis::detail
