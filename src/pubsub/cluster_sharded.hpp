#pragma once
// The sharded half of a ClusterSubscriber: SSUBSCRIBE on the master that
// owns each channel's slot, one ShardLink per such master.
//
// Where channels go: the slot map comes from CLUSTER SLOTS, asked through a
// ClusterClient of our own (it knows how to reach some live node). A channel
// without a live home is placed again after a map refresh:
// - its link dropped: the map is asked at once, then with backoff while the
//   map still names the dead node (a failover takes a few seconds);
// - the server unsubscribed it by itself (the slot moved away): map at once;
// - SSUBSCRIBE answered MOVED: straight to the node it names (bounded),
//   TRYAGAIN/CLUSTERDOWN/ASK/LOADING: after a refresh with backoff; any other
//   error fails its confirmations and the channel is dropped.
// Channels confirmed on a live link are never moved by a refresh: the server
// tells us when their slot leaves.

#include <uvredis/cluster.hpp>
#include <uvredis/subscriber.hpp>

#include "protocol/cluster_keys.hpp"
#include "pubsub/shard_link.hpp"
#include "base/uv_handle.hpp"

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace spdlog {
class logger;
}

namespace uvredis::detail {

class ShardRouter {
 public:
  struct Hooks {
    /// Hands a message to `handler` (null or empty: the catch-all).
    std::function<void(const MessageHandler* handler, const Message& m)> deliver;
    /// gap() or gap_error() may have changed.
    std::function<void()> gap_changed;
  };

  /// `base` is the address every node inherits (credentials, TLS).
  ShardRouter(uv_loop_t* loop, const ClusterOptions& options, Address base, Hooks hooks);
  /// Pending confirmations fail with closed on a later turn.
  ~ShardRouter();
  ShardRouter(const ShardRouter&) = delete;
  ShardRouter& operator=(const ShardRouter&) = delete;

  void subscribe(std::vector<std::string> channels, MessageHandler handler, Callback<void> confirmed);
  void unsubscribe(std::vector<std::string> channels, Callback<void> done);
  /// Closes every link and the map client; `done` runs once all are gone.
  void close(Function<void()> done);

  /// Some channel that was subscribed is not now (its link dropped, its slot
  /// moved): messages published to it are being lost.
  bool gap() const noexcept { return gap_ > 0; }
  const Error* gap_error() const noexcept { return gap_error_ ? &*gap_error_ : nullptr; }
  std::size_t channels() const noexcept { return channels_.size(); }
  std::uint64_t resubscribes() const noexcept { return resubscribes_; }
  /// The node a channel is confirmed on now, if it is.
  std::optional<std::string> node_of(const std::string& channel) const;

 private:
  struct Channel {
    MessageHandler handler;
    ShardLink* link = nullptr;  // holds it (link->holds(name)), or homeless
    bool confirmed = false;
    bool ever_confirmed = false;
    int redirects = 0;  // MOVED followed since the last confirmation
  };
  struct Confirm {
    std::size_t left;
    Callback<void> cb;
  };

  ShardLink* link_for(const std::string& node);
  const SlotRange* owner(int slot) const;
  void place(const std::vector<std::string>& names);
  void unconfirm(Channel& ch);
  void complete(const std::string& name, std::optional<Error> err);
  void fail_later(Callback<void> cb, Error err);

  void on_message(ShardLink& l, std::string channel, std::string payload);
  void on_confirmed(ShardLink& l, const std::string& channel);
  void on_dropped(ShardLink& l, const std::string& channel);
  void on_refused(ShardLink& l, std::vector<std::string> names, const Error& err);
  void on_link_state(ShardLink& l, ConnectionState s, const Error* e);

  void request_map(bool backoff);
  std::uint64_t next_backoff();
  void ask_map();
  void on_map(Result<Reply> r);
  void apply_map();
  void schedule_sweep();
  void sweep();
  void gap_changed();

  uv_loop_t* loop_;
  ClusterOptions opts_;
  Address base_;
  Hooks hooks_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<bool> alive_;
  std::shared_ptr<TlsContext> tls_;
  std::unordered_map<std::string, Channel> channels_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Confirm>>> pending_;
  std::unordered_map<std::string, std::unique_ptr<ShardLink>> links_;

  std::unique_ptr<ClusterClient> map_client_;
  std::vector<SlotRange> map_;  // sorted by first slot
  bool map_known_ = false;
  bool asking_ = false;
  // A map wanted while one was being asked for: at once, or after backoff.
  enum class Again { none, later, now };
  Again again_ = Again::none;
  std::uint64_t backoff_ms_ = 0;
  std::uint64_t map_due_ = 0;  // when map_timer_ fires (loop time), 0: not armed
  UvHandle<uv_timer_t> map_timer_;
  UvHandle<uv_timer_t> sweep_timer_;

  std::size_t gap_ = 0;  // channels with ever_confirmed && !confirmed
  std::optional<Error> gap_error_;
  std::uint64_t resubscribes_ = 0;
  bool closing_ = false;
};

}  // namespace uvredis::detail
