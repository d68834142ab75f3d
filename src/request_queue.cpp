#include "request_queue.hpp"

#include "encode.hpp"

#include <climits>
#include <cstdint>
#include <string>

namespace uvredis::detail {

std::optional<Error> queue_bounds_error(const QueueBounds& bounds, std::size_t queued_cmds, std::size_t queued_bytes,
                                        std::size_t extra_bytes, std::size_t extra_cmds) {
  if (queued_cmds + extra_cmds > bounds.max_commands)
    return Error{ErrorKind::overflow,
                 "queue full: " + std::to_string(queued_cmds) + " commands are waiting (max_queued_commands)"};
  if (extra_bytes > bounds.max_bytes || extra_bytes > UINT32_MAX)
    return Error{ErrorKind::overflow, "command too large: " + std::to_string(extra_bytes) + " bytes, more than " +
                                          (extra_bytes > bounds.max_bytes
                                               ? "max_queued_bytes (" + std::to_string(bounds.max_bytes) + ")"
                                               : std::string("4 GiB"))};
  if (queued_bytes + extra_bytes > bounds.max_bytes)
    return Error{ErrorKind::overflow,
                 "queue full: " + std::to_string(queued_bytes) + " bytes are waiting (max_queued_bytes)"};
  return std::nullopt;
}

namespace {
constexpr std::string_view kPushNames[] = {"",           "subscribe",    "psubscribe",   "ssubscribe", "unsubscribe",
                                           "punsubscribe", "sunsubscribe", "message",      "pmessage",   "smessage"};
}  // namespace

std::uint8_t push_kind_of(const Reply& r) noexcept {
  if (!r.is_array() || r.size() < 3 || !r[0].is_string()) return kNotPush;
  const std::string_view name = r[0].str();
  for (std::uint8_t k = kSubscribe; k <= kSMessage; ++k)
    if (name == kPushNames[k]) return k;
  return kNotPush;
}

std::uint8_t command_push_kind(std::string_view command) noexcept {
  for (std::uint8_t k = kSubscribe; k <= kSUnsubscribe; ++k)
    if (iequals(command, kPushNames[k])) return k;
  return kNotPush;
}

}  // namespace uvredis::detail
