#pragma once
// Small adapters between callback types, shared by the recipes.

#include <uvredis/commands.hpp>
#include <uvredis/reply.hpp>

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

}  // namespace uvredis::detail
