// ClusterClient::scan_all: Executor::scan_all's SCAN chain, once per master.
// SCAN is per node, so each walk talks to one node through a small Executor
// whose commands all go to that node (command_to: no routing, no redirects).

#include <uvredis/cluster.hpp>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace uvredis {

namespace {

class NodeExecutor final : public Executor {
 public:
  NodeExecutor(ClusterClient& cc, std::string node) : cc_(cc), node_(std::move(node)) {}
  void command(std::span<const std::string_view> argv, Callback<Reply> cb, CommandOptions opts) override {
    cc_.command_to(node_, argv, std::move(cb), opts);
  }
  void command_group(const std::vector<std::vector<std::string>>&,
                     Once<void(std::vector<Result<Reply>>)> done, CommandOptions) override {
    post([done = std::move(done)]() mutable {
      std::vector<Result<Reply>> v;
      v.emplace_back(Error{ErrorKind::usage, "command_group on a node walker"});
      if (done) done(std::move(v));
    });
  }
  void post(Once<void()> fn) override { cc_.post(std::move(fn)); }
  uv_loop_s* loop() const noexcept override { return cc_.loop(); }

 private:
  ClusterClient& cc_;
  std::string node_;
};

struct ClusterWalk {
  ClusterClient* cc = nullptr;
  ScanOptions opts;
  Listener<bool(std::vector<std::string>)> on_batch;
  Callback<void> done;
  std::vector<std::string> nodes;
  std::size_t next = 0;
  bool stopped = false;
  // Every walker stays until the end: a walk's last callback runs inside it.
  std::vector<std::unique_ptr<NodeExecutor>> walkers;
};

void finish(const std::shared_ptr<ClusterWalk>& w, Result<void> r) {
  auto done = std::move(w->done);
  w->on_batch = nullptr;
  if (done) done(std::move(r));
}

void walk_next(const std::shared_ptr<ClusterWalk>& w) {
  if (w->stopped || w->next == w->nodes.size()) return finish(w, {});
  w->walkers.push_back(std::make_unique<NodeExecutor>(*w->cc, w->nodes[w->next++]));
  w->walkers.back()->Executor::scan_all(
      w->opts,
      [w](std::vector<std::string> batch) {
        const bool go = !w->on_batch || detail::call_user(w->on_batch, std::move(batch));
        if (!go) w->stopped = true;
        return go;
      },
      [w](Result<void> r) {
        if (!r) return finish(w, std::move(r));
        walk_next(w);
      });
}

}  // namespace

void ClusterClient::scan_all(const ScanOptions& opts, Listener<bool(std::vector<std::string>)> on_batch,
                             Callback<void> done) {
  auto w = std::make_shared<ClusterWalk>();
  w->cc = this;
  w->opts = opts;
  w->on_batch = std::move(on_batch);
  w->done = std::move(done);
  // A keyless command waits for the slot map (or fails as commands do
  // without one); then the masters it names are the nodes to walk.
  std::array<std::string_view, 1> ping{"PING"};
  command(ping, [w](Result<Reply> r) {
    if (!r) return finish(w, std::move(r).error());
    w->nodes = w->cc->masters();
    walk_next(w);
  });
}

}  // namespace uvredis
