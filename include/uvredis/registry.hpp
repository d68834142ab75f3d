#pragma once
/// @file registry.hpp
/// Named Redis pools, registered by code before anything connects (the
/// BeeORM style): register them at start-up, validate() them all at once,
/// then ask the Engine for a pool's Client by its code.
///
///   uvredis::Registry reg;
///   reg.register_redis("localhost:6379", 0);            // "default"
///   reg.register_redis("localhost:6379", 3, "test");
///   auto engine = reg.validate(loop);                    // every problem at once
///   if (!engine) die((*engine).error().message);
///   (*engine)->redis("test").get("k", cb);
///
/// Threading: a Registry is plain data (any thread, before use). The Engine
/// and its Clients are loop-thread only. Lifetime: the Engine owns its
/// Clients; close(cb) closes them all, or destroy it (their pending commands
/// fail with `closed`), then keep running the loop until it returns.

#include <uvredis/callbacks.hpp>
#include <uvredis/client.hpp>
#include <uvredis/export.hpp>
#include <uvredis/options.hpp>
#include <uvredis/result.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct uv_loop_s;

namespace uvredis {

/// One registered pool as validated: its code, database and address.
struct UVREDIS_API PoolConfig {
  std::string code;      ///< "default" unless given.
  std::string address;   ///< As registered (may hold a password: log `Address::redact(address)` instead).
  int db = 0;            ///< Database number the pool's client selects.
  ClientOptions options; ///< What its Client is created with.
};

/// Pools by code, all connected on one loop. Created by Registry::validate.
class UVREDIS_API Engine {
 public:
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// The pool's client. An unknown code throws std::out_of_range naming the
  /// code and the known ones (a programming error, never raised on the loop
  /// by uvredis itself); use has() to ask first.
  Client& redis(std::string_view code = "default");
  bool has(std::string_view code) const noexcept;
  /// The pool's validated configuration (same rule for unknown codes).
  const PoolConfig& config(std::string_view code = "default") const;
  /// Codes of every pool, sorted.
  std::vector<std::string> codes() const;

  /// Closes every pool's client; `done` runs once all are closed.
  void close(Once<void()> done = {});

 private:
  friend class Registry;
  Engine() = default;
  struct Pool {
    PoolConfig config;
    std::unique_ptr<Client> client;
  };
  const Pool& pool(std::string_view code) const;
  std::map<std::string, Pool, std::less<>> pools_;
};

/// Collects pool registrations; nothing connects until validate().
class UVREDIS_API Registry {
 public:
  /// Registers a server by code. `address` is `host:port` or any URL form
  /// Address::parse accepts; `db` selects the database (when the URL names
  /// one too, both must agree). `base` supplies the other client options
  /// (timeouts, logger ...); its address is ignored.
  void register_redis(std::string_view address, int db = 0, std::string_view code = "default",
                      ClientOptions base = {});

  /// Checks every registration (duplicate code, empty code, bad address,
  /// db out of range 0..max_db, TLS where unsupported) and reports all
  /// problems in one usage error, one per line. On success creates the
  /// Engine and its Clients on `loop` (they start connecting at once).
  Result<std::unique_ptr<Engine>> validate(uv_loop_s* loop, int max_db = 15) const;

 private:
  struct Entry {
    std::string address;
    int db;
    std::string code;
    ClientOptions base;
  };
  std::vector<Entry> entries_;
};

}  // namespace uvredis
