#pragma once
/// @file executor.hpp
/// Executor: anything that runs Redis commands (Client, ClusterClient and
/// Lease implement it; Pipeline and Transaction share its command table).
/// Recipes (locks, limiters, caches ...) take an Executor& and so
/// work unchanged on one server or a cluster. Every typed helper of
/// commands.hpp is available on it.
///
/// Loop-thread only. An Executor must outlive the calls made on it; callbacks
/// run exactly once, never inside the issuing call.

#include <uvredis/callbacks.hpp>
#include <uvredis/commands.hpp>
#include <uvredis/export.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct uv_loop_s;

namespace uvredis {

/// Per-command settings.
struct UVREDIS_API CommandOptions {
  /// Overrides the client's command timeout; zero means no timeout.
  std::optional<std::chrono::milliseconds> timeout;
};

class Executor;

/// On an Executor, typed helpers take a callback and return nothing.
template <>
struct SinkTraits<Executor> {
  template <class T>
  using result = void;
};

class UVREDIS_API Executor : public Commands<Executor> {
 public:
  virtual ~Executor() = default;

  /// Sends any command, binary-safe; the arguments are copied before the
  /// call returns.
  virtual void command(std::span<const std::string_view> argv, Callback<Reply> cb, CommandOptions opts = {}) = 0;
  void command(std::initializer_list<std::string_view> argv, Callback<Reply> cb, CommandOptions opts = {}) {
    command(std::span<const std::string_view>(argv.begin(), argv.size()), std::move(cb), opts);
  }

  /// The loop this executor runs on (for recipes that need timers).
  virtual uv_loop_s* loop() const noexcept = 0;

  /// Sends `cmds` back to back on one connection: nothing else is
  /// interleaved and the group is never split across a reconnect (the
  /// transport for MULTI ... EXEC). `done` gets one result per command, in
  /// order, once all are in (or failed). `opts.timeout` covers the group.
  /// No command is refused here: the caller owns the group's meaning.
  virtual void command_group(const std::vector<std::vector<std::string>>& cmds,
                             Once<void(std::vector<Result<Reply>>)> done, CommandOptions opts = {}) = 0;

  /// Runs `fn` on a later loop turn (never inside the caller).
  virtual void post(Once<void()> fn) = 0;

  /// Delivers `err` to `cb` on a later loop turn (never inside the caller).
  void fail_later(Callback<Reply> cb, Error err) {
    post([cb = std::move(cb), err = std::move(err)]() mutable { cb(std::move(err)); });
  }

  /// Walks the whole keyspace without blocking the loop: SCAN 0, then one
  /// SCAN per reply (the next step leaves only after the previous batch was
  /// handled) until the cursor comes back to 0. `on_batch` gets each
  /// non-empty batch of keys and returns false to stop early. `done` runs
  /// once at the end: success when the walk finished or was stopped, else
  /// the error of the step that failed (keys already delivered stay
  /// delivered). As with SCAN, a key present throughout is seen at least
  /// once and may be seen more than once; `opts.count` sizes the batches.
  /// This Executor must outlive `done`. (A ClusterClient walks every
  /// master in turn, see cluster.hpp.)
  virtual void scan_all(const ScanOptions& opts, Listener<bool(std::vector<std::string>)> on_batch,
                        Callback<void> done = {});

  /// The sink of the typed helpers (see commands.hpp): sends argv and
  /// decodes the reply into T for `cb`.
  template <class T>
  void send(std::span<const std::string_view> argv, Decoder<T> decode, Callback<T>&& cb) {
    // The decoder rides in the callback's own buffer: no allocation.
    command(argv, Callback<Reply>::converting(decode, std::move(cb)));
  }
  /// Delivers a usage error found before sending, on a later loop turn.
  template <class T>
  void fail(Error err, Callback<T>&& cb) {
    fail_later(
        [cb = std::move(cb)](Result<Reply> r) mutable {
          if (cb) cb(std::move(r).error());
        },
        std::move(err));
  }
};

}  // namespace uvredis
