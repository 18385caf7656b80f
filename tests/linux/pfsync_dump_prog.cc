// `hapfctl pfsync dump` as a stand-alone program for the namespace tests
// (hapfctl itself routes no subcommands yet).
#include <cstdio>
#include <string>
#include <vector>

#include "linux/pfsync_dump.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string err;
  const int rc = hapf::linux::PfsyncDumpMain(
      args,
      [](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
      },
      err);
  std::fputs(err.c_str(), stderr);
  return rc;
}
