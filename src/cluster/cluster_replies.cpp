// ClusterClient's replies: redirections (MOVED/ASK), retries, replica fallback, completing commands and groups.
#include "cluster/cluster_impl.hpp"

#include "protocol/cluster_reads.hpp"
#include "link/connection.hpp"
#include "protocol/encode.hpp"
#include "base/logging.hpp"

#include <uv.h>

#include <algorithm>

namespace uvredis::detail {

namespace {

bool never_sent(const Error& e, bool closing) {
  // connect: the attempt the command waited for failed. closed while we are
  // open: a retired node client gave back what it had not sent.
  return e.kind == ErrorKind::connect || (e.kind == ErrorKind::closed && !closing);
}

bool retryable_code(std::string_view code) { return code == "TRYAGAIN" || code == "CLUSTERDOWN"; }

}  // namespace

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

}  // namespace uvredis::detail
