// Runs a shell command and returns everything it printed (stdout; add 2>&1 to
// the command for stderr). For tests that drive scripts and external oracles.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace hapf::testing {

// `status` receives pclose's raw wait status (-1 when the shell could not start).
inline std::string RunShell(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) {
    if (status) *status = -1;
    return "popen failed";
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (status) *status = rc;
  return out;
}

// The exit code of a finished command, -1 when it did not exit normally.
inline int ExitCode(int wait_status) { return wait_status != -1 && WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1; }

}  // namespace hapf::testing
