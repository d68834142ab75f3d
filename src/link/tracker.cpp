#include "link/tracker.hpp"

#include "protocol/encode.hpp"

#include <uv.h>

#include <algorithm>
#include <cmath>

namespace uvredis {

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ns_ += other.sum_ns_;
  max_ns_ = std::max(max_ns_, other.max_ns_);
}

std::uint64_t LatencyHistogram::bucket_upper_us(std::size_t i) noexcept {
  if (i < kSub) return i + 1;
  const std::size_t shift = (i - kSub) / kSub;
  const std::uint64_t sub = (i - kSub) % kSub;
  return (kSub + sub + 1) << shift;
}

std::chrono::nanoseconds LatencyHistogram::percentile(double q) const noexcept {
  if (count_ == 0) return std::chrono::nanoseconds(0);
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the sample asked for, 1-based: at least the first.
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t upper_ns = bucket_upper_us(i) * 1000;
      return std::chrono::nanoseconds(std::min(upper_ns, max_ns_));
    }
  }
  return std::chrono::nanoseconds(max_ns_);
}

namespace detail {

bool secret_bearing(std::string_view command) noexcept {
  // AUTH and HELLO carry passwords; MIGRATE has AUTH/AUTH2 options; ACL
  // SETUSER takes passwords; CONFIG SET requirepass/masterauth.
  for (std::string_view s : {"AUTH", "HELLO", "MIGRATE", "ACL", "CONFIG"})
    if (iequals(command, s)) return true;
  return false;
}

std::uint32_t Tracker::begin(std::span<const std::string_view> argv) {
  std::uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slab_.size());
    slab_.emplace_back();
  }
  Entry& e = slab_[slot];
  e.t0 = uv_hrtime();
  if (observer_ && !argv.empty()) {
    e.name.assign(argv[0]);
    if (args_ && !secret_bearing(argv[0])) e.args.assign(argv.begin() + 1, argv.end());
  }
  return slot;
}

void Tracker::fill(CommandEvent& ev, const Entry& en, std::vector<std::string_view>& views) const {
  ev.command = en.name;
  views.assign(en.args.begin(), en.args.end());
  ev.args = views;
  ev.node = node_;
}

void Tracker::written(std::uint32_t slot, std::uint32_t len) {
  if (!observer_) return;
  const Entry& en = slab_[slot];
  CommandEvent ev;
  fill(ev, en, views_);
  ev.bytes_out = len;
  ev.latency = std::chrono::nanoseconds(uv_hrtime() - en.t0);
  observer_->on_written(ev);
}

void Tracker::completed(std::uint32_t slot, std::uint32_t len, const Result<Reply>& r) {
  Entry& en = slab_[slot];
  const auto latency = std::chrono::nanoseconds(uv_hrtime() - en.t0);
  const bool replied = r.ok() || r.error().kind == ErrorKind::server;
  // Only answered commands: a timeout or a lost link says nothing about how
  // fast the server is (the counters count those).
  if (hist_ && replied) hist_->record(latency);
  if (observer_) {
    CommandEvent ev;
    fill(ev, en, views_);
    ev.bytes_out = len;
    ev.bytes_in = replied ? reply_bytes : 0;
    ev.latency = latency;
    if (!r) {
      ev.error = r.error().kind;
      if (r.error().kind == ErrorKind::server) ev.error_code = r.error().code();
    }
    observer_->on_completed(ev);
  }
  // By index again: an observer that (against the rules) issued a command
  // may have grown the slab.
  slab_[slot].name.clear();
  slab_[slot].args.clear();
  free_.push_back(slot);
}

}  // namespace detail
}  // namespace uvredis
