#pragma once
/// @file script.hpp
/// Script: a Lua script run with EVALSHA, falling back to EVAL on NOSCRIPT,
/// plus decoders for the shapes scripts usually return.
///
/// Threading: run() and load() are loop-thread only, like the Executor they
/// use. A Script itself is an immutable value (copies share the source), so
/// it may be built anywhere, kept in a static, and destroyed while one of its
/// runs is still in flight: a run keeps what it needs.

#include <uvredis/decode.hpp>
#include <uvredis/executor.hpp>
#include <uvredis/export.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>

#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

/// How a script is sent.
struct UVREDIS_API ScriptOptions {
  /// Send EVALSHA_RO / EVAL_RO (Redis >= 7.0): the server refuses any write
  /// inside the script, and the script may run on a read-only replica.
  /// (A script can also say so itself with a `#!lua flags=no-writes` first
  /// line; that is part of its source and needs nothing here.)
  bool read_only = false;
};

/// A Lua script and its SHA1 (computed locally, as the server names it).
///
/// run() sends EVALSHA; when the server answers NOSCRIPT (first use, a
/// restart, SCRIPT FLUSH, a failover to a replica that never saw it) the same
/// call is repeated with EVAL, which also caches the script for the next
/// EVALSHA. The caller sees one callback with the script's result either way.
///
/// Errors: a script's `return {err = "CODE text"}` or
/// `redis.error_reply("CODE text")` arrives as Error{ErrorKind::server,
/// "CODE text"} (so error().code() is "CODE"); a Lua runtime error or a
/// failing redis.call arrives as a server error starting with "ERR".
///
/// Not for use inside a Transaction: a NOSCRIPT there only shows up in the
/// EXEC result, too late to fall back (call load() first, or send EVAL).
class UVREDIS_API Script {
 public:
  /// Keeps `source` and computes its SHA1.
  explicit Script(std::string source, ScriptOptions options = {});

  /// The Lua source.
  const std::string& source() const noexcept;
  /// Lower-case hex SHA1 of the source (40 characters).
  const std::string& sha1() const noexcept;
  /// How run() sends it.
  const ScriptOptions& options() const noexcept;

  /// Runs the script with `keys` (KEYS[1..]) and `args` (ARGV[1..]), both
  /// copied before the call returns. `cb` gets the raw reply (exactly once,
  /// never inside this call). `opts.timeout` applies to each attempt.
  void run(Executor& ex, std::span<const std::string_view> keys, std::span<const std::string_view> args,
           Callback<Reply> cb, CommandOptions opts = {}) const;
  void run(Executor& ex, std::initializer_list<std::string_view> keys, std::initializer_list<std::string_view> args,
           Callback<Reply> cb, CommandOptions opts = {}) const {
    run(ex, std::span<const std::string_view>(keys.begin(), keys.size()),
        std::span<const std::string_view>(args.begin(), args.size()), std::move(cb), opts);
  }

  /// The same with owned strings (for keys and arguments built at run time).
  void run(Executor& ex, std::span<const std::string> keys, std::span<const std::string> args, Callback<Reply> cb,
           CommandOptions opts = {}) const {
    std::vector<std::string_view> k(keys.begin(), keys.end()), a(args.begin(), args.end());
    run(ex, std::span<const std::string_view>(k), std::span<const std::string_view>(a), std::move(cb), opts);
  }

  /// As run(), with the reply turned into T by `decode` (one of
  /// uvredis::decode or uvredis::script_decode, or your own).
  template <class T>
  void run(Executor& ex, std::span<const std::string_view> keys, std::span<const std::string_view> args,
           Decoder<T> decode, Callback<T> cb, CommandOptions opts = {}) const {
    run(
        ex, keys, args,
        [decode, cb = std::move(cb)](Result<Reply> r) mutable {
          if (cb) cb(decode(std::move(r)));
        },
        opts);
  }
  template <class T>
  void run(Executor& ex, std::initializer_list<std::string_view> keys, std::initializer_list<std::string_view> args,
           Decoder<T> decode, Callback<T> cb, CommandOptions opts = {}) const {
    run<T>(ex, std::span<const std::string_view>(keys.begin(), keys.size()),
           std::span<const std::string_view>(args.begin(), args.size()), decode, std::move(cb), opts);
  }

  /// Preloads scripts (SCRIPT LOAD each, all in one loop turn) so the first
  /// run() needs no fallback. `done` runs once: success when the server
  /// stored every one under the SHA1 we computed, else the first error.
  /// Optional: run() works without it.
  static void load(Executor& ex, std::span<const Script> scripts, Callback<void> done);
  static void load(Executor& ex, std::initializer_list<Script> scripts, Callback<void> done) {
    load(ex, std::span<const Script>(scripts.begin(), scripts.size()), std::move(done));
  }

 private:
  struct Data;
  std::shared_ptr<const Data> d_;
};

/// Decoders for the values Lua scripts return. The Lua -> RESP conversion:
/// number -> integer (truncated), string -> bulk string, true -> 1,
/// false/nil -> nil, table -> array (up to the first nil), {ok=s} -> status.
/// Pure functions, any thread.
namespace script_decode {

/// An integer, or nil (Lua false/nil) as an empty optional.
UVREDIS_API Result<std::optional<long long>> optional_integer(Result<Reply>&& r);
/// Lua true (integer 1) -> true; false/nil -> false; any integer n -> n != 0.
UVREDIS_API Result<bool> lua_boolean(Result<Reply>&& r);
/// An array of integers (`return {a, b}` with numbers).
UVREDIS_API Result<std::vector<long long>> integers(Result<Reply>&& r);
/// An array of strings; integer elements are rendered in decimal.
UVREDIS_API Result<std::vector<std::string>> strings(Result<Reply>&& r);
/// A number the script returned as a string (tostring(x), to keep the
/// fraction that the integer conversion would drop) or as an integer.
UVREDIS_API Result<double> number(Result<Reply>&& r);

/// Element `i` of an array reply as an integer / a number; a protocol error
/// names the index when it is missing or of the wrong type. For writing
/// decoders of a script's own array shape.
UVREDIS_API Result<long long> integer_at(const Reply& array, std::size_t i);
UVREDIS_API Result<double> number_at(const Reply& array, std::size_t i);

}  // namespace script_decode

}  // namespace uvredis
