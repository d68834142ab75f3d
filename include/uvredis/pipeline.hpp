#pragma once
/// @file pipeline.hpp
/// Pipeline and Transaction: queue typed commands (the same helpers as on a
/// Client), send them together with exec(), read each command's result from
/// its Handle afterwards.
///
/// Threading: loop-thread only. Lifetime: the Executor must outlive exec()'s
/// callback; the Pipeline/Transaction object itself may be destroyed right
/// after exec() (its handles and callbacks keep what they need).

#include <uvredis/callbacks.hpp>
#include <uvredis/commands.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace uvredis {

/// The result of one queued command, filled in when its reply arrives
/// (before the exec callback runs). Cheap to copy (shared state).
template <class T>
class Handle {
 public:
  Handle() : state_(std::make_shared<std::optional<Result<T>>>()) {}

  /// True once the command has completed.
  bool ready() const noexcept { return state_->has_value(); }
  /// The command's result; only valid once ready() (aborts otherwise).
  const Result<T>& result() const {
    if (!ready()) std::abort();
    return **state_;
  }
  /// Shorthand: ready and successful.
  bool ok() const noexcept { return ready() && (*state_)->ok(); }

  /// Used by the sinks to store the result.
  void set(Result<T> r) const { state_->emplace(std::move(r)); }

 private:
  std::shared_ptr<std::optional<Result<T>>> state_;
};

class Pipeline;
class Transaction;

/// On a Pipeline or Transaction, typed helpers return a Handle (and also
/// accept an optional per-command callback).
template <>
struct SinkTraits<Pipeline> {
  template <class T>
  using result = Handle<T>;
};
template <>
struct SinkTraits<Transaction> {
  template <class T>
  using result = Handle<T>;
};

/// Summary handed to exec()'s callback.
struct UVREDIS_API ExecSummary {
  std::size_t commands = 0;  ///< How many commands were queued.
  std::size_t failed = 0;    ///< How many completed with an error (see their handles).
};

namespace detail {

/// What Pipeline and Transaction share: the queued commands and the code
/// that decodes a raw result into a handle and the user's callback.
class UVREDIS_API Batch {
 public:
  explicit Batch(Executor& ex) : ex_(&ex) {}
  std::size_t size() const noexcept { return items_.size(); }

 protected:
  struct Item {
    std::vector<std::string> argv;
    Once<void(Result<Reply>)> finish;  // decode, fill the handle, call the user
    std::optional<Error> usage;                    // refused before sending
  };

  template <class T>
  Handle<T> queue(std::span<const std::string_view> argv, Decoder<T> decode, Callback<T> cb) {
    Handle<T> h;
    Item it;
    it.argv.assign(argv.begin(), argv.end());
    it.finish = [h, decode, cb = std::move(cb)](Result<Reply> r) mutable {
      Result<T> typed = decode(std::move(r));
      if (cb) {
        h.set(typed);
        cb(std::move(typed));
      } else {
        h.set(std::move(typed));
      }
    };
    if (sealed_) it.usage = Error{ErrorKind::usage, "commands cannot be added after exec()"};
    items_.push_back(std::move(it));
    return h;
  }

  template <class T>
  Handle<T> queue_error(Error err, Callback<T> cb) {
    Handle<T> h;
    Item it;
    it.finish = [h, cb = std::move(cb)](Result<Reply> r) mutable {
      Result<T> typed(std::move(r).error());
      h.set(typed);
      if (cb) cb(std::move(typed));
    };
    it.usage = std::move(err);
    items_.push_back(std::move(it));
    return h;
  }

  Executor* ex_;
  std::vector<Item> items_;
  bool sealed_ = false;
};

}  // namespace detail

/// Queue commands, then exec(): they are issued in one loop turn, so they
/// leave contiguously in one write (implicit pipelining) and the callback runs
/// once every reply is in. One failing command does not fail the others.
class UVREDIS_API Pipeline : public Commands<Pipeline>, public detail::Batch {
 public:
  explicit Pipeline(Executor& ex) : Batch(ex) {}

  /// Queues any command; its raw reply lands in the returned handle.
  Handle<Reply> command(std::initializer_list<std::string_view> argv, Callback<Reply> cb = {}) {
    return queue<Reply>(std::span<const std::string_view>(argv.begin(), argv.size()), &decode::reply, std::move(cb));
  }
  Handle<Reply> command(std::span<const std::string_view> argv, Callback<Reply> cb = {}) {
    return queue<Reply>(argv, &decode::reply, std::move(cb));
  }

  /// Sends everything queued; `done` runs once after every command completed
  /// (on a later loop turn even when nothing was queued). Call once.
  void exec(Once<void(ExecSummary)> done = {});

  /// Sink interface of the command table (see commands.hpp).
  template <class T>
  Handle<T> send(std::span<const std::string_view> argv, Decoder<T> decode, Callback<T> cb) {
    return queue<T>(argv, decode, std::move(cb));
  }
  template <class T>
  Handle<T> fail(Error err, Callback<T> cb) {
    return queue_error<T>(std::move(err), std::move(cb));
  }
};

/// MULTI ... EXEC, sent as one unbreakable group on one connection (nothing
/// interleaves, never split by a reconnect). Each queued command's handle
/// gets its element of the EXEC array, decoded like the plain helper.
class UVREDIS_API Transaction : public Commands<Transaction>, public detail::Batch {
 public:
  explicit Transaction(Executor& ex) : Batch(ex) {}

  Handle<Reply> command(std::initializer_list<std::string_view> argv, Callback<Reply> cb = {}) {
    return queue<Reply>(std::span<const std::string_view>(argv.begin(), argv.size()), &decode::reply, std::move(cb));
  }
  Handle<Reply> command(std::span<const std::string_view> argv, Callback<Reply> cb = {}) {
    return queue<Reply>(argv, &decode::reply, std::move(cb));
  }

  /// Outcome of exec().
  enum class Outcome {
    committed,  ///< EXEC ran; each handle holds its command's result.
    aborted,    ///< A watched key changed: nothing ran.
    rejected,   ///< The server refused a command while queueing (EXECABORT): nothing ran.
  };

  /// Sends MULTI, the queued commands and EXEC as one group. `done` runs
  /// once, after every handle is filled: with the outcome, or with an error
  /// when the transaction could not be run at all (transport, closed, or a
  /// usage error found before sending). When it did not commit, every handle
  /// holds an error: the command's own queueing error, or one saying why
  /// nothing ran. An empty transaction commits on a later loop turn.
  void exec(Once<void(Result<Outcome>)> done = {});

  template <class T>
  Handle<T> send(std::span<const std::string_view> argv, Decoder<T> decode, Callback<T> cb) {
    return queue<T>(argv, decode, std::move(cb));
  }
  template <class T>
  Handle<T> fail(Error err, Callback<T> cb) {
    return queue_error<T>(std::move(err), std::move(cb));
  }
};

}  // namespace uvredis
