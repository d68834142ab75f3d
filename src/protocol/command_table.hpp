#pragma once
// The one table of what uvredis knows about Redis commands: where their keys
// are, whether they wait on the server, whether a Client refuses them (and
// what to use instead), transactions, which reads a replica may answer, how a
// cluster splits or fans them out, and which pub/sub confirmation they expect.
//
// Every consumer reads it: classify_command (command_info.cpp), command_keys,
// split_kind and fan_out_kind (cluster_keys.cpp), replica_readable
// (cluster_reads.cpp), command_push_kind and push_kind_of (request_queue.cpp).
// Adding a command is its typed helper in include/uvredis/commands/ plus one
// row in command_table.cpp; tests/test_command_table.cpp fails when a typed
// helper names a command that has no row. Pure data and lookups, no I/O.

#include <cstdint>
#include <span>
#include <string_view>

namespace uvredis::detail {

/// How a command's keys sit in its argv (argv[0] the command name).
enum class KeyShape : std::uint8_t {
  first,           ///< argv[1] (also what a command without a row gets)
  none,            ///< keyless: any node
  all,             ///< argv[1..]
  all_but_last,    ///< argv[1..n-2] (BLPOP k1 k2 timeout)
  two,             ///< argv[1], argv[2]
  pairs,           ///< argv[1], argv[3], ... (MSET k v k v)
  from2,           ///< argv[2..] (BITOP op dest k1 k2)
  second,          ///< argv[2] only (OBJECT ENCODING key)
  numkeys1,        ///< numkeys at argv[1], keys after it (ZUNION 2 a b)
  numkeys2,        ///< numkeys at argv[2], keys after it (EVAL script 2 a b)
  dest_numkeys2,   ///< argv[1] and numkeys at argv[2] (ZUNIONSTORE dest 2 a b)
  streams,         ///< the first half after STREAMS (XREAD); options from options_at
  subcommand_key,  ///< argv[2] for the key-taking subcommands, else keyless (MEMORY USAGE key)
};

/// Whether and how a command waits on the server, and where its wait is.
enum class Wait : std::uint8_t {
  none,
  last_seconds,  ///< blocking; timeout in seconds is the last argument (BLPOP)
  arg1_seconds,  ///< blocking; timeout in seconds at argv[1] (BLMPOP)
  block_option,  ///< blocking only with BLOCK <ms> among its options (XREAD)
  arg2_millis,   ///< stays on the shared connection; waits argv[2] ms (WAIT)
  arg3_millis,   ///< stays on the shared connection; waits argv[3] ms (WAITAOF)
};

/// Whether a ClusterClient may send the command to a replica (see
/// replica_readable for the rules behind the rows).
enum class ReplicaRead : std::uint8_t {
  no,
  yes,              ///< a read with keys
  subcommand,       ///< only with one of replica_subs and a key (OBJECT ENCODING k)
  one_key,          ///< only with exactly one key (PFCOUNT)
  unless_blocking,  ///< only without BLOCK (XREAD)
};

/// Commands whose keys may be split per slot, each part sent on its own, the
/// replies combined: MGET, MSET, and the counting DEL/EXISTS/UNLINK/TOUCH.
enum class SplitKind : std::uint8_t { none, mget, mset, sum };

/// Keyless commands that act on one node's data set but that a caller means
/// for the whole cluster: sent to every master. `same`: every master must
/// succeed and the reply is the first one (SCRIPT LOAD gives the same SHA
/// everywhere); `sum`: integer replies are added up (DBSIZE).
enum class FanOut : std::uint8_t { none, same, sum };

/// Push mode: the kinds of RESP2 pub/sub pushes (lower case on the wire) and
/// of the commands whose confirmations they are. Messages are pushes only;
/// the (un)subscribe kinds are also the `push` fact of their command's row.
enum PushKind : std::uint8_t {
  kNotPush = 0,
  kSubscribe,
  kPSubscribe,
  kSSubscribe,
  kUnsubscribe,
  kPUnsubscribe,
  kSUnsubscribe,
  kMessage,
  kPMessage,
  kSMessage,
};

/// One row: the facts about one command. Subcommand lists are upper-case
/// words separated by one space.
struct CommandFacts {
  std::string_view name;  ///< upper case; the table is sorted by it
  KeyShape keys = KeyShape::first;
  Wait wait = Wait::none;
  /// Where options start (streams key shape, block_option wait): after the
  /// name, or after XREADGROUP's GROUP group consumer, whose names are not
  /// keywords even when they read "BLOCK" or "STREAMS".
  std::uint8_t options_at = 1;
  bool transaction = false;  ///< MULTI/EXEC/...: refused on a Client, allowed on a Lease
  ReplicaRead replica = ReplicaRead::no;
  SplitKind split = SplitKind::none;
  FanOut fan_out = FanOut::none;
  std::uint8_t push = kNotPush;  ///< the confirmation kind an (un)subscribe expects
  /// Why a Client refuses the command, naming what to use instead; empty
  /// when it is allowed.
  std::string_view refused;
  std::string_view refused_subs;  ///< refused only with one of these subcommands; empty: always
  std::string_view replica_subs;  ///< ReplicaRead::subcommand: the subcommands a replica answers
  std::string_view fan_out_subs;  ///< fan out only with one of these subcommands; empty: always

  /// Needs a connection of its own (BLOCK decides for block_option).
  constexpr bool may_block() const noexcept {
    return wait == Wait::last_seconds || wait == Wait::arg1_seconds || wait == Wait::block_option;
  }
  /// classify_command has something to say about it.
  constexpr bool classified() const noexcept { return !refused.empty() || wait != Wait::none; }
};

/// Every row, sorted by name, names unique (checked at compile time).
std::span<const CommandFacts> command_table() noexcept;

/// The row of a command name in any case, or null when the table has none.
/// A hash over the upper-cased name: one string compare for a hit.
const CommandFacts* find_command(std::string_view name) noexcept;

/// True when `word` (any case) is one of the space-separated upper-case
/// words of `list`.
bool in_word_list(std::string_view list, std::string_view word) noexcept;

/// A prefilter for classify_command on the hot path: answers "no row of
/// this name is classified()" for most names (GET, SET, HGET ...) from the
/// first letter and the length alone, without a string compare or a hash.
struct ClassifiedFilter {
  std::uint32_t mask[26] = {};  // bit `len` of mask[letter]: a classified row of that shape exists

  bool maybe(std::string_view name) const noexcept {
    if (name.empty() || name.size() >= 32) return false;
    const unsigned char c = static_cast<unsigned char>(name[0]) & 0xDF;  // ASCII upper case
    if (c < 'A' || c > 'Z') return false;
    return (mask[c - 'A'] >> name.size()) & 1u;
  }
};
extern const ClassifiedFilter kClassifiedFilter;

}  // namespace uvredis::detail
