// The loop's one scheduler (src/link/scheduler.hpp): order, once-per-turn,
// cancellation, and that it leaves the loop closable. No server needed.

#include "../src/link/scheduler.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

using uvredis::detail::run_later;
using uvredis::detail::Scheduler;

namespace {

// A loop that counts its turns (a check handle runs once per turn, after
// I/O) and must close cleanly at the end of each test.
struct Loop {
  uv_loop_t loop{};
  uv_check_t check{};
  int turns = 0;
  Loop() {
    uv_loop_init(&loop);
    uv_check_init(&loop, &check);
    check.data = this;
    uv_check_start(&check, [](uv_check_t* c) { ++static_cast<Loop*>(c->data)->turns; });
    uv_unref(reinterpret_cast<uv_handle_t*>(&check));  // counting must not keep the loop alive
  }
  void run() { uv_run(&loop, UV_RUN_DEFAULT); }
  int close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop);
  }
};

// A task whose owner records when it ran.
struct Owner {
  std::vector<std::string>* log;
  std::string name;
  int runs = 0;
  Scheduler::Task task{[](void* p) {
                         auto* o = static_cast<Owner*>(p);
                         ++o->runs;
                         o->log->push_back(o->name);
                       },
                       this};
};

}  // namespace

TEST(Scheduler, LaterRunsInOrderOnALaterTurnNeverInsideTheCall) {
  Loop l;
  std::vector<int> order;
  {
    auto s = Scheduler::on(&l.loop);
    for (int i = 0; i < 3; ++i) s->later([&order, i] { order.push_back(i); });
    EXPECT_TRUE(order.empty());  // nothing ran inside later()
  }
  l.run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(l.close(), 0);  // the scheduler let go of its handles once drained and unowned
}

TEST(Scheduler, FunctionsQueuedByFunctionsWaitForTheNextTurn) {
  Loop l;
  int first_turn = -1, second_turn = -1;
  run_later(&l.loop, [&] {
    first_turn = l.turns;
    run_later(&l.loop, [&] { second_turn = l.turns; });
  });
  l.run();
  ASSERT_GE(first_turn, 0);
  EXPECT_GT(second_turn, first_turn);
  EXPECT_EQ(l.close(), 0);
}

TEST(Scheduler, SoonTasksRunBeforeTheTurnsLaterFunctions) {
  Loop l;
  std::vector<std::string> log;
  auto s = Scheduler::on(&l.loop);
  Owner a{&log, "task"};
  s->later([&] { log.push_back("fn"); });
  s->soon(a.task);
  uv_run(&l.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(log, (std::vector<std::string>{"task", "fn"}));
  s = Scheduler::Ref();
  EXPECT_EQ(l.close(), 0);
}

TEST(Scheduler, ATaskAskedManyTimesInATurnRunsOnce) {
  Loop l;
  std::vector<std::string> log;
  auto s = Scheduler::on(&l.loop);
  Owner flush{&log, "flush"};
  Owner deferred{&log, "deferred"};
  for (int i = 0; i < 5; ++i) {
    s->before_poll(flush.task);
    s->soon(deferred.task);
  }
  EXPECT_TRUE(flush.task.scheduled());
  uv_run(&l.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(flush.runs, 1);
  EXPECT_EQ(deferred.runs, 1);
  EXPECT_FALSE(flush.task.scheduled());
  // Asked again: runs again, once.
  s->before_poll(flush.task);
  uv_run(&l.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(flush.runs, 2);
  s = Scheduler::Ref();
  EXPECT_EQ(l.close(), 0);
}

TEST(Scheduler, CancelledAndDestroyedTasksDoNotRun) {
  Loop l;
  std::vector<std::string> log;
  auto s = Scheduler::on(&l.loop);
  std::unique_ptr<Owner> b(new Owner{&log, "b"});
  Owner c{&log, "c"};
  Owner d{&log, "d"};
  // The first task destroys b's owner, and c is cancelled before the turn:
  // both were queued behind it and must be skipped (ASan would see a run of b).
  Owner first{&log, "killer"};
  std::pair<Owner*, std::unique_ptr<Owner>*> ctx{&first, &b};
  Scheduler::Task killer(
      [](void* p) {
        auto* pr = static_cast<std::pair<Owner*, std::unique_ptr<Owner>*>*>(p);
        pr->first->log->push_back("killer");
        pr->second->reset();
      },
      &ctx);
  s->before_poll(killer);
  s->before_poll(b->task);
  s->before_poll(c.task);
  s->before_poll(d.task);
  c.task.cancel();
  EXPECT_FALSE(c.task.scheduled());
  uv_run(&l.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(log, (std::vector<std::string>{"killer", "d"}));
  EXPECT_EQ(b, nullptr);
  s = Scheduler::Ref();
  EXPECT_EQ(l.close(), 0);
}

TEST(Scheduler, ATaskThatAsksAgainWhileRunningRunsOnTheNextTurn) {
  Loop l;
  struct Again {
    Scheduler* s;
    Loop* l;
    std::vector<int> turns;
    Scheduler::Task task{[](void* p) {
                           auto* self = static_cast<Again*>(p);
                           self->turns.push_back(self->l->turns);
                           if (self->turns.size() < 3) self->s->soon(self->task);
                         },
                         this};
  };
  auto s = Scheduler::on(&l.loop);
  Again again{&*s, &l, {}};
  s->soon(again.task);
  l.run();  // ends: the task stops asking, then nothing keeps the loop alive
  ASSERT_EQ(again.turns.size(), 3u);
  EXPECT_LT(again.turns[0], again.turns[1]);
  EXPECT_LT(again.turns[1], again.turns[2]);
  s = Scheduler::Ref();
  EXPECT_EQ(l.close(), 0);
}

TEST(Scheduler, OnePerLoopWhileOwnedAndAFreshOneAfterwards) {
  Loop l1, l2;
  {
    auto a = Scheduler::on(&l1.loop);
    auto b = Scheduler::on(&l1.loop);
    auto c = Scheduler::on(&l2.loop);
    EXPECT_EQ(&*a, &*b);
    EXPECT_NE(&*a, &*c);
    Scheduler::Ref copy = a;
    EXPECT_EQ(&*copy, &*a);
    EXPECT_EQ(copy->loop(), &l1.loop);
  }
  l1.run();
  EXPECT_EQ(l1.close(), 0);
  // The loop is gone; another one (maybe at the same address) starts afresh.
  Loop l3;
  int ran = 0;
  run_later(&l3.loop, [&] { ++ran; });
  l3.run();
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(l3.close(), 0);
  EXPECT_EQ(l2.close(), 0);
}

TEST(Scheduler, LoopsOnOtherThreadsHaveTheirOwn) {
  // Each thread runs its own loop; Scheduler::on is the only shared part.
  std::vector<std::thread> threads;
  std::vector<int> ran(4, 0), closed(4, -1);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Loop l;
      for (int i = 0; i < 100; ++i) run_later(&l.loop, [&, t] { ++ran[t]; });
      l.run();
      closed[t] = l.close();
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(ran[t], 100);
    EXPECT_EQ(closed[t], 0);
  }
}
