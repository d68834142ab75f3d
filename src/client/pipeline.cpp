#include <uvredis/pipeline.hpp>

namespace uvredis {

void Pipeline::exec(Once<void(ExecSummary)> done) {
  if (sealed_) {
    if (done)
      ex_->post([done = std::move(done)]() mutable { done(ExecSummary{}); });
    return;
  }
  sealed_ = true;
  struct Count {
    ExecSummary summary;
    std::size_t left;
    Once<void(ExecSummary)> done;
  };
  auto c = std::make_shared<Count>();
  c->summary.commands = items_.size();
  c->left = items_.size();
  c->done = std::move(done);
  if (items_.empty()) {
    ex_->post([c] {
      if (c->done) c->done(c->summary);
    });
    return;
  }
  auto items = std::move(items_);
  items_.clear();
  for (Item& it : items) {
    auto finish = [c, f = std::move(it.finish)](Result<Reply> r) mutable {
      if (!r) ++c->summary.failed;
      f(std::move(r));
      if (--c->left == 0 && c->done) {
        auto d = std::move(c->done);
        d(c->summary);
      }
    };
    if (it.usage) {
      ex_->fail_later(std::move(finish), std::move(*it.usage));
    } else {
      std::vector<std::string_view> argv(it.argv.begin(), it.argv.end());
      ex_->command(argv, std::move(finish));
    }
  }
}

void Transaction::exec(Once<void(Result<Outcome>)> done) {
  auto items = std::move(items_);
  items_.clear();
  const bool again = sealed_;
  sealed_ = true;
  auto finish_all = [](std::vector<Item>& items, const Error& err) {
    for (Item& it : items) it.finish(Result<Reply>(it.usage ? *it.usage : err));
  };
  if (again || items.empty()) {
    ex_->post([done = std::move(done), again]() mutable {
      if (!done) return;
      if (again)
        done(Error{ErrorKind::usage, "exec() was already called on this transaction"});
      else
        done(Outcome::committed);
    });
    return;
  }
  for (const Item& it : items) {
    if (!it.usage) continue;
    // Nothing is sent when the library already knows a command is wrong.
    Error why = *it.usage;
    ex_->post([items = std::move(items), why, done = std::move(done), finish_all]() mutable {
      finish_all(items, Error{ErrorKind::usage, "transaction not sent: " + why.message});
      if (done) done(why);
    });
    return;
  }
  std::vector<std::vector<std::string>> cmds;
  cmds.reserve(items.size() + 2);
  cmds.push_back({"MULTI"});
  for (Item& it : items) cmds.push_back(std::move(it.argv));
  cmds.push_back({"EXEC"});
  ex_->command_group(cmds, [items = std::move(items), done = std::move(done),
                            finish_all](std::vector<Result<Reply>> rs) mutable {
    const std::size_t n = items.size();
    Result<Reply>& exec = rs.back();
    auto report = [&](Result<Outcome> o) {
      if (done) done(std::move(o));
    };
    if (!rs.front() && rs.front().error().kind != ErrorKind::server) {
      // Transport trouble: nothing is known to have run.
      Error err = rs.front().error();
      finish_all(items, err);
      report(err);
      return;
    }
    if (exec && exec->is_array() && exec->size() == n) {
      for (std::size_t i = 0; i < n; ++i) {
        Reply& e = exec->elements()[i];
        if (e.is_error())
          items[i].finish(Error{ErrorKind::server, e.take_str()});
        else
          items[i].finish(std::move(e));
      }
      report(Outcome::committed);
      return;
    }
    if (exec && exec->is_nil()) {
      finish_all(items, Error{ErrorKind::server, "EXECABORT transaction aborted: a watched key changed"});
      report(Outcome::aborted);
      return;
    }
    if (!exec && exec.error().kind == ErrorKind::server) {
      // EXECABORT: each command gets its own queueing error if it had one.
      const Error& abort = exec.error();
      for (std::size_t i = 0; i < n; ++i) {
        Result<Reply>& q = rs[i + 1];
        items[i].finish(q ? Result<Reply>(abort) : Result<Reply>(q.error()));
      }
      report(Outcome::rejected);
      return;
    }
    Error err = exec ? decode::unexpected(*exec, "EXEC array") : exec.error();
    finish_all(items, err);
    report(err);
  });
}

}  // namespace uvredis
