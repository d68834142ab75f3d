// uvredis Lock: take a lock for 10 s (waiting up to 2 s while someone else
// holds it), keep it alive while working, release it.
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

using namespace std::chrono_literals;

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().message.c_str()), 2;

  uv_loop_t* loop = uv_default_loop();
  uvredis::Client client(loop, *opts);
  uvredis::Locker locker(client);
  std::optional<uvredis::Lock> lock;
  int status = 1;

  locker.obtain("example:lock:nightly-report", 10s, 2s, [&](uvredis::Result<std::optional<uvredis::Lock>> r) {
    if (!r || !*r) {  // an error, or still held by someone else after 2 s
      std::fprintf(stderr, "not obtained: %s\n", r ? "held by someone else" : r.error().to_string().c_str());
      return client.close();
    }
    lock = std::move(**r);
    std::printf("obtained, fencing token %lld\n", lock->fence());
    lock->auto_refresh([](const uvredis::Error*) { std::fprintf(stderr, "lock lost: stop the work\n"); });
    // ... the work the lock protects; pass lock->fence() to what it writes ...
    lock->release([&](uvredis::Result<bool> was_ours) {
      std::printf("released: %s\n", was_ours && *was_ours ? "it was still ours" : "it was already gone");
      status = was_ours && *was_ours ? 0 : 1;
      client.close();
    });
  });

  uv_run(loop, UV_RUN_DEFAULT);
  lock.reset();  // a Lock goes before its Client
  return uv_loop_close(loop) == 0 ? status : 1;
}
