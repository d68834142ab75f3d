#pragma once
/// @file command_types.hpp
/// Result types of the typed commands (commands.hpp) that are more than a
/// string, a number or a list of strings. Plain values that own their data:
/// keep them, move them to other threads.

#include <uvredis/export.hpp>

#include <chrono>
#include <cstdint>
#include <map>
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

/// INFO, parsed: section name in lower case ("server", "memory",
/// "keyspace" ...) -> key -> value, values as the server wrote them
/// ("db0" -> "keys=1,expires=0,avg_ttl=0").
using InfoSections = std::map<std::string, std::map<std::string, std::string>>;

/// TIME: the server's clock, with the microsecond precision it reports.
using ServerTime = std::chrono::sys_time<std::chrono::microseconds>;

}  // namespace uvredis
