#include "protocol/cluster_keys.hpp"

#include "protocol/command_table.hpp"
#include "protocol/encode.hpp"

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
  const CommandFacts* facts = find_command(argv[0]);
  // Commands without a row take argv[1] as their key: a wrong guess only
  // costs one MOVED redirection.
  switch (facts != nullptr ? facts->keys : KeyShape::first) {
    case KeyShape::first: return n >= 2 ? range(1, 1) : KeyRange{};
    case KeyShape::none: return {};
    case KeyShape::all: return n >= 2 ? range(1, n - 1) : KeyRange{};
    case KeyShape::all_but_last: return n >= 3 ? range(1, n - 2) : KeyRange{};
    case KeyShape::two: return n >= 3 ? range(1, 2) : (n == 2 ? range(1, 1) : KeyRange{});
    case KeyShape::pairs: return n >= 3 ? range(1, n - 2 - (n - 1) % 2, 2) : KeyRange{};
    case KeyShape::from2: return n >= 3 ? range(2, n - 1) : KeyRange{};
    case KeyShape::second: return n >= 3 ? range(2, 2) : KeyRange{};
    case KeyShape::numkeys1: return numkeys_at(argv, 1);
    case KeyShape::numkeys2: return numkeys_at(argv, 2);
    case KeyShape::dest_numkeys2: {
      KeyRange r = numkeys_at(argv, 2);
      if (n >= 2) r.extra = 1;
      return r;
    }
    case KeyShape::streams: {
      // XREADGROUP's group and consumer names (argv[2], argv[3]) and the
      // values of COUNT and BLOCK are not keywords: a group named "streams"
      // must not be taken for STREAMS.
      for (std::size_t i = facts->options_at; i < n; ++i) {
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
    case KeyShape::subcommand_key: {
      // One list for DEBUG, MEMORY, XGROUP and XINFO alike: a subcommand
      // of another one is an error the server reports wherever it goes.
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
  const CommandFacts* facts = find_command(name);
  return facts != nullptr ? facts->split : SplitKind::none;
}

FanOut fan_out_kind(std::span<const std::string_view> argv) noexcept {
  if (argv.empty()) return FanOut::none;
  const CommandFacts* facts = find_command(argv[0]);
  if (facts == nullptr || facts->fan_out == FanOut::none) return FanOut::none;
  if (facts->fan_out_subs.empty()) return facts->fan_out;
  return argv.size() >= 2 && in_word_list(facts->fan_out_subs, argv[1]) ? facts->fan_out : FanOut::none;
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
