#pragma once
/// @file commands/functions.hpp
/// Redis Functions (Redis 7) in the command table: FUNCTION LOAD, FCALL,
/// FCALL_RO, FUNCTION LIST, FUNCTION DELETE, FUNCTION FLUSH. A mixin of
/// Commands<Sink>: every method exists on Client, ClusterClient, Lease,
/// Pipeline and Transaction alike. Loop-thread only; arguments are copied
/// before the call returns; the callback runs exactly once, on a later loop
/// turn.
///
/// Unlike SCRIPT LOAD's cache, loaded libraries are part of the data set:
/// they are replicated, persisted, and survive a failover. On a
/// ClusterClient, FUNCTION LOAD / DELETE / FLUSH go to every master (the
/// callback gets the first master's answer once all succeeded, or the first
/// error), and FCALL / FCALL_RO go to the master of their keys' slot (all
/// keys must share one; no keys: any master).

#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands/base.hpp>
#include <uvredis/reply.hpp>

#include <string_view>
#include <vector>

namespace uvredis {

template <class Sink>
class FunctionCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;

 public:
  /// FUNCTION LOAD [REPLACE] code: loads a library ("#!lua name=mylib\n
  /// redis.register_function(...)") and returns its name. Without `replace`
  /// an existing library of that name is a server error.
  Ret<std::string> function_load(std::string_view code, bool replace, Callback<std::string> cb = {}) {
    detail::Args a("FUNCTION", 4);
    a.add("LOAD");
    if (replace) a.add("REPLACE");
    a.add(code);
    if (code.empty()) a.fail("the library code is empty");
    return run(a, &decode::string, std::move(cb));
  }
  Ret<std::string> function_load(std::string_view code, Callback<std::string> cb = {}) {
    return function_load(code, false, std::move(cb));
  }

  /// FCALL function numkeys key ... arg ...: the function's reply as it is
  /// (a script's result has no fixed type). A script error is a server
  /// error.
  Ret<Reply> fcall(std::string_view function, const StringList& keys, const StringList& args,
                   Callback<Reply> cb = {}) {
    return call("FCALL", function, keys, args, std::move(cb));
  }
  Ret<Reply> fcall(std::string_view function, const StringList& keys, Callback<Reply> cb = {}) {
    return call("FCALL", function, keys, StringList{}, std::move(cb));
  }

  /// FCALL_RO: as fcall(), for functions registered with the no-writes
  /// flag (the server refuses the others); may read from a replica on a
  /// ClusterClient.
  Ret<Reply> fcall_ro(std::string_view function, const StringList& keys, const StringList& args,
                      Callback<Reply> cb = {}) {
    return call("FCALL_RO", function, keys, args, std::move(cb));
  }
  Ret<Reply> fcall_ro(std::string_view function, const StringList& keys, Callback<Reply> cb = {}) {
    return call("FCALL_RO", function, keys, StringList{}, std::move(cb));
  }

  /// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]: the loaded libraries
  /// with their functions.
  Ret<std::vector<FunctionLibrary>> function_list(const FunctionListOptions& opts,
                                                  Callback<std::vector<FunctionLibrary>> cb = {}) {
    detail::Args a("FUNCTION", 5);
    a.add("LIST");
    if (!opts.library_pattern.empty()) a.add("LIBRARYNAME").add(opts.library_pattern);
    if (opts.with_code) a.add("WITHCODE");
    return run(a, &decode::function_libraries, std::move(cb));
  }
  Ret<std::vector<FunctionLibrary>> function_list(Callback<std::vector<FunctionLibrary>> cb = {}) {
    return function_list(FunctionListOptions{}, std::move(cb));
  }

  /// FUNCTION DELETE library: removes a library; a missing one is a server
  /// error.
  Ret<void> function_delete(std::string_view library, Callback<void> cb = {}) {
    detail::Args a("FUNCTION");
    a.add("DELETE").add(library);
    return run(a, &decode::ok, std::move(cb));
  }

  /// FUNCTION FLUSH [SYNC|ASYNC]: removes every library.
  Ret<void> function_flush(FlushMode mode, Callback<void> cb = {}) {
    detail::Args a("FUNCTION");
    a.add("FLUSH");
    if (mode == FlushMode::sync) a.add("SYNC");
    if (mode == FlushMode::async) a.add("ASYNC");
    return run(a, &decode::ok, std::move(cb));
  }
  Ret<void> function_flush(Callback<void> cb = {}) { return function_flush(FlushMode::server_default, std::move(cb)); }

 private:
  Ret<Reply> call(std::string_view name, std::string_view function, const StringList& keys, const StringList& args,
                  Callback<Reply> cb) {
    detail::Args a(name, 3 + keys.size() + args.size());
    a.add(function).add_int(static_cast<long long>(keys.size())).add_all(keys).add_all(args);
    if (function.empty()) a.fail("the function name is empty");
    return run(a, &decode::reply, std::move(cb));
  }

  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
