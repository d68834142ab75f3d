#pragma once
// Layer link (src/link/): one connection to one server: the request queue, the
// link state machine and the handshake plan (both without I/O), the loop's
// scheduler, the transport (hiredis' async context on the loop, plain or
// TLS: transport.hpp), the Connection over it (connection_*.cpp, one file
// per behaviour), the reply objects built from
// hiredis' reader, the observer tracker, and the address source a connection
// asks where to connect (Sentinel's is in src/sentinel/). May include: base,
// protocol, tls.
//
// One logical link to a server: resolve, connect, handshake, ready, and back
// again after a drop. Owns the transport of the current link (which owns
// the one redisAsyncContext and its poll handle), its timers, the queue of
// commands waiting for the socket and the FIFO of commands awaiting replies.
// This is the only layer that talks to hiredis.
//
// Lifetime: created with `new`, driven by its owner, and ended with
// destroy(); it deletes itself once hiredis and every uv handle are done with
// it, which may be several loop turns later.

#include <uvredis/link_types.hpp>
#include <uvredis/options.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>

#include "link/address_source.hpp"
#include "link/connection_config.hpp"
#include "link/link_machine.hpp"
#include "protocol/reply_guard.hpp"
#include "link/request_queue.hpp"
#include "link/scheduler.hpp"
#include "link/tracker.hpp"
#include "link/transport.hpp"
#include "base/uv_handle.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

struct addrinfo;

namespace spdlog {
class logger;
}

namespace uvredis {
struct ReplyBuilder;
}

namespace uvredis::detail {

/// The TLS context for `options` when its address is rediss:// and this
/// build has TLS; null otherwise. Build it once per Client or Subscriber and
/// share it among their connections (ConnectionConfig::tls).
std::shared_ptr<TlsContext> make_tls_context(const ClientOptions& options);

/// Frees a big command's strings once handed over: on the loop's thread pool
/// when large (munmap takes a while), else leaves them to the caller.
void release_body(uv_loop_t* loop, std::vector<std::string>&& pieces);

class Connection final : private AddressSource::Listener, private Transport::Events {
 public:
  using StateFn = std::function<void(ConnectionState, const Error*)>;
  using IdleFn = std::function<void()>;
  using PushFn = std::function<void(Reply&&)>;

  Connection(uv_loop_t* loop, ConnectionConfig cfg);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Begins connecting (idempotent).
  void start();

  /// Queues a command; it leaves with the next flush (once per loop turn).
  /// `timeout` overrides the configured command timeout (zero: none).
  void submit(std::span<const std::string_view> argv, Callback<Reply>&& cb,
              std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  /// As submit, taking the arguments' strings: in a command of 1 MiB or
  /// more, every argument of 64 KiB or more (but the name) goes to the socket
  /// from the string moved in here, a slice per pass, never copied whole.
  void submit_owned(std::vector<std::string>&& argv, Callback<Reply>&& cb,
                    std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  /// Queues commands that must leave together on one link (MULTI...EXEC):
  /// handed to hiredis in one piece, timed out as one, never split by a
  /// reconnect. `done` gets every result, in order.
  void submit_group(const std::vector<std::vector<std::string>>& cmds,
                    Once<void(std::vector<Result<Reply>>)> done,
                    std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  /// Fails `cb` with `err` on a later loop turn (never inside the caller).
  void fail_later(Callback<Reply> cb, Error err);
  /// Runs `fn` on a later loop turn.
  void post(Once<void()> fn);

  void set_push_listener(PushFn fn) { on_push_ = std::move(fn); }
  /// Push mode only, and only while connected: queues an SSUBSCRIBE or
  /// SUNSUBSCRIBE (or another (un)subscribe) with at least one channel. Its
  /// confirmations, one per channel, go to the push listener; `done` then
  /// gets an OK status, or the server's error reply when it refused the
  /// command, or the link's error. False when the link is not usable (the
  /// caller resends on reconnect); `done` is then not called.
  bool send_subscription(std::span<const std::string_view> argv, Callback<Reply> done);
  /// Called after each batch of input was processed (once per loop turn at
  /// most), so a subscriber can count messages per turn.
  void set_read_listener(IdleFn fn) { on_read_ = std::move(fn); }

  /// Graceful close: see Client::close.
  void close(Once<void()> done);
  /// The owner lets go: fail what is pending with `closed`, tear down, and
  /// delete this once nothing refers to it any more.
  void destroy();

  ConnectionState state() const noexcept { return state_; }
  const ClientStats& stats() const noexcept { return stats_; }
  /// Commands queued or in flight (user commands only).
  std::size_t pending() const noexcept { return stats_.in_flight + stats_.queued; }

  void set_state_listener(StateFn fn) { on_state_ = std::move(fn); }
  /// Called (on a reply callback's return) whenever pending() drops to zero.
  void set_idle_listener(IdleFn fn) { on_idle_ = std::move(fn); }

 private:
  friend struct uvredis::ReplyBuilder;

  using Link = LinkPhase;

  ~Connection();

  // --- link life cycle
  void begin_connect();
  void on_address(Result<HostPort> r);
  void connect_to(LinkMachine::Go go);
  // The address source says the node moved (a sentinel's +switch-master): a
  // link to another node is dropped (in-flight commands fail: at-most-once);
  // a wait for the next attempt ends at once.
  void address_moved(const HostPort& now, const std::string& why) override;
  void connect_next();
  void opened();
  void on_resolved(int status, addrinfo* res);
  void begin_handshake();
  // A user command's slot in the tracker, or 0 when nothing watches (the
  // usual case: one test of a pointer per command).
  std::uint32_t track(std::span<const std::string_view> argv) { return tracker_ ? tracker_->begin(argv) : 0; }
  void set_tracked_node();
  bool connect_tls(const std::string& ip);
  void on_ready();
  void after_link_gone();
  void connect_attempt_failed(Error err);
  void schedule_reconnect(bool immediate);
  void on_link_timer();
  void request_drop(Error reason);
  void send_health_check();
  void watch_silence();
  void check_silence();
  void arm_close_limit();

  // --- I/O
  void flush(bool from_writable);
  bool refused(Callback<Reply>& cb);
  void enqueue(Callback<Reply>&& cb, std::size_t len, bool owned, std::optional<std::chrono::milliseconds> timeout,
               std::uint32_t track);
  bool hand_tail_slice();
  void expire(std::uint64_t seq);
  void prune_deadlines();
  void finish();
  void read_input();
  bool take_input(const char* data, std::size_t len);
  bool feed(const char* data, std::size_t len);
  void process_input();
  void drain_replies();
  void dispatch_pushed(Reply&& reply);
  void recycle(std::unique_ptr<Reply>&& reply) noexcept;
  bool accept_reply() noexcept;
  void on_reply(Reply* reply);
  Error drop_error() const;

  // --- completion and timeouts
  void add_deadline(std::uint64_t seq, std::chrono::milliseconds timeout);
  void arm_timeout_timer();
  void on_timeout_timer();
  void fail_queued(const Error& err);

  // --- deferred work and teardown
  void schedule_flush();
  void schedule_deferred();
  void run_deferred();
  void maybe_finish_close();
  void close_handles();
  void handle_closed();
  void maybe_delete();
  void set_state(ConnectionState s, const Error* why);
  void notify_idle_if_drained();

  // What the transport reports (transport.hpp).
  void transport_connected(bool ok) override;
  void transport_readable() override { read_input(); }
  void transport_writable() override { flush(true); }
  void transport_write_wanted() override {
    if (!in_flush_) schedule_flush();
  }
  void transport_tls_data(const char* data, std::size_t len) override;
  void transport_tls_error(std::string msg) override;
  void transport_drained() override { schedule_flush(); }
  bool transport_closing() override;
  void transport_closed() override;
  void transport_handle_closed() override { handle_closed(); }
  int handles_open() const noexcept { return open_handles_ + tp_.open_handles(); }

  uv_loop_t* loop_;
  ConnectionConfig cfg_;
  std::shared_ptr<spdlog::logger> log_;

  // The current link's bytes: hiredis' async context, its poll handle and
  // the TLS bridge (transport.hpp).
  Transport tp_{loop_, this, static_cast<void*>(this)};
  // The loop's scheduler: flush once per turn (flush_task_), the deferred
  // steps of run_deferred (deferred_task_), and post()'s functions.
  Scheduler::Ref sched_;
  Scheduler::Task flush_task_{[](void* c) { static_cast<Connection*>(c)->flush(false); }, this};
  Scheduler::Task deferred_task_{[](void* c) { static_cast<Connection*>(c)->run_deferred(); }, this};
  std::deque<Once<void()>> posted_;  // post()ed functions not yet run, oldest first: close waits for them
  UvHandle<uv_timer_t> cmd_timer_;
  UvHandle<uv_timer_t> link_timer_;
  UvHandle<uv_timer_t> health_timer_;
  int open_handles_ = 0;  // the timers; the transport counts its own
  uv_getaddrinfo_t* resolving_ = nullptr;  // in flight; its callback frees it

  // Where each attempt connects (cfg_.address_source, or the options'
  // fixed address); a source that follows a master wants READONLY replies
  // to drop the link.
  AddressSource* source_ = nullptr;
  bool follows_master_ = false;
  LinkMachine link_;  // the phase, the source's question, addresses to try and backoff (link_machine.hpp)
  ConnectionState state_ = ConnectionState::connecting;
  bool ever_ready_ = false;
  bool in_flush_ = false;
  bool in_finish_ = false;
  bool link_gone_ = false;
  bool drop_requested_ = false;
  bool closing_ = false;
  bool destroyed_ = false;
  bool handles_closing_ = false;
  bool finished_ = false;
  bool protocol_violation_ = false;
  bool health_in_flight_ = false;
  bool refused_input_ = false;  // the reply guard refused input: drop after what came before
  bool silence_watch_ = false;  // link_timer_ runs check_silence (ready state)
  bool close_forced_ = false;   // close() waited long enough: fail what is left
  std::optional<Error> drop_reason_;
  Error last_error_;

  // Liveness: when the first owed reply (RequestQueue::owed) was counted,
  // and when a byte last came in.
  std::uint64_t silent_since_ms_ = 0;
  std::uint64_t last_rx_ms_ = 0;
  ReplyGuard guard_{512u * 1024 * 1024};  // replaced in the constructor (max_reply_element)

  std::uint64_t timer_due_ = 0;  // when cmd_timer_ fires, 0 = not armed
  // The loop's clock as add_deadline last read it: while uv_now() still
  // says so, commands count their timeouts from it (one read per turn).
  std::uint64_t turn_ms_ = UINT64_MAX;

  std::vector<Once<void()>> close_cbs_;

  ClientStats stats_;
  RequestQueue q_;  // every request from submit to completion (counts in stats_)
  // Observer and/or histogram (null when neither: the usual case), and the
  // reply bytes its reader consumed: fed in, and up to the last reply.
  std::unique_ptr<Tracker> tracker_;
  std::uint64_t rx_fed_ = 0;
  // The last reply's top-level Reply, emptied, for the next one to be parsed
  // into (ReplyBuilder): no heap Reply per reply. Null while one is parsed.
  std::unique_ptr<Reply> spare_reply_;
  std::uint64_t rx_replied_ = 0;
  StateFn on_state_;
  IdleFn on_idle_;
  PushFn on_push_;
  IdleFn on_read_;
};

}  // namespace uvredis::detail
