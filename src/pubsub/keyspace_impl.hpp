#pragma once
// KeyspaceImpl, the state behind a KeyspaceSubscriber (private). keyspace.cpp:
// watches, confirmations, close. keyspace_nodes.cpp: one Subscriber (and
// CONFIG SET client) per server, and routing their messages to the watches.
// keyspace_map.cpp: which masters a cluster has.

#include <uvredis/cluster.hpp>
#include <uvredis/keyspace.hpp>
#include <uvredis/subscriber.hpp>

#include "base/uv_handle.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace uvredis::detail {

class KeyspaceImpl {
 public:
  // Single server.
  KeyspaceImpl(uv_loop_t* loop, ClientOptions o, KeyspaceOptions k);
  // Cluster.
  KeyspaceImpl(uv_loop_t* loop, ClusterOptions o, KeyspaceOptions k);

  ~KeyspaceImpl();

  KeyspaceWatchId watch(KeyspaceForm form, std::vector<std::string> patterns, std::vector<std::string> events,
                        KeyspaceHandler handler, Callback<void> confirmed);

  void unwatch(KeyspaceWatchId id, Callback<void> done);

  void close(Function<void()> done);

  std::vector<std::string> nodes() const;

  std::function<void(const Error&)> on_error_;
  std::function<void(const std::string&, ConnectionState, const Error*)> on_node_state_;
  std::uint64_t events_ = 0;
  std::uint64_t map_reads_ = 0;

 private:
  struct Life {
    KeyspaceImpl* impl;
  };
  struct Pending {
    std::vector<std::string> patterns;
    std::size_t left = 1;  // the issuing call's own share, released when it has attached everything
    std::optional<Error> err;
    Callback<void> cb;
  };
  struct Watch {
    KeyspaceForm form;
    std::vector<std::string> patterns;
    std::unordered_set<std::string> events;  // key-space form: only these (empty: all)
    std::shared_ptr<KeyspaceHandler> handler;  // shared: it may unwatch itself while it runs
  };
  enum class Config { none, pending, ok, failed };
  struct Node {
    std::string name;
    std::unique_ptr<Subscriber> sub;
    std::unique_ptr<Client> config;  // only with notify_keyspace_events
    Config config_state = Config::none;
    std::optional<Error> config_err;
    std::vector<std::shared_ptr<Pending>> config_waiters;
    std::shared_ptr<bool> removed = std::make_shared<bool>(false);
    bool connected_once = false;
  };

  void init_timer();

  // ------------------------------------------------------------ confirmations (keyspace.cpp)

  void attach(const std::shared_ptr<Pending>& p, Node& n);

  void release(const std::shared_ptr<Pending>& p) { part(p, std::nullopt); }

  void part(const std::shared_ptr<Pending>& p, std::optional<Error> e);

  void fail_later(const std::shared_ptr<Pending>& p, Error err) { complete_later(p, Result<void>(std::move(err))); }

  void complete_later(const std::shared_ptr<Pending>& p, Result<void> r);

  // ------------------------------------------------------------ nodes (keyspace_nodes.cpp)

  MessageHandler router(const std::string& node);

  void route(const std::string& node, const Message& m);

  std::vector<KeyspaceWatchId> watchers_of(const std::string& pattern) const;

  ClientOptions node_options(const std::string& name) const;

  void add_node(const std::string& name, const ClientOptions& o);

  void remove_node(const std::string& name);

  void send_config(Node& n);

  void on_config(const std::string& name, std::optional<Error> e);

  void on_node_state(const std::string& name, ConnectionState s, const Error* e);

  // ------------------------------------------------------------ the map (keyspace_map.cpp)

  void schedule_map(std::uint64_t delay);

  void ask_map();

  void on_map(Result<Reply> r);

  std::uint64_t next_backoff();

  uv_loop_t* loop_;
  std::optional<ClientOptions> client_;
  std::optional<ClusterOptions> cluster_;
  KeyspaceOptions ks_;
  std::shared_ptr<Life> life_;
  int db_ = 0;
  bool is_cluster_ = false;
  bool closing_ = false;
  std::optional<Error> invalid_;
  Address base_;
  std::string seed_host_;
  KeyspaceWatchId next_id_ = 0;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::unordered_map<KeyspaceWatchId, Watch> watches_;
  std::map<std::string, std::vector<KeyspaceWatchId>> by_pattern_;  // channel pattern -> its watches
  std::vector<std::shared_ptr<Pending>> pending_, unplaced_;
  bool map_known_ = false;
  std::unique_ptr<ClusterClient> map_client_;
  UvHandle<uv_timer_t> map_timer_;
  std::uint64_t due_ = 0, backoff_ = 0;
  bool asking_ = false, again_ = false, map_soon_ = false;
};

}  // namespace uvredis::detail
