#include <uvredis/decode.hpp>

#include "protocol/decode_internal.hpp"

#include <charconv>

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
  return std::move(detail::ReplyAccess::str(*r));
}

Result<std::optional<std::string>> optional_string(Result<Reply>&& r) {
  // One result, built where the caller wants it, the value moved into it
  // in place (GET's decoder: one move of the string, from the reply into
  // the optional).
  Result<std::optional<std::string>> out{std::optional<std::string>()};
  if (!r)
    out = std::move(r).error();
  else if (r->is_string() || r->is_status())
    out->emplace(std::move(detail::ReplyAccess::str(*r)));
  else if (!r->is_nil())
    out = unexpected(*r, "string or nil");
  return out;
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

Result<std::optional<long long>> optional_integer(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (r->is_nil()) return std::optional<long long>();
  if (!r->is_integer()) return unexpected(*r, "integer or nil");
  return std::optional<long long>(r->integer());
}

std::optional<double> parse_double(std::string_view text) noexcept {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty() || text.front() == '+') return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<double> detail_to_double(const Reply& r) {
  if (r.is_integer()) return static_cast<double>(r.integer());
  if (!r.is_string() && !r.is_status()) return unexpected(r, "number");
  auto v = parse_double(r.str());
  if (!v) return Error{ErrorKind::protocol, "unexpected reply: not a number: " + std::string(r.str().substr(0, 64))};
  return *v;
}

Result<double> floating(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  return detail_to_double(*r);
}

Result<std::optional<double>> optional_floating(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (r->is_nil()) return std::optional<double>();
  auto v = detail_to_double(*r);
  if (!v) return std::move(v).error();
  return std::optional<double>(*v);
}

namespace {
Result<Ttl> ttl_from(Result<Reply>&& r, long long unit_ms) {
  if (!r) return std::move(r).error();
  if (!r->is_integer()) return unexpected(*r, "integer");
  Ttl t;
  const long long v = r->integer();
  if (v == -2) {
    t.state = Ttl::State::no_key;
  } else if (v == -1) {
    t.state = Ttl::State::no_expiry;
  } else if (v >= 0) {
    t.state = Ttl::State::expires;
    t.remaining = std::chrono::milliseconds(v * unit_ms);
  } else {
    return Error{ErrorKind::protocol, "unexpected reply: TTL " + std::to_string(v)};
  }
  return t;
}
}  // namespace

Result<Ttl> ttl_seconds(Result<Reply>&& r) { return ttl_from(std::move(r), 1000); }
Result<Ttl> ttl_millis(Result<Reply>&& r) { return ttl_from(std::move(r), 1); }

}  // namespace uvredis::decode
