#pragma once
/// @file coro.hpp
/// C++20 coroutines for uvredis. Optional: include it where you want them
/// (the umbrella header does not); it needs only C++20 and the library.
///
///   uvredis::Task<> work(uvredis::Client& client) {
///     uvredis::Result<bool> w = co_await uvredis::co(client).set("k", "v");
///     uvredis::Result<std::optional<std::string>> v = co_await uvredis::co(client).get("k");
///   }
///
/// The rule: any call `x.f(args..., cb)` of the library becomes
/// `co_await uvredis::co(x).f(args...)`, and the co_await yields exactly what
/// `cb` would have been given (a Result<T>, an ExecSummary ...). co(x) exists
/// for every Executor (Client, Lease, ClusterClient: every typed command and
/// command()), Pipeline, Transaction, Script, Locker, Lock, the limiters,
/// Cache, KvStore and SessionStore; Inbox reads a Subscriber's messages;
/// awaitable() adapts any other callback API.
///
/// How it runs: a co(x) call issues the command at once, like the callback
/// form (so several started before the first co_await leave in one write),
/// and the awaiting coroutine is resumed on the loop thread from inside the
/// library's callback. Every library callback runs exactly once, also when
/// the client closes or is destroyed (with ErrorKind::closed), so every
/// co_await resumes exactly once. Nothing here throws; an exception that
/// escapes a Task ends the program with a message, like one that escapes a
/// callback.
///
/// Threading: loop-thread only, like everything the coroutines talk to.
///
/// GCC 12.2 (Debian 12) destroys some temporaries of a co_await expression
/// twice (aggregates and lambda closures with non-trivial members built in
/// the operand; temporaries holding a co_await's result) and refuses a
/// braced list inside one ("array used as initializer"). uvredis' awaitables
/// survive a double destruction, hand results out of their own storage
/// rather than as temporaries, and awaitable() refuses a lambda that is not
/// trivially destructible. In your code: start an operation whose arguments
/// are a braced list in a statement of its own (`auto op = co(c).del({"a",
/// "b"}); auto n = co_await op;`), build aggregates before the co_await, and
/// take results by value. docs/coroutines.md has the details.

#include <uvredis/callbacks.hpp>
#include <uvredis/coro_task.hpp>
#include <uvredis/uvredis.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace uvredis {

// ------------------------------------------------------- typed commands

class CoCommands;

/// On co(executor), typed helpers return an Operation of the Result.
template <>
struct SinkTraits<CoCommands> {
  template <class T>
  using result = Operation<Result<T>>;
};

/// What co(executor) returns: every typed command of commands.hpp (leave
/// out the callback) plus command(), each returning an Operation to
/// co_await. A view of the Executor: cheap, made per call or kept; the
/// Executor must outlive the operations. Loop-thread only.
class CoCommands : public Commands<CoCommands> {
 public:
  explicit CoCommands(Executor& ex) noexcept : ex_(&ex) {}

  /// Any command, binary-safe, as Executor::command (arguments copied at once).
  Operation<Result<Reply>> command(std::span<const std::string_view> argv, CommandOptions opts = {}) {
    return awaitable<Result<Reply>>([&](Callback<Reply> cb) { ex_->command(argv, std::move(cb), opts); });
  }
  Operation<Result<Reply>> command(std::initializer_list<std::string_view> argv, CommandOptions opts = {}) {
    return command(std::span<const std::string_view>(argv.begin(), argv.size()), opts);
  }
  /// Executor::command_group: one result per command, in order.
  Operation<std::vector<Result<Reply>>> command_group(const std::vector<std::vector<std::string>>& cmds,
                                                     CommandOptions opts = {}) {
    return awaitable<std::vector<Result<Reply>>>(
        [&](Once<void(std::vector<Result<Reply>>)> cb) { ex_->command_group(cmds, std::move(cb), opts); });
  }
  /// Resumes on a later loop turn (Executor::post): lets other work run.
  Operation<bool> next_turn() {
    return awaitable<bool>([&](Once<void(bool)> cb) {
      ex_->post([cb = std::move(cb)]() mutable { cb(true); });
    });
  }

  Executor& executor() const noexcept { return *ex_; }

  /// Sink interface of the command table (see commands.hpp). A callback
  /// passed to a typed helper here is a mistake (the co_await gets the
  /// result): it aborts with a message.
  template <class T>
  Operation<Result<T>> send(std::span<const std::string_view> argv, Decoder<T> decode, Callback<T> cb) {
    if (cb) detail::coro_misuse("co(executor): leave out the callback and co_await the result");
    return awaitable<Result<T>>([&](Callback<T> done) { ex_->send<T>(argv, decode, std::move(done)); });
  }
  template <class T>
  Operation<Result<T>> fail(Error err, Callback<T> cb) {
    if (cb) detail::coro_misuse("co(executor): leave out the callback and co_await the result");
    return awaitable<Result<T>>([&](Callback<T> done) { ex_->fail<T>(std::move(err), std::move(done)); });
  }

 private:
  Executor* ex_;
};

/// co(client) and co(cluster) add the WATCH transaction to the commands.
template <class C>
class CoClient : public CoCommands {
 public:
  explicit CoClient(C& c) noexcept : CoCommands(c), c_(&c) {}

  /// watch_transaction (lease.hpp, cluster.hpp) with a coroutine body:
  /// `body(lease, tx)` returns Task<bool>: read through the lease (with
  /// co(lease)), queue writes on tx, co_return true to EXEC or false to give
  /// up. A round that lost the race runs the body again (a new coroutine).
  /// The body is copied into each round's frame, so its captures live as
  /// long as the round. Yields the final outcome or the error that stopped it.
  template <class Body>
  Operation<Result<Transaction::Outcome>> watch_transaction(std::vector<std::string> keys, int max_attempts,
                                                            Body body) {
    static_assert(std::is_invocable_r_v<Task<bool>, Body&, Lease&, Transaction&>,
                  "the body is (Lease&, Transaction&) -> uvredis::Task<bool>");
    return awaitable<Result<Transaction::Outcome>>([&](Callback<Transaction::Outcome> done) {
      uvredis::watch_transaction(
          *c_, std::move(keys), max_attempts,
          [body = std::move(body)](Lease& lease, Transaction& tx, Once<void(bool)> go) {
            run_round(body, lease, tx).detach(std::move(go));
          },
          std::move(done));
    });
  }

 private:
  template <class Body>
  static Task<bool> run_round(Body body, Lease& lease, Transaction& tx) {
    co_return co_await body(lease, tx);
  }
  C* c_;
};

/// Typed commands and command() on any Executor (Lease, a Locker's ...).
inline CoCommands co(Executor& ex) noexcept { return CoCommands(ex); }
/// The same, plus watch_transaction.
inline CoClient<Client> co(Client& c) noexcept { return CoClient<Client>(c); }
inline CoClient<ClusterClient> co(ClusterClient& c) noexcept { return CoClient<ClusterClient>(c); }

// ------------------------------------------------- pipelines, scripts

/// co(pipeline).exec(): sends what was queued; yields the ExecSummary once
/// every handle is filled. The Pipeline may be destroyed after exec().
struct CoPipeline {
  Pipeline* p;
  Operation<ExecSummary> exec() {
    return awaitable<ExecSummary>([&](Once<void(ExecSummary)> cb) { p->exec(std::move(cb)); });
  }
};
inline CoPipeline co(Pipeline& p) noexcept { return {&p}; }

/// co(tx).exec(): MULTI ... EXEC; yields the outcome (or why it could not run).
struct CoTransaction {
  Transaction* t;
  Operation<Result<Transaction::Outcome>> exec() {
    return awaitable<Result<Transaction::Outcome>>([&](Callback<Transaction::Outcome> cb) { t->exec(std::move(cb)); });
  }
};
inline CoTransaction co(Transaction& t) noexcept { return {&t}; }

/// co(script).run(ex, keys, args): Script::run (EVALSHA, EVAL on NOSCRIPT);
/// with a decoder, the decoded result. The Script may be a temporary.
struct CoScript {
  const Script* s;
  using Views = std::span<const std::string_view>;
  Operation<Result<Reply>> run(Executor& ex, Views keys, Views args, CommandOptions opts = {}) {
    return awaitable<Result<Reply>>([&](Callback<Reply> cb) { s->run(ex, keys, args, std::move(cb), opts); });
  }
  Operation<Result<Reply>> run(Executor& ex, std::initializer_list<std::string_view> keys,
                               std::initializer_list<std::string_view> args, CommandOptions opts = {}) {
    return run(ex, Views(keys.begin(), keys.size()), Views(args.begin(), args.size()), opts);
  }
  template <class T>
  Operation<Result<T>> run(Executor& ex, Views keys, Views args, Decoder<T> decode, CommandOptions opts = {}) {
    return awaitable<Result<T>>([&](Callback<T> cb) { s->run<T>(ex, keys, args, decode, std::move(cb), opts); });
  }
  template <class T>
  Operation<Result<T>> run(Executor& ex, std::initializer_list<std::string_view> keys,
                           std::initializer_list<std::string_view> args, Decoder<T> decode, CommandOptions opts = {}) {
    return run<T>(ex, Views(keys.begin(), keys.size()), Views(args.begin(), args.size()), decode, opts);
  }
};
inline CoScript co(const Script& s) noexcept { return {&s}; }

// --------------------------------------------------------------- locks

/// co(locker).obtain(key, ttl, wait): a Lock, an empty optional when still
/// held by another after `wait`, or an error.
struct CoLocker {
  Locker* l;
  Operation<Result<std::optional<Lock>>> obtain(std::string_view key, std::chrono::milliseconds ttl,
                                                std::chrono::milliseconds wait_timeout) {
    // No defaulted ObtainOptions parameter: that aggregate (with strings)
    // would be built in the caller's co_await, which GCC 12 destroys twice.
    return awaitable<Result<std::optional<Lock>>>([&](Callback<std::optional<Lock>> cb) {
      l->obtain(key, ttl, wait_timeout, std::move(cb), ObtainOptions{});
    });
  }
  Operation<Result<std::optional<Lock>>> obtain(std::string_view key, std::chrono::milliseconds ttl,
                                                std::chrono::milliseconds wait_timeout, const ObtainOptions& options) {
    return awaitable<Result<std::optional<Lock>>>([&](Callback<std::optional<Lock>> cb) {
      l->obtain(key, ttl, wait_timeout, std::move(cb), options);
    });
  }
};
inline CoLocker co(Locker& l) noexcept { return {&l}; }

/// co(lock).release() / refresh(ttl) / ttl(), as on Lock. The Lock may be
/// destroyed while one is pending (the result still arrives).
struct CoLock {
  Lock* k;
  Operation<Result<bool>> release() {
    return awaitable<Result<bool>>([&](Callback<bool> cb) { k->release(std::move(cb)); });
  }
  Operation<Result<bool>> refresh(std::chrono::milliseconds ttl) {
    return awaitable<Result<bool>>([&](Callback<bool> cb) { k->refresh(ttl, std::move(cb)); });
  }
  Operation<Result<std::chrono::milliseconds>> ttl() {
    return awaitable<Result<std::chrono::milliseconds>>(
        [&](Callback<std::chrono::milliseconds> cb) { k->ttl(std::move(cb)); });
  }
};
inline CoLock co(Lock& k) noexcept { return {&k}; }

// ------------------------------------------------------------ limiters

/// co(limiter).allow(...) and the rest of RateLimiter, yielding its results.
struct CoRateLimiter {
  RateLimiter* r;
  Operation<Result<RateResult>> allow(std::string_view key, const RateLimit& limit) { return allow_n(key, limit, 1); }
  Operation<Result<RateResult>> allow_n(std::string_view key, const RateLimit& limit, long long n) {
    return awaitable<Result<RateResult>>([&](Callback<RateResult> cb) { r->allow_n(key, limit, n, std::move(cb)); });
  }
  Operation<Result<RateResult>> allow_at_most(std::string_view key, const RateLimit& limit, long long n) {
    return awaitable<Result<RateResult>>(
        [&](Callback<RateResult> cb) { r->allow_at_most(key, limit, n, std::move(cb)); });
  }
  Operation<Result<void>> reset(std::string_view key) {
    return awaitable<Result<void>>([&](Callback<void> cb) { r->reset(key, std::move(cb)); });
  }
  Operation<Result<bool>> rate_limit(std::string_view key, std::chrono::milliseconds period, long long limit) {
    return awaitable<Result<bool>>([&](Callback<bool> cb) { r->rate_limit(key, period, limit, std::move(cb)); });
  }
};
inline CoRateLimiter co(RateLimiter& r) noexcept { return {&r}; }

/// co(window_limiter).allow(key, limit, window), for both window limiters.
template <class L>
struct CoWindowLimiter {
  L* w;
  Operation<Result<WindowResult>> allow(std::string_view key, long long limit, std::chrono::milliseconds window) {
    return awaitable<Result<WindowResult>>(
        [&](Callback<WindowResult> cb) { w->allow(key, limit, window, std::move(cb)); });
  }
};
inline CoWindowLimiter<FixedWindowLimiter> co(FixedWindowLimiter& w) noexcept { return {&w}; }
inline CoWindowLimiter<SlidingWindowLimiter> co(SlidingWindowLimiter& w) noexcept { return {&w}; }

// ----------------------------------------------------- stores and cache

/// Turns a coroutine into a Cache::Loader: `fn(key)` returns
/// Task<Result<std::optional<std::string>>>. fn is copied into each load's
/// frame and the key is kept there too, so both live as long as the load.
template <class Fn>
Cache::Loader co_loader(Fn fn) {
  static_assert(std::is_invocable_r_v<Task<Result<std::optional<std::string>>>, Fn&, const std::string&>,
                "a loader coroutine is (const std::string& key) -> Task<Result<std::optional<std::string>>>");
  struct Run {
    static Task<> load(Fn f, std::string key, Callback<std::optional<std::string>> done) {
      done(co_await f(key));
    }
  };
  return [fn = std::move(fn)](const std::string& key, Callback<std::optional<std::string>> done) {
    Run::load(fn, key, std::move(done)).detach();
  };
}

/// co(cache).get_or_load(key, ttl, loader) / put / invalidate, as on Cache.
struct CoCache {
  Cache* c;
  Operation<Result<std::optional<std::string>>> get_or_load(std::string_view key, std::chrono::milliseconds ttl,
                                                            Cache::Loader loader) {
    return awaitable<Result<std::optional<std::string>>>([&](Callback<std::optional<std::string>> cb) {
      c->get_or_load(key, ttl, std::move(loader), std::move(cb));
    });
  }
  Operation<Result<void>> put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) {
    return awaitable<Result<void>>([&](Callback<void> cb) { c->put(key, value, ttl, std::move(cb)); });
  }
  Operation<Result<void>> invalidate(std::string_view key) {
    return awaitable<Result<void>>([&](Callback<void> cb) { c->invalidate(key, std::move(cb)); });
  }
};
inline CoCache co(Cache& c) noexcept { return {&c}; }

/// co(kv).get<T>(key), set, batch_get, batch_set, remove, batch_remove,
/// list, health: KvStore's calls (note: ttl comes last in set, as there).
template <class Codec>
struct CoKvStore {
  KvStore<Codec>* s;
  template <class T>
  Operation<Result<void>> set(std::string_view key, const T& value,
                              std::chrono::milliseconds ttl = std::chrono::milliseconds(0)) {
    return awaitable<Result<void>>([&](Callback<void> cb) { s->template set<T>(key, value, std::move(cb), ttl); });
  }
  template <class T>
  Operation<Result<std::optional<T>>> get(std::string_view key) {
    return awaitable<Result<std::optional<T>>>(
        [&](Callback<std::optional<T>> cb) { s->template get<T>(key, std::move(cb)); });
  }
  template <class T>
  Operation<Result<void>> batch_set(const std::vector<std::pair<std::string, T>>& items,
                                    std::chrono::milliseconds ttl = std::chrono::milliseconds(0)) {
    return awaitable<Result<void>>([&](Callback<void> cb) { s->template batch_set<T>(items, std::move(cb), ttl); });
  }
  template <class T>
  Operation<Result<std::vector<std::optional<T>>>> batch_get(std::vector<std::string> keys) {
    return awaitable<Result<std::vector<std::optional<T>>>>(
        [&](Callback<std::vector<std::optional<T>>> cb) { s->template batch_get<T>(std::move(keys), std::move(cb)); });
  }
  Operation<Result<bool>> remove(std::string_view key) {
    return awaitable<Result<bool>>([&](Callback<bool> cb) { s->remove(key, std::move(cb)); });
  }
  Operation<Result<std::size_t>> batch_remove(std::vector<std::string> keys) {
    return awaitable<Result<std::size_t>>([&](Callback<std::size_t> cb) { s->batch_remove(std::move(keys), std::move(cb)); });
  }
  Operation<Result<std::vector<std::string>>> list(std::string_view prefix) {
    return awaitable<Result<std::vector<std::string>>>(
        [&](Callback<std::vector<std::string>> cb) { s->list(prefix, std::move(cb)); });
  }
  Operation<Result<void>> health(std::chrono::milliseconds deadline) {
    return awaitable<Result<void>>([&](Callback<void> cb) { s->health(deadline, std::move(cb)); });
  }
};
template <class Codec>
CoKvStore<Codec> co(KvStore<Codec>& s) noexcept {
  return {&s};
}

/// co(sessions).create(data) / get / set_field / extend / remove.
struct CoSessionStore {
  SessionStore* s;
  Operation<Result<std::string>> create(const SessionData& data) {
    return awaitable<Result<std::string>>([&](Callback<std::string> cb) { s->create(data, std::move(cb)); });
  }
  Operation<Result<std::optional<SessionData>>> get(std::string_view id) {
    return awaitable<Result<std::optional<SessionData>>>(
        [&](Callback<std::optional<SessionData>> cb) { s->get(id, std::move(cb)); });
  }
  Operation<Result<bool>> set_field(std::string_view id, std::string_view field, std::string_view value) {
    return awaitable<Result<bool>>([&](Callback<bool> cb) { s->set_field(id, field, value, std::move(cb)); });
  }
  Operation<Result<bool>> extend(std::string_view id) {
    return awaitable<Result<bool>>([&](Callback<bool> cb) { s->extend(id, std::move(cb)); });
  }
  Operation<Result<bool>> remove(std::string_view id) {
    return awaitable<Result<bool>>([&](Callback<bool> cb) { s->remove(id, std::move(cb)); });
  }
};
inline CoSessionStore co(SessionStore& s) noexcept { return {&s}; }

// ------------------------------------------------------------- pub/sub

/// Reads a Subscriber's messages in a coroutine: subscribe through the
/// Inbox, then `Result<Message> m = co_await inbox.next();` in a loop.
///
/// Messages that arrive while nobody awaits are buffered in order, up to
/// `max_buffered` (more are dropped and counted in dropped(): pub/sub is
/// at-most-once anyway). next() yields an error only at the end: when the
/// Subscriber reports `closed` or `failed`, or close() was called; buffered
/// messages come first, and the end repeats for every later next().
///
/// The Inbox takes the Subscriber's on_state_change listener: set yours with
/// Inbox::on_state_change (replacing the Subscriber's listener directly ends
/// the Inbox). One coroutine at a time may await next() (a second gets a
/// usage error). Lifetime: destroying the Subscriber ends a pending next()
/// with `closed` from inside the Subscriber's destructor (the resumed reader
/// must not use the Subscriber any more); destroying the Inbox ends it with
/// `closed` from inside the Inbox's destructor and drops later messages.
/// Loop-thread only.
class Inbox {
 public:
  explicit Inbox(Subscriber& sub, std::size_t max_buffered = 10000) : sub_(&sub), st_(std::make_shared<State>()) {
    st_->max = max_buffered;
    // The listener (and every copy the Subscriber makes to call it) shares
    // this guard: once the Subscriber drops it (destroyed, or its listener
    // replaced) the stream ends. A destroyed Subscriber reports no state.
    auto guard = std::make_shared<EndWhenDropped>();
    guard->st = st_;
    sub.on_state_change([st = st_, guard](ConnectionState s, const Error* why) {
      auto fn = st->user_state;  // a copy: the listener may replace itself
      if (fn) detail::call_user(fn, s, why);
      if (s == ConnectionState::closed || s == ConnectionState::failed)
        st->end(why ? *why : Error{ErrorKind::closed, "subscriber closed"});
    });
  }
  ~Inbox() {
    st_->attached = false;
    st_->end(Error{ErrorKind::closed, "inbox destroyed"});
  }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  /// Subscriber::subscribe / psubscribe with this Inbox as the handler;
  /// yields the confirmation.
  Operation<Result<void>> subscribe(std::vector<std::string> channels) { return sub(false, std::move(channels)); }
  Operation<Result<void>> psubscribe(std::vector<std::string> patterns) { return sub(true, std::move(patterns)); }
  /// Subscriber::unsubscribe / punsubscribe (no more messages of those at once).
  Operation<Result<void>> unsubscribe(std::vector<std::string> channels) {
    return awaitable<Result<void>>([&](Callback<void> cb) { sub_->unsubscribe(std::move(channels), std::move(cb)); });
  }
  Operation<Result<void>> punsubscribe(std::vector<std::string> patterns) {
    return awaitable<Result<void>>([&](Callback<void> cb) { sub_->punsubscribe(std::move(patterns), std::move(cb)); });
  }

  /// The next message (at once when one is buffered), or the end's error.
  Operation<Result<Message>> next() {
    return awaitable<Result<Message>>([&](Callback<Message> cb) { st_->wait(std::move(cb)); });
  }

  /// Ends the stream with `why` (buffered messages are still read first).
  void close(Error why = Error{ErrorKind::closed, "inbox closed"}) { st_->end(std::move(why)); }

  /// Told of every state change of the Subscriber (replaces an earlier one).
  void on_state_change(Listener<void(ConnectionState, const Error*)> fn) { st_->user_state = std::move(fn); }

  /// Messages waiting to be read / dropped because the buffer was full.
  std::size_t buffered() const noexcept { return st_->queue.size(); }
  std::uint64_t dropped() const noexcept { return st_->dropped; }

 private:
  struct State;
  struct EndWhenDropped {
    std::shared_ptr<State> st;
    ~EndWhenDropped() {
      if (st) st->end(Error{ErrorKind::closed, "subscriber destroyed"});
    }
  };
  struct State {
    std::deque<Message> queue;
    Callback<Message> waiter;
    std::optional<Error> ended;
    std::size_t max = 0;
    std::uint64_t dropped = 0;
    bool attached = true;
    Listener<void(ConnectionState, const Error*)> user_state;

    void push(const Message& m) {
      if (!attached || ended) return;
      if (waiter) {
        auto w = std::move(waiter);
        return w(Message(m));  // resumes the reader here, inside the handler
      }
      if (queue.size() >= max) {
        ++dropped;
        return;
      }
      queue.push_back(m);
    }
    void wait(Callback<Message> cb) {
      if (!queue.empty()) {
        Message m = std::move(queue.front());
        queue.pop_front();
        return cb(std::move(m));
      }
      if (ended) return cb(*ended);
      if (waiter) return cb(Error{ErrorKind::usage, "another coroutine is already awaiting next()"});
      waiter = std::move(cb);
    }
    void end(Error why) {
      if (!ended) ended = std::move(why);
      if (waiter && queue.empty()) {
        auto w = std::move(waiter);
        w(*ended);
      }
    }
  };

  Operation<Result<void>> sub(bool pattern, std::vector<std::string> names) {
    return awaitable<Result<void>>([&](Callback<void> cb) {
      MessageHandler h = [st = st_](const Message& m) { st->push(m); };
      if (pattern)
        sub_->psubscribe(std::move(names), std::move(h), std::move(cb));
      else
        sub_->subscribe(std::move(names), std::move(h), std::move(cb));
    });
  }

  Subscriber* sub_;
  std::shared_ptr<State> st_;
};

}  // namespace uvredis
