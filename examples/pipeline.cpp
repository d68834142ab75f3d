// uvredis Pipeline: queue typed commands, send them together, then read each
// command's own result from its handle.
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().message.c_str()), 2;

  uv_loop_t* loop = uv_default_loop();
  uvredis::Client client(loop, *opts);
  int status = 1;

  uvredis::Pipeline pipe(client);
  pipe.set("example:visits", "41");
  uvredis::Handle<long long> visits = pipe.incr("example:visits");
  uvredis::Handle<std::optional<std::string>> absent = pipe.get("example:no-such-key");
  pipe.exec([&, visits, absent](uvredis::ExecSummary s) {
    // Every handle is filled before this runs; one failed command fails only itself.
    std::printf("%zu commands, %zu failed\n", s.commands, s.failed);
    if (visits.ok()) std::printf("INCR -> %lld\n", *visits.result());
    if (absent.ok()) std::printf("GET of a missing key -> %s\n", *absent.result() ? "a value" : "empty optional");
    status = s.failed == 0 ? 0 : 1;
    client.close();
  });

  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? status : 1;
}
