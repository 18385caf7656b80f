// rtnetlink through libmnl: the few link and address operations CARP needs
// (interface lookup, link-state dump and watch, macvlan create/delete, address
// add) — synchronous requests with ACK, errors returned as text.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "net/addr.h"

struct mnl_socket;

namespace hapf::linux {

struct LinkInfo {
  std::string name;
  int index = 0;
  bool up = false;  // administratively up and carrier present (IFF_UP && IFF_LOWER_UP)
};

class Rtnl {
 public:
  // `watch_links` subscribes to RTMGRP_LINK for link-state events.
  explicit Rtnl(bool watch_links = false);
  ~Rtnl();
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;

  int fd() const;
  std::vector<LinkInfo> DumpLinks();
  std::optional<LinkInfo> Link(const std::string& name);
  // Reads pending link events (non-blocking) and reports each link's state.
  void ReadLinkEvents(const std::function<void(const LinkInfo&)>& on_link);

  // Creates `name` as a macvlan (mode bridge) on `parent` with `mac`, up.
  std::optional<std::string> CreateMacvlan(const std::string& name, int parent_index,
                                           const std::array<uint8_t, 6>& mac);
  std::optional<std::string> DeleteLink(const std::string& name);
  // Adds an address; IPv6 without duplicate address detection.
  std::optional<std::string> AddAddress(int index, const net::Prefix& prefix);

 private:
  std::optional<std::string> Request(char* buf);  // sends, waits for the ACK
  mnl_socket* nl_ = nullptr;
  unsigned int portid_ = 0;
  unsigned int seq_ = 1;
};

}  // namespace hapf::linux
