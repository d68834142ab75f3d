#pragma once
/// @file detail/function.hpp
/// Compatibility: `detail::Function<Sig>` is now the public `uvredis::Once<Sig>`
/// (callbacks.hpp); new code includes <uvredis/callbacks.hpp> and writes Once.

#include <uvredis/callbacks.hpp>
