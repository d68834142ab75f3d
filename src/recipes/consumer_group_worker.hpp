#pragma once
// GroupWorker, the state behind a ConsumerGroup (private), shared with every
// command in flight and every EntryDone. consumer_group.cpp: reading, stopping;
// consumer_group_delivery.cpp: claiming, delivering, dead-lettering, acknowledging.

#include <uvredis/consumer_group.hpp>

#include "base/uv_handle.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

namespace uvredis::detail {

using std::chrono::milliseconds;

struct GroupWorker : std::enable_shared_from_this<GroupWorker> {
  enum class Phase { create, history, live, halted };

  Executor* ex;
  ConsumerGroupOptions o;
  ConsumerGroup::Handler handler;
  ConsumerGroup::ErrorListener on_error;
  ConsumerGroupStats stats;

  bool alive = true;     // false once the ConsumerGroup is gone
  bool stopping = false;
  std::vector<Function<void()>> stop_cbs;

  Phase phase = Phase::create;
  std::string cursor = "0";  // history: the last own pending id re-read
  bool reading = false;      // a read (or create, or its delivery check) in flight
  bool waiting = false;      // the retry timer runs
  milliseconds backoff{0};

  bool claiming = false;
  std::string claim_cursor = "0-0";

  std::size_t handlers = 0;              // entries in the user's hands
  std::size_t incoming = 0;              // entries asked for by reads and claims not handed out yet
  std::unordered_set<std::string> held;  // handed out (or being dead-lettered), not yet acknowledged
  std::vector<std::string> to_ack;
  bool flush_posted = false;
  std::size_t acks_in_flight = 0;
  std::size_t dead_in_flight = 0;

  UvHandle<uv_timer_t> retry_timer;
  UvHandle<uv_timer_t> claim_timer;
  UvHandle<uv_timer_t> ack_timer;
  bool ack_waiting = false;
  milliseconds ack_backoff{0};

  GroupWorker(Executor& e, ConsumerGroupOptions opts, ConsumerGroup::Handler h);

  void report(const Error& e);

  // ------------------------------------------------------------ reading

  void start();

  std::size_t room() const;

  void arm(UvHandle<uv_timer_t>& timer, milliseconds delay, void (*fn)(uv_timer_t*));

  static milliseconds grow(milliseconds current, milliseconds first);

  void pump();

  void create();

  void failed(const Error& e);

  void on_read(bool live, std::size_t asked, Result<std::vector<StreamBatch>> r);

  // ------------------------------------------------------------ claiming (consumer_group_delivery.cpp)

  void claim();

  void on_claimed(std::size_t asked, Result<AutoClaim<StreamEntry>> r);

  // ------------------------------------------------------------ delivery (consumer_group_delivery.cpp)

  void check_deliveries(std::vector<StreamEntry> entries, Function<void()> then);

  void deliver(std::vector<StreamEntry> entries);

  void dead_letter(std::string id);

  // ------------------------------------------------------------ acknowledging (consumer_group_delivery.cpp)

  void done(std::string id, bool ok);

  void queue_ack(std::string id);

  void flush();

  void retry_acks();

  // ------------------------------------------------------------ stopping

  void stop(Function<void()> cb);

  void maybe_stopped();
};

}  // namespace uvredis::detail
