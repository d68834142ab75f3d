#include <uvredis/reply.hpp>

namespace uvredis {

namespace {

void render(const Reply& r, std::string& out, int depth) {
  switch (r.type()) {
    case ReplyType::string:
      out += '"';
      for (char c : r.str()) {
        if (c == '"' || c == '\\') {
          out += '\\';
          out += c;
        } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
          static const char* hex = "0123456789abcdef";
          out += "\\x";
          out += hex[(static_cast<unsigned char>(c) >> 4) & 0xf];
          out += hex[static_cast<unsigned char>(c) & 0xf];
        } else {
          out += c;
        }
      }
      out += '"';
      break;
    case ReplyType::status: out += r.str(); break;
    case ReplyType::error:
      out += "(error) ";
      out += r.str();
      break;
    case ReplyType::integer:
      out += "(integer) ";
      out += std::to_string(r.integer());
      break;
    case ReplyType::nil: out += "(nil)"; break;
    case ReplyType::array:
      if (r.size() == 0) {
        out += "(empty array)";
        break;
      }
      for (std::size_t i = 0; i < r.size(); ++i) {
        if (i) {
          out += '\n';
          out.append(static_cast<std::size_t>(depth) * 3, ' ');
        }
        out += std::to_string(i + 1);
        out += ") ";
        render(r[i], out, depth + 1);
      }
      break;
  }
}

}  // namespace

std::string Reply::to_string() const {
  std::string out;
  render(*this, out, 0);
  return out;
}

}  // namespace uvredis
