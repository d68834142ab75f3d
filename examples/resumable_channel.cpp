// uvredis ResumableChannel: pub/sub backed by a capped stream. Publishes a
// few messages, then starts a subscriber from the id of the second one (as a
// reconnecting browser would, with the last id it saw): it gets the messages
// it missed from the stream, then the live ones, each once and in order.
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().message.c_str()), 2;

  uv_loop_t* loop = uv_default_loop();
  uvredis::Client client(loop, *opts);
  client.del({"example:chat:history"});

  uvredis::ResumableChannelOptions co;
  co.channel = "example:chat";  // the stream is "example:chat:history"
  co.max_len = 1000;            // keep about the last 1,000 messages
  uvredis::ResumableChannel chat(client, co);

  std::optional<uvredis::ResumableSubscriber> sub;
  int received = 0;
  auto start_subscriber = [&](std::string last_seen) {
    uvredis::ResumableSubscriberOptions so;
    so.channel = "example:chat";
    so.last_id = last_seen;  // empty: only what is published from now on
    sub.emplace(loop, *opts, client, so, [&](const uvredis::ChannelMessage& m) {
      std::printf("message %lld (%s): %s\n", m.sequence, m.id.c_str(), m.payload.c_str());
      if (++received == 3) sub->close([&] { client.close(); });
    });
    sub->on_loss([](const uvredis::HistoryLoss& l) {
      std::printf("history after %s was trimmed (%lld lost)\n", l.after_id.c_str(), l.count.value_or(-1));
    });
    sub->on_state_change([&](uvredis::ConnectionState s, const uvredis::Error*) {
      if (s == uvredis::ConnectionState::connected) chat.publish("live: anyone here?");
    });
  };

  std::string second_id;
  for (const char* text : {"hello", "how are you?", "fine, thanks", "and you?"}) {
    chat.publish(text, [&, text](uvredis::Result<std::string> id) {
      if (!id) return (void)std::fprintf(stderr, "publish: %s\n", id.error().to_string().c_str());
      if (std::string(text) == "how are you?") second_id = *id;
      if (std::string(text) == "and you?") start_subscriber(second_id);  // missed the last two
    });
  }

  uv_run(loop, UV_RUN_DEFAULT);
  sub.reset();  // a subscriber goes before the Client it reads with
  return uv_loop_close(loop) == 0 && received == 3 ? 0 : 1;
}
