#include "link/connection.hpp"

#include "protocol/encode.hpp"

#include <algorithm>
#include <climits>

// Commands in: submit (encoded into one buffer), submit_owned (big values
// written from the caller's strings), submit_group (MULTI ... EXEC), the
// queue bounds; and out: the once-per-turn flush into hiredis' output
// buffer, big commands a slice per pass, and the socket's write interest.

namespace uvredis::detail {

namespace {
constexpr std::size_t kHandoffBytes = RequestQueue::kSliceBytes;
// Slices of a big command handed per loop turn (about 1 ms of copying each
// at memory speed, and a write): bounded work per turn, whatever the size.
constexpr int kSlicesPerTurn = 8;
// submit_owned: below this a command is encoded as usual (one copy is cheap);
// arguments from kOwnedPieceBytes up are written from the caller's strings.
constexpr std::size_t kOwnedMinBytes = 1024 * 1024;
constexpr std::size_t kOwnedPieceBytes = 64 * 1024;
}  // namespace

// A new command on a closing or failed connection fails on a later turn.
bool Connection::refused(Callback<Reply>& cb) {
  if (closing_ || destroyed_) {
    fail_later(std::move(cb), Error{ErrorKind::closed, "client is closed"});
    return true;
  }
  if (link_.phase() == Link::failed) {
    fail_later(std::move(cb), last_error_);
    return true;
  }
  return false;
}

// A user command whose bytes are ready (at the end of the queue's out(), or
// owned: the body pushed last): queued with its deadline, and the link told.
inline void Connection::enqueue(Callback<Reply>&& cb, std::size_t len, bool owned,
                                std::optional<std::chrono::milliseconds> timeout, std::uint32_t track) {
  auto t = timeout.value_or(cfg_.options.command_timeout);
  const std::uint64_t seq = q_.push_user(static_cast<std::uint32_t>(len), std::move(cb), owned, track, timeout_ms_of(t));
  if (t.count() > 0) add_deadline(seq, t);
  if (link_.phase() == Link::ready)
    schedule_flush();
  else if (link_.phase() == Link::idle)
    start();
}

void Connection::submit(std::span<const std::string_view> argv, Callback<Reply>&& cb,
                        std::optional<std::chrono::milliseconds> timeout) {
  if (refused(cb)) return;
  std::size_t total = 0;
  for (std::string_view a : argv) total += a.size();
  if (total >= kOwnedMinBytes && argv.size() >= 2) {
    // A big command is copied once into strings of its own, which then go
    // out a slice per turn and are freed off the loop: the queue's buffer
    // never grows to hold it (nor keeps that capacity afterwards).
    submit_owned(std::vector<std::string>(argv.begin(), argv.end()), std::move(cb), timeout);
    return;
  }
  // The usual path: encoded into the queue's buffer, handed to hiredis at
  // the next flush.
  ByteBuffer& out = q_.out();
  const std::size_t before = out.size();
  const std::size_t len = encode_command(out, argv);
  if (Error err; q_.overflowed(len, 1, err)) {
    out.truncate(before);
    fail_later(std::move(cb), std::move(err));
    return;
  }
  enqueue(std::move(cb), len, false, timeout, track(argv));
}

void Connection::submit_owned(std::vector<std::string>&& argv, Callback<Reply>&& cb,
                              std::optional<std::chrono::milliseconds> timeout) {
  if (refused(cb)) return;
  std::size_t total = 0;
  for (const auto& a : argv) total += a.size();
  if (total < kOwnedMinBytes || argv.size() < 2) {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    submit(views, std::move(cb), timeout);  // takes the usual path for these
    return;
  }
  // Pieces: encoded headers and small arguments, with every big argument
  // (never the command name, which hiredis reads) moved in as a piece of
  // its own.
  std::vector<std::string> pieces;
  std::string head;
  encode_header(head, '*', argv.size());
  for (std::size_t i = 0; i < argv.size(); ++i) {
    encode_header(head, '$', argv[i].size());
    if (i > 0 && argv[i].size() >= kOwnedPieceBytes) {
      pieces.push_back(std::move(head));
      pieces.push_back(std::move(argv[i]));
      head.assign("\r\n", 2);
    } else {
      head.append(argv[i]);
      head.append("\r\n", 2);
    }
  }
  pieces.push_back(std::move(head));
  std::size_t len = 0;
  for (const auto& p : pieces) len += p.size();
  if (Error err; q_.overflowed(len, 1, err)) {
    fail_later(std::move(cb), std::move(err));
    return;
  }
  std::uint32_t slot = 0;
  if (tracker_) {
    // The name (and small arguments) are still in argv; the big ones moved
    // into pieces, and an observer sees them empty.
    std::vector<std::string_view> views(argv.begin(), argv.end());
    slot = track(views);
  }
  q_.push_body(std::move(pieces));
  enqueue(std::move(cb), len, true, timeout, slot);
}

void Connection::submit_group(const std::vector<std::vector<std::string>>& cmds,
                              Once<void(std::vector<Result<Reply>>)> done,
                              std::optional<std::chrono::milliseconds> timeout) {
  struct Gather {
    std::vector<std::optional<Result<Reply>>> results;
    std::size_t left;
    Once<void(std::vector<Result<Reply>>)> done;
  };
  auto fail_all = [this, n = cmds.size()](Once<void(std::vector<Result<Reply>>)> d, Error err) {
    stats_.errors += n;
    post([d = std::move(d), err = std::move(err), n]() mutable {
      std::vector<Result<Reply>> v(n, Result<Reply>(err));
      d(std::move(v));
    });
  };
  if (closing_ || destroyed_) return fail_all(std::move(done), Error{ErrorKind::closed, "client is closed"});
  if (link_.phase() == Link::failed) return fail_all(std::move(done), last_error_);
  ByteBuffer& out = q_.out();
  const std::size_t before = out.size();
  std::vector<std::size_t> lens;
  std::vector<std::string_view> argv;
  for (const auto& cmd : cmds) {
    argv.assign(cmd.begin(), cmd.end());
    lens.push_back(encode_command(out, argv));
  }
  if (Error err; q_.overflowed(out.size() - before, cmds.size(), err)) {
    out.truncate(before);
    return fail_all(std::move(done), std::move(err));
  }
  auto g = std::make_shared<Gather>();
  g->results.resize(cmds.size());
  g->left = cmds.size();
  g->done = std::move(done);
  auto t = timeout.value_or(cfg_.options.command_timeout);
  std::uint64_t first = 0;
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    Request r;
    r.len = static_cast<std::uint32_t>(lens[i]);
    r.group = i == 0 ? static_cast<std::uint32_t>(cmds.size()) : 0;
    r.timeout_ms = timeout_ms_of(t);
    r.cb = [g, i](Result<Reply> res) {
      g->results[i].emplace(std::move(res));
      if (--g->left != 0) return;
      std::vector<Result<Reply>> out;
      out.reserve(g->results.size());
      for (auto& x : g->results) out.push_back(std::move(*x));
      auto d = std::move(g->done);
      d(std::move(out));
    };
    if (tracker_) {
      argv.assign(cmds[i].begin(), cmds[i].end());
      r.track = track(argv);
    }
    const std::uint64_t seq = q_.push(std::move(r));
    if (i == 0) first = seq;
  }
  if (t.count() > 0) add_deadline(first, t);
  if (link_.phase() == Link::ready)
    schedule_flush();
  else if (link_.phase() == Link::idle)
    start();
}

bool Connection::send_subscription(std::span<const std::string_view> argv, Callback<Reply> done) {
  if (!cfg_.push_mode || !tp_.up() || link_.phase() != Link::ready || closing_ || argv.size() < 2) return false;
  const std::uint8_t kind = command_push_kind(argv[0]);
  if (!is_confirmation(kind)) return false;
  const std::size_t len = encode_command(q_.out(), argv);
  Request r;
  r.cb = std::move(done);
  r.len = static_cast<std::uint32_t>(len);
  r.internal = true;
  r.push = kind;
  r.pushes = static_cast<std::uint32_t>(argv.size() - 1);
  q_.push(std::move(r));
  schedule_flush();
  return true;
}

void Connection::schedule_flush() {
  if (handles_closing_) return;
  sched_->before_poll(flush_task_);
}

// Once per loop turn (prepare) or when the socket turns writable: move
// commands from the queue into hiredis, a bounded amount at a time (hiredis
// 0.14 memmoves its whole buffer after a partial write), and write.
void Connection::flush(bool from_writable) {
  flush_task_.cancel();  // when called on writable: this pass does the work
  if (in_flush_ || !tp_.connected()) return;
  in_flush_ = true;
  int slices = 0;
  for (;;) {
    const Link phase = link_.phase();
    if (phase == Link::ready || phase == Link::handshaking) {
      // While handshaking only the handshake's own commands go (the queue's
      // first lane); user commands wait for ready.
      const bool first_only = phase == Link::handshaking;
      // The rest of a big command goes first, a slice per pass: a 512 MB
      // value is never copied into hiredis' buffer (nor memmoved there after
      // a partial write) in one loop turn.
      if (!first_only && tp_.up() && q_.tail_left() > 0 && tp_.out_len() < kHandoffBytes && !hand_tail_slice()) break;
      std::size_t group_left = 0;  // members of a group still to hand in this pass
      RequestQueue::Handoff h;
      // Straight into hiredis' output buffer, no hiredis callback record:
      // our own read path answers the requests (drain_replies). Commands
      // whose bytes follow each other in the queue's buffer go in as one
      // run (one append, not one per command). `h` may be a first slice of
      // a command.
      const char* run = nullptr;
      std::size_t run_len = 0;
      auto append_run = [&] {
        const bool ok = run_len == 0 || tp_.append_raw({run, run_len});
        run_len = 0;
        return ok;
      };
      bool appended = true;
      while (appended && tp_.up() && q_.tail_left() == 0 &&
             (group_left > 0 || tp_.out_len() + run_len < kHandoffBytes) && q_.take(h, group_left, first_only)) {
        if (!h.in_out || run_len == 0 || h.bytes != run + run_len) {
          // The run before this command goes in first.
          appended = append_run();
          if (appended && h.in_out)
            run = h.bytes;
          else if (appended)
            appended = tp_.append(h.bytes, h.len);
        }
        if (h.in_out) run_len += h.len;
        // In flight now; if an append failed, the link is dropped below and
        // this request fails with the others in flight.
        q_.written_taken();
      }
      if (appended) appended = append_run();
      if (!appended) {
        request_drop(Error{ErrorKind::connection_lost, "connection lost: out of memory writing a command"});
        break;
      }
      q_.compact();
    }
    if (!tp_.up() || tp_.out_len() == 0) break;
    if (tp_.tls_direct()) {
      // TLS direct mode: straight into the bridge, unless the server is
      // behind (then transport_drained brings us back).
      if (tp_.tls_congested()) break;
      ++stats_.writes;
      tp_.write_tls();
      if (!tp_.up() || !tp_.tls_direct() || tp_.tls_congested() || q_.queued_empty() || link_.phase() != Link::ready)
        break;
      continue;
    }
    if (tp_.want_writable() && !from_writable) break;  // kernel buffer full: wait for POLLOUT
    ++stats_.writes;
    tp_.write();
    from_writable = false;
    if (!tp_.up() || tp_.want_writable() || link_.phase() != Link::ready || !q_.has_work()) break;
    // A big command's tail: one slice per loop turn, so the loop breathes
    // (other handles run between slices) even when the socket keeps up.
    if (q_.tail_left() > 0 && ++slices >= kSlicesPerTurn) break;
  }
  in_flush_ = false;
  if (tp_.up() && link_.phase() == Link::ready && q_.has_work() && !tp_.want_writable() && !tp_.tls_congested())
    schedule_flush();
}

// Giving hundreds of MiB back to the kernel (munmap) takes tens of ms: the
// moved strings of a big command are freed on libuv's thread pool, so the
// loop does not stall for it. Small bodies are simply freed by the caller.
void release_body(uv_loop_t* loop, std::vector<std::string>&& pieces) {
  std::size_t bytes = 0;
  for (const auto& p : pieces) bytes += p.capacity();
  if (bytes < (8u << 20)) return;  // freed by the caller's pop
  struct Job {
    uv_work_t req;
    std::vector<std::string> pieces;
  };
  auto* job = new Job{};
  job->pieces = std::move(pieces);
  job->req.data = job;
  const int rc = uv_queue_work(
      loop, &job->req, [](uv_work_t* r) { static_cast<Job*>(r->data)->pieces.clear(); },
      [](uv_work_t* r, int) { delete static_cast<Job*>(r->data); });
  if (rc != 0) delete job;
}

// One slice of a big command's rest into hiredis' output buffer: from the
// queue's buffer, or from the strings the caller moved in (submit_owned).
// False when memory ran out (the link is being dropped).
bool Connection::hand_tail_slice() {
  std::size_t room = std::min(q_.tail_left(), kHandoffBytes - tp_.out_len());
  while (room > 0) {
    const std::string_view slice = q_.tail_slice(room);
    if (!tp_.append_raw(slice)) {
      request_drop(Error{ErrorKind::connection_lost, "connection lost: out of memory writing a command"});
      return false;
    }
    room -= slice.size();
    q_.tail_consumed(slice.size());
  }
  return true;
}

}  // namespace uvredis::detail
