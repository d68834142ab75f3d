// ConsumerGroup: a worker of one stream consumer group over the public
// Executor interface (no connection is touched here, so it runs on a Client,
// a Lease or a ClusterClient alike).
//
// The state lives in a GroupWorker shared with every command in flight and
// every EntryDone the user holds; the ConsumerGroup owns the timers and marks
// the state dead when destroyed, after which callbacks only drop what they got.

#include <uvredis/consumer_group.hpp>
#include <uvredis/script.hpp>

#include "recipes/consumer_group_worker.hpp"
#include "base/uv_handle.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace uvredis {
namespace detail {

namespace {

constexpr milliseconds kMaxRetryDelay{2000};

// The dead-letter stream in the stream's slot: same tag, or the whole key as tag.
std::string dead_letter_for(std::string_view key) {
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) return std::string(key) + ":dead";
  }
  if (key.find('}') != std::string_view::npos) return std::string(key) + ":dead";
  std::string k = "{";
  k += key;
  k += "}:dead";
  return k;
}

std::string check_options(const ConsumerGroupOptions& o) {
  if (o.stream.empty()) return "ConsumerGroup: the stream is empty";
  if (o.group.empty()) return "ConsumerGroup: the group is empty";
  if (o.consumer.empty()) return "ConsumerGroup: the consumer name is empty";
  if (o.batch <= 0) return "ConsumerGroup: batch must be positive";
  if (o.block.count() <= 0) return "ConsumerGroup: block must be positive";
  if (o.max_in_flight == 0) return "ConsumerGroup: max_in_flight must be positive";
  if (o.claim_idle.count() <= 0) return "ConsumerGroup: claim_idle must be positive";
  if (o.max_deliveries < 0) return "ConsumerGroup: max_deliveries must not be negative";
  return {};
}

}  // namespace

GroupWorker::GroupWorker(Executor& e, ConsumerGroupOptions opts, ConsumerGroup::Handler h)
    : ex(&e), o(std::move(opts)), handler(std::move(h)) {
  if (o.dead_letter.empty()) o.dead_letter = dead_letter_for(o.stream);
}

void GroupWorker::report(const Error& e) {
  ++stats.errors;
  if (on_error) call_user(on_error, e);
}

void GroupWorker::start() {
  if (std::string bad = check_options(o); !bad.empty()) {
    phase = Phase::halted;
    ex->post([w = shared_from_this(), bad = std::move(bad)] {
      if (w->alive) w->report(Error{ErrorKind::usage, bad});
    });
    return;
  }
  phase = o.create_group ? Phase::create : Phase::history;
  auto* t = claim_timer.allocate();
  uv_timer_init(ex->loop(), t);
  t->data = this;
  milliseconds every = o.claim_interval.count() > 0 ? o.claim_interval : o.claim_idle / 2;
  every = std::max(every, milliseconds(1));
  uv_timer_start(t, [](uv_timer_t* h) { static_cast<GroupWorker*>(h->data)->claim(); },
                 static_cast<std::uint64_t>(every.count()), static_cast<std::uint64_t>(every.count()));
  pump();
}

// Room for more entries: what handlers hold plus what reads and claims in
// flight may still bring stays within max_in_flight.
std::size_t GroupWorker::room() const {
  const std::size_t used = handlers + incoming;
  return used >= o.max_in_flight ? 0 : o.max_in_flight - used;
}

// A one-shot timer of this worker (the handle is made on first use).
void GroupWorker::arm(UvHandle<uv_timer_t>& timer, milliseconds delay, void (*fn)(uv_timer_t*)) {
  if (!timer) {
    auto* t = timer.allocate();
    uv_timer_init(ex->loop(), t);
    t->data = this;
  }
  uv_timer_start(timer.get(), fn, static_cast<std::uint64_t>(std::max<long long>(1, delay.count())), 0);
}

milliseconds GroupWorker::grow(milliseconds current, milliseconds first) {
  return std::min(kMaxRetryDelay, std::max(first, current * 2));
}

void GroupWorker::pump() {
  if (!alive || stopping || reading || waiting) return;
  switch (phase) {
    case Phase::halted: return;
    case Phase::create: return create();
    case Phase::history:
    case Phase::live: break;
  }
  const std::size_t free = room();
  if (free == 0) return;
  reading = true;
  const long long count = std::min<long long>(o.batch, static_cast<long long>(free));
  incoming += static_cast<std::size_t>(count);
  XReadGroupOptions ro;
  ro.count = count;
  const bool live = phase == Phase::live;
  if (live) ro.block = o.block;
  const std::string id = live ? std::string(">") : cursor;
  ex->xreadgroup(o.group, o.consumer, {{o.stream, id}}, ro,
                 [w = shared_from_this(), live, count](Result<std::vector<StreamBatch>> r) mutable {
                   if (w->alive) w->on_read(live, static_cast<std::size_t>(count), std::move(r));
                 });
}

void GroupWorker::create() {
  reading = true;
  XGroupCreateOptions co;
  co.mkstream = true;
  ex->xgroup_create(o.stream, o.group, o.create_from, co, [w = shared_from_this()](Result<void> r) {
    if (!w->alive) return;
    w->reading = false;
    if (!r && r.error().code() != "BUSYGROUP") return w->failed(r.error());
    w->phase = Phase::history;
    w->cursor = "0";
    w->pump();
  });
}

// A read (or create) failed: after a lost reply entries may have been
// delivered to this consumer unseen, so reading resumes with its own
// pending entries.
void GroupWorker::failed(const Error& e) {
  if (stopping) return;  // no longer reading: a read that was in flight does not matter
  report(e);
  if (e.kind == ErrorKind::closed || e.kind == ErrorKind::usage) {
    // The executor is closed, or the call can never work: nothing to retry,
    // and no timer of ours should keep the loop alive.
    phase = Phase::halted;
    claim_timer.close();
    return;
  }
  phase = e.code() == "NOGROUP" && o.create_group ? Phase::create : Phase::history;
  cursor = "0";
  backoff = grow(backoff, o.retry_delay);
  waiting = true;
  arm(retry_timer, backoff, [](uv_timer_t* h) {
    auto* w = static_cast<GroupWorker*>(h->data);
    w->waiting = false;
    w->pump();
  });
}

void GroupWorker::on_read(bool live, std::size_t asked, Result<std::vector<StreamBatch>> r) {
  if (!r) {
    incoming -= asked;
    reading = false;
    return failed(r.error());
  }
  backoff = milliseconds(0);
  std::vector<StreamEntry> entries;
  for (StreamBatch& b : *r)
    if (b.stream == o.stream) entries = std::move(b.entries);
  if (live) {
    deliver(std::move(entries));
    incoming -= asked;
    reading = false;
    return pump();
  }
  if (entries.empty()) {
    incoming -= asked;
    reading = false;
    phase = Phase::live;
    return pump();
  }
  cursor = entries.back().id;
  // Own pending entries: drop those already in hand; deleted ones (XDEL,
  // trimmed) have nothing to handle and are acknowledged.
  std::vector<StreamEntry> fresh;
  for (StreamEntry& e : entries) {
    if (held.count(e.id)) continue;
    if (e.deleted) {
      held.insert(e.id);
      queue_ack(std::move(e.id));
    } else {
      fresh.push_back(std::move(e));
    }
  }
  check_deliveries(std::move(fresh), [this, asked] {
    incoming -= asked;
    reading = false;
    pump();
  });
}

void GroupWorker::stop(Function<void()> cb) {
  if (!stopping) {
    stopping = true;
    claim_timer.close();
    retry_timer.close();
    waiting = false;
    if (ack_waiting) {
      // Acks waiting for a retry go out now, once.
      ack_timer.close();
      ack_waiting = false;
      flush();
    }
  }
  stop_cbs.push_back(std::move(cb));
  maybe_stopped();
}

void GroupWorker::maybe_stopped() {
  if (!alive || !stopping || stop_cbs.empty()) return;
  if (handlers || !to_ack.empty() || flush_posted || acks_in_flight || dead_in_flight) return;
  ex->post([w = shared_from_this(), cbs = std::move(stop_cbs)]() mutable {
    if (!w->alive) return;
    for (auto& cb : cbs)
      if (cb) cb();
  });
  stop_cbs.clear();
}


}  // namespace detail

// ------------------------------------------------------------ EntryDone

EntryDone& EntryDone::operator=(EntryDone&& o) noexcept {
  if (this != &o) {
    if (worker_) (*this)(false);
    worker_ = std::move(o.worker_);
    id_ = std::move(o.id_);
  }
  return *this;
}

EntryDone::~EntryDone() {
  if (worker_) (*this)(false);
}

void EntryDone::operator()(bool ok) {
  if (!worker_) return;
  auto w = std::move(worker_);
  worker_.reset();
  w->done(std::move(id_), ok);
}

// ------------------------------------------------------------ ConsumerGroup

ConsumerGroup::ConsumerGroup(Executor& ex, ConsumerGroupOptions options, Handler handler)
    : w_(std::make_shared<detail::GroupWorker>(ex, std::move(options), std::move(handler))) {
  w_->start();
}

ConsumerGroup::~ConsumerGroup() {
  w_->alive = false;
  w_->claim_timer.close();
  w_->retry_timer.close();
  w_->ack_timer.close();
  w_->stop_cbs.clear();
}

void ConsumerGroup::on_error(ErrorListener fn) { w_->on_error = std::move(fn); }
void ConsumerGroup::stop(Once<void()> done) { w_->stop(std::move(done)); }
bool ConsumerGroup::stopping() const noexcept { return w_->stopping; }
std::size_t ConsumerGroup::in_flight() const noexcept { return w_->handlers; }
ConsumerGroupStats ConsumerGroup::stats() const noexcept { return w_->stats; }
const std::string& ConsumerGroup::dead_letter_stream() const noexcept { return w_->o.dead_letter; }

}  // namespace uvredis
