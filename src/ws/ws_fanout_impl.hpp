#pragma once
// WsFanoutImpl, the state behind a WsFanout (private to uvredis-ws). ws_fanout.cpp: start, close, the API;
// ws_fanout_clients.cpp: what clients send; ws_fanout_rooms.cpp: Redis messages to rooms;
// ws_fanout_resume.cpp: a client catching up; ws_fanout_writes.cpp: the write path and its
// per-turn budget; ws_fanout_stats.cpp: counters, /stats and the loop-lag tick.

#include <uvredis/client.hpp>
#include <uvredis/resumable_channel.hpp>
#include <uvredis/subscriber.hpp>
#include <uvredis/ws_fanout.hpp>

#include "ws_fanout_hub.hpp"

#include <libwebsockets.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace uvredis::detail {

using json = nlohmann::json;
using fanout::Client;
using fanout::FramePtr;

constexpr std::uint64_t kTickMs = 100;

bool valid_room(std::string_view r);
std::string dump(const json& j);

// lws's per-session memory is raw bytes without constructors: it holds only
// the id of our Client (in the Hub).
struct Pss {
  std::uint64_t id;  // 0: no client (lws zero-fills this)
};

class WsFanoutImpl : public std::enable_shared_from_this<WsFanoutImpl> {
 public:
  WsFanoutImpl(uv_loop_t* loop, ClientOptions redis, WsFanoutOptions o);

  WsFanoutImpl(const WsFanoutImpl&) = delete;
  WsFanoutImpl& operator=(const WsFanoutImpl&) = delete;

  // ------------------------------------------------------------ start

  Result<int> start(std::shared_ptr<WsFanoutImpl> self);

  int port() const { return port_; }

  // ------------------------------------------------------------ close

  void close(Function<void()> done);

  // ------------------------------------------------------------ API

  void detach();

  void on_text(WsFanout::TextHandler fn) { on_text_ = std::move(fn); }
  void on_connect(std::function<void(WsFanout::ClientId)> fn) { on_connect_ = std::move(fn); }
  void on_disconnect(std::function<void(WsFanout::ClientId)> fn) { on_disconnect_ = std::move(fn); }

  bool send(WsFanout::ClientId id, std::string_view text);

  bool join(WsFanout::ClientId id, std::string_view room);

  bool send_room(std::string_view room, std::string_view text);

  void publish(std::string_view room, std::string_view text, Callback<void> cb);

  WsFanoutStats stats() const;

  std::string stats_json() const;

  // ------------------------------------------------------------ lws events

  int on_http(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);

  int on_ws(lws* wsi, lws_callback_reasons reason, Pss* pss, void* in, std::size_t len);

 private:
  struct Resumable {
    std::unique_ptr<ResumableChannel> channel;
    std::unique_ptr<ResumableSubscriber> sub;
    bool down = false;
  };

  int too_large(lws* wsi);

  // ---------------------------------------------------- client -> server

  void on_client_text(Client& s, std::string_view text);

  void reply_error(Client& s, std::string_view what);

  // ---------------------------------------------------- Redis -> clients

  void on_plain_message(const Message& m);

  bool routable(const std::string& room, std::size_t size, const std::string& channel);

  void on_resumable_message(const std::string& room, const ChannelMessage& m);

  FramePtr resumable_frame(const std::string& room, const std::string& id, const std::string& payload);

  // ---------------------------------------------------- a client resuming

  struct StreamId {
    unsigned long long ms = 0, seq = 0;
    friend auto operator<=>(const StreamId&, const StreamId&) = default;
  };
  static std::optional<StreamId> parse_id(std::string_view id);
  static bool valid_stream_id(std::string_view id) { return parse_id(id).has_value(); }

  struct Resume {
    std::string room;
    std::string last_id;
    bool trimmed = false;  // the stream's oldest entry is past last_id
    std::vector<std::pair<std::string, FramePtr>> live;  // delivered to the room meanwhile
  };

  void start_resume(Client& c, const std::string& room, const std::string& last_id);

  void start_resumable(const std::string& room);

  void broadcast_plain(const json& j);

  void on_plain_state(ConnectionState st, const Error* e);

  // ------------------------------------------------------------ writes

  void on_wake(Client& c);

  void arm(Client& c);

  void write_direct(Client& c, std::size_t limit = SIZE_MAX);

  void defer(Client& c);

  void on_turn();
  bool turn_spent() const {
    return turn_written_ >= o_.turn_budget_bytes || turn_frames_ >= o_.turn_budget_frames;
  }

  bool write_one(Client& c, lws* wsi);

  int on_writeable(Client& c);

  // ------------------------------------------------------------ misc

  void on_tick();

  void check_lws_closed();

  void closed_one();

  void post_dones();

  template <class F>
  void post(F fn) {
    auto* t = new uv_timer_t;
    uv_timer_init(loop_, t);
    t->data = new Function<void()>(std::move(fn));
    uv_timer_start(
        t,
        [](uv_timer_t* h) {
          std::unique_ptr<Function<void()>> f(static_cast<Function<void()>*>(h->data));
          uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_timer_t*>(x); });
          (*f)();
        },
        0, 0);
  }

  struct Posted {
    std::vector<Function<void()>> dones;
    std::shared_ptr<WsFanoutImpl> self;
  };

  uv_loop_t* loop_;
  WsFanoutOptions o_;
  ClientOptions redis_opts_;
  std::shared_ptr<spdlog::logger> log_;
  std::string www_;
  std::string pattern_;

  std::unique_ptr<uvredis::Client> redis_;
  std::unique_ptr<Subscriber> subscriber_;
  std::unordered_map<std::string, Resumable> resumable_;

  lws_context* ctx_ = nullptr;
  void* foreign_loops_[1] = {nullptr};
  lws_protocols protocols_[3] = {};
  lws_http_mount stats_mount_{};
  lws_http_mount files_mount_{};
  int port_ = 0;

  uv_timer_t* tick_ = nullptr;
  uv_prepare_t* turn_ = nullptr;
  uv_idle_t* backlog_idle_ = nullptr;
  std::deque<std::uint64_t> backlog_;  // clients waiting for a turn's write budget, in order
  uv_timer_t* lws_wait_ = nullptr;
  std::uint64_t last_tick_ = 0;
  std::uint64_t ticks_ = 0;
  std::uint64_t logged_dropped_ = 0;
  std::uint64_t logged_kicks_ = 0;
  std::size_t turn_written_ = 0;  // bytes written since the turn began
  std::size_t turn_frames_ = 0;   // frames written since the turn began

  fanout::Hub hub_;
  std::unordered_map<std::uint64_t, std::string> partial_;  // messages arriving in fragments
  std::unordered_map<std::uint64_t, Resume> resumes_;        // clients catching up (join with last_id)
  std::unordered_map<lws*, std::string> http_bodies_;       // stats responses waiting for WRITEABLE
  WsFanoutStats counters_;
  WsFanout::TextHandler on_text_;
  std::function<void(WsFanout::ClientId)> on_connect_;
  std::function<void(WsFanout::ClientId)> on_disconnect_;

  bool started_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool lws_broken_ = false;
  bool subscribed_ = false;
  bool redis_down_ = false;
  bool any_closing_ = false;
  bool detached_ = false;
  bool lws_destroying_ = false;
  int pending_closes_ = 0;
  std::vector<Function<void()>> dones_;
  std::shared_ptr<WsFanoutImpl> self_;
};

}  // namespace uvredis::detail
