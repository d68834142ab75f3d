#include "pubsub/shard_link.hpp"

#include "protocol/cluster_keys.hpp"
#include "protocol/command_info.hpp"

#include <algorithm>

namespace uvredis::detail {

ShardLink::ShardLink(uv_loop_t* loop, ConnectionConfig cfg, std::string node, Events events)
    : node_(std::move(node)), ev_(std::move(events)), alive_(std::make_shared<bool>(true)) {
  cfg.push_mode = true;
  conn_ = new Connection(loop, std::move(cfg));
  conn_->set_push_listener([this](Reply&& r) { on_push(std::move(r)); });
  conn_->set_state_listener([this](ConnectionState s, const Error* e) { on_state(s, e); });
  conn_->start();
}

ShardLink::~ShardLink() {
  *alive_ = false;
  conn_->destroy();  // no listener runs from here on; it frees itself later
}

void ShardLink::close(Function<void()> done) { conn_->close(std::move(done)); }

void ShardLink::add(const std::vector<std::string>& channels) {
  std::vector<const std::string*> send_now;
  send_now.reserve(channels.size());
  for (const std::string& c : channels) send_now.push_back(&*held_.insert(c).first);
  if (conn_->state() == ConnectionState::connected) send("SSUBSCRIBE", send_now);
}

void ShardLink::remove(const std::vector<std::string>& channels) {
  std::vector<const std::string*> gone;
  for (const std::string& c : channels)
    if (held_.erase(c) != 0) gone.push_back(&c);
  if (gone.empty() || conn_->state() != ConnectionState::connected) return;
  for (const std::string* c : gone) ++own_unsubscribes_[*c];
  send("SUNSUBSCRIBE", gone);
}

// One command per slot (and at most kNamesPerSubscribe channels each): a cluster refuses
// a multi-slot SSUBSCRIBE with CROSSSLOT.
void ShardLink::send(std::string_view command, const std::vector<const std::string*>& channels) {
  std::vector<std::pair<int, const std::string*>> by_slot;
  by_slot.reserve(channels.size());
  for (const std::string* c : channels) by_slot.emplace_back(key_slot(*c), c);
  std::stable_sort(by_slot.begin(), by_slot.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  const bool subscribing = command == "SSUBSCRIBE";
  std::vector<std::string_view> argv;
  for (std::size_t i = 0; i < by_slot.size();) {
    std::size_t j = i;
    argv.assign(1, command);
    while (j < by_slot.size() && by_slot[j].first == by_slot[i].first && j - i < kNamesPerSubscribe) argv.push_back(*by_slot[j++].second);
    auto names = std::make_shared<std::vector<std::string>>(argv.begin() + 1, argv.end());
    Callback<Reply> done = [this, alive = alive_, names, subscribing](Result<Reply> r) {
      if (!*alive || r) return;
      if (!subscribing) {
        // No confirmation comes for a refused SUNSUBSCRIBE (MOVED: the slot
        // left, and the server already unsubscribed us by itself).
        if (r.error().kind == ErrorKind::server)
          for (const std::string& n : *names)
            if (auto it = own_unsubscribes_.find(n); it != own_unsubscribes_.end() && --it->second == 0)
              own_unsubscribes_.erase(it);
        return;
      }
      // Transport errors: the state listener restores everything on reconnect.
      if (r.error().kind == ErrorKind::server) on_refused(*names, r.error());
    };
    if (!conn_->send_subscription(argv, std::move(done))) return;  // link going down: resent on connect
    i = j;
  }
}

void ShardLink::on_refused(const std::vector<std::string>& channels, const Error& err) {
  std::vector<std::string> lost;
  for (const std::string& c : channels)
    if (held_.erase(c) != 0) lost.push_back(c);
  if (!lost.empty() && ev_.refused) ev_.refused(*this, std::move(lost), err);
}

void ShardLink::on_push(Reply&& r) {
  const std::string_view kind = r[0].str();
  if (kind == "smessage") {
    if (!r[1].is_string() || !holds(std::string(r[1].str()))) return;  // left already: delivery stops at once
    if (ev_.message) ev_.message(*this, r.elements()[1].take_str(), r.elements()[2].take_str());
  } else if (kind == "ssubscribe") {
    std::string c(r[1].str());
    if (holds(c) && ev_.confirmed) ev_.confirmed(*this, c);
  } else if (kind == "sunsubscribe") {
    std::string c(r[1].str());
    if (auto it = own_unsubscribes_.find(c); it != own_unsubscribes_.end()) {
      if (--it->second == 0) own_unsubscribes_.erase(it);
      return;
    }
    if (held_.erase(c) != 0 && ev_.dropped) ev_.dropped(*this, c);
  }
}

void ShardLink::on_state(ConnectionState s, const Error* e) {
  if (s == ConnectionState::connected) {
    own_unsubscribes_.clear();
    std::vector<const std::string*> all;
    all.reserve(held_.size());
    for (const std::string& c : held_) all.push_back(&c);
    if (!all.empty()) send("SSUBSCRIBE", all);
  } else {
    own_unsubscribes_.clear();  // those confirmations went with the link
  }
  if (ev_.state) ev_.state(*this, s, e);
}

}  // namespace uvredis::detail
