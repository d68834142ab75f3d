#pragma once
// The redis+sentinel:// URL form of ClientOptions (see options.hpp).

#include <uvredis/options.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace uvredis::detail {

/// Parses `redis+sentinel://[user:pass@]h1[:p1][,h2[:p2]...]/name[/db][?query]`.
Result<ClientOptions> parse_sentinel_url(std::string_view url);

/// %XX decoding shared with Address::parse; false on a malformed escape.
bool url_decode(std::string_view in, std::string& out);

/// The parts of what follows "scheme://": `userinfo@authority/path?query`
/// (each empty when absent). The userinfo ends at the LAST '@' of the text,
/// so a password may hold '/', '?', '#', '&' or '@' unescaped.
struct UrlParts {
  std::string_view userinfo;
  std::string_view authority;
  std::string_view path;
  std::string_view query;
};
/// Shared by Address::parse and parse_sentinel_url.
UrlParts split_url(std::string_view rest);

/// Where the query of a sentinel URL (`rest` follows "redis+sentinel://")
/// starts ('?'), or npos. Its sentinel_password may hold '@', so the split
/// must not begin with the last '@' as split_url does.
std::size_t sentinel_query_start(std::string_view rest);

// The pieces of Address::parse that the sentinel URL parser shares. Their
// errors (kind usage) are bare ("the port is not a number ...") and never
// repeat the text: the caller prefixes them with a redacted form or a position.

/// `user[:password]`, %-decoded, into a.username / a.password.
Result<void> parse_userinfo(std::string_view userinfo, Address& a);
/// `host[:port]` or `[v6][:port]` into a.host / a.port (a.port kept without one).
Result<void> parse_host_port(std::string_view host_port, Address& a);
/// A database number into a.db.
Result<void> parse_db(std::string_view db, Address& a);

/// Calls `fn(key, value)` for each `key=value` of a query string (value
/// empty without '='), in order; stops at the first error `fn` returns.
Result<void> for_each_param(std::string_view query,
                            const std::function<Result<void>(std::string_view, std::string_view)>& fn);

}  // namespace uvredis::detail
