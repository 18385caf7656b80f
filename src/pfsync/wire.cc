#include "pfsync/wire.h"

#include <algorithm>
#include <cstring>

namespace hapf::pfsync {
namespace {

// Big-endian field access; every caller has checked that the bytes exist.
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
uint64_t Get64(const uint8_t* p) { return (uint64_t{Get32(p)} << 32) | Get32(p + 4); }
void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}
void Put64(uint8_t* p, uint64_t v) {
  Put32(p, static_cast<uint32_t>(v >> 32));
  Put32(p + 4, static_cast<uint32_t>(v));
}

// A pf_addr (16 bytes) read in the given family. An IPv4 address is the first
// 4 bytes with 12 zero bytes after it; anything else (other families, or
// IPv4 with stray bytes in the unused part) keeps all 16 bytes as an IPv6
// value, so that no byte is lost and a re-encode is exact.
net::IpAddr GetAddr(const uint8_t* p, WireAf af) {
  if (af == WireAf::kInet && std::all_of(p + 4, p + 16, [](uint8_t b) { return b == 0; }))
    return net::IpAddr::V4Bytes(p);
  return net::IpAddr::V6Bytes(p);
}
void PutAddr(uint8_t* p, const net::IpAddr& a) {
  std::memset(p, 0, 16);
  std::memcpy(p, a.data(), static_cast<size_t>(a.size()));
}

IfName GetIfName(const uint8_t* p) {
  IfName n;
  size_t len = 0;
  while (len < kIfNameSize && p[len] != 0) ++len;
  std::memcpy(n.bytes.data(), p, len);
  return n;
}

}  // namespace

void EncodeKey(const WireKey& k, uint8_t* p) {
  PutAddr(p, k.addr[0]);
  PutAddr(p + 16, k.addr[1]);
  Put16(p + 32, k.port[0]);
  Put16(p + 34, k.port[1]);
  Put16(p + 36, k.rdomain);
  p[38] = static_cast<uint8_t>(k.af);
  p[39] = 0;
}

namespace {

WireKey GetKey(const uint8_t* p, WireAf state_af) {
  WireKey k;
  k.af = static_cast<WireAf>(p[38]);
  WireAf eff = k.af == WireAf::kUnspec ? state_af : k.af;
  k.addr[0] = GetAddr(p, eff);
  k.addr[1] = GetAddr(p + 16, eff);
  k.port[0] = Get16(p + 32);
  k.port[1] = Get16(p + 34);
  k.rdomain = Get16(p + 36);
  return k;
}

bool ValidAf(WireAf af) { return af == WireAf::kInet || af == WireAf::kInet6; }

}  // namespace

size_t ReceiverItemSize(Action a) {
  switch (a) {
    case Action::kClr: return kClrSize;
    case Action::kInsAck:
    case Action::kUpdReq:
    case Action::kDelC:
    case Action::kBus: return kIdItemSize;
    case Action::kUpdC: return kUpdCSize;
    case Action::kDel:
    case Action::kIns:
    case Action::kUpd: return kStateSize;
    case Action::kTdb: return kTdbSize;
    default: return 0;
  }
}

std::string_view ActionName(uint8_t action) {
  static constexpr std::string_view kNames[kActionCount] = {
      "CLR ST",      "INS ST OLD", "INS ST ACK", "UPD ST OLD", "UPD ST COMP",   "UPD ST REQ",
      "DEL ST",      "DEL ST COMP", "INS FR",    "DEL FR",     "BULK UPD STAT", "UPD TDB OLD",
      "EOF",         "INS ST",     "UPD ST",     "UPD TDB"};
  return action < kActionCount ? kNames[action] : "UNKNOWN";
}

net::Family ToFamily(WireAf af) {
  return af == WireAf::kInet ? net::Family::kV4 : af == WireAf::kInet6 ? net::Family::kV6 : net::Family::kNone;
}
WireAf FromFamily(net::Family f) {
  return f == net::Family::kV4 ? WireAf::kInet : f == net::Family::kV6 ? WireAf::kInet6 : WireAf::kUnspec;
}

IfName IfName::From(std::string_view name) {
  IfName n;
  std::memcpy(n.bytes.data(), name.data(), std::min(name.size(), kIfNameSize - 1));
  return n;
}

std::string_view IfName::view() const {
  size_t len = 0;
  while (len < kIfNameSize && bytes[len] != 0) ++len;
  return std::string_view(bytes.data(), len);
}

void EncodePeer(const WirePeer& p, uint8_t* out) {
  Put16(out, p.scrub.flags);
  out[2] = p.scrub.ttl;
  out[3] = p.scrub.scrub_flag;
  Put32(out + 4, p.scrub.ts_mod);
  Put32(out + 8, p.seqlo);
  Put32(out + 12, p.seqhi);
  Put32(out + 16, p.seqdiff);
  Put16(out + 20, p.max_win);
  Put16(out + 22, p.mss);
  out[24] = p.state;
  out[25] = p.wscale;
  std::memset(out + 26, 0, 6);
}

WirePeer DecodePeer(const uint8_t* in) {
  WirePeer p;
  p.scrub.flags = Get16(in);
  p.scrub.ttl = in[2];
  p.scrub.scrub_flag = in[3];
  p.scrub.ts_mod = Get32(in + 4);
  p.seqlo = Get32(in + 8);
  p.seqhi = Get32(in + 12);
  p.seqdiff = Get32(in + 16);
  p.max_win = Get16(in + 20);
  p.mss = Get16(in + 22);
  p.state = in[24];
  p.wscale = in[25];
  return p;
}

void EncodeState(const WireState& s, uint8_t* out) {
  Put64(out, s.id);
  std::memcpy(out + 8, s.ifname.bytes.data(), kIfNameSize);
  EncodeKey(s.key[0], out + 24);
  EncodeKey(s.key[1], out + 64);
  EncodePeer(s.src, out + 104);
  EncodePeer(s.dst, out + 136);
  PutAddr(out + 168, s.rt_addr);
  Put32(out + 184, s.rule);
  Put32(out + 188, s.anchor);
  Put32(out + 192, s.nat_rule);
  Put32(out + 196, s.creation);
  Put32(out + 200, s.expire);
  Put64(out + 204, s.packets[0]);
  Put64(out + 212, s.packets[1]);
  Put64(out + 220, s.bytes[0]);
  Put64(out + 228, s.bytes[1]);
  Put32(out + 236, s.creatorid);
  Put32(out + 240, static_cast<uint32_t>(s.rtableid[0]));
  Put32(out + 244, static_cast<uint32_t>(s.rtableid[1]));
  Put16(out + 248, s.max_mss);
  out[250] = static_cast<uint8_t>(s.af);
  out[251] = s.proto;
  out[252] = static_cast<uint8_t>(s.direction);
  out[253] = s.log;
  out[254] = static_cast<uint8_t>(s.rt);
  out[255] = s.timeout;
  out[256] = s.sync_flags;
  out[257] = s.updates;
  out[258] = s.min_ttl;
  out[259] = s.set_tos;
  Put16(out + 260, s.state_flags);
  out[262] = s.set_prio[0];
  out[263] = s.set_prio[1];
}

WireState DecodeState(const uint8_t* in) {
  WireState s;
  s.af = static_cast<WireAf>(in[250]);
  s.id = Get64(in);
  s.ifname = GetIfName(in + 8);
  s.key[0] = GetKey(in + 24, s.af);
  s.key[1] = GetKey(in + 64, s.af);
  s.src = DecodePeer(in + 104);
  s.dst = DecodePeer(in + 136);
  s.rt_addr = GetAddr(in + 168, s.af);
  s.rule = Get32(in + 184);
  s.anchor = Get32(in + 188);
  s.nat_rule = Get32(in + 192);
  s.creation = Get32(in + 196);
  s.expire = Get32(in + 200);
  s.packets = {Get64(in + 204), Get64(in + 212)};
  s.bytes = {Get64(in + 220), Get64(in + 228)};
  s.creatorid = Get32(in + 236);
  s.rtableid = {static_cast<int32_t>(Get32(in + 240)), static_cast<int32_t>(Get32(in + 244))};
  s.max_mss = Get16(in + 248);
  s.proto = in[251];
  s.direction = static_cast<Direction>(in[252]);
  s.log = in[253];
  s.rt = static_cast<RouteType>(in[254]);
  s.timeout = in[255];
  s.sync_flags = in[256];
  s.updates = in[257];
  s.min_ttl = in[258];
  s.set_tos = in[259];
  s.state_flags = Get16(in + 260);
  s.set_prio = {in[262], in[263]};
  return s;
}

void EncodeUpdC(const WireUpdC& u, uint8_t* out) {
  Put64(out, u.id);
  EncodePeer(u.src, out + 8);
  EncodePeer(u.dst, out + 40);
  Put32(out + 72, u.creatorid);
  Put32(out + 76, u.expire);
  out[80] = u.timeout;
  out[81] = u.state_flags;
  out[82] = out[83] = 0;
}

WireUpdC DecodeUpdC(const uint8_t* in) {
  WireUpdC u;
  u.id = Get64(in);
  u.src = DecodePeer(in + 8);
  u.dst = DecodePeer(in + 40);
  u.creatorid = Get32(in + 72);
  u.expire = Get32(in + 76);
  u.timeout = in[80];
  u.state_flags = in[81];
  return u;
}

void EncodeId(const StateId& s, uint8_t* out) {
  Put64(out, s.id);
  Put32(out + 8, s.creatorid);
}
StateId DecodeId(const uint8_t* in) { return StateId{Get64(in), Get32(in + 8)}; }

void EncodeClr(const WireClr& c, uint8_t* out) {
  std::memcpy(out, c.ifname.bytes.data(), kIfNameSize);
  Put32(out + 16, c.creatorid);
}
WireClr DecodeClr(const uint8_t* in) { return WireClr{GetIfName(in), Get32(in + 16)}; }

void EncodeBus(const WireBus& b, uint8_t* out) {
  Put32(out, b.creatorid);
  Put32(out + 4, b.endtime);
  out[8] = b.status;
  out[9] = out[10] = out[11] = 0;
}
WireBus DecodeBus(const uint8_t* in) { return WireBus{Get32(in), Get32(in + 4), in[8]}; }

void EncodeTdb(const WireTdb& t, uint8_t* out) {
  Put32(out, t.spi);
  std::memcpy(out + 4, t.dst.data(), t.dst.size());
  Put64(out + 32, t.rpl);
  Put64(out + 40, t.cur_bytes);
  out[48] = t.sproto;
  out[49] = t.updates;
  Put16(out + 50, t.rdomain);
}
WireTdb DecodeTdb(const uint8_t* in) {
  WireTdb t;
  t.spi = Get32(in);
  std::memcpy(t.dst.data(), in + 4, t.dst.size());
  t.rpl = Get64(in + 32);
  t.cur_bytes = Get64(in + 40);
  t.sproto = in[48];
  t.updates = in[49];
  t.rdomain = Get16(in + 50);
  return t;
}

std::string_view DecodeErrorName(DecodeError e) {
  switch (e) {
    case DecodeError::kNone: return "ok";
    case DecodeError::kShortHeader: return "short-header";
    case DecodeError::kBadVersion: return "bad-version";
    case DecodeError::kBadHeaderLen: return "bad-header-len";
    case DecodeError::kTruncatedRegion: return "truncated-region";
    case DecodeError::kBadAction: return "bad-action";
  }
  return "?";
}

ItemCheck CheckState(const WireState& s, bool insert) {
  if (s.timeout >= kTimeoutMax || s.src.state > kMaxPeerState || s.dst.state > kMaxPeerState)
    return ItemCheck::kBadValue;
  if (insert) {
    if (static_cast<uint8_t>(s.direction) > 2 || !ValidAf(s.af)) return ItemCheck::kBadValue;
    bool both_zero = s.key[0].af == WireAf::kUnspec && s.key[1].af == WireAf::kUnspec;
    bool both_valid = ValidAf(s.key[0].af) && ValidAf(s.key[1].af);
    if (!both_zero && !both_valid) return ItemCheck::kBadValue;
  }
  return ItemCheck::kOk;
}

ItemCheck CheckUpdC(const WireUpdC& u) {
  if (u.timeout >= kTimeoutMax || u.src.state > kMaxPeerState || u.dst.state > kMaxPeerState)
    return ItemCheck::kBadValue;
  return ItemCheck::kOk;
}

void DecodedPacket::Clear() {
  header_len = 0;
  regions.clear();
  states.clear();
  upd_c.clear();
  ids.clear();
  clr.clear();
  bus.clear();
  tdb.clear();
}

DecodeError DecodePacket(std::span<const uint8_t> pfsync, DecodedPacket& out) {
  out.Clear();
  if (pfsync.size() < kHeaderSize) return DecodeError::kShortHeader;
  const uint8_t* p = pfsync.data();
  if (p[0] != kVersion) return DecodeError::kBadVersion;
  size_t len = Get16(p + 2);
  if (len < kHeaderSize || len > pfsync.size()) return DecodeError::kBadHeaderLen;
  out.header_len = static_cast<uint16_t>(len);
  std::memcpy(out.pfcksum.data(), p + 4, 16);

  size_t off = kHeaderSize;
  // Fewer than 4 trailing bytes inside len cannot hold a subheader: ignored (§2.2).
  while (len - off >= kSubheaderSize) {
    Region r;
    r.action = p[off];
    r.item_words = p[off + 1];
    r.count = Get16(p + off + 2);
    off += kSubheaderSize;
    size_t stride = size_t{r.item_words} * 4;
    size_t need = r.action < kActionCount ? ReceiverItemSize(static_cast<Action>(r.action)) : 0;
    bool handled = need != 0;
    bool defined_unhandled = r.action < kActionCount && !handled;
    if (!defined_unhandled && (!handled || stride < need)) {
      // Unknown action or items shorter than ours: skippable only when the
      // region's extent is known and non-empty.
      if (r.count == 0 || r.item_words == 0) return DecodeError::kBadAction;
      r.skipped = true;
    }
    if (defined_unhandled) r.skipped = true;
    size_t region_bytes = stride * r.count;
    if (region_bytes > len - off) return DecodeError::kTruncatedRegion;
    if (!r.skipped) {
      const uint8_t* item = p + off;
      auto action = static_cast<Action>(r.action);
      switch (action) {
        case Action::kIns:
        case Action::kUpd:
        case Action::kDel:
          r.first = static_cast<uint32_t>(out.states.size());
          for (size_t i = 0; i < r.count; ++i, item += stride) out.states.push_back(DecodeState(item));
          break;
        case Action::kUpdC:
          r.first = static_cast<uint32_t>(out.upd_c.size());
          for (size_t i = 0; i < r.count; ++i, item += stride) out.upd_c.push_back(DecodeUpdC(item));
          break;
        case Action::kInsAck:
        case Action::kUpdReq:
        case Action::kDelC:
          r.first = static_cast<uint32_t>(out.ids.size());
          for (size_t i = 0; i < r.count; ++i, item += stride) out.ids.push_back(DecodeId(item));
          break;
        case Action::kClr:
          r.first = static_cast<uint32_t>(out.clr.size());
          for (size_t i = 0; i < r.count; ++i, item += stride) out.clr.push_back(DecodeClr(item));
          break;
        case Action::kBus:
          r.first = static_cast<uint32_t>(out.bus.size());
          for (size_t i = 0; i < r.count; ++i, item += stride) out.bus.push_back(DecodeBus(item));
          break;
        case Action::kTdb:
          r.first = static_cast<uint32_t>(out.tdb.size());
          for (size_t i = 0; i < r.count; ++i, item += stride) out.tdb.push_back(DecodeTdb(item));
          break;
        default: break;
      }
    }
    off += region_bytes;
    out.regions.push_back(r);
  }
  return DecodeError::kNone;
}

PacketBuilder::PacketBuilder(size_t max_bytes) : max_bytes_(max_bytes) {
  buf_.reserve(std::max(max_bytes, kHeaderSize));
  Reset();
}

void PacketBuilder::Reset() {
  buf_.assign(kHeaderSize, 0);
  buf_[0] = kVersion;
  region_at_ = 0;
  region_action_ = -1;
}

bool PacketBuilder::Fits(Action action, size_t item_size) const {
  bool new_region = region_action_ != static_cast<int>(action) || region_at_ == 0 ||
                    Get16(buf_.data() + region_at_ + 2) == 0xffff;
  return buf_.size() + item_size + (new_region ? kSubheaderSize : 0) <= max_bytes_;
}

uint8_t* PacketBuilder::Reserve(Action action, size_t item_size) {
  if (!Fits(action, item_size)) return nullptr;
  if (region_action_ != static_cast<int>(action) || region_at_ == 0 ||
      Get16(buf_.data() + region_at_ + 2) == 0xffff) {
    region_at_ = buf_.size();
    region_action_ = static_cast<int>(action);
    buf_.resize(buf_.size() + kSubheaderSize);
    buf_[region_at_] = static_cast<uint8_t>(action);
    buf_[region_at_ + 1] = static_cast<uint8_t>(item_size / 4);
    Put16(buf_.data() + region_at_ + 2, 0);
  }
  uint8_t* count = buf_.data() + region_at_ + 2;
  Put16(count, static_cast<uint16_t>(Get16(count) + 1));
  size_t at = buf_.size();
  buf_.resize(at + item_size);
  return buf_.data() + at;
}

bool PacketBuilder::AddState(Action action, const WireState& s) {
  uint8_t* p = Reserve(action, kStateSize);
  if (p) EncodeState(s, p);
  return p != nullptr;
}
bool PacketBuilder::AddUpdC(const WireUpdC& u) {
  uint8_t* p = Reserve(Action::kUpdC, kUpdCSize);
  if (p) EncodeUpdC(u, p);
  return p != nullptr;
}
bool PacketBuilder::AddId(Action action, const StateId& s) {
  uint8_t* p = Reserve(action, kIdItemSize);
  if (p) EncodeId(s, p);
  return p != nullptr;
}
bool PacketBuilder::AddClr(const WireClr& c) {
  uint8_t* p = Reserve(Action::kClr, kClrSize);
  if (p) EncodeClr(c, p);
  return p != nullptr;
}
bool PacketBuilder::AddBus(const WireBus& b) {
  uint8_t* p = Reserve(Action::kBus, kBusSize);
  if (p) EncodeBus(b, p);
  return p != nullptr;
}
bool PacketBuilder::AddTdb(const WireTdb& t) {
  uint8_t* p = Reserve(Action::kTdb, kTdbSize);
  if (p) EncodeTdb(t, p);
  return p != nullptr;
}

bool PacketBuilder::AddEmptyRegion(Action action, uint8_t item_words) {
  if (buf_.size() + kSubheaderSize > max_bytes_) return false;
  size_t at = buf_.size();
  buf_.resize(at + kSubheaderSize);
  buf_[at] = static_cast<uint8_t>(action);
  buf_[at + 1] = item_words;
  region_at_ = 0;  // nothing may be appended to an empty region
  region_action_ = -1;
  return true;
}

std::span<const uint8_t> PacketBuilder::Finish() {
  Put16(buf_.data() + 2, static_cast<uint16_t>(buf_.size()));
  return std::span<const uint8_t>(buf_.data(), buf_.size());
}

}  // namespace hapf::pfsync
