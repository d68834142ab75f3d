#include "encode.hpp"

#include <charconv>

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

std::size_t encode_command(std::string& out, std::span<const std::string_view> argv) {
  const std::size_t start = out.size();
  append_header(out, '*', argv.size());
  for (std::string_view a : argv) {
    append_header(out, '$', a.size());
    out.append(a.data(), a.size());
    out.append("\r\n", 2);
  }
  return out.size() - start;
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
