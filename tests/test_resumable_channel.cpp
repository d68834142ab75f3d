// ResumableChannel / ResumableSubscriber against a real redis-server:
// in-order delivery with ids, gaps after CLIENT KILL filled from the stream
// without loss or duplicate, trimmed history reported, starting from an id,
// steady traffic with the subscriber killed every second, and destroy-safety.
#include "support/await.hpp"
#include "support/cluster_helpers.hpp"
#include "support/loop.hpp"
#include "support/redis_server.hpp"

#include <uvredis/uvredis.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace uvredis;
using namespace uvredis::test;

namespace {

constexpr const char* kSubName = "resumable-sub";

ResumableChannelOptions channel_options(long long cap = 100000) {
  ResumableChannelOptions o;
  o.channel = "room";
  o.max_len = cap;
  return o;
}

ResumableSubscriberOptions sub_options(std::string last_id = {}, long long last_sequence = 0) {
  ResumableSubscriberOptions o;
  o.channel = "room";
  o.last_id = std::move(last_id);
  o.last_sequence = last_sequence;
  o.batch = 50;  // several reads per catch-up
  return o;
}

ClientOptions named(const RedisServer& s) {
  ClientOptions o = options_for(s);
  o.client_name = kSubName;
  return o;
}

// CLIENT KILL ID of the connection named `name` (found in CLIENT LIST);
// false when there is none.
bool kill_named(RedisServer& s, const std::string& name) {
  std::istringstream in(s.cmd({"CLIENT", "LIST"}));
  for (std::string line; std::getline(in, line);) {
    if (line.find(" name=" + name + " ") == std::string::npos) continue;
    const auto at = line.find("id=");
    const std::string id = line.substr(at + 3, line.find(' ', at) - at - 3);
    return s.cmd({"CLIENT", "KILL", "ID", id}) == "1";
  }
  return false;
}

// What a subscriber delivered, and what it reported.
struct Seen {
  std::vector<ChannelMessage> msgs;
  std::vector<HistoryLoss> losses;
  std::vector<Error> errors;
  void attach(ResumableSubscriber& sub) {
    sub.on_loss([this](const HistoryLoss& l) { losses.push_back(l); });
    sub.on_error([this](const Error& e) { errors.push_back(e); });
  }
};

// Publishes each payload and waits for every id (in publish order).
std::vector<std::string> publish_all(TestLoop& loop, ResumableChannel& ch, const std::vector<std::string>& payloads) {
  std::vector<std::optional<std::string>> ids(payloads.size());
  std::size_t done = 0;
  for (std::size_t i = 0; i < payloads.size(); ++i)
    ch.publish(payloads[i], [&, i](Result<std::string> r) {
      EXPECT_TRUE(r) << r.error().to_string();
      EXPECT_FALSE(ids[i]) << "callback twice";
      if (r) ids[i] = *r;
      ++done;
    });
  EXPECT_EQ(done, 0u) << "a publish callback ran inside the call";
  EXPECT_TRUE(loop.run_until([&] { return done == payloads.size(); }, 10s));
  std::vector<std::string> out;
  for (auto& id : ids) out.push_back(id.value_or(""));
  return out;
}

std::vector<std::string> numbered(int from, int to) {
  std::vector<std::string> p;
  for (int i = from; i < to; ++i) p.push_back("msg " + std::to_string(i));
  return p;
}

void expect_ids(const Seen& seen, const std::vector<std::string>& ids, const std::vector<std::string>& payloads) {
  ASSERT_EQ(seen.msgs.size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(seen.msgs[i].id, ids[i]) << i;
    EXPECT_EQ(seen.msgs[i].payload, payloads[i]) << i;
  }
}

// Publishes "0", "1", ... once per millisecond (~1,000/s) until stop(),
// keeping each message's id.
struct Traffic {
  ResumableChannel* ch;
  long long next = 0;
  long long acked = 0;
  std::vector<std::string> ids;
  uv_timer_t timer;

  Traffic(TestLoop& loop, ResumableChannel& c) : ch(&c) {
    uv_timer_init(loop.get(), &timer);
    timer.data = this;
    uv_timer_start(&timer, [](uv_timer_t* t) {
      auto* self = static_cast<Traffic*>(t->data);
      const long long n = self->next++;
      self->ids.emplace_back();
      self->ch->publish(std::to_string(n), [self, n](Result<std::string> r) {
        EXPECT_TRUE(r);
        if (r) self->ids[static_cast<std::size_t>(n)] = *r;
        ++self->acked;
      });
    }, 1, 1);
  }
  void stop() {
    uv_timer_stop(&timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  }
  // Every message, once, in order.
  void expect_delivered(const std::vector<ChannelMessage>& got) const {
    ASSERT_EQ(got.size(), ids.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].id, ids[i]) << "message " << i;
      ASSERT_EQ(got[i].payload, std::to_string(i));
    }
  }
};

}  // namespace

TEST(ResumableChannel, DeliversEachMessageInOrderWithItsId) {
  RedisServer server;
  TestLoop loop;
  {
    Client client(loop.get(), options_for(server));
    ResumableChannel ch(client, channel_options());
    Seen seen;
    ResumableSubscriber sub(loop.get(), named(server), client, sub_options(),
                            [&](const ChannelMessage& m) { seen.msgs.push_back(m); });
    seen.attach(sub);
    ASSERT_TRUE(loop.run_until([&] { return sub.live(); }));
    EXPECT_EQ(sub.last_id(), "0-0");  // an empty stream: everything from here on

    auto payloads = numbered(0, 200);
    payloads.push_back(std::string("bin\0ary \r\n with spaces", 23));
    const auto ids = publish_all(loop, ch, payloads);
    ASSERT_TRUE(loop.run_until([&] { return seen.msgs.size() >= payloads.size(); }));
    expect_ids(seen, ids, payloads);
    for (std::size_t i = 0; i < seen.msgs.size(); ++i) EXPECT_EQ(seen.msgs[i].sequence, static_cast<long long>(i + 1));
    EXPECT_EQ(server.cmd_int({"XLEN", ch.stream()}), static_cast<long long>(payloads.size()));
    EXPECT_EQ(ch.stream(), "room:history");
    const auto st = sub.stats();
    EXPECT_EQ(st.delivered, payloads.size());
    EXPECT_EQ(st.live, payloads.size());
    EXPECT_EQ(st.recovered, 0u);
    EXPECT_EQ(st.lost, 0u);
    EXPECT_TRUE(seen.losses.empty());
    EXPECT_TRUE(seen.errors.empty());
    close_and_wait(loop, sub);
    close_and_wait(loop, client);
  }
  EXPECT_EQ(loop.close(), 0);
}

// Messages published while the subscriber's connection is down come back
// from the stream, before the live ones, each once.
TEST(ResumableChannel, GapAfterClientKillIsFilledFromTheStream) {
  RedisServer server;
  TestLoop loop;
  {
    Client client(loop.get(), options_for(server));
    ResumableChannel ch(client, channel_options());
    publish_all(loop, ch, numbered(0, 30));  // history before the start is not delivered
    Seen seen;
    ResumableSubscriber sub(loop.get(), named(server), client, sub_options(),
                            [&](const ChannelMessage& m) { seen.msgs.push_back(m); });
    seen.attach(sub);
    // While it is away, publish 120 more (so the catch-up takes three reads).
    auto payloads = numbered(30, 80);
    std::vector<std::string> ids;
    int gaps = 0;
    std::vector<std::string> gap_ids(120);
    int gap_acks = 0;
    sub.on_state_change([&](ConnectionState s, const Error*) {
      if (s != ConnectionState::reconnecting) return;
      ++gaps;
      for (int i = 0; i < 120; ++i)
        ch.publish("gap " + std::to_string(i), [&, i](Result<std::string> r) {
          ASSERT_TRUE(r);
          gap_ids[i] = *r;
          ++gap_acks;
        });
    });
    ASSERT_TRUE(loop.run_until([&] { return sub.live(); }));
    ids = publish_all(loop, ch, payloads);
    ASSERT_TRUE(loop.run_until([&] { return seen.msgs.size() == 50; }));

    ASSERT_TRUE(kill_named(server, kSubName));
    ASSERT_TRUE(loop.run_until([&] { return gaps == 1 && gap_acks == 120 && sub.live(); }));
    for (int i = 0; i < 120; ++i) {
      payloads.push_back("gap " + std::to_string(i));
      ids.push_back(gap_ids[i]);
    }
    const auto after = numbered(80, 100);
    const auto after_ids = publish_all(loop, ch, after);
    payloads.insert(payloads.end(), after.begin(), after.end());
    ids.insert(ids.end(), after_ids.begin(), after_ids.end());
    ASSERT_TRUE(loop.run_until([&] { return seen.msgs.size() >= payloads.size(); }));
    loop.run_for(50ms);  // nothing more arrives
    expect_ids(seen, ids, payloads);
    const auto st = sub.stats();
    EXPECT_GE(st.recovered, 1u);
    EXPECT_EQ(st.catch_ups, 2u);
    EXPECT_EQ(st.lost, 0u);
    EXPECT_TRUE(seen.losses.empty());
    EXPECT_TRUE(seen.errors.empty());
    close_and_wait(loop, sub);
    close_and_wait(loop, client);
  }
  EXPECT_EQ(loop.close(), 0);
}

// An entry that reached the stream without its PUBLISH (here added by hand)
// shows up as a hole in the live sequence: it is read back, in order.
TEST(ResumableChannel, HoleInTheLiveSequenceIsReadBack) {
  RedisServer server;
  TestLoop loop;
  {
    Client client(loop.get(), options_for(server));
    ResumableChannel ch(client, channel_options());
    Seen seen;
    ResumableSubscriber sub(loop.get(), named(server), client, sub_options(),
                            [&](const ChannelMessage& m) { seen.msgs.push_back(m); });
    seen.attach(sub);
    ASSERT_TRUE(loop.run_until([&] { return sub.live(); }));
    const auto first = publish_all(loop, ch, {"one"});
    const std::string silent = server.cmd({"XADD", ch.stream(), "*", "n", "2", "payload", "two"});
    const auto last = publish_all(loop, ch, {"three"});
    ASSERT_TRUE(loop.run_until([&] { return seen.msgs.size() >= 3; }));
    loop.run_for(20ms);
    expect_ids(seen, {first[0], silent, last[0]}, {"one", "two", "three"});
    EXPECT_EQ(seen.msgs.back().sequence, 3);
    EXPECT_EQ(sub.stats().catch_ups, 2u);
    // The catch-up read "two" and "three" (already in the stream); the live
    // "three" held back meanwhile was a duplicate.
    EXPECT_EQ(sub.stats().recovered, 2u);
    EXPECT_EQ(sub.stats().duplicates, 1u);
    EXPECT_TRUE(seen.losses.empty());
    close_and_wait(loop, sub);
    close_and_wait(loop, client);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A subscriber starting from an id gets what came after it, then live ones.
TEST(ResumableChannel, StartsFromAGivenId) {
  RedisServer server;
  TestLoop loop;
  {
    Client client(loop.get(), options_for(server));
    ResumableChannel ch(client, channel_options());
    const auto payloads = numbered(0, 120);
    const auto ids = publish_all(loop, ch, payloads);
    Seen seen;
    ResumableSubscriber sub(loop.get(), named(server), client, sub_options(ids[9]),  // sequence unknown
                            [&](const ChannelMessage& m) { seen.msgs.push_back(m); });
    seen.attach(sub);
    ASSERT_TRUE(loop.run_until([&] { return sub.live(); }));
    const auto more = publish_all(loop, ch, {"live 1", "live 2"});
    ASSERT_TRUE(loop.run_until([&] { return seen.msgs.size() >= 112; }));
    std::vector<std::string> want_ids(ids.begin() + 10, ids.end()), want(payloads.begin() + 10, payloads.end());
    want_ids.insert(want_ids.end(), more.begin(), more.end());
    want.push_back("live 1");
    want.push_back("live 2");
    expect_ids(seen, want_ids, want);
    EXPECT_EQ(seen.msgs.front().sequence, 11);
    EXPECT_TRUE(seen.losses.empty());
    EXPECT_EQ(sub.stats().recovered, 110u);
    EXPECT_EQ(sub.last_id(), more.back());

    // "0" means the whole stream.
    Seen all;
    ResumableSubscriber sub0(loop.get(), options_for(server), client, sub_options("0"),
                             [&](const ChannelMessage& m) { all.msgs.push_back(m); });
    all.attach(sub0);
    ASSERT_TRUE(loop.run_until([&] { return all.msgs.size() >= 122; }));
    EXPECT_EQ(all.msgs.front().id, ids.front());
    EXPECT_TRUE(all.losses.empty());
    close_and_wait(loop, sub0);
    close_and_wait(loop, sub);
    close_and_wait(loop, client);
  }
  EXPECT_EQ(loop.close(), 0);
}

// Resuming after the cap trimmed the stream past the last id: the loss is
// reported (counted when the sequence is known), then the rest delivered.
TEST(ResumableChannel, TrimmedHistoryIsReported) {
  RedisServer server;
  server.cmd({"CONFIG", "SET", "stream-node-max-entries", "5"});  // so MAXLEN ~ trims at small sizes
  TestLoop loop;
  {
    Client client(loop.get(), options_for(server));
    ResumableChannel ch(client, channel_options(20));
    const auto first = publish_all(loop, ch, numbered(0, 10));
    const auto later = publish_all(loop, ch, numbered(10, 110));
    const long long left = server.cmd_int({"XLEN", ch.stream()});
    ASSERT_LT(left, 40);
    ASSERT_GE(left, 20);
    // The oldest entry left is number 110 - left + 1 (sequence), at index 110 - left.
    const std::size_t oldest = static_cast<std::size_t>(110 - left);

    for (const bool known : {true, false}) {
      Seen seen;
      ResumableSubscriber sub(loop.get(), named(server), client, sub_options(first[4], known ? 5 : 0),
                              [&](const ChannelMessage& m) { seen.msgs.push_back(m); });
      seen.attach(sub);
      ASSERT_TRUE(loop.run_until([&] { return sub.live(); }));
      ASSERT_EQ(seen.losses.size(), 1u) << known;
      EXPECT_EQ(seen.losses[0].after_id, first[4]);
      EXPECT_EQ(seen.losses[0].resumed_id, later[oldest - 10]);
      if (known) {
        ASSERT_TRUE(seen.losses[0].count);
        EXPECT_EQ(*seen.losses[0].count, static_cast<long long>(oldest) - 5);
        EXPECT_EQ(sub.stats().lost, oldest - 5);
      } else {
        EXPECT_FALSE(seen.losses[0].count);
      }
      ASSERT_EQ(seen.msgs.size(), static_cast<std::size_t>(left));
      EXPECT_EQ(seen.msgs.front().id, later[oldest - 10]);
      EXPECT_EQ(seen.msgs.back().id, later.back());
      close_and_wait(loop, sub);
    }
    close_and_wait(loop, client);
  }
  EXPECT_EQ(loop.close(), 0);
}

// ~1,000 messages/s for 4 s, the subscriber's connection killed every second:
// every message arrives, once, in order.
TEST(ResumableChannel, SteadyTrafficWithKillsEverySecondLosesNothing) {
  RedisServer server;
  TestLoop loop;
  {
    Client client(loop.get(), options_for(server));
    ResumableChannel ch(client, channel_options());
    std::vector<ChannelMessage> got;
    ResumableSubscriber sub(loop.get(), named(server), client, sub_options(),
                            [&](const ChannelMessage& m) { got.push_back(m); });
    Seen seen;
    seen.attach(sub);
    ASSERT_TRUE(loop.run_until([&] { return sub.live(); }));

    Traffic traffic(loop, ch);

    int kills = 0;
    for (int k = 0; k < 4; ++k) {
      const std::uint64_t until = uv_hrtime() + 1'000'000'000ull;
      ASSERT_TRUE(loop.run_until([&] { return uv_hrtime() >= until; }, 5s));
      if (kill_named(server, kSubName)) ++kills;
    }
    const std::uint64_t tail = uv_hrtime() + 300'000'000ull;
    ASSERT_TRUE(loop.run_until([&] { return uv_hrtime() >= tail; }, 5s));
    traffic.stop();
    ASSERT_TRUE(loop.run_until([&] { return traffic.acked == traffic.next; }, 5s));
    ASSERT_TRUE(loop.run_until([&] { return got.size() >= traffic.ids.size() && sub.live(); }, 5s))
        << "published " << traffic.ids.size() << ", delivered " << got.size();
    loop.run_for(50ms);

    EXPECT_EQ(kills, 4);
    traffic.expect_delivered(got);
    const auto st = sub.stats();
    EXPECT_EQ(st.catch_ups, 5u);
    EXPECT_GT(st.recovered, 0u);
    EXPECT_EQ(st.lost, 0u);
    EXPECT_TRUE(seen.losses.empty());
    EXPECT_TRUE(seen.errors.empty()) << seen.errors.front().to_string();
    std::printf("published %zu, recovered from the stream %llu, duplicates dropped %llu, %d kills\n", got.size(),
                static_cast<unsigned long long>(st.recovered), static_cast<unsigned long long>(st.duplicates), kills);
    close_and_wait(loop, sub);
    close_and_wait(loop, client);
  }
  EXPECT_EQ(loop.close(), 0);
}

// Destroying the subscriber from its own handler, in the middle of a
// catch-up, stops everything; bad options are reported, not thrown.
TEST(ResumableChannel, DestroyInsideHandlerAndBadOptions) {
  RedisServer server;
  TestLoop loop;
  {
    Client client(loop.get(), options_for(server));
    ResumableChannel ch(client, channel_options());
    const auto ids = publish_all(loop, ch, numbered(0, 100));
    int delivered = 0;
    std::unique_ptr<ResumableSubscriber> sub;
    sub = std::make_unique<ResumableSubscriber>(loop.get(), options_for(server), client, sub_options("0"),
                                                [&](const ChannelMessage&) {
                                                  if (++delivered == 10) sub.reset();
                                                });
    ASSERT_TRUE(loop.run_until([&] { return !sub; }));
    loop.run_for(50ms);
    EXPECT_EQ(delivered, 10);

    // Bad options: reported once on a later turn, nothing delivered.
    std::vector<Error> errors;
    auto bad = sub_options("not-an-id");
    ResumableSubscriber wrong(loop.get(), options_for(server), client, bad, [&](const ChannelMessage&) { FAIL(); });
    wrong.on_error([&](const Error& e) { errors.push_back(e); });
    EXPECT_TRUE(errors.empty());
    ASSERT_TRUE(loop.run_until([&] { return !errors.empty(); }));
    EXPECT_EQ(errors[0].kind, ErrorKind::usage);
    close_and_wait(loop, wrong);

    ResumableChannelOptions nochan;
    ResumableChannel empty(client, nochan);
    auto r = await<std::string>(loop, [&](Callback<std::string> cb) { empty.publish("x", std::move(cb)); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::usage);
    close_and_wait(loop, client);
  }
  EXPECT_EQ(loop.close(), 0);
}

namespace {

// Runs the rest of a test in a network namespace of its own (so iptables
// rules touch nothing else on the machine) and goes back when destroyed.
// `why` says why it could not (then nothing changed).
struct PrivateNetwork {
  int home = -1;
  bool inside = false;
  std::string why;

  PrivateNetwork() {
    if (::geteuid() != 0) {
      why = "not root (unshare -n and iptables need CAP_NET_ADMIN)";
      return;
    }
    if (std::system("command -v iptables >/dev/null 2>&1 && command -v ip >/dev/null 2>&1") != 0) {
      why = "iptables or ip (iproute2) not installed";
      return;
    }
    home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0 || ::unshare(CLONE_NEWNET) != 0) {
      why = std::string("unshare(CLONE_NEWNET) failed: ") + std::strerror(errno);
      return;
    }
    inside = true;
    if (std::system("ip link set lo up") != 0 || std::system("iptables -L INPUT -n >/dev/null 2>&1") != 0)
      why = "loopback or iptables unusable in a new network namespace";
  }
  ~PrivateNetwork() {
    if (inside) ::setns(home, CLONE_NEWNET);
    if (home >= 0) ::close(home);
  }
};

// The local port of the connection named `name` (CLIENT LIST addr=...), or "".
std::string port_of(RedisServer& s, const std::string& name) {
  std::istringstream in(s.cmd({"CLIENT", "LIST"}));
  for (std::string line; std::getline(in, line);) {
    if (line.find(" name=" + name + " ") == std::string::npos) continue;
    const auto at = line.find(" addr=");
    const std::string addr = line.substr(at + 6, line.find(' ', at + 1) - at - 6);
    return addr.substr(addr.rfind(':') + 1);
  }
  return {};
}

}  // namespace

// ~1,000 messages/s while the subscriber's link is black-holed once (every
// packet of it dropped, nothing reset): its health check finds the dead link,
// it reconnects and catches up; nothing lost, nothing twice, in order.
TEST(ResumableChannel, BlackHoledLinkLosesNothing) {
  PrivateNetwork net;
  if (!net.why.empty()) {
    std::printf("skipped: %s\n", net.why.c_str());
    GTEST_SKIP() << net.why;
  }
  RedisServer server;
  TestLoop loop;
  {
    Client client(loop.get(), options_for(server));
    ResumableChannel ch(client, channel_options());
    ClientOptions so = named(server);
    so.health_check_interval = 100ms;  // a silent link is found by its unanswered PING
    so.command_timeout = 200ms;
    so.dead_link_timeout = 200ms;
    std::vector<ChannelMessage> got;
    ResumableSubscriber sub(loop.get(), so, client, sub_options(), [&](const ChannelMessage& m) { got.push_back(m); });
    Seen seen;
    seen.attach(sub);
    int drops = 0;
    sub.on_state_change([&](ConnectionState s, const Error*) {
      if (s == ConnectionState::reconnecting) ++drops;
    });
    ASSERT_TRUE(loop.run_until([&] { return sub.live(); }));
    Traffic traffic(loop, ch);
    const std::uint64_t warm = uv_hrtime() + 500'000'000ull;
    ASSERT_TRUE(loop.run_until([&] { return uv_hrtime() >= warm; }, 5s));

    const std::string port = port_of(server, kSubName);
    ASSERT_FALSE(port.empty());
    ASSERT_EQ(std::system(("iptables -A INPUT -p tcp --sport " + port + " -j DROP && iptables -A INPUT -p tcp --dport " +
                           port + " -j DROP").c_str()),
              0);
    ASSERT_TRUE(loop.run_until([&] { return drops == 1; }, 5s)) << "the black-holed link was never dropped";
    ASSERT_TRUE(loop.run_until([&] { return sub.live(); }, 5s));
    EXPECT_EQ(std::system("iptables -F INPUT"), 0);
    const std::uint64_t tail = uv_hrtime() + 500'000'000ull;
    ASSERT_TRUE(loop.run_until([&] { return uv_hrtime() >= tail; }, 5s));
    traffic.stop();
    ASSERT_TRUE(loop.run_until([&] { return traffic.acked == traffic.next; }, 5s));
    ASSERT_TRUE(loop.run_until([&] { return got.size() >= traffic.ids.size(); }, 5s))
        << "published " << traffic.ids.size() << ", delivered " << got.size();
    loop.run_for(50ms);
    traffic.expect_delivered(got);
    const auto st = sub.stats();
    EXPECT_GT(st.recovered, 0u);  // the silent stretch came from the stream
    EXPECT_EQ(st.lost, 0u);
    EXPECT_TRUE(seen.losses.empty());
    std::printf("published %zu, recovered from the stream %llu after the black hole\n", got.size(),
                static_cast<unsigned long long>(st.recovered));
    close_and_wait(loop, sub);
    close_and_wait(loop, client);
  }
  EXPECT_EQ(loop.close(), 0);
}

// On a cluster: the stream on one master, the subscriber on another (PUBLISH
// reaches every node), publishing and reading through a ClusterClient; a
// gap after CLIENT KILL is filled from the stream's master.
class ResumableChannelCluster : public ClusterSuite {};

TEST_F(ResumableChannelCluster, StreamAndSubscriberOnDifferentMasters) {
  TestLoop loop;
  {
    ClusterClient cc(loop.get(), cluster_options(*cluster_));
    auto masters = cluster_->masters();
    ASSERT_EQ(masters.size(), 3u);
    ResumableChannelOptions co = channel_options();
    co.stream = key_on(*cluster_, *masters[1], "room:");
    ResumableChannel ch(cc, co);
    ResumableSubscriberOptions so = sub_options();
    so.stream = co.stream;
    ClientOptions sub_link = options_for(*masters[0]);
    sub_link.client_name = kSubName;
    Seen seen;
    ResumableSubscriber sub(loop.get(), sub_link, cc, so, [&](const ChannelMessage& m) { seen.msgs.push_back(m); });
    seen.attach(sub);
    ASSERT_TRUE(loop.run_until([&] { return sub.live(); }));
    auto payloads = numbered(0, 50);
    auto ids = publish_all(loop, ch, payloads);
    ASSERT_TRUE(loop.run_until([&] { return seen.msgs.size() == 50; }));
    ASSERT_TRUE(kill_named(*masters[0], kSubName));
    const auto gap = numbered(50, 150);  // published at once: most land while it is away
    const auto gap_ids = publish_all(loop, ch, gap);
    payloads.insert(payloads.end(), gap.begin(), gap.end());
    ids.insert(ids.end(), gap_ids.begin(), gap_ids.end());
    ASSERT_TRUE(loop.run_until([&] { return seen.msgs.size() >= payloads.size() && sub.live(); }));
    loop.run_for(50ms);
    expect_ids(seen, ids, payloads);
    EXPECT_EQ(masters[1]->cmd_int({"XLEN", co.stream}), 150);
    EXPECT_EQ(sub.stats().catch_ups, 2u);
    EXPECT_TRUE(seen.losses.empty());
    EXPECT_TRUE(seen.errors.empty());
    close_and_wait(loop, sub);
    close_and_wait(loop, cc);
  }
  EXPECT_EQ(loop.close(), 0);
}
