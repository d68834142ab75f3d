// Executor::scan_all: a keyspace walk as a chain of SCAN commands, one per
// reply, so the loop never runs more than one step's work at a time.
#include <uvredis/executor.hpp>

#include <memory>

namespace uvredis {

namespace {

struct ScanWalk {
  Executor* ex;
  ScanOptions opts;
  Listener<bool(std::vector<std::string>)> on_batch;
  Callback<void> done;
};

void finish(const std::shared_ptr<ScanWalk>& w, Result<void> r) {
  auto done = std::move(w->done);
  w->on_batch = nullptr;  // release what the user's callable holds before telling them
  if (done) done(std::move(r));
}

void step(const std::shared_ptr<ScanWalk>& w, std::uint64_t cursor) {
  w->ex->scan(cursor, w->opts, [w](Result<ScanPage<std::string>> page) {
    if (!page) return finish(w, std::move(page).error());
    bool go = true;
    if (!page->items.empty() && w->on_batch) go = detail::call_user(w->on_batch, std::move(page->items));
    if (!go || page->done()) return finish(w, {});
    step(w, page->cursor);
  });
}

}  // namespace

void Executor::scan_all(const ScanOptions& opts, Listener<bool(std::vector<std::string>)> on_batch,
                        Callback<void> done) {
  auto w = std::make_shared<ScanWalk>();
  w->ex = this;
  w->opts = opts;
  w->on_batch = std::move(on_batch);
  w->done = std::move(done);
  step(w, 0);
}

}  // namespace uvredis
