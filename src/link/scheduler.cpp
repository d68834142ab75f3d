#include "link/scheduler.hpp"

#include <mutex>
#include <unordered_map>
#include <utility>

namespace uvredis::detail {

namespace {

// Loops to their schedulers. Each loop's entry is created and removed on
// that loop's thread; the lock is for the map, which all loops share.
std::mutex& map_mutex() {
  static std::mutex m;
  return m;
}
std::unordered_map<uv_loop_t*, Scheduler*>& schedulers() {
  static auto* m = new std::unordered_map<uv_loop_t*, Scheduler*>();  // never destroyed: no exit-order issue
  return *m;
}

}  // namespace

// ------------------------------------------------------------------- tasks

void Scheduler::Task::cancel() noexcept {
  if (!list_) return;
  (*list_)[index_] = nullptr;  // a hole: the list is run in order, holes skipped
  list_ = nullptr;
}

void Scheduler::add(std::vector<Task*>& list, Task& t) {
  if (t.list_) return;  // already waiting for its turn
  t.list_ = &list;
  t.index_ = list.size();
  list.push_back(&t);
}

// Runs the tasks of `list` queued so far; a task scheduled again while they
// run goes into `list` anew, for the next run.
void Scheduler::run_list(std::vector<Task*>& list, std::vector<Task*>& running) {
  running.swap(list);
  for (Task* t : running)
    if (t) t->list_ = &running;
  for (std::size_t i = 0; i < running.size(); ++i) {
    Task* t = running[i];
    if (!t) continue;
    t->list_ = nullptr;
    t->fn_(t->ctx_);  // may cancel later tasks of this batch, or destroy their owners
  }
  running.clear();
}

// --------------------------------------------------------------- lifetime

Scheduler::Ref::Ref(const Ref& o) noexcept : s_(o.s_) {
  if (s_) ++s_->refs_;
}

Scheduler::Ref::~Ref() {
  if (s_) s_->release();
}

Scheduler::Ref Scheduler::on(uv_loop_t* loop) {
  std::lock_guard<std::mutex> lock(map_mutex());
  Scheduler*& s = schedulers()[loop];
  if (!s) s = new Scheduler(loop);
  ++s->refs_;
  return Ref(s);
}

Scheduler::Scheduler(uv_loop_t* loop) : loop_(loop) {
  uv_idle_init(loop, &idle_);
  uv_prepare_init(loop, &prepare_);
  idle_.data = this;
  prepare_.data = this;
}

void Scheduler::release() {
  --refs_;
  maybe_retire();
}

// With no owner left and nothing queued, the handles close (so the loop can
// be closed) and the memory goes with the second close callback. A later
// Scheduler::on for this loop makes a new one.
void Scheduler::maybe_retire() {
  if (refs_ != 0 || running_ || retired_ || !later_.empty() || !soon_.empty() || !flush_.empty()) return;
  retired_ = true;
  {
    std::lock_guard<std::mutex> lock(map_mutex());
    auto it = schedulers().find(loop_);
    if (it != schedulers().end() && it->second == this) schedulers().erase(it);
  }
  auto closed = [](uv_handle_t* h) {
    auto* s = static_cast<Scheduler*>(h->data);
    // Both handles live in the object: it goes with the second close
    // callback (libuv does not promise their order).
    if (++s->closed_ == 2) delete s;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), closed);
}

// ---------------------------------------------------------------- running

void Scheduler::later(Function<void()> fn) {
  later_.push_back(std::move(fn));
  arm_idle();
}

void Scheduler::soon(Task& task) {
  add(soon_, task);
  arm_idle();
}

void Scheduler::before_poll(Task& task) {
  add(flush_, task);
  if (prepare_armed_) return;
  prepare_armed_ = true;
  uv_prepare_start(&prepare_, [](uv_prepare_t* h) { static_cast<Scheduler*>(h->data)->on_prepare(); });
}

void Scheduler::arm_idle() {
  if (idle_armed_) return;
  idle_armed_ = true;
  // An active idle handle also keeps the next poll from blocking: the work
  // runs on the next turn even when no I/O comes.
  uv_idle_start(&idle_, [](uv_idle_t* h) { static_cast<Scheduler*>(h->data)->on_idle(); });
}

void Scheduler::on_idle() {
  running_ = true;
  run_list(soon_, running_tasks_);
  // The functions queued so far, including those the tasks just queued;
  // functions they queue in turn wait for the next turn.
  running_later_.swap(later_);
  for (auto& fn : running_later_) fn();
  running_later_.clear();
  running_ = false;
  if (soon_.empty() && later_.empty()) {
    idle_armed_ = false;
    uv_idle_stop(&idle_);
  }
  maybe_retire();
}

void Scheduler::on_prepare() {
  running_ = true;
  run_list(flush_, running_tasks_);
  running_ = false;
  if (flush_.empty()) {
    prepare_armed_ = false;
    uv_prepare_stop(&prepare_);
  }
  maybe_retire();
}

void run_later(uv_loop_t* loop, Function<void()> fn) { Scheduler::on(loop)->later(std::move(fn)); }

}  // namespace uvredis::detail
