#pragma once
/// @file observe.hpp
/// CommandObserver: an optional hook told when each command of a Client (or
/// of every node of a ClusterClient) is written to the server and when it
/// completes, with its name, node, sizes, latency and outcome. Set it in
/// ClientOptions::observer (ClusterOptions::client.observer for a cluster).
/// Loop-thread only: the observer runs on the loop thread of the client it
/// observes. See docs/observability.md.

#include <uvredis/error.hpp>
#include <uvredis/export.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace uvredis {

/// One command as an observer sees it. Every view is valid only during the
/// observer call that receives it: copy what you keep.
struct UVREDIS_API CommandEvent {
  /// The command's name as the caller spelled it (argv[0]), e.g. "GET".
  std::string_view command;
  /// The arguments after the name: empty unless ClientOptions::
  /// observe_arguments is on, and always empty for commands that may carry a
  /// secret (AUTH, HELLO, MIGRATE, ACL, CONFIG), whatever the options say.
  std::span<const std::string_view> args;
  /// The server: "host:port", "[v6]:port" or the unix socket path.
  std::string_view node;
  /// Bytes of the encoded command (RESP).
  std::uint64_t bytes_out = 0;
  /// on_completed with a reply: bytes of that reply on the wire; else 0.
  std::uint64_t bytes_in = 0;
  /// on_written: how long the command waited in the client's queue;
  /// on_completed: from the call that issued it to its completion.
  std::chrono::nanoseconds latency{0};
  /// on_completed: nullopt when the command succeeded, else what went wrong
  /// (ErrorKind::server for an error reply, timeout, connection_lost, closed,
  /// overflow, protocol ...). Always nullopt in on_written.
  std::optional<ErrorKind> error;
  /// For ErrorKind::server: the reply's prefix ("WRONGTYPE", "ERR", ...).
  /// The rest of the server's message is not shown: it may quote arguments.
  std::string_view error_code;
};

/// Receives CommandEvents. Shared by every connection of the client (and
/// every node of a cluster) that has it in its options: keep it alive with
/// the shared_ptr in the options. Each command accepted by a connection
/// (i.e. not refused before sending: usage errors, a closed client, a full
/// queue) gets exactly one on_completed, and one on_written before it when
/// its bytes were handed to the socket (a command that timed out or failed
/// while queued has none). Commands a connection sends for itself
/// (handshake, AUTH, health checks) are not observed; those that higher
/// layers send as ordinary commands are (a ClusterClient's CLUSTER SLOTS,
/// the UNWATCH of a returned Lease).
///
/// Rules: loop thread only; an observer must not throw, and must not close
/// or destroy the client it observes, nor issue commands on it (it runs in
/// the middle of the client's I/O). on_completed runs just before the
/// command's own callback.
class UVREDIS_API CommandObserver {
 public:
  virtual ~CommandObserver() = default;
  /// The command was handed to the socket (in a batch with the others of
  /// this loop turn).
  virtual void on_written(const CommandEvent& e) { (void)e; }
  /// The command completed (reply, error reply, timeout, lost link, close).
  virtual void on_completed(const CommandEvent& e) { (void)e; }
};

}  // namespace uvredis
