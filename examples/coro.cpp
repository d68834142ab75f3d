// uvredis with C++20 coroutines (<uvredis/coro.hpp>): the recipes of the
// callback examples, read top to bottom. A pipeline with per-command results,
// a WATCH transfer, a BeeORM-style lock (wait, TTL, refresh) and cache-aside
// with single-flight loading.
#include <uvredis/coro.hpp>
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

using namespace std::chrono_literals;
using uvredis::co;
using Profile = uvredis::Result<std::optional<std::string>>;

uvredis::Task<bool> pipeline(uvredis::Client& client) {
  uvredis::Pipeline pipe(client);
  pipe.set("example:visits", "41");
  uvredis::Handle<long long> visits = pipe.incr("example:visits");
  uvredis::Handle<std::optional<std::string>> absent = pipe.get("example:no-such-key");
  uvredis::ExecSummary s = co_await co(pipe).exec();  // every handle is filled now
  std::printf("%zu commands, %zu failed\n", s.commands, s.failed);
  if (visits.ok()) std::printf("INCR -> %lld\n", *visits.result());
  if (absent.ok()) std::printf("GET of a missing key -> %s\n", *absent.result() ? "a value" : "empty optional");
  co_return s.failed == 0;
}

uvredis::Task<bool> transfer(uvredis::Client& client) {
  auto init = co(client).mset({{"example:alice", "100"}, {"example:bob", "0"}});
  if (!co_await init) co_return false;
  // One round: read through the lease (WATCH is active on it), queue the
  // writes on tx, co_return true to EXEC. A lost race runs the round again.
  auto rounds = co(client).watch_transaction(
      {"example:alice", "example:bob"}, 5,
      [](uvredis::Lease& lease, uvredis::Transaction& tx) -> uvredis::Task<bool> {
        uvredis::Result<std::optional<std::string>> v = co_await co(lease).get("example:alice");
        const long long alice = v && *v ? std::stoll(**v) : 0;
        if (alice < 30) co_return false;  // not enough: nothing is written
        tx.decrby("example:alice", 30);
        tx.incrby("example:bob", 30);
        co_return true;
      });
  uvredis::Result<uvredis::Transaction::Outcome> outcome = co_await rounds;
  const bool committed = outcome && *outcome == uvredis::Transaction::Outcome::committed;
  std::printf("transfer %s\n", committed ? "committed" : "not committed");
  uvredis::Result<std::optional<std::string>> bob = co_await co(client).get("example:bob");
  std::printf("bob has %s\n", bob && *bob ? (*bob)->c_str() : "?");
  co_return committed;
}

uvredis::Task<bool> locked_report(uvredis::Client& client) {
  uvredis::Locker locker(client);
  // Wait up to 2 s for the lock, hold it for 10 s.
  auto got = co_await co(locker).obtain("example:lock:nightly-report", 10s, 2s);
  if (!got || !*got) {
    std::fprintf(stderr, "not obtained: %s\n", got ? "held by someone else" : got.error().to_string().c_str());
    co_return false;
  }
  uvredis::Lock lock = std::move(**got);
  std::printf("obtained, fencing token %lld\n", lock.fence());
  // ... the work takes longer than planned: the TTL becomes 30 s ...
  uvredis::Result<bool> refreshed = co_await co(lock).refresh(30s);
  uvredis::Result<std::chrono::milliseconds> left = co_await co(lock).ttl();
  std::printf("refreshed: %s, more than 10 s left: %s\n", refreshed && *refreshed ? "yes" : "no",
              left && *left > 10s ? "yes" : "no");
  uvredis::Result<bool> released = co_await co(lock).release();
  std::printf("released: %s\n", released && *released ? "it was still ours" : "it was already gone");
  co_return released && *released;
}

uvredis::Task<Profile> read_profile(uvredis::Cache& cache, const uvredis::Cache::Loader& load) {
  co_return co_await co(cache).get_or_load("user:7", 60s, load);
}

uvredis::Task<bool> cache_aside(uvredis::Client& client) {
  uvredis::Cache cache(client);
  // The loader runs on a miss only; here the "database" is a Redis key.
  uvredis::Cache::Loader load = uvredis::co_loader([&client](const std::string& user) -> uvredis::Task<Profile> {
    uvredis::Result<std::optional<std::string>> row = co_await co(client).get("example:db:" + user);
    if (!row) co_return row.error();  // nothing is cached, every waiting reader gets the error
    co_return std::optional<std::string>("profile of " + user + ": " + row->value_or("?"));
  });
  if (!co_await co(client).set("example:db:user:7", "Ada")) co_return false;
  if (!co_await co(cache).invalidate("user:7")) co_return false;  // start cold
  // Three readers miss at once (a Task starts when called): one GET, one load.
  uvredis::Task<Profile> a = read_profile(cache, load), b = read_profile(cache, load), c = read_profile(cache, load);
  Profile first = co_await a, second = co_await b, third = co_await c;
  Profile warm = co_await read_profile(cache, load);  // later, on a warm key: a hit
  std::printf("%s (loads %llu, hits %llu)\n", warm && *warm ? (*warm)->c_str() : "?",
              static_cast<unsigned long long>(cache.loads()), static_cast<unsigned long long>(cache.hits()));
  co_return first && second && third && *first == *third && cache.loads() == 1;
}

uvredis::Task<bool> run_all(uvredis::Client& client) {
  bool ok = co_await pipeline(client);
  ok = co_await transfer(client) && ok;
  ok = co_await locked_report(client) && ok;
  ok = co_await cache_aside(client) && ok;
  co_return ok;
}

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().message.c_str()), 2;

  uv_loop_t* loop = uv_default_loop();
  uvredis::Client client(loop, *opts);
  int status = 1;
  run_all(client).detach([&](bool ok) {
    status = ok ? 0 : 1;
    client.close();  // in-flight work finishes, handles close, uv_run returns
  });
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? status : 1;
}
