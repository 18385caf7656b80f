// The printer against OpenBSD tcpdump's text: every vector's NAME.oracle.txt,
// and the independent oracle run on packets hapf encodes (random states of
// every protocol/family/translation, and mutated, truncated packets).
#include "pfsync/print.h"

#include <gtest/gtest.h>

#include <random>

#include "pfsync/pcap.h"
#include "pfsync/test_support.h"

namespace hapf::pfsync {
namespace {

using testing::OracleText;
using testing::ReadFile;
using testing::RunOracle;
using testing::VectorPath;

const net::IpAddr kSender = *net::IpAddr::Parse("192.0.2.1");
const net::IpAddr kGroup = *net::IpAddr::Parse("224.0.0.240");

std::string Dump(const std::string& path, PrintOptions opts) {
  std::string out, error;
  EXPECT_TRUE(DumpPcap(path, opts, out, &error)) << error;
  return out;
}

TEST(PfsyncPrint, EveryVectorPrintsItsOracleText) {
  int n = 0;
  for (const char* name : {"pfsync_bulk_request", "pfsync_bulk_transfer", "pfsync_bulk_transfer_mtu1500",
                           "pfsync_clr", "pfsync_ins_ack", "pfsync_ins_tcp", "pfsync_upd_c_del_c",
                           "pfsync_upd_req_one"}) {
    std::string expected = ReadFile(VectorPath(std::string(name) + ".oracle.txt"));
    ASSERT_FALSE(expected.empty()) << name;
    // Line 1 is the command, line 2 the oracle's "# FILE" line.
    expected = OracleText(expected.substr(expected.find('\n') + 1));
    EXPECT_EQ(Dump(VectorPath(std::string(name) + ".pcap"), PrintOptions{2, false}), expected) << name;
    ++n;
  }
  EXPECT_EQ(n, 8);
}

TEST(PfsyncPrint, InsTcpStateText) {
  WireState s = testing::VectorState(7);
  std::string out;
  PrintState(s, PrintOptions{2, false}, out);
  EXPECT_EQ(out,
            "em0 tcp 10.0.0.5:51237 -> 198.51.100.20:443    \n"
            "   ESTABLISHED:ESTABLISHED\n"
            "   [287454020 + 1145324612] wscale 7  [2578103244 + 1145324340] wscale 7\n"
            "   age 00:00:05, expires in 23:59:55, 12:10 pkts, 4242:9001 bytes, rule 3\n"
            "   id: 6553800000000007 creatorid: 3c2a9f10");
  out.clear();
  PrintState(s, PrintOptions{0, true}, out);
  EXPECT_EQ(out, "em0 6 10.0.0.5:51237 -> 198.51.100.20:443    \n   ESTABLISHED:ESTABLISHED");
}

// Random but well-formed content of every kind the printer knows.
class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}
  uint32_t U32() { return static_cast<uint32_t>(rng_()); }
  uint32_t Below(uint32_t n) { return U32() % n; }
  bool Coin() { return Below(2) == 0; }

  net::IpAddr Addr(bool v4) {
    uint8_t b[16] = {};
    int fill = v4 ? 4 : 16;
    for (int i = 0; i < fill; ++i) b[i] = static_cast<uint8_t>(Below(4) == 0 ? 0 : U32());
    if (!v4 && Coin()) std::fill(b + 2, b + 12, 0);  // long zero runs
    return v4 ? net::IpAddr::V4Bytes(b) : net::IpAddr::V6Bytes(b);
  }

  WirePeer Peer() {
    WirePeer p;
    p.seqlo = U32();
    p.seqhi = U32();
    p.seqdiff = Below(3) == 0 ? U32() : 0;
    p.max_win = static_cast<uint16_t>(U32());
    p.mss = static_cast<uint16_t>(U32());
    p.state = static_cast<uint8_t>(Below(15));
    p.wscale = Below(3) == 0 ? 0 : static_cast<uint8_t>(U32());
    return p;
  }

  WireState State() {
    static constexpr uint8_t kProtos[] = {6, 6, 6, 17, 17, 1, 58, 47, 0, 50, 132, 255, 2, 41, 103, 112, 240};
    WireState s;
    s.id = (uint64_t{U32()} << 32) | U32();
    std::string name = "if" + std::to_string(Below(1000));
    if (Below(4) == 0) name = Coin() ? "all" : "vlan12345678901";
    s.ifname = IfName::From(name);
    bool v4 = Coin();
    s.af = Below(20) == 0 ? WireAf::kUnspec : v4 ? WireAf::kInet : WireAf::kInet6;
    WireKey k;
    k.af = Below(5) == 0 ? WireAf::kUnspec : s.af;
    k.addr = {Addr(v4), Addr(v4)};
    k.port = {static_cast<uint16_t>(Below(3) == 0 ? 0 : U32()), static_cast<uint16_t>(U32())};
    k.rdomain = static_cast<uint16_t>(Below(4) == 0 ? Below(300) : 0);
    s.key = {k, k};
    if (Coin()) {  // NAT: the stack side differs in one part
      switch (Below(4)) {
        case 0: s.key[1].addr[0] = Addr(v4); break;
        case 1: s.key[1].addr[1] = Addr(v4); break;
        case 2: s.key[1].port[Below(2)] = static_cast<uint16_t>(U32()); break;
        default: s.key[1].rdomain = static_cast<uint16_t>(Below(10)); break;
      }
    }
    s.src = Peer();
    s.dst = Peer();
    s.rule = Below(3) == 0 ? 0xffffffff : Below(100);
    s.anchor = Below(3) == 0 ? Below(50) : 0xffffffff;
    s.creation = Below(4) == 0 ? U32() : Below(200000);
    s.expire = Below(4) == 0 ? U32() : Below(90000);
    s.packets = {U32(), (uint64_t{U32()} << 32) | U32()};
    s.bytes = {U32(), (uint64_t{U32()} << 20) | U32()};
    s.creatorid = U32();
    s.proto = Below(5) == 0 ? static_cast<uint8_t>(U32()) : kProtos[Below(sizeof kProtos)];
    s.direction = static_cast<Direction>(Below(10) == 0 ? 0 : 1 + Below(2));
    s.timeout = static_cast<uint8_t>(Below(20));
    return s;
  }

  // One packet with a few regions of random kinds.
  std::vector<uint8_t> Packet() {
    PacketBuilder b;
    int regions = 1 + static_cast<int>(Below(4));
    for (int r = 0; r < regions; ++r) {
      int kind = static_cast<int>(Below(9));
      int n = 1 + static_cast<int>(Below(3));
      for (int i = 0; i < n; ++i) {
        switch (kind) {
          case 0: b.AddState(Action::kIns, State()); break;
          case 1: b.AddState(Action::kUpd, State()); break;
          case 2: b.AddState(Action::kDel, State()); break;
          case 3: {
            WireUpdC u;
            u.id = (uint64_t{U32()} << 32) | U32();
            u.creatorid = U32();
            b.AddUpdC(u);
            break;
          }
          case 4: b.AddId(static_cast<Action>(std::array{2, 5, 7}[Below(3)]), StateId{U32(), U32()}); break;
          case 5: {
            WireClr c;
            c.creatorid = U32();
            std::string name = Coin() ? "" : "em" + std::to_string(Below(10));
            if (Below(5) == 0) name = "a\tb\\c\x7f\xe9";
            c.ifname = IfName::From(name);
            b.AddClr(c);
            break;
          }
          case 6: b.AddBus(WireBus{U32(), Below(4) == 0 ? U32() : Below(100000), static_cast<uint8_t>(Below(4))}); break;
          case 7: {
            WireTdb t;
            t.spi = U32();
            t.rpl = (uint64_t{U32()} << 32) | U32();
            t.cur_bytes = U32();
            t.sproto = 50;
            b.AddTdb(t);
            break;
          }
          default: b.AddEmptyRegion(static_cast<Action>(Below(16)), static_cast<uint8_t>(Below(70))); break;
        }
      }
    }
    auto s = b.Finish();
    return {s.begin(), s.end()};
  }

 private:
  std::mt19937 rng_;
};

void CompareWithOracle(const std::vector<PcapFrame>& frames, const std::string& file) {
  std::string error;
  ASSERT_TRUE(WritePcap(file, frames, true, &error)) << error;
  struct Mode {
    const char* flags;
    PrintOptions opts;
  };
  for (Mode m : {Mode{"-vv", {2, false}}, Mode{"-v", {1, false}}, Mode{"", {0, false}}, Mode{"-vv -n", {2, true}}}) {
    auto run = RunOracle(std::string(m.flags) + " " + file);
    ASSERT_TRUE(run.status == 0 || run.status == 1) << "oracle failed to run: " << run.status;
    std::string mine = Dump(file, m.opts);
    std::string theirs = OracleText(run.out);
    if (mine != theirs) {
      // Report the first differing line, which is all one needs to debug.
      size_t i = 0;
      while (i < mine.size() && i < theirs.size() && mine[i] == theirs[i]) ++i;
      size_t from = mine.rfind('\n', i == 0 ? 0 : i - 1);
      from = from == std::string::npos ? 0 : from;
      ADD_FAILURE() << "mode '" << m.flags << "' differs at byte " << i << "\nhapf:   "
                    << mine.substr(from, 300) << "\noracle: " << theirs.substr(from, 300);
      return;
    }
  }
}

TEST(PfsyncPrint, MatchesTheOracleOnRandomWellFormedPackets) {
  Generator g(20261123);
  std::vector<PcapFrame> frames;
  for (int i = 0; i < 400; ++i)
    frames.push_back(PcapFrame{1700000000000000 + i * 1000, Ipv4Encapsulate(g.Packet(), kSender, kGroup, 1)});
  CompareWithOracle(frames, testing::TempPath("random.pcap"));
}

TEST(PfsyncPrint, MatchesTheOracleOnMutatedAndTruncatedPackets) {
  Generator g(7);
  std::vector<std::vector<uint8_t>> seeds;
  for (const char* name : {"pfsync_bulk_transfer_mtu1500.pcap", "pfsync_upd_c_del_c.pcap", "pfsync_clr.pcap"})
    for (const PcapFrame& f : testing::ReadVector(name)) seeds.emplace_back(f.bytes.begin() + 20, f.bytes.end());
  for (int i = 0; i < 20; ++i) seeds.push_back(g.Packet());
  std::vector<PcapFrame> frames;
  for (int i = 0; i < 1500; ++i) {
    std::vector<uint8_t> p = seeds[g.Below(static_cast<uint32_t>(seeds.size()))];
    int edits = 1 + static_cast<int>(g.Below(4));
    for (int e = 0; e < edits; ++e) {
      switch (g.Below(5)) {
        case 0:  // truncate
          p.resize(g.Below(static_cast<uint32_t>(p.size()) + 1));
          break;
        case 1:  // the header len
          if (p.size() >= 4) p[2 + g.Below(2)] = static_cast<uint8_t>(g.U32());
          break;
        case 2:  // a subheader-looking byte near the front
          if (p.size() > 24) p[20 + g.Below(8)] = static_cast<uint8_t>(g.U32());
          break;
        case 3:  // append garbage
          for (uint32_t n = g.Below(40); n > 0; --n) p.push_back(static_cast<uint8_t>(g.U32()));
          break;
        default:
          if (!p.empty()) p[g.Below(static_cast<uint32_t>(p.size()))] = static_cast<uint8_t>(g.U32());
      }
    }
    frames.push_back(PcapFrame{1700000000000000 + i, Ipv4Encapsulate(p, kSender, kGroup, 2)});
  }
  CompareWithOracle(frames, testing::TempPath("mutated.pcap"));
}

}  // namespace
}  // namespace hapf::pfsync
