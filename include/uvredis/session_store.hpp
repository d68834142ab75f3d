#pragma once
/// @file session_store.hpp
/// SessionStore: server-side sessions in Redis hashes with a TTL, over any
/// Executor (Client, Lease, ClusterClient). Session ids are 128 random bits
/// from the kernel's cryptographic generator, as 32 hex characters.
///
/// Threading: loop-thread only. Lifetime: the Executor must outlive the
/// calls in flight; the store itself holds no state beyond its options and
/// may be destroyed at any time (callbacks still run exactly once).

#include <uvredis/commands.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace uvredis {

struct UVREDIS_API SessionOptions {
  std::string prefix = "session:";             ///< Key of a session: prefix + id.
  std::chrono::milliseconds ttl{30 * 60 * 1000}; ///< Lifetime from create() or extend().
};

using SessionData = std::map<std::string, std::string>;

class UVREDIS_API SessionStore {
 public:
  explicit SessionStore(Executor& ex, SessionOptions options = {});

  /// Creates a session holding `data` (may be empty); yields its new id.
  void create(const SessionData& data, Callback<std::string> cb);
  /// The session's fields, or an empty optional when it does not exist
  /// (never created, deleted or expired).
  void get(std::string_view id, Callback<std::optional<SessionData>> cb);
  /// Sets one field of an existing session; false when the session is gone
  /// (it is never re-created by an update).
  void set_field(std::string_view id, std::string_view field, std::string_view value, Callback<bool> cb);
  /// Resets the session's TTL to the configured one; false when it is gone.
  void extend(std::string_view id, Callback<bool> cb);
  /// Deletes the session; false when it did not exist.
  void remove(std::string_view id, Callback<bool> cb);

  const SessionOptions& options() const noexcept { return opts_; }

 private:
  std::string key(std::string_view id) const { return opts_.prefix + std::string(id); }
  Executor* ex_;
  SessionOptions opts_;
};

}  // namespace uvredis
