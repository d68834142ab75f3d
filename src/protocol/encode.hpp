#pragma once
// Layer protocol (src/protocol/): what the bytes mean, with no I/O: RESP
// encoding of commands, adapters between reply callbacks, decoding replies
// into typed results, Reply trees, the reply-size guard, the one table of
// command facts (command_table) and what is read from it (command_info,
// cluster_keys for key slots and splits, cluster_reads for replica-readable
// commands). May include: base.
//
// RESP encoding of a command: the bytes a server expects for an argv.
// No I/O; the connection appends to its own output buffer.

#include "base/byte_buffer.hpp"

#include <span>
#include <string>
#include <string_view>

namespace uvredis::detail {

/// Appends `*N\r\n$len\r\narg\r\n...` for argv to out; returns bytes added.
std::size_t encode_command(std::string& out, std::span<const std::string_view> argv);
std::size_t encode_command(ByteBuffer& out, std::span<const std::string_view> argv);

/// Appends one RESP header: `*N\r\n` or `$N\r\n`.
void encode_header(std::string& out, char kind, std::size_t n);

/// Case-insensitive ASCII comparison of a command name.
bool iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace uvredis::detail
