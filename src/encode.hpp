#pragma once
// RESP encoding of a command: the bytes a server expects for an argv.
// No I/O; the connection appends to its own output buffer.

#include <span>
#include <string>
#include <string_view>

namespace uvredis::detail {

/// Appends `*N\r\n$len\r\narg\r\n...` for argv to out; returns bytes added.
std::size_t encode_command(std::string& out, std::span<const std::string_view> argv);

/// Appends one RESP header: `*N\r\n` or `$N\r\n`.
void encode_header(std::string& out, char kind, std::size_t n);

/// Case-insensitive ASCII comparison of a command name.
bool iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace uvredis::detail
