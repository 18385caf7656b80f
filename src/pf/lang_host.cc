#include "pf/lang_host.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hapf::pf {

std::vector<net::IpAddr> StaticHostEnvironment::Resolve(const std::string& name) const {
  auto it = hosts.find(name);
  if (it == hosts.end()) return {};
  return it->second;
}

std::optional<std::string> StaticHostEnvironment::ReadFile(const std::string& path,
                                                           std::string& error) const {
  if (files) {
    auto it = files->find(path);
    if (it == files->end()) {
      error = std::strerror(ENOENT);
      return std::nullopt;
    }
    return it->second;
  }
  std::string full = path;
  if (!path.empty() && path[0] != '/' && !base_dir.empty()) full = base_dir + "/" + path;
  std::ifstream in(full, std::ios::binary);
  if (!in) {
    error = std::strerror(errno ? errno : ENOENT);
    return std::nullopt;
  }
  std::ostringstream out;
  out << in.rdbuf();
  // Bound what a table file or include can pull in.
  std::string s = out.str();
  if (s.size() > (16u << 20)) {
    error = "File too large";
    return std::nullopt;
  }
  return s;
}

StaticHostEnvironment StaticHostEnvironment::OpenBsdRegress() {
  StaticHostEnvironment env;
  InterfaceInfo lo0;
  lo0.name = "lo0";
  lo0.loopback = true;
  lo0.groups = {"lo"};
  // OpenBSD lists lo0's IPv6 addresses before its IPv4 one.
  lo0.addrs.push_back({*net::IpAddr::Parse("::1"), 128, {}, {}, 0});
  lo0.addrs.push_back({*net::IpAddr::Parse("fe80::1"), 64, {}, {}, 3});
  lo0.addrs.push_back({*net::IpAddr::Parse("127.0.0.1"), 8, {}, {}, 0});
  env.interfaces.push_back(lo0);
  InterfaceInfo lo1;
  lo1.name = "lo1000000";
  lo1.loopback = true;
  lo1.groups = {"lo"};
  env.interfaces.push_back(lo1);
  for (const char* name : {"tun1000000", "tun1000001"}) {
    InterfaceInfo tun;
    tun.name = name;
    tun.point_to_point = true;
    tun.groups = {"tun"};
    env.interfaces.push_back(tun);
  }
  env.hosts["localhost"] = {*net::IpAddr::Parse("127.0.0.1"), *net::IpAddr::Parse("::1")};
  return env;
}

}  // namespace hapf::pf
