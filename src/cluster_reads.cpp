#include "cluster_reads.hpp"

#include "encode.hpp"

#include <algorithm>
#include <iterator>

namespace uvredis::detail {

namespace {

// Checked against `COMMAND INFO` of redis-server 7.0: every name here has
// the `readonly` flag. Left out on purpose although flagged readonly:
// keyless ones (DBSIZE, KEYS, SCAN, RANDOMKEY, LOLWUT: about one node),
// TOUCH (its point is the master's access time) and anything blocking.
// Commands with subcommands (OBJECT, XINFO, MEMORY) and XREAD, PFCOUNT are
// decided in replica_readable(). Sorted (checked below).
constexpr std::string_view kReadOnly[] = {
    "BITCOUNT",
    "BITFIELD_RO",
    "BITPOS",
    "DUMP",
    "EVALSHA_RO",
    "EVAL_RO",
    "EXISTS",
    "EXPIRETIME",
    "FCALL_RO",
    "GEODIST",
    "GEOHASH",
    "GEOPOS",
    "GEORADIUSBYMEMBER_RO",
    "GEORADIUS_RO",
    "GEOSEARCH",
    "GET",
    "GETBIT",
    "GETRANGE",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HRANDFIELD",
    "HSCAN",
    "HSTRLEN",
    "HVALS",
    "LCS",
    "LINDEX",
    "LLEN",
    "LPOS",
    "LRANGE",
    "MGET",
    "PEXPIRETIME",
    "PTTL",
    "SCARD",
    "SDIFF",
    "SINTER",
    "SINTERCARD",
    "SISMEMBER",
    "SMEMBERS",
    "SMISMEMBER",
    "SORT_RO",
    "SRANDMEMBER",
    "SSCAN",
    "STRLEN",
    "SUBSTR",
    "SUNION",
    "TTL",
    "TYPE",
    "XLEN",
    "XPENDING",
    "XRANGE",
    "XREVRANGE",
    "ZCARD",
    "ZCOUNT",
    "ZDIFF",
    "ZINTER",
    "ZINTERCARD",
    "ZLEXCOUNT",
    "ZMSCORE",
    "ZRANDMEMBER",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZRANGEBYSCORE",
    "ZRANK",
    "ZREVRANGE",
    "ZREVRANGEBYLEX",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCAN",
    "ZSCORE",
    "ZUNION",
};

constexpr bool sorted() {
  for (std::size_t i = 1; i < std::size(kReadOnly); ++i)
    if (!(kReadOnly[i - 1] < kReadOnly[i])) return false;
  return true;
}
static_assert(sorted(), "kReadOnly must be sorted");

bool in_table(std::string_view name) noexcept {
  char buf[24];
  if (name.empty() || name.size() > sizeof buf) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    buf[i] = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return std::binary_search(std::begin(kReadOnly), std::end(kReadOnly), std::string_view(buf, name.size()));
}

}  // namespace

bool replica_readable(std::span<const std::string_view> argv) noexcept {
  const std::size_t n = argv.size();
  if (n < 2) return false;
  const std::string_view name = argv[0];
  if (in_table(name)) return true;
  const std::string_view sub = argv[1];
  // OBJECT FREQ/IDLETIME describe accesses on the node asked: a replica's
  // answer is not the master's.
  if (iequals(name, "OBJECT")) return n >= 3 && (iequals(sub, "ENCODING") || iequals(sub, "REFCOUNT"));
  if (iequals(name, "XINFO"))
    return n >= 3 && (iequals(sub, "STREAM") || iequals(sub, "GROUPS") || iequals(sub, "CONSUMERS"));
  if (iequals(name, "MEMORY")) return n >= 3 && iequals(sub, "USAGE");
  // One key only (the rule issue 8 set); several keys of one slot are a
  // read too, but stay on the master.
  if (iequals(name, "PFCOUNT")) return n == 2;
  if (iequals(name, "XREAD")) {
    for (std::size_t i = 1; i < n; ++i) {
      if (iequals(argv[i], "STREAMS")) return true;
      if (iequals(argv[i], "BLOCK")) return false;
    }
    return false;
  }
  return false;
}

}  // namespace uvredis::detail
