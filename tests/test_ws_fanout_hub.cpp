// The I/O-free core of uvredis-ws (src/ws/ws_fanout_hub.hpp): rooms, bounded queues, the
// slow-client policy. No network; the end-to-end test is tests/ws/.
#include "ws_fanout_hub.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using fanout::Client;
using fanout::FramePtr;
using fanout::Hub;
using fanout::Limits;
using fanout::SlowPolicy;

struct Recorder {
  std::vector<std::uint64_t> woken, kicked, first_drops;
  Hub::Hooks hooks() {
    return {.wake = [this](Client& c) { woken.push_back(c.id); },
            .kick = [this](Client& c) { kicked.push_back(c.id); },
            .first_drop = [this](Client& c) { first_drops.push_back(c.id); }};
  }
};

std::vector<std::string> drain(Hub& hub, Client& c) {
  std::vector<std::string> out;
  while (FramePtr f = hub.next(c)) out.emplace_back(f->view());
  return out;
}

TEST(FanoutHub, FramesKeepHeadroomAndAreSharedBetweenClients) {
  Recorder rec;
  Hub hub(Limits{}, 16, rec.hooks());
  Client& a = hub.add(nullptr);
  Client& b = hub.add(nullptr);
  hub.join(a, "r");
  hub.join(b, "r");
  FramePtr f = hub.make_frame("hello");
  EXPECT_EQ(f->size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(f->data()), f->size()), "hello");
  ASSERT_TRUE(hub.send_room("r", f));
  EXPECT_EQ(hub.next(a).get(), f.get());
  EXPECT_EQ(hub.next(b).get(), f.get());
}

TEST(FanoutHub, RoomsAreSeparate) {
  Recorder rec;
  Hub hub(Limits{}, 0, rec.hooks());
  Client& a = hub.add(nullptr);
  Client& b = hub.add(nullptr);
  hub.join(a, "one");
  hub.join(b, "two");
  EXPECT_TRUE(hub.send_room("one", hub.make_frame("x")));
  EXPECT_FALSE(hub.send_room("three", hub.make_frame("y")));
  EXPECT_EQ(drain(hub, a), std::vector<std::string>{"x"});
  EXPECT_TRUE(drain(hub, b).empty());
  hub.join(a, "two");  // moving leaves the old room
  EXPECT_FALSE(hub.has_room("one"));
  EXPECT_EQ(hub.rooms(), 1u);
}

TEST(FanoutHub, WakesTheTransportOnlyWhenAClientHadNothingWaiting) {
  Recorder rec;
  Hub hub(Limits{}, 0, rec.hooks());
  Client& a = hub.add(nullptr);
  hub.send(a, hub.make_frame("1"));
  hub.send(a, hub.make_frame("2"));
  EXPECT_EQ(rec.woken.size(), 1u);
  drain(hub, a);
  hub.send(a, hub.make_frame("3"));
  EXPECT_EQ(rec.woken.size(), 2u);
}

TEST(FanoutHub, DropOldestKeepsTheNewestAndReportsTheGapWhereItIs) {
  Recorder rec;
  Hub hub(Limits{.frames = 3, .bytes = 1 << 20, .policy = SlowPolicy::drop_oldest}, 0, rec.hooks());
  Client& slow = hub.add(nullptr);
  for (int i = 1; i <= 5; ++i) hub.send(slow, hub.make_frame(std::to_string(i)));
  EXPECT_EQ(slow.queue.size(), 3u);
  EXPECT_EQ(hub.counters().dropped, 2u);
  EXPECT_EQ(hub.counters().slow_clients, 1u);
  EXPECT_EQ(rec.first_drops, std::vector<std::uint64_t>{slow.id});
  EXPECT_EQ(drain(hub, slow), (std::vector<std::string>{R"({"type":"dropped","count":2})", "3", "4", "5"}));
  // Later losses are counted and reported again; first_drop stays once.
  for (int i = 6; i <= 10; ++i) hub.send(slow, hub.make_frame(std::to_string(i)));
  EXPECT_EQ(drain(hub, slow), (std::vector<std::string>{R"({"type":"dropped","count":2})", "8", "9", "10"}));
  EXPECT_EQ(hub.counters().slow_clients, 1u);
  EXPECT_EQ(rec.first_drops.size(), 1u);
  EXPECT_EQ(slow.dropped, 4u);
}

TEST(FanoutHub, TheByteLimitActsLikeTheFrameLimit) {
  Recorder rec;
  Hub hub(Limits{.frames = 100, .bytes = 10, .policy = SlowPolicy::drop_oldest}, 0, rec.hooks());
  Client& c = hub.add(nullptr);
  for (const char* p : {"aaaa", "bbbb", "cccc", "dddd"}) hub.send(c, hub.make_frame(p));
  EXPECT_EQ(c.queue.size(), 2u);
  EXPECT_EQ(c.queued_bytes, 8u);
  EXPECT_EQ(hub.deepest_queue_bytes(), 8u);
  EXPECT_EQ(drain(hub, c), (std::vector<std::string>{R"({"type":"dropped","count":2})", "cccc", "dddd"}));
  EXPECT_EQ(c.queued_bytes, 0u);
}

TEST(FanoutHub, AFrameLargerThanTheByteLimitIsNotQueued) {
  Recorder rec;
  Hub hub(Limits{.frames = 100, .bytes = 4, .policy = SlowPolicy::drop_oldest}, 0, rec.hooks());
  Client& c = hub.add(nullptr);
  hub.send(c, hub.make_frame("ok"));
  hub.send(c, hub.make_frame("too big"));
  EXPECT_EQ(drain(hub, c), std::vector<std::string>{"ok"});
  EXPECT_EQ(hub.counters().dropped, 0u);
}

TEST(FanoutHub, DisconnectPolicyKicksOnceAndQueuesNothingMore) {
  Recorder rec;
  Hub hub(Limits{.frames = 2, .bytes = 1 << 20, .policy = SlowPolicy::disconnect}, 0, rec.hooks());
  Client& slow = hub.add(nullptr);
  Client& fast = hub.add(nullptr);
  hub.join(slow, "r");
  hub.join(fast, "r");
  for (int i = 0; i < 5; ++i) {
    hub.send_room("r", hub.make_frame(std::to_string(i)));
    drain(hub, fast);
  }
  EXPECT_EQ(rec.kicked, std::vector<std::uint64_t>{slow.id});
  EXPECT_TRUE(slow.kicked);
  EXPECT_FALSE(hub.pending(slow));
  EXPECT_EQ(hub.counters().slow_disconnects, 1u);
  EXPECT_EQ(hub.counters().dropped, 0u);
  EXPECT_TRUE(rec.kicked.size() == 1 && !fast.kicked);
}

TEST(FanoutHub, RemovingAClientLeavesItsRoom) {
  Recorder rec;
  Hub hub(Limits{}, 0, rec.hooks());
  Client& a = hub.add(nullptr);
  hub.join(a, "r");
  std::uint64_t id = a.id;
  hub.remove(id);
  EXPECT_EQ(hub.find(id), nullptr);
  EXPECT_EQ(hub.clients(), 0u);
  EXPECT_FALSE(hub.send_room("r", hub.make_frame("x")));
}

TEST(FanoutHub, AfterStopNothingIsQueued) {
  Recorder rec;
  Hub hub(Limits{}, 0, rec.hooks());
  Client& a = hub.add(nullptr);
  hub.stop();
  hub.send(a, hub.make_frame("x"));
  EXPECT_FALSE(hub.pending(a));
  EXPECT_TRUE(rec.woken.empty());
}

}  // namespace
