#pragma once
// TestLoop: a private uv loop for one test. run_until() waits on a condition
// that callbacks make true (a 1 ms check timer keeps the loop turning, it is
// never the synchronisation itself); close() runs pending close callbacks and
// returns uv_loop_close()'s status, printing any handle still open.

#include <uv.h>

#include <chrono>
#include <cstdio>
#include <functional>

namespace uvredis::test {

class TestLoop {
 public:
  TestLoop() {
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &tick_);
  }
  ~TestLoop() {
    if (!closed_) {
      // A test that failed half-way: close whatever is left so the loop can go.
      uv_walk(&loop_, [](uv_handle_t* h, void*) { if (!uv_is_closing(h)) uv_close(h, nullptr); }, nullptr);
      for (int i = 0; i < 100 && uv_loop_alive(&loop_); ++i) uv_run(&loop_, UV_RUN_NOWAIT);
      uv_loop_close(&loop_);
    }
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }

  /// Runs the loop until `done()` holds (true) or `timeout` passes (false).
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const std::uint64_t deadline = uv_hrtime() + static_cast<std::uint64_t>(timeout.count()) * 1000000ull;
    // Predicates may run a nested run_until (run one command, then check):
    // only the outermost call stops the tick.
    if (depth_++ == 0) uv_timer_start(&tick_, [](uv_timer_t*) {}, 1, 1);
    bool ok = false;
    for (;;) {
      if (done()) { ok = true; break; }
      if (uv_hrtime() >= deadline) break;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    if (--depth_ == 0) uv_timer_stop(&tick_);
    return ok;
  }

  /// Runs the loop for `d` (for "nothing more happens" checks only).
  void run_for(std::chrono::milliseconds d) {
    const std::uint64_t until = uv_hrtime() + static_cast<std::uint64_t>(d.count()) * 1000000ull;
    run_until([&] { return uv_hrtime() >= until; }, d + std::chrono::seconds(1));
  }

  /// Closes the helper timer, lets every closing handle finish and returns
  /// uv_loop_close(): 0 when the code under test left nothing open.
  int close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    // Let the library finish asynchronous closes and thread-pool work (big
    // values are freed there), but never wait forever: at most 10 s.
    const std::uint64_t until = uv_hrtime() + 10'000'000'000ull;
    for (int i = 0; uv_loop_alive(&loop_) && (i < 1000 || uv_hrtime() < until); ++i) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      if (i >= 1000) uv_sleep(1);
    }
    int rc = uv_loop_close(&loop_);
    if (rc != 0) {
      uv_walk(&loop_, [](uv_handle_t* h, void*) {
        std::fprintf(stderr, "TestLoop: handle left open: %s active=%d closing=%d\n",
                     uv_handle_type_name(uv_handle_get_type(h)), uv_is_active(h), uv_is_closing(h));
      }, nullptr);
    } else {
      closed_ = true;
    }
    return rc;
  }

 private:
  uv_loop_t loop_{};
  uv_timer_t tick_{};
  bool closed_ = false;
  int depth_ = 0;
};

}  // namespace uvredis::test
