#pragma once
// Helpers shared by the decoder translation units. No I/O.

#include <uvredis/decode.hpp>

namespace uvredis::decode {

/// A number element (bulk string, status or integer) -> double.
Result<double> detail_to_double(const Reply& r);

}  // namespace uvredis::decode
