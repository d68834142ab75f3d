#pragma once
/// @file command_args.hpp
/// Argument types of the typed commands (commands.hpp): lists of keys or
/// members, field/value pairs, option structs with std::chrono durations,
/// score and lexicographic bounds for sorted-set ranges.
///
/// The list types (StringList, PairList, MemberScores) are views: they refer
/// to the caller's strings and are only valid during the call they are passed
/// to (the command copies its arguments before returning). The option structs
/// own their data and are plain values. Nothing here does I/O; usable from any
/// thread.

#include <uvredis/command_types.hpp>
#include <uvredis/export.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace uvredis {

namespace detail {
template <class R>
concept string_range = std::ranges::input_range<R> &&
                       std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>;

template <class R>
concept string_pair_range = std::ranges::input_range<R> && requires(std::ranges::range_reference_t<R> p) {
  { p.first } -> std::convertible_to<std::string_view>;
  { p.second } -> std::convertible_to<std::string_view>;
};

template <class R>
concept member_score_range = std::ranges::input_range<R> && requires(std::ranges::range_reference_t<R> p) {
  { p.first } -> std::convertible_to<std::string_view>;
  { p.second } -> std::convertible_to<double>;
};

// Ranges of ScoredMember (what WITHSCORES reads), so results can be written back.
template <class R>
concept scored_member_range = std::ranges::input_range<R> && requires(std::ranges::range_reference_t<R> p) {
  { p.member } -> std::convertible_to<std::string_view>;
  { p.score } -> std::convertible_to<double>;
};
}  // namespace detail

/// Keys, members, fields or values: `{"a", "b"}`, one string, or any range of
/// strings (std::vector<std::string>, std::set<std::string_view>, ...).
/// A view: valid only during the call it is passed to.
class UVREDIS_API StringList {
 public:
  StringList() = default;
  StringList(std::initializer_list<std::string_view> items) : items_(items) {}
  StringList(const char* one) : items_{std::string_view(one)} {}          // NOLINT: implicit by design
  StringList(const std::string& one) : items_{std::string_view(one)} {}   // NOLINT
  StringList(std::string_view one) : items_{one} {}                       // NOLINT
  template <class R>
    requires detail::string_range<R>
  StringList(const R& range) {  // NOLINT
    for (auto&& s : range) items_.emplace_back(s);
  }

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }

 private:
  std::vector<std::string_view> items_;
};

/// Field/value (or key/value) pairs: `{{"name", "ann"}, {"age", "7"}}` or any
/// range of pairs of strings (std::map, std::unordered_map, a vector of
/// pairs). A view: valid only during the call it is passed to.
class UVREDIS_API PairList {
 public:
  using Pair = std::pair<std::string_view, std::string_view>;
  PairList() = default;
  PairList(std::initializer_list<Pair> items) : items_(items) {}
  template <class R>
    requires detail::string_pair_range<R>
  PairList(const R& range) {  // NOLINT
    for (auto&& p : range) items_.emplace_back(std::string_view(p.first), std::string_view(p.second));
  }

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }

 private:
  std::vector<Pair> items_;
};

/// Sorted-set members with their scores, for ZADD: `{{"ann", 10}, {"bob",
/// 7.5}}`, any range of (member, score) pairs (std::map<std::string,
/// double>, ...) or of ScoredMember (a WITHSCORES result). A view: valid only
/// during the call it is passed to.
class UVREDIS_API MemberScores {
 public:
  using Pair = std::pair<std::string_view, double>;
  MemberScores() = default;
  MemberScores(std::initializer_list<Pair> items) : items_(items) {}
  template <class R>
    requires detail::member_score_range<R>
  MemberScores(const R& range) {  // NOLINT
    for (auto&& p : range) items_.emplace_back(std::string_view(p.first), static_cast<double>(p.second));
  }
  template <class R>
    requires detail::scored_member_range<R>
  MemberScores(const R& range) {  // NOLINT
    for (auto&& p : range) items_.emplace_back(std::string_view(p.member), static_cast<double>(p.score));
  }

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }

 private:
  std::vector<Pair> items_;
};

/// NX / XX: write only when the key (or member) does not exist yet, or only
/// when it already exists.
enum class WriteCondition {
  always,     ///< No condition.
  nx,         ///< Only if it does not exist.
  xx,         ///< Only if it exists.
};

/// Options of SET. Set at most one of ttl, expire_at and keep_ttl.
struct UVREDIS_API SetOptions {
  /// Relative expiry: sent as EX when it is whole seconds, else PX. Must be
  /// positive.
  std::optional<std::chrono::milliseconds> ttl{};
  /// Absolute expiry: sent as EXAT when it is a whole second, else PXAT
  /// (millisecond precision).
  std::optional<std::chrono::system_clock::time_point> expire_at{};
  /// KEEPTTL: keep the key's current expiry.
  bool keep_ttl = false;
  /// NX / XX.
  WriteCondition condition = WriteCondition::always;
};

/// Options of GETEX. Set at most one; none makes GETEX behave like GET.
struct UVREDIS_API GetExOptions {
  std::optional<std::chrono::milliseconds> ttl{};                    ///< EX / PX (positive).
  std::optional<std::chrono::system_clock::time_point> expire_at{};  ///< EXAT / PXAT.
  bool persist = false;                                            ///< PERSIST: remove the expiry.
};

/// Condition of EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (Redis 7).
enum class ExpireCondition {
  always,  ///< No condition.
  nx,      ///< Only when the key has no expiry.
  xx,      ///< Only when the key has an expiry.
  gt,      ///< Only when the new expiry is later than the current one.
  lt,      ///< Only when the new expiry is earlier than the current one.
};

/// Options of COPY.
struct UVREDIS_API CopyOptions {
  std::optional<int> db{};  ///< Destination database (DB n); unset means the client's own.
  bool replace = false;   ///< REPLACE an existing destination.
};

/// Options of SCAN, SSCAN, HSCAN, ZSCAN. Empty strings and a zero count are
/// left out of the command.
struct UVREDIS_API ScanOptions {
  std::string match{};    ///< MATCH glob pattern.
  long long count = 0;  ///< COUNT hint (positive), 0 for the server default.
  std::string type{};     ///< TYPE filter ("string", "hash", ...): SCAN only.
};

/// One end of a list, for LMOVE / BLMOVE.
enum class ListEnd { left, right };

/// Where LINSERT puts the new element relative to the pivot.
enum class InsertPosition { before, after };

/// Options of LPOS.
struct UVREDIS_API LposOptions {
  /// RANK: 1 is the first match, 2 the second ...; negative counts from the
  /// tail. Zero is invalid.
  long long rank = 1;
  /// MAXLEN: compare at most this many elements; 0 means the whole list.
  long long maxlen = 0;
};

/// ZADD score comparison (GT / LT): only update existing members whose new
/// score is greater (or less) than the current one. New members are added
/// regardless.
enum class ScoreCompare { any, gt, lt };

/// Options of ZADD.
struct UVREDIS_API ZAddOptions {
  WriteCondition condition = WriteCondition::always;  ///< NX / XX.
  ScoreCompare compare = ScoreCompare::any;           ///< GT / LT (not with NX).
  bool changed = false;  ///< CH: count changed members too, not only added ones.
};

/// A score bound of a sorted-set range: inclusive by default, exclusive
/// ("(1.5"), or infinite ("-inf", "+inf"). A plain double converts to an
/// inclusive bound.
struct UVREDIS_API ScoreBound {
  double value = 0;
  bool is_exclusive = false;

  constexpr ScoreBound() = default;
  constexpr ScoreBound(double v) : value(v) {}  // NOLINT: implicit by design
  static constexpr ScoreBound inclusive(double v) { return ScoreBound(v); }
  static constexpr ScoreBound exclusive(double v) {
    ScoreBound b(v);
    b.is_exclusive = true;
    return b;
  }
  static constexpr ScoreBound neg_inf() { return ScoreBound(-std::numeric_limits<double>::infinity()); }
  static constexpr ScoreBound pos_inf() { return ScoreBound(std::numeric_limits<double>::infinity()); }
};

/// A lexicographic bound of a sorted-set range (BYLEX): "[a" inclusive,
/// "(a" exclusive, "-" the lowest, "+" the highest. Owns its bytes.
struct UVREDIS_API LexBound {
  enum class Kind { inclusive, exclusive, min, max };
  Kind kind = Kind::min;
  std::string value{};

  static LexBound inclusive(std::string_view v) { return LexBound{Kind::inclusive, std::string(v)}; }
  static LexBound exclusive(std::string_view v) { return LexBound{Kind::exclusive, std::string(v)}; }
  static LexBound min() { return LexBound{Kind::min, {}}; }
  static LexBound max() { return LexBound{Kind::max, {}}; }
};

/// LIMIT offset count of a score or lex range; a negative count means "all
/// from offset".
struct UVREDIS_API Limit {
  long long offset = 0;
  long long count = -1;
};

/// What ZRANGE selects: build one with by_rank, by_score or by_lex, then
/// optionally .rev() and .limit(). Bounds are always given low to high (min,
/// max); rev() only reverses the order of the result (the library swaps the
/// bounds for the server). A plain value.
struct UVREDIS_API ZRange {
  enum class By { rank, score, lex };
  By by = By::rank;
  long long start = 0;  ///< by_rank: first rank (negative counts from the end).
  long long stop = -1;  ///< by_rank: last rank, inclusive.
  ScoreBound min_score = ScoreBound::neg_inf();
  ScoreBound max_score = ScoreBound::pos_inf();
  LexBound min_lex = LexBound::min();
  LexBound max_lex = LexBound::max();
  bool reverse = false;
  std::optional<Limit> page{};  ///< LIMIT (score and lex ranges only).

  static ZRange by_rank(long long start, long long stop) {
    ZRange r;
    r.start = start;
    r.stop = stop;
    return r;
  }
  static ZRange by_score(ScoreBound min, ScoreBound max) {
    ZRange r;
    r.by = By::score;
    r.min_score = min;
    r.max_score = max;
    return r;
  }
  static ZRange by_lex(LexBound min, LexBound max) {
    ZRange r;
    r.by = By::lex;
    r.min_lex = std::move(min);
    r.max_lex = std::move(max);
    return r;
  }
  /// Highest first (REV).
  ZRange& rev(bool on = true) {
    reverse = on;
    return *this;
  }
  /// LIMIT offset count.
  ZRange& limit(long long offset, long long count) {
    page = Limit{offset, count};
    return *this;
  }
};

/// How XADD or XTRIM trims a stream: keep at most `threshold` entries
/// (MAXLEN) or drop the entries older than an id (MINID). Exact ("=") by
/// default; approx() lets the server trim whole nodes only ("~"), which is
/// much cheaper, optionally doing at most `limit` evictions (LIMIT, only with
/// "~"). Build one with max_len() or min_id(). A plain value.
struct UVREDIS_API StreamTrim {
  enum class By { max_len, min_id };
  By by = By::max_len;
  long long max_entries = 0;  ///< max_len: entries to keep (>= 0).
  std::string min_entry_id{};  ///< min_id: the oldest id to keep ("1700000000000-0" or "1700000000000").
  bool approximate = false;    ///< "~" instead of "=".
  long long limit = 0;         ///< LIMIT with approximate trimming; 0 leaves it out.

  static StreamTrim max_len(long long n) {
    StreamTrim t;
    t.max_entries = n;
    return t;
  }
  static StreamTrim min_id(std::string_view id) {
    StreamTrim t;
    t.by = By::min_id;
    t.min_entry_id = std::string(id);
    return t;
  }
  /// "~": trim whole macro nodes only; `max_evictions` > 0 adds LIMIT.
  StreamTrim& approx(long long max_evictions = 0) {
    approximate = true;
    limit = max_evictions;
    return *this;
  }
};

/// Options of XADD. The id is "*" (the server picks one), an explicit id
/// ("1700000000000-5"), or a time with an automatic sequence
/// ("1700000000000-*").
struct UVREDIS_API XAddOptions {
  std::string id = "*";
  std::optional<StreamTrim> trim{};  ///< MAXLEN / MINID applied with the add.
};

/// Options of XREAD. `block` waits up to that long for new entries (zero:
/// forever) on a blocking connection of its own; without it XREAD answers at
/// once.
struct UVREDIS_API XReadOptions {
  std::optional<long long> count{};  ///< COUNT: at most this many entries per stream (> 0).
  std::optional<std::chrono::milliseconds> block{};
};

/// Options of XREADGROUP: as XReadOptions, plus NOACK (delivered entries are
/// not added to the pending list: nothing to acknowledge, nothing to claim).
struct UVREDIS_API XReadGroupOptions {
  std::optional<long long> count{};
  std::optional<std::chrono::milliseconds> block{};
  bool noack = false;
};

/// Options of XGROUP CREATE.
struct UVREDIS_API XGroupCreateOptions {
  bool mkstream = false;                    ///< MKSTREAM: create an empty stream if there is none.
  std::optional<long long> entries_read{};  ///< ENTRIESREAD: for the group's lag (>= 0).
};

/// The extended form of XPENDING: pending entries with ids from `start` to
/// `end` ("-" and "+" are the extremes; "(" before an id excludes it), at
/// most `count`, optionally only those idle for at least `min_idle` and only
/// those of one consumer.
struct UVREDIS_API XPendingRange {
  std::string start = "-";
  std::string end = "+";
  long long count = 100;
  std::string consumer{};                               ///< Empty: every consumer.
  std::optional<std::chrono::milliseconds> min_idle{};  ///< IDLE (Redis 6.2 and later).
};

/// Options of XCLAIM.
struct UVREDIS_API XClaimOptions {
  std::optional<std::chrono::milliseconds> idle{};                   ///< IDLE: set the idle time to this.
  std::optional<std::chrono::system_clock::time_point> time{};       ///< TIME: as if last delivered then.
  std::optional<long long> retry_count{};                            ///< RETRYCOUNT: set the delivery count.
  bool force = false;  ///< FORCE: create a pending entry for ids that exist but are not pending.
};

/// A member to add with GEOADD: `{13.361389, 38.115556, "Palermo"}`.
struct UVREDIS_API GeoPlace {
  double longitude = 0;
  double latitude = 0;
  std::string member;  ///< Binary-safe.
};

/// Options of GEOADD.
struct UVREDIS_API GeoAddOptions {
  WriteCondition condition = WriteCondition::always;  ///< NX: only add new members; XX: only move existing ones.
  bool changed = false;  ///< CH: count moved members too, not only new ones.
};

/// Unit of a distance (GEODIST, GEOSEARCH radius and box, WITHDIST).
enum class GeoUnit { m, km, mi, ft };

/// What GEOSEARCH / GEOSEARCHSTORE look for: the members within a radius or
/// a box around a member (FROMMEMBER) or a point (FROMLONLAT). Build one
/// with around_member() or around(), then within_radius() or within_box(),
/// then optionally asc()/desc(), limit() and the with_* flags. A plain value.
///
///     GeoQuery::around(13.36, 38.11).within_radius(200, GeoUnit::km).asc().limit(5).with_dist()
struct UVREDIS_API GeoQuery {
  enum class From { member, point };
  enum class By { radius, box };
  enum class Order { unsorted, asc, desc };

  From from = From::member;
  std::string from_member{};  ///< FROMMEMBER (binary-safe).
  GeoPoint from_point{};      ///< FROMLONLAT.
  By by = By::radius;
  double radius = 0;  ///< BYRADIUS, in `unit`.
  double width = 0;   ///< BYBOX, in `unit`.
  double height = 0;
  GeoUnit unit = GeoUnit::m;
  Order order = Order::unsorted;
  std::optional<long long> count{};  ///< COUNT (> 0).
  bool any = false;                  ///< ANY: stop at the first `count` matches found (not the nearest).
  bool coord = false;                ///< WITHCOORD (GEOSEARCH only).
  bool dist = false;                 ///< WITHDIST (GEOSEARCH only).
  bool hash = false;                 ///< WITHHASH (GEOSEARCH only).

  static GeoQuery around_member(std::string_view member) {
    GeoQuery q;
    q.from_member = std::string(member);
    return q;
  }
  static GeoQuery around(double longitude, double latitude) {
    GeoQuery q;
    q.from = From::point;
    q.from_point = {longitude, latitude};
    return q;
  }
  GeoQuery& within_radius(double r, GeoUnit u) {
    by = By::radius;
    radius = r;
    unit = u;
    return *this;
  }
  GeoQuery& within_box(double w, double h, GeoUnit u) {
    by = By::box;
    width = w;
    height = h;
    unit = u;
    return *this;
  }
  GeoQuery& asc() {
    order = Order::asc;
    return *this;
  }
  GeoQuery& desc() {
    order = Order::desc;
    return *this;
  }
  /// COUNT n [ANY].
  GeoQuery& limit(long long n, bool any_matches = false) {
    count = n;
    any = any_matches;
    return *this;
  }
  GeoQuery& with_coord() {
    coord = true;
    return *this;
  }
  GeoQuery& with_dist() {
    dist = true;
    return *this;
  }
  GeoQuery& with_hash() {
    hash = true;
    return *this;
  }
};

/// Whether the start and end of a BITCOUNT / BITPOS range count bytes (the
/// server's default) or bits (Redis 7).
enum class BitUnit { byte, bit };

/// A range of a string for BITCOUNT / BITPOS: `start` to `end` inclusive,
/// negative values count from the end (-1 is the last byte or bit).
struct UVREDIS_API BitRange {
  long long start = 0;
  long long end = -1;
  BitUnit unit = BitUnit::byte;
};

/// The operation of BITOP.
enum class BitOperation { and_, or_, xor_, not_ };

/// Overflow behaviour of the BITFIELD SET / INCRBY after it: wrap around
/// (the default), saturate at the type's limits, or fail (that result is
/// nil and nothing is written).
enum class BitOverflow { wrap, sat, fail };

/// Where a BITFIELD field starts: a bit offset (`17`), or with nth() the
/// field number N times the type's width ("#N").
struct UVREDIS_API BitFieldOffset {
  long long value = 0;
  bool scaled = false;  ///< "#N"

  BitFieldOffset(long long bit) : value(bit) {}  // NOLINT: implicit by design
  static BitFieldOffset nth(long long n) {
    BitFieldOffset o(n);
    o.scaled = true;
    return o;
  }
};

/// One sub-operation of BITFIELD / BITFIELD_RO. `type` is "i<bits>"
/// (signed, 1 to 64 bits) or "u<bits>" (unsigned, 1 to 63 bits). Each GET,
/// SET and INCRBY gives one result; OVERFLOW changes the ones after it.
///
///     {BitFieldOp::overflow(BitOverflow::sat), BitFieldOp::incrby("u8", BitFieldOffset::nth(3), 10)}
struct UVREDIS_API BitFieldOp {
  enum class Kind { get, set, incrby, overflow };
  Kind kind = Kind::get;
  std::string type{};
  BitFieldOffset offset{0};
  long long value = 0;  ///< SET: the new value; INCRBY: the increment.
  BitOverflow on_overflow = BitOverflow::wrap;

  static BitFieldOp get(std::string_view type, BitFieldOffset offset) { return {Kind::get, std::string(type), offset}; }
  static BitFieldOp set(std::string_view type, BitFieldOffset offset, long long value) {
    return {Kind::set, std::string(type), offset, value};
  }
  static BitFieldOp incrby(std::string_view type, BitFieldOffset offset, long long increment) {
    return {Kind::incrby, std::string(type), offset, increment};
  }
  static BitFieldOp overflow(BitOverflow how) { return {Kind::overflow, {}, 0, 0, how}; }
};

/// Options of FUNCTION LIST.
struct UVREDIS_API FunctionListOptions {
  std::string library_pattern{};  ///< LIBRARYNAME: a glob on library names; empty: every library.
  bool with_code = false;         ///< WITHCODE: include each library's source.
};

/// FLUSHDB mode.
enum class FlushMode {
  server_default,  ///< Whatever the server's lazyfree-lazy-user-flush says.
  sync,            ///< SYNC: free memory before replying.
  async,           ///< ASYNC: free memory in the background.
};

}  // namespace uvredis
