#pragma once
/// @file reply.hpp
/// Reply: an owning, binary-safe tree of one RESP2 reply. A plain value: it
/// holds no reference to a client and may be moved anywhere. Produced on the
/// loop thread.

#include <uvredis/export.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

namespace detail {
struct ReplyAccess;  // internal: the decoders' way to a reply's string
}  // namespace detail

/// The RESP2 reply types.
enum class ReplyType : std::uint8_t { string, array, integer, nil, status, error };

/// One reply as the server sent it. Top-level error replies never reach a
/// callback as a Reply (they become Error{ErrorKind::server}); errors nested
/// inside arrays (EXEC results, scripts) stay here as ReplyType::error.
class UVREDIS_API Reply {
 public:
  Reply() = default;
  static Reply string(std::string s) { return Reply(ReplyType::string, std::move(s)); }
  static Reply status(std::string s) { return Reply(ReplyType::status, std::move(s)); }
  static Reply error(std::string s) { return Reply(ReplyType::error, std::move(s)); }
  static Reply integer(long long v) {
    Reply r;
    r.type_ = ReplyType::integer;
    r.integer_ = v;
    return r;
  }
  static Reply array(std::vector<Reply> elements) {
    Reply r;
    r.type_ = ReplyType::array;
    r.elements_ = std::move(elements);
    return r;
  }

  ReplyType type() const noexcept { return type_; }
  bool is_nil() const noexcept { return type_ == ReplyType::nil; }
  bool is_string() const noexcept { return type_ == ReplyType::string; }
  bool is_status() const noexcept { return type_ == ReplyType::status; }
  bool is_error() const noexcept { return type_ == ReplyType::error; }
  bool is_integer() const noexcept { return type_ == ReplyType::integer; }
  bool is_array() const noexcept { return type_ == ReplyType::array; }

  /// Bytes of a string, status or error reply (empty for other types).
  std::string_view str() const noexcept { return str_; }
  /// Takes the bytes out (the reply keeps an empty string).
  std::string take_str() noexcept { return std::move(str_); }
  /// Value of an integer reply (0 for other types).
  long long integer() const noexcept { return integer_; }
  /// Elements of an array reply (empty for other types).
  const std::vector<Reply>& elements() const noexcept { return elements_; }
  std::vector<Reply>& elements() noexcept { return elements_; }
  std::size_t size() const noexcept { return elements_.size(); }
  const Reply& operator[](std::size_t i) const { return elements_[i]; }

  /// A readable rendering (like redis-cli), for logs and tests.
  std::string to_string() const;

  friend bool operator==(const Reply&, const Reply&) = default;

 private:
  friend struct ReplyBuilder;
  friend struct detail::ReplyAccess;
  Reply(ReplyType t, std::string s) : type_(t), str_(std::move(s)) {}

  ReplyType type_ = ReplyType::nil;
  long long integer_ = 0;
  std::string str_;
  std::vector<Reply> elements_;
};

}  // namespace uvredis
