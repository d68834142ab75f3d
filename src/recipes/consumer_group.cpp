// ConsumerGroup: a worker of one stream consumer group over the public
// Executor interface (no connection is touched here, so it runs on a Client,
// a Lease or a ClusterClient alike).
//
// The state lives in a GroupWorker shared with every command in flight and
// every EntryDone the user holds; the ConsumerGroup owns the timers and marks
// the state dead when destroyed, after which callbacks only drop what they got.

#include <uvredis/consumer_group.hpp>
#include <uvredis/script.hpp>

#include "base/uv_handle.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace uvredis {
namespace detail {

namespace {

using std::chrono::milliseconds;

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

// Moves one entry to the dead-letter stream and acknowledges it, atomically,
// and only while it is still pending for this consumer: a second run (after
// a lost reply, or by a worker that claimed it meanwhile) does nothing, so an
// entry is dead-lettered once. The delivery count is the server's.
// KEYS: stream, dead-letter stream. ARGV: group, consumer, id.
const Script& dead_letter_script() {
  static const Script s(R"lua(
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
if #e > 0 then
  local a = {'XADD', KEYS[2], '*', 'id', ARGV[3], 'group', ARGV[1], 'deliveries', tostring(p[1][4])}
  for _, v in ipairs(e[1][2]) do a[#a + 1] = v end
  redis.call(unpack(a))
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
return 1
)lua");
  return s;
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

struct GroupWorker : std::enable_shared_from_this<GroupWorker> {
  enum class Phase { create, history, live, halted };

  Executor* ex;
  ConsumerGroupOptions o;
  ConsumerGroup::Handler handler;
  ConsumerGroup::ErrorListener on_error;
  ConsumerGroupStats stats;

  bool alive = true;     // false once the ConsumerGroup is gone
  bool stopping = false;
  std::vector<Function<void()>> stop_cbs;

  Phase phase = Phase::create;
  std::string cursor = "0";  // history: the last own pending id re-read
  bool reading = false;      // a read (or create, or its delivery check) in flight
  bool waiting = false;      // the retry timer runs
  milliseconds backoff{0};

  bool claiming = false;
  std::string claim_cursor = "0-0";

  std::size_t handlers = 0;              // entries in the user's hands
  std::size_t incoming = 0;              // entries asked for by reads and claims not handed out yet
  std::unordered_set<std::string> held;  // handed out (or being dead-lettered), not yet acknowledged
  std::vector<std::string> to_ack;
  bool flush_posted = false;
  std::size_t acks_in_flight = 0;
  std::size_t dead_in_flight = 0;

  UvHandle<uv_timer_t> retry_timer;
  UvHandle<uv_timer_t> claim_timer;
  UvHandle<uv_timer_t> ack_timer;
  bool ack_waiting = false;
  milliseconds ack_backoff{0};

  GroupWorker(Executor& e, ConsumerGroupOptions opts, ConsumerGroup::Handler h)
      : ex(&e), o(std::move(opts)), handler(std::move(h)) {
    if (o.dead_letter.empty()) o.dead_letter = dead_letter_for(o.stream);
  }

  void report(const Error& e) {
    ++stats.errors;
    if (on_error) call_user(on_error, e);
  }

  // ------------------------------------------------------------ reading

  void start() {
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
  std::size_t room() const {
    const std::size_t used = handlers + incoming;
    return used >= o.max_in_flight ? 0 : o.max_in_flight - used;
  }

  // A one-shot timer of this worker (the handle is made on first use).
  void arm(UvHandle<uv_timer_t>& timer, milliseconds delay, void (*fn)(uv_timer_t*)) {
    if (!timer) {
      auto* t = timer.allocate();
      uv_timer_init(ex->loop(), t);
      t->data = this;
    }
    uv_timer_start(timer.get(), fn, static_cast<std::uint64_t>(std::max<long long>(1, delay.count())), 0);
  }

  static milliseconds grow(milliseconds current, milliseconds first) {
    return std::min(kMaxRetryDelay, std::max(first, current * 2));
  }

  void pump() {
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

  void create() {
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
  void failed(const Error& e) {
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

  void on_read(bool live, std::size_t asked, Result<std::vector<StreamBatch>> r) {
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

  // ------------------------------------------------------------ claiming

  void claim() {
    if (!alive || stopping || claiming || phase == Phase::halted || phase == Phase::create) return;
    const std::size_t free = room();
    if (free == 0) return;
    claiming = true;
    const std::size_t count = std::min<std::size_t>(free, static_cast<std::size_t>(std::max<long long>(o.batch, 100)));
    incoming += count;
    ex->xautoclaim(o.stream, o.group, o.consumer, o.claim_idle, claim_cursor, static_cast<long long>(count),
                   [w = shared_from_this(), count](Result<AutoClaim<StreamEntry>> r) mutable {
                     if (w->alive) w->on_claimed(count, std::move(r));
                   });
  }

  void on_claimed(std::size_t asked, Result<AutoClaim<StreamEntry>> r) {
    if (!r) {
      incoming -= asked;
      claiming = false;
      // NOGROUP is the reader's business; anything else is worth telling.
      if (r.error().code() != "NOGROUP" && !stopping) report(r.error());
      return;
    }
    claim_cursor = r->next_id.empty() ? "0-0" : r->next_id;
    std::vector<StreamEntry> fresh;
    for (StreamEntry& e : r->claimed) {
      ++stats.claimed;
      if (!held.count(e.id)) fresh.push_back(std::move(e));
    }
    check_deliveries(std::move(fresh), [this, asked] {
      incoming -= asked;
      claiming = false;
      pump();
    });
  }

  // ------------------------------------------------------------ delivery

  // Entries that were delivered before (own pending ones, claimed ones) may
  // have reached max_deliveries: XPENDING tells their counts. Entries no
  // longer pending for this consumer (acknowledged or claimed by another one
  // meanwhile) are dropped.
  void check_deliveries(std::vector<StreamEntry> entries, Function<void()> then) {
    if (entries.empty() || o.max_deliveries == 0 || stopping) {
      deliver(std::move(entries));
      return then();
    }
    XPendingRange range;
    range.start = entries.front().id;
    range.end = entries.back().id;
    range.count = static_cast<long long>(entries.size() + held.size());
    range.consumer = o.consumer;
    ex->xpending(o.stream, o.group, range,
                 [w = shared_from_this(), entries = std::move(entries),
                  then = std::move(then)](Result<std::vector<PendingEntry>> r) mutable {
                   if (!w->alive) return;
                   if (!r) {
                     // Unknown counts: hand them out; the next claim checks again.
                     w->report(r.error());
                     w->deliver(std::move(entries));
                     return then();
                   }
                   std::unordered_map<std::string_view, long long> counts;
                   for (const PendingEntry& p : *r) counts.emplace(p.id, p.deliveries);
                   std::vector<StreamEntry> ok;
                   for (StreamEntry& e : entries) {
                     auto it = counts.find(e.id);
                     if (it == counts.end()) continue;
                     if (it->second > w->o.max_deliveries) {
                       w->dead_letter(std::move(e.id));
                     } else {
                       ok.push_back(std::move(e));
                     }
                   }
                   w->deliver(std::move(ok));
                   then();
                 });
  }

  void deliver(std::vector<StreamEntry> entries) {
    auto self = shared_from_this();  // a handler may destroy the ConsumerGroup
    for (StreamEntry& e : entries) {
      if (!alive || stopping) return;  // the rest stays pending for this consumer
      if (!held.insert(e.id).second) continue;
      ++handlers;
      ++stats.handled;
      EntryDone done(self, e.id);
      call_user(handler, std::move(e), std::move(done));
    }
  }

  void dead_letter(std::string id) {
    held.insert(id);
    ++dead_in_flight;
    const std::string_view keys[] = {o.stream, o.dead_letter};
    const std::string_view args[] = {o.group, o.consumer, id};
    dead_letter_script().run(*ex, keys, args, [w = shared_from_this(), id](Result<Reply> r) {
      if (!w->alive) return;
      --w->dead_in_flight;
      w->held.erase(id);
      if (!r) {
        w->report(r.error());  // still pending: the next claim tries again
      } else if (r->is_integer() && r->integer() == 1) {
        ++w->stats.dead_lettered;
      }
      w->maybe_stopped();
    });
  }

  // ------------------------------------------------------------ acknowledging

  void done(std::string id, bool ok) {
    if (!alive) return;
    --handlers;
    if (ok) {
      queue_ack(std::move(id));
    } else {
      ++stats.failed;
      held.erase(id);
    }
    pump();
    maybe_stopped();
  }

  void queue_ack(std::string id) {
    to_ack.push_back(std::move(id));
    if (flush_posted) return;
    flush_posted = true;
    // Every done() of this loop turn joins the one XACK.
    ex->post([w = shared_from_this()] {
      if (!w->alive) return;
      w->flush_posted = false;
      w->flush();
    });
  }

  void flush() {
    if (to_ack.empty()) return maybe_stopped();
    std::vector<std::string> ids = std::move(to_ack);
    to_ack.clear();
    ++acks_in_flight;
    ++stats.acks_sent;
    ex->xack(o.stream, o.group, ids, [w = shared_from_this(), ids](Result<long long> r) mutable {
      if (!w->alive) return;
      --w->acks_in_flight;
      if (r) {
        w->stats.acked += static_cast<std::uint64_t>(*r);
        w->ack_backoff = milliseconds(0);
        for (const std::string& id : ids) w->held.erase(id);
      } else {
        w->report(r.error());
        if (w->stopping || r.error().kind == ErrorKind::closed) {
          // Left pending: claimed or re-read later.
          for (const std::string& id : ids) w->held.erase(id);
        } else {
          // XACK is idempotent: sending it again never counts an entry twice.
          for (std::string& id : ids) w->to_ack.push_back(std::move(id));
          w->retry_acks();
        }
      }
      w->maybe_stopped();
    });
  }

  void retry_acks() {
    if (ack_waiting) return;
    ack_waiting = true;
    ack_backoff = grow(ack_backoff, o.retry_delay);
    arm(ack_timer, ack_backoff, [](uv_timer_t* h) {
      auto* w = static_cast<GroupWorker*>(h->data);
      w->ack_waiting = false;
      w->flush();
    });
  }

  // ------------------------------------------------------------ stopping

  void stop(Function<void()> cb) {
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

  void maybe_stopped() {
    if (!alive || !stopping || stop_cbs.empty()) return;
    if (handlers || !to_ack.empty() || flush_posted || acks_in_flight || dead_in_flight) return;
    ex->post([w = shared_from_this(), cbs = std::move(stop_cbs)]() mutable {
      if (!w->alive) return;
      for (auto& cb : cbs)
        if (cb) cb();
    });
    stop_cbs.clear();
  }
};

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
