#pragma once
// The one place that runs work later on a loop, shared by every client,
// connection and subscriber on that loop:
//
//  - later(fn): run fn on a later loop turn, never inside the caller. Every
//    deferred completion in the library (fail_later, close callbacks that
//    arrive after a connection's handles are gone, cluster posts) goes
//    through it, which is how "a callback never runs inside the call that
//    issued it" is kept in one place. FIFO.
//  - soon(task): an owner's deferred step (a connection's drop or teardown),
//    run once on the next turn, before the later() functions queued by then.
//  - before_poll(task): "flush once per loop turn": run once just before
//    the loop next waits for I/O, so every command submitted in this turn
//    leaves in one write.
//
// Timers stay libuv timers (libuv already keeps one timer heap per loop; a
// second heap above it would only add a level of indirection).
//
// Lifetime: one Scheduler per loop, created on first use and shared through
// Ref; when the last Ref is gone and nothing is queued it closes its two
// handles (so uv_loop_close() succeeds once every client is closed) and
// deletes itself. Loop-thread only, except Scheduler::on, which may be called
// for different loops from different threads.

#include <uvredis/detail/function.hpp>

#include <cstddef>
#include <vector>

#include <uv.h>

namespace uvredis::detail {

class Scheduler {
 public:
  /// A step an owner wants run once on a later turn. Embedded in the owner;
  /// cancel() it (or let the destructor do so) before the owner goes.
  class Task {
   public:
    using Fn = void (*)(void* ctx);
    Task(Fn fn, void* ctx) : fn_(fn), ctx_(ctx) {}
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() { cancel(); }
    bool scheduled() const noexcept { return list_ != nullptr; }
    /// Unlinks the task if it is scheduled.
    void cancel() noexcept;

   private:
    friend class Scheduler;
    Fn fn_;
    void* ctx_;
    std::vector<Task*>* list_ = nullptr;  // the list it is on, null when not scheduled
    std::size_t index_ = 0;               // its slot there
  };

  /// Shared ownership of the loop's scheduler.
  class Ref {
   public:
    Ref() = default;
    explicit Ref(Scheduler* s) noexcept : s_(s) {}
    Ref(const Ref& o) noexcept;
    Ref(Ref&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
    Ref& operator=(Ref o) noexcept {
      std::swap(s_, o.s_);
      return *this;
    }
    ~Ref();
    Scheduler* operator->() const noexcept { return s_; }
    Scheduler& operator*() const noexcept { return *s_; }
    explicit operator bool() const noexcept { return s_ != nullptr; }

   private:
    Scheduler* s_ = nullptr;
  };

  /// The scheduler of `loop`, created when it has none.
  static Ref on(uv_loop_t* loop);

  /// Runs fn on a later turn (the idle phase of the next one), after the
  /// functions queued before it.
  void later(Function<void()> fn);
  /// Runs task on the next turn, before that turn's later() functions.
  void soon(Task& task);
  /// Runs task once, just before the loop next polls for I/O.
  void before_poll(Task& task);

  uv_loop_t* loop() const noexcept { return loop_; }

 private:
  explicit Scheduler(uv_loop_t* loop);
  ~Scheduler() = default;
  static void add(std::vector<Task*>& list, Task& t);
  static void run_list(std::vector<Task*>& list, std::vector<Task*>& running);
  void arm_idle();
  void on_idle();
  void on_prepare();
  void release();
  void maybe_retire();

  uv_loop_t* loop_;
  uv_idle_t idle_{};
  uv_prepare_t prepare_{};
  std::size_t refs_ = 0;
  bool idle_armed_ = false;
  bool prepare_armed_ = false;
  bool retired_ = false;
  int closed_ = 0;  // close callbacks seen after retiring
  bool running_ = false;  // inside on_idle/on_prepare: retire afterwards, not during
  std::vector<Task*> soon_;
  std::vector<Task*> flush_;
  std::vector<Task*> running_tasks_;  // the batch being run (keeps its capacity)
  std::vector<Function<void()>> later_;
  std::vector<Function<void()>> running_later_;
};

/// Runs fn on a later turn of `loop` (Scheduler::on(loop)->later(fn)).
void run_later(uv_loop_t* loop, Function<void()> fn);

}  // namespace uvredis::detail
