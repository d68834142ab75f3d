#include <uvredis/options.hpp>

#include "client/sentinel_url.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>

namespace uvredis {

namespace {

// Every parse error carries Address::redact's form of the text, never the text
// itself: a password that breaks the syntax must not come back in the message.
Error bad(std::string_view text, const Error& what) {
  return Error{ErrorKind::usage, "invalid address '" + Address::redact(text) + "': " + what.message};
}

Error usage(std::string what) { return Error{ErrorKind::usage, std::move(what)}; }

// ASCII classes by hand: <cctype> depends on the locale.
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
// A host name or IPv4 literal: what DNS and inet_pton accept, nothing else.
bool is_host_char(char c) { return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_'; }
bool is_scheme_char(char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.'; }

bool all_of(std::string_view s, bool (*pred)(char)) {
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]);
    int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

template <class Int>
bool parse_int(std::string_view s, Int& v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_port(std::string_view s, std::uint16_t& port) {
  unsigned p = 0;
  if (!parse_int(s, p) || p == 0 || p > 65535) return false;
  port = static_cast<std::uint16_t>(p);
  return true;
}

// What goes between brackets: an IPv6 address, optionally with a zone
// ("fe80::1%eth0"). Nothing else, so that to_string() always parses back.
bool is_ipv6_literal(std::string_view s) {
  auto pct = s.find('%');
  std::string_view addr = s.substr(0, pct);
  if (pct != std::string_view::npos) {
    std::string_view zone = s.substr(pct + 1);
    if (zone.empty() || !all_of(zone, is_host_char)) return false;
  }
  char buf[INET6_ADDRSTRLEN];
  if (addr.empty() || addr.size() >= sizeof buf) return false;
  addr.copy(buf, addr.size());
  buf[addr.size()] = '\0';
  in6_addr out{};
  return inet_pton(AF_INET6, buf, &out) == 1;
}

// "scheme" of "scheme://rest"; empty when the text has none. A prefix with
// other characters than a scheme's ("user:pass@h://") is no scheme.
std::string_view scheme_of(std::string_view text) {
  auto end = text.find("://");
  if (end == std::string_view::npos || end == 0) return {};
  std::string_view s = text.substr(0, end);
  if (!is_alpha(s.front()) || !all_of(s, is_scheme_char)) return {};
  return s;
}

bool known_scheme(std::string_view s) {
  return s == "redis" || s == "rediss" || s == "unix" || s == "redis+sentinel";
}

// An unknown "scheme" followed by an '@' may as well be the start of a
// password ("pw://x@host"): then it is shown as part of the credentials.
bool shows_scheme(std::string_view text, std::string_view scheme) {
  return !scheme.empty() && (known_scheme(scheme) || text.find('@', scheme.size()) == std::string_view::npos);
}

// The credentials of unix://user:pass@/path end at the last '@', as in the
// other schemes (so a path after credentials cannot hold an '@'); a path
// right after "unix://" has none.
std::size_t unix_credentials_end(std::string_view rest) {
  if (!rest.empty() && rest.front() == '/') return std::string_view::npos;
  return rest.rfind('@');
}

// Only "db=N" is understood in a query string. Keys are never echoed: with an
// unescaped '&' in a password, a "key" is a piece of that password.
Result<void> parse_query(std::string_view q, Address& a) {
  std::size_t n = 0;
  return detail::for_each_param(q, [&](std::string_view key, std::string_view val) -> Result<void> {
    ++n;
    if (key != "db")
      return usage("unknown parameter #" + std::to_string(n) + " of the query (only db=N is understood)");
    return detail::parse_db(val, a);
  });
}

// "host", "[v6]" or a number from 1 to 65535 and nothing else is shown.
std::string redact_host_port(std::string_view hp) {
  std::string out;
  std::string_view port;
  bool has_port = false;
  if (!hp.empty() && hp.front() == '[') {
    auto close = hp.find(']');
    if (close == std::string_view::npos) return "***";
    std::string_view inner = hp.substr(1, close - 1);
    out = is_ipv6_literal(inner) ? "[" + std::string(inner) + "]" : "[***]";
    std::string_view rest = hp.substr(close + 1);
    if (rest.empty()) return out;
    if (rest.front() != ':') return out + "***";
    has_port = true;
    port = rest.substr(1);
  } else {
    auto colon = hp.find(':');
    if (colon != std::string_view::npos && hp.find(':', colon + 1) != std::string_view::npos) return "***";
    std::string_view host = hp.substr(0, colon);
    if (!host.empty()) out = all_of(host, is_host_char) ? std::string(host) : "***";
    has_port = colon != std::string_view::npos;
    if (has_port) port = hp.substr(colon + 1);
  }
  if (has_port) {
    std::uint16_t p = 0;
    out += ':';
    out += parse_port(port, p) ? std::string(port) : "***";
  }
  return out;
}

std::string redact_query(std::string_view q) {
  if (q.empty()) return "?";
  if (q.starts_with("db=") && q.size() > 3 && all_of(q.substr(3), is_digit)) return "?" + std::string(q);
  return "?***";
}

}  // namespace

namespace detail {
bool url_decode(std::string_view in, std::string& out) { return percent_decode(in, out); }

UrlParts split_url(std::string_view rest) {
  UrlParts u;
  // The credentials end at the LAST '@': a password may hold '/', '?', '#',
  // '&' or '@' unescaped (generated ones often do) and still stays one piece.
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    u.userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
  }
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    u.query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    u.path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  u.authority = rest;
  return u;
}

std::size_t sentinel_query_start(std::string_view rest) {
  // The sentinels' password in the query may hold '@' (or '/', '?'), so the
  // query starts at the '?' before the first understood key when there is
  // one; otherwise at the first '?' after the credentials.
  const std::size_t k = std::min(rest.find("sentinel_username="), rest.find("sentinel_password="));
  if (k != std::string_view::npos) {
    if (auto q = rest.rfind('?', k); q != std::string_view::npos) return q;
  }
  const auto at = rest.rfind('@');
  return rest.find('?', at == std::string_view::npos ? 0 : at + 1);
}

Result<void> for_each_param(std::string_view q,
                            const std::function<Result<void>(std::string_view, std::string_view)>& fn) {
  while (!q.empty()) {
    auto amp = q.find('&');
    auto item = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    auto eq = item.find('=');
    auto key = item.substr(0, eq);
    auto val = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (auto r = fn(key, val); !r) return r;
  }
  return {};
}

Result<void> parse_userinfo(std::string_view userinfo, Address& a) {
  auto colon = userinfo.find(':');
  if (!percent_decode(userinfo.substr(0, colon), a.username))
    return usage("bad %-escape in the user name (write a '%' as %25)");
  if (colon != std::string_view::npos && !percent_decode(userinfo.substr(colon + 1), a.password))
    return usage("bad %-escape in the password (write a '%' as %25)");
  return {};
}

Result<void> parse_host_port(std::string_view hp, Address& a) {
  std::string_view host, port;
  bool has_port = false;
  if (!hp.empty() && hp.front() == '[') {
    auto close = hp.find(']');
    if (close == std::string_view::npos) return usage("a '[' without its ']' in the host");
    host = hp.substr(1, close - 1);
    if (!is_ipv6_literal(host))
      return usage("the host in brackets is not an IPv6 address (brackets are for IPv6 only, as in [::1]:6379)");
    auto rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return usage("unexpected text after ']' (expected :port)");
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    auto colon = hp.find(':');
    if (colon != std::string_view::npos && hp.find(':', colon + 1) != std::string_view::npos)
      return usage("more than one ':' after the host (an IPv6 host is written in brackets, as [::1]:6379)");
    host = hp.substr(0, colon);
    if (host.empty()) return usage("empty host");
    for (std::size_t i = 0; i < host.size(); ++i) {
      if (is_host_char(host[i])) continue;
      // One character is shown, and only a visible ASCII one: it says what is
      // wrong without giving away more of a password typed in the wrong place.
      const char c = host[i];
      const std::string what = c > 0x20 && c < 0x7f ? "'" + std::string(1, c) + "'" : "a space or a non-ASCII byte";
      return usage("the host contains " + what + " at position " + std::to_string(i + 1) +
                   " (a host name or IP address has letters, digits, '-', '.' and '_' only)");
    }
    has_port = colon != std::string_view::npos;
    if (has_port) port = hp.substr(colon + 1);
  }
  if (has_port) {
    if (port.empty()) return usage("empty port after ':'");
    if (!parse_port(port, a.port)) return usage("the port is not a number from 1 to 65535");
  }
  a.host = std::string(host);
  return {};
}

Result<void> parse_db(std::string_view db, Address& a) {
  int v = 0;
  if (!parse_int(db, v) || v < 0) return usage("the database is not a number from 0 to 2147483647");
  a.db = v;
  return {};
}
}  // namespace detail

namespace {

Result<void> parse_into(std::string_view text, Address& a) {
  const std::string_view scheme = scheme_of(text);
  if (scheme.empty()) {
    // "user:pass@host:port" with the scheme forgotten: everything up to the
    // last '@' is credentials, which only a URL may carry.
    if (text.find('@') != std::string_view::npos)
      return usage("credentials (user:password@) need the URL form redis://user:password@host:port");
    return detail::parse_host_port(text, a);
  }
  std::string_view rest = text.substr(scheme.size() + 3);
  if (scheme == "unix") {
    a.kind = Address::Kind::unix_socket;
    std::string_view userinfo;
    if (!rest.empty() && rest.front() != '/') {
      auto at = unix_credentials_end(rest);
      if (at == std::string_view::npos)
        return usage("the unix socket path must be absolute, as unix:///run/redis.sock or "
                     "unix://user:password@/run/redis.sock");
      userinfo = rest.substr(0, at);
      rest = rest.substr(at + 1);
    }
    auto q = rest.find('?');
    std::string_view path = rest.substr(0, q);
    if (path.empty()) return usage("empty unix socket path (expected unix:///run/redis.sock)");
    if (path.front() != '/')
      return usage("the unix socket path after the credentials must be absolute, as "
                   "unix://user:password@/run/redis.sock");
    if (auto r = detail::parse_userinfo(userinfo, a); !r) return r;
    a.path = std::string(path);
    if (q != std::string_view::npos) return parse_query(rest.substr(q + 1), a);
    return {};
  }
  if (scheme != "redis" && scheme != "rediss") {
    std::string hint = scheme == "redis+sentinel" ? "; a sentinel URL goes to ClientOptions::from_url" : "";
    const std::string named = shows_scheme(text, scheme) ? " '" + std::string(scheme) + "'" : "";
    return usage("unknown scheme" + named + " (expected redis://, rediss:// or unix://" + hint + ")");
  }
  a.tls = scheme == "rediss";
  const detail::UrlParts u = detail::split_url(rest);
  if (auto r = detail::parse_userinfo(u.userinfo, a); !r) return r;
  if (auto r = detail::parse_host_port(u.authority, a); !r) return r;
  if (!u.path.empty()) {
    if (auto r = detail::parse_db(u.path, a); !r) return r;
  }
  if (!u.query.empty()) return parse_query(u.query, a);
  return {};
}

}  // namespace

Result<Address> Address::parse(std::string_view text) {
  if (text.empty()) return usage("invalid address: empty string");
  Address a;
  if (auto r = parse_into(text, a); !r) return bad(text, r.error());
  return a;
}

std::string Address::redact(std::string_view text) {
  std::string out;
  std::string_view scheme = scheme_of(text);
  if (!shows_scheme(text, scheme)) scheme = {};
  std::string_view rest = text;
  if (!scheme.empty()) {
    out.append(scheme).append("://");
    rest = text.substr(scheme.size() + 3);
  }
  if (scheme == "unix") {
    if (!rest.empty() && rest.front() != '/') {
      auto at = unix_credentials_end(rest);
      if (at == std::string_view::npos) return out + "***";
      out += "***@";
      rest = rest.substr(at + 1);
      if (!rest.empty() && rest.front() != '/') return out + "***";
    }
    // An absolute path after the credentials (if any) holds none of them.
    auto q = rest.find('?');
    out += rest.substr(0, q);
    if (q != std::string_view::npos) out += redact_query(rest.substr(q + 1));
    return out;
  }
  // Same split as the parsers: a sentinel URL's query first (it may hold the
  // sentinels' password), then credentials up to the last '@', also without
  // a scheme.
  const bool sentinel = scheme == "redis+sentinel";
  bool has_query = false;
  if (sentinel) {
    if (auto q = detail::sentinel_query_start(rest); q != std::string_view::npos) {
      has_query = true;
      rest = rest.substr(0, q);
    }
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    out += "***@";
    rest = rest.substr(at + 1);
  }
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    has_query = true;
    query = sentinel ? std::string_view("***") : rest.substr(q + 1);
    rest = rest.substr(0, q);
  } else if (has_query) {
    query = "***";
  }
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (sentinel) {
    // A list of addresses: each one on its own.
    for (bool first = true;; first = false) {
      auto comma = authority.find(',');
      if (!first) out += ',';
      out += redact_host_port(authority.substr(0, comma));
      if (comma == std::string_view::npos) break;
      authority = authority.substr(comma + 1);
    }
  } else {
    out += redact_host_port(authority);
  }
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash + 1);
    out += '/';
    if (!path.empty()) out += all_of(path, is_digit) ? std::string(path) : std::string("***");
  }
  if (has_query) out += redact_query(query);
  return out;
}

std::string Address::to_string() const {
  std::string s;
  const bool credentials = !username.empty() || !password.empty();
  if (kind == Kind::unix_socket) {
    s = credentials ? "unix://***@" : "unix://";
    s += path;
    if (db) s += "?db=" + std::to_string(db);
    return s;
  }
  s = tls ? "rediss://" : "redis://";
  if (credentials) s += "***@";
  if (host.find(':') != std::string::npos)
    s += "[" + host + "]";
  else
    s += host;
  s += ':' + std::to_string(port);
  if (db) s += '/' + std::to_string(db);
  return s;
}

bool tls_supported() noexcept {
#ifdef UVREDIS_HAVE_TLS
  return true;
#else
  return false;
#endif
}

Result<ClientOptions> ClientOptions::from_url(std::string_view url) {
  if (url.starts_with("redis+sentinel://")) return detail::parse_sentinel_url(url);
  auto a = Address::parse(url);
  if (!a) return a.error();
  ClientOptions o;
  o.address = std::move(*a);
  return o;
}

}  // namespace uvredis
