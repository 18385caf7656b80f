// CARPv2 advertisement wire format (carp.md §2, §4, §5): the 36-byte header,
// its checksum, the OpenBSD HMAC-SHA1 construction, and IPv4/IPv6 framing for
// the simulator, pcap files and tests. Everything here is pure.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/addr.h"

namespace hapf::carp {

constexpr uint8_t kIpProtoCarp = 112;
constexpr size_t kAdvertLen = 36;
constexpr uint8_t kVersion = 2;
constexpr uint8_t kTypeAdvertisement = 1;
constexpr uint8_t kAuthLen = 7;  // counter + digest in 32-bit words
constexpr uint8_t kTtl = 255;
constexpr uint8_t kTos = 0x10;
constexpr uint8_t kBowOut = 255;  // advbase and advskew of a bow-out advert

using Counter = std::array<uint8_t, 8>;
using Digest = std::array<uint8_t, 20>;
using Mac = std::array<uint8_t, 6>;

// The IPv4 CARP group, the IPv6 group and their multicast MACs.
net::IpAddr GroupV4();  // 224.0.0.18
net::IpAddr GroupV6();  // ff02::12
// 00:00:5e:00:01:VHID.
Mac VirtualMac(uint8_t vhid);
std::string MacToString(const Mac& mac);
// The modified-EUI-64 link-local an OpenBSD carp interface gets from its lladdr.
net::IpAddr LinkLocalFromMac(const Mac& mac);

struct Advert {
  uint8_t version = kVersion;
  uint8_t type = kTypeAdvertisement;
  uint8_t vhid = 0;
  uint8_t advskew = 0;
  uint8_t authlen = kAuthLen;
  uint8_t demote = 0;
  uint8_t advbase = 1;
  uint16_t checksum = 0;  // as received; Encode computes it
  Counter counter{};
  Digest digest{};

  bool is_bow_out() const { return advbase == kBowOut && advskew == kBowOut; }
  uint64_t counter_value() const;  // big-endian, as tcpdump prints it
};

// Writes the 36 header bytes with a freshly computed checksum.
void EncodeAdvert(const Advert& ad, std::span<uint8_t, kAdvertLen> out);
std::array<uint8_t, kAdvertLen> EncodeAdvert(const Advert& ad);
// Field-by-field decode of the first 36 bytes (trailing bytes are ignored, as
// OpenBSD does). No validation beyond length; see ChecksumValid.
std::optional<Advert> DecodeAdvert(std::span<const uint8_t> payload);
// True when the one's-complement sum over the first 36 bytes is 0xffff.
bool ChecksumValid(std::span<const uint8_t> payload);

// The HMAC state of one vhost: the key (passphrase cut to 19 bytes) and the
// precomputed message prefix (version, type, [lladdr], vhid, sorted addresses),
// once without IPv6 link-locals ("no-LL", what is sent) and once with them
// ("with-LL", also accepted on receive, carp.md §5.2). Not thread-safe: copies
// share one scratch context.
class Authenticator {
 public:
  Authenticator() = default;
  // `addresses` in any order; `lladdr_term` only for a hand-set lladdr (§5.2 item 3).
  // `virtual_mac` gives the automatic link-local of the with-LL variant.
  Authenticator(std::string_view passphrase, uint8_t vhid, std::span<const net::IpAddr> addresses,
                const Mac& virtual_mac, std::optional<Mac> lladdr_term = std::nullopt);

  Digest Compute(const Counter& counter) const;  // no-LL
  Digest ComputeWithLinkLocal(const Counter& counter) const;
  bool Verify(const Counter& counter, const Digest& digest) const;

  const std::vector<uint8_t>& message_prefix() const { return prefix_no_ll_; }

 private:
  // SHA-1 states after absorbing K^ipad ‖ prefix and K^opad: a digest then
  // costs two context copies and two short updates (no key schedule, no
  // allocation per packet).
  struct Precomputed {
    std::shared_ptr<void> inner, outer;  // EVP_MD_CTX
  };
  static Precomputed Prepare(std::span<const uint8_t> key, std::span<const uint8_t> prefix);
  Digest Finish(const Precomputed& pre, const Counter& counter) const;

  std::vector<uint8_t> prefix_no_ll_;
  std::vector<uint8_t> prefix_with_ll_;
  Precomputed no_ll_, with_ll_;
  std::shared_ptr<void> scratch_;  // EVP_MD_CTX reused by Finish
};

// IP framing. A received CARP packet as the core sees it.
struct IpPacket {
  net::IpAddr src, dst;
  uint8_t ttl = 0;  // hop limit for IPv6
  uint8_t protocol = 0;
  std::span<const uint8_t> payload;
};

// Parses an IPv4 datagram (as a raw IPv4 socket delivers it) or an IPv6 packet
// with no extension headers; nullopt if malformed or truncated.
std::optional<IpPacket> ParseIpPacket(std::span<const uint8_t> packet);
// Parses an Ethernet II frame carrying IPv4 or IPv6.
std::optional<IpPacket> ParseEthernetFrame(std::span<const uint8_t> frame);

struct Ipv4Framing {
  uint8_t tos = kTos;
  uint16_t id = 0;
  bool dont_fragment = true;
  uint8_t ttl = kTtl;
};
std::vector<uint8_t> BuildIpv4Packet(const net::IpAddr& src, const net::IpAddr& dst,
                                     std::span<const uint8_t> payload, const Ipv4Framing& framing = {});
std::vector<uint8_t> BuildIpv6Packet(const net::IpAddr& src, const net::IpAddr& dst,
                                     std::span<const uint8_t> payload, uint8_t hop_limit = kTtl);
// Ethernet destination for a CARP packet to `dst` (multicast mapping, or the
// caller's `unicast` MAC).
Mac MulticastMac(const net::IpAddr& dst);
std::vector<uint8_t> BuildEthernetFrame(const Mac& dst, const Mac& src, uint16_t ethertype,
                                        std::span<const uint8_t> payload);

}  // namespace hapf::carp
