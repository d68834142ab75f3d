#pragma once
/// @file detail/args.hpp
/// Internal: builds the argv of a typed command and records the first usage
/// error found on the way (an empty key list, a NaN score ...), so that the
/// command table stays a list of one-screen methods. Numbers are formatted
/// into storage the builder owns; string arguments are views of the caller's
/// bytes, valid for the duration of the call. No I/O. Not part of the stable
/// API.

#include <uvredis/command_args.hpp>
#include <uvredis/error.hpp>
#include <uvredis/export.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <forward_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis::detail {

class UVREDIS_API Args {
 public:
  /// Starts an argv with the command name (a string literal or other
  /// storage that outlives the builder).
  explicit Args(std::string_view name, std::size_t reserve = 4) {
    if (reserve > kInlineArgs) spill(reserve);
    push(name);
  }
  Args(const Args&) = delete;
  Args& operator=(const Args&) = delete;

  Args& add(std::string_view s) {
    push(s);
    return *this;
  }
  Args& add_int(long long v);
  Args& add_u64(std::uint64_t v);
  /// A finite or infinite double ("inf", "-inf"); NaN is a usage error
  /// naming `what`.
  Args& add_double(double v, std::string_view what = "number");
  /// Every item; with `what` set, an empty list is a usage error.
  Args& add_all(const StringList& items, std::string_view what = {});
  /// field value field value ...; with `what` set, empty is a usage error.
  Args& add_pairs(const PairList& pairs, std::string_view what = {});
  /// A blocking command's timeout in seconds with millisecond precision
  /// ("1.5"); zero waits forever; negative is a usage error.
  Args& add_timeout(std::chrono::milliseconds t);
  /// "-inf", "+inf", "1.5" or "(1.5"; NaN is a usage error.
  Args& add_score_bound(const ScoreBound& b);
  /// "-", "+", "[a" or "(a".
  Args& add_lex_bound(const LexBound& b);
  /// A count that must be >= 0 (`positive`: > 0).
  Args& add_count(long long n, std::string_view what, bool positive = false);
  /// Text the builder copies (for arguments formatted on the spot, "#3").
  Args& add_copy(std::string_view text) {
    push(own(text));
    return *this;
  }

  /// Records a usage error; the first one wins and nothing is sent.
  void fail(std::string_view why);
  bool failed() const noexcept { return failed_; }
  /// The usage error, "<COMMAND>: <why>".
  Error take_error();

  std::span<const std::string_view> argv() const noexcept {
    return on_heap_ ? std::span<const std::string_view>(spill_->views)
                    : std::span<const std::string_view>(inline_.data(), n_);
  }

 private:
  // Most commands have a handful of arguments and numbers: keep those on the
  // stack (no allocation per command); spill to the heap beyond that.
  static constexpr std::size_t kInlineArgs = 8;
  static constexpr std::size_t kInlineNumbers = 4;
  static constexpr std::size_t kNumberSize = 48;  // "-1.2345678901234567e-308" with a "(" fits

  // Inline: a typed helper pushes a few views, and this is its hot path.
  void push(std::string_view s) {
    if (!on_heap_ && n_ < kInlineArgs) {
      inline_[n_++] = s;
      return;
    }
    push_slow(s);
  }
  void push_slow(std::string_view s);
  void spill(std::size_t capacity);
  /// Copies formatted text into storage that lives as long as the builder.
  std::string_view own(std::string_view text);

  // Not zeroed: only the first n_ views (and numbers_used_ numbers) are
  // ever read, and clearing ~320 bytes was a cost of every typed call.
  std::array<std::string_view, kInlineArgs> inline_;
  std::size_t n_ = 0;
  bool on_heap_ = false;  // the views are in spill_->views
  std::array<std::array<char, kNumberSize>, kInlineNumbers> numbers_;
  std::size_t numbers_used_ = 0;
  bool failed_ = false;
  // What few commands need, made on first use, so that building and
  // dropping the usual argv is a handful of stores: the views past the
  // inline ones, text copied beyond the inline numbers, the usage error.
  struct Spill {
    std::vector<std::string_view> views;
    std::forward_list<std::string> owned;  // node-based: views into it stay valid
    std::string error;
  };
  Spill& spill_data();
  std::unique_ptr<Spill> spill_;
};

/// Option encoders for the commands whose options are more than a flag.
UVREDIS_API void add_set_options(Args& a, const SetOptions& o);
UVREDIS_API void add_getex_options(Args& a, const GetExOptions& o);
/// EX/PX (or SETEX/PSETEX style) choice: true when `d` is whole seconds.
UVREDIS_API bool whole_seconds(std::chrono::milliseconds d) noexcept;
/// Milliseconds since the Unix epoch of `t` (truncated).
UVREDIS_API long long unix_millis(std::chrono::system_clock::time_point t) noexcept;
UVREDIS_API void add_expire_condition(Args& a, ExpireCondition c);
UVREDIS_API void add_scan_options(Args& a, const ScanOptions& o, bool allow_type);
UVREDIS_API void add_zadd_options(Args& a, const ZAddOptions& o);
/// The part of ZRANGE after the key: bounds, BYSCORE/BYLEX, REV, LIMIT,
/// WITHSCORES.
UVREDIS_API void add_zrange(Args& a, const ZRange& q, bool withscores);
UVREDIS_API void add_limit(Args& a, const std::optional<Limit>& l);

/// Which special forms a stream id argument may take besides a plain id
/// ("1700000000000" or "1700000000000-3"): a bit set.
namespace stream_id {
inline constexpr unsigned plain = 0;
inline constexpr unsigned star = 1u << 0;       // "*" (XADD)
inline constexpr unsigned auto_seq = 1u << 1;   // "1700000000000-*" (XADD)
inline constexpr unsigned dollar = 1u << 2;     // "$" (XREAD, XGROUP CREATE/SETID)
inline constexpr unsigned greater = 1u << 3;    // ">" (XREADGROUP)
inline constexpr unsigned extremes = 1u << 4;   // "-" and "+" (XRANGE, XPENDING)
inline constexpr unsigned exclusive = 1u << 5;  // "(" before a plain id (XRANGE, XPENDING)
}  // namespace stream_id

/// True when `id` is a plain stream id or one of the forms `allowed`.
UVREDIS_API bool valid_stream_id(std::string_view id, unsigned allowed) noexcept;
/// Adds a stream id; a malformed one is a usage error naming `what`.
UVREDIS_API void add_stream_id(Args& a, std::string_view id, unsigned allowed, std::string_view what);
/// Adds each id (an empty list is a usage error).
UVREDIS_API void add_stream_ids(Args& a, const StringList& ids);
/// MAXLEN|MINID [=|~] threshold [LIMIT n].
UVREDIS_API void add_stream_trim(Args& a, const StreamTrim& t);
/// A duration argument in whole milliseconds; negative is a usage error.
UVREDIS_API void add_millis(Args& a, std::chrono::milliseconds d, std::string_view what);
/// [COUNT n] [BLOCK ms] of XREAD / XREADGROUP (COUNT must be positive).
UVREDIS_API void add_stream_read_options(Args& a, const std::optional<long long>& count,
                                         const std::optional<std::chrono::milliseconds>& block);
/// STREAMS key... id...: from (key, id) pairs; empty is a usage error, and
/// so is an id outside `allowed`.
UVREDIS_API void add_streams(Args& a, const PairList& streams, unsigned allowed);

/// longitude latitude, each checked against the range GEOADD accepts
/// (longitude -180..180, latitude -85.05112878..85.05112878; NaN fails).
UVREDIS_API void add_geo_coordinates(Args& a, double longitude, double latitude);
/// longitude latitude member ... of GEOADD (an empty list is a usage error).
UVREDIS_API void add_geo_places(Args& a, const std::vector<GeoPlace>& places);
/// m | km | mi | ft.
UVREDIS_API void add_geo_unit(Args& a, GeoUnit u);
/// The part of GEOSEARCH / GEOSEARCHSTORE after the key(s); `store` refuses
/// the WITH* flags (the server would).
UVREDIS_API void add_geo_query(Args& a, const GeoQuery& q, bool store);
/// A bit offset of SETBIT / GETBIT: 0 to 2^32 - 1.
UVREDIS_API void add_bit_offset(Args& a, long long offset);
/// start end BYTE|BIT of BITCOUNT / BITPOS.
UVREDIS_API void add_bit_range(Args& a, const BitRange& r);
/// The sub-operations of BITFIELD (`read_only`: BITFIELD_RO, GET only);
/// types, offsets and an empty list are checked.
UVREDIS_API void add_bitfield_ops(Args& a, const std::vector<BitFieldOp>& ops, bool read_only);

}  // namespace uvredis::detail
