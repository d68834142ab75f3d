#pragma once
/// @file commands/server.hpp
/// Server and connection commands of the command table (PING, INFO, TIME,
/// PUBLISH ...). A mixin of Commands<Sink>: every method exists on Client,
/// Lease, Pipeline and Transaction alike. Loop-thread only; arguments are
/// copied before the call returns; the callback runs exactly once, on a later
/// loop turn.

#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands/base.hpp>

#include <string>
#include <string_view>

namespace uvredis {

template <class Sink>
class ServerCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;

 public:
  /// PING: the server's answer ("PONG").
  Ret<std::string> ping(Callback<std::string> cb = {}) {
    detail::Args a("PING");
    return run(a, &decode::string, std::move(cb));
  }
  /// PING message: the message, echoed.
  Ret<std::string> ping(std::string_view message, Callback<std::string> cb = {}) {
    detail::Args a("PING");
    a.add(message);
    return run(a, &decode::string, std::move(cb));
  }

  /// ECHO message: the message.
  Ret<std::string> echo(std::string_view message, Callback<std::string> cb = {}) {
    detail::Args a("ECHO");
    a.add(message);
    return run(a, &decode::string, std::move(cb));
  }

  /// DBSIZE: the number of keys in the client's database.
  Ret<long long> dbsize(Callback<long long> cb = {}) {
    detail::Args a("DBSIZE");
    return run(a, &decode::integer, std::move(cb));
  }

  /// FLUSHDB [SYNC|ASYNC]: deletes every key of the client's database.
  Ret<void> flushdb(FlushMode mode, Callback<void> cb = {}) {
    detail::Args a("FLUSHDB");
    if (mode == FlushMode::sync) a.add("SYNC");
    if (mode == FlushMode::async) a.add("ASYNC");
    return run(a, &decode::ok, std::move(cb));
  }
  Ret<void> flushdb(Callback<void> cb = {}) { return flushdb(FlushMode::server_default, std::move(cb)); }

  /// INFO [section...]: the server's report, parsed into sections (names in
  /// lower case) of key -> value. No sections means the default set.
  Ret<InfoSections> info(const StringList& sections, Callback<InfoSections> cb = {}) {
    detail::Args a("INFO", 1 + sections.size());
    a.add_all(sections);
    return run(a, &decode::info, std::move(cb));
  }
  Ret<InfoSections> info(Callback<InfoSections> cb = {}) { return info(StringList{}, std::move(cb)); }

  /// TIME: the server's clock (microsecond precision).
  Ret<ServerTime> time(Callback<ServerTime> cb = {}) {
    detail::Args a("TIME");
    return run(a, &decode::server_time, std::move(cb));
  }

  /// PUBLISH channel message: how many subscribers received it (on this
  /// node). Receiving is uvredis::Subscriber's job.
  Ret<long long> publish(std::string_view channel, std::string_view message, Callback<long long> cb = {}) {
    detail::Args a("PUBLISH");
    a.add(channel).add(message);
    return run(a, &decode::integer, std::move(cb));
  }

 private:
  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
