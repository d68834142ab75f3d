// The one table of command facts (src/protocol/command_table.cpp): its lookups, the
// consistency of its rows with what the consumers make of them, and that
// every typed helper in include/uvredis/commands/ has a row. Pure logic and
// source files, no network.
#include "../src/protocol/cluster_keys.hpp"
#include "../src/protocol/cluster_reads.hpp"
#include "../src/protocol/command_info.hpp"
#include "../src/protocol/command_table.hpp"
#include "../src/link/request_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace uvredis::detail;
using uvredis::Reply;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "BLMPOP" -> "bLmPoP"
std::string mixed(std::string_view s) {
  std::string out(s);
  for (std::size_t i = 0; i < out.size(); i += 2)
    out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
  return out;
}

}  // namespace

TEST(CommandTable, SortedUniqueAndUpperCase) {
  const auto rows = command_table();
  ASSERT_GT(rows.size(), 200u);
  for (std::size_t i = 1; i < rows.size(); ++i) EXPECT_LT(rows[i - 1].name, rows[i].name) << rows[i].name;
  for (const CommandFacts& c : rows)
    for (char ch : c.name) EXPECT_FALSE(ch >= 'a' && ch <= 'z') << c.name;
}

TEST(CommandTable, FindsEveryRowInAnyCase) {
  for (const CommandFacts& c : command_table()) {
    EXPECT_EQ(find_command(c.name), &c) << c.name;
    EXPECT_EQ(find_command(lower(c.name)), &c) << c.name;
    EXPECT_EQ(find_command(mixed(c.name)), &c) << c.name;
  }
}

TEST(CommandTable, UnknownNamesHaveNoRow) {
  for (std::string_view n : {"", "GETT", "GE", "XYZZY", "message", "pmessage", "G\xc5T", "SUBSCRIBE ",
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ"})
    EXPECT_EQ(find_command(n), nullptr) << n;
  EXPECT_EQ(find_command(std::string(1 << 20, 'G')), nullptr);  // a big value is not a name
}

TEST(CommandTable, WordLists) {
  EXPECT_TRUE(in_word_list("LOAD FLUSH", "load"));
  EXPECT_TRUE(in_word_list("LOAD FLUSH", "Flush"));
  EXPECT_FALSE(in_word_list("LOAD FLUSH", "LOA"));
  EXPECT_FALSE(in_word_list("LOAD FLUSH", "LOAD FLUSH"));
  EXPECT_FALSE(in_word_list("LOAD FLUSH", ""));
  EXPECT_FALSE(in_word_list("", "LOAD"));
  EXPECT_TRUE(in_word_list("REPLY", "reply"));
}

// BLMPOP was in two of the old tables: now one row carries both facts.
TEST(CommandTable, OneRowCarriesEveryFactOfACommand) {
  const CommandFacts* blmpop = find_command("blmpop");
  ASSERT_NE(blmpop, nullptr);
  EXPECT_EQ(blmpop->keys, KeyShape::numkeys2);
  EXPECT_EQ(blmpop->wait, Wait::arg1_seconds);
  EXPECT_TRUE(blmpop->may_block());

  const CommandFacts* mget = find_command("MGET");
  ASSERT_NE(mget, nullptr);
  EXPECT_EQ(mget->keys, KeyShape::all);
  EXPECT_EQ(mget->replica, ReplicaRead::yes);
  EXPECT_EQ(mget->split, SplitKind::mget);

  const CommandFacts* ssub = find_command("SSUBSCRIBE");
  ASSERT_NE(ssub, nullptr);
  EXPECT_EQ(ssub->keys, KeyShape::first);  // the channel picks the shard
  EXPECT_EQ(ssub->push, kSSubscribe);
  EXPECT_NE(ssub->refused.find("Subscriber"), std::string_view::npos);

  const CommandFacts* watch = find_command("WATCH");
  ASSERT_NE(watch, nullptr);
  EXPECT_TRUE(watch->transaction);
  EXPECT_EQ(watch->keys, KeyShape::all);

  const CommandFacts* script = find_command("SCRIPT");
  ASSERT_NE(script, nullptr);
  EXPECT_EQ(script->fan_out, FanOut::same);
  EXPECT_EQ(script->fan_out_subs, "LOAD FLUSH");
}

// What each consumer makes of a row agrees with the row, for every row.
TEST(CommandTable, ClassificationFollowsTheRows) {
  for (const CommandFacts& c : command_table()) {
    const std::string name(c.name);
    if (c.classified()) {
      EXPECT_TRUE(kClassifiedFilter.maybe(name)) << name;
      EXPECT_TRUE(kClassifiedFilter.maybe(lower(name))) << name;
    }
    // Enough arguments for every shape: a subcommand the row lists, keys,
    // and a timeout in every place one may be read from.
    std::vector<std::string_view> argv{c.name};
    if (!c.refused_subs.empty()) argv.push_back(c.refused_subs.substr(0, c.refused_subs.find(' ')));
    else argv.insert(argv.end(), {"1", "1", "k", "1"});
    const CommandClass cls = classify_command(argv);
    if (!c.refused.empty()) {
      EXPECT_EQ(cls.route, CommandRoute::refused) << name;
      EXPECT_EQ(cls.reason, c.refused) << name;
      EXPECT_EQ(is_transaction_command(name), c.transaction) << name;
    } else if (c.wait == Wait::last_seconds || c.wait == Wait::arg1_seconds) {
      EXPECT_EQ(cls.route, CommandRoute::blocking) << name;
      EXPECT_TRUE(cls.block_time) << name;
    } else {
      EXPECT_EQ(cls.route, CommandRoute::normal) << name;  // XREAD blocks only with BLOCK
    }
    if (!c.refused_subs.empty()) {
      EXPECT_EQ(classify_command(std::vector<std::string_view>{c.name, "SETNAME", "x"}).route, CommandRoute::normal)
          << name;
    }
    EXPECT_EQ(command_push_kind(lower(name)), c.push) << name;
    if (c.push != kNotPush) {
      EXPECT_TRUE(is_confirmation(c.push)) << name;
      EXPECT_FALSE(c.refused.empty()) << name << ": a subscription belongs to a Subscriber";
    }
    EXPECT_EQ(split_kind(mixed(name)), c.split) << name;
  }
  for (std::string_view n : {"GET", "SET", "HGET", "INCR", "LPUSH", "ZADD", "XADD"})
    EXPECT_FALSE(kClassifiedFilter.maybe(n)) << n << " should not need a lookup at all";
}

TEST(CommandTable, RoutingFollowsTheRows) {
  for (const CommandFacts& c : command_table()) {
    const std::string name(c.name);
    const std::vector<std::string_view> one_key{c.name, "k"};
    if (c.keys == KeyShape::first) {
      EXPECT_EQ(command_keys(one_key).count(), 1u) << name;
    }
    if (c.keys == KeyShape::none) {
      EXPECT_EQ(command_keys(one_key).count(), 0u) << name;
    }
    if (c.replica == ReplicaRead::yes) {
      EXPECT_TRUE(replica_readable(one_key)) << name;
    }
    if (c.replica == ReplicaRead::no) {
      EXPECT_FALSE(replica_readable(one_key)) << name;
      EXPECT_FALSE(replica_readable(std::vector<std::string_view>{c.name, "k", "1", "k2"})) << name;
    }
    if (c.fan_out != FanOut::none && c.fan_out_subs.empty()) {
      EXPECT_EQ(fan_out_kind(std::vector<std::string_view>{c.name}), c.fan_out) << name;
    }
    if (!c.fan_out_subs.empty()) {
      EXPECT_EQ(fan_out_kind(std::vector<std::string_view>{c.name}), FanOut::none) << name;
      EXPECT_EQ(fan_out_kind(std::vector<std::string_view>{c.name, "NOSUCHSUB"}), FanOut::none) << name;
      const std::string sub = lower(c.fan_out_subs.substr(0, c.fan_out_subs.find(' ')));
      EXPECT_EQ(fan_out_kind(std::vector<std::string_view>{c.name, sub}), c.fan_out) << name;
    }
    if (c.replica == ReplicaRead::subcommand) {
      const std::string sub = lower(c.replica_subs.substr(0, c.replica_subs.find(' ')));
      EXPECT_TRUE(replica_readable(std::vector<std::string_view>{c.name, sub, "k"})) << name;
      EXPECT_FALSE(replica_readable(std::vector<std::string_view>{c.name, "NOSUCHSUB", "k"})) << name;
    }
  }
  // The confirmations on the wire are the rows' names in lower case, only.
  for (const CommandFacts& c : command_table()) {
    if (c.push == kNotPush) continue;
    auto push = [](std::string name) {
      std::vector<Reply> e;
      e.push_back(Reply::string(std::move(name)));
      e.push_back(Reply::string("ch"));
      e.push_back(Reply::integer(1));
      return Reply::array(std::move(e));
    };
    EXPECT_EQ(push_kind_of(push(lower(c.name))), c.push) << c.name;
    EXPECT_EQ(push_kind_of(push(std::string(c.name))), kNotPush) << c.name;
    EXPECT_EQ(push_kind_of(push(mixed(c.name))), kNotPush) << c.name;
  }
}

// ------------------------------------------------- every typed helper has a row

namespace {

const fs::path kRoot = UVREDIS_SOURCE_DIR;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The text without // and /* */ comments (string literals kept as they are).
std::string strip_comments(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"' || s[i] == '\'') {
      const char q = s[i];
      out += s[i++];
      while (i < s.size() && s[i] != q) {
        if (s[i] == '\\' && i + 1 < s.size()) out += s[i++];
        out += s[i++];
      }
      if (i < s.size()) out += s[i];
    } else if (s.compare(i, 2, "//") == 0) {
      while (i < s.size() && s[i] != '\n') ++i;
      out += '\n';
    } else if (s.compare(i, 2, "/*") == 0) {
      const std::size_t end = s.find("*/", i + 2);
      i = end == std::string::npos ? s.size() : end + 1;
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// The first argument of the call whose '(' is at `open`: up to the first
// ',' or ')' outside nested parentheses and string literals.
std::string first_argument(const std::string& s, std::size_t open) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = open + 1; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '(') ++depth;
    else if ((c == ')' || c == ',') && depth == 0) return s.substr(open + 1, i - open - 1);
    else if (c == ')') --depth;
  }
  return s.substr(open + 1);
}

bool looks_like_command(const std::string& s) {
  static const std::regex name("[A-Z][A-Z0-9_]*");
  return std::regex_match(s, name);
}

struct HelperNames {
  std::set<std::string> names;             // every command name a helper sends
  std::vector<std::string> unreadable;     // builders whose command name the scan cannot read
  std::set<std::string> files;
};

// A typed helper builds its command with `detail::Args a(<name>, ...)`, where
// <name> is a string literal (or a choice of literals), or the parameter
// `name` of a private helper that every public method calls with a literal
// first: `count_keys("DEL", keys, cb)`. Both forms are collected from every
// public header; a builder named any other way is reported, so the scan
// cannot silently miss one.
HelperNames scan_helpers() {
  HelperNames out;
  static const std::regex builder(R"(\bArgs\s+\w+\s*\()");
  static const std::regex literal(R"re("([^"\\]*)")re");
  static const std::regex forwarded(R"re(([A-Za-z_]\w*)\s*\(\s*"([^"\\]*)")re");
  for (const auto& e : fs::recursive_directory_iterator(kRoot / "include" / "uvredis")) {
    if (!e.is_regular_file() || e.path().extension() != ".hpp") continue;
    if (e.path().filename() == "args.hpp") continue;  // the builder itself
    const std::string text = strip_comments(read_file(e.path()));
    if (text.find("Args") == std::string::npos) continue;
    bool builds = false;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), builder); it != std::sregex_iterator(); ++it) {
      builds = true;
      const std::size_t open = static_cast<std::size_t>(it->position() + it->length() - 1);
      const std::string arg = first_argument(text, open);
      bool any = false;
      for (auto l = std::sregex_iterator(arg.begin(), arg.end(), literal); l != std::sregex_iterator(); ++l) {
        any = true;
        if (looks_like_command((*l)[1])) out.names.insert((*l)[1]);
        else out.unreadable.push_back(e.path().filename().string() + ": literal " + (*l)[0].str());
      }
      if (!any && arg != "name") out.unreadable.push_back(e.path().filename().string() + ": Args(" + arg + ", ...)");
    }
    if (!builds) continue;
    out.files.insert(e.path().filename().string());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), forwarded); it != std::sregex_iterator(); ++it) {
      // Member calls (a.add("WITHSCORES"), a.fail("...")) and qualified
      // ones (detail::add_millis) take options, not command names.
      const auto at = static_cast<std::size_t>(it->position());
      const char before = at > 0 ? text[at - 1] : ' ';
      if (before == '.' || before == '>' || before == ':') continue;
      if (looks_like_command((*it)[2])) out.names.insert((*it)[2]);
    }
  }
  return out;
}

}  // namespace

TEST(CommandTable, EveryTypedHelperHasARow) {
  const HelperNames found = scan_helpers();
  for (const std::string& u : found.unreadable)
    ADD_FAILURE() << "cannot tell which command this typed helper sends (use a string literal, or a parameter "
                     "called `name` fed with literals): "
                  << u;
  // The scan must keep seeing each way a helper names its command, or it
  // would pass by finding nothing.
  EXPECT_GE(found.names.size(), 140u);
  EXPECT_GE(found.files.size(), 11u);
  for (const char* n : {"GET", "SETEX", "PSETEX", "DEL", "FCALL_RO", "ZREVRANGEBYSCORE", "XAUTOCLAIM", "BLPOP"})
    EXPECT_TRUE(found.names.count(n)) << n << " was not found by the scan";
  for (const std::string& n : found.names)
    EXPECT_NE(find_command(n), nullptr) << n << " is sent by a typed helper but has no row in src/protocol/command_table.cpp";
}

// The scan itself: each form it must read, on made-up text.
TEST(CommandTable, HelperScanReadsEachForm) {
  EXPECT_EQ(strip_comments("a // \"X\"\nb /* c */ \"//\""), "a \nb   \"//\"");
  const std::string s = R"(Args a(secs ? "SETEX" : "PSETEX", f(1, 2)); g("x", 1))";
  EXPECT_EQ(first_argument(s, s.find('(')), R"(secs ? "SETEX" : "PSETEX")");
  EXPECT_TRUE(looks_like_command("BITFIELD_RO"));
  EXPECT_FALSE(looks_like_command("the list of "));
  EXPECT_FALSE(looks_like_command("(1"));
}
