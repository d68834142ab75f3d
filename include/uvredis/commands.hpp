#pragma once
/// @file commands.hpp
/// The table of typed Redis commands, written once and shared by every sink:
/// Client (callbacks), and later Pipeline/Transaction (result handles) and
/// ClusterClient. A sink derives from Commands<Sink> and provides
///
///   template <class T>
///   SinkResult<Sink, T> send(std::span<const std::string_view> argv,
///                            Decoder<T> decode, Callback<T> cb);
///   template <class T>
///   SinkResult<Sink, T> fail(Error usage_error, Callback<T> cb);
///
/// `argv` is only valid during the call (sinks copy or encode it at once).
/// Loop-thread only, like the sink.

#include <uvredis/decode.hpp>
#include <uvredis/detail/function.hpp>
#include <uvredis/result.hpp>

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace uvredis {

/// A completion callback. It runs exactly once, on the loop thread, never
/// inside the call that issued the command.
template <class T>
using Callback = detail::Function<void(Result<T>)>;

/// What a typed helper returns on a given sink: nothing for a Client (the
/// callback gets the result), a result handle for a Pipeline. Specialised
/// next to each sink.
template <class Sink>
struct SinkTraits;

template <class Sink, class T>
using SinkResult = typename SinkTraits<Sink>::template result<T>;

template <class Sink>
class Commands {
 public:
  // ------------------------------------------------------------- strings

  /// GET key: the value, or an empty optional when the key does not exist.
  SinkResult<Sink, std::optional<std::string>> get(std::string_view key,
                                                   Callback<std::optional<std::string>> cb = {}) {
    std::array<std::string_view, 2> argv{"GET", key};
    return self().template send<std::optional<std::string>>(argv, &decode::optional_string, std::move(cb));
  }

 protected:
  Sink& self() { return static_cast<Sink&>(*this); }
};

}  // namespace uvredis
