#include "client/sentinel_url.hpp"

// redis+sentinel://[user:pass@]host1[:port1][,host2[:port2]...]/master_name[/db]
//   [?sentinel_username=U&sentinel_password=P]
// The pieces that look like an ordinary address go through the parsers of
// Address::parse, so the rules (and the error messages) stay the same as for redis://.

namespace uvredis::detail {

namespace {

constexpr std::uint16_t kSentinelPort = 26379;

// The URL appears only as Address::redact shows it: the data nodes' password
// and the sentinels' (in the query) both stay out of the message.
Error bad(std::string_view url, const std::string& what) {
  return Error{ErrorKind::usage, "invalid sentinel URL '" + Address::redact(url) + "': " + what};
}

Result<void> parse_query(std::string_view url, std::string_view q, SentinelOptions& s) {
  std::size_t n = 0;
  return for_each_param(q, [&](std::string_view key, std::string_view val) -> Result<void> {
    ++n;
    std::string* dst = nullptr;
    if (key == "sentinel_username")
      dst = &s.username;
    else if (key == "sentinel_password")
      dst = &s.password;
    else  // by position: after an unescaped '&' in a password, the "key" is a piece of it
      return bad(url, "unknown parameter #" + std::to_string(n) +
                          " of the query (understood: sentinel_username, sentinel_password; write a '&' in a "
                          "value as %26)");
    if (!url_decode(val, *dst)) return bad(url, "bad %-escape in " + std::string(key) + " (write a '%' as %25)");
    return {};
  });
}

}  // namespace

Result<ClientOptions> parse_sentinel_url(std::string_view url) {
  constexpr std::string_view scheme = "redis+sentinel://";
  std::string_view rest = url.substr(scheme.size());
  ClientOptions o;

  std::string_view query;
  if (auto q = sentinel_query_start(rest); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const UrlParts u = split_url(rest);
  if (!u.query.empty()) return bad(url, "a '?' after the sentinel addresses that starts no known parameter");
  const std::string_view path = u.path;
  rest = u.authority;

  // path: master_name[/db]
  std::string_view name = path.substr(0, path.find('/'));
  std::string_view db;
  if (auto s = path.find('/'); s != std::string_view::npos) {
    db = path.substr(s + 1);
    if (db.empty()) return bad(url, "empty database after the master name");
  }
  if (name.empty()) return bad(url, "no master name (expected redis+sentinel://host:port/master_name)");
  if (!url_decode(name, o.sentinel.master_name)) return bad(url, "bad %-escape in the master name");

  // The data nodes' credentials and db, by the same rules as redis:// URLs.
  if (auto r = parse_userinfo(u.userinfo, o.address); !r) return bad(url, r.error().message);
  if (!db.empty()) {
    if (auto r = parse_db(db, o.address); !r) return bad(url, r.error().message);
  }

  if (rest.empty()) return bad(url, "no sentinel address");
  for (std::size_t n = 1;; ++n) {
    auto comma = rest.find(',');
    std::string_view hp = rest.substr(0, comma);
    if (hp.empty()) return bad(url, "sentinel #" + std::to_string(n) + " of the list is empty");
    Address s;
    s.port = kSentinelPort;  // kept when the entry names no port
    if (auto r = parse_host_port(hp, s); !r)
      return bad(url, "sentinel #" + std::to_string(n) + " of the list: " + r.error().message);
    o.sentinel.sentinels.push_back(std::move(s));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (auto r = parse_query(url, query, o.sentinel); !r) return r.error();
  return o;
}

}  // namespace uvredis::detail
