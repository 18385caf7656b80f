#include "net/checksum.h"

namespace hapf::net {

uint32_t ChecksumPartial(std::span<const uint8_t> data, uint32_t initial) {
  uint64_t sum = initial;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += (uint32_t{data[i]} << 8) | data[i + 1];
  if (i < data.size()) sum += uint32_t{data[i]} << 8;
  while (sum >> 32) sum = (sum & 0xffffffff) + (sum >> 32);
  return static_cast<uint32_t>(sum);
}

uint16_t ChecksumFinish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

uint32_t PseudoHeaderSum(const IpAddr& src, const IpAddr& dst, uint8_t proto, uint32_t length) {
  uint32_t sum = ChecksumPartial({src.data(), static_cast<size_t>(src.size())});
  sum = ChecksumPartial({dst.data(), static_cast<size_t>(dst.size())}, sum);
  uint64_t s = uint64_t{sum} + proto + (length >> 16) + (length & 0xffff);
  while (s >> 32) s = (s & 0xffffffff) + (s >> 32);
  return static_cast<uint32_t>(s);
}

uint16_t ChecksumAdjust16(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  // HC' = ~(~HC + ~m + m')
  uint32_t sum = uint32_t{static_cast<uint16_t>(~checksum)} + static_cast<uint16_t>(~old_word) + new_word;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

uint16_t ChecksumAdjust32(uint16_t checksum, uint32_t old_value, uint32_t new_value) {
  checksum = ChecksumAdjust16(checksum, old_value >> 16, new_value >> 16);
  return ChecksumAdjust16(checksum, old_value & 0xffff, new_value & 0xffff);
}

uint16_t ChecksumAdjustAddr(uint16_t checksum, const IpAddr& old_addr, const IpAddr& new_addr) {
  const auto& o = old_addr.bytes();
  const auto& n = new_addr.bytes();
  for (int i = 0; i + 1 < old_addr.size(); i += 2)
    checksum = ChecksumAdjust16(checksum, (o[i] << 8) | o[i + 1], (n[i] << 8) | n[i + 1]);
  return checksum;
}

}  // namespace hapf::net
