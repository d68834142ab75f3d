#pragma once
/// @file commands/streams.hpp
/// Stream commands of the command table (XADD, XRANGE, XREAD, consumer
/// groups, XPENDING, XCLAIM, XAUTOCLAIM, XINFO). A mixin of Commands<Sink>:
/// every method exists on Client, ClusterClient, Lease, Pipeline and
/// Transaction alike. Loop-thread only; arguments are copied before the call
/// returns; the callback runs exactly once, on a later loop turn.
///
/// Entries come back as StreamEntry (id plus field/value pairs in server
/// order, binary-safe). Ids are checked before sending: "1700000000000-3" or
/// "1700000000000", plus the special forms each command accepts ("*" for
/// XADD, "$" for XREAD and XGROUP, ">" for XREADGROUP, "-"/"+"/"(" for
/// ranges); anything else, an empty list, or a negative count is a usage
/// error and nothing is sent. XREAD / XREADGROUP with `block` run on a
/// blocking connection of their own (like BLPOP): they never delay other
/// commands, the client's command timeout is added to the wait, and a
/// timeout with nothing new is an empty result, not an error.

#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands/base.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

template <class Sink>
class StreamCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;
  using Entries = std::vector<StreamEntry>;
  using Batches = std::vector<StreamBatch>;
  using Strings = std::vector<std::string>;
  using OptCount = std::optional<long long>;

 public:
  /// XADD key [MAXLEN|MINID ...] id field value ...: the id of the new
  /// entry. `opts.id` is "*" by default. An empty field list or a malformed
  /// id is a usage error.
  Ret<std::string> xadd(std::string_view key, const PairList& fields, const XAddOptions& opts,
                        Callback<std::string> cb = {}) {
    detail::Args a("XADD", 8 + 2 * fields.size());
    add_xadd(a, key, fields, opts, false);
    return run(a, &decode::string, std::move(cb));
  }
  Ret<std::string> xadd(std::string_view key, const PairList& fields, Callback<std::string> cb = {}) {
    return xadd(key, fields, XAddOptions{}, std::move(cb));
  }

  /// XADD key NOMKSTREAM ...: as xadd(), but only to an existing stream; an
  /// empty optional when there is none (nothing was created).
  Ret<std::optional<std::string>> xadd_nomkstream(std::string_view key, const PairList& fields,
                                                  const XAddOptions& opts,
                                                  Callback<std::optional<std::string>> cb = {}) {
    detail::Args a("XADD", 9 + 2 * fields.size());
    add_xadd(a, key, fields, opts, true);
    return run(a, &decode::optional_string, std::move(cb));
  }
  Ret<std::optional<std::string>> xadd_nomkstream(std::string_view key, const PairList& fields,
                                                  Callback<std::optional<std::string>> cb = {}) {
    return xadd_nomkstream(key, fields, XAddOptions{}, std::move(cb));
  }

  /// XLEN key: the number of entries (0 when there is no stream).
  Ret<long long> xlen(std::string_view key, Callback<long long> cb = {}) {
    detail::Args a("XLEN");
    a.add(key);
    return run(a, &decode::integer, std::move(cb));
  }

  /// XRANGE key start end [COUNT n]: entries with ids from `start` to `end`,
  /// oldest first. "-" and "+" are the extremes, "(" before an id excludes
  /// it, an id without sequence ("1700000000000") covers that millisecond.
  Ret<Entries> xrange(std::string_view key, std::string_view start, std::string_view end, long long count,
                      Callback<Entries> cb = {}) {
    return range("XRANGE", key, start, end, count, std::move(cb));
  }
  Ret<Entries> xrange(std::string_view key, std::string_view start, std::string_view end, Callback<Entries> cb = {}) {
    return range("XRANGE", key, start, end, std::nullopt, std::move(cb));
  }

  /// XREVRANGE key end start [COUNT n]: newest first; note `end` comes
  /// first, as the server wants it.
  Ret<Entries> xrevrange(std::string_view key, std::string_view end, std::string_view start, long long count,
                         Callback<Entries> cb = {}) {
    return range("XREVRANGE", key, end, start, count, std::move(cb));
  }
  Ret<Entries> xrevrange(std::string_view key, std::string_view end, std::string_view start,
                         Callback<Entries> cb = {}) {
    return range("XREVRANGE", key, end, start, std::nullopt, std::move(cb));
  }

  /// XDEL key id...: how many entries were deleted.
  Ret<long long> xdel(std::string_view key, const StringList& ids, Callback<long long> cb = {}) {
    detail::Args a("XDEL", 2 + ids.size());
    a.add(key);
    detail::add_stream_ids(a, ids);
    return run(a, &decode::integer, std::move(cb));
  }

  /// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT n]: how many entries
  /// were removed.
  Ret<long long> xtrim(std::string_view key, const StreamTrim& trim, Callback<long long> cb = {}) {
    detail::Args a("XTRIM", 7);
    a.add(key);
    detail::add_stream_trim(a, trim);
    return run(a, &decode::integer, std::move(cb));
  }

  /// XREAD [COUNT n] [BLOCK ms] STREAMS key... id...: entries after the
  /// given id of each stream (`{{"s1", "0"}, {"s2", "$"}}`; "$" means only
  /// entries added from now on, useful with `block`). Only the streams with
  /// something new are in the result; empty when there was nothing (or the
  /// block time passed).
  Ret<Batches> xread(const PairList& streams, const XReadOptions& opts, Callback<Batches> cb = {}) {
    detail::Args a("XREAD", 6 + 2 * streams.size());
    detail::add_stream_read_options(a, opts.count, opts.block);
    detail::add_streams(a, streams, detail::stream_id::dollar);
    return run(a, &decode::stream_batches, std::move(cb));
  }
  Ret<Batches> xread(const PairList& streams, Callback<Batches> cb = {}) {
    return xread(streams, XReadOptions{}, std::move(cb));
  }

  /// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS
  /// key... id...: id ">" reads entries never delivered to the group (they
  /// become pending for `consumer` unless NOACK); any other id re-reads this
  /// consumer's own pending entries after it (deleted ones come back with
  /// `deleted` set). Empty when there was nothing (or the block time
  /// passed).
  Ret<Batches> xreadgroup(std::string_view group, std::string_view consumer, const PairList& streams,
                          const XReadGroupOptions& opts, Callback<Batches> cb = {}) {
    detail::Args a("XREADGROUP", 10 + 2 * streams.size());
    a.add("GROUP").add(group).add(consumer);
    detail::add_stream_read_options(a, opts.count, opts.block);
    if (opts.noack) a.add("NOACK");
    detail::add_streams(a, streams, detail::stream_id::greater);
    return run(a, &decode::stream_batches, std::move(cb));
  }
  Ret<Batches> xreadgroup(std::string_view group, std::string_view consumer, const PairList& streams,
                          Callback<Batches> cb = {}) {
    return xreadgroup(group, consumer, streams, XReadGroupOptions{}, std::move(cb));
  }

  /// XGROUP CREATE key group id [MKSTREAM] [ENTRIESREAD n]: `id` is the
  /// last id the group counts as delivered ("$": only new entries, "0":
  /// everything). An existing group is a BUSYGROUP server error.
  Ret<void> xgroup_create(std::string_view key, std::string_view group, std::string_view id,
                          const XGroupCreateOptions& opts, Callback<void> cb = {}) {
    detail::Args a("XGROUP", 8);
    a.add("CREATE").add(key).add(group);
    detail::add_stream_id(a, id, detail::stream_id::dollar, "the id");
    if (opts.mkstream) a.add("MKSTREAM");
    if (opts.entries_read) a.add("ENTRIESREAD").add_count(*opts.entries_read, "ENTRIESREAD");
    return run(a, &decode::ok, std::move(cb));
  }
  Ret<void> xgroup_create(std::string_view key, std::string_view group, std::string_view id, Callback<void> cb = {}) {
    return xgroup_create(key, group, id, XGroupCreateOptions{}, std::move(cb));
  }

  /// XGROUP SETID key group id [ENTRIESREAD n]: moves the group's last
  /// delivered id.
  Ret<void> xgroup_setid(std::string_view key, std::string_view group, std::string_view id, long long entries_read,
                         Callback<void> cb = {}) {
    return setid(key, group, id, entries_read, std::move(cb));
  }
  Ret<void> xgroup_setid(std::string_view key, std::string_view group, std::string_view id, Callback<void> cb = {}) {
    return setid(key, group, id, std::nullopt, std::move(cb));
  }

  /// XGROUP DESTROY key group: whether the group existed.
  Ret<bool> xgroup_destroy(std::string_view key, std::string_view group, Callback<bool> cb = {}) {
    detail::Args a("XGROUP", 4);
    a.add("DESTROY").add(key).add(group);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// XGROUP CREATECONSUMER key group consumer: whether it was created (false:
  /// it existed).
  Ret<bool> xgroup_createconsumer(std::string_view key, std::string_view group, std::string_view consumer,
                                  Callback<bool> cb = {}) {
    detail::Args a("XGROUP", 5);
    a.add("CREATECONSUMER").add(key).add(group).add(consumer);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// XGROUP DELCONSUMER key group consumer: how many pending entries the
  /// consumer held (they are no longer pending for anyone).
  Ret<long long> xgroup_delconsumer(std::string_view key, std::string_view group, std::string_view consumer,
                                    Callback<long long> cb = {}) {
    detail::Args a("XGROUP", 5);
    a.add("DELCONSUMER").add(key).add(group).add(consumer);
    return run(a, &decode::integer, std::move(cb));
  }

  /// XACK key group id...: how many entries were acknowledged (ids not
  /// pending are not counted).
  Ret<long long> xack(std::string_view key, std::string_view group, const StringList& ids,
                      Callback<long long> cb = {}) {
    detail::Args a("XACK", 3 + ids.size());
    a.add(key).add(group);
    detail::add_stream_ids(a, ids);
    return run(a, &decode::integer, std::move(cb));
  }

  /// XPENDING key group: the group's pending summary.
  Ret<PendingSummary> xpending(std::string_view key, std::string_view group, Callback<PendingSummary> cb = {}) {
    detail::Args a("XPENDING");
    a.add(key).add(group);
    return run(a, &decode::pending_summary, std::move(cb));
  }

  /// XPENDING key group [IDLE ms] start end count [consumer]: the pending
  /// entries in the range, oldest first, with their consumer, idle time and
  /// delivery count.
  Ret<std::vector<PendingEntry>> xpending(std::string_view key, std::string_view group, const XPendingRange& range,
                                          Callback<std::vector<PendingEntry>> cb = {}) {
    detail::Args a("XPENDING", 9);
    a.add(key).add(group);
    if (range.min_idle) {
      a.add("IDLE");
      detail::add_millis(a, *range.min_idle, "IDLE");
    }
    detail::add_stream_id(a, range.start, kRangeIds, "the start");
    detail::add_stream_id(a, range.end, kRangeIds, "the end");
    a.add_count(range.count, "the count");
    if (!range.consumer.empty()) a.add(range.consumer);
    return run(a, &decode::pending_entries, std::move(cb));
  }

  /// XCLAIM key group consumer min-idle id... [IDLE ms] [TIME ms]
  /// [RETRYCOUNT n] [FORCE]: takes over the entries among `ids` idle for at
  /// least `min_idle` and returns them (their delivery count goes up).
  Ret<Entries> xclaim(std::string_view key, std::string_view group, std::string_view consumer,
                      std::chrono::milliseconds min_idle, const StringList& ids, const XClaimOptions& opts,
                      Callback<Entries> cb = {}) {
    detail::Args a("XCLAIM", 12 + ids.size());
    add_xclaim(a, key, group, consumer, min_idle, ids, opts);
    return run(a, &decode::stream_entries, std::move(cb));
  }
  Ret<Entries> xclaim(std::string_view key, std::string_view group, std::string_view consumer,
                      std::chrono::milliseconds min_idle, const StringList& ids, Callback<Entries> cb = {}) {
    return xclaim(key, group, consumer, min_idle, ids, XClaimOptions{}, std::move(cb));
  }

  /// XCLAIM ... JUSTID: as xclaim(), returns only the ids claimed and
  /// leaves the delivery count alone.
  Ret<Strings> xclaim_justid(std::string_view key, std::string_view group, std::string_view consumer,
                             std::chrono::milliseconds min_idle, const StringList& ids, const XClaimOptions& opts,
                             Callback<Strings> cb = {}) {
    detail::Args a("XCLAIM", 13 + ids.size());
    add_xclaim(a, key, group, consumer, min_idle, ids, opts);
    a.add("JUSTID");
    return run(a, &decode::string_list, std::move(cb));
  }
  Ret<Strings> xclaim_justid(std::string_view key, std::string_view group, std::string_view consumer,
                             std::chrono::milliseconds min_idle, const StringList& ids, Callback<Strings> cb = {}) {
    return xclaim_justid(key, group, consumer, min_idle, ids, XClaimOptions{}, std::move(cb));
  }

  /// XAUTOCLAIM key group consumer min-idle start [COUNT n]: claims up to
  /// `count` (server default 100) pending entries idle for at least
  /// `min_idle`, scanning the pending list from `start` ("0-0" the first
  /// time, then the result's next_id until done()).
  Ret<AutoClaim<StreamEntry>> xautoclaim(std::string_view key, std::string_view group, std::string_view consumer,
                                         std::chrono::milliseconds min_idle, std::string_view start, long long count,
                                         Callback<AutoClaim<StreamEntry>> cb = {}) {
    return autoclaim<StreamEntry>(key, group, consumer, min_idle, start, count, false, &decode::autoclaim_entries,
                                  std::move(cb));
  }
  Ret<AutoClaim<StreamEntry>> xautoclaim(std::string_view key, std::string_view group, std::string_view consumer,
                                         std::chrono::milliseconds min_idle, std::string_view start,
                                         Callback<AutoClaim<StreamEntry>> cb = {}) {
    return autoclaim<StreamEntry>(key, group, consumer, min_idle, start, std::nullopt, false,
                                  &decode::autoclaim_entries, std::move(cb));
  }

  /// XAUTOCLAIM ... JUSTID: only the ids claimed (delivery counts stay).
  Ret<AutoClaim<std::string>> xautoclaim_justid(std::string_view key, std::string_view group,
                                                std::string_view consumer, std::chrono::milliseconds min_idle,
                                                std::string_view start, long long count,
                                                Callback<AutoClaim<std::string>> cb = {}) {
    return autoclaim<std::string>(key, group, consumer, min_idle, start, count, true, &decode::autoclaim_ids,
                                  std::move(cb));
  }
  Ret<AutoClaim<std::string>> xautoclaim_justid(std::string_view key, std::string_view group,
                                                std::string_view consumer, std::chrono::milliseconds min_idle,
                                                std::string_view start, Callback<AutoClaim<std::string>> cb = {}) {
    return autoclaim<std::string>(key, group, consumer, min_idle, start, std::nullopt, true, &decode::autoclaim_ids,
                                  std::move(cb));
  }

  /// XINFO STREAM key: length, ids, group count, first and last entry. A
  /// missing key is a server error.
  Ret<StreamInfo> xinfo_stream(std::string_view key, Callback<StreamInfo> cb = {}) {
    detail::Args a("XINFO");
    a.add("STREAM").add(key);
    return run(a, &decode::stream_info, std::move(cb));
  }

  /// XINFO GROUPS key: every group of the stream.
  Ret<std::vector<StreamGroupInfo>> xinfo_groups(std::string_view key, Callback<std::vector<StreamGroupInfo>> cb = {}) {
    detail::Args a("XINFO");
    a.add("GROUPS").add(key);
    return run(a, &decode::stream_groups, std::move(cb));
  }

  /// XINFO CONSUMERS key group: every consumer of the group.
  Ret<std::vector<StreamConsumerInfo>> xinfo_consumers(std::string_view key, std::string_view group,
                                                       Callback<std::vector<StreamConsumerInfo>> cb = {}) {
    detail::Args a("XINFO");
    a.add("CONSUMERS").add(key).add(group);
    return run(a, &decode::stream_consumers, std::move(cb));
  }

 private:
  static constexpr unsigned kRangeIds = detail::stream_id::extremes | detail::stream_id::exclusive;

  static void add_xadd(detail::Args& a, std::string_view key, const PairList& fields, const XAddOptions& opts,
                       bool nomkstream) {
    a.add(key);
    if (nomkstream) a.add("NOMKSTREAM");
    if (opts.trim) detail::add_stream_trim(a, *opts.trim);
    detail::add_stream_id(a, opts.id, detail::stream_id::star | detail::stream_id::auto_seq, "the id");
    a.add_pairs(fields, "fields");
  }

  static void add_xclaim(detail::Args& a, std::string_view key, std::string_view group, std::string_view consumer,
                         std::chrono::milliseconds min_idle, const StringList& ids, const XClaimOptions& opts) {
    a.add(key).add(group).add(consumer);
    detail::add_millis(a, min_idle, "the minimum idle time");
    detail::add_stream_ids(a, ids);
    if (opts.idle) {
      a.add("IDLE");
      detail::add_millis(a, *opts.idle, "IDLE");
    }
    if (opts.time) {
      const long long ms = detail::unix_millis(*opts.time);
      if (ms < 0) return a.fail("TIME is before the Unix epoch");
      a.add("TIME").add_int(ms);
    }
    if (opts.retry_count) a.add("RETRYCOUNT").add_count(*opts.retry_count, "RETRYCOUNT");
    if (opts.force) a.add("FORCE");
  }

  Ret<void> setid(std::string_view key, std::string_view group, std::string_view id, const OptCount& entries_read,
                  Callback<void> cb) {
    detail::Args a("XGROUP", 7);
    a.add("SETID").add(key).add(group);
    detail::add_stream_id(a, id, detail::stream_id::dollar, "the id");
    if (entries_read) a.add("ENTRIESREAD").add_count(*entries_read, "ENTRIESREAD");
    return run(a, &decode::ok, std::move(cb));
  }

  template <class T>
  Ret<AutoClaim<T>> autoclaim(std::string_view key, std::string_view group, std::string_view consumer,
                              std::chrono::milliseconds min_idle, std::string_view start, const OptCount& count,
                              bool justid, Decoder<AutoClaim<T>> d, Callback<AutoClaim<T>> cb) {
    detail::Args a("XAUTOCLAIM", 9);
    a.add(key).add(group).add(consumer);
    detail::add_millis(a, min_idle, "the minimum idle time");
    detail::add_stream_id(a, start, detail::stream_id::plain, "the start");
    if (count) a.add("COUNT").add_count(*count, "COUNT", true);
    if (justid) a.add("JUSTID");
    return run(a, d, std::move(cb));
  }

  Ret<Entries> range(std::string_view name, std::string_view key, std::string_view first, std::string_view last,
                     const OptCount& count, Callback<Entries> cb) {
    detail::Args a(name, 6);
    a.add(key);
    detail::add_stream_id(a, first, kRangeIds, name == "XRANGE" ? "the start" : "the end");
    detail::add_stream_id(a, last, kRangeIds, name == "XRANGE" ? "the end" : "the start");
    if (count) a.add("COUNT").add_count(*count, "COUNT");
    return run(a, &decode::stream_entries, std::move(cb));
  }

  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
