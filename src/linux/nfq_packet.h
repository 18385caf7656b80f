// Small, pure helpers on the L3 bytes NFQUEUE hands over: locating the
// transport header and recomputing its checksum when the kernel had left it
// for the NIC to finish (NFQA_SKB_CSUMNOTREADY) and the payload was rewritten.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace hapf::linux {

struct L4Location {
  uint8_t protocol = 0;   // IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6, ...
  uint32_t offset = 0;    // of the transport header within the L3 bytes
  uint32_t length = 0;    // transport header + payload, from the IP header's length
};

// The transport header of an IPv4 or IPv6 packet that is not a fragment (or is
// the first fragment of nothing: any fragment yields nullopt), walking IPv6
// hop-by-hop, routing and destination options headers. Bounds-checked.
std::optional<L4Location> LocateL4(std::span<const uint8_t> l3);

// Writes the full TCP, UDP or ICMPv6 checksum (pseudo-header included) into the
// packet. False (packet unchanged) for other protocols, fragments or
// truncated packets. A UDP checksum that sums to zero is sent as 0xffff.
bool WriteL4Checksum(std::span<uint8_t> l3);

}  // namespace hapf::linux
