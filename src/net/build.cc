#include "net/build.h"

#include <algorithm>

#include "net/checksum.h"

namespace hapf::net {
namespace {

size_t EthernetLen(const EthernetHeader* eth) {
  if (!eth) return 0;
  return eth->has_vlan ? EthernetView::kVlanHeaderLen : EthernetView::kHeaderLen;
}

void WriteEthernet(uint8_t* h, const EthernetHeader& eth, uint16_t type) {
  std::copy(eth.dst.begin(), eth.dst.end(), h);
  std::copy(eth.src.begin(), eth.src.end(), h + 6);
  if (eth.has_vlan) {
    Store16(h + 12, ethertype::kVlan);
    Store16(h + 14, eth.vlan_tci);
    Store16(h + 16, type);
  } else {
    Store16(h + 12, type);
  }
}

// Writes the link and IP headers for an upper layer of `l4_len` bytes and
// returns where that layer starts, or 0 when it cannot be written.
size_t WriteHeaders(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, uint8_t proto,
                    size_t l4_len) {
  if (ip.src.empty() || ip.src.family() != ip.dst.family()) return 0;
  const bool v6 = ip.src.is_v6();
  const size_t l2 = EthernetLen(eth);
  const size_t l3 = v6 ? Ipv6View::kHeaderLen : Ipv4View::kMinHeaderLen;
  if ((v6 ? l4_len : l3 + l4_len) > 0xffff) return 0;
  if (out.size() < l2 + l3 + l4_len) return 0;
  if (eth) WriteEthernet(out.data(), *eth, v6 ? ethertype::kIpv6 : ethertype::kIpv4);
  uint8_t* h = &out[l2];
  if (v6) {
    Store32(h, uint32_t{6} << 28 | uint32_t{ip.tos} << 20 | (ip.flow_label & 0xfffff));
    Store16(h + 4, static_cast<uint16_t>(l4_len));
    h[6] = proto;
    h[7] = ip.ttl;
    std::copy(ip.src.data(), ip.src.data() + 16, h + 8);
    std::copy(ip.dst.data(), ip.dst.data() + 16, h + 24);
  } else {
    h[0] = 0x45;
    h[1] = ip.tos;
    Store16(h + 2, static_cast<uint16_t>(l3 + l4_len));
    Store16(h + 4, ip.id);
    Store16(h + 6, ip.dont_fragment ? 0x4000 : 0);
    h[8] = ip.ttl;
    h[9] = proto;
    Store16(h + 10, 0);
    std::copy(ip.src.data(), ip.src.data() + 4, h + 12);
    std::copy(ip.dst.data(), ip.dst.data() + 4, h + 16);
    Store16(h + 10, Checksum({h, l3}));
  }
  return l2 + l3;
}

// Fills the checksum field at `field` (relative to the L4 start) over `l4`.
void FinishTransport(std::span<uint8_t> l4, const IpHeader& ip, uint8_t proto, size_t field) {
  Store16(&l4[field], 0);
  uint32_t sum = proto == ipproto::kIcmp
                     ? 0
                     : PseudoHeaderSum(ip.src, ip.dst, proto, static_cast<uint32_t>(l4.size()));
  uint16_t c = ChecksumFinish(ChecksumPartial(l4, sum));
  if (proto == ipproto::kUdp && c == 0) c = 0xffff;  // RFC 768: zero means "none"
  Store16(&l4[field], c);
}

// TCP options in Linux's order, NOP-padded to whole words; returns their length.
size_t EncodeTcpOptions(const TcpOptionValues& o, uint8_t* w) {
  size_t n = 0;
  if (o.has_mss) {
    w[n++] = 2;
    w[n++] = 4;
    Store16(w + n, o.mss);
    n += 2;
  }
  if (o.sack_permitted && o.has_timestamps) {
    w[n++] = 4;
    w[n++] = 2;
  } else if (o.sack_permitted) {
    w[n++] = 1;
    w[n++] = 1;
    w[n++] = 4;
    w[n++] = 2;
  } else if (o.has_timestamps) {
    w[n++] = 1;
    w[n++] = 1;
  }
  if (o.has_timestamps) {
    w[n++] = 8;
    w[n++] = 10;
    Store32(w + n, o.ts_value);
    Store32(w + n + 4, o.ts_echo);
    n += 8;
  }
  if (o.has_window_scale) {
    w[n++] = 1;
    w[n++] = 3;
    w[n++] = 3;
    w[n++] = o.window_scale;
  }
  return n;
}

uint8_t IcmpProto(const IpHeader& ip) { return ip.src.is_v6() ? ipproto::kIcmp6 : ipproto::kIcmp; }

}  // namespace

size_t BuildIp(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, uint8_t proto,
               std::span<const uint8_t> payload) {
  size_t l4 = WriteHeaders(out, eth, ip, proto, payload.size());
  if (!l4) return 0;
  std::copy(payload.begin(), payload.end(), out.begin() + l4);
  return l4 + payload.size();
}

size_t BuildTcp(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, const TcpHeader& tcp,
                std::span<const uint8_t> payload) {
  uint8_t options[40];
  const size_t opt_len = EncodeTcpOptions(tcp.options, options);
  const size_t hlen = TcpView::kMinHeaderLen + opt_len;
  const size_t l4 = WriteHeaders(out, eth, ip, ipproto::kTcp, hlen + payload.size());
  if (!l4) return 0;
  uint8_t* h = &out[l4];
  Store16(h, tcp.src_port);
  Store16(h + 2, tcp.dst_port);
  Store32(h + 4, tcp.seq);
  Store32(h + 8, tcp.ack);
  h[12] = static_cast<uint8_t>(hlen / 4 << 4);
  h[13] = tcp.flags;
  Store16(h + 14, tcp.window);
  Store16(h + 18, tcp.urgent);
  std::copy(options, options + opt_len, h + TcpView::kMinHeaderLen);
  std::copy(payload.begin(), payload.end(), h + hlen);
  FinishTransport(out.subspan(l4, hlen + payload.size()), ip, ipproto::kTcp, 16);
  return l4 + hlen + payload.size();
}

size_t BuildUdp(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, uint16_t src_port,
                uint16_t dst_port, std::span<const uint8_t> payload) {
  const size_t len = UdpView::kHeaderLen + payload.size();
  const size_t l4 = WriteHeaders(out, eth, ip, ipproto::kUdp, len);
  if (!l4 || len > 0xffff) return 0;
  uint8_t* h = &out[l4];
  Store16(h, src_port);
  Store16(h + 2, dst_port);
  Store16(h + 4, static_cast<uint16_t>(len));
  std::copy(payload.begin(), payload.end(), h + UdpView::kHeaderLen);
  FinishTransport(out.subspan(l4, len), ip, ipproto::kUdp, 6);
  return l4 + len;
}

size_t BuildIcmp(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, uint8_t type,
                 uint8_t code, uint32_t rest, std::span<const uint8_t> payload) {
  const uint8_t proto = IcmpProto(ip);
  const size_t len = IcmpView::kHeaderLen + payload.size();
  const size_t l4 = WriteHeaders(out, eth, ip, proto, len);
  if (!l4) return 0;
  uint8_t* h = &out[l4];
  h[0] = type;
  h[1] = code;
  Store32(h + 4, rest);
  std::copy(payload.begin(), payload.end(), h + IcmpView::kHeaderLen);
  FinishTransport(out.subspan(l4, len), ip, proto, 2);
  return l4 + len;
}

size_t BuildIcmpEcho(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, bool reply,
                     uint16_t id, uint16_t seq, std::span<const uint8_t> payload) {
  uint8_t type = ip.src.is_v6() ? (reply ? icmp6type::kEchoReply : icmp6type::kEchoRequest)
                                : (reply ? icmptype::kEchoReply : icmptype::kEcho);
  return BuildIcmp(out, eth, ip, type, 0, uint32_t{id} << 16 | seq, payload);
}

size_t BuildIcmpError(std::span<uint8_t> out, const EthernetHeader* eth, const IpHeader& ip, uint8_t type,
                      uint8_t code, uint32_t rest, std::span<const uint8_t> quoted) {
  const size_t limit = ip.src.is_v6() ? 1280 - Ipv6View::kHeaderLen - IcmpView::kHeaderLen
                                      : 576 - Ipv4View::kMinHeaderLen - IcmpView::kHeaderLen;
  return BuildIcmp(out, eth, ip, type, code, rest, quoted.first(std::min(limit, quoted.size())));
}

size_t BuildArp(std::span<uint8_t> out, const EthernetHeader& eth, uint16_t op, const MacAddr& sender_mac,
                const IpAddr& sender_ip, const MacAddr& target_mac, const IpAddr& target_ip) {
  if (!sender_ip.is_v4() || !target_ip.is_v4()) return 0;
  const size_t l2 = EthernetLen(&eth);
  // Ethernet's minimum frame (60 bytes without FCS): pad with zeros.
  const size_t total = std::max<size_t>(l2 + ArpView::kLen, 60);
  if (out.size() < total) return 0;
  std::fill(out.begin(), out.begin() + total, 0);
  WriteEthernet(out.data(), eth, ethertype::kArp);
  uint8_t* h = &out[l2];
  Store16(h, 1);  // hardware: Ethernet
  Store16(h + 2, ethertype::kIpv4);
  h[4] = 6;
  h[5] = 4;
  Store16(h + 6, op);
  std::copy(sender_mac.begin(), sender_mac.end(), h + 8);
  std::copy(sender_ip.data(), sender_ip.data() + 4, h + 14);
  std::copy(target_mac.begin(), target_mac.end(), h + 18);
  std::copy(target_ip.data(), target_ip.data() + 4, h + 24);
  return total;
}

size_t BuildGratuitousArp(std::span<uint8_t> out, const MacAddr& mac, const IpAddr& ip, bool has_vlan,
                          uint16_t vlan_tci) {
  EthernetHeader eth{kBroadcastMac, mac, has_vlan, vlan_tci};
  return BuildArp(out, eth, ArpView::kRequest, mac, ip, MacAddr{}, ip);
}

size_t BuildUnsolicitedNeighborAdvert(std::span<uint8_t> out, const MacAddr& mac, const IpAddr& src,
                                      const IpAddr& target, bool router, bool has_vlan, uint16_t vlan_tci) {
  if (!src.is_v6() || !target.is_v6()) return 0;
  static constexpr uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EthernetHeader eth{{0x33, 0x33, 0, 0, 0, 1}, mac, has_vlan, vlan_tci};
  IpHeader ip{src, IpAddr::V6Bytes(kAllNodes), 255};
  // Body after the 8-byte ICMPv6 header: target address, then the target
  // link-layer address option (type 2, length 1 unit of 8 bytes).
  uint8_t body[16 + 8];
  std::copy(target.data(), target.data() + 16, body);
  body[16] = 2;
  body[17] = 1;
  std::copy(mac.begin(), mac.end(), body + 18);
  // Flags in the first byte of `rest`: R(outer) 0x80, S(olicited) 0x40, O(verride) 0x20.
  uint32_t flags = (router ? 0x80u : 0u) | 0x20u;
  return BuildIcmp(out, &eth, ip, icmp6type::kNeighborAdvert, 0, flags << 24, body);
}

size_t BuildTcpResetFor(std::span<uint8_t> out, const EthernetHeader* eth, const ParsedPacket& p, uint8_t ttl) {
  if (!p.is_tcp() || (p.tcp_flags & tcpflag::kRst)) return 0;
  IpHeader ip{p.dst, p.src, ttl};
  TcpHeader tcp;
  tcp.src_port = p.dst_port;
  tcp.dst_port = p.src_port;
  if (p.tcp_flags & tcpflag::kAck) {
    tcp.seq = p.tcp_ack;
    tcp.flags = tcpflag::kRst;
  } else {
    tcp.ack = p.tcp_seq + p.payload_length + ((p.tcp_flags & tcpflag::kSyn) ? 1 : 0) +
              ((p.tcp_flags & tcpflag::kFin) ? 1 : 0);
    tcp.flags = tcpflag::kRst | tcpflag::kAck;
  }
  return BuildTcp(out, eth, ip, tcp, {});
}

size_t BuildUnreachableFor(std::span<uint8_t> out, const EthernetHeader* eth, std::span<const uint8_t> bytes,
                           const ParsedPacket& p, uint8_t code, const IpAddr& src, uint8_t ttl) {
  if (p.family == Family::kNone || p.icmp_error || src.family() != p.family) return 0;
  if (p.l3_offset + p.l3_length > bytes.size()) return 0;
  IpHeader ip{src, p.src, ttl};
  const uint8_t type = p.family == Family::kV6 ? icmp6type::kUnreach : icmptype::kUnreach;
  return BuildIcmpError(out, eth, ip, type, code, 0, bytes.subspan(p.l3_offset, p.l3_length));
}

}  // namespace hapf::net
