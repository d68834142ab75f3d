#pragma once
// What a link says first, without I/O: the handshake plan built from a
// connection's config (AUTH, SELECT, CLIENT SETNAME, READONLY and the ROLE
// check of a cluster replica, the ROLE check of a sentinel-found master, the
// owner's extra steps, and a PING over TLS when nothing else would make a
// round trip), each step with what to call it in an error and how to judge
// its reply. connection_link.cpp sends the plan; the link machine counts it.
//
// Loop-thread only (extra_handshake is the owner's callback).

#include "link/connection_config.hpp"

#include <uvredis/reply.hpp>

#include <functional>
#include <string>
#include <vector>

namespace uvredis::detail {

/// The steps of one handshake, in the order they are sent, each with its
/// `what` filled in. Calls cfg.extra_handshake (once) when set.
std::vector<HandshakeStep> handshake_plan(const ConnectionConfig& cfg);

/// Why a cluster link (READONLY) should not serve reads, from its ROLE
/// reply: empty for a master or a replica whose master link is `connected`.
std::string replica_link_problem(const Reply& role);

/// Empty when a ROLE reply says "master", else what it says instead.
std::string role_is_not_master(const Reply& role);

}  // namespace uvredis::detail
