#pragma once
// What one connection is told by its owner: the user's options handed down
// whole (a copy the owner may adjust for this link: a cluster node's
// address, no health checks on a lease) plus what only the owner knows (its
// role: push mode, blocking; shared TLS context, address source (the
// sentinels), extra handshake steps). A plain value; the link machine, the
// handshake plan and the transport read it, none writes it after
// construction but the address source's answer (options.address host and
// port).

#include <uvredis/link_types.hpp>
#include <uvredis/options.hpp>
#include <uvredis/reply.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace uvredis::detail {

class TlsContext;
class AddressSource;

/// One command of a link's handshake: the built-in steps (handshake_plan)
/// and an owner's extra ones alike.
struct HandshakeStep {
  HandshakeStep() = default;
  HandshakeStep(std::vector<std::string> a, std::function<std::string(const Reply&)> c = nullptr, std::string w = {})
      : argv(std::move(a)), check(std::move(c)), what(std::move(w)) {}

  std::vector<std::string> argv;
  /// Why the reply makes the link unusable (empty: fine); null: any
  /// non-error reply is fine.
  std::function<std::string(const Reply&)> check;
  /// Names the step in a connect error ("AUTH", "SELECT 3"), never with its
  /// arguments; empty: the command's name.
  std::string what;
};

struct ConnectionConfig {
  ConnectionConfig() = default;
  explicit ConnectionConfig(ClientOptions o) : options(std::move(o)) {}

  /// The user's options, whole: address, client name, timeouts, reconnect,
  /// queue bounds, liveness, keepalive, cluster_readonly (READONLY and the
  /// ROLE sync check in every handshake), logger, observer and histogram
  /// (with an observer or the histogram the connection keeps a Tracker, not
  /// in push mode: subscriptions are not commands to observe). Fields a
  /// connection has no use for (sentinel, TLS files, read_retry, blocking
  /// connections) are its owner's.
  ClientOptions options;
  /// Blocking connections: a command timeout leaves the server blocked on
  /// this link, so drop it rather than reuse it.
  bool drop_on_timeout = false;
  /// Push mode (Subscriber, sharded pub/sub, the sentinel watch): pub/sub
  /// pushes are told from replies (push_kind_of) and go to the push
  /// listener; every other reply answers the oldest command in flight, so
  /// PING works in subscribed mode. (Every link reads and dispatches replies
  /// itself, never through hiredis' redisProcessCallbacks, which asserts on
  /// an `smessage`: hiredis 0.14 and 1.x know only SUBSCRIBE/PSUBSCRIBE as
  /// subscribed mode.)
  bool push_mode = false;
  /// For rediss:// addresses (shared by a client's connections); null in a
  /// build without TLS.
  std::shared_ptr<TlsContext> tls;
  std::string name = "main";  // for log lines
  /// Where every attempt connects (address_source.hpp); null: the options'
  /// address as it is (the connection makes a FixedAddress). Sentinel mode
  /// gives the shared SentinelResolver: every connect first asks the
  /// sentinels where the master is (options.address host and port are
  /// replaced by the answer), the handshake checks ROLE, and a READONLY reply
  /// drops the link to find it again.
  std::shared_ptr<AddressSource> address_source;
  /// Extra handshake steps, asked for anew at every (re)connect and sent
  /// last (client-side caching: CLIENT TRACKING ... on the data link, CLIENT
  /// ID on the invalidation link). An error reply fails the connect, as for
  /// the built-in steps; `check` may read the reply and return why the link
  /// is unusable (empty: fine).
  std::function<std::vector<HandshakeStep>()> extra_handshake;
};

}  // namespace uvredis::detail
