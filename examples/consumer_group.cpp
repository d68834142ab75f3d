// uvredis ConsumerGroup: a worker of a Redis Streams consumer group. Adds a
// few jobs to a stream, handles them (each acknowledged after done(true)),
// then stops the worker and closes the client.
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

using namespace std::chrono_literals;

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().message.c_str()), 2;

  uv_loop_t* loop = uv_default_loop();
  uvredis::Client client(loop, *opts);
  constexpr int kJobs = 5;
  client.del({"example:jobs", "{example:jobs}:dead"});
  for (int i = 1; i <= kJobs; ++i) client.xadd("example:jobs", {{"job", std::to_string(i)}});

  uvredis::ConsumerGroupOptions o;
  o.stream = "example:jobs";
  o.group = "workers";
  o.consumer = "worker-1";      // unique per process, stable across restarts
  o.claim_idle = 30s;           // take over what a dead worker left for this long
  o.max_deliveries = 5;         // then park it in "{example:jobs}:dead"
  int handled = 0;
  std::optional<uvredis::ConsumerGroup> worker;
  worker.emplace(client, o, [&](uvredis::StreamEntry job, uvredis::EntryDone done) {
    std::printf("handling job %s (entry %s)\n", job.fields[0].second.c_str(), job.id.c_str());
    done(true);  // or later, from another callback; done(false) retries it
    if (++handled == kJobs) {
      worker->stop([&] {  // after the last acknowledgement went out
        std::printf("%d jobs handled and acknowledged\n", handled);
        client.close();
      });
    }
  });
  worker->on_error([](const uvredis::Error& e) { std::fprintf(stderr, "worker: %s\n", e.to_string().c_str()); });

  uv_run(loop, UV_RUN_DEFAULT);
  worker.reset();  // a worker goes before its Client
  return uv_loop_close(loop) == 0 && handled == kJobs ? 0 : 1;
}
