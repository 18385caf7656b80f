// The concurrent established path (Engine::TestShared): same verdicts and
// rewrites as Test(), nothing changed when it declines a packet, lock stripes
// that keep concurrent updates of one state whole, and the observer's reports
// deferred to MergeShared.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "engine_test_util.h"
#include "pf/engine.h"

namespace hapf::pf::engine {
namespace {

using namespace testing;

// pass out on em0 from 10.0.0.0/24 nat-to 203.0.113.1 (keep state); pass in
// on em0 proto tcp to port 22 keep state; pass icmp.
Ruleset NatRules(Engine& e) {
  Ruleset rs;
  Rule nat = PassRule();
  nat.dir = Direction::kOut;
  nat.ifgroup = e.GroupId("em0");
  nat.src = AddrSpec::Of(P("10.0.0.0/24"));
  Pool pool;
  pool.addrs.push_back(P("203.0.113.1"));
  nat.nat = pool;
  rs.rules.push_back(nat);
  Rule ssh = PassRule();
  ssh.dir = Direction::kIn;
  ssh.proto = kProtoTcp;
  ssh.dport = {{PortRange::Op::kEq, 22, 0}};
  rs.rules.push_back(ssh);
  return rs;
}

struct Step {
  Direction dir;
  std::vector<uint8_t> pkt;
};

// A NAT'ed TCP connection (handshake, data both ways, an out-of-window
// segment, close), an inbound ssh connection, a NAT'ed UDP exchange and a
// ping: the same packets whether seen by Test() alone or TestShared first.
std::vector<Step> Trace(uint16_t nat_port, uint16_t udp_nat_port) {
  std::vector<Step> t;
  auto out = [&](std::vector<uint8_t> p) { t.push_back({Direction::kOut, std::move(p)}); };
  auto in = [&](std::vector<uint8_t> p) { t.push_back({Direction::kIn, std::move(p)}); };
  out(Tcp("10.0.0.5", "198.51.100.80", 33000, 443, kSyn, 1000, 0, 65535, 0, {.wscale = 2}));
  in(Tcp("198.51.100.80", "203.0.113.1", 443, nat_port, kSyn | kAck, 5000, 1001, 65535, 0, {.wscale = 2}));
  out(Tcp("10.0.0.5", "198.51.100.80", 33000, 443, kAck, 1001, 5001));
  for (uint32_t i = 0; i < 20; ++i) {
    out(Tcp("10.0.0.5", "198.51.100.80", 33000, 443, kAck | kPush, 1001 + i * 100, 5001, 65535, 100));
    in(Tcp("198.51.100.80", "203.0.113.1", 443, nat_port, kAck, 5001, 1101 + i * 100));
  }
  // Far beyond the window the peer advertised: blocked (BADSTATE).
  in(Tcp("198.51.100.80", "203.0.113.1", 443, nat_port, kAck | kPush, 5001 + 3000000, 3001, 65535, 10));
  in(Tcp("192.0.2.9", "198.51.100.1", 40000, 22, kSyn, 77, 0));
  out(Tcp("198.51.100.1", "192.0.2.9", 22, 40000, kSyn | kAck, 900, 78));
  in(Tcp("192.0.2.9", "198.51.100.1", 40000, 22, kAck, 78, 901));
  out(Udp("10.0.0.6", "198.51.100.53", 5353, 53));
  in(Udp("198.51.100.53", "203.0.113.1", 53, udp_nat_port));
  out(Udp("10.0.0.6", "198.51.100.53", 5353, 53));
  out(Tcp("10.0.0.5", "198.51.100.80", 33000, 443, kFin | kAck, 3001, 5001));
  in(Tcp("198.51.100.80", "203.0.113.1", 443, nat_port, kFin | kAck, 5001, 3002));
  out(Tcp("10.0.0.5", "198.51.100.80", 33000, 443, kAck, 3002, 5002));
  return t;
}

// Trace() with the translated ports learnt from a dry run on another engine
// (deterministic RNG).
std::vector<Step> TraceWithNatPorts(TimeNs now) {
  Engine c;
  const InterfaceId ic = c.AddInterface("em0");
  c.LoadRuleset(NatRules(c));
  auto syn = Tcp("10.0.0.5", "198.51.100.80", 33000, 443, kSyn, 1000, 0, 65535, 0, {.wscale = 2});
  c.Test(Direction::kOut, ic, syn, now);
  auto udp = Udp("10.0.0.6", "198.51.100.53", 5353, 53);
  c.Test(Direction::kOut, ic, udp, now);
  return Trace(Info(syn).sport, Info(udp).sport);
}

// Two engines with NatRules: one tested one way, the other another.
struct TwoEngines {
  TwoEngines() {
    a.LoadRuleset(NatRules(a));
    b.LoadRuleset(NatRules(b));
  }
  Engine a, b;
  InterfaceId ia = a.AddInterface("em0"), ib = b.AddInterface("em0");
};

TEST(EngineShared, SameVerdictsRewritesAndStatesAsTest) {
  TwoEngines two;
  Engine &a = two.a, &b = two.b;
  const InterfaceId ia = two.ia, ib = two.ib;
  const TimeNs now = 500 * kSec;
  std::vector<Step> ta = TraceWithNatPorts(now), tb = TraceWithNatPorts(now);
  Engine::SharedContext ctx;
  size_t shared = 0;
  for (size_t i = 0; i < ta.size(); ++i) {
    SCOPED_TRACE(i);
    const Verdict va = a.Test(ta[i].dir, ia, ta[i].pkt, now);
    Verdict vb;
    if (b.TestShared(tb[i].dir, ib, tb[i].pkt, now, 0, 0, ctx, vb)) {
      ++shared;
    } else {
      vb = b.Test(tb[i].dir, ib, tb[i].pkt, now);
    }
    EXPECT_EQ(va.action, vb.action);
    EXPECT_EQ(va.reason, vb.reason);
    EXPECT_EQ(va.rewritten, vb.rewritten);
    EXPECT_EQ(va.state, vb.state);
    EXPECT_EQ(va.rule_nr, vb.rule_nr);
    EXPECT_EQ(ta[i].pkt, tb[i].pkt);
    EXPECT_EQ(ChecksumError(tb[i].pkt), "");
  }
  // Everything but the first packet of each flow took the shared path.
  EXPECT_EQ(shared, ta.size() - 3);
  b.MergeShared(ctx, now);
  const Counters& ca = a.counters();
  const Counters& cb = b.counters();
  EXPECT_EQ(ca.reasons, cb.reasons);
  EXPECT_EQ(ca.reasons[kResBadState], 1u);
  EXPECT_EQ(ca.state_searches, cb.state_searches);
  EXPECT_EQ(ca.state_inserts, cb.state_inserts);
  for (int af = 0; af < 2; ++af) {
    for (int d = 0; d < 2; ++d) {
      EXPECT_EQ(ca.bytes[af][d], cb.bytes[af][d]);
      EXPECT_EQ(ca.packets[af][d][0], cb.packets[af][d][0]);
      EXPECT_EQ(ca.packets[af][d][1], cb.packets[af][d][1]);
    }
  }
  ASSERT_EQ(a.states().size(), b.states().size());
  a.states().ForEach([&](uint32_t idx, State&) { EXPECT_EQ(a.Export(idx, now), b.Export(idx, now)); });
  for (size_t r = 0; r < a.main_ruleset().rules.size(); ++r) {
    EXPECT_EQ(a.main_ruleset().rules[r].packets[0], b.main_ruleset().rules[r].packets[0]);
    EXPECT_EQ(a.main_ruleset().rules[r].packets[1], b.main_ruleset().rules[r].packets[1]);
    EXPECT_EQ(a.main_ruleset().rules[r].bytes[1], b.main_ruleset().rules[r].bytes[1]);
  }
}

// TestSharedBatch against TestShared packet by packet: the trace in batches
// of 8 (a short packet in each), declined packets through Test() after their
// batch on both engines; same verdicts, rewrites, counters and states.
TEST(EngineShared, BatchSameAsOneByOne) {
  TwoEngines two;
  Engine &a = two.a, &b = two.b;
  const InterfaceId ia = two.ia, ib = two.ib;
  const TimeNs now = 500 * kSec;
  std::vector<Step> ta = TraceWithNatPorts(now), tb;
  for (size_t i = 0; i < ta.size(); i += 7) {
    ta.insert(ta.begin() + static_cast<std::ptrdiff_t>(i), {Direction::kIn, {0x45, 0}});
  }
  tb = ta;
  Engine::SharedContext ca, cb;
  size_t shared = 0;
  for (size_t first = 0; first < ta.size(); first += 8) {
    const size_t n = std::min<size_t>(8, ta.size() - first);
    std::vector<Engine::BatchPacket> batch(n);
    for (size_t k = 0; k < n; ++k) batch[k] = {tb[first + k].dir, ib, tb[first + k].pkt, 0, 0};
    std::vector<Verdict> vb(n);
    bool done[8] = {};
    b.TestSharedBatch(batch, now, cb, vb, std::span<bool>(done, n));
    std::vector<size_t> declined;
    for (size_t k = 0; k < n; ++k) {
      SCOPED_TRACE(first + k);
      Verdict va;
      const bool da = a.TestShared(ta[first + k].dir, ia, ta[first + k].pkt, now, 0, 0, ca, va);
      ASSERT_EQ(da, done[k]);
      EXPECT_EQ(ta[first + k].pkt, tb[first + k].pkt);
      if (!da) {
        declined.push_back(first + k);
        continue;
      }
      ++shared;
      EXPECT_EQ(va.action, vb[k].action);
      EXPECT_EQ(va.reason, vb[k].reason);
      EXPECT_EQ(va.rewritten, vb[k].rewritten);
      EXPECT_EQ(va.state, vb[k].state);
      EXPECT_EQ(va.rule_nr, vb[k].rule_nr);
    }
    for (size_t i : declined) {
      const Verdict va = a.Test(ta[i].dir, ia, ta[i].pkt, now);
      const Verdict vb1 = b.Test(tb[i].dir, ib, tb[i].pkt, now);
      EXPECT_EQ(va.action, vb1.action);
      EXPECT_EQ(ta[i].pkt, tb[i].pkt);
    }
  }
  EXPECT_GT(shared, ta.size() / 2);
  a.MergeShared(ca, now);
  b.MergeShared(cb, now);
  EXPECT_EQ(a.counters().reasons, b.counters().reasons);
  EXPECT_EQ(a.counters().state_searches, b.counters().state_searches);
  EXPECT_EQ(a.counters().packets[0][0][0], b.counters().packets[0][0][0]);
  EXPECT_EQ(a.counters().packets[0][1][0], b.counters().packets[0][1][0]);
  EXPECT_EQ(a.counters().bytes[0][1], b.counters().bytes[0][1]);
  ASSERT_EQ(a.states().size(), b.states().size());
  a.states().ForEach([&](uint32_t idx, State&) { EXPECT_EQ(a.Export(idx, now), b.Export(idx, now)); });
}

TEST(EngineShared, DeclinesWithoutChangingAnything) {
  Engine e;
  const InterfaceId em0 = e.AddInterface("em0"), em1 = e.AddInterface("em1");
  Ruleset rs;
  Rule bound = PassRule();
  bound.if_bound = true;
  rs.rules.push_back(bound);
  e.LoadRuleset(rs);
  const TimeNs now = 100 * kSec;
  Engine::SharedContext ctx;
  Verdict v;
  // No state: the rules must run.
  auto syn = Tcp("192.0.2.1", "198.51.100.2", 1234, 80, kSyn, 1, 0);
  const auto before = syn;
  EXPECT_FALSE(e.TestShared(Direction::kIn, em0, syn, now, 0, 0, ctx, v));
  EXPECT_EQ(syn, before);
  EXPECT_EQ(e.states().size(), 0u);
  // An if-bound state seen on another interface.
  ASSERT_EQ(e.Test(Direction::kIn, em0, syn, now).action, Action::kPass);
  ASSERT_EQ(e.states().size(), 1u);
  uint32_t idx = 0;
  e.states().ForEach([&](uint32_t i, State&) { idx = i; });
  const StateExport st = e.Export(idx, now);
  auto synack = Tcp("198.51.100.2", "192.0.2.1", 80, 1234, kSyn | kAck, 50, 2);
  EXPECT_FALSE(e.TestShared(Direction::kOut, em1, synack, now + kSec, 0, 0, ctx, v));
  EXPECT_EQ(e.Export(idx, now), st);
  // A SYN reusing the ports of a closed connection replaces the state: write side.
  auto rst = Tcp("192.0.2.1", "198.51.100.2", 1234, 80, kRst, 2, 0);
  ASSERT_TRUE(e.TestShared(Direction::kIn, em0, rst, now, 0, 0, ctx, v));
  ASSERT_EQ(v.action, Action::kPass);
  const StateExport closed = e.Export(idx, now);
  auto again = Tcp("192.0.2.1", "198.51.100.2", 1234, 80, kSyn, 9000, 0);
  EXPECT_FALSE(e.TestShared(Direction::kIn, em0, again, now, 0, 0, ctx, v));
  EXPECT_EQ(e.Export(idx, now), closed);
  // What the shared path counted is not the engine's until merged.
  EXPECT_EQ(e.counters().packets[0][0][0], 1u);
  e.MergeShared(ctx, now);
  EXPECT_EQ(e.counters().packets[0][0][0], 2u);
}

class CountingObserver : public StateObserver {
 public:
  void StateCreated(uint32_t, const State&, TimeNs) override {}
  void StateUpdated(uint32_t idx, const State&, TimeNs) override { updated.push_back(idx); }
  void StateRemoving(uint32_t, const State&) override {}
  std::vector<uint32_t> updated;
};

TEST(EngineShared, ObserverHearsOfUpdatesAtMergeAndNotOfRemovedStates) {
  Engine e;
  const InterfaceId ifp = e.AddInterface("em0");
  Ruleset rs;
  rs.rules.push_back(PassRule());
  e.LoadRuleset(rs);
  CountingObserver obs;
  e.SetStateObserver(&obs);
  const TimeNs now = 100 * kSec;
  auto a = Udp("192.0.2.1", "198.51.100.2", 1000, 53);
  auto b = Udp("192.0.2.1", "198.51.100.2", 1001, 53);
  const uint32_t sa = e.Test(Direction::kIn, ifp, a, now).state;
  const uint32_t sb = e.Test(Direction::kIn, ifp, b, now).state;
  Engine::SharedContext ctx;
  Verdict v;
  ASSERT_TRUE(e.TestShared(Direction::kIn, ifp, a, now, 0, 0, ctx, v));
  ASSERT_TRUE(e.TestShared(Direction::kIn, ifp, b, now, 0, 0, ctx, v));
  EXPECT_TRUE(obs.updated.empty());
  e.RemoveImported(sb);  // gone before the merge (a peer's delete)
  e.MergeShared(ctx, now);
  EXPECT_EQ(obs.updated, std::vector<uint32_t>{sa});
  EXPECT_TRUE(ctx.updated.empty());
}

// Two threads passing packets of one NAT'ed flow at once, in the same
// direction: the state's counters stay whole only if the stripe lock
// serialises the updates, the rule's only if the flushed counts add up.
TEST(EngineShared, ConcurrentUpdatesOfOneStateAreNotLost) {
  Engine e;
  const InterfaceId ifp = e.AddInterface("em0");
  e.LoadRuleset(NatRules(e));
  const TimeNs now = 100 * kSec;
  auto first = Udp("10.0.0.6", "198.51.100.53", 5353, 53, 20);
  const Verdict v0 = e.Test(Direction::kOut, ifp, first, now);
  ASSERT_EQ(v0.action, Action::kPass);
  const uint64_t searches = e.counters().state_searches;
  constexpr int kPerThread = 200000;
  Engine::SharedContext ctx[2];
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto p = Udp("10.0.0.6", "198.51.100.53", 5353, 53, 20);
        Verdict v;
        if (!e.TestShared(Direction::kOut, ifp, p, now + i, 0, 0, ctx[t], v) || v.action != Action::kPass ||
            !v.rewritten) {
          ADD_FAILURE() << "thread " << t << " packet " << i;
          return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  Engine::FlushRuleCounters(ctx[0]);
  Engine::FlushRuleCounters(ctx[1]);
  const State& s = e.states().at(v0.state);
  EXPECT_EQ(s.packets[0], 2 * uint64_t{kPerThread} + 1);
  EXPECT_EQ(s.bytes[0], (2 * uint64_t{kPerThread} + 1) * 48);
  const Rule& nat = e.main_ruleset().rules[0];
  EXPECT_EQ(nat.packets[1], 2 * uint64_t{kPerThread} + 1);
  EXPECT_EQ(nat.bytes[1], (2 * uint64_t{kPerThread} + 1) * 48);
  e.MergeShared(ctx[0], now);
  e.MergeShared(ctx[1], now);
  EXPECT_EQ(e.counters().state_searches - searches, 2u * kPerThread);
}

}  // namespace
}  // namespace hapf::pf::engine
