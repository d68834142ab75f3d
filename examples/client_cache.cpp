// uvredis ClientCache: hot reads answered from memory, and dropped the
// moment Redis says the key changed (CLIENT TRACKING over RESP2).
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().message.c_str()), 2;

  uv_loop_t* loop = uv_default_loop();
  uvredis::ClientCache cache(loop, *opts, {.max_entries = 10'000, .max_bytes = 16 << 20});
  uvredis::Client admin(loop, *opts);  // another client: its writes invalidate the cache
  int status = 1;

  using Value = uvredis::Result<std::optional<std::string>>;
  using View = uvredis::Result<std::optional<std::string_view>>;  // get_view: the bytes lent, not copied
  auto show = [&](const char* what, const auto& v) {  // a Value or a View
    const std::string text = v && *v ? std::string(**v) : "?";
    std::printf("%s: %s (hits %llu, misses %llu)\n", what, text.c_str(),
                static_cast<unsigned long long>(cache.stats().hits),
                static_cast<unsigned long long>(cache.stats().misses));
  };
  auto finish = [&](int st) {
    status = st;
    cache.close();
    admin.close();
  };

  // Once the cache is ready (both its connections up, tracking on): write,
  // then read twice: a miss, then a hit (through get_view, which lends the
  // cached bytes to the callback instead of copying them into a string).
  bool started = false;
  cache.on_ready_change([&](bool ready) {
    if (!ready || started) return;
    started = true;
    admin.set("example:motd", "welcome", [&](uvredis::Result<bool>) {
      cache.get("example:motd", [&](Value v) {
        show("first read", v);
        cache.get_view("example:motd", [&](View again) {
          show("second read", again);
          // Redis tells the cache when the key changes; the next read fetches it.
          cache.on_invalidation([&](const std::vector<std::string>*) {
            cache.on_invalidation(nullptr);
            cache.get("example:motd", [&](Value fresh) {
              show("after the update", fresh);
              finish(fresh && *fresh == "maintenance at 22:00" ? 0 : 1);
            });
          });
          admin.set("example:motd", "maintenance at 22:00");
        });
      });
    });
  });

  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? status : 1;
}
