#include <uvredis/decode.hpp>

namespace uvredis::decode {

namespace {
const char* type_name(ReplyType t) {
  switch (t) {
    case ReplyType::string: return "bulk string";
    case ReplyType::array: return "array";
    case ReplyType::integer: return "integer";
    case ReplyType::nil: return "nil";
    case ReplyType::status: return "status";
    case ReplyType::error: return "error";
  }
  return "unknown";
}
}  // namespace

Error unexpected(const Reply& r, const char* wanted) {
  return Error{ErrorKind::protocol, std::string("unexpected reply: wanted ") + wanted + ", got " + type_name(r.type())};
}

Result<Reply> reply(Result<Reply>&& r) { return std::move(r); }

Result<void> ok(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (!r->is_status()) return unexpected(*r, "status");
  return {};
}

Result<std::string> string(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (!r->is_string() && !r->is_status()) return unexpected(*r, "string");
  return r->take_str();
}

Result<std::optional<std::string>> optional_string(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (r->is_nil()) return std::optional<std::string>();
  if (!r->is_string() && !r->is_status()) return unexpected(*r, "string or nil");
  return std::optional<std::string>(r->take_str());
}

Result<long long> integer(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (!r->is_integer()) return unexpected(*r, "integer");
  return r->integer();
}

Result<bool> boolean(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (r->is_integer()) return r->integer() != 0;
  if (r->is_status()) return true;
  if (r->is_nil()) return false;
  return unexpected(*r, "integer, status or nil");
}

}  // namespace uvredis::decode
