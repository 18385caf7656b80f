#include "net/packet.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "net/checksum.h"

namespace hapf::net {

const char* ToString(ParseError e) {
  switch (e) {
    case ParseError::kOk: return "ok";
    case ParseError::kTruncated: return "truncated";
    case ParseError::kBadVersion: return "bad IP version";
    case ParseError::kBadHeaderLength: return "bad header length";
    case ParseError::kBadLength: return "bad length";
    case ParseError::kBadOption: return "bad option";
    case ParseError::kBadExtensionHeader: return "bad IPv6 extension header";
    case ParseError::kBadFragment: return "bad fragment";
    case ParseError::kBadQuotedPacket: return "bad quoted packet";
    case ParseError::kBadChecksum: return "bad checksum";
    case ParseError::kInvalidArgument: return "invalid argument";
  }
  return "unknown";
}

namespace {

MacAddr LoadMac(const uint8_t* p) {
  MacAddr m;
  std::copy(p, p + 6, m.begin());
  return m;
}

// IPv4 options (RFC 791): EOL ends the list, NOP is one byte, every other
// option carries a length that covers its kind and length bytes.
ParseError CheckIpv4Options(std::span<const uint8_t> o) {
  size_t i = 0;
  while (i < o.size()) {
    if (o[i] == 0) break;
    if (o[i] == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= o.size()) return ParseError::kBadOption;
    size_t len = o[i + 1];
    if (len < 2 || i + len > o.size()) return ParseError::kBadOption;
    i += len;
  }
  return ParseError::kOk;
}

// Hop-by-hop and destination options (RFC 8200 4.2): Pad1 is one byte, every
// other option is type, length, data.
ParseError CheckIpv6Options(std::span<const uint8_t> o) {
  size_t i = 0;
  while (i < o.size()) {
    if (o[i] == 0) {
      ++i;
      continue;
    }
    if (i + 1 >= o.size()) return ParseError::kBadOption;
    size_t len = size_t{o[i + 1]} + 2;
    if (i + len > o.size()) return ParseError::kBadOption;
    i += len;
  }
  return ParseError::kOk;
}

// The chain walk shared by IPv6 and by IPv4 (where only AH is skipped).
ParseError WalkExtensions(uint8_t first, std::span<const uint8_t> b, bool v6, Ipv6Extensions& out) {
  out = Ipv6Extensions{};
  uint8_t nh = first;
  size_t off = 0;
  for (;;) {
    size_t len = 0;
    uint8_t next = 0;
    const bool is_ext = nh == ipproto::kAh || (v6 && (nh == ipproto::kHopOpts || nh == ipproto::kRouting ||
                                                       nh == ipproto::kFragment || nh == ipproto::kDstOpts));
    if (!is_ext) break;
    if (out.count >= Ipv6Extensions::kMaxHeaders) return ParseError::kBadExtensionHeader;
    if (b.size() - off < 2) return ParseError::kTruncated;
    const uint8_t* h = &b[off];
    next = h[0];
    switch (nh) {
      case ipproto::kHopOpts:
      case ipproto::kDstOpts:
        // RFC 8200: hop-by-hop only directly after the fixed header.
        if (nh == ipproto::kHopOpts && out.count != 0) return ParseError::kBadExtensionHeader;
        len = (size_t{h[1]} + 1) * 8;
        if (b.size() - off < len) return ParseError::kTruncated;
        if (auto e = CheckIpv6Options(b.subspan(off + 2, len - 2)); e != ParseError::kOk) return e;
        out.seen |= nh == ipproto::kHopOpts ? exthdr::kHopByHop : exthdr::kDstOpts;
        break;
      case ipproto::kRouting:
        len = (size_t{h[1]} + 1) * 8;
        if (b.size() - off < len) return ParseError::kTruncated;
        if (!(out.seen & exthdr::kRouting)) {
          out.routing_type = h[2];
          out.segments_left = h[3];
        }
        out.seen |= exthdr::kRouting;
        // Where the packet finally goes: type 0 (RFC 2460) and 2 (RFC 6275)
        // list it last, type 4 (segment routing, RFC 8754) first. All three
        // lay 16-byte addresses from offset 8.
        if (out.final_dst.empty() && h[3] != 0 && h[1] >= 2) {
          if (h[2] == 0 || h[2] == 2) out.final_dst = IpAddr::V6Bytes(&h[8 + 16 * (h[1] / 2 - 1)]);
          if (h[2] == 4) out.final_dst = IpAddr::V6Bytes(&h[8]);
        }
        break;
      case ipproto::kFragment:
        len = 8;
        if (b.size() - off < len) return ParseError::kTruncated;
        if (out.has_fragment) return ParseError::kBadExtensionHeader;
        out.has_fragment = true;
        out.fragment_offset = Load16(&h[2]) & 0xfff8;
        out.more_fragments = h[3] & 1;
        out.fragment_id = Load32(&h[4]);
        out.seen |= exthdr::kFragment;
        break;
      case ipproto::kAh:
        // RFC 4302: the length counts 4-byte words, minus 2.
        len = (size_t{h[1]} + 2) * 4;
        if (b.size() - off < len) return ParseError::kTruncated;
        out.seen |= exthdr::kAh;
        break;
    }
    ++out.count;
    off += len;
    nh = next;
    // A later fragment's remaining headers belong to the first fragment.
    if (out.later_fragment()) break;
  }
  out.proto = nh;
  out.length = static_cast<uint32_t>(off);
  return ParseError::kOk;
}

}  // namespace

// ---------------------------------------------------------------------------
// Views.

ParseError EthernetView::Parse(std::span<const uint8_t> frame, EthernetView& out) {
  if (frame.size() < kHeaderLen) return ParseError::kTruncated;
  size_t len = kHeaderLen;
  if (Load16(&frame[12]) == ethertype::kVlan) {
    if (frame.size() < kVlanHeaderLen) return ParseError::kTruncated;
    len = kVlanHeaderLen;
  }
  out.bytes_ = frame;
  out.header_len_ = len;
  return ParseError::kOk;
}

MacAddr EthernetView::dst() const { return LoadMac(&bytes_[0]); }
MacAddr EthernetView::src() const { return LoadMac(&bytes_[6]); }

ParseError ArpView::Parse(std::span<const uint8_t> bytes, ArpView& out) {
  if (bytes.size() < kLen) return ParseError::kTruncated;
  if (Load16(&bytes[0]) != 1 || Load16(&bytes[2]) != ethertype::kIpv4 || bytes[4] != 6 || bytes[5] != 4)
    return ParseError::kBadHeaderLength;
  out.bytes_ = bytes.first(kLen);
  return ParseError::kOk;
}

MacAddr ArpView::sender_mac() const { return LoadMac(&bytes_[8]); }
MacAddr ArpView::target_mac() const { return LoadMac(&bytes_[18]); }

ParseError Ipv4View::Parse(std::span<const uint8_t> bytes, Ipv4View& out, bool allow_short) {
  if (bytes.size() < kMinHeaderLen) return ParseError::kTruncated;
  if (bytes[0] >> 4 != 4) return ParseError::kBadVersion;
  size_t hlen = (bytes[0] & 0x0f) * 4u;
  if (hlen < kMinHeaderLen) return ParseError::kBadHeaderLength;
  if (bytes.size() < hlen) return ParseError::kTruncated;
  size_t total = Load16(&bytes[2]);
  if (total < hlen) return ParseError::kBadLength;
  if (total > bytes.size()) {
    if (!allow_short) return ParseError::kTruncated;
    total = bytes.size();
  }
  if (auto e = CheckIpv4Options(bytes.subspan(kMinHeaderLen, hlen - kMinHeaderLen)); e != ParseError::kOk)
    return e;
  out.bytes_ = bytes.first(total);
  return ParseError::kOk;
}

bool Ipv4View::checksum_ok() const { return ChecksumFinish(ChecksumPartial(header())) == 0; }

ParseError Ipv6View::Parse(std::span<const uint8_t> bytes, Ipv6View& out, bool allow_short) {
  if (bytes.size() < kHeaderLen) return ParseError::kTruncated;
  if (bytes[0] >> 4 != 6) return ParseError::kBadVersion;
  size_t total = kHeaderLen + Load16(&bytes[4]);
  if (total > bytes.size()) {
    if (!allow_short) return ParseError::kTruncated;
    total = bytes.size();
  }
  out.bytes_ = bytes.first(total);
  return ParseError::kOk;
}

ParseError WalkIpv6Extensions(uint8_t first, std::span<const uint8_t> bytes, Ipv6Extensions& out) {
  return WalkExtensions(first, bytes, /*v6=*/true, out);
}

ParseError ParseTcpOptions(std::span<const uint8_t> o, TcpOptionValues& out) {
  out = TcpOptionValues{};
  size_t i = 0;
  while (i < o.size()) {
    const uint8_t kind = o[i];
    if (kind == 0) break;  // end of option list
    if (kind == 1) {       // no-operation
      ++i;
      continue;
    }
    if (i + 1 >= o.size()) return ParseError::kBadOption;
    const size_t len = o[i + 1];
    if (len < 2 || i + len > o.size()) return ParseError::kBadOption;
    const uint8_t* v = &o[i + 2];
    switch (kind) {
      case 2:  // MSS, RFC 9293
        if (len != 4) return ParseError::kBadOption;
        out.has_mss = true;
        out.mss = Load16(v);
        break;
      case 3:  // window scale, RFC 7323
        if (len != 3) return ParseError::kBadOption;
        out.has_window_scale = true;
        out.window_scale = v[0];
        break;
      case 4:  // SACK permitted, RFC 2018
        if (len != 2) return ParseError::kBadOption;
        out.sack_permitted = true;
        break;
      case 5:  // SACK blocks: pairs of 32-bit edges
        if (len < 10 || (len - 2) % 8 != 0) return ParseError::kBadOption;
        out.sack_blocks = static_cast<uint8_t>((len - 2) / 8);
        break;
      case 8:  // timestamps, RFC 7323
        if (len != 10) return ParseError::kBadOption;
        out.has_timestamps = true;
        out.ts_value = Load32(v);
        out.ts_echo = Load32(v + 4);
        break;
      default:
        break;
    }
    i += len;
  }
  return ParseError::kOk;
}

ParseError TcpView::Parse(std::span<const uint8_t> bytes, TcpView& out) {
  if (bytes.size() < kMinHeaderLen) return ParseError::kTruncated;
  size_t hlen = (bytes[12] >> 4) * 4u;
  if (hlen < kMinHeaderLen) return ParseError::kBadHeaderLength;
  if (hlen > bytes.size()) return ParseError::kTruncated;
  out.bytes_ = bytes;
  return ParseError::kOk;
}

ParseError UdpView::Parse(std::span<const uint8_t> bytes, UdpView& out) {
  if (bytes.size() < kHeaderLen) return ParseError::kTruncated;
  out.bytes_ = bytes;
  return ParseError::kOk;
}

std::span<const uint8_t> UdpView::payload() const {
  size_t len = length();
  if (len < kHeaderLen || len > bytes_.size()) len = bytes_.size();
  return bytes_.subspan(kHeaderLen, len - kHeaderLen);
}

ParseError IcmpView::Parse(std::span<const uint8_t> bytes, IcmpView& out) {
  if (bytes.size() < kHeaderLen) return ParseError::kTruncated;
  out.bytes_ = bytes;
  return ParseError::kOk;
}

bool IcmpView::IsError(uint8_t type) {
  return type == icmptype::kUnreach || type == icmptype::kSourceQuench || type == icmptype::kRedirect ||
         type == icmptype::kTimeExceeded || type == icmptype::kParamProblem;
}

bool IsIcmpQuery(Family family, uint8_t type) {
  if (family == Family::kV6) return type == icmp6type::kEchoRequest || type == icmp6type::kEchoReply;
  // Echo reply 0, echo 8, timestamp 13/14, information 15/16, address mask 17/18.
  return type == icmptype::kEchoReply || type == icmptype::kEcho || (type >= 13 && type <= 18);
}

ParseError Icmp6View::Parse(std::span<const uint8_t> bytes, Icmp6View& out) {
  return IcmpView::Parse(bytes, out);
}

// ---------------------------------------------------------------------------
// Whole-packet parse.

namespace {

// The quoted packet inside an ICMP error: `q` is the bytes after the 8-byte
// ICMP header up to the outer datagram's end; `base` is its offset in the
// whole buffer.
ParseError ParseQuoted(std::span<const uint8_t> q, size_t base, Family outer, QuotedPacket& out) {
  std::span<const uint8_t> l4;
  Ipv6Extensions ext;
  if (outer == Family::kV4) {
    Ipv4View ip;
    if (Ipv4View::Parse(q, ip, /*allow_short=*/true) != ParseError::kOk) return ParseError::kBadQuotedPacket;
    out.family = Family::kV4;
    out.src = ip.src();
    out.dst = ip.dst();
    if (ip.fragment_offset() != 0) {
      ext.proto = ip.protocol();
      out.later_fragment = true;
    } else if (WalkExtensions(ip.protocol(), ip.payload(), false, ext) != ParseError::kOk) {
      return ParseError::kBadQuotedPacket;
    }
    l4 = ip.payload().subspan(ext.length);
  } else {
    Ipv6View ip;
    if (Ipv6View::Parse(q, ip, /*allow_short=*/true) != ParseError::kOk) return ParseError::kBadQuotedPacket;
    if (WalkExtensions(ip.next_header(), ip.payload(), true, ext) != ParseError::kOk)
      return ParseError::kBadQuotedPacket;
    out.family = Family::kV6;
    out.src = ip.src();
    out.dst = ip.dst();
    out.later_fragment = ext.later_fragment();
    l4 = ip.payload().subspan(ext.length);
  }
  out.proto = ext.proto;
  out.l3_offset = static_cast<uint32_t>(base);
  out.l4_offset = static_cast<uint32_t>(l4.data() - q.data() + base);
  out.l4_bytes = static_cast<uint32_t>(l4.size());
  if (out.later_fragment) return ParseError::kOk;
  if (out.proto == ipproto::kTcp || out.proto == ipproto::kUdp) {
    if (l4.size() >= 4) {
      out.has_ports = true;
      out.src_port = Load16(&l4[0]);
      out.dst_port = Load16(&l4[2]);
    }
    if (out.proto == ipproto::kTcp && l4.size() >= 8) {
      out.has_tcp_seq = true;
      out.tcp_seq = Load32(&l4[4]);
    }
  } else if ((out.proto == ipproto::kIcmp && outer == Family::kV4) ||
             (out.proto == ipproto::kIcmp6 && outer == Family::kV6)) {
    if (l4.size() >= IcmpView::kHeaderLen) {
      out.has_icmp = true;
      out.icmp_type = l4[0];
      out.icmp_code = l4[1];
      out.icmp_id = Load16(&l4[4]);
    }
  }
  return ParseError::kOk;
}

// The transport header in `l4` (bytes from the L4 start to the datagram end).
ParseError ParseTransport(std::span<const uint8_t> l4, ParsedPacket& p) {
  if (p.proto == ipproto::kTcp) {
    TcpView tcp;
    if (auto e = TcpView::Parse(l4, tcp); e != ParseError::kOk) return e;
    if (auto e = ParseTcpOptions(tcp.options(), p.tcp_options); e != ParseError::kOk) return e;
    p.src_port = tcp.src_port();
    p.dst_port = tcp.dst_port();
    p.tcp_seq = tcp.seq();
    p.tcp_ack = tcp.ack();
    p.tcp_flags = tcp.flags();
    p.tcp_window = tcp.window();
    p.tcp_urgent = tcp.urgent();
    p.tcp_header_len = static_cast<uint8_t>(tcp.header_len());
    p.l4_checksum = tcp.checksum();
    p.payload_offset = p.l4_offset + static_cast<uint32_t>(tcp.header_len());
    p.payload_length = static_cast<uint32_t>(tcp.payload().size());
  } else if (p.proto == ipproto::kUdp) {
    UdpView udp;
    if (auto e = UdpView::Parse(l4, udp); e != ParseError::kOk) return e;
    // A fragment carries only part of the datagram the length describes.
    if (udp.length() < UdpView::kHeaderLen || (!p.fragment && udp.length() > l4.size()))
      return ParseError::kBadLength;
    p.src_port = udp.src_port();
    p.dst_port = udp.dst_port();
    p.udp_length = udp.length();
    p.l4_checksum = udp.checksum();
    p.payload_offset = p.l4_offset + UdpView::kHeaderLen;
    p.payload_length = static_cast<uint32_t>(
        p.fragment ? l4.size() - UdpView::kHeaderLen : udp.length() - UdpView::kHeaderLen);
  } else if ((p.proto == ipproto::kIcmp && p.family == Family::kV4) ||
             (p.proto == ipproto::kIcmp6 && p.family == Family::kV6)) {
    IcmpView icmp;
    if (auto e = IcmpView::Parse(l4, icmp); e != ParseError::kOk) return e;
    p.icmp_type = icmp.type();
    p.icmp_code = icmp.code();
    p.icmp_id = icmp.id();
    p.icmp_seq = icmp.seq();
    p.l4_checksum = icmp.checksum();
    p.payload_offset = p.l4_offset + IcmpView::kHeaderLen;
    p.payload_length = static_cast<uint32_t>(icmp.payload().size());
    p.icmp_error = p.family == Family::kV4 ? IcmpView::IsError(icmp.type()) : Icmp6View::IsError(icmp.type());
    if (p.icmp_error) {
      p.l4_present = true;
      return ParseQuoted(icmp.payload(), p.payload_offset, p.family, p.inner);
    }
  } else {
    return ParseError::kOk;  // a protocol without a view: l4_present stays false
  }
  p.l4_present = true;
  return ParseError::kOk;
}

ParseError ParseIp(std::span<const uint8_t> bytes, size_t l3, uint8_t expect_version, ParsedPacket& p) {
  std::span<const uint8_t> rest = bytes.subspan(l3);
  if (rest.empty()) return ParseError::kTruncated;
  const uint8_t version = rest[0] >> 4;
  if ((version != 4 && version != 6) || (expect_version != 0 && version != expect_version))
    return ParseError::kBadVersion;
  p.l3_offset = static_cast<uint32_t>(l3);
  Ipv6Extensions ext;
  std::span<const uint8_t> after_ip;
  if (version == 4) {
    Ipv4View ip;
    if (auto e = Ipv4View::Parse(rest, ip); e != ParseError::kOk) return e;
    p.family = Family::kV4;
    p.src = ip.src();
    p.dst = ip.dst();
    p.ttl = ip.ttl();
    p.tos = ip.tos();
    p.ipv4_options = ip.header_len() > Ipv4View::kMinHeaderLen;
    p.l3_length = ip.total_length();
    p.fragment = ip.is_fragment();
    p.more_fragments = ip.more_fragments();
    p.dont_fragment = ip.dont_fragment();
    p.fragment_offset = ip.fragment_offset();
    p.fragment_id = ip.id();
    if (size_t{p.fragment_offset} + ip.payload().size() > 0xffff) return ParseError::kBadFragment;
    if (p.fragment_offset != 0) {
      ext.proto = ip.protocol();
    } else if (auto e = WalkExtensions(ip.protocol(), ip.payload(), false, ext); e != ParseError::kOk) {
      return e;
    }
    after_ip = ip.payload().subspan(ext.length);
  } else {
    Ipv6View ip;
    if (auto e = Ipv6View::Parse(rest, ip); e != ParseError::kOk) return e;
    p.family = Family::kV6;
    p.src = ip.src();
    p.dst = ip.dst();
    p.ttl = ip.hop_limit();
    p.tos = ip.traffic_class();
    p.flow_label = ip.flow_label();
    p.l3_length = static_cast<uint32_t>(Ipv6View::kHeaderLen + ip.payload_length());
    if (auto e = WalkExtensions(ip.next_header(), ip.payload(), true, ext); e != ParseError::kOk) return e;
    after_ip = ip.payload().subspan(ext.length);
    p.has_fragment_header = ext.has_fragment;
    p.fragment = ext.has_fragment && (ext.more_fragments || ext.fragment_offset != 0);
    p.more_fragments = ext.more_fragments;
    p.fragment_offset = ext.fragment_offset;
    p.fragment_id = ext.fragment_id;
    p.routing_type = ext.routing_type;
    p.segments_left = ext.segments_left;
    p.final_dst = ext.final_dst;
    if (size_t{p.fragment_offset} + after_ip.size() > 0xffff) return ParseError::kBadFragment;
  }
  p.proto = ext.proto;
  p.ext_headers = ext.seen;
  p.l4_offset = static_cast<uint32_t>(after_ip.data() - bytes.data());
  p.payload_offset = p.l4_offset;
  p.payload_length = static_cast<uint32_t>(after_ip.size());
  if (p.fragment_offset != 0) return ParseError::kOk;  // no transport header in a later fragment
  return ParseTransport(after_ip, p);
}

}  // namespace

// What ParseIp would set, for the shape packet.h describes; every check that
// could fail comes before the first field is set (tcp_options aside).
bool ParseCommonIp(std::span<const uint8_t> b, ParsedPacket& p) {
  if (b.size() < Ipv4View::kMinHeaderLen) return false;
  size_t total, hlen;
  uint8_t proto;
  if (b[0] == 0x45) {  // IPv4, IHL 5
    total = Load16(&b[2]);
    proto = b[9];
    if (total < 20 || total > b.size() || (Load16(&b[6]) & 0x3fff) != 0) return false;  // short, or a fragment
    hlen = 20;
  } else if ((b[0] >> 4) == 6) {
    if (b.size() < Ipv6View::kHeaderLen) return false;
    total = Ipv6View::kHeaderLen + Load16(&b[4]);
    proto = b[6];
    if (total > b.size()) return false;
    hlen = Ipv6View::kHeaderLen;
  } else {
    return false;
  }
  const std::span<const uint8_t> l4 = b.subspan(hlen, total - hlen);
  size_t l4_hlen;
  if (proto == ipproto::kTcp) {
    if (l4.size() < TcpView::kMinHeaderLen) return false;
    l4_hlen = (l4[12] >> 4) * 4u;
    if (l4_hlen < TcpView::kMinHeaderLen || l4_hlen > l4.size()) return false;
    if (l4_hlen > TcpView::kMinHeaderLen &&
        ParseTcpOptions(l4.subspan(TcpView::kMinHeaderLen, l4_hlen - TcpView::kMinHeaderLen), p.tcp_options) !=
            ParseError::kOk) {
      return false;
    }
    p.tcp_seq = Load32(&l4[4]);
    p.tcp_ack = Load32(&l4[8]);
    p.tcp_flags = l4[13];
    p.tcp_window = Load16(&l4[14]);
    p.tcp_urgent = Load16(&l4[18]);
    p.tcp_header_len = static_cast<uint8_t>(l4_hlen);
    p.l4_checksum = Load16(&l4[16]);
    p.payload_length = static_cast<uint32_t>(l4.size() - l4_hlen);
  } else if (proto == ipproto::kUdp) {
    if (l4.size() < UdpView::kHeaderLen) return false;
    const uint16_t len = Load16(&l4[4]);
    if (len < UdpView::kHeaderLen || len > l4.size()) return false;
    l4_hlen = UdpView::kHeaderLen;
    p.udp_length = len;
    p.l4_checksum = Load16(&l4[6]);
    p.payload_length = len - uint32_t{UdpView::kHeaderLen};
  } else {
    return false;
  }
  const bool v4 = hlen == 20;
  // family, proto, ttl and tos are adjacent: one store for the four, as
  // readers copy them in pairs (a load spanning two narrower stores waits
  // for them to reach the cache).
  static_assert(std::is_trivially_copyable_v<ParsedPacket> &&
                offsetof(ParsedPacket, proto) == offsetof(ParsedPacket, family) + 1 &&
                offsetof(ParsedPacket, ttl) == offsetof(ParsedPacket, family) + 2 &&
                offsetof(ParsedPacket, tos) == offsetof(ParsedPacket, family) + 3);
  const uint8_t head[4] = {static_cast<uint8_t>(v4 ? Family::kV4 : Family::kV6), proto, v4 ? b[8] : b[7],
                           v4 ? b[1] : static_cast<uint8_t>(Load16(&b[0]) >> 4)};
  std::memcpy(reinterpret_cast<unsigned char*>(&p) + offsetof(ParsedPacket, family), head, sizeof head);
  if (v4) {
    p.src = IpAddr::V4Bytes(&b[12]);
    p.dst = IpAddr::V4Bytes(&b[16]);
    p.dont_fragment = b[6] & 0x40;
    p.fragment_id = Load16(&b[4]);
  } else {
    p.src = IpAddr::V6Bytes(&b[8]);
    p.dst = IpAddr::V6Bytes(&b[24]);
    p.flow_label = Load32(&b[0]) & 0xfffff;
  }
  p.l3_length = static_cast<uint32_t>(total);
  p.l4_offset = static_cast<uint32_t>(hlen);
  p.payload_offset = static_cast<uint32_t>(hlen + l4_hlen);
  // The ports in one store too (readers copy them as a pair).
  static_assert(offsetof(ParsedPacket, dst_port) == offsetof(ParsedPacket, src_port) + 2 &&
                std::endian::native == std::endian::little);
  const uint32_t ports = uint32_t{Load16(&l4[0])} | uint32_t{Load16(&l4[2])} << 16;
  std::memcpy(reinterpret_cast<unsigned char*>(&p) + offsetof(ParsedPacket, src_port), &ports, sizeof ports);
  p.l4_present = true;
  return true;
}

ParseError ParsePacket(std::span<const uint8_t> bytes, LinkType link, ParsedPacket& out, ParsePath path) {
  out = ParsedPacket{};
  if (link == LinkType::kRawIp) {
    if (path == ParsePath::kAny && ParseCommonIp(bytes, out)) return ParseError::kOk;
    if (path == ParsePath::kAny) out.tcp_options = TcpOptionValues{};
    return ParseIp(bytes, 0, 0, out);
  }
  EthernetView eth;
  if (auto e = EthernetView::Parse(bytes, eth); e != ParseError::kOk) return e;
  out.has_ethernet = true;
  out.eth_dst = eth.dst();
  out.eth_src = eth.src();
  out.has_vlan = eth.has_vlan();
  out.vlan_id = eth.vlan_id();
  out.vlan_pcp = eth.vlan_pcp();
  out.ethertype = eth.ethertype();
  switch (out.ethertype) {
    case ethertype::kIpv4: return ParseIp(bytes, eth.header_len(), 4, out);
    case ethertype::kIpv6: return ParseIp(bytes, eth.header_len(), 6, out);
    case ethertype::kArp: {
      ArpView arp;
      if (auto e = ArpView::Parse(eth.payload(), arp); e != ParseError::kOk) return e;
      out.l3_offset = static_cast<uint32_t>(eth.header_len());
      out.arp.op = arp.op();
      out.arp.sender_mac = arp.sender_mac();
      out.arp.sender_ip = arp.sender_ip();
      out.arp.target_mac = arp.target_mac();
      out.arp.target_ip = arp.target_ip();
      return ParseError::kOk;
    }
    default:
      out.l3_offset = static_cast<uint32_t>(eth.header_len());
      return ParseError::kOk;  // not ours to judge: family stays kNone
  }
}

// ---------------------------------------------------------------------------
// Checksums.

namespace {

constexpr size_t kNoField = static_cast<size_t>(-1);

// Where the transport checksum sits, relative to the L4 header.
size_t L4ChecksumOffset(uint8_t proto) {
  switch (proto) {
    case ipproto::kTcp: return 16;
    case ipproto::kUdp: return 6;
    case ipproto::kIcmp:
    case ipproto::kIcmp6: return 2;
    default: return kNoField;
  }
}

// Whether this transport's checksum covers the pseudo-header (addresses).
bool UsesPseudoHeader(uint8_t proto) { return proto != ipproto::kIcmp; }

// The bytes the transport checksum covers: to the datagram's end, or the UDP length.
std::span<const uint8_t> L4Span(std::span<const uint8_t> bytes, const ParsedPacket& p) {
  size_t end = p.l3_offset + p.l3_length;
  size_t len = end - p.l4_offset;
  if (p.proto == ipproto::kUdp) len = std::min<size_t>(len, p.udp_length);
  return bytes.subspan(p.l4_offset, len);
}

uint16_t L4ChecksumOf(std::span<const uint8_t> l4, const ParsedPacket& p) {
  const IpAddr& dst = p.final_dst.empty() ? p.dst : p.final_dst;
  uint32_t sum =
      UsesPseudoHeader(p.proto) ? PseudoHeaderSum(p.src, dst, p.proto, static_cast<uint32_t>(l4.size())) : 0;
  return ChecksumFinish(ChecksumPartial(l4, sum));
}

bool WholeDatagram(const ParsedPacket& p) { return p.l4_present && !p.fragment; }

}  // namespace

ParseError VerifyChecksums(std::span<const uint8_t> bytes, const ParsedPacket& p) {
  if (p.family == Family::kV4) {
    size_t hlen = (bytes[p.l3_offset] & 0x0f) * 4u;
    if (Checksum(bytes.subspan(p.l3_offset, hlen)) != 0) return ParseError::kBadChecksum;
  }
  if (!WholeDatagram(p) || L4ChecksumOffset(p.proto) == kNoField) return ParseError::kOk;
  if (p.proto == ipproto::kUdp && p.family == Family::kV4 && p.l4_checksum == 0) return ParseError::kOk;
  return L4ChecksumOf(L4Span(bytes, p), p) == 0 ? ParseError::kOk : ParseError::kBadChecksum;
}

void RecomputeChecksums(std::span<uint8_t> bytes, const ParsedPacket& p) {
  if (p.family == Family::kV4) {
    size_t hlen = (bytes[p.l3_offset] & 0x0f) * 4u;
    Store16(&bytes[p.l3_offset + 10], 0);
    Store16(&bytes[p.l3_offset + 10], Checksum(bytes.subspan(p.l3_offset, hlen)));
  }
  size_t field = L4ChecksumOffset(p.proto);
  if (!WholeDatagram(p) || field == kNoField) return;
  Store16(&bytes[p.l4_offset + field], 0);
  uint16_t sum = L4ChecksumOf(L4Span(bytes, p), p);
  // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
  if (p.proto == ipproto::kUdp && sum == 0) sum = 0xffff;
  Store16(&bytes[p.l4_offset + field], sum);
}

// ---------------------------------------------------------------------------
// Rewrites.

namespace {

// A checksum field that covers a word being changed. `udp4`: UDP over IPv4,
// where 0 means "no checksum" and must stay 0, and a computed 0 becomes 0xffff.
struct SumField {
  size_t at = kNoField;
  bool udp4 = false;
};

// Folds a word's change into the checksum field; reports the field's old and
// new values so that a checksum enclosing this field can follow.
bool AdjustSum(std::span<uint8_t> b, SumField f, uint16_t old_word, uint16_t new_word, uint16_t& old_sum,
               uint16_t& new_sum) {
  if (f.at == kNoField) return false;
  old_sum = Load16(&b[f.at]);
  if (f.udp4 && old_sum == 0) return false;
  new_sum = ChecksumAdjust16(old_sum, old_word, new_word);
  if (f.udp4 && new_sum == 0) new_sum = 0xffff;
  Store16(&b[f.at], new_sum);
  return true;
}

// Sets the 16-bit word at `at`, fixing the checksums that cover it directly
// (`a`, `b`, possibly through the pseudo-header) and `enclosing`, which covers
// the word and the fields of `a` and `b` as plain bytes (an ICMP error's
// checksum over its quoted packet).
void SetWord(std::span<uint8_t> bytes, size_t at, uint16_t value, SumField a, SumField b, SumField enclosing) {
  const uint16_t old = Load16(&bytes[at]);
  if (old == value) return;
  uint16_t os = 0, ns = 0, unused1 = 0, unused2 = 0;
  for (SumField f : {a, b})
    if (AdjustSum(bytes, f, old, value, os, ns)) AdjustSum(bytes, enclosing, os, ns, unused1, unused2);
  Store16(&bytes[at], value);
  AdjustSum(bytes, enclosing, old, value, unused1, unused2);
}

// The transport checksum field of a header with `avail` bytes present, or none.
SumField TransportSum(size_t l4, size_t avail, uint8_t proto, Family family, bool pseudo_only) {
  size_t off = L4ChecksumOffset(proto);
  if (off == kNoField || avail < off + 2) return {};
  if (proto == ipproto::kIcmp && family != Family::kV4) return {};
  if (proto == ipproto::kIcmp6 && family != Family::kV6) return {};
  if (pseudo_only && !UsesPseudoHeader(proto)) return {};
  return SumField{l4 + off, proto == ipproto::kUdp && family == Family::kV4};
}

void SetAddress(std::span<uint8_t> bytes, size_t at, const IpAddr& to, SumField a, SumField b, SumField enclosing) {
  for (int i = 0; i < to.size(); i += 2)
    SetWord(bytes, at + i, static_cast<uint16_t>(to.data()[i] << 8 | to.data()[i + 1]), a, b, enclosing);
}

size_t AddressOffset(Family f, Side side) {
  if (f == Family::kV4) return side == Side::kSource ? 12 : 16;
  return side == Side::kSource ? 8 : 24;
}

bool Fits(std::span<uint8_t> bytes, const ParsedPacket& p) {
  return p.l3_offset + p.l3_length <= bytes.size();
}

}  // namespace

ParseError RewriteAddress(std::span<uint8_t> bytes, ParsedPacket& p, Side side, const IpAddr& to) {
  if (p.family == Family::kNone || to.family() != p.family || !Fits(bytes, p))
    return ParseError::kInvalidArgument;
  SumField ip_sum = p.family == Family::kV4 ? SumField{p.l3_offset + 10u} : SumField{};
  const bool in_pseudo_header = side == Side::kSource || p.final_dst.empty();
  SumField l4_sum = p.l4_present && in_pseudo_header
                        ? TransportSum(p.l4_offset, p.l3_offset + p.l3_length - p.l4_offset, p.proto, p.family,
                                       /*pseudo_only=*/true)
                        : SumField{};
  SetAddress(bytes, p.l3_offset + AddressOffset(p.family, side), to, ip_sum, l4_sum, {});
  (side == Side::kSource ? p.src : p.dst) = to;
  if (l4_sum.at != kNoField) p.l4_checksum = Load16(&bytes[l4_sum.at]);
  return ParseError::kOk;
}

ParseError RewritePort(std::span<uint8_t> bytes, ParsedPacket& p, Side side, uint16_t to) {
  if (!p.l4_present || !Fits(bytes, p)) return ParseError::kInvalidArgument;
  SumField l4_sum = TransportSum(p.l4_offset, p.l3_offset + p.l3_length - p.l4_offset, p.proto, p.family,
                                 /*pseudo_only=*/false);
  if (p.proto == ipproto::kTcp || p.proto == ipproto::kUdp) {
    SetWord(bytes, p.l4_offset + (side == Side::kSource ? 0 : 2), to, l4_sum, {}, {});
    (side == Side::kSource ? p.src_port : p.dst_port) = to;
  } else if (p.is_icmp_query()) {
    SetWord(bytes, p.l4_offset + 4, to, l4_sum, {}, {});
    p.icmp_id = to;
  } else {
    return ParseError::kInvalidArgument;
  }
  p.l4_checksum = Load16(&bytes[l4_sum.at]);
  return ParseError::kOk;
}

ParseError RewriteQuotedAddress(std::span<uint8_t> bytes, ParsedPacket& p, Side side, const IpAddr& to) {
  QuotedPacket& q = p.inner;
  if (!p.icmp_error || q.family == Family::kNone || to.family() != q.family || !Fits(bytes, p))
    return ParseError::kInvalidArgument;
  SumField outer{p.l4_offset + 2u};
  SumField ip_sum = q.family == Family::kV4 ? SumField{q.l3_offset + 10u} : SumField{};
  SumField l4_sum = q.later_fragment ? SumField{}
                                     : TransportSum(q.l4_offset, q.l4_bytes, q.proto, q.family, /*pseudo_only=*/true);
  SetAddress(bytes, q.l3_offset + AddressOffset(q.family, side), to, ip_sum, l4_sum, outer);
  (side == Side::kSource ? q.src : q.dst) = to;
  p.l4_checksum = Load16(&bytes[outer.at]);
  return ParseError::kOk;
}

ParseError RewriteQuotedPort(std::span<uint8_t> bytes, ParsedPacket& p, Side side, uint16_t to) {
  QuotedPacket& q = p.inner;
  if (!p.icmp_error || q.family == Family::kNone || !Fits(bytes, p)) return ParseError::kInvalidArgument;
  SumField outer{p.l4_offset + 2u};
  SumField l4_sum = TransportSum(q.l4_offset, q.l4_bytes, q.proto, q.family, /*pseudo_only=*/false);
  if (q.has_ports) {
    SetWord(bytes, q.l4_offset + (side == Side::kSource ? 0 : 2), to, l4_sum, {}, outer);
    (side == Side::kSource ? q.src_port : q.dst_port) = to;
  } else if (q.has_icmp && IsIcmpQuery(q.family, q.icmp_type)) {
    SetWord(bytes, q.l4_offset + 4, to, l4_sum, {}, outer);
    q.icmp_id = to;
  } else {
    return ParseError::kInvalidArgument;
  }
  p.l4_checksum = Load16(&bytes[outer.at]);
  return ParseError::kOk;
}

}  // namespace hapf::net
