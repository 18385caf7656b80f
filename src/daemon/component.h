// A runtime part the daemon hosts beside the filter (CARP, pfsync, ...). The
// daemon owns a list of them and drives each from its single main loop, so a
// component needs no locking against the control socket: poll its fds, call
// Step(), answer `hapfctl <name> ...` through Command(), Shutdown() on exit.
// The filter itself is reachable through the Filter& a component is built with.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hapf::daemon {

class Component {
 public:
  virtual ~Component() = default;
  // The hapfctl word that addresses it ("carp", "pfsync").
  virtual std::string name() const = 0;
  // File descriptors the main loop polls for reading.
  virtual std::vector<int> fds() const = 0;
  // Handles whatever is readable or due; must not block.
  virtual void Step() = 0;
  // Called once when the data plane's nftables table is installed, before the
  // first Step(): traffic of the component's own can flow from now on.
  virtual void DataPlaneReady() {}
  // `hapfctl <name> [args...]`: the text to print; false with `out` as the
  // one-line error when the command is wrong.
  virtual bool Command(const std::vector<std::string>& args, int verbose, std::string& out) = 0;
  // Clean stop (CARP bow-out, pfsync flush) before the process exits.
  virtual void Shutdown() = 0;
  // Machine-readable status and counters (numbers, strings, arrays of
  // objects), read on the main loop by the metrics endpoint, the status page
  // and `hapfctl <name> -j`. null when the component has nothing to report.
  virtual nlohmann::json Status() { return nullptr; }
};

}  // namespace hapf::daemon
