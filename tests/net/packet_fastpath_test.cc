// The short path of ParsePacket (raw IPv4/IPv6 of the common shape carrying
// TCP or UDP) against the general one: the same verdict and, on success, the
// same ParsedPacket field for field, over built packets of every shape the
// short path takes or declines and over random mutations of them.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "net/packet.h"

namespace hapf::net {
namespace {

void Put16(std::vector<uint8_t>& b, size_t o, uint16_t v) { Store16(&b[o], v); }

// IPv4 or IPv6 header + TCP (with `opts` option bytes) or UDP + payload.
std::vector<uint8_t> Build(bool v6, uint8_t proto, size_t opts, size_t payload) {
  const size_t ip = v6 ? 40 : 20;
  const size_t l4 = proto == ipproto::kTcp ? 20 + opts : 8;
  std::vector<uint8_t> b(ip + l4 + payload, 0);
  if (v6) {
    b[0] = 0x6a;
    b[1] = 0xb1;
    b[3] = 0x55;
    Put16(b, 4, static_cast<uint16_t>(l4 + payload));
    b[6] = proto;
    b[7] = 63;
    for (int i = 0; i < 32; ++i) b[8 + i] = static_cast<uint8_t>(0x20 + i);
  } else {
    b[0] = 0x45;
    b[1] = 0x10;
    Put16(b, 2, static_cast<uint16_t>(b.size()));
    Put16(b, 4, 0x1234);
    b[6] = 0x40;
    b[8] = 61;
    b[9] = proto;
    for (int i = 0; i < 8; ++i) b[12 + i] = static_cast<uint8_t>(0xc0 + i);
  }
  Put16(b, ip, 40000);
  Put16(b, ip + 2, 443);
  if (proto == ipproto::kTcp) {
    Store32(&b[ip + 4], 0x01020304);
    Store32(&b[ip + 8], 0x05060708);
    b[ip + 12] = static_cast<uint8_t>((l4 / 4) << 4);
    b[ip + 13] = 0x18;
    Put16(b, ip + 14, 512);
    Put16(b, ip + 16, 0xbeef);
    Put16(b, ip + 18, 7);
    // NOP NOP timestamps, then MSS, window scale, SACK-permitted as room allows.
    const uint8_t o[] = {1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3, 2, 4, 5, 0xb4, 3, 3, 7, 4, 2};
    for (size_t i = 0; i < opts; ++i) b[ip + 20 + i] = i < sizeof o ? o[i] : 1;
  } else {
    Put16(b, ip + 4, static_cast<uint16_t>(8 + payload));
    Put16(b, ip + 6, 0xcafe);
  }
  for (size_t i = 0; i < payload; ++i) b[ip + l4 + i] = static_cast<uint8_t>(i);
  return b;
}

void ExpectSamePaths(const std::vector<uint8_t>& b, int& short_ok) {
  ParsedPacket fast, general;
  const ParseError ef = ParsePacket(b, LinkType::kRawIp, fast);
  const ParseError eg = ParsePacket(b, LinkType::kRawIp, general, ParsePath::kGeneral);
  ASSERT_EQ(ef, eg);
  if (ef != ParseError::kOk) return;
  ASSERT_TRUE(fast == general);
  short_ok += fast.l4_present && (fast.proto == ipproto::kTcp || fast.proto == ipproto::kUdp);
}

TEST(PacketFastPathTest, SameAsGeneralPath) {
  std::vector<std::vector<uint8_t>> base;
  for (bool v6 : {false, true}) {
    for (size_t payload : {0, 1, 30}) {
      base.push_back(Build(v6, ipproto::kUdp, 0, payload));
      for (size_t opts : {0, 4, 12, 20, 24, 40}) base.push_back(Build(v6, ipproto::kTcp, opts, payload));
    }
  }
  int short_ok = 0;
  uint32_t x = 12345;
  auto next = [&] { return x = x * 1664525u + 1013904223u; };
  for (const auto& b : base) {
    ExpectSamePaths(b, short_ok);
    // Trailing bytes past the datagram, and every truncation.
    std::vector<uint8_t> padded = b;
    padded.resize(b.size() + 6, 0xee);
    ExpectSamePaths(padded, short_ok);
    for (size_t n = 0; n < b.size(); ++n) ExpectSamePaths(std::vector<uint8_t>(b.begin(), b.begin() + n), short_ok);
    // Random bytes changed in the headers (lengths, versions, IHL, offsets,
    // flags, protocols, options), one to three at a time.
    for (int i = 0; i < 3000; ++i) {
      std::vector<uint8_t> m = b;
      const int changes = 1 + static_cast<int>(next() % 3);
      for (int c = 0; c < changes; ++c) m[next() % std::min<size_t>(m.size(), 80)] = static_cast<uint8_t>(next() >> 24);
      ExpectSamePaths(m, short_ok);
    }
  }
  EXPECT_GT(short_ok, 1000);  // the short path's shapes were among them
}

}  // namespace
}  // namespace hapf::net
