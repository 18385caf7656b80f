// Deterministic simulations of two pfsync nodes (src/sim: virtual clock,
// lossy, reordering links). Every node is a real SyncEngine over a real
// MemoryStateStore; only time and the wire are simulated.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "pfsync/engine.h"
#include "sim/simulator.h"

namespace hapf::pfsync {
namespace {

using sim::Segment;
using sim::Simulator;

// One firewall: its state table, its pfsync engine, and the engine's outputs
// wired to a simulated sync segment and a CARP demotion counter.
class Node : public EngineSink {
 public:
  Node(Simulator& s, Segment& seg, EngineConfig cfg) : sim_(s), seg_(seg), cfg_(std::move(cfg)) {
    port_ = seg_.Attach([this](Segment::PortId, std::span<const uint8_t> f) {
      if (!engine_) return;
      engine_->Receive(f, sim_.Now());
      Arm();
    });
    Restart();
  }
  ~Node() override {
    if (timer_) sim_.Cancel(timer_);
  }

  // A reboot: empty table, fresh engine, a later epoch, CARP demotion reset.
  void Restart() {
    if (timer_) sim_.Cancel(timer_);
    timer_ = 0;
    engine_.reset();
    store_ = std::make_unique<MemoryStateStore>();
    cfg_.auth_epoch += 1;
    demotion_ = 0;
    engine_ = std::make_unique<SyncEngine>(cfg_, *store_, *this);
    engine_->LinkUp(sim_.Now());
    engine_->Up(sim_.Now());
    Arm();
  }

  void Send(std::span<const uint8_t> p) override { seg_.Send(port_, p); }
  void Demote(int delta, std::string_view) override {
    demotion_ += delta;
    max_demotion_ = std::max(max_demotion_, demotion_);
  }
  void ReleaseDeferred(uint64_t) override {}

  // Local traffic: pf created, updated or removed a state.
  void Create(const WireState& s) {
    ASSERT_EQ(store_->Insert(s, sim_.Now()), InsertResult::kInserted);
    engine_->StateInserted(s.identity(), sim_.Now());
    Arm();
  }
  void Advance(const StateId& id, uint32_t by, bool close) {
    WireState s;
    if (!store_->Lookup(id, sim_.Now(), &s)) return;
    // Peer content is a function of (state, seqlo): concurrent updates on two
    // nodes can then only differ in how far they got.
    WirePeer src = s.src, dst = s.dst;
    src.seqlo += by;
    src.seqhi = src.seqlo + 65535;
    dst.seqlo += by / 2 + 1;
    dst.seqhi = dst.seqlo + 65535;
    if (close && src.state < kTcpFinWait1) src.state = kTcpFinWait1;
    store_->UpdatePeers(id, &src, &dst, s.timeout, true, sim_.Now());
    engine_->StateUpdated(id, sim_.Now());
    Arm();
  }
  void Delete(const StateId& id) {
    if (!store_->Remove(id)) return;
    engine_->StateRemoved(id, false, sim_.Now());
    Arm();
  }
  void LinkFlap() {
    engine_->LinkDown(sim_.Now());
    engine_->LinkUp(sim_.Now());
    Arm();
  }

  MemoryStateStore& store() { return *store_; }
  SyncEngine& engine() { return *engine_; }
  int demotion() const { return demotion_; }
  int max_demotion() const { return max_demotion_; }
  Segment::PortId port() const { return port_; }
  // Packets the transport takes per wakeup (hapf's runtime: one sendmmsg batch).
  void set_tx_batch(size_t n) { tx_batch_ = n; }

 private:
  void Arm() {
    if (timer_) sim_.Cancel(timer_);
    timer_ = 0;
    if (auto d = engine_->NextDeadline()) {
      timer_ = sim_.At(*d, [this] {
        timer_ = 0;
        engine_->Tick(sim_.Now(), tx_batch_);
        Arm();
      });
    }
  }

  Simulator& sim_;
  Segment& seg_;
  EngineConfig cfg_;
  Segment::PortId port_;
  std::unique_ptr<MemoryStateStore> store_;
  size_t tx_batch_ = SIZE_MAX;
  std::unique_ptr<SyncEngine> engine_;
  sim::TimerId timer_ = 0;
  int demotion_ = 0, max_demotion_ = 0;
};

EngineConfig NodeConfig(uint32_t creator) {
  EngineConfig c;
  c.creatorid = creator;
  return c;
}

// `packets` bulk packets per 20 ms (OpenBSD: 1).
EngineConfig PacedConfig(uint32_t creator, int packets) {
  EngineConfig c = NodeConfig(creator);
  c.bulk_interval = 20ms;
  c.bulk_packets_per_interval = packets;
  return c;
}

WireState NewState(uint32_t creator, int node, uint32_t n) {
  WireState s;
  s.id = (uint64_t{0x65530000u + static_cast<uint32_t>(node)} << 32) + n;
  s.creatorid = creator;
  s.ifname = IfName::From("em0");
  WireKey k;
  k.af = WireAf::kInet;
  k.addr = {net::IpAddr::V4(0xc6336414),
            net::IpAddr::V4((10u << 24) | (static_cast<uint32_t>(node) << 16) | (n >> 16 << 8) | (n & 0xff))};
  k.port = {443, static_cast<uint16_t>(1024 + (n >> 8 & 0xff) * 100 + (n & 0x3f))};
  s.key = {k, k};
  s.af = WireAf::kInet;
  s.proto = 6;
  s.direction = Direction::kOut;
  s.timeout = kTmTcpEstablished;
  for (WirePeer* p : {&s.src, &s.dst}) {
    p->seqlo = n * 7919u;
    p->seqhi = p->seqlo + 65535;
    p->max_win = 65535;
    p->mss = 1460;
    p->state = kTcpEstablished;
    p->wscale = 0x87;
  }
  return s;
}

// What must agree between the nodes: the set of states and both TCP peers.
std::map<StateId, std::pair<WirePeer, WirePeer>> Table(Node& n, Time now) {
  std::map<StateId, std::pair<WirePeer, WirePeer>> t;
  n.store().ForEach(now, [&](const WireState& s) { t[s.identity()] = {s.src, s.dst}; });
  return t;
}

// Number of states missing on one side or with different peers.
size_t Differences(Node& a, Node& b, Time now) {
  auto ta = Table(a, now), tb = Table(b, now);
  size_t d = 0;
  for (auto& [id, peers] : ta) {
    auto it = tb.find(id);
    if (it == tb.end() || !(it->second == peers)) ++d;
  }
  for (auto& [id, peers] : tb)
    if (!ta.contains(id)) ++d;
  return d;
}

void RunUntilQuiet(Simulator& s, Duration max) {
  Time end = s.Now() + max;
  s.RunUntil(end);
}

class PfsyncConvergence : public ::testing::TestWithParam<uint64_t> {};

TEST_P(PfsyncConvergence, AnyInterleavingOnBothSidesConvergesOverLossyLinks) {
  Simulator s(GetParam());
  Segment seg(s, "sync");
  Segment::Impairment lossy;
  lossy.loss = 0.2;
  lossy.delay = 300us;
  lossy.jitter = 2ms;  // reorders
  lossy.duplicate = 0.02;
  seg.set_impairment(lossy);
  Node a(s, seg, NodeConfig(0x0a0a0a0a)), b(s, seg, NodeConfig(0x0b0b0b0b));
  s.RunFor(30s);  // both ask each other for a bulk update of an empty table
  Node* nodes[] = {&a, &b};
  uint32_t next[2] = {1, 1};
  auto& rng = s.rng();
  for (int step = 0; step < 3000; ++step) {
    int who = static_cast<int>(rng.Below(2));
    Node& n = *nodes[who];
    uint64_t op = rng.Below(10);
    std::vector<StateId> ids;
    n.store().ForEach(s.Now(), [&](const WireState& st) { ids.push_back(st.identity()); });
    if (op < 3 || ids.empty()) {
      n.Create(NewState(who == 0 ? 0x0a0a0a0a : 0x0b0b0b0b, who, next[who]++));
    } else if (op < 9) {
      n.Advance(ids[rng.Below(ids.size())], static_cast<uint32_t>(1 + rng.Below(5000)), rng.Below(20) == 0);
    } else {
      n.Delete(ids[rng.Below(ids.size())]);
    }
    s.RunFor(Duration(static_cast<int64_t>(rng.Below(50'000'000))));  // up to 50 ms between events
  }
  // The link heals; the nodes resynchronise as after a sync-link outage.
  seg.set_impairment(Segment::Impairment{});
  s.RunFor(5s);
  a.LinkFlap();
  b.LinkFlap();
  RunUntilQuiet(s, 120s);
  auto ta = Table(a, s.Now()), tb = Table(b, s.Now());
  EXPECT_GT(ta.size(), 100u);
  EXPECT_EQ(ta.size(), tb.size());
  size_t differ = 0;
  for (auto& [id, peers] : ta) {
    auto it = tb.find(id);
    if (it == tb.end() || !(it->second == peers)) ++differ;
  }
  EXPECT_EQ(differ, 0u);
  EXPECT_GT(seg.dropped(), 100u);  // the links really were lossy
  EXPECT_GT(a.engine().stats().stale + b.engine().stats().stale, 0u);
  EXPECT_EQ(a.demotion(), 0);
  EXPECT_EQ(b.demotion(), 0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, PfsyncConvergence, ::testing::Values(1, 2, 3, 42, 20261123));

TEST(PfsyncSim, WindowsNeverMoveBackwardsUnderConcurrentUpdates) {
  Simulator s(9);
  Segment seg(s, "sync");
  Segment::Impairment imp;
  imp.jitter = 5ms;
  seg.set_impairment(imp);
  Node a(s, seg, NodeConfig(0x0a0a0a0a)), b(s, seg, NodeConfig(0x0b0b0b0b));
  s.RunFor(30s);
  WireState st = NewState(0x0a0a0a0a, 0, 1);
  a.Create(st);
  s.RunFor(2s);
  ASSERT_TRUE(b.store().Lookup(st.identity(), s.Now(), nullptr));
  uint32_t last_a = st.src.seqlo, last_b = st.src.seqlo;
  for (int i = 0; i < 500; ++i) {
    (i % 2 ? a : b).Advance(st.identity(), static_cast<uint32_t>(1 + s.rng().Below(3000)), false);
    s.RunFor(Duration(static_cast<int64_t>(s.rng().Below(3'000'000))));
    WireState x, y;
    ASSERT_TRUE(a.store().Lookup(st.identity(), s.Now(), &x));
    ASSERT_TRUE(b.store().Lookup(st.identity(), s.Now(), &y));
    EXPECT_GE(static_cast<int32_t>(x.src.seqlo - last_a), 0) << i;
    EXPECT_GE(static_cast<int32_t>(y.src.seqlo - last_b), 0) << i;
    last_a = x.src.seqlo;
    last_b = y.src.seqlo;
  }
  s.RunFor(5s);
  EXPECT_EQ(Differences(a, b, s.Now()), 0u);
}

// hapf's pacing (500 packets per 10 ms, handed to the transport 32 per
// wakeup as sendmmsg batches): 100 000 states in under half a second, every packet full.
TEST(PfsyncSim, BulkUpdateOfOneHundredThousandStatesCompletes) {
  Simulator s(5);
  Segment seg(s, "sync");
  auto a = std::make_unique<Node>(s, seg, NodeConfig(0x0a0a0a0a));
  a->set_tx_batch(32);
  s.RunFor(30s);
  for (uint32_t n = 1; n <= 100000; ++n)
    ASSERT_EQ(a->store().Insert(NewState(0x0a0a0a0a, 0, n), s.Now()), InsertResult::kInserted);
  Time start = s.Now();
  const uint64_t sent_before = a->engine().stats().opackets;
  Node b(s, seg, NodeConfig(0x0b0b0b0b));
  EXPECT_EQ(b.demotion(), 32);
  s.RunFor(200ms);  // halfway: still demoted, table filling
  EXPECT_EQ(b.demotion(), 32);
  EXPECT_EQ(b.engine().bulk_state(), BulkRequestState::kBulk);
  EXPECT_GT(b.store().Size(), 30000u);
  EXPECT_LT(b.store().Size(), 70000u);
  while (b.engine().bulk_state() != BulkRequestState::kDone && s.Now() - start < 1000s) s.RunFor(10ms);
  EXPECT_EQ(b.engine().bulk_state(), BulkRequestState::kDone);
  EXPECT_EQ(b.store().Size(), 100000u);
  EXPECT_EQ(b.demotion(), 0);
  // 5 states per 1500-byte packet, BUS START in the first, BUS END in the last.
  EXPECT_LE(s.Now() - start, 500ms);
  EXPECT_EQ(a->engine().stats().opackets - sent_before, 20001u);
  EXPECT_EQ(Differences(*a, b, s.Now()), 0u);
}

TEST(PfsyncSim, BulkUpdateAtOpenBsdPacingTakesOnePacketPerInterval) {
  Simulator s(9);
  Segment seg(s, "sync");
  Node a(s, seg, PacedConfig(0x0a0a0a0a, 1));
  s.RunFor(30s);
  for (uint32_t n = 1; n <= 10000; ++n) a.store().Insert(NewState(0x0a0a0a0a, 0, n), s.Now());
  Time start = s.Now();
  Node b(s, seg, NodeConfig(0x0b0b0b0b));
  while (b.engine().bulk_state() != BulkRequestState::kDone && s.Now() - start < 100s) s.RunFor(1s);
  EXPECT_EQ(b.store().Size(), 10000u);
  auto took = std::chrono::duration_cast<std::chrono::seconds>(s.Now() - start).count();
  EXPECT_GE(took, 39);  // 2000 packets, one per 20 ms
  EXPECT_LE(took, 42);
}

TEST(PfsyncSim, NodeRestartedMidBulkRecovers) {
  Simulator s(6);
  Segment seg(s, "sync");
  Segment::Impairment imp;
  imp.loss = 0.01;
  seg.set_impairment(imp);
  Node a(s, seg, PacedConfig(0x0a0a0a0a, 8));
  s.RunFor(30s);
  for (uint32_t n = 1; n <= 20000; ++n) a.store().Insert(NewState(0x0a0a0a0a, 0, n), s.Now());
  Node b(s, seg, NodeConfig(0x0b0b0b0b));
  s.RunFor(5s);  // 20000 states at 40 per 20 ms take 10 s: stop halfway
  EXPECT_EQ(b.engine().bulk_state(), BulkRequestState::kBulk);
  EXPECT_GT(b.store().Size(), 2000u);
  EXPECT_LT(b.store().Size(), 18000u);
  b.Restart();
  EXPECT_EQ(b.store().Size(), 0u);
  EXPECT_EQ(b.demotion(), 32);
  for (int i = 0; i < 60 && b.engine().bulk_state() != BulkRequestState::kDone; ++i) s.RunFor(1s);
  EXPECT_EQ(b.engine().bulk_state(), BulkRequestState::kDone);
  EXPECT_EQ(b.demotion(), 0);
  // A 1 % lossy link may lose a few bulk packets: every state the sender
  // streamed after the restart is there, the lost ones come with their next update.
  EXPECT_GT(b.store().Size(), 19000u);
  seg.set_impairment(Segment::Impairment{});
  for (uint32_t n = 1; n <= 20000; ++n) a.Advance(NewState(0x0a0a0a0a, 0, n).identity(), 10, false);
  s.RunFor(10s);
  EXPECT_EQ(a.store().Size(), 20000u);
  EXPECT_EQ(b.store().Size(), 20000u);
  EXPECT_EQ(Differences(a, b, s.Now()), 0u);
}

TEST(PfsyncSim, AuthenticatedNodeRejectsForgedAndReplayedPackets) {
  Simulator s(8);
  Segment seg(s, "sync");
  EngineConfig ca = NodeConfig(0x0a0a0a0a), cb = NodeConfig(0x0b0b0b0b);
  ca.auth_key = cb.auth_key = "a pre-shared key";
  Node a(s, seg, ca), b(s, seg, cb);
  // An attacker on the sync segment records everything and can inject.
  std::vector<std::vector<uint8_t>> seen;
  Segment::PortId evil = seg.Attach([&](Segment::PortId, std::span<const uint8_t> f) { seen.emplace_back(f.begin(), f.end()); });
  s.RunFor(30s);
  EXPECT_EQ(b.engine().stats().badauth, 0u);
  WireState st = NewState(0x0a0a0a0a, 0, 1);
  a.Create(st);
  s.RunFor(2s);
  ASSERT_TRUE(b.store().Lookup(st.identity(), s.Now(), nullptr));
  auto ins_packet = seen.back();
  a.Delete(st.identity());
  s.RunFor(2s);
  ASSERT_FALSE(b.store().Lookup(st.identity(), s.Now(), nullptr));

  // 1. Replay the captured INS: it would resurrect the state.
  seg.Send(evil, ins_packet);
  // 2. A plain OpenBSD-style INS of a forged state.
  WireState forged = NewState(0x0a0a0a0a, 0, 999);
  PacketBuilder pb;
  pb.AddState(Action::kIns, forged);
  auto plain = pb.Finish();
  seg.Send(evil, plain);
  // 3. The same with a trailer sealed under another key.
  SyncAuth wrong("guessed key", 0x0a0a0a0a, 999);
  std::vector<uint8_t> sealed(plain.begin(), plain.end());
  wrong.Seal(sealed);
  seg.Send(evil, sealed);
  // 4. A captured packet with its counter bumped (MAC no longer matches).
  auto bumped = ins_packet;
  bumped[bumped.size() - 17] ^= 0x01;
  seg.Send(evil, bumped);
  s.RunFor(1s);
  for (Node* n : {&a, &b}) {
    EXPECT_FALSE(n->store().Lookup(st.identity(), s.Now(), nullptr));
    EXPECT_FALSE(n->store().Lookup(forged.identity(), s.Now(), nullptr));
    EXPECT_EQ(n->engine().stats().badauth, 4u);
  }
  EXPECT_EQ(b.engine().stats().replayed, 1u);
  // Legitimate traffic still flows.
  a.Create(NewState(0x0a0a0a0a, 0, 2));
  s.RunFor(2s);
  EXPECT_TRUE(b.store().Lookup(NewState(0x0a0a0a0a, 0, 2).identity(), s.Now(), nullptr));
}

}  // namespace
}  // namespace hapf::pfsync
