// Decoders of array replies (lists, maps, scored members, scan pages) and of
// the server family's composite replies (INFO, TIME). Pure functions.
#include <uvredis/decode.hpp>

#include "protocol/decode_internal.hpp"

#include <cctype>
#include <charconv>

namespace uvredis::decode {

namespace {

template <class T, class F>
Result<std::vector<T>> map_elements(std::vector<Reply>& elems, F&& one) {
  std::vector<T> out;
  out.reserve(elems.size());
  for (Reply& e : elems) {
    Result<T> v = one(e);
    if (!v) return std::move(v).error();
    out.push_back(std::move(*v));
  }
  return out;
}

Result<std::vector<ScoredMember>> pairs_to_scored(std::vector<Reply>& elems) {
  if (elems.size() % 2 != 0) return bad_shape("odd number of elements in a member/score array");
  std::vector<ScoredMember> out;
  out.reserve(elems.size() / 2);
  for (std::size_t i = 0; i < elems.size(); i += 2) {
    auto m = take_text(elems[i]);
    if (!m) return std::move(m).error();
    auto s = detail_to_double(elems[i + 1]);
    if (!s) return std::move(s).error();
    out.push_back(ScoredMember{std::move(*m), *s});
  }
  return out;
}

Result<std::vector<FieldValue>> pairs_to_field_values(std::vector<Reply>& elems) {
  if (elems.size() % 2 != 0) return bad_shape("odd number of elements in a field/value array");
  std::vector<FieldValue> out;
  out.reserve(elems.size() / 2);
  for (std::size_t i = 0; i < elems.size(); i += 2) {
    auto f = take_text(elems[i]);
    if (!f) return std::move(f).error();
    auto v = take_text(elems[i + 1]);
    if (!v) return std::move(v).error();
    out.emplace_back(std::move(*f), std::move(*v));
  }
  return out;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<long long> parse_i64(std::string_view s) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// [cursor, [items...]]: the cursor and the inner array.
Result<std::pair<std::uint64_t, std::vector<Reply>>> scan_parts(Result<Reply>&& r) {
  auto a = take_array(std::move(r), false);
  if (!a) return std::move(a).error();
  if (a->size() != 2 || !is_text((*a)[0]) || !(*a)[1].is_array()) return bad_shape("SCAN reply is not [cursor, array]");
  auto cursor = parse_u64((*a)[0].str());
  if (!cursor) return bad_shape("SCAN cursor is not a number");
  return std::make_pair(*cursor, std::move((*a)[1].elements()));
}

}  // namespace

Result<std::vector<std::string>> string_list(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  return map_elements<std::string>(*a, take_text);
}

Result<std::vector<std::optional<std::string>>> optional_string_list(Result<Reply>&& r) {
  auto a = take_array(std::move(r), false);
  if (!a) return std::move(a).error();
  return map_elements<std::optional<std::string>>(*a, [](Reply& e) -> Result<std::optional<std::string>> {
    if (e.is_nil()) return std::optional<std::string>();
    auto s = take_text(e);
    if (!s) return std::move(s).error();
    return std::optional<std::string>(std::move(*s));
  });
}

Result<std::vector<std::optional<double>>> optional_floating_list(Result<Reply>&& r) {
  auto a = take_array(std::move(r), false);
  if (!a) return std::move(a).error();
  return map_elements<std::optional<double>>(*a, [](Reply& e) -> Result<std::optional<double>> {
    if (e.is_nil()) return std::optional<double>();
    auto d = detail_to_double(e);
    if (!d) return std::move(d).error();
    return std::optional<double>(*d);
  });
}

Result<std::vector<long long>> integer_list(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  return map_elements<long long>(*a, [](Reply& e) -> Result<long long> {
    if (!e.is_integer()) return unexpected(e, "integer element");
    return e.integer();
  });
}

Result<std::vector<bool>> boolean_list(Result<Reply>&& r) {
  auto a = take_array(std::move(r), false);
  if (!a) return std::move(a).error();
  std::vector<bool> out;
  out.reserve(a->size());
  for (const Reply& e : *a) {
    if (!e.is_integer()) return unexpected(e, "integer element");
    out.push_back(e.integer() != 0);
  }
  return out;
}

Result<FieldMap> field_map(Result<Reply>&& r) {
  auto a = take_array(std::move(r), false);
  if (!a) return std::move(a).error();
  auto pairs = pairs_to_field_values(*a);
  if (!pairs) return std::move(pairs).error();
  FieldMap m;
  m.reserve(pairs->size());
  for (auto& [f, v] : *pairs) m.insert_or_assign(std::move(f), std::move(v));
  return m;
}

Result<std::vector<FieldValue>> field_values(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  return pairs_to_field_values(*a);
}

Result<std::vector<ScoredMember>> scored_members(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  return pairs_to_scored(*a);
}

Result<std::optional<ScoredMember>> optional_scored_member(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  if (a->empty()) return std::optional<ScoredMember>();
  if (a->size() != 2) return bad_shape("ZPOP reply is not [member, score]");
  auto v = pairs_to_scored(*a);
  if (!v) return std::move(v).error();
  return std::optional<ScoredMember>(std::move(v->front()));
}

Result<std::optional<KeyedElement>> keyed_element(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  if (a->empty()) return std::optional<KeyedElement>();
  if (a->size() != 2) return bad_shape("blocking pop reply is not [key, element]");
  auto k = take_text((*a)[0]);
  if (!k) return std::move(k).error();
  auto e = take_text((*a)[1]);
  if (!e) return std::move(e).error();
  return std::optional<KeyedElement>(KeyedElement{std::move(*k), std::move(*e)});
}

Result<std::optional<KeyedMember>> keyed_member(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  if (a->empty()) return std::optional<KeyedMember>();
  if (a->size() != 3) return bad_shape("blocking zpop reply is not [key, member, score]");
  auto k = take_text((*a)[0]);
  if (!k) return std::move(k).error();
  auto m = take_text((*a)[1]);
  if (!m) return std::move(m).error();
  auto s = detail_to_double((*a)[2]);
  if (!s) return std::move(s).error();
  return std::optional<KeyedMember>(KeyedMember{std::move(*k), std::move(*m), *s});
}

Result<ScanPage<std::string>> scan_strings(Result<Reply>&& r) {
  auto parts = scan_parts(std::move(r));
  if (!parts) return std::move(parts).error();
  auto items = map_elements<std::string>(parts->second, take_text);
  if (!items) return std::move(items).error();
  return ScanPage<std::string>{parts->first, std::move(*items)};
}

Result<ScanPage<FieldValue>> scan_field_values(Result<Reply>&& r) {
  auto parts = scan_parts(std::move(r));
  if (!parts) return std::move(parts).error();
  auto items = pairs_to_field_values(parts->second);
  if (!items) return std::move(items).error();
  return ScanPage<FieldValue>{parts->first, std::move(*items)};
}

Result<ScanPage<ScoredMember>> scan_scored_members(Result<Reply>&& r) {
  auto parts = scan_parts(std::move(r));
  if (!parts) return std::move(parts).error();
  auto items = pairs_to_scored(parts->second);
  if (!items) return std::move(items).error();
  return ScanPage<ScoredMember>{parts->first, std::move(*items)};
}

InfoSections parse_info(std::string_view text) {
  InfoSections out;
  std::map<std::string, std::string>* section = nullptr;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.front() == '#') {
      line.remove_prefix(1);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      std::string name(line);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      section = &out[name];
      continue;
    }
    if (!section) section = &out[""];
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      (*section)[std::string(line)] = "";
    else
      (*section)[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 1));
  }
  return out;
}

Result<InfoSections> info(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  if (!is_text(*r)) return unexpected(*r, "string");
  return parse_info(r->str());
}

Result<ServerTime> server_time(Result<Reply>&& r) {
  auto a = take_array(std::move(r), false);
  if (!a) return std::move(a).error();
  if (a->size() != 2 || !is_text((*a)[0]) || !is_text((*a)[1])) return bad_shape("TIME reply is not [seconds, microseconds]");
  auto s = parse_i64((*a)[0].str());
  auto us = parse_i64((*a)[1].str());
  if (!s || !us) return bad_shape("TIME reply is not numeric");
  return ServerTime(std::chrono::seconds(*s) + std::chrono::microseconds(*us));
}

}  // namespace uvredis::decode
