#pragma once
/// @file latency.hpp
/// LatencyHistogram: command latencies in fixed buckets, as kept by a client
/// when ClientOptions::latency_histogram is on and read through stats().
/// A plain value: copy it, merge it, read it anywhere; it is filled on the
/// loop thread of the client that keeps it.

#include <uvredis/export.hpp>

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace uvredis {

/// A histogram of durations with fixed buckets, updated without allocating:
/// one bucket per microsecond below 8 us, then 8 buckets per power of two
/// (each at most 1/8 of its lower bound wide, so a percentile read from it is
/// at most 12.5% above the true value), up to 2^38 us (about 76 hours;
/// longer samples count in the last bucket). count(), sum() and max() are
/// exact.
class UVREDIS_API LatencyHistogram {
 public:
  static constexpr int kSubBits = 3;                       ///< 2^kSubBits buckets per power of two
  static constexpr int kTopBit = 38;                       ///< samples from 2^kTopBit us share the last bucket
  static constexpr std::size_t kSub = std::size_t{1} << kSubBits;
  static constexpr std::size_t kBuckets = kSub + (kTopBit - kSubBits) * kSub;  ///< 288

  /// Counts one sample.
  void record(std::chrono::nanoseconds d) noexcept {
    const std::uint64_t ns = d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0;
    ++counts_[bucket_of(ns / 1000)];
    ++count_;
    sum_ns_ += ns;
    if (ns > max_ns_) max_ns_ = ns;
  }

  /// Adds the samples of `other` (a client's connections, a cluster's nodes).
  void merge(const LatencyHistogram& other) noexcept;

  /// Samples counted.
  std::uint64_t count() const noexcept { return count_; }
  /// Sum of every sample.
  std::chrono::nanoseconds sum() const noexcept { return std::chrono::nanoseconds(sum_ns_); }
  /// The largest sample; zero when empty.
  std::chrono::nanoseconds max() const noexcept { return std::chrono::nanoseconds(max_ns_); }

  /// A duration at or below which a fraction `q` (0..1) of the samples lie:
  /// the upper bound of the bucket that holds the sample of that rank, never
  /// more than max(); zero when empty.
  std::chrono::nanoseconds percentile(double q) const noexcept;
  std::chrono::nanoseconds p50() const noexcept { return percentile(0.50); }
  std::chrono::nanoseconds p90() const noexcept { return percentile(0.90); }
  std::chrono::nanoseconds p99() const noexcept { return percentile(0.99); }

  /// Samples in bucket `i` (< kBuckets): those of at least bucket_upper(i-1)
  /// (zero for the first) and below bucket_upper(i).
  std::uint64_t bucket(std::size_t i) const noexcept { return counts_[i]; }
  /// The exclusive upper bound of bucket `i`, in microseconds (the last
  /// bucket's is nominal: it holds every longer sample too).
  static std::uint64_t bucket_upper_us(std::size_t i) noexcept;

  /// The bucket of a duration of `us` microseconds.
  static std::size_t bucket_of(std::uint64_t us) noexcept {
    if (us < kSub) return static_cast<std::size_t>(us);
    if (us >= (std::uint64_t{1} << kTopBit)) return kBuckets - 1;
    const int top = static_cast<int>(std::bit_width(us)) - 1;  // kSubBits .. kTopBit-1
    const std::size_t sub = static_cast<std::size_t>(us >> (top - kSubBits)) & (kSub - 1);
    return kSub + static_cast<std::size_t>(top - kSubBits) * kSub + sub;
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ns_ = 0;
  std::uint64_t max_ns_ = 0;
};

}  // namespace uvredis
