// The packet parser on arbitrary bytes, as Ethernet and as raw IP, plus the
// things done to packets that parse: checksum checks and recomputation, the
// NAT rewrites (which must keep valid checksums valid), and the `block
// return` answers (which must parse and verify).
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "net/build.h"
#include "net/packet.h"

namespace {

using namespace hapf::net;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void Exercise(std::span<const uint8_t> input, LinkType link) {
  std::vector<uint8_t> b(input.begin(), input.end());  // exact size: ASan sees any overread
  ParsedPacket p;
  const ParseError err = ParsePacket(b, link, p);
  if (link == LinkType::kRawIp) {  // the short path agrees with the general one
    ParsedPacket g;
    Check(ParsePacket(b, link, g, ParsePath::kGeneral) == err);
    Check(err != ParseError::kOk || g == p);
  }
  if (err != ParseError::kOk || p.family == Family::kNone) return;
  Check(p.payload_offset + p.payload_length <= b.size());
  Check(p.l3_offset + p.l3_length <= b.size());
  const bool valid = VerifyChecksums(b, p) == ParseError::kOk;

  std::vector<uint8_t> fixed = b;
  RecomputeChecksums(fixed, p);
  ParsedPacket f;
  Check(ParsePacket(fixed, link, f) == ParseError::kOk);
  Check(VerifyChecksums(fixed, f) == ParseError::kOk);

  // Rewrites: the summary keeps in step with the bytes, valid stays valid.
  const bool v4 = p.family == Family::kV4;
  const IpAddr to = IpAddr::V4(0xcb0071c8);  // 203.0.113.200
  const uint8_t v6_bytes[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd};
  const IpAddr addr = v4 ? to : IpAddr::V6Bytes(v6_bytes);
  Check(RewriteAddress(b, p, Side::kSource, addr) == ParseError::kOk);
  Check(RewriteAddress(b, p, Side::kDestination, addr) == ParseError::kOk);
  const bool has_port = p.is_tcp() || p.is_udp() || p.is_icmp_query();
  Check((RewritePort(b, p, Side::kDestination, 4242) == ParseError::kOk) == has_port);
  if (p.icmp_error) {
    Check(RewriteQuotedAddress(b, p, Side::kSource, addr) == ParseError::kOk);
    const bool quoted_port =
        p.inner.has_ports || (p.inner.has_icmp && IsIcmpQuery(p.inner.family, p.inner.icmp_type));
    Check((RewriteQuotedPort(b, p, Side::kSource, 999) == ParseError::kOk) == quoted_port);
  }
  ParsedPacket again;
  Check(ParsePacket(b, link, again) == ParseError::kOk);
  Check(again.src == p.src && again.dst == p.dst && again.src_port == p.src_port && again.dst_port == p.dst_port);
  Check(again.icmp_id == p.icmp_id && again.inner.src == p.inner.src && again.inner.src_port == p.inner.src_port);
  if (valid) Check(VerifyChecksums(b, again) == ParseError::kOk);

  // Answers for `block return`.
  std::array<uint8_t, 1400> out;
  if (size_t n = BuildTcpResetFor(out, nullptr, again)) {
    ParsedPacket r;
    Check(ParsePacket(std::span(out).first(n), LinkType::kRawIp, r) == ParseError::kOk);
    Check(VerifyChecksums(std::span(out).first(n), r) == ParseError::kOk);
  }
  if (size_t n = BuildUnreachableFor(out, nullptr, b, again, 3, again.dst)) {
    ParsedPacket r;
    Check(ParsePacket(std::span(out).first(n), LinkType::kRawIp, r) == ParseError::kOk);
    Check(VerifyChecksums(std::span(out).first(n), r) == ParseError::kOk);
    Check(r.icmp_error && r.inner.src == again.src);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  Exercise(input, LinkType::kEthernet);
  Exercise(input, LinkType::kRawIp);
  return 0;
}
