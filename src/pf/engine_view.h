// pf's view of a packet parsed by net::ParsePacket: the flow key fields keyed
// the way pf keys them (ICMP queries by id and request type), the TCP fields
// the tracker reads, and rewrite helpers that go through net's in-place NAT
// rewrites while keeping this view in step.
//
// Parsing itself is net::ParsePacket's (bounds-checked, no casts); this file
// only adds pf's interpretation. Malformed packets yield nullopt (dropped).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "net/addr.h"
#include "net/packet.h"

namespace hapf::pf::engine {

inline constexpr uint8_t kFin = net::tcpflag::kFin, kSyn = net::tcpflag::kSyn, kRst = net::tcpflag::kRst,
                         kPush = net::tcpflag::kPush, kAck = net::tcpflag::kAck, kUrg = net::tcpflag::kUrg,
                         kEce = net::tcpflag::kEce, kCwr = net::tcpflag::kCwr;

inline constexpr uint8_t kProtoIcmp = net::ipproto::kIcmp, kProtoTcp = net::ipproto::kTcp,
                         kProtoUdp = net::ipproto::kUdp, kProtoIcmp6 = net::ipproto::kIcmp6;

// The flow of the packet an ICMP error quotes, keyed like PacketInfo.
struct QuotedInfo {
  net::IpAddr src, dst;
  uint8_t proto = 0;
  uint16_t sport = 0, dport = 0;  // host order; ICMP queries as in PacketInfo
  uint8_t icmp_type = 0;
  bool icmp_reply = false;
  uint32_t tcp_seq = 0;
};

struct PacketInfo {
  net::Family af = net::Family::kNone;
  uint8_t proto = 0;
  net::IpAddr src, dst;
  // Host order. ICMP queries are keyed like pf: the requester's side carries
  // the id, the responder's side the request type (so a request and its reply
  // share a key but a request in the other direction does not).
  uint16_t sport = 0, dport = 0;
  uint16_t l3_len = 0;            // IP datagram length
  uint16_t payload_len = 0;       // TCP/UDP payload bytes (pf's p_len)
  uint8_t ttl = 0, tos = 0;
  bool fragment = false;          // no transport header in this packet
  // TCP
  uint32_t seq = 0, ack = 0;
  uint16_t win = 0;
  uint8_t flags = 0;
  int8_t wscale = -1;             // window-scale option, -1 if absent
  uint16_t mss = 0;
  // ICMP / ICMPv6
  uint8_t icmp_type = 0, icmp_code = 0;
  uint16_t icmp_id = 0;
  bool icmp_query = false;        // echo & co: keyed by id
  bool icmp_reply = false;        // a query's reply (id travels in dport)
  bool icmp_error = false;        // carries a quoted packet
  std::optional<QuotedInfo> quoted;
  // What net parsed; the rewrites below need its offsets.
  net::ParsedPacket parsed;
};

// Parses an L3 packet (IPv4/IPv6 as NFQUEUE delivers it) into `out`, which
// must be default-constructed (fields the packet lacks are left as they are).
bool ParsePacket(std::span<const uint8_t> l3, PacketInfo& out);
std::optional<PacketInfo> ParsePacket(std::span<const uint8_t> l3);

// ICMP type classification (pf_icmp_mapping): for a query or reply type, the
// request type that keys the state and whether this packet is the reply.
struct IcmpMapping {
  bool query = false;
  bool reply = false;
  uint8_t virtual_type = 0;
};
IcmpMapping MapIcmp(net::Family af, uint8_t type);

// In-place rewrites keeping every checksum valid; `info` follows. A port of
// an ICMP query is its id, rewritten only on the requester's side.
void RewriteSource(std::span<uint8_t> pkt, PacketInfo& info, const net::IpAddr& addr, uint16_t port);
void RewriteDestination(std::span<uint8_t> pkt, PacketInfo& info, const net::IpAddr& addr, uint16_t port);
// For ICMP errors: the quoted packet's source/destination (address and port/id).
void RewriteQuoted(std::span<uint8_t> pkt, PacketInfo& info, bool source, const net::IpAddr& addr, uint16_t port);
// TCP sequence modulation: rewrite seq/ack in place.
void RewriteTcpSeqAck(std::span<uint8_t> pkt, PacketInfo& info, uint32_t seq, uint32_t ack);

// Big-endian access at an offset of a buffer the engine builds (replies).
inline uint16_t Load16(std::span<const uint8_t> b, size_t off) { return net::Load16(&b.subspan(off, 2)[0]); }
inline uint32_t Load32(std::span<const uint8_t> b, size_t off) { return net::Load32(&b.subspan(off, 4)[0]); }
inline void Store16(std::span<uint8_t> b, size_t off, uint16_t v) { net::Store16(&b.subspan(off, 2)[0], v); }
inline void Store32(std::span<uint8_t> b, size_t off, uint32_t v) { net::Store32(&b.subspan(off, 4)[0], v); }

}  // namespace hapf::pf::engine
