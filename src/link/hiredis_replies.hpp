#pragma once
// The reply side of the hiredis glue (see hiredis_replies.cpp).

#include <uvredis/reply.hpp>

extern "C" {
#include <hiredis/hiredis.h>
}

namespace uvredis::detail {

/// Reader functions that build uvredis::Reply objects directly and refuse a
/// reply no command waits for (the reader's privdata is the Connection).
redisReplyObjectFunctions* reply_functions();

}  // namespace uvredis::detail
