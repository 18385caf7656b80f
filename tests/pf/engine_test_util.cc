#include "engine_test_util.h"

namespace hapf::pf::engine::testing {

namespace {

void Put16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
void Put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  Put16(b, off, static_cast<uint16_t>(v >> 16));
  Put16(b, off + 2, static_cast<uint16_t>(v));
}

size_t ChecksumOffset(uint8_t proto, bool v6) {
  switch (proto) {
    case kProtoTcp: return 16;
    case kProtoUdp: return 6;
    case kProtoIcmp: return v6 ? SIZE_MAX : 2;
    case kProtoIcmp6: return 2;
    default: return SIZE_MAX;
  }
}

}  // namespace

std::vector<uint8_t> BuildIp(const net::IpAddr& src, const net::IpAddr& dst, uint8_t proto, std::vector<uint8_t> l4,
                             uint8_t ttl) {
  const bool v6 = src.is_v6();
  const size_t co = ChecksumOffset(proto, v6);
  if (co != SIZE_MAX) {
    l4[co] = l4[co + 1] = 0;
    uint32_t sum = 0;
    if (proto != kProtoIcmp) sum = net::PseudoHeaderSum(src, dst, proto, static_cast<uint32_t>(l4.size()));
    sum = net::ChecksumPartial(l4, sum);
    uint16_t c = net::ChecksumFinish(sum);
    if (proto == kProtoUdp && c == 0) c = 0xffff;
    Put16(l4, co, c);
  }
  std::vector<uint8_t> p;
  if (!v6) {
    p.assign(20, 0);
    p[0] = 0x45;
    Put16(p, 2, static_cast<uint16_t>(20 + l4.size()));
    Put16(p, 4, 0x1234);
    p[8] = ttl;
    p[9] = proto;
    for (int i = 0; i < 4; ++i) {
      p[12 + i] = src.data()[i];
      p[16 + i] = dst.data()[i];
    }
    Put16(p, 10, net::Checksum(p));
  } else {
    p.assign(40, 0);
    p[0] = 0x60;
    Put16(p, 4, static_cast<uint16_t>(l4.size()));
    p[6] = proto;
    p[7] = ttl;
    for (int i = 0; i < 16; ++i) {
      p[8 + i] = src.data()[i];
      p[24 + i] = dst.data()[i];
    }
  }
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

std::vector<uint8_t> Tcp(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags,
                         uint32_t seq, uint32_t ack, uint16_t win, size_t payload, TcpOpts o) {
  std::vector<uint8_t> opts;
  if (o.mss) opts.insert(opts.end(), {2, 4, uint8_t(o.mss >> 8), uint8_t(o.mss)});
  if (o.wscale >= 0) opts.insert(opts.end(), {1, 3, 3, uint8_t(o.wscale)});
  while (opts.size() % 4) opts.push_back(0);
  std::vector<uint8_t> l4(20 + opts.size() + payload, 0);
  Put16(l4, 0, sport);
  Put16(l4, 2, dport);
  Put32(l4, 4, seq);
  Put32(l4, 8, ack);
  l4[12] = static_cast<uint8_t>(((20 + opts.size()) / 4) << 4);
  l4[13] = flags;
  Put16(l4, 14, win);
  std::copy(opts.begin(), opts.end(), l4.begin() + 20);
  for (size_t i = 0; i < payload; ++i) l4[20 + opts.size() + i] = static_cast<uint8_t>('a' + i % 26);
  return BuildIp(A(src), A(dst), kProtoTcp, l4);
}

std::vector<uint8_t> Udp(const char* src, const char* dst, uint16_t sport, uint16_t dport, size_t payload) {
  std::vector<uint8_t> l4(8 + payload, 0x5a);
  Put16(l4, 0, sport);
  Put16(l4, 2, dport);
  Put16(l4, 4, static_cast<uint16_t>(8 + payload));
  return BuildIp(A(src), A(dst), kProtoUdp, l4);
}

std::vector<uint8_t> IcmpEcho(const char* src, const char* dst, uint16_t id, bool reply, uint16_t seq) {
  const bool v6 = A(src).is_v6();
  std::vector<uint8_t> l4(16, 0x11);
  l4[0] = v6 ? (reply ? 129 : 128) : (reply ? 0 : 8);
  l4[1] = 0;
  Put16(l4, 4, id);
  Put16(l4, 6, seq);
  return BuildIp(A(src), A(dst), v6 ? kProtoIcmp6 : kProtoIcmp, l4);
}

std::vector<uint8_t> IcmpError(const char* src, const char* dst, uint8_t type, uint8_t code,
                               const std::vector<uint8_t>& quoted, size_t quote_len) {
  const bool v6 = A(src).is_v6();
  std::vector<uint8_t> l4(8, 0);
  l4[0] = type;
  l4[1] = code;
  const size_t n = std::min(quote_len, quoted.size());
  l4.insert(l4.end(), quoted.begin(), quoted.begin() + n);
  return BuildIp(A(src), A(dst), v6 ? kProtoIcmp6 : kProtoIcmp, l4);
}

std::vector<uint8_t> RawProto(const char* src, const char* dst, uint8_t proto, size_t len) {
  return BuildIp(A(src), A(dst), proto, std::vector<uint8_t>(len, 0x42));
}

std::string ChecksumError(const std::vector<uint8_t>& pkt) {
  net::ParsedPacket n;
  if (net::ParsePacket(pkt, net::LinkType::kRawIp, n) != net::ParseError::kOk) return "unparseable";
  if (net::VerifyChecksums(pkt, n) != net::ParseError::kOk) return "ipv4 header or transport";
  if (n.icmp_error && n.inner.family == net::Family::kV4) {
    const size_t qo = n.inner.l3_offset;
    const size_t ihl = (pkt[qo] & 0x0f) * 4u;
    if (net::ChecksumFinish(net::ChecksumPartial(std::span<const uint8_t>(pkt.data() + qo, ihl))) != 0)
      return "quoted ipv4 header";
  }
  return "";
}

PacketInfo Info(const std::vector<uint8_t>& pkt) { return *ParsePacket(pkt); }

}  // namespace hapf::pf::engine::testing
