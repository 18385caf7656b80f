// Checksums against the kernel's own: veth_capture.sh sends UDP, TCP and ICMP
// through a veth pair between two fresh namespaces (transmit offload off) and
// captures it; every checksum there was computed by Linux.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "net/packet.h"
#include "net/packet_oracle.h"
#include "net/pcap.h"

namespace hapf::net {
namespace {

class VethChecksumTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = new std::string((std::filesystem::temp_directory_path() /
                             ("hapf-veth-" + std::to_string(getpid()) + ".pcap"))
                                .string());
    int status = 0;
    std::string out = testing::RunCommand(
        "timeout 60 bash " HAPF_SOURCE_DIR "/tests/net/veth_capture.sh " + *path_ + " 2>&1", &status);
    ASSERT_EQ(status, 0) << out;
    int dlt = 0;
    std::string error;
    auto recs = ReadPcapFile(*path_, &dlt, &error);
    ASSERT_TRUE(recs) << error;
    ASSERT_EQ(dlt, kDltEthernet);
    records_ = new std::vector<PcapRecord>(std::move(*recs));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove(*path_);
    std::filesystem::remove(*path_ + ".log");
    delete path_;
    delete records_;
  }
  static std::string* path_;
  static std::vector<PcapRecord>* records_;
};
std::string* VethChecksumTest::path_ = nullptr;
std::vector<PcapRecord>* VethChecksumTest::records_ = nullptr;

std::string Kind(const ParsedPacket& p) {
  std::string k = p.family == Family::kV4 ? "v4 " : "v6 ";
  if (p.is_tcp()) return k + "tcp";
  if (p.is_udp()) return k + "udp";
  if (p.icmp_error) return k + "icmp-error";
  if (p.is_icmp()) return k + "icmp";
  return k + "other";
}

TEST_F(VethChecksumTest, EveryKernelChecksumVerifies) {
  ASSERT_NE(records_, nullptr);
  std::map<std::string, int> seen;
  for (const PcapRecord& r : *records_) {
    ASSERT_EQ(r.orig_len, r.data.size());
    ParsedPacket p;
    ASSERT_EQ(ParsePacket(r.data, LinkType::kEthernet, p), ParseError::kOk);
    if (p.family == Family::kNone) continue;
    EXPECT_EQ(VerifyChecksums(r.data, p), ParseError::kOk) << Kind(p);
    ++seen[Kind(p)];
  }
  // What the capture script sends, per family: 5 UDP datagrams (each answered
  // with port unreachable, within the kernel's ICMP rate limit burst), a TCP
  // connection of at least 11 segments, and 2 pings (3 for IPv4, the last one
  // marking the end of the capture).
  for (const char* fam : {"v4 ", "v6 "}) {
    std::string f = fam;
    EXPECT_EQ(seen[f + "udp"], 5) << f;
    EXPECT_GE(seen[f + "icmp-error"], 1) << f;
    EXPECT_GE(seen[f + "tcp"], 11) << f;
    EXPECT_GE(seen[f + "icmp"], 4) << f;
  }
}

// Our from-scratch checksums are byte for byte the kernel's.
TEST_F(VethChecksumTest, RecomputedChecksumsEqualTheKernels) {
  ASSERT_NE(records_, nullptr);
  int compared = 0;
  for (const PcapRecord& r : *records_) {
    ParsedPacket p;
    ASSERT_EQ(ParsePacket(r.data, LinkType::kEthernet, p), ParseError::kOk);
    if (p.family == Family::kNone || !p.l4_present) continue;
    std::vector<uint8_t> b = r.data;
    if (p.family == Family::kV4) b[p.l3_offset + 10] = b[p.l3_offset + 11] = 0;
    RecomputeChecksums(b, p);
    EXPECT_EQ(b, r.data) << Kind(p);
    ++compared;
  }
  EXPECT_GT(compared, 40);
}

// The kernel's ICMP errors quote our UDP datagrams: the quote must parse to
// the datagram's own addresses and ports, and a corrupted byte anywhere after
// the IP header must be caught by the checksum.
TEST_F(VethChecksumTest, KernelIcmpErrorsQuoteTheDatagramAndCorruptionIsCaught) {
  ASSERT_NE(records_, nullptr);
  int errors = 0;
  for (const PcapRecord& r : *records_) {
    ParsedPacket p;
    ASSERT_EQ(ParsePacket(r.data, LinkType::kEthernet, p), ParseError::kOk);
    if (p.family == Family::kNone) continue;
    if (p.icmp_error) {
      ++errors;
      EXPECT_EQ(p.inner.proto, ipproto::kUdp);
      EXPECT_EQ(p.inner.src, p.dst);
      EXPECT_EQ(p.inner.dst, p.src);
      EXPECT_TRUE(p.inner.has_ports);
      EXPECT_EQ(p.inner.dst_port, 9);
    }
    if (p.l4_present && p.l3_offset + p.l3_length > p.l4_offset + 9) {
      std::vector<uint8_t> b = r.data;
      b[p.l4_offset + 9] ^= 0x40;
      ParsedPacket q;
      ASSERT_EQ(ParsePacket(b, LinkType::kEthernet, q), ParseError::kOk);
      EXPECT_EQ(VerifyChecksums(b, q), ParseError::kBadChecksum) << Kind(p);
    }
  }
  EXPECT_GE(errors, 2);
}

}  // namespace
}  // namespace hapf::net
