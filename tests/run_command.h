// Runs a shell command and returns everything it printed (stdout; add 2>&1 to
// the command for stderr). For tests that drive scripts and external oracles.
#pragma once

#include <cstdio>
#include <string>

namespace hapf::testing {

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

}  // namespace hapf::testing
