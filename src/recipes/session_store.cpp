#include <uvredis/session_store.hpp>

#include "base/random.hpp"

namespace uvredis {

namespace {

// A session hash always holds this field, so an empty session still exists
// and an update can tell "gone" from "present" atomically. Hidden from get().
constexpr std::string_view kMarker = "__session";

// KEYS[1] session key; ARGV[1] TTL in ms; ARGV[2..] field, value pairs.
constexpr std::string_view kCreate =
    "redis.call('HSET', KEYS[1], '__session', '1', unpack(ARGV, 2))\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "return 1";
// KEYS[1] session key; ARGV[1] field; ARGV[2] value.
constexpr std::string_view kSetField =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "return 1";

Result<bool> int_as_bool(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (!r->is_integer()) return decode::unexpected(*r, "an integer");
  return r->integer() != 0;
}

}  // namespace

SessionStore::SessionStore(Executor& ex, SessionOptions options) : ex_(&ex), opts_(std::move(options)) {}

void SessionStore::create(const SessionData& data, Callback<std::string> cb) {
  if (opts_.ttl.count() <= 0) return ex_->fail<std::string>(Error{ErrorKind::usage, "session TTL must be positive"}, std::move(cb));
  for (const auto& [f, v] : data)
    if (f == kMarker)
      return ex_->fail<std::string>(Error{ErrorKind::usage, "the field name __session is reserved"}, std::move(cb));
  std::string id = detail::random_hex_token(16);
  const std::string k = key(id);
  const std::string ttl = std::to_string(opts_.ttl.count());
  std::vector<std::string_view> argv{"EVAL", kCreate, "1", k, ttl};
  for (const auto& [f, v] : data) {
    argv.push_back(f);
    argv.push_back(v);
  }
  ex_->command(argv, [id = std::move(id), cb = std::move(cb)](Result<Reply> r) mutable {
    if (!r) return cb(std::move(r).error());
    cb(std::move(id));
  });
}

void SessionStore::get(std::string_view id, Callback<std::optional<SessionData>> cb) {
  const std::string k = key(id);
  ex_->command({"HGETALL", k}, [cb = std::move(cb)](Result<Reply> r) mutable {
    if (!r) return cb(std::move(r).error());
    if (!r->is_array() || r->size() % 2 != 0) return cb(decode::unexpected(*r, "a field/value array"));
    if (r->size() == 0) return cb(std::optional<SessionData>());
    SessionData out;
    auto& el = r->elements();
    for (std::size_t i = 0; i + 1 < el.size(); i += 2) {
      std::string f = el[i].take_str();
      if (f == kMarker) continue;
      out.emplace(std::move(f), el[i + 1].take_str());
    }
    cb(std::optional<SessionData>(std::move(out)));
  });
}

void SessionStore::set_field(std::string_view id, std::string_view field, std::string_view value, Callback<bool> cb) {
  if (field == kMarker) return ex_->fail<bool>(Error{ErrorKind::usage, "the field name __session is reserved"}, std::move(cb));
  const std::string k = key(id);
  ex_->command({"EVAL", kSetField, "1", k, field, value},
               [cb = std::move(cb)](Result<Reply> r) mutable { cb(int_as_bool(std::move(r))); });
}

void SessionStore::extend(std::string_view id, Callback<bool> cb) {
  const std::string k = key(id);
  const std::string ttl = std::to_string(opts_.ttl.count());
  ex_->command({"PEXPIRE", k, ttl}, [cb = std::move(cb)](Result<Reply> r) mutable { cb(int_as_bool(std::move(r))); });
}

void SessionStore::remove(std::string_view id, Callback<bool> cb) {
  const std::string k = key(id);
  ex_->command({"DEL", k}, [cb = std::move(cb)](Result<Reply> r) mutable { cb(int_as_bool(std::move(r))); });
}

}  // namespace uvredis
