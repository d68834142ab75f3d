#include "client/post_state.hpp"

#include <uvredis/client.hpp>

namespace uvredis {

bool Poster::post(Once<void()> fn) const {
  if (!state_ || !fn) return false;
  std::lock_guard<std::mutex> lock(state_->mu);
  // Checked under the lock that close() takes before uv_close: the async
  // handle is never touched after it started closing.
  if (state_->closed) return false;
  state_->queue.push_back(std::move(fn));
  uv_async_send(state_->async);
  return true;
}

}  // namespace uvredis
