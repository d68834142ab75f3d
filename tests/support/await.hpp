#pragma once
// Waiting for one callback: start an operation, run the loop until its
// callback ran, check it ran exactly once, hand back its result.

#include <uvredis/uvredis.hpp>

#include "loop.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <iterator>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace uvredis::test {

/// `start(cb)` issues the operation with `cb` as its callback.
template <class T, class F>
Result<T> await(TestLoop& loop, F&& start, std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  std::optional<Result<T>> out;
  int calls = 0;
  start([&](Result<T> r) {
    ++calls;
    out.emplace(std::move(r));
  });
  EXPECT_EQ(calls, 0) << "the callback ran inside the call";
  EXPECT_TRUE(loop.run_until([&] { return calls > 0; }, limit));
  EXPECT_EQ(calls, 1);
  return out ? std::move(*out) : Result<T>(Error{ErrorKind::usage, "the callback never ran"});
}

/// One raw command on any executor.
inline Result<Reply> run_one(TestLoop& loop, Executor& ex, std::initializer_list<std::string_view> argv,
                             std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  return await<Reply>(loop, [&](Callback<Reply> cb) { ex.command(argv, std::move(cb)); }, limit);
}

namespace close_detail {

struct NoOp {
  void operator()() const {}
};

// Anything with close(callback): Client, Subscriber, ClusterClient, caches ...
template <class T>
concept Closable = requires(T& t) { t.close(NoOp{}); };

template <class T>
concept Duration = requires { typename T::rep; typename T::period; };

// One closable, a pointer or smart pointer to one, or a range of those.
template <class T>
void close_each(T& t, std::deque<int>& calls) {
  if constexpr (Closable<T>) {
    int& n = calls.emplace_back(0);
    t.close([&n] { ++n; });
    EXPECT_EQ(n, 0) << "close's callback ran inside the call";
  } else if constexpr (requires { std::begin(t); std::end(t); }) {
    for (auto& e : t) close_each(e, calls);
  } else {
    close_each(*t, calls);
  }
}

}  // namespace close_detail

/// Closes every argument (a closable, a pointer or unique_ptr to one, or a
/// range of those: `close_and_wait(loop, a, b)`, `close_and_wait(loop,
/// clients)`) in the order given, runs the loop until each close callback
/// ran, then a little longer, and checks each ran exactly once and never
/// inside its close call. A trailing duration bounds the wait (20 s).
template <class... A>
void close_and_wait(TestLoop& loop, A&&... args) {
  std::chrono::milliseconds limit = std::chrono::seconds(20);
  std::deque<int> calls;  // a deque keeps each counter where the callbacks see it
  auto one = [&](auto& a) {
    if constexpr (close_detail::Duration<std::remove_cvref_t<decltype(a)>>)
      limit = std::chrono::duration_cast<std::chrono::milliseconds>(a);
    else
      close_detail::close_each(a, calls);
  };
  (one(args), ...);
  auto all_ran = [&] {
    for (int n : calls)
      if (n == 0) return false;
    return true;
  };
  EXPECT_TRUE(loop.run_until(all_ran, limit)) << "a close callback never ran";
  // A second call would come on a later turn, if at all.
  loop.run_for(std::chrono::milliseconds(5));
  for (std::size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i], 1) << "close callback #" << i;
}

/// Client options for a URL ("127.0.0.1:port", "redis://...", ...).
inline ClientOptions options_for(const std::string& url) {
  auto o = ClientOptions::from_url(url);
  EXPECT_TRUE(o) << (o ? std::string() : o.error().to_string());
  return o ? *o : ClientOptions{};
}

/// Client options for a private test server: anything with url()
/// (RedisServer, TLS servers ...) or only port() (FakeServer, on loopback).
template <class Server>
ClientOptions options_for(const Server& s) {
  if constexpr (requires { s.url(); })
    return options_for(std::string(s.url()));
  else
    return options_for("127.0.0.1:" + std::to_string(s.port()));
}

/// `o` reconnecting after 20 ms and backing off to at most `max`: for tests
/// that break links on purpose and wait for them to come back.
inline ClientOptions fast_reconnect(ClientOptions o, std::chrono::milliseconds max = std::chrono::milliseconds(200)) {
  o.reconnect_min_delay = std::chrono::milliseconds(20);
  o.reconnect_max_delay = max;
  return o;
}

}  // namespace uvredis::test
