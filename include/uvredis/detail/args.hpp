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

#include <chrono>
#include <cstdint>
#include <forward_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis::detail {

class Args {
 public:
  /// Starts an argv with the command name (a string literal or other
  /// storage that outlives the builder).
  explicit Args(std::string_view name, std::size_t reserve = 4);
  Args(const Args&) = delete;
  Args& operator=(const Args&) = delete;

  Args& add(std::string_view s) {
    argv_.push_back(s);
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

  /// Records a usage error; the first one wins and nothing is sent.
  void fail(std::string_view why);
  bool failed() const noexcept { return failed_; }
  /// The usage error, "<COMMAND>: <why>".
  Error take_error();

  std::span<const std::string_view> argv() const noexcept { return argv_; }

 private:
  std::string_view own(std::string s);

  std::vector<std::string_view> argv_;
  std::forward_list<std::string> owned_;  // node-based: views into it stay valid
  std::string error_;
  bool failed_ = false;
};

/// Option encoders for the commands whose options are more than a flag.
void add_set_options(Args& a, const SetOptions& o);
void add_getex_options(Args& a, const GetExOptions& o);
/// EX/PX (or SETEX/PSETEX style) choice: true when `d` is whole seconds.
bool whole_seconds(std::chrono::milliseconds d) noexcept;
/// Milliseconds since the Unix epoch of `t` (truncated).
long long unix_millis(std::chrono::system_clock::time_point t) noexcept;
void add_expire_condition(Args& a, ExpireCondition c);
void add_scan_options(Args& a, const ScanOptions& o, bool allow_type);
void add_zadd_options(Args& a, const ZAddOptions& o);
/// The part of ZRANGE after the key: bounds, BYSCORE/BYLEX, REV, LIMIT,
/// WITHSCORES.
void add_zrange(Args& a, const ZRange& q, bool withscores);
void add_limit(Args& a, const std::optional<Limit>& l);

}  // namespace uvredis::detail
