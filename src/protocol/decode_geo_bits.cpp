// Decoders of the GEO, BITFIELD and FUNCTION families' replies. Pure
// functions; members and names are moved out of the reply as they came
// (binary-safe).
#include "protocol/decode_internal.hpp"

#include <uvredis/decode.hpp>

namespace uvredis::decode {

namespace {

Result<GeoPoint> to_point(const Reply& e) {
  if (!e.is_array() || e.size() != 2) return bad_shape("a position is not [longitude, latitude]");
  auto lon = detail_to_double(e[0]);
  if (!lon) return std::move(lon).error();
  auto lat = detail_to_double(e[1]);
  if (!lat) return std::move(lat).error();
  return GeoPoint{*lon, *lat};
}

// [member, dist?, hash?, coord?]: the server writes them in that order, and
// each has a type of its own (bulk string, integer, array), so the reply
// says which were asked for without the decoder being told.
Result<GeoMatch> to_match(Reply& e) {
  GeoMatch m;
  if (is_text(e)) {
    m.member = e.take_str();
    return m;
  }
  if (!e.is_array() || e.size() == 0 || !is_text(e.elements()[0]))
    return bad_shape("a GEOSEARCH match is not a member or [member, ...]");
  auto& parts = e.elements();
  m.member = parts[0].take_str();
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const Reply& p = parts[i];
    if (p.is_integer() && !m.hash) {
      m.hash = p.integer();
    } else if (p.is_array() && !m.coord) {
      auto pt = to_point(p);
      if (!pt) return std::move(pt).error();
      m.coord = *pt;
    } else if (p.is_string() && !m.dist) {
      auto d = detail_to_double(p);
      if (!d) return std::move(d).error();
      m.dist = *d;
    } else {
      return unexpected(p, "distance, hash or position");
    }
  }
  return m;
}

Result<void> take_optional_text(std::optional<std::string>& out, Reply& v) {
  if (v.is_nil()) return {};
  if (!is_text(v)) return unexpected(v, "string or nil");
  out = v.take_str();
  return {};
}

Result<void> take_text(std::string& out, Reply& v) {
  if (!is_text(v)) return unexpected(v, "string");
  out = v.take_str();
  return {};
}


Result<FunctionInfo> to_function(Reply& e) {
  FunctionInfo f;
  Result<void> ok = for_each_field(e, [&](std::string_view name, Reply& v) -> Result<void> {
    if (name == "name") return take_text(f.name, v);
    if (name == "description") return take_optional_text(f.description, v);
    if (name == "flags") {
      if (v.is_nil()) return {};
      if (!v.is_array()) return unexpected(v, "array of flags");
      for (Reply& flag : v.elements()) {
        if (!is_text(flag)) return unexpected(flag, "flag");
        f.flags.push_back(flag.take_str());
      }
    }
    return {};
  });
  if (!ok) return std::move(ok).error();
  return f;
}

}  // namespace

Result<std::vector<std::optional<long long>>> optional_integer_list(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  std::vector<std::optional<long long>> out;
  out.reserve(a->size());
  for (const Reply& e : *a) {
    if (e.is_nil()) {
      out.emplace_back();
    } else if (e.is_integer()) {
      out.emplace_back(e.integer());
    } else {
      return unexpected(e, "integer or nil");
    }
  }
  return out;
}

Result<std::vector<GeoMatch>> geo_matches(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  std::vector<GeoMatch> out;
  out.reserve(a->size());
  for (Reply& e : *a) {
    auto m = to_match(e);
    if (!m) return std::move(m).error();
    out.push_back(std::move(*m));
  }
  return out;
}

Result<std::vector<std::optional<GeoPoint>>> geo_positions(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  std::vector<std::optional<GeoPoint>> out;
  out.reserve(a->size());
  for (const Reply& e : *a) {
    if (e.is_nil()) {
      out.emplace_back();
      continue;
    }
    auto pt = to_point(e);
    if (!pt) return std::move(pt).error();
    out.emplace_back(*pt);
  }
  return out;
}

Result<std::vector<FunctionLibrary>> function_libraries(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  std::vector<FunctionLibrary> out;
  out.reserve(a->size());
  for (Reply& e : *a) {
    FunctionLibrary lib;
    Result<void> ok = for_each_field(e, [&](std::string_view name, Reply& v) -> Result<void> {
      if (name == "library_name") return take_text(lib.name, v);
      if (name == "engine") return take_text(lib.engine, v);
      if (name == "library_code") return take_optional_text(lib.code, v);
      if (name == "functions") {
        if (!v.is_array()) return unexpected(v, "array of functions");
        for (Reply& f : v.elements()) {
          auto fn = to_function(f);
          if (!fn) return std::move(fn).error();
          lib.functions.push_back(std::move(*fn));
        }
      }
      return {};
    });
    if (!ok) return std::move(ok).error();
    out.push_back(std::move(lib));
  }
  return out;
}

}  // namespace uvredis::decode
