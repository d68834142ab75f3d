#pragma once
/// @file decode.hpp
/// Decoders: pure functions from a raw reply to the typed result a helper
/// promises (for example GET -> std::optional<std::string>). Shared by every
/// sink of the command table (Client, Pipeline, Transaction, ClusterClient).
/// No I/O; usable from any thread.

#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>

#include <optional>
#include <string>
#include <vector>

namespace uvredis {

/// A decoder turns the raw result of one command into its typed result.
template <class T>
using Decoder = Result<T> (*)(Result<Reply>&&);

namespace decode {

/// The reply as it is.
Result<Reply> reply(Result<Reply>&& r);
/// Status "OK" (or any status) -> success.
Result<void> ok(Result<Reply>&& r);
/// Bulk or status string; nil is a type error.
Result<std::string> string(Result<Reply>&& r);
/// Bulk string or nil (absent key -> empty optional).
Result<std::optional<std::string>> optional_string(Result<Reply>&& r);
/// Integer reply.
Result<long long> integer(Result<Reply>&& r);
/// Integer 0/1 -> bool; also status OK -> true and nil -> false (SET NX).
Result<bool> boolean(Result<Reply>&& r);

/// Error for a reply of an unexpected shape (kind protocol, names the shape).
Error unexpected(const Reply& r, const char* wanted);

}  // namespace decode
}  // namespace uvredis
