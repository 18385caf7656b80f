#include "pf/engine_view.h"

#include <algorithm>
#include <cassert>

#include "net/checksum.h"

namespace hapf::pf::engine {

IcmpMapping MapIcmp(net::Family af, uint8_t type) {
  // Only the types net::IsIcmpQuery knows carry an id that NAT rewrites.
  if (!net::IsIcmpQuery(af, type)) return {false, false, type};
  if (af == net::Family::kV6) {
    return type == net::icmp6type::kEchoReply ? IcmpMapping{true, true, net::icmp6type::kEchoRequest}
                                               : IcmpMapping{true, false, type};
  }
  switch (type) {
    case net::icmptype::kEchoReply: return {true, true, net::icmptype::kEcho};
    case 14: case 16: case 18: return {true, true, static_cast<uint8_t>(type - 1)};  // timestamp/info/mask replies
    default: return {true, false, type};
  }
}

bool ParsePacket(std::span<const uint8_t> l3, PacketInfo& info) {
  net::ParsedPacket& n = info.parsed;  // default-constructed: the short path does not clear it again
  if (!net::ParseCommonIp(l3, n) && net::ParsePacket(l3, net::LinkType::kRawIp, n) != net::ParseError::kOk) {
    return false;
  }
  if (n.family == net::Family::kNone) return false;
  info.af = n.family;
  info.proto = n.proto;
  // n.src and n.dst, read again from the header (raw IP: at offset 0)
  // rather than from the copies just stored (a wide reload of those waited
  // on store forwarding).
  if (n.family == net::Family::kV4) {
    info.src = net::IpAddr::V4Bytes(&l3[12]);
    info.dst = net::IpAddr::V4Bytes(&l3[16]);
  } else {
    info.src = net::IpAddr::V6Bytes(&l3[8]);
    info.dst = net::IpAddr::V6Bytes(&l3[24]);
  }
  assert(info.src == n.src && info.dst == n.dst);
  info.ttl = n.ttl;
  info.tos = n.tos;
  info.l3_len = static_cast<uint16_t>(n.l3_length);
  info.fragment = !n.l4_present && (n.fragment || n.has_fragment_header);
  if (!n.l4_present) return true;
  switch (n.proto) {
    case kProtoTcp:
      info.sport = n.src_port;
      info.dport = n.dst_port;
      info.seq = n.tcp_seq;
      info.ack = n.tcp_ack;
      info.win = n.tcp_window;
      info.flags = n.tcp_flags;
      if (n.tcp_options.has_window_scale) info.wscale = static_cast<int8_t>(std::min<uint8_t>(n.tcp_options.window_scale, 14));
      info.mss = n.tcp_options.has_mss ? n.tcp_options.mss : 0;
      info.payload_len = static_cast<uint16_t>(n.payload_length);
      return true;
    case kProtoUdp:
      info.sport = n.src_port;
      info.dport = n.dst_port;
      info.payload_len = static_cast<uint16_t>(n.payload_length);
      return true;
    case kProtoIcmp:
    case kProtoIcmp6:
      break;
    default:
      return true;
  }
  if ((n.proto == kProtoIcmp) != (n.family == net::Family::kV4)) return true;  // treated as "other"
  info.icmp_type = n.icmp_type;
  info.icmp_code = n.icmp_code;
  if (const IcmpMapping m = MapIcmp(info.af, info.icmp_type); m.query) {
    info.icmp_query = true;
    info.icmp_reply = m.reply;
    info.icmp_id = n.icmp_id;
    info.sport = m.reply ? m.virtual_type : info.icmp_id;
    info.dport = m.reply ? info.icmp_id : m.virtual_type;
    return true;
  }
  if (!n.icmp_error) return true;
  info.icmp_error = true;
  const net::QuotedPacket& in = n.inner;
  if (in.family != info.af) return true;  // an error we cannot relate: plain ICMP
  QuotedInfo q;
  q.src = in.src;
  q.dst = in.dst;
  q.proto = in.proto;
  if (q.proto == kProtoTcp || q.proto == kProtoUdp) {
    if (in.l4_bytes < 8 || !in.has_ports) return true;
    q.sport = in.src_port;
    q.dport = in.dst_port;
    q.tcp_seq = in.tcp_seq;
  } else if (q.proto == kProtoIcmp || q.proto == kProtoIcmp6) {
    if (!in.has_icmp) return true;
    q.icmp_type = in.icmp_type;
    const IcmpMapping qm = MapIcmp(info.af, q.icmp_type);
    if (!qm.query) return true;
    q.icmp_reply = qm.reply;
    q.sport = qm.reply ? qm.virtual_type : in.icmp_id;
    q.dport = qm.reply ? in.icmp_id : qm.virtual_type;
  }
  info.quoted = q;
  return true;
}

std::optional<PacketInfo> ParsePacket(std::span<const uint8_t> l3) {
  PacketInfo info;
  if (!ParsePacket(l3, info)) return std::nullopt;
  return info;
}

namespace {

void RewriteEnd(std::span<uint8_t> pkt, PacketInfo& info, net::Side side, const net::IpAddr& addr, uint16_t port) {
  const bool source = side == net::Side::kSource;
  net::IpAddr& cur = source ? info.src : info.dst;
  if (cur != addr && addr.family() == info.af && net::RewriteAddress(pkt, info.parsed, side, addr) == net::ParseError::kOk) {
    cur = addr;
  }
  if (info.fragment) return;
  uint16_t& cur_port = source ? info.sport : info.dport;
  if (cur_port == port) return;
  const bool ports = info.proto == kProtoTcp || info.proto == kProtoUdp;
  // Only the requester's side of an ICMP query carries the id; the other "port" is the type.
  const bool icmp_id = info.icmp_query && source != info.icmp_reply;
  if ((ports || icmp_id) && net::RewritePort(pkt, info.parsed, side, port) == net::ParseError::kOk) {
    cur_port = port;
    if (icmp_id) info.icmp_id = port;
  }
}

}  // namespace

void RewriteSource(std::span<uint8_t> pkt, PacketInfo& info, const net::IpAddr& addr, uint16_t port) {
  RewriteEnd(pkt, info, net::Side::kSource, addr, port);
}

void RewriteDestination(std::span<uint8_t> pkt, PacketInfo& info, const net::IpAddr& addr, uint16_t port) {
  RewriteEnd(pkt, info, net::Side::kDestination, addr, port);
}

void RewriteQuoted(std::span<uint8_t> pkt, PacketInfo& info, bool source, const net::IpAddr& addr, uint16_t port) {
  if (!info.quoted) return;
  QuotedInfo& q = *info.quoted;
  const net::Side side = source ? net::Side::kSource : net::Side::kDestination;
  net::IpAddr& cur = source ? q.src : q.dst;
  if (cur != addr && addr.family() == info.af &&
      net::RewriteQuotedAddress(pkt, info.parsed, side, addr) == net::ParseError::kOk) {
    cur = addr;
  }
  uint16_t& cur_port = source ? q.sport : q.dport;
  if (cur_port == port) return;
  const bool ports = q.proto == kProtoTcp || q.proto == kProtoUdp;
  const bool icmp_id = (q.proto == kProtoIcmp || q.proto == kProtoIcmp6) && source != q.icmp_reply;
  if ((ports || icmp_id) && net::RewriteQuotedPort(pkt, info.parsed, side, port) == net::ParseError::kOk) {
    cur_port = port;
  }
}

void RewriteTcpSeqAck(std::span<uint8_t> pkt, PacketInfo& info, uint32_t seq, uint32_t ack) {
  if (info.proto != kProtoTcp || info.fragment) return;
  const size_t o = info.parsed.l4_offset;
  uint16_t c = Load16(pkt, o + 16);
  c = net::ChecksumAdjust32(c, info.seq, seq);
  c = net::ChecksumAdjust32(c, info.ack, ack);
  Store16(pkt, o + 16, c);
  Store32(pkt, o + 4, seq);
  Store32(pkt, o + 8, ack);
  info.seq = seq;
  info.ack = ack;
  info.parsed.tcp_seq = seq;
  info.parsed.tcp_ack = ack;
}

}  // namespace hapf::pf::engine
