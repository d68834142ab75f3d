#include "base/logging.hpp"

#include <spdlog/sinks/null_sink.h>

namespace uvredis::detail {

std::shared_ptr<spdlog::logger> silent_logger() {
  static const std::shared_ptr<spdlog::logger> l = [] {
    auto lg = std::make_shared<spdlog::logger>("uvredis", std::make_shared<spdlog::sinks::null_sink_mt>());
    lg->set_level(spdlog::level::off);
    return lg;
  }();
  return l;
}

}  // namespace uvredis::detail
