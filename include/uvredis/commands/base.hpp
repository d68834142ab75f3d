#pragma once
/// @file commands/base.hpp
/// What every part of the command table shares: the callback type (defined
/// in link_types.hpp), the per-sink result type, and the one place where a
/// built argv goes to the sink (or its usage error does). See commands.hpp for the sink contract.
/// Loop-thread only, like the sink.

#include <uvredis/callbacks.hpp>
#include <uvredis/decode.hpp>
#include <uvredis/detail/args.hpp>
#include <uvredis/link_types.hpp>
#include <uvredis/result.hpp>

#include <utility>

namespace uvredis {

/// What a typed helper returns on a given sink: nothing for an Executor (the
/// callback gets the result), a result handle for a Pipeline. Specialised
/// next to each sink.
template <class Sink>
struct SinkTraits;

template <class Sink, class T>
using SinkResult = typename SinkTraits<Sink>::template result<T>;

namespace detail {

/// The usage error path of dispatch(), kept out of line so that the usual
/// path (send) is small enough to be inlined into every typed helper.
template <class T, class Sink>
[[gnu::noinline, gnu::cold]] SinkResult<Sink, T> dispatch_failed(Sink& sink, Args& args, Callback<T>&& cb) {
  return sink.template fail<T>(args.take_error(), std::move(cb));
}

/// Hands a built command to the sink, or its usage error when the builder
/// found one (the sink delivers it on a later loop turn; nothing is sent).
template <class T, class Sink>
SinkResult<Sink, T> dispatch(Sink& sink, Args& args, Decoder<T> decode, Callback<T>&& cb) {
  if (args.failed()) [[unlikely]]
    return dispatch_failed<T>(sink, args, std::move(cb));
  return sink.template send<T>(args.argv(), decode, std::move(cb));
}

}  // namespace detail
}  // namespace uvredis
