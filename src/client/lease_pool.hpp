#pragma once
// Idle connections a Client lends out as Leases (WATCH needs a connection of
// its own). Shared with the Leases, so a Lease may outlive its Client: its
// connection is then destroyed instead of returned.

#include "link/connection.hpp"

#include <vector>

namespace uvredis::detail {

struct LeasePool {
  uv_loop_t* loop = nullptr;
  ConnectionConfig config;
  std::vector<Connection*> idle;
  /// Closed gracefully by shut(false): still ours to destroy() (a Connection
  /// deletes itself only once destroyed), which the final shut(true) does.
  std::vector<Connection*> closing;
  std::size_t created = 0;
  bool closed = false;

  Connection* take();
  void give_back(Connection* c);
  /// Closes (or destroys) every idle connection; `each_done` runs once per
  /// connection closed gracefully.
  void shut(bool destroy, const std::function<Once<void()>()>& each_done);
};

}  // namespace uvredis::detail
