#pragma once
// Helpers shared by the decoder translation units. No I/O.

#include <uvredis/decode.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace uvredis::detail {

/// The string of a reply, to be moved from where it lies: a decoder that
/// moves it straight into its result saves the move into the temporary
/// that Reply::take_str() returns.
struct ReplyAccess {
  static std::string& str(Reply& r) noexcept { return r.str_; }
};

}  // namespace uvredis::detail

namespace uvredis::decode {

/// A number element (bulk string, status or integer) -> double.
Result<double> detail_to_double(const Reply& r);

/// A decode error for a reply whose shape is not the one expected.
inline Error bad_shape(const char* what) {
  return Error{ErrorKind::protocol, std::string("unexpected reply: ") + what};
}

/// A bulk string or a status.
inline bool is_text(const Reply& r) { return r.is_string() || r.is_status(); }

/// An array element that must be text, moved out.
inline Result<std::string> take_text(Reply& e) {
  if (!is_text(e)) return unexpected(e, "string element");
  return e.take_str();
}

/// The elements of an array reply, moved out; a nil reply is an empty array
/// when `nil_is_empty`.
inline Result<std::vector<Reply>> take_array(Result<Reply>&& r, bool nil_is_empty) {
  if (!r) return std::move(r).error();
  if (nil_is_empty && r->is_nil()) return std::vector<Reply>();
  if (!r->is_array()) return unexpected(*r, "array");
  return std::move(r->elements());
}

/// Walks a flat name, value ... array, handing each pair to `on` (which
/// returns an error for a value of the wrong type). Unknown names are left to
/// `on` to ignore: newer servers add fields.
template <class F>
Result<void> for_each_field(Reply& flat, F&& on) {
  if (!flat.is_array()) return unexpected(flat, "array of name/value pairs");
  auto& kv = flat.elements();
  if (kv.size() % 2 != 0) return bad_shape("odd number of elements in a name/value array");
  for (std::size_t i = 0; i < kv.size(); i += 2) {
    if (!is_text(kv[i])) return unexpected(kv[i], "field name");
    Result<void> r = on(kv[i].str(), kv[i + 1]);
    if (!r) return r;
  }
  return {};
}

}  // namespace uvredis::decode
