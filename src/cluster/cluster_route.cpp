#include "cluster/cluster_impl.hpp"

#include "protocol/cluster_reads.hpp"
#include "protocol/command_info.hpp"
#include "link/connection.hpp"
#include "protocol/encode.hpp"
#include "base/logging.hpp"
#include "client/watch_round.hpp"

#include <uvredis/decode.hpp>

#include <uv.h>

#include <algorithm>
#include <array>

// ClusterClient, part 2: where a command goes, what happens to its reply
// (redirections, retries), multi-key commands over several slots, groups.

namespace uvredis::detail {

namespace {

bool never_sent(const Error& e, bool closing) {
  // connect: the attempt the command waited for failed. closed while we are
  // open: a retired node client gave back what it had not sent.
  return e.kind == ErrorKind::connect || (e.kind == ErrorKind::closed && !closing);
}

bool retryable_code(std::string_view code) { return code == "TRYAGAIN" || code == "CLUSTERDOWN"; }

}  // namespace

Error cross_slot_error(std::string_view what, int a, int b) {
  return Error{ErrorKind::usage, std::string(what) + " has keys in different hash slots (" + std::to_string(a) +
                                     " and " + std::to_string(b) +
                                     ") and cannot run on a cluster as one command; put the keys in one slot "
                                     "with a hash tag, e.g. {user1000}.a and {user1000}.b"};
}

// ------------------------------------------------------------- entry points

void ClusterImpl::command(std::span<const std::string_view> argv, Callback<Reply> cb, const CommandOptions& opts) {
  auto op = std::make_shared<Op>();
  op->cb = std::move(cb);
  op->timeout = opts.timeout;
  if (invalid_) return fail_soon(std::move(op), *invalid_);
  if (closing_) return fail_soon(std::move(op), Error{ErrorKind::closed, "cluster client is closed"});
  CommandClass cls = classify_command(argv);
  if (cls.route == CommandRoute::refused) return fail_soon(std::move(op), Error{ErrorKind::usage, std::string(cls.reason)});
  if (iequals(argv[0], "WAIT") || iequals(argv[0], "WAITAOF"))
    return fail_soon(std::move(op),
                     Error{ErrorKind::usage, std::string(argv[0]) +
                                                 " counts the writes of the connection it is sent on: send it in a "
                                                 "command_group after those writes (same slot), e.g. {SET k v}, {WAIT 1 100}"});

  const KeyRange keys = command_keys(argv);
  int slot = -1;
  int other = -1;
  keys.for_each([&](std::size_t i) {
    const int s = key_slot(argv[i]);
    if (slot < 0)
      slot = s;
    else if (s != slot && other < 0)
      other = s;
  });
  // Blocking commands stay on masters (replica_readable knows no blocking
  // read but XREAD, and checks BLOCK itself).
  const bool read = replica_reads_ && cls.route == CommandRoute::normal && replica_readable(argv);
  if (other >= 0) {
    const SplitKind kind = split_kind(argv[0]);
    const bool malformed_mset = kind == SplitKind::mset && (argv.size() - 1) % 2 != 0;
    if (kind != SplitKind::none && !malformed_mset) {
      split(argv, kind, keys, std::move(op->cb), opts, read);
      return;
    }
    if (!malformed_mset) return fail_soon(std::move(op), cross_slot_error(argv[0], slot, other));
  }
  op->argv.assign(argv.begin(), argv.end());
  op->slot = slot;
  op->replica_ok = read && slot >= 0;
  if (opts_.client.read_retry.attempts > 0 && cls.route == CommandRoute::normal && !cls.block_time &&
      replica_readable(argv)) {
    op->read_left = opts_.client.read_retry.attempts;
    op->read_delay = opts_.client.read_retry.backoff;
  }
  if (slot < 0) op->fan = fan_out_kind(argv);
  dispatch(std::move(op));
}

void ClusterImpl::command_to(std::string_view node_name, std::span<const std::string_view> argv, Callback<Reply> cb,
                             const CommandOptions& opts) {
  auto op = std::make_shared<Op>();
  op->cb = std::move(cb);
  if (invalid_) return fail_soon(std::move(op), *invalid_);
  if (closing_) return fail_soon(std::move(op), Error{ErrorKind::closed, "cluster client is closed"});
  auto it = nodes_.find(std::string(node_name));
  if (it == nodes_.end())
    return fail_soon(std::move(op), Error{ErrorKind::usage, "no known cluster node '" + std::string(node_name) + "'"});
  Client* via = it->second->client;
  via->command(
      argv,
      [life = life_, via, cb = std::move(op->cb)](Result<Reply> r) mutable {
        if (!r && r.error().kind == ErrorKind::timeout && life->impl) life->impl->node_timed_out(via);
        cb(std::move(r));
      },
      opts);
}

void ClusterImpl::command_group(const std::vector<std::vector<std::string>>& cmds,
                                Function<void(std::vector<Result<Reply>>)> done, const CommandOptions& opts) {
  auto op = std::make_shared<Op>();
  op->group = true;
  op->done = std::move(done);
  op->timeout = opts.timeout;
  op->cmds = cmds;
  if (invalid_) return fail_soon(std::move(op), *invalid_);
  if (closing_) return fail_soon(std::move(op), Error{ErrorKind::closed, "cluster client is closed"});
  if (cmds.empty()) return fail_soon(std::move(op), Error{ErrorKind::usage, "empty command group"});
  int slot = -1;
  std::vector<std::string_view> argv;
  for (const auto& cmd : cmds) {
    argv.assign(cmd.begin(), cmd.end());
    int other = -1;
    command_keys(argv).for_each([&](std::size_t i) {
      const int s = key_slot(argv[i]);
      if (slot < 0)
        slot = s;
      else if (s != slot && other < 0)
        other = s;
    });
    if (other >= 0) {
      std::string what = "this transaction";
      if (!cmds.front().empty() && !iequals(cmds.front().front(), "MULTI")) what = "this command group";
      return fail_soon(std::move(op), cross_slot_error(what, slot, other));
    }
  }
  op->slot = slot;
  dispatch(std::move(op));
}

void ClusterImpl::lease(int slot, const Error* after, int retries,
                        Function<void(Result<std::unique_ptr<Lease>>)> cb) {
  auto op = std::make_shared<Op>();
  op->lease_cb = std::move(cb);
  op->slot = slot;
  if (invalid_) return fail_soon(std::move(op), *invalid_);
  if (closing_) return fail_soon(std::move(op), Error{ErrorKind::closed, "cluster client is closed"});
  op->retries = retries;
  if (after) {
    if (auto rd = parse_redirect(after->message); rd && !rd->ask) {
      ++counters_.moved;
      if (!slots_.empty()) slots_[static_cast<std::size_t>(rd->slot)] = node(rd->host, rd->port);
      request_refresh();
    } else {
      // ASK (the slot is being moved), TRYAGAIN, CLUSTERDOWN: ask again
      // after a backoff, by when the move is over (then MOVED says where).
      if (rd) ++counters_.ask;
      request_refresh();
      return retry_later(op, *after);
    }
  }
  // Never inside the caller's frame: the lease arrives on a later turn.
  post([life = life_, op]() mutable {
    if (life->impl)
      life->impl->dispatch(std::move(op));
    else
      finish(op, Error{ErrorKind::closed, "cluster client destroyed"});
  });
}

std::function<void(const Error*, int, Function<void(Result<std::unique_ptr<Lease>>)>)> ClusterImpl::lease_source(
    int slot) {
  return [life = life_, slot, loop = loop_](const Error* after, int restarts,
                                            Function<void(Result<std::unique_ptr<Lease>>)> cb) {
    if (life->impl) return life->impl->lease(slot, after, restarts, std::move(cb));
    run_later(loop, [cb = std::move(cb)]() mutable { cb(Error{ErrorKind::closed, "cluster client destroyed"}); });
  };
}

// ---------------------------------------------------------------- routing

void ClusterImpl::dispatch(OpPtr op) {
  if (shut_) return fail_soon(std::move(op), Error{ErrorKind::closed, "cluster client closed before the command was sent"});
  if (!map_ready_) {
    waiting_.push_back(std::move(op));
    request_refresh();
    return;
  }
  op->on_replica = false;
  if (op->fan != FanOut::none) return send_to_all(op);
  Node* n = nullptr;
  if (!op->ask_node.empty())
    n = node(op->ask_node);
  else if (op->slot < 0)
    n = any_master();
  else
    n = slots_[static_cast<std::size_t>(op->slot)];
  if (n && op->lease_cb) {
    auto cb = std::move(op->lease_cb);
    cb(n->client->lease());
    return;
  }
  if (n && op->replica_ok && op->ask_node.empty()) {
    if (Node* r = pick_replica(n)) {
      n = r;
      op->on_replica = true;
      ++counters_.replica_reads;
    }
  }
  if (!n) {
    request_refresh();
    retry_later(op, Error{ErrorKind::server, "CLUSTERDOWN Hash slot " + std::to_string(op->slot) +
                                                 " is not served by any node the client knows"});
    return;
  }
  send(n, op);
}

void ClusterImpl::send(Node* n, const OpPtr& op) {
  CommandOptions co;
  co.timeout = op->timeout;
  if (op->group) {
    n->client->command_group(
        op->cmds,
        [life = life_, op, via = n->client](std::vector<Result<Reply>> rs) {
          if (life->impl)
            life->impl->on_group_reply(op, std::move(rs), via);
          else if (op->done)
            op->done(std::move(rs));
        },
        co);
    return;
  }
  if (!op->ask_node.empty()) {
    // ASKING holds for the next command on that connection only: the two
    // leave together as a group, so nothing can come in between.
    op->ask_node.clear();
    std::vector<std::vector<std::string>> g{{"ASKING"}, op->argv};
    n->client->command_group(
        g,
        [life = life_, op, via = n->client](std::vector<Result<Reply>> rs) {
          Result<Reply> r = std::move(rs.back());
          if (!rs.front() && rs.front().error().kind != ErrorKind::server) r = std::move(rs.front());
          if (life->impl)
            life->impl->on_reply(op, std::move(r), via);
          else
            finish(op, std::move(r));
        },
        co);
    return;
  }
  // Views of the op's own strings; no heap for the usual short commands.
  std::array<std::string_view, 8> small;
  std::vector<std::string_view> large;
  std::span<const std::string_view> argv;
  if (op->argv.size() <= small.size()) {
    std::copy(op->argv.begin(), op->argv.end(), small.begin());
    argv = std::span<const std::string_view>(small.data(), op->argv.size());
  } else {
    large.assign(op->argv.begin(), op->argv.end());
    argv = large;
  }
  n->client->command(
      argv,
      [life = life_, op, via = n->client](Result<Reply> r) {
        if (life->impl)
          life->impl->on_reply(op, std::move(r), via);
        else
          finish(op, std::move(r));
      },
      co);
}

// FLUSHALL, DBSIZE, SCRIPT LOAD ...: one copy per master, one combined
// reply. Not retried: some masters may have run it already.
void ClusterImpl::send_to_all(const OpPtr& op) {
  if (masters_.empty()) {
    request_refresh();
    return retry_later(op, Error{ErrorKind::server, "CLUSTERDOWN no master is known"});
  }
  struct Agg {
    std::size_t left = 0;
    long long sum = 0;
    std::optional<Reply> first;
    std::optional<Error> err;
  };
  auto agg = std::make_shared<Agg>();
  agg->left = masters_.size();
  CommandOptions co;
  co.timeout = op->timeout;
  std::vector<std::string_view> argv(op->argv.begin(), op->argv.end());
  for (Node* n : masters_) {
    n->client->command(
        argv,
        [agg, op, life = life_, via = n->client](Result<Reply> r) {
          if (!r && r.error().kind == ErrorKind::timeout && life->impl) life->impl->node_timed_out(via);
          if (!r) {
            if (!agg->err) agg->err = std::move(r).error();
          } else {
            if (op->fan == FanOut::sum) {
              if (r->is_integer())
                agg->sum += r->integer();
              else if (!agg->err)
                agg->err = decode::unexpected(*r, "integer");
            }
            if (!agg->first) agg->first = std::move(*r);
          }
          if (--agg->left != 0) return;
          if (agg->err) return finish(op, std::move(*agg->err));
          finish(op, op->fan == FanOut::sum ? Reply::integer(agg->sum) : std::move(*agg->first));
        },
        co);
  }
}

// ---------------------------------------------------------------- replies

void ClusterImpl::on_reply(const OpPtr& op, Result<Reply> r, const Client* via) {
  if (r) return finish(op, std::move(r));
  const Error& e = r.error();
  if (e.kind == ErrorKind::timeout) node_timed_out(via);
  if (op->on_replica && replica_fallback(op, e)) return;
  if (e.kind == ErrorKind::server) {
    if (follow_redirect(op, e)) return;
    if (retryable_code(e.code()) && op->retries < opts_.max_retries && !closing_) return retry_later(op, e);
    return finish(op, std::move(r));
  }
  if (never_sent(e, closing_) && op->retries < opts_.max_retries) {
    request_refresh();
    return retry_later(op, e);
  }
  if (e.kind == ErrorKind::connection_lost) request_refresh();
  if (retry_read(op, e)) return;
  finish(op, std::move(r));
}

// A read that a replica could not serve goes to the master, once: resending
// a read is harmless, even when the replica may have run it (link lost,
// timeout). False when `e` is for the usual handling (redirections, errors
// the master would give too, anything after close()).
bool ClusterImpl::replica_fallback(const OpPtr& op, const Error& e) {
  if (closing_) return false;
  bool replica_trouble = false;
  switch (e.kind) {
    case ErrorKind::server: {
      const std::string_view code = e.code();
      // LOADING: a replica loading its data set after a (re)sync.
      // MASTERDOWN: its link to the master is down and it serves no stale
      // data. NOSCRIPT: SCRIPT LOAD reached the masters only.
      // CLUSTERDOWN: it may be the only one that thinks so.
      replica_trouble = code == "LOADING" || code == "MASTERDOWN" || code == "NOSCRIPT" || code == "CLUSTERDOWN";
      break;
    }
    case ErrorKind::connect:
    case ErrorKind::connection_lost:
    case ErrorKind::timeout:
    case ErrorKind::overflow:
    case ErrorKind::protocol:
    case ErrorKind::closed:  // a retired replica gave the command back
      replica_trouble = true;
      break;
    default: break;
  }
  if (!replica_trouble) return false;
  op->replica_ok = false;
  ++counters_.replica_fallbacks;
  log_->debug("cluster: read for slot {} falls back to the master: {}", op->slot, e.to_string());
  if (e.kind != ErrorKind::server) request_refresh();
  dispatch(op);
  return true;
}

// ClientOptions::read_retry: a read whose link dropped before its reply is
// routed again after its backoff (the map may have changed meanwhile).
// False for anything else: writes are never re-sent.
bool ClusterImpl::retry_read(const OpPtr& op, const Error& e) {
  if (e.kind != ErrorKind::connection_lost || op->read_left <= 0 || closing_) return false;
  --op->read_left;
  ++counters_.read_retries;
  const auto delay = static_cast<std::uint64_t>(std::max<long long>(op->read_delay.count(), 0));
  op->read_delay = std::min(op->read_delay * 2, std::max(opts_.client.read_retry.max_backoff,
                                                          opts_.client.read_retry.backoff));
  log_->debug("cluster: read for slot {} resent in {} ms: {}", op->slot, delay, e.to_string());
  schedule_retry(op, delay);
  return true;
}

// MOVED: fix the map entry, resend, refresh soon. ASK: resend once to the
// importing node after ASKING. False when `e` is no redirection or the
// command has been redirected too often (it then fails with `e`).
bool ClusterImpl::follow_redirect(const OpPtr& op, const Error& e) {
  auto rd = parse_redirect(e.message);
  if (!rd || op->redirects >= opts_.max_redirects) return false;
  if (closing_) {
    finish(op, Error{ErrorKind::closed, "cluster client closed before a redirected command was resent"});
    return true;
  }
  ++op->redirects;
  // A redirected read goes to masters from now on: a replica may not know
  // the new owner yet and bounce it back.
  op->replica_ok = false;
  Node* target = node(rd->host, rd->port);
  if (rd->ask) {
    ++counters_.ask;
    op->ask_node = target->name;
  } else {
    ++counters_.moved;
    if (!slots_.empty()) slots_[static_cast<std::size_t>(rd->slot)] = target;
    request_refresh();
    // Bounced again: the nodes may disagree for a moment while a slot
    // changes owner (SETSLOT NODE reaches them one by one). Give them time.
    if (op->redirects > 1) {
      schedule_retry(op, static_cast<std::uint64_t>(std::max<long long>(opts_.retry_min_delay.count(), 1)) *
                             static_cast<std::uint64_t>(op->redirects));
      return true;
    }
  }
  dispatch(op);
  return true;
}

void ClusterImpl::on_group_reply(const OpPtr& op, std::vector<Result<Reply>> rs, const Client* via) {
  // A group times out as a whole: one look is enough.
  if (!rs.empty() && !rs.front() && rs.front().error().kind == ErrorKind::timeout) node_timed_out(via);
  const bool all_unsent = std::all_of(rs.begin(), rs.end(), [&](const Result<Reply>& r) {
    return !r && never_sent(r.error(), closing_);
  });
  if (all_unsent && !rs.empty() && op->retries < opts_.max_retries) {
    request_refresh();
    return retry_later(op, rs.front().error());
  }
  // A transaction that a redirection aborted (EXECABORT: nothing ran) can be
  // sent again where the slot lives now.
  const bool tx = iequals(op->cmds.front().front(), "MULTI") && iequals(op->cmds.back().front(), "EXEC");
  const bool aborted = !rs.empty() && !rs.back() && rs.back().error().code() == "EXECABORT";
  if (tx && aborted && !closing_) {
    for (const Result<Reply>& r : rs) {
      if (r || r.error().kind != ErrorKind::server) continue;
      const Error& e = r.error();
      if (auto rd = parse_redirect(e.message)) {
        if (!rd->ask && op->redirects < opts_.max_redirects) {
          ++op->redirects;
          ++counters_.moved;
          slots_[static_cast<std::size_t>(rd->slot)] = node(rd->host, rd->port);
          request_refresh();
          return dispatch(op);
        }
        // ASKING cannot reach commands queued inside MULTI: wait for the
        // migration to finish (then MOVED tells where the slot went).
        if (rd->ask && op->retries < opts_.max_retries) {
          ++counters_.ask;
          return retry_later(op, e);
        }
      } else if (retryable_code(e.code()) && op->retries < opts_.max_retries) {
        return retry_later(op, e);
      }
    }
  }
  auto done = std::move(op->done);
  if (done) done(std::move(rs));
}

void ClusterImpl::retry_later(const OpPtr& op, Error err) {
  if (closing_) return fail_soon(op, Error{ErrorKind::closed, "cluster client closed before the command was retried"});
  if (op->retries >= opts_.max_retries) return fail_soon(op, std::move(err));
  const auto lo = static_cast<std::uint64_t>(std::max<long long>(opts_.retry_min_delay.count(), 1));
  const auto hi = static_cast<std::uint64_t>(std::max<long long>(opts_.retry_max_delay.count(), 1));
  const std::uint64_t delay = std::min(hi, lo << std::min(op->retries, 20));
  ++op->retries;
  ++counters_.retries;
  schedule_retry(op, delay);
}

void ClusterImpl::finish(const OpPtr& op, Result<Reply> r) {
  if (op->lease_cb) {
    auto lcb = std::move(op->lease_cb);
    if (!r) return lcb(std::move(r).error());
    return lcb(Error{ErrorKind::protocol, "internal: a lease request got a reply"});
  }
  auto cb = std::move(op->cb);
  if (cb) cb(std::move(r));
}

void ClusterImpl::finish_group(const OpPtr& op, const Error& err) {
  auto done = std::move(op->done);
  std::vector<Result<Reply>> v(std::max<std::size_t>(op->cmds.size(), 1), Result<Reply>(err));
  if (done) done(std::move(v));
}

void ClusterImpl::fail_soon(OpPtr op, Error err) {
  post([op = std::move(op), err = std::move(err)]() mutable {
    if (op->group)
      finish_group(op, err);
    else
      finish(op, std::move(err));
  });
}

// ------------------------------------------------------ multi-key splits

// MGET/MSET/DEL/EXISTS/UNLINK/TOUCH over several slots: one command per
// slot, replies put back in the caller's key order.
void ClusterImpl::split(std::span<const std::string_view> argv, SplitKind kind, const KeyRange& keys,
                        Callback<Reply> cb, const CommandOptions& opts, bool read) {
  struct Agg {
    SplitKind kind;
    std::vector<Reply> values;  // MGET, by key ordinal
    long long sum = 0;
    std::optional<Error> err;
    std::size_t left = 0;
    Callback<Reply> cb;
  };
  struct Part {
    int slot;
    std::vector<std::size_t> positions;  // argv positions of its keys
    std::vector<std::size_t> ordinals;   // which key of the caller's each one is
  };
  std::vector<Part> parts;
  std::size_t ordinal = 0;
  keys.for_each([&](std::size_t i) {
    const int s = key_slot(argv[i]);
    auto it = std::find_if(parts.begin(), parts.end(), [s](const Part& p) { return p.slot == s; });
    if (it == parts.end()) {
      parts.push_back(Part{s, {}, {}});
      it = parts.end() - 1;
    }
    it->positions.push_back(i);
    it->ordinals.push_back(ordinal++);
  });
  auto agg = std::make_shared<Agg>();
  agg->kind = kind;
  agg->values.resize(ordinal);
  agg->left = parts.size();
  agg->cb = std::move(cb);
  ++counters_.splits;
  for (Part& p : parts) {
    auto op = std::make_shared<Op>();
    op->slot = p.slot;
    op->timeout = opts.timeout;
    op->replica_ok = read;  // MGET, EXISTS: each part is a read as the whole is
    op->argv.reserve(1 + p.positions.size() * (kind == SplitKind::mset ? 2 : 1));
    op->argv.emplace_back(argv[0]);
    for (std::size_t pos : p.positions) {
      op->argv.emplace_back(argv[pos]);
      if (kind == SplitKind::mset) op->argv.emplace_back(argv[pos + 1]);
    }
    op->cb = [agg, ords = std::move(p.ordinals)](Result<Reply> r) {
      if (!r) {
        if (!agg->err) agg->err = r.error();
      } else if (agg->kind == SplitKind::mget) {
        if (r->is_array() && r->size() == ords.size()) {
          for (std::size_t j = 0; j < ords.size(); ++j) agg->values[ords[j]] = std::move(r->elements()[j]);
        } else if (!agg->err) {
          agg->err = decode::unexpected(*r, "MGET array");
        }
      } else if (agg->kind == SplitKind::sum) {
        if (r->is_integer())
          agg->sum += r->integer();
        else if (!agg->err)
          agg->err = decode::unexpected(*r, "integer");
      }
      if (--agg->left != 0) return;
      auto user = std::move(agg->cb);
      if (!user) return;
      if (agg->err) return user(std::move(*agg->err));
      switch (agg->kind) {
        case SplitKind::mget: return user(Reply::array(std::move(agg->values)));
        case SplitKind::mset: return user(Reply::status("OK"));
        default: return user(Reply::integer(agg->sum));
      }
    };
    dispatch(std::move(op));
  }
}

}  // namespace uvredis::detail

namespace uvredis {

void ClusterClient::lease(std::string_view key, Once<void(Result<std::unique_ptr<Lease>>)> cb) {
  impl_->lease(detail::key_slot(key), nullptr, 0, std::move(cb));
}

void watch_transaction(ClusterClient& cluster, std::vector<std::string> keys, int max_attempts,
                       std::function<void(Lease& lease, Transaction& tx, Once<void(bool)> go)> body,
                       Once<void(Result<Transaction::Outcome>)> done) {
  std::optional<Error> invalid;
  const int slot = keys.empty() ? 0 : detail::key_slot(keys.front());
  for (const std::string& k : keys) {
    if (const int s = detail::key_slot(k); s != slot) {
      invalid = detail::cross_slot_error("watch_transaction", slot, s);
      break;
    }
  }
  detail::ClusterImpl* impl = cluster.impl_.get();
  detail::run_watch(impl->lease_source(slot), impl->max_lease_restarts(), std::move(keys), max_attempts,
                    std::move(body), std::move(done), std::move(invalid), impl->loop());
}

}  // namespace uvredis
