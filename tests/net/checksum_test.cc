#include "net/checksum.h"

#include <gtest/gtest.h>

#include <vector>

namespace hapf::net {
namespace {

// The IPv4 header of RFC 1071's usual worked example (checksum field zeroed).
const std::vector<uint8_t> kIpHeader = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                        0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

TEST(ChecksumTest, KnownIpv4Header) { EXPECT_EQ(Checksum(kIpHeader), 0xb861); }

TEST(ChecksumTest, OddLengthPadsWithZero) {
  std::vector<uint8_t> odd = {0x01, 0x02, 0x03};
  std::vector<uint8_t> even = {0x01, 0x02, 0x03, 0x00};
  EXPECT_EQ(Checksum(odd), Checksum(even));
}

TEST(ChecksumTest, IncrementalMatchesFullRecompute) {
  auto hdr = kIpHeader;
  uint16_t before = Checksum(hdr);
  // Rewrite the source address 192.168.0.1 -> 198.51.100.131, as NAT does.
  IpAddr old_src = IpAddr::V4Bytes(&hdr[12]);
  IpAddr new_src = *IpAddr::Parse("198.51.100.131");
  std::copy(new_src.data(), new_src.data() + 4, hdr.begin() + 12);
  EXPECT_EQ(ChecksumAdjustAddr(before, old_src, new_src), Checksum(hdr));
  // And a 16-bit field: TTL/protocol word.
  uint16_t c = Checksum(hdr);
  hdr[8] = 0x3f;
  EXPECT_EQ(ChecksumAdjust16(c, 0x4011, 0x3f11), Checksum(hdr));
}

TEST(ChecksumTest, Adjust32MatchesRecompute) {
  std::vector<uint8_t> d = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc};
  uint16_t c = Checksum(d);
  d[0] = 0xff; d[1] = 0xee; d[2] = 0x00; d[3] = 0x01;
  EXPECT_EQ(ChecksumAdjust32(c, 0x12345678, 0xffee0001), Checksum(d));
}

}  // namespace
}  // namespace hapf::net
