// States over time: timeouts on a fake clock, adaptive timeouts, limits,
// source tracking and overload tables, export/import, block return.
#include <gtest/gtest.h>

#include "engine_fixture.h"
#include "pf/engine.h"

namespace hapf::pf::engine {
namespace {

using namespace testing;

class StateTest : public EngineFixture {
 protected:
  void LoadPassAll(Rule r = PassRule()) { Load({r}); }
};

TEST_F(StateTest, UdpTimeoutsFollowSingleAndMultiple) {
  LoadPassAll();
  const uint32_t st = In(Udp("198.51.100.1", "192.0.2.1", 1000, 53)).state;
  ASSERT_NE(st, kNoIndex);
  EXPECT_EQ(e.states().at(st).timeout, kTmUdpFirst);
  now += 59 * kSec;
  PurgeAll();
  ASSERT_EQ(e.states().size(), 1u);  // udp.first = 60 s
  now += 2 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 0u);

  const uint32_t st2 = In(Udp("198.51.100.1", "192.0.2.1", 1001, 53)).state;
  Out(Udp("192.0.2.1", "198.51.100.1", 53, 1001));
  EXPECT_EQ(e.states().at(st2).timeout, kTmUdpSingle);
  In(Udp("198.51.100.1", "192.0.2.1", 1001, 53));
  EXPECT_EQ(e.states().at(st2).timeout, kTmUdpMultiple);
  EXPECT_EQ(e.states().at(st2).src.state, kMultiple);
  EXPECT_EQ(e.states().at(st2).dst.state, kMultiple);
  now += 59 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 1u);
  now += 2 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 0u);
  EXPECT_EQ(e.counters().state_removals, 2u);
}

TEST_F(StateTest, SetTimeoutAndPerRuleTimeouts) {
  e.options().timeouts.v[kTmOtherFirst] = 5;
  Rule r = PassRule();
  r.proto = kProtoUdp;
  r.timeouts.v[kTmUdpFirst] = 3;
  Ruleset rs;
  rs.rules.push_back(r);
  rs.rules.push_back(PassRule());
  rs.rules.back().proto = 47;  // gre: "other"
  e.LoadRuleset(rs);
  In(Udp("198.51.100.1", "192.0.2.1", 1, 2));
  In(RawProto("198.51.100.1", "192.0.2.1", 47));
  now += 4 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 1u);  // the udp state (3 s) is gone, gre (5 s) remains
  now += 2 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 0u);
}

TEST_F(StateTest, TcpEstablishedTimeoutOnFakeClock) {
  LoadPassAll();
  In(Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kSyn, 10, 0));
  now += 31 * kSec;  // tcp.first 120 s: still there
  PurgeAll();
  ASSERT_EQ(e.states().size(), 1u);
  Out(Tcp("192.0.2.1", "198.51.100.1", 80, 1000, kSyn | kAck, 50, 11));
  In(Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kAck, 11, 51));
  now += 86399 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 1u);
  now += 2 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 0u);
}

TEST_F(StateTest, AdaptiveTimeoutsScaleWithTheStateCount) {
  // 10 states between adaptive.start 5 and adaptive.end 15 halve the timeouts.
  e.options().timeouts.v[kTmAdaptiveStart] = 5;
  e.options().timeouts.v[kTmAdaptiveEnd] = 15;
  LoadPassAll();
  for (int i = 0; i < 10; ++i) In(Udp("198.51.100.1", "192.0.2.1", static_cast<uint16_t>(100 + i), 53));
  ASSERT_EQ(e.states().size(), 10u);
  const State& s = e.states().at(0);
  EXPECT_EQ(e.ExpiresAt(s), s.expire + 30u);  // 60 * (15 - 10) / (15 - 5)
  now += 31 * kSec;
  e.options().purge_budget = 0;
  e.Purge(now, 1);  // one state examined: exactly one removed (incremental)
  EXPECT_EQ(e.states().size(), 9u);
  PurgeAll();       // with 9 states the timeout is 36 s: the rest live on
  EXPECT_EQ(e.states().size(), 9u);
  now += 30 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 0u);
}

// The purge's division-free test agrees with the expiry pfctl shows, around
// every boundary: timeouts, adaptive thresholds and counts, ages.
TEST(StateExpiredTest, AgreesWithStateExpiry) {
  uint32_t x = 7;
  auto next = [&](uint32_t mod) { return (x = x * 1664525u + 1013904223u) % mod; };
  int expired = 0, live = 0;
  for (int i = 0; i < 200000; ++i) {
    Timeouts global = Timeouts::Defaults(), rule{};
    const uint8_t tm = static_cast<uint8_t>(next(4) == 0 ? uint32_t{kTmPurge} : next(kTmCount));
    global.v[kTmAdaptiveStart] = next(50);
    global.v[kTmAdaptiveEnd] = next(4) == 0 ? 0 : next(100);
    global.v[tm < kTmCount ? tm : 0] = next(3) == 0 ? next(0xffffffff) : next(200);
    if (next(2)) {
      rule.v[tm < kTmCount ? tm : 0] = next(300);
      rule.v[kTmAdaptiveStart] = next(3) == 0 ? 0 : next(40);
      rule.v[kTmAdaptiveEnd] = next(80);
    }
    const Timeouts* r = next(2) ? &rule : nullptr;
    const uint32_t rule_states = next(120), all_states = next(120);
    const uint32_t last = next(3) == 0 ? 0xffffff00u + next(256) : 1000 + next(100);
    const uint64_t now = next(3) == 0 ? uint64_t{last} + next(400) : 900 + next(400);
    const bool want = StateExpiry(last, tm, r, global, rule_states, all_states) <= now;
    ASSERT_EQ(StateExpired(last, tm, r, global, rule_states, all_states, now), want) << i;
    (want ? expired : live)++;
  }
  EXPECT_GT(expired, 10000);
  EXPECT_GT(live, 10000);
}

TEST_F(StateTest, StateLimitsGlobalAndPerRule) {
  e.options().limits.states = 3;
  Rule r = PassRule();
  r.max_states = 2;
  r.proto = kProtoUdp;
  Ruleset rs;
  rs.rules.push_back(PassRule());
  rs.rules.push_back(r);
  e.LoadRuleset(rs);
  EXPECT_EQ(In(Udp("198.51.100.1", "192.0.2.1", 1, 53)).action, Action::kPass);
  EXPECT_EQ(In(Udp("198.51.100.1", "192.0.2.1", 2, 53)).action, Action::kPass);
  Verdict v = In(Udp("198.51.100.1", "192.0.2.1", 3, 53));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, kResStateLimit);
  EXPECT_EQ(e.counters().limits[kLcMaxStatesPerRule], 1u);
  EXPECT_EQ(In(Tcp("198.51.100.1", "192.0.2.1", 3, 80, kSyn, 1, 0)).action, Action::kPass);
  v = In(Tcp("198.51.100.1", "192.0.2.1", 4, 80, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kBlock);  // global limit of 3
  EXPECT_EQ(e.counters().reasons[kResStateLimit], 2u);
  EXPECT_NE(e.StatusText().find("state-limit"), std::string::npos);
}

TEST_F(StateTest, MaxSrcStatesAndSourceNodeExpiry) {
  Rule r = PassRule();
  r.max_src_states = 2;
  LoadPassAll(r);
  EXPECT_EQ(In(Udp("198.51.100.1", "192.0.2.1", 1, 53)).action, Action::kPass);
  EXPECT_EQ(In(Udp("198.51.100.1", "192.0.2.1", 2, 53)).action, Action::kPass);
  Verdict v = In(Udp("198.51.100.1", "192.0.2.1", 3, 53));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, kResSrcLimit);
  EXPECT_EQ(In(Udp("198.51.100.2", "192.0.2.1", 3, 53)).action, Action::kPass);  // another source
  EXPECT_EQ(e.counters().limits[kLcMaxSrcStates], 1u);
  now += 61 * kSec;
  PurgeAll();
  PurgeAll();
  EXPECT_EQ(e.states().size(), 0u);
  EXPECT_EQ(e.counters().src_removals, 2u);
}

TEST_F(StateTest, OverloadTableFillsAndFlushes) {
  auto bad = e.GetTable("bruteforce");
  Ruleset rs;
  Rule block_bad = BlockRule();
  block_bad.quick = true;
  block_bad.src = AddrSpec::OfTable(bad);
  rs.rules.push_back(block_bad);
  rs.rules.push_back(PassRule());
  Rule ssh = OverloadRule(bad, 22, true);
  ssh.max_src_conn = 2;
  rs.rules.push_back(ssh);
  e.LoadRuleset(rs);
  // An unrelated flow from the attacker, flushed with "flush global".
  In(Udp("198.51.100.66", "192.0.2.1", 9, 9));
  auto connect = [&](uint16_t sport) {
    In(Tcp("198.51.100.66", "192.0.2.1", sport, 22, kSyn, 100, 0));
    Out(Tcp("192.0.2.1", "198.51.100.66", 22, sport, kSyn | kAck, 900, 101));
    return In(Tcp("198.51.100.66", "192.0.2.1", sport, 22, kAck, 101, 901));
  };
  EXPECT_EQ(connect(1001).action, Action::kPass);
  EXPECT_EQ(connect(1002).action, Action::kPass);
  EXPECT_EQ(bad->size(), 0u);
  Verdict v = connect(1003);  // third established connection: over the limit
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_TRUE(bad->Matches(A("198.51.100.66")));
  EXPECT_EQ(e.states().size(), 0u);  // everything from the source flushed
  EXPECT_EQ(e.counters().limits[kLcMaxSrcConn], 1u);
  EXPECT_EQ(e.counters().limits[kLcOverloadTable], 1u);
  EXPECT_EQ(e.counters().limits[kLcOverloadFlush], 1u);
  // And the quick block rule now stops the source at the door.
  v = In(Tcp("198.51.100.66", "192.0.2.1", 1004, 22, kSyn, 100, 0));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.rule_nr, 0u);
}

TEST_F(StateTest, MaxSrcConnRateOverloadsAndFlushesGlobally) {
  auto bad = e.GetTable("flooders");
  Rule block_bad = BlockRule();
  block_bad.quick = true;
  block_bad.src = AddrSpec::OfTable(bad);
  Rule ssh = OverloadRule(bad, 22, true);
  ssh.max_src_conn_rate = 2;
  ssh.max_src_conn_rate_seconds = 10;
  Load({block_bad, PassRule(), ssh});
  auto connect = [&](const char* src, uint16_t sport) {
    In(Tcp(src, "192.0.2.1", sport, 22, kSyn, 100, 0));
    Out(Tcp("192.0.2.1", src, 22, sport, kSyn | kAck, 900, 101));
    return In(Tcp(src, "192.0.2.1", sport, 22, kAck, 101, 901));
  };
  // Two connections per 10 s are fine, spread out as well as at once.
  EXPECT_EQ(connect("198.51.100.66", 1001).action, Action::kPass);
  EXPECT_EQ(connect("198.51.100.66", 1002).action, Action::kPass);
  now += 11 * kSec;
  EXPECT_EQ(connect("198.51.100.66", 1003).action, Action::kPass);
  EXPECT_EQ(connect("198.51.100.67", 1001).action, Action::kPass);  // another source
  In(Udp("198.51.100.66", "192.0.2.1", 9, 9));  // unrelated, under another rule
  const size_t before = e.states().size();
  ASSERT_EQ(before, 5u);
  // The 2nd in this window is fine, the 3rd overloads.
  EXPECT_EQ(connect("198.51.100.66", 1004).action, Action::kPass);
  Verdict v = connect("198.51.100.66", 1005);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, kResSrcLimit);
  EXPECT_TRUE(bad->Matches(A("198.51.100.66")));
  EXPECT_FALSE(bad->Matches(A("198.51.100.67")));
  EXPECT_EQ(e.counters().limits[kLcMaxSrcConnRate], 1u);
  EXPECT_EQ(e.counters().limits[kLcMaxSrcConn], 0u);
  EXPECT_EQ(e.counters().limits[kLcOverloadTable], 1u);
  EXPECT_EQ(e.counters().limits[kLcOverloadFlush], 1u);
  // flush global: every state of the source went, the other source's stays.
  EXPECT_EQ(e.states().size(), 1u);
  e.states().ForEach([&](uint32_t, State& s) { EXPECT_EQ(s.key[kWire].Addr(0), A("198.51.100.67")); });
  v = In(Tcp("198.51.100.66", "192.0.2.1", 1006, 22, kSyn, 100, 0));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.rule_nr, 0u);
}

TEST_F(StateTest, PerRuleAdaptiveTimeoutsCountTheRulesStatesOnly) {
  Rule scaled = PassRule();
  scaled.proto = kProtoUdp;
  scaled.dport = {{PortRange::Op::kEq, 53, 0}};
  scaled.timeouts.v[kTmAdaptiveStart] = 2;
  scaled.timeouts.v[kTmAdaptiveEnd] = 6;
  Load({PassRule(), scaled});
  // Many states of another rule do not scale this rule's timeouts.
  for (int i = 0; i < 20; ++i) In(Udp("198.51.100.1", "192.0.2.1", static_cast<uint16_t>(100 + i), 123));
  const uint32_t first = In(Udp("198.51.100.1", "192.0.2.1", 1000, 53)).state;
  ASSERT_NE(first, kNoIndex);
  EXPECT_EQ(e.ExpiresAt(e.states().at(first)), e.states().at(first).expire + 60u);  // 1 state: below start
  for (int i = 1; i < 4; ++i) In(Udp("198.51.100.1", "192.0.2.1", static_cast<uint16_t>(1000 + i), 53));
  // 4 states of the rule: 60 * (6 - 4) / (6 - 2) = 30 s.
  EXPECT_EQ(e.ExpiresAt(e.states().at(first)), e.states().at(first).expire + 30u);
  // After 31 s the purge takes one of them; with 3 left the timeout is
  // 45 s and the rest live on (pf re-evaluates per state, as here). The other
  // rule's states keep the global 60 s (24 states, far below 60000).
  now += 31 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 23u);
  const Rule& r = e.main_ruleset().rules[1];
  EXPECT_EQ(r.states_cur, 3u);
  // At adaptive.end the timeout is 0 (pf_state_expires): the purge removes
  // states until the count is below the end again.
  uint32_t last = kNoIndex;
  for (int i = 0; i < 3; ++i) last = In(Udp("198.51.100.1", "192.0.2.1", static_cast<uint16_t>(2000 + i), 53)).state;
  ASSERT_EQ(r.states_cur, 6u);
  ASSERT_NE(last, kNoIndex);
  EXPECT_EQ(e.ExpiresAt(e.states().at(last)), 0u);
  PurgeAll();
  EXPECT_LT(r.states_cur, 6u);
  EXPECT_EQ(e.states().size(), 20u + r.states_cur);
}

TEST_F(StateTest, ExportImportRoundTripsEveryField) {
  Rule r = PassRule();
  r.if_bound = true;
  r.keep_state = KeepState::kModulate;
  r.log = 0x03;
  LoadPassAll(r);
  In(Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kSyn, 10, 0, 1000, 0, {5, 1400}));
  ASSERT_EQ(e.states().size(), 1u);
  State& s = e.states().at(0);
  // Fill the fields no packet sets so that they are covered too.
  s.rtableid[0] = 3;
  s.rtableid[1] = -1;
  s.max_mss = 1360;
  s.min_ttl = 17;
  s.set_tos = 0x10;
  s.set_prio[0] = 2;
  s.set_prio[1] = 5;
  s.state_flags |= kSfSetTos | kSfNoDf;
  s.rt = 1;
  s.src.scrub_valid = 1;
  s.src.scrub_ts_mod = 0xdeadbeef;
  s.src.scrub_ttl = 61;
  s.src.scrub_flags = 1;
  s.nat_rule = 9;
  s.sync_flags = 0x04;
  e.states().SetRtAddr(0, A("192.0.2.254"));
  now += 7 * kSec;
  const StateExport x = e.Export(0, now);
  EXPECT_EQ(x.ifname, "em0");
  EXPECT_EQ(x.creation, 7u);
  EXPECT_EQ(x.expire, 113u);
  EXPECT_EQ(x.src.wscale, kWscaleFlag | 5);
  EXPECT_NE(x.src.seqdiff, 0u);

  EngineOptions opts;
  opts.hostid = 2;
  Engine other(opts);
  const uint32_t idx = other.Import(x, now);
  ASSERT_NE(idx, kNoIndex);
  const StateExport y = other.Export(idx, now);
  EXPECT_EQ(x, y);
  // The imported if-bound state created its interface as a placeholder.
  EXPECT_NE(other.FindInterface("em0"), 0);
  // A second import of the same keys collides.
  EXPECT_EQ(other.Import(x, now), kNoIndex);
  StateExport z = x;
  z.creatorid = 0;
  EXPECT_EQ(Engine().Import(z, now), kNoIndex);
  StateExport big = x;
  big.rtableid[0] = 1 << 20;  // no such routing table (pf's ids are 0..255)
  EXPECT_EQ(Engine().Import(big, now), kNoIndex);
}

TEST_F(StateTest, ImportedStatePassesTrafficOnTheOtherNode) {
  LoadPassAll();
  In(Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kSyn, 10, 0));
  Out(Tcp("192.0.2.1", "198.51.100.1", 80, 1000, kSyn | kAck, 50, 11));
  In(Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kAck, 11, 51));
  const StateExport x = e.Export(0, now);
  // The backup has a ruleset that would block the mid-stream packet.
  Engine backup;
  const InterfaceId b_if = backup.AddInterface("em0");
  Ruleset rs;
  rs.rules.push_back(BlockRule());
  backup.LoadRuleset(rs);
  auto mid = Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kAck | kPush, 11, 51, 65535, 100);
  EXPECT_EQ(backup.Test(Direction::kIn, b_if, mid, now).action, Action::kBlock);
  ASSERT_NE(backup.Import(x, now), kNoIndex);
  auto mid2 = Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kAck | kPush, 11, 51, 65535, 100);
  EXPECT_EQ(backup.Test(Direction::kIn, b_if, mid2, now).action, Action::kPass);
}

TEST_F(StateTest, BlockReturnSendsRstAndIcmpUnreachable) {
  Ruleset rs;
  Rule r = BlockRule();
  r.block_policy = BlockPolicy::kReturn;
  rs.rules.push_back(r);
  e.LoadRuleset(rs);
  auto syn = Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kSyn, 4000, 0);
  Verdict v = Run(Direction::kIn, syn);
  ASSERT_EQ(v.action, Action::kBlock);
  ASSERT_FALSE(v.reply.empty());
  PacketInfo rst = Info(v.reply);
  EXPECT_EQ(rst.src, A("192.0.2.1"));
  EXPECT_EQ(rst.dst, A("198.51.100.1"));
  EXPECT_EQ(rst.sport, 80);
  EXPECT_EQ(rst.dport, 1000);
  EXPECT_EQ(rst.flags, kRst | kAck);
  EXPECT_EQ(rst.ack, 4001u);
  EXPECT_EQ(ChecksumError(v.reply), "");

  auto udp = Udp("198.51.100.1", "192.0.2.1", 1000, 53);
  v = Run(Direction::kIn, udp);
  PacketInfo icmp = Info(v.reply);
  EXPECT_EQ(icmp.proto, kProtoIcmp);
  EXPECT_EQ(icmp.icmp_type, 3);
  EXPECT_EQ(icmp.icmp_code, 3);
  ASSERT_TRUE(icmp.quoted);
  EXPECT_EQ(icmp.quoted->sport, 1000);
  EXPECT_EQ(ChecksumError(v.reply), "");

  auto udp6 = Udp("2001:db8::1", "2001:db8::2", 1000, 53);
  v = Run(Direction::kIn, udp6);
  PacketInfo icmp6 = Info(v.reply);
  EXPECT_EQ(icmp6.proto, kProtoIcmp6);
  EXPECT_EQ(icmp6.icmp_type, 1);
  EXPECT_EQ(icmp6.icmp_code, 4);
  EXPECT_EQ(ChecksumError(v.reply), "");
  // Never answer a RST.
  auto rstin = Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kRst, 1, 0);
  EXPECT_TRUE(Run(Direction::kIn, rstin).reply.empty());
}

TEST_F(StateTest, MalformedPacketsAreDroppedAndCounted) {
  LoadPassAll();
  std::vector<uint8_t> junk = {0x45, 0, 0, 200, 0, 0};
  EXPECT_EQ(Run(Direction::kIn, junk).action, Action::kBlock);
  auto tcp = Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kSyn, 1, 0);
  tcp[32] = 0x30;  // data offset 12 bytes: below the minimum
  EXPECT_EQ(Run(Direction::kIn, tcp).action, Action::kBlock);
  EXPECT_EQ(e.counters().reasons[kResShort], 2u);
}

TEST_F(StateTest, LabelAndStatusCounters) {
  Ruleset rs;
  Rule web = PassRule();
  web.proto = kProtoTcp;
  web.dport = {{PortRange::Op::kEq, 80, 0}};
  web.label = "web";
  rs.rules.push_back(web);
  Rule web6 = web;
  web6.dport = {{PortRange::Op::kEq, 443, 0}};
  rs.rules.push_back(web6);
  Rule dns = PassRule();
  dns.proto = kProtoUdp;
  dns.label = "dns";
  rs.rules.push_back(dns);
  e.LoadRuleset(rs);
  In(Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kSyn, 1, 0));
  In(Tcp("198.51.100.1", "192.0.2.1", 1001, 443, kSyn, 1, 0));
  Out(Tcp("192.0.2.1", "198.51.100.1", 443, 1001, kSyn | kAck, 9, 2));
  In(Udp("198.51.100.1", "192.0.2.1", 5, 53));
  const auto labels = e.Labels();
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels[0].first, "web");
  EXPECT_EQ(labels[0].second.packets, 3u);
  EXPECT_EQ(labels[0].second.states, 2u);
  EXPECT_EQ(labels[1].first, "dns");
  EXPECT_EQ(labels[1].second.packets, 1u);
  const std::string si = e.StatusText();
  EXPECT_NE(si.find("current entries"), std::string::npos);
  const size_t at = si.find("  inserts");
  ASSERT_NE(at, std::string::npos);
  const std::string line = si.substr(at, si.find('\n', at) - at);
  ASSERT_GE(line.size(), 2u);
  EXPECT_EQ(line.substr(line.size() - 2), " 3") << si;
}

}  // namespace
}  // namespace hapf::pf::engine
