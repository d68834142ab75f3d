#pragma once
/// @file commands/sorted_sets.hpp
/// Sorted-set commands of the command table (ZADD, ZRANGE, BZPOPMIN ...). A
/// mixin of Commands<Sink>: every method exists on Client, Lease, Pipeline
/// and Transaction alike. Loop-thread only; arguments are copied before the
/// call returns; the callback runs exactly once, on a later loop turn.
///
/// Scores are doubles; -inf and +inf come back as infinities. A NaN score or
/// bound is a usage error. Score ranges take ScoreBound (a double is an
/// inclusive bound; ScoreBound::exclusive(x), neg_inf(), pos_inf()).
/// ZRANGE takes a ZRange query whose bounds are always min then max; the
/// legacy ZREVRANGEBYSCORE helper keeps the server's max-then-min order.
/// BZPOPMIN/BZPOPMAX block like BLPOP (see lists.hpp): a timeout is an empty
/// optional, not an error.

#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands/base.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

template <class Sink>
class SortedSetCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;
  using OptString = std::optional<std::string>;
  using OptDouble = std::optional<double>;
  using Strings = std::vector<std::string>;
  using Scored = std::vector<ScoredMember>;

 public:
  /// ZADD key [NX|XX] [GT|LT] [CH] score member ...: from `{{"ann", 10},
  /// ...}` or any range of (member, score) pairs. How many members were
  /// added (with CH: added or changed). An empty list, a NaN score, or NX
  /// with GT/LT is a usage error.
  Ret<long long> zadd(std::string_view key, const MemberScores& members, const ZAddOptions& opts,
                      Callback<long long> cb = {}) {
    detail::Args a("ZADD", 5 + 2 * members.size());
    a.add(key);
    detail::add_zadd_options(a, opts);
    if (members.empty()) a.fail("the list of members is empty");
    for (const auto& [member, score] : members) a.add_double(score, "a score").add(member);
    return run(a, &decode::integer, std::move(cb));
  }
  Ret<long long> zadd(std::string_view key, const MemberScores& members, Callback<long long> cb = {}) {
    return zadd(key, members, ZAddOptions{}, std::move(cb));
  }

  /// ZADD key [options] INCR increment member: the new score, or an empty
  /// optional when NX/XX/GT/LT kept the update from happening.
  Ret<OptDouble> zadd_incr(std::string_view key, std::string_view member, double increment,
                           const ZAddOptions& opts, Callback<OptDouble> cb = {}) {
    detail::Args a("ZADD", 8);
    a.add(key);
    detail::add_zadd_options(a, opts);
    a.add("INCR").add_double(increment, "the increment").add(member);
    return run(a, &decode::optional_floating, std::move(cb));
  }
  Ret<OptDouble> zadd_incr(std::string_view key, std::string_view member, double increment,
                           Callback<OptDouble> cb = {}) {
    return zadd_incr(key, member, increment, ZAddOptions{}, std::move(cb));
  }

  /// ZINCRBY key increment member: the new score.
  Ret<double> zincrby(std::string_view key, double increment, std::string_view member, Callback<double> cb = {}) {
    detail::Args a("ZINCRBY");
    a.add(key).add_double(increment, "the increment").add(member);
    return run(a, &decode::floating, std::move(cb));
  }

  /// ZSCORE key member: the score, empty when the key or member is absent.
  Ret<OptDouble> zscore(std::string_view key, std::string_view member, Callback<OptDouble> cb = {}) {
    detail::Args a("ZSCORE");
    a.add(key).add(member);
    return run(a, &decode::optional_floating, std::move(cb));
  }

  /// ZMSCORE key member...: one optional score per member, in order.
  Ret<std::vector<OptDouble>> zmscore(std::string_view key, const StringList& members,
                                      Callback<std::vector<OptDouble>> cb = {}) {
    detail::Args a("ZMSCORE", 2 + members.size());
    a.add(key).add_all(members, "members");
    return run(a, &decode::optional_floating_list, std::move(cb));
  }

  /// ZRANGE key <query>: members by rank, score or lex, optionally reversed
  /// and paged (see ZRange). LIMIT with a rank range is a usage error.
  Ret<Strings> zrange(std::string_view key, const ZRange& query, Callback<Strings> cb = {}) {
    detail::Args a("ZRANGE", 10);
    a.add(key);
    detail::add_zrange(a, query, false);
    return run(a, &decode::string_list, std::move(cb));
  }

  /// ZRANGE key <query> WITHSCORES: members with their scores. A lex range
  /// is a usage error (the server refuses WITHSCORES with BYLEX).
  Ret<Scored> zrange_withscores(std::string_view key, const ZRange& query, Callback<Scored> cb = {}) {
    detail::Args a("ZRANGE", 11);
    a.add(key);
    detail::add_zrange(a, query, true);
    return run(a, &decode::scored_members, std::move(cb));
  }

  /// ZREVRANGE key start stop: members by rank, highest score first.
  Ret<Strings> zrevrange(std::string_view key, long long start, long long stop, Callback<Strings> cb = {}) {
    detail::Args a("ZREVRANGE");
    a.add(key).add_int(start).add_int(stop);
    return run(a, &decode::string_list, std::move(cb));
  }

  /// ZREVRANGE key start stop WITHSCORES.
  Ret<Scored> zrevrange_withscores(std::string_view key, long long start, long long stop, Callback<Scored> cb = {}) {
    detail::Args a("ZREVRANGE", 5);
    a.add(key).add_int(start).add_int(stop).add("WITHSCORES");
    return run(a, &decode::scored_members, std::move(cb));
  }

  /// ZRANGEBYSCORE key min max [LIMIT offset count].
  Ret<Strings> zrangebyscore(std::string_view key, ScoreBound min, ScoreBound max,
                             std::optional<Limit> limit = std::nullopt, Callback<Strings> cb = {}) {
    return by_score("ZRANGEBYSCORE", key, min, max, false, limit, &decode::string_list, std::move(cb));
  }
  Ret<Strings> zrangebyscore(std::string_view key, ScoreBound min, ScoreBound max, Callback<Strings> cb) {
    return zrangebyscore(key, min, max, std::nullopt, std::move(cb));
  }

  /// ZRANGEBYSCORE key min max WITHSCORES [LIMIT offset count].
  Ret<Scored> zrangebyscore_withscores(std::string_view key, ScoreBound min, ScoreBound max,
                                       std::optional<Limit> limit = std::nullopt, Callback<Scored> cb = {}) {
    return by_score("ZRANGEBYSCORE", key, min, max, true, limit, &decode::scored_members, std::move(cb));
  }
  Ret<Scored> zrangebyscore_withscores(std::string_view key, ScoreBound min, ScoreBound max, Callback<Scored> cb) {
    return zrangebyscore_withscores(key, min, max, std::nullopt, std::move(cb));
  }

  /// ZREVRANGEBYSCORE key max min [LIMIT offset count]: note max first, as
  /// the server wants it.
  Ret<Strings> zrevrangebyscore(std::string_view key, ScoreBound max, ScoreBound min,
                                std::optional<Limit> limit = std::nullopt, Callback<Strings> cb = {}) {
    return by_score("ZREVRANGEBYSCORE", key, max, min, false, limit, &decode::string_list, std::move(cb));
  }
  Ret<Strings> zrevrangebyscore(std::string_view key, ScoreBound max, ScoreBound min, Callback<Strings> cb) {
    return zrevrangebyscore(key, max, min, std::nullopt, std::move(cb));
  }

  /// ZREVRANGEBYSCORE key max min WITHSCORES [LIMIT offset count].
  Ret<Scored> zrevrangebyscore_withscores(std::string_view key, ScoreBound max, ScoreBound min,
                                          std::optional<Limit> limit = std::nullopt, Callback<Scored> cb = {}) {
    return by_score("ZREVRANGEBYSCORE", key, max, min, true, limit, &decode::scored_members, std::move(cb));
  }
  Ret<Scored> zrevrangebyscore_withscores(std::string_view key, ScoreBound max, ScoreBound min,
                                          Callback<Scored> cb) {
    return zrevrangebyscore_withscores(key, max, min, std::nullopt, std::move(cb));
  }

  /// ZRANK key member: the rank (0 = lowest score), empty when absent.
  Ret<std::optional<long long>> zrank(std::string_view key, std::string_view member,
                                      Callback<std::optional<long long>> cb = {}) {
    return rank("ZRANK", key, member, std::move(cb));
  }
  /// ZREVRANK key member: the rank from the highest score.
  Ret<std::optional<long long>> zrevrank(std::string_view key, std::string_view member,
                                         Callback<std::optional<long long>> cb = {}) {
    return rank("ZREVRANK", key, member, std::move(cb));
  }

  /// ZREM key member...: how many were removed. An empty list is a usage
  /// error.
  Ret<long long> zrem(std::string_view key, const StringList& members, Callback<long long> cb = {}) {
    detail::Args a("ZREM", 2 + members.size());
    a.add(key).add_all(members, "members");
    return run(a, &decode::integer, std::move(cb));
  }

  /// ZREMRANGEBYSCORE key min max: how many were removed.
  Ret<long long> zremrangebyscore(std::string_view key, ScoreBound min, ScoreBound max, Callback<long long> cb = {}) {
    detail::Args a("ZREMRANGEBYSCORE");
    a.add(key).add_score_bound(min).add_score_bound(max);
    return run(a, &decode::integer, std::move(cb));
  }

  /// ZREMRANGEBYRANK key start stop: how many were removed.
  Ret<long long> zremrangebyrank(std::string_view key, long long start, long long stop, Callback<long long> cb = {}) {
    detail::Args a("ZREMRANGEBYRANK");
    a.add(key).add_int(start).add_int(stop);
    return run(a, &decode::integer, std::move(cb));
  }

  /// ZCARD key: the number of members.
  Ret<long long> zcard(std::string_view key, Callback<long long> cb = {}) {
    detail::Args a("ZCARD");
    a.add(key);
    return run(a, &decode::integer, std::move(cb));
  }

  /// ZCOUNT key min max: how many members have a score in the range.
  Ret<long long> zcount(std::string_view key, ScoreBound min, ScoreBound max, Callback<long long> cb = {}) {
    detail::Args a("ZCOUNT");
    a.add(key).add_score_bound(min).add_score_bound(max);
    return run(a, &decode::integer, std::move(cb));
  }

  /// ZPOPMIN key: removes and returns the lowest member, empty when none.
  Ret<std::optional<ScoredMember>> zpopmin(std::string_view key, Callback<std::optional<ScoredMember>> cb = {}) {
    return pop_one("ZPOPMIN", key, std::move(cb));
  }
  /// ZPOPMIN key count: up to `count` lowest members, lowest first. A
  /// negative count is a usage error.
  Ret<Scored> zpopmin(std::string_view key, long long count, Callback<Scored> cb = {}) {
    return pop_many("ZPOPMIN", key, count, std::move(cb));
  }
  /// ZPOPMAX key: removes and returns the highest member, empty when none.
  Ret<std::optional<ScoredMember>> zpopmax(std::string_view key, Callback<std::optional<ScoredMember>> cb = {}) {
    return pop_one("ZPOPMAX", key, std::move(cb));
  }
  /// ZPOPMAX key count: up to `count` highest members, highest first.
  Ret<Scored> zpopmax(std::string_view key, long long count, Callback<Scored> cb = {}) {
    return pop_many("ZPOPMAX", key, count, std::move(cb));
  }

  /// BZPOPMIN key... timeout: the key, member and score popped from the
  /// first non-empty set, or an empty optional when the timeout expired.
  Ret<std::optional<KeyedMember>> bzpopmin(const StringList& keys, std::chrono::milliseconds timeout,
                                           Callback<std::optional<KeyedMember>> cb = {}) {
    return blocking_pop("BZPOPMIN", keys, timeout, std::move(cb));
  }
  /// BZPOPMAX key... timeout: as bzpopmin(), the highest member.
  Ret<std::optional<KeyedMember>> bzpopmax(const StringList& keys, std::chrono::milliseconds timeout,
                                           Callback<std::optional<KeyedMember>> cb = {}) {
    return blocking_pop("BZPOPMAX", keys, timeout, std::move(cb));
  }

  /// ZRANDMEMBER key: a random member, empty when none.
  Ret<OptString> zrandmember(std::string_view key, Callback<OptString> cb = {}) {
    detail::Args a("ZRANDMEMBER");
    a.add(key);
    return run(a, &decode::optional_string, std::move(cb));
  }
  /// ZRANDMEMBER key count: up to `count` distinct members; a negative count
  /// returns exactly -count members, possibly repeated.
  Ret<Strings> zrandmember(std::string_view key, long long count, Callback<Strings> cb = {}) {
    detail::Args a("ZRANDMEMBER");
    a.add(key).add_int(count);
    return run(a, &decode::string_list, std::move(cb));
  }
  /// ZRANDMEMBER key count WITHSCORES.
  Ret<Scored> zrandmember_withscores(std::string_view key, long long count, Callback<Scored> cb = {}) {
    detail::Args a("ZRANDMEMBER");
    a.add(key).add_int(count).add("WITHSCORES");
    return run(a, &decode::scored_members, std::move(cb));
  }

  /// ZSCAN key cursor [MATCH p] [COUNT n]: one step over members and scores.
  /// Options.type is a usage error here.
  Ret<ScanPage<ScoredMember>> zscan(std::string_view key, std::uint64_t cursor, const ScanOptions& opts,
                                    Callback<ScanPage<ScoredMember>> cb = {}) {
    detail::Args a("ZSCAN", 7);
    a.add(key).add_u64(cursor);
    detail::add_scan_options(a, opts, false);
    return run(a, &decode::scan_scored_members, std::move(cb));
  }
  Ret<ScanPage<ScoredMember>> zscan(std::string_view key, std::uint64_t cursor,
                                    Callback<ScanPage<ScoredMember>> cb = {}) {
    return zscan(key, cursor, ScanOptions{}, std::move(cb));
  }

 private:
  Ret<std::optional<long long>> rank(std::string_view name, std::string_view key, std::string_view member,
                                     Callback<std::optional<long long>> cb) {
    detail::Args a(name);
    a.add(key).add(member);
    return run(a, &decode::optional_integer, std::move(cb));
  }

  Ret<std::optional<ScoredMember>> pop_one(std::string_view name, std::string_view key,
                                           Callback<std::optional<ScoredMember>> cb) {
    detail::Args a(name);
    a.add(key);
    return run(a, &decode::optional_scored_member, std::move(cb));
  }

  Ret<Scored> pop_many(std::string_view name, std::string_view key, long long count, Callback<Scored> cb) {
    detail::Args a(name);
    a.add(key).add_count(count, "the count");
    return run(a, &decode::scored_members, std::move(cb));
  }

  Ret<std::optional<KeyedMember>> blocking_pop(std::string_view name, const StringList& keys,
                                               std::chrono::milliseconds timeout,
                                               Callback<std::optional<KeyedMember>> cb) {
    detail::Args a(name, 2 + keys.size());
    a.add_all(keys, "keys").add_timeout(timeout);
    return run(a, &decode::keyed_member, std::move(cb));
  }

  // Z[REV]RANGEBYSCORE key first last [WITHSCORES] [LIMIT offset count]:
  // `first` and `last` in the order the command wants them.
  template <class T>
  Ret<T> by_score(std::string_view name, std::string_view key, ScoreBound first, ScoreBound last, bool withscores,
                  const std::optional<Limit>& limit, Decoder<T> d, Callback<T> cb) {
    detail::Args a(name, withscores ? 8 : 7);
    a.add(key).add_score_bound(first).add_score_bound(last);
    if (withscores) a.add("WITHSCORES");
    detail::add_limit(a, limit);
    return run(a, d, std::move(cb));
  }

  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
