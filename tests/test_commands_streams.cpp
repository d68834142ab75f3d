// Stream commands (XADD ... XINFO, consumer groups) against a real redis-server.
#include "support/commands_fixture.hpp"

#include <regex>

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

using CommandsStreams = CommandsTest;
using Entries = std::vector<StreamEntry>;
using Batches = std::vector<StreamBatch>;
using Fields = std::vector<FieldValue>;

namespace {

bool looks_like_id(const std::string& id) { return std::regex_match(id, std::regex("[0-9]+-[0-9]+")); }

std::vector<std::string> ids_of(const Entries& es) {
  std::vector<std::string> out;
  for (const auto& e : es) out.push_back(e.id);
  return out;
}

}  // namespace

class StreamsTest : public CommandsStreams {
 protected:
  std::string add(std::string_view key, std::string_view id, const PairList& fields) {
    auto r = call<std::string>([&](auto cb) { c().xadd(key, fields, {.id = std::string(id)}, std::move(cb)); });
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? *r : std::string();
  }
  Entries range(std::string_view key, std::string_view start = "-", std::string_view end = "+") {
    auto r = call<Entries>([&](auto cb) { c().xrange(key, start, end, std::move(cb)); });
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? *r : Entries{};
  }
  long long len(std::string_view key) {
    return *call<long long>([&](auto cb) { c().xlen(key, std::move(cb)); });
  }
};

TEST_F(StreamsTest, XaddWithAutomaticAndExplicitIds) {
  auto auto_id = call<std::string>([&](auto cb) { c().xadd("s", {{"f", "v"}}, std::move(cb)); });
  ASSERT_TRUE(auto_id) << auto_id.error().to_string();
  EXPECT_TRUE(looks_like_id(*auto_id)) << *auto_id;
  EXPECT_EQ(add("t", "5-1", {{"a", "1"}}), "5-1");
  EXPECT_EQ(add("t", "5-*", {{"a", "2"}}), "5-2");
  EXPECT_EQ(add("t", "6", {{"a", "3"}}), "6-0");
  // An id not above the last one is the server's to refuse.
  EXPECT_TRUE(is_server_error(call<std::string>([&](auto cb) {
                                c().xadd("t", {{"a", "4"}}, {.id = "5-9"}, std::move(cb));
                              }),
                              "ERR"));
  EXPECT_EQ(len("t"), 3);
  EXPECT_EQ(len("nothing"), 0);
}

TEST_F(StreamsTest, NomkstreamOnlyAddsToAnExistingStream) {
  using OptId = std::optional<std::string>;
  EXPECT_EQ(*call<OptId>([&](auto cb) { c().xadd_nomkstream("s", {{"f", "v"}}, std::move(cb)); }), std::nullopt);
  EXPECT_EQ(raw({"EXISTS", "s"}), "0");
  add("s", "1-1", {{"f", "v"}});
  EXPECT_EQ(*call<OptId>([&](auto cb) { c().xadd_nomkstream("s", {{"f", "w"}}, {.id = "2-0"}, std::move(cb)); }),
            "2-0");
  EXPECT_EQ(len("s"), 2);
}

TEST_F(StreamsTest, FieldsAreBinarySafeAndInServerOrder) {
  const std::string nul_value("a\0b\r\nc", 6);
  const std::string nul_field("f\0", 2);
  const std::string empty;
  add("s", "1-0", {{"z", nul_value}, {"a", "1"}, {nul_field, empty}, {"z", "again"}});
  auto all = range("s");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, "1-0");
  EXPECT_FALSE(all[0].deleted);
  EXPECT_EQ(all[0].fields, (Fields{{"z", nul_value}, {"a", "1"}, {nul_field, ""}, {"z", "again"}}));
  EXPECT_EQ(all[0].fields[0].second.size(), 6u);
}

TEST_F(StreamsTest, RangesCountsAndDeletes) {
  for (int i = 1; i <= 5; ++i) add("s", std::to_string(i) + "-0", {{"n", std::to_string(i)}});
  EXPECT_EQ(ids_of(range("s")), (Strs{"1-0", "2-0", "3-0", "4-0", "5-0"}));
  EXPECT_EQ(ids_of(range("s", "2", "4")), (Strs{"2-0", "3-0", "4-0"}));
  EXPECT_EQ(ids_of(range("s", "(2-0", "(4-0")), (Strs{"3-0"}));
  EXPECT_EQ(ids_of(*call<Entries>([&](auto cb) { c().xrange("s", "-", "+", 2, std::move(cb)); })),
            (Strs{"1-0", "2-0"}));
  EXPECT_TRUE(call<Entries>([&](auto cb) { c().xrange("s", "-", "+", 0, std::move(cb)); })->empty());
  EXPECT_EQ(ids_of(*call<Entries>([&](auto cb) { c().xrevrange("s", "+", "-", 2, std::move(cb)); })),
            (Strs{"5-0", "4-0"}));
  EXPECT_EQ(ids_of(*call<Entries>([&](auto cb) { c().xrevrange("s", "4", "(2-0", std::move(cb)); })),
            (Strs{"4-0", "3-0"}));
  EXPECT_TRUE(range("nothing").empty());
  EXPECT_EQ(*call<long long>([&](auto cb) { c().xdel("s", {"2-0", "4-0", "9-0"}, std::move(cb)); }), 2);
  EXPECT_EQ(ids_of(range("s")), (Strs{"1-0", "3-0", "5-0"}));
  raw({"SET", "str", "x"});
  auto wrong = call<Entries>([&](auto cb) { c().xrange("str", "-", "+", std::move(cb)); });
  EXPECT_TRUE(is_server_error(wrong, "WRONGTYPE"));
}

TEST_F(StreamsTest, TrimmingWithMaxlenAndMinid) {
  for (int i = 1; i <= 10; ++i) add("s", std::to_string(i) + "-0", {{"n", std::to_string(i)}});
  EXPECT_EQ(*call<long long>([&](auto cb) { c().xtrim("s", StreamTrim::max_len(8), std::move(cb)); }), 2);
  EXPECT_EQ(range("s").front().id, "3-0");
  EXPECT_EQ(*call<long long>([&](auto cb) { c().xtrim("s", StreamTrim::min_id("5"), std::move(cb)); }), 2);
  EXPECT_EQ(range("s").front().id, "5-0");
  // Approximate trimming only drops whole nodes (100 entries by default): here nothing.
  EXPECT_EQ(*call<long long>([&](auto cb) { c().xtrim("s", StreamTrim::max_len(1).approx(10), std::move(cb)); }), 0);
  EXPECT_EQ(len("s"), 6);
  // Trimming with the add: exact MAXLEN keeps the newest.
  auto id = call<std::string>([&](auto cb) {
    c().xadd("s", {{"n", "11"}}, {.id = "11-0", .trim = StreamTrim::max_len(3)}, std::move(cb));
  });
  ASSERT_TRUE(id) << id.error().to_string();
  EXPECT_EQ(ids_of(range("s")), (Strs{"9-0", "10-0", "11-0"}));
  ASSERT_TRUE(call<std::string>([&](auto cb) {
    c().xadd("s", {{"n", "12"}}, {.id = "12-0", .trim = StreamTrim::min_id("11-0")}, std::move(cb));
  }));
  EXPECT_EQ(ids_of(range("s")), (Strs{"11-0", "12-0"}));
}

TEST_F(StreamsTest, XreadWithoutBlockAnswersAtOnce) {
  EXPECT_TRUE(call<Batches>([&](auto cb) { c().xread({{"a", "0"}}, std::move(cb)); })->empty());
  add("a", "1-0", {{"x", "1"}});
  add("a", "2-0", {{"x", "2"}});
  add("b", "1-0", {{"y", "1"}});
  auto r = call<Batches>([&](auto cb) { c().xread({{"a", "1-0"}, {"b", "0"}, {"c", "0"}}, std::move(cb)); });
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->size(), 2u);  // "c" has nothing and is left out
  EXPECT_EQ((*r)[0].stream, "a");
  EXPECT_EQ((*r)[0].entries, (Entries{{"2-0", {{"x", "2"}}}}));
  EXPECT_EQ((*r)[1].stream, "b");
  EXPECT_EQ(ids_of((*r)[1].entries), (Strs{"1-0"}));
  auto counted = call<Batches>([&](auto cb) { c().xread({{"a", "0"}}, {.count = 1}, std::move(cb)); });
  ASSERT_TRUE(counted);
  ASSERT_EQ(counted->size(), 1u);
  EXPECT_EQ(ids_of((*counted)[0].entries), (Strs{"1-0"}));
  // "$" without BLOCK: nothing newer than now.
  EXPECT_TRUE(call<Batches>([&](auto cb) { c().xread({{"a", "$"}}, std::move(cb)); })->empty());
}

TEST_F(StreamsTest, XreadBlockWaitsOnItsOwnConnectionWhileTheClientServes) {
  std::optional<Result<Batches>> blocked;
  // Id 0 of a stream that does not exist yet: whatever is added first wakes
  // it, however late the blocking connection gets there.
  c().xread({{"s", "0"}}, {.block = 20s}, catcher<Batches>(blocked));
  // Until the server holds the XREAD (the blocking connection is a second one).
  ASSERT_TRUE(wait([&] { return server().cmd({"INFO", "clients"}).find("blocked_clients:1") != std::string::npos; }));
  // The shared connection keeps answering while XREAD waits on the server.
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().set("k", "v", std::move(cb)); }));
  EXPECT_EQ(*call<OptStr>([&](auto cb) { c().get("k", std::move(cb)); }), "v");
  EXPECT_EQ(len("s"), 0);
  EXPECT_FALSE(blocked.has_value());
  const std::string payload("p\0q", 3);
  const std::string id = add("s", "*", {{"data", payload}});
  ASSERT_TRUE(wait([&] { return blocked.has_value(); }));
  ASSERT_TRUE(*blocked) << blocked->error().to_string();
  ASSERT_EQ((*blocked)->size(), 1u);
  EXPECT_EQ((**blocked)[0].stream, "s");
  EXPECT_EQ((**blocked)[0].entries, (Entries{{id, {{"data", payload}}}}));
  // A block time that passes with nothing new: an empty result, no error.
  auto quiet = call<Batches>([&](auto cb) { c().xread({{"s", "$"}}, {.count = 1, .block = 100ms}, std::move(cb)); });
  ASSERT_TRUE(quiet) << quiet.error().to_string();
  EXPECT_TRUE(quiet->empty());
}

TEST_F(StreamsTest, ConsumerGroupRound) {
  // Create (with MKSTREAM), read as c1, look at the pending list, claim,
  // autoclaim, acknowledge.
  ASSERT_TRUE(call<void>([&](auto cb) { c().xgroup_create("jobs", "g", "$", {.mkstream = true}, std::move(cb)); }));
  EXPECT_TRUE(is_server_error(call<void>([&](auto cb) { c().xgroup_create("jobs", "g", "$", std::move(cb)); }),
                              "BUSYGROUP"));
  for (int i = 1; i <= 4; ++i) add("jobs", std::to_string(i) + "-0", {{"job", std::to_string(i)}});

  auto read = call<Batches>([&](auto cb) { c().xreadgroup("g", "c1", {{"jobs", ">"}}, {.count = 3}, std::move(cb)); });
  ASSERT_TRUE(read) << read.error().to_string();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].stream, "jobs");
  EXPECT_EQ(ids_of((*read)[0].entries), (Strs{"1-0", "2-0", "3-0"}));
  EXPECT_EQ((*read)[0].entries[1].fields, (Fields{{"job", "2"}}));

  auto summary = call<PendingSummary>([&](auto cb) { c().xpending("jobs", "g", std::move(cb)); });
  ASSERT_TRUE(summary) << summary.error().to_string();
  EXPECT_EQ(*summary, (PendingSummary{3, "1-0", "3-0", {{"c1", 3}}}));

  using Pending = std::vector<PendingEntry>;
  auto pending = call<Pending>([&](auto cb) { c().xpending("jobs", "g", XPendingRange{.count = 10}, std::move(cb)); });
  ASSERT_TRUE(pending) << pending.error().to_string();
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0].id, "1-0");
  EXPECT_EQ((*pending)[0].consumer, "c1");
  EXPECT_EQ((*pending)[0].deliveries, 1);
  EXPECT_GE((*pending)[0].idle.count(), 0);
  // IDLE filter: nothing has been idle for an hour.
  EXPECT_TRUE(call<Pending>([&](auto cb) {
                c().xpending("jobs", "g", {.count = 10, .min_idle = 1h}, std::move(cb));
              })->empty());
  EXPECT_EQ(call<Pending>([&](auto cb) {
              c().xpending("jobs", "g", {.start = "(1-0", .end = "+", .count = 1, .consumer = "c1"}, std::move(cb));
            })->front().id,
            "2-0");
  EXPECT_TRUE(call<Pending>([&](auto cb) {
                c().xpending("jobs", "g", {.count = 10, .consumer = "nobody"}, std::move(cb));
              })->empty());

  // c2 claims 1-0 (with its fields) and 2-0 (ids only).
  auto claimed = call<Entries>([&](auto cb) { c().xclaim("jobs", "g", "c2", 0ms, {"1-0"}, std::move(cb)); });
  ASSERT_TRUE(claimed) << claimed.error().to_string();
  EXPECT_EQ(*claimed, (Entries{{"1-0", {{"job", "1"}}}}));
  EXPECT_EQ(*call<Strs>([&](auto cb) { c().xclaim_justid("jobs", "g", "c2", 0ms, {"2-0"}, std::move(cb)); }),
            (Strs{"2-0"}));
  // Too recent for an hour of idleness: nothing moves.
  EXPECT_TRUE(call<Entries>([&](auto cb) { c().xclaim("jobs", "g", "c3", 1h, {"3-0"}, std::move(cb)); })->empty());
  auto after = call<PendingSummary>([&](auto cb) { c().xpending("jobs", "g", std::move(cb)); });
  ASSERT_TRUE(after);
  EXPECT_EQ(after->consumers, (std::vector<std::pair<std::string, long long>>{{"c1", 1}, {"c2", 2}}));

  // c3 takes over everything idle for 0 ms, two at a time.
  auto first = call<AutoClaim<StreamEntry>>([&](auto cb) { c().xautoclaim("jobs", "g", "c3", 0ms, "0-0", 2, std::move(cb)); });
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_EQ(ids_of(first->claimed), (Strs{"1-0", "2-0"}));
  EXPECT_FALSE(first->done());
  EXPECT_EQ(first->next_id, "3-0");
  auto second = call<AutoClaim<std::string>>([&](auto cb) {
    c().xautoclaim_justid("jobs", "g", "c3", 0ms, first->next_id, std::move(cb));
  });
  ASSERT_TRUE(second) << second.error().to_string();
  EXPECT_EQ(second->claimed, (Strs{"3-0"}));
  EXPECT_TRUE(second->done());
  EXPECT_TRUE(second->deleted_ids.empty());

  // Delivery counts: 1-0 was delivered, claimed by c2 (+1), autoclaimed (+1).
  auto one = call<Pending>([&](auto cb) { c().xpending("jobs", "g", {.start = "1-0", .end = "1-0", .count = 1}, std::move(cb)); });
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(one->front().consumer, "c3");
  EXPECT_EQ(one->front().deliveries, 3);

  // c3 re-reads its own history, then acknowledges.
  auto history = call<Batches>([&](auto cb) { c().xreadgroup("g", "c3", {{"jobs", "0"}}, std::move(cb)); });
  ASSERT_TRUE(history);
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ(ids_of((*history)[0].entries), (Strs{"1-0", "2-0", "3-0"}));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().xack("jobs", "g", {"1-0", "2-0", "3-0", "9-0"}, std::move(cb)); }), 3);
  auto empty = call<PendingSummary>([&](auto cb) { c().xpending("jobs", "g", std::move(cb)); });
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, PendingSummary{});
  // 4-0 was never delivered: the next ">" read gets it.
  auto rest = call<Batches>([&](auto cb) { c().xreadgroup("g", "c1", {{"jobs", ">"}}, std::move(cb)); });
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(ids_of((*rest)[0].entries), (Strs{"4-0"}));
  EXPECT_TRUE(call<Batches>([&](auto cb) { c().xreadgroup("g", "c1", {{"jobs", ">"}}, std::move(cb)); })->empty());
}

TEST_F(StreamsTest, DeletedPendingEntriesAndNoack) {
  ASSERT_TRUE(call<void>([&](auto cb) { c().xgroup_create("s", "g", "0", {.mkstream = true}, std::move(cb)); }));
  add("s", "1-0", {{"a", "1"}});
  add("s", "2-0", {{"a", "2"}});
  ASSERT_TRUE(call<Batches>([&](auto cb) { c().xreadgroup("g", "c", {{"s", ">"}}, std::move(cb)); }));
  EXPECT_EQ(*call<long long>([&](auto cb) { c().xdel("s", {"1-0"}, std::move(cb)); }), 1);
  // The history read shows the deleted entry as such.
  auto history = call<Batches>([&](auto cb) { c().xreadgroup("g", "c", {{"s", "0"}}, std::move(cb)); });
  ASSERT_TRUE(history) << history.error().to_string();
  ASSERT_EQ(history->size(), 1u);
  ASSERT_EQ((*history)[0].entries.size(), 2u);
  EXPECT_TRUE((*history)[0].entries[0].deleted);
  EXPECT_EQ((*history)[0].entries[0].id, "1-0");
  EXPECT_TRUE((*history)[0].entries[0].fields.empty());
  EXPECT_FALSE((*history)[0].entries[1].deleted);
  // XAUTOCLAIM reports it as deleted (and drops it from the pending list).
  auto ac = call<AutoClaim<StreamEntry>>([&](auto cb) { c().xautoclaim("s", "g", "d", 0ms, "0", std::move(cb)); });
  ASSERT_TRUE(ac) << ac.error().to_string();
  EXPECT_EQ(ac->deleted_ids, (Strs{"1-0"}));
  EXPECT_EQ(ids_of(ac->claimed), (Strs{"2-0"}));
  // NOACK: delivered, not pending.
  add("s", "3-0", {{"a", "3"}});
  auto noack = call<Batches>([&](auto cb) { c().xreadgroup("g", "c", {{"s", ">"}}, {.noack = true}, std::move(cb)); });
  ASSERT_TRUE(noack);
  ASSERT_EQ(noack->size(), 1u);
  EXPECT_EQ(ids_of((*noack)[0].entries), (Strs{"3-0"}));
  EXPECT_EQ(call<PendingSummary>([&](auto cb) { c().xpending("s", "g", std::move(cb)); })->count, 1);  // 2-0 only
  // A group that does not exist.
  EXPECT_TRUE(is_server_error(call<Batches>([&](auto cb) { c().xreadgroup("nog", "c", {{"s", ">"}}, std::move(cb)); }),
                              "NOGROUP"));
}

TEST_F(StreamsTest, XclaimOptions) {
  ASSERT_TRUE(call<void>([&](auto cb) { c().xgroup_create("s", "g", "0", {.mkstream = true}, std::move(cb)); }));
  add("s", "1-0", {{"a", "1"}});
  add("s", "2-0", {{"a", "2"}});
  ASSERT_TRUE(call<Batches>([&](auto cb) { c().xreadgroup("g", "c1", {{"s", ">"}}, {.count = 1}, std::move(cb)); }));
  // IDLE and RETRYCOUNT set what XPENDING then shows; JUSTID leaves the count alone.
  ASSERT_TRUE(call<Strs>([&](auto cb) {
    c().xclaim_justid("s", "g", "c2", 0ms, {"1-0"}, {.idle = 1h, .retry_count = 7}, std::move(cb));
  }));
  using Pending = std::vector<PendingEntry>;
  auto p = call<Pending>([&](auto cb) { c().xpending("s", "g", {.count = 10}, std::move(cb)); });
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ(p->front().consumer, "c2");
  EXPECT_EQ(p->front().deliveries, 7);
  EXPECT_GE(p->front().idle, 1h);
  // Now it is an hour idle: the IDLE filter and a min-idle claim find it.
  EXPECT_EQ(call<Pending>([&](auto cb) { c().xpending("s", "g", {.count = 10, .min_idle = 30min}, std::move(cb)); })->size(),
            1u);
  EXPECT_EQ(ids_of(*call<Entries>([&](auto cb) { c().xclaim("s", "g", "c3", 30min, {"1-0"}, std::move(cb)); })),
            (Strs{"1-0"}));
  // 2-0 was never delivered: only FORCE claims it.
  EXPECT_TRUE(call<Entries>([&](auto cb) { c().xclaim("s", "g", "c3", 0ms, {"2-0"}, std::move(cb)); })->empty());
  const auto when = std::chrono::system_clock::now() - 2h;
  EXPECT_EQ(ids_of(*call<Entries>([&](auto cb) {
              c().xclaim("s", "g", "c3", 0ms, {"2-0"}, {.time = when, .force = true}, std::move(cb));
            })),
            (Strs{"2-0"}));
  auto forced = call<Pending>([&](auto cb) { c().xpending("s", "g", {.start = "2-0", .count = 1}, std::move(cb)); });
  ASSERT_TRUE(forced);
  ASSERT_EQ(forced->size(), 1u);
  EXPECT_GE(forced->front().idle, 1h);  // TIME set its last delivery two hours back
}

TEST_F(StreamsTest, GroupAndConsumerManagement) {
  add("s", "1-0", {{"a", "1"}});
  add("s", "2-0", {{"a", "2"}});
  ASSERT_TRUE(call<void>([&](auto cb) { c().xgroup_create("s", "g", "0", {.entries_read = 0}, std::move(cb)); }));
  EXPECT_TRUE(is_server_error(call<void>([&](auto cb) { c().xgroup_create("none", "g", "$", std::move(cb)); }), "ERR"));
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().xgroup_createconsumer("s", "g", "alice", std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().xgroup_createconsumer("s", "g", "alice", std::move(cb)); }));
  ASSERT_TRUE(call<Batches>([&](auto cb) { c().xreadgroup("g", "bob", {{"s", ">"}}, std::move(cb)); }));

  using Groups = std::vector<StreamGroupInfo>;
  auto groups = call<Groups>([&](auto cb) { c().xinfo_groups("s", std::move(cb)); });
  ASSERT_TRUE(groups) << groups.error().to_string();
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_EQ((*groups)[0].name, "g");
  EXPECT_EQ((*groups)[0].consumers, 2);
  EXPECT_EQ((*groups)[0].pending, 2);
  EXPECT_EQ((*groups)[0].last_delivered_id, "2-0");
  EXPECT_EQ((*groups)[0].entries_read, 2);
  EXPECT_EQ((*groups)[0].lag, 0);

  using Consumers = std::vector<StreamConsumerInfo>;
  auto consumers = call<Consumers>([&](auto cb) { c().xinfo_consumers("s", "g", std::move(cb)); });
  ASSERT_TRUE(consumers) << consumers.error().to_string();
  ASSERT_EQ(consumers->size(), 2u);
  EXPECT_EQ((*consumers)[0].name, "alice");
  EXPECT_EQ((*consumers)[0].pending, 0);
  EXPECT_EQ((*consumers)[1].name, "bob");
  EXPECT_EQ((*consumers)[1].pending, 2);
  EXPECT_GE((*consumers)[1].idle.count(), 0);

  auto info = call<StreamInfo>([&](auto cb) { c().xinfo_stream("s", std::move(cb)); });
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_EQ(info->length, 2);
  EXPECT_EQ(info->groups, 1);
  EXPECT_EQ(info->last_generated_id, "2-0");
  EXPECT_EQ(info->entries_added, 2);
  EXPECT_EQ(info->max_deleted_entry_id, "0-0");
  EXPECT_GE(info->radix_tree_keys, 1);
  EXPECT_GE(info->radix_tree_nodes, 1);
  ASSERT_TRUE(info->first_entry);
  EXPECT_EQ(*info->first_entry, (StreamEntry{"1-0", {{"a", "1"}}}));
  ASSERT_TRUE(info->last_entry);
  EXPECT_EQ(info->last_entry->id, "2-0");
  EXPECT_TRUE(is_server_error(call<StreamInfo>([&](auto cb) { c().xinfo_stream("none", std::move(cb)); }), "ERR"));

  // SETID moves the group back: everything is new again.
  ASSERT_TRUE(call<void>([&](auto cb) { c().xgroup_setid("s", "g", "0", 0, std::move(cb)); }));
  auto again = call<Batches>([&](auto cb) { c().xreadgroup("g", "alice", {{"s", ">"}}, std::move(cb)); });
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().entries.size(), 2u);
  ASSERT_TRUE(call<void>([&](auto cb) { c().xgroup_setid("s", "g", "$", std::move(cb)); }));
  EXPECT_TRUE(call<Batches>([&](auto cb) { c().xreadgroup("g", "alice", {{"s", ">"}}, std::move(cb)); })->empty());

  // DELCONSUMER says how many pending entries went with the consumer.
  EXPECT_EQ(*call<long long>([&](auto cb) { c().xgroup_delconsumer("s", "g", "alice", std::move(cb)); }), 2);
  EXPECT_EQ(*call<long long>([&](auto cb) { c().xgroup_delconsumer("s", "g", "nobody", std::move(cb)); }), 0);
  EXPECT_TRUE(*call<bool>([&](auto cb) { c().xgroup_destroy("s", "g", std::move(cb)); }));
  EXPECT_FALSE(*call<bool>([&](auto cb) { c().xgroup_destroy("s", "g", std::move(cb)); }));
  EXPECT_TRUE(call<Groups>([&](auto cb) { c().xinfo_groups("s", std::move(cb)); })->empty());
}

TEST_F(StreamsTest, UsageErrorsSendNothing) {
  add("s", "1-0", {{"a", "1"}});
  raw({"CONFIG", "RESETSTAT"});
  EXPECT_TRUE(is_usage_error(call<std::string>([&](auto cb) { c().xadd("s", PairList{}, std::move(cb)); }),
                             "XADD: the list of fields is empty"));
  EXPECT_TRUE(is_usage_error(call<std::string>([&](auto cb) { c().xadd("s", {{"f", "v"}}, {.id = "1-x"}, std::move(cb)); }),
                             "not a valid stream id"));
  EXPECT_TRUE(is_usage_error(call<std::string>([&](auto cb) {
                               c().xadd("s", {{"f", "v"}}, {.trim = StreamTrim::max_len(-3)}, std::move(cb));
                             }),
                             "MAXLEN must not be negative"));
  EXPECT_TRUE(is_usage_error(call<Entries>([&](auto cb) { c().xrange("s", "-", "+", -1, std::move(cb)); }),
                             "COUNT must not be negative"));
  EXPECT_TRUE(is_usage_error(call<Entries>([&](auto cb) { c().xrevrange("s", "x", "-", std::move(cb)); }),
                             "not a valid stream id"));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().xdel("s", StringList{}, std::move(cb)); }), "XDEL"));
  EXPECT_TRUE(is_usage_error(call<Batches>([&](auto cb) { c().xread({{"s", "0"}}, {.count = -1}, std::move(cb)); }),
                             "COUNT"));
  EXPECT_TRUE(is_usage_error(call<Batches>([&](auto cb) { c().xreadgroup("g", "c", {{"s", "nope"}}, std::move(cb)); }),
                             "XREADGROUP"));
  EXPECT_TRUE(is_usage_error(call<long long>([&](auto cb) { c().xack("s", "g", {"1-0", "bad"}, std::move(cb)); }),
                             "XACK"));
  EXPECT_TRUE(is_usage_error(call<std::vector<PendingEntry>>([&](auto cb) {
                               c().xpending("s", "g", {.count = -5}, std::move(cb));
                             }),
                             "XPENDING"));
  EXPECT_TRUE(is_usage_error(call<Entries>([&](auto cb) { c().xclaim("s", "g", "c", -1s, {"1-0"}, std::move(cb)); }),
                             "XCLAIM"));
  EXPECT_TRUE(is_usage_error(call<AutoClaim<StreamEntry>>([&](auto cb) {
                               c().xautoclaim("s", "g", "c", 0ms, "0-0", -1, std::move(cb));
                             }),
                             "XAUTOCLAIM"));
  EXPECT_TRUE(is_usage_error(call<void>([&](auto cb) { c().xgroup_create("s", "g", "", std::move(cb)); }), "XGROUP"));
  // Nothing reached the server: no stream command ran (or was rejected) since RESETSTAT.
  const std::string stats = raw({"INFO", "commandstats"});
  EXPECT_EQ(stats.find("cmdstat_x"), std::string::npos) << stats;
  EXPECT_EQ(len("s"), 1);
}

TEST_F(StreamsTest, OnAPipelineAndInATransaction) {
  Pipeline p(c());
  auto id = p.xadd("s", {{"f", "1"}}, {.id = "1-0"});
  auto id2 = p.xadd("s", {{"f", "2"}});
  auto length = p.xlen("s");
  auto entries = p.xrange("s", "-", "+", 1);
  // On a blocking connection, times out empty (a stream nobody writes: the
  // XADDs above go out on another connection and could wake a read of "s").
  auto quiet = p.xread({{"quiet", "$"}}, {.block = 50ms});
  auto bad = p.xdel("s", StringList{});
  std::optional<ExecSummary> summary;
  p.exec([&](ExecSummary s) { summary = s; });
  ASSERT_TRUE(wait([&] { return summary.has_value(); }));
  EXPECT_EQ(summary->commands, 6u);
  EXPECT_EQ(summary->failed, 1u);
  EXPECT_EQ(*id.result(), "1-0");
  EXPECT_TRUE(looks_like_id(*id2.result()));
  EXPECT_EQ(*length.result(), 2);
  EXPECT_EQ(*entries.result(), (Entries{{"1-0", {{"f", "1"}}}}));
  ASSERT_TRUE(quiet.ok()) << quiet.result().error().to_string();
  EXPECT_TRUE(quiet.result()->empty());
  EXPECT_TRUE(is_usage_error(bad.result(), "XDEL"));

  Transaction tx(c());
  auto create = tx.xgroup_create("q", "g", "$", {.mkstream = true});
  auto added = tx.xadd("q", {{"job", "x"}}, {.id = "5-0"});
  auto read = tx.xreadgroup("g", "w", {{"q", ">"}});
  auto pending = tx.xpending("q", "g");
  auto acked = tx.xack("q", "g", {"5-0"});
  auto info = tx.xinfo_stream("q");
  std::optional<Result<Transaction::Outcome>> outcome;
  tx.exec([&](Result<Transaction::Outcome> o) { outcome.emplace(std::move(o)); });
  ASSERT_TRUE(wait([&] { return outcome.has_value(); }));
  ASSERT_TRUE(*outcome) << outcome->error().to_string();
  EXPECT_EQ(**outcome, Transaction::Outcome::committed);
  EXPECT_TRUE(create.ok());
  EXPECT_EQ(*added.result(), "5-0");
  ASSERT_EQ(read.result()->size(), 1u);
  EXPECT_EQ(read.result()->front().entries, (Entries{{"5-0", {{"job", "x"}}}}));
  EXPECT_EQ(pending.result()->count, 1);
  EXPECT_EQ(*acked.result(), 1);
  EXPECT_EQ(info.result()->length, 1);

  // A usage error keeps the whole transaction from being sent.
  Transaction bad_tx(c());
  auto never = bad_tx.xadd("q", {{"job", "y"}});
  auto refused = bad_tx.xack("q", "g", {"not-an-id"});
  std::optional<Result<Transaction::Outcome>> bad_outcome;
  bad_tx.exec([&](Result<Transaction::Outcome> o) { bad_outcome.emplace(std::move(o)); });
  ASSERT_TRUE(wait([&] { return bad_outcome.has_value(); }));
  EXPECT_TRUE(is_usage_error(*bad_outcome, "XACK"));
  EXPECT_FALSE(never.ok());
  EXPECT_EQ(len("q"), 1);
}

TEST_F(StreamsTest, OnALease) {
  auto lease = c().lease();
  EXPECT_EQ(*call<std::string>([&](auto cb) { lease->xadd("s", {{"a", "b"}}, {.id = "1-1"}, std::move(cb)); }), "1-1");
  EXPECT_EQ(*call<long long>([&](auto cb) { lease->xlen("s", std::move(cb)); }), 1);
  lease.reset();
}
