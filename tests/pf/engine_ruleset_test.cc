// Rule evaluation: the seed ruleset, quick vs last match, tables, anchors,
// match rules, interface groups, set skip, skip steps.
#include <gtest/gtest.h>

#include "engine_test_util.h"
#include "pf/engine.h"

namespace hapf::pf::engine {
namespace {

using namespace testing;

class RulesetTest : public ::testing::Test {
 protected:
  Verdict Run(Direction d, InterfaceId i, std::vector<uint8_t> p) { return e.Test(d, i, p, now); }
  Engine e;
  TimeNs now = 500 * kSec;
};

// The seed ruleset:
//   block
//   pass on carp0-member proto carp            (proto 112, no state)
//   pass on em2 proto pfsync                    (proto 240)
//   pass in on em0 proto tcp from 198.51.100.0/24 to 192.0.2.10 port 22
//   pass proto icmp
TEST_F(RulesetTest, SeedRuleset) {
  const InterfaceId em0 = e.AddInterface("em0");
  const InterfaceId em2 = e.AddInterface("em2");
  e.AddToGroup(em0, "carp");
  Ruleset rs;
  rs.rules.push_back(BlockRule());
  Rule carp;
  carp.action = Action::kPass;
  carp.proto = 112;
  carp.ifgroup = e.GroupId("carp");
  rs.rules.push_back(carp);
  Rule pfsync;
  pfsync.action = Action::kPass;
  pfsync.proto = 240;
  pfsync.ifgroup = e.GroupId("em2");
  rs.rules.push_back(pfsync);
  Rule ssh = PassRule();
  ssh.dir = Direction::kIn;
  ssh.ifgroup = e.GroupId("em0");
  ssh.proto = kProtoTcp;
  ssh.src = AddrSpec::Of(P("198.51.100.0/24"));
  ssh.dst = AddrSpec::Of(P("192.0.2.10"));
  ssh.dport = {{PortRange::Op::kEq, 22, 0}};
  rs.rules.push_back(ssh);
  Rule icmp = PassRule();
  icmp.proto = kProtoIcmp;
  rs.rules.push_back(icmp);
  e.LoadRuleset(rs);

  Verdict v = Run(Direction::kIn, em0, RawProto("192.0.2.2", "224.0.0.18", 112, 36));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, 1u);
  EXPECT_EQ(v.state, kNoIndex);  // no state on a stateless pass
  EXPECT_EQ(Run(Direction::kIn, em2, RawProto("192.0.2.2", "224.0.0.18", 112, 36)).action, Action::kBlock);
  EXPECT_EQ(Run(Direction::kIn, em2, RawProto("203.0.113.1", "224.0.0.240", 240, 40)).action, Action::kPass);
  EXPECT_EQ(Run(Direction::kIn, em0, RawProto("203.0.113.1", "224.0.0.240", 240, 40)).action, Action::kBlock);

  v = Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.10", 50000, 22, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, 3u);
  EXPECT_TRUE(v.new_state);
  // The reply leaves through the state, though no rule passes outbound tcp.
  v = Run(Direction::kOut, em0, Tcp("192.0.2.10", "198.51.100.9", 22, 50000, kSyn | kAck, 100, 2));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_FALSE(v.new_state);
  // ssh from elsewhere, to another host, or on another port: blocked by rule 0.
  v = Run(Direction::kIn, em0, Tcp("203.0.113.9", "192.0.2.10", 50000, 22, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.rule_nr, 0u);
  EXPECT_EQ(Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.11", 50000, 22, kSyn, 1, 0)).action,
            Action::kBlock);
  EXPECT_EQ(Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.10", 50000, 23, kSyn, 1, 0)).action,
            Action::kBlock);
  EXPECT_EQ(Run(Direction::kIn, em2, Tcp("198.51.100.9", "192.0.2.10", 50001, 22, kSyn, 1, 0)).action,
            Action::kBlock);
  // icmp with state: the echo reply matches the request's state.
  v = Run(Direction::kIn, em0, IcmpEcho("203.0.113.5", "192.0.2.10", 77));
  EXPECT_EQ(v.action, Action::kPass);
  ASSERT_TRUE(v.new_state);
  const uint32_t ist = v.state;
  EXPECT_EQ(e.states().at(ist).timeout, kTmIcmpFirst);
  v = Run(Direction::kOut, em0, IcmpEcho("192.0.2.10", "203.0.113.5", 77, true));
  EXPECT_EQ(v.state, ist);
  EXPECT_EQ(e.states().at(ist).timeout, kTmIcmpError);
  // UDP: nothing passes it.
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.10", 5353, 53)).action, Action::kBlock);
  EXPECT_EQ(e.states().size(), 2u);
}

TEST_F(RulesetTest, LastMatchWinsUnlessQuick) {
  const InterfaceId em0 = e.AddInterface("em0");
  Ruleset rs;
  Rule pass_all = PassRule();
  rs.rules.push_back(pass_all);           // 0
  Rule block_udp = BlockRule();
  block_udp.proto = kProtoUdp;
  rs.rules.push_back(block_udp);          // 1
  Rule pass_dns = PassRule();
  pass_dns.proto = kProtoUdp;
  pass_dns.dport = {{PortRange::Op::kEq, 53, 0}};
  rs.rules.push_back(pass_dns);           // 2
  Rule quick_block = BlockRule();
  quick_block.quick = true;
  quick_block.src = AddrSpec::Of(P("203.0.113.0/24"));
  rs.rules.push_back(quick_block);        // 3
  Rule pass_late = PassRule();
  pass_late.src = AddrSpec::Of(P("203.0.113.66"));
  rs.rules.push_back(pass_late);          // 4: never reached for 203.0.113/24
  e.LoadRuleset(rs);

  Verdict v = Run(Direction::kIn, em0, Udp("198.51.100.1", "192.0.2.1", 1000, 53));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, 2u);
  v = Run(Direction::kIn, em0, Udp("198.51.100.1", "192.0.2.1", 1000, 54));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.rule_nr, 1u);
  v = Run(Direction::kIn, em0, Udp("203.0.113.66", "192.0.2.1", 1000, 53));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.rule_nr, 3u);
  v = Run(Direction::kIn, em0, Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, 0u);
  // Evaluation counters: rule 4 was evaluated only by the packets not stopped at 3.
  EXPECT_EQ(e.main_ruleset().rules[3].packets[0], 1u);
}

TEST_F(RulesetTest, TablesWithNegationAndNegatedSpec) {
  const InterfaceId em0 = e.AddInterface("em0");
  auto lan = e.GetTable("lan");
  lan->Add(P("198.51.100.0/24"));
  lan->Add(P("198.51.100.128/25"), true);
  Ruleset rs;
  rs.rules.push_back(BlockRule());
  Rule from_lan = PassRule();
  from_lan.src = AddrSpec::OfTable(lan);
  rs.rules.push_back(from_lan);
  Rule not_lan = PassRule();
  not_lan.proto = kProtoUdp;
  not_lan.dst = AddrSpec::OfTable(lan, /*neg=*/true);
  rs.rules.push_back(not_lan);
  e.LoadRuleset(rs);

  EXPECT_EQ(Run(Direction::kIn, em0, Tcp("198.51.100.5", "192.0.2.1", 1, 2, kSyn, 1, 0)).rule_nr, 1u);
  EXPECT_EQ(Run(Direction::kIn, em0, Tcp("198.51.100.200", "192.0.2.1", 1, 2, kSyn, 1, 0)).action,
            Action::kBlock);  // in the negated /25
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("192.0.2.1", "198.51.100.200", 5, 6)).rule_nr, 2u);  // ! <lan>
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("192.0.2.1", "198.51.100.20", 5, 6)).action, Action::kBlock);
  // Tables are live: adding an entry changes decisions without a reload.
  lan->Add(P("203.0.113.0/24"));
  EXPECT_EQ(Run(Direction::kIn, em0, Tcp("203.0.113.5", "192.0.2.1", 1, 2, kSyn, 1, 0)).rule_nr, 1u);
}

TEST_F(RulesetTest, AnchorsAreEvaluatedInPlace) {
  const InterfaceId em0 = e.AddInterface("em0");
  Ruleset main;
  main.rules.push_back(BlockRule());           // 0
  Rule anchor;
  anchor.action = Action::kMatch;
  anchor.anchor = 0;
  anchor.anchor_name = "web";
  anchor.proto = kProtoTcp;
  main.rules.push_back(anchor);                // 1: anchor "web" proto tcp
  Rule block_ssh = BlockRule();
  block_ssh.proto = kProtoTcp;
  block_ssh.dport = {{PortRange::Op::kEq, 22, 0}};
  main.rules.push_back(block_ssh);             // 2
  Ruleset web;
  Rule http = PassRule();
  http.dport = {{PortRange::Op::kEq, 80, 0}};
  web.rules.push_back(http);                   // web 0
  Rule quick_ssh = PassRule();
  quick_ssh.quick = true;
  quick_ssh.dport = {{PortRange::Op::kEq, 22, 0}};
  quick_ssh.src = AddrSpec::Of(P("198.51.100.0/24"));
  web.rules.push_back(quick_ssh);              // web 1
  e.LoadRuleset(main, {web});

  Verdict v = Run(Direction::kIn, em0, Tcp("203.0.113.1", "192.0.2.1", 1, 80, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, 1u);     // pflog numbering: anchor rule...
  EXPECT_EQ(v.subrule_nr, 0u);  // ...and the rule inside it
  EXPECT_EQ(e.states().at(v.state).rule, 0u);
  EXPECT_EQ(e.states().at(v.state).anchor, 1u);
  // Quick inside the anchor ends evaluation: rule 2 never sees it.
  v = Run(Direction::kIn, em0, Tcp("198.51.100.1", "192.0.2.1", 1, 22, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.subrule_nr, 1u);
  // From elsewhere ssh falls through to rule 2.
  v = Run(Direction::kIn, em0, Tcp("203.0.113.1", "192.0.2.1", 1, 22, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.rule_nr, 2u);
  // UDP does not enter the anchor at all.
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("203.0.113.1", "192.0.2.1", 1, 80)).rule_nr, 0u);
}

TEST_F(RulesetTest, MatchRulesApplyOptionsAndContinue) {
  const InterfaceId em0 = e.AddInterface("em0");
  Ruleset rs;
  Rule m;
  m.action = Action::kMatch;
  m.log = 0x01;
  m.proto = kProtoUdp;
  rs.rules.push_back(m);
  rs.rules.push_back(PassRule());
  e.LoadRuleset(rs);
  Verdict v = Run(Direction::kIn, em0, Udp("203.0.113.1", "192.0.2.1", 1, 80));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, 1u);
  EXPECT_TRUE(v.log);  // logged because of the match rule
  v = Run(Direction::kIn, em0, Tcp("203.0.113.1", "192.0.2.1", 1, 80, kSyn, 1, 0));
  EXPECT_FALSE(v.log);
}

TEST_F(RulesetTest, InterfaceGroupsNegationAndSkip) {
  const InterfaceId em0 = e.AddInterface("em0");
  const InterfaceId em1 = e.AddInterface("em1");
  const InterfaceId lo0 = e.AddInterface("lo0");
  e.AddToGroup(em1, "egress");
  Ruleset rs;
  rs.rules.push_back(BlockRule());
  Rule eg = PassRule();
  eg.ifgroup = e.GroupId("egress");
  eg.dir = Direction::kOut;
  rs.rules.push_back(eg);
  Rule not_em0 = PassRule();
  not_em0.ifgroup = e.GroupId("em0");
  not_em0.if_negate = true;
  not_em0.proto = kProtoUdp;
  not_em0.dir = Direction::kIn;
  rs.rules.push_back(not_em0);
  e.LoadRuleset(rs);
  e.SetSkip(lo0, true);
  EXPECT_EQ(Run(Direction::kOut, em1, Udp("192.0.2.1", "203.0.113.1", 1, 2)).rule_nr, 1u);
  // (the same flow on em0 would match the floating state em1 created)
  EXPECT_EQ(Run(Direction::kOut, em0, Udp("192.0.2.1", "203.0.113.1", 11, 2)).action, Action::kBlock);
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("203.0.113.1", "192.0.2.1", 1, 2)).action, Action::kBlock);
  EXPECT_EQ(Run(Direction::kIn, em1, Udp("203.0.113.1", "192.0.2.1", 1, 3)).rule_nr, 2u);
  Verdict v = Run(Direction::kIn, lo0, Udp("127.0.0.1", "127.0.0.1", 1, 2));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, kNoRule);
}

TEST_F(RulesetTest, PortOperatorsAndIcmpTypes) {
  const InterfaceId em0 = e.AddInterface("em0");
  Ruleset rs;
  rs.rules.push_back(BlockRule());
  Rule range = PassRule();
  range.proto = kProtoUdp;
  range.dport = {{PortRange::Op::kInclusive, 1000, 2000}, {PortRange::Op::kGt, 60000, 0}};
  rs.rules.push_back(range);
  Rule echo = PassRule();
  echo.proto = kProtoIcmp;
  echo.icmp_type = 8;
  rs.rules.push_back(echo);
  Rule except = PassRule();
  except.proto = kProtoTcp;
  except.sport = {{PortRange::Op::kExcept, 1, 1023}};
  except.flagset = 0;
  rs.rules.push_back(except);
  e.LoadRuleset(rs);
  auto dec = [&](std::vector<uint8_t> p) { return Run(Direction::kIn, em0, std::move(p)).action; };
  EXPECT_EQ(dec(Udp("203.0.113.1", "192.0.2.1", 5, 1000)), Action::kPass);
  EXPECT_EQ(dec(Udp("203.0.113.1", "192.0.2.1", 5, 2000)), Action::kPass);
  EXPECT_EQ(dec(Udp("203.0.113.1", "192.0.2.1", 5, 2001)), Action::kBlock);
  EXPECT_EQ(dec(Udp("203.0.113.1", "192.0.2.1", 5, 60001)), Action::kPass);
  EXPECT_EQ(dec(IcmpEcho("203.0.113.1", "192.0.2.1", 9)), Action::kPass);
  EXPECT_EQ(dec(IcmpEcho("203.0.113.1", "192.0.2.1", 9, true)), Action::kBlock);  // reply type 0
  EXPECT_EQ(dec(Tcp("203.0.113.1", "192.0.2.1", 1023, 80, kAck, 1, 1)), Action::kBlock);
  EXPECT_EQ(dec(Tcp("203.0.113.1", "192.0.2.1", 1024, 80, kAck, 1, 1)), Action::kPass);  // no flags check
}

// Skip steps (no host destinations) and the destination index (with them)
// must both agree with a plain linear scan.
TEST_F(RulesetTest, SkipStepsAndIndexGiveTheSameAnswersAsALinearScan) {
  const InterfaceId em0 = e.AddInterface("em0");
  for (bool hosts : {false, true}) {
    Ruleset rs;
    uint32_t x = hosts ? 7 : 99;
    auto rnd = [&] { return x = x * 1664525 + 1013904223; };
    for (int i = 0; i < 300; ++i) {
      Rule r = (rnd() % 2) ? PassRule() : BlockRule();
      r.flagset = 0;
      r.keep_state = KeepState::kNone;
      if (rnd() % 2) r.proto = (rnd() % 2) ? kProtoTcp : kProtoUdp;
      if (rnd() % 2) r.dir = (rnd() % 2) ? Direction::kIn : Direction::kOut;
      if (rnd() % 3 == 0) r.src = AddrSpec::Of(net::Prefix{net::IpAddr::V4(0xc6336400 | (rnd() & 0xff)), 30});
      if (rnd() % 3 == 0) r.dport = {{PortRange::Op::kLe, static_cast<uint16_t>(rnd() % 2000), 0}};
      if (hosts && rnd() % 4 != 0) r.dst = AddrSpec::Of(net::Prefix::Host(net::IpAddr::V4(0xc0000200 | (rnd() % 4))));
      r.quick = rnd() % 50 == 0;
      rs.rules.push_back(r);
    }
    e.LoadRuleset(rs);
    EXPECT_EQ(e.main_ruleset().indexed, hosts);
    const auto& rules = e.main_ruleset().rules;
    for (int i = 0; i < 2000; ++i) {
      const Direction d = (rnd() % 2) ? Direction::kIn : Direction::kOut;
      char src[32], dst[32];
      snprintf(src, sizeof src, "198.51.100.%u", rnd() & 0xff);
      snprintf(dst, sizeof dst, "192.0.2.%u", rnd() % 5);
      const uint16_t dport = static_cast<uint16_t>(rnd() % 2500);
      auto pkt = (rnd() % 2) ? Udp(src, dst, 7, dport) : Tcp(src, dst, 7, dport, kAck, 1, 1);
      const PacketInfo p = Info(pkt);
      // Reference: a plain linear scan with pf's last-match/quick rule.
      uint32_t expect = kNoRule;
      for (const Rule& r : rules) {
        if (r.dir != Direction::kInOut && r.dir != d) continue;
        if (r.proto && r.proto != p.proto) continue;
        if (!r.src.Matches(p.src) || !r.dst.Matches(p.dst)) continue;
        if (!r.dport.empty() && !r.dport[0].Matches(p.dport)) continue;
        expect = r.nr;
        if (r.quick) break;
      }
      EXPECT_EQ(Run(d, em0, pkt).rule_nr, expect) << i << (hosts ? " indexed" : " skip steps");
    }
  }
}

}  // namespace
}  // namespace hapf::pf::engine
