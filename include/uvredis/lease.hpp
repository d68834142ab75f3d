#pragma once
/// @file lease.hpp
/// Lease: a connection of one's own, borrowed from a Client, for the things
/// that belong to a connection: WATCH ... MULTI/EXEC (optimistic locking).
/// Everything a Client offers works on it (it is an Executor), and WATCH,
/// UNWATCH, MULTI, EXEC and DISCARD are allowed here.
///
/// Threading: loop-thread only. Lifetime: destroying the Lease gives the
/// connection back (after DISCARD and UNWATCH, so the next user starts
/// clean); commands still in flight complete first. Release leases before
/// closing the Client: a Lease keeps its connection open until then.

#include <uvredis/callbacks.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>
#include <uvredis/pipeline.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace uvredis {

namespace detail {
class Connection;
struct LeasePool;
}  // namespace detail

class Client;

class UVREDIS_API Lease final : public Executor {
 public:
  ~Lease() override;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  using Executor::command;
  void command(std::span<const std::string_view> argv, Callback<Reply> cb, CommandOptions opts = {}) override;
  void command_group(const std::vector<std::vector<std::string>>& cmds,
                     Once<void(std::vector<Result<Reply>>)> done, CommandOptions opts = {}) override;
  void post(Once<void()> fn) override;
  uv_loop_s* loop() const noexcept override;

 private:
  friend class Client;
  Lease(std::shared_ptr<detail::LeasePool> pool, detail::Connection* conn);
  std::shared_ptr<detail::LeasePool> pool_;
  // Borrowed from the pool, not owned: ~Lease gives it back (the pool reuses
  // or closes it, and a Connection frees itself once closed), so no unique_ptr.
  detail::Connection* conn_;
};

/// Optimistic read-modify-write: leases a connection, WATCHes `keys`, then
/// calls `body(lease, tx, go)`. The body reads through `lease`, queues its
/// writes on `tx` and calls `go(true)` to commit (or `go(false)` to give up,
/// which ends with Outcome::aborted and no retry). When a watched key changed
/// before EXEC, the whole round (WATCH, body, EXEC) runs again, up to
/// `max_attempts` times. (On a ClusterClient see the overload in
/// cluster.hpp: the keys must share a slot.) `done` gets the final outcome (committed, aborted
/// after the last attempt, rejected) or the error that stopped it.
UVREDIS_API void watch_transaction(Client& client, std::vector<std::string> keys, int max_attempts,
                       Listener<void(Lease& lease, Transaction& tx, Once<void(bool)> go)> body,
                       Once<void(Result<Transaction::Outcome>)> done);

}  // namespace uvredis
