#pragma once
// Per-command bookkeeping for a CommandObserver and the latency histogram,
// kept off the request queue's hot path: a request carries only a slot
// number here (Request::track, 0 when nothing watches), and a connection
// without an observer or histogram has no Tracker at all. Loop-thread only,
// like the connection that owns it.

#include <uvredis/latency.hpp>
#include <uvredis/observe.hpp>
#include <uvredis/reply.hpp>
#include <uvredis/result.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis::detail {

class Tracker {
 public:
  /// `hist`: where latencies of answered commands go (null: none kept);
  /// `args`: the observer may see argument values (never of secret-bearing
  /// commands).
  Tracker(std::shared_ptr<CommandObserver> observer, bool args, LatencyHistogram* hist)
      : observer_(std::move(observer)), args_(args), hist_(hist) {}

  /// A command was accepted: its slot (never 0), stamped with the time.
  std::uint32_t begin(std::span<const std::string_view> argv);
  /// Its `len` bytes were handed to the link.
  void written(std::uint32_t slot, std::uint32_t len);
  /// It completed with `r`: observer and histogram told, slot freed.
  void completed(std::uint32_t slot, std::uint32_t len, const Result<Reply>& r);

  /// The server, as shown to the observer.
  void set_node(std::string node) { node_ = std::move(node); }
  /// Bytes of the reply about to complete a command (set by the reader just
  /// before it hands the reply over, cleared after).
  std::uint64_t reply_bytes = 0;

 private:
  struct Entry {
    std::uint64_t t0 = 0;  // uv_hrtime() at begin
    std::string name;
    std::vector<std::string> args;
  };
  void fill(CommandEvent& e, const Entry& en, std::vector<std::string_view>& views) const;

  std::shared_ptr<CommandObserver> observer_;
  bool args_ = false;
  LatencyHistogram* hist_ = nullptr;
  std::string node_;
  std::vector<Entry> slab_{1};          // slot 0 means "not tracked"
  std::vector<std::uint32_t> free_;     // slots to reuse
  std::vector<std::string_view> views_;  // scratch for CommandEvent::args
};

/// Commands whose arguments may hold a secret: never shown to an observer.
bool secret_bearing(std::string_view command) noexcept;

}  // namespace uvredis::detail
