// hapfd: configuration, the filter on the NFQUEUE data plane, the hosted
// components (CARP; pfsync when its runtime is merged), the control socket,
// signals, reload and clean shutdown. One main loop owns everything except
// the data plane workers, which only touch the Filter.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/component.h"
#include "daemon/config.h"
#include "daemon/filter.h"
#include "linux/iface_table.h"

namespace hapf::daemon {

// Syslog-style line to stderr ("<prio>" prefix under systemd, where journald
// reads it), or syslog(3) once daemonized.
void Log(int priority, const std::string& line);

// Answers one control request (exposed so tests can drive it without a socket).
class Dispatcher {
 public:
  Dispatcher(Filter& filter, std::vector<std::unique_ptr<Component>>& components, const pf::HostEnvironment& env)
      : filter_(filter), components_(components), env_(env) {}
  nlohmann::json Handle(const nlohmann::json& request);
  // Parses and installs a ruleset; on any error nothing changes. Returns the
  // messages (errors or warnings) in `messages`.
  // A non-empty `anchor` loads into that anchor only (pfctl -a NAME -f).
  bool Reload(const std::string& text, const std::string& filename, std::vector<std::string>& messages,
              const std::string& anchor = "");
  // The interfaces `debug flows` names (by kernel name); without them its
  // packets arrive on no interface.
  void set_ifaces(const linux::IfaceRegistry* ifaces) { ifaces_ = ifaces; }

 private:
  nlohmann::json DebugFlows(const nlohmann::json& request);

  Filter& filter_;
  const linux::IfaceRegistry* ifaces_ = nullptr;
  std::vector<std::unique_ptr<Component>>& components_;
  const pf::HostEnvironment& env_;
};

// hapfd's main (argv as given).
int HapfdMain(int argc, char** argv);

}  // namespace hapf::daemon
