#include "protocol/command_table.hpp"

#include "protocol/encode.hpp"

#include <array>
#include <cstddef>

namespace uvredis::detail {

namespace {

// Why a Client refuses a command, each naming what to use instead.
constexpr std::string_view kSelect =
    "SELECT is not allowed: the database belongs to the client's options (address.db)";
constexpr std::string_view kSubscriber = "subscriptions need a connection of their own: use uvredis::Subscriber";
constexpr std::string_view kMonitor = "MONITOR is not supported on a Client";
constexpr std::string_view kTransaction =
    "transactions would interleave with other commands on the shared connection: use the transaction API";
constexpr std::string_view kConnectionState =
    "connection state (credentials, protocol) belongs to the client's options";
constexpr std::string_view kQuit = "QUIT is not allowed: use Client::close()";
constexpr std::string_view kReplication = "replication commands are not supported";
constexpr std::string_view kClientReply = "CLIENT REPLY would break reply ordering on the shared connection";

// A row under construction: row("NAME") with every fact at its default,
// then one call per fact that differs, so that a row reads as one line.
struct Row : CommandFacts {
  constexpr Row keys(KeyShape s) const {
    Row r = *this;
    r.CommandFacts::keys = s;
    return r;
  }
  constexpr Row waits(Wait w) const {
    Row r = *this;
    r.wait = w;
    return r;
  }
  constexpr Row options_from(std::uint8_t at) const {
    Row r = *this;
    r.options_at = at;
    return r;
  }
  constexpr Row refuse(std::string_view why, std::string_view only_subs = {}) const {
    Row r = *this;
    r.refused = why;
    r.refused_subs = only_subs;
    return r;
  }
  constexpr Row tx() const {
    Row r = *this;
    r.transaction = true;
    return r;
  }
  constexpr Row replica_reads(ReplicaRead how = ReplicaRead::yes, std::string_view subs = {}) const {
    Row r = *this;
    r.replica = how;
    r.replica_subs = subs;
    return r;
  }
  constexpr Row splits(SplitKind k) const {
    Row r = *this;
    r.split = k;
    return r;
  }
  constexpr Row fans_out(FanOut k, std::string_view only_subs = {}) const {
    Row r = *this;
    r.fan_out = k;
    r.fan_out_subs = only_subs;
    return r;
  }
  constexpr Row pushes(PushKind k) const {
    Row r = *this;
    r.push = k;
    return r;
  }
};

constexpr Row row(std::string_view name) {
  Row r;
  r.name = name;
  return r;
}

using enum KeyShape;

// Sorted by name (checked below). Replica reads were checked against
// `COMMAND INFO` of redis-server 7.0: each has the `readonly` flag. Left out
// on purpose although flagged readonly: keyless ones (DBSIZE, KEYS, SCAN,
// RANDOMKEY, LOLWUT: about one node), TOUCH (its point is the master's
// access time) and anything blocking.
constexpr CommandFacts kCommands[] = {
    row("ACL").keys(none),
    row("APPEND"),
    row("ASKING").keys(none),
    row("AUTH").keys(none).refuse(kConnectionState),
    row("BGREWRITEAOF").keys(none),
    row("BGSAVE").keys(none),
    row("BITCOUNT").replica_reads(),
    row("BITFIELD"),
    row("BITFIELD_RO").replica_reads(),
    row("BITOP").keys(from2),
    row("BITPOS").replica_reads(),
    row("BLMOVE").keys(two).waits(Wait::last_seconds),
    row("BLMPOP").keys(numkeys2).waits(Wait::arg1_seconds),
    row("BLPOP").keys(all_but_last).waits(Wait::last_seconds),
    row("BRPOP").keys(all_but_last).waits(Wait::last_seconds),
    row("BRPOPLPUSH").keys(two).waits(Wait::last_seconds),
    row("BZMPOP").keys(numkeys2).waits(Wait::arg1_seconds),
    row("BZPOPMAX").keys(all_but_last).waits(Wait::last_seconds),
    row("BZPOPMIN").keys(all_but_last).waits(Wait::last_seconds),
    row("CLIENT").keys(none).refuse(kClientReply, "REPLY"),
    row("CLUSTER").keys(none),
    row("COMMAND").keys(none),
    row("CONFIG").keys(none),
    row("COPY").keys(two),
    row("DBSIZE").keys(none).fans_out(FanOut::sum),
    row("DEBUG").keys(subcommand_key),
    row("DECR"),
    row("DECRBY"),
    row("DEL").keys(all).splits(SplitKind::sum),
    row("DISCARD").keys(none).refuse(kTransaction).tx(),
    row("DUMP").replica_reads(),
    row("ECHO").keys(none),
    row("EVAL").keys(numkeys2),
    row("EVALSHA").keys(numkeys2),
    row("EVALSHA_RO").keys(numkeys2).replica_reads(),
    row("EVAL_RO").keys(numkeys2).replica_reads(),
    row("EXEC").keys(none).refuse(kTransaction).tx(),
    row("EXISTS").keys(all).replica_reads().splits(SplitKind::sum),
    row("EXPIRE"),
    row("EXPIREAT"),
    row("EXPIRETIME").replica_reads(),
    row("FAILOVER").keys(none),
    row("FCALL").keys(numkeys2),
    row("FCALL_RO").keys(numkeys2).replica_reads(),
    row("FLUSHALL").keys(none).fans_out(FanOut::same),
    row("FLUSHDB").keys(none).fans_out(FanOut::same),
    row("FUNCTION").keys(none).fans_out(FanOut::same, "LOAD DELETE FLUSH RESTORE"),
    row("GEOADD"),
    row("GEODIST").replica_reads(),
    row("GEOHASH").replica_reads(),
    row("GEOPOS").replica_reads(),
    row("GEORADIUSBYMEMBER_RO").replica_reads(),
    row("GEORADIUS_RO").replica_reads(),
    row("GEOSEARCH").replica_reads(),
    row("GEOSEARCHSTORE").keys(two),
    row("GET").replica_reads(),
    row("GETBIT").replica_reads(),
    row("GETDEL"),
    row("GETEX"),
    row("GETRANGE").replica_reads(),
    row("HDEL"),
    row("HELLO").keys(none).refuse(kConnectionState),
    row("HEXISTS").replica_reads(),
    row("HGET").replica_reads(),
    row("HGETALL").replica_reads(),
    row("HINCRBY"),
    row("HINCRBYFLOAT"),
    row("HKEYS").replica_reads(),
    row("HLEN").replica_reads(),
    row("HMGET").replica_reads(),
    row("HMSET"),
    row("HRANDFIELD").replica_reads(),
    row("HSCAN").replica_reads(),
    row("HSET"),
    row("HSETNX"),
    row("HSTRLEN").replica_reads(),
    row("HVALS").replica_reads(),
    row("INCR"),
    row("INCRBY"),
    row("INCRBYFLOAT"),
    row("INFO").keys(none),
    row("KEYS").keys(none),
    row("LASTSAVE").keys(none),
    row("LATENCY").keys(none),
    row("LCS").keys(two).replica_reads(),
    row("LINDEX").replica_reads(),
    row("LINSERT"),
    row("LLEN").replica_reads(),
    row("LMOVE").keys(two),
    row("LMPOP").keys(numkeys1),
    row("LOLWUT").keys(none),
    row("LPOP"),
    row("LPOS").replica_reads(),
    row("LPUSH"),
    row("LPUSHX"),
    row("LRANGE").replica_reads(),
    row("LREM"),
    row("LSET"),
    row("LTRIM"),
    row("MEMORY").keys(subcommand_key).replica_reads(ReplicaRead::subcommand, "USAGE"),
    row("MGET").keys(all).replica_reads().splits(SplitKind::mget),
    row("MIGRATE").keys(none),
    row("MODULE").keys(none),
    row("MONITOR").keys(none).refuse(kMonitor),
    row("MSET").keys(pairs).splits(SplitKind::mset),
    row("MSETNX").keys(pairs),
    row("MULTI").keys(none).refuse(kTransaction).tx(),
    row("OBJECT").keys(second).replica_reads(ReplicaRead::subcommand, "ENCODING REFCOUNT"),
    row("PERSIST"),
    row("PEXPIRE"),
    row("PEXPIREAT"),
    row("PEXPIRETIME").replica_reads(),
    row("PFADD"),
    row("PFCOUNT").keys(all).replica_reads(ReplicaRead::one_key),
    row("PFMERGE").keys(all),
    row("PING").keys(none),
    row("PSETEX"),
    row("PSUBSCRIBE").keys(none).refuse(kSubscriber).pushes(kPSubscribe),
    row("PSYNC").refuse(kReplication),
    row("PTTL").replica_reads(),
    row("PUBLISH").keys(none),
    row("PUBSUB").keys(none),
    row("PUNSUBSCRIBE").keys(none).refuse(kSubscriber).pushes(kPUnsubscribe),
    row("QUIT").keys(none).refuse(kQuit),
    row("RANDOMKEY").keys(none),
    row("READONLY").keys(none),
    row("READWRITE").keys(none),
    row("RENAME").keys(two),
    row("RENAMENX").keys(two),
    row("REPLICAOF").keys(none),
    row("RESET").keys(none).refuse(kConnectionState),
    row("ROLE").keys(none),
    row("RPOP"),
    row("RPOPLPUSH").keys(two),
    row("RPUSH"),
    row("RPUSHX"),
    row("SADD"),
    row("SAVE").keys(none),
    row("SCAN").keys(none),
    row("SCARD").replica_reads(),
    row("SCRIPT").keys(none).fans_out(FanOut::same, "LOAD FLUSH"),
    row("SDIFF").keys(all).replica_reads(),
    row("SDIFFSTORE").keys(all),
    row("SELECT").keys(none).refuse(kSelect),
    row("SET"),
    row("SETBIT"),
    row("SETEX"),
    row("SETNX"),
    row("SETRANGE"),
    row("SHUTDOWN").keys(none),
    row("SINTER").keys(all).replica_reads(),
    row("SINTERCARD").keys(numkeys1).replica_reads(),
    row("SINTERSTORE").keys(all),
    row("SISMEMBER").replica_reads(),
    row("SLAVEOF").keys(none),
    row("SLOWLOG").keys(none),
    row("SMEMBERS").replica_reads(),
    row("SMISMEMBER").replica_reads(),
    row("SMOVE").keys(two),
    row("SORT_RO").replica_reads(),
    row("SPOP"),
    row("SRANDMEMBER").replica_reads(),
    row("SREM"),
    row("SSCAN").replica_reads(),
    row("SSUBSCRIBE").refuse(kSubscriber).pushes(kSSubscribe),
    row("STRLEN").replica_reads(),
    row("SUBSCRIBE").keys(none).refuse(kSubscriber).pushes(kSubscribe),
    row("SUBSTR").replica_reads(),
    row("SUNION").keys(all).replica_reads(),
    row("SUNIONSTORE").keys(all),
    row("SUNSUBSCRIBE").refuse(kSubscriber).pushes(kSUnsubscribe),
    row("SWAPDB").keys(none),
    row("SYNC").refuse(kReplication),
    row("TIME").keys(none),
    row("TOUCH").keys(all).splits(SplitKind::sum),
    row("TTL").replica_reads(),
    row("TYPE").replica_reads(),
    row("UNLINK").keys(all).splits(SplitKind::sum),
    row("UNSUBSCRIBE").keys(none).refuse(kSubscriber).pushes(kUnsubscribe),
    row("UNWATCH").keys(none).refuse(kTransaction).tx(),
    row("WAIT").keys(none).waits(Wait::arg2_millis),
    row("WAITAOF").keys(none).waits(Wait::arg3_millis),
    row("WATCH").keys(all).refuse(kTransaction).tx(),
    row("XACK"),
    row("XADD"),
    row("XAUTOCLAIM"),
    row("XCLAIM"),
    row("XDEL"),
    row("XGROUP").keys(subcommand_key),
    row("XINFO").keys(subcommand_key).replica_reads(ReplicaRead::subcommand, "STREAM GROUPS CONSUMERS"),
    row("XLEN").replica_reads(),
    row("XPENDING").replica_reads(),
    row("XRANGE").replica_reads(),
    row("XREAD").keys(streams).waits(Wait::block_option).replica_reads(ReplicaRead::unless_blocking),
    row("XREADGROUP").keys(streams).waits(Wait::block_option).options_from(4),
    row("XREVRANGE").replica_reads(),
    row("XTRIM"),
    row("ZADD"),
    row("ZCARD").replica_reads(),
    row("ZCOUNT").replica_reads(),
    row("ZDIFF").keys(numkeys1).replica_reads(),
    row("ZDIFFSTORE").keys(dest_numkeys2),
    row("ZINCRBY"),
    row("ZINTER").keys(numkeys1).replica_reads(),
    row("ZINTERCARD").keys(numkeys1).replica_reads(),
    row("ZINTERSTORE").keys(dest_numkeys2),
    row("ZLEXCOUNT").replica_reads(),
    row("ZMPOP").keys(numkeys1),
    row("ZMSCORE").replica_reads(),
    row("ZPOPMAX"),
    row("ZPOPMIN"),
    row("ZRANDMEMBER").replica_reads(),
    row("ZRANGE").replica_reads(),
    row("ZRANGEBYLEX").replica_reads(),
    row("ZRANGEBYSCORE").replica_reads(),
    row("ZRANGESTORE").keys(two),
    row("ZRANK").replica_reads(),
    row("ZREM"),
    row("ZREMRANGEBYRANK"),
    row("ZREMRANGEBYSCORE"),
    row("ZREVRANGE").replica_reads(),
    row("ZREVRANGEBYLEX").replica_reads(),
    row("ZREVRANGEBYSCORE").replica_reads(),
    row("ZREVRANK").replica_reads(),
    row("ZSCAN").replica_reads(),
    row("ZSCORE").replica_reads(),
    row("ZUNION").keys(numkeys1).replica_reads(),
    row("ZUNIONSTORE").keys(dest_numkeys2),
};

constexpr bool sorted_and_unique() {
  for (std::size_t i = 1; i < std::size(kCommands); ++i)
    if (!(kCommands[i - 1].name < kCommands[i].name)) return false;
  return true;
}
static_assert(sorted_and_unique(), "kCommands must be sorted by name, each name once");

// The facts that only mean something together with another one.
constexpr bool rows_consistent() {
  for (const CommandFacts& c : kCommands) {
    // ClassifiedFilter's range: a letter first, shorter than 32.
    if (c.name.empty() || c.name.size() >= 32 || c.name[0] < 'A' || c.name[0] > 'Z') return false;
    for (char ch : c.name)
      if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
    if (c.transaction && c.refused != kTransaction) return false;
    if (!c.refused_subs.empty() && c.refused.empty()) return false;
    if ((c.replica == ReplicaRead::subcommand) != !c.replica_subs.empty()) return false;
    if (!c.fan_out_subs.empty() && c.fan_out == FanOut::none) return false;
    if (c.fan_out != FanOut::none && c.keys != KeyShape::none) return false;  // only keyless ones fan out
    if (c.replica != ReplicaRead::no && c.keys == KeyShape::none) return false;
    if (!c.refused.empty() && c.wait != Wait::none) return false;
    if (c.options_at != 1 && c.keys != KeyShape::streams && c.wait != Wait::block_option) return false;
  }
  return true;
}
static_assert(rows_consistent(), "a row of kCommands has facts that contradict each other");

constexpr unsigned char upper(char c) {
  return static_cast<unsigned char>((c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c);
}

// FNV-1a over the upper-cased name.
constexpr std::uint32_t name_hash(std::string_view name) {
  std::uint32_t h = 2166136261u;
  for (char c : name) h = (h ^ upper(c)) * 16777619u;
  return h;
}

// Open addressing with linear probing: slot -> row index + 1 (0: empty).
// A quarter full, so a miss (a command without a row) ends within a probe
// or two as well.
constexpr std::size_t kSlots = 1024;
static_assert(std::size(kCommands) * 4 <= kSlots, "grow kSlots with the table");

struct Index {
  std::array<std::uint16_t, kSlots> slot{};
  std::size_t longest_probe = 0;
  constexpr Index() {
    for (std::size_t i = 0; i < std::size(kCommands); ++i) {
      std::size_t at = name_hash(kCommands[i].name) & (kSlots - 1);
      std::size_t probe = 1;
      while (slot[at] != 0) {
        at = (at + 1) & (kSlots - 1);
        ++probe;
      }
      slot[at] = static_cast<std::uint16_t>(i + 1);
      if (probe > longest_probe) longest_probe = probe;
    }
  }
};
constexpr Index kIndex{};
static_assert(kIndex.longest_probe <= 8, "the name hash clusters: change it or kSlots");

constexpr ClassifiedFilter make_filter() {
  ClassifiedFilter f;
  for (const CommandFacts& c : kCommands)
    if (c.classified()) f.mask[c.name[0] - 'A'] |= std::uint32_t{1} << c.name.size();
  return f;
}

}  // namespace

constinit const ClassifiedFilter kClassifiedFilter = make_filter();

std::span<const CommandFacts> command_table() noexcept { return kCommands; }

const CommandFacts* find_command(std::string_view name) noexcept {
  if (name.empty() || name.size() >= 32) return nullptr;
  for (std::size_t at = name_hash(name) & (kSlots - 1);; at = (at + 1) & (kSlots - 1)) {
    const std::uint16_t i = kIndex.slot[at];
    if (i == 0) return nullptr;
    const CommandFacts& c = kCommands[i - 1];
    if (c.name.size() == name.size() && iequals(c.name, name)) return &c;
  }
}

bool in_word_list(std::string_view list, std::string_view word) noexcept {
  while (!list.empty()) {
    const std::size_t space = list.find(' ');
    if (iequals(list.substr(0, space), word)) return true;
    if (space == std::string_view::npos) break;
    list.remove_prefix(space + 1);
  }
  return false;
}

}  // namespace uvredis::detail
