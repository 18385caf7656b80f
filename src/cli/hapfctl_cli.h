// hapfctl's command line, as a function so tests can drive it in-process:
// pfctl-compatible flags (-n -v -f -o -D -O -a -F -N, combined like `-nvf -`).
// With -n the ruleset is only parsed and checked here; without it the command
// goes to hapfd over its control socket: -f (load), -e/-d, -s modifier, -k host,
// -F modifier, -t table -T command [address ...], and `hapfctl carp|pfsync [args]`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pf/lang_host.h"

namespace hapf::cli {

inline constexpr const char* kDefaultControlSocket = "/run/hapf/hapfd.sock";

// args excludes the program name. Returns the exit status. `control_socket`
// is where hapfd listens (hapfd.conf's control-socket).
int HapfctlMain(const std::vector<std::string>& args, std::string_view stdin_text, std::string& out,
                std::string& err, const pf::HostEnvironment& env,
                const std::string& control_socket = kDefaultControlSocket);

// `hapfctl log [-af] [FILE]`: the pflog file (hapfd's, or FILE) printed by
// `tcpdump -n -e -ttt -r`; -a: its rotated files FILE.N-1 .. FILE.0 first, as
// one capture; -f: followed as it grows and across rotation.
// Writes to the process's stdout/stderr (tcpdump's output); returns the exit status.
int HapfctlLogMain(const std::vector<std::string>& args, const std::string& control_socket);

// The running machine: getifaddrs() interfaces (groups by driver name, e.g.
// "eth" for eth0), getaddrinfo() host names, files from the disk.
class SystemHostEnvironment : public pf::HostEnvironment {
 public:
  SystemHostEnvironment();
  const std::vector<pf::InterfaceInfo>& Interfaces() const override { return interfaces_; }
  std::vector<net::IpAddr> Resolve(const std::string& name) const override;
  std::optional<std::string> ReadFile(const std::string& path, std::string& error) const override;

 private:
  std::vector<pf::InterfaceInfo> interfaces_;
};

}  // namespace hapf::cli
