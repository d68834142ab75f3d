#include <uvredis/lease.hpp>

#include <uvredis/client.hpp>

#include "command_info.hpp"
#include "lease_pool.hpp"

namespace uvredis {
namespace detail {

Connection* LeasePool::take() {
  if (!idle.empty()) {
    Connection* c = idle.back();
    idle.pop_back();
    return c;
  }
  ConnectionConfig cfg = config;
  cfg.name = "lease-" + std::to_string(++created);
  cfg.health_check_interval = std::chrono::milliseconds(0);
  auto* c = new Connection(loop, std::move(cfg));
  c->start();
  return c;
}

void LeasePool::give_back(Connection* c) {
  if (closed || c->state() == ConnectionState::failed) {
    c->destroy();
    return;
  }
  // The next borrower starts clean: no open MULTI, no watched keys. (Errors
  // such as "DISCARD without MULTI" are expected and ignored.)
  std::string_view discard[] = {"DISCARD"};
  std::string_view unwatch[] = {"UNWATCH"};
  c->submit(discard, [](Result<Reply>) {});
  c->submit(unwatch, [](Result<Reply>) {});
  idle.push_back(c);
}

void LeasePool::shut(bool destroy, const std::function<detail::Function<void()>()>& each_done) {
  closed = true;
  auto conns = std::move(idle);
  idle.clear();
  if (destroy) {
    for (Connection* c : closing) c->destroy();
    closing.clear();
  }
  for (Connection* c : conns) {
    if (destroy) {
      c->destroy();
    } else {
      c->close(each_done());
      closing.push_back(c);
    }
  }
}

}  // namespace detail

Lease::Lease(std::shared_ptr<detail::LeasePool> pool, detail::Connection* conn)
    : pool_(std::move(pool)), conn_(conn) {}

Lease::~Lease() { pool_->give_back(conn_); }

void Lease::command(std::span<const std::string_view> argv, Callback<Reply> cb, CommandOptions opts) {
  detail::CommandClass cls = detail::classify_command(argv);
  if (cls.route == detail::CommandRoute::refused && !detail::is_transaction_command(argv[0])) {
    conn_->fail_later(std::move(cb), Error{ErrorKind::usage, std::string(cls.reason)});
    return;
  }
  conn_->submit(argv, std::move(cb), detail::effective_timeout(cls, opts.timeout, pool_->config.command_timeout));
}

void Lease::command_group(const std::vector<std::vector<std::string>>& cmds,
                          detail::Function<void(std::vector<Result<Reply>>)> done, CommandOptions opts) {
  conn_->submit_group(cmds, std::move(done), opts.timeout);
}

void Lease::post(detail::Function<void()> fn) { conn_->post(std::move(fn)); }

uv_loop_s* Lease::loop() const noexcept { return pool_->loop; }

// ------------------------------------------------------- watch_transaction

namespace {

struct WatchRound {
  std::unique_ptr<Lease> lease;
  std::vector<std::string> keys;
  int attempts_left;
  std::function<void(Lease&, Transaction&, detail::Function<void(bool)>)> body;
  detail::Function<void(Result<Transaction::Outcome>)> done;
  std::unique_ptr<Transaction> tx;
};

void finish_round(const std::shared_ptr<WatchRound>& st, Result<Transaction::Outcome> r) {
  auto done = std::move(st->done);
  st->tx.reset();
  st->lease.reset();  // returns the connection (UNWATCH first)
  if (done) done(std::move(r));
}

void run_round(const std::shared_ptr<WatchRound>& st) {
  --st->attempts_left;
  std::vector<std::string_view> argv{"WATCH"};
  for (const auto& k : st->keys) argv.push_back(k);
  st->lease->command(argv, [st](Result<Reply> w) {
    if (!w) return finish_round(st, std::move(w).error());
    st->tx = std::make_unique<Transaction>(*st->lease);
    st->body(*st->lease, *st->tx, [st](bool go) {
      if (!go) return finish_round(st, Transaction::Outcome::aborted);
      st->tx->exec([st](Result<Transaction::Outcome> o) {
        if (o && *o == Transaction::Outcome::aborted && st->attempts_left > 0) return run_round(st);
        finish_round(st, std::move(o));
      });
    });
  });
}

}  // namespace

void watch_transaction(Client& client, std::vector<std::string> keys, int max_attempts,
                       std::function<void(Lease& lease, Transaction& tx, detail::Function<void(bool)> go)> body,
                       detail::Function<void(Result<Transaction::Outcome>)> done) {
  auto st = std::make_shared<WatchRound>();
  st->lease = client.lease();
  st->keys = std::move(keys);
  st->attempts_left = std::max(max_attempts, 1);
  st->body = std::move(body);
  st->done = std::move(done);
  if (st->keys.empty()) {
    auto* lease = st->lease.get();
    lease->post([st] { finish_round(st, Error{ErrorKind::usage, "watch_transaction needs at least one key"}); });
    return;
  }
  run_round(st);
}

}  // namespace uvredis
