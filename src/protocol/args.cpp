#include <uvredis/detail/args.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace uvredis::detail {

void Args::spill(std::size_t capacity) {
  Spill& s = spill_data();
  s.views.reserve(capacity);
  s.views.assign(inline_.begin(), inline_.begin() + static_cast<std::ptrdiff_t>(n_));
  on_heap_ = true;
}

// push() past the inline views: moves them to the heap first.
void Args::push_slow(std::string_view s) {
  if (!on_heap_) spill(2 * kInlineArgs);
  spill_->views.push_back(s);
  ++n_;
}

std::string_view Args::own(std::string_view text) {
  if (text.size() <= kNumberSize && numbers_used_ < kInlineNumbers) {
    char* slot = numbers_[numbers_used_++].data();
    std::copy(text.begin(), text.end(), slot);
    return {slot, text.size()};
  }
  Spill& s = spill_data();
  s.owned.emplace_front(text);
  return s.owned.front();
}

Args& Args::add_int(long long v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  push(own(std::string_view(buf, static_cast<std::size_t>(p - buf))));
  return *this;
}

Args& Args::add_u64(std::uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  push(own(std::string_view(buf, static_cast<std::size_t>(p - buf))));
  return *this;
}

Args& Args::add_double(double v, std::string_view what) {
  if (std::isnan(v)) {
    fail(std::string(what) + " is NaN");
    return *this;
  }
  if (std::isinf(v)) {
    push(v > 0 ? "+inf" : "-inf");
    return *this;
  }
  // Shortest text that reads back as the same double: no precision lost.
  char buf[40];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  push(own(std::string_view(buf, static_cast<std::size_t>(p - buf))));
  return *this;
}

Args& Args::add_all(const StringList& items, std::string_view what) {
  if (!what.empty() && items.empty()) {
    fail("the list of " + std::string(what) + " is empty");
    return *this;
  }
  if (!on_heap_ && n_ + items.size() > kInlineArgs) spill(n_ + items.size());
  for (std::string_view item : items) push(item);
  return *this;
}

Args& Args::add_pairs(const PairList& pairs, std::string_view what) {
  if (!what.empty() && pairs.empty()) {
    fail("the list of " + std::string(what) + " is empty");
    return *this;
  }
  if (!on_heap_ && n_ + 2 * pairs.size() > kInlineArgs) spill(n_ + 2 * pairs.size());
  for (const auto& [k, v] : pairs) {
    push(k);
    push(v);
  }
  return *this;
}

Args& Args::add_timeout(std::chrono::milliseconds t) {
  if (t.count() < 0) {
    fail("the timeout is negative");
    return *this;
  }
  const long long ms = t.count();
  std::string s = std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    char frac[8];
    auto [p, ec] = std::to_chars(frac, frac + sizeof frac, 1000 + ms % 1000);  // "1xyz": keeps the zeros
    (void)ec;
    s += '.';
    s.append(frac + 1, p);
  }
  push(own(s));
  return *this;
}

Args& Args::add_score_bound(const ScoreBound& b) {
  if (std::isnan(b.value)) {
    fail("a score bound is NaN");
    return *this;
  }
  if (std::isinf(b.value)) {
    // "(+inf" is valid for the server but means the same as "+inf".
    push(b.value > 0 ? "+inf" : "-inf");
    return *this;
  }
  char buf[41];
  char* start = buf;
  if (b.is_exclusive) *start++ = '(';
  auto [p, ec] = std::to_chars(start, buf + sizeof buf, b.value);
  (void)ec;
  push(own(std::string_view(buf, static_cast<std::size_t>(p - buf))));
  return *this;
}

Args& Args::add_lex_bound(const LexBound& b) {
  switch (b.kind) {
    case LexBound::Kind::min: push("-"); break;
    case LexBound::Kind::max: push("+"); break;
    case LexBound::Kind::inclusive: push(own("[" + b.value)); break;
    case LexBound::Kind::exclusive: push(own("(" + b.value)); break;
  }
  return *this;
}

Args& Args::add_count(long long n, std::string_view what, bool positive) {
  if (n < 0 || (positive && n == 0)) {
    fail(std::string(what) + (positive ? " must be positive" : " must not be negative") + ", got " +
         std::to_string(n));
    return *this;
  }
  return add_int(n);
}

void Args::fail(std::string_view why) {
  if (failed_) return;
  failed_ = true;
  spill_data().error = std::string(argv().front()) + ": " + std::string(why);
}

Error Args::take_error() { return Error{ErrorKind::usage, failed_ ? std::move(spill_->error) : std::string()}; }

Args::Spill& Args::spill_data() {
  if (!spill_) spill_ = std::make_unique<Spill>();
  return *spill_;
}

bool whole_seconds(std::chrono::milliseconds d) noexcept { return d.count() % 1000 == 0; }

long long unix_millis(std::chrono::system_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

namespace {

// EX n | PX n | EXAT n | PXAT n, shared by SET and GETEX.
void add_expiry(Args& a, const std::optional<std::chrono::milliseconds>& ttl,
                const std::optional<std::chrono::system_clock::time_point>& at) {
  if (ttl) {
    if (ttl->count() <= 0) return a.fail("the expiry must be positive, got " + std::to_string(ttl->count()) + " ms");
    if (whole_seconds(*ttl))
      a.add("EX").add_int(ttl->count() / 1000);
    else
      a.add("PX").add_int(ttl->count());
  } else if (at) {
    const long long ms = unix_millis(*at);
    if (ms <= 0) return a.fail("the expiry time is not after the Unix epoch");
    if (ms % 1000 == 0)
      a.add("EXAT").add_int(ms / 1000);
    else
      a.add("PXAT").add_int(ms);
  }
}

}  // namespace

void add_set_options(Args& a, const SetOptions& o) {
  const int expiries = (o.ttl ? 1 : 0) + (o.expire_at ? 1 : 0) + (o.keep_ttl ? 1 : 0);
  if (expiries > 1) return a.fail("set at most one of ttl, expire_at and keep_ttl");
  switch (o.condition) {
    case WriteCondition::always: break;
    case WriteCondition::nx: a.add("NX"); break;
    case WriteCondition::xx: a.add("XX"); break;
  }
  add_expiry(a, o.ttl, o.expire_at);
  if (o.keep_ttl) a.add("KEEPTTL");
}

void add_getex_options(Args& a, const GetExOptions& o) {
  const int n = (o.ttl ? 1 : 0) + (o.expire_at ? 1 : 0) + (o.persist ? 1 : 0);
  if (n > 1) return a.fail("set at most one of ttl, expire_at and persist");
  add_expiry(a, o.ttl, o.expire_at);
  if (o.persist) a.add("PERSIST");
}

void add_expire_condition(Args& a, ExpireCondition c) {
  switch (c) {
    case ExpireCondition::always: break;
    case ExpireCondition::nx: a.add("NX"); break;
    case ExpireCondition::xx: a.add("XX"); break;
    case ExpireCondition::gt: a.add("GT"); break;
    case ExpireCondition::lt: a.add("LT"); break;
  }
}

void add_scan_options(Args& a, const ScanOptions& o, bool allow_type) {
  if (!o.match.empty()) a.add("MATCH").add(o.match);
  if (o.count != 0) a.add("COUNT").add_count(o.count, "COUNT", true);
  if (!o.type.empty()) {
    if (!allow_type) return a.fail("TYPE is only valid for SCAN");
    a.add("TYPE").add(o.type);
  }
}

void add_zadd_options(Args& a, const ZAddOptions& o) {
  if (o.condition == WriteCondition::nx && o.compare != ScoreCompare::any)
    return a.fail("NX cannot be combined with GT or LT");
  switch (o.condition) {
    case WriteCondition::always: break;
    case WriteCondition::nx: a.add("NX"); break;
    case WriteCondition::xx: a.add("XX"); break;
  }
  switch (o.compare) {
    case ScoreCompare::any: break;
    case ScoreCompare::gt: a.add("GT"); break;
    case ScoreCompare::lt: a.add("LT"); break;
  }
  if (o.changed) a.add("CH");
}

void add_limit(Args& a, const std::optional<Limit>& l) {
  if (!l) return;
  a.add("LIMIT").add_int(l->offset).add_int(l->count);
}

void add_zrange(Args& a, const ZRange& q, bool withscores) {
  switch (q.by) {
    case ZRange::By::rank:
      if (q.page) return a.fail("LIMIT needs a score or lex range");
      a.add_int(q.start).add_int(q.stop);
      break;
    case ZRange::By::score:
      // The server wants max before min with REV; callers always give min, max.
      if (q.reverse)
        a.add_score_bound(q.max_score).add_score_bound(q.min_score);
      else
        a.add_score_bound(q.min_score).add_score_bound(q.max_score);
      a.add("BYSCORE");
      break;
    case ZRange::By::lex:
      if (withscores) return a.fail("WITHSCORES cannot be combined with a lex range");
      if (q.reverse)
        a.add_lex_bound(q.max_lex).add_lex_bound(q.min_lex);
      else
        a.add_lex_bound(q.min_lex).add_lex_bound(q.max_lex);
      a.add("BYLEX");
      break;
  }
  if (q.reverse) a.add("REV");
  add_limit(a, q.page);
  if (withscores) a.add("WITHSCORES");
}

namespace {

// A decimal number that fits in 64 bits, nothing else (no sign, no spaces).
bool u64_text(std::string_view s) noexcept {
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

bool valid_stream_id(std::string_view id, unsigned allowed) noexcept {
  using namespace stream_id;
  if (id.size() == 1) {
    if (id[0] == '*') return (allowed & star) != 0;
    if (id[0] == '$') return (allowed & dollar) != 0;
    if (id[0] == '>') return (allowed & greater) != 0;
    if (id[0] == '-' || id[0] == '+') return (allowed & extremes) != 0;
  }
  if (!id.empty() && id[0] == '(') {
    if (!(allowed & exclusive)) return false;
    id.remove_prefix(1);
  }
  const std::size_t dash = id.find('-');
  if (dash == std::string_view::npos) return u64_text(id);
  const std::string_view seq = id.substr(dash + 1);
  if (!u64_text(id.substr(0, dash))) return false;
  if (seq == "*") return (allowed & auto_seq) != 0;
  return u64_text(seq);
}

void add_stream_id(Args& a, std::string_view id, unsigned allowed, std::string_view what) {
  if (!valid_stream_id(id, allowed)) return a.fail(std::string(what) + " is not a valid stream id");
  a.add(id);
}

void add_stream_ids(Args& a, const StringList& ids) {
  if (ids.empty()) return a.fail("the list of ids is empty");
  for (std::string_view id : ids) add_stream_id(a, id, stream_id::plain, "an id");
}

void add_stream_trim(Args& a, const StreamTrim& t) {
  if (t.by == StreamTrim::By::max_len) {
    a.add("MAXLEN").add(t.approximate ? "~" : "=").add_count(t.max_entries, "MAXLEN");
  } else {
    a.add("MINID").add(t.approximate ? "~" : "=");
    add_stream_id(a, t.min_entry_id, stream_id::plain, "MINID");
  }
  if (t.limit < 0) return a.fail("LIMIT must not be negative, got " + std::to_string(t.limit));
  if (t.limit > 0) {
    // The server refuses LIMIT with exact trimming; say so before sending.
    if (!t.approximate) return a.fail("LIMIT needs approximate trimming (approx())");
    a.add("LIMIT").add_int(t.limit);
  }
}

void add_millis(Args& a, std::chrono::milliseconds d, std::string_view what) {
  if (d.count() < 0) return a.fail(std::string(what) + " is negative");
  a.add_int(d.count());
}

void add_stream_read_options(Args& a, const std::optional<long long>& count,
                             const std::optional<std::chrono::milliseconds>& block) {
  if (count) a.add("COUNT").add_count(*count, "COUNT", true);
  if (block) {
    a.add("BLOCK");
    add_millis(a, *block, "BLOCK");
  }
}

void add_streams(Args& a, const PairList& streams, unsigned allowed) {
  if (streams.empty()) return a.fail("the list of streams is empty");
  a.add("STREAMS");
  for (const auto& kv : streams) a.add(kv.first);
  for (const auto& kv : streams) add_stream_id(a, kv.second, allowed, "an id");
}

}  // namespace uvredis::detail
