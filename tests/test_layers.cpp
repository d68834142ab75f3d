// The layers of uvredis, as folders, and the rule between them: a file may
// include its own layer and the layers below it, never one above. Read from
// the source tree (no build products), for src/ and for the public headers.
//
// src/ folders, lowest first (each folder's main file says what it owns):
//   base      logging, randomness, SHA-1, uv handle ownership
//   protocol  RESP encoding, reply decoding, callback adapters, the
//             command-facts table, key slots
//   tls       the OpenSSL bridge under a link
//   link      one connection: queue, link machine, handshake, scheduler,
//             transport glue to hiredis, the address source it asks
//   sentinel  Sentinel discovery, an address source built on connections
//   client    Client, Poster, pipelines, leases, scripts, options from URLs
//   cluster   ClusterClient: topology, routing, redirects
//   pubsub    Subscriber, sharded and keyspace subscriptions
//   recipes   locks, limiters, caches, stores, streams recipes
//   ws        the uvredis-ws component
// Public headers (include/uvredis) keep their flat paths, which are what users
// include; each is given its layer in kPublic and checked the same way.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = UVREDIS_SOURCE_DIR;

const std::vector<std::string> kLayers = {"base",   "protocol", "tls",     "link", "sentinel",
                                          "client", "cluster",  "pubsub",  "recipes", "ws"};

int rank_of(const std::string& layer) {
  auto it = std::find(kLayers.begin(), kLayers.end(), layer);
  return it == kLayers.end() ? -1 : static_cast<int>(it - kLayers.begin());
}

// The public headers' layers. The umbrellas sit on top of what they gather:
// core.hpp everything but the recipes (and uvredis-ws), recipes.hpp and
// uvredis.hpp everything but uvredis-ws.
const std::map<std::string, std::string> kPublic = {
    {"export.hpp", "base"},
    {"callbacks.hpp", "base"},
    {"error.hpp", "base"},
    {"result.hpp", "base"},
    {"latency.hpp", "base"},
    {"observe.hpp", "base"},
    {"coro_task.hpp", "base"},
    {"version.hpp", "base"},
    {"detail/function.hpp", "base"},
    {"detail/args.hpp", "protocol"},
    {"reply.hpp", "protocol"},
    {"command_types.hpp", "protocol"},
    {"command_args.hpp", "protocol"},
    {"commands.hpp", "protocol"},
    {"decode.hpp", "protocol"},
    {"json_codec.hpp", "protocol"},
    {"link_types.hpp", "base"},
    {"options.hpp", "base"},
    {"executor.hpp", "client"},
    {"client.hpp", "client"},
    {"pipeline.hpp", "client"},
    {"lease.hpp", "client"},
    {"script.hpp", "client"},
    {"cluster.hpp", "cluster"},
    {"subscriber.hpp", "pubsub"},
    {"cluster_subscriber.hpp", "pubsub"},
    {"keyspace.hpp", "pubsub"},
    {"core.hpp", "pubsub"},
    {"cache.hpp", "recipes"},
    {"client_cache.hpp", "recipes"},
    {"cluster_client_cache.hpp", "recipes"},
    {"consumer_group.hpp", "recipes"},
    {"kv_store.hpp", "recipes"},
    {"lock.hpp", "recipes"},
    {"presence.hpp", "recipes"},
    {"rate_limiter.hpp", "recipes"},
    {"registry.hpp", "recipes"},
    {"resumable_channel.hpp", "recipes"},
    {"script_recipes.hpp", "recipes"},
    {"session_store.hpp", "recipes"},
    {"window_limiter.hpp", "recipes"},
    {"recipes.hpp", "recipes"},
    {"uvredis.hpp", "recipes"},
    {"coro.hpp", "recipes"},
    {"ws_fanout.hpp", "ws"},
};

// The layer of a public header named as included ("client.hpp",
// "commands/keys.hpp"); the typed command mixins are protocol.
std::string public_layer(const std::string& name) {
  if (name.rfind("commands/", 0) == 0) return "protocol";
  auto it = kPublic.find(name);
  return it == kPublic.end() ? std::string() : it->second;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Include {
  std::string target;  // "link/connection.hpp" or "<uvredis/client.hpp>"
  std::string layer;   // the layer it belongs to, empty when unknown
};

// Every project include in `text`: quoted src includes by folder, and
// <uvredis/...> public ones. Includes of system and third-party headers are
// not layers and are skipped.
std::vector<Include> includes_in(const std::string& text) {
  static const std::regex quoted(R"(#\s*include\s+"([a-z_]+)/([A-Za-z0-9_./]+)\")");
  static const std::regex angled(R"(#\s*include\s+<uvredis/([A-Za-z0-9_./]+)>)");
  std::vector<Include> out;
  for (std::sregex_iterator it(text.begin(), text.end(), quoted), end; it != end; ++it) {
    const std::string folder = (*it)[1].str();
    if (rank_of(folder) < 0) continue;  // e.g. "support/..." in tests
    out.push_back({folder + "/" + (*it)[2].str(), folder});
  }
  for (std::sregex_iterator it(text.begin(), text.end(), angled), end; it != end; ++it)
    out.push_back({"<uvredis/" + (*it)[1].str() + ">", public_layer((*it)[1].str())});
  return out;
}

// The includes of a file in `layer` that point up, or at a public header
// with no layer (each said as "target (layer)").
std::vector<std::string> up_includes(const std::string& layer, const std::string& text) {
  std::vector<std::string> bad;
  for (const Include& inc : includes_in(text)) {
    if (inc.layer.empty())
      bad.push_back(inc.target + " (a public header with no layer in kPublic)");
    else if (rank_of(inc.layer) > rank_of(layer))
      bad.push_back(inc.target + " (" + inc.layer + ")");
  }
  return bad;
}

bool is_source(const fs::path& p) { return p.extension() == ".cpp" || p.extension() == ".hpp"; }

// The checker itself, on text written here: it must be able to say no.
TEST(Layers, CheckerFlagsAnIncludePointingUp) {
  EXPECT_EQ(up_includes("link", "#include \"client/client_impl.hpp\"\n"),
            std::vector<std::string>{"client/client_impl.hpp (client)"});
  EXPECT_EQ(up_includes("protocol", "#include <uvredis/client.hpp>\n"),
            std::vector<std::string>{"<uvredis/client.hpp> (client)"});
  EXPECT_EQ(up_includes("base", "#include <uvredis/made_up.hpp>\n").size(), 1u);
  EXPECT_TRUE(up_includes("client", "#include \"link/connection.hpp\"\n#include \"client/lease_pool.hpp\"\n"
                                    "#include <uvredis/reply.hpp>\n#include <hiredis/hiredis.h>\n#include <vector>\n")
                  .empty());
  EXPECT_TRUE(up_includes("recipes", "#  include \"support/await.hpp\"\n").empty());
}

TEST(Layers, EverySourceFileSitsInALayerFolder) {
  for (const auto& e : fs::recursive_directory_iterator(kRoot / "src")) {
    if (!e.is_regular_file() || !is_source(e.path())) continue;
    const fs::path rel = fs::relative(e.path(), kRoot / "src");
    const std::string folder = rel.begin()->string();
    EXPECT_TRUE(rel.has_parent_path() && rank_of(folder) >= 0)
        << "src/" << rel.string() << " is not in one of the layer folders";
  }
}

TEST(Layers, NoSourceIncludePointsUp) {
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(kRoot / "src")) {
    if (!e.is_regular_file() || !is_source(e.path())) continue;
    const fs::path rel = fs::relative(e.path(), kRoot / "src");
    if (!rel.has_parent_path()) continue;  // reported by the test above
    ++files;
    for (const std::string& b : up_includes(rel.begin()->string(), read_file(e.path())))
      ADD_FAILURE() << "src/" << rel.string() << " includes " << b << ", a layer above its own";
  }
  EXPECT_GT(files, 50);
}

TEST(Layers, EveryPublicHeaderHasALayerAndNoneIncludesUp) {
  const fs::path pub = kRoot / "include" / "uvredis";
  int headers = 0;
  for (const auto& e : fs::recursive_directory_iterator(pub)) {
    if (!e.is_regular_file()) continue;
    std::string name = fs::relative(e.path(), pub).generic_string();
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".in") == 0) name.resize(name.size() - 3);
    if (fs::path(name).extension() != ".hpp") continue;
    ++headers;
    const std::string layer = public_layer(name);
    if (layer.empty()) {
      ADD_FAILURE() << "include/uvredis/" << name << " has no layer in kPublic (tests/test_layers.cpp)";
      continue;
    }
    for (const std::string& b : up_includes(layer, read_file(e.path())))
      ADD_FAILURE() << "include/uvredis/" << name << " (" << layer << ") includes " << b;
  }
  EXPECT_GT(headers, 40);
}

// The core umbrella gathers no recipe: a program that wants only commands,
// pipelines, pub/sub and cluster compiles none of the recipes' headers.
TEST(Layers, CoreUmbrellaHoldsNoRecipe) {
  const std::string core = read_file(kRoot / "include" / "uvredis" / "core.hpp");
  ASSERT_FALSE(core.empty());
  for (const Include& inc : includes_in(core)) EXPECT_LT(rank_of(inc.layer), rank_of("recipes")) << inc.target;
  const std::string all = read_file(kRoot / "include" / "uvredis" / "uvredis.hpp");
  EXPECT_NE(all.find("<uvredis/core.hpp>"), std::string::npos);
  EXPECT_NE(all.find("<uvredis/recipes.hpp>"), std::string::npos);
}

// Each folder says, at the top of its main file, what it owns and what it
// may include.
TEST(Layers, EachFolderSaysWhatItOwnsInItsMainFile) {
  const std::map<std::string, std::string> main_file = {
      {"base", "uv_handle.hpp"},         {"protocol", "encode.hpp"},          {"tls", "tls_bridge.hpp"},
      {"link", "connection.hpp"},        {"sentinel", "sentinel.hpp"},       {"client", "client_impl.hpp"},      {"cluster", "cluster_impl.hpp"},
      {"pubsub", "shard_link.hpp"},      {"recipes", "lock_detail.hpp"},     {"ws", "ws_fanout_hub.hpp"},
  };
  for (const std::string& layer : kLayers) {
    auto it = main_file.find(layer);
    ASSERT_NE(it, main_file.end()) << layer;
    const std::string text = read_file(kRoot / "src" / layer / it->second);
    const std::string head = "#pragma once\n// Layer " + layer + " (src/" + layer + "/): ";
    EXPECT_EQ(text.rfind(head, 0), 0u) << "src/" << layer << "/" << it->second << " does not start with \"" << head << "\"";
    EXPECT_TRUE(std::regex_search(text, std::regex(R"(May\s+(//\s+)?include:)"))) << layer;
  }
}

}  // namespace
