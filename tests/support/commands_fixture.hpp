#pragma once
// Fixture for the typed-command suites: one private redis-server per suite
// (flushed before every test), a fresh loop and Client per test. call<T>()
// issues one command and runs the loop until its callback ran; every
// callback it hands out is counted, and TearDown checks each ran exactly
// once and that the loop closes cleanly.

#include <uvredis/uvredis.hpp>

#include "await.hpp"
#include "loop.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace uvredis::test {

using OptStr = std::optional<std::string>;
using Strs = std::vector<std::string>;

class CommandsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    server_->cmd({"FLUSHALL"});
    client_ = make_client();
  }

  void TearDown() override {
    for (auto& c : extra_clients_) close(*c);
    extra_clients_.clear();
    if (client_) close(*client_);
    client_.reset();
    loop_.run_for(std::chrono::milliseconds(5));  // a second call would show up here
    for (std::size_t i = 0; i < counters_.size(); ++i)
      EXPECT_EQ(*counters_[i], 1) << "callback #" << i << " ran " << *counters_[i] << " times";
    EXPECT_EQ(loop_.close(), 0);
  }

  static RedisServer& server() { return *server_; }
  Client& c() { return *client_; }
  uv_loop_t* loop() { return loop_.get(); }

  ClientOptions options() { return options_for(*server_); }

  std::unique_ptr<Client> make_client(std::function<void(ClientOptions&)> tweak = {}) {
    auto o = options();
    if (tweak) tweak(o);
    return std::make_unique<Client>(loop_.get(), std::move(o));
  }

  /// A second client that TearDown closes (before the main one).
  Client& extra_client(std::function<void(ClientOptions&)> tweak = {}) {
    extra_clients_.push_back(make_client(std::move(tweak)));
    return *extra_clients_.back();
  }

  /// Replaces the main client (for tests that need other options).
  void reset_client(std::function<void(ClientOptions&)> tweak) {
    close(*client_);
    client_ = make_client(std::move(tweak));
  }

  void close(Client& cl) { close_and_wait(loop_, cl, std::chrono::seconds(10)); }

  /// A counted callback storing its result in `out`.
  template <class T>
  Callback<T> catcher(std::optional<Result<T>>& out) {
    auto n = std::make_shared<int>(0);
    counters_.push_back(n);
    return [n, &out](Result<T> r) {
      ++*n;
      out.emplace(std::move(r));
    };
  }

  /// Issues one command through `issue(cb)`, checks the callback did not run
  /// inside the call, runs the loop until it ran, returns its result.
  template <class T>
  Result<T> call(const std::function<void(Callback<T>)>& issue,
                 std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::optional<Result<T>> out;
    issue(catcher<T>(out));
    EXPECT_FALSE(out.has_value()) << "callback ran inside the issuing call";
    EXPECT_TRUE(loop_.run_until([&] { return out.has_value(); }, timeout));
    if (!out) return Error{ErrorKind::usage, "test: no result"};
    return std::move(*out);
  }

  /// Runs the loop until `n` counted callbacks of `flags` are set.
  bool wait(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return loop_.run_until(pred, timeout);
  }

  /// Sync helpers through the harness' own connection (for setup only).
  std::string raw(const std::vector<std::string>& argv) { return server_->cmd(argv); }

  static inline RedisServer* server_ = nullptr;
  TestLoop loop_;
  std::unique_ptr<Client> client_;
  std::vector<std::unique_ptr<Client>> extra_clients_;
  std::vector<std::shared_ptr<int>> counters_;
};

/// Asserts a result is a server error with the given prefix.
template <class T>
::testing::AssertionResult is_server_error(const Result<T>& r, std::string_view code) {
  if (r.ok()) return ::testing::AssertionFailure() << "expected a " << code << " error, got a value";
  if (r.error().kind != ErrorKind::server || r.error().code() != code)
    return ::testing::AssertionFailure() << "expected a " << code << " server error, got " << r.error().to_string();
  return ::testing::AssertionSuccess();
}

/// Asserts a result is a usage error whose message contains `text`.
template <class T>
::testing::AssertionResult is_usage_error(const Result<T>& r, std::string_view text) {
  if (r.ok()) return ::testing::AssertionFailure() << "expected a usage error, got a value";
  if (r.error().kind != ErrorKind::usage || r.error().message.find(text) == std::string::npos)
    return ::testing::AssertionFailure() << "expected a usage error with '" << text << "', got "
                                         << r.error().to_string();
  return ::testing::AssertionSuccess();
}

}  // namespace uvredis::test
