#pragma once
/// @file client.hpp
/// Client: commands to one Redis server from a libuv loop the caller owns.
///
/// Threading: a Client and everything it hands out belong to the thread that
/// runs its loop. The only exception is Poster::post(), which other threads
/// may call to hand work to the loop.
///
/// Lifetime: the Client borrows the loop; it never runs or closes it. Close
/// it with close(cb) (graceful) or destroy it (pending commands fail with
/// ErrorKind::closed on a later loop turn). Either way keep running the loop
/// until it returns: uvredis closes its handles asynchronously, like libuv.
///
/// Callbacks must not throw. This holds for every callback uvredis runs:
/// completions, close and post callbacks (Once), state listeners, message handlers,
/// loaders and WATCH bodies (Listener). An exception that escapes one is not passed up
/// through uv_run (that would unwind through libuv and hiredis and leave a
/// half-finished completion behind): uvredis prints "uvredis: a callback threw
/// an exception: <what()>" to stderr and calls std::terminate(). Catch inside
/// the callback what you mean to handle.

#include <uvredis/callbacks.hpp>
#include <uvredis/commands.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>
#include <uvredis/link_types.hpp>
#include <uvredis/options.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct uv_loop_s;

namespace uvredis {

namespace detail {
class ClientImpl;
struct PostState;
}  // namespace detail


/// A thread-safe handle for handing work to a client's loop (uv_async).
/// Copyable; it stays safe to use after the client is gone (post then
/// returns false). The only uvredis call that may be made off the loop thread.
///
/// Contract: every function for which post() returned true runs exactly once,
/// on the loop thread, in the order accepted (per posting thread), never
/// inside post() itself, as long as the loop keeps running:
/// - normally on the next loop turn;
/// - when the client is closed first: before close()'s callback runs (a
///   function may still issue commands; they fail with ErrorKind::closed);
/// - when the client is destroyed first: on a later loop turn, after the
///   destructor returned, so such a function must not touch the destroyed
///   client (check a flag of your own, or close() first and destroy after
///   its callback).
/// Once close() or the destructor has started, post() returns false and
/// drops `fn` without running it.
class UVREDIS_API Poster {
 public:
  Poster() = default;
  /// Queues `fn` to run on the loop thread soon. True: it will run exactly
  /// once (see above). False: the client has been closed or destroyed, or
  /// `fn` is empty; it never runs.
  bool post(Once<void()> fn) const;

 private:
  friend class detail::ClientImpl;
  explicit Poster(std::shared_ptr<detail::PostState> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::PostState> state_;
};

/// A Redis client on one server: implicit pipelining (all commands issued in
/// one loop turn leave in one write), per-command timeouts, reconnect with
/// backoff, a separate connection for blocking commands.
class Lease;
class ClientCache;

class UVREDIS_API Client final : public Executor {
 public:
  /// Starts connecting at once (name resolution never blocks the loop).
  /// An invalid option (for example rediss:// on a build without TLS) does
  /// not throw: every command then fails with that error.
  Client(uv_loop_s* loop, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Sends any command, binary-safe: `client.command({"SET", key, value}, cb)`.
  /// The arguments are copied before the call returns. SELECT, the SUBSCRIBE
  /// family, MONITOR and bare MULTI/EXEC/WATCH are refused with a usage error
  /// (use the options' db, Subscriber, transaction()).
  using Executor::command;
  void command(std::span<const std::string_view> argv, Callback<Reply> cb,
               CommandOptions opts = {}) override;
  void command(std::span<const std::string> argv, Callback<Reply> cb, CommandOptions opts = {});
  /// Sends any command, taking its strings: for big values (a command of
  /// 1 MiB or more), each argument of 64 KiB or more is written to the socket
  /// from the string moved in here, a slice per loop turn, and is never
  /// copied; the strings are freed once written. Smaller commands are
  /// encoded as usual. `client.command(std::move(argv), cb)`.
  void command(std::vector<std::string>&& argv, Callback<Reply> cb, CommandOptions opts = {});

  /// Stops accepting commands, lets in-flight and queued ones finish or fail,
  /// closes every handle, then calls `done` (on the loop, exactly once).
  /// Calling it again, or destroying the client meanwhile, is fine.
  void close(Once<void()> done = {});

  /// State of the main connection.
  ConnectionState state() const noexcept;

  /// Calls `fn` on every change of state, with the error that caused a drop
  /// (null when there is none). Replaces any earlier listener.
  void on_state_change(Listener<void(ConnectionState, const Error*)> fn);

  /// Counters summed over the main and the blocking connections.
  ClientStats stats() const noexcept;

  /// Borrows a connection of its own (for WATCH ... MULTI/EXEC); see
  /// lease.hpp. Commands on it queue until it is connected.
  std::unique_ptr<Lease> lease();

  /// A thread-safe poster bound to this client's loop.
  Poster poster();

  uv_loop_s* loop() const noexcept override;
  const ClientOptions& options() const noexcept;

  void command_group(const std::vector<std::vector<std::string>>& cmds,
                     Once<void(std::vector<Result<Reply>>)> done, CommandOptions opts = {}) override;
  void post(Once<void()> fn) override;

 private:
  friend class ClientCache;  // sets the tracking handshake of the main connection

  std::unique_ptr<detail::ClientImpl> impl_;  // complete (and destroyed) in src/client.cpp
};

}  // namespace uvredis
