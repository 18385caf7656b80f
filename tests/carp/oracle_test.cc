// External decoders read hapf's own adverts: tcpdump's CARP printer (-T carp),
// its default VRRP view, and tshark's CARP dissector (the only one that shows
// demote, carp.md §13). A missing tool is a failure, not a skip.
#include <gtest/gtest.h>
#include <unistd.h>

#include "carp/engine.h"
#include "carp/pcap_file.h"

namespace hapf::carp {
namespace {

using testing::RunCommand;

struct Sent {
  std::vector<testing::PcapRecord> records;
};

// Runs an engine through BACKUP -> MASTER, a demotion and a bow-out and frames
// every advert it emits as Ethernet, as the Linux layer sends it.
std::vector<testing::PcapRecord> EngineTraffic() {
  Engine e({.log_level = kLogCrit}, [] { return uint64_t{0x0123456789abcdef}; });
  VhostConfig c;
  c.ifname = "carp3";
  c.carpdev = "em0";
  c.vhid = 42;
  c.advbase = 2;
  c.advskew = 77;
  c.passphrase = "toor";
  c.addresses = {*net::Prefix::Parse("198.51.100.131/29"), *net::Prefix::Parse("2001:db8::131/64")};
  Actions out;
  std::vector<testing::PcapRecord> recs;
  uint32_t sec = 1000;
  auto collect = [&] {
    for (auto& a : out) {
      if (a.kind != Action::Kind::kSendAdvert) continue;
      std::vector<uint8_t> ip =
          a.addr.is_v4() ? BuildIpv4Packet(*net::IpAddr::Parse("198.51.100.130"), a.addr, a.payload)
                         : BuildIpv6Packet(*net::IpAddr::Parse("fe80::1"), a.addr, a.payload);
      recs.push_back(
          {sec++, 0,
           BuildEthernetFrame(MulticastMac(a.addr), VirtualMac(42), a.addr.is_v4() ? 0x0800 : 0x86dd, ip)});
    }
    out.clear();
  };
  EXPECT_EQ(e.AddInterface(c, sim::kTimeZero, out), std::nullopt);
  e.OnTimer(e.NextDeadline(), out);  // master: v4 + v6 advert
  collect();
  e.AdminGroupDemote("carp", 32, e.NextDeadline(), out);  // immediate advert with demote 32
  collect();
  e.SetAdminUp("carp3", false, sim::FromNanos(20'000'000'000), out);  // bow-out
  collect();
  return recs;
}

std::string WriteTraffic() {
  const std::string path =
      std::string(HAPF_BINARY_DIR) + "/carp_oracle_" + std::to_string(getpid()) + ".pcap";
  testing::WritePcap(path, EngineTraffic());
  return path;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t e = s.find('\n', pos);
    if (e == std::string::npos) e = s.size();
    out.push_back(s.substr(pos, e - pos));
    pos = e + 1;
  }
  return out;
}

TEST(CarpOracleTest, TcpdumpCarpPrinterDecodesOurAdverts) {
  const std::string pcap = WriteTraffic();
  auto lines = Lines(RunCommand("tcpdump -n -r " + pcap + " -T carp 2>&1"));
  std::vector<std::string> carp;
  for (auto& l : lines)
    if (l.find("CARPv2-advertise") != std::string::npos) carp.push_back(l);
  ASSERT_EQ(carp.size(), 6u) << RunCommand("tcpdump -n -r " + pcap + " -T carp 2>&1");
  const std::string normal =
      "CARPv2-advertise 36: vhid=42 advbase=2 advskew=77 authlen=7 counter=81985529216486895";
  const std::string bowout =
      "CARPv2-advertise 36: vhid=42 advbase=255 advskew=255 authlen=7 counter=81985529216486895";
  EXPECT_NE(carp[0].find("198.51.100.130 > 224.0.0.18: " + normal), std::string::npos) << carp[0];
  EXPECT_NE(carp[1].find("fe80::1 > ff02::12: " + normal), std::string::npos) << carp[1];
  EXPECT_NE(carp[2].find(normal), std::string::npos) << carp[2];  // demote is invisible here
  EXPECT_NE(carp[4].find(bowout), std::string::npos) << carp[4];
  EXPECT_NE(carp[5].find(bowout), std::string::npos) << carp[5];
  // -v validates the checksum: no "bad" anywhere.
  auto verbose = RunCommand("tcpdump -n -v -r " + pcap + " -T carp 2>&1");
  EXPECT_EQ(verbose.find("bad"), std::string::npos) << verbose;
  // The default view decodes protocol 112 as VRRP; demote shows as "authtype".
  std::vector<std::string> vrrp;
  for (auto& l : Lines(RunCommand("tcpdump -n -r " + pcap + " 2>&1")))
    if (l.find("VRRPv2") != std::string::npos) vrrp.push_back(l);
  ASSERT_EQ(vrrp.size(), 6u);
  EXPECT_NE(vrrp[0].find("VRRPv2, Advertisement, vrid 42, prio 77, authtype none, intvl 2s"),
            std::string::npos)
      << vrrp[0];
  EXPECT_NE(vrrp[2].find("vrid 42, prio 77, authtype #32, intvl 2s"), std::string::npos) << vrrp[2];
  unlink(pcap.c_str());
}

TEST(CarpOracleTest, TsharkShowsEveryFieldIncludingDemote) {
  const std::string pcap = WriteTraffic();
  auto text = RunCommand("tshark -n -r " + pcap + " -d ip.proto==112,carp -V 2>&1");
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("Virtual Host ID: 42"), 6u) << text;
  EXPECT_EQ(count("Demotion indicator: 32"), 4u);  // the demoted advert and the bow-outs
  EXPECT_EQ(count("Demotion indicator: 0"), 2u);
  EXPECT_EQ(count("Advertisement Skew: 77"), 4u);
  EXPECT_EQ(count("Advertisement Skew: 255"), 2u);
  EXPECT_EQ(count("[Checksum Status: Good]"), 6u);
  EXPECT_EQ(count("Counter: 81985529216486895"), 6u);
  unlink(pcap.c_str());
}

}  // namespace
}  // namespace hapf::carp
