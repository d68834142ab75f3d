// uvredis KeyspaceSubscriber: react to keys that change or expire. Turns on
// notify-keyspace-events with CONFIG SET, watches session keys, writes one
// with a 50 ms TTL and reports its `set` and, once Redis removed it, its
// `expired` event. On a cluster, construct it with ClusterOptions instead:
// it then watches every master and follows failovers and new masters.
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
  uvredis::KeyspaceOptions ko;
  ko.notify_keyspace_events = "Kgx$";  // key-space form: generic, string and expired events
  uvredis::KeyspaceSubscriber keyspace(loop, *opts, ko);
  int status = 1;
  auto finish = [&] {
    keyspace.close();
    client.close();
  };

  keyspace.watch_keys(
      "example:session:*", {"set", "expired"},
      [&](const uvredis::KeyspaceEvent& e) {
        std::printf("%s: %s (db %d, node %s)\n", e.key.c_str(), e.event.c_str(), e.db, e.node.c_str());
        if (e.event == "expired") {
          status = 0;
          finish();  // a handler may close (or even destroy) its subscriber
        }
      },
      [&](uvredis::Result<void> confirmed) {
        // Fails when the server refuses CONFIG SET (renamed, ACL): then set
        // notify-keyspace-events in redis.conf and leave the option empty.
        if (!confirmed) return std::fprintf(stderr, "%s\n", confirmed.error().to_string().c_str()), finish();
        client.command({"SET", "example:session:42", "alice", "PX", "50"}, [](uvredis::Result<uvredis::Reply>) {});
      });

  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? status : 1;
}
