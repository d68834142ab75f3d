#include "protocol/encode.hpp"

#include <charconv>
#include <cstring>

namespace uvredis::detail {

namespace {
inline void append_header(std::string& out, char kind, std::size_t n) {
  char buf[24];
  buf[0] = kind;
  auto [p, ec] = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n);
  (void)ec;
  *p++ = '\r';
  *p++ = '\n';
  out.append(buf, static_cast<std::size_t>(p - buf));
}
}  // namespace

void encode_header(std::string& out, char kind, std::size_t n) { append_header(out, kind, n); }

// The bytes of "*<n>\r\n" or "$<n>\r\n" for n.
inline std::size_t header_size(std::size_t n) noexcept {
  std::size_t digits = 1;
  while (n >= 10) {
    n /= 10;
    ++digits;
  }
  return digits + 3;
}

inline char* put_header(char* p, char kind, std::size_t n) noexcept {
  *p++ = kind;
  if (n < 10) {
    *p++ = static_cast<char>('0' + n);  // most lengths: no to_chars call
  } else {
    p = std::to_chars(p, p + 20, n).ptr;
  }
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

// Sized first, then written in place: one growth of the buffer (amortised)
// and one memcpy per argument instead of three appends per argument.
inline std::size_t encoded_size(std::span<const std::string_view> argv) noexcept {
  std::size_t len = header_size(argv.size());
  for (std::string_view a : argv) len += header_size(a.size()) + a.size() + 2;
  return len;
}

inline void encode_to(char* p, std::span<const std::string_view> argv) noexcept {
  p = put_header(p, '*', argv.size());
  for (std::string_view a : argv) {
    p = put_header(p, '$', a.size());
    if (!a.empty()) std::memcpy(p, a.data(), a.size());
    p += a.size();
    *p++ = '\r';
    *p++ = '\n';
  }
}

std::size_t encode_command(std::string& out, std::span<const std::string_view> argv) {
  const std::size_t len = encoded_size(argv);
  const std::size_t start = out.size();
  out.resize(start + len);
  encode_to(out.data() + start, argv);
  return len;
}

std::size_t encode_command(ByteBuffer& out, std::span<const std::string_view> argv) {
  const std::size_t len = encoded_size(argv);
  encode_to(out.grow(len), argv);
  return len;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 32);
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 32);
    if (x != y) return false;
  }
  return true;
}

}  // namespace uvredis::detail
