// Builders against the parser (round trip) and against RFC rules; the
// independent check by scapy of the same builders is in packet_scapy_test.
#include "net/build.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "net/checksum.h"

namespace hapf::net {
namespace {

IpAddr A(const char* s) { return *IpAddr::Parse(s); }
const MacAddr kMacA = {0x02, 0, 0, 0, 0, 0x0a};
const MacAddr kMacB = {0x02, 0, 0, 0, 0, 0x0b};

TEST(BuildTest, TcpWithOptionsRoundTripsBothFamilies) {
  for (const char* pair : {"192.0.2.1 198.51.100.7", "2001:db8::1 2001:db8:1::7"}) {
    std::string s(pair);
    auto sp = s.find(' ');
    IpHeader ip{A(s.substr(0, sp).c_str()), A(s.substr(sp + 1).c_str()), 63};
    TcpHeader tcp{.src_port = 40001, .dst_port = 443, .seq = 0xfffffff0, .ack = 7, .flags = tcpflag::kSyn,
                  .window = 65535};
    tcp.options = {.has_mss = true, .has_window_scale = true, .sack_permitted = true, .has_timestamps = true,
                   .mss = 1400, .window_scale = 9, .ts_value = 11, .ts_echo = 22};
    EthernetHeader eth{kMacB, kMacA, true, 0x2064};
    std::array<uint8_t, 256> buf{};
    const uint8_t data[] = {1, 2, 3};
    size_t n = BuildTcp(buf, &eth, ip, tcp, data);
    ASSERT_GT(n, 0u);
    ParsedPacket p;
    ASSERT_EQ(ParsePacket(std::span(buf).first(n), LinkType::kEthernet, p), ParseError::kOk) << pair;
    EXPECT_TRUE(p.has_vlan);
    EXPECT_EQ(p.vlan_id, 0x064);
    EXPECT_EQ(p.vlan_pcp, 1);
    EXPECT_EQ(p.eth_src, kMacA);
    EXPECT_EQ(p.src, ip.src);
    EXPECT_EQ(p.dst, ip.dst);
    EXPECT_EQ(p.ttl, 63);
    EXPECT_EQ(p.tcp_seq, 0xfffffff0u);
    EXPECT_EQ(p.tcp_options.mss, 1400);
    EXPECT_EQ(p.tcp_options.window_scale, 9);
    EXPECT_TRUE(p.tcp_options.sack_permitted);
    EXPECT_EQ(p.tcp_options.ts_echo, 22u);
    EXPECT_EQ(p.tcp_header_len, 40);
    EXPECT_EQ(p.payload_length, 3u);
    EXPECT_EQ(VerifyChecksums(std::span(buf).first(n), p), ParseError::kOk);
  }
}

TEST(BuildTest, TooSmallBufferWritesNothing) {
  std::array<uint8_t, 27> buf{};
  IpHeader ip{A("192.0.2.1"), A("192.0.2.2")};
  EXPECT_EQ(BuildUdp(buf, nullptr, ip, 1, 2, {}), 28u > buf.size() ? 0u : 28u);
  std::array<uint8_t, 28> fits{};
  EXPECT_EQ(BuildUdp(fits, nullptr, ip, 1, 2, {}), 28u);
  IpHeader mixed{A("192.0.2.1"), A("2001:db8::1")};
  EXPECT_EQ(BuildUdp(fits, nullptr, mixed, 1, 2, {}), 0u);
}

TEST(BuildTest, ResetAnswersSynWithRstAck) {
  std::array<uint8_t, 128> syn{}, rst{};
  IpHeader ip{A("192.0.2.1"), A("198.51.100.7")};
  TcpHeader tcp{.src_port = 5555, .dst_port = 22, .seq = 1000, .flags = tcpflag::kSyn};
  size_t n = BuildTcp(syn, nullptr, ip, tcp, {});
  ParsedPacket p;
  ASSERT_EQ(ParsePacket(std::span(syn).first(n), LinkType::kRawIp, p), ParseError::kOk);
  size_t m = BuildTcpResetFor(rst, nullptr, p);
  ASSERT_GT(m, 0u);
  ParsedPacket r;
  ASSERT_EQ(ParsePacket(std::span(rst).first(m), LinkType::kRawIp, r), ParseError::kOk);
  EXPECT_EQ(r.src, ip.dst);
  EXPECT_EQ(r.dst, ip.src);
  EXPECT_EQ(r.src_port, 22);
  EXPECT_EQ(r.dst_port, 5555);
  EXPECT_EQ(r.tcp_flags, tcpflag::kRst | tcpflag::kAck);
  EXPECT_EQ(r.tcp_ack, 1001u);
  EXPECT_EQ(r.tcp_seq, 0u);
  EXPECT_EQ(VerifyChecksums(std::span(rst).first(m), r), ParseError::kOk);
  // A reset is never answered.
  EXPECT_EQ(BuildTcpResetFor(syn, nullptr, r), 0u);
}

TEST(BuildTest, ResetAnswersAckWithItsAckNumber) {
  std::array<uint8_t, 128> seg{}, rst{};
  IpHeader ip{A("2001:db8::1"), A("2001:db8::2")};
  TcpHeader tcp{.src_port = 5555, .dst_port = 22, .seq = 10, .ack = 777, .flags = tcpflag::kAck | tcpflag::kPush};
  const uint8_t data[5] = {};
  size_t n = BuildTcp(seg, nullptr, ip, tcp, data);
  ParsedPacket p, r;
  ASSERT_EQ(ParsePacket(std::span(seg).first(n), LinkType::kRawIp, p), ParseError::kOk);
  size_t m = BuildTcpResetFor(rst, nullptr, p);
  ASSERT_EQ(ParsePacket(std::span(rst).first(m), LinkType::kRawIp, r), ParseError::kOk);
  EXPECT_EQ(r.tcp_flags, tcpflag::kRst);
  EXPECT_EQ(r.tcp_seq, 777u);
}

TEST(BuildTest, UnreachableQuotesTheOffendingPacket) {
  std::array<uint8_t, 128> udp{};
  std::array<uint8_t, 700> err{};
  for (const char* fam : {"4", "6"}) {
    bool v6 = fam[0] == '6';
    IpHeader ip{A(v6 ? "2001:db8::1" : "192.0.2.1"), A(v6 ? "2001:db8::2" : "198.51.100.2")};
    const uint8_t data[10] = {};
    size_t n = BuildUdp(udp, nullptr, ip, 3333, 53, data);
    ParsedPacket p, e;
    ASSERT_EQ(ParsePacket(std::span(udp).first(n), LinkType::kRawIp, p), ParseError::kOk);
    size_t m = BuildUnreachableFor(err, nullptr, std::span(udp).first(n), p, 3, ip.dst);
    ASSERT_EQ(m, n + (v6 ? 48 : 28));
    ASSERT_EQ(ParsePacket(std::span(err).first(m), LinkType::kRawIp, e), ParseError::kOk);
    EXPECT_TRUE(e.icmp_error);
    EXPECT_EQ(e.icmp_type, v6 ? 1 : 3);
    EXPECT_EQ(e.icmp_code, 3);
    EXPECT_EQ(e.dst, ip.src);
    EXPECT_EQ(e.inner.src, ip.src);
    EXPECT_EQ(e.inner.dst_port, 53);
    EXPECT_EQ(VerifyChecksums(std::span(err).first(m), e), ParseError::kOk);
    // Never an error about an error.
    EXPECT_EQ(BuildUnreachableFor(udp, nullptr, std::span(err).first(m), e, 3, ip.src), 0u);
  }
}

TEST(BuildTest, IcmpErrorQuoteIsCutTo576Bytes) {
  std::array<uint8_t, 1500> big{}, err{};
  IpHeader ip{A("192.0.2.1"), A("198.51.100.2")};
  size_t n = BuildUdp(big, nullptr, ip, 1, 2, std::span(big).subspan(0, 1000));
  size_t m = BuildIcmpError(err, nullptr, ip, icmptype::kTimeExceeded, 0, 0, std::span(big).first(n));
  EXPECT_EQ(m, 576u);
}

TEST(BuildTest, GratuitousArp) {
  std::array<uint8_t, 64> buf{};
  size_t n = BuildGratuitousArp(buf, kMacA, A("192.0.2.10"));
  ASSERT_EQ(n, 60u);
  ParsedPacket p;
  ASSERT_EQ(ParsePacket(std::span(buf).first(n), LinkType::kEthernet, p), ParseError::kOk);
  EXPECT_EQ(p.ethertype, ethertype::kArp);
  EXPECT_EQ(p.eth_dst, kBroadcastMac);
  EXPECT_EQ(p.arp.op, ArpView::kRequest);
  EXPECT_EQ(p.arp.sender_mac, kMacA);
  EXPECT_EQ(p.arp.sender_ip, A("192.0.2.10"));
  EXPECT_EQ(p.arp.target_ip, A("192.0.2.10"));
}

TEST(BuildTest, UnsolicitedNeighborAdvert) {
  std::array<uint8_t, 128> buf{};
  size_t n = BuildUnsolicitedNeighborAdvert(buf, kMacA, A("fe80::1"), A("2001:db8::10"), true);
  ASSERT_EQ(n, 14u + 40 + 32);
  ParsedPacket p;
  ASSERT_EQ(ParsePacket(std::span(buf).first(n), LinkType::kEthernet, p), ParseError::kOk);
  EXPECT_EQ(p.dst, A("ff02::1"));
  EXPECT_EQ(p.ttl, 255);
  EXPECT_EQ(p.icmp_type, icmp6type::kNeighborAdvert);
  EXPECT_EQ(buf[p.l4_offset + 4], 0xa0);  // router + override
  EXPECT_EQ(IpAddr::V6Bytes(&buf[p.l4_offset + 8]), A("2001:db8::10"));
  EXPECT_EQ(MacAddr({buf[p.l4_offset + 26], buf[p.l4_offset + 27], buf[p.l4_offset + 28], buf[p.l4_offset + 29],
                     buf[p.l4_offset + 30], buf[p.l4_offset + 31]}),
            kMacA);
  EXPECT_EQ(VerifyChecksums(std::span(buf).first(n), p), ParseError::kOk);
}

}  // namespace
}  // namespace hapf::net
