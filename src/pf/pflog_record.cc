#include "pf/pflog_record.h"

#include <algorithm>
#include <cstring>

namespace hapf::pf::engine {

namespace {

void PutLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutLe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void PutBe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

}  // namespace

std::array<uint8_t, kPflogHeaderLen> EncodePflogHeader(const PflogFields& f) {
  std::array<uint8_t, kPflogHeaderLen> h{};
  const uint8_t bsd_af = f.af == net::Family::kV6 ? 24 : 2;  // OpenBSD AF_INET6 is 24
  h[0] = static_cast<uint8_t>(kPflogHeaderLen);
  h[1] = bsd_af;
  h[2] = f.action;
  h[3] = f.reason;
  std::memcpy(&h[4], f.ifname.data(), std::min<size_t>(f.ifname.size(), 15));
  std::memcpy(&h[20], f.ruleset.data(), std::min<size_t>(f.ruleset.size(), 15));
  PutBe32(&h[36], f.rulenr);
  PutBe32(&h[40], f.subrulenr);
  // uid, pid, rule_uid, rule_pid: "no socket" markers, host order as OpenBSD writes them.
  PutLe32(&h[44], 0xffffffffu);
  PutLe32(&h[48], 100000u);
  PutLe32(&h[52], 0);
  PutLe32(&h[56], 0);
  h[60] = f.dir;
  h[61] = f.rewritten ? 1 : 0;
  h[62] = bsd_af;  // naf
  if (f.rewritten) {
    std::memcpy(&h[64], f.saddr.data(), f.saddr.size());
    std::memcpy(&h[80], f.daddr.data(), f.daddr.size());
    h[96] = static_cast<uint8_t>(f.sport >> 8);
    h[97] = static_cast<uint8_t>(f.sport);
    h[98] = static_cast<uint8_t>(f.dport >> 8);
    h[99] = static_cast<uint8_t>(f.dport);
  }
  return h;
}

std::array<uint8_t, 24> PflogPcapFileHeader(uint32_t snaplen) {
  std::array<uint8_t, 24> h{};
  PutLe32(&h[0], 0xa1b2c3d4u);  // microsecond timestamps, little-endian file
  PutLe16(&h[4], 2);
  PutLe16(&h[6], 4);
  PutLe32(&h[16], snaplen);
  PutLe32(&h[20], kLinktypePflog);
  return h;
}

void AppendPflogRecord(std::vector<uint8_t>& out, TimeNs ts, std::span<const uint8_t> hdr,
                       std::span<const uint8_t> packet, uint32_t snaplen) {
  const uint32_t orig = static_cast<uint32_t>(hdr.size() + packet.size());
  const uint32_t incl = std::min(orig, snaplen);
  uint8_t rec[16];
  PutLe32(&rec[0], static_cast<uint32_t>(ts / 1000000000));
  PutLe32(&rec[4], static_cast<uint32_t>((ts % 1000000000) / 1000));
  PutLe32(&rec[8], incl);
  PutLe32(&rec[12], orig);
  out.insert(out.end(), rec, rec + 16);
  const size_t from_hdr = std::min<size_t>(hdr.size(), incl);
  out.insert(out.end(), hdr.begin(), hdr.begin() + from_hdr);
  out.insert(out.end(), packet.begin(), packet.begin() + (incl - from_hdr));
}

void Engine::FillPflog(Verdict& v, Direction dir, InterfaceId ifp, const PacketInfo& p) const {
  PflogFields f;
  f.action = v.action == Action::kPass ? 0 : 1;
  f.reason = v.reason;
  f.dir = static_cast<uint8_t>(dir);
  f.af = p.af;
  f.ifname = ifp < ifaces_.size() ? ifaces_[ifp].name : std::string();
  f.rulenr = v.rule_nr;
  f.subrulenr = v.subrule_nr;
  if (v.subrule_nr != kNoRule && v.rule_nr < main_.rules.size()) f.ruleset = main_.rules[v.rule_nr].anchor_name;
  f.rewritten = v.rewritten;
  f.saddr = p.src;
  f.daddr = p.dst;
  f.sport = p.sport;
  f.dport = p.dport;
  v.pflog = EncodePflogHeader(f);
}

}  // namespace hapf::pf::engine
