// IPv4/IPv6 addresses and prefixes: the one address vocabulary shared by the
// packet library, the pf language, the filter engine, CARP and pfsync.
//
// Addresses are fixed-size values (16 bytes + family) so they can be used as
// parts of hash keys and mirrored into kernel maps without conversion.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace hapf::net {

enum class Family : uint8_t { kNone = 0, kV4 = 4, kV6 = 6 };

// An Ethernet (EUI-48) address in wire order.
using MacAddr = std::array<uint8_t, 6>;
// "00:00:5e:00:01:01": lower-case, colon-separated, what ip(8) and tcpdump print.
std::string MacToString(const MacAddr& mac);
// Accepts exactly six colon-separated hex pairs (either case).
std::optional<MacAddr> ParseMac(std::string_view text);

class IpAddr {
 public:
  constexpr IpAddr() = default;

  static IpAddr V4(uint32_t host_order);
  // Inline: the packet parser builds two per packet.
  static IpAddr V4Bytes(const uint8_t bytes[4]) {
    IpAddr a;
    a.family_ = Family::kV4;
    // All 16 bytes as two words: GCC then stores them straight into the
    // destination instead of assembling a temporary whose wide reload
    // waits on store forwarding.
    uint32_t v;
    std::memcpy(&v, bytes, 4);
    const uint64_t w[2] = {v, 0};
    static_assert(std::endian::native == std::endian::little);
    std::memcpy(a.bytes_.data(), w, 16);
    return a;
  }
  static IpAddr V6Bytes(const uint8_t bytes[16]) {
    IpAddr a;
    a.family_ = Family::kV6;
    std::memcpy(a.bytes_.data(), bytes, 16);
    return a;
  }
  // Parses dotted-quad IPv4 or any RFC 4291 IPv6 text form (no scope, no prefix).
  static std::optional<IpAddr> Parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  bool is_v6() const { return family_ == Family::kV6; }
  bool empty() const { return family_ == Family::kNone; }
  // Raw bytes in network order; IPv4 uses the first 4 bytes, the rest are zero.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  const uint8_t* data() const { return bytes_.data(); }
  int size() const { return family_ == Family::kV4 ? 4 : family_ == Family::kV6 ? 16 : 0; }
  int max_prefix() const { return size() * 8; }
  uint32_t v4_host_order() const;
  bool is_zero() const;
  bool is_multicast() const;

  // RFC 5952 text for IPv6 (what pfctl prints), dotted quad for IPv4.
  std::string ToString() const;
  // Keeps the first `len` bits, clears the rest.
  IpAddr Masked(int len) const;
  // The address with all host bits (after `len`) set: a prefix's last address.
  IpAddr LastInPrefix(int len) const;
  // Adds one (wrapping), for walking ranges.
  IpAddr Next() const;

  friend bool operator==(const IpAddr&, const IpAddr&) = default;
  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;

 private:
  Family family_ = Family::kNone;
  std::array<uint8_t, 16> bytes_{};
};

// An address with a prefix length. Parsing keeps the host bits as written; call
// Normalized() to clear them (pfctl prints networks with host bits masked off).
struct Prefix {
  IpAddr addr;
  uint8_t len = 0;

  // "a.b.c.d", "a.b.c.d/nn", "v6", "v6/nn". A missing length means a host.
  static std::optional<Prefix> Parse(std::string_view text);
  static Prefix Host(const IpAddr& a) { return Prefix{a, static_cast<uint8_t>(a.max_prefix())}; }

  bool is_host() const { return len == addr.max_prefix(); }
  bool Contains(const IpAddr& a) const;
  Prefix Normalized() const { return Prefix{addr.Masked(len), len}; }
  // "a.b.c.d/nn", or just the address for a host prefix.
  std::string ToString() const;

  friend bool operator==(const Prefix&, const Prefix&) = default;
  friend auto operator<=>(const Prefix&, const Prefix&) = default;
};

// Number of leading one bits of a netmask in network order, or nullopt if the
// mask is not contiguous (e.g. ifconfig's "255.255.255.248").
std::optional<int> MaskToPrefixLen(const IpAddr& mask);

}  // namespace hapf::net
