// State export/import (the pfsync boundary), label counters and the
// pfctl -si status text.
#include <cstdio>

#include "pf/engine.h"

namespace hapf::pf::engine {

namespace {

PeerExport ExportPeer(const Peer& p) {
  PeerExport e;
  e.scrub_flags = p.scrub_flags;
  e.scrub_ttl = p.scrub_ttl;
  e.scrub_valid = p.scrub_valid;
  e.scrub_ts_mod = p.scrub_ts_mod;
  e.seqlo = p.seqlo;
  e.seqhi = p.seqhi;
  e.seqdiff = p.seqdiff;
  e.max_win = p.max_win;
  e.mss = p.mss;
  e.state = p.state;
  e.wscale = p.wscale;
  return e;
}

Peer ImportPeer(const PeerExport& e) {
  Peer p;
  p.scrub_flags = e.scrub_flags;
  p.scrub_ttl = e.scrub_ttl;
  p.scrub_valid = e.scrub_valid;
  p.scrub_ts_mod = e.scrub_ts_mod;
  p.seqlo = e.seqlo;
  p.seqhi = e.seqhi;
  p.seqdiff = e.seqdiff;
  p.max_win = e.max_win;
  p.mss = e.mss;
  p.state = e.state;
  p.wscale = e.wscale;
  return p;
}

StateKeyExport ExportKey(const StateKey& k) {
  StateKeyExport e;
  e.af = static_cast<net::Family>(k.af);
  for (int i = 0; i < 2; ++i) {
    e.addr[i] = k.Addr(i);
    e.port[i] = k.port[i];
  }
  e.rdomain = k.rdomain;
  return e;
}

StateKey ImportKey(const StateKeyExport& e, uint8_t proto) {
  StateKey k;
  k.af = static_cast<uint8_t>(e.af);
  for (int i = 0; i < 2; ++i) {
    k.SetAddr(i, e.addr[i]);
    k.port[i] = e.port[i];
  }
  k.rdomain = e.rdomain;
  k.proto = proto;
  return k;
}

}  // namespace

const char* ReasonName(Reason r) {
  static constexpr const char* kNames[kResCount] = {
      "match", "bad-offset", "fragment", "short", "normalize", "memory", "bad-timestamp", "congestion",
      "ip-option", "proto-cksum", "state-mismatch", "state-insert", "state-limit", "src-limit", "synproxy",
      "translate", "no-route"};
  return r < kResCount ? kNames[r] : "unknown";
}

StateExport Engine::Export(uint32_t idx, TimeNs now) const {
  StripeGuard guard(StripeOf(idx));  // a worker may be moving the state meanwhile
  const State& s = states_.at(idx);
  const uint32_t now_s = static_cast<uint32_t>(now / 1000000000);
  StateExport e;
  e.id = s.id;
  e.creatorid = s.creatorid;
  e.ifname = s.ifindex && s.ifindex < ifaces_.size() ? ifaces_[s.ifindex].name : "all";
  e.key[0] = ExportKey(s.key[kWire]);
  e.key[1] = ExportKey(s.key[kStack]);
  e.proto = s.key[kWire].proto;
  e.src = ExportPeer(s.src);
  e.dst = ExportPeer(s.dst);
  e.rt_addr = states_.RtAddr(idx);
  e.rt = s.rt;
  e.rule = s.rule;
  e.anchor = s.anchor;
  e.nat_rule = s.nat_rule;
  e.creation = now_s - s.creation;
  const uint64_t exp = ExpiresAt(s);
  e.expire = exp > now_s ? static_cast<uint32_t>(exp - now_s) : 0;
  for (int i = 0; i < 2; ++i) {
    e.packets[i] = s.packets[i];
    e.bytes[i] = s.bytes[i];
    e.rtableid[i] = s.rtableid[i];
    e.set_prio[i] = s.set_prio[i];
  }
  e.max_mss = s.max_mss;
  e.direction = s.direction;
  e.log = s.log;
  e.timeout = s.timeout;
  e.sync_flags = s.sync_flags;
  e.min_ttl = s.min_ttl;
  e.set_tos = s.set_tos;
  e.state_flags = s.state_flags;
  return e;
}

uint32_t Engine::Import(const StateExport& e, TimeNs now) {
  if (e.creatorid == 0 || e.timeout >= kTmCount) return kNoIndex;
  if (e.key[0].af == net::Family::kNone || e.key[1].af == net::Family::kNone) return kNoIndex;
  for (int32_t rt : e.rtableid) {
    if (rt < INT16_MIN || rt > INT16_MAX) return kNoIndex;  // no such routing table
  }
  if (states_.size() >= opts_.limits.states) return kNoIndex;
  const uint32_t now_s = static_cast<uint32_t>(now / 1000000000);
  State s;
  s.key[kWire] = ImportKey(e.key[0], e.proto);
  s.key[kStack] = ImportKey(e.key[1], e.proto);
  s.src = ImportPeer(e.src);
  s.dst = ImportPeer(e.dst);
  s.id = e.id;
  s.creatorid = e.creatorid;
  // Unknown interfaces become placeholders that no packet matches until an
  // interface of that name appears (pfi_kif_get semantics).
  s.ifindex = e.ifname == "all" || e.ifname.empty() ? 0 : AddInterface(e.ifname);
  s.rt = e.rt;
  s.rule = e.rule;
  s.anchor = e.anchor;
  s.nat_rule = e.nat_rule;
  s.rule_ref = (e.anchor == kNoRule && e.rule < main_.rules.size()) ? main_.rules[e.rule].ref : kNoRule;
  s.creation = now_s - e.creation;
  for (int i = 0; i < 2; ++i) {
    s.packets[i] = e.packets[i];
    s.bytes[i] = e.bytes[i];
    s.rtableid[i] = static_cast<int16_t>(e.rtableid[i]);
    s.set_prio[i] = e.set_prio[i];
  }
  s.max_mss = e.max_mss;
  s.direction = e.direction;
  s.log = e.log;
  s.timeout = e.timeout;
  s.sync_flags = e.sync_flags;
  s.min_ttl = e.min_ttl;
  s.set_tos = e.set_tos;
  s.state_flags = e.state_flags;
  // Last activity = now - (full timeout - remaining).
  const Rule* r = s.rule_ref < by_ref_.size() ? by_ref_[s.rule_ref] : nullptr;
  const uint32_t full = r && r->timeouts.v[s.timeout] ? r->timeouts.v[s.timeout] : opts_.timeouts.v[s.timeout];
  s.expire = e.expire >= full ? now_s : now_s - (full - e.expire);
  const uint32_t idx = states_.Insert(s);
  if (idx == kNoIndex) {
    counters_.reasons[kResStateInsert]++;
    return kNoIndex;
  }
  if (!e.rt_addr.empty()) states_.SetRtAddr(idx, e.rt_addr);
  counters_.state_inserts++;
  if (Rule* rr = RuleByRef(s.rule_ref)) {
    rr->states_cur++;
    rr->states_tot++;
  }
  return idx;
}

std::vector<std::pair<std::string, Engine::LabelCounters>> Engine::Labels() const {
  std::vector<std::pair<std::string, LabelCounters>> out;
  ForEachCurrentRule([&](const Rule& r) {
    if (r.label.empty()) return;
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == r.label; });
    if (it == out.end()) {
      out.emplace_back(r.label, LabelCounters{});
      it = out.end() - 1;
    }
    it->second.evaluations += r.evaluations;
    it->second.packets += r.packets[0] + r.packets[1];
    it->second.bytes += r.bytes[0] + r.bytes[1];
    it->second.states += r.states_tot;
  });
  return out;
}

std::string Engine::StatusText() const {
  std::string out;
  char line[128];
  auto row = [&](const char* name, uint64_t v) {
    std::snprintf(line, sizeof line, "  %-25s%14llu\n", name, static_cast<unsigned long long>(v));
    out += line;
  };
  out += "State Table                          Total\n";
  row("current entries", states_.size());
  row("searches", counters_.state_searches);
  row("inserts", counters_.state_inserts);
  row("removals", counters_.state_removals);
  out += "Source Tracking Table\n";
  row("current entries", src_index_.size());
  row("searches", counters_.src_searches);
  row("inserts", counters_.src_inserts);
  row("removals", counters_.src_removals);
  out += "Counters\n";
  for (int i = 0; i < kResCount; ++i) row(ReasonName(static_cast<Reason>(i)), counters_.reasons[i]);
  out += "Limit Counters\n";
  static constexpr const char* kLimitNames[kLcCount] = {
      "max states per rule", "max-src-states", "max-src-nodes", "max-src-conn", "max-src-conn-rate",
      "overload table insertion", "overload flush states"};
  for (int i = 0; i < kLcCount; ++i) row(kLimitNames[i], counters_.limits[i]);
  return out;
}

}  // namespace hapf::pf::engine
