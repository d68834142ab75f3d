// Resumable channel: publish = XADD to a capped stream + PUBLISH with the id,
// in one script; the subscriber fills every pub/sub gap from the stream.
//
// The subscriber's state lives in a ResumableState shared with the stream
// reads in flight; ResumableSubscriber owns it and marks it dead when
// destroyed, after which callbacks only drop what they got. Ordering and
// dedupe rest on stream ids: a message is delivered only when its id is
// greater than the last one delivered.

#include <uvredis/resumable_channel.hpp>
#include <uvredis/script.hpp>
#include <uvredis/subscriber.hpp>

#include "base/uv_handle.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <deque>
#include <span>
#include <utility>
#include <vector>

namespace uvredis {

namespace detail {
// A stream entry ID, "ms-seq" (a member of ResumableState, so not file-local).
struct StreamId {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
  auto operator<=>(const StreamId&) const = default;
};
}  // namespace detail
using detail::StreamId;

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kFirstRetry{50};
constexpr milliseconds kMaxRetry{2000};

std::string stream_for(const std::string& channel, const std::string& stream) {
  return stream.empty() ? channel + ":history" : stream;
}

// The sequence number continues from the newest entry (never trimmed by
// MAXLEN ~), so the stream itself is the counter: no second key, nothing to
// drift apart. The live message is "<id> <n> <payload>" (ids and numbers have
// no space; the payload is everything after the second space).
// KEYS: stream. ARGV: max_len, channel, payload.
const Script& publish_script() {
  static const Script s(R"lua(
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local n = 1
if #top > 0 then
  local f = top[1][2]
  for i = 1, #f, 2 do
    if f[i] == 'n' then n = (tonumber(f[i + 1]) or 0) + 1 break end
  end
end
local ns = string.format('%d', n)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'n', ns, 'payload', ARGV[3])
redis.call('PUBLISH', ARGV[2], id .. ' ' .. ns .. ' ' .. ARGV[3])
return id
)lua");
  return s;
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "ms-seq" or "ms" (as XRANGE accepts it: seq 0).
bool parse_id(std::string_view s, StreamId& out) {
  const auto dash = s.find('-');
  if (dash == std::string_view::npos) {
    out.seq = 0;
    return parse_u64(s, out.ms);
  }
  return parse_u64(s.substr(0, dash), out.ms) && parse_u64(s.substr(dash + 1), out.seq);
}

bool parse_sequence(std::string_view s, long long& out) {
  std::uint64_t v = 0;
  if (!parse_u64(s, v) || v > static_cast<std::uint64_t>(INT64_MAX)) return false;
  out = static_cast<long long>(v);
  return true;
}

}  // namespace

// ------------------------------------------------------------------ publish

ResumableChannel::ResumableChannel(Executor& ex, ResumableChannelOptions options) : ex_(&ex), o_(std::move(options)) {
  o_.stream = stream_for(o_.channel, o_.stream);
}

void ResumableChannel::publish(std::string_view payload, Callback<std::string> cb, CommandOptions opts) {
  if (o_.channel.empty() || o_.max_len <= 0) {
    ex_->post([cb = std::move(cb)]() mutable {
      if (cb) cb(Error{ErrorKind::usage, "ResumableChannel: the channel is empty or max_len is not positive"});
    });
    return;
  }
  const std::string cap = std::to_string(o_.max_len);
  const std::string_view keys[] = {o_.stream};
  const std::string_view args[] = {cap, o_.channel, payload};
  publish_script().run<std::string>(*ex_, std::span<const std::string_view>(keys), std::span<const std::string_view>(args),
                                    &decode::string, std::move(cb), opts);
}

// --------------------------------------------------------------- subscribe

namespace detail {

struct ResumableState : std::enable_shared_from_this<ResumableState> {
  enum class Phase { waiting, catching_up, live };

  uv_loop_s* loop;
  Executor* ex;
  ResumableSubscriberOptions o;
  ResumableSubscriber::Handler handler;
  std::function<void(const HistoryLoss&)> on_loss;
  std::function<void(const Error&)> on_error;
  std::function<void(ConnectionState, const Error*)> on_state;
  ResumableSubscriberStats stats;
  std::unique_ptr<Subscriber> sub;

  bool alive = true;    // false once the ResumableSubscriber is gone
  bool stopped = false; // close() called or bad options: deliver nothing more
  Phase phase = Phase::waiting;
  bool sub_up = false;  // subscribed (the Subscriber reported connected)
  bool again = false;   // subscribed again while a catch-up ran: run another

  std::string last;                  // last delivered id (or the starting point); empty: not known yet
  StreamId last_key;
  std::optional<long long> last_n;   // its sequence number, when known
  std::string cursor;                // the catch-up's next XRANGE start (exclusive)
  bool first_read = false;           // first read of a catch-up from an id whose sequence is unknown
  std::deque<ChannelMessage> buffer; // live messages held back during a catch-up

  UvHandle<uv_timer_t> retry_timer;
  milliseconds backoff{0};

  ResumableState(uv_loop_s* l, Executor& e, ResumableSubscriberOptions opts, ResumableSubscriber::Handler h)
      : loop(l), ex(&e), o(std::move(opts)), handler(std::move(h)) {
    o.stream = stream_for(o.channel, o.stream);
  }

  bool active() const { return alive && !stopped; }

  void report(const Error& e) {
    ++stats.errors;
    auto fn = on_error;  // may destroy us
    if (fn) call_user(fn, e);
  }

  std::string check_options() {
    if (o.channel.empty()) return "ResumableSubscriber: the channel is empty";
    if (o.batch <= 0) return "ResumableSubscriber: batch must be positive";
    if (!o.last_id.empty() && !parse_id(o.last_id, last_key))
      return "ResumableSubscriber: last_id is not a stream id";
    if (o.last_sequence < 0) return "ResumableSubscriber: last_sequence must not be negative";
    return {};
  }

  void start(ClientOptions sub_options) {
    if (std::string bad = check_options(); !bad.empty()) {
      stopped = true;
      ex->post([s = shared_from_this(), bad = std::move(bad)] {
        if (s->alive) s->report(Error{ErrorKind::usage, bad});
      });
      return;
    }
    if (!o.last_id.empty()) {
      last = o.last_id;
      if (o.last_sequence > 0) last_n = o.last_sequence;
      if (last_key == StreamId{}) last_n = 0;  // from the very beginning: every entry counts
    }
    sub = std::make_unique<Subscriber>(loop, std::move(sub_options));
    ResumableState* self = this;  // the Subscriber (and so its handlers) dies with us
    sub->on_state_change([self](ConnectionState st, const Error* e) { self->on_link(st, e); });
    sub->subscribe({o.channel}, [self](const Message& m) { self->on_live(m); },
                   [self](Result<void> r) {
                     if (!r && r.error().kind != ErrorKind::closed) self->report(r.error());
                   });
  }

  // ------------------------------------------------------------ live side

  void on_link(ConnectionState st, const Error* e) {
    auto keep = shared_from_this();
    if (on_state) {
      auto fn = on_state;
      call_user(fn, st, e);
      if (!alive) return;
    }
    if (stopped) return;
    if (st == ConnectionState::connected) {
      sub_up = true;
      start_catch_up();
    } else {
      sub_up = false;
      if (phase == Phase::live) phase = Phase::waiting;
    }
  }

  void on_live(const Message& m) {
    if (!active()) return;
    auto keep = shared_from_this();
    ChannelMessage cm;
    const std::string_view p = m.payload;
    const auto sp1 = p.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : p.find(' ', sp1 + 1);
    StreamId key;
    if (sp2 == std::string_view::npos || !parse_id(p.substr(0, sp1), key) ||
        !parse_sequence(p.substr(sp1 + 1, sp2 - sp1 - 1), cm.sequence)) {
      return report(Error{ErrorKind::protocol, "ResumableSubscriber: a live message without an id (not published "
                                               "through ResumableChannel?) was dropped"});
    }
    cm.id = std::string(p.substr(0, sp1));
    cm.payload = std::string(p.substr(sp2 + 1));
    if (phase == Phase::live && last_n && cm.sequence > *last_n + 1 && key > last_key) {
      // A hole in the live sequence without a reported drop: read it back.
      buffer.push_back(std::move(cm));
      return start_catch_up();
    }
    if (phase != Phase::live) {
      buffer.push_back(std::move(cm));
      return;
    }
    deliver(std::move(cm), key, false);
  }

  // Hands one message to the user unless its id was delivered already.
  // Returns false when the subscriber was closed or destroyed meanwhile.
  bool deliver(ChannelMessage m, const StreamId& key, bool recovered) {
    if (!last.empty() && key <= last_key) {
      ++stats.duplicates;
      return true;
    }
    if (last_n && m.sequence > *last_n + 1 && on_loss_reported(m, m.sequence - *last_n - 1) == false) return false;
    last = m.id;
    last_key = key;
    last_n = m.sequence;
    ++stats.delivered;
    ++(recovered ? stats.recovered : stats.live);
    if (handler) {
      auto h = handler;  // the handler may close or destroy us
      call_user(h, static_cast<const ChannelMessage&>(m));
    }
    return active();
  }

  bool on_loss_reported(const ChannelMessage& m, std::optional<long long> count) {
    if (count) stats.lost += static_cast<std::uint64_t>(*count);
    if (on_loss) {
      auto fn = on_loss;
      call_user(fn, HistoryLoss{last, m.id, count});
    }
    return active();
  }

  // ------------------------------------------------------------ catch-up

  void start_catch_up() {
    if (phase == Phase::catching_up) {
      again = true;  // this read may have ended before the new gap: read again after it
      return;
    }
    phase = Phase::catching_up;
    again = false;
    ++stats.catch_ups;
    if (last.empty()) return read_top();
    cursor = last;
    first_read = !last_n.has_value();
    read_range();
  }

  // No starting point: the stream's newest entry is one (so is an empty stream).
  void read_top() {
    ex->xrevrange(o.stream, "+", "-", 1, [s = shared_from_this()](Result<std::vector<StreamEntry>> r) {
      if (!s->active()) return;
      if (!r) return s->failed(r.error(), &ResumableState::read_top);
      s->backoff = milliseconds(0);
      if (r->empty()) {
        s->last = "0-0";
        s->last_key = StreamId{};
        s->last_n = 0;
      } else {
        ChannelMessage m;
        StreamId key;
        if (!s->from_entry(r->front(), m, key)) return s->bad_entry(&ResumableState::read_top);
        s->last = std::move(m.id);
        s->last_key = key;
        s->last_n = m.sequence;
      }
      s->finish_catch_up();
    });
  }

  void read_range() {
    // The first read from an id of unknown sequence includes that id, to
    // learn its sequence (or that it is gone).
    const std::string start = first_read ? cursor : "(" + cursor;
    ex->xrange(o.stream, start, "+", o.batch, [s = shared_from_this()](Result<std::vector<StreamEntry>> r) {
      if (!s->active()) return;
      if (!r) return s->failed(r.error(), &ResumableState::read_range);
      s->backoff = milliseconds(0);
      s->on_range(std::move(*r));
    });
  }

  void on_range(std::vector<StreamEntry> entries) {
    auto keep = shared_from_this();
    const bool full = entries.size() >= static_cast<std::size_t>(o.batch);
    bool first = first_read;
    first_read = false;
    for (auto& e : entries) {
      ChannelMessage m;
      StreamId key;
      if (!from_entry(e, m, key)) {
        report(Error{ErrorKind::protocol, "ResumableSubscriber: stream entry " + e.id + " has no sequence; skipped"});
        if (!active()) return;
        cursor = e.id;
        continue;
      }
      cursor = m.id;
      if (first) {
        first = false;
        if (key == last_key) {  // the starting point is still there: now its sequence is known
          last_n = m.sequence;
          continue;
        }
        // The starting point is gone (trimmed): whatever came between it and
        // this entry is lost, how much is unknown. A first entry ever (1) lost nothing.
        if (key > last_key && m.sequence > 1 && !on_loss_reported(m, std::nullopt)) return;
        last_n = m.sequence - 1;  // count from here on; no second report for this hole
      }
      if (!deliver(std::move(m), key, true)) return;
    }
    if (full) return read_range();
    finish_catch_up();
  }

  bool from_entry(const StreamEntry& e, ChannelMessage& m, StreamId& key) {
    if (!parse_id(e.id, key)) return false;
    bool have_n = false;
    for (const auto& [f, v] : e.fields) {
      if (f == "n")
        have_n = parse_sequence(v, m.sequence);
      else if (f == "payload")
        m.payload = v;
    }
    m.id = e.id;
    return have_n;
  }

  void bad_entry(void (ResumableState::*step)()) {
    failed(Error{ErrorKind::protocol, "ResumableSubscriber: the stream's newest entry has no sequence"}, step);
  }

  // The live messages that came during the catch-up go after it, deduped.
  void finish_catch_up() {
    while (!buffer.empty()) {
      ChannelMessage m = std::move(buffer.front());
      buffer.pop_front();
      StreamId key;
      parse_id(m.id, key);  // checked when it arrived
      if (!deliver(std::move(m), key, false)) return;
    }
    phase = Phase::waiting;
    if (again && sub_up) return start_catch_up();
    if (sub_up) phase = Phase::live;
  }

  void failed(const Error& e, void (ResumableState::*step)()) {
    auto keep = shared_from_this();
    report(e);
    if (!active()) return;
    backoff = std::min(kMaxRetry, std::max(kFirstRetry, backoff * 2));
    if (!retry_timer) {
      auto* t = retry_timer.allocate();
      uv_timer_init(loop, t);
      t->data = this;
    }
    retry_step = step;
    uv_timer_start(retry_timer.get(), [](uv_timer_t* h) {
      auto* s = static_cast<ResumableState*>(h->data);
      (s->*(s->retry_step))();
    }, static_cast<std::uint64_t>(backoff.count()), 0);
  }
  void (ResumableState::*retry_step)() = nullptr;

  void shut() {
    stopped = true;
    buffer.clear();
    retry_timer.close();
  }
};

}  // namespace detail

ResumableSubscriber::ResumableSubscriber(uv_loop_s* loop, ClientOptions sub_options, Executor& reader,
                                         ResumableSubscriberOptions options, Handler handler)
    : s_(std::make_shared<detail::ResumableState>(loop, reader, std::move(options), std::move(handler))) {
  s_->start(std::move(sub_options));
}

ResumableSubscriber::~ResumableSubscriber() {
  s_->alive = false;
  s_->shut();
  s_->sub.reset();
}

void ResumableSubscriber::on_loss(Listener<void(const HistoryLoss&)> fn) { s_->on_loss = std::move(fn); }
void ResumableSubscriber::on_error(Listener<void(const Error&)> fn) { s_->on_error = std::move(fn); }
void ResumableSubscriber::on_state_change(Listener<void(ConnectionState, const Error*)> fn) {
  s_->on_state = std::move(fn);
}

bool ResumableSubscriber::live() const noexcept {
  return s_->phase == detail::ResumableState::Phase::live && !s_->stopped;
}
const std::string& ResumableSubscriber::last_id() const noexcept { return s_->last; }
ResumableSubscriberStats ResumableSubscriber::stats() const noexcept { return s_->stats; }

void ResumableSubscriber::close(Once<void()> done) {
  s_->shut();
  // Not after the subscriber is gone, whatever the Subscriber does with it then.
  auto once = [s = s_, done = std::move(done)]() mutable {
    if (s->alive && done) done();
  };
  if (s_->sub) return s_->sub->close(std::move(once));
  s_->ex->post(std::move(once));
}

}  // namespace uvredis
