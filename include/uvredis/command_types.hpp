#pragma once
/// @file command_types.hpp
/// Result types of the typed commands (commands.hpp) that are more than a
/// string, a number or a list of strings. Plain values that own their data:
/// keep them, move them to other threads.

#include <uvredis/export.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace uvredis {

/// TTL / PTTL: whether the key exists, whether it expires, and in how long.
struct UVREDIS_API Ttl {
  enum class State {
    no_key,     ///< The key does not exist (the server said -2).
    no_expiry,  ///< The key exists and never expires (-1).
    expires,    ///< The key expires in `remaining`.
  };
  State state = State::no_key;
  /// Time left when state == expires (TTL has second precision), else zero.
  std::chrono::milliseconds remaining{0};

  bool exists() const noexcept { return state != State::no_key; }
  bool expires() const noexcept { return state == State::expires; }
  friend bool operator==(const Ttl&, const Ttl&) = default;
};

/// One step of SCAN / SSCAN / HSCAN / ZSCAN: the cursor for the next step (0
/// when the iteration is complete) and the items of this step. A step may be
/// empty while the iteration goes on, and an item may come more than once.
template <class T>
struct ScanPage {
  std::uint64_t cursor = 0;
  std::vector<T> items;

  bool done() const noexcept { return cursor == 0; }
};

/// A sorted-set member with its score (WITHSCORES, ZPOPMIN, ZSCAN ...).
struct UVREDIS_API ScoredMember {
  std::string member;
  double score = 0;
  friend bool operator==(const ScoredMember&, const ScoredMember&) = default;
};

/// What BLPOP / BRPOP popped: the key it came from and the element.
struct UVREDIS_API KeyedElement {
  std::string key;
  std::string element;
  friend bool operator==(const KeyedElement&, const KeyedElement&) = default;
};

/// What BZPOPMIN / BZPOPMAX popped: the key, the member and its score.
struct UVREDIS_API KeyedMember {
  std::string key;
  std::string member;
  double score = 0;
  friend bool operator==(const KeyedMember&, const KeyedMember&) = default;
};

/// HGETALL: field -> value. Order is not meaningful in a Redis hash, so an
/// unordered map (fields are unique).
using FieldMap = std::unordered_map<std::string, std::string>;

/// HRANDFIELD ... WITHVALUES, HSCAN: (field, value) pairs in reply order;
/// HRANDFIELD with a negative count may repeat a field, so not a map.
using FieldValue = std::pair<std::string, std::string>;

/// One stream entry: its id ("1700000000000-0") and its field/value pairs in
/// the order the server keeps them (the order of XADD), binary-safe; a field
/// may repeat. `deleted` is set (and `fields` empty) for an entry that is
/// still pending in a group but was removed with XDEL or trimmed
/// (XREADGROUP of history, XCLAIM).
struct UVREDIS_API StreamEntry {
  std::string id;
  std::vector<FieldValue> fields;
  bool deleted = false;
  friend bool operator==(const StreamEntry&, const StreamEntry&) = default;
};

/// What XREAD / XREADGROUP returned for one stream: its key and the entries
/// read from it, oldest first.
struct UVREDIS_API StreamBatch {
  std::string stream;
  std::vector<StreamEntry> entries;
  friend bool operator==(const StreamBatch&, const StreamBatch&) = default;
};

/// XPENDING key group: how many entries the group delivered and did not
/// acknowledge yet, the smallest and largest such id (empty when none), and
/// per consumer how many it holds (consumers with none are not listed).
struct UVREDIS_API PendingSummary {
  long long count = 0;
  std::string smallest_id;
  std::string largest_id;
  std::vector<std::pair<std::string, long long>> consumers;
  friend bool operator==(const PendingSummary&, const PendingSummary&) = default;
};

/// One line of the extended XPENDING: a pending entry, the consumer that
/// holds it, the time since it was last delivered, and how many times it
/// was delivered.
struct UVREDIS_API PendingEntry {
  std::string id;
  std::string consumer;
  std::chrono::milliseconds idle{0};
  long long deliveries = 0;
  friend bool operator==(const PendingEntry&, const PendingEntry&) = default;
};

/// XAUTOCLAIM: the id to pass as `start` on the next call ("0-0" when the
/// scan of the pending list is complete), the entries claimed (T is
/// StreamEntry, or std::string with JUSTID) and the ids of pending entries
/// that no longer exist in the stream (the server removed them from the
/// pending list).
template <class T>
struct AutoClaim {
  std::string next_id;
  std::vector<T> claimed;
  std::vector<std::string> deleted_ids;

  bool done() const noexcept { return next_id == "0-0"; }
};

/// XINFO STREAM. Fields a server version does not report stay at their
/// defaults (entries_added, max_deleted_entry_id and recorded_first_entry_id
/// are Redis 7 additions).
struct UVREDIS_API StreamInfo {
  long long length = 0;
  long long radix_tree_keys = 0;
  long long radix_tree_nodes = 0;
  long long groups = 0;
  std::string last_generated_id;
  std::string max_deleted_entry_id;
  long long entries_added = 0;
  std::string recorded_first_entry_id;
  std::optional<StreamEntry> first_entry;  ///< Empty for an empty stream.
  std::optional<StreamEntry> last_entry;
  friend bool operator==(const StreamInfo&, const StreamInfo&) = default;
};

/// One group of XINFO GROUPS. `entries_read` and `lag` are empty when the
/// server cannot tell (or is older than Redis 7).
struct UVREDIS_API StreamGroupInfo {
  std::string name;
  long long consumers = 0;
  long long pending = 0;
  std::string last_delivered_id;
  std::optional<long long> entries_read;
  std::optional<long long> lag;
  friend bool operator==(const StreamGroupInfo&, const StreamGroupInfo&) = default;
};

/// One consumer of XINFO CONSUMERS: its pending count, the time since its
/// last attempted read (`idle`), and since its last successful one
/// (`inactive`, Redis 7.2 and later; empty before).
struct UVREDIS_API StreamConsumerInfo {
  std::string name;
  long long pending = 0;
  std::chrono::milliseconds idle{0};
  std::optional<std::chrono::milliseconds> inactive;
  friend bool operator==(const StreamConsumerInfo&, const StreamConsumerInfo&) = default;
};

/// A position on the earth, in degrees, in the order Redis takes it:
/// longitude (-180 to 180) then latitude (-85.05112878 to 85.05112878, the
/// range the server can index). Also a result type (GEOPOS, WITHCOORD).
struct UVREDIS_API GeoPoint {
  double longitude = 0;
  double latitude = 0;
  friend bool operator==(const GeoPoint&, const GeoPoint&) = default;
};

/// One GEOSEARCH result: the member (binary-safe) and what the query asked
/// for with WITHDIST (in the query's unit), WITHHASH (the 52-bit geohash
/// score) and WITHCOORD.
struct UVREDIS_API GeoMatch {
  std::string member;
  std::optional<double> dist;
  std::optional<long long> hash;
  std::optional<GeoPoint> coord;
  friend bool operator==(const GeoMatch&, const GeoMatch&) = default;
};

/// One function of a library (FUNCTION LIST).
struct UVREDIS_API FunctionInfo {
  std::string name;
  std::optional<std::string> description;  ///< Empty when the library gave none.
  std::vector<std::string> flags;          ///< "no-writes", "allow-oom" ...
  friend bool operator==(const FunctionInfo&, const FunctionInfo&) = default;
};

/// One library of FUNCTION LIST. `code` is set only WITHCODE.
struct UVREDIS_API FunctionLibrary {
  std::string name;
  std::string engine;  ///< "LUA"
  std::vector<FunctionInfo> functions;
  std::optional<std::string> code;
  friend bool operator==(const FunctionLibrary&, const FunctionLibrary&) = default;
};

/// INFO, parsed: section name in lower case ("server", "memory",
/// "keyspace" ...) -> key -> value, values as the server wrote them
/// ("db0" -> "keys=1,expires=0,avg_ttl=0").
using InfoSections = std::map<std::string, std::map<std::string, std::string>>;

/// TIME: the server's clock, with the microsecond precision it reports.
using ServerTime = std::chrono::sys_time<std::chrono::microseconds>;

}  // namespace uvredis
