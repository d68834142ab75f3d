// uvredis Cache: cache-aside with your own asynchronous loader. Three
// concurrent misses on one key share one load; the next read is a hit.
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace std::chrono_literals;

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().message.c_str()), 2;

  uv_loop_t* loop = uv_default_loop();
  uvredis::Client client(loop, *opts);
  uvredis::Cache cache(client, {.prefix = "example:cache:", .negative_ttl = 5s});
  int status = 1;

  // Called on a miss only. Answer once: a value, an empty optional ("not
  // found", cached for negative_ttl) or an error (nothing is cached).
  auto load_profile = [](const std::string& user, uvredis::Callback<std::optional<std::string>> done) {
    done(std::optional<std::string>("profile of " + user));  // your database query goes here
  };
  auto show = [&](uvredis::Result<std::optional<std::string>> v) {
    std::printf("%s (loads %llu, hits %llu)\n", v && *v ? (*v)->c_str() : "?",
                static_cast<unsigned long long>(cache.loads()), static_cast<unsigned long long>(cache.hits()));
  };

  cache.invalidate("user:7");  // start cold
  // Three callers miss at once: one GET, one load, three answers.
  for (int i = 0; i < 2; ++i) cache.get_or_load("user:7", 60s, load_profile, show);
  cache.get_or_load("user:7", 60s, load_profile, [&](uvredis::Result<std::optional<std::string>> v) {
    show(v);
    // Issued later, on a warm key: a hit, no load.
    cache.get_or_load("user:7", 60s, load_profile, [&](uvredis::Result<std::optional<std::string>> again) {
      show(again);
      status = cache.loads() == 1 && cache.hits() >= 1 ? 0 : 1;
      client.close();
    });
  });

  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? status : 1;
}
