#pragma once
// Waiting for one callback: start an operation, run the loop until its
// callback ran, check it ran exactly once, hand back its result.

#include <uvredis/uvredis.hpp>

#include "loop.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

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

/// close(cb) and wait for cb (Client, Subscriber, Engine ...).
template <class C>
void close_and_wait(TestLoop& loop, C& c, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  bool closed = false;
  c.close([&] { closed = true; });
  EXPECT_TRUE(loop.run_until([&] { return closed; }, limit));
}

/// Client options for a private test server (anything with url()).
template <class Server>
ClientOptions options_for(const Server& s) {
  auto o = ClientOptions::from_url(s.url());
  EXPECT_TRUE(o) << (o ? std::string() : o.error().to_string());
  return o ? *o : ClientOptions{};
}

}  // namespace uvredis::test
