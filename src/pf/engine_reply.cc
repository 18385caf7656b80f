// Packets the engine builds: `block return`'s TCP RST or ICMP/ICMPv6
// unreachable, and synproxy's handshake segments.
#include <algorithm>

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

// A bare TCP segment (an MSS option when `mss` is set).
void BuildTcp(const net::IpAddr& src, const net::IpAddr& dst, uint16_t sport, uint16_t dport, uint32_t seq,
              uint32_t ack, uint8_t flags, uint16_t win, uint16_t mss, std::vector<uint8_t>& out) {
  const size_t len = mss ? 24 : 20;
  const size_t o = PutIpHeader(out, src, dst, kProtoTcp, len);
  Store16(out, o, sport);
  Store16(out, o + 2, dport);
  Store32(out, o + 4, seq);
  Store32(out, o + 8, ack);
  out[o + 12] = static_cast<uint8_t>((len / 4) << 4);
  out[o + 13] = flags;
  Store16(out, o + 14, win);
  if (mss) {
    out[o + 20] = 2;  // kind MSS
    out[o + 21] = 4;
    Store16(out, o + 22, mss);
  }
  uint32_t sum = net::PseudoHeaderSum(src, dst, kProtoTcp, static_cast<uint32_t>(len));
  sum = net::ChecksumPartial(std::span<const uint8_t>(out.data() + o, len), sum);
  Store16(out, o + 16, net::ChecksumFinish(sum));
}

// The MSS synproxy announces to both ends: the client's, else the IPv4/IPv6
// minimum pf falls back to.
uint16_t ProxyMss(const PacketInfo& p) {
  if (p.mss) return p.mss;
  return p.af == net::Family::kV4 ? 536 : 1220;
}

}  // namespace

// pf's pf_create_state for `synproxy state`: the state starts in PROXY_SRC
// and the client gets a SYN-ACK with a random sequence number (kept in
// src.seqhi until the handshake is done), as if from the server.
void Engine::SynproxyStart(State& s, const PacketInfo& p, Verdict& v) {
  s.src.state = kTcpProxySrc;
  s.src.seqhi = NextRandom();
  s.src.mss = ProxyMss(p);
  BuildTcp(p.dst, p.src, p.dport, p.sport, s.src.seqhi, p.seq + 1, kSyn | kAck, 0, s.src.mss, v.reply);
  v.action = Action::kBlock;
  v.reason = kResSynproxy;
  counters_.reasons[kResSynproxy]++;
}

// pf's pf_synproxy. Client-facing packets are built from the packet in hand
// or the key the client's packets are seen with (its sender side), server-
// facing ones from the other key, so translation (nat-to, rdr-to) holds.
void Engine::Synproxy(State& s, const PacketInfo& p, Direction dir, Verdict& v) {
  v.action = Action::kBlock;
  v.reason = kResSynproxy;
  counters_.reasons[kResSynproxy]++;
  const bool from_src = static_cast<uint8_t>(dir) == s.direction;
  // The client's side of the state is the key its packets were created with
  // (wire for an inbound state, stack for an outbound one); the server's, the other.
  const Direction sdir = static_cast<Direction>(s.direction);
  const StateKey& ck = s.key[sdir == Direction::kIn ? kWire : kStack];
  const StateKey& sk = s.key[sdir == Direction::kIn ? kStack : kWire];
  const int ci = sdir == Direction::kOut ? 1 : 0;  // index of the client in both keys
  if (s.src.state == kTcpProxySrc) {
    if (!from_src) return;  // nothing from the server side before its SYN
    if (p.flags & kSyn) {
      if (p.seq != s.src.seqlo) return;
      // The client did not get our SYN-ACK: again.
      BuildTcp(ck.Addr(1 - ci), ck.Addr(ci), ck.port[1 - ci], ck.port[ci], s.src.seqhi, p.seq + 1, kSyn | kAck, 0,
               s.src.mss, v.reply);
      return;
    }
    if ((p.flags & (kAck | kRst | kFin)) != kAck || p.ack != s.src.seqhi + 1 || p.seq != s.src.seqlo + 1) return;
    s.src.state = kTcpProxyDst;
  }
  if (s.src.state != kTcpProxyDst) return;
  if (from_src) {
    // The client's ACK (or its retransmission): open the server's side.
    if ((p.flags & (kSyn | kAck)) != kAck || p.ack != s.src.seqhi + 1 || p.seq != s.src.seqlo + 1) return;
    s.src.max_win = std::max<uint16_t>(p.win, 1);
    s.dst.seqhi = NextRandom();
    BuildTcp(sk.Addr(ci), sk.Addr(1 - ci), sk.port[ci], sk.port[1 - ci], s.dst.seqhi, 0, kSyn, 0, s.src.mss,
             v.forward);
    return;
  }
  if ((p.flags & (kSyn | kAck)) != (kSyn | kAck) || p.ack != s.dst.seqhi + 1) return;
  // The server's SYN-ACK: acknowledge it, give the client its ACK, and from
  // now on translate sequence numbers between the two handshakes.
  s.dst.max_win = std::max<uint16_t>(p.win, 1);
  s.dst.seqlo = p.seq;
  BuildTcp(sk.Addr(ci), sk.Addr(1 - ci), sk.port[ci], sk.port[1 - ci], p.ack, p.seq + 1, kAck, s.src.max_win, 0,
           v.forward);
  BuildTcp(ck.Addr(1 - ci), ck.Addr(ci), ck.port[1 - ci], ck.port[ci], s.src.seqhi + 1, s.src.seqlo + 1, kAck,
           s.dst.max_win, 0, v.reply);
  s.src.seqdiff = s.dst.seqhi - s.src.seqlo;
  s.dst.seqdiff = s.src.seqhi - s.dst.seqlo;
  s.src.seqhi = s.src.seqlo + s.dst.max_win;
  s.dst.seqhi = s.dst.seqlo + s.src.max_win;
  s.src.wscale = s.dst.wscale = 0;
  s.src.state = s.dst.state = kTcpEstablished;
  s.timeout = kTmTcpEstablished;
}

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
