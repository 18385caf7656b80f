// pf.conf text -> the language's parser -> the compiler -> the engine.
#include <gtest/gtest.h>

#include "engine_test_util.h"
#include "pf/lang_parser.h"
#include "pf/ruleset_compile.h"

namespace hapf::pf::engine {
namespace {

using namespace testing;

class CompileTest : public ::testing::Test {
 protected:
  CompileResult Load(const std::string& conf) {
    hapf::pf::StaticHostEnvironment env;
    env.files.emplace();  // no disk access
    for (const char* name : {"em0", "em1", "em2"}) {
      hapf::pf::InterfaceInfo info;
      info.name = name;
      env.interfaces.push_back(info);
    }
    hapf::pf::ParseOptions po;
    po.no_dns = true;
    auto parsed = hapf::pf::ParsePfConf(conf, env, po);
    EXPECT_TRUE(parsed.ok()) << (parsed.messages.empty() ? "" : parsed.messages[0]);
    em0 = e.AddInterface("em0");
    em1 = e.AddInterface("em1");
    em2 = e.AddInterface("em2");
    e.AddToGroup(em0, "carp");
    return CompileAndLoad(parsed.ruleset, e);
  }
  Verdict Run(Direction d, InterfaceId i, std::vector<uint8_t> p, uint16_t tag = 0, InterfaceId rcvif = 0) {
    return e.Test(d, i, p, now, tag, rcvif);
  }

  Engine e;
  InterfaceId em0 = 0, em1 = 0, em2 = 0;
  TimeNs now = 100 * kSec;
};

// pfctl_load_options: `set limit states N` without adaptive timeouts puts
// them at 60 % and 120 % of N; explicit ones stay.
TEST_F(CompileTest, StateLimitMovesTheAdaptiveTimeouts) {
  Load("set limit states 1000000\npass\n");
  EXPECT_EQ(e.options().timeouts.v[kTmAdaptiveStart], 600000u);
  EXPECT_EQ(e.options().timeouts.v[kTmAdaptiveEnd], 1200000u);
  Engine fresh;
  EXPECT_EQ(fresh.options().timeouts.v[kTmAdaptiveStart], 60000u);  // pf's defaults for 100 000 states
  EXPECT_EQ(fresh.options().timeouts.v[kTmAdaptiveEnd], 120000u);
}

TEST_F(CompileTest, ExplicitAdaptiveTimeoutsWinOverTheStateLimit) {
  Load("set limit states 1000000\nset timeout { adaptive.start 5000, adaptive.end 9000 }\npass\n");
  EXPECT_EQ(e.options().timeouts.v[kTmAdaptiveStart], 5000u);
  EXPECT_EQ(e.options().timeouts.v[kTmAdaptiveEnd], 9000u);
}

TEST_F(CompileTest, SeedRulesetFromPfConf) {
  CompileResult r = Load(R"(
ext_if = "em0"
sync_if = "em2"
admin_net = "198.51.100.0/24"
table <bad> { 203.0.113.0/24, !203.0.113.7 }
set timeout udp.first 20
set limit states 5000
block log all
block in quick from <bad>
pass on carp proto carp
pass on $sync_if proto pfsync
pass in on $ext_if proto tcp from $admin_net to 192.0.2.10 port ssh
pass inet proto icmp
)");
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  EXPECT_EQ(r.rules, 6u);
  EXPECT_EQ(e.options().timeouts.v[kTmUdpFirst], 20u);
  EXPECT_EQ(e.options().limits.states, 5000u);

  Verdict v = Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.10", 50000, 22, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, 4u);
  EXPECT_TRUE(v.new_state);
  EXPECT_EQ(Run(Direction::kOut, em0, Tcp("192.0.2.10", "198.51.100.9", 22, 50000, kSyn | kAck, 7, 2)).state,
            v.state);
  v = Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.10", 50000, 23, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.rule_nr, 0u);
  EXPECT_TRUE(v.log);
  // <bad> with its negated host: quick block, except 203.0.113.7.
  EXPECT_EQ(Run(Direction::kIn, em0, IcmpEcho("203.0.113.5", "192.0.2.10", 1)).rule_nr, 1u);
  v = Run(Direction::kIn, em0, IcmpEcho("203.0.113.7", "192.0.2.10", 1));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, 5u);
  // carp on a carp-group member, pfsync on em2 only.
  EXPECT_EQ(Run(Direction::kIn, em0, RawProto("192.0.2.2", "224.0.0.18", 112, 36)).rule_nr, 2u);
  // (another sender: the first created a floating state)
  EXPECT_EQ(Run(Direction::kIn, em1, RawProto("192.0.2.4", "224.0.0.18", 112, 36)).action, Action::kBlock);
  EXPECT_EQ(Run(Direction::kIn, em2, RawProto("192.0.2.3", "224.0.0.240", 240, 40)).rule_nr, 3u);
  // icmp is inet only: ICMPv6 echo is blocked.
  EXPECT_EQ(Run(Direction::kIn, em0, IcmpEcho("2001:db8::1", "2001:db8::2", 1)).action, Action::kBlock);
}

TEST_F(CompileTest, NatRdrAnchorsAndPortOperators) {
  CompileResult r = Load(R"(
pass out on em0 from 10.0.0.0/24 to any nat-to 203.0.113.1
pass in on em0 proto tcp to 203.0.113.1 port 8080 rdr-to 10.0.0.20 port 80
block in on em1 proto udp to port 1000:2000
block in on em1 proto udp to port 3000 >< 3005
anchor "web" in on em1 {
  pass proto tcp to port { 80, 443 }
}
)");
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  EXPECT_EQ(r.anchors, 1u);
  auto p = Udp("10.0.0.5", "198.51.100.53", 5353, 53);
  Verdict v = e.Test(Direction::kOut, em0, p, now);
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(Info(p).src, A("203.0.113.1"));
  auto q = Tcp("198.51.100.1", "203.0.113.1", 40000, 8080, kSyn, 1, 0);
  v = e.Test(Direction::kIn, em0, q, now);
  EXPECT_EQ(Info(q).dst, A("10.0.0.20"));
  EXPECT_EQ(Info(q).dport, 80);
  EXPECT_EQ(Run(Direction::kIn, em1, Udp("198.51.100.1", "192.0.2.1", 1, 1500)).rule_nr, 2u);
  EXPECT_EQ(Run(Direction::kIn, em1, Udp("198.51.100.1", "192.0.2.1", 1, 3003)).rule_nr, 3u);
  EXPECT_EQ(Run(Direction::kIn, em1, Udp("198.51.100.1", "192.0.2.1", 1, 3005)).action, Action::kPass);
  v = Run(Direction::kIn, em1, Tcp("198.51.100.1", "192.0.2.1", 1, 443, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, 4u);
  EXPECT_EQ(v.subrule_nr, 1u);
}

TEST_F(CompileTest, UnsupportedConditionsFailClosed) {
  CompileResult r = Load(R"(
block
pass in proto tcp user 1000
pass in proto udp
block in proto udp prio 3
)");
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_NE(r.warnings[0].find("user"), std::string::npos);
  // The pass with "user" never matches; the block with "prio" blocks all udp.
  EXPECT_EQ(Run(Direction::kIn, em0, Tcp("198.51.100.1", "192.0.2.1", 1, 22, kSyn, 1, 0)).action, Action::kBlock);
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("198.51.100.1", "192.0.2.1", 1, 53)).rule_nr, 3u);
}

TEST_F(CompileTest, TagOnInboundPassOutOnlyTagged) {
  CompileResult r = Load(R"(
block all
pass in on em0 proto tcp to port 80 tag WEB
pass out on em1 tagged WEB
)");
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  const uint16_t web = e.TagId("WEB");
  // A forwarded SYN: in on em0 tags it, out on em1 passes only with the tag.
  Verdict in = Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.10", 40000, 80, kSyn, 1, 0));
  ASSERT_EQ(in.action, Action::kPass);
  EXPECT_EQ(in.tag, web);
  EXPECT_EQ(e.states().at(in.state).tag, web);
  EXPECT_EQ(Run(Direction::kOut, em1, Tcp("198.51.100.9", "192.0.2.10", 40001, 80, kSyn, 1, 0)).action,
            Action::kBlock);  // untagged
  Verdict out = Run(Direction::kOut, em1, Tcp("198.51.100.9", "192.0.2.10", 40000, 80, kSyn, 1, 0), in.tag);
  ASSERT_EQ(out.action, Action::kPass);
  EXPECT_EQ(out.rule_nr, 2u);
  // The reply comes back through both states.
  EXPECT_EQ(Run(Direction::kIn, em1, Tcp("192.0.2.10", "198.51.100.9", 80, 40000, kSyn | kAck, 7, 2)).action,
            Action::kPass);
  EXPECT_EQ(Run(Direction::kOut, em0, Tcp("192.0.2.10", "198.51.100.9", 80, 40000, kSyn | kAck, 7, 2)).action,
            Action::kPass);
  // Later packets of the flow arrive untagged and leave the inbound state
  // with its tag.
  in = Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.10", 40000, 80, kAck, 2, 8));
  EXPECT_EQ(in.action, Action::kPass);
  EXPECT_FALSE(in.new_state);
  EXPECT_EQ(in.tag, web);
  // An unrelated inbound flow is not tagged and cannot leave.
  in = Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.10", 40002, 443, kSyn, 1, 0));
  EXPECT_EQ(in.action, Action::kBlock);
  EXPECT_EQ(in.tag, 0);
}

TEST_F(CompileTest, MatchRuleTagsAndNegatedTagged) {
  CompileResult r = Load(R"(
block all
match in on em0 proto udp to port 53 tag DNS
pass in on em0 proto udp tagged DNS
pass out on em1 proto udp
block out on em1 proto udp ! tagged DNS
)");
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  const uint16_t dns = e.TagId("DNS");
  // The match rule's tag is visible to the later rules of the same pass and
  // is carried by the state of the pass rule.
  Verdict in = Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", 1000, 53));
  ASSERT_EQ(in.action, Action::kPass);
  EXPECT_EQ(in.rule_nr, 2u);
  EXPECT_EQ(in.tag, dns);
  EXPECT_EQ(e.states().at(in.state).tag, dns);
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", 1000, 123)).action, Action::kBlock);
  EXPECT_EQ(Run(Direction::kOut, em1, Udp("198.51.100.9", "192.0.2.53", 1000, 53), dns).action, Action::kPass);
  Verdict out = Run(Direction::kOut, em1, Udp("198.51.100.9", "192.0.2.53", 1001, 53));
  EXPECT_EQ(out.action, Action::kBlock);
  EXPECT_EQ(out.rule_nr, 4u);
  // A tag the packet already carries is kept when no rule sets one.
  out = Run(Direction::kOut, em1, Udp("198.51.100.9", "192.0.2.53", 1002, 53), dns);
  EXPECT_EQ(out.action, Action::kPass);
  EXPECT_EQ(out.tag, dns);
  EXPECT_EQ(e.states().at(out.state).tag, 0);
}

TEST_F(CompileTest, OnceRulesExpireOnTheirFirstMatch) {
  CompileResult r = Load(R"(
block all
match in proto udp tag FIRST once
pass in proto udp
pass in proto tcp to port 22 once
)");
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  Verdict v = Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.10", 40000, 22, kSyn, 1, 0));
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.rule_nr, 3u);
  EXPECT_TRUE(e.main_ruleset().rules[3].expired);
  // The state it created lives on.
  EXPECT_EQ(Run(Direction::kOut, em0, Tcp("192.0.2.10", "198.51.100.9", 22, 40000, kSyn | kAck, 7, 2)).action,
            Action::kPass);
  EXPECT_EQ(Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.10", 40000, 22, kAck, 2, 8)).action,
            Action::kPass);
  // A second connection finds the rule expired.
  v = Run(Direction::kIn, em0, Tcp("198.51.100.9", "192.0.2.10", 40001, 22, kSyn, 1, 0));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.rule_nr, 0u);
  // A match rule with once applies to one packet only.
  v = Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", 1000, 53));
  EXPECT_EQ(v.tag, e.TagId("FIRST"));
  v = Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", 1001, 53));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.tag, 0);
  // A reload brings fresh rules.
  Load("pass in proto tcp to port 22 once\n");
  EXPECT_FALSE(e.main_ruleset().rules[0].expired);
}

TEST_F(CompileTest, ProbabilityDrawsFromTheInjectedRng) {
  CompileResult r = Load(R"(
block all
pass in proto udp probability 25%
)");
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  // 25% is 1073741824 of 2^32 - 1; a draw of x becomes x % (2^32 - 2) + 1.
  std::vector<uint32_t> draws = {0, 1073741822, 1073741823, 0xfffffff0u};
  size_t next = 0;
  e.options().random = [&] { return draws[next++ % draws.size()]; };
  std::vector<Action> got;
  for (uint16_t port = 1000; port < 1004; ++port)
    got.push_back(Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", port, 53)).action);
  EXPECT_EQ(got, (std::vector<Action>{Action::kPass, Action::kPass, Action::kBlock, Action::kBlock}));
  EXPECT_EQ(next, 4u);  // one draw per evaluation of the rule
  // Over many draws of a real generator the share is about 25%.
  uint32_t x = 1;
  e.options().random = [&] { return x = x * 1664525u + 1013904223u; };
  int passed = 0;
  for (uint16_t port = 2000; port < 6000; ++port)
    passed += Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", port, 53)).action == Action::kPass;
  EXPECT_GT(passed, 800);
  EXPECT_LT(passed, 1200);
}

TEST_F(CompileTest, TosMatchesTheDscpByteWithoutEcn) {
  CompileResult r = Load(R"(
block all
pass in proto udp tos 0x10
pass in proto udp tos 0x11
)");
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  auto with_tos = [](std::vector<uint8_t> p, uint8_t tos) {
    if ((p[0] >> 4) == 4) {
      p[1] = tos;
      p[10] = p[11] = 0;
      const uint16_t c = net::Checksum(std::span<const uint8_t>(p.data(), 20));
      p[10] = static_cast<uint8_t>(c >> 8);
      p[11] = static_cast<uint8_t>(c);
    } else {
      p[0] = static_cast<uint8_t>(0x60 | tos >> 4);
      p[1] = static_cast<uint8_t>((p[1] & 0x0f) | tos << 4);
    }
    return p;
  };
  auto run = [&](const char* src, const char* dst, uint16_t port, uint8_t tos) {
    auto p = with_tos(Udp(src, dst, port, 53), tos);
    EXPECT_EQ(ChecksumError(p), "");
    return Run(Direction::kIn, em0, p).action;
  };
  EXPECT_EQ(run("198.51.100.9", "192.0.2.53", 1000, 0x10), Action::kPass);
  EXPECT_EQ(run("198.51.100.9", "192.0.2.53", 1001, 0x12), Action::kPass);  // ECT(0): ECN ignored
  EXPECT_EQ(run("198.51.100.9", "192.0.2.53", 1002, 0x11), Action::kPass);  // CE on 0x10, not "tos 0x11"
  EXPECT_EQ(run("198.51.100.9", "192.0.2.53", 1003, 0x00), Action::kBlock);
  EXPECT_EQ(run("198.51.100.9", "192.0.2.53", 1004, 0xb8), Action::kBlock);  // EF
  EXPECT_EQ(run("2001:db8::9", "2001:db8::53", 1005, 0x10), Action::kPass);  // IPv6 traffic class
  EXPECT_EQ(run("2001:db8::9", "2001:db8::53", 1006, 0x20), Action::kBlock);
  EXPECT_EQ(e.main_ruleset().rules[2].packets[0], 0u);  // "tos 0x11" never matches
}

TEST_F(CompileTest, ReceivedOnMatchesTheInterfaceAForwardedPacketCameIn) {
  CompileResult r = Load(R"(
block all
pass in all no state
pass out on em1 proto udp received-on em0 no state
pass out on em1 proto tcp ! received-on em0 no state
pass in on em2 proto icmp received-on em2 no state
)");
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  auto udp = [] { return Udp("198.51.100.9", "192.0.2.53", 1000, 53); };
  auto tcp = [] { return Tcp("198.51.100.9", "192.0.2.53", 1000, 80, kSyn, 1, 0); };
  EXPECT_EQ(Run(Direction::kOut, em1, udp(), 0, em0).action, Action::kPass);
  EXPECT_EQ(Run(Direction::kOut, em1, udp(), 0, em2).action, Action::kBlock);
  EXPECT_EQ(Run(Direction::kOut, em1, udp()).action, Action::kBlock);  // locally generated
  EXPECT_EQ(Run(Direction::kOut, em1, tcp(), 0, em2).action, Action::kPass);
  EXPECT_EQ(Run(Direction::kOut, em1, tcp(), 0, em0).action, Action::kBlock);
  // No receiving interface matches no interface, so "! received-on" holds.
  EXPECT_EQ(Run(Direction::kOut, em1, tcp()).action, Action::kPass);
  // Inbound packets were received on their own interface.
  Verdict v = Run(Direction::kIn, em2, IcmpEcho("198.51.100.9", "192.0.2.53", 7));
  EXPECT_EQ(v.rule_nr, 4u);
  v = Run(Direction::kIn, em0, IcmpEcho("198.51.100.9", "192.0.2.53", 8));
  EXPECT_EQ(v.rule_nr, 1u);
}

TEST_F(CompileTest, StateDefaultsApplyToRulesWithoutTheirOwnOptions) {
  CompileResult r = Load(R"(
set state-defaults max 1
block all
pass in proto udp to port 53
pass in proto udp to port 123 keep state (max 2)
)");
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", 1000, 53)).action, Action::kPass);
  Verdict v = Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", 1001, 53));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, kResStateLimit);
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", 1000, 123)).action, Action::kPass);
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", 1001, 123)).action, Action::kPass);
  EXPECT_EQ(Run(Direction::kIn, em0, Udp("198.51.100.9", "192.0.2.53", 1002, 123)).reason, kResStateLimit);
  // pfctl's adaptive thresholds for max < 10 are 0: the global ones apply
  // and the rule's states live their full udp.first.
  EXPECT_EQ(e.main_ruleset().rules[2].timeouts.v[kTmAdaptiveEnd], 0u);
  now += 59 * kSec;
  e.Purge(now, 100);
  EXPECT_EQ(e.states().size(), 3u);
}

TEST(EngineCompile, RangeToPrefixes) {
  auto v = RangeToPrefixes(A("10.0.0.1"), A("10.0.0.9"));
  std::vector<std::string> s;
  for (const auto& p : v) s.push_back(p.ToString());
  EXPECT_EQ(s, (std::vector<std::string>{"10.0.0.1", "10.0.0.2/31", "10.0.0.4/30", "10.0.0.8/31"}));
  EXPECT_EQ(RangeToPrefixes(A("0.0.0.0"), A("255.255.255.255")).size(), 1u);
  EXPECT_EQ(RangeToPrefixes(A("2001:db8::"), A("2001:db8::ffff")).front().ToString(), "2001:db8::/112");
}

}  // namespace
}  // namespace hapf::pf::engine
