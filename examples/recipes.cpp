// uvredis recipes on one loop: named pools, a JSON key-value store,
// cache-aside with one load per stampede, sessions and presence.
#include <uvredis/json_codec.hpp>
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <cstdio>
#include <cstdlib>

struct Player {
  std::string name;
  int level = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Player, name, level)

int main() {
  const char* url = std::getenv("REDIS_URL");
  uv_loop_t* loop = uv_default_loop();

  // Pools by code, validated all at once before anything connects.
  uvredis::Registry registry;
  registry.register_redis(url ? url : "redis://127.0.0.1:6379", 0);           // "default"
  registry.register_redis(url ? url : "redis://127.0.0.1:6379", 3, "cache");  // db 3
  auto engine = registry.validate(loop);
  if (!engine) return std::fprintf(stderr, "%s\n", engine.error().message.c_str()), 2;
  uvredis::Client& db = (*engine)->redis();
  uvredis::Client& cache_db = (*engine)->redis("cache");

  uvredis::KvStore<uvredis::JsonCodec> kv(db, "demo:");
  uvredis::Cache cache(cache_db, {.prefix = "demo:cache:", .negative_ttl = std::chrono::seconds(5)});
  uvredis::SessionStore sessions(db, {.prefix = "demo:session:", .ttl = std::chrono::minutes(30)});
  uvredis::Presence presence(db, "demo:online:");
  int pending = 4;
  auto done = [&] {
    if (--pending == 0) (*engine)->close();
  };

  kv.set("player:1", Player{"alice", 7}, [&](uvredis::Result<void> ok) {
    if (!ok) return std::fprintf(stderr, "kv set: %s\n", ok.error().to_string().c_str()), done();
    kv.get<Player>("player:1", [&](uvredis::Result<std::optional<Player>> p) {
      if (p && *p) std::printf("kv: player:1 is %s, level %d\n", (*p)->name.c_str(), (*p)->level);
      done();
    });
  });

  // Ten concurrent misses on one key: the loader runs once.
  int loads = 0, answers = 0;
  for (int i = 0; i < 10; ++i)
    cache.get_or_load(
        "leaderboard", std::chrono::seconds(30),
        [&](const std::string&, uvredis::Callback<std::optional<std::string>> give) {
          ++loads;  // an expensive query would go here
          give(std::optional<std::string>("alice:7,bob:5"));
        },
        [&](uvredis::Result<std::optional<std::string>> v) {
          if (++answers == 10) {
            std::printf("cache: %d callers, %d load, value %s\n", answers, loads, v && *v ? (*v)->c_str() : "?");
            done();
          }
        });

  sessions.create({{"user", "alice"}}, [&](uvredis::Result<std::string> id) {
    if (!id) return std::fprintf(stderr, "session: %s\n", id.error().to_string().c_str()), done();
    sessions.get(*id, [&, id = *id](uvredis::Result<std::optional<uvredis::SessionData>> s) {
      if (s && *s) std::printf("session %.8s...: user=%s\n", id.c_str(), (**s)["user"].c_str());
      done();
    });
  });

  presence.online("alice", std::chrono::seconds(60), [&](uvredis::Result<void>) {
    presence.online_of({"alice", "bob"}, [&](uvredis::Result<std::vector<std::string>> who) {
      if (who) std::printf("presence: %zu of 2 online\n", who->size());
      done();
    });
  });

  uv_run(loop, UV_RUN_DEFAULT);
  engine->reset();
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 && pending == 0 ? 0 : 1;
}
