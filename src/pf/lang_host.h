// What the pf.conf parser needs from the machine it runs on, behind an
// interface so that parsing is deterministic and testable: the interfaces and
// their addresses (for `lo0`, `lo0:network`, `self`, groups), host-name
// resolution, and reading included / table files.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "net/addr.h"

namespace hapf::pf {

struct InterfaceAddress {
  net::IpAddr addr;
  int prefix_len = 0;
  net::IpAddr broadcast;  // empty unless the interface has one
  net::IpAddr peer;       // point-to-point destination, or empty
  uint32_t scope = 0;     // IPv6 scope (non-zero for link-local addresses)
};

struct InterfaceInfo {
  std::string name;
  bool loopback = false;
  bool point_to_point = false;
  bool broadcast = false;
  std::vector<std::string> groups;  // interface groups it belongs to (e.g. "lo", "egress")
  std::vector<InterfaceAddress> addrs;
};

class HostEnvironment {
 public:
  virtual ~HostEnvironment() = default;
  virtual const std::vector<InterfaceInfo>& Interfaces() const = 0;
  // Resolves a host name; empty when unknown. Called only for names that are
  // neither interfaces nor numeric addresses.
  virtual std::vector<net::IpAddr> Resolve(const std::string& name) const = 0;
  // Reads a file (include, table file, load anchor). On failure returns
  // nullopt and sets `error` to the system's message ("No such file or directory").
  virtual std::optional<std::string> ReadFile(const std::string& path, std::string& error) const = 0;
};

// A fixed environment: tables given in code, files from a map or the disk.
class StaticHostEnvironment : public HostEnvironment {
 public:
  std::vector<InterfaceInfo> interfaces;
  std::map<std::string, std::vector<net::IpAddr>> hosts;
  // Relative paths are read from here; empty: the current directory.
  std::string base_dir;
  // When set, only these files exist (no disk access).
  std::optional<std::map<std::string, std::string>> files;

  const std::vector<InterfaceInfo>& Interfaces() const override { return interfaces; }
  std::vector<net::IpAddr> Resolve(const std::string& name) const override;
  std::optional<std::string> ReadFile(const std::string& path, std::string& error) const override;

  // OpenBSD's view the conformance corpus was produced on: lo0 with
  // 127.0.0.1/8, ::1 and fe80::1%lo0, address-less lo1000000, tun1000000,
  // tun1000001; localhost resolving to 127.0.0.1 and ::1.
  static StaticHostEnvironment OpenBsdRegress();
};

}  // namespace hapf::pf
