#include "linux/nfq_packet.h"

#include <netinet/in.h>

#include "net/addr.h"
#include "net/checksum.h"

namespace hapf::linux {
namespace {

uint16_t Load16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>((b[at] << 8) | b[at + 1]); }

}  // namespace

std::optional<L4Location> LocateL4(std::span<const uint8_t> l3) {
  if (l3.empty()) return std::nullopt;
  const int version = l3[0] >> 4;
  if (version == 4) {
    if (l3.size() < 20) return std::nullopt;
    const uint32_t ihl = (l3[0] & 0x0f) * 4u;
    const uint32_t total = Load16(l3, 2);
    if (ihl < 20 || total < ihl || total > l3.size()) return std::nullopt;
    if ((Load16(l3, 6) & 0x3fff) != 0) return std::nullopt;  // MF or an offset: a fragment
    return L4Location{l3[9], ihl, total - ihl};
  }
  if (version == 6) {
    if (l3.size() < 40) return std::nullopt;
    const uint32_t end = 40u + Load16(l3, 4);
    if (end > l3.size()) return std::nullopt;
    uint8_t next = l3[6];
    uint32_t off = 40;
    for (;;) {
      if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS) {
        if (off + 2 > end) return std::nullopt;
        const uint32_t len = (l3[off + 1] + 1u) * 8u;
        next = l3[off];
        off += len;
        if (off > end) return std::nullopt;
        continue;
      }
      if (next == IPPROTO_FRAGMENT) return std::nullopt;
      return L4Location{next, off, end - off};
    }
  }
  return std::nullopt;
}

bool WriteL4Checksum(std::span<uint8_t> l3) {
  std::optional<L4Location> l4 = LocateL4(l3);
  if (!l4) return false;
  uint32_t field;
  switch (l4->protocol) {
    case IPPROTO_TCP: field = 16; break;
    case IPPROTO_UDP: field = 6; break;
    case IPPROTO_ICMPV6: field = 2; break;
    default: return false;
  }
  if (l4->length < field + 2) return false;
  const bool v4 = (l3[0] >> 4) == 4;
  net::IpAddr src = v4 ? net::IpAddr::V4Bytes(&l3[12]) : net::IpAddr::V6Bytes(&l3[8]);
  net::IpAddr dst = v4 ? net::IpAddr::V4Bytes(&l3[16]) : net::IpAddr::V6Bytes(&l3[24]);
  std::span<uint8_t> segment = l3.subspan(l4->offset, l4->length);
  segment[field] = 0;
  segment[field + 1] = 0;
  uint32_t sum = net::PseudoHeaderSum(src, dst, l4->protocol, l4->length);
  uint16_t check = net::ChecksumFinish(net::ChecksumPartial(segment, sum));
  if (check == 0 && l4->protocol == IPPROTO_UDP) check = 0xffff;
  segment[field] = static_cast<uint8_t>(check >> 8);
  segment[field + 1] = static_cast<uint8_t>(check);
  return true;
}

}  // namespace hapf::linux
