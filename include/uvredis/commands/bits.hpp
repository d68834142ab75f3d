#pragma once
/// @file commands/bits.hpp
/// HyperLogLog (PFADD, PFCOUNT, PFMERGE) and bitmap commands (SETBIT as
/// set_bit, GETBIT as get_bit, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO) of the command
/// table. A mixin of Commands<Sink>: every method exists on Client,
/// ClusterClient, Lease, Pipeline and Transaction alike. Loop-thread only;
/// arguments are copied before the call returns; the callback runs exactly
/// once, on a later loop turn.
///
/// Checked before sending (a usage error, nothing sent): empty element or
/// key lists, a bit offset outside 0 to 2^32 - 1, a bit value other than 0
/// or 1, a BITFIELD type other than i1..i64 / u1..u63, BITOP NOT with other
/// than one source, a sub-operation other than GET in BITFIELD_RO.

#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands/base.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis {

template <class Sink>
class BitCommands {
  template <class T>
  using Ret = SinkResult<Sink, T>;
  using Fields = std::vector<std::optional<long long>>;

 public:
  /// PFADD key element ...: whether the estimate changed (true also when the
  /// key was created).
  Ret<bool> pfadd(std::string_view key, const StringList& elements, Callback<bool> cb = {}) {
    detail::Args a("PFADD", 2 + elements.size());
    a.add(key).add_all(elements, "elements");
    return run(a, &decode::boolean, std::move(cb));
  }

  /// PFCOUNT key ...: the estimated number of distinct elements (of the
  /// union when there are several keys; 0 for missing keys).
  Ret<long long> pfcount(const StringList& keys, Callback<long long> cb = {}) {
    detail::Args a("PFCOUNT", 1 + keys.size());
    a.add_all(keys, "keys");
    return run(a, &decode::integer, std::move(cb));
  }

  /// PFMERGE dest source ...: `dest` becomes the union of itself and the
  /// sources (no sources: creates an empty `dest` if there is none).
  Ret<void> pfmerge(std::string_view dest, const StringList& sources, Callback<void> cb = {}) {
    detail::Args a("PFMERGE", 2 + sources.size());
    a.add(dest).add_all(sources);
    return run(a, &decode::ok, std::move(cb));
  }

  /// SETBIT key offset 0|1: the bit's previous value. Named set_bit (and
  /// get_bit to match): <sys/param.h>, which libuv includes, defines a
  /// setbit() macro.
  Ret<bool> set_bit(std::string_view key, long long offset, int value, Callback<bool> cb = {}) {
    detail::Args a("SETBIT");
    a.add(key);
    detail::add_bit_offset(a, offset);
    if (value != 0 && value != 1) a.fail("the bit value must be 0 or 1, got " + std::to_string(value));
    a.add(value ? "1" : "0");
    return run(a, &decode::boolean, std::move(cb));
  }

  /// GETBIT key offset: the bit (false beyond the end or for a missing key).
  Ret<bool> get_bit(std::string_view key, long long offset, Callback<bool> cb = {}) {
    detail::Args a("GETBIT");
    a.add(key);
    detail::add_bit_offset(a, offset);
    return run(a, &decode::boolean, std::move(cb));
  }

  /// BITCOUNT key [start end [BYTE|BIT]]: the number of set bits (in the
  /// range).
  Ret<long long> bitcount(std::string_view key, const BitRange& range, Callback<long long> cb = {}) {
    detail::Args a("BITCOUNT", 5);
    a.add(key);
    detail::add_bit_range(a, range);
    return run(a, &decode::integer, std::move(cb));
  }
  Ret<long long> bitcount(std::string_view key, Callback<long long> cb = {}) {
    detail::Args a("BITCOUNT");
    a.add(key);
    return run(a, &decode::integer, std::move(cb));
  }

  /// BITPOS key 0|1 [start [end [BYTE|BIT]]]: the position (in bits) of the
  /// first bit with that value, -1 when there is none. Looking for 0 without
  /// an end finds the first bit past the string when all of it is set; with
  /// a BitRange the search stays inside the range.
  Ret<long long> bitpos(std::string_view key, int bit, Callback<long long> cb = {}) {
    detail::Args a("BITPOS");
    add_bitpos(a, key, bit);
    return run(a, &decode::integer, std::move(cb));
  }
  Ret<long long> bitpos(std::string_view key, int bit, long long start_byte, Callback<long long> cb = {}) {
    detail::Args a("BITPOS");
    add_bitpos(a, key, bit);
    a.add_int(start_byte);
    return run(a, &decode::integer, std::move(cb));
  }
  Ret<long long> bitpos(std::string_view key, int bit, const BitRange& range, Callback<long long> cb = {}) {
    detail::Args a("BITPOS", 6);
    add_bitpos(a, key, bit);
    detail::add_bit_range(a, range);
    return run(a, &decode::integer, std::move(cb));
  }

  /// BITOP AND|OR|XOR|NOT dest source ...: stores the result in `dest` and
  /// returns its length in bytes (the longest source's). NOT takes exactly
  /// one source.
  Ret<long long> bitop(BitOperation op, std::string_view dest, const StringList& sources,
                       Callback<long long> cb = {}) {
    detail::Args a("BITOP", 3 + sources.size());
    switch (op) {
      case BitOperation::and_: a.add("AND"); break;
      case BitOperation::or_: a.add("OR"); break;
      case BitOperation::xor_: a.add("XOR"); break;
      case BitOperation::not_: a.add("NOT"); break;
    }
    a.add(dest).add_all(sources, "sources");
    if (op == BitOperation::not_ && sources.size() > 1) a.fail("NOT takes exactly one source");
    return run(a, &decode::integer, std::move(cb));
  }

  /// BITFIELD key sub-operation ...: one result per GET, SET (the old value)
  /// and INCRBY (the new value), in order; empty where OVERFLOW FAIL
  /// refused the SET or INCRBY (nothing was written for it).
  Ret<Fields> bitfield(std::string_view key, const std::vector<BitFieldOp>& ops, Callback<Fields> cb = {}) {
    detail::Args a("BITFIELD", 2 + 4 * ops.size());
    a.add(key);
    detail::add_bitfield_ops(a, ops, false);
    return run(a, &decode::optional_integer_list, std::move(cb));
  }

  /// BITFIELD_RO key GET type offset ...: the read-only form (GET only; on
  /// a ClusterClient it may read from a replica).
  Ret<Fields> bitfield_ro(std::string_view key, const std::vector<BitFieldOp>& gets, Callback<Fields> cb = {}) {
    detail::Args a("BITFIELD_RO", 2 + 3 * gets.size());
    a.add(key);
    detail::add_bitfield_ops(a, gets, true);
    return run(a, &decode::optional_integer_list, std::move(cb));
  }

 private:
  static void add_bitpos(detail::Args& a, std::string_view key, int bit) {
    a.add(key);
    if (bit != 0 && bit != 1) a.fail("the bit value must be 0 or 1, got " + std::to_string(bit));
    a.add(bit ? "1" : "0");
  }

  template <class T>
  Ret<T> run(detail::Args& a, Decoder<T> d, Callback<T>&& cb) {
    return detail::dispatch<T>(static_cast<Sink&>(*this), a, d, std::move(cb));
  }
};

}  // namespace uvredis
