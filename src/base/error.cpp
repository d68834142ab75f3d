#include <uvredis/error.hpp>

namespace uvredis {

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::server: return "server";
    case ErrorKind::connect: return "connect";
    case ErrorKind::connection_lost: return "connection lost";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::protocol: return "protocol";
    case ErrorKind::overflow: return "overflow";
    case ErrorKind::usage: return "usage";
    case ErrorKind::closed: return "closed";
    case ErrorKind::decode: return "decode";
  }
  return "unknown";
}

std::string_view Error::code() const noexcept {
  if (kind != ErrorKind::server) return {};
  std::string_view m = message;
  auto end = m.find(' ');
  return m.substr(0, end);
}

bool Error::is_transport() const noexcept {
  return kind == ErrorKind::connect || kind == ErrorKind::connection_lost ||
         kind == ErrorKind::timeout || kind == ErrorKind::protocol;
}

std::string Error::to_string() const {
  // Messages that already begin with their kind ("connection lost: ...",
  // "protocol error: ...", "timeout ...") are not prefixed a second time.
  const std::string_view k = uvredis::to_string(kind);
  if (std::string_view(message).starts_with(k)) return message;
  std::string s(k);
  s += ": ";
  s += message;
  return s;
}

}  // namespace uvredis
