#pragma once
/// @file decode.hpp
/// Decoders: pure functions from a raw reply to the typed result a helper
/// promises (for example GET -> std::optional<std::string>). Shared by every
/// sink of the command table (Client, Pipeline, Transaction, ClusterClient).
/// No I/O; usable from any thread.

#include <uvredis/command_types.hpp>
#include <uvredis/export.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

/// A decoder turns the raw result of one command into its typed result.
template <class T>
using Decoder = Result<T> (*)(Result<Reply>&&);

namespace decode {

/// The reply as it is.
UVREDIS_API Result<Reply> reply(Result<Reply>&& r);
/// Status "OK" (or any status) -> success.
UVREDIS_API Result<void> ok(Result<Reply>&& r);
/// Bulk or status string; nil is a type error.
UVREDIS_API Result<std::string> string(Result<Reply>&& r);
/// Bulk string or nil (absent key -> empty optional).
UVREDIS_API Result<std::optional<std::string>> optional_string(Result<Reply>&& r);
/// Integer reply.
UVREDIS_API Result<long long> integer(Result<Reply>&& r);
/// Integer 0/1 -> bool; also status OK -> true and nil -> false (SET NX).
UVREDIS_API Result<bool> boolean(Result<Reply>&& r);
/// Integer or nil (ZRANK of an absent member, LPOS without a match).
UVREDIS_API Result<std::optional<long long>> optional_integer(Result<Reply>&& r);
/// A double sent as a bulk string ("3.5", "inf", "-inf"); integers accepted.
UVREDIS_API Result<double> floating(Result<Reply>&& r);
/// A double or nil (ZSCORE of an absent member, ZADD INCR that did nothing).
UVREDIS_API Result<std::optional<double>> optional_floating(Result<Reply>&& r);

/// Array of strings; nil counts as an empty array (LPOP key count on an
/// absent key).
UVREDIS_API Result<std::vector<std::string>> string_list(Result<Reply>&& r);
/// Array of strings or nils (MGET, HMGET).
UVREDIS_API Result<std::vector<std::optional<std::string>>> optional_string_list(Result<Reply>&& r);
/// Array of doubles or nils (ZMSCORE).
UVREDIS_API Result<std::vector<std::optional<double>>> optional_floating_list(Result<Reply>&& r);
/// Array of integers (LPOS ... COUNT); nil counts as empty.
UVREDIS_API Result<std::vector<long long>> integer_list(Result<Reply>&& r);
/// Array of 0/1 integers (SMISMEMBER).
UVREDIS_API Result<std::vector<bool>> boolean_list(Result<Reply>&& r);
/// Flat field, value, field, value ... array -> map (HGETALL).
UVREDIS_API Result<FieldMap> field_map(Result<Reply>&& r);
/// Flat field, value ... array -> pairs in order (HRANDFIELD WITHVALUES).
UVREDIS_API Result<std::vector<FieldValue>> field_values(Result<Reply>&& r);
/// Flat member, score ... array (WITHSCORES, ZPOPMIN key count).
UVREDIS_API Result<std::vector<ScoredMember>> scored_members(Result<Reply>&& r);
/// [member, score], empty array or nil (ZPOPMIN key).
UVREDIS_API Result<std::optional<ScoredMember>> optional_scored_member(Result<Reply>&& r);
/// [key, element] or nil on timeout (BLPOP, BRPOP).
UVREDIS_API Result<std::optional<KeyedElement>> keyed_element(Result<Reply>&& r);
/// [key, member, score] or nil on timeout (BZPOPMIN, BZPOPMAX).
UVREDIS_API Result<std::optional<KeyedMember>> keyed_member(Result<Reply>&& r);
/// TTL reply in seconds (-2 no key, -1 no expiry).
UVREDIS_API Result<Ttl> ttl_seconds(Result<Reply>&& r);
/// PTTL reply in milliseconds.
UVREDIS_API Result<Ttl> ttl_millis(Result<Reply>&& r);
/// [cursor, [item ...]] (SCAN, SSCAN).
UVREDIS_API Result<ScanPage<std::string>> scan_strings(Result<Reply>&& r);
/// [cursor, [field, value ...]] (HSCAN).
UVREDIS_API Result<ScanPage<FieldValue>> scan_field_values(Result<Reply>&& r);
/// [cursor, [member, score ...]] (ZSCAN).
UVREDIS_API Result<ScanPage<ScoredMember>> scan_scored_members(Result<Reply>&& r);
/// [[id, [field, value ...]] ...] (XRANGE, XREVRANGE, XCLAIM); nil counts
/// as empty; [id, nil] is an entry marked deleted.
UVREDIS_API Result<std::vector<StreamEntry>> stream_entries(Result<Reply>&& r);
/// [[key, entries] ...] or nil (XREAD, XREADGROUP; nil -> empty).
UVREDIS_API Result<std::vector<StreamBatch>> stream_batches(Result<Reply>&& r);
/// [count, smallest, largest, [[consumer, count] ...]] (XPENDING key group).
UVREDIS_API Result<PendingSummary> pending_summary(Result<Reply>&& r);
/// [[id, consumer, idle, deliveries] ...] (extended XPENDING).
UVREDIS_API Result<std::vector<PendingEntry>> pending_entries(Result<Reply>&& r);
/// [next, entries, deleted ids] (XAUTOCLAIM).
UVREDIS_API Result<AutoClaim<StreamEntry>> autoclaim_entries(Result<Reply>&& r);
/// [next, ids, deleted ids] (XAUTOCLAIM ... JUSTID).
UVREDIS_API Result<AutoClaim<std::string>> autoclaim_ids(Result<Reply>&& r);
/// Flat name, value ... array (XINFO STREAM).
UVREDIS_API Result<StreamInfo> stream_info(Result<Reply>&& r);
/// Array of flat name, value ... arrays (XINFO GROUPS).
UVREDIS_API Result<std::vector<StreamGroupInfo>> stream_groups(Result<Reply>&& r);
/// Array of flat name, value ... arrays (XINFO CONSUMERS).
UVREDIS_API Result<std::vector<StreamConsumerInfo>> stream_consumers(Result<Reply>&& r);
/// Array of integers or nils (BITFIELD: nil where OVERFLOW FAIL refused).
UVREDIS_API Result<std::vector<std::optional<long long>>> optional_integer_list(Result<Reply>&& r);
/// GEOSEARCH: an array of members, or of [member, dist?, hash?, [lon, lat]?]
/// arrays (WITHDIST / WITHHASH / WITHCOORD; each is told by its type).
UVREDIS_API Result<std::vector<GeoMatch>> geo_matches(Result<Reply>&& r);
/// GEOPOS: an array of [lon, lat] or nil (an absent member).
UVREDIS_API Result<std::vector<std::optional<GeoPoint>>> geo_positions(Result<Reply>&& r);
/// FUNCTION LIST: array of flat name, value ... arrays, one per library.
UVREDIS_API Result<std::vector<FunctionLibrary>> function_libraries(Result<Reply>&& r);
/// INFO text -> sections.
UVREDIS_API Result<InfoSections> info(Result<Reply>&& r);
/// [seconds, microseconds] (TIME).
UVREDIS_API Result<ServerTime> server_time(Result<Reply>&& r);

/// Parses a Redis double ("1.5", "-inf", "+inf", "1e+20"); nullopt when the
/// text is not a number. Independent of the C locale.
UVREDIS_API std::optional<double> parse_double(std::string_view text) noexcept;
/// Parses INFO's text: "# Section" headers, "key:value" lines (split at the
/// first colon), CRLF or LF line ends; lines before any header go to "".
UVREDIS_API InfoSections parse_info(std::string_view text);

/// Error for a reply of an unexpected shape (kind protocol, names the shape).
UVREDIS_API Error unexpected(const Reply& r, const char* wanted);

}  // namespace decode
}  // namespace uvredis
