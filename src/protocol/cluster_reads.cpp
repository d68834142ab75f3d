#include "protocol/cluster_reads.hpp"

#include "protocol/command_table.hpp"
#include "protocol/encode.hpp"

namespace uvredis::detail {

// The rows of command_table.cpp say which commands a replica may answer
// (checked against `COMMAND INFO` of redis-server 7.0: every one has the
// `readonly` flag); this applies the conditions some of them carry.
bool replica_readable(std::span<const std::string_view> argv) noexcept {
  const std::size_t n = argv.size();
  if (n < 2) return false;
  const CommandFacts* facts = find_command(argv[0]);
  if (facts == nullptr) return false;
  switch (facts->replica) {
    case ReplicaRead::no: return false;
    case ReplicaRead::yes: return true;
    // OBJECT FREQ/IDLETIME describe accesses on the node asked: a replica's
    // answer is not the master's, so only the listed subcommands qualify.
    case ReplicaRead::subcommand: return n >= 3 && in_word_list(facts->replica_subs, argv[1]);
    // One key only (the rule issue 8 set); several keys of one slot are a
    // read too, but stay on the master.
    case ReplicaRead::one_key: return n == 2;
    case ReplicaRead::unless_blocking:
      for (std::size_t i = 1; i < n; ++i) {
        if (iequals(argv[i], "STREAMS")) return true;
        if (iequals(argv[i], "BLOCK")) return false;
      }
      return false;
  }
  return false;
}

}  // namespace uvredis::detail
