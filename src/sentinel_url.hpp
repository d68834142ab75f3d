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
/// (each empty when absent; the userinfo ends at the last '@').
struct UrlParts {
  std::string_view userinfo;
  std::string_view authority;
  std::string_view path;
  std::string_view query;
};
/// Shared by Address::parse and parse_sentinel_url.
UrlParts split_url(std::string_view rest);

/// Calls `fn(key, value)` for each `key=value` of a query string (value
/// empty without '='), in order; stops at the first error `fn` returns.
Result<void> for_each_param(std::string_view query,
                            const std::function<Result<void>(std::string_view, std::string_view)>& fn);

}  // namespace uvredis::detail
