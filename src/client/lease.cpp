#include <uvredis/lease.hpp>

#include <uvredis/client.hpp>

#include "protocol/command_info.hpp"
#include "client/lease_pool.hpp"
#include "client/watch_round.hpp"

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
  cfg.options.health_check_interval = std::chrono::milliseconds(0);
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

void LeasePool::shut(bool destroy, const std::function<Once<void()>()>& each_done) {
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
  conn_->submit(argv, std::move(cb), detail::effective_timeout(cls, opts.timeout, pool_->config.options.command_timeout));
}

void Lease::command_group(const std::vector<std::vector<std::string>>& cmds,
                          Once<void(std::vector<Result<Reply>>)> done, CommandOptions opts) {
  conn_->submit_group(cmds, std::move(done), opts.timeout);
}

void Lease::post(Once<void()> fn) { conn_->post(std::move(fn)); }

uv_loop_s* Lease::loop() const noexcept { return pool_->loop; }

// ------------------------------------------------------- watch_transaction

namespace detail {

namespace {

struct WatchRound {
  LeaseSource source;
  int max_restarts = 0;
  int restarts = 0;
  std::unique_ptr<Lease> lease;
  std::vector<std::string> keys;
  int attempts_left = 1;
  WatchBody body;
  Function<void(Result<Transaction::Outcome>)> done;
  std::unique_ptr<Transaction> tx;
};

void finish_round(const std::shared_ptr<WatchRound>& st, Result<Transaction::Outcome> r) {
  auto done = std::move(st->done);
  st->tx.reset();
  st->lease.reset();  // returns the connection (UNWATCH first)
  if (done) done(std::move(r));
}

// A cluster answer that means "not here, not now": take a lease elsewhere.
bool slot_elsewhere(const Error& e) {
  if (e.kind != ErrorKind::server) return false;
  const std::string_view code = e.code();
  return code == "MOVED" || code == "ASK" || code == "TRYAGAIN" || code == "CLUSTERDOWN";
}

void run_round(const std::shared_ptr<WatchRound>& st, const Error* after = nullptr) {
  if (!st->lease) {
    st->source(after, st->restarts, [st](Result<std::unique_ptr<Lease>> l) {
      if (!l) return finish_round(st, std::move(l).error());
      st->lease = std::move(*l);
      run_round(st);
    });
    return;
  }
  --st->attempts_left;
  std::vector<std::string_view> argv{"WATCH"};
  for (const auto& k : st->keys) argv.push_back(k);
  st->lease->command(argv, [st](Result<Reply> w) {
    if (!w) {
      if (slot_elsewhere(w.error()) && st->restarts < st->max_restarts) {
        // Not a lost race: this round does not count as an attempt.
        ++st->attempts_left;
        ++st->restarts;
        st->lease.reset();
        const Error e = w.error();
        return run_round(st, &e);
      }
      return finish_round(st, std::move(w).error());
    }
    st->tx = std::make_unique<Transaction>(*st->lease);
    call_user(st->body, *st->lease, *st->tx, [st](bool go) {
      if (!go) return finish_round(st, Transaction::Outcome::aborted);
      st->tx->exec([st](Result<Transaction::Outcome> o) {
        if (o && *o == Transaction::Outcome::aborted && st->attempts_left > 0) return run_round(st);
        finish_round(st, std::move(o));
      });
    });
  });
}

}  // namespace

void run_watch(LeaseSource source, int max_restarts, std::vector<std::string> keys, int max_attempts, WatchBody body,
               Function<void(Result<Transaction::Outcome>)> done, std::optional<Error> invalid, uv_loop_t* loop) {
  auto st = std::make_shared<WatchRound>();
  st->source = std::move(source);
  st->max_restarts = max_restarts;
  st->keys = std::move(keys);
  st->attempts_left = std::max(max_attempts, 1);
  st->body = std::move(body);
  st->done = std::move(done);
  if (!invalid && st->keys.empty()) invalid = Error{ErrorKind::usage, "watch_transaction needs at least one key"};
  if (invalid) {
    run_later(loop, [st, err = std::move(*invalid)]() mutable { finish_round(st, std::move(err)); });
    return;
  }
  run_round(st);
}

}  // namespace detail

void watch_transaction(Client& client, std::vector<std::string> keys, int max_attempts,
                       std::function<void(Lease& lease, Transaction& tx, Once<void(bool)> go)> body,
                       Once<void(Result<Transaction::Outcome>)> done) {
  detail::LeaseSource source = [&client](const Error*, int, detail::LeaseCallback cb) { cb(client.lease()); };
  detail::run_watch(std::move(source), 0, std::move(keys), max_attempts, std::move(body), std::move(done),
                    std::nullopt, client.loop());
}

}  // namespace uvredis
