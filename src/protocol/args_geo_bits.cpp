// Argument checks and encoders of the GEO and bitmap commands: what the
// server would refuse anyway is refused here, before anything is sent.
#include <uvredis/detail/args.hpp>

#include <charconv>
#include <cmath>
#include <string>

namespace uvredis::detail {

namespace {

// The latitudes a geohash can encode (Web Mercator's limit); GEOADD refuses
// the rest.
constexpr double kMaxLatitude = 85.05112878;
constexpr double kMaxLongitude = 180.0;
// Redis caps a string at proto-max-bulk-len (512 MiB by default): bit
// offsets from 0 to 2^32 - 1.
constexpr long long kBitOffsets = 1LL << 32;

std::string num(double v) {
  char buf[40];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  return std::string(buf, p);
}

// A radius, width or height: finite and not negative.
bool add_extent(Args& a, double v, const char* what) {
  if (!std::isfinite(v) || v < 0) {
    a.fail(std::string(what) + " must be a finite number >= 0, got " + num(v));
    return false;
  }
  a.add_double(v);
  return true;
}

// The width in bits of a BITFIELD type ("i5" -> 5), or 0 when it is not one
// the server accepts (i1..i64, u1..u63).
int bitfield_width(std::string_view type) {
  if (type.size() < 2 || type.size() > 3 || (type[0] != 'i' && type[0] != 'u')) return 0;
  int bits = 0;
  auto [p, ec] = std::from_chars(type.data() + 1, type.data() + type.size(), bits);
  if (ec != std::errc() || p != type.data() + type.size() || type[1] == '0') return 0;
  const int max = type[0] == 'i' ? 64 : 63;
  return bits >= 1 && bits <= max ? bits : 0;
}

void add_bitfield_field(Args& a, const BitFieldOp& op) {
  const int width = bitfield_width(op.type);
  if (width == 0)
    return a.fail("'" + op.type + "' is not a bitfield type (i1 to i64 or u1 to u63)");
  a.add(op.type);
  const long long v = op.offset.value;
  if (op.offset.scaled) {
    if (v < 0 || v >= kBitOffsets / width)
      return a.fail("the field number #" + std::to_string(v) + " of " + op.type +
                    " is outside the 2^32 bits of a string");
    // (Built in place: GCC 12 at -O3 warns falsely (-Wrestrict) on "#" + string.)
    std::string field = std::to_string(v);
    field.insert(field.begin(), '#');
    a.add_copy(field);
    return;
  }
  if (v < 0 || v >= kBitOffsets)
    return a.fail("the bit offset " + std::to_string(v) + " is outside 0 to 2^32 - 1");
  a.add_int(v);
}

}  // namespace

void add_geo_coordinates(Args& a, double longitude, double latitude) {
  // NaN fails both comparisons' negation: written so that it is refused.
  if (!(longitude >= -kMaxLongitude && longitude <= kMaxLongitude))
    return a.fail("the longitude " + num(longitude) + " is outside -180 to 180");
  if (!(latitude >= -kMaxLatitude && latitude <= kMaxLatitude))
    return a.fail("the latitude " + num(latitude) + " is outside -85.05112878 to 85.05112878");
  a.add_double(longitude).add_double(latitude);
}

void add_geo_places(Args& a, const std::vector<GeoPlace>& places) {
  if (places.empty()) return a.fail("the list of members is empty");
  for (const GeoPlace& p : places) {
    add_geo_coordinates(a, p.longitude, p.latitude);
    a.add(p.member);
  }
}

void add_geo_unit(Args& a, GeoUnit u) {
  switch (u) {
    case GeoUnit::m: a.add("m"); break;
    case GeoUnit::km: a.add("km"); break;
    case GeoUnit::mi: a.add("mi"); break;
    case GeoUnit::ft: a.add("ft"); break;
  }
}

void add_geo_query(Args& a, const GeoQuery& q, bool store) {
  if (q.from == GeoQuery::From::member) {
    a.add("FROMMEMBER").add(q.from_member);
  } else {
    a.add("FROMLONLAT");
    add_geo_coordinates(a, q.from_point.longitude, q.from_point.latitude);
  }
  if (q.by == GeoQuery::By::radius) {
    a.add("BYRADIUS");
    if (!add_extent(a, q.radius, "the radius")) return;
  } else {
    a.add("BYBOX");
    if (!add_extent(a, q.width, "the box width") || !add_extent(a, q.height, "the box height")) return;
  }
  add_geo_unit(a, q.unit);
  if (q.order == GeoQuery::Order::asc) a.add("ASC");
  if (q.order == GeoQuery::Order::desc) a.add("DESC");
  if (q.count) {
    a.add("COUNT").add_count(*q.count, "COUNT", true);
    if (q.any) a.add("ANY");
  } else if (q.any) {
    return a.fail("ANY needs a COUNT");
  }
  if (store && (q.coord || q.dist || q.hash))
    return a.fail("WITHCOORD, WITHDIST and WITHHASH are for GEOSEARCH (use store_dist to keep distances)");
  if (q.coord) a.add("WITHCOORD");
  if (q.dist) a.add("WITHDIST");
  if (q.hash) a.add("WITHHASH");
}

void add_bit_offset(Args& a, long long offset) {
  if (offset < 0 || offset >= kBitOffsets)
    return a.fail("the bit offset " + std::to_string(offset) + " is outside 0 to 2^32 - 1");
  a.add_int(offset);
}

void add_bit_range(Args& a, const BitRange& r) {
  a.add_int(r.start).add_int(r.end);
  // BYTE is the server's default: left out, so that Redis 6 (which knows no
  // unit) takes the command too.
  if (r.unit == BitUnit::bit) a.add("BIT");
}

void add_bitfield_ops(Args& a, const std::vector<BitFieldOp>& ops, bool read_only) {
  if (ops.empty()) return a.fail("the list of sub-operations is empty");
  for (const BitFieldOp& op : ops) {
    if (a.failed()) return;
    if (read_only && op.kind != BitFieldOp::Kind::get) return a.fail("only GET sub-operations are read-only");
    switch (op.kind) {
      case BitFieldOp::Kind::get:
        a.add("GET");
        add_bitfield_field(a, op);
        break;
      case BitFieldOp::Kind::set:
        a.add("SET");
        add_bitfield_field(a, op);
        a.add_int(op.value);
        break;
      case BitFieldOp::Kind::incrby:
        a.add("INCRBY");
        add_bitfield_field(a, op);
        a.add_int(op.value);
        break;
      case BitFieldOp::Kind::overflow:
        a.add("OVERFLOW");
        a.add(op.on_overflow == BitOverflow::wrap ? "WRAP" : op.on_overflow == BitOverflow::sat ? "SAT" : "FAIL");
        break;
    }
  }
}

}  // namespace uvredis::detail
