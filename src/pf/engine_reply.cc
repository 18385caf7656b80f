// `block return`: the TCP RST or ICMP/ICMPv6 unreachable pf sends back.
#include "net/checksum.h"
#include "pf/engine.h"

namespace hapf::pf::engine {

namespace {

constexpr uint8_t kReplyTtl = 64;
constexpr size_t kIcmp4MaxQuote = 548;   // keep the error within 576 bytes
constexpr size_t kIcmp6MaxQuote = 1232;  // keep the error within 1280 bytes

void PutAddr(std::vector<uint8_t>& b, size_t off, const net::IpAddr& a) {
  for (int i = 0; i < a.size(); ++i) b[off + i] = a.data()[i];
}

// An IP header for `payload_len` bytes of `proto` from src to dst; returns its length.
size_t PutIpHeader(std::vector<uint8_t>& b, const net::IpAddr& src, const net::IpAddr& dst, uint8_t proto,
                   size_t payload_len) {
  if (src.is_v4()) {
    b.assign(20 + payload_len, 0);
    b[0] = 0x45;
    Store16(b, 2, static_cast<uint16_t>(20 + payload_len));
    b[8] = kReplyTtl;
    b[9] = proto;
    PutAddr(b, 12, src);
    PutAddr(b, 16, dst);
    Store16(b, 10, net::Checksum(std::span<const uint8_t>(b.data(), 20)));
    return 20;
  }
  b.assign(40 + payload_len, 0);
  b[0] = 0x60;
  Store16(b, 4, static_cast<uint16_t>(payload_len));
  b[6] = proto;
  b[7] = kReplyTtl;
  PutAddr(b, 8, src);
  PutAddr(b, 24, dst);
  return 40;
}

void BuildRst(const PacketInfo& p, std::vector<uint8_t>& out) {
  const size_t o = PutIpHeader(out, p.dst, p.src, kProtoTcp, 20);
  Store16(out, o, p.dport);
  Store16(out, o + 2, p.sport);
  uint32_t ack = p.seq + p.payload_len;
  if (p.flags & kSyn) ++ack;
  if (p.flags & kFin) ++ack;
  Store32(out, o + 4, (p.flags & kAck) ? p.ack : 0);
  Store32(out, o + 8, ack);
  out[o + 12] = 5 << 4;
  out[o + 13] = kRst | kAck;
  uint32_t sum = net::PseudoHeaderSum(p.dst, p.src, kProtoTcp, 20);
  sum = net::ChecksumPartial(std::span<const uint8_t>(out.data() + o, 20), sum);
  Store16(out, o + 16, net::ChecksumFinish(sum));
}

void BuildUnreachable(const Rule& r, const PacketInfo& p, std::span<const uint8_t> pkt, std::vector<uint8_t>& out) {
  const bool v4 = p.af == net::Family::kV4;
  const size_t quote = std::min<size_t>(p.l3_len, v4 ? kIcmp4MaxQuote : kIcmp6MaxQuote);
  const uint8_t proto = v4 ? kProtoIcmp : kProtoIcmp6;
  const size_t o = PutIpHeader(out, p.dst, p.src, proto, 8 + quote);
  out[o] = v4 ? 3 : 1;  // destination unreachable
  out[o + 1] = v4 ? r.return_icmp_code : r.return_icmp6_code;
  std::copy(pkt.begin(), pkt.begin() + quote, out.begin() + o + 8);
  uint32_t sum = v4 ? 0 : net::PseudoHeaderSum(p.dst, p.src, kProtoIcmp6, static_cast<uint32_t>(8 + quote));
  sum = net::ChecksumPartial(std::span<const uint8_t>(out.data() + o, 8 + quote), sum);
  Store16(out, o + 2, net::ChecksumFinish(sum));
}

}  // namespace

void Engine::BuildReply(const Rule& r, const PacketInfo& p, std::span<const uint8_t> pkt, Verdict& v) {
  BlockPolicy policy = r.block_policy == BlockPolicy::kDefault ? opts_.block_policy : r.block_policy;
  if (policy == BlockPolicy::kDrop || policy == BlockPolicy::kDefault || p.fragment) return;
  if (p.icmp_error || p.dst.is_multicast()) return;  // never answer errors or multicast
  const bool tcp = p.proto == kProtoTcp;
  if (tcp && (p.flags & kRst)) return;
  if ((policy == BlockPolicy::kReturn || policy == BlockPolicy::kReturnRst) && tcp) {
    BuildRst(p, v.reply);
  } else if (policy == BlockPolicy::kReturn || policy == BlockPolicy::kReturnIcmp) {
    BuildUnreachable(r, p, pkt, v.reply);
  }
}

}  // namespace hapf::pf::engine
