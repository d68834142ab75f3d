// A program that uses an installed (or sub-projected) uvredis the way a user
// would: SET, then GET, with the typed commands, against REDIS_URL. Exit 0
// only when GET returned what SET wrote and the loop closed cleanly.
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().to_string().c_str()), 2;

  uv_loop_t loop;
  uv_loop_init(&loop);
  int status = 1;
  {
    uvredis::Client client(&loop, *opts);
    client.set("consumer:key", "consumer value " UVREDIS_VERSION_STRING, [](uvredis::Result<bool> r) {
      if (!r) std::fprintf(stderr, "SET failed: %s\n", r.error().to_string().c_str());
    });
    client.get("consumer:key", [&](uvredis::Result<std::optional<std::string>> r) {
      if (r && *r && **r == "consumer value " UVREDIS_VERSION_STRING) {
        std::printf("uvredis %s (ABI %d): GET consumer:key -> %s\n", UVREDIS_VERSION_STRING, UVREDIS_ABI_VERSION,
                    (*r)->c_str());
        status = 0;
      } else {
        std::fprintf(stderr, "GET failed: %s\n", r ? "wrong value" : r.error().to_string().c_str());
      }
      client.close();
    });
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // the client's handles finish closing
  return uv_loop_close(&loop) == 0 ? status : 1;
}
