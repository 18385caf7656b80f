// The sync engine on real packets: its output is compared byte for byte with
// the shared vectors where the spec fixes the bytes, decoded by our decoder
// elsewhere, and finally checked by the independent oracle.
#include "pfsync/engine.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "pfsync/pcap.h"
#include "pfsync/test_support.h"

namespace hapf::pfsync {
namespace {

using testing::kCreator;
using testing::ReadVector;
using testing::VectorId;
using testing::VectorState;
using testing::VectorUpdC;

constexpr uint32_t kOther = 0x0badcafe;

struct RecordingSink : EngineSink {
  std::vector<std::vector<uint8_t>> sent;
  std::vector<std::pair<int, std::string>> demotions;
  std::vector<uint64_t> released;
  void Send(std::span<const uint8_t> p) override { sent.emplace_back(p.begin(), p.end()); }
  void Demote(int delta, std::string_view reason) override { demotions.emplace_back(delta, std::string(reason)); }
  void ReleaseDeferred(uint64_t h) override { released.push_back(h); }
  int demotion() const {
    int d = 0;
    for (auto& [delta, r] : demotions) d += delta;
    return d;
  }
};

std::vector<uint8_t> VectorBody(const std::string& name, size_t frame = 0) {
  auto frames = ReadVector(name + ".pcap");
  EXPECT_GT(frames.size(), frame);
  return {frames[frame].bytes.begin() + 20, frames[frame].bytes.end()};
}

DecodedPacket Decode(const std::vector<uint8_t>& p) {
  DecodedPacket d;
  EXPECT_EQ(DecodePacket(p, d), DecodeError::kNone);
  return d;
}

std::vector<uint8_t> Packet(std::initializer_list<std::function<void(PacketBuilder&)>> parts) {
  PacketBuilder b;
  for (auto& f : parts) f(b);
  auto s = b.Finish();
  return {s.begin(), s.end()};
}

class PfsyncEngine : public ::testing::Test {
 protected:
  EngineConfig Config(uint32_t creator = kCreator) {
    EngineConfig c;
    c.creatorid = creator;
    return c;
  }
  // States 1..n, each the vector state with its own id and source port.
  void InsertNumberedStates(uint32_t n) {
    for (uint32_t id = 1; id <= n; ++id) {
      WireState st = VectorState(1);
      st.id = id;
      st.key[0].port[0] = st.key[1].port[0] = static_cast<uint16_t>(1000 + id);
      ASSERT_EQ(store.Insert(st, t0), InsertResult::kInserted);
    }
  }
  void AddVectorStates(std::initializer_list<int> ns) {
    for (int n : ns) ASSERT_EQ(store.Insert(VectorState(n), t0), InsertResult::kInserted);
  }
  const Time t0 = sim::kTimeZero + std::chrono::hours(1);
  MemoryStateStore store;
  RecordingSink sink;
};

TEST_F(PfsyncEngine, NewStateIsSentAsInsWithinTheFlushDelay) {
  SyncEngine e(Config(), store, sink);
  AddVectorStates({7});
  e.StateInserted(StateId{VectorId(7), kCreator}, t0);
  EXPECT_TRUE(sink.sent.empty());
  ASSERT_TRUE(e.NextDeadline());
  EXPECT_EQ(*e.NextDeadline(), t0 + 1s);
  e.Tick(t0 + 999ms);
  EXPECT_TRUE(sink.sent.empty());
  e.Tick(t0 + 1s);
  ASSERT_EQ(sink.sent.size(), 1u);
  auto d = Decode(sink.sent[0]);
  ASSERT_EQ(d.states.size(), 1u);
  EXPECT_EQ(d.regions[0].action, static_cast<uint8_t>(Action::kIns));
  EXPECT_EQ(d.states[0].creation, 6u);  // one second older than when it was queued
  EXPECT_EQ(d.states[0].src, VectorState(7).src);
}

TEST_F(PfsyncEngine, InsFlushedAtOnceIsTheVectorExactly) {
  SyncEngine e(Config(), store, sink);
  AddVectorStates({7});
  e.StateInserted(StateId{VectorId(7), kCreator}, t0);
  e.Flush(t0);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0], VectorBody("pfsync_ins_tcp"));
  EXPECT_EQ(e.stats().items_out[static_cast<int>(Action::kIns)], 1u);
}

TEST_F(PfsyncEngine, UpdatesAndDeleteShareOnePacketAsInTheVector) {
  SyncEngine e(Config(), store, sink);
  AddVectorStates({7, 8, 9});
  e.StateUpdated(StateId{VectorId(7), kCreator}, t0);
  e.StateUpdated(StateId{VectorId(8), kCreator}, t0);
  store.Remove(StateId{VectorId(9), kCreator});
  e.StateRemoved(StateId{VectorId(9), kCreator}, false, t0);
  e.Tick(t0 + 1s);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0], VectorBody("pfsync_upd_c_del_c"));
}

TEST_F(PfsyncEngine, CompressedUpdatesFillPacketsUpToTheMtu) {
  SyncEngine e(Config(), store, sink);
  std::vector<StateId> ids;
  for (int n = 100; n < 140; ++n) {
    AddVectorStates({n});
    ids.push_back(StateId{VectorId(n), kCreator});
  }
  for (auto& id : ids) e.StateUpdated(id, t0);
  // 17 UPD_C fit in 1500 bytes: the 18th and 35th force a packet out at once.
  ASSERT_EQ(sink.sent.size(), 2u);
  e.Tick(t0 + 1s);
  ASSERT_EQ(sink.sent.size(), 3u);
  size_t total = 0;
  for (auto& p : sink.sent) {
    EXPECT_LE(p.size() + kIpHeaderSize, 1500u);
    total += Decode(p).upd_c.size();
  }
  EXPECT_EQ(Decode(sink.sent[0]).upd_c.size(), 17u);
  EXPECT_EQ(total, 40u);
}

TEST_F(PfsyncEngine, MaxupdForcesTheFlushOfAFrequentlyUpdatedTcpState) {
  EngineConfig c = Config();
  c.maxupd = 3;
  SyncEngine e(c, store, sink);
  AddVectorStates({1});
  StateId id{VectorId(1), kCreator};
  for (int i = 0; i < 3; ++i) e.StateUpdated(id, t0);
  EXPECT_TRUE(sink.sent.empty());
  e.StateUpdated(id, t0);  // the third merged update reaches maxupd
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(Decode(sink.sent[0]).upd_c.size(), 1u);  // one item however many updates
}

TEST_F(PfsyncEngine, StateRemovedWhileItsInsIsQueuedSendsNothing) {
  SyncEngine e(Config(), store, sink);
  AddVectorStates({1});
  StateId id{VectorId(1), kCreator};
  e.StateInserted(id, t0);
  store.Remove(id);
  e.StateRemoved(id, false, t0);
  e.Tick(t0 + 2s);
  EXPECT_TRUE(sink.sent.empty());
}

TEST_F(PfsyncEngine, NoSyncStatesAreNeverSent) {
  SyncEngine e(Config(), store, sink);
  WireState a = VectorState(1);
  a.state_flags = kStateFlagNoSync;
  WireState b = VectorState(2);
  b.proto = 240;
  store.Insert(a, t0);
  store.Insert(b, t0);
  for (const WireState* s : {&a, &b}) {
    e.StateInserted(s->identity(), t0, 5);
    e.StateUpdated(s->identity(), t0);
    store.Remove(s->identity());
    e.StateRemoved(s->identity(), true, t0);
  }
  e.Tick(t0 + 2s);
  EXPECT_TRUE(sink.sent.empty());
  EXPECT_EQ(sink.released, (std::vector<uint64_t>{5, 5}));  // held packets go out at once
}

TEST_F(PfsyncEngine, UnknownStateInCompressedUpdateIsRequested) {
  SyncEngine e(Config(kOther), store, sink);
  e.Receive(Packet({[](PacketBuilder& b) { b.AddUpdC(VectorUpdC(7)); }}), t0);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0], VectorBody("pfsync_upd_req_one"));
}

TEST_F(PfsyncEngine, UpdateRequestIsAnsweredWithAFullUpdateAtOnce) {
  SyncEngine e(Config(), store, sink);
  AddVectorStates({7});
  e.Receive(VectorBody("pfsync_upd_req_one"), t0);
  ASSERT_EQ(sink.sent.size(), 1u);
  auto d = Decode(sink.sent[0]);
  ASSERT_EQ(d.regions.size(), 1u);
  EXPECT_EQ(d.regions[0].action, static_cast<uint8_t>(Action::kUpd));
  EXPECT_EQ(d.states[0], VectorState(7));
  // An unknown id is counted, not answered.
  e.Receive(Packet({[](PacketBuilder& b) { b.AddId(Action::kUpdReq, StateId{VectorId(99), kCreator}); }}), t0);
  EXPECT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(e.stats().badstate, 1u);
}

TEST_F(PfsyncEngine, InsertWithAckIsImportedAndAcknowledgedAsInTheVector) {
  SyncEngine e(Config(kOther), store, sink);
  WireState s = VectorState(7);
  s.state_flags = kStateFlagAck;
  e.Receive(Packet({[&](PacketBuilder& b) { b.AddState(Action::kIns, s); }}), t0);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0], VectorBody("pfsync_ins_ack"));
  WireState got;
  ASSERT_TRUE(store.Lookup(s.identity(), t0, &got));
  EXPECT_EQ(got.state_flags, 0);  // ACK is cleared on import
  EXPECT_EQ(got, VectorState(7));
  // An import is never echoed as INS.
  e.Tick(t0 + 5s);
  EXPECT_EQ(sink.sent.size(), 1u);
}

TEST_F(PfsyncEngine, BulkTransferMatchesTheVectorsAtMtu1500And588) {
  AddVectorStates({1, 2, 3});
  {
    SyncEngine e(Config(), store, sink);
    e.Receive(VectorBody("pfsync_bulk_request"), t0);
    ASSERT_EQ(sink.sent.size(), 1u);
    EXPECT_EQ(sink.sent[0], VectorBody("pfsync_bulk_transfer_mtu1500"));
    EXPECT_FALSE(e.bulk_sending());
  }
  sink.sent.clear();
  EngineConfig c = Config();
  c.mtu = 588;
  c.bulk_interval = 20ms;  // OpenBSD's pacing, as in the capture
  c.bulk_packets_per_interval = 1;
  SyncEngine e(c, store, sink);
  e.Receive(VectorBody("pfsync_bulk_request"), t0);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0], VectorBody("pfsync_bulk_transfer", 0));
  ASSERT_EQ(e.NextDeadline(), t0 + 20ms);
  e.Tick(t0 + 20ms);
  ASSERT_EQ(sink.sent.size(), 2u);
  // 20 ms later the states are 20 ms older: still 5 s of age at one-second resolution.
  EXPECT_EQ(sink.sent[1], VectorBody("pfsync_bulk_transfer", 1));
  EXPECT_FALSE(e.NextDeadline());
}

// The transport says how many packets it can take now (one sendmmsg batch);
// the pacing budget says how many it may take per interval. The bulk goes on
// where it stopped, with full packets, BUS START first and BUS END last.
TEST_F(PfsyncEngine, BulkTransferBuildsWhatTheTransportTakesWithinThePacingBudget) {
  constexpr uint32_t kStates = 1000;  // 200 full packets at MTU 1500
  InsertNumberedStates(kStates);
  EngineConfig c = Config();
  c.bulk_interval = 10ms;
  c.bulk_packets_per_interval = 64;
  SyncEngine e(c, store, sink);
  e.Receive(VectorBody("pfsync_bulk_request"), t0);
  ASSERT_EQ(sink.sent.size(), 1u);  // BUS START and the first states at once
  EXPECT_EQ(e.NextDeadline(), t0);  // budget left: due now
  e.Tick(t0, 0);                    // a full socket: nothing built
  EXPECT_EQ(sink.sent.size(), 1u);
  e.Tick(t0, 32);
  EXPECT_EQ(sink.sent.size(), 33u);
  e.Tick(t0 + 1ms, 32);  // the budget of this interval is spent after 31 more
  EXPECT_EQ(sink.sent.size(), 64u);
  EXPECT_EQ(e.NextDeadline(), t0 + 10ms);
  e.Tick(t0 + 5ms, 32);
  EXPECT_EQ(sink.sent.size(), 64u);
  Time now = t0 + 10ms;
  for (int wakeups = 0; e.bulk_sending() && wakeups < 100; ++wakeups) {
    now = std::max(now, *e.NextDeadline());
    e.Tick(now, 32);
  }
  EXPECT_FALSE(e.bulk_sending());
  EXPECT_LE(now, t0 + 40ms);  // 201 packets, 64 per 10 ms
  ASSERT_EQ(sink.sent.size(), 201u);
  std::set<uint64_t> ids;
  for (size_t i = 0; i < sink.sent.size(); ++i) {
    auto d = Decode(sink.sent[i]);
    if (i + 1 < sink.sent.size()) {
      EXPECT_EQ(d.states.size(), 5u) << i;  // full packets
    }
    for (const auto& st : d.states) ids.insert(st.id);
    if (i == 0) {
      ASSERT_EQ(d.bus.size(), 1u);
      EXPECT_EQ(d.bus[0].status, kBusStart);
    } else if (i + 1 == sink.sent.size()) {
      ASSERT_EQ(d.bus.size(), 1u);
      EXPECT_EQ(d.bus[0].status, kBusEnd);
    } else {
      EXPECT_TRUE(d.bus.empty()) << i;
    }
  }
  EXPECT_EQ(ids.size(), kStates);
}

// A jumbo-frame MTU: 33 full states a packet instead of 5 (IP header 20,
// pfsync header 12, subheader 4 and EOF 4 around 264-byte states), and a
// pacing budget that shrinks in proportion, so the bulk's rate in states
// stays what it was at 1500.
TEST_F(PfsyncEngine, JumboMtuPacksMoreStatesAPacketAndKeepsTheBulkPaceInStates) {
  constexpr uint32_t kStates = 1000;
  InsertNumberedStates(kStates);
  EngineConfig c = Config();
  c.mtu = 9000;
  c.bulk_interval = 10ms;
  c.bulk_packets_per_interval = 60;  // of 1500 bytes: 10 of 9000
  SyncEngine e(c, store, sink);
  e.Receive(VectorBody("pfsync_bulk_request"), t0);
  e.Tick(t0, 32);
  EXPECT_EQ(sink.sent.size(), 10u);
  EXPECT_EQ(e.NextDeadline(), t0 + 10ms);
  std::set<uint64_t> ids;
  size_t largest = 0;
  for (const auto& p : sink.sent) {
    largest = std::max(largest, p.size());
    for (const auto& st : Decode(p).states) ids.insert(st.id);
  }
  EXPECT_LE(largest + 20, 9000u);  // + the IP header the socket adds
  EXPECT_GT(largest + 20, 9000u - 264);
  EXPECT_EQ(ids.size() / sink.sent.size(), (9000u - 20 - 12 - 4 - 4) / 264) << ids.size();
}

TEST_F(PfsyncEngine, BulkTransferLeavesOutNoSyncStates) {
  AddVectorStates({1, 3});
  WireState quiet = VectorState(2);
  quiet.state_flags = kStateFlagNoSync;
  WireState sync_traffic = VectorState(2);
  sync_traffic.id = quiet.id + 1000;
  sync_traffic.proto = 240;
  ASSERT_EQ(store.Insert(quiet, t0), InsertResult::kInserted);
  ASSERT_EQ(store.Insert(sync_traffic, t0), InsertResult::kInserted);
  SyncEngine e(Config(), store, sink);
  e.Receive(VectorBody("pfsync_bulk_request"), t0);
  ASSERT_EQ(sink.sent.size(), 1u);
  auto d = Decode(sink.sent[0]);
  ASSERT_EQ(d.states.size(), 2u);
  EXPECT_EQ(d.states[0].id, VectorState(1).id);
  EXPECT_EQ(d.states[1].id, VectorState(3).id);
  ASSERT_EQ(d.bus.size(), 2u);
  EXPECT_EQ(d.bus[1].status, kBusEnd);
}

TEST_F(PfsyncEngine, TableOfNoSyncStatesEndsTheRequestersBulk) {
  WireState quiet = VectorState(2);
  quiet.state_flags = kStateFlagNoSync;
  ASSERT_EQ(store.Insert(quiet, t0), InsertResult::kInserted);
  SyncEngine sender(Config(), store, sink);
  MemoryStateStore empty;
  RecordingSink requester_sink;
  SyncEngine requester(Config(kOther), empty, requester_sink);
  requester.Up(t0);
  requester.LinkUp(t0);
  ASSERT_EQ(requester_sink.demotion(), 32);
  for (const auto& p : requester_sink.sent) sender.Receive(p, t0);
  ASSERT_FALSE(sink.sent.empty());
  for (const auto& p : sink.sent) requester.Receive(p, t0);
  EXPECT_EQ(requester.bulk_state(), BulkRequestState::kDone);
  EXPECT_EQ(requester_sink.demotion(), 0);
}

TEST_F(PfsyncEngine, EmptyTableAnswersABulkRequestWithALoneBusEnd) {
  SyncEngine e(Config(), store, sink);
  e.Receive(VectorBody("pfsync_bulk_request"), t0);
  ASSERT_EQ(sink.sent.size(), 1u);
  auto d = Decode(sink.sent[0]);
  ASSERT_EQ(d.bus.size(), 1u);
  EXPECT_EQ(d.bus[0].status, kBusEnd);
  EXPECT_EQ(d.regions.size(), 1u);
}

TEST_F(PfsyncEngine, RequesterStaysDemotedUntilTheBulkTransferEnds) {
  SyncEngine e(Config(kOther), store, sink);
  e.Up(t0);
  EXPECT_EQ(sink.demotion(), 33);  // pfsync start + pfsync up (no link yet)
  EXPECT_TRUE(sink.sent.empty());
  e.LinkUp(t0 + 1s);
  EXPECT_EQ(sink.demotion(), 32);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0], VectorBody("pfsync_bulk_request"));
  EXPECT_EQ(e.bulk_state(), BulkRequestState::kSent);
  e.Receive(VectorBody("pfsync_bulk_transfer", 0), t0 + 1100ms);
  EXPECT_EQ(e.bulk_state(), BulkRequestState::kBulk);
  EXPECT_EQ(sink.demotion(), 32);
  e.Receive(VectorBody("pfsync_bulk_transfer", 1), t0 + 1120ms);
  EXPECT_EQ(e.bulk_state(), BulkRequestState::kDone);
  EXPECT_EQ(sink.demotion(), 0);
  EXPECT_EQ(store.Size(), 3u);
  EXPECT_EQ(sink.demotions.back(), (std::pair<int, std::string>{-32, "pfsync done"}));
}

TEST_F(PfsyncEngine, UnansweredBulkRequestIsRetriedThenTheDemotionIsReleased) {
  SyncEngine e(Config(kOther), store, sink);
  e.LinkUp(t0);
  e.Up(t0);
  Time t = t0;
  while (auto d = e.NextDeadline()) {
    t = *d;
    e.Tick(t);
  }
  EXPECT_EQ(sink.sent.size(), 12u);
  EXPECT_EQ(t, t0 + 24s);
  EXPECT_EQ(sink.demotion(), 0);
  EXPECT_EQ(e.bulk_state(), BulkRequestState::kDone);
}

TEST_F(PfsyncEngine, LoneBusEndFromAnEmptyPeerEndsTheRequest) {
  SyncEngine e(Config(kOther), store, sink);
  e.LinkUp(t0);
  e.Up(t0);
  e.Receive(Packet({[](PacketBuilder& b) { b.AddBus(WireBus{kCreator, 0, kBusEnd}); }}), t0 + 10ms);
  EXPECT_EQ(e.bulk_state(), BulkRequestState::kDone);
  EXPECT_EQ(sink.demotion(), 0);
}

TEST_F(PfsyncEngine, StalePeerIsAnsweredWithOurNewerCopyAndNeverMovedBack) {
  SyncEngine e(Config(kOther), store, sink);
  AddVectorStates({1});
  StateId id{VectorId(1), kCreator};
  WireUpdC u = VectorUpdC(1);
  u.src.seqlo -= 1000;  // the peer's src is behind ours
  u.dst.seqlo += 1000;  // its dst is ahead
  u.dst.max_win = 1234;
  e.Receive(Packet({[&](PacketBuilder& b) { b.AddUpdC(u); }}), t0);
  WireState now;
  ASSERT_TRUE(store.Lookup(id, t0, &now));
  EXPECT_EQ(now.src.seqlo, VectorState(1).src.seqlo);  // kept
  EXPECT_EQ(now.dst.seqlo, u.dst.seqlo);               // taken
  EXPECT_EQ(now.dst.max_win, 1234);
  EXPECT_EQ(e.stats().stale, 1u);
  ASSERT_EQ(sink.sent.size(), 1u);  // our view, at once
  auto d = Decode(sink.sent[0]);
  ASSERT_EQ(d.upd_c.size(), 1u);
  EXPECT_EQ(d.upd_c[0].src.seqlo, VectorState(1).src.seqlo);
  EXPECT_EQ(d.upd_c[0].dst.seqlo, u.dst.seqlo);
  // Sequence arithmetic wraps: a seqlo just past 2^32 is ahead.
  WireUpdC w = VectorUpdC(1);
  w.src.seqlo = VectorState(1).src.seqlo + 0x7fffffffu;
  w.dst = now.dst;
  e.Receive(Packet({[&](PacketBuilder& b) { b.AddUpdC(w); }}), t0 + 10s);
  ASSERT_TRUE(store.Lookup(id, t0, &now));
  EXPECT_EQ(now.src.seqlo, w.src.seqlo);
  // A peer further along in the TCP FSM wins even with an older seqlo; a
  // peer behind in the FSM loses even with a newer one.
  WireUpdC f = VectorUpdC(1);
  f.src = now.src;
  f.dst = now.dst;
  f.src.state = kTcpFinWait1;
  f.src.seqlo -= 5;
  f.dst.state = kTcpSynSent;
  f.dst.seqlo += 5;
  e.Receive(Packet({[&](PacketBuilder& b) { b.AddUpdC(f); }}), t0 + 20s);
  WireState after;
  ASSERT_TRUE(store.Lookup(id, t0, &after));
  EXPECT_EQ(after.src.state, kTcpFinWait1);
  EXPECT_EQ(after.dst.state, kTcpEstablished);
  EXPECT_EQ(after.dst.seqlo, now.dst.seqlo);
}

TEST_F(PfsyncEngine, SynproxyStateGivesWayToARealTcpState) {
  SyncEngine e(Config(kOther), store, sink);
  WireState s = VectorState(1);
  s.src.state = kTcpProxyDst;
  store.Insert(s, t0);
  WireUpdC u = VectorUpdC(1);  // ESTABLISHED (4) < PROXY_DST (12), yet it wins
  e.Receive(Packet({[&](PacketBuilder& b) { b.AddUpdC(u); }}), t0);
  WireState now;
  ASSERT_TRUE(store.Lookup(s.identity(), t0, &now));
  EXPECT_EQ(now.src.state, kTcpEstablished);
  EXPECT_EQ(e.stats().stale, 0u);
}

TEST_F(PfsyncEngine, LocalUpdateRightAfterAPeerUpdateIsFlushedAtOnce) {
  SyncEngine e(Config(kOther), store, sink);
  AddVectorStates({1});
  StateId id{VectorId(1), kCreator};
  e.Receive(Packet({[&](PacketBuilder& b) { b.AddUpdC(VectorUpdC(1)); }}), t0);
  EXPECT_TRUE(sink.sent.empty());
  e.StateUpdated(id, t0 + 1500ms);  // the peer forwards this connection too
  EXPECT_EQ(sink.sent.size(), 1u);
  e.StateUpdated(id, t0 + 5s);  // quiet for more than 2 s: batched again
  EXPECT_EQ(sink.sent.size(), 1u);
}

TEST_F(PfsyncEngine, DeferralHoldsTheFirstPacketUntilInsAckOrTimeout) {
  EngineConfig c = Config();
  c.defer = true;
  SyncEngine e(c, store, sink);
  AddVectorStates({1, 2});
  e.StateInserted(StateId{VectorId(1), kCreator}, t0, 101);
  ASSERT_EQ(sink.sent.size(), 1u);  // flushed at once
  auto d = Decode(sink.sent[0]);
  ASSERT_EQ(d.states.size(), 1u);
  EXPECT_EQ(d.states[0].state_flags & kStateFlagAck, kStateFlagAck);
  EXPECT_TRUE(sink.released.empty());
  e.Receive(Packet({[](PacketBuilder& b) { b.AddId(Action::kInsAck, StateId{VectorId(1), kCreator}); }}),
            t0 + 3ms);
  EXPECT_EQ(sink.released, std::vector<uint64_t>{101});
  e.StateInserted(StateId{VectorId(2), kCreator}, t0 + 10ms, 102);
  e.Tick(t0 + 29ms);
  EXPECT_EQ(sink.released.size(), 1u);
  e.Tick(t0 + 30ms);
  EXPECT_EQ(sink.released, (std::vector<uint64_t>{101, 102}));
}

TEST_F(PfsyncEngine, DeferralIsCappedByReleasingTheOldest) {
  EngineConfig c = Config();
  c.defer = true;
  c.defer_max = 2;
  SyncEngine e(c, store, sink);
  AddVectorStates({1, 2, 3});
  for (int n : {1, 2, 3}) e.StateInserted(StateId{VectorId(n), kCreator}, t0, static_cast<uint64_t>(n));
  EXPECT_EQ(sink.released, std::vector<uint64_t>{1});
}

TEST_F(PfsyncEngine, MalformedPacketIsRejectedWholeAndCounted) {
  SyncEngine e(Config(kOther), store, sink);
  AddVectorStates({7, 8});
  auto p = Packet({[](PacketBuilder& b) {
    b.AddId(Action::kDelC, StateId{VectorId(7), kCreator});
    b.AddUpdC(VectorUpdC(8));
  }});
  p.resize(p.size() - 10);  // cut into the second region...
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());  // ...with a header len that agrees
  e.Receive(p, t0);
  EXPECT_TRUE(store.Lookup(StateId{VectorId(7), kCreator}, t0, nullptr));  // the DEL_C was not applied
  EXPECT_EQ(e.stats().badlen, 1u);
  EXPECT_EQ(e.stats().rejected[static_cast<int>(DecodeError::kTruncatedRegion)], 1u);
  p[0] = 5;
  e.Receive(p, t0);
  EXPECT_EQ(e.stats().badver, 1u);
  e.Receive(std::span(p).first(10), t0);
  EXPECT_EQ(e.stats().hdrops, 1u);
  EXPECT_TRUE(sink.sent.empty());
}

TEST_F(PfsyncEngine, BadValueItemsAreSkippedTheRestApplied) {
  SyncEngine e(Config(kOther), store, sink);
  WireState purging = VectorState(1);
  purging.timeout = 21;  // a 7.4+ bulk transfer may carry it
  e.Receive(Packet({[&](PacketBuilder& b) {
              b.AddState(Action::kUpd, purging);
              b.AddState(Action::kUpd, VectorState(2));
            }}),
            t0);
  EXPECT_EQ(e.stats().badval, 1u);
  EXPECT_FALSE(store.Lookup(purging.identity(), t0, nullptr));
  EXPECT_TRUE(store.Lookup(VectorState(2).identity(), t0, nullptr));
}

TEST_F(PfsyncEngine, ClearIsSentAsInTheVectorAndAppliedPerInterface) {
  SyncEngine e(Config(), store, sink);
  e.StatesCleared("em0", t0);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0], VectorBody("pfsync_clr"));

  MemoryStateStore peer_store;
  RecordingSink peer_sink;
  SyncEngine peer(Config(kOther), peer_store, peer_sink);
  WireState on_em1 = VectorState(2);
  on_em1.ifname = IfName::From("em1");
  WireState other_creator = VectorState(3);
  other_creator.creatorid = kOther;
  for (const WireState& s : {VectorState(1), on_em1, other_creator}) peer_store.Insert(s, t0);
  peer.Receive(sink.sent[0], t0);
  EXPECT_EQ(peer_store.Size(), 2u);
  EXPECT_FALSE(peer_store.Lookup(VectorState(1).identity(), t0, nullptr));
}

TEST_F(PfsyncEngine, DeletesAreAppliedAndUnknownOnesCounted) {
  SyncEngine e(Config(kOther), store, sink);
  AddVectorStates({9});
  e.Receive(VectorBody("pfsync_upd_c_del_c"), t0);  // UPD_C 7, 8 unknown; DEL_C 9 known
  EXPECT_EQ(store.Size(), 0u);
  ASSERT_EQ(sink.sent.size(), 1u);
  auto d = Decode(sink.sent[0]);
  ASSERT_EQ(d.ids.size(), 2u);  // UPD_REQ for 8 then 7 (reverse order)
  EXPECT_EQ(d.ids[0].id, VectorId(8));
  EXPECT_EQ(d.ids[1].id, VectorId(7));
  e.Receive(VectorBody("pfsync_upd_c_del_c"), t0);
  EXPECT_EQ(e.stats().badstate, 1u);
}

TEST_F(PfsyncEngine, AuthenticatedModeRejectsPlainForgedAndReplayedPackets) {
  EngineConfig ca = Config();
  ca.auth_key = "correct horse";
  ca.auth_epoch = 100;
  SyncEngine a(ca, store, sink);
  MemoryStateStore bstore;
  RecordingSink bsink;
  EngineConfig cb = Config(kOther);
  cb.auth_key = "correct horse";
  SyncEngine b(cb, bstore, bsink);

  AddVectorStates({7});
  a.StateInserted(StateId{VectorId(7), kCreator}, t0);
  a.Flush(t0);
  ASSERT_EQ(sink.sent.size(), 1u);
  auto sealed = sink.sent[0];
  EXPECT_EQ(sealed.size(), VectorBody("pfsync_ins_tcp").size() + kAuthTrailerSize);
  EXPECT_TRUE(std::equal(sealed.begin(), sealed.begin() + 288, VectorBody("pfsync_ins_tcp").begin()));

  b.Receive(VectorBody("pfsync_ins_tcp"), t0);  // plain: no trailer
  EXPECT_EQ(b.stats().badauth, 1u);
  auto forged = sealed;
  forged[100] ^= 1;  // one bit of the state
  b.Receive(forged, t0);
  EXPECT_EQ(b.stats().badauth, 2u);
  EXPECT_EQ(bstore.Size(), 0u);
  b.Receive(sealed, t0);
  EXPECT_EQ(bstore.Size(), 1u);
  bstore.Remove(StateId{VectorId(7), kCreator});
  b.Receive(sealed, t0 + 1s);  // the same packet again
  EXPECT_EQ(b.stats().badauth, 3u);
  EXPECT_EQ(b.stats().replayed, 1u);
  EXPECT_EQ(bstore.Size(), 0u);

  // Wrong key.
  EngineConfig cc = Config(kOther);
  cc.auth_key = "wrong";
  MemoryStateStore cstore;
  SyncEngine c(cc, cstore, bsink);
  c.Receive(sealed, t0);
  EXPECT_EQ(c.stats().badauth, 1u);
  EXPECT_EQ(cstore.Size(), 0u);
}

// Sync lag per flush: from the oldest queued change to the send; last_heard
// only for packets that decode.
TEST_F(PfsyncEngine, SyncLagAndLastHeard) {
  SyncEngine a(Config(), store, sink);
  AddVectorStates({7, 8});
  a.StateInserted(StateId{VectorId(7), kCreator}, t0);
  a.StateInserted(StateId{VectorId(8), kCreator}, t0 + 200ms);
  a.Flush(t0 + 300ms);
  EXPECT_EQ(a.stats().flushes, 1u);
  EXPECT_EQ(a.stats().lag_last, 300ms);
  a.StateUpdated(StateId{VectorId(7), kCreator}, t0 + 1s);
  while (auto d = a.NextDeadline()) a.Tick(*d);  // the flush timer: flush_delay later
  EXPECT_EQ(a.stats().flushes, 2u);
  EXPECT_EQ(a.stats().lag_last, Config().flush_delay);
  EXPECT_EQ(a.stats().lag_max, std::max<Duration>(300ms, Config().flush_delay));
  EXPECT_EQ(a.stats().lag_sum, 300ms + Config().flush_delay);

  EXPECT_FALSE(a.stats().last_heard);
  std::vector<uint8_t> junk = {1, 2, 3};
  a.Receive(junk, t0 + 2s);
  EXPECT_FALSE(a.stats().last_heard);
  a.Receive(VectorBody("pfsync_ins_tcp"), t0 + 3s);
  ASSERT_TRUE(a.stats().last_heard);
  EXPECT_EQ(*a.stats().last_heard, t0 + 3s);
}

// `ifconfig pfsync0 syncauth KEY` on a running interface (a configuration
// sync push): what was queued leaves under the old key, the next packet under
// the new one; plain again with an empty key.
TEST_F(PfsyncEngine, SetTunablesSwitchesTheKeyBetweenPackets) {
  SyncEngine a(Config(), store, sink);
  AddVectorStates({7, 8, 9});
  a.StateInserted(StateId{VectorId(7), kCreator}, t0);
  a.SetTunables(64, false, "correct horse", t0);
  ASSERT_EQ(sink.sent.size(), 1u);  // flushed first, plain
  EXPECT_EQ(sink.sent[0], VectorBody("pfsync_ins_tcp"));
  EXPECT_EQ(a.config().maxupd, 64);
  a.StateInserted(StateId{VectorId(8), kCreator}, t0);
  a.Flush(t0);
  ASSERT_EQ(sink.sent.size(), 2u);

  MemoryStateStore bstore;
  RecordingSink bsink;
  EngineConfig cb = Config(kOther);
  cb.auth_key = "correct horse";
  SyncEngine b(cb, bstore, bsink);
  b.Receive(sink.sent[0], t0);
  EXPECT_EQ(b.stats().badauth, 1u);  // the plain packet
  b.Receive(sink.sent[1], t0);
  EXPECT_EQ(bstore.Size(), 1u);  // the sealed one

  a.SetTunables(64, false, "", t0);
  a.StateInserted(StateId{VectorId(9), kCreator}, t0);
  a.Flush(t0);
  ASSERT_EQ(sink.sent.size(), 3u);
  MemoryStateStore cstore;
  SyncEngine c(Config(kOther), cstore, bsink);
  c.Receive(sink.sent[2], t0);
  EXPECT_EQ(cstore.Size(), 1u);
  EXPECT_EQ(c.stats().badauth, 0u);
}

TEST_F(PfsyncEngine, TheOracleAcceptsEverythingTheEngineSends) {
  EngineConfig c = Config();
  c.defer = true;
  SyncEngine e(c, store, sink);
  for (int n = 1; n <= 30; ++n) AddVectorStates({n});
  for (int n = 1; n <= 10; ++n) e.StateInserted(StateId{VectorId(n), kCreator}, t0, n % 3 == 0 ? std::optional<uint64_t>(n) : std::nullopt);
  for (int n = 5; n <= 30; ++n) e.StateUpdated(StateId{VectorId(n), kCreator}, t0);
  for (int n = 20; n <= 25; ++n) {
    store.Remove(StateId{VectorId(n), kCreator});
    e.StateRemoved(StateId{VectorId(n), kCreator}, false, t0);
  }
  e.Receive(VectorBody("pfsync_bulk_request"), t0);
  while (auto d = e.NextDeadline()) e.Tick(*d);
  e.StatesCleared("", t0 + 10s);
  ASSERT_GT(sink.sent.size(), 5u);
  std::vector<PcapFrame> frames;
  const auto src = *net::IpAddr::Parse("192.0.2.1"), dst = *net::IpAddr::Parse("224.0.0.240");
  for (size_t i = 0; i < sink.sent.size(); ++i)
    frames.push_back(PcapFrame{int64_t(i) * 1000, Ipv4Encapsulate(sink.sent[i], src, dst, uint16_t(i))});
  std::string file = testing::TempPath("engine.pcap"), error;
  ASSERT_TRUE(WritePcap(file, frames, true, &error)) << error;
  auto run = testing::RunOracle("-vv " + file);
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_EQ(run.out.find("!!"), std::string::npos) << run.out;
  // And the oracle's text is ours.
  std::string mine;
  ASSERT_TRUE(DumpPcap(file, PrintOptions{2, false}, mine, &error));
  EXPECT_EQ(testing::OracleText(run.out), mine);
}

}  // namespace
}  // namespace hapf::pfsync
