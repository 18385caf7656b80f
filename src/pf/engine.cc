#include "pf/engine.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "pf/tcp_track.h"

namespace hapf::pf::engine {

namespace {

constexpr int kSkipIfp = 0, kSkipDir = 1, kSkipAf = 2, kSkipProto = 3, kSkipSrcAddr = 4, kSkipSrcPort = 5,
              kSkipDstAddr = 6, kSkipDstPort = 7, kSkipCount = 8;
constexpr int kMaxAnchorDepth = 64;
constexpr size_t kIndexThreshold = 32;

bool PortsMatch(const PortList& list, uint16_t port) {
  for (const PortRange& r : list) {
    if (r.Matches(port)) return true;
  }
  return false;
}

bool HasPorts(uint8_t proto) { return proto == kProtoTcp || proto == kProtoUdp; }

bool SameField(const Rule& a, const Rule& b, int f) {
  switch (f) {
    case kSkipIfp: return a.ifgroup == b.ifgroup && a.if_negate == b.if_negate;
    case kSkipDir: return a.dir == b.dir;
    case kSkipAf: return a.af == b.af;
    case kSkipProto: return a.proto == b.proto;
    case kSkipSrcAddr: return a.src == b.src;
    case kSkipSrcPort: return a.sport == b.sport;
    case kSkipDstAddr: return a.dst == b.dst;
    default: return a.dport == b.dport;
  }
}

// pfsync keeps (rule inside the anchor, anchor rule); pflog wants (main-ruleset
// rule, rule inside the anchor).
void SetRuleNumbers(Verdict& v, const State& s) {
  v.rule_nr = s.anchor != kNoRule ? s.anchor : s.rule;
  v.subrule_nr = s.anchor != kNoRule ? s.rule : kNoRule;
}

Direction Reverse(Direction d) { return d == Direction::kIn ? Direction::kOut : Direction::kIn; }

uint8_t OtherTimeout(uint8_t proto, int which) {  // which: 0 first, 1 single, 2 multiple
  if (proto == kProtoUdp) return static_cast<uint8_t>(kTmUdpFirst + which);
  return static_cast<uint8_t>(kTmOtherFirst + which);
}

}  // namespace

Rule PassRule() {
  Rule r;
  r.action = Action::kPass;
  r.keep_state = KeepState::kKeep;
  r.flags = kSyn;
  r.flagset = kSyn | kAck;
  return r;
}

Rule BlockRule() {
  Rule r;
  r.action = Action::kBlock;
  return r;
}

struct Engine::EvalResult {
  Rule* rule = nullptr;
  Rule* anchor_rule = nullptr;  // the anchor rule `rule` was found under
  Rule* nat = nullptr;          // rule supplying nat-to (match rules or the final one)
  Rule* rdr = nullptr;
  uint8_t log = 0;               // the final rule's log flags
  uint8_t match_log = 0;         // log flags of match rules on the way
  bool matched = false;         // anything matched (for quick anchors)
  uint16_t tag = 0;             // the packet's tag as the rules so far leave it
  uint16_t set_tag = 0;         // the last `tag` of a matching rule
  InterfaceId rcvif = 0;        // the interface the packet came in on; 0 local
};

Engine::Engine(EngineOptions opts) : opts_(std::move(opts)) {
  ifaces_.push_back(Interface{"all", {}, false});
  next_state_id_ = opts_.state_id_base ? opts_.state_id_base : 1;
}

uint32_t Engine::NextRandom() {
  if (opts_.random) return opts_.random();
  // splitmix64: deterministic unless the embedder injects a generator.
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

InterfaceId Engine::AddInterface(const std::string& name) {
  if (InterfaceId id = FindInterface(name)) return id;
  Interface ifc;
  ifc.name = name;
  ifc.groups.push_back(GroupId(name));
  ifaces_.push_back(std::move(ifc));
  return static_cast<InterfaceId>(ifaces_.size() - 1);
}

uint16_t Engine::GroupId(const std::string& group) {
  auto [it, inserted] = groups_.try_emplace(group, static_cast<uint16_t>(groups_.size() + 1));
  return it->second;
}

void Engine::AddToGroup(InterfaceId ifp, const std::string& group) {
  const uint16_t g = GroupId(group);
  auto& gs = ifaces_.at(ifp).groups;
  if (std::find(gs.begin(), gs.end(), g) == gs.end()) gs.push_back(g);
}

void Engine::SetSkip(InterfaceId ifp, bool skip) { ifaces_.at(ifp).skip = skip; }

InterfaceId Engine::FindInterface(const std::string& name) const {
  for (size_t i = 1; i < ifaces_.size(); ++i) {
    if (ifaces_[i].name == name) return static_cast<InterfaceId>(i);
  }
  return 0;
}

const std::string& Engine::InterfaceName(InterfaceId ifp) const { return ifaces_.at(ifp).name; }

bool Engine::InterfaceInGroup(InterfaceId ifp, uint16_t group) const {
  if (ifp >= ifaces_.size()) return false;
  const auto& gs = ifaces_[ifp].groups;
  return std::find(gs.begin(), gs.end(), group) != gs.end();
}

uint16_t Engine::TagId(const std::string& name) {
  if (auto it = tag_ids_.find(name); it != tag_ids_.end()) return it->second;
  if (tag_names_.size() >= 0xffff) return 0;
  tag_names_.push_back(name);
  const uint16_t id = static_cast<uint16_t>(tag_names_.size());
  tag_ids_.emplace(name, id);
  return id;
}

const std::string& Engine::TagName(uint16_t id) const {
  static const std::string kNone;
  return id && id <= tag_names_.size() ? tag_names_[id - 1] : kNone;
}

std::shared_ptr<Table> Engine::GetTable(const std::string& name) {
  auto& t = tables_[name];
  if (!t) t = std::make_shared<Table>(name);
  return t;
}

void Engine::ComputeSkipSteps(std::vector<Rule>& rules) {
  const uint32_t n = static_cast<uint32_t>(rules.size());
  for (int f = 0; f < kSkipCount; ++f) {
    uint32_t head = 0;
    for (uint32_t i = 1; i <= n; ++i) {
      if (i == n || !SameField(rules[head], rules[i], f)) {
        for (uint32_t j = head; j < i; ++j) rules[j].skip[f] = i;
        head = i;
      }
    }
  }
}

void Engine::LoadRuleset(Ruleset main, std::vector<Ruleset> anchors) {
  CollectRetired();
  auto old = std::make_unique<RetiredRules>();
  old->main = std::move(main_);  // moving the vectors keeps the rules' addresses (by_ref_ stays valid)
  old->anchors = std::move(anchors_);
  auto count = [&](const Rule& r) { old->refs += uint64_t{r.states_cur} + r.src_nodes; };
  for (const Rule& r : old->main.rules) count(r);
  for (const Ruleset& rs : old->anchors)
    for (const Rule& r : rs.rules) count(r);
  if (old->refs) {
    // Never evaluated again: drop the destination indexes, keep the rules.
    auto drop_index = [](Ruleset& rs) {
      rs.indexed = false;
      rs.by_dst = {};
      rs.generic = {};
    };
    drop_index(old->main);
    for (Ruleset& rs : old->anchors) drop_index(rs);
    retired_.emplace(generation_, std::move(old));
  } else {
    FreeRefs(*old);
  }
  main_ = std::move(main);
  anchors_ = std::move(anchors);
  ++generation_;
  Renumber();
}

void Engine::FreeRefs(RetiredRules& old) {
  auto free_ref = [&](const Rule& r) {
    if (r.ref < by_ref_.size() && by_ref_[r.ref] == &r) {
      by_ref_[r.ref] = nullptr;
      free_refs_.push_back(r.ref);
    }
  };
  for (const Rule& r : old.main.rules) free_ref(r);
  for (const Ruleset& rs : old.anchors)
    for (const Rule& r : rs.rules) free_ref(r);
}

void Engine::ReleaseRule(const Rule& r) {
  if (r.generation == generation_) return;
  auto it = retired_.find(r.generation);
  if (it != retired_.end() && it->second->refs && --it->second->refs == 0) retired_unreferenced_ = true;
}

void Engine::CollectRetired() {
  if (!retired_unreferenced_) return;
  retired_unreferenced_ = false;
  for (auto it = retired_.begin(); it != retired_.end();) {
    if (it->second->refs == 0) {
      FreeRefs(*it->second);
      retired_.erase(it++);
    } else {
      ++it;
    }
  }
}

void Engine::Renumber() {
  // Refs of live retired rules stay taken; the new rules get the lowest free
  // ones (0..n-1 when nothing was retired).
  std::sort(free_refs_.begin(), free_refs_.end(), std::greater<>());
  auto assign = [&](Rule& r) {
    r.generation = generation_;
    if (!free_refs_.empty()) {
      r.ref = free_refs_.back();
      free_refs_.pop_back();
      by_ref_[r.ref] = &r;
    } else {
      r.ref = static_cast<uint32_t>(by_ref_.size());
      by_ref_.push_back(&r);
    }
  };
  for (uint32_t i = 0; i < main_.rules.size(); ++i) {
    Rule& r = main_.rules[i];
    r.nr = i;
    r.anchor_nr = kNoRule;
    assign(r);
  }
  for (size_t a = 0; a < anchors_.size(); ++a) {
    uint32_t anchor_nr = kNoRule;
    for (const Rule& r : main_.rules) {
      if (r.anchor == static_cast<int>(a)) {
        anchor_nr = r.nr;
        break;
      }
    }
    for (uint32_t i = 0; i < anchors_[a].rules.size(); ++i) {
      Rule& r = anchors_[a].rules[i];
      r.nr = i;
      r.anchor_nr = anchor_nr;
      assign(r);
    }
  }
  ComputeSkipSteps(main_.rules);
  BuildIndex(main_);
  for (Ruleset& rs : anchors_) {
    ComputeSkipSteps(rs.rules);
    BuildIndex(rs);
  }
}

Rule* Engine::RuleByRef(uint32_t ref) { return ref < by_ref_.size() ? by_ref_[ref] : nullptr; }

static std::array<uint8_t, 17> AddrKey(const net::IpAddr& a) {
  std::array<uint8_t, 17> k{};
  std::copy(a.bytes().begin(), a.bytes().end(), k.begin());
  k[16] = static_cast<uint8_t>(a.family());
  return k;
}

void Engine::BuildIndex(Ruleset& rs) {
  rs.generic.clear();
  rs.by_dst.clear();
  rs.indexed = false;
  for (uint32_t i = 0; i < rs.rules.size(); ++i) {
    const Rule& r = rs.rules[i];
    if (r.anchor < 0 && r.dst.kind == AddrSpec::Kind::kPrefix && !r.dst.negate && r.dst.prefix.is_host()) {
      rs.by_dst[AddrKey(r.dst.prefix.addr)].push_back(i);
    } else {
      rs.generic.push_back(i);
    }
  }
  // Small rulesets are served well by skip steps alone.
  rs.indexed = rs.rules.size() >= kIndexThreshold && !rs.by_dst.empty();
}

bool Engine::MatchRuleset(const Ruleset& crs, const PacketInfo& p, Direction dir, InterfaceId ifp, EvalResult& res,
                          int depth, Rule* anchor_rule) {
  auto& rules = const_cast<Ruleset&>(crs).rules;
  const uint32_t n = static_cast<uint32_t>(rules.size());
  const bool ports = HasPorts(p.proto) && !p.fragment;
  const bool icmp = (p.proto == kProtoIcmp || p.proto == kProtoIcmp6) && !p.fragment;
  // The checks skip steps do not cover.
  auto rest_matches = [&](const Rule& r) {
    if (r.icmp_type >= 0 && (!icmp || p.icmp_type != r.icmp_type)) return false;
    if (r.icmp_code >= 0 && (!icmp || p.icmp_code != r.icmp_code)) return false;
    if (r.flagset && p.proto == kProtoTcp && (p.fragment || (p.flags & r.flagset) != r.flags)) return false;
    if (r.match_tag && (res.tag == r.match_tag) == r.match_tag_not) return false;
    if (r.expired) return false;
    if (r.tos && (p.tos & 0xfc) != r.tos) return false;
    // pf_match_rcvif() == rcvifnot: a packet without a receiving interface
    // (locally generated) matches no `received-on X`, so `! received-on X`.
    if (r.rcv_group && (res.rcvif != 0 && InterfaceInGroup(res.rcvif, r.rcv_group)) == r.rcv_negate) return false;
    // pf draws arc4random_uniform(UINT_MAX - 1) + 1 per evaluation.
    if (r.probability && r.probability <= NextRandom() % (UINT32_MAX - 1) + 1) return false;
    return true;
  };
  // Applies a matching rule; returns true when evaluation must stop.
  auto apply = [&](Rule& r) {
    if (r.tag) res.tag = res.set_tag = r.tag;  // later rules' `tagged` see it (pf_match_rule)
    if (r.anchor >= 0) {
      if (depth >= kMaxAnchorDepth || static_cast<size_t>(r.anchor) >= anchors_.size()) return false;
      const bool matched_before = res.matched;
      res.matched = false;
      const bool stop = MatchRuleset(anchors_[r.anchor], p, dir, ifp, res, depth + 1, &r);
      const bool inner_matched = res.matched;
      res.matched = matched_before || inner_matched;
      return stop || (r.quick && inner_matched);
    }
    res.matched = true;
    if (r.nat) res.nat = &r;
    if (r.rdr) res.rdr = &r;
    if (r.action == Action::kMatch) {
      if (r.once) r.expired = true;
      res.match_log |= r.log;
      return false;
    }
    res.rule = &r;
    res.anchor_rule = anchor_rule;
    res.log = r.log;
    return r.quick;
  };

  if (crs.indexed) {
    // Merge, in rule order, the rules that can match any destination with
    // those written for exactly this destination host.
    static const std::vector<uint32_t> kNone;
    auto it = crs.by_dst.find(AddrKey(p.dst));
    const std::vector<uint32_t>& host = it == crs.by_dst.end() ? kNone : it->second;
    const std::vector<uint32_t>& gen = crs.generic;
    size_t a = 0, b = 0;
    while (a < gen.size() || b < host.size()) {
      const uint32_t idx = (b == host.size() || (a < gen.size() && gen[a] < host[b])) ? gen[a++] : host[b++];
      Rule& r = rules[idx];
      ++r.evaluations;
      if (r.ifgroup && InterfaceInGroup(ifp, r.ifgroup) == r.if_negate) continue;
      if (r.dir != Direction::kInOut && r.dir != dir) continue;
      if (r.af != net::Family::kNone && r.af != p.af) continue;
      if (r.proto && r.proto != p.proto) continue;
      if (!r.src.Matches(p.src)) continue;
      if (!r.sport.empty() && (!ports || !PortsMatch(r.sport, p.sport))) continue;
      if (!r.dst.Matches(p.dst)) continue;
      if (!r.dport.empty() && (!ports || !PortsMatch(r.dport, p.dport))) continue;
      if (!rest_matches(r)) continue;
      if (apply(r)) return true;
    }
    return false;
  }

  uint32_t i = 0;
  while (i < n) {
    Rule& r = rules[i];
    ++r.evaluations;
    if (r.ifgroup && InterfaceInGroup(ifp, r.ifgroup) == r.if_negate) { i = r.skip[kSkipIfp]; continue; }
    if (r.dir != Direction::kInOut && r.dir != dir) { i = r.skip[kSkipDir]; continue; }
    if (r.af != net::Family::kNone && r.af != p.af) { i = r.skip[kSkipAf]; continue; }
    if (r.proto && r.proto != p.proto) { i = r.skip[kSkipProto]; continue; }
    if (!r.src.Matches(p.src)) { i = r.skip[kSkipSrcAddr]; continue; }
    if (!r.sport.empty() && (!ports || !PortsMatch(r.sport, p.sport))) { i = r.skip[kSkipSrcPort]; continue; }
    if (!r.dst.Matches(p.dst)) { i = r.skip[kSkipDstAddr]; continue; }
    if (!r.dport.empty() && (!ports || !PortsMatch(r.dport, p.dport))) { i = r.skip[kSkipDstPort]; continue; }
    ++i;
    if (!rest_matches(r)) continue;
    if (apply(r)) return true;
  }
  return false;
}

Counters& Counters::operator+=(const Counters& o) {
  state_searches += o.state_searches;
  state_inserts += o.state_inserts;
  state_removals += o.state_removals;
  src_searches += o.src_searches;
  src_inserts += o.src_inserts;
  src_removals += o.src_removals;
  for (size_t i = 0; i < reasons.size(); ++i) reasons[i] += o.reasons[i];
  for (size_t i = 0; i < limits.size(); ++i) limits[i] += o.limits[i];
  for (int a = 0; a < 2; ++a) {
    for (int d = 0; d < 2; ++d) {
      bytes[a][d] += o.bytes[a][d];
      packets[a][d][0] += o.packets[a][d][0];
      packets[a][d][1] += o.packets[a][d][1];
    }
  }
  return *this;
}

void Engine::CountPacket(Counters& c, const PacketInfo& p, Direction dir, bool pass) {
  const int af = p.af == net::Family::kV6 ? 1 : 0;
  const int d = dir == Direction::kOut ? 1 : 0;
  c.packets[af][d][pass ? 0 : 1]++;
  if (pass) c.bytes[af][d] += p.l3_len;
}

namespace {

Verdict Malformed(Counters& c) {
  Verdict v;
  v.action = Action::kBlock;
  v.reason = kResShort;
  c.reasons[kResShort]++;
  return v;
}

// Whether the packet is looked up by its own key (ICMP errors are looked up
// by the packet they quote; later fragments carry no ports).
bool LooksUpOwnKey(const PacketInfo& p) { return !(p.icmp_error && p.quoted) && !p.fragment; }

// MakeKey for a packet just parsed (l3 header at offset 0): the addresses are
// read from the header bytes p.src and p.dst were parsed from, not from the
// copies the parse has just stored (reading those back as words waited on
// store forwarding).
uint32_t PacketKey(std::span<const uint8_t> pkt, const PacketInfo& p, Direction dir, StateKey& key) {
  uint64_t src[2], dst[2];
  if (p.af == net::Family::kV4) {
    uint32_t s, d;
    std::memcpy(&s, &pkt.subspan(12, 4)[0], 4);
    std::memcpy(&d, &pkt.subspan(16, 4)[0], 4);
    src[0] = s, dst[0] = d;  // the rest of an IPv4 address's 16 bytes is zero
    src[1] = dst[1] = 0;
  } else {
    std::memcpy(src, &pkt.subspan(8, 16)[0], 16);
    std::memcpy(dst, &pkt.subspan(24, 16)[0], 16);
  }
  return MakeKeyWords(p.af, p.proto, src[0], src[1], dst[0], dst[1], p.sport, p.dport, dir, key);
}

}  // namespace

Verdict Engine::Test(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, TimeNs now, uint16_t pf_tag,
                     InterfaceId rcvif) {
  if (opts_.purge_budget) Purge(now, opts_.purge_budget);
  if (ifp < ifaces_.size() && ifaces_[ifp].skip) return Verdict{};
  PacketInfo p;
  if (!ParsePacket(pkt, p)) return Malformed(counters_);
  StateKey key;
  uint32_t tag = 0;
  if (LooksUpOwnKey(p)) tag = PacketKey(pkt, p, dir, key);
  Verdict v;
  TestParsed(dir, ifp, pkt, p, key, tag, pf_tag, rcvif, now, v);
  return v;
}

// What the batch pipeline hands over for each packet.
struct Engine::Pipelined {
  PacketInfo info;
  StateKey key;
  uint32_t tag = 0;
  uint8_t stage = 0;  // 0 skip, 1 malformed, 2 parsed, 3 parsed and looked up by its key
};

template <typename Fn>
void Engine::Pipeline(std::span<const BatchPacket> batch, size_t n, Fn&& test) {
  // A software pipeline: packet i is parsed and its index bucket prefetched,
  // kAhead packets later its state's cache lines are prefetched, and kAhead
  // packets after that it is tested. Each miss thus has the work of kAhead
  // packets to complete in.
  constexpr size_t kAhead = 6;
  constexpr size_t kRing = 2 * kAhead + 1;
  std::array<Pipelined, kRing> ring;
  for (size_t i = 0; i < n + 2 * kAhead; ++i) {
    if (i < n) {
      const BatchPacket& b = batch[i];
      Pipelined& q = ring[i % kRing];
      q.stage = 0;
      if (b.ifp >= ifaces_.size() || !ifaces_[b.ifp].skip) {
        q.info = PacketInfo{};
        q.stage = ParsePacket(b.pkt, q.info) ? 2 : 1;
        if (q.stage == 2 && LooksUpOwnKey(q.info)) {
          q.tag = PacketKey(b.pkt, q.info, b.dir, q.key);
          q.stage = 3;
          states_.PrefetchBucket(q.tag);
        }
      }
    }
    if (i >= kAhead && i - kAhead < n) {
      const Pipelined& q = ring[(i - kAhead) % kRing];
      if (q.stage == 3) states_.PrefetchState(q.tag);
    }
    if (i >= 2 * kAhead && i - 2 * kAhead < n) {
      const size_t k = i - 2 * kAhead;
      test(k, batch[k], ring[k % kRing]);
    }
  }
}

void Engine::TestBatch(std::span<const BatchPacket> batch, std::span<Verdict> out, TimeNs now) {
  const size_t n = std::min(batch.size(), out.size());
  if (opts_.purge_budget) Purge(now, opts_.purge_budget * n);
  Pipeline(batch, n, [&](size_t k, const BatchPacket& b, Pipelined& q) {
    if (q.stage == 0) {
      out[k] = Verdict{};
    } else if (q.stage == 1) {
      out[k] = Malformed(counters_);
    } else {
      TestParsed(b.dir, b.ifp, b.pkt, q.info, q.key, q.tag, b.pf_tag, b.rcvif, now, out[k]);
    }
  });
}

namespace {

// Adds a worker's gathered counts to its rule; atomic because other workers
// may add to the same rule at the same time.
void FlushRuleDelta(Engine::SharedContext::RuleDelta& d) {
  if (d.rule == nullptr) return;
  for (int i = 0; i < 2; ++i) {
    if (d.packets[i] != 0) std::atomic_ref(d.rule->packets[i]).fetch_add(d.packets[i], std::memory_order_relaxed);
    if (d.bytes[i] != 0) std::atomic_ref(d.rule->bytes[i]).fetch_add(d.bytes[i], std::memory_order_relaxed);
  }
  d = Engine::SharedContext::RuleDelta{};
}

uint32_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

}  // namespace

bool Engine::TestShared(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, TimeNs now, uint16_t pf_tag,
                        InterfaceId /*rcvif: only rules look at it*/, SharedContext& ctx, Verdict& v) {
  if (ifp < ifaces_.size() && ifaces_[ifp].skip) {
    v.Reset();
    return true;
  }
  PacketInfo p;
  if (!ParsePacket(pkt, p)) {
    v = Malformed(ctx.counters);
    return true;
  }
  if (!LooksUpOwnKey(p)) return false;
  StateKey key;
  const uint32_t tag = PacketKey(pkt, p, dir, key);
  return TestSharedState(dir, ifp, pkt, p, key, tag, now, pf_tag, ctx, v);
}

bool Engine::TestSharedState(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, PacketInfo& p, const StateKey& key,
                             uint32_t tag, TimeNs now, uint16_t pf_tag, SharedContext& ctx, Verdict& v) {
  const uint32_t idx = states_.Find(key, tag, dir);
  if (idx == kNoIndex) return false;
  const uint32_t now_s = static_cast<uint32_t>(now / 1000000000);
  StripeGuard guard(StripeOf(idx));
  v.Reset();
  if (TestState(idx, dir, ifp, pkt, p, now_s, &ctx, v) != StateOutcome::kDone) {
    return false;
  }
  const State& s = states_.at(idx);
  ctx.counters.state_searches++;
  v.tag = s.tag ? s.tag : pf_tag;
  CountPacket(ctx.counters, p, dir, v.action == Action::kPass);
  if (observer_ != nullptr && v.action == Action::kPass) ctx.updated.emplace_back(idx, s.id);
  return true;
}

void Engine::TestSharedBatch(std::span<const BatchPacket> batch, TimeNs now, SharedContext& ctx,
                             std::span<Verdict> out, std::span<bool> done, bool stop_at_decline) {
  bool stopped = false;
  Pipeline(batch, std::min({batch.size(), out.size(), done.size()}),
           [&](size_t k, const BatchPacket& b, Pipelined& q) {
             done[k] = true;
             if (stopped) {
               done[k] = false;
             } else if (q.stage == 0) {
               out[k].Reset();
             } else if (q.stage == 1) {
               out[k] = Malformed(ctx.counters);
             } else if (q.stage == 2) {
               done[k] = false;  // no key of its own (ICMP error, fragment): the write side's
             } else {
               done[k] = TestSharedState(b.dir, b.ifp, b.pkt, q.info, q.key, q.tag, now, b.pf_tag, ctx, out[k]);
             }
             if (!done[k] && stop_at_decline) stopped = true;
           });
}

void Engine::FlushRuleCounters(SharedContext& ctx) {
  for (SharedContext::RuleDelta& d : ctx.rule_deltas) FlushRuleDelta(d);
}

void Engine::ReportShared(SharedContext& ctx, TimeNs now) {
  // Slots are freed only under the write side, and what the observer reads
  // of the state here (id, creator, keys, flags) never changes after creation.
  if (observer_ != nullptr) {
    for (const auto& [idx, id] : ctx.updated) {
      if (states_.valid(idx) && states_.at(idx).id == id) observer_->StateUpdated(idx, states_.at(idx), now);
    }
  }
  ctx.updated.clear();
}

void Engine::MergeShared(SharedContext& ctx, TimeNs now) {
  FlushRuleCounters(ctx);
  counters_ += ctx.counters;
  ctx.counters = Counters{};
  ReportShared(ctx, now);
  ctx.rng ^= (uint64_t{NextRandom()} << 32) | NextRandom();
}

void Engine::TestParsed(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, PacketInfo& p, const StateKey& key,
                        uint32_t tag, uint16_t pf_tag, InterfaceId rcvif, TimeNs now, Verdict& v) {
  const uint32_t now_s = static_cast<uint32_t>(now / 1000000000);
  v.Reset();
  if (p.icmp_error && p.quoted) {
    bool found = false;
    v = TestIcmpError(dir, ifp, pkt, p, now_s, found);
    if (found) {
      v.tag = v.state != kNoIndex && states_.at(v.state).tag ? states_.at(v.state).tag : pf_tag;
      CountPacket(p, dir, v.action == Action::kPass);
      return;
    }
  } else if (!p.fragment) {
    counters_.state_searches++;
    const uint32_t idx = states_.Find(key, tag, dir);
    if (idx != kNoIndex) {
      if (TestState(idx, dir, ifp, pkt, p, now_s, nullptr, v) == StateOutcome::kDone) {
        v.tag = states_.valid(idx) && states_.at(idx).tag ? states_.at(idx).tag : pf_tag;
        CountPacket(p, dir, v.action == Action::kPass);
        if (observer_ && v.action == Action::kPass && states_.valid(idx)) {
          observer_->StateUpdated(idx, states_.at(idx), now);
        }
        return;
      }
    }
  }
  v = TestRules(dir, ifp, pkt, p, pf_tag, rcvif, now_s);
  CountPacket(p, dir, v.action == Action::kPass);
  if (observer_ && v.new_state && states_.valid(v.state)) observer_->StateCreated(v.state, states_.at(v.state), now);
}

Engine::StateOutcome Engine::TestState(uint32_t idx, Direction dir, InterfaceId ifp, std::span<uint8_t> pkt,
                                       PacketInfo& p, uint32_t now_s, SharedContext* shared, Verdict& v) {
  Counters& c = shared != nullptr ? shared->counters : counters_;
  State& s = states_.at(idx);
  // if-bound state of another interface: the rules decide (on both paths).
  if (s.ifindex && s.ifindex != ifp) return shared ? StateOutcome::kNeedsExclusive : StateOutcome::kReevaluate;
  const bool from_src = static_cast<uint8_t>(dir) == s.direction;
  Rule* rule = RuleByRef(s.rule_ref);
  if (p.proto == kProtoTcp) {
    if (s.src.state == kTcpProxySrc || s.src.state == kTcpProxyDst) {
      // Replies and randomness: the write side's.
      if (shared != nullptr) return StateOutcome::kNeedsExclusive;
      Synproxy(s, p, dir, v);
      v.state = idx;
      v.rule_ref = s.rule_ref;
      SetRuleNumbers(v, s);
      s.expire = now_s;
      return StateOutcome::kDone;
    }
    // Removal and source-node accounting change shared structures: write side.
    if (TcpIsReuse(s, p)) {
      if (shared) return StateOutcome::kNeedsExclusive;
      RemoveState(idx);
      return StateOutcome::kReevaluate;
    }
    if (shared && s.src_node != kNoIndex) return StateOutcome::kNeedsExclusive;
    // Only the first reply on a modulated state draws (its ISN offset).
    const Peer& sender = from_src ? s.src : s.dst;
    const Peer& receiver = from_src ? s.dst : s.src;
    uint32_t random = 0;
    if (receiver.seqdiff != 0 && sender.seqdiff == 0) random = shared ? SplitMix(shared->rng) : NextRandom();
    const TcpVerdict tv = TcpTrack(s, p, from_src, random);
    if (tv == TcpVerdict::kBadState) {
      c.reasons[kResBadState]++;
      v.action = Action::kBlock;
      v.reason = kResBadState;
      v.state = idx;
      v.rule_ref = s.rule_ref;
      SetRuleNumbers(v, s);
      if (rule && rule->log) {
        v.log = true;
        FillPflog(v, dir, ifp, p);
      }
      return StateOutcome::kDone;
    }
    if (tv == TcpVerdict::kEstablished && s.src_node != kNoIndex && SrcConnLimit(idx, now_s)) {
      v.action = Action::kBlock;
      v.reason = kResSrcLimit;
      c.reasons[kResSrcLimit]++;
      return StateOutcome::kDone;
    }
    const Peer& src = from_src ? s.src : s.dst;
    const Peer& dst = from_src ? s.dst : s.src;
    if (src.seqdiff || dst.seqdiff) {
      RewriteTcpSeqAck(pkt, p, p.seq + src.seqdiff, (p.flags & kAck) ? p.ack - dst.seqdiff : p.ack);
      v.rewritten = true;
    }
  } else if (p.icmp_query) {
    s.timeout = kTmIcmpError;
  } else {
    Peer& src = from_src ? s.src : s.dst;
    Peer& dst = from_src ? s.dst : s.src;
    if (src.state < kSingle) src.state = kSingle;
    if (dst.state == kSingle) dst.state = kMultiple;
    s.timeout = OtherTimeout(p.proto, src.state == kMultiple && dst.state == kMultiple ? 2 : 1);
  }
  s.expire = now_s;
  const int d = from_src ? 0 : 1;
  s.packets[d]++;
  s.bytes[d] += p.l3_len;
  if (rule) {
    const int rd = dir == Direction::kOut;
    if (shared != nullptr) {
      SharedContext::RuleDelta& delta = shared->rule_deltas[s.rule_ref % shared->rule_deltas.size()];
      if (delta.rule != rule) {
        FlushRuleDelta(delta);
        delta.rule = rule;
      }
      delta.packets[rd]++;
      delta.bytes[rd] += p.l3_len;
    } else {
      rule->packets[rd]++;
      rule->bytes[rd] += p.l3_len;
    }
  }
  // Translate to the other key: packets found by the wire key leave with the
  // stack key's addresses and vice versa.
  if (s.split) {
    const StateKey& to = s.key[dir == Direction::kOut ? kWire : kStack];
    const int sidx = dir == Direction::kOut ? 1 : 0;
    RewriteSource(pkt, p, to.Addr(sidx), to.port[sidx]);
    RewriteDestination(pkt, p, to.Addr(1 - sidx), to.port[1 - sidx]);
    v.rewritten = true;
  }
  v.action = Action::kPass;
  v.state = idx;
  v.rule_ref = s.rule_ref;
  SetRuleNumbers(v, s);
  if (s.log & 0x02) {
    v.log = true;
    FillPflog(v, dir, ifp, p);
  }
  return StateOutcome::kDone;
}

Verdict Engine::TestIcmpError(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, PacketInfo& p,
                              uint32_t now_s, bool& found) {
  Verdict v;
  const QuotedInfo q = *p.quoted;
  // The quoted packet travelled the other way: key it as such, but look it up
  // on the side (wire/stack) of the error itself.
  counters_.state_searches++;
  const StateKey key = MakeKey(p.af, q.proto, q.src, q.dst, q.sport, q.dport, Reverse(dir));
  const uint32_t idx = states_.Find(key, dir);
  if (idx == kNoIndex) return v;
  State& s = states_.at(idx);
  if (s.ifindex && s.ifindex != ifp) return v;
  found = true;
  if (q.proto == kProtoTcp) {
    // The quoted segment was sent by the peer the error is addressed to.
    const bool quoted_from_src = static_cast<uint8_t>(Reverse(dir)) == s.direction;
    const Peer& src = quoted_from_src ? s.src : s.dst;
    const Peer& dst = quoted_from_src ? s.dst : s.src;
    const uint32_t seq = q.tcp_seq - src.seqdiff;
    const uint8_t dws = (src.wscale && dst.wscale) ? (dst.wscale & kWscaleMask) : 0;
    if (static_cast<int32_t>(src.seqhi - seq) < 0 ||
        static_cast<int32_t>(seq - (src.seqlo - (uint32_t{dst.max_win} << dws))) < 0) {
      counters_.reasons[kResBadState]++;
      v.action = Action::kBlock;
      v.reason = kResBadState;
      v.state = idx;
      return v;
    }
  }
  (void)now_s;
  if (s.split) {
    const StateKey& to = s.key[dir == Direction::kOut ? kWire : kStack];
    const int isidx = dir == Direction::kIn ? 1 : 0;  // index of the quoted source
    const net::IpAddr new_qsrc = to.Addr(isidx), new_qdst = to.Addr(1 - isidx);
    // Outer addresses first: the quoted rewrite recomputes the ICMP checksum
    // over the final outer pseudo-header.
    if (new_qsrc != q.src || to.port[isidx] != q.sport) RewriteDestination(pkt, p, new_qsrc, p.dport);
    if (new_qdst != q.dst || to.port[1 - isidx] != q.dport) RewriteSource(pkt, p, new_qdst, p.sport);
    RewriteQuoted(pkt, p, true, new_qsrc, to.port[isidx]);
    RewriteQuoted(pkt, p, false, new_qdst, to.port[1 - isidx]);
    v.rewritten = true;
  }
  v.action = Action::kPass;
  v.state = idx;
  v.rule_ref = s.rule_ref;
  SetRuleNumbers(v, s);
  return v;
}

Verdict Engine::TestRules(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, PacketInfo& p, uint16_t pf_tag,
                          InterfaceId rcvif, uint32_t now_s) {
  EvalResult res;
  res.tag = pf_tag;
  res.rcvif = dir == Direction::kIn ? ifp : rcvif;
  MatchRuleset(main_, p, dir, ifp, res, 0, nullptr);
  Verdict v;
  v.tag = res.tag;
  Rule* r = res.rule;
  if (r) {
    // pf.conf(5) `once`: the first packet the rule decides expires it (pf
    // marks it PFRULE_EXPIRED and skips it; its states live on).
    if (r->once) r->expired = true;
    v.rule_ref = r->ref;
    v.rule_nr = res.anchor_rule ? res.anchor_rule->nr : r->nr;
    v.subrule_nr = res.anchor_rule ? r->nr : kNoRule;
    r->packets[dir == Direction::kOut]++;
    r->bytes[dir == Direction::kOut] += p.l3_len;
  }
  res.log |= res.match_log;
  v.log = res.log != 0;
  counters_.reasons[kResMatch]++;
  auto block = [&](Reason reason) {
    v.action = Action::kBlock;
    v.reason = reason;
    if (reason != kResMatch) counters_.reasons[reason]++;
    if (v.log) FillPflog(v, dir, ifp, p);
    return v;
  };
  if (r && r->action == Action::kBlock) {
    BuildReply(*r, p, pkt, v);
    return block(kResMatch);
  }
  v.action = Action::kPass;

  // Translation (from the final rule or the last match rule carrying it).
  const PacketInfo before = p;
  net::IpAddr nat_addr, rdr_addr;
  uint16_t nat_port = p.sport, rdr_port = p.dport;
  const bool want_state = r && r->keep_state != KeepState::kNone && !p.fragment;
  if (res.rdr) {
    Pool& pool = *res.rdr->rdr;
    if (!ChooseAddress(*res.rdr, pool, p.src, rdr_addr, now_s)) return block(kResTranslate);
    if (pool.port_lo && HasPorts(p.proto)) {
      // rdr-to addr port a[:b]: map the original port range onto a:b.
      rdr_port = pool.port_lo;
      if (pool.port_hi > pool.port_lo) {
        uint32_t span = pool.port_hi - pool.port_lo + 1u;
        uint16_t base = res.rdr->dport.empty() ? p.dport : res.rdr->dport.front().lo;
        rdr_port = static_cast<uint16_t>(pool.port_lo + (uint32_t(p.dport - base) % span));
      }
    }
  }
  if (res.nat) {
    Pool& pool = *res.nat->nat;
    if (!ChooseAddress(*res.nat, pool, p.src, nat_addr, now_s)) return block(kResTranslate);
  }

  StateKey orig_key = MakeKey(p.af, p.proto, p.src, p.dst, p.sport, p.dport, dir);
  StateKey new_key = orig_key;
  const int sidx = dir == Direction::kOut ? 1 : 0;
  if (res.rdr) {
    new_key.SetAddr(1 - sidx, rdr_addr);
    if (HasPorts(p.proto)) new_key.port[1 - sidx] = rdr_port;
  }
  if (res.nat) {
    new_key.SetAddr(sidx, nat_addr);
    const Pool& pool = *res.nat->nat;
    if (HasPorts(p.proto) || (p.icmp_query && !p.icmp_reply)) {
      uint16_t port;
      if (!AllocatePort(new_key, sidx, pool, p.sport, port)) return block(kResTranslate);
      nat_port = port;
      new_key.port[sidx] = port;
    }
  }

  uint32_t idx = kNoIndex;
  if (want_state) {
    if (states_.size() >= opts_.limits.states) return block(kResStateLimit);
    if (r->max_states && r->states_cur >= r->max_states) {
      counters_.limits[kLcMaxStatesPerRule]++;
      return block(kResStateLimit);
    }
    uint32_t sn = kNoIndex;
    const bool tracks = r->source_track || r->max_src_nodes || r->max_src_states || r->max_src_conn ||
                        r->max_src_conn_rate || (r->nat && r->nat->sticky) || (r->rdr && r->rdr->sticky);
    if (tracks) {
      sn = SrcNodeFor(*r, p.src, now_s, true);
      if (sn == kNoIndex) {
        counters_.limits[kLcMaxSrcNodes]++;
        return block(kResSrcLimit);
      }
      if (r->max_src_states && src_nodes_[sn].states >= r->max_src_states) {
        counters_.limits[kLcMaxSrcStates]++;
        return block(kResSrcLimit);
      }
    }
    State s;
    // Wire key: as seen on the wire (inbound before, outbound after translation).
    s.key[kWire] = dir == Direction::kIn ? orig_key : new_key;
    s.key[kStack] = dir == Direction::kIn ? new_key : orig_key;
    s.direction = static_cast<uint8_t>(dir);
    s.ifindex = (r->if_bound || opts_.if_bound_default) ? ifp : 0;
    s.creatorid = opts_.hostid;
    s.creation = s.expire = now_s;
    s.rule_ref = r->ref;
    s.rule = r->nr;
    s.anchor = res.anchor_rule ? res.anchor_rule->nr : kNoRule;
    s.log = res.log;
    s.tag = res.set_tag;
    if (r->no_sync) s.state_flags |= kSfNoSync;
    if (r->allow_opts) s.state_flags |= kSfAllowOpts;
    if (p.proto == kProtoTcp) {
      TcpInitState(s, p);
      if (r->keep_state == KeepState::kModulate && (p.flags & (kSyn | kAck)) == kSyn) {
        const uint32_t iss = NextRandom();
        s.src.seqdiff = iss - p.seq ? iss - p.seq : 1;
      }
    } else if (p.icmp_query) {
      s.timeout = kTmIcmpFirst;
    } else {
      s.src.state = kSingle;
      s.dst.state = kNoTraffic;
      s.timeout = OtherTimeout(p.proto, 0);
    }
    s.packets[0] = 1;
    s.bytes[0] = p.l3_len;
    s.src_node = sn;
    s.id = next_state_id_++;
    counters_.state_searches++;
    idx = states_.Insert(s);
    if (idx == kNoIndex) {
      --next_state_id_;
      return block(kResStateInsert);
    }
    counters_.state_inserts++;
    r->states_cur++;
    r->states_tot++;
    if (sn != kNoIndex) {
      src_nodes_[sn].states++;
      states_.at(idx).sync_flags |= 0x04;
    }
    v.state = idx;
    v.new_state = true;
    if (r->keep_state == KeepState::kSynproxy && p.proto == kProtoTcp && (p.flags & (kSyn | kAck)) == kSyn) {
      // The engine answers the SYN itself; nothing goes to the server yet.
      SynproxyStart(states_.at(idx), p, v);
      if (v.log) FillPflog(v, dir, ifp, p);
      return v;
    }
    if (states_.at(idx).src.seqdiff) {
      RewriteTcpSeqAck(pkt, p, p.seq + states_.at(idx).src.seqdiff, p.ack);
      v.rewritten = true;
    }
  }
  if (res.nat || res.rdr) {
    const StateKey& to = new_key;
    RewriteSource(pkt, p, to.Addr(sidx), (HasPorts(p.proto) || p.icmp_query) ? to.port[sidx] : p.sport);
    RewriteDestination(pkt, p, to.Addr(1 - sidx), (HasPorts(p.proto) || p.icmp_query) ? to.port[1 - sidx] : p.dport);
    v.rewritten = v.rewritten || p.src != before.src || p.dst != before.dst || p.sport != before.sport ||
                  p.dport != before.dport;
  }
  (void)nat_port;
  if (v.log) FillPflog(v, dir, ifp, before);
  return v;
}

void Engine::RemoveState(uint32_t idx, bool notify) {
  State& s = states_.at(idx);
  if (!s.live) return;
  if (notify && observer_) observer_->StateRemoving(idx, s);
  if (Rule* r = RuleByRef(s.rule_ref); r && r->states_cur) {
    r->states_cur--;
    ReleaseRule(*r);
  }
  if (s.src_node != kNoIndex && s.src_node < src_nodes_.size()) {
    SrcNode& n = src_nodes_[s.src_node];
    if (n.states) n.states--;
    if (n.states == 0) n.expire = s.expire;
  }
  states_.Remove(idx);
  counters_.state_removals++;
}

uint64_t Engine::ExpiresAt(const State& s) const {
  const Rule* r = s.rule_ref < by_ref_.size() ? by_ref_[s.rule_ref] : nullptr;
  return StateExpiry(s.expire, s.timeout, r ? &r->timeouts : nullptr, opts_.timeouts, r ? r->states_cur : 0,
                     static_cast<uint32_t>(states_.size()));
}

bool Engine::Expired(const State& s, uint64_t now_s) const {
  const Rule* r = s.rule_ref < by_ref_.size() ? by_ref_[s.rule_ref] : nullptr;
  return StateExpired(s.expire, s.timeout, r ? &r->timeouts : nullptr, opts_.timeouts, r ? r->states_cur : 0,
                      static_cast<uint32_t>(states_.size()), now_s);
}

size_t Engine::Purge(TimeNs now, size_t budget) {
  const uint64_t now_s = static_cast<uint64_t>(now / 1000000000);
  size_t removed = 0;
  states_.PurgeStep(budget, [&](uint32_t idx, State& s) {
    if (Expired(s, now_s)) {
      RemoveState(idx);
      ++removed;
    }
  });
  // Source nodes without states live on for src.track seconds.
  const size_t src_budget = std::min(budget, src_nodes_.size());
  for (size_t i = 0; i < src_budget; ++i) {
    if (src_cursor_ >= src_nodes_.size()) src_cursor_ = 0;
    const uint32_t si = src_cursor_++;
    SrcNode& n = src_nodes_[si];
    if (!n.live || n.states) continue;
    if (uint64_t{n.expire} + opts_.timeouts.v[kTmSrcTrack] > now_s) continue;
    FreeSrcNode(si);
  }
  CollectRetired();
  return removed;
}

void Engine::FreeSrcNode(uint32_t si) {
  SrcNode& n = src_nodes_[si];
  std::array<uint8_t, 17> k{};
  std::copy(n.addr.bytes().begin(), n.addr.bytes().end(), k.begin());
  k[16] = static_cast<uint8_t>(n.addr.family());
  src_index_.erase({n.rule_ref, k});
  if (Rule* r = RuleByRef(n.rule_ref); r && r->src_nodes) {
    r->src_nodes--;
    ReleaseRule(*r);
  }
  n.live = false;
  src_free_.push_back(si);
  counters_.src_removals++;
}

size_t Engine::RemoveStatesWhere(const std::function<bool(const State&)>& doomed) {
  // Collected first: removing while walking would move states under the walk.
  std::vector<uint32_t> victims;
  states_.ForEach([&](uint32_t idx, State& s) {
    if (doomed(s)) victims.push_back(idx);
  });
  for (uint32_t idx : victims) RemoveState(idx);
  return victims.size();
}

// The originator is key index 0 for inbound states, 1 for outbound.
static int OriginatorSide(const State& s) { return s.direction == static_cast<uint8_t>(Direction::kOut) ? 1 : 0; }

size_t Engine::KillStatesFrom(const net::IpAddr& src, uint32_t rule_ref) {
  return RemoveStatesWhere([&](const State& s) {
    if (rule_ref != kNoRule && s.rule_ref != rule_ref) return false;
    const int sidx = OriginatorSide(s);
    return s.key[kWire].Addr(sidx) == src || s.key[kStack].Addr(sidx) == src;
  });
}

size_t Engine::KillStates(const net::Prefix& src, const net::Prefix* dst) {
  return RemoveStatesWhere([&](const State& s) {
    const int sidx = OriginatorSide(s);
    bool from = false, to = dst == nullptr;
    for (int k : {kWire, kStack}) {
      from |= src.Contains(s.key[k].Addr(sidx));
      if (dst) to |= dst->Contains(s.key[k].Addr(1 - sidx));
    }
    return from && to;
  });
}

size_t Engine::KillSrcNodes(const net::Prefix& src, const net::Prefix* dst) {
  std::vector<uint32_t> victims;
  for (uint32_t si = 0; si < src_nodes_.size(); ++si) {
    const SrcNode& n = src_nodes_[si];
    if (!n.live || !src.Contains(n.addr)) continue;
    if (dst && !dst->Contains(n.raddr)) continue;
    victims.push_back(si);
  }
  if (victims.empty()) return 0;
  std::vector<bool> doomed(src_nodes_.size());
  for (uint32_t si : victims) doomed[si] = true;
  states_.ForEach([&](uint32_t, State& s) {
    if (s.src_node < doomed.size() && doomed[s.src_node]) {
      s.src_node = kNoIndex;
      s.sync_flags &= static_cast<uint8_t>(~0x04);
    }
  });
  for (uint32_t si : victims) FreeSrcNode(si);
  return victims.size();
}

std::vector<Engine::SrcNodeView> Engine::SrcNodes() const {
  std::vector<SrcNodeView> out;
  for (const SrcNode& n : src_nodes_) {
    if (!n.live) continue;
    const Rule* r = n.rule_ref < by_ref_.size() ? by_ref_[n.rule_ref] : nullptr;
    out.push_back({n.addr, n.raddr, n.states, n.conn, n.rate_count, r ? r->nr : kNoRule});
  }
  return out;
}

void Engine::FlushStates() {
  RemoveStatesWhere([](const State&) { return true; });
}

uint32_t Engine::SrcNodeFor(Rule& r, const net::IpAddr& src, uint32_t now_s, bool create) {
  std::array<uint8_t, 17> k{};
  std::copy(src.bytes().begin(), src.bytes().end(), k.begin());
  k[16] = static_cast<uint8_t>(src.family());
  counters_.src_searches++;
  auto it = src_index_.find({r.ref, k});
  if (it != src_index_.end()) return it->second;
  if (!create) return kNoIndex;
  if (r.max_src_nodes && r.src_nodes >= r.max_src_nodes) return kNoIndex;
  if (src_index_.size() >= opts_.limits.src_nodes) return kNoIndex;
  uint32_t si;
  if (!src_free_.empty()) {
    si = src_free_.back();
    src_free_.pop_back();
  } else {
    si = static_cast<uint32_t>(src_nodes_.size());
    src_nodes_.emplace_back();
  }
  SrcNode& n = src_nodes_[si];
  n = SrcNode{};
  n.addr = src;
  n.rule_ref = r.ref;
  n.expire = now_s;
  n.rate_start = now_s;
  n.live = true;
  src_index_[{r.ref, k}] = si;
  r.src_nodes++;
  counters_.src_inserts++;
  return si;
}

bool Engine::SrcConnLimit(uint32_t idx, uint32_t now_s) {
  State& s = states_.at(idx);
  SrcNode& n = src_nodes_[s.src_node];
  Rule* r = RuleByRef(s.rule_ref);
  if (!r) return false;
  n.conn++;
  // Connection rate: a fixed window of max_src_conn_rate_seconds.
  if (r->max_src_conn_rate_seconds && now_s - n.rate_start >= r->max_src_conn_rate_seconds) {
    n.rate_start = now_s;
    n.rate_count = 0;
  }
  n.rate_count++;
  bool bad = false;
  if (r->max_src_conn && n.conn > r->max_src_conn) {
    counters_.limits[kLcMaxSrcConn]++;
    bad = true;
  }
  if (r->max_src_conn_rate && n.rate_count > r->max_src_conn_rate) {
    counters_.limits[kLcMaxSrcConnRate]++;
    bad = true;
  }
  if (!bad) return false;
  const net::IpAddr offender = n.addr;
  if (r->overload) {
    counters_.limits[kLcOverloadTable]++;
    r->overload->Add(net::Prefix::Host(offender));
    if (r->overload_flush) {
      counters_.limits[kLcOverloadFlush]++;
      KillStatesFrom(offender, r->overload_flush_global ? kNoRule : r->ref);
    }
  }
  if (states_.valid(idx)) RemoveState(idx);
  return true;
}

}  // namespace hapf::pf::engine
