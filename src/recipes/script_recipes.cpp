#include <uvredis/script.hpp>
#include <uvredis/script_recipes.hpp>

#include <string>

namespace uvredis::recipes {

namespace {

// Scripts are built once per process (thread-safe static init) and shared:
// a Script is an immutable value.

const Script& cas_script() {
  // ARGV[1]: "1" when a value is expected, "0" when the key must be absent.
  static const Script s(R"lua(
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
return 1
)lua");
  return s;
}

// The helper every counter script shares: the integer at a key, 0 when
// missing, an ERR reply (raised as a Lua error) when it is not an integer.
std::string with_read_int(const char* body) {
  return std::string(R"lua(
local function read_int(key)
  local v = redis.call('GET', key)
  if not v then return 0 end
  local n = tonumber(v)
  if not n or n ~= math.floor(n) then
    error({err = 'ERR value is not an integer or out of range'})
  end
  return n
end
)lua") + body;
}

const Script& incr_limit_script() {
  static const Script s(with_read_int(R"lua(
local cur = read_int(KEYS[1])
local by = tonumber(ARGV[1])
if cur + by > tonumber(ARGV[2]) then return {0, cur} end
return {1, redis.call('INCRBY', KEYS[1], ARGV[1])}
)lua"));
  return s;
}

const Script& deduct_script() {
  static const Script s(with_read_int(R"lua(
local stock = read_int(KEYS[1])
if stock < tonumber(ARGV[1]) then return {0, stock} end
return {1, redis.call('DECRBY', KEYS[1], ARGV[1])}
)lua"));
  return s;
}

const Script& transfer_script() {
  static const Script s(with_read_int(R"lua(
local amount = tonumber(ARGV[1])
local have = read_int(KEYS[1])
read_int(KEYS[2])  -- refuse before changing anything when the target is not a number
if have < amount then
  return redis.error_reply(string.format('INSUFFICIENT balance %d < %d', have, amount))
end
return {redis.call('DECRBY', KEYS[1], ARGV[1]), redis.call('INCRBY', KEYS[2], ARGV[1])}
)lua"));
  return s;
}

// {flag, value} -> (bool, long long)
Result<std::pair<bool, long long>> flag_and_value(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  auto flag = script_decode::integer_at(*r, 0);
  if (!flag) return std::move(flag).error();
  auto value = script_decode::integer_at(*r, 1);
  if (!value) return std::move(value).error();
  return std::make_pair(*flag != 0, *value);
}

}  // namespace

void compare_and_swap(Executor& ex, std::string_view key, std::optional<std::string_view> expected,
                      std::string_view desired, Callback<bool> cb) {
  std::string_view keys[] = {key};
  std::string_view args[] = {expected ? "1" : "0", expected.value_or(""), desired};
  cas_script().run<bool>(ex, keys, args, &script_decode::lua_boolean, std::move(cb));
}

void increment_with_limit(Executor& ex, std::string_view key, long long by, long long limit,
                          Callback<LimitedIncrement> cb) {
  const std::string by_s = std::to_string(by), limit_s = std::to_string(limit);
  std::string_view keys[] = {key};
  std::string_view args[] = {by_s, limit_s};
  incr_limit_script().run(ex, keys, args, [cb = std::move(cb)](Result<Reply> r) mutable {
    if (!cb) return;
    auto fv = flag_and_value(std::move(r));
    if (!fv) return cb(std::move(fv).error());
    cb(LimitedIncrement{fv->first, fv->second});
  });
}

void deduct_inventory(Executor& ex, std::string_view key, long long quantity, Callback<Deduction> cb) {
  if (quantity <= 0) {
    ex.fail<Deduction>(Error{ErrorKind::usage, "deduct_inventory: quantity must be positive"}, std::move(cb));
    return;
  }
  const std::string q = std::to_string(quantity);
  std::string_view keys[] = {key};
  std::string_view args[] = {q};
  deduct_script().run(ex, keys, args, [cb = std::move(cb)](Result<Reply> r) mutable {
    if (!cb) return;
    auto fv = flag_and_value(std::move(r));
    if (!fv) return cb(std::move(fv).error());
    cb(Deduction{fv->first, fv->second});
  });
}

void transfer_points(Executor& ex, std::string_view from, std::string_view to, long long amount,
                     Callback<Transfer> cb) {
  if (amount <= 0) {
    ex.fail<Transfer>(Error{ErrorKind::usage, "transfer_points: amount must be positive"}, std::move(cb));
    return;
  }
  const std::string a = std::to_string(amount);
  std::string_view keys[] = {from, to};
  std::string_view args[] = {a};
  transfer_script().run(ex, keys, args, [cb = std::move(cb)](Result<Reply> r) mutable {
    if (!cb) return;
    if (!r) return cb(std::move(r).error());
    auto f = script_decode::integer_at(*r, 0);
    if (!f) return cb(std::move(f).error());
    auto t = script_decode::integer_at(*r, 1);
    if (!t) return cb(std::move(t).error());
    cb(Transfer{*f, *t});
  });
}

}  // namespace uvredis::recipes
