// uvredis Subscriber: subscribe to a channel, publish to it with a Client
// once the subscription is confirmed, receive the message, close both.
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
  uvredis::Subscriber sub(loop, *opts);
  int status = 1;
  auto finish = [&] {
    sub.close();
    client.close();
  };

  sub.on_state_change([](uvredis::ConnectionState s, const uvredis::Error* why) {
    // After a drop, `connected` comes once every subscription is back:
    // messages published in between were lost (pub/sub is at-most-once).
    if (why) std::fprintf(stderr, "subscriber %s: %s\n", uvredis::to_string(s).data(), why->to_string().c_str());
  });
  sub.subscribe(
      {"example:news"},
      [&](const uvredis::Message& m) {
        std::printf("%s: %s\n", m.channel.c_str(), m.payload.c_str());
        status = 0;
        finish();  // a handler may close (or even destroy) its subscriber
      },
      [&](uvredis::Result<void> confirmed) {
        if (!confirmed) return std::fprintf(stderr, "%s\n", confirmed.error().to_string().c_str()), finish();
        client.publish("example:news", "hello, subscribers");
      });

  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? status : 1;
}
