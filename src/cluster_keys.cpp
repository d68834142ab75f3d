#include "cluster_keys.hpp"

#include "encode.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace uvredis::detail {

namespace {

constexpr std::array<std::uint16_t, 256> make_crc_table() {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    std::uint16_t c = static_cast<std::uint16_t>(i << 8);
    for (int b = 0; b < 8; ++b) c = static_cast<std::uint16_t>((c & 0x8000) ? (c << 1) ^ 0x1021 : (c << 1));
    t[i] = c;
  }
  return t;
}
constexpr auto kCrcTable = make_crc_table();

// How a command's keys are laid out, for the commands that differ from the
// default (one key at argv[1]).
enum class Shape : std::uint8_t {
  none,            // keyless: any node
  all,             // argv[1..]
  all_but_last,    // argv[1..n-2] (BLPOP k1 k2 timeout)
  two,             // argv[1], argv[2]
  pairs,           // argv[1], argv[3], ... (MSET k v k v)
  from2,           // argv[2..] (BITOP op dest k1 k2)
  second,          // argv[2] only (OBJECT ENCODING key)
  numkeys1,        // numkeys at argv[1], keys after it (ZUNION 2 a b)
  numkeys2,        // numkeys at argv[2], keys after it (EVAL script 2 a b)
  dest_numkeys2,   // argv[1] and numkeys at argv[2] (ZUNIONSTORE dest 2 a b)
  streams,         // keys are the first half after STREAMS (XREAD)
  subcommand_key,  // argv[2] for the named subcommands, else keyless (MEMORY USAGE key)
};

struct Entry {
  std::string_view name;  // upper case, the table is sorted by it
  Shape shape;
};

// Sorted by name (checked by a static_assert below).
constexpr Entry kTable[] = {
    {"ACL", Shape::none},
    {"ASKING", Shape::none},
    {"AUTH", Shape::none},
    {"BGREWRITEAOF", Shape::none},
    {"BGSAVE", Shape::none},
    {"BITOP", Shape::from2},
    {"BLMOVE", Shape::two},
    {"BLMPOP", Shape::numkeys2},
    {"BLPOP", Shape::all_but_last},
    {"BRPOP", Shape::all_but_last},
    {"BRPOPLPUSH", Shape::two},
    {"BZMPOP", Shape::numkeys2},
    {"BZPOPMAX", Shape::all_but_last},
    {"BZPOPMIN", Shape::all_but_last},
    {"CLIENT", Shape::none},
    {"CLUSTER", Shape::none},
    {"COMMAND", Shape::none},
    {"CONFIG", Shape::none},
    {"COPY", Shape::two},
    {"DBSIZE", Shape::none},
    {"DEBUG", Shape::subcommand_key},
    {"DEL", Shape::all},
    {"DISCARD", Shape::none},
    {"ECHO", Shape::none},
    {"EVAL", Shape::numkeys2},
    {"EVALSHA", Shape::numkeys2},
    {"EVALSHA_RO", Shape::numkeys2},
    {"EVAL_RO", Shape::numkeys2},
    {"EXEC", Shape::none},
    {"EXISTS", Shape::all},
    {"FAILOVER", Shape::none},
    {"FCALL", Shape::numkeys2},
    {"FCALL_RO", Shape::numkeys2},
    {"FLUSHALL", Shape::none},
    {"FLUSHDB", Shape::none},
    {"FUNCTION", Shape::none},
    {"GEOSEARCHSTORE", Shape::two},
    {"HELLO", Shape::none},
    {"INFO", Shape::none},
    {"KEYS", Shape::none},
    {"LASTSAVE", Shape::none},
    {"LATENCY", Shape::none},
    {"LCS", Shape::two},
    {"LMOVE", Shape::two},
    {"LMPOP", Shape::numkeys1},
    {"LOLWUT", Shape::none},
    {"MEMORY", Shape::subcommand_key},
    {"MGET", Shape::all},
    {"MIGRATE", Shape::none},
    {"MODULE", Shape::none},
    {"MONITOR", Shape::none},
    {"MSET", Shape::pairs},
    {"MSETNX", Shape::pairs},
    {"MULTI", Shape::none},
    {"OBJECT", Shape::second},
    {"PFCOUNT", Shape::all},
    {"PFMERGE", Shape::all},
    {"PING", Shape::none},
    {"PSUBSCRIBE", Shape::none},
    {"PUBLISH", Shape::none},
    {"PUBSUB", Shape::none},
    {"PUNSUBSCRIBE", Shape::none},
    {"QUIT", Shape::none},
    {"RANDOMKEY", Shape::none},
    {"READONLY", Shape::none},
    {"READWRITE", Shape::none},
    {"RENAME", Shape::two},
    {"RENAMENX", Shape::two},
    {"REPLICAOF", Shape::none},
    {"RESET", Shape::none},
    {"ROLE", Shape::none},
    {"RPOPLPUSH", Shape::two},
    {"SAVE", Shape::none},
    {"SCAN", Shape::none},
    {"SCRIPT", Shape::none},
    {"SDIFF", Shape::all},
    {"SDIFFSTORE", Shape::all},
    {"SELECT", Shape::none},
    {"SHUTDOWN", Shape::none},
    {"SINTER", Shape::all},
    {"SINTERCARD", Shape::numkeys1},
    {"SINTERSTORE", Shape::all},
    {"SLAVEOF", Shape::none},
    {"SLOWLOG", Shape::none},
    {"SMOVE", Shape::two},
    {"SUBSCRIBE", Shape::none},
    {"SUNION", Shape::all},
    {"SUNIONSTORE", Shape::all},
    {"SWAPDB", Shape::none},
    {"TIME", Shape::none},
    {"TOUCH", Shape::all},
    {"UNLINK", Shape::all},
    {"UNSUBSCRIBE", Shape::none},
    {"UNWATCH", Shape::none},
    {"WAIT", Shape::none},
    {"WAITAOF", Shape::none},
    {"WATCH", Shape::all},
    {"XGROUP", Shape::subcommand_key},
    {"XINFO", Shape::subcommand_key},
    {"XREAD", Shape::streams},
    {"XREADGROUP", Shape::streams},
    {"ZDIFF", Shape::numkeys1},
    {"ZDIFFSTORE", Shape::dest_numkeys2},
    {"ZINTER", Shape::numkeys1},
    {"ZINTERCARD", Shape::numkeys1},
    {"ZINTERSTORE", Shape::dest_numkeys2},
    {"ZMPOP", Shape::numkeys1},
    {"ZRANGESTORE", Shape::two},
    {"ZUNION", Shape::numkeys1},
    {"ZUNIONSTORE", Shape::dest_numkeys2},
};

constexpr bool table_sorted() {
  for (std::size_t i = 1; i < std::size(kTable); ++i)
    if (!(kTable[i - 1].name < kTable[i].name)) return false;
  return true;
}
static_assert(table_sorted(), "kTable must be sorted by name");

// The table entry for a command name, or null (the default shape).
const Entry* lookup(std::string_view name) noexcept {
  char buf[24];
  if (name.empty() || name.size() > sizeof buf) return nullptr;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    buf[i] = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  std::string_view upper(buf, name.size());
  auto it = std::lower_bound(std::begin(kTable), std::end(kTable), upper,
                             [](const Entry& e, std::string_view n) { return e.name < n; });
  if (it == std::end(kTable) || it->name != upper) return nullptr;
  return it;
}

std::optional<std::size_t> parse_count(std::string_view s) {
  std::size_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

KeyRange range(std::size_t first, std::size_t last, std::size_t step = 1) {
  KeyRange r;
  r.first = first;
  r.last = last;
  r.step = step;
  return r;
}

// numkeys at argv[at], keys right after it.
KeyRange numkeys_at(std::span<const std::string_view> argv, std::size_t at) {
  const std::size_t n = argv.size();
  if (at >= n) return {};
  auto k = parse_count(argv[at]);
  if (!k || *k == 0 || *k > n - at - 1) return {};
  return range(at + 1, at + *k);
}

}  // namespace

std::uint16_t crc16(std::string_view data) noexcept {
  std::uint16_t crc = 0;
  for (char ch : data)
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ static_cast<unsigned char>(ch)) & 0xFF]);
  return crc;
}

int key_slot(std::string_view key) noexcept {
  if (auto open = key.find('{'); open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & (kClusterSlots - 1);
}

KeyRange command_keys(std::span<const std::string_view> argv) noexcept {
  const std::size_t n = argv.size();
  if (n == 0) return {};
  const Entry* e = lookup(argv[0]);
  if (!e) return n >= 2 ? range(1, 1) : KeyRange{};
  switch (e->shape) {
    case Shape::none: return {};
    case Shape::all: return n >= 2 ? range(1, n - 1) : KeyRange{};
    case Shape::all_but_last: return n >= 3 ? range(1, n - 2) : KeyRange{};
    case Shape::two: return n >= 3 ? range(1, 2) : (n == 2 ? range(1, 1) : KeyRange{});
    case Shape::pairs: return n >= 3 ? range(1, n - 2 - (n - 1) % 2, 2) : KeyRange{};
    case Shape::from2: return n >= 3 ? range(2, n - 1) : KeyRange{};
    case Shape::second: return n >= 3 ? range(2, 2) : KeyRange{};
    case Shape::numkeys1: return numkeys_at(argv, 1);
    case Shape::numkeys2: return numkeys_at(argv, 2);
    case Shape::dest_numkeys2: {
      KeyRange r = numkeys_at(argv, 2);
      if (n >= 2) r.extra = 1;
      return r;
    }
    case Shape::streams: {
      // XREADGROUP's group and consumer names (argv[2], argv[3]) and the
      // values of COUNT and BLOCK are not keywords: a group named "streams"
      // must not be taken for STREAMS.
      std::size_t i = iequals(argv[0], "XREADGROUP") ? 4 : 1;
      for (; i < n; ++i) {
        if (iequals(argv[i], "COUNT") || iequals(argv[i], "BLOCK")) {
          ++i;
          continue;
        }
        if (!iequals(argv[i], "STREAMS")) continue;
        const std::size_t rest = n - i - 1;
        if (rest == 0 || rest % 2 != 0) return {};
        return range(i + 1, i + rest / 2);
      }
      return {};
    }
    case Shape::subcommand_key: {
      if (n < 3) return {};
      const std::string_view sub = argv[1];
      if (iequals(sub, "USAGE") || iequals(sub, "OBJECT") || iequals(sub, "STREAM") || iequals(sub, "GROUPS") ||
          iequals(sub, "CONSUMERS") || iequals(sub, "CREATE") || iequals(sub, "SETID") || iequals(sub, "DESTROY") ||
          iequals(sub, "CREATECONSUMER") || iequals(sub, "DELCONSUMER"))
        return range(2, 2);
      return {};
    }
  }
  return {};
}

SplitKind split_kind(std::string_view name) noexcept {
  if (name.size() < 3 || name.size() > 6) return SplitKind::none;
  if (iequals(name, "MGET")) return SplitKind::mget;
  if (iequals(name, "MSET")) return SplitKind::mset;
  if (iequals(name, "DEL") || iequals(name, "EXISTS") || iequals(name, "UNLINK") || iequals(name, "TOUCH"))
    return SplitKind::sum;
  return SplitKind::none;
}

FanOut fan_out_kind(std::span<const std::string_view> argv) noexcept {
  if (argv.empty()) return FanOut::none;
  const std::string_view name = argv[0];
  if (iequals(name, "DBSIZE")) return FanOut::sum;
  if (iequals(name, "FLUSHALL") || iequals(name, "FLUSHDB")) return FanOut::same;
  if (argv.size() < 2) return FanOut::none;
  const std::string_view sub = argv[1];
  if (iequals(name, "SCRIPT") && (iequals(sub, "LOAD") || iequals(sub, "FLUSH"))) return FanOut::same;
  if (iequals(name, "FUNCTION") && (iequals(sub, "LOAD") || iequals(sub, "DELETE") || iequals(sub, "FLUSH") ||
                                    iequals(sub, "RESTORE")))
    return FanOut::same;
  return FanOut::none;
}

bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= text.size()) return false;
  std::string_view h = text.substr(0, colon);
  std::string_view p = text.substr(colon + 1);
  // Redis 7 may append "@cport" to an address in some replies.
  if (auto at = p.find('@'); at != std::string_view::npos) p = p.substr(0, at);
  unsigned v = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || end != p.data() + p.size() || v == 0 || v > 65535) return false;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  host.assign(h);
  port = static_cast<std::uint16_t>(v);
  return true;
}

std::optional<Redirect> parse_redirect(std::string_view msg) {
  Redirect r;
  if (msg.starts_with("MOVED ")) {
    msg.remove_prefix(6);
  } else if (msg.starts_with("ASK ")) {
    r.ask = true;
    msg.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  auto space = msg.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto slot = parse_count(msg.substr(0, space));
  if (!slot || *slot >= static_cast<std::size_t>(kClusterSlots)) return std::nullopt;
  r.slot = static_cast<int>(*slot);
  if (!split_host_port(msg.substr(space + 1), r.host, r.port)) return std::nullopt;
  return r;
}

Result<std::vector<SlotRange>> parse_cluster_slots(const Reply& reply, std::string_view asked_host) {
  auto bad = [](std::string what) {
    return Error{ErrorKind::protocol, "unexpected CLUSTER SLOTS reply: " + std::move(what)};
  };
  if (!reply.is_array()) return bad("not an array");
  auto node_of = [&](const Reply& n, std::string& host, std::uint16_t& port) {
    if (!n.is_array() || n.size() < 2 || !n[1].is_integer()) return false;
    if (!n[0].is_string() && !n[0].is_nil()) return false;
    host.assign(n[0].str());
    if (host.empty() || host == "?") host.assign(asked_host);
    const long long p = n[1].integer();
    if (p <= 0 || p > 65535) return false;
    port = static_cast<std::uint16_t>(p);
    return true;
  };
  std::vector<SlotRange> out;
  out.reserve(reply.size());
  for (const Reply& e : reply.elements()) {
    if (!e.is_array() || e.size() < 3 || !e[0].is_integer() || !e[1].is_integer())
      return bad("a range is not [start, end, master, ...]");
    SlotRange r;
    r.first = static_cast<int>(e[0].integer());
    r.last = static_cast<int>(e[1].integer());
    if (r.first < 0 || r.last >= kClusterSlots || r.first > r.last) return bad("slot range out of bounds");
    if (!node_of(e[2], r.host, r.port)) return bad("a master entry is not [host, port, ...]");
    for (std::size_t i = 3; i < e.size(); ++i) {
      std::pair<std::string, std::uint16_t> rep;
      if (node_of(e[i], rep.first, rep.second)) r.replicas.push_back(std::move(rep));
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace uvredis::detail
