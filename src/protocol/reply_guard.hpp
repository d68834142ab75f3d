#pragma once
// Watches the bytes of a RESP2 reply stream before hiredis' reader buffers
// them, and refuses an element that announces more than a limit: a bulk
// string longer than it, an aggregate with more elements, or a status or
// error line that runs on past it. hiredis 0.14 would otherwise wait for the
// announced bulk to arrive in full, buffering a hostile or broken server's
// trickle without bound. No I/O: fed the stream in any pieces, it keeps its
// place between them.

#include <cstddef>
#include <cstdint>
#include <string>

namespace uvredis::detail {

class ReplyGuard {
 public:
  explicit ReplyGuard(std::size_t max_element) : max_(max_element) {}

  /// Looks at the next `n` bytes of the stream. False once an element is
  /// over the limit; `why` then says which (the stream is useless after it),
  /// and good_bytes() how many bytes of this piece came before that element
  /// (complete replies a reader may still take).
  bool scan(const char* p, std::size_t n, std::string& why);
  std::size_t good_bytes() const noexcept { return good_; }

  /// A new stream (a new link).
  void reset() noexcept {
    state_ = State::type;
    num_ = 0;
    left_ = 0;
  }

 private:
  enum class State : std::uint8_t { type, line, header, header_minus, bulk, unknown };

  bool fast_item(const char*& p, const char* end);
  bool too_big(std::string& why) const;
  bool refuse(std::ptrdiff_t good, std::string& why);

  std::size_t max_;
  State state_ = State::type;
  char kind_ = 0;
  std::uint64_t num_ = 0;   // header: the count so far; line: its length so far
  std::uint64_t left_ = 0;  // bulk: payload bytes and CRLF still to pass
  std::size_t good_ = 0;    // after a refusal: bytes of the piece before the element
};

}  // namespace uvredis::detail
