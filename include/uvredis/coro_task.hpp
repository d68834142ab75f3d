#pragma once
/// @file coro_task.hpp
/// The two coroutine types of coro.hpp (include that one): Operation, the
/// awaitable of one started library call, with awaitable() to make one from
/// any callback API; and Task, the coroutine type that runs on the loop.
/// Loop-thread only. Needs only C++20 and callbacks.hpp.

#include <uvredis/callbacks.hpp>

#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>

namespace uvredis {

namespace detail {

/// Misuse of a coroutine type: print why, then abort (as Result misuse does).
[[noreturn]] inline void coro_misuse(const char* what) noexcept {
  std::fprintf(stderr, "uvredis: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

/// Called from a Task's unhandled_exception(), so inside the handler of the
/// escaping exception: unwinding further would run through the library's
/// callback frames, so the program ends here, naming the exception.
[[noreturn]] inline void task_threw() noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uvredis: an exception escaped a coroutine task: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "uvredis: an exception escaped a coroutine task\n");
  }
  std::fflush(stderr);
  std::terminate();
}

/// Room for one V, filled and emptied by hand. clear() marks the slot empty
/// before destroying the value, so a second clear() (GCC 12's double
/// destruction of a co_await temporary) does nothing.
template <class V>
class Slot {
 public:
  Slot() noexcept {}
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

  bool full() const noexcept { return full_; }
  template <class... A>
  void put(A&&... a) {
    ::new (static_cast<void*>(buf_)) V(std::forward<A>(a)...);
    full_ = true;
  }
  V take() {
    V v(std::move(*ptr()));
    clear();
    return v;
  }
  V& get() noexcept { return *ptr(); }
  void clear() noexcept {
    if (!full_) return;
    full_ = false;
    ptr()->~V();
  }

 private:
  V* ptr() noexcept { return std::launder(reinterpret_cast<V*>(buf_)); }
  alignas(V) unsigned char buf_[sizeof(V)];
  bool full_ = false;
};

struct IssueTag {};

}  // namespace detail

/// One started operation whose result a coroutine awaits: `co_await op`
/// yields the V its callback was given (Result<T> for commands), once.
///
/// Made by co(x).f(...), awaitable() and Inbox; the operation is issued when
/// the Operation is made. Neither copyable nor movable: its callback knows
/// its address. Lifetime: co_await it before it goes out of scope (the usual
/// `co_await co(c).get(k)` always does); destroying one whose result has not
/// arrived yet is a programming error that prints a message and aborts
/// (the library would otherwise write the result into freed memory).
/// Loop-thread only; the awaiter resumes on the loop thread.
template <class V>
class [[nodiscard]] Operation {
 public:
  /// Calls `issue(cb)` at once; `cb` is a Once<void(V)> (for
  /// V = Result<T> that is Callback<T>) that stores the result and resumes
  /// the awaiting coroutine, if any.
  template <class Issue>
  Operation(detail::IssueTag, Issue& issue) {
    issue(Once<void(V)>([this](V v) { complete(std::move(v)); }));
  }
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;
  ~Operation() {
    if (!arrived_) detail::coro_misuse("an Operation was destroyed before its result arrived: co_await it first");
    slot_.clear();
  }

  /// True once the result is in (the coroutine then does not suspend).
  bool ready() const noexcept { return arrived_; }

  bool await_ready() const noexcept { return arrived_; }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    if (waiter_) detail::coro_misuse("two coroutines awaited one Operation");
    if (arrived_) return false;  // defensive: a result that came in meanwhile resumes at once
    waiter_ = waiter;
    return true;
  }
  /// The result as an rvalue of the Operation's own storage (freed with the
  /// Operation), not a temporary: GCC 12 destroys some temporaries of a
  /// co_await expression twice, an Operation's storage survives that. So
  /// take it by value: `auto r = co_await op;` (a `const auto&` to the
  /// result of `co_await co(c).get(k)` would dangle after the statement).
  V&& await_resume() {
    if (resumed_ || !slot_.full()) detail::coro_misuse("an Operation was awaited twice");
    resumed_ = true;
    waiter_ = nullptr;
    return std::move(slot_.get());
  }

 private:
  void complete(V v) {
    if (arrived_) detail::coro_misuse("an Operation's callback ran twice");
    slot_.put(std::move(v));
    arrived_ = true;
    // The resumed coroutine may finish and free this Operation: nothing
    // after resume() touches it.
    if (std::coroutine_handle<> w = waiter_) w.resume();
  }

  detail::Slot<V> slot_;
  std::coroutine_handle<> waiter_;
  bool arrived_ = false;
  bool resumed_ = false;
};

/// Adapts any callback API: `issue(cb)` is called at once with a callback
/// taking V, and `co_await` yields what it was given:
///
///   co_await uvredis::awaitable<uvredis::Result<bool>>([&](auto cb) { lock.release(std::move(cb)); });
///
/// `issue` must be trivially destructible (capture by reference: it runs
/// before awaitable() returns, so references to locals are fine); GCC 12
/// destroys a lambda built in a co_await operand twice otherwise.
template <class V, class Issue>
Operation<V> awaitable(Issue&& issue) {
  static_assert(std::is_trivially_destructible_v<std::remove_cvref_t<Issue>>,
                "uvredis::awaitable: capture by reference ([&]); GCC 12 destroys a co_await operand's "
                "lambda with non-trivial captures twice");
  return Operation<V>(detail::IssueTag{}, issue);
}

// ------------------------------------------------------------------ Task

template <class T = void>
class Task;

namespace detail {

template <class T>
struct TaskValue {
  using Done = Once<void(T)>;
  Slot<T> value;
  TaskValue() = default;
  TaskValue(const TaskValue&) = delete;
  ~TaskValue() { value.clear(); }
  template <class U = T>
  void return_value(U&& v) {
    value.put(std::forward<U>(v));
  }
  T&& result() noexcept {
    if (given || !value.full()) coro_misuse("a Task's result was awaited twice");
    given = true;
    return std::move(value.get());
  }
  bool given = false;
  void finish(Done& done) { done(value.take()); }
};

template <>
struct TaskValue<void> {
  using Done = Once<void()>;
  void return_void() noexcept {}
  void result() noexcept {}
  void finish(Done& done) { done(); }
};

}  // namespace detail

/// A coroutine that runs on the loop: `uvredis::Task<T> f(...) { ... co_return t; }`.
///
/// - Started eagerly: calling f runs it up to its first suspension.
/// - Awaitable from another coroutine: `T t = co_await f(...);` (the awaiter
///   resumes when f finishes; once per Task).
/// - Detached: `f(...).detach(on_done)` lets it run on its own; `on_done`
///   gets the result when it finishes (inside detach() if it already has).
///   Dropping a Task that has not finished detaches it without a callback:
///   a Task is never destroyed while it waits, it frees itself when done.
///
/// Memory: the coroutine frame only (on_done is kept in it; a callable of
/// more than 96 bytes is moved to the heap, like every library callback).
/// Exceptions are not needed; one that escapes the coroutine prints
/// "uvredis: an exception escaped a coroutine task: <what>" and calls
/// std::terminate(). Loop-thread only. A suspended Task finishes only if
/// the loop keeps running: close the clients and run the loop until uv_run
/// returns, and every pending co_await resumes (with ErrorKind::closed).
template <class T>
class [[nodiscard]] Task {
 public:
  /// What detach() takes: Once<void(T)>, or Once<void()> for Task<void>.
  using Done = typename detail::TaskValue<T>::Done;

  struct promise_type : detail::TaskValue<T> {
    std::coroutine_handle<> continuation;
    typename detail::TaskValue<T>::Done on_done;
    bool detached = false;

    Task get_return_object() noexcept { return Task(std::coroutine_handle<promise_type>::from_promise(*this)); }
    std::suspend_never initial_suspend() noexcept { return {}; }
    struct Final {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        promise_type& p = h.promise();
        if (p.continuation) return p.continuation;  // the awaiting coroutine reads the result
        if (p.detached) {
          if (p.on_done) p.finish(p.on_done);
          h.destroy();
        }
        return std::noop_coroutine();
      }
      void await_resume() noexcept {}
    };
    Final final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { detail::task_threw(); }
  };

  Task(Task&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      release();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  /// Frees a finished coroutine; one still running is detached (see above).
  ~Task() { release(); }

  /// True once the coroutine has finished (or this Task was moved from).
  bool done() const noexcept { return !h_ || h_.done(); }

  /// Lets the coroutine run on its own; `on_done` gets its result when it
  /// finishes (right here when it already has). This Task becomes empty.
  void detach(Done on_done = {}) && {
    std::coroutine_handle<promise_type> h = std::exchange(h_, nullptr);
    if (!h) detail::coro_misuse("detach() on an empty Task");
    if (h.done()) {
      if (on_done) h.promise().finish(on_done);
      h.destroy();
      return;
    }
    h.promise().on_done = std::move(on_done);
    h.promise().detached = true;
  }

  bool await_ready() const noexcept {
    if (!h_) detail::coro_misuse("co_await on an empty Task");
    return h_.done();
  }
  void await_suspend(std::coroutine_handle<> waiter) noexcept {
    if (h_.promise().continuation) detail::coro_misuse("a Task was awaited twice");
    h_.promise().continuation = waiter;
  }
  /// The co_returned value as an rvalue of the frame's storage, freed with
  /// the Task (for the reason given at Operation::await_resume): take it by
  /// value, `auto v = co_await task(...);`.
  decltype(auto) await_resume() { return h_.promise().result(); }

 private:
  explicit Task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  // Idempotent (the handle is cleared first): safe under GCC 12's double
  // destruction of a co_await temporary.
  void release() noexcept {
    std::coroutine_handle<promise_type> h = std::exchange(h_, nullptr);
    if (!h) return;
    if (h.done())
      h.destroy();
    else
      h.promise().detached = true;
  }

  std::coroutine_handle<promise_type> h_;
};
}  // namespace uvredis
