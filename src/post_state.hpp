#pragma once
// Shared between a Client (loop thread) and its Posters (any thread).

#include <uv.h>

#include <functional>
#include <mutex>
#include <vector>

namespace uvredis::detail {

struct PostState {
  std::mutex mu;
  std::vector<std::function<void()>> queue;
  uv_async_t* async = nullptr;  // valid while !closed; owned by the ClientImpl
  bool closed = false;
};

}  // namespace uvredis::detail
