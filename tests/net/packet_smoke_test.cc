// Hand-checked packets (bytes printed by scapy) through ParsePacket and the
// NAT rewrites; the full scapy-driven suite is packet_scapy_test.
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "net/checksum.h"
#include "net/packet.h"

namespace hapf::net {
namespace {

std::vector<uint8_t> Hex(std::string_view h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

// Ether/IP(192.0.2.1 > 198.51.100.2, ttl 61)/TCP(40000 > 80, S, MSS 1460,
// SAckOK, TS 123/456, NOP, WS 7)/"hi"
const char kTcp4[] =
    "02000000000202000000000108004500003e000100003d069182c0000201c63364029c400050000003e8000007d0a0027210d6c1"
    "0000020405b40402080a0000007b000001c8010303076869";
// IP(203.0.113.1 > 192.0.2.1)/ICMP(unreach port)/IP(192.0.2.1 > 198.51.100.2)/UDP(1234 > 53)/8 bytes
const char kIcmpErr[] =
    "450000400001000040017cb9cb007101c00002010303e95500000000450000240001000040118e91c0000201c633640204d2003500"
    "102cae7878787878787878";

TEST(PacketSmokeTest, TcpOverEthernet) {
  auto b = Hex(kTcp4);
  ParsedPacket p;
  ASSERT_EQ(ParsePacket(b, LinkType::kEthernet, p), ParseError::kOk);
  EXPECT_EQ(p.family, Family::kV4);
  EXPECT_EQ(p.src.ToString(), "192.0.2.1");
  EXPECT_EQ(p.dst.ToString(), "198.51.100.2");
  EXPECT_EQ(p.ttl, 61);
  ASSERT_TRUE(p.is_tcp());
  EXPECT_EQ(p.src_port, 40000);
  EXPECT_EQ(p.dst_port, 80);
  EXPECT_EQ(p.tcp_seq, 1000u);
  EXPECT_EQ(p.tcp_ack, 2000u);
  EXPECT_EQ(p.tcp_flags, tcpflag::kSyn);
  EXPECT_EQ(p.tcp_options.mss, 1460);
  EXPECT_TRUE(p.tcp_options.sack_permitted);
  EXPECT_EQ(p.tcp_options.ts_value, 123u);
  EXPECT_EQ(p.tcp_options.ts_echo, 456u);
  EXPECT_EQ(p.tcp_options.window_scale, 7);
  EXPECT_EQ(p.payload_length, 2u);
  EXPECT_EQ(VerifyChecksums(b, p), ParseError::kOk);
}

TEST(PacketSmokeTest, RewriteKeepsChecksumsValid) {
  auto b = Hex(kTcp4);
  ParsedPacket p;
  ASSERT_EQ(ParsePacket(b, LinkType::kEthernet, p), ParseError::kOk);
  ASSERT_EQ(RewriteAddress(b, p, Side::kSource, *IpAddr::Parse("203.0.113.77")), ParseError::kOk);
  ASSERT_EQ(RewritePort(b, p, Side::kSource, 61000), ParseError::kOk);
  EXPECT_EQ(VerifyChecksums(b, p), ParseError::kOk);
  ParsedPacket again;
  ASSERT_EQ(ParsePacket(b, LinkType::kEthernet, again), ParseError::kOk);
  EXPECT_EQ(again.src.ToString(), "203.0.113.77");
  EXPECT_EQ(again.src_port, 61000);
}

TEST(PacketSmokeTest, IcmpErrorQuotedPacketRewrite) {
  auto b = Hex(kIcmpErr);
  ParsedPacket p;
  ASSERT_EQ(ParsePacket(b, LinkType::kRawIp, p), ParseError::kOk);
  ASSERT_TRUE(p.icmp_error);
  EXPECT_EQ(p.inner.src.ToString(), "192.0.2.1");
  EXPECT_EQ(p.inner.dst_port, 53);
  ASSERT_EQ(RewriteQuotedAddress(b, p, Side::kSource, *IpAddr::Parse("198.51.100.9")), ParseError::kOk);
  ASSERT_EQ(RewriteQuotedPort(b, p, Side::kSource, 4321), ParseError::kOk);
  EXPECT_EQ(VerifyChecksums(b, p), ParseError::kOk);
  // The quoted IPv4 header checksum was kept valid too.
  EXPECT_EQ(Checksum(std::span(b).subspan(p.inner.l3_offset, 20)), 0);
  ParsedPacket again;
  ASSERT_EQ(ParsePacket(b, LinkType::kRawIp, again), ParseError::kOk);
  EXPECT_EQ(again.inner.src.ToString(), "198.51.100.9");
  EXPECT_EQ(again.inner.src_port, 4321);
}

TEST(PacketSmokeTest, EveryTruncationIsAnError) {
  auto b = Hex(kTcp4);
  for (size_t n = 0; n < b.size(); ++n) {
    std::vector<uint8_t> cut(b.begin(), b.begin() + n);
    ParsedPacket p;
    EXPECT_NE(ParsePacket(cut, LinkType::kEthernet, p), ParseError::kOk) << n;
  }
}

}  // namespace
}  // namespace hapf::net
