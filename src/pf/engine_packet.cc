#include "pf/engine_packet.h"

#include "net/checksum.h"

namespace hapf::pf::engine {

uint16_t Load16(std::span<const uint8_t> b, size_t off) {
  return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}
uint32_t Load32(std::span<const uint8_t> b, size_t off) {
  return uint32_t{b[off]} << 24 | uint32_t{b[off + 1]} << 16 | uint32_t{b[off + 2]} << 8 | b[off + 3];
}
void Store16(std::span<uint8_t> b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
void Store32(std::span<uint8_t> b, size_t off, uint32_t v) {
  Store16(b, off, static_cast<uint16_t>(v >> 16));
  Store16(b, off + 2, static_cast<uint16_t>(v));
}

IcmpMapping MapIcmp(net::Family af, uint8_t type) {
  if (af == net::Family::kV4) {
    switch (type) {
      case 8: return {true, false, 8};
      case 0: return {true, true, 8};
      case 13: return {true, false, 13};
      case 14: return {true, true, 13};
      case 15: return {true, false, 15};
      case 16: return {true, true, 15};
      case 17: return {true, false, 17};
      case 18: return {true, true, 17};
      default: return {false, false, type};
    }
  }
  switch (type) {
    case 128: return {true, false, 128};
    case 129: return {true, true, 128};
    case 139: return {true, false, 139};
    case 140: return {true, true, 139};
    default: return {false, false, type};
  }
}

bool IsIcmpError(net::Family af, uint8_t type) {
  if (af == net::Family::kV4) return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
  return type >= 1 && type <= 4;
}

namespace {

struct L3 {
  net::Family af = net::Family::kNone;
  net::IpAddr src, dst;
  uint8_t proto = 0;
  uint16_t l4_off = 0;
  uint16_t end = 0;  // end of the IP datagram within the buffer
  uint8_t ttl = 0, tos = 0;
  bool fragment = false;  // not the first fragment
};

// Parses an IP header at `off`. `quoted` relaxes the length checks: a quoted
// header's total length describes the original datagram, not the quote.
std::optional<L3> ParseL3(std::span<const uint8_t> b, size_t off, bool quoted) {
  if (b.size() < off + 1) return std::nullopt;
  L3 l3;
  const int version = b[off] >> 4;
  if (version == 4) {
    if (b.size() < off + 20) return std::nullopt;
    const size_t ihl = (b[off] & 0x0f) * 4u;
    const size_t total = Load16(b, off + 2);
    if (ihl < 20 || b.size() < off + ihl) return std::nullopt;
    if (!quoted && (total < ihl || total > b.size() - off)) return std::nullopt;
    l3.af = net::Family::kV4;
    l3.tos = b[off + 1];
    l3.ttl = b[off + 8];
    l3.proto = b[off + 9];
    l3.src = net::IpAddr::V4Bytes(&b[off + 12]);
    l3.dst = net::IpAddr::V4Bytes(&b[off + 16]);
    l3.fragment = (Load16(b, off + 6) & 0x1fff) != 0;
    l3.l4_off = static_cast<uint16_t>(off + ihl);
    l3.end = static_cast<uint16_t>(quoted ? b.size() : off + total);
    return l3;
  }
  if (version == 6) {
    if (b.size() < off + 40) return std::nullopt;
    const size_t payload = Load16(b, off + 4);
    if (!quoted && payload > b.size() - off - 40) return std::nullopt;
    l3.af = net::Family::kV6;
    l3.tos = static_cast<uint8_t>((Load16(b, off) >> 4) & 0xff);
    l3.ttl = b[off + 7];
    l3.src = net::IpAddr::V6Bytes(&b[off + 8]);
    l3.dst = net::IpAddr::V6Bytes(&b[off + 24]);
    l3.end = static_cast<uint16_t>(quoted ? b.size() : off + 40 + payload);
    uint8_t next = b[off + 6];
    size_t pos = off + 40;
    // Walk extension headers (bounded: each step advances at least 8 bytes).
    for (int hops = 0; hops < 16; ++hops) {
      if (next == 0 || next == 43 || next == 60) {
        if (pos + 8 > l3.end) return std::nullopt;
        const uint8_t nh = b[pos];
        pos += (b[pos + 1] + 1u) * 8u;
        next = nh;
      } else if (next == 44) {
        if (pos + 8 > l3.end) return std::nullopt;
        if ((Load16(b, pos + 2) & 0xfff8) != 0) l3.fragment = true;
        next = b[pos];
        pos += 8;
      } else {
        break;
      }
    }
    if (pos > l3.end) return std::nullopt;
    l3.proto = next;
    l3.l4_off = static_cast<uint16_t>(pos);
    return l3;
  }
  return std::nullopt;
}

void ParseTcpOptions(std::span<const uint8_t> b, size_t start, size_t end, PacketInfo& info) {
  size_t i = start;
  while (i < end) {
    const uint8_t kind = b[i];
    if (kind == 0) break;
    if (kind == 1) { ++i; continue; }
    if (i + 1 >= end) break;
    const uint8_t len = b[i + 1];
    if (len < 2 || i + len > end) break;
    if (kind == 2 && len == 4) info.mss = Load16(b, i + 2);
    if (kind == 3 && len == 3) info.wscale = static_cast<int8_t>(b[i + 2] > 14 ? 14 : b[i + 2]);
    i += len;
  }
}

}  // namespace

std::optional<PacketInfo> ParsePacket(std::span<const uint8_t> b) {
  auto l3 = ParseL3(b, 0, false);
  if (!l3) return std::nullopt;
  PacketInfo info;
  info.af = l3->af;
  info.proto = l3->proto;
  info.src = l3->src;
  info.dst = l3->dst;
  info.ttl = l3->ttl;
  info.tos = l3->tos;
  info.fragment = l3->fragment;
  info.l3_len = l3->end;
  info.l4_off = l3->l4_off;
  info.l4_len = static_cast<uint16_t>(l3->end - l3->l4_off);
  if (info.fragment) return info;
  const auto l4 = b.subspan(0, l3->end);
  const size_t o = info.l4_off;
  switch (info.proto) {
    case kProtoTcp: {
      if (info.l4_len < 20) return std::nullopt;
      info.sport = Load16(l4, o);
      info.dport = Load16(l4, o + 2);
      info.seq = Load32(l4, o + 4);
      info.ack = Load32(l4, o + 8);
      info.tcp_hlen = static_cast<uint8_t>((l4[o + 12] >> 4) * 4);
      info.flags = l4[o + 13];
      info.win = Load16(l4, o + 14);
      if (info.tcp_hlen < 20 || info.tcp_hlen > info.l4_len) return std::nullopt;
      ParseTcpOptions(l4, o + 20, o + info.tcp_hlen, info);
      info.payload_len = static_cast<uint16_t>(info.l4_len - info.tcp_hlen);
      return info;
    }
    case kProtoUdp:
      if (info.l4_len < 8) return std::nullopt;
      info.sport = Load16(l4, o);
      info.dport = Load16(l4, o + 2);
      info.payload_len = static_cast<uint16_t>(info.l4_len - 8);
      return info;
    case kProtoIcmp:
    case kProtoIcmp6: {
      if ((info.proto == kProtoIcmp) != (info.af == net::Family::kV4)) return info;  // treated as "other"
      if (info.l4_len < 8) return std::nullopt;
      info.icmp_type = l4[o];
      info.icmp_code = l4[o + 1];
      const IcmpMapping m = MapIcmp(info.af, info.icmp_type);
      if (m.query) {
        info.icmp_query = true;
        info.icmp_reply = m.reply;
        info.icmp_id = Load16(l4, o + 4);
        info.sport = m.reply ? m.virtual_type : info.icmp_id;
        info.dport = m.reply ? info.icmp_id : m.virtual_type;
      } else if (IsIcmpError(info.af, info.icmp_type)) {
        info.icmp_error = true;
        auto inner = ParseL3(l4, o + 8, true);
        if (!inner || inner->af != info.af) return info;  // an error we cannot relate: plain ICMP
        QuotedPacket q;
        q.src = inner->src;
        q.dst = inner->dst;
        q.proto = inner->proto;
        q.l3_off = static_cast<uint16_t>(o + 8);
        q.l4_off = inner->l4_off;
        q.l4_avail = static_cast<uint16_t>(l4.size() - inner->l4_off);
        const size_t p = inner->l4_off;
        if (q.proto == kProtoTcp || q.proto == kProtoUdp) {
          if (q.l4_avail < 8) return info;
          q.sport = Load16(l4, p);
          q.dport = Load16(l4, p + 2);
          if (q.proto == kProtoTcp) q.tcp_seq = Load32(l4, p + 4);
        } else if (q.proto == kProtoIcmp || q.proto == kProtoIcmp6) {
          if (q.l4_avail < 8) return info;
          q.icmp_type = l4[p];
          const IcmpMapping qm = MapIcmp(info.af, q.icmp_type);
          if (!qm.query) return info;
          q.icmp_reply = qm.reply;
          const uint16_t id = Load16(l4, p + 4);
          q.sport = qm.reply ? qm.virtual_type : id;
          q.dport = qm.reply ? id : qm.virtual_type;
        }
        info.quoted = q;
      }
      return info;
    }
    default:
      return info;
  }
}

namespace {

size_t AddrOffset(const PacketInfo& info, bool source, size_t l3_off = 0) {
  if (info.af == net::Family::kV4) return l3_off + (source ? 12 : 16);
  return l3_off + (source ? 8 : 24);
}

void WriteAddr(std::span<uint8_t> pkt, size_t off, const net::IpAddr& a) {
  for (int i = 0; i < a.size(); ++i) pkt[off + i] = a.data()[i];
}

// Offset of the transport checksum that covers the pseudo-header, or 0.
size_t PseudoChecksumOffset(const PacketInfo& info) {
  if (info.fragment) return 0;
  if (info.proto == kProtoTcp) return info.l4_off + 16u;
  if (info.proto == kProtoUdp) return info.l4_off + 6u;
  if (info.proto == kProtoIcmp6 && info.af == net::Family::kV6) return info.l4_off + 2u;
  return 0;
}

void AdjustField16(std::span<uint8_t> pkt, size_t csum_off, uint16_t old_v, uint16_t new_v, bool udp) {
  uint16_t c = Load16(pkt, csum_off);
  if (udp && c == 0) return;  // IPv4 UDP without checksum
  c = net::ChecksumAdjust16(c, old_v, new_v);
  if (udp && c == 0) c = 0xffff;
  Store16(pkt, csum_off, c);
}

void RewriteEnd(std::span<uint8_t> pkt, PacketInfo& info, bool source, const net::IpAddr& addr, uint16_t port) {
  net::IpAddr& cur = source ? info.src : info.dst;
  const bool udp = info.proto == kProtoUdp;
  if (cur != addr && addr.family() == info.af) {
    if (info.af == net::Family::kV4) {
      uint16_t c = Load16(pkt, 10);
      Store16(pkt, 10, net::ChecksumAdjustAddr(c, cur, addr));
    }
    if (size_t co = PseudoChecksumOffset(info)) {
      uint16_t c = Load16(pkt, co);
      if (!(udp && c == 0)) {
        c = net::ChecksumAdjustAddr(c, cur, addr);
        if (udp && c == 0) c = 0xffff;
        Store16(pkt, co, c);
      }
    }
    WriteAddr(pkt, AddrOffset(info, source), addr);
    cur = addr;
  }
  if (info.fragment) return;
  uint16_t& cur_port = source ? info.sport : info.dport;
  if (cur_port == port) return;
  if (info.proto == kProtoTcp || info.proto == kProtoUdp) {
    AdjustField16(pkt, PseudoChecksumOffset(info), cur_port, port, udp);
    Store16(pkt, info.l4_off + (source ? 0 : 2), port);
    cur_port = port;
  } else if (info.icmp_query && source != info.icmp_reply) {
    // Only the requester's side carries the id; the other "port" is the type.
    AdjustField16(pkt, info.l4_off + 2, info.icmp_id, port, false);
    Store16(pkt, info.l4_off + 4, port);
    info.icmp_id = cur_port = port;
  }
}

}  // namespace

void RewriteSource(std::span<uint8_t> pkt, PacketInfo& info, const net::IpAddr& addr, uint16_t port) {
  RewriteEnd(pkt, info, true, addr, port);
}

void RewriteDestination(std::span<uint8_t> pkt, PacketInfo& info, const net::IpAddr& addr, uint16_t port) {
  RewriteEnd(pkt, info, false, addr, port);
}

void RewriteQuoted(std::span<uint8_t> pkt, PacketInfo& info, bool source, const net::IpAddr& addr, uint16_t port) {
  if (!info.quoted) return;
  QuotedPacket& q = *info.quoted;
  const auto msg = pkt.subspan(0, info.l3_len);
  net::IpAddr& cur = source ? q.src : q.dst;
  const size_t p = q.l4_off;
  const bool has_l4 = q.l4_avail >= 8;
  if (cur != addr && addr.family() == info.af) {
    if (info.af == net::Family::kV4) {
      uint16_t c = Load16(msg, q.l3_off + 10);
      Store16(msg, q.l3_off + 10, net::ChecksumAdjustAddr(c, cur, addr));
    }
    // The quoted transport checksum, when quoted, covers the pseudo-header too.
    if (q.proto == kProtoUdp && has_l4) {
      uint16_t c = Load16(msg, p + 6);
      if (c != 0) Store16(msg, p + 6, net::ChecksumAdjustAddr(c, cur, addr));
    } else if (q.proto == kProtoTcp && q.l4_avail >= 18) {
      Store16(msg, p + 16, net::ChecksumAdjustAddr(Load16(msg, p + 16), cur, addr));
    }
    WriteAddr(msg, AddrOffset(info, source, q.l3_off), addr);
    cur = addr;
  }
  uint16_t& cur_port = source ? q.sport : q.dport;
  if (has_l4 && cur_port != port) {
    if (q.proto == kProtoTcp || q.proto == kProtoUdp) {
      if (q.proto == kProtoUdp) {
        if (uint16_t c = Load16(msg, p + 6); c != 0) Store16(msg, p + 6, net::ChecksumAdjust16(c, cur_port, port));
      } else if (q.l4_avail >= 18) {
        Store16(msg, p + 16, net::ChecksumAdjust16(Load16(msg, p + 16), cur_port, port));
      }
      Store16(msg, p + (source ? 0 : 2), port);
      cur_port = port;
    } else if ((q.proto == kProtoIcmp || q.proto == kProtoIcmp6) && source != q.icmp_reply) {
      Store16(msg, p + 2, net::ChecksumAdjust16(Load16(msg, p + 2), cur_port, port));
      Store16(msg, p + 4, port);
      cur_port = port;
    }
  }
  // The outer ICMP checksum covers everything quoted: recompute it (errors are rare).
  const size_t o = info.l4_off;
  Store16(msg, o + 2, 0);
  uint32_t sum = 0;
  if (info.af == net::Family::kV6) sum = net::PseudoHeaderSum(info.src, info.dst, kProtoIcmp6, info.l4_len);
  sum = net::ChecksumPartial(msg.subspan(o, info.l4_len), sum);
  Store16(msg, o + 2, net::ChecksumFinish(sum));
}

void RewriteTcpSeqAck(std::span<uint8_t> pkt, PacketInfo& info, uint32_t seq, uint32_t ack) {
  if (info.proto != kProtoTcp || info.fragment) return;
  const size_t co = info.l4_off + 16u;
  uint16_t c = Load16(pkt, co);
  c = net::ChecksumAdjust32(c, info.seq, seq);
  c = net::ChecksumAdjust32(c, info.ack, ack);
  Store16(pkt, co, c);
  Store32(pkt, info.l4_off + 4u, seq);
  Store32(pkt, info.l4_off + 8u, ack);
  info.seq = seq;
  info.ack = ack;
}

}  // namespace hapf::pf::engine
