// TCP tracking through the engine: handshake, data, close, windows, RST.
#include <gtest/gtest.h>

#include "engine_test_util.h"
#include "pf/engine.h"

namespace hapf::pf::engine {
namespace {

using namespace testing;

class TcpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ext = e.AddInterface("em0");
    Ruleset rs;
    Rule block = BlockRule();
    rs.rules.push_back(block);
    Rule pass = PassRule();
    pass.dir = Direction::kIn;
    pass.proto = kProtoTcp;
    pass.dst = AddrSpec::Of(P("192.0.2.10"));
    pass.dport = {{PortRange::Op::kEq, 80, 0}};
    rs.rules.push_back(pass);
    e.LoadRuleset(rs);
  }
  Verdict In(std::vector<uint8_t>& p) { return e.Test(Direction::kIn, ext, p, now); }
  Verdict Out(std::vector<uint8_t>& p) { return e.Test(Direction::kOut, ext, p, now); }
  Verdict In(std::vector<uint8_t>&& p) { return In(p); }
  Verdict Out(std::vector<uint8_t>&& p) { return Out(p); }
  // Client 198.51.100.7:40000 -> server 192.0.2.10:80.
  std::vector<uint8_t> C(uint8_t flags, uint32_t seq, uint32_t ack, size_t len = 0, uint16_t win = 64240,
                         TcpOpts o = {}) {
    return Tcp("198.51.100.7", "192.0.2.10", 40000, 80, flags, seq, ack, win, len, o);
  }
  std::vector<uint8_t> S(uint8_t flags, uint32_t seq, uint32_t ack, size_t len = 0, uint16_t win = 65160,
                         TcpOpts o = {}) {
    return Tcp("192.0.2.10", "198.51.100.7", 80, 40000, flags, seq, ack, win, len, o);
  }
  const State& St(uint32_t idx) { return e.states().at(idx); }

  Engine e;
  InterfaceId ext = 0;
  TimeNs now = 1000 * kSec;
};

TEST_F(TcpTest, HandshakeDataCloseWalksTheStates) {
  Verdict v = In(C(kSyn, 1000, 0));
  ASSERT_EQ(v.action, Action::kPass);
  ASSERT_TRUE(v.new_state);
  const uint32_t st = v.state;
  EXPECT_EQ(St(st).src.state, kTcpSynSent);
  EXPECT_EQ(St(st).dst.state, kTcpClosed);
  EXPECT_EQ(St(st).timeout, kTmTcpFirst);
  EXPECT_EQ(v.rule_nr, 1u);

  v = Out(S(kSyn | kAck, 5000, 1001));
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_EQ(v.state, st);
  EXPECT_EQ(St(st).dst.state, kTcpSynSent);
  EXPECT_EQ(St(st).src.state, kTcpEstablished);  // the SYN|ACK acked the client's SYN

  EXPECT_EQ(In(C(kAck, 1001, 5001)).action, Action::kPass);
  EXPECT_EQ(St(st).dst.state, kTcpEstablished);
  EXPECT_EQ(St(st).timeout, kTmTcpEstablished);

  EXPECT_EQ(In(C(kAck | kPush, 1001, 5001, 100)).action, Action::kPass);
  EXPECT_EQ(Out(S(kAck | kPush, 5001, 1101, 1000)).action, Action::kPass);
  EXPECT_EQ(In(C(kAck, 1101, 6001)).action, Action::kPass);
  EXPECT_EQ(St(st).src.seqlo, 1101u);
  EXPECT_EQ(St(st).dst.seqlo, 6001u);

  // Client closes.
  EXPECT_EQ(In(C(kFin | kAck, 1101, 6001)).action, Action::kPass);
  EXPECT_EQ(St(st).src.state, kTcpClosing);
  EXPECT_EQ(Out(S(kAck, 6001, 1102)).action, Action::kPass);
  EXPECT_EQ(St(st).src.state, kTcpFinWait2);
  EXPECT_EQ(St(st).timeout, kTmTcpClosing);
  EXPECT_EQ(Out(S(kFin | kAck, 6001, 1102)).action, Action::kPass);
  EXPECT_EQ(In(C(kAck, 1102, 6002)).action, Action::kPass);
  EXPECT_EQ(St(st).dst.state, kTcpFinWait2);
  EXPECT_EQ(St(st).timeout, kTmTcpClosed);
  EXPECT_EQ(St(st).packets[0], 6u);
  EXPECT_EQ(St(st).packets[1], 4u);
}

TEST_F(TcpTest, NonSynFirstPacketIsBlockedByFlagsSA) {
  Verdict v = In(C(kAck, 1000, 1));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.rule_nr, 0u);
  EXPECT_EQ(e.states().size(), 0u);
}

TEST_F(TcpTest, OutOfWindowAndForgedRstAreBlocked) {
  const uint32_t st = In(C(kSyn, 1000, 0)).state;
  Out(S(kSyn | kAck, 5000, 1001));
  In(C(kAck, 1001, 5001));
  // Data far beyond the server's advertised window.
  Verdict v = In(C(kAck, 1001 + 10000000, 5001, 10));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, kResBadState);
  EXPECT_EQ(v.state, st);
  // An ACK for data the server never sent.
  v = In(C(kAck, 1001, 5001 + 500000));
  EXPECT_EQ(v.action, Action::kBlock);
  // A blind RST inside the window but not at the exact sequence number.
  v = Out(S(kRst, 5001 + 3000, 0));
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(St(st).src.state, kTcpEstablished);
  EXPECT_EQ(e.counters().reasons[kResBadState], 3u);
  // The exact RST passes and moves both ends to TIME_WAIT.
  v = Out(S(kRst, 5001, 0));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_EQ(St(st).src.state, kTcpTimeWait);
  EXPECT_EQ(St(st).dst.state, kTcpTimeWait);
  EXPECT_EQ(St(st).timeout, kTmTcpClosed);
}

TEST_F(TcpTest, RetransmissionWithinAWindowPasses) {
  In(C(kSyn, 1000, 0));
  Out(S(kSyn | kAck, 5000, 1001));
  In(C(kAck, 1001, 5001));
  EXPECT_EQ(In(C(kAck, 1001, 5001, 1000)).action, Action::kPass);
  EXPECT_EQ(In(C(kAck, 1001, 5001, 1000)).action, Action::kPass);  // same segment again
  EXPECT_EQ(In(C(kAck, 2001, 5001, 1000)).action, Action::kPass);
}

TEST_F(TcpTest, WindowScalingWidensTheWindow) {
  // Both sides scale by 2^7: a window of 512 means 65536 bytes.
  const uint32_t st = In(C(kSyn, 1000, 0, 0, 64240, {7, 1460})).state;
  Out(S(kSyn | kAck, 5000, 1001, 0, 65160, {7, 1460}));
  In(C(kAck, 1001, 5001, 0, 512));
  EXPECT_EQ(St(st).src.wscale, kWscaleFlag | 7);
  EXPECT_EQ(St(st).dst.wscale, kWscaleFlag | 7);
  EXPECT_EQ(St(st).src.mss, 1460);
  // The server may now send up to 512 << 7 bytes past 5001: 60000 bytes ahead is fine.
  EXPECT_EQ(Out(S(kAck, 5001 + 60000, 1001, 1000, 509)).action, Action::kPass);
  // Without the scale, 600000 bytes ahead is far outside.
  EXPECT_EQ(Out(S(kAck, 5001 + 600000, 1001, 1000, 509)).action, Action::kBlock);
}

TEST_F(TcpTest, SynOnClosedStateReusesThePorts) {
  const uint32_t st = In(C(kSyn, 1000, 0)).state;
  Out(S(kSyn | kAck, 5000, 1001));
  In(C(kAck, 1001, 5001));
  In(C(kRst, 1001, 0));
  ASSERT_EQ(St(st).src.state, kTcpTimeWait);
  const uint64_t old_id = St(st).id;
  Verdict v = In(C(kSyn, 900000, 0));
  EXPECT_EQ(v.action, Action::kPass);
  EXPECT_TRUE(v.new_state);
  EXPECT_NE(e.states().at(v.state).id, old_id);
  EXPECT_EQ(e.states().size(), 1u);
}

TEST_F(TcpTest, ModulateStateRewritesSequenceNumbersBothWays) {
  Ruleset rs;
  Rule pass = PassRule();
  pass.proto = kProtoTcp;
  pass.keep_state = KeepState::kModulate;
  rs.rules.push_back(pass);
  e.LoadRuleset(rs);
  auto syn = C(kSyn, 1000, 0);
  Verdict v = In(syn);
  ASSERT_TRUE(v.rewritten);
  const uint32_t isn = Info(syn).seq;
  EXPECT_NE(isn, 1000u);
  EXPECT_EQ(ChecksumError(syn), "");
  // The server answers the modulated ISN; the client must see its own.
  auto synack = S(kSyn | kAck, 5000, isn + 1);
  v = Out(synack);
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_EQ(Info(synack).ack, 1001u);
  const uint32_t server_isn = Info(synack).seq;
  EXPECT_NE(server_isn, 5000u);  // the server's side is modulated too
  EXPECT_EQ(ChecksumError(synack), "");
  auto ack = C(kAck, 1001, server_isn + 1);
  EXPECT_EQ(In(ack).action, Action::kPass);
  EXPECT_EQ(Info(ack).seq, isn + 1);
  EXPECT_EQ(Info(ack).ack, 5001u);
  EXPECT_EQ(ChecksumError(ack), "");
}

}  // namespace
}  // namespace hapf::pf::engine
