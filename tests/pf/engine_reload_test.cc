// Rule linkage across LoadRuleset: states of a replaced ruleset keep their
// rule (timeouts, counters, source limits, overload) as pf keeps the old rule
// alive, and the old rules go when their last state and source node do.
#include <gtest/gtest.h>

#include "engine_fixture.h"
#include "pf/engine.h"

namespace hapf::pf::engine {
namespace {

using namespace testing;

using ReloadTest = EngineFixture;

TEST_F(ReloadTest, StateKeepsItsRuleTimeoutsAndCountersAfterReload) {
  Rule a = PassRule();
  a.proto = kProtoTcp;
  a.timeouts.v[kTmTcpEstablished] = 30;
  a.label = "a";
  Load({a});
  const uint32_t st = In(Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kSyn, 10, 0)).state;
  ASSERT_NE(st, kNoIndex);
  Out(Tcp("192.0.2.1", "198.51.100.1", 80, 1000, kSyn | kAck, 50, 11));
  ASSERT_EQ(In(Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kAck, 11, 51)).action, Action::kPass);
  Rule* old = e.RuleByRef(e.states().at(st).rule_ref);
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->states_cur, 1u);

  // The new ruleset has no rule A and no per-rule timeouts (tcp.established
  // would be 86400 s).
  Rule b = PassRule();
  b.label = "b";
  Load({b});
  EXPECT_EQ(e.retired_rulesets(), 1u);
  const Rule& nb = e.main_ruleset().rules[0];
  EXPECT_NE(nb.ref, old->ref);
  ASSERT_EQ(e.RuleByRef(e.states().at(st).rule_ref), old);
  EXPECT_EQ(e.ExpiresAt(e.states().at(st)), e.states().at(st).expire + 30u);

  // Packets of the old state count on the old rule, not on the new one.
  const uint64_t old_in = old->packets[0];
  Verdict v = In(Tcp("198.51.100.1", "192.0.2.1", 1000, 80, kAck | kPush, 11, 51, 65535, 10));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.state, st);
  EXPECT_EQ(old->packets[0], old_in + 1);
  EXPECT_EQ(nb.packets[0] + nb.packets[1], 0u);
  EXPECT_EQ(nb.states_cur, 0u);
  // Labels are the current ruleset's.
  const auto labels = e.Labels();
  ASSERT_EQ(labels.size(), 1u);
  EXPECT_EQ(labels[0].first, "b");

  // A state of the new rule lives alongside (udp.first 60 s).
  const uint32_t udp = In(Udp("198.51.100.1", "192.0.2.1", 5, 53)).state;
  ASSERT_NE(udp, kNoIndex);
  EXPECT_EQ(nb.states_cur, 1u);

  now += 29 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 2u);
  now += 2 * kSec;  // 31 s idle: past the old rule's 30 s
  PurgeAll();
  EXPECT_EQ(e.states().size(), 1u);
  EXPECT_TRUE(e.states().valid(udp));
  EXPECT_FALSE(e.states().valid(st));
  // The old rule went with its last state; the new one kept its count.
  EXPECT_EQ(e.retired_rulesets(), 0u);
  EXPECT_EQ(nb.states_cur, 1u);
  EXPECT_EQ(e.RuleByRef(nb.ref), &nb);

  // A reload with nothing referencing the old rules retires nothing, and
  // the refs are reused from 0.
  e.FlushStates();
  Load({PassRule(), PassRule()});
  EXPECT_EQ(e.retired_rulesets(), 0u);
  EXPECT_EQ(e.main_ruleset().rules[0].ref, 0u);
  EXPECT_EQ(e.main_ruleset().rules[1].ref, 1u);
}

TEST_F(ReloadTest, RetiredRuleKeepsItsSourceLimitsAndOverload) {
  auto bad = e.GetTable("bad");
  Rule ssh = OverloadRule(bad, 22, false);
  ssh.max_src_conn = 1;
  Load({ssh});
  const uint32_t s1 = In(Tcp("198.51.100.66", "192.0.2.1", 1001, 22, kSyn, 100, 0)).state;
  const uint32_t s2 = In(Tcp("198.51.100.66", "192.0.2.1", 1002, 22, kSyn, 100, 0)).state;
  ASSERT_NE(s1, kNoIndex);
  ASSERT_NE(s2, kNoIndex);
  EXPECT_EQ(e.SrcNodes().size(), 1u);

  // The new ruleset has no limits at all.
  Load({PassRule()});
  ASSERT_EQ(e.retired_rulesets(), 1u);
  const uint32_t other = In(Udp("198.51.100.66", "192.0.2.1", 9, 9)).state;  // under the new rule
  ASSERT_NE(other, kNoIndex);

  auto complete = [&](uint16_t sport) {
    Out(Tcp("192.0.2.1", "198.51.100.66", 22, sport, kSyn | kAck, 900, 101));
    return In(Tcp("198.51.100.66", "192.0.2.1", sport, 22, kAck, 101, 901));
  };
  EXPECT_EQ(complete(1001).action, Action::kPass);
  // The second established connection is over the old rule's max-src-conn 1.
  Verdict v = complete(1002);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, kResSrcLimit);
  EXPECT_TRUE(bad->Matches(A("198.51.100.66")));
  EXPECT_EQ(e.counters().limits[kLcMaxSrcConn], 1u);
  EXPECT_EQ(e.counters().limits[kLcOverloadFlush], 1u);
  // "flush" without "global" killed the old rule's states only.
  EXPECT_FALSE(e.states().valid(s1));
  EXPECT_FALSE(e.states().valid(s2));
  EXPECT_TRUE(e.states().valid(other));
  EXPECT_EQ(e.main_ruleset().rules[0].states_cur, 1u);

  // The source node (src.track 0) goes at the next purge, and the old rule
  // with it.
  PurgeAll();
  EXPECT_EQ(e.SrcNodes().size(), 0u);
  EXPECT_EQ(e.retired_rulesets(), 0u);
  EXPECT_EQ(e.main_ruleset().rules[0].states_cur, 1u);
}

TEST_F(ReloadTest, ManyReloadsUnderALongLivedStateKeepOneRetiredRuleset) {
  Rule a = PassRule();
  a.proto = kProtoUdp;
  a.timeouts.v[kTmUdpFirst] = 5;
  Load({a});
  const uint32_t st = In(Udp("198.51.100.1", "192.0.2.1", 5, 53)).state;
  ASSERT_NE(st, kNoIndex);
  ASSERT_NE(In(Udp("198.51.100.2", "192.0.2.1", 5, 53)).state, kNoIndex);
  Rule* old = e.RuleByRef(e.states().at(st).rule_ref);
  ASSERT_NE(old, nullptr);
  for (int i = 0; i < 10; ++i) Load({PassRule(), PassRule()});
  // Only the first ruleset is referenced; the others were freed at once.
  EXPECT_EQ(e.retired_rulesets(), 1u);
  // Killing one of its states decrements the old rule, which stays.
  EXPECT_EQ(e.KillStates(net::Prefix::Host(A("198.51.100.2")), nullptr), 1u);
  PurgeAll();
  EXPECT_EQ(old->states_cur, 1u);
  EXPECT_EQ(e.retired_rulesets(), 1u);
  for (const Rule& r : e.main_ruleset().rules) EXPECT_EQ(r.states_cur, 0u);
  now += 6 * kSec;
  PurgeAll();
  EXPECT_EQ(e.states().size(), 0u);
  EXPECT_EQ(e.retired_rulesets(), 0u);
}

TEST_F(ReloadTest, IndexedRulesetRetiredUnderAState) {
  std::vector<Rule> rules;
  for (int i = 0; i < 40; ++i) {  // large enough for the destination index
    Rule r = PassRule();
    r.proto = kProtoUdp;
    r.dst = AddrSpec::Of(net::Prefix::Host(A(("192.0.2." + std::to_string(i + 1)).c_str())));
    r.timeouts.v[kTmUdpFirst] = static_cast<uint32_t>(100 + i);
    rules.push_back(r);
  }
  Load(rules);
  ASSERT_TRUE(e.main_ruleset().indexed);
  const uint32_t st = In(Udp("198.51.100.1", "192.0.2.7", 5, 53)).state;
  ASSERT_NE(st, kNoIndex);
  Load(rules);  // the same text again: new rules, the old ones retired
  EXPECT_EQ(e.retired_rulesets(), 1u);
  EXPECT_EQ(e.ExpiresAt(e.states().at(st)), e.states().at(st).expire + 106u);
  // The new index answers for new flows; the old state still passes.
  EXPECT_EQ(In(Udp("198.51.100.1", "192.0.2.8", 5, 53)).rule_nr, 7u);
  EXPECT_EQ(In(Udp("198.51.100.1", "192.0.2.7", 5, 53)).state, st);
  now += 107 * kSec;
  PurgeAll();
  EXPECT_EQ(e.retired_rulesets(), 0u);
}

}  // namespace
}  // namespace hapf::pf::engine
