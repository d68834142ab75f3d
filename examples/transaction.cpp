// uvredis optimistic transaction on a plain Client: WATCH two balances, read
// one, queue the transfer in MULTI/EXEC. When another client changes a
// watched key before EXEC, nothing is written and the round runs again.
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().message.c_str()), 2;

  uv_loop_t* loop = uv_default_loop();
  uvredis::Client client(loop, *opts);
  int status = 1;

  // The rounds read on a connection of their own: start them once the balances are written.
  client.mset({{"example:alice", "100"}, {"example:bob", "0"}}, [&](uvredis::Result<void>) {
    uvredis::watch_transaction(
        client, {"example:alice", "example:bob"}, 5,
        // One round: read through the lease (a connection of its own, WATCH
        // active), queue the writes on tx, then go(true) to EXEC or go(false).
        [](uvredis::Lease& lease, uvredis::Transaction& tx, auto go) {
          lease.get("example:alice", [&tx, go = std::move(go)](uvredis::Result<std::optional<std::string>> v) mutable {
            const long long alice = v && *v ? std::stoll(**v) : 0;
            if (alice < 30) return go(false);  // not enough: nothing is written
            tx.decrby("example:alice", 30);
            tx.incrby("example:bob", 30);
            go(true);
          });
        },
        [&](uvredis::Result<uvredis::Transaction::Outcome> outcome) {
          const bool committed = outcome && *outcome == uvredis::Transaction::Outcome::committed;
          std::printf("transfer %s\n", committed ? "committed" : "not committed");
          client.get("example:bob", [&, committed](uvredis::Result<std::optional<std::string>> bob) {
            std::printf("bob has %s\n", bob && *bob ? (*bob)->c_str() : "?");
            status = committed ? 0 : 1;
            client.close();
          });
        });
  });

  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? status : 1;
}
