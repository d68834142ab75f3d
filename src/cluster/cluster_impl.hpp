#pragma once
// Layer cluster (src/cluster/): ClusterClient: one Client per node, the slot
// map and its refresh, routing, redirections, splits and fan-out. May include:
// every layer up to client.
//
// The state behind a ClusterClient: one Client per node, the slot map, the
// commands waiting for a map or a retry, and the refresh machinery.
//
// cluster.cpp: nodes, slot map, refresh, close. cluster_route.cpp: routing a
// command, redirections and retries, multi-key splits, groups.

#include <uvredis/cluster.hpp>
#include <uvredis/lease.hpp>

#include "protocol/cluster_keys.hpp"
#include "link/scheduler.hpp"
#include "base/uv_handle.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace spdlog {
class logger;
}

namespace uvredis::detail {

/// The usage error for keys of one command (or group) in two slots.
Error cross_slot_error(std::string_view what, int a, int b);

class ClusterImpl {
 public:
  ClusterImpl(uv_loop_t* loop, ClusterOptions options);
  ~ClusterImpl();
  ClusterImpl(const ClusterImpl&) = delete;
  ClusterImpl& operator=(const ClusterImpl&) = delete;

  // --- cluster_route.cpp
  void command(std::span<const std::string_view> argv, Callback<Reply> cb, const CommandOptions& opts);
  void command_to(std::string_view node, std::span<const std::string_view> argv, Callback<Reply> cb,
                  const CommandOptions& opts);
  void command_group(const std::vector<std::vector<std::string>>& cmds,
                     Function<void(std::vector<Result<Reply>>)> done, const CommandOptions& opts);
  /// A Lease on the master of `slot`, on a later loop turn. `after`: the
  /// MOVED/ASK/TRYAGAIN error that ended the caller's previous lease there
  /// (the map is fixed or refreshed first; ASK and TRYAGAIN wait a backoff).
  void lease(int slot, const Error* after, int retries, Function<void(Result<std::unique_ptr<Lease>>)> cb);
  /// What watch_transaction needs: leases for `slot` that stay safe to ask
  /// for after this impl is gone (they then fail with closed).
  std::function<void(const Error*, int, Function<void(Result<std::unique_ptr<Lease>>)>)> lease_source(int slot);
  int max_lease_restarts() const { return opts_.max_redirects + opts_.max_retries; }

  // --- cluster.cpp
  void post(Function<void()> fn);
  void close(Function<void()> done);
  void refresh() { request_refresh(); }
  std::vector<std::string> masters() const;
  std::optional<std::string> node_for_key(std::string_view key) const;
  ClusterStats stats() const noexcept;
  std::vector<NodeStats> node_stats() const;
  uv_loop_t* loop() const noexcept { return loop_; }

 private:
  struct Node {
    std::string name;  // "host:port"
    std::string host;
    std::uint16_t port = 0;
    Client* client = nullptr;
    bool master = false;
    bool replica = false;         // kept for reads (ReadFrom::replica_preferred)
    std::vector<Node*> replicas;  // a master's replicas that are kept
    std::size_t next_replica = 0;
    bool probing = false;  // a PING checks whether the link still answers after a timeout
  };

  // One command (or group) on its way, kept for resending.
  struct Op {
    bool group = false;
    std::vector<std::string> argv;                // single command
    Callback<Reply> cb;
    std::vector<std::vector<std::string>> cmds;   // group
    Function<void(std::vector<Result<Reply>>)> done;
    std::optional<std::chrono::milliseconds> timeout;
    int slot = -1;  // -1: any master
    int redirects = 0;
    int retries = 0;
    std::string ask_node;  // the next attempt goes there, after ASKING
    FanOut fan = FanOut::none;  // keyless admin command for every master
    Function<void(Result<std::unique_ptr<Lease>>)> lease_cb;  // a lease request, not a command
    bool replica_ok = false;  // a read a replica may serve; cleared once it must go to the master
    bool on_replica = false;  // the attempt in flight went to a replica
    int read_left = 0;        // resends left after a lost link (ClientOptions::read_retry; reads only)
    std::chrono::milliseconds read_delay{0};  // before the next of those
  };
  using OpPtr = std::shared_ptr<Op>;

  // Callbacks handed to node clients hold this instead of `this`: it is
  // cleared when the impl goes, and late results then go straight to the user.
  struct Life {
    ClusterImpl* impl;
  };

  // cluster.cpp
  Node* node(const std::string& name);
  Node* node(const std::string& host, std::uint16_t port);
  void retire(Node* n);
  Client* make_client(const std::string& host, std::uint16_t port);
  void close_client(Client* c);
  Node* node_of(const Client* c);
  void node_timed_out(const Client* via);
  void on_probe(const Client* via, const Result<Reply>& r, std::uint64_t replies, std::uint64_t reconnects);
  void replace_client(Node* n);
  void request_refresh();
  void start_refresh();
  void try_next_candidate();
  void on_slots(const std::string& asked, Result<Reply> r);
  void refresh_finished(bool ok);
  void arm_refresh_timer(std::uint64_t delay_ms);
  void schedule_retry(OpPtr op, std::uint64_t delay_ms);
  void on_retry_timer();
  void fail_parked(const Error& err);
  void shut_nodes();

  // cluster_route.cpp
  void dispatch(OpPtr op);
  void send(Node* n, const OpPtr& op);
  void send_to_all(const OpPtr& op);
  void on_reply(const OpPtr& op, Result<Reply> r, const Client* via);
  void on_group_reply(const OpPtr& op, std::vector<Result<Reply>> rs, const Client* via);
  bool follow_redirect(const OpPtr& op, const Error& e);
  bool retry_read(const OpPtr& op, const Error& e);
  void retry_later(const OpPtr& op, Error err);
  static void finish(const OpPtr& op, Result<Reply> r);
  static void finish_group(const OpPtr& op, const Error& err);
  void fail_soon(OpPtr op, Error err);
  void split(std::span<const std::string_view> argv, SplitKind kind, const KeyRange& keys, Callback<Reply> cb,
             const CommandOptions& opts, bool read);
  Node* any_master();
  Node* pick_replica(Node* master);
  bool replica_fallback(const OpPtr& op, const Error& e);

  uv_loop_t* loop_;
  ClusterOptions opts_;
  bool replica_reads_ = false;  // opts_.read_from lets reads go to replicas
  std::shared_ptr<spdlog::logger> log_;
  std::optional<Error> invalid_;  // a configuration error: every command fails with it
  std::vector<Address> seeds_;
  Address base_;  // credentials and name for every node

  std::unordered_map<std::string, std::unique_ptr<Node>> nodes_;
  std::vector<Node*> slots_;  // kClusterSlots entries once a map is known
  std::vector<Node*> masters_;
  std::size_t next_master_ = 0;
  bool map_ready_ = false;

  std::deque<OpPtr> waiting_;                    // for the first map
  std::multimap<std::uint64_t, OpPtr> delayed_;  // retries by due time
  UvHandle<uv_timer_t> retry_timer_;
  std::uint64_t retry_due_ = 0;

  bool refreshing_ = false;
  bool refresh_again_ = false;
  std::uint64_t last_refresh_ = 0;
  bool ever_refreshed_ = false;
  std::vector<std::string> candidates_;
  std::size_t candidate_ = 0;
  Error last_refresh_error_;
  UvHandle<uv_timer_t> refresh_timer_;

  Scheduler::Ref sched_;  // post(), deferred failures and close callbacks

  struct Retiring {
    std::size_t left = 0;
    std::vector<Function<void()>> waiters;
  };
  std::shared_ptr<Retiring> retiring_ = std::make_shared<Retiring>();
  std::shared_ptr<Life> life_;
  bool closing_ = false;              // close() called: no new commands
  bool close_after_refresh_ = false;  // close() waits for the first map
  bool shut_ = false;                 // node clients are closing
  bool closed_handles_ = false;
  std::vector<Function<void()>> close_waiters_;

  ClusterStats counters_;
};

}  // namespace uvredis::detail
