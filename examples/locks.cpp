// uvredis locks: the seed scenario. Two contenders, A and B, on one lock:
//   1. A takes the lock; B asks with wait 0 and is told "not obtained".
//   2. A reads its TTL, sees it decrease, refreshes it.
//   3. B asks again with a 5 s wait; A releases after a second; B gets it.
// Run with REDIS_URL=redis://host:port (default 127.0.0.1:6379).
#include <uvredis/uvredis.hpp>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>

using namespace std::chrono_literals;
using uvredis::Lock;
using uvredis::Result;

namespace {

// Runs `fn` once after `ms` on the loop (a one-shot timer that frees itself).
void after(uv_loop_t* loop, std::chrono::milliseconds ms, std::function<void()> fn) {
  auto* t = new uv_timer_t;
  uv_timer_init(loop, t);
  t->data = new std::function<void()>(std::move(fn));
  uv_timer_start(t, [](uv_timer_t* h) {
    auto* f = static_cast<std::function<void()>*>(h->data);
    (*f)();
    delete f;
    uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* hh) { delete reinterpret_cast<uv_timer_t*>(hh); });
  }, static_cast<std::uint64_t>(ms.count()), 0);
}

double now_s(uv_loop_t* loop) { return static_cast<double>(uv_now(loop)) / 1000.0; }

}  // namespace

int main() {
  const char* url = std::getenv("REDIS_URL");
  auto opts = uvredis::ClientOptions::from_url(url ? url : "redis://127.0.0.1:6379");
  if (!opts) return std::fprintf(stderr, "%s\n", opts.error().message.c_str()), 2;

  uv_loop_t* loop = uv_default_loop();
  uvredis::Client client_a(loop, *opts);
  uvredis::Client client_b(loop, *opts);
  uvredis::Locker locker_a(client_a);
  uvredis::Locker locker_b(client_b);
  const char* key = "uvredis:example:lock";
  const double t0 = now_s(loop);
  int status = 1;

  std::optional<Lock> a_lock;
  std::optional<Lock> b_lock;

  auto finish = [&](int code) {
    status = code;
    client_a.close();
    client_b.close();
  };
  auto fail = [&](const char* what, const uvredis::Error& e) {
    std::fprintf(stderr, "%s: %s\n", what, e.to_string().c_str());
    finish(1);
  };

  // Step 3: B waits up to 5 s; A lets go after one second.
  auto step3 = [&] {
    std::printf("[%5.2fs] B: obtain with wait 5 s ...\n", now_s(loop) - t0);
    locker_b.obtain(key, 2s, 5s, [&](Result<std::optional<Lock>> r) {
      if (!r) return fail("B obtain", r.error());
      if (!r->has_value()) {
        std::printf("[%5.2fs] B: not obtained within 5 s\n", now_s(loop) - t0);
        return finish(1);
      }
      b_lock = std::move(**r);
      std::printf("[%5.2fs] B: obtained (fencing token %lld, metadata \"%s\")\n", now_s(loop) - t0,
                  b_lock->fence(), b_lock->metadata().c_str());
      b_lock->release([&](Result<bool> rel) {
        if (!rel) return fail("B release", rel.error());
        std::printf("[%5.2fs] B: released (%s)\n", now_s(loop) - t0, *rel ? "was ours" : "already gone");
        finish(0);
      });
    }, uvredis::ObtainOptions{"contender B", {}});
    after(loop, 1s, [&] {
      a_lock->release([&](Result<bool> rel) {
        if (!rel) return fail("A release", rel.error());
        std::printf("[%5.2fs] A: released\n", now_s(loop) - t0);
      });
    });
  };

  // Step 2: TTL read, decreasing, refreshed.
  auto step2 = [&] {
    a_lock->ttl([&](Result<std::chrono::milliseconds> t1) {
      if (!t1) return fail("A ttl", t1.error());
      std::printf("[%5.2fs] A: ttl %lld ms\n", now_s(loop) - t0, static_cast<long long>(t1->count()));
      after(loop, 500ms, [&] {
        a_lock->ttl([&](Result<std::chrono::milliseconds> t2) {
          if (!t2) return fail("A ttl", t2.error());
          std::printf("[%5.2fs] A: ttl %lld ms (decreasing)\n", now_s(loop) - t0, static_cast<long long>(t2->count()));
          a_lock->refresh(2s, [&](Result<bool> ok) {
            if (!ok || !*ok) return fail("A refresh", ok ? uvredis::Error{uvredis::ErrorKind::usage, "lost"} : ok.error());
            a_lock->ttl([&](Result<std::chrono::milliseconds> t3) {
              if (!t3) return fail("A ttl", t3.error());
              std::printf("[%5.2fs] A: refreshed, ttl %lld ms\n", now_s(loop) - t0, static_cast<long long>(t3->count()));
              step3();
            });
          });
        });
      });
    });
  };

  // Step 1: A takes it; B is told at once that it cannot have it.
  locker_a.obtain(key, 2s, 0ms, [&](Result<std::optional<Lock>> r) {
    if (!r) return fail("A obtain", r.error());
    if (!r->has_value()) {
      std::printf("A: lock %s is held by someone else; try again later\n", key);
      return finish(1);
    }
    a_lock = std::move(**r);
    std::printf("[%5.2fs] A: obtained (fencing token %lld)\n", now_s(loop) - t0, a_lock->fence());
    locker_b.obtain(key, 2s, 0ms, [&](Result<std::optional<Lock>> rb) {
      if (!rb) return fail("B obtain", rb.error());
      std::printf("[%5.2fs] B: wait 0 -> %s\n", now_s(loop) - t0, rb->has_value() ? "obtained (unexpected!)" : "not obtained");
      if (rb->has_value()) return finish(1);
      step2();
    });
  }, uvredis::ObtainOptions{"contender A", {}});

  uv_run(loop, UV_RUN_DEFAULT);
  a_lock.reset();
  b_lock.reset();
  return uv_loop_close(loop) == 0 ? status : 1;
}
