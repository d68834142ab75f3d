#pragma once
// SHA-1 (FIPS 180-4), only for naming Lua scripts the way the server does
// (EVALSHA). Not for anything that needs collision resistance. Pure code,
// no I/O, any thread.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace uvredis::detail {

class Sha1 {
 public:
  Sha1() noexcept { reset(); }
  void reset() noexcept;
  void update(std::string_view data) noexcept;
  /// Finishes the digest; the object must be reset() before reuse.
  std::array<std::uint8_t, 20> finish() noexcept;

 private:
  void block(const std::uint8_t* p) noexcept;

  std::uint32_t h_[5];
  std::uint8_t buf_[64];
  std::size_t used_ = 0;     // bytes waiting in buf_
  std::uint64_t length_ = 0;  // message length in bytes
};

/// Lower-case hex SHA-1 of `data` (40 characters), as SCRIPT LOAD reports it.
std::string sha1_hex(std::string_view data);

}  // namespace uvredis::detail
