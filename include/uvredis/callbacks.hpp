#pragma once
/// @file callbacks.hpp
/// The callback vocabulary of every public signature in uvredis.
///
/// - `Once<Sig>`: a **one-shot** callable. Move-only (captures may be
///   move-only: a unique_ptr, another Once, a Callback), with inline storage
///   for captures up to Once::kInline bytes, so the usual completion lambda
///   (a few pointers and a nested callback) costs no heap allocation. uvredis
///   calls a Once it accepted at most once; where a signature documents it as
///   a completion (a command's Callback<T>, close(done), exec(done), ...), it
///   runs exactly once, on the loop thread, and never inside the call that
///   accepted it. Passing an empty Once (`{}` or nullptr) means "no callback".
/// - `Listener<Sig>`: a **repeated** handler (= std::function<Sig>, so it is
///   copyable). uvredis calls it once per message, event, batch or state
///   change, on the loop thread, until it is replaced, the object stops or it
///   is destroyed; an empty Listener means "no handler".
/// - `Callback<T>` (link_types.hpp) is `Once<void(Result<T>)>`, the result
///   callback of every command.
///
/// Either kind is called on the loop thread only (Poster::post is the one
/// entry point other threads may use). An exception that escapes a callback
/// is not propagated through the loop: uvredis prints "uvredis: a callback
/// threw an exception: <what()>" to stderr and calls std::terminate().

#include <uvredis/export.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

namespace uvredis {

namespace detail {

/// Called from a catch handler around a user callback: prints what was
/// thrown to stderr and calls std::terminate(). Unwinding further would run
/// through libuv and hiredis frames and leave a half-finished completion
/// behind, so uvredis does not try to continue.
[[noreturn]] UVREDIS_API void callback_threw() noexcept;

/// Runs a callback held in any callable (std::function handlers) with the
/// same rule as Once: an exception that escapes it ends the program.
template <class F, class... A>
decltype(auto) call_user(F& f, A&&... a) {
  try {
    return f(std::forward<A>(a)...);
  } catch (...) {
    callback_threw();
  }
}

}  // namespace detail

template <class Sig>
class Once;

namespace detail {
template <class Sig>
struct OnceStorage;
template <class T>
struct is_std_function : std::false_type {};
template <class Sig>
struct is_std_function<std::function<Sig>> : std::true_type {};
}  // namespace detail

/// See the file comment: a move-only, small-buffer callable that uvredis calls
/// at most once (a completion: exactly once), on the loop thread.
template <class R, class... Args>
class Once<R(Args...)> {
 public:
  /// Captures up to this size (with max_align_t alignment and a noexcept
  /// move) are stored inline; larger ones are moved to the heap once.
  static constexpr std::size_t kInline = 96;  // a typed helper's wrapper (decoder + user callback) fits

  Once() noexcept = default;  ///< Empty: "no callback".
  Once(std::nullptr_t) noexcept {}  // NOLINT

  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, Once> &&
                                     std::is_invocable_r_v<R, D&, Args...>>>
  Once(F&& f) {  // NOLINT: implicit like std::function
    // An empty std::function (a Listener passed where a Once is wanted) makes
    // an empty Once, so "no callback" keeps its meaning instead of failing
    // with bad_function_call when called.
    if constexpr (detail::is_std_function<D>::value) {
      if (!f) return;
    }
    if constexpr (sizeof(D) <= kInline && alignof(D) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
      size_ = sizeof(D);
      wide_ = alignof(D) > alignof(void*);
    } else {
      D* p = new D(std::forward<F>(f));
      std::memcpy(buf_, &p, sizeof(p));
      ops_ = &heap_ops<D>;
      size_ = sizeof(D*);
    }
  }

  Once(Once&& o) noexcept { take(o); }
  Once& operator=(Once&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;
  ~Once() { reset(); }

  /// False when empty ("no callback").
  explicit operator bool() const noexcept { return ops_ != nullptr; }

  /// Runs the callable; an exception escaping it ends the program with a
  /// message (callback_threw).
  R operator()(Args... args) { return call_with(std::forward<Args>(args)...); }

  /// As operator(), passing each argument on as it is: no copy or move into
  /// a parameter of this call (uvredis completes requests this way).
  R call_with(Args&&... args) {
    if (!ops_) std::abort();
    try {
      return ops_->call(buf_, std::forward<Args>(args)...);
    } catch (...) {
      detail::callback_threw();
    }
  }

  /// Drops the callable (and what it captured) without calling it.
  void reset() noexcept {
    if (ops_) {
      if (!ops_->trivial_destroy) ops_->destroy(buf_);
      ops_ = nullptr;
    }
  }

  /// A Once that calls `inner` with `conv` applied to its argument (the
  /// typed helpers: a decoder in front of the user's callback). `inner`'s
  /// callable moves into this one's buffer, behind the two pointers that
  /// connect them, when it leaves room for them (captures up to kInline - 16
  /// bytes): no heap allocation, where a lambda holding `inner` would not
  /// fit inline. An empty `inner` gives a Once that does nothing.
  template <class B, class A>
  static Once converting(B (*conv)(A&&), Once<R(B)>&& inner) {
    // One named result on every path: it is built in the caller's object
    // (no move of the finished Once on the way out).
    Once out;
    if (!inner) {
      out = Once([](A) {});
    } else if (inner.size_ <= kInline - kLinkBytes) {
      // [inner's ops][conv][inner's callable]: the layout does not depend on
      // where the buffer is, so the callable can be moved as size_ bytes.
      // Nothing to destroy in the pair when there is nothing in the inner.
      out.ops_ = inner.ops_->trivial_destroy ? &converting_ops<B, A, true> : &converting_ops<B, A, false>;
      inner.ops_->move(out.buf_ + kLinkBytes, inner.buf_);
      const void* in_ops = std::exchange(inner.ops_, nullptr);
      std::memcpy(out.buf_, &in_ops, sizeof(in_ops));
      std::memcpy(out.buf_ + sizeof(in_ops), &conv, sizeof(conv));
      out.size_ = static_cast<std::uint32_t>(kLinkBytes + inner.size_);
      out.wide_ = inner.wide_;
    } else {
      out = Once([conv, inner = std::move(inner)](A a) mutable -> R { return inner(conv(std::move(a))); });
    }
    return out;
  }

 private:
  template <class>
  friend class Once;
  template <class>
  friend struct detail::OnceStorage;

  struct Ops {
    R (*call)(void*, Args&&...);
    void (*move)(void* dst, void* src) noexcept;  // move-construct dst from src, destroy src
    void (*destroy)(void*) noexcept;
    // Destroying the callable does nothing (it is trivially destructible):
    // no call through destroy is needed, which stays correct all the same.
    bool trivial_destroy;
  };

  // converting(): the inner Once's ops and the conversion come first, the
  // inner callable after them.
  static constexpr std::size_t kLinkBytes = 2 * sizeof(void*);
  template <class B>
  using InnerOps = typename Once<R(B)>::Ops;
  template <class B>
  static const InnerOps<B>* inner_ops(const void* p) noexcept {
    const InnerOps<B>* o;
    std::memcpy(&o, p, sizeof(o));
    return o;
  }
  static unsigned char* inner_of(void* p) noexcept { return static_cast<unsigned char*>(p) + kLinkBytes; }
  template <class B, class A, bool TrivialDestroy>
  static constexpr Ops converting_ops = {
      [](void* p, Args&&... a) -> R {
        B (*conv)(A&&);
        std::memcpy(&conv, static_cast<unsigned char*>(p) + sizeof(void*), sizeof(conv));
        return inner_ops<B>(p)->call(inner_of(p), conv(std::forward<Args>(a)...));
      },
      [](void* dst, void* src) noexcept {
        std::memcpy(dst, src, kLinkBytes);
        inner_ops<B>(src)->move(inner_of(dst), inner_of(src));
      },
      [](void* p) noexcept { inner_ops<B>(p)->destroy(inner_of(p)); },
      TrivialDestroy,
  };

  template <class D>
  static constexpr Ops inline_ops = {
      [](void* p, Args&&... a) -> R { return (*static_cast<D*>(p))(std::forward<Args>(a)...); },
      [](void* dst, void* src) noexcept {
        ::new (dst) D(std::move(*static_cast<D*>(src)));
        static_cast<D*>(src)->~D();
      },
      [](void* p) noexcept { static_cast<D*>(p)->~D(); },
      std::is_trivially_destructible_v<D>,
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
      false,
  };

  void take(Once& o) noexcept {
    if (o.ops_) {
      o.ops_->move(buf_, o.buf_);
      ops_ = o.ops_;
      size_ = o.size_;
      wide_ = o.wide_;
      o.ops_ = nullptr;
    }
  }

  alignas(std::max_align_t) unsigned char buf_[kInline];
  const Ops* ops_ = nullptr;
  // Bytes of buf_ the callable uses, from its start, and whether it needs
  // more than pointer alignment (the padding after ops_ holds them): what
  // OnceStorage moves.
  std::uint32_t size_ = 0;
  bool wide_ = false;
};

namespace detail {

/// Internal (the request queue): moves a Once's callable into raw storage
/// of exactly its size and back, so that a long queue of callbacks holds
/// each in the bytes it needs rather than in a whole Once. Loop-thread
/// only, like the Once.
template <class R, class... Args>
struct OnceStorage<R(Args...)> {
  using O = Once<R(Args...)>;
  /// Bytes the callable of `o` needs (0 when empty).
  static std::uint32_t size(const O& o) noexcept { return o.ops_ ? o.size_ : 0; }
  /// Whether it must be placed at a max_align_t boundary (else a pointer's
  /// alignment will do).
  static bool wide(const O& o) noexcept { return o.wide_; }
  /// Moves the callable of `o` to `dst` (size(o) bytes, aligned as wide(o)
  /// says) and returns its operations (null when `o` is empty); `o` is
  /// empty afterwards.
  static const void* move_out(O& o, void* dst) noexcept {
    if (!o.ops_) return nullptr;
    o.ops_->move(dst, o.buf_);
    return std::exchange(o.ops_, nullptr);
  }
  /// The reverse: `o` (empty) takes the callable of `size` bytes (`wide`
  /// as above) at `src` with operations `ops` (null: stays empty).
  static void move_in(O& o, const void* ops, std::uint32_t size, bool wide, void* src) noexcept {
    if (!ops) return;
    o.ops_ = static_cast<const typename O::Ops*>(ops);
    o.ops_->move(o.buf_, src);
    o.size_ = size;
    o.wide_ = wide;
  }
  /// Runs the callable at `p` (operations `ops`) where it is, as
  /// Once::call_with does (an exception ends the program).
  static R call(const void* ops, void* p, Args&&... args) {
    try {
      return static_cast<const typename O::Ops*>(ops)->call(p, std::forward<Args>(args)...);
    } catch (...) {
      callback_threw();
    }
  }
  /// Moves the callable at `src` (operations `ops`) to `dst`.
  static void relocate(const void* ops, void* dst, void* src) noexcept {
    static_cast<const typename O::Ops*>(ops)->move(dst, src);
  }
  /// Destroys the callable at `p` without calling it.
  static void destroy(const void* ops, void* p) noexcept {
    const auto* o = static_cast<const typename O::Ops*>(ops);
    if (o && !o->trivial_destroy) o->destroy(p);
  }
};

}  // namespace detail

/// A repeated handler: copyable, called once per message/event/batch on the
/// loop thread (see the file comment). Empty means "no handler".
template <class Sig>
using Listener = std::function<Sig>;

namespace detail {
/// The former name of Once, kept so that existing code still compiles.
template <class Sig>
using Function = Once<Sig>;
}  // namespace detail

}  // namespace uvredis
