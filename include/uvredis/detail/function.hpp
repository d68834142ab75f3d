#pragma once
/// @file detail/function.hpp
/// Internal: a move-only callable with inline storage, so that the common
/// completion lambdas (a few captured pointers or a nested callback) need no
/// heap allocation per command. Not part of the stable API.
///
/// Every callback uvredis runs (completions, close, post, ...) goes through
/// Function::operator() or call_user(). An exception that escapes a callback
/// is not propagated through the loop: uvredis prints "uvredis: a callback
/// threw an exception: <what()>" to stderr and calls std::terminate().

#include <uvredis/export.hpp>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace uvredis::detail {

/// Called from a catch handler around a user callback: prints what was
/// thrown to stderr and calls std::terminate(). Unwinding further would run
/// through libuv and hiredis frames and leave a half-finished completion
/// behind, so uvredis does not try to continue.
[[noreturn]] UVREDIS_API void callback_threw() noexcept;

/// Runs a callback held in any callable (std::function handlers) with the
/// same rule as Function: an exception that escapes it ends the program.
template <class F, class... A>
decltype(auto) call_user(F& f, A&&... a) {
  try {
    return f(std::forward<A>(a)...);
  } catch (...) {
    callback_threw();
  }
}

template <class Sig>
class Function;

template <class R, class... Args>
class Function<R(Args...)> {
 public:
  static constexpr std::size_t kInline = 96;  // a typed helper's wrapper (decoder + user callback) fits

  Function() noexcept = default;
  Function(std::nullptr_t) noexcept {}  // NOLINT

  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, Function> &&
                                     std::is_invocable_r_v<R, D&, Args...>>>
  Function(F&& f) {  // NOLINT: implicit like std::function
    if constexpr (sizeof(D) <= kInline && alignof(D) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
    } else {
      D* p = new D(std::forward<F>(f));
      std::memcpy(buf_, &p, sizeof(p));
      ops_ = &heap_ops<D>;
    }
  }

  Function(Function&& o) noexcept { take(o); }
  Function& operator=(Function&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  Function(const Function&) = delete;
  Function& operator=(const Function&) = delete;
  ~Function() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  /// Runs the callable; an exception escaping it ends the program with a
  /// message (callback_threw).
  R operator()(Args... args) {
    if (!ops_) std::abort();
    try {
      return ops_->call(buf_, std::forward<Args>(args)...);
    } catch (...) {
      callback_threw();
    }
  }

  void reset() noexcept {
    if (ops_) {
      ops_->destroy(buf_);
      ops_ = nullptr;
    }
  }

 private:
  struct Ops {
    R (*call)(void*, Args&&...);
    void (*move)(void* dst, void* src) noexcept;  // move-construct dst from src, destroy src
    void (*destroy)(void*) noexcept;
  };

  template <class D>
  static constexpr Ops inline_ops = {
      [](void* p, Args&&... a) -> R { return (*static_cast<D*>(p))(std::forward<Args>(a)...); },
      [](void* dst, void* src) noexcept {
        ::new (dst) D(std::move(*static_cast<D*>(src)));
        static_cast<D*>(src)->~D();
      },
      [](void* p) noexcept { static_cast<D*>(p)->~D(); },
  };

  template <class D>
  static D* heap_ptr(void* p) noexcept {
    D* d;
    std::memcpy(&d, p, sizeof(d));
    return d;
  }

  template <class D>
  static constexpr Ops heap_ops = {
      [](void* p, Args&&... a) -> R { return (*heap_ptr<D>(p))(std::forward<Args>(a)...); },
      [](void* dst, void* src) noexcept { std::memcpy(dst, src, sizeof(D*)); },
      [](void* p) noexcept { delete heap_ptr<D>(p); },
  };

  void take(Function& o) noexcept {
    if (o.ops_) {
      o.ops_->move(buf_, o.buf_);
      ops_ = o.ops_;
      o.ops_ = nullptr;
    }
  }

  alignas(std::max_align_t) unsigned char buf_[kInline];
  const Ops* ops_ = nullptr;
};

}  // namespace uvredis::detail
