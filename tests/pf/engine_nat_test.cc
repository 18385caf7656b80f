// Translation: nat-to, rdr-to, pools, port allocation, ICMP errors through NAT.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "engine_test_util.h"
#include "pf/engine.h"

namespace hapf::pf::engine {
namespace {

using namespace testing;

// An ICMP error after translation: outer addresses, the quoted flow, and
// every checksum (outer IP, ICMP, quoted IP header).
void ExpectError(const std::vector<uint8_t>& err, const char* src, const char* dst, const char* qsrc, uint16_t qsport,
                 const char* qdst, uint16_t qdport) {
  const PacketInfo pi = Info(err);
  EXPECT_EQ(pi.src, A(src));
  EXPECT_EQ(pi.dst, A(dst));
  ASSERT_TRUE(pi.quoted);
  EXPECT_EQ(pi.quoted->src, A(qsrc));
  EXPECT_EQ(pi.quoted->sport, qsport);
  EXPECT_EQ(pi.quoted->dst, A(qdst));
  EXPECT_EQ(pi.quoted->dport, qdport);
  EXPECT_EQ(ChecksumError(err), "");
}

class NatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lan = e.AddInterface("em1");
    ext = e.AddInterface("em0");
  }
  // pass out on em0 from 10.0.0.0/24 nat-to <pool>; pass in on em0 ... rdr-to
  void Load(Pool nat_pool, std::optional<Pool> rdr_pool = std::nullopt) {
    Ruleset rs;
    Rule nat = PassRule();
    nat.dir = Direction::kOut;
    nat.ifgroup = e.GroupId("em0");
    nat.src = AddrSpec::Of(P("10.0.0.0/24"));
    nat.nat = nat_pool;
    rs.rules.push_back(nat);
    if (rdr_pool) {
      Rule rdr = PassRule();
      rdr.dir = Direction::kIn;
      rdr.ifgroup = e.GroupId("em0");
      rdr.proto = kProtoTcp;
      rdr.dst = AddrSpec::Of(P("203.0.113.1"));
      rdr.dport = {{PortRange::Op::kEq, 8080, 0}};
      rdr.rdr = rdr_pool;
      rs.rules.push_back(rdr);
    }
    e.LoadRuleset(rs);
  }
  static Pool Addrs(std::vector<const char*> a) {
    Pool p;
    for (const char* s : a) p.addrs.push_back(P(s));
    return p;
  }
  Verdict Out(std::vector<uint8_t>& p) { return e.Test(Direction::kOut, ext, p, now); }
  Verdict In(std::vector<uint8_t>& p) { return e.Test(Direction::kIn, ext, p, now); }

  Engine e;
  InterfaceId lan = 0, ext = 0;
  TimeNs now = 100 * kSec;
};

TEST_F(NatTest, NatToRewritesSourceAndRepliesComeBack) {
  Load(Addrs({"203.0.113.1"}));
  auto syn = Tcp("10.0.0.5", "198.51.100.80", 33000, 443, kSyn, 7000, 0);
  Verdict v = Out(syn);
  ASSERT_EQ(v.action, Action::kPass);
  ASSERT_TRUE(v.rewritten);
  PacketInfo pi = Info(syn);
  EXPECT_EQ(pi.src, A("203.0.113.1"));
  EXPECT_GE(pi.sport, 50001);
  EXPECT_EQ(pi.dst, A("198.51.100.80"));
  EXPECT_EQ(ChecksumError(syn), "");
  const State& s = e.states().at(v.state);
  EXPECT_FALSE(s.keys_equal());
  EXPECT_EQ(s.key[kWire].Addr(1), A("203.0.113.1"));
  EXPECT_EQ(s.key[kStack].Addr(1), A("10.0.0.5"));
  EXPECT_EQ(s.key[kStack].port[1], 33000);

  auto synack = Tcp("198.51.100.80", "203.0.113.1", 443, pi.sport, kSyn | kAck, 9000, 7001);
  v = In(synack);
  ASSERT_EQ(v.action, Action::kPass);
  PacketInfo back = Info(synack);
  EXPECT_EQ(back.dst, A("10.0.0.5"));
  EXPECT_EQ(back.dport, 33000);
  EXPECT_EQ(ChecksumError(synack), "");
  // A packet to the NAT address on another port finds no state: blocked by default? no rule -> pass, no rewrite.
  auto stray = Tcp("198.51.100.80", "203.0.113.1", 443, 1, kAck, 1, 1);
  v = In(stray);
  EXPECT_FALSE(v.rewritten);
}

TEST_F(NatTest, PortAllocationNeverReusesAPairInUse) {
  Pool pool = Addrs({"203.0.113.1"});
  pool.port_lo = 60000;
  pool.port_hi = 60009;  // ten ports
  Load(pool);
  std::set<uint16_t> used;
  for (int i = 0; i < 10; ++i) {
    auto p = Udp("10.0.0.5", "198.51.100.53", static_cast<uint16_t>(1000 + i), 53);
    Verdict v = Out(p);
    ASSERT_EQ(v.action, Action::kPass) << i;
    const uint16_t port = Info(p).sport;
    EXPECT_GE(port, 60000);
    EXPECT_LE(port, 60009);
    EXPECT_TRUE(used.insert(port).second) << "port handed out twice: " << port;
  }
  // The range is exhausted for this destination: the 11th flow is refused.
  auto p = Udp("10.0.0.5", "198.51.100.53", 2000, 53);
  Verdict v = Out(p);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, kResTranslate);
  // Another destination can reuse the same ports: the pair differs.
  auto q = Udp("10.0.0.5", "198.51.100.54", 2000, 53);
  EXPECT_EQ(Out(q).action, Action::kPass);
}

TEST_F(NatTest, RoundRobinAndBitmaskPools) {
  Pool rr = Addrs({"203.0.113.8/30"});
  rr.type = PoolType::kRoundRobin;
  Load(rr);
  std::vector<net::IpAddr> got;
  for (int i = 0; i < 5; ++i) {
    auto p = Udp("10.0.0.5", "198.51.100.53", static_cast<uint16_t>(3000 + i), 53);
    Out(p);
    got.push_back(Info(p).src);
  }
  EXPECT_EQ(got[0], A("203.0.113.8"));
  EXPECT_EQ(got[1], A("203.0.113.9"));
  EXPECT_EQ(got[3], A("203.0.113.11"));
  EXPECT_EQ(got[4], A("203.0.113.8"));

  Pool bm = Addrs({"203.0.113.0/24"});
  bm.type = PoolType::kBitmask;
  Load(bm);
  auto p = Udp("10.0.0.77", "198.51.100.53", 4000, 53);
  Out(p);
  EXPECT_EQ(Info(p).src, A("203.0.113.77"));
}

TEST_F(NatTest, SourceHashIsStableAndRandomUsesTheInjectedRng) {
  Pool sh = Addrs({"203.0.113.0/28"});
  sh.type = PoolType::kSourceHash;
  sh.hash_key[0] = 42;
  Load(sh);
  auto a = Udp("10.0.0.9", "198.51.100.53", 5000, 53);
  auto b = Udp("10.0.0.9", "198.51.100.53", 5001, 53);
  Out(a);
  Out(b);
  EXPECT_EQ(Info(a).src, Info(b).src);
  EXPECT_TRUE(P("203.0.113.0/28").Contains(Info(a).src));

  uint32_t calls = 0;
  e.options().random = [&] { return calls++ * 7919u; };
  Pool rnd = Addrs({"203.0.113.0/28"});
  rnd.type = PoolType::kRandom;
  Load(rnd);
  auto c = Udp("10.0.0.9", "198.51.100.53", 5002, 53);
  Out(c);
  EXPECT_GT(calls, 0u);
  EXPECT_TRUE(P("203.0.113.0/28").Contains(Info(c).src));
}

TEST_F(NatTest, StickyAddressKeepsASourceOnOneAddress) {
  Pool rr = Addrs({"203.0.113.8/30"});
  rr.type = PoolType::kRoundRobin;
  rr.sticky = true;
  Load(rr);
  auto a = Udp("10.0.0.5", "198.51.100.53", 6000, 53);
  auto b = Udp("10.0.0.6", "198.51.100.53", 6000, 53);
  auto c = Udp("10.0.0.5", "198.51.100.53", 6001, 53);
  Out(a);
  Out(b);
  Out(c);
  EXPECT_NE(Info(a).src, Info(b).src);
  EXPECT_EQ(Info(a).src, Info(c).src);
}

TEST_F(NatTest, RdrToRewritesDestinationAndPort) {
  Pool rdr = Addrs({"10.0.0.20"});
  rdr.port_lo = 80;
  Load(Addrs({"203.0.113.1"}), rdr);
  auto syn = Tcp("198.51.100.9", "203.0.113.1", 40000, 8080, kSyn, 1, 0);
  Verdict v = In(syn);
  ASSERT_EQ(v.action, Action::kPass);
  PacketInfo pi = Info(syn);
  EXPECT_EQ(pi.dst, A("10.0.0.20"));
  EXPECT_EQ(pi.dport, 80);
  EXPECT_EQ(ChecksumError(syn), "");
  // The server's reply goes out through the state and gets its public face back.
  auto synack = Tcp("10.0.0.20", "198.51.100.9", 80, 40000, kSyn | kAck, 500, 2);
  v = Out(synack);
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.state, e.states().size() ? v.state : kNoIndex);
  EXPECT_EQ(Info(synack).src, A("203.0.113.1"));
  EXPECT_EQ(Info(synack).sport, 8080);
  EXPECT_EQ(ChecksumError(synack), "");
}

TEST_F(NatTest, IcmpEchoThroughNatTranslatesTheId) {
  Load(Addrs({"203.0.113.1"}));
  auto req = IcmpEcho("10.0.0.5", "198.51.100.1", 4242);
  Verdict v = Out(req);
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_EQ(Info(req).src, A("203.0.113.1"));
  EXPECT_EQ(ChecksumError(req), "");
  const uint16_t id = Info(req).icmp_id;
  auto rep = IcmpEcho("198.51.100.1", "203.0.113.1", id, true);
  v = In(rep);
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_EQ(Info(rep).dst, A("10.0.0.5"));
  EXPECT_EQ(Info(rep).icmp_id, 4242);
  EXPECT_EQ(ChecksumError(rep), "");
}

TEST_F(NatTest, IcmpErrorsThroughNatAreMatchedAndTranslatedBack) {
  Load(Addrs({"203.0.113.1"}));
  auto udp = Udp("10.0.0.5", "198.51.100.53", 5353, 53);
  Verdict v = Out(udp);
  ASSERT_EQ(v.action, Action::kPass);
  const uint16_t nport = Info(udp).sport;
  // A router on the way says the port is unreachable, quoting the NATed packet.
  auto err = IcmpError("192.0.2.254", "203.0.113.1", 3, 3, udp, 28);
  v = In(err);
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_TRUE(v.rewritten);
  PacketInfo pi = Info(err);
  EXPECT_EQ(pi.dst, A("10.0.0.5"));
  EXPECT_EQ(pi.src, A("192.0.2.254"));  // the router itself is not translated
  ASSERT_TRUE(pi.quoted);
  EXPECT_EQ(pi.quoted->src, A("10.0.0.5"));
  EXPECT_EQ(pi.quoted->sport, 5353);
  EXPECT_EQ(pi.quoted->dst, A("198.51.100.53"));
  EXPECT_EQ(ChecksumError(err), "");
  (void)nport;
  // An error quoting a flow we never saw is not related to any state.
  auto bogus = IcmpError("192.0.2.254", "203.0.113.1", 3, 3, Udp("203.0.113.1", "198.51.100.53", 1, 53), 28);
  v = In(bogus);
  EXPECT_FALSE(v.rewritten);
  EXPECT_EQ(v.state, kNoIndex);
}

TEST_F(NatTest, Ipv6IcmpErrorThroughNat) {
  Pool p6 = Addrs({"2001:db8:ffff::1"});
  Ruleset rs;
  Rule nat = PassRule();
  nat.dir = Direction::kOut;
  nat.src = AddrSpec::Of(P("2001:db8:1::/64"));
  nat.nat = p6;
  rs.rules.push_back(nat);
  e.LoadRuleset(rs);
  auto syn = Tcp("2001:db8:1::5", "2001:db8:2::80", 40000, 80, kSyn, 100, 0);
  ASSERT_EQ(Out(syn).action, Action::kPass);
  EXPECT_EQ(Info(syn).src, A("2001:db8:ffff::1"));
  EXPECT_EQ(ChecksumError(syn), "");
  auto err = IcmpError("2001:db8:2::1", "2001:db8:ffff::1", 1, 4, syn, 48);
  Verdict v = In(err);
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_EQ(Info(err).dst, A("2001:db8:1::5"));
  EXPECT_EQ(Info(err).quoted->src, A("2001:db8:1::5"));
  EXPECT_EQ(Info(err).quoted->sport, 40000);
  EXPECT_EQ(ChecksumError(err), "");
}

TEST_F(NatTest, TtlExceededToANatedTcpFlowIsTranslatedBack) {
  Load(Addrs({"203.0.113.1"}));
  auto syn = Tcp("10.0.0.5", "198.51.100.80", 33000, 443, kSyn, 7000, 0);
  ASSERT_EQ(Out(syn).action, Action::kPass);
  const PacketInfo nat = Info(syn);
  ASSERT_EQ(nat.src, A("203.0.113.1"));
  // A router on the way: time exceeded in transit, quoting the NATed SYN.
  auto err = IcmpError("192.0.2.254", "203.0.113.1", 11, 0, syn, 28);
  Verdict v = In(err);
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_TRUE(v.rewritten);
  EXPECT_NE(v.state, kNoIndex);
  ExpectError(err, "192.0.2.254", "10.0.0.5", "10.0.0.5", 33000, "198.51.100.80", 443);
  EXPECT_EQ(Info(err).icmp_type, 11);
  EXPECT_EQ(Info(err).quoted->tcp_seq, 7000u);
  // The same error quoting a sequence number far outside the window is not
  // related to the state (pf's check against forged errors).
  auto far = Tcp("203.0.113.1", "198.51.100.80", nat.sport, 443, kSyn, 7000 + 0x40000000u, 0);
  auto forged = IcmpError("192.0.2.254", "203.0.113.1", 11, 0, far, 28);
  v = In(forged);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, kResBadState);
  EXPECT_FALSE(v.rewritten);
}

// rdr-to the other way round: errors about the redirected flow come from the
// inside server (outbound) and from routers beyond the client (inbound).
TEST_F(NatTest, IcmpErrorsThroughRdrToAreTranslatedBothWays) {
  Ruleset rs;
  for (uint8_t proto : {kProtoUdp, kProtoTcp}) {
    Rule rdr = PassRule();
    rdr.dir = Direction::kIn;
    rdr.ifgroup = e.GroupId("em0");
    rdr.proto = proto;
    rdr.dst = AddrSpec::Of(P("203.0.113.1"));
    rdr.dport = {{PortRange::Op::kEq, proto == kProtoUdp ? uint16_t{5353} : uint16_t{8080}, 0}};
    Pool pool = Addrs({"10.0.0.20"});
    pool.port_lo = proto == kProtoUdp ? 53 : 80;
    rdr.rdr = pool;
    rs.rules.push_back(rdr);
  }
  rs.rules.push_back(PassRule());  // out: pass keep state
  e.LoadRuleset(rs);

  // UDP redirected in; the server answers port unreachable, quoting what it
  // received (the redirected datagram). It leaves with the public face.
  auto udp = Udp("198.51.100.9", "203.0.113.1", 40000, 5353);
  ASSERT_EQ(In(udp).action, Action::kPass);
  ASSERT_EQ(Info(udp).dst, A("10.0.0.20"));
  ASSERT_EQ(Info(udp).dport, 53);
  auto unreach = IcmpError("10.0.0.20", "198.51.100.9", 3, 3, udp, 28);
  Verdict v = Out(unreach);
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_TRUE(v.rewritten);
  ExpectError(unreach, "203.0.113.1", "198.51.100.9", "198.51.100.9", 40000, "203.0.113.1", 5353);

  // TCP redirected in; the server's SYN-ACK leaves as 203.0.113.1:8080 and a
  // router beyond the client says its TTL ran out: back to the server.
  auto syn = Tcp("198.51.100.9", "203.0.113.1", 40001, 8080, kSyn, 100, 0);
  ASSERT_EQ(In(syn).action, Action::kPass);
  auto synack = Tcp("10.0.0.20", "198.51.100.9", 80, 40001, kSyn | kAck, 500, 101);
  ASSERT_EQ(Out(synack).action, Action::kPass);
  ASSERT_EQ(Info(synack).src, A("203.0.113.1"));
  auto ttl = IcmpError("192.0.2.254", "203.0.113.1", 11, 0, synack, 28);
  v = In(ttl);
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_TRUE(v.rewritten);
  ExpectError(ttl, "192.0.2.254", "10.0.0.20", "10.0.0.20", 80, "198.51.100.9", 40001);
}

TEST_F(NatTest, LeastStatesPicksTheAddressWithFewestStates) {
  Pool ls = Addrs({"203.0.113.1", "203.0.113.2", "203.0.113.3"});
  ls.type = PoolType::kLeastStates;
  Load(ls);
  auto flow = [&](const char* src, uint16_t sport) {
    auto p = Udp(src, "198.51.100.53", sport, 53);
    EXPECT_EQ(Out(p).action, Action::kPass);
    return Info(p).src;
  };
  EXPECT_EQ(flow("10.0.0.5", 7000), A("203.0.113.1"));  // all empty: the first
  EXPECT_EQ(flow("10.0.0.6", 7000), A("203.0.113.2"));
  EXPECT_EQ(flow("10.0.0.7", 7000), A("203.0.113.3"));
  EXPECT_EQ(flow("10.0.0.7", 7001), A("203.0.113.1"));  // one each: the first
  // .2 loses its only state: it has the fewest.
  ASSERT_EQ(e.KillStates(net::Prefix::Host(A("10.0.0.6")), nullptr), 1u);
  EXPECT_EQ(flow("10.0.0.8", 7000), A("203.0.113.2"));
  EXPECT_EQ(flow("10.0.0.8", 7001), A("203.0.113.2"));  // .1 has 2, .2 and .3 have 1
}

TEST_F(NatTest, TablePoolFollowsTableChanges) {
  auto t = e.GetTable("natpool");
  t->Add(P("203.0.113.1"));
  t->Add(P("203.0.113.0/24"), true);  // negated entries are not pool addresses
  t->Add(P("2001:db8::1"));           // nor are the other family's
  Pool pool;
  pool.table = t;
  pool.type = PoolType::kRoundRobin;
  Load(pool);
  auto flow = [&](uint16_t sport) {
    auto p = Udp("10.0.0.5", "198.51.100.53", sport, 53);
    EXPECT_EQ(Out(p).action, Action::kPass);
    return Info(p).src;
  };
  EXPECT_EQ(flow(1000), A("203.0.113.1"));
  EXPECT_EQ(flow(1001), A("203.0.113.1"));
  t->Clear();
  t->Add(P("203.0.113.2"));
  EXPECT_EQ(flow(1002), A("203.0.113.2"));
  t->Add(P("203.0.113.3"));
  EXPECT_EQ(flow(1003), A("203.0.113.2"));  // round-robin over both from the cursor
  EXPECT_EQ(flow(1004), A("203.0.113.3"));
  EXPECT_EQ(flow(1006), A("203.0.113.2"));
  t->Clear();
  auto p = Udp("10.0.0.5", "198.51.100.53", 1005, 53);
  Verdict v = Out(p);
  EXPECT_EQ(v.action, Action::kBlock);  // an empty pool cannot translate
  EXPECT_EQ(v.reason, kResTranslate);
}

TEST_F(NatTest, OnePortPoolIsExhaustedByOneFlowPerDestination) {
  Pool pool = Addrs({"203.0.113.1"});
  pool.port_lo = pool.port_hi = 61000;
  Load(pool);
  auto first = Udp("10.0.0.5", "198.51.100.53", 1000, 53);
  Verdict v1 = Out(first);
  ASSERT_EQ(v1.action, Action::kPass);
  EXPECT_EQ(Info(first).sport, 61000);
  // Another source port (or host) to the same destination would need the
  // same translated pair: refused, nothing reused.
  auto second = Udp("10.0.0.6", "198.51.100.53", 1000, 53);
  Verdict v2 = Out(second);
  EXPECT_EQ(v2.action, Action::kBlock);
  EXPECT_EQ(v2.reason, kResTranslate);
  EXPECT_EQ(v2.state, kNoIndex);
  EXPECT_EQ(e.counters().reasons[kResTranslate], 1u);
  EXPECT_EQ(e.states().size(), 1u);
  auto tcp = Tcp("10.0.0.5", "198.51.100.53", 1001, 53, kSyn, 1, 0);
  EXPECT_EQ(Out(tcp).action, Action::kPass);  // another protocol: another key
  // The first flow's replies still reach it.
  auto reply = Udp("198.51.100.53", "203.0.113.1", 53, 61000);
  EXPECT_EQ(In(reply).action, Action::kPass);
  EXPECT_EQ(Info(reply).dst, A("10.0.0.5"));
  EXPECT_EQ(Info(reply).dport, 1000);
  // Once the first state is gone the port is free again.
  e.KillStates(net::Prefix::Host(A("10.0.0.5")), nullptr);
  auto third = Udp("10.0.0.6", "198.51.100.53", 1000, 53);
  EXPECT_EQ(Out(third).action, Action::kPass);
  EXPECT_EQ(Info(third).sport, 61000);
}

// scapy as an independent oracle: it recomputes every checksum of the
// translated packets and they must equal what the engine left in place.
TEST_F(NatTest, ScapyAgreesWithTranslatedChecksums) {
  Load(Addrs({"203.0.113.1"}));
  std::vector<std::vector<uint8_t>> pkts;
  auto syn = Tcp("10.0.0.5", "198.51.100.80", 33000, 443, kSyn, 7000, 0, 1000, 0, {7, 1460});
  Out(syn);
  pkts.push_back(syn);
  auto udp = Udp("10.0.0.5", "198.51.100.53", 5353, 53, 31);
  Out(udp);
  pkts.push_back(udp);
  auto err = IcmpError("192.0.2.254", "203.0.113.1", 3, 3, udp, 28);
  In(err);
  pkts.push_back(err);
  const std::string path = std::string(HAPF_BINARY_DIR) + "/engine_nat_scapy.hex";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  for (const auto& p : pkts) {
    for (uint8_t b : p) std::fprintf(f, "%02x", b);
    std::fprintf(f, "\n");
  }
  std::fclose(f);
  const std::string script =
      "import sys\n"
      "from scapy.all import IP, TCP, UDP, ICMP, raw\n"
      "bad = 0\n"
      "for line in open(sys.argv[1]):\n"
      "    b = bytes.fromhex(line.strip())\n"
      "    p = IP(b)\n"
      "    q = IP(b)\n"
      "    del q[IP].chksum\n"
      "    for l in (TCP, UDP, ICMP):\n"
      "        if l in q: del q[l].chksum\n"
      "    if raw(q) != b: bad += 1; print('mismatch', p.summary())\n"
      "print('checked', bad)\n"
      "sys.exit(1 if bad else 0)\n";
  const std::string spath = std::string(HAPF_BINARY_DIR) + "/engine_nat_scapy.py";
  f = std::fopen(spath.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(script.c_str(), f);
  std::fclose(f);
  const std::string cmd = "/usr/bin/python3 " + spath + " " + path + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buf[512];
  std::string out;
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  const int rc = pclose(pipe);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("checked 0"), std::string::npos) << out;
}

}  // namespace
}  // namespace hapf::pf::engine
