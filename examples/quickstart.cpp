// uvredis quickstart: connect on your own libuv loop, write, read, close.
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

  client.set("greeting", "hello from uvredis", [](uvredis::Result<bool> r) {
    if (!r) std::fprintf(stderr, "SET failed: %s\n", r.error().to_string().c_str());
  });
  // Sent in the same write as the SET (implicit pipelining), answered after it.
  client.get("greeting", [&](uvredis::Result<std::optional<std::string>> r) {
    if (r) std::printf("GET greeting -> %s\n", r->value_or("(nil)").c_str()), status = 0;
    else std::fprintf(stderr, "GET failed: %s\n", r.error().to_string().c_str());
    client.close();  // in-flight work finishes, handles close, uv_run returns
  });

  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? status : 1;
}
