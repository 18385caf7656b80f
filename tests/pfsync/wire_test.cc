// The codec against the shared vectors: the encoder reproduces every vector
// byte for byte from the parameters its README states, the decoder accepts
// each and re-encodes it exactly, and one-byte corruptions are rejected or
// decode differently wherever the byte carries meaning.
#include "pfsync/wire.h"

#include <gtest/gtest.h>

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

const net::IpAddr kSender = *net::IpAddr::Parse("192.0.2.1");
const net::IpAddr kRequester = *net::IpAddr::Parse("192.0.2.2");
const net::IpAddr kGroup = *net::IpAddr::Parse("224.0.0.240");

std::vector<uint8_t> Bytes(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

// The pfsync part of one captured IPv4 packet.
std::vector<uint8_t> PfsyncOf(const PcapFrame& f) { return {f.bytes.begin() + 20, f.bytes.end()}; }

struct Built {
  std::string name;
  std::vector<std::vector<uint8_t>> ipv4;  // one per frame
};

// Every vector, built here from the README's stated parameters.
std::vector<Built> BuildAllVectors() {
  std::vector<Built> v;
  auto one = [](PacketBuilder& b, const net::IpAddr& src, uint16_t ipid) {
    return Ipv4Encapsulate(b.Finish(), src, kGroup, ipid);
  };
  {
    PacketBuilder b;
    b.AddId(Action::kUpdReq, StateId{0, 0});
    v.push_back({"pfsync_bulk_request", {one(b, kRequester, 0x0101)}});
  }
  {
    PacketBuilder b;
    b.AddBus(WireBus{kCreator, 0, kBusStart});
    for (int n : {1, 2, 3}) b.AddState(Action::kUpd, VectorState(n));
    b.AddBus(WireBus{kCreator, 0, kBusEnd});
    v.push_back({"pfsync_bulk_transfer_mtu1500", {one(b, kSender, 0x0203)}});
  }
  {
    PacketBuilder b(588 - kIpHeaderSize);  // the smallest pfsync MTU of the two-frame transfer
    Built t{"pfsync_bulk_transfer", {}};
    EXPECT_TRUE(b.AddBus(WireBus{kCreator, 0, kBusStart}));
    EXPECT_TRUE(b.AddState(Action::kUpd, VectorState(1)));
    EXPECT_TRUE(b.AddState(Action::kUpd, VectorState(2)));
    EXPECT_FALSE(b.AddState(Action::kUpd, VectorState(3)));  // does not fit: next packet
    t.ipv4.push_back(one(b, kSender, 0x0201));
    b.Reset();
    b.AddState(Action::kUpd, VectorState(3));
    b.AddBus(WireBus{kCreator, 0, kBusEnd});
    t.ipv4.push_back(one(b, kSender, 0x0202));
    v.push_back(t);
  }
  {
    PacketBuilder b;
    b.AddState(Action::kIns, VectorState(7));
    v.push_back({"pfsync_ins_tcp", {one(b, kSender, 0x0101)}});
  }
  {
    PacketBuilder b;
    b.AddUpdC(VectorUpdC(7));
    b.AddUpdC(VectorUpdC(8));
    b.AddId(Action::kDelC, StateId{VectorId(9), kCreator});
    v.push_back({"pfsync_upd_c_del_c", {one(b, kSender, 0x0101)}});
  }
  {
    PacketBuilder b;
    b.AddId(Action::kInsAck, StateId{VectorId(7), kCreator});
    v.push_back({"pfsync_ins_ack", {one(b, kRequester, 0x0101)}});
  }
  {
    PacketBuilder b;
    b.AddId(Action::kUpdReq, StateId{VectorId(7), kCreator});
    v.push_back({"pfsync_upd_req_one", {one(b, kRequester, 0x0101)}});
  }
  {
    PacketBuilder b;
    b.AddClr(WireClr{IfName::From("em0"), kCreator});
    v.push_back({"pfsync_clr", {one(b, kSender, 0x0101)}});
  }
  return v;
}

TEST(PfsyncVectors, EncoderReproducesEveryVectorByteForByte) {
  auto all = BuildAllVectors();
  EXPECT_EQ(all.size(), 8u);
  for (const Built& b : all) {
    auto frames = ReadVector(b.name + ".pcap");
    ASSERT_EQ(frames.size(), b.ipv4.size()) << b.name;
    for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(b.ipv4[i], frames[i].bytes) << b.name << " frame " << i;
  }
}

TEST(PfsyncVectors, DecoderAcceptsEveryVectorAndReencodesIt) {
  for (const Built& b : BuildAllVectors()) {
    for (const PcapFrame& f : ReadVector(b.name + ".pcap")) {
      auto body = PfsyncOf(f);
      DecodedPacket d;
      ASSERT_EQ(DecodePacket(body, d), DecodeError::kNone) << b.name;
      EXPECT_EQ(d.header_len, body.size());
      // Rebuild from the typed values only.
      PacketBuilder out;
      for (const Region& r : d.regions) {
        for (size_t i = 0; i < r.count; ++i) {
          auto a = static_cast<Action>(r.action);
          switch (a) {
            case Action::kIns:
            case Action::kUpd:
            case Action::kDel:
              EXPECT_EQ(CheckState(d.states[r.first + i], a == Action::kIns), ItemCheck::kOk);
              out.AddState(a, d.states[r.first + i]);
              break;
            case Action::kUpdC: out.AddUpdC(d.upd_c[r.first + i]); break;
            case Action::kBus: out.AddBus(d.bus[r.first + i]); break;
            case Action::kClr: out.AddClr(d.clr[r.first + i]); break;
            default: out.AddId(a, d.ids[r.first + i]); break;
          }
        }
      }
      EXPECT_EQ(Bytes(out.Finish()), body) << b.name;
    }
  }
}

TEST(PfsyncVectors, DecodedFieldsAreTheStatedOnes) {
  auto frames = ReadVector("pfsync_ins_tcp.pcap");
  ASSERT_EQ(frames.size(), 1u);
  DecodedPacket d;
  ASSERT_EQ(DecodePacket(PfsyncOf(frames[0]), d), DecodeError::kNone);
  ASSERT_EQ(d.regions.size(), 1u);
  EXPECT_EQ(d.regions[0].action, static_cast<uint8_t>(Action::kIns));
  EXPECT_EQ(d.regions[0].item_words, 66);
  ASSERT_EQ(d.states.size(), 1u);
  const WireState& s = d.states[0];
  EXPECT_EQ(s, VectorState(7));
  EXPECT_EQ(s.key[0].addr[0].ToString(), "198.51.100.20");
  EXPECT_EQ(s.key[0].addr[1].ToString(), "10.0.0.5");
  EXPECT_EQ(s.key[0].port[1], 51237);
  EXPECT_EQ(s.src.seqlo, 0x11223344u);
  EXPECT_EQ(s.dst.max_win, 65160);
  EXPECT_EQ(s.expire, 86395u);
  EXPECT_EQ(s.bytes[1], 9001u);
  EXPECT_EQ(s.identity(), (StateId{0x6553800000000007ull, kCreator}));
}

TEST(PfsyncWire, Ipv6StateUsesOpenBsdFamily24AndRoundTrips) {
  WireState s = VectorState(1);
  s.af = WireAf::kInet6;
  for (auto& k : s.key) {
    k.af = WireAf::kInet6;
    k.addr = {*net::IpAddr::Parse("2001:db8::20"), *net::IpAddr::Parse("2001:db8:1::5")};
    k.rdomain = 7;
  }
  s.rt_addr = *net::IpAddr::Parse("2001:db8::1");
  s.rtableid = {-1, 3};
  s.src.scrub = WireScrub{1, 64, 1, 0xdeadbeef};
  s.packets = {0x0123456789abcdefull, 1};
  uint8_t buf[kStateSize];
  EncodeState(s, buf);
  EXPECT_EQ(buf[250], 24);
  EXPECT_EQ(buf[24 + 38], 24);
  // Counters: high word first.
  EXPECT_EQ(buf[204], 0x01);
  EXPECT_EQ(buf[211], 0xef);
  EXPECT_EQ(buf[240], 0xff);  // rtableid -1
  EXPECT_EQ(DecodeState(buf), s);
  EXPECT_EQ(ToFamily(s.af), net::Family::kV6);
}

// Which bytes of a packet a decoder is allowed to ignore: pad bytes, the 12
// unused bytes of IPv4 pf_addrs, CLR name bytes after the NUL, pfcksum.
std::set<size_t> IgnoredBytes(const DecodedPacket& d, std::span<const uint8_t> body) {
  std::set<size_t> ignored;
  for (size_t i = 4; i < 20; ++i) ignored.insert(i);  // pfcksum: ignored by 7.4+ and by us
  ignored.insert(1);                                  // header pad
  size_t off = kHeaderSize;
  auto peer_pad = [&](size_t at) {
    for (size_t i = 26; i < 32; ++i) ignored.insert(at + i);
  };
  for (const Region& r : d.regions) {
    size_t stride = size_t{r.item_words} * 4;
    size_t item = off + kSubheaderSize;
    for (size_t i = 0; i < r.count; ++i, item += stride) {
      switch (static_cast<Action>(r.action)) {
        case Action::kIns:
        case Action::kUpd:
        case Action::kDel: {
          const WireState& s = d.states[r.first + i];
          // (Stray bytes in an IPv4 pf_addr's unused part are kept: they
          // turn the address into a 16-byte value, a different decode.)
          for (int k = 0; k < 2; ++k) ignored.insert(item + 24 + 40 * k + 39);
          for (size_t j = s.ifname.view().size() + 1; j < 16; ++j) ignored.insert(item + 8 + j);
          peer_pad(item + 104);
          peer_pad(item + 136);
          break;
        }
        case Action::kUpdC:
          peer_pad(item + 8);
          peer_pad(item + 40);
          ignored.insert(item + 82);
          ignored.insert(item + 83);
          break;
        case Action::kBus:
          for (size_t j = 9; j < 12; ++j) ignored.insert(item + j);
          break;
        case Action::kClr:
          for (size_t j = d.clr[r.first + i].ifname.view().size() + 1; j < 16; ++j) ignored.insert(item + j);
          break;
        default: break;
      }
    }
    off += kSubheaderSize + stride * r.count;
  }
  for (size_t i = off; i < body.size(); ++i) ignored.insert(i);
  return ignored;
}

// Two decodings are "the same" when every typed field is equal.
bool SameDecode(const DecodedPacket& a, const DecodedPacket& b) {
  if (a.regions.size() != b.regions.size()) return false;
  for (size_t i = 0; i < a.regions.size(); ++i) {
    const Region &x = a.regions[i], &y = b.regions[i];
    if (x.action != y.action || x.item_words != y.item_words || x.count != y.count || x.skipped != y.skipped)
      return false;
  }
  return a.header_len == b.header_len && a.states == b.states && a.upd_c == b.upd_c && a.ids == b.ids &&
         a.clr == b.clr && a.bus == b.bus && a.tdb == b.tdb;
}

TEST(PfsyncVectors, EveryMeaningfulOneByteCorruptionIsRejectedOrDecodesDifferently) {
  size_t checked = 0, rejected = 0, ignored_count = 0;
  for (const Built& b : BuildAllVectors()) {
    for (const PcapFrame& f : ReadVector(b.name + ".pcap")) {
      auto body = PfsyncOf(f);
      DecodedPacket ref;
      ASSERT_EQ(DecodePacket(body, ref), DecodeError::kNone);
      auto ignored = IgnoredBytes(ref, body);
      for (size_t pos = 0; pos < body.size(); ++pos) {
        for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
          auto bad = body;
          bad[pos] ^= flip;
          DecodedPacket d;
          DecodeError e = DecodePacket(bad, d);
          ++checked;
          if (e != DecodeError::kNone) {
            ++rejected;
            continue;
          }
          if (ignored.count(pos)) {
            ++ignored_count;
            EXPECT_TRUE(SameDecode(ref, d)) << b.name << " ignored byte " << pos << " changed the decode";
          } else {
            EXPECT_FALSE(SameDecode(ref, d)) << b.name << " byte " << pos << " ^" << int(flip) << " went unnoticed";
          }
        }
      }
    }
  }
  EXPECT_GT(rejected, 50u);
  EXPECT_GT(ignored_count, 50u);
  EXPECT_GT(checked, 5000u);
}

TEST(PfsyncWire, RejectsWholePacketsWithEachReason) {
  PacketBuilder b;
  b.AddUpdC(VectorUpdC(7));
  b.AddId(Action::kDelC, StateId{VectorId(9), kCreator});
  auto good = Bytes(b.Finish());
  DecodedPacket d;
  ASSERT_EQ(DecodePacket(good, d), DecodeError::kNone);

  EXPECT_EQ(DecodePacket(std::span(good).first(19), d), DecodeError::kShortHeader);
  auto v = good;
  v[0] = 5;
  EXPECT_EQ(DecodePacket(v, d), DecodeError::kBadVersion);
  v = good;
  v[3] += 1;  // len one more than arrived
  EXPECT_EQ(DecodePacket(v, d), DecodeError::kBadHeaderLen);
  v = good;
  v[2] = 0, v[3] = 19;
  EXPECT_EQ(DecodePacket(v, d), DecodeError::kBadHeaderLen);
  // Truncation anywhere inside a region: the header len no longer matches, and
  // with the len fixed up the region overruns it. Never half a packet.
  for (size_t cut = kHeaderSize + 1; cut < good.size(); ++cut) {
    v.assign(good.begin(), good.begin() + static_cast<long>(cut));
    EXPECT_EQ(DecodePacket(v, d), DecodeError::kBadHeaderLen) << cut;
    v[2] = static_cast<uint8_t>(cut >> 8), v[3] = static_cast<uint8_t>(cut);
    DecodeError e = DecodePacket(v, d);
    if (cut - kHeaderSize == 84 + 4 || cut - kHeaderSize < 4 || (cut - kHeaderSize > 88 && cut - kHeaderSize < 92))
      EXPECT_EQ(e, DecodeError::kNone) << cut;  // region boundary or < 4 trailing bytes
    else
      EXPECT_EQ(e, DecodeError::kTruncatedRegion) << cut;
    EXPECT_TRUE(e != DecodeError::kNone || d.upd_c.size() <= 1);
  }
  v = good;
  v[kHeaderSize] = 16;  // unknown action, count and len non-zero: skipped
  ASSERT_EQ(DecodePacket(v, d), DecodeError::kNone);
  EXPECT_TRUE(d.regions[0].skipped);
  EXPECT_TRUE(d.upd_c.empty());
  EXPECT_EQ(d.ids.size(), 1u);
  v[kHeaderSize + 1] = 0;  // and len 0: the rest cannot be found, badact
  EXPECT_EQ(DecodePacket(v, d), DecodeError::kBadAction);
  // UPD_C items of 80 bytes are shorter than ours: the region is skipped, the
  // DEL_C after it still read.
  v = good;
  v[kHeaderSize + 1] = 20;
  v.erase(v.begin() + kHeaderSize + 4 + 80, v.begin() + kHeaderSize + 4 + 84);
  v[3] = static_cast<uint8_t>(v.size());
  ASSERT_EQ(DecodePacket(v, d), DecodeError::kNone);
  EXPECT_TRUE(d.regions[0].skipped);
  EXPECT_TRUE(d.upd_c.empty());
  EXPECT_EQ(d.ids.size(), 1u);
}

TEST(PfsyncWire, LongerItemsAreSteppedByTheirStrideAndReadAsPrefix) {
  // A newer sender appends 8 bytes to each DEL_C item: len 5 words.
  std::vector<uint8_t> p(kHeaderSize, 0);
  p[0] = 6;
  p.insert(p.end(), {7, 5, 0, 2});
  for (int n : {4, 5}) {
    uint8_t item[20] = {};
    EncodeId(StateId{VectorId(n), kCreator}, item);
    item[19] = 0xaa;
    p.insert(p.end(), item, item + 20);
  }
  p[3] = static_cast<uint8_t>(p.size());
  DecodedPacket d;
  ASSERT_EQ(DecodePacket(p, d), DecodeError::kNone);
  ASSERT_EQ(d.ids.size(), 2u);
  EXPECT_EQ(d.ids[1], (StateId{VectorId(5), kCreator}));
}

TEST(PfsyncWire, ValueChecksMarkItemsAsOpenBsdDoes) {
  WireState s = VectorState(1);
  EXPECT_EQ(CheckState(s, true), ItemCheck::kOk);
  s.timeout = 21;  // purge: 7.4+ bulk transfers carry it, receivers skip it
  EXPECT_EQ(CheckState(s, false), ItemCheck::kBadValue);
  s = VectorState(1);
  s.dst.state = 13;
  EXPECT_EQ(CheckState(s, false), ItemCheck::kBadValue);
  s = VectorState(1);
  s.af = WireAf::kUnspec;
  EXPECT_EQ(CheckState(s, false), ItemCheck::kOk);  // UPD does not look at af
  EXPECT_EQ(CheckState(s, true), ItemCheck::kBadValue);
  s = VectorState(1);
  s.key[1].af = WireAf::kUnspec;  // one key 0, the other 2
  EXPECT_EQ(CheckState(s, true), ItemCheck::kBadValue);
  s.key[0].af = WireAf::kUnspec;
  EXPECT_EQ(CheckState(s, true), ItemCheck::kOk);
  s.direction = static_cast<Direction>(3);
  EXPECT_EQ(CheckState(s, true), ItemCheck::kBadValue);
  WireUpdC u = VectorUpdC(1);
  EXPECT_EQ(CheckUpdC(u), ItemCheck::kOk);
  u.timeout = 20;
  EXPECT_EQ(CheckUpdC(u), ItemCheck::kBadValue);
}

TEST(PfsyncWire, BuilderHonoursTheMtuAndTheSpecCapacities) {
  // §6: per 1500-byte packet 5 full states, 17 UPD_C, 121 id items, 28 TDB.
  struct Case {
    Action a;
    size_t expect;
  };
  for (Case c : {Case{Action::kUpd, 5}, Case{Action::kUpdC, 17}, Case{Action::kDelC, 121}, Case{Action::kTdb, 28}}) {
    PacketBuilder b;
    size_t n = 0;
    for (;; ++n) {
      bool ok = c.a == Action::kUpd    ? b.AddState(c.a, VectorState(1))
                : c.a == Action::kUpdC ? b.AddUpdC(VectorUpdC(1))
                : c.a == Action::kTdb  ? b.AddTdb(WireTdb{})
                                       : b.AddId(c.a, StateId{1, 2});
      if (!ok) break;
    }
    EXPECT_EQ(n, c.expect) << int(c.a);
    EXPECT_LE(b.Finish().size() + kIpHeaderSize, 1500u);
  }
}

}  // namespace
}  // namespace hapf::pfsync
