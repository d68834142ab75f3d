#include <uvredis/options.hpp>

#include "sentinel_url.hpp"

#include <charconv>

namespace uvredis {

namespace {

Error bad(std::string_view text, std::string what) {
  (void)text;
  return Error{ErrorKind::usage, "invalid address: " + what};
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

// host[:port] or [v6][:port]; fills a.host / a.port.
Result<void> parse_host_port(std::string_view text, std::string_view hp, Address& a) {
  std::string_view host, port;
  if (!hp.empty() && hp.front() == '[') {
    auto close = hp.find(']');
    if (close == std::string_view::npos) return bad(text, "unclosed '[' in host '" + std::string(hp) + "'");
    host = hp.substr(1, close - 1);
    auto rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad(text, "unexpected '" + std::string(rest) + "' after ']'");
      port = rest.substr(1);
      if (port.empty()) return bad(text, "empty port");
    }
  } else {
    auto colon = hp.rfind(':');
    if (colon != std::string_view::npos && hp.find(':') != colon)
      return bad(text, "IPv6 host '" + std::string(hp) + "' must be written in brackets, as [::1]:6379");
    if (colon == std::string_view::npos) {
      host = hp;
    } else {
      host = hp.substr(0, colon);
      port = hp.substr(colon + 1);
      if (port.empty()) return bad(text, "empty port");
    }
  }
  if (host.empty()) return bad(text, "empty host");
  for (char c : host) {
    if (c == '/' || c == '@' || c == '?' || c == '#' || c == ' ' || static_cast<unsigned char>(c) < 0x21)
      return bad(text, "host '" + std::string(host) + "' contains '" + std::string(1, c) + "'");
  }
  a.host = std::string(host);
  if (!port.empty()) {
    unsigned p = 0;
    if (!parse_int(port, p) || p == 0 || p > 65535)
      return bad(text, "port '" + std::string(port) + "' is not a number from 1 to 65535");
    a.port = static_cast<std::uint16_t>(p);
  }
  return {};
}

Result<void> parse_db(std::string_view text, std::string_view db, Address& a) {
  int v = 0;
  if (!parse_int(db, v) || v < 0) return bad(text, "database '" + std::string(db) + "' is not a non-negative number");
  a.db = v;
  return {};
}

// Only "db=N" is understood in a query string.
Result<void> parse_query(std::string_view text, std::string_view q, Address& a) {
  return detail::for_each_param(q, [&](std::string_view key, std::string_view val) -> Result<void> {
    if (key != "db") return bad(text, "unknown parameter '" + std::string(key) + "' (only db=N is understood)");
    return parse_db(text, val, a);
  });
}

}  // namespace

namespace detail {
bool url_decode(std::string_view in, std::string& out) { return percent_decode(in, out); }

UrlParts split_url(std::string_view rest) {
  UrlParts u;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    u.query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    u.path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    u.userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
  }
  u.authority = rest;
  return u;
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
}  // namespace detail

Result<Address> Address::parse(std::string_view text) {
  Address a;
  if (text.empty()) return bad(text, "empty string");
  auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    if (auto r = parse_host_port(text, text, a); !r) return r.error();
    return a;
  }
  auto scheme = text.substr(0, scheme_end);
  auto rest = text.substr(scheme_end + 3);
  if (scheme == "unix") {
    a.kind = Kind::unix_socket;
    auto q = rest.find('?');
    auto path = rest.substr(0, q);
    if (path.empty() || path.front() != '/')
      return bad(text, "unix socket path '" + std::string(path) + "' must be absolute (unix:///path)");
    a.path = std::string(path);
    if (q != std::string_view::npos) {
      if (auto r = parse_query(text, rest.substr(q + 1), a); !r) return r.error();
    }
    return a;
  }
  if (scheme != "redis" && scheme != "rediss")
    return bad(text, "unknown scheme '" + std::string(scheme) + "' (expected redis, rediss or unix)");
  a.tls = scheme == "rediss";

  const detail::UrlParts u = detail::split_url(rest);
  const std::string_view query = u.query, path = u.path, userinfo = u.userinfo;
  rest = u.authority;
  if (!userinfo.empty()) {
    auto colon = userinfo.find(':');
    std::string_view user = userinfo.substr(0, colon);
    if (!percent_decode(user, a.username)) return bad(text, "bad %-escape in the user name");
    if (colon != std::string_view::npos) {
      if (!percent_decode(userinfo.substr(colon + 1), a.password))
        return bad(text, "bad %-escape in the password");
    }
  }
  if (auto r = parse_host_port(text, rest, a); !r) return r.error();
  if (!path.empty()) {
    if (auto r = parse_db(text, path, a); !r) return r.error();
  }
  if (!query.empty()) {
    if (auto r = parse_query(text, query, a); !r) return r.error();
  }
  return a;
}

std::string Address::to_string() const {
  std::string s;
  if (kind == Kind::unix_socket) {
    s = "unix://" + path;
    if (db) s += "?db=" + std::to_string(db);
    return s;
  }
  s = tls ? "rediss://" : "redis://";
  if (!username.empty() || !password.empty()) {
    s += username;
    if (!password.empty()) s += ":***";
    s += '@';
  }
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
