// hapfctl: control program for hapf (pfctl's flags; see docs/daemon.md).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "cli/hapfctl_cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // --env=openbsd-regress reproduces the machine the pfctl conformance corpus
  // was recorded on (lo0 127.0.0.1/8 ::1 fe80::1, lo1000000, tun1000000/1).
  bool regress_env = false;
  if (!args.empty() && args[0] == "--env=openbsd-regress") {
    regress_env = true;
    args.erase(args.begin());
  }
  // --socket=PATH (or $HAPF_SOCKET): hapfd's control socket when not the default.
  std::string socket = hapf::cli::kDefaultControlSocket;
  if (const char* env_socket = std::getenv("HAPF_SOCKET")) socket = env_socket;
  if (!args.empty() && args[0].rfind("--socket=", 0) == 0) {
    socket = args[0].substr(9);
    args.erase(args.begin());
  }
  // `hapfctl log` streams tcpdump's output instead of returning text.
  if (!args.empty() && args[0] == "log")
    return hapf::cli::HapfctlLogMain(std::vector<std::string>(args.begin() + 1, args.end()), socket);
  // `-f -`, `-nvf -` and `-f-` read the ruleset from standard input.
  bool reads_stdin = false;
  for (const std::string& a : args)
    if (a == "-" || (a.size() > 2 && a[0] == '-' && a.compare(a.size() - 2, 2, "f-") == 0)) reads_stdin = true;
  std::string input;
  if (reads_stdin) input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  std::string out, err;
  int rc;
  if (regress_env) {
    hapf::pf::StaticHostEnvironment env = hapf::pf::StaticHostEnvironment::OpenBsdRegress();
    rc = hapf::cli::HapfctlMain(args, input, out, err, env, socket);
  } else {
    hapf::cli::SystemHostEnvironment env;
    rc = hapf::cli::HapfctlMain(args, input, out, err, env, socket);
  }
  std::fputs(err.c_str(), stderr);
  std::fputs(out.c_str(), stdout);
  return rc;
}
