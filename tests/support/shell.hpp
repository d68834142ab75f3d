#pragma once
// Runs a shell command (an example program, say) and captures what it
// prints, stdout and stderr together when the command says 2>&1.

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace uvredis::test {

/// The command's output; `status` gets its exit code (-1 when it could not
/// be started or did not exit normally).
inline std::string run_shell(const std::string& cmd, int& status) {
  status = -1;
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = ::pclose(p);
  if (st != -1 && WIFEXITED(st)) status = WEXITSTATUS(st);
  return out;
}

}  // namespace uvredis::test
