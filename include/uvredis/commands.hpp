#pragma once
/// @file commands.hpp
/// The table of typed Redis commands, written once and shared by every sink:
/// Client and Lease (callbacks, through Executor), Pipeline and Transaction
/// (result handles), and later ClusterClient. Each family lives in its own
/// header under commands/ as a mixin; Commands<Sink> is all of them. A sink
/// derives from Commands<Sink> and provides
///
///   template <class T>
///   SinkResult<Sink, T> send(std::span<const std::string_view> argv,
///                            Decoder<T> decode, Callback<T>&& cb);
///   template <class T>
///   SinkResult<Sink, T> fail(Error usage_error, Callback<T>&& cb);
///
/// (`cb` is handed on as an rvalue: a sink may also take it by value.)
/// `argv` is only valid during the call (sinks copy or encode it at once).
/// `fail` must deliver the error on a later loop turn, never inside the call.
/// A helper checks what it can before sending (empty key lists, NaN scores,
/// negative counts where Redis refuses them) and reports it through `fail`.
/// Loop-thread only, like the sink.
///
/// Result types: absent values are empty optionals (never errors), counts
/// are long long, scores double (with infinities), durations std::chrono;
/// see command_types.hpp. Argument types: command_args.hpp.

#include <uvredis/command_args.hpp>
#include <uvredis/command_types.hpp>
#include <uvredis/commands/base.hpp>
#include <uvredis/commands/bits.hpp>
#include <uvredis/commands/functions.hpp>
#include <uvredis/commands/geo.hpp>
#include <uvredis/commands/hashes.hpp>
#include <uvredis/commands/keys.hpp>
#include <uvredis/commands/lists.hpp>
#include <uvredis/commands/server.hpp>
#include <uvredis/commands/sets.hpp>
#include <uvredis/commands/sorted_sets.hpp>
#include <uvredis/commands/streams.hpp>
#include <uvredis/commands/strings.hpp>

namespace uvredis {

/// Every typed command, for a sink (see the file comment).
template <class Sink>
class Commands : public StringCommands<Sink>,
                 public KeyCommands<Sink>,
                 public HashCommands<Sink>,
                 public ListCommands<Sink>,
                 public SetCommands<Sink>,
                 public SortedSetCommands<Sink>,
                 public StreamCommands<Sink>,
                 public GeoCommands<Sink>,
                 public BitCommands<Sink>,
                 public FunctionCommands<Sink>,
                 public ServerCommands<Sink> {};

}  // namespace uvredis
