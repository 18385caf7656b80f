// Sends the packets the filter builds itself — the TCP RST or ICMP/ICMPv6
// unreachable of a `block return` rule — as complete IP packets through raw
// sockets. They carry the generated-packet mark, which the ruleset exempts
// from queueing, so a reply is not filtered again (pf does the same).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace hapf::linux {

class ReplySender {
 public:
  ReplySender() = default;
  ~ReplySender();
  ReplySender(const ReplySender&) = delete;
  ReplySender& operator=(const ReplySender&) = delete;

  // Opens the IPv4 and IPv6 raw sockets. Empty string on success.
  std::string Open(uint32_t generated_mark);
  // Sends one packet (IPv4 or IPv6 header included, checksums already right);
  // the kernel routes it by its destination. Thread-safe. False on a
  // malformed packet or a failed send.
  bool Send(std::span<const uint8_t> l3);

 private:
  int fd4_ = -1;
  int fd6_ = -1;
};

}  // namespace hapf::linux
