#pragma once
/// @file link_types.hpp
/// The small types a connection reports through: its state, its counters and
/// the completion callback type. They sit in a header of their own (below
/// client.hpp, which includes it) so that the transport can use them without
/// depending on the Client. Users need not include it: client.hpp does.
/// Loop-thread only, like everything they describe.

#include <uvredis/callbacks.hpp>
#include <uvredis/export.hpp>
#include <uvredis/latency.hpp>
#include <uvredis/result.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace uvredis {

/// A completion callback. It runs exactly once, on the loop thread, never
/// inside the call that issued the command. It must not throw: an exception
/// that escapes it ends the program with a message (see client.hpp).
template <class T>
using Callback = Once<void(Result<T>)>;

/// State of a client's main connection as reported to on_state_change.
enum class ConnectionState {
  connecting,    ///< First connect in progress.
  connected,     ///< Handshake done; commands flow.
  reconnecting,  ///< The link dropped (or a connect failed); retrying with backoff.
  failed,        ///< Permanently unusable (configuration error, or reconnect disabled
                 ///< and the link dropped): every command fails with that error.
  closed,        ///< close() finished or the client was destroyed.
};

/// The state's name ("connecting", "connected", ...); the view is static.
UVREDIS_API std::string_view to_string(ConnectionState s) noexcept;

/// Counters a user can read at any time (loop thread).
struct UVREDIS_API ClientStats {
  std::uint64_t sent = 0;        ///< Commands written to the server.
  std::uint64_t replies = 0;     ///< Replies received (errors included).
  std::uint64_t errors = 0;      ///< Commands that completed with any error.
  std::uint64_t timeouts = 0;    ///< Commands that timed out.
  std::uint64_t reconnects = 0;  ///< Successful connects after the first.
  std::uint64_t writes = 0;      ///< Socket writes (implicit pipelining: far fewer than `sent`).
  std::size_t in_flight = 0;     ///< Sent, reply not yet in.
  std::size_t queued = 0;        ///< Waiting for a connection or the socket.
  std::uint64_t read_retries = 0;  ///< Reads resent after a lost link (ClientOptions::read_retry).
  /// From issuing a command to its reply (error replies included; timeouts
  /// and lost links are not samples: see `timeouts` and `errors`). Filled
  /// only when ClientOptions::latency_histogram is on; blocking commands
  /// (BLPOP ...), which wait by design, are left out.
  LatencyHistogram latency;
};

}  // namespace uvredis
