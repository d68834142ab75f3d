#pragma once
/// @file error.hpp
/// Error values carried by every uvredis result. Plain values: copy them,
/// keep them, compare them; they hold no reference to any client. Usable from
/// any thread (they are just data), though they are produced on the loop thread.

#include <uvredis/export.hpp>

#include <string>
#include <string_view>

namespace uvredis {

/// What went wrong, in the categories a caller acts on differently.
enum class ErrorKind {
  server,           ///< The server answered with an error reply (WRONGTYPE, OOM, BUSY ...).
  connect,          ///< No usable connection: refused, unresolvable, handshake (AUTH/SELECT) failed.
  connection_lost,  ///< The link dropped after the command was sent; it may or may not have run.
  timeout,          ///< No reply within the command (or connect) timeout.
  protocol,         ///< The peer sent something that is not valid RESP; the link was closed.
  overflow,         ///< A bounded queue was full; the command was never sent.
  usage,            ///< The call itself is wrong (bad argument, command not allowed here).
  closed,           ///< The client was closed or destroyed before the command completed.
  decode,           ///< A stored value could not be turned into the requested type (the link is fine).
};

/// Name of an ErrorKind, for logs and messages ("server", "timeout", ...).
UVREDIS_API std::string_view to_string(ErrorKind kind) noexcept;

/// An error: its kind and a human readable message. For server errors the
/// message is the server's text, starting with its prefix ("WRONGTYPE ...").
struct UVREDIS_API Error {
  ErrorKind kind = ErrorKind::usage;
  std::string message;

  /// The server's error prefix ("WRONGTYPE", "ERR", "NOSCRIPT"), empty for
  /// errors that did not come from the server.
  std::string_view code() const noexcept;

  /// True for failures of the link rather than of the command itself
  /// (connect, connection_lost, timeout, protocol).
  bool is_transport() const noexcept;

  /// "<kind>: <message>", for logging.
  std::string to_string() const;

  friend bool operator==(const Error&, const Error&) = default;
};

}  // namespace uvredis
