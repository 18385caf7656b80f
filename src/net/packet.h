// Zero-copy, bounds-checked packet parsing: per-header views and one function
// that summarises a whole packet for the filter engine, plus the in-place
// rewrites NAT performs (with incremental checksum updates).
//
// Every view is a pointer into the caller's bytes; nothing here allocates,
// and every read is checked against the span it came from. Malformed or short
// input yields a ParseError, never a read past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "net/addr.h"

namespace hapf::net {

// ---------------------------------------------------------------------------
// Wire constants.

namespace ethertype {
inline constexpr uint16_t kIpv4 = 0x0800;
inline constexpr uint16_t kArp = 0x0806;
inline constexpr uint16_t kVlan = 0x8100;  // IEEE 802.1Q tag
inline constexpr uint16_t kQinQ = 0x88a8;  // IEEE 802.1ad service tag
inline constexpr uint16_t kIpv6 = 0x86dd;
}  // namespace ethertype

namespace ipproto {
inline constexpr uint8_t kHopOpts = 0;
inline constexpr uint8_t kIcmp = 1;
inline constexpr uint8_t kIgmp = 2;
inline constexpr uint8_t kTcp = 6;
inline constexpr uint8_t kUdp = 17;
inline constexpr uint8_t kRouting = 43;
inline constexpr uint8_t kFragment = 44;
inline constexpr uint8_t kEsp = 50;
inline constexpr uint8_t kAh = 51;
inline constexpr uint8_t kIcmp6 = 58;
inline constexpr uint8_t kNoNext = 59;
inline constexpr uint8_t kDstOpts = 60;
inline constexpr uint8_t kCarp = 112;  // shares VRRP's protocol number
inline constexpr uint8_t kPfsync = 240;
}  // namespace ipproto

namespace tcpflag {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPush = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
inline constexpr uint8_t kEce = 0x40;
inline constexpr uint8_t kCwr = 0x80;
}  // namespace tcpflag

namespace icmptype {
inline constexpr uint8_t kEchoReply = 0;
inline constexpr uint8_t kUnreach = 3;
inline constexpr uint8_t kSourceQuench = 4;
inline constexpr uint8_t kRedirect = 5;
inline constexpr uint8_t kEcho = 8;
inline constexpr uint8_t kTimeExceeded = 11;
inline constexpr uint8_t kParamProblem = 12;
}  // namespace icmptype

namespace icmp6type {
inline constexpr uint8_t kUnreach = 1;
inline constexpr uint8_t kPacketTooBig = 2;
inline constexpr uint8_t kTimeExceeded = 3;
inline constexpr uint8_t kParamProblem = 4;
inline constexpr uint8_t kEchoRequest = 128;
inline constexpr uint8_t kEchoReply = 129;
inline constexpr uint8_t kNeighborSolicit = 135;
inline constexpr uint8_t kNeighborAdvert = 136;
}  // namespace icmp6type

// ---------------------------------------------------------------------------
// Big-endian field access. The only way this library touches wire bytes.

inline uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t Load32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
inline void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// ---------------------------------------------------------------------------
// Errors.

enum class ParseError : uint8_t {
  kOk = 0,
  kTruncated,            // the bytes end inside a header, or before the length a header claims
  kBadVersion,           // IP version nibble not 4/6, or not the one the ethertype announced
  kBadHeaderLength,      // IPv4 IHL < 5, TCP data offset < 5, ARP sizes not Ethernet/IPv4
  kBadLength,            // IPv4 total length < header, UDP length outside [8, IP payload]
  kBadOption,            // an IPv4, IPv6 or TCP option that does not fit or has a wrong length
  kBadExtensionHeader,   // hop-by-hop not first, two fragment headers, too many headers
  kBadFragment,          // fragment that would end past 65535 bytes
  kBadQuotedPacket,      // ICMP error whose quoted IP header is missing or malformed
  kBadChecksum,          // only from VerifyChecksums()
  kInvalidArgument,      // a rewrite that does not apply to this packet (family, no L4 header)
};
const char* ToString(ParseError e);

enum class LinkType : uint8_t {
  kEthernet,  // starts with an Ethernet II header (optionally one 802.1Q tag)
  kRawIp,     // starts with the IPv4 or IPv6 header, as NFQUEUE delivers
};

// ---------------------------------------------------------------------------
// Views. Each Parse() checks everything its accessors later read, so the
// accessors themselves do no checks. A default-constructed view is empty.

class EthernetView {
 public:
  static constexpr size_t kHeaderLen = 14;
  static constexpr size_t kVlanHeaderLen = 18;

  static ParseError Parse(std::span<const uint8_t> frame, EthernetView& out);

  MacAddr dst() const;
  MacAddr src() const;
  bool has_vlan() const { return header_len_ == kVlanHeaderLen; }
  uint16_t vlan_tci() const { return has_vlan() ? Load16(&bytes_[14]) : 0; }
  uint16_t vlan_id() const { return vlan_tci() & 0x0fff; }
  uint8_t vlan_pcp() const { return static_cast<uint8_t>(vlan_tci() >> 13); }
  // The ethertype after the tag, if any.
  uint16_t ethertype() const { return Load16(&bytes_[header_len_ - 2]); }
  size_t header_len() const { return header_len_; }
  std::span<const uint8_t> payload() const { return bytes_.subspan(header_len_); }

 private:
  std::span<const uint8_t> bytes_;
  size_t header_len_ = 0;
};

// ARP for Ethernet/IPv4 only (RFC 826 with hlen 6, plen 4): all CARP needs.
class ArpView {
 public:
  static constexpr size_t kLen = 28;
  static constexpr uint16_t kRequest = 1;
  static constexpr uint16_t kReply = 2;

  static ParseError Parse(std::span<const uint8_t> bytes, ArpView& out);

  uint16_t op() const { return Load16(&bytes_[6]); }
  MacAddr sender_mac() const;
  IpAddr sender_ip() const { return IpAddr::V4Bytes(&bytes_[14]); }
  MacAddr target_mac() const;
  IpAddr target_ip() const { return IpAddr::V4Bytes(&bytes_[24]); }

 private:
  std::span<const uint8_t> bytes_;
};

class Ipv4View {
 public:
  static constexpr size_t kMinHeaderLen = 20;

  // Checks version, IHL, total length and option layout. The view then spans
  // exactly total_length() bytes (trailing link padding is dropped). With
  // `allow_short`, the datagram may be cut after its header (an ICMP quote):
  // the view spans what is there.
  static ParseError Parse(std::span<const uint8_t> bytes, Ipv4View& out, bool allow_short = false);

  size_t header_len() const { return (bytes_[0] & 0x0f) * 4u; }
  uint8_t tos() const { return bytes_[1]; }
  uint16_t total_length() const { return Load16(&bytes_[2]); }
  uint16_t id() const { return Load16(&bytes_[4]); }
  bool dont_fragment() const { return bytes_[6] & 0x40; }
  bool more_fragments() const { return bytes_[6] & 0x20; }
  // In bytes (the wire field counts 8-byte units).
  uint16_t fragment_offset() const { return static_cast<uint16_t>((Load16(&bytes_[6]) & 0x1fff) * 8); }
  bool is_fragment() const { return more_fragments() || fragment_offset() != 0; }
  uint8_t ttl() const { return bytes_[8]; }
  uint8_t protocol() const { return bytes_[9]; }
  uint16_t checksum() const { return Load16(&bytes_[10]); }
  IpAddr src() const { return IpAddr::V4Bytes(&bytes_[12]); }
  IpAddr dst() const { return IpAddr::V4Bytes(&bytes_[16]); }
  std::span<const uint8_t> header() const { return bytes_.first(header_len()); }
  std::span<const uint8_t> options() const { return bytes_.subspan(kMinHeaderLen, header_len() - kMinHeaderLen); }
  std::span<const uint8_t> payload() const { return bytes_.subspan(header_len()); }
  // Header checksum verifies (sums to zero).
  bool checksum_ok() const;

 private:
  std::span<const uint8_t> bytes_;
};

class Ipv6View {
 public:
  static constexpr size_t kHeaderLen = 40;

  // Checks version and payload length; as for Ipv4View, `allow_short` accepts
  // a datagram cut after the fixed header. Jumbograms (RFC 2675) are not
  // supported: their payload length 0 leaves the hop-by-hop header outside
  // the view, so the extension walk reports kTruncated.
  static ParseError Parse(std::span<const uint8_t> bytes, Ipv6View& out, bool allow_short = false);

  uint8_t traffic_class() const { return static_cast<uint8_t>(Load16(&bytes_[0]) >> 4); }
  uint32_t flow_label() const { return Load32(&bytes_[0]) & 0xfffff; }
  uint16_t payload_length() const { return Load16(&bytes_[4]); }
  uint8_t next_header() const { return bytes_[6]; }
  uint8_t hop_limit() const { return bytes_[7]; }
  IpAddr src() const { return IpAddr::V6Bytes(&bytes_[8]); }
  IpAddr dst() const { return IpAddr::V6Bytes(&bytes_[24]); }
  // Everything after the fixed header: extension headers, then the upper layer.
  std::span<const uint8_t> payload() const { return bytes_.subspan(kHeaderLen); }

 private:
  std::span<const uint8_t> bytes_;
};

// Bits of Ipv6Extensions::seen.
namespace exthdr {
inline constexpr uint8_t kHopByHop = 0x01;
inline constexpr uint8_t kRouting = 0x02;
inline constexpr uint8_t kFragment = 0x04;
inline constexpr uint8_t kDstOpts = 0x08;
inline constexpr uint8_t kAh = 0x10;
}  // namespace exthdr

// The result of walking an extension-header chain (IPv6, and AH over IPv4).
struct Ipv6Extensions {
  static constexpr int kMaxHeaders = 20;

  uint8_t proto = 0;         // the upper-layer protocol; for a later fragment, the fragment's next header
  uint32_t length = 0;       // bytes of extension headers walked
  uint8_t seen = 0;          // exthdr:: bits
  uint8_t count = 0;         // extension headers walked
  bool has_fragment = false; // a fragment header was present (possibly an atomic fragment)
  bool more_fragments = false;
  uint16_t fragment_offset = 0;  // bytes
  uint32_t fragment_id = 0;
  uint8_t routing_type = 0;  // of the first routing header (pf drops type 0)
  uint8_t segments_left = 0;
  // The destination the upper-layer checksum uses (RFC 8200 8.1): set only
  // when a routing header (type 0, 2 or 4) still has segments left.
  IpAddr final_dst;
  bool later_fragment() const { return has_fragment && fragment_offset != 0; }
};

// Walks hop-by-hop, routing, fragment, destination-options and AH headers in
// `bytes`, starting with protocol `first`. Stops at the first other protocol,
// at "no next header", or at a fragment header with a non-zero offset (the
// rest is not this fragment's business). Option TLVs are checked to fit.
ParseError WalkIpv6Extensions(uint8_t first, std::span<const uint8_t> bytes, Ipv6Extensions& out);

struct TcpOptionValues {
  bool has_mss = false;
  bool has_window_scale = false;
  bool sack_permitted = false;
  bool has_timestamps = false;
  uint16_t mss = 0;
  uint8_t window_scale = 0;
  uint8_t sack_blocks = 0;  // count of SACK blocks carried
  uint32_t ts_value = 0;
  uint32_t ts_echo = 0;
  friend bool operator==(const TcpOptionValues&, const TcpOptionValues&) = default;
};

// Parses TCP options (the bytes after the 20-byte header). Unknown kinds are
// skipped by their length; known kinds with the wrong length are kBadOption.
ParseError ParseTcpOptions(std::span<const uint8_t> options, TcpOptionValues& out);

class TcpView {
 public:
  static constexpr size_t kMinHeaderLen = 20;

  // Needs the whole header, options included.
  static ParseError Parse(std::span<const uint8_t> bytes, TcpView& out);

  uint16_t src_port() const { return Load16(&bytes_[0]); }
  uint16_t dst_port() const { return Load16(&bytes_[2]); }
  uint32_t seq() const { return Load32(&bytes_[4]); }
  uint32_t ack() const { return Load32(&bytes_[8]); }
  size_t header_len() const { return (bytes_[12] >> 4) * 4u; }
  uint8_t flags() const { return bytes_[13]; }
  uint16_t window() const { return Load16(&bytes_[14]); }
  uint16_t checksum() const { return Load16(&bytes_[16]); }
  uint16_t urgent() const { return Load16(&bytes_[18]); }
  std::span<const uint8_t> options() const { return bytes_.subspan(kMinHeaderLen, header_len() - kMinHeaderLen); }
  std::span<const uint8_t> payload() const { return bytes_.subspan(header_len()); }

 private:
  std::span<const uint8_t> bytes_;
};

class UdpView {
 public:
  static constexpr size_t kHeaderLen = 8;

  static ParseError Parse(std::span<const uint8_t> bytes, UdpView& out);

  uint16_t src_port() const { return Load16(&bytes_[0]); }
  uint16_t dst_port() const { return Load16(&bytes_[2]); }
  uint16_t length() const { return Load16(&bytes_[4]); }
  uint16_t checksum() const { return Load16(&bytes_[6]); }
  // The bytes after the header that are in the span (bounded by length() when it fits).
  std::span<const uint8_t> payload() const;

 private:
  std::span<const uint8_t> bytes_;
};

// ICMP (RFC 792) and ICMPv6 (RFC 4443) share the first 8 bytes' layout.
class IcmpView {
 public:
  static constexpr size_t kHeaderLen = 8;

  static ParseError Parse(std::span<const uint8_t> bytes, IcmpView& out);
  // Error messages quote the offending packet after the 8-byte header.
  static bool IsError(uint8_t type);

  uint8_t type() const { return bytes_[0]; }
  uint8_t code() const { return bytes_[1]; }
  uint16_t checksum() const { return Load16(&bytes_[2]); }
  // Identifier and sequence of queries (echo, timestamp...): bytes 4-7.
  uint16_t id() const { return Load16(&bytes_[4]); }
  uint16_t seq() const { return Load16(&bytes_[6]); }
  std::span<const uint8_t> payload() const { return bytes_.subspan(kHeaderLen); }

 protected:
  std::span<const uint8_t> bytes_;
};

// ICMP queries carry an identifier (bytes 4-5) that NAT maps like a port:
// echo, timestamp, information and address-mask request/reply for IPv4,
// echo request/reply for IPv6.
bool IsIcmpQuery(Family family, uint8_t type);

class Icmp6View : public IcmpView {
 public:
  static ParseError Parse(std::span<const uint8_t> bytes, Icmp6View& out);
  static bool IsError(uint8_t type) { return type < 128; }
  // Packet-too-big MTU / parameter-problem pointer: bytes 4-7.
  uint32_t mtu() const { return Load32(&bytes_[4]); }
};

// ---------------------------------------------------------------------------
// The whole-packet summary the filter engine works from.

struct ArpInfo {
  uint16_t op = 0;
  MacAddr sender_mac{};
  MacAddr target_mac{};
  IpAddr sender_ip;
  IpAddr target_ip;
  friend bool operator==(const ArpInfo&, const ArpInfo&) = default;
};

// The packet an ICMP or ICMPv6 error quotes. Usually cut short: fields whose
// bytes are missing stay zero and their has_ flag false.
struct QuotedPacket {
  Family family = Family::kNone;  // kNone: the packet is not an ICMP error
  uint8_t proto = 0;              // after the extension-header walk
  IpAddr src;
  IpAddr dst;
  uint32_t l3_offset = 0;  // offsets into the whole buffer given to ParsePacket()
  uint32_t l4_offset = 0;
  uint32_t l4_bytes = 0;   // bytes of the quoted upper-layer header present
  bool later_fragment = false;
  bool has_ports = false;  // TCP/UDP ports (the first 4 bytes)
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  bool has_tcp_seq = false;
  uint32_t tcp_seq = 0;
  bool has_icmp = false;   // an ICMP/ICMPv6 header with id (the first 8 bytes)
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  uint16_t icmp_id = 0;
  friend bool operator==(const QuotedPacket&, const QuotedPacket&) = default;
};

struct ParsedPacket {
  // Link layer: only for LinkType::kEthernet.
  bool has_ethernet = false;
  bool has_vlan = false;
  uint16_t ethertype = 0;
  uint16_t vlan_id = 0;
  uint8_t vlan_pcp = 0;
  MacAddr eth_src{};
  MacAddr eth_dst{};
  ArpInfo arp;  // op != 0 when this is an ARP packet

  // Network layer. family kNone: not IP (ARP, or another ethertype).
  Family family = Family::kNone;
  uint8_t proto = 0;  // upper-layer protocol after extension headers
  uint8_t ttl = 0;    // TTL or hop limit
  uint8_t tos = 0;    // TOS or traffic class
  bool ipv4_options = false;
  uint32_t flow_label = 0;
  IpAddr src;
  IpAddr dst;
  uint32_t l3_offset = 0;
  uint32_t l4_offset = 0;       // after IP header, options and extension headers
  uint32_t payload_offset = 0;  // after the L4 header (== l4_offset if none parsed)
  uint32_t l3_length = 0;       // the datagram: IPv4 total length, or 40 + IPv6 payload length
  uint32_t payload_length = 0;  // bytes after the L4 header, up to the datagram's end

  // Fragments (IPv4 flags/offset, or the IPv6 fragment header).
  bool fragment = false;        // MF set or offset non-zero
  bool more_fragments = false;
  bool dont_fragment = false;
  bool has_fragment_header = false;  // IPv6 only (also atomic fragments)
  uint16_t fragment_offset = 0;      // bytes
  uint32_t fragment_id = 0;
  uint8_t ext_headers = 0;     // exthdr:: bits seen
  uint8_t routing_type = 0;
  uint8_t segments_left = 0;
  IpAddr final_dst;  // see Ipv6Extensions::final_dst; empty when dst is final

  // Transport. l4_present is false for later fragments and protocols without a view.
  bool l4_present = false;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t l4_checksum = 0;
  uint8_t tcp_flags = 0;
  uint8_t tcp_header_len = 0;
  uint16_t tcp_window = 0;
  uint32_t tcp_seq = 0;
  uint32_t tcp_ack = 0;
  uint16_t tcp_urgent = 0;
  TcpOptionValues tcp_options;
  uint16_t udp_length = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  uint16_t icmp_id = 0;   // bytes 4-5 of the ICMP header (meaningful for queries)
  uint16_t icmp_seq = 0;  // bytes 6-7
  bool icmp_error = false;
  QuotedPacket inner;  // for ICMP/ICMPv6 errors

  bool is_tcp() const { return l4_present && proto == ipproto::kTcp; }
  bool is_udp() const { return l4_present && proto == ipproto::kUdp; }
  bool is_icmp() const {
    return l4_present && (proto == ipproto::kIcmp || proto == ipproto::kIcmp6);
  }
  bool is_icmp_query() const { return is_icmp() && IsIcmpQuery(family, icmp_type); }
  friend bool operator==(const ParsedPacket&, const ParsedPacket&) = default;
};

// Raw IP packets of the common shape (IPv4 without options or IPv6 without
// extension headers, not fragmented, carrying TCP or UDP) take a short path;
// kGeneral forces the general one (tests compare the two).
enum class ParsePath : uint8_t { kAny, kGeneral };

// Parses a whole packet. On kOk every field describes the packet; on error
// `out` holds what was parsed before the failure (do not act on it).
ParseError ParsePacket(std::span<const uint8_t> bytes, LinkType link, ParsedPacket& out,
                       ParsePath path = ParsePath::kAny);
// The short path alone, for callers that already hold a default-constructed
// `out` (it is not cleared again): true when the raw IP packet has the common
// shape, `out` then being what ParsePacket gives; false otherwise, `out`
// untouched but for tcp_options (call ParsePacket, which clears it, to decide).
bool ParseCommonIp(std::span<const uint8_t> bytes, ParsedPacket& out);

// Checks the IPv4 header checksum and, when the datagram is whole (not a
// fragment), the TCP/UDP/ICMP/ICMPv6 checksum. UDP over IPv4 with checksum 0
// (none) passes. kBadChecksum on mismatch.
ParseError VerifyChecksums(std::span<const uint8_t> bytes, const ParsedPacket& p);
// Recomputes the same checksums from scratch (after building or editing).
void RecomputeChecksums(std::span<uint8_t> bytes, const ParsedPacket& p);

// ---------------------------------------------------------------------------
// In-place rewrites for NAT. Each updates every checksum that covers the
// changed bytes incrementally (RFC 1624) and keeps `p` in step. `bytes` must
// be the buffer `p` was parsed from.

enum class Side : uint8_t { kSource, kDestination };

// The IP source or destination: fixes the IPv4 header checksum and the
// TCP/UDP/ICMPv6 checksum through the pseudo-header (when the L4 header is in
// this packet; a UDP-over-IPv4 checksum of 0 stays 0; not for the destination
// when a routing header makes final_dst the pseudo-header's). The new address
// must be of the packet's family.
ParseError RewriteAddress(std::span<uint8_t> bytes, ParsedPacket& p, Side side, const IpAddr& to);
// The TCP/UDP source or destination port. For ICMP/ICMPv6 queries
// (IsIcmpQuery) `side` is ignored and the identifier is rewritten instead.
ParseError RewritePort(std::span<uint8_t> bytes, ParsedPacket& p, Side side, uint16_t to);
// The address and port inside an ICMP error's quoted packet (what NAT must undo
// for the error to reach the host behind it). Fixes the quoted IPv4 header
// checksum, the quoted L4 checksum when its bytes are present, and the outer
// ICMP/ICMPv6 checksum. For a quoted ICMP query, the port is its identifier
// (`side` ignored).
ParseError RewriteQuotedAddress(std::span<uint8_t> bytes, ParsedPacket& p, Side side, const IpAddr& to);
ParseError RewriteQuotedPort(std::span<uint8_t> bytes, ParsedPacket& p, Side side, uint16_t to);

}  // namespace hapf::net
