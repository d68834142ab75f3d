#include "sentinel_url.hpp"

// redis+sentinel://[user:pass@]host1[:port1][,host2[:port2]...]/master_name[/db]
//   [?sentinel_username=U&sentinel_password=P]
// The pieces that look like an ordinary address are handed to Address::parse,
// so the rules (and the error messages) stay the same as for redis://.

namespace uvredis::detail {

namespace {

constexpr std::uint16_t kSentinelPort = 26379;

Error bad(std::string what) { return Error{ErrorKind::usage, "invalid sentinel URL: " + std::move(what)}; }

// "host", "[v6]" have no port; "host:1", "[v6]:1" do.
bool has_port(std::string_view hp) {
  if (!hp.empty() && hp.front() == '[') return hp.back() != ']';
  return hp.find(':') != std::string_view::npos;
}

Result<void> parse_query(std::string_view q, SentinelOptions& s) {
  return for_each_param(q, [&](std::string_view key, std::string_view val) -> Result<void> {
    std::string* dst = nullptr;
    if (key == "sentinel_username")
      dst = &s.username;
    else if (key == "sentinel_password")
      dst = &s.password;
    else
      return bad("unknown parameter '" + std::string(key) +
                 "' (understood: sentinel_username, sentinel_password)");
    if (!url_decode(val, *dst)) return bad("bad %-escape in " + std::string(key));
    return {};
  });
}

}  // namespace

Result<ClientOptions> parse_sentinel_url(std::string_view url) {
  constexpr std::string_view scheme = "redis+sentinel://";
  std::string_view rest = url.substr(scheme.size());
  ClientOptions o;

  const UrlParts u = split_url(rest);
  const std::string_view query = u.query, path = u.path, userinfo = u.userinfo;
  rest = u.authority;

  // path: master_name[/db]
  std::string_view name = path.substr(0, path.find('/'));
  std::string_view db;
  if (auto s = path.find('/'); s != std::string_view::npos) {
    db = path.substr(s + 1);
    if (db.empty()) return bad("empty database after the master name");
  }
  if (name.empty()) return bad("no master name (expected redis+sentinel://host:port/master_name)");
  if (!url_decode(name, o.sentinel.master_name)) return bad("bad %-escape in the master name");

  // The data nodes' credentials and db, through the ordinary parser.
  std::string data = "redis://";
  if (!userinfo.empty()) data += std::string(userinfo) + "@";
  data += "127.0.0.1";
  if (!db.empty()) {
    data += '/';  // not "/" + std::string(db): GCC 12 -O3 warns falsely (-Wrestrict)
    data += db;
  }
  auto a = Address::parse(data);
  if (!a) return bad(a.error().message);
  o.address = std::move(*a);

  if (rest.empty()) return bad("no sentinel address");
  while (true) {
    auto comma = rest.find(',');
    std::string_view hp = rest.substr(0, comma);
    if (hp.empty()) return bad("empty sentinel address in the list");
    auto s = Address::parse(hp);
    if (!s) return bad("sentinel '" + std::string(hp) + "': " + s.error().message);
    if (!has_port(hp)) s->port = kSentinelPort;
    o.sentinel.sentinels.push_back(std::move(*s));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (auto r = parse_query(query, o.sentinel); !r) return r.error();
  return o;
}

}  // namespace uvredis::detail
