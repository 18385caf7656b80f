// The Internet checksum (RFC 1071) and its incremental update (RFC 1624), which
// NAT uses to rewrite an address or a port without summing the packet again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "net/addr.h"

namespace hapf::net {

// One's-complement sum of `data` folded to 32 bits, starting from `initial`.
// Chain calls to sum discontiguous regions (each region but the last must have
// even length).
uint32_t ChecksumPartial(std::span<const uint8_t> data, uint32_t initial = 0);
// Folds a partial sum into the final 16-bit checksum (complemented), host order.
uint16_t ChecksumFinish(uint32_t sum);
inline uint16_t Checksum(std::span<const uint8_t> data) { return ChecksumFinish(ChecksumPartial(data)); }

// Partial sum of the TCP/UDP/ICMPv6 pseudo-header.
uint32_t PseudoHeaderSum(const IpAddr& src, const IpAddr& dst, uint8_t proto, uint32_t length);

// RFC 1624 eqn. 3: the checksum after a 16-bit word changes from `old_word` to
// `new_word`. All values host order.
uint16_t ChecksumAdjust16(uint16_t checksum, uint16_t old_word, uint16_t new_word);
// The same for a 32-bit field and for a whole address (4 or 16 bytes).
uint16_t ChecksumAdjust32(uint16_t checksum, uint32_t old_value, uint32_t new_value);
uint16_t ChecksumAdjustAddr(uint16_t checksum, const IpAddr& old_addr, const IpAddr& new_addr);

}  // namespace hapf::net
