#pragma once
// Shared between a Client (loop thread) and its Posters (any thread).
//
// The promise kept here: a function that Poster::post() accepted (returned
// true) runs exactly once on the loop thread. It is run either by the async
// callback, or, once the client closes or is destroyed, by the async handle's
// close callback, which drains whatever was still queued. `closed` is set
// under `mu` before uv_close, so nothing is accepted after the drain was
// decided and uv_async_send never touches a closing handle.

#include <uvredis/detail/function.hpp>

#include <uv.h>

#include <functional>
#include <mutex>
#include <vector>

namespace uvredis::detail {

struct PostState {
  std::mutex mu;
  std::vector<Function<void()>> queue;       // guarded by mu
  uv_async_t* async = nullptr;               // valid while !closed; owned by the ClientImpl
  bool closed = false;                       // guarded by mu

  // Loop thread only: set once the close callback has run the last queued
  // functions; until then close() callers wait for it in `drain_waiters`.
  bool drained = false;
  std::vector<Function<void()>> drain_waiters;

  /// Takes the queued functions (under the lock) and runs them in order.
  void run_queued() {
    std::vector<Function<void()>> work;
    {
      std::lock_guard<std::mutex> lock(mu);
      work.swap(queue);
    }
    for (auto& fn : work) fn();  // a throwing function ends the program (see callbacks.hpp)
  }
};

}  // namespace uvredis::detail
