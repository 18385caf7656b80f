// libFuzzer target: random packet sequences against a fixed ruleset with NAT,
// rdr, tables, limits and tags, reloaded at random points (states then live on
// under retired rules). Invariants: no crash, every live state is found
// through both of its keys and its rule resolves, rewrites keep valid
// checksums valid, and a purge far in the future empties the table and frees
// every retired ruleset.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "engine_test_util.h"
#include "pf/engine.h"

using namespace hapf::pf::engine;
using hapf::pf::engine::testing::kSec;
using hapf::pf::engine::testing::P;

namespace {

void CheckAt(bool ok, int line) {
  if (!ok) {
    std::fprintf(stderr, "invariant failed at fuzz_engine.cc:%d\n", line);
    std::abort();
  }
}
#define Check(x) CheckAt((x), __LINE__)

void LoadRules(Engine& e) {
  auto bad = e.GetTable("bad");
  Ruleset rs;
  rs.rules.push_back(BlockRule());
  rs.rules.back().block_policy = BlockPolicy::kReturn;
  Rule quick = BlockRule();
  quick.quick = true;
  quick.src = AddrSpec::OfTable(bad);
  rs.rules.push_back(quick);
  Rule nat = PassRule();
  nat.dir = Direction::kOut;
  nat.ifgroup = e.GroupId("em0");
  nat.src = AddrSpec::Of(P("10.0.0.0/8"));
  Pool pool;
  pool.addrs.push_back(P("198.51.100.0/30"));
  pool.port_lo = 1024;
  pool.port_hi = 1040;
  nat.nat = pool;
  nat.tag = e.TagId("NAT");
  rs.rules.push_back(nat);
  Rule rdr = PassRule();
  rdr.dir = Direction::kIn;
  rdr.proto = kProtoTcp;
  Pool rp;
  rp.addrs.push_back(P("10.0.0.20"));
  rp.port_lo = 80;
  rdr.rdr = rp;
  rdr.dport = {{PortRange::Op::kEq, 8080, 0}};
  rdr.max_src_conn = 3;
  rdr.overload = bad;
  rdr.overload_flush = true;
  rs.rules.push_back(rdr);
  Rule mod = PassRule();
  mod.keep_state = KeepState::kModulate;
  mod.proto = kProtoTcp;
  mod.dport = {{PortRange::Op::kLt, 1024, 0}};
  rs.rules.push_back(mod);
  Rule proxy = PassRule();  // after `mod`: ports 1024..2047 get synproxy
  proxy.keep_state = KeepState::kSynproxy;
  proxy.proto = kProtoTcp;
  proxy.dport = {{PortRange::Op::kInclusive, 1024, 2047}};
  rs.rules.push_back(proxy);
  Rule icmp = PassRule();
  icmp.proto = kProtoIcmp;
  rs.rules.push_back(icmp);
  Rule udp = PassRule();
  udp.proto = kProtoUdp;
  udp.max_states = 10;
  udp.timeouts.v[kTmUdpFirst] = 30;
  rs.rules.push_back(udp);
  Rule untagged = BlockRule();  // out on em1: only what the NAT rule tagged
  untagged.dir = Direction::kOut;
  untagged.ifgroup = e.GroupId("em1");
  untagged.proto = kProtoUdp;
  untagged.match_tag = e.TagId("NAT");
  untagged.match_tag_not = true;
  rs.rules.push_back(untagged);
  e.LoadRuleset(rs);
}

std::unique_ptr<Engine> MakeEngine(InterfaceId& ext, InterfaceId& lan) {
  EngineOptions o;
  o.limits.states = 64;
  auto engine = std::make_unique<Engine>(o);
  ext = engine->AddInterface("em0");
  lan = engine->AddInterface("em1");
  LoadRules(*engine);
  return engine;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One engine for the whole run (its state table preallocates in chunks);
  // every input starts from an empty table, fresh tables and a seeded RNG.
  static InterfaceId ext = 0, lan = 0;
  static std::unique_ptr<Engine> engine = MakeEngine(ext, lan);
  Engine& e = *engine;
  e.FlushStates();
  auto bad = e.GetTable("bad");
  bad->Clear();
  bad->Add(P("203.0.113.128/25"));
  bad->Add(P("203.0.113.200/32"), true);
  uint32_t rng = 12345;
  e.options().random = [&rng] { return rng = rng * 1103515245u + 12345u; };
  TimeNs now = 1000 * kSec;
  uint16_t tag = 0;
  size_t i = 0;
  while (i + 2 <= size) {
    const uint8_t ctl = data[i];
    const size_t len = std::min<size_t>(data[i + 1] + (ctl & 0x40 ? 256 : 0), size - i - 2);
    std::vector<uint8_t> pkt(data + i + 2, data + i + 2 + len);
    i += 2 + len;
    const Direction dir = (ctl & 1) ? Direction::kOut : Direction::kIn;
    const InterfaceId ifp = (ctl & 2) ? lan : ext;
    now += (ctl >> 2 & 0x0f) * kSec * 7;
    if (ctl & 0x80) LoadRules(e);
    const bool valid_before = hapf::pf::engine::testing::ChecksumError(pkt).empty();
    const Verdict v = e.Test(dir, ifp, pkt, now, tag);
    tag = v.tag;  // the next packet as if it were this one forwarded
    Check(v.action == Action::kPass || v.action == Action::kBlock);
    if (v.action == Action::kPass && v.rewritten && valid_before)
      Check(hapf::pf::engine::testing::ChecksumError(pkt).empty());
    if (!v.reply.empty() && valid_before) Check(hapf::pf::engine::testing::ChecksumError(v.reply).empty());
    if (!v.forward.empty()) Check(hapf::pf::engine::testing::ChecksumError(v.forward).empty());
    // Every live state is reachable through both keys.
    size_t live = 0;
    e.states().ForEach([&](uint32_t idx, State& s) {
      ++live;
      Check(e.states().Find(s.key[kWire], Direction::kIn) == idx);
      Check(e.states().Find(s.key[kStack], Direction::kOut) == idx);
      Check(s.rule_ref == kNoRule || e.RuleByRef(s.rule_ref) != nullptr);
    });
    Check(live == e.states().size());
    Check(e.states().size() <= 64);
  }
  e.Purge(now + 400000 * kSec, 1 << 20);
  Check(e.states().size() == 0);
  e.Purge(now + 800000 * kSec, 1 << 20);  // source nodes outlive their states by src.track
  Check(e.retired_rulesets() == 0);
  e.options().random = nullptr;
  return 0;
}
