// Packet builders: write valid, checksummed packets into a caller's buffer.
//
// Every Build* function writes from the start of `out` and returns the number
// of bytes written, or 0 when `out` is too small (nothing useful is left in
// it then). With `eth` null the packet starts at the IP header (what a raw
// socket or NFQUEUE verdict takes); otherwise with an Ethernet header, tagged
// when eth->has_vlan. Nothing allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "net/addr.h"
#include "net/packet.h"

namespace hapf::net {

inline constexpr MacAddr kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

struct EthernetHeader {
  MacAddr dst{};
  MacAddr src{};
  bool has_vlan = false;
  uint16_t vlan_tci = 0;  // PCP(3) DEI(1) VID(12)
};

// The IP header's fields; the family comes from the addresses (both the same).
struct IpHeader {
  IpAddr src{};
  IpAddr dst{};
  uint8_t ttl = 64;  // hop limit for IPv6
  uint8_t tos = 0;   // traffic class for IPv6
  uint16_t id = 0;   // IPv4 only
  bool dont_fragment = false;  // IPv4 only
  uint32_t flow_label = 0;     // IPv6 only
};

struct TcpHeader {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint16_t urgent = 0;
  // Written in the order Linux uses: MSS, SACK-permitted, timestamps, window
  // scale, padded with NOPs to 4-byte words. sack_blocks is not written.
  TcpOptionValues options{};
};

// Any IP datagram with an opaque upper layer (CARP, pfsync, ...); the caller
// owns that layer's checksum.
size_t BuildIp(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, uint8_t proto,
               std::span<const uint8_t> payload);
size_t BuildTcp(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, const TcpHeader& tcp,
                std::span<const uint8_t> payload);
size_t BuildUdp(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, uint16_t src_port,
                uint16_t dst_port, std::span<const uint8_t> payload);
// ICMP or ICMPv6 message (by the address family) with the given 8-byte
// header fields; `rest` is bytes 4-7 (id/seq, MTU, pointer, unused).
size_t BuildIcmp(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, uint8_t type,
                 uint8_t code, uint32_t rest, std::span<const uint8_t> payload);
// Echo request, or reply when `reply`: ICMP 8/0, ICMPv6 128/129.
size_t BuildIcmpEcho(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, bool reply,
                     uint16_t id, uint16_t seq, std::span<const uint8_t> payload);
// An error quoting `quoted` (the offending packet from its IP header on). The
// quote is cut so the error stays within 576 bytes for IPv4 (RFC 1812 4.3.2.3)
// and 1280 for IPv6 (RFC 4443 2.4).
size_t BuildIcmpError(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, uint8_t type,
                      uint8_t code, uint32_t rest, std::span<const uint8_t> quoted);

// ARP for Ethernet/IPv4 (always with an Ethernet header).
size_t BuildArp(std::span<uint8_t> out, const EthernetHeader& eth, uint16_t op, const MacAddr& sender_mac,
                const IpAddr& sender_ip, const MacAddr& target_mac, const IpAddr& target_ip);
// Gratuitous ARP (RFC 5227 announcement): a broadcast request from `mac`
// whose sender and target address are both `ip`.
size_t BuildGratuitousArp(std::span<uint8_t> out, const MacAddr& mac, const IpAddr& ip, bool has_vlan = false,
                          uint16_t vlan_tci = 0);
// Unsolicited neighbour advertisement (RFC 4861 7.2.6) for `target`, sent from
// `src` to all-nodes ff02::1 with the override flag and a target link-layer
// address option carrying `mac`; hop limit 255.
size_t BuildUnsolicitedNeighborAdvert(std::span<uint8_t> out, const MacAddr& mac, const IpAddr& src,
                                      const IpAddr& target, bool router, bool has_vlan = false,
                                      uint16_t vlan_tci = 0);

// Answers for pf's `block return`, built from the parsed offending packet
// `p` (and its bytes). Addresses and ports are swapped; `eth`, when given,
// is the answer's own Ethernet header.
//
// TCP RST (RFC 9293 3.10.7.1): if the segment carried ACK the RST takes its
// sequence number from that ACK; otherwise it is RST|ACK acknowledging the
// segment (data length, plus one each for SYN and FIN). Needs p.is_tcp();
// returns 0 for a segment that is itself a reset (never answer a reset).
size_t BuildTcpResetFor(std::span<uint8_t> out, const EthernetHeader* eth, const ParsedPacket& p, uint8_t ttl = 64);
// ICMP (IPv4) or ICMPv6 destination unreachable for the offending packet,
// quoting it from its IP header; `src` is the address it comes from (pf uses
// the offending packet's destination). Returns 0 when the offending packet
// is itself an ICMP error (RFC 1122 3.2.2 / RFC 4443 2.4: never answer one).
size_t BuildUnreachableFor(std::span<uint8_t> out, const EthernetHeader* eth, std::span<const uint8_t> bytes,
                           const ParsedPacket& p, uint8_t code, const IpAddr& src, uint8_t ttl = 64);

}  // namespace hapf::net
