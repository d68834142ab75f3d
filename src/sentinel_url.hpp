#pragma once
// The redis+sentinel:// URL form of ClientOptions (see options.hpp).

#include <uvredis/options.hpp>

#include <string>
#include <string_view>

namespace uvredis::detail {

/// Parses `redis+sentinel://[user:pass@]h1[:p1][,h2[:p2]...]/name[/db][?query]`.
Result<ClientOptions> parse_sentinel_url(std::string_view url);

/// %XX decoding shared with Address::parse; false on a malformed escape.
bool url_decode(std::string_view in, std::string& out);

}  // namespace uvredis::detail
