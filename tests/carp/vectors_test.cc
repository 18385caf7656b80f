// Byte-for-byte conformance with ../shared/vectors (README there, carp.md §5.4).
#include <gtest/gtest.h>

#include "carp/advert.h"
#include "carp/engine.h"
#include "carp/pcap_file.h"

namespace hapf::carp {
namespace {

using testing::ReadPcap;
using testing::SharedDir;

std::vector<uint8_t> Hex(std::string_view s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
  return out;
}
template <size_t N>
std::array<uint8_t, N> HexArray(std::string_view s) {
  auto v = Hex(s);
  std::array<uint8_t, N> a{};
  EXPECT_EQ(v.size(), N);
  std::copy_n(v.begin(), std::min(N, v.size()), a.begin());
  return a;
}
net::IpAddr Ip(const char* s) {
  return *net::IpAddr::Parse(s);
}

struct Vector {
  const char* file;
  uint8_t vhid, advskew, advbase, demote;
  const char* pass;
  const char* counter;
  std::vector<const char*> addrs;
  const char* digest;
};

const Vector kValid[] = {
    {"carp_v4_vhid1_skew1",
     1,
     1,
     1,
     0,
     "toor",
     "0123456789abcdef",
     {"170.16.3.131"},
     "bfeb90408af06ecf6b1edf7565109a917051baf1"},
    {"carp_v4_vhid1_skew100",
     1,
     100,
     1,
     0,
     "toor",
     "0123456789abcdef",
     {"170.16.3.131"},
     "bfeb90408af06ecf6b1edf7565109a917051baf1"},
    {"carp_v4_vhid1_demote32",
     1,
     1,
     1,
     32,
     "toor",
     "0123456789abcdef",
     {"170.16.3.131"},
     "bfeb90408af06ecf6b1edf7565109a917051baf1"},
    {"carp_v4_vhid1_bowout",
     1,
     255,
     255,
     0,
     "toor",
     "0123456789abcdef",
     {"170.16.3.131"},
     "bfeb90408af06ecf6b1edf7565109a917051baf1"},
    {"carp_v6_vhid1_skew1",
     1,
     1,
     1,
     0,
     "toor",
     "0123456789abcdef",
     {"2001:db8:3::131"},
     "28188bf14fd1e100e789a5209c58831a03db309e"},
    {"carp_dual_vhid2",
     2,
     0,
     1,
     0,
     "s3cret-passphrase",
     "5a5a5a5a00000001",
     {"10.0.0.20", "10.0.0.3", "2001:db8::20", "2001:db8::3"},
     "4630b82f24cfdb05da9d99f0e3553fec4f2e70f7"},
};

std::vector<net::IpAddr> Addrs(const Vector& v) {
  std::vector<net::IpAddr> a;
  for (auto s : v.addrs) a.push_back(Ip(s));
  return a;
}

Advert FromParams(const Vector& v) {
  Advert ad;
  ad.vhid = v.vhid;
  ad.advskew = v.advskew;
  ad.advbase = v.advbase;
  ad.demote = v.demote;
  ad.counter = HexArray<8>(v.counter);
  auto addrs = Addrs(v);
  ad.digest = Authenticator(v.pass, v.vhid, addrs, VirtualMac(v.vhid)).Compute(ad.counter);
  return ad;
}

// An engine with one BACKUP vhost matching the vector, on carpdev em0, with a
// worse advskew than any vector so that no election rule fires.
struct Receiver {
  Engine engine{Settings{.log_level = kLogInfo}, [] { return uint64_t{0x1111111111111111}; }};
  Actions out;
  explicit Receiver(const Vector& v, uint8_t own_advbase = 1) {
    VhostConfig c;
    c.ifname = "carp0";
    c.carpdev = "em0";
    c.vhid = v.vhid;
    c.advbase = own_advbase;
    c.advskew = 254;
    c.passphrase = v.pass;
    for (auto s : v.addrs) c.addresses.push_back(net::Prefix::Host(Ip(s)));
    EXPECT_EQ(engine.AddInterface(c, sim::kTimeZero, out), std::nullopt);
    dual_stack = c.has_v4() && c.has_v6();
  }
  bool dual_stack = false;
  uint64_t Drops() const {
    const Stats& s = engine.stats();
    return s.badif + s.badttl + s.hdrops + s.badsum + s.badver + s.badlen + s.badauth + s.badvhid;
  }
  // Feeds the IP packet at t = 1 s; returns true if it was accepted (the
  // master-down deadline moved or the state changed).
  bool Feed(const IpPacket& ip) {
    const Time now = sim::FromNanos(1'000'000'000);
    const Time before = engine.NextDeadline();
    const uint64_t drops = Drops();
    engine.Receive(RxAdvert{"em0", ip.src, ip.dst, ip.ttl, ip.payload}, now, out);
    const bool accepted = Drops() == drops;
    if (accepted) {
      EXPECT_TRUE(engine.NextDeadline() != before || engine.state("carp0") == State::kMaster || dual_stack);
    }
    return accepted;
  }
};

// The CARP packets of a vector file; the records stay alive with the spans into them.
std::vector<IpPacket> CarpPackets(const std::string& name) {
  static std::map<std::string, std::vector<testing::PcapRecord>> loaded;
  auto& recs = loaded[name];
  if (recs.empty()) recs = ReadPcap(SharedDir() + "/vectors/" + name + ".pcap");
  std::vector<IpPacket> out;
  for (const auto& r : recs) {
    auto ip = ParseEthernetFrame(r.data);
    if (ip && ip->protocol == kIpProtoCarp) out.push_back(*ip);
  }
  return out;
}

TEST(CarpVectorsTest, EncoderReproducesEveryValidVectorByteForByte) {
  for (const auto& v : kValid) {
    SCOPED_TRACE(v.file);
    auto pkts = CarpPackets(v.file);
    ASSERT_FALSE(pkts.empty());
    for (const auto& ip : pkts) {
      EXPECT_EQ(ip.ttl, 255);
      ASSERT_EQ(ip.payload.size(), kAdvertLen);
      auto mine = EncodeAdvert(FromParams(v));
      EXPECT_EQ(std::vector<uint8_t>(mine.begin(), mine.end()),
                std::vector<uint8_t>(ip.payload.begin(), ip.payload.end()));
      auto d = DecodeAdvert(ip.payload);
      ASSERT_TRUE(d);
      EXPECT_EQ(d->digest, HexArray<20>(v.digest));
    }
  }
}

TEST(CarpVectorsTest, Ipv4FramingMatchesSkew1Vector) {
  auto recs = ReadPcap(SharedDir() + "/vectors/carp_v4_vhid1_skew1.pcap");
  auto payload = EncodeAdvert(FromParams(kValid[0]));
  auto ip = BuildIpv4Packet(Ip("192.0.2.1"), GroupV4(), payload, Ipv4Framing{.id = 0x1234});
  auto frame = BuildEthernetFrame(MulticastMac(GroupV4()), VirtualMac(1), 0x0800, ip);
  EXPECT_EQ(frame, recs.at(0).data);
}

TEST(CarpVectorsTest, DecoderReportsTheReadmeFields) {
  auto ip = CarpPackets("carp_v4_vhid1_skew1").at(0);
  auto d = DecodeAdvert(ip.payload);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->version, 2);
  EXPECT_EQ(d->type, 1);
  EXPECT_EQ(d->vhid, 1);
  EXPECT_EQ(d->advskew, 1);
  EXPECT_EQ(d->authlen, 7);
  EXPECT_EQ(d->demote, 0);
  EXPECT_EQ(d->advbase, 1);
  EXPECT_EQ(d->checksum, 0x806b);
  EXPECT_TRUE(ChecksumValid(ip.payload));
  EXPECT_EQ(d->counter_value(), 81985529216486895ull);
}

TEST(CarpVectorsTest, EngineAcceptsEveryValidVector) {
  for (const auto& v : kValid) {
    SCOPED_TRACE(v.file);
    for (const auto& ip : CarpPackets(v.file)) {
      Receiver r(v, /*own_advbase=*/100);  // advbase 100 disables B3, so even the bow-out keeps it BACKUP
      EXPECT_TRUE(r.Feed(ip));
      // demote 32 > own 0: rule B2 takes over even without preempt.
      EXPECT_EQ(r.engine.state("carp0"), v.demote > 0 ? State::kMaster : State::kBackup);
    }
  }
}

TEST(CarpVectorsTest, EverySingleByteFlipIsRejected) {
  for (const auto& v : kValid) {
    SCOPED_TRACE(v.file);
    auto ip = CarpPackets(v.file).at(0);
    std::vector<uint8_t> bytes(ip.payload.begin(), ip.payload.end());
    for (size_t i = 0; i < kAdvertLen; ++i) {
      for (uint8_t mask : {0x01, 0x80, 0xff}) {
        auto flipped = bytes;
        flipped[i] ^= mask;
        IpPacket p = ip;
        p.payload = flipped;
        Receiver r(v);
        EXPECT_FALSE(r.Feed(p)) << "byte " << i << " mask " << int(mask);
      }
    }
  }
}

// carp.md §5.2/§14.4: advbase, advskew and demote are outside the HMAC, so a
// rewrite with a fixed checksum is accepted; every other field fails.
TEST(CarpVectorsTest, FlipsWithRecomputedChecksumFailOnlyOnAuthenticatedBytes) {
  const Vector& v = kValid[0];
  auto ip = CarpPackets(v.file).at(0);
  for (size_t i = 0; i < kAdvertLen; ++i) {
    if (i == 6 || i == 7) continue;  // the checksum itself
    auto ad = *DecodeAdvert(ip.payload);
    auto bytes = EncodeAdvert(ad);
    bytes[i] ^= 0x04;
    auto reencoded = EncodeAdvert(*DecodeAdvert(bytes));  // recompute checksum
    IpPacket p = ip;
    p.payload = reencoded;
    Receiver r(v, 100);
    // Byte 0 bit 0x04 is in the type nibble, which OpenBSD neither checks nor hashes.
    const bool unauthenticated = i == 0 || i == 2 || i == 3 || i == 4 || i == 5;
    EXPECT_EQ(r.Feed(p), unauthenticated) << "byte " << i;
    if (i == 1) {
      EXPECT_EQ(r.engine.stats().badvhid, 1u);
    }
    if (i >= 8) {
      EXPECT_EQ(r.engine.stats().badauth, 1u);
    }
  }
  // The version nibble is checked: 0x21 -> 0x31 is "invalid version 3 != 2".
  auto bytes = EncodeAdvert(*DecodeAdvert(ip.payload));
  bytes[0] ^= 0x10;
  auto reencoded = EncodeAdvert(*DecodeAdvert(bytes));
  IpPacket p = ip;
  p.payload = reencoded;
  Receiver r(v);
  EXPECT_FALSE(r.Feed(p));
  EXPECT_EQ(r.engine.stats().badver, 1u);
  EXPECT_EQ(r.out.back().text, "carp0: invalid version 3 != 2");
}

TEST(CarpVectorsTest, ScapyHelperHmacVectorIsRejected) {
  auto ip = CarpPackets("carp_v4_vhid1_scapy_helper_hmac").at(0);
  EXPECT_TRUE(ChecksumValid(ip.payload));
  Receiver r(kValid[0]);
  EXPECT_FALSE(r.Feed(ip));
  EXPECT_EQ(r.engine.stats().badauth, 1u);
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.back().text, "carp0: incorrect hash");
}

TEST(CarpVectorsTest, UcarpCapturesAreAcceptedAndDigestsReproduced) {
  const std::map<std::string, std::vector<std::pair<const char*, const char*>>> expected = {
      {"ucarp_vhid1_skew1",
       {{"63a507d612b49962", "0d55629a333552fe35e7c6c8bbbdb89c150fd5bd"},
        {"fcad6bd422a6558c", "0ae8d7df5bfa5d9a99d8a6c1d2da565fb69f1690"},
        {"c7ba19ab81c7c0fa", "4aab771f302025858b6042ec99fa25dfcac4485b"}}},
      {"ucarp_vhid1_skew100",
       {{"53add265d515d961", "35c87ab103f139ac52f8cabbfc88b9dbcc273340"},
        {"505048e01b2ea4fb", "f512e6e659033017b3c6514d8a386b1b309fdff7"},
        {"55054a12b4d7e964", "304dbd4dd5fce5263d0e3889906a6751180024b6"}}}};
  const auto addr = Ip("170.16.3.131");
  Authenticator auth("toor", 1, std::span(&addr, 1), VirtualMac(1));
  for (const auto& [file, rows] : expected) {
    SCOPED_TRACE(file);
    auto pkts = CarpPackets(file);
    ASSERT_EQ(pkts.size(), rows.size());
    for (size_t i = 0; i < pkts.size(); ++i) {
      auto ad = *DecodeAdvert(pkts[i].payload);
      EXPECT_EQ(ad.counter, HexArray<8>(rows[i].first));
      EXPECT_EQ(ad.digest, HexArray<20>(rows[i].second));
      EXPECT_EQ(auth.Compute(ad.counter), ad.digest);
      Vector v = kValid[0];
      Receiver r(v, 100);
      EXPECT_TRUE(r.Feed(pkts[i]));
    }
  }
}

// carp.md §5.4: the three IPv6 digests and the lladdr term.
TEST(CarpVectorsTest, Ipv6LinkLocalVariantsAndLladdrTerm) {
  const auto counter = HexArray<8>("0123456789abcdef");
  const auto global = Ip("2001:db8:3::131");
  Authenticator auth("toor", 1, std::span(&global, 1), VirtualMac(1));
  EXPECT_EQ(auth.Compute(counter), HexArray<20>("28188bf14fd1e100e789a5209c58831a03db309e"));
  EXPECT_EQ(auth.ComputeWithLinkLocal(counter), HexArray<20>("8f0d4affaaace74ca83ca39dcdc064c32d78b532"));
  EXPECT_TRUE(auth.Verify(counter, HexArray<20>("28188bf14fd1e100e789a5209c58831a03db309e")));
  EXPECT_TRUE(auth.Verify(counter, HexArray<20>("8f0d4affaaace74ca83ca39dcdc064c32d78b532")));
  EXPECT_FALSE(auth.Verify(counter, HexArray<20>("1697bf76cb585b7ac9e6f8d5c14b6a546b508754")));
  // A configured link-local VIP is never sent (no-LL) and is hashed scope-free in with-LL.
  std::vector<net::IpAddr> with_ll{global, Ip("fe80:5::200:5eff:fe00:101")};
  Authenticator auth2("toor", 1, with_ll, VirtualMac(1));
  EXPECT_EQ(auth2.Compute(counter), auth.Compute(counter));
  EXPECT_EQ(auth2.ComputeWithLinkLocal(counter), auth.ComputeWithLinkLocal(counter));

  const auto dual =
      std::vector<net::IpAddr>{Ip("10.0.0.20"), Ip("10.0.0.3"), Ip("2001:db8::20"), Ip("2001:db8::3")};
  Authenticator a3("s3cret-passphrase", 2, dual, VirtualMac(2));
  EXPECT_EQ(a3.ComputeWithLinkLocal(HexArray<8>("5a5a5a5a00000001")),
            HexArray<20>("ad3b3349cf9251c9a291087d22c72624a14ab217"));

  const auto v4 = Ip("170.16.3.131");
  Authenticator a4("toor", 1, std::span(&v4, 1), VirtualMac(1), Mac{0x02, 0, 0, 0, 0, 0x99});
  EXPECT_EQ(a4.Compute(counter), HexArray<20>("f94500950f939123ab488a713173ab8644b9b5bf"));
}

TEST(CarpVectorsTest, PassphraseIsCutTo19Bytes) {
  const auto v4 = Ip("170.16.3.131");
  const auto counter = HexArray<8>("0123456789abcdef");
  Authenticator a("0123456789abcdefghiXYZ", 1, std::span(&v4, 1), VirtualMac(1));
  Authenticator b("0123456789abcdefghi", 1, std::span(&v4, 1), VirtualMac(1));
  Authenticator c("0123456789abcdefgh", 1, std::span(&v4, 1), VirtualMac(1));
  EXPECT_EQ(a.Compute(counter), b.Compute(counter));
  EXPECT_NE(b.Compute(counter), c.Compute(counter));
}

}  // namespace
}  // namespace hapf::carp
