#pragma once
// Layer client (src/client/): Client on one link and its thread-safe Poster:
// commands, pipelines and transactions, leases for WATCH and blocking
// commands, scripts, SCAN walks, and ClientOptions read from URLs. May
// include: base, protocol, tls, link, sentinel.
//
// The state behind a Client: the main connection, the pool of blocking
// connections and the poster. Connections outlive it when they still have
// handles to close; they delete themselves.

#include <uvredis/client.hpp>

#include "link/connection.hpp"
#include "client/lease_pool.hpp"
#include "client/post_state.hpp"
#include "sentinel/sentinel.hpp"
#include "base/uv_handle.hpp"

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace uvredis::detail {

class ClientImpl {
 public:
  ClientImpl(uv_loop_t* loop, ClientOptions options);
  ~ClientImpl();
  ClientImpl(const ClientImpl&) = delete;
  ClientImpl& operator=(const ClientImpl&) = delete;

  // The callback by reference: it moves once, into its request, not at
  // every layer on the way.
  void command(std::span<const std::string_view> argv, Callback<Reply>&& cb, const CommandOptions& opts);
  void command_owned(std::vector<std::string>&& argv, Callback<Reply>&& cb, const CommandOptions& opts);
  void close(Once<void()> done);
  void command_group(const std::vector<std::vector<std::string>>& cmds,
                     Once<void(std::vector<Result<Reply>>)> done, const CommandOptions& opts);
  void post(Once<void()> fn) { main_->post(std::move(fn)); }
  ConnectionState state() const noexcept { return main_->state(); }
  void on_state_change(std::function<void(ConnectionState, const Error*)> fn);
  ClientStats stats() const noexcept;
  Poster poster() { return Poster(post_); }
  const std::shared_ptr<LeasePool>& leases() const noexcept { return leases_; }

  uv_loop_t* loop() const noexcept { return loop_; }
  const ClientOptions& options() const noexcept { return opts_; }

  // For ClientCache (client-side caching). Extra steps at the end of every
  // handshake of the main connection only (not leases or blocking links),
  // consulted at each (re)connect; and a state listener of its own, told
  // before the user's, so the user's on_state_change stays theirs.
  using HandshakeFn = std::function<std::vector<HandshakeStep>()>;
  void set_main_handshake(HandshakeFn fn) { *main_handshake_ = std::move(fn); }
  void set_internal_state_listener(std::function<void(ConnectionState, const Error*)> fn) {
    internal_state_ = std::move(fn);
  }

 private:
  struct WaitingBlocking {
    std::vector<std::string> argv;
    Callback<Reply> cb;
    std::optional<std::chrono::milliseconds> timeout;
  };

  // A read under ClientOptions::read_retry, from its first try to its
  // callback: resent after a lost link while attempts are left.
  struct RetriedRead {
    std::vector<std::string> argv;
    Callback<Reply> cb;
    std::optional<std::chrono::milliseconds> timeout;
    int left = 0;
    std::chrono::milliseconds delay{0};
  };
  // Callbacks of retried reads hold this, not `this`: cleared when the impl
  // goes (its connection fails what it had with `closed` later).
  struct Life {
    ClientImpl* impl;
  };

  ConnectionConfig config_for(std::string name) const;
  void send_read(std::shared_ptr<RetriedRead> rr);
  void read_failed(std::shared_ptr<RetriedRead> rr, Result<Reply> r);
  void on_retry_timer();
  void fail_parked_reads(const Error& err);
  void blocking_command(std::span<const std::string_view> argv, Callback<Reply> cb,
                        std::optional<std::chrono::milliseconds> timeout);
  Connection* idle_blocking_connection();
  void dispatch_waiting_blocking();

  uv_loop_t* loop_;
  ClientOptions opts_;
  std::shared_ptr<TlsContext> tls_;  // before the connections that share it
  Connection* main_ = nullptr;
  std::vector<Connection*> blocking_;
  std::deque<WaitingBlocking> blocking_wait_;
  std::shared_ptr<PostState> post_;
  UvHandle<uv_async_t> async_;
  std::function<void(ConnectionState, const Error*)> on_state_;
  std::function<void(ConnectionState, const Error*)> internal_state_;
  std::shared_ptr<HandshakeFn> main_handshake_ = std::make_shared<HandshakeFn>();
  std::shared_ptr<LeasePool> leases_;
  std::shared_ptr<SentinelResolver> sentinel_;  // sentinel mode only; shared by every connection
  std::shared_ptr<Life> life_ = std::make_shared<Life>(Life{this});
  std::multimap<std::uint64_t, std::shared_ptr<RetriedRead>> parked_;  // reads waiting for their backoff, by due time
  UvHandle<uv_timer_t> retry_timer_;  // allocated with the first parked read
  std::uint64_t read_retries_ = 0;
  bool closing_ = false;
};

}  // namespace uvredis::detail
