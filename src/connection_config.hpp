#pragma once
// What one connection is told by its owner: the user's options handed down
// whole (ConnectionConfig::from) plus what only the owner knows (its role:
// push mode, READONLY, blocking; shared TLS context, sentinels, extra
// handshake steps). A plain value; the link machine, the handshake plan and
// the transport read it, none writes it after construction but the
// sentinel answer (address).

#include <uvredis/link_types.hpp>
#include <uvredis/options.hpp>
#include <uvredis/reply.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace uvredis {
class CommandObserver;
}

namespace uvredis::detail {

class TlsContext;
class SentinelResolver;

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
  /// The settings every connection takes from the user's options as they are
  /// (address, timeouts, reconnect, queue bounds, liveness, TLS-free parts).
  static ConnectionConfig from(const ClientOptions& o);

  Address address;
  std::string client_name;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds command_timeout{5000};
  bool reconnect = true;
  std::chrono::milliseconds reconnect_min_delay{50};
  std::chrono::milliseconds reconnect_max_delay{5000};
  std::size_t max_queued_commands = 1'000'000;
  std::size_t max_queued_bytes = 256u * 1024 * 1024;
  std::chrono::milliseconds health_check_interval{0};
  std::chrono::milliseconds dead_link_timeout{3000};
  std::size_t max_reply_element = 512u * 1024 * 1024;
  bool tcp_keepalive = true;
  /// Cluster replica links: READONLY in every handshake (ClientOptions::cluster_readonly).
  bool readonly = false;
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
  std::shared_ptr<spdlog::logger> logger;
  std::string name = "main";  // for log lines
  /// Sentinel mode: every connect first asks these sentinels where the
  /// master is (address.host/port are replaced by the answer), the handshake
  /// checks ROLE, and a READONLY reply drops the link to find it again.
  std::shared_ptr<SentinelResolver> sentinel;
  /// Extra handshake steps, asked for anew at every (re)connect and sent
  /// last (client-side caching: CLIENT TRACKING ... on the data link, CLIENT
  /// ID on the invalidation link). An error reply fails the connect, as for
  /// the built-in steps; `check` may read the reply and return why the link
  /// is unusable (empty: fine).
  std::function<std::vector<HandshakeStep>()> extra_handshake;
  /// ClientOptions::observer, observe_arguments, latency_histogram: with
  /// either of the first and the last, the connection keeps a Tracker (not in
  /// push mode: subscriptions are not commands to observe).
  std::shared_ptr<CommandObserver> observer;
  bool observe_arguments = false;
  bool latency_histogram = false;
};

}  // namespace uvredis::detail
