#include "link/handshake.hpp"

#include "link/address_source.hpp"

namespace uvredis::detail {

namespace {

std::string replica_check(const Reply& r) {
  std::string why = replica_link_problem(r);
  return why.empty() ? why : "serves no reads: " + why;
}

}  // namespace

std::string role_is_not_master(const Reply& r) {
  if (r.is_array() && r.size() >= 1 && r[0].is_string() && r[0].str() == "master") return {};
  if (r.is_array() && r.size() >= 1 && r[0].is_string()) return "is not the master (ROLE: " + std::string(r[0].str()) + ")";
  return "gave an unexpected answer to ROLE";
}

std::string replica_link_problem(const Reply& role) {
  if (!role.is_array() || role.size() < 1 || !role[0].is_string()) return "unexpected answer to ROLE";
  const std::string_view kind = role[0].str();
  if (kind == "master") return {};
  if (kind != "slave") return "ROLE says " + std::string(kind);
  if (role.size() < 4 || !role[3].is_string()) return "unexpected answer to ROLE";
  if (role[3].str() == "connected") return {};
  return "the replica's link to its master is '" + std::string(role[3].str()) + "', not 'connected' (not in sync)";
}

std::vector<HandshakeStep> handshake_plan(const ConnectionConfig& cfg) {
  std::vector<HandshakeStep> plan;
  auto add = [&plan](std::vector<std::string> argv, std::string what,
                     std::function<std::string(const Reply&)> check = nullptr) {
    plan.push_back(HandshakeStep{std::move(argv), std::move(check), std::move(what)});
  };
  const Address& a = cfg.options.address;
  if (!a.password.empty()) {
    if (a.username.empty())
      add({"AUTH", a.password}, "AUTH");
    else
      add({"AUTH", a.username, a.password}, "AUTH");
  }
  if (a.db != 0) add({"SELECT", std::to_string(a.db)}, "SELECT " + std::to_string(a.db));
  if (!cfg.options.client_name.empty()) add({"CLIENT", "SETNAME", cfg.options.client_name}, "CLIENT SETNAME");
  // A cluster replica forgets READONLY with the link: it belongs in every handshake.
  if (cfg.options.cluster_readonly) {
    add({"READONLY"}, "READONLY");
    // A replica that is not in sync (just restarted, still loading from its
    // master) would answer reads from an empty or old data set: such a link
    // fails to connect and tries again; reads go to the master meanwhile.
    add({"ROLE"}, "ROLE", &replica_check);
  }
  // Sentinels may still name a node that was just demoted: write nowhere
  // but to a node that says it is the master.
  if (cfg.address_source && cfg.address_source->follows_master()) add({"ROLE"}, "ROLE", &role_is_not_master);
  if (cfg.extra_handshake)
    for (HandshakeStep& step : cfg.extra_handshake()) {
      if (step.what.empty() && !step.argv.empty()) step.what = step.argv[0];
      plan.push_back(std::move(step));
    }
  // TLS 1.3 servers refuse a client certificate after our side of the
  // handshake is complete: one round trip makes such a refusal a connect
  // error instead of a link that drops right after "connected".
  if (a.tls && plan.empty()) add({"PING"}, "PING");
  return plan;
}

}  // namespace uvredis::detail
