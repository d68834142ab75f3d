#include <uvredis/presence.hpp>
#include <uvredis/pipeline.hpp>

#include "protocol/callbacks.hpp"

#include <memory>

namespace uvredis {

Presence::Presence(Executor& ex, std::string prefix) : ex_(&ex), prefix_(std::move(prefix)) {}

void Presence::online(std::string_view user, std::chrono::milliseconds ttl, Callback<void> cb) {
  if (ttl.count() <= 0) {
    ex_->post([cb = std::move(cb)]() mutable {
      if (cb) cb(Error{ErrorKind::usage, "presence TTL must be positive"});
    });
    return;
  }
  const std::string k = key(user);
  const std::string px = std::to_string(ttl.count());
  ex_->command({"SET", k, "1", "PX", px}, detail::ignore_value(std::move(cb)));
}

void Presence::offline(std::string_view user, Callback<void> cb) {
  const std::string k = key(user);
  ex_->command({"DEL", k}, detail::ignore_value(std::move(cb)));
}

void Presence::is_online(std::string_view user, Callback<bool> cb) {
  const std::string k = key(user);
  ex_->command({"EXISTS", k}, [cb = std::move(cb)](Result<Reply> r) mutable {
    if (!r) return cb(std::move(r).error());
    cb(r->integer() > 0);
  });
}

namespace {
// One EXISTS per user in one pipeline: works the same when the users' keys
// live on different cluster nodes. Needs nothing of the Presence object, so
// it may be gone by the time a reply arrives.
void which_online(Executor& ex, const std::string& prefix, std::vector<std::string> users,
                  Callback<std::vector<std::string>> cb) {
  auto p = std::make_shared<Pipeline>(ex);
  std::vector<Handle<Reply>> handles;
  handles.reserve(users.size());
  for (const auto& u : users) {
    const std::string k = prefix + u;
    handles.push_back(p->command({"EXISTS", k}));
  }
  p->exec([p, users = std::move(users), handles = std::move(handles), cb = std::move(cb)](ExecSummary) mutable {
    std::vector<std::string> online;
    for (std::size_t i = 0; i < users.size(); ++i) {
      const auto& r = handles[i].result();
      if (!r) return cb(r.error());
      if (r->integer() > 0) online.push_back(std::move(users[i]));
    }
    cb(std::move(online));
  });
}
}  // namespace

void Presence::online_of(std::vector<std::string> users, Callback<std::vector<std::string>> cb) {
  which_online(*ex_, prefix_, std::move(users), std::move(cb));
}

void Presence::online_in_set(std::string_view set_key, Callback<std::vector<std::string>> cb) {
  ex_->command({"SMEMBERS", set_key}, [ex = ex_, prefix = prefix_, cb = std::move(cb)](Result<Reply> r) mutable {
    if (!r) return cb(std::move(r).error());
    std::vector<std::string> members;
    for (auto& e : r->elements()) members.push_back(e.take_str());
    which_online(*ex, prefix, std::move(members), std::move(cb));
  });
}

}  // namespace uvredis
