#pragma once
// Small adapters between callback types, shared by the recipes.

#include <uvredis/commands.hpp>
#include <uvredis/reply.hpp>

#include <cstddef>
#include <memory>

namespace uvredis::detail {

/// A raw-reply callback that reports only success or the error to `cb`
/// (which may be empty).
inline Callback<Reply> ignore_value(Callback<void> cb) {
  return [cb = std::move(cb)](Result<Reply> r) mutable {
    if (!cb) return;
    if (r)
      cb(Result<void>());
    else
      cb(std::move(r).error());
  };
}

/// Joins `n` completions (n > 0): returns a copyable callable whose n-th
/// call, over all its copies, runs `done` (which may be empty).
inline auto join_n(std::size_t n, Function<void()> done) {
  auto left = std::make_shared<std::size_t>(n);
  auto d = std::make_shared<Function<void()>>(std::move(done));
  return [left, d] {
    if (--*left == 0 && *d) (*d)();
  };
}

}  // namespace uvredis::detail
