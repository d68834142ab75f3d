#pragma once
// The optimistic WATCH ... MULTI/EXEC loop behind both watch_transaction
// overloads (Client and ClusterClient). They differ only in where a round
// gets its lease, and a cluster may have to take a new one when the slot
// moves (WATCH answered MOVED, ASK, TRYAGAIN or CLUSTERDOWN).

#include <uvredis/lease.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace uvredis::detail {

using LeaseCallback = Function<void(Result<std::unique_ptr<Lease>>)>;

/// Gets the lease for the next round. `after` is the error that ended the
/// previous lease (null for the first), `restarts` how many leases were
/// given up that way so far. Calls `cb` exactly once.
using LeaseSource = std::function<void(const Error* after, int restarts, LeaseCallback cb)>;

using WatchBody = std::function<void(Lease&, Transaction&, Function<void(bool)>)>;

/// Runs the rounds. `invalid`: a usage error to report (on a later turn)
/// instead of running anything. At most `max_restarts` leases are given up
/// because of a redirection; the next such error ends it.
void run_watch(LeaseSource source, int max_restarts, std::vector<std::string> keys, int max_attempts, WatchBody body,
               Function<void(Result<Transaction::Outcome>)> done, std::optional<Error> invalid, uv_loop_t* loop);

}  // namespace uvredis::detail
