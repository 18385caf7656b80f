// Deterministic simulations of 2 and 3 CARP nodes (carp.md §7–§10).
#include <gtest/gtest.h>

#include "carp/sim_harness.h"

namespace hapf::carp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Cluster;
using testing::MakeVhost;
using testing::SimNode;

using Names = std::vector<std::string>;

struct Pair {
  Cluster c{1};
  sim::Segment& lan = c.AddSegment("lan");
  SimNode& a;
  SimNode& b;
  explicit Pair(Settings s = {}, uint64_t seed = 1) : c(seed), a(c.AddNode("A", s)), b(c.AddNode("B", s)) {
    c.Attach(a, "em0", lan, "198.51.100.2", "fe80::2");
    c.Attach(b, "em0", lan, "198.51.100.3", "fe80::3");
  }
  // carp0 (vhid 1, 198.51.100.1) on both, A preferred (advskew 0 vs 100).
  void AddBoth() {
    c.AddInterface(a, MakeVhost("carp0", "em0", 1, 0, {"198.51.100.1/24"}));
    c.AddInterface(b, MakeVhost("carp0", "em0", 1, 100, {"198.51.100.1/24"}));
  }
};

TEST(CarpSimTest, TwoNodesElectThePreferredMasterOnce) {
  Pair p;
  p.AddBoth();
  p.c.sim().RunFor(milliseconds(2900));
  EXPECT_EQ(p.c.Holders("carp0"), Names{});  // master-down is 3 s
  p.c.sim().RunFor(milliseconds(200));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"A"});
  p.c.sim().RunFor(seconds(30));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"A"});
  EXPECT_EQ(Cluster::Takeovers(p.a, "carp0"), 1);
  EXPECT_EQ(Cluster::Takeovers(p.b, "carp0"), 0);
  EXPECT_EQ(p.b.engine->state("carp0"), State::kBackup);
  EXPECT_EQ(p.a.logs.back(), "carp0: state transition: BACKUP -> MASTER");
  // One advert per second: ~31 from A, none from B.
  EXPECT_NEAR(static_cast<double>(p.a.engine->stats().opackets), 31, 1);
  EXPECT_EQ(p.b.engine->stats().opackets, 0u);
  // Gratuitous ARP after the first and after the third advert.
  EXPECT_EQ(p.a.garps, 2);
  EXPECT_EQ(p.a.neighbor_adverts, 0);  // IPv4 only
}

TEST(CarpSimTest, ThreeNodesElectOneAndTheNextBestTakesOverWhenTheMasterDies) {
  Cluster c(7);
  auto& lan = c.AddSegment("lan");
  SimNode* n[3] = {&c.AddNode("A"), &c.AddNode("B"), &c.AddNode("C")};
  const uint8_t skew[3] = {0, 50, 100};
  for (int i = 0; i < 3; ++i) {
    std::string ip = "198.51.100." + std::to_string(2 + i);
    c.Attach(*n[i], "em0", lan, ip.c_str());
    c.AddInterface(*n[i], MakeVhost("carp0", "em0", 7, skew[i], {"198.51.100.1/24"}));
  }
  c.sim().RunFor(seconds(10));
  EXPECT_EQ(c.Holders("carp0"), Names{"A"});
  const sim::Time killed = c.sim().Now();
  c.Kill(*n[0]);
  // B's master-down is 3 × (1 + 50/256) s = 3.586 s after A's last advert.
  for (int i = 0; i < 60; ++i) {
    c.sim().RunFor(milliseconds(100));
    EXPECT_LE(c.Holders("carp0").size(), 2u);  // A (dead) keeps its view; at most one live master
  }
  EXPECT_EQ(Cluster::Takeovers(*n[1], "carp0", killed), 1);
  EXPECT_EQ(Cluster::Takeovers(*n[2], "carp0", killed), 0);
  const auto& t = n[1]->transitions.back();
  EXPECT_LE(t.first - killed, milliseconds(3586 + 10));
  EXPECT_GE(t.first - killed, milliseconds(2586));
}

TEST(CarpSimTest, PreemptTakesOverAndFailsBack) {
  Pair p(Settings{.preempt = true});
  p.c.AddInterface(p.b, MakeVhost("carp0", "em0", 1, 100, {"198.51.100.1/24"}));
  p.c.sim().RunFor(seconds(10));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"B"});
  p.c.AddInterface(p.a, MakeVhost("carp0", "em0", 1, 0, {"198.51.100.1/24"}));
  p.c.sim().RunFor(milliseconds(1500));  // A hears B's slower advert and preempts at once
  EXPECT_EQ(p.c.Holders("carp0"), Names{"A"});
  EXPECT_EQ(p.b.engine->state("carp0"), State::kBackup);
  // Failure of A's link: B takes over within B's master-down (3.52 s) + one interval.
  p.c.SetLink(p.a, "em0", false);
  EXPECT_EQ(p.c.Holders("carp0"), Names{});
  p.c.sim().RunFor(milliseconds(4600));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"B"});
  // Failback: A's link returns, A goes BACKUP, hears B and preempts.
  p.c.SetLink(p.a, "em0", true);
  p.c.sim().RunFor(milliseconds(1500));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"A"});
}

TEST(CarpSimTest, NoPreemptWhenPreemptIsOff) {
  Pair p;
  p.c.AddInterface(p.b, MakeVhost("carp0", "em0", 1, 100, {"198.51.100.1/24"}));
  p.c.sim().RunFor(seconds(10));
  p.c.AddInterface(p.a, MakeVhost("carp0", "em0", 1, 0, {"198.51.100.1/24"}));
  p.c.sim().RunFor(seconds(30));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"B"});
  EXPECT_EQ(Cluster::Takeovers(p.a, "carp0"), 0);
}

TEST(CarpSimTest, PartitionGivesSplitBrainAndHealingASingleMaster) {
  Pair p;
  p.AddBoth();
  p.c.sim().RunFor(seconds(10));
  p.lan.SetGroup(p.b.ports["em0"].id, 1);
  p.c.sim().RunFor(seconds(6));
  EXPECT_EQ(p.c.Holders("carp0"), (Names{"A", "B"}));  // both sides think they are alone
  p.lan.Heal();
  p.c.sim().RunFor(milliseconds(1100));  // B hears A's faster advert and yields (rule M)
  EXPECT_EQ(p.c.Holders("carp0"), Names{"A"});
  p.c.sim().RunFor(seconds(20));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"A"});
}

TEST(CarpSimTest, EqualConfigurationsEndWithOneMasterThroughTheTieRule) {
  // Equal timing and demote: a MASTER yields (carp.md §7), so the pair ends
  // with one master (whoever advertised last keeps it).
  Pair p;
  p.c.AddInterface(p.a, MakeVhost("carp0", "em0", 1, 10, {"198.51.100.1/24"}));
  p.c.sim().RunFor(milliseconds(300));
  p.c.AddInterface(p.b, MakeVhost("carp0", "em0", 1, 10, {"198.51.100.1/24"}));
  p.c.sim().RunFor(seconds(20));
  EXPECT_EQ(p.c.Holders("carp0").size(), 1u);
}

// Both firewalls have an outside (em0) and an inside (em1) carp interface.
struct Firewalls {
  Cluster c{3};
  sim::Segment& out = c.AddSegment("outside");
  sim::Segment& in = c.AddSegment("inside");
  SimNode& a = c.AddNode("A");
  SimNode& b = c.AddNode("B");
  Firewalls() {
    c.Attach(a, "em0", out, "198.51.100.2");
    c.Attach(a, "em1", in, "203.0.113.2");
    c.Attach(b, "em0", out, "198.51.100.3");
    c.Attach(b, "em1", in, "203.0.113.3");
    for (SimNode* n : {&a, &b}) {
      const uint8_t skew = n == &a ? 0 : 100;
      c.AddInterface(*n, MakeVhost("carp0", "em0", 1, skew, {"198.51.100.1/24"}));
      c.AddInterface(*n, MakeVhost("carp1", "em1", 2, skew, {"203.0.113.1/24", "2001:db8:1::1/64"}));
    }
    c.sim().RunFor(seconds(10));
  }
};

TEST(CarpSimTest, LinkLossOnOneCarpdevMovesAllVips) {
  Firewalls f;
  EXPECT_EQ(f.c.Holders("carp0"), Names{"A"});
  EXPECT_EQ(f.c.Holders("carp1"), Names{"A"});
  f.a.engine->settings().log_level = kLogErr;  // demotion lines are ERR, hidden by default
  f.c.SetLink(f.a, "em1", false);              // inside cable pulled
  EXPECT_EQ(f.a.engine->DemoteCount("carp0"), 1);
  // carp0 on A advertised demote 1 at once (group "carp" went 0 -> 1): B takes
  // carp0 by rule B2 within the wire delay, even without preempt.
  f.c.sim().RunFor(milliseconds(10));
  EXPECT_EQ(f.c.Holders("carp0"), Names{"B"});
  // carp1 moves when B's master-down expires: 3 × (1 + 100/256) s.
  f.c.sim().RunFor(milliseconds(4200));
  EXPECT_EQ(f.c.Holders("carp1"), Names{"B"});
  EXPECT_NE(std::find(f.a.logs.begin(), f.a.logs.end(), "carp: carp1 demoted group carp by 1 to 1 (carpdev)"),
            f.a.logs.end());
  // The cable returns: A's demotion is undone; without preempt B keeps both.
  f.c.SetLink(f.a, "em1", true);
  f.c.sim().RunFor(seconds(10));
  EXPECT_EQ(f.a.engine->DemoteCount("carp0"), 0);
  EXPECT_EQ(f.c.Holders("carp0"), Names{"B"});
  EXPECT_EQ(f.c.Holders("carp1"), Names{"B"});
}

TEST(CarpSimTest, TrackedInterfaceAndPfsyncHookDemoteTheGroup) {
  Firewalls f;
  f.a.engine->TrackInterface("em2");
  f.c.SetLink(f.a, "em2", false);
  f.c.sim().RunFor(milliseconds(10));
  EXPECT_EQ(f.c.Holders("carp0"), Names{"B"});
  EXPECT_EQ(f.c.Holders("carp1"), Names{"B"});
  // B's pfsync bulk update: +1 "pfsync up", +32 "pfsync start", -1 "pfsync link" = 32.
  f.b.engine->RegisterDemoter("pfsync0", {"carp", "pfsync"});
  f.c.Do(f.b, [](Engine& e, sim::Time now, Actions& out) {
    e.Demote("pfsync0", 1, "pfsync up", now, out);
    e.Demote("pfsync0", 32, "pfsync start", now, out);
    e.Demote("pfsync0", -1, "pfsync link", now, out);
  });
  EXPECT_EQ(f.b.engine->DemoteCount("carp0"), 32);
  f.c.SetLink(f.a, "em2", true);         // A healthy again (demote 0) and B demoted 32:
  f.c.sim().RunFor(milliseconds(1100));  // A takes both back by rule B2
  EXPECT_EQ(f.c.Holders("carp0"), Names{"A"});
  EXPECT_EQ(f.c.Holders("carp1"), Names{"A"});
}

TEST(CarpSimTest, SeveralVhidsOnOneCarpdevShareTheLoad) {
  Pair p;
  p.c.AddInterface(p.a, MakeVhost("carp0", "em0", 1, 0, {"198.51.100.1/24"}));
  p.c.AddInterface(p.a, MakeVhost("carp1", "em0", 2, 100, {"198.51.100.4/24"}));
  p.c.AddInterface(p.b, MakeVhost("carp0", "em0", 1, 100, {"198.51.100.1/24"}));
  p.c.AddInterface(p.b, MakeVhost("carp1", "em0", 2, 0, {"198.51.100.4/24"}));
  p.c.sim().RunFor(seconds(20));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"A"});
  EXPECT_EQ(p.c.Holders("carp1"), Names{"B"});
  EXPECT_EQ(p.a.engine->stats().badvhid + p.a.engine->stats().badauth, 0u);
  // A's link loss moves carp0 to B; B's own vhid is undisturbed.
  p.c.SetLink(p.a, "em0", false);
  p.c.sim().RunFor(seconds(5));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"B"});
  EXPECT_EQ(p.c.Holders("carp1"), Names{"B"});
}

TEST(CarpSimTest, WrongPassphraseAdvertsAreIgnoredSoBothBecomeMaster) {
  Pair p;
  p.c.AddInterface(p.a, MakeVhost("carp0", "em0", 1, 0, {"198.51.100.1/24"}, "one"));
  p.c.AddInterface(p.b, MakeVhost("carp0", "em0", 1, 100, {"198.51.100.1/24"}, "two"));
  p.c.sim().RunFor(seconds(10));
  EXPECT_EQ(p.c.Holders("carp0"), (Names{"A", "B"}));
  EXPECT_GT(p.b.engine->stats().badauth, 3u);
}

TEST(CarpSimTest, ReplayedAdvertsAreAcceptedLikeFreshOnesButOwnLoopsAreNot) {
  Pair p;
  p.AddBoth();
  p.c.sim().RunFor(seconds(10));
  ASSERT_FALSE(p.a.sent.empty());
  const auto captured = p.a.sent.back();
  p.c.Kill(p.a);
  // carp.md §5.3: OpenBSD has no replay protection; a replay restarts B's
  // master-down timer exactly like a fresh advert, so B stays BACKUP.
  for (int i = 0; i < 20; ++i) {
    p.c.sim().RunFor(seconds(1));
    p.c.Inject(p.b, "em0", captured);
  }
  EXPECT_EQ(p.b.engine->state("carp0"), State::kBackup);
  // Replaying B's own advert back to it is a loop: dropped, timer not restarted.
  p.c.sim().RunFor(seconds(5));
  ASSERT_EQ(p.b.engine->state("carp0"), State::kMaster);
  const auto own = p.b.sent.back();
  p.b.engine->settings().log_level = kLogWarning;
  const auto badauth = p.b.engine->stats().badauth;
  p.c.Inject(p.b, "em0", own);
  EXPECT_EQ(p.b.engine->stats().badauth, badauth + 1);
  EXPECT_EQ(p.b.logs.back(), "carp0: replay or network loop detected");
}

TEST(CarpSimTest, FlappingLinkWithoutPreemptMovesMastershipOnce) {
  Pair p;
  p.AddBoth();
  p.c.sim().RunFor(seconds(10));
  const sim::Time start = p.c.sim().Now();
  for (int i = 0; i < 20; ++i) {
    p.c.SetLink(p.a, "em0", i % 2 == 1);
    p.c.sim().RunFor(milliseconds(500));
  }
  p.c.SetLink(p.a, "em0", true);
  p.c.sim().RunFor(seconds(10));
  EXPECT_EQ(Cluster::Takeovers(p.b, "carp0", start), 1);
  EXPECT_EQ(Cluster::Takeovers(p.a, "carp0", start), 0);
  EXPECT_EQ(p.c.Holders("carp0"), Names{"B"});
}

TEST(CarpSimTest, FlappingLinkWithPreemptFlapsNoFasterThanTheMasterDownTimer) {
  Pair p(Settings{.preempt = true});
  p.AddBoth();
  p.c.sim().RunFor(seconds(10));
  const sim::Time start = p.c.sim().Now();
  for (int i = 0; i < 40; ++i) {  // 20 s of a link that changes every 500 ms
    p.c.SetLink(p.a, "em0", i % 2 == 1);
    p.c.sim().RunFor(milliseconds(500));
  }
  // B can take over only after a full master-down (4.17 s) without A's adverts.
  const int b = Cluster::Takeovers(p.b, "carp0", start);
  EXPECT_GE(b, 1);
  EXPECT_LE(b, 20 * 1000 / 4170 + 1);
  // B only ever changes on its own timers: consecutive takeovers >= 4.17 s apart.
  sim::Time last = sim::kTimeZero;
  for (auto& [t, s] : p.b.transitions) {
    if (t < start || s != "carp0 BACKUP->MASTER") continue;
    if (last != sim::kTimeZero) {
      EXPECT_GE(t - last, milliseconds(4170));
    }
    last = t;
  }
}

TEST(CarpSimTest, BowOutMakesTheBackupTakeOverAtOnce) {
  Pair p;
  p.c.AddInterface(p.a, MakeVhost("carp0", "em0", 1, 0, {"198.51.100.1/24", "2001:db8::1/64"}));
  p.c.AddInterface(p.b, MakeVhost("carp0", "em0", 1, 100, {"198.51.100.1/24", "2001:db8::1/64"}));
  p.c.sim().RunFor(seconds(10));
  ASSERT_EQ(p.c.Holders("carp0"), Names{"A"});
  const auto sent_before = p.a.engine->stats().opackets + p.a.engine->stats().opackets6;
  p.c.Do(p.a, [](Engine& e, sim::Time now, Actions& out) { e.SetAdminUp("carp0", false, now, out); });
  // One bow-out per family, then silence.
  EXPECT_EQ(p.a.engine->stats().opackets + p.a.engine->stats().opackets6, sent_before + 2);
  auto ad = DecodeAdvert(ParseIpPacket(p.a.sent.back())->payload);
  EXPECT_TRUE(ad->is_bow_out());
  p.c.sim().RunFor(milliseconds(5));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"B"});
  p.c.sim().RunFor(seconds(5));
  EXPECT_EQ(p.a.engine->stats().opackets + p.a.engine->stats().opackets6, sent_before + 2);
}

TEST(CarpSimTest, LossyReorderingLanKeepsOneMaster) {
  Pair p(Settings{}, 11);
  p.lan.set_impairment(
      {.loss = 0.1, .delay = milliseconds(1), .jitter = milliseconds(30), .duplicate = 0.05});
  p.AddBoth();
  p.c.sim().RunFor(seconds(120));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"A"});
  // Losing three adverts in a row (p = 0.001) is rare; at most a couple of blips.
  EXPECT_LE(Cluster::Takeovers(p.b, "carp0"), 2);
}

TEST(CarpSimTest, FastModeFailsOverInMilliseconds) {
  Pair p;
  auto a = MakeVhost("carp0", "em0", 1, 0, {"198.51.100.1/24"});
  auto b = MakeVhost("carp0", "em0", 1, 100, {"198.51.100.1/24"});
  a.fast_interval = b.fast_interval = milliseconds(50);
  p.c.AddInterface(p.a, a);
  p.c.AddInterface(p.b, b);
  p.c.sim().RunFor(seconds(2));
  EXPECT_EQ(p.c.Holders("carp0"), Names{"A"});
  const sim::Time t0 = p.c.sim().Now();
  p.c.Kill(p.a);
  p.c.sim().RunFor(milliseconds(200));
  ASSERT_EQ(Cluster::Takeovers(p.b, "carp0", t0), 1);
  EXPECT_LE(p.b.transitions.back().first - t0, milliseconds(151));
  auto ad = DecodeAdvert(ParseIpPacket(p.a.sent.back())->payload);
  EXPECT_EQ(ad->advbase, 0);  // on the wire: advbase 0, advskew as configured
  EXPECT_EQ(ad->advskew, 0);
}

TEST(CarpSimTest, SameSeedSameRun) {
  auto run = [] {
    Pair p(Settings{}, 99);
    p.lan.set_impairment({.loss = 0.3, .jitter = milliseconds(50)});
    p.c.AddInterface(p.a, MakeVhost("carp0", "em0", 1, 0, {"198.51.100.1/24"}));
    p.c.AddInterface(p.b, MakeVhost("carp0", "em0", 1, 0, {"198.51.100.1/24"}));
    p.c.sim().RunFor(seconds(60));
    std::vector<std::pair<sim::Time, std::string>> all = p.a.transitions;
    all.insert(all.end(), p.b.transitions.begin(), p.b.transitions.end());
    return all;
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace hapf::carp
