// The takeover frames (carp.md §8) decoded by tcpdump: gratuitous ARP request
// and unsolicited neighbour advertisement with a valid ICMPv6 checksum.
#include <gtest/gtest.h>
#include <unistd.h>

#include "carp/pcap_file.h"
#include "linux/rawsock_carp.h"

namespace hapf::linux {
namespace {

TEST(CarpFramesTest, TcpdumpDecodesGratuitousArpAndUnsolicitedNa) {
  const auto mac = carp::VirtualMac(7);
  const auto vip = *net::IpAddr::Parse("198.51.100.1");
  const auto vip6 = *net::IpAddr::Parse("2001:db8::1");
  auto arp = GratuitousArpFrame(mac, vip);
  ASSERT_EQ(arp.size(), 42u);
  EXPECT_EQ(std::vector<uint8_t>(arp.begin() + 32, arp.begin() + 38),
            std::vector<uint8_t>(6, 0));  // target hw
  auto na = UnsolicitedNaFrame(mac, carp::LinkLocalFromMac(mac), vip6, /*router=*/true);
  const std::string path =
      std::string(HAPF_BINARY_DIR) + "/carp_frames_" + std::to_string(getpid()) + ".pcap";
  carp::testing::WritePcap(path, {{1, 0, arp}, {2, 0, na}});
  const std::string text = carp::testing::RunCommand("tcpdump -n -e -vv -r " + path + " 2>&1");
  unlink(path.c_str());
  EXPECT_NE(text.find("00:00:5e:00:01:07 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("Request who-has 198.51.100.1 tell 198.51.100.1"), std::string::npos) << text;
  EXPECT_NE(text.find("00:00:5e:00:01:07 > 33:33:00:00:00:01, ethertype IPv6"), std::string::npos) << text;
  EXPECT_NE(text.find("hlim 255"), std::string::npos) << text;
  EXPECT_NE(text.find("fe80::200:5eff:fe00:107 > ff02::1: [icmp6 sum ok] ICMP6, neighbor advertisement"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tgt is 2001:db8::1, Flags [router, override]"), std::string::npos) << text;
  EXPECT_NE(text.find("destination link-address option (2), length 8 (1): 00:00:5e:00:01:07"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace hapf::linux
