#include "pf/tcp_track.h"

#include <algorithm>

#include "pf/state_timeouts.h"

namespace hapf::pf::engine {

namespace {

constexpr int32_t kMaxAckWindow = 0xffff + 1500;  // pf's fudge for ack skew
constexpr uint32_t kTcpMaxWin = 0xffff;

bool SeqGt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }
bool SeqGeq(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) >= 0; }

uint8_t SynWscale(const PacketInfo& pkt) {
  if (!(pkt.flags & kSyn) || pkt.wscale < 0) return 0;
  return static_cast<uint8_t>(pkt.wscale) | kWscaleFlag;
}

void UpdateTimeout(State& s) {
  const Peer& a = s.src;
  const Peer& b = s.dst;
  if (a.state >= kTcpFinWait2 && b.state >= kTcpFinWait2) {
    s.timeout = kTmTcpClosed;
  } else if (a.state >= kTcpClosing && b.state >= kTcpClosing) {
    s.timeout = kTmTcpFinWait;
  } else if (a.state < kTcpEstablished || b.state < kTcpEstablished) {
    s.timeout = kTmTcpOpening;
  } else if (a.state >= kTcpClosing || b.state >= kTcpClosing) {
    s.timeout = kTmTcpClosing;
  } else {
    s.timeout = kTmTcpEstablished;
  }
}

}  // namespace

void TcpInitState(State& s, const PacketInfo& pkt) {
  s.src = Peer{};
  s.dst = Peer{};
  s.src.seqlo = pkt.seq;
  s.src.seqhi = pkt.seq + pkt.payload_len + 1;
  if (pkt.flags & kSyn) {
    ++s.src.seqhi;
    s.src.wscale = SynWscale(pkt);
  }
  s.src.max_win = std::max<uint16_t>(pkt.win, 1);
  if (s.src.wscale & kWscaleMask) {
    // The window of a SYN is never scaled: store it in scaled units.
    const uint32_t shift = s.src.wscale & kWscaleMask;
    const uint32_t win = s.src.max_win + (1u << shift);
    s.src.max_win = static_cast<uint16_t>((win - 1) >> shift);
  }
  if (pkt.flags & kFin) ++s.src.seqhi;
  s.src.mss = pkt.mss;
  s.dst.seqhi = 1;
  s.dst.max_win = 1;
  s.src.state = kTcpSynSent;
  s.dst.state = kTcpClosed;
  s.timeout = kTmTcpFirst;
}

bool TcpIsReuse(const State& s, const PacketInfo& pkt) {
  return s.src.state >= kTcpFinWait2 && s.dst.state >= kTcpFinWait2 &&
         (pkt.flags & (kSyn | kAck | kRst)) == kSyn;
}

TcpVerdict TcpTrack(State& s, const PacketInfo& pkt, bool from_src, uint32_t random_iss) {
  Peer& src = from_src ? s.src : s.dst;
  Peer& dst = from_src ? s.dst : s.src;
  const uint8_t flags = pkt.flags;
  uint32_t win = pkt.win;
  uint32_t seq = pkt.seq;
  uint32_t ack;
  uint32_t end;
  uint8_t sws = 0, dws = 0;

  if (src.wscale && dst.wscale && !(flags & kSyn)) {
    sws = src.wscale & kWscaleMask;
    dws = dst.wscale & kWscaleMask;
  }

  if (src.seqlo == 0) {
    // First packet from this end (normally the SYN|ACK): set up its window.
    end = seq + pkt.payload_len;
    if (flags & kSyn) {
      ++end;
      if (dst.wscale & kWscaleFlag) {
        src.wscale = SynWscale(pkt);
        if (src.wscale & kWscaleFlag) {
          sws = src.wscale & kWscaleMask;
          win = (win + (1u << sws) - 1) >> sws;
          dws = dst.wscale & kWscaleMask;
        } else {
          // The other end asked for scaling but this one declined: unscale.
          dst.max_win = static_cast<uint16_t>(
              std::min<uint32_t>(kTcpMaxWin, uint32_t{dst.max_win} << (dst.wscale & kWscaleMask)));
          dst.wscale = 0;
        }
      }
      if (pkt.mss) src.mss = pkt.mss;
    }
    if (flags & kFin) ++end;
    src.seqlo = seq;
    if (src.state < kTcpSynSent) src.state = kTcpSynSent;
    const uint32_t span = std::max<uint32_t>(1, uint32_t{dst.max_win} << dws);
    if (src.seqhi == 1 || SeqGeq(end + span, src.seqhi)) src.seqhi = end + span;
    if (win > src.max_win) src.max_win = static_cast<uint16_t>(std::min<uint32_t>(win, kTcpMaxWin));
    // modulate state: the responder gets its own random offset on its first packet.
    if (dst.seqdiff && !src.seqdiff) src.seqdiff = (random_iss - seq) ? random_iss - seq : 1;
    ack = pkt.ack - dst.seqdiff;
  } else {
    ack = pkt.ack - dst.seqdiff;
    end = seq + pkt.payload_len;
    if (flags & kSyn) ++end;
    if (flags & kFin) ++end;
  }
  const uint32_t orig_seq = seq;

  if (!(flags & kAck)) {
    ack = dst.seqlo;  // no ACK: nothing to check
  } else if ((ack == 0 && (flags & (kAck | kRst)) == (kAck | kRst)) || dst.state < kTcpSynSent) {
    ack = dst.seqlo;  // stacks that send RST|ACK with ack 0
  }
  if (seq == end) {
    // Segments without data: only their ack matters.
    seq = src.seqlo;
    end = seq;
  }
  const int32_t ackskew = static_cast<int32_t>(dst.seqlo - ack);

  const bool in_window =
      SeqGeq(src.seqhi, end) &&                                        // last byte inside their window
      SeqGeq(seq, src.seqlo - (uint32_t{dst.max_win} << dws)) &&       // retransmit at most a window back
      ackskew >= -kMaxAckWindow &&                                     // ack not beyond what was sent
      ackskew <= (kMaxAckWindow << sws) &&                             // ack at most a window behind
      (!(flags & kRst) || orig_seq == src.seqlo || orig_seq == src.seqlo + 1 || orig_seq + 1 == src.seqlo);

  auto slide = [&] {
    if (src.max_win < win) src.max_win = static_cast<uint16_t>(std::min<uint32_t>(win, kTcpMaxWin));
    if (SeqGt(end, src.seqlo)) src.seqlo = end;
    if (SeqGeq(ack + (win << sws), dst.seqhi)) dst.seqhi = ack + std::max<uint32_t>(win << sws, 1);
  };

  if (in_window) {
    slide();
    if ((flags & kSyn) && src.state < kTcpSynSent) src.state = kTcpSynSent;
    if ((flags & kFin) && src.state < kTcpClosing) src.state = kTcpClosing;
    bool established = false;
    if (flags & kAck) {
      if (dst.state == kTcpSynSent) {
        dst.state = kTcpEstablished;
        established = src.state == kTcpEstablished;
      } else if (dst.state == kTcpClosing) {
        dst.state = kTcpFinWait2;
      }
    }
    if (flags & kRst) src.state = dst.state = kTcpTimeWait;
    UpdateTimeout(s);
    return established ? TcpVerdict::kEstablished : TcpVerdict::kPass;
  }
  // pf's loose acceptance when it has not seen the whole connection (or the
  // connection is closing): within one maximal window either way.
  if ((dst.state < kTcpSynSent || dst.state >= kTcpFinWait2 || src.state >= kTcpFinWait2) &&
      SeqGeq(src.seqhi + kMaxAckWindow, end) && SeqGeq(seq, src.seqlo - kMaxAckWindow)) {
    slide();
    if ((flags & kFin) && src.state < kTcpClosing) src.state = kTcpClosing;
    if (flags & kRst) src.state = dst.state = kTcpTimeWait;
    return TcpVerdict::kPass;
  }
  return TcpVerdict::kBadState;
}

}  // namespace hapf::pf::engine
