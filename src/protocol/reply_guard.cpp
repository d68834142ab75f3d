#include "protocol/reply_guard.hpp"

#include <algorithm>
#include <cstring>

namespace uvredis::detail {

bool ReplyGuard::refuse(std::ptrdiff_t good, std::string& why) {
  good_ = static_cast<std::size_t>(good);
  return too_big(why);
}

bool ReplyGuard::too_big(std::string& why) const {
  const char* what = kind_ == '$' ? "a bulk string longer than" : kind_ == '*' ? "an aggregate of more elements than"
                                                                              : "a status or error line longer than";
  why = "protocol error: the server announced " + std::string(what) + " max_reply_element (" + std::to_string(max_) +
        ")";
  return false;
}

// The common case in one go: an item whose header (or whole line) is in
// this piece and within the limit. Advances p past the header and as much of
// a bulk payload as is here; false leaves everything to the byte-wise path
// (a split header, a refusal, anything unusual).
bool ReplyGuard::fast_item(const char*& p, const char* end) {
  const char k = *p;
  const char* q = p + 1;
  if (k == '$' || k == '*') {
    std::uint64_t n = 0;
    const char* digits = q;
    while (q < end && static_cast<unsigned char>(*q - '0') < 10 && q - digits < 18) n = n * 10 + static_cast<unsigned>(*q++ - '0');
    if (q == digits || q + 1 >= end || q[0] != '\r' || q[1] != '\n' || n > max_) {
      // "$-1" / "*-1" (null), a split header or a refusal: the slow path.
      return false;
    }
    q += 2;
    if (k == '$') {
      const std::uint64_t want = n + 2;
      const auto have = static_cast<std::uint64_t>(end - q);
      if (have < want) {
        state_ = State::bulk;
        left_ = want - have;
        p = end;
        return true;
      }
      q += want;
    }
    p = q;
    return true;
  }
  if (k == '+' || k == '-' || k == ':') {
    // Short lines by hand (a call to memchr costs more than "+OK\r\n").
    const char* stop = end - q > 64 ? q + 64 : end;
    while (q < stop && *q != '\n') ++q;
    if (q == stop || static_cast<std::uint64_t>(q - p) > max_ + 2) return false;
    p = q + 1;
    return true;
  }
  return false;
}

bool ReplyGuard::scan(const char* p, std::size_t n, std::string& why) {
  const char* const begin = p;
  const char* const end = p + n;
  const char* element = begin;  // where the element under way began (or the piece, if earlier)
  while (p < end) {
    if (state_ == State::type && fast_item(p, end)) continue;
    switch (state_) {
      case State::type:
        element = p;
        kind_ = *p++;
        num_ = 0;
        if (kind_ == '$' || kind_ == '*') {
          state_ = State::header;
        } else if (kind_ == '+' || kind_ == '-' || kind_ == ':') {
          state_ = State::line;
        } else {
          // Not RESP2: hiredis' parser reports the protocol error itself.
          state_ = State::unknown;
        }
        break;
      case State::line: {
        const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
        const char* stop = nl ? static_cast<const char*>(nl) + 1 : end;
        num_ += static_cast<std::uint64_t>(stop - p);
        p = stop;
        if (num_ > max_ + 2) return refuse(element - begin, why);
        if (nl) state_ = State::type;
        break;
      }
      case State::header:
      case State::header_minus: {
        const char c = *p++;
        if (c >= '0' && c <= '9') {
          if (state_ == State::header_minus) {
            num_ = 0;  // -1 (null): no payload, whatever digits follow
            continue;
          }
          if (num_ > (UINT64_MAX - 9) / 10) return refuse(element - begin, why);
          num_ = num_ * 10 + static_cast<std::uint64_t>(c - '0');
          // Refuse as soon as the digits say so: a server that trickles the
          // rest of the header gains nothing.
          if (num_ > max_) return refuse(element - begin, why);
        } else if (c == '-' && num_ == 0) {
          state_ = State::header_minus;
        } else if (c == '\n') {
          if (kind_ == '$' && state_ == State::header) {
            left_ = num_ + 2;
            state_ = State::bulk;
          } else {
            state_ = State::type;  // aggregate: its elements follow as items of their own
          }
        } else if (c != '\r') {
          state_ = State::unknown;
        }
        break;
      }
      case State::bulk: {
        const auto take = std::min<std::uint64_t>(left_, static_cast<std::uint64_t>(end - p));
        p += take;
        left_ -= take;
        if (left_ == 0) state_ = State::type;
        break;
      }
      case State::unknown:
        return true;
    }
  }
  return true;
}

}  // namespace uvredis::detail
