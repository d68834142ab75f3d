// ConsumerGroup's entries once read: claiming idle ones, delivering, dead-lettering, and batching the XACKs.
#include <uvredis/script.hpp>

#include "recipes/consumer_group_worker.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace uvredis::detail {

namespace {

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

}  // namespace

void GroupWorker::claim() {
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

void GroupWorker::on_claimed(std::size_t asked, Result<AutoClaim<StreamEntry>> r) {
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

// Entries that were delivered before (own pending ones, claimed ones) may
// have reached max_deliveries: XPENDING tells their counts. Entries no
// longer pending for this consumer (acknowledged or claimed by another one
// meanwhile) are dropped.
void GroupWorker::check_deliveries(std::vector<StreamEntry> entries, Function<void()> then) {
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

void GroupWorker::deliver(std::vector<StreamEntry> entries) {
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

void GroupWorker::dead_letter(std::string id) {
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

void GroupWorker::done(std::string id, bool ok) {
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

void GroupWorker::queue_ack(std::string id) {
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

void GroupWorker::flush() {
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

void GroupWorker::retry_acks() {
  if (ack_waiting) return;
  ack_waiting = true;
  ack_backoff = grow(ack_backoff, o.retry_delay);
  arm(ack_timer, ack_backoff, [](uv_timer_t* h) {
    auto* w = static_cast<GroupWorker*>(h->data);
    w->ack_waiting = false;
    w->flush();
  });
}

}  // namespace uvredis::detail
