#pragma once
// A CommandObserver that copies every event it sees, for tests of the
// observer hooks (the views in CommandEvent die with the call).

#include <uvredis/observe.hpp>
#include <uvredis/uvredis.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uvredis::test {

/// One event as recorded.
struct Seen {
  bool written = false;
  std::string command;
  std::vector<std::string> args;
  std::string node;
  std::uint64_t bytes_out = 0;
  std::uint64_t bytes_in = 0;
  std::chrono::nanoseconds latency{0};
  std::optional<ErrorKind> error;
  std::string error_code;
};

/// Records written and completed events in the order they came.
class Recorder final : public uvredis::CommandObserver {
 public:
  void on_written(const CommandEvent& e) override { events.push_back(copy(e, true)); }
  void on_completed(const CommandEvent& e) override { events.push_back(copy(e, false)); }
  std::vector<Seen> events;

  std::vector<Seen> of(std::string_view command, bool written) const {
    std::vector<Seen> out;
    for (const Seen& s : events)
      if (s.command == command && s.written == written) out.push_back(s);
    return out;
  }

 private:
  static Seen copy(const CommandEvent& e, bool written) {
    Seen s;
    s.written = written;
    s.command = e.command;
    s.args.assign(e.args.begin(), e.args.end());
    s.node = e.node;
    s.bytes_out = e.bytes_out;
    s.bytes_in = e.bytes_in;
    s.latency = e.latency;
    s.error = e.error;
    s.error_code = e.error_code;
    return s;
  }
};

}  // namespace uvredis::test
