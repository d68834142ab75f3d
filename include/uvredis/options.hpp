#pragma once
/// @file options.hpp
/// Where to connect and how to behave: Address (parsed from text) and
/// ClientOptions. Plain structs: build them anywhere, hand them to a Client
/// on its loop thread.

#include <uvredis/export.hpp>
#include <uvredis/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class logger;
}

namespace uvredis {

class CommandObserver;

/// True when this build of uvredis speaks TLS (it was built with OpenSSL), so
/// `rediss://` addresses can connect. Any thread.
UVREDIS_API bool tls_supported() noexcept;

/// A server address with its credentials and database.
struct UVREDIS_API Address {
  enum class Kind { tcp, unix_socket };

  Kind kind = Kind::tcp;
  std::string host = "127.0.0.1";  ///< Host name or IP literal (tcp).
  std::uint16_t port = 6379;       ///< TCP port.
  std::string path;                ///< Socket path (unix_socket).
  bool tls = false;                ///< rediss://: TLS (needs a build with OpenSSL; see ClientOptions::tls_*).
  std::string username;            ///< ACL user; empty means the default user.
  std::string password;            ///< Empty means no AUTH.
  int db = 0;                      ///< Database selected after connecting.

  /// Parses `host:port`, `[v6]:port`, `redis://[user:pass@]host[:port][/db]`,
  /// `rediss://...` and `unix://[user:pass@]/path[?db=N]`. The credentials are
  /// everything after the scheme up to the LAST '@', so a password may hold
  /// '/', '?', '#', '&', ':' or '@' unescaped; percent-escapes in user and
  /// password are decoded (a literal '%' is written %25). A host is a name or
  /// IPv4 address (letters, digits, '-', '.', '_') or an IPv6 address in
  /// brackets. On failure the error (kind usage) names the part that is wrong
  /// and shows the text only as redact() does: it never contains a password.
  static Result<Address> parse(std::string_view text);

  /// The address as a URL with the credentials (user name and password)
  /// replaced by "***", e.g. `redis://***@host:6379/2`: safe to log. Without
  /// credentials, parse(to_string()) gives back an equal Address.
  std::string to_string() const;

  /// `text`, valid or not, with everything that may be a credential replaced
  /// by "***": what follows the scheme up to the last '@' (also without a
  /// scheme), and any port, path or query that is not a plain number, e.g.
  /// `redis://***@host:6379`. For logging configuration strings. Any thread.
  static std::string redact(std::string_view text);

  bool operator==(const Address&) const = default;
};

/// Redis Sentinel: find the master of a replicated group through its
/// sentinels instead of a fixed address. Set `master_name` to turn it on.
/// Every connect (the first and each reconnect) of every connection of a
/// Client or Subscriber asks the sentinels in turn for the master
/// (SENTINEL get-master-addr-by-name), connects there and checks ROLE before
/// sending anything; a READONLY reply drops the link and finds the master
/// again. The data nodes' credentials and database are the `address`'s;
/// its host and port are ignored. Plain data, like the rest of the options.
struct UVREDIS_API SentinelOptions {
  /// Sentinels to ask, in this order (the one that answered last goes first).
  std::vector<Address> sentinels;
  /// The name the sentinels monitor the group under (`sentinel monitor NAME`).
  /// Empty: sentinel mode is off.
  std::string master_name;
  /// Credentials for the sentinels themselves (empty: no AUTH).
  std::string username;
  std::string password;
  /// Per sentinel: connect and answer within this, else try the next one.
  std::chrono::milliseconds timeout{1000};

  bool enabled() const noexcept { return !master_name.empty(); }
};

/// Opt-in resending of reads whose link dropped (ClientOptions::read_retry).
///
/// At-most-once is the default and stays the rule for everything else: a
/// command written to a link that then drops fails with
/// ErrorKind::connection_lost, because the server may or may not have run
/// it, and uvredis never re-sends it by itself. With `attempts` > 0 a read
/// is the exception, since running it twice changes nothing: a command that
/// the command table marks read-only (flagged `readonly` by Redis, with keys,
/// not blocking: GET, MGET, HGETALL, ZRANGE, EXISTS ...; not keyless reads
/// such as PING or DBSIZE, not EVAL_RO/FCALL_RO) whose link dropped before
/// its reply (connection_lost) is sent again after `backoff`, doubling up to
/// `max_backoff`, at most `attempts` more times; only then does it fail with
/// the last error. On a ClusterClient a resent read is routed afresh (to
/// the slot's master, or to a replica with ReadFrom::replica_preferred,
/// which already falls back to the master once when a replica fails).
/// Writes, groups (transactions) and commands on a Lease are never
/// re-sent. A timeout is not retried (the server may just be slow).
/// Commands waiting for their backoff fail with ErrorKind::closed when the
/// client is closed or destroyed. Each resend counts in
/// ClientStats::read_retries (ClusterStats::read_retries).
struct UVREDIS_API ReadRetryPolicy {
  int attempts = 0;                       ///< Resends after the first try; 0 (the default) turns it off.
  std::chrono::milliseconds backoff{50};  ///< Before the first resend; doubled for each further one.
  std::chrono::milliseconds max_backoff{1000};
};

/// Client behaviour. Every field has a usable default.
struct UVREDIS_API ClientOptions {
  /// The server; in sentinel mode only its credentials and db are used.
  Address address;

  /// Set `sentinel.master_name` to follow a master through its sentinels.
  SentinelOptions sentinel;

  /// CLIENT SETNAME sent on every (re)connect; empty sends nothing.
  std::string client_name;

  /// Resolve + TCP connect + handshake must finish within this.
  std::chrono::milliseconds connect_timeout{5000};
  /// Default per-command timeout; zero means none. A timed-out command's
  /// late reply is dropped, never handed to another command.
  std::chrono::milliseconds command_timeout{5000};

  /// Reconnect after the link drops, with exponential backoff and jitter.
  bool reconnect = true;
  std::chrono::milliseconds reconnect_min_delay{50};
  std::chrono::milliseconds reconnect_max_delay{5000};

  /// Commands waiting for a connection (while connecting or reconnecting) or
  /// for the socket: beyond either bound a new command fails with overflow.
  std::size_t max_queued_commands = 1'000'000;
  std::size_t max_queued_bytes = 256u * 1024 * 1024;

  /// Send PING this often and drop the link when it fails; zero disables.
  /// Subscribers too: their connection answers PING in subscribed mode.
  std::chrono::milliseconds health_check_interval{0};

  /// Liveness: once a command written to the server has timed out, the server
  /// must send at least one byte every `dead_link_timeout` for as long as a
  /// timed-out command's reply is still outstanding. A link that stays silent
  /// that long is dead: it is dropped, the commands already written on it fail
  /// with ErrorKind::connection_lost (never re-sent), and it reconnects with
  /// backoff. A slow but alive server (a late reply, or any byte) keeps its
  /// link. Zero disables the rule (then only health_check_interval and TCP
  /// keepalive find a hung server).
  std::chrono::milliseconds dead_link_timeout{3000};

  /// Largest bulk string, aggregate (element count) or status/error line a
  /// reply may announce: a bigger one is a protocol error that drops the link
  /// before anything of it is buffered. The default is the server's own
  /// `proto-max-bulk-len` (512 MiB).
  std::size_t max_reply_element = 512u * 1024 * 1024;

  /// Blocking commands (BLPOP, BRPOP, BLMOVE, BZPOPMIN, XREAD BLOCK ...)
  /// each take a connection of their own, opened on demand, at most this many;
  /// more wait for a free one.
  std::size_t max_blocking_connections = 8;

  /// TCP keepalive on the socket (detects dead peers on idle links).
  bool tcp_keepalive = true;

  /// TLS, used only when `address.tls` (a `rediss://` URL). The server's
  /// certificate is verified by default: against `tls_ca_file` and/or
  /// `tls_ca_dir` when either is set, else against the system's CA store; its
  /// name must match `tls_server_name` or, when that is empty, the address's
  /// host (a host name is checked against the DNS names of the certificate
  /// and sent as SNI; an IP literal is checked against its IP addresses and
  /// sends no SNI). The connect timeout covers resolving, TCP connect and the
  /// TLS handshake. Files are read when the client is created; a file that
  /// cannot be loaded makes every command fail with a usage error.
  std::string tls_ca_file;      ///< PEM file of trusted CA certificates.
  std::string tls_ca_dir;       ///< Directory of hashed CA certificates (c_rehash).
  std::string tls_cert_file;    ///< Client certificate chain (PEM) for mutual TLS; needs tls_key_file.
  std::string tls_key_file;     ///< Private key (PEM, unencrypted) of tls_cert_file.
  std::string tls_server_name;  ///< Name to verify and send as SNI instead of the host.
  /// Accepts ANY certificate, from anyone: no CA check, no name check. Anyone
  /// on the path can read and change the traffic. For a test bench only;
  /// logged as a warning once per client.
  bool tls_insecure_skip_verify = false;

  /// Where log lines go. Null means a silent logger. Passwords never appear.
  std::shared_ptr<spdlog::logger> logger;

  /// Redis Cluster replicas only: send READONLY in the handshake of every
  /// (re)connect, so that a replica serves reads of its master's slots
  /// instead of redirecting them with MOVED (on a master it changes
  /// nothing). ClusterClient sets it on its node connections when
  /// ClusterOptions::read_from lets reads go to replicas; a plain Client
  /// rarely needs it, and a server without cluster mode refuses READONLY,
  /// which makes every connect fail.
  bool cluster_readonly = false;

  /// Told about every command of this client (its main, blocking and lease
  /// connections; every node of a ClusterClient): see observe.hpp. Null (the
  /// default) costs nothing but one test per command. Shared, not copied:
  /// the same observer sees every connection that has these options.
  std::shared_ptr<CommandObserver> observer;
  /// Lets the observer see argument values (CommandEvent::args). Off by
  /// default: names only. Arguments of commands that may carry a secret
  /// (AUTH, HELLO, MIGRATE, ACL, CONFIG) are never shown, even when on.
  bool observe_arguments = false;
  /// Keeps a latency histogram of answered commands in stats().latency
  /// (two clock reads per command; off by default).
  bool latency_histogram = false;
  /// Resends reads whose link dropped; off by default (see ReadRetryPolicy).
  ReadRetryPolicy read_retry;

  /// Options for `address` parsed from text; other fields keep defaults.
  /// Also takes the sentinel form
  /// `redis+sentinel://[user:pass@]host1[:port1][,host2[:port2]...]/master_name[/db]`
  /// `[?sentinel_username=U&sentinel_password=P]`: the user and password
  /// belong to the data nodes (the `address`), the query parameters to the
  /// sentinels; a sentinel without a port gets 26379. The query starts at the
  /// '?' before its first `sentinel_` key, so either password may hold '@',
  /// '/' or '?' unescaped; a '&' in a query value is written %26. Errors
  /// show the URL only redacted (Address::redact) and name a bad sentinel or
  /// query parameter by its position.
  static Result<ClientOptions> from_url(std::string_view url);
};

}  // namespace uvredis
