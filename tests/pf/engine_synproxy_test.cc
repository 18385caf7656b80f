// synproxy state: the engine completes the client's handshake itself, then
// opens the server's, then translates sequence numbers between the two.
#include <gtest/gtest.h>

#include <vector>

#include "engine_test_util.h"
#include "pf/engine.h"

namespace hapf::pf::engine {
namespace {

using namespace testing;

class SynproxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ext = e.AddInterface("em0");
    in = e.AddInterface("em1");
    Ruleset rs;
    Rule proxy = PassRule();
    proxy.dir = Direction::kIn;
    proxy.ifgroup = e.GroupId("em0");
    proxy.proto = kProtoTcp;
    proxy.dport = {{PortRange::Op::kEq, 80, 0}};
    proxy.keep_state = KeepState::kSynproxy;
    rs.rules.push_back(proxy);
    Rule out = PassRule();
    out.dir = Direction::kOut;
    rs.rules.push_back(out);
    e.LoadRuleset(rs);
  }
  Verdict Test(Direction d, InterfaceId ifp, std::vector<uint8_t>& p) { return e.Test(d, ifp, p, now); }
  // The state a flow's packet finds, exported.
  StateExport StateOf(uint32_t idx) { return e.Export(idx, now); }

  Engine e;
  InterfaceId ext = 0, in = 0;
  TimeNs now = 100 * kSec;
};

void ExpectSegment(const std::vector<uint8_t>& pkt, const char* src, uint16_t sport, const char* dst, uint16_t dport,
                   uint8_t flags, uint32_t seq, uint32_t ack) {
  ASSERT_FALSE(pkt.empty());
  const PacketInfo pi = Info(pkt);
  EXPECT_EQ(pi.src, A(src));
  EXPECT_EQ(pi.dst, A(dst));
  EXPECT_EQ(pi.sport, sport);
  EXPECT_EQ(pi.dport, dport);
  EXPECT_EQ(pi.flags, flags);
  EXPECT_EQ(pi.seq, seq);
  EXPECT_EQ(pi.ack, ack);
  EXPECT_EQ(ChecksumError(pkt), "");
}

TEST_F(SynproxyTest, HandshakesWithBothEndsThenTranslatesSequenceNumbers) {
  const char* cli = "192.0.2.10";
  const char* srv = "198.51.100.80";
  // 1. The client's SYN is answered by the engine; nothing reaches the server.
  auto syn = Tcp(cli, srv, 40000, 80, kSyn, 1000, 0, 64240, 0, {.wscale = 7, .mss = 1460});
  Verdict v = Test(Direction::kIn, ext, syn);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, kResSynproxy);
  ASSERT_TRUE(v.new_state);
  const uint32_t st = v.state;
  EXPECT_TRUE(v.forward.empty());
  const uint32_t isn_cli = Info(v.reply).seq;  // our sequence numbers toward the client
  ExpectSegment(v.reply, srv, 80, cli, 40000, kSyn | kAck, isn_cli, 1001);
  EXPECT_EQ(Info(v.reply).mss, 1460);
  EXPECT_EQ(StateOf(st).src.state, kTcpProxySrc);
  // A retransmitted SYN gets the same SYN-ACK; an ACK that does not match it is dropped silently.
  auto syn2 = Tcp(cli, srv, 40000, 80, kSyn, 1000, 0, 64240, 0, {.mss = 1460});
  v = Test(Direction::kIn, ext, syn2);
  EXPECT_EQ(v.action, Action::kBlock);
  ExpectSegment(v.reply, srv, 80, cli, 40000, kSyn | kAck, isn_cli, 1001);
  auto bad_ack = Tcp(cli, srv, 40000, 80, kAck, 1001, isn_cli + 7, 502);
  v = Test(Direction::kIn, ext, bad_ack);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_TRUE(v.reply.empty() && v.forward.empty());
  EXPECT_EQ(StateOf(st).src.state, kTcpProxySrc);
  // A SYN-ACK from the server's side before its SYN is dropped too.
  auto early = Tcp(srv, cli, 80, 40000, kSyn | kAck, 5, 1001);
  v = Test(Direction::kOut, ext, early);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_TRUE(v.reply.empty() && v.forward.empty());

  // 2. The client's ACK completes its handshake: the engine opens the server's.
  auto ack = Tcp(cli, srv, 40000, 80, kAck, 1001, isn_cli + 1, 502);
  v = Test(Direction::kIn, ext, ack);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_TRUE(v.reply.empty());
  const uint32_t isn_srv = Info(v.forward).seq;  // our sequence numbers toward the server
  ExpectSegment(v.forward, cli, 40000, srv, 80, kSyn, isn_srv, 0);
  EXPECT_EQ(Info(v.forward).mss, 1460);
  EXPECT_EQ(StateOf(st).src.state, kTcpProxyDst);
  // The embedder sends it like a packet of the host: out on the inside, where `pass out` keeps a state.
  std::vector<uint8_t> to_srv = v.forward;
  ASSERT_EQ(Test(Direction::kOut, in, to_srv).action, Action::kPass);

  // 3. The server's SYN-ACK (in on em1, forwarded, out on em0) finishes both.
  auto synack = Tcp(srv, cli, 80, 40000, kSyn | kAck, 9000, isn_srv + 1, 29200, 0, {.mss = 1400});
  ASSERT_EQ(Test(Direction::kIn, in, synack).action, Action::kPass);
  v = Test(Direction::kOut, ext, synack);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.reason, kResSynproxy);
  ExpectSegment(v.forward, cli, 40000, srv, 80, kAck, isn_srv + 1, 9001);
  EXPECT_EQ(Info(v.forward).win, 502);
  ExpectSegment(v.reply, srv, 80, cli, 40000, kAck, isn_cli + 1, 1001);
  EXPECT_EQ(Info(v.reply).win, 29200);
  EXPECT_EQ(StateOf(st).src.state, kTcpEstablished);
  EXPECT_EQ(StateOf(st).dst.state, kTcpEstablished);
  to_srv = v.forward;
  ASSERT_EQ(Test(Direction::kOut, in, to_srv).action, Action::kPass);

  // 4. Data both ways: client sequence numbers move to the server's space and back.
  auto data = Tcp(cli, srv, 40000, 80, kAck | kPush, 1001, isn_cli + 1, 502, 100);
  v = Test(Direction::kIn, ext, data);
  ASSERT_EQ(v.action, Action::kPass);
  EXPECT_TRUE(v.rewritten);
  ExpectSegment(data, cli, 40000, srv, 80, kAck | kPush, isn_srv + 1, 9001);
  ASSERT_EQ(Test(Direction::kOut, in, data).action, Action::kPass);
  auto answer = Tcp(srv, cli, 80, 40000, kAck | kPush, 9001, isn_srv + 101, 29200, 50);
  ASSERT_EQ(Test(Direction::kIn, in, answer).action, Action::kPass);
  v = Test(Direction::kOut, ext, answer);
  ASSERT_EQ(v.action, Action::kPass);
  ExpectSegment(answer, srv, 80, cli, 40000, kAck | kPush, isn_cli + 1, 1101);
  EXPECT_EQ(e.counters().reasons[kResSynproxy], 6u);
}

TEST_F(SynproxyTest, ASynFloodReachesNothingBehindTheFirewall) {
  for (uint16_t port = 1024; port < 2024; ++port) {
    auto syn = Tcp("203.0.113.9", "198.51.100.80", port, 80, kSyn, port * 7u, 0);
    const Verdict v = Test(Direction::kIn, ext, syn);
    ASSERT_EQ(v.action, Action::kBlock);
    ASSERT_FALSE(v.reply.empty());
    ASSERT_TRUE(v.forward.empty());
  }
  EXPECT_EQ(e.states().size(), 1000u);
  // The proxy states never take the concurrent path (replies, randomness).
  auto ack = Tcp("203.0.113.9", "198.51.100.80", 1024, 80, kAck, 1024 * 7u + 1, 1);
  Engine::SharedContext ctx;
  Verdict v;
  EXPECT_FALSE(e.TestShared(Direction::kIn, ext, ack, now, 0, 0, ctx, v));
}

}  // namespace
}  // namespace hapf::pf::engine
