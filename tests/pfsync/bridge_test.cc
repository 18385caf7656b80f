// The pfsync <-> filter bridge: field-exact conversion, and real connections
// replicated from one filter engine to another through the pfsync wire.
#include <gtest/gtest.h>

#include <deque>

#include "pf/engine_test_util.h"
#include "pf/engine.h"
#include "pfsync/bridge_state.h"
#include "pfsync/engine.h"

namespace hapf::pfsync {
namespace {

namespace pfe = pf::engine;
using pfe::testing::A;
using pfe::testing::Tcp;

// Every field a distinct non-default value, so a dropped or swapped field shows.
WireState Distinct(bool v6) {
  WireState w;
  w.id = 0x0102030405060708ull;
  w.creatorid = 0xa1b2c3d4;
  w.ifname = IfName::From("em2");
  w.af = v6 ? WireAf::kInet6 : WireAf::kInet;
  const char* a[4] = {"198.51.100.7", "192.0.2.10", "203.0.113.5", "192.0.2.11"};
  const char* a6[4] = {"2001:db8::7", "2001:db8::a", "2001:db8:1::5", "2001:db8::b"};
  for (int i = 0; i < 2; ++i) {
    w.key[i].af = w.af;
    w.key[i].addr = {A((v6 ? a6 : a)[2 * i]), A((v6 ? a6 : a)[2 * i + 1])};
    w.key[i].port = {static_cast<uint16_t>(40000 + i), static_cast<uint16_t>(80 + i)};
    w.key[i].rdomain = static_cast<uint16_t>(3 + i);
  }
  auto peer = [](uint32_t base) {
    WirePeer p;
    p.scrub = {0x0001, static_cast<uint8_t>(base + 1), 0x01, base + 2};
    p.seqlo = base + 3;
    p.seqhi = base + 4;
    p.seqdiff = base + 5;
    p.max_win = static_cast<uint16_t>(base + 6);
    p.mss = static_cast<uint16_t>(base + 7);
    p.state = kTcpEstablished;
    p.wscale = 0x87;
    return p;
  };
  w.src = peer(100);
  w.dst = peer(200);
  w.dst.state = kTcpFinWait2;
  w.rt_addr = A(v6 ? "2001:db8::1" : "192.0.2.1");
  w.rt = RouteType::kReplyTo;
  w.rule = 7;
  w.anchor = 8;
  w.nat_rule = 9;
  w.creation = 11;
  w.expire = 12;
  w.packets = {13, 14};
  w.bytes = {15, 16};
  w.rtableid = {17, -1};
  w.max_mss = 1400;
  w.proto = 6;
  w.direction = Direction::kOut;
  w.log = 1;
  w.timeout = kTmTcpEstablished;
  w.sync_flags = 0x04;
  w.min_ttl = 19;
  w.set_tos = 20;
  w.state_flags = kStateFlagAllowOpts | kStateFlagSloppy;
  w.set_prio = {3, 5};
  return w;
}

TEST(PfsyncBridge, ConversionIsLosslessOnEveryFieldBothWays) {
  for (bool v6 : {false, true}) {
    const WireState w = Distinct(v6);
    pfe::StateExport e;
    ASSERT_TRUE(WireToExport(w, &e));
    EXPECT_EQ(ExportToWire(e), w) << "v6=" << v6;
    pfe::StateExport e2;
    ASSERT_TRUE(WireToExport(ExportToWire(e), &e2));
    EXPECT_EQ(e2, e);
    // Through the bytes too, with OpenBSD's family numbers at the af offsets.
    std::array<uint8_t, kStateSize> bytes{};
    EncodeState(ExportToWire(e), bytes.data());
    const uint8_t af = v6 ? 24 : 2;
    EXPECT_EQ(bytes[250], af);
    EXPECT_EQ(bytes[24 + 38], af);
    EXPECT_EQ(bytes[64 + 38], af);
    EXPECT_EQ(DecodeState(bytes.data()), w);
    // Spot-check the mapping itself (a consistently swapped pair would round-trip).
    EXPECT_EQ(e.src.seqlo, 103u);
    EXPECT_EQ(e.dst.max_win, 206u);
    EXPECT_EQ(e.key[1].port[0], 40001);
    EXPECT_EQ(e.key[0].af, v6 ? net::Family::kV6 : net::Family::kV4);
    EXPECT_EQ(e.ifname, "em2");
    EXPECT_EQ(e.rtableid[1], -1);
  }
}

TEST(PfsyncBridge, NoRouteToAndFamilyLessKeysAndUnknownFamilies) {
  WireState w = Distinct(false);
  w.rt = RouteType::kNone;
  std::array<uint8_t, kStateSize> bytes{};
  w.rt_addr = A("0.0.0.0");
  EncodeState(w, bytes.data());
  pfe::StateExport e;
  ASSERT_TRUE(WireToExport(DecodeState(bytes.data()), &e));
  EXPECT_TRUE(e.rt_addr.empty());
  EXPECT_EQ(ExportToWire(e), DecodeState(bytes.data()));
  // Keys without a family take the state's (older senders).
  w.key[0].af = w.key[1].af = WireAf::kUnspec;
  ASSERT_TRUE(WireToExport(w, &e));
  EXPECT_EQ(e.key[1].af, net::Family::kV4);
  w.af = static_cast<WireAf>(10);  // Linux's AF_INET6 number is not OpenBSD's
  EXPECT_FALSE(WireToExport(w, &e));
}

struct Link : EngineSink {
  std::deque<std::vector<uint8_t>> out;
  int demotion = 0;
  void Send(std::span<const uint8_t> p) override { out.emplace_back(p.begin(), p.end()); }
  void Demote(int d, std::string_view) override { demotion += d; }
  void ReleaseDeferred(uint64_t) override {}
};

// One firewall: a filter engine with `pass in proto tcp to 192.0.2.10 port 80`
// (after a default block) and pfsync over the bridge.
struct Node {
  explicit Node(uint32_t hostid)
      : engine(Options(hostid)), store(engine), sync(Config(hostid), store, link) {
    ifp = engine.AddInterface("em0");
    pfe::Ruleset rs;
    rs.rules.push_back(pfe::BlockRule());
    pfe::Rule pass = pfe::PassRule();
    pass.dir = pfe::Direction::kIn;
    pass.proto = pfe::kProtoTcp;
    pass.dst = pfe::AddrSpec::Of(pfe::testing::P("192.0.2.10"));
    pass.dport = {{pfe::PortRange::Op::kEq, 80, 0}};
    rs.rules.push_back(pass);
    engine.LoadRuleset(rs);
    store.AttachSync(&sync);
  }
  static pfe::EngineOptions Options(uint32_t hostid) {
    pfe::EngineOptions o;
    o.hostid = hostid;
    o.purge_budget = 0;
    return o;
  }
  static EngineConfig Config(uint32_t hostid) {
    EngineConfig c;
    c.creatorid = hostid;
    return c;
  }
  pfe::Verdict Pass(pfe::Direction dir, std::vector<uint8_t> p, Time now) {
    return engine.Test(dir, ifp, p, sim::ToNanos(now));
  }
  pfe::Engine engine;
  PfStateStore store;
  Link link;
  SyncEngine sync;
  pfe::InterfaceId ifp = 0;
};

class PfsyncBridgeReplication : public ::testing::Test {
 protected:
  // Runs both engines' timers and carries their packets until both are quiet.
  void Pump(Duration span = 3s) {
    for (Time end = now + span; now < end; now += 50ms) {
      a.sync.Tick(now);
      b.sync.Tick(now);
      for (int i = 0; i < 100 && (!a.link.out.empty() || !b.link.out.empty()); ++i) {
        Deliver(a, b);
        Deliver(b, a);
      }
    }
  }
  void Deliver(Node& from, Node& to) {
    while (!from.link.out.empty()) {
      std::vector<uint8_t> p = std::move(from.link.out.front());
      from.link.out.pop_front();
      sent.push_back(p);
      to.sync.Receive(p, now);
    }
  }
  std::vector<uint8_t> C(uint8_t flags, uint32_t seq, uint32_t ack, size_t len = 0) {
    return Tcp("198.51.100.7", "192.0.2.10", 40000, 80, flags, seq, ack, 64240, len);
  }
  std::vector<uint8_t> S(uint8_t flags, uint32_t seq, uint32_t ack, size_t len = 0) {
    return Tcp("192.0.2.10", "198.51.100.7", 80, 40000, flags, seq, ack, 65160, len);
  }
  static constexpr auto kIn = pfe::Direction::kIn;
  static constexpr auto kOut = pfe::Direction::kOut;
  Time now = sim::FromNanos(1000 * pfe::testing::kSec);
  Node a{0x11}, b{0x22};
  std::vector<std::vector<uint8_t>> sent;
};

TEST_F(PfsyncBridgeReplication, ConnectionFromAContinuesOnBMidStreamBothDirections) {
  a.sync.LinkUp(now);
  b.sync.LinkUp(now);
  ASSERT_EQ(a.Pass(kIn, C(pfe::kSyn, 1000, 0), now).action, pfe::Action::kPass);
  ASSERT_EQ(a.Pass(kOut, S(pfe::kSyn | pfe::kAck, 5000, 1001), now).action, pfe::Action::kPass);
  ASSERT_EQ(a.Pass(kIn, C(pfe::kAck, 1001, 5001), now).action, pfe::Action::kPass);
  ASSERT_EQ(a.Pass(kIn, C(pfe::kAck | pfe::kPush, 1001, 5001, 100), now).action, pfe::Action::kPass);
  Pump();
  ASSERT_EQ(b.engine.states().size(), 1u);
  ASSERT_EQ(a.engine.states().size(), 1u);
  // Every packet on the link decodes whole.
  DecodedPacket d;
  for (const auto& p : sent) EXPECT_EQ(DecodePacket(p, d), DecodeError::kNone);

  const uint32_t ia = a.store.IndexOf({a.engine.states().at(0).id, 0x11});
  const uint32_t ib = b.store.IndexOf({a.engine.states().at(ia).id, 0x11});
  ASSERT_NE(ib, pfe::kNoIndex);
  EXPECT_EQ(b.engine.Export(ib, sim::ToNanos(now)), a.engine.Export(ia, sim::ToNanos(now)));

  // B without the state would block the server's mid-stream reply (default block).
  Node c{0x33};
  EXPECT_EQ(c.Pass(kOut, S(pfe::kAck | pfe::kPush, 5001, 1101, 1000), now).action, pfe::Action::kBlock);

  // Mid-stream, both directions, plus an out-of-window segment: A and B agree.
  struct Step {
    pfe::Direction dir;
    std::vector<uint8_t> pkt;
  };
  std::vector<Step> steps = {
      {kOut, S(pfe::kAck | pfe::kPush, 5001, 1101, 1000)},
      {kIn, C(pfe::kAck, 1101, 6001)},
      {kIn, C(pfe::kAck | pfe::kPush, 1101, 6001, 500)},
      {kOut, S(pfe::kAck | pfe::kPush, 900000000, 1601, 10)},  // far outside the window
      {kOut, S(pfe::kAck, 6001, 1601)},
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    const pfe::Verdict va = a.Pass(steps[i].dir, steps[i].pkt, now);
    const pfe::Verdict vb = b.Pass(steps[i].dir, steps[i].pkt, now);
    EXPECT_EQ(va.action, vb.action) << "step " << i;
    EXPECT_EQ(va.reason, vb.reason) << "step " << i;
    EXPECT_FALSE(vb.new_state) << "step " << i;
    // The out-of-window segment is the one both must refuse.
    EXPECT_EQ(vb.action, i == 3 ? pfe::Action::kBlock : pfe::Action::kPass) << "step " << i;
  }
  EXPECT_EQ(a.Pass(kOut, S(pfe::kAck, 6001, 1601), now).action, pfe::Action::kPass);
  const pfe::State& sa = a.engine.states().at(ia);
  const pfe::State& sb = b.engine.states().at(ib);
  EXPECT_EQ(sb.src.seqlo, 1601u);
  EXPECT_EQ(sb.dst.seqlo, sa.dst.seqlo);
  EXPECT_EQ(sb.src.state, pfe::kTcpEstablished);
}

TEST_F(PfsyncBridgeReplication, UpdatesFollowAndWindowsNeverMoveBackwards) {
  a.sync.LinkUp(now);
  b.sync.LinkUp(now);
  a.Pass(kIn, C(pfe::kSyn, 1000, 0), now);
  a.Pass(kOut, S(pfe::kSyn | pfe::kAck, 5000, 1001), now);
  a.Pass(kIn, C(pfe::kAck, 1001, 5001), now);
  Pump();
  ASSERT_EQ(b.engine.states().size(), 1u);
  const StateId id{a.engine.states().at(0).id, 0x11};
  const size_t first_packets = sent.size();

  // Traffic on A: B follows with compressed updates.
  uint32_t cseq = 1001, sseq = 5001;
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(a.Pass(kIn, C(pfe::kAck | pfe::kPush, cseq, sseq, 1000), now).action, pfe::Action::kPass);
    cseq += 1000;
    ASSERT_EQ(a.Pass(kOut, S(pfe::kAck | pfe::kPush, sseq, cseq, 1000), now).action, pfe::Action::kPass);
    sseq += 1000;
  }
  WireState before;
  ASSERT_TRUE(a.store.Lookup(id, now, &before));
  Pump();
  EXPECT_GT(sent.size(), first_packets);
  WireState on_b;
  ASSERT_TRUE(b.store.Lookup(id, now, &on_b));
  EXPECT_EQ(on_b.src, before.src);
  EXPECT_EQ(on_b.dst, before.dst);
  EXPECT_GT(b.sync.stats().items_in[static_cast<int>(Action::kUpdC)], 0u);

  // A stale full update (the peers as they were after the handshake) must not
  // pull B's windows back.
  WireState stale = before;
  stale.src.seqlo -= 20000;
  stale.src.seqhi -= 20000;
  stale.dst.seqlo -= 20000;
  stale.dst.seqhi -= 20000;
  PacketBuilder pb;
  ASSERT_TRUE(pb.AddState(Action::kUpd, stale));
  b.sync.Receive(pb.Finish(), now);
  ASSERT_TRUE(b.store.Lookup(id, now, &on_b));
  EXPECT_EQ(on_b.src.seqlo, before.src.seqlo);
  EXPECT_EQ(on_b.dst.seqlo, before.dst.seqlo);
  EXPECT_GE(b.sync.stats().stale, 1u);
  // And B still passes the connection's next segment.
  EXPECT_EQ(b.Pass(kIn, C(pfe::kAck, cseq, sseq), now).action, pfe::Action::kPass);
}

TEST_F(PfsyncBridgeReplication, LocalRemovalDeletesOnThePeerAndBulkFillsANewPeer) {
  a.sync.LinkUp(now);
  b.sync.LinkUp(now);
  for (uint16_t port = 1; port <= 3; ++port) {
    auto syn = Tcp("198.51.100.7", "192.0.2.10", static_cast<uint16_t>(40000 + port), 80, pfe::kSyn, 1000, 0);
    ASSERT_TRUE(a.Pass(kIn, syn, now).new_state);
  }
  Pump();
  ASSERT_EQ(b.engine.states().size(), 3u);
  EXPECT_EQ(a.engine.KillStatesFrom(A("198.51.100.7")), 3u);
  Pump();
  EXPECT_EQ(b.engine.states().size(), 0u);
  EXPECT_EQ(b.store.Size(), 0u);

  // A fresh node that comes up asks for a bulk update and gets A's table.
  for (uint16_t port = 10; port < 15; ++port) {
    auto syn = Tcp("198.51.100.7", "192.0.2.10", static_cast<uint16_t>(40000 + port), 80, pfe::kSyn, 1000, 0);
    ASSERT_TRUE(a.Pass(kIn, syn, now).new_state);
  }
  Pump();
  Node fresh{0x44};
  // Rewire: b's slot is taken by the fresh node for the rest of the test.
  std::swap(b.link.out, fresh.link.out);
  fresh.sync.LinkUp(now);
  fresh.sync.Up(now);
  EXPECT_EQ(fresh.link.demotion, 32);
  for (int i = 0; i < 200 && fresh.sync.bulk_state() != BulkRequestState::kDone; ++i) {
    now += 50ms;
    a.sync.Tick(now);
    fresh.sync.Tick(now);
    Deliver(fresh, a);
    Deliver(a, fresh);
  }
  EXPECT_EQ(fresh.sync.bulk_state(), BulkRequestState::kDone);
  EXPECT_EQ(fresh.link.demotion, 0);
  EXPECT_EQ(fresh.engine.states().size(), a.engine.states().size());
  EXPECT_EQ(fresh.store.Size(), 5u);
}

// Two firewalls that share a hostid (the daemon used to default it to 1 on
// every node) hand out the same (creatorid, id) pairs. A local state created
// with the id of a replicated one must not take the replicated state's place:
// later updates from the peer would land on the wrong connection and the real
// one would be unreachable when this node takes over.
TEST_F(PfsyncBridgeReplication, LocalIdCollisionKeepsTheReplicatedStateAddressable) {
  Node twin{0x11};
  auto carry = [&](Node& from, Node& to) {
    while (!from.link.out.empty()) {
      std::vector<uint8_t> p = std::move(from.link.out.front());
      from.link.out.pop_front();
      to.sync.Receive(p, now);
    }
  };
  auto pump = [&] {
    for (int i = 0; i < 40; ++i) {
      now += 50ms;
      a.sync.Tick(now);
      twin.sync.Tick(now);
      carry(a, twin);
      carry(twin, a);
    }
  };
  a.sync.LinkUp(now);
  twin.sync.LinkUp(now);
  ASSERT_TRUE(a.Pass(kIn, C(pfe::kSyn, 1000, 0), now).new_state);
  a.Pass(kOut, S(pfe::kSyn | pfe::kAck, 5000, 1001), now);
  a.Pass(kIn, C(pfe::kAck, 1001, 5001), now);
  pump();
  const StateId id{a.engine.states().at(0).id, 0x11};
  const uint32_t replicated = twin.store.IndexOf(id);
  ASSERT_NE(replicated, pfe::kNoIndex);

  // twin's own first state gets the same id as a's first.
  auto other = Tcp("198.51.100.8", "192.0.2.10", 41000, 80, pfe::kSyn, 7000, 0);
  ASSERT_TRUE(twin.Pass(kIn, other, now).new_state);
  EXPECT_EQ(twin.engine.states().size(), 2u);
  EXPECT_EQ(twin.store.id_collisions(), 1u);
  EXPECT_EQ(twin.store.IndexOf(id), replicated);

  // Traffic on a still moves the replicated state on twin.
  uint32_t cseq = 1001;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(a.Pass(kIn, C(pfe::kAck | pfe::kPush, cseq, 5001, 1000), now).action, pfe::Action::kPass);
    cseq += 1000;
  }
  pump();
  WireState on_a, on_twin;
  ASSERT_TRUE(a.store.Lookup(id, now, &on_a));
  ASSERT_TRUE(twin.store.Lookup(id, now, &on_twin));
  EXPECT_EQ(on_twin.src, on_a.src);
  EXPECT_EQ(on_twin.key[0], on_a.key[0]);
  // A hint naming twin's own colliding state (same id, same creator) is not taken.
  WireState via_local;
  ASSERT_TRUE(twin.store.LookupAt(id, replicated == 0 ? 1 : 0, now, &via_local));
  EXPECT_EQ(via_local.key[0], on_a.key[0]);
  // The next segment passes on twin, as after a failover.
  EXPECT_EQ(twin.Pass(kIn, C(pfe::kAck, cseq, 5001), now).action, pfe::Action::kPass);

  // Removing twin's colliding local state leaves the replicated one indexed.
  EXPECT_EQ(twin.engine.KillStatesFrom(A("198.51.100.8")), 1u);
  EXPECT_EQ(twin.store.IndexOf(id), replicated);
  EXPECT_EQ(twin.store.Size(), 1u);
}

TEST_F(PfsyncBridgeReplication, LookupAtTrustsAHintOnlyWhenItHoldsTheState) {
  ASSERT_TRUE(a.Pass(kIn, C(pfe::kSyn, 1000, 0), now).new_state);
  ASSERT_TRUE(a.Pass(kIn, Tcp("198.51.100.8", "192.0.2.10", 41000, 80, pfe::kSyn, 7000, 0), now).new_state);
  const StateId first{a.engine.states().at(0).id, 0x11};
  WireState w, hinted;
  ASSERT_TRUE(a.store.Lookup(first, now, &w));
  // Its slot, the other state's, one never used, none: the same state each time.
  for (uint32_t hint : {0u, 1u, 77u, StateStore::kNoHint}) {
    ASSERT_TRUE(a.store.LookupAt(first, hint, now, &hinted)) << hint;
    EXPECT_EQ(hinted.id, w.id) << hint;
    EXPECT_EQ(hinted.key[0], w.key[0]) << hint;
  }
  // Gone: no hint brings it back, not even once its slot holds another state.
  ASSERT_EQ(a.engine.KillStatesFrom(A("198.51.100.7")), 1u);
  EXPECT_FALSE(a.store.LookupAt(first, 0, now, nullptr));
  ASSERT_TRUE(a.Pass(kIn, Tcp("198.51.100.9", "192.0.2.10", 42000, 80, pfe::kSyn, 9000, 0), now).new_state);
  ASSERT_TRUE(a.engine.states().valid(0));
  EXPECT_FALSE(a.store.LookupAt(first, 0, now, nullptr));
}

}  // namespace
}  // namespace hapf::pfsync
