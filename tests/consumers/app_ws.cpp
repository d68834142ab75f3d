// A program that uses an installed uvredis-ws: a WebSocket fan-out on a free
// port, on its own loop, next to a uvredis Client that SETs consumer:key.
// Exit 0 only when both worked and the loop closed cleanly (every handle of
// the fan-out closed).
#include <uvredis/uvredis.hpp>
#include <uvredis/ws_fanout.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().to_string().c_str()), 2;

  uv_loop_t loop;
  uv_loop_init(&loop);
  int status = 1;
  {
    uvredis::WsFanoutOptions wo;
    wo.port = 0;
    uvredis::WsFanout fanout(&loop, *opts, wo);
    uvredis::Client client(&loop, *opts);
    auto port = fanout.start();
    if (!port) {
      std::fprintf(stderr, "start: %s\n", port.error().to_string().c_str());
      fanout.close();
      client.close();
    } else {
      client.set("consumer:key", "ws", [&](uvredis::Result<bool> r) {
        if (r) status = 0;
        else std::fprintf(stderr, "SET failed: %s\n", r.error().to_string().c_str());
        client.close();
        fanout.close([&, p = *port] {
          std::printf("uvredis-ws %s: listened on port %d, closed\n", UVREDIS_VERSION_STRING, p);
        });
      });
    }
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  return uv_loop_close(&loop) == 0 ? status : 1;
}
