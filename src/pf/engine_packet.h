// The engine's view of an L3 packet: the fields pf decides on, the offsets it
// rewrites, and in-place rewrite helpers with incremental checksum updates.
//
// This is the engine's own small parser so the filter core does not wait for
// the packet library; it reads every field with bounds checks and never casts
// bytes to structs. Malformed packets yield nullopt (the engine drops them).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "net/addr.h"

namespace hapf::pf::engine {

enum TcpFlag : uint8_t {
  kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPush = 0x08, kAck = 0x10, kUrg = 0x20, kEce = 0x40, kCwr = 0x80
};

constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmp6 = 58;

// The quoted packet inside an ICMP error: only its headers are parsed (the
// quote is usually cut after the first 8 bytes of the transport header).
struct QuotedPacket {
  net::IpAddr src, dst;
  uint8_t proto = 0;
  uint16_t sport = 0, dport = 0;  // host order; ICMP queries as in PacketInfo
  uint8_t icmp_type = 0;
  bool icmp_reply = false;
  uint32_t tcp_seq = 0;
  uint16_t l3_off = 0;  // offset of the quoted IP header in the outer packet
  uint16_t l4_off = 0;  // offset of the quoted transport header
  uint16_t l4_avail = 0;  // quoted transport bytes present
};

struct PacketInfo {
  net::Family af = net::Family::kNone;
  uint8_t proto = 0;
  net::IpAddr src, dst;
  // Host order. ICMP queries are keyed like pf: the requester's side carries
  // the id, the responder's side the request type (so a request and its reply
  // share a key but a request in the other direction does not).
  uint16_t sport = 0, dport = 0;
  uint16_t l3_len = 0;            // IP total length as parsed (bytes present)
  uint16_t l4_off = 0;
  uint16_t l4_len = 0;            // transport header + payload
  uint16_t payload_len = 0;       // TCP/UDP payload bytes (pf's p_len)
  uint8_t ttl = 0, tos = 0;
  bool fragment = false;          // non-first fragment: no transport header
  // TCP
  uint32_t seq = 0, ack = 0;
  uint16_t win = 0;
  uint8_t flags = 0;
  uint8_t tcp_hlen = 0;
  int8_t wscale = -1;             // window-scale option, -1 if absent
  uint16_t mss = 0;
  // ICMP / ICMPv6
  uint8_t icmp_type = 0, icmp_code = 0;
  uint16_t icmp_id = 0;
  bool icmp_query = false;        // echo & co: keyed by id
  bool icmp_reply = false;        // a query's reply (id travels in dport)
  bool icmp_error = false;        // carries a quoted packet
  std::optional<QuotedPacket> quoted;
};

std::optional<PacketInfo> ParsePacket(std::span<const uint8_t> l3);

// ICMP type classification (pf_icmp_mapping): for a query or reply type, the
// request type that keys the state and whether this packet is the reply.
struct IcmpMapping {
  bool query = false;
  bool reply = false;
  uint8_t virtual_type = 0;
};
IcmpMapping MapIcmp(net::Family af, uint8_t type);
bool IsIcmpError(net::Family af, uint8_t type);

// In-place rewrites keeping IPv4/TCP/UDP/ICMP checksums valid. `info` is
// updated to the new values.
void RewriteSource(std::span<uint8_t> pkt, PacketInfo& info, const net::IpAddr& addr, uint16_t port);
void RewriteDestination(std::span<uint8_t> pkt, PacketInfo& info, const net::IpAddr& addr, uint16_t port);
// For ICMP errors: rewrites the quoted packet's source/destination (address and
// port/id) and recomputes the outer ICMP checksum.
void RewriteQuoted(std::span<uint8_t> pkt, PacketInfo& info, bool source, const net::IpAddr& addr, uint16_t port);
// TCP sequence modulation: rewrite seq/ack in place.
void RewriteTcpSeqAck(std::span<uint8_t> pkt, PacketInfo& info, uint32_t seq, uint32_t ack);

uint16_t Load16(std::span<const uint8_t> b, size_t off);
uint32_t Load32(std::span<const uint8_t> b, size_t off);
void Store16(std::span<uint8_t> b, size_t off, uint16_t v);
void Store32(std::span<uint8_t> b, size_t off, uint32_t v);

}  // namespace hapf::pf::engine
