// Decoders of the stream family's replies (XRANGE, XREAD, XPENDING,
// XAUTOCLAIM, XINFO). Pure functions; every string is moved out of the reply
// as it came (binary-safe), never re-parsed.
#include "protocol/decode_internal.hpp"

#include <uvredis/decode.hpp>

#include <charconv>

namespace uvredis::decode {

namespace {

// An integer element, also when the server sends it as text (the per-consumer
// counts of XPENDING are bulk strings).
Result<long long> to_integer(const Reply& e) {
  if (e.is_integer()) return e.integer();
  if (is_text(e)) {
    long long v = 0;
    std::string_view s = e.str();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!s.empty() && ec == std::errc() && p == s.data() + s.size()) return v;
  }
  return unexpected(e, "integer element");
}

// [id, [field, value ...]] or [id, nil] (an entry deleted while pending).
Result<StreamEntry> take_entry(Reply& e) {
  if (!e.is_array() || e.size() != 2) return bad_shape("a stream entry is not [id, fields]");
  auto& parts = e.elements();
  auto id = take_text(parts[0]);
  if (!id) return std::move(id).error();
  StreamEntry out;
  out.id = std::move(*id);
  if (parts[1].is_nil()) {
    out.deleted = true;
    return out;
  }
  if (!parts[1].is_array()) return unexpected(parts[1], "array of fields");
  auto& kv = parts[1].elements();
  if (kv.size() % 2 != 0) return bad_shape("odd number of elements in a stream entry's fields");
  out.fields.reserve(kv.size() / 2);
  for (std::size_t i = 0; i < kv.size(); i += 2) {
    auto f = take_text(kv[i]);
    if (!f) return std::move(f).error();
    auto v = take_text(kv[i + 1]);
    if (!v) return std::move(v).error();
    out.fields.emplace_back(std::move(*f), std::move(*v));
  }
  return out;
}

Result<std::vector<StreamEntry>> take_entries(std::vector<Reply>& elems) {
  std::vector<StreamEntry> out;
  out.reserve(elems.size());
  for (Reply& e : elems) {
    if (e.is_nil()) continue;  // XCLAIM of an id that vanished (older servers)
    auto entry = take_entry(e);
    if (!entry) return std::move(entry).error();
    out.push_back(std::move(*entry));
  }
  return out;
}

Result<std::vector<std::string>> take_strings(Reply& e) {
  if (e.is_nil()) return std::vector<std::string>();
  if (!e.is_array()) return unexpected(e, "array of ids");
  std::vector<std::string> out;
  out.reserve(e.size());
  for (Reply& x : e.elements()) {
    auto s = take_text(x);
    if (!s) return std::move(s).error();
    out.push_back(std::move(*s));
  }
  return out;
}


Result<void> set_int(long long& out, const Reply& v) {
  auto n = to_integer(v);
  if (!n) return std::move(n).error();
  out = *n;
  return {};
}

Result<void> set_opt_int(std::optional<long long>& out, const Reply& v) {
  if (v.is_nil()) {
    out.reset();
    return {};
  }
  auto n = to_integer(v);
  if (!n) return std::move(n).error();
  out = *n;
  return {};
}

Result<void> set_text(std::string& out, Reply& v) {
  auto s = take_text(v);
  if (!s) return std::move(s).error();
  out = std::move(*s);
  return {};
}

Result<void> set_entry(std::optional<StreamEntry>& out, Reply& v) {
  if (v.is_nil()) return {};
  auto e = take_entry(v);
  if (!e) return std::move(e).error();
  out = std::move(*e);
  return {};
}

template <class T, class F>
Result<std::vector<T>> each_flat(Result<Reply>&& r, F&& one) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  std::vector<T> out;
  out.reserve(a->size());
  for (Reply& e : *a) {
    T item;
    Result<void> ok = for_each_field(e, [&](std::string_view name, Reply& v) { return one(item, name, v); });
    if (!ok) return std::move(ok).error();
    out.push_back(std::move(item));
  }
  return out;
}

template <class T>
Result<AutoClaim<T>> autoclaim(Result<Reply>&& r, Result<std::vector<T>> (*claimed)(Reply&)) {
  auto a = take_array(std::move(r), false);
  if (!a) return std::move(a).error();
  // Redis 6.2 sends [next, claimed]; 7.0 adds the deleted ids.
  if (a->size() != 2 && a->size() != 3) return bad_shape("XAUTOCLAIM reply is not [next, claimed, deleted]");
  AutoClaim<T> out;
  auto next = take_text((*a)[0]);
  if (!next) return std::move(next).error();
  out.next_id = std::move(*next);
  auto c = claimed((*a)[1]);
  if (!c) return std::move(c).error();
  out.claimed = std::move(*c);
  if (a->size() == 3) {
    auto d = take_strings((*a)[2]);
    if (!d) return std::move(d).error();
    out.deleted_ids = std::move(*d);
  }
  return out;
}

Result<std::vector<StreamEntry>> claimed_entries(Reply& e) {
  if (!e.is_array()) return unexpected(e, "array of entries");
  return take_entries(e.elements());
}

}  // namespace

Result<std::vector<StreamEntry>> stream_entries(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  return take_entries(*a);
}

Result<std::vector<StreamBatch>> stream_batches(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  std::vector<StreamBatch> out;
  out.reserve(a->size());
  for (Reply& s : *a) {
    if (!s.is_array() || s.size() != 2) return bad_shape("an XREAD stream is not [key, entries]");
    auto key = take_text(s.elements()[0]);
    if (!key) return std::move(key).error();
    Reply& entries = s.elements()[1];
    if (!entries.is_array() && !entries.is_nil()) return unexpected(entries, "array of entries");
    auto list = take_entries(entries.elements());
    if (!list) return std::move(list).error();
    out.push_back(StreamBatch{std::move(*key), std::move(*list)});
  }
  return out;
}

Result<PendingSummary> pending_summary(Result<Reply>&& r) {
  auto a = take_array(std::move(r), false);
  if (!a) return std::move(a).error();
  if (a->size() != 4) return bad_shape("XPENDING summary is not [count, smallest, largest, consumers]");
  PendingSummary out;
  auto count = to_integer((*a)[0]);
  if (!count) return std::move(count).error();
  out.count = *count;
  for (int i : {1, 2}) {
    Reply& id = (*a)[static_cast<std::size_t>(i)];
    if (id.is_nil()) continue;
    auto s = take_text(id);
    if (!s) return std::move(s).error();
    (i == 1 ? out.smallest_id : out.largest_id) = std::move(*s);
  }
  Reply& consumers = (*a)[3];
  if (consumers.is_nil()) return out;
  if (!consumers.is_array()) return unexpected(consumers, "array of consumers");
  for (Reply& c : consumers.elements()) {
    if (!c.is_array() || c.size() != 2) return bad_shape("an XPENDING consumer is not [name, count]");
    auto name = take_text(c.elements()[0]);
    if (!name) return std::move(name).error();
    auto n = to_integer(c[1]);
    if (!n) return std::move(n).error();
    out.consumers.emplace_back(std::move(*name), *n);
  }
  return out;
}

Result<std::vector<PendingEntry>> pending_entries(Result<Reply>&& r) {
  auto a = take_array(std::move(r), true);
  if (!a) return std::move(a).error();
  std::vector<PendingEntry> out;
  out.reserve(a->size());
  for (Reply& e : *a) {
    if (!e.is_array() || e.size() != 4) return bad_shape("an XPENDING entry is not [id, consumer, idle, deliveries]");
    PendingEntry p;
    auto id = take_text(e.elements()[0]);
    if (!id) return std::move(id).error();
    auto consumer = take_text(e.elements()[1]);
    if (!consumer) return std::move(consumer).error();
    auto idle = to_integer(e[2]);
    if (!idle) return std::move(idle).error();
    auto n = to_integer(e[3]);
    if (!n) return std::move(n).error();
    out.push_back(PendingEntry{std::move(*id), std::move(*consumer), std::chrono::milliseconds(*idle), *n});
  }
  return out;
}

Result<AutoClaim<StreamEntry>> autoclaim_entries(Result<Reply>&& r) {
  return autoclaim<StreamEntry>(std::move(r), &claimed_entries);
}

Result<AutoClaim<std::string>> autoclaim_ids(Result<Reply>&& r) {
  return autoclaim<std::string>(std::move(r), &take_strings);
}

Result<StreamInfo> stream_info(Result<Reply>&& r) {
  if (!r) return std::move(r).error();
  StreamInfo out;
  Result<void> ok = for_each_field(*r, [&](std::string_view name, Reply& v) -> Result<void> {
    if (name == "length") return set_int(out.length, v);
    if (name == "radix-tree-keys") return set_int(out.radix_tree_keys, v);
    if (name == "radix-tree-nodes") return set_int(out.radix_tree_nodes, v);
    if (name == "groups") return set_int(out.groups, v);
    if (name == "last-generated-id") return set_text(out.last_generated_id, v);
    if (name == "max-deleted-entry-id") return set_text(out.max_deleted_entry_id, v);
    if (name == "entries-added") return set_int(out.entries_added, v);
    if (name == "recorded-first-entry-id") return set_text(out.recorded_first_entry_id, v);
    if (name == "first-entry") return set_entry(out.first_entry, v);
    if (name == "last-entry") return set_entry(out.last_entry, v);
    return {};
  });
  if (!ok) return std::move(ok).error();
  return out;
}

Result<std::vector<StreamGroupInfo>> stream_groups(Result<Reply>&& r) {
  return each_flat<StreamGroupInfo>(std::move(r), [](StreamGroupInfo& g, std::string_view name,
                                                     Reply& v) -> Result<void> {
    if (name == "name") return set_text(g.name, v);
    if (name == "consumers") return set_int(g.consumers, v);
    if (name == "pending") return set_int(g.pending, v);
    if (name == "last-delivered-id") return set_text(g.last_delivered_id, v);
    if (name == "entries-read") return set_opt_int(g.entries_read, v);
    if (name == "lag") return set_opt_int(g.lag, v);
    return {};
  });
}

Result<std::vector<StreamConsumerInfo>> stream_consumers(Result<Reply>&& r) {
  return each_flat<StreamConsumerInfo>(std::move(r), [](StreamConsumerInfo& c, std::string_view name,
                                                        Reply& v) -> Result<void> {
    if (name == "name") return set_text(c.name, v);
    if (name == "pending") return set_int(c.pending, v);
    if (name == "idle") {
      long long ms = 0;
      auto ok = set_int(ms, v);
      c.idle = std::chrono::milliseconds(ms);
      return ok;
    }
    if (name == "inactive") {
      long long ms = 0;
      auto ok = set_int(ms, v);
      // -1: the consumer never read successfully.
      if (ok && ms >= 0) c.inactive = std::chrono::milliseconds(ms);
      return ok;
    }
    return {};
  });
}

}  // namespace uvredis::decode
