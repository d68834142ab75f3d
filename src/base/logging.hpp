#pragma once
// The logger uvredis writes to when the user gave none: silent, private (never
// spdlog's global registry).

#include <spdlog/spdlog.h>

#include <memory>

namespace uvredis::detail {

std::shared_ptr<spdlog::logger> silent_logger();

/// The user's logger, or the silent one.
inline std::shared_ptr<spdlog::logger> logger_or_silent(const std::shared_ptr<spdlog::logger>& l) {
  return l ? l : silent_logger();
}

}  // namespace uvredis::detail
