// Unit tests of the engine's rules (carp.md §3, §6, §7, §8, §10, §12).
#include "carp/engine.h"

#include <gtest/gtest.h>

#include "carp/config.h"

namespace hapf::carp {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

VhostConfig Cfg(uint8_t advbase = 1, uint8_t advskew = 0) {
  VhostConfig c;
  c.ifname = "carp0";
  c.carpdev = "em0";
  c.vhid = 5;
  c.advbase = advbase;
  c.advskew = advskew;
  c.passphrase = "pw";
  c.addresses = {*net::Prefix::Parse("198.51.100.1/24")};
  return c;
}

struct Fixture {
  Engine e;
  Actions out;
  Time now = sim::FromNanos(0);
  explicit Fixture(VhostConfig c = Cfg(), Settings s = {.log_level = kLogInfo})
      : e(s, [] { return uint64_t{0xabcdef}; }) {
    EXPECT_EQ(e.AddInterface(c, now, out), std::nullopt);
    cfg = c;
  }
  VhostConfig cfg;
  // An advert from a peer with the same key and addresses.
  std::array<uint8_t, kAdvertLen> Peer(uint8_t advbase, uint8_t advskew, uint8_t demote,
                                       uint64_t counter = 77) {
    std::vector<net::IpAddr> addrs;
    for (auto& p : cfg.addresses) addrs.push_back(p.addr);
    Authenticator auth(cfg.passphrase, cfg.vhid, addrs, VirtualMac(cfg.vhid));
    Advert ad;
    ad.vhid = cfg.vhid;
    ad.advbase = advbase;
    ad.advskew = advskew;
    ad.demote = demote;
    for (int i = 7; i >= 0; --i, counter >>= 8) ad.counter[i] = static_cast<uint8_t>(counter);
    ad.digest = auth.Compute(ad.counter);
    return EncodeAdvert(ad);
  }
  void Rx(std::span<const uint8_t> payload, uint8_t ttl = 255, const char* dst = "224.0.0.18") {
    out.clear();
    e.Receive(RxAdvert{"em0", *net::IpAddr::Parse("198.51.100.9"), *net::IpAddr::Parse(dst), ttl, payload},
              now, out);
  }
  void Advance(Duration d) {
    now += d;
    out.clear();
    e.OnTimer(now, out);
  }
  void MakeMaster() {
    Advance(Engine::MasterDownInterval(cfg));
    ASSERT_EQ(e.state("carp0"), State::kMaster);
  }
  int Count(Action::Kind k) const {
    return static_cast<int>(std::count_if(out.begin(), out.end(), [&](auto& a) { return a.kind == k; }));
  }
  std::string LastLog() const {
    for (auto it = out.rbegin(); it != out.rend(); ++it)
      if (it->kind == Action::Kind::kLog) return it->text;
    return "";
  }
};

TEST(CarpTimingTest, IntervalsFollowAdvbaseAndSkewWithTheFloor) {
  EXPECT_EQ(Engine::AdvertInterval(Cfg(1, 0)), milliseconds(1000));
  EXPECT_EQ(Engine::AdvertInterval(Cfg(1, 100)), microseconds(1'390'625));
  EXPECT_EQ(Engine::MasterDownInterval(Cfg(1, 100)), microseconds(4'171'875));
  EXPECT_EQ(Engine::AdvertInterval(Cfg(0, 0)), microseconds(3906));  // 1/256 s floor
  EXPECT_EQ(Engine::AdvertInterval(Cfg(0, 13)), microseconds(50'781));
  EXPECT_EQ(Engine::MasterDownInterval(Cfg(0, 26)), microseconds(304'686));
  auto fast = Cfg(1, 7);
  fast.fast_interval = milliseconds(20);
  EXPECT_EQ(Engine::MasterDownInterval(fast), milliseconds(60));
}

TEST(CarpEngineTest, InitGoesToBackupAndTimesOutToMaster) {
  Fixture f(Cfg(), {.log_level = kLogWarning});
  EXPECT_EQ(f.e.state("carp0"), State::kBackup);
  EXPECT_EQ(f.e.NextDeadline(), sim::FromNanos(3'000'000'000));
  f.Advance(milliseconds(2999));
  EXPECT_EQ(f.e.state("carp0"), State::kBackup);
  f.Advance(milliseconds(1));
  EXPECT_EQ(f.e.state("carp0"), State::kMaster);
  EXPECT_EQ(f.Count(Action::Kind::kSendAdvert), 1);
  EXPECT_EQ(f.Count(Action::Kind::kGratuitousArp), 1);
  EXPECT_EQ(f.LastLog(), "carp0: state transition: BACKUP -> MASTER");
  EXPECT_EQ(f.e.stats().preempt, 1u);
  // Second ARP round after the third advert, then none.
  f.Advance(milliseconds(1000));
  EXPECT_EQ(f.Count(Action::Kind::kGratuitousArp), 0);
  f.Advance(milliseconds(1000));
  EXPECT_EQ(f.Count(Action::Kind::kGratuitousArp), 1);
  f.Advance(milliseconds(1000));
  EXPECT_EQ(f.Count(Action::Kind::kGratuitousArp), 0);
}

TEST(CarpEngineTest, LogLevelFiltersLikeTheSysctl) {
  Fixture quiet(Cfg(), {.log_level = kLogCrit});
  quiet.Rx(quiet.Peer(1, 0, 0), 64);
  EXPECT_EQ(quiet.LastLog(), "");
  EXPECT_EQ(quiet.e.stats().badttl, 1u);
  Fixture loud(Cfg(), {.log_level = kLogInfo});
  loud.Rx(loud.Peer(1, 0, 0), 64);
  EXPECT_EQ(loud.LastLog(), "carp: received ttl 64 != 255 on em0");
}

TEST(CarpEngineTest, RejectionsAreCountedPerReasonAndLeaveTimersAlone) {
  Fixture f;
  const Time deadline = f.e.NextDeadline();
  f.now += milliseconds(500);
  auto good = f.Peer(1, 0, 0);
  // Keepalived's VRRPv2 with one address is 20 bytes: too short.
  std::vector<uint8_t> vrrp = {0x21, 5, 100, 1, 0, 1, 0, 0, 198, 51, 100, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  f.Rx(vrrp);
  EXPECT_EQ(f.e.stats().badlen, 1u);
  EXPECT_EQ(f.LastLog(), "carp: packet too short 40 on em0");
  auto bad = good;
  bad[20] ^= 1;
  f.Rx(bad);
  EXPECT_EQ(f.e.stats().badsum, 1u);
  EXPECT_EQ(f.LastLog(), "carp: checksum failed on em0");
  auto other_vhid = good;
  other_vhid[1] = 6;
  auto re = EncodeAdvert(*DecodeAdvert(other_vhid));
  f.Rx(re);
  EXPECT_EQ(f.e.stats().badvhid, 1u);
  f.Rx(good, 255, "198.51.100.2");  // unicast to a multicast vhost
  EXPECT_EQ(f.e.stats().badvhid, 2u);
  f.out.clear();
  f.e.Receive(RxAdvert{"em9", *net::IpAddr::Parse("198.51.100.9"), GroupV4(), 255, good}, f.now, f.out);
  EXPECT_EQ(f.e.stats().badif, 1u);
  EXPECT_EQ(f.LastLog(), "carp: packet received on non-carp interface: em9");
  f.e.settings().allow = false;
  f.Rx(good);
  f.e.settings().allow = true;
  EXPECT_EQ(f.e.stats().ipackets, 6u);
  EXPECT_EQ(f.e.NextDeadline(), deadline);  // nothing restarted the master-down timer
  // Trailing bytes are ignored, and the good advert restarts the timer.
  std::vector<uint8_t> longer(good.begin(), good.end());
  longer.resize(60, 0xee);
  f.Rx(longer);
  EXPECT_EQ(f.e.NextDeadline(), f.now + milliseconds(3000));
}

TEST(CarpEngineTest, MasterYieldsByRuleM) {
  struct Case {
    uint8_t advbase, advskew, demote;
    bool yields;
  } cases[] = {
      {1, 50, 0, true},   // equal timing, equal demote: the master steps down
      {1, 49, 0, true},   // faster
      {1, 51, 0, false},  // slower
      {1, 10, 1, false},  // faster but more demoted
      {2, 0, 0, false},   // advbase dominates
      {0, 200, 0, true},  // advbase 0 beats any advbase >= 1
  };
  for (const auto& c : cases) {
    Fixture f(Cfg(1, 50));
    f.MakeMaster();
    f.Rx(f.Peer(c.advbase, c.advskew, c.demote));
    EXPECT_EQ(f.e.state("carp0"), c.yields ? State::kBackup : State::kMaster)
        << int(c.advbase) << "/" << int(c.advskew) << "/" << int(c.demote);
  }
  // A demoted master yields to a less demoted, slower peer.
  Fixture f(Cfg(1, 0));
  f.MakeMaster();
  Actions out;
  f.e.AdminGroupDemote("carp", 2, f.now, out);
  f.Rx(f.Peer(1, 200, 1));
  EXPECT_EQ(f.e.state("carp0"), State::kBackup);
}

TEST(CarpEngineTest, BackupTakesOverByRulesB1B2B3) {
  struct Case {
    bool preempt;
    uint8_t own_advbase, own_skew, advbase, advskew, demote;
    bool takes_over;
  } cases[] = {
      {false, 1, 0, 1, 100, 0, false},      // better but no preempt
      {true, 1, 0, 1, 100, 0, true},        // B1
      {true, 1, 0, 1, 0, 0, false},         // B1 needs strictly faster
      {false, 1, 100, 1, 0, 1, true},       // B2: more demoted master
      {false, 1, 0, 255, 255, 0, true},     // B3: bow-out
      {false, 0, 100, 255, 255, 0, false},  // B3 disabled with own advbase 0
      {false, 86, 0, 255, 255, 0, false},   // (258, 0) > (255, 996093): B3 does not fire
      {false, 85, 0, 255, 255, 0, true},
      {true, 1, 50, 1, 0, 1, true},   // slower-or-not, a more demoted master loses (B2)
      {true, 1, 0, 1, 100, 0, true},  // B1 with Dch == Dme
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    const auto& c = cases[i];
    Fixture f(Cfg(c.own_advbase, c.own_skew), {.preempt = c.preempt});
    f.Rx(f.Peer(c.advbase, c.advskew, c.demote));
    EXPECT_EQ(f.e.state("carp0"), c.takes_over ? State::kMaster : State::kBackup) << "case " << i;
  }
}

TEST(CarpEngineTest, InitIgnoresAdvertsAndAdminDownBowsOutOnlyFromMaster) {
  Fixture f;
  Actions out;
  f.e.SetAdminUp("carp0", false, f.now, out);  // BACKUP: no bow-out
  EXPECT_EQ(
      std::count_if(out.begin(), out.end(), [](auto& a) { return a.kind == Action::Kind::kSendAdvert; }), 0);
  f.Rx(f.Peer(1, 0, 5));
  EXPECT_EQ(f.e.state("carp0"), State::kInit);
  out.clear();
  f.e.SetAdminUp("carp0", true, f.now, out);
  f.MakeMaster();
  f.out.clear();
  f.e.SetAdminUp("carp0", false, f.now, f.out);
  ASSERT_EQ(f.Count(Action::Kind::kSendAdvert), 1);
  auto sent =
      std::find_if(f.out.begin(), f.out.end(), [](auto& a) { return a.kind == Action::Kind::kSendAdvert; });
  EXPECT_TRUE(DecodeAdvert(sent->payload)->is_bow_out());
  EXPECT_EQ(f.e.NextDeadline(), sim::kNever);
}

TEST(CarpEngineTest, CookieIsConstantNonZeroAndLoopsAreDropped) {
  uint64_t draws[] = {0, 0, 42};
  int i = 0;
  Engine e({.log_level = kLogWarning}, [&] { return draws[i++]; });
  Actions out;
  ASSERT_EQ(e.AddInterface(Cfg(), sim::kTimeZero, out), std::nullopt);
  EXPECT_EQ(e.cookie("carp0"), 42u);
  out.clear();
  e.OnTimer(sim::FromNanos(3'000'000'000), out);
  std::vector<std::array<uint8_t, kAdvertLen>> sent;
  for (int k = 0; k < 3; ++k) {
    for (auto& a : out)
      if (a.kind == Action::Kind::kSendAdvert) sent.push_back(a.payload);
    out.clear();
    e.OnTimer(sim::FromNanos(3'000'000'000 + (k + 1) * 1'000'000'000LL), out);
  }
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0], sent[1]);  // OpenBSD: one counter for the node's life
  EXPECT_EQ(DecodeAdvert(sent[0])->counter_value(), 42u);
  out.clear();
  e.Receive(RxAdvert{"em0", *net::IpAddr::Parse("198.51.100.9"), GroupV4(), 255, sent[0]},
            sim::FromNanos(6'500'000'000), out);
  EXPECT_EQ(e.stats().badauth, 1u);
  EXPECT_EQ(e.state("carp0"), State::kMaster);
}

TEST(CarpEngineTest, DemotionGroupsCapAndImmediateAdverts) {
  Fixture f(Cfg(), {.log_level = kLogErr});
  f.MakeMaster();
  f.e.RegisterDemoter("pfsync0", {"carp", "pfsync"});
  // 0 -> 1 in a group: every MASTER advertises at once.
  f.out.clear();
  f.e.Demote("pfsync0", 1, "pfsync up", f.now, f.out);
  EXPECT_EQ(f.Count(Action::Kind::kSendAdvert), 1);
  EXPECT_EQ(f.LastLog(), "carp: pfsync0 demoted group pfsync by 1 to 1 (pfsync up)");
  f.out.clear();
  f.e.Demote("pfsync0", 32, "pfsync start", f.now, f.out);
  EXPECT_EQ(f.Count(Action::Kind::kSendAdvert), 0);  // 1 -> 33 is not 0 -> 1
  EXPECT_EQ(f.e.DemoteCount("carp0"), 33);           // sync link still down
  f.e.Demote("pfsync0", -1, "pfsync link", f.now, f.out);
  EXPECT_EQ(f.e.DemoteCount("carp0"), 32);
  EXPECT_EQ(f.e.GroupStatus("carp"), "carp: carp demote count 32");
  // Clamp at 0, cap the advertised value at 255.
  f.e.Demote("pfsync0", -100, "pfsync down", f.now, f.out);
  EXPECT_EQ(f.e.GroupDemote("carp"), 0);
  EXPECT_EQ(f.e.AdminGroupDemote("carp", 128, f.now, f.out), std::nullopt);
  EXPECT_EQ(f.e.AdminGroupDemote("carp", 127, f.now, f.out), std::nullopt);
  EXPECT_NE(f.e.AdminGroupDemote("carp", 1, f.now, f.out), std::nullopt);    // EINVAL above 255
  EXPECT_NE(f.e.AdminGroupDemote("carp", 129, f.now, f.out), std::nullopt);  // N is 0..128
  // Kernel adjustments have no upper bound; only the advertised value is capped.
  f.e.Demote("pfsync0", 10, "pfsync start", f.now, f.out);
  EXPECT_EQ(f.e.GroupDemote("carp"), 265);
  EXPECT_EQ(f.e.DemoteCount("carp0"), 255);
}

TEST(CarpEngineTest, OwnCounterUsedWhenGroupsAreZeroAndDetachUndoesIt) {
  Fixture f(Cfg(), {.log_level = kLogErr});
  f.out.clear();
  f.e.SetLinkState("em0", false, f.now, f.out);
  EXPECT_EQ(f.e.state("carp0"), State::kInit);
  EXPECT_EQ(f.e.DemoteCount("carp0"), 1);
  f.e.AdminGroupDemote("carp", 0, f.now, f.out);
  f.e.SetLinkState("em0", false, f.now, f.out);  // repeated event: no double demotion
  EXPECT_EQ(f.e.GroupDemote("carp"), 1);
  f.e.RemoveInterface("carp0", f.now, f.out);
  EXPECT_EQ(f.e.GroupDemote("carp"), 0);
  EXPECT_EQ(f.LastLog(), "carp: carp0 demoted group carp by -1 to 0 (detach)");
}

TEST(CarpEngineTest, StateRequestsAndDuplicateVhids) {
  Fixture f;
  f.out.clear();
  f.e.RequestState("carp0", State::kMaster, f.now, f.out);
  EXPECT_EQ(f.e.state("carp0"), State::kMaster);
  f.e.RequestState("carp0", State::kBackup, f.now, f.out);
  EXPECT_EQ(f.e.state("carp0"), State::kBackup);
  auto dup = Cfg();
  dup.ifname = "carp1";
  EXPECT_EQ(f.e.AddInterface(dup, f.now, f.out), "carp1: vhid 5 already used on em0 by carp0");
  dup.carpdev = "em1";  // same vhid on another parent is fine
  EXPECT_EQ(f.e.AddInterface(dup, f.now, f.out), std::nullopt);
}

TEST(CarpEngineTest, UnicastPeerSendsToThePeerAndIgnoresMulticast) {
  auto c = Cfg();
  c.peer = net::IpAddr::Parse("198.51.100.9");
  Fixture f(c);
  f.Rx(f.Peer(1, 0, 0));  // multicast: not for a unicast vhost
  EXPECT_EQ(f.e.stats().badvhid, 1u);
  const Time d = f.e.NextDeadline();
  f.now += milliseconds(100);
  f.Rx(f.Peer(1, 0, 0), 255, "198.51.100.2");
  EXPECT_GT(f.e.NextDeadline(), d);
  f.Advance(milliseconds(3000));
  auto it =
      std::find_if(f.out.begin(), f.out.end(), [](auto& a) { return a.kind == Action::Kind::kSendAdvert; });
  ASSERT_NE(it, f.out.end());
  EXPECT_EQ(it->addr.ToString(), "198.51.100.9");
}

TEST(CarpEngineTest, Ipv6AdvertsAndPerFamilyMasterDownTimers) {
  auto c = Cfg();
  c.addresses.push_back(*net::Prefix::Parse("2001:db8::1/64"));
  Fixture f(c);
  f.now += milliseconds(2000);
  // Only the IPv4 timer is restarted by an IPv4 advert: the IPv6 one still fires at 3 s.
  f.Rx(f.Peer(1, 0, 0));
  f.Advance(milliseconds(1000));
  EXPECT_EQ(f.e.state("carp0"), State::kMaster);
  EXPECT_EQ(f.Count(Action::Kind::kSendAdvert), 2);
  EXPECT_EQ(f.Count(Action::Kind::kNeighborAdvert), 2);  // the VIP and fe80::200:5eff:fe00:105
  std::vector<std::string> targets;
  for (auto& a : f.out)
    if (a.kind == Action::Kind::kNeighborAdvert) targets.push_back(a.addr.ToString());
  EXPECT_EQ(targets, (std::vector<std::string>{"2001:db8::1", "fe80::200:5eff:fe00:105"}));
  EXPECT_EQ(f.e.stats().opackets6, 1u);
}

TEST(CarpEngineTest, StatusLooksLikeIfconfig) {
  auto c = Cfg(1, 1);
  c.addresses = {*net::Prefix::Parse("198.51.100.131/29"), *net::Prefix::Parse("2001:db8::131/64")};
  Fixture f(c);
  f.MakeMaster();
  EXPECT_EQ(f.e.Status("carp0"),
            "carp0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n"
            "\tlladdr 00:00:5e:00:01:05\n"
            "\tpriority 15 llprio 3\n"
            "\tcarp: MASTER carpdev em0 vhid 5 advbase 1 advskew 1\n"
            "\tgroups: carp\n"
            "\tstatus: master\n"
            "\tinet 198.51.100.131 netmask 0xfffffff8 broadcast 198.51.100.135\n"
            "\tinet6 2001:db8::131 prefixlen 64\n");
  f.e.SetLinkState("em0", false, f.now, f.out);
  EXPECT_NE(f.e.Status("carp0").find("flags=8803<UP,BROADCAST,SIMPLEX,MULTICAST>"), std::string::npos);
  EXPECT_NE(f.e.Status("carp0").find("carp: INIT carpdev em0"), std::string::npos);
  EXPECT_NE(f.e.Status("carp0").find("status: invalid"), std::string::npos);
}

// ---- hostname.carpN ----

TEST(CarpConfigTest, ParsesTheOpenBsdExampleVerbatim) {
  auto r = ParseHostnameFile(
      "/etc/hostname.carp0",
      "# outside\n"
      "inet 198.51.100.131 255.255.255.248 198.51.100.135 vhid 1 carpdev em0 advskew 1 pass secret\n"
      "inet6 alias 2001:db8::131 64\n"
      "inet alias 198.51.100.132/29\n"
      "description \"outside vip\"\n"
      "up\n");
  ASSERT_TRUE(std::holds_alternative<VhostConfig>(r)) << std::get<ConfigError>(r).ToString();
  auto c = std::get<VhostConfig>(r);
  EXPECT_EQ(c.ifname, "carp0");
  EXPECT_EQ(c.carpdev, "em0");
  EXPECT_EQ(c.vhid, 1);
  EXPECT_EQ(c.advskew, 1);
  EXPECT_EQ(c.advbase, 1);
  EXPECT_EQ(c.passphrase, "secret");
  ASSERT_EQ(c.addresses.size(), 3u);
  EXPECT_EQ(c.addresses[0].ToString(), "198.51.100.131/29");
  EXPECT_EQ(c.addresses[1].ToString(), "2001:db8::131/64");
  EXPECT_EQ(c.addresses[2].ToString(), "198.51.100.132/29");
}

TEST(CarpConfigTest, KeywordsAndOtherForms) {
  auto r =
      ParseHostnameFile("hostname.carp12",
                        "vhid 12 pass \"two words\" carpdev vio0 advbase 0 advskew 26 carppeer 192.0.2.2\n"
                        "inet 192.0.2.10 netmask 0xffffff00 state backup group fw\n"
                        "inet6 2001:db8::10 prefixlen 56\n"
                        "balancing none\n");
  ASSERT_TRUE(std::holds_alternative<VhostConfig>(r)) << std::get<ConfigError>(r).ToString();
  auto c = std::get<VhostConfig>(r);
  EXPECT_EQ(c.ifname, "carp12");
  EXPECT_EQ(c.passphrase, "two words");
  EXPECT_EQ(c.advbase, 0);
  EXPECT_EQ(c.advskew, 26);
  EXPECT_EQ(c.peer->ToString(), "192.0.2.2");
  EXPECT_EQ(c.requested_state, State::kBackup);
  EXPECT_EQ(c.groups, std::vector<std::string>{"fw"});
  EXPECT_EQ(c.addresses[0].ToString(), "192.0.2.10/24");
  EXPECT_EQ(c.addresses[1].ToString(), "2001:db8::10/56");
  auto fast = ParseHostnameFile("hostname.carp1",
                                "inet 192.0.2.1 255.255.255.0 NONE vhid 1 carpdev em0 fastinterval 50\n");
  ASSERT_TRUE(std::holds_alternative<VhostConfig>(fast));
  EXPECT_EQ(std::get<VhostConfig>(fast).fast_interval, milliseconds(50));
}

TEST(CarpConfigTest, ErrorsNameFileAndLine) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"inet 192.0.2.1 255.255.255.0\nvhid 300\n", "f/hostname.carp0:2: vhid 300: must be 1..255"},
      {"inet 192.0.2.1/24 vhid 1 carpdev em0\nbalancing ip\n",
       "f/hostname.carp0:2: balancing ip is not supported by hapf (only balancing none)"},
      {"carpnodes 1:0,2:100\n",
       "f/hostname.carp0:1: carpnodes is not supported by hapf (use one carp interface per vhid)"},
      {"inet 192.0.2.1/24 vhid 1 carpdev em0 advskew 255\n",
       "f/hostname.carp0:1: advskew 255: must be 0..254"},
      {"inet 192.0.2.1/24 vhid 1 carpdev em0 bogus\n", "f/hostname.carp0:1: unknown keyword bogus"},
      {"inet6 192.0.2.1\n", "f/hostname.carp0:1: bad IPv6 address 192.0.2.1"},
      {"carppeer 2001:db8::1\n", "f/hostname.carp0:1: carppeer 2001:db8::1: must be an IPv4 address"},
      {"\n!/bin/echo hi\n", "f/hostname.carp0:2: shell commands (!) are not supported"},
      {"inet 192.0.2.1/24 carpdev em0\n", "f/hostname.carp0:2: no vhid configured"},
      {"description \"open\n", "f/hostname.carp0:1: unterminated quote"},
      {"inet 192.0.2.1/24 vhid 1 carpdev em0 pass\n", "f/hostname.carp0:1: missing value after pass"},
  };
  for (const auto& c : cases) {
    auto r = ParseHostnameFile("f/hostname.carp0", c.text);
    ASSERT_TRUE(std::holds_alternative<ConfigError>(r)) << c.text;
    EXPECT_EQ(std::get<ConfigError>(r).ToString(), c.error);
  }
  auto r = ParseHostnameFile("hostname.em0", "up\n");
  EXPECT_EQ(std::get<ConfigError>(r).ToString(),
            "hostname.em0:0: file name must be hostname.carpN (N a number)");
}

}  // namespace
}  // namespace hapf::carp

namespace hapf::carp {
namespace {

TEST(CarpEngineTest, ReconfigureAddedAddressGoesThroughInitOtherChangesKeepState) {
  Fixture f(Cfg(), {.log_level = kLogWarning});
  f.MakeMaster();
  auto c = f.cfg;
  c.advskew = 20;  // parameter change: state kept, timer restarted, new skew advertised
  f.out.clear();
  ASSERT_EQ(f.e.Reconfigure(c, f.now, f.out), std::nullopt);
  EXPECT_EQ(f.e.state("carp0"), State::kMaster);
  f.Advance(Engine::AdvertInterval(c));
  auto it =
      std::find_if(f.out.begin(), f.out.end(), [](auto& a) { return a.kind == Action::Kind::kSendAdvert; });
  ASSERT_NE(it, f.out.end());
  EXPECT_EQ(DecodeAdvert(it->payload)->advskew, 20);
  c.addresses.push_back(*net::Prefix::Parse("198.51.100.7/24"));
  f.out.clear();
  ASSERT_EQ(f.e.Reconfigure(c, f.now, f.out), std::nullopt);
  EXPECT_EQ(f.e.state("carp0"), State::kBackup);
  std::vector<std::string> logs;
  for (auto& a : f.out)
    if (a.kind == Action::Kind::kLog) logs.push_back(a.text);
  EXPECT_EQ(logs, (std::vector<std::string>{"carp0: state transition: MASTER -> INIT",
                                            "carp0: state transition: INIT -> BACKUP"}));
  // The new address set is in the HMAC: a peer with the old set fails.
  f.Rx(f.Peer(1, 0, 0));
  EXPECT_EQ(f.e.stats().badauth, 1u);
  f.cfg = c;  // a peer with the same set passes
  f.Rx(f.Peer(1, 0, 0));
  EXPECT_EQ(f.e.stats().badauth, 1u);
}

TEST(CarpEngineTest, SendErrorsDemoteAfterThreeAndRecoverAfterThree) {
  Fixture f(Cfg(), {.log_level = kLogErr});
  for (int i = 0; i < 2; ++i) f.e.ReportSendResult("carp0", false, false, f.now, f.out);
  EXPECT_EQ(f.e.DemoteCount("carp0"), 0);
  f.out.clear();
  f.e.ReportSendResult("carp0", false, false, f.now, f.out);
  EXPECT_EQ(f.e.DemoteCount("carp0"), 1);
  EXPECT_EQ(f.LastLog(), "carp: carp0 demoted group carp by 1 to 1 (> snderrors)");
  f.e.ReportSendResult("carp0", false, false, f.now, f.out);  // still one demotion
  EXPECT_EQ(f.e.DemoteCount("carp0"), 1);
  for (int i = 0; i < 3; ++i) f.e.ReportSendResult("carp0", false, true, f.now, f.out);
  EXPECT_EQ(f.e.DemoteCount("carp0"), 0);
  EXPECT_EQ(f.LastLog(), "carp: carp0 demoted group carp by -1 to 0 (< snderrors)");
}

}  // namespace
}  // namespace hapf::carp
