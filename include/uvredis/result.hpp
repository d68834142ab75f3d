#pragma once
/// @file result.hpp
/// Result<T>: a value or an Error, handed to every completion callback.
/// A plain value type; no exceptions cross the loop. Loop-thread objects
/// never hide inside it, so it may be moved to other threads freely.

#include <uvredis/error.hpp>
#include <uvredis/export.hpp>

#include <type_traits>
#include <utility>
#include <variant>

namespace uvredis {

namespace detail {
/// Misuse of a Result: print what happened to stderr, then std::abort().
/// Out of line so that every Result<T> shares one copy and the header needs
/// no <cstdio>.
[[noreturn]] UVREDIS_API void value_of_error_result(const Error& e) noexcept;
[[noreturn]] UVREDIS_API void error_of_ok_result() noexcept;
}  // namespace detail

/// Holds either a T or an Error. `if (r) use(*r); else log(r.error());`
///
/// Reading the value of an error result (`*r`, `r->`, `r.value()`) is a
/// programming error: it prints "uvredis: read the value of a Result that
/// holds an error: <kind>: <message>" to stderr and ends the program with
/// std::abort(). Asking a successful result for error() does the same with
/// its own message. Test the result (`if (r)`, `r.ok()`) first, or use
/// value_or().
template <class T>
class [[nodiscard]] Result {
 public:
  using value_type = T;

  // Implicit by design. By reference, not by value: a value moves once,
  // straight into the result.
  Result(const T& value) : v_(std::in_place_index<0>, value) {}  // NOLINT
  Result(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(const Error& error) : v_(std::in_place_index<1>, error) {}  // NOLINT
  Result(Error&& error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { check_value(); return *std::get_if<0>(&v_); }
  const T& value() const& { check_value(); return *std::get_if<0>(&v_); }
  T&& value() && { check_value(); return std::move(*std::get_if<0>(&v_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    if (ok()) detail::error_of_ok_result();
    return *std::get_if<1>(&v_);
  }
  Error&& error() && {
    if (ok()) detail::error_of_ok_result();
    return std::move(*std::get_if<1>(&v_));
  }

  /// The value, or `fallback` when this holds an error.
  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  void check_value() const {
    if (!ok()) detail::value_of_error_result(*std::get_if<1>(&v_));
  }
  std::variant<T, Error> v_;
};

/// Result of an operation that yields no value: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;

  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  /// The error; on a successful result this is misuse (see Result<T>).
  const Error& error() const& {
    if (ok_) detail::error_of_ok_result();
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace uvredis
