// carp_node: one CARP node on real sockets from hostname.carpN files, for the
// namespace tests (and for trying hapf's CARP by hand).
//   carp_node [--preempt] [--log N] [--track IF] [--status FILE] hostname.carpN...
// Log lines go to stdout; SIGTERM/SIGINT bow out and exit; SIGUSR1 writes the
// ifconfig-style status to FILE.
#include "linux/carp_node.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "carp/config.h"

namespace {
std::atomic<bool> g_stop{false};
std::atomic<bool> g_status{false};
}  // namespace

int main(int argc, char** argv) {
  hapf::linux::CarpNodeOptions opts;
  std::string status_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--preempt") {
      opts.settings.preempt = true;
    } else if (a == "--log") {
      opts.settings.log_level = std::stoi(next());
    } else if (a == "--track") {
      opts.tracked.push_back(next());
    } else if (a == "--status") {
      status_file = next();
    } else {
      std::ifstream f(a);
      if (!f) {
        std::cerr << a << ": cannot open\n";
        return 2;
      }
      std::stringstream ss;
      ss << f.rdbuf();
      auto r = hapf::carp::ParseHostnameFile(a, ss.str());
      if (auto* e = std::get_if<hapf::carp::ConfigError>(&r)) {
        std::cerr << e->ToString() << "\n";
        return 2;
      }
      opts.vhosts.push_back(std::get<hapf::carp::VhostConfig>(r));
    }
  }
  if (opts.vhosts.empty()) {
    std::cerr << "usage: carp_node [--preempt] [--log N] [--track IF] [--status FILE] hostname.carpN...\n";
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  opts.log = [start](int, const std::string& line) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                  .count();
    std::printf("%lld.%03lld %s\n", static_cast<long long>(ms / 1000), static_cast<long long>(ms % 1000),
                line.c_str());
    std::fflush(stdout);
  };
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = true; };
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sa.sa_handler = [](int) { g_status = true; };
  sigaction(SIGUSR1, &sa, nullptr);
  try {
    hapf::linux::CarpNode node(opts);
    while (!g_stop) {
      node.Step(100);
      if (g_status.exchange(false) && !status_file.empty()) {
        std::ofstream(status_file + ".tmp") << node.Status();
        std::rename((status_file + ".tmp").c_str(), status_file.c_str());
      }
    }
    node.Shutdown();
  } catch (const std::exception& e) {
    std::cerr << "carp_node: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
