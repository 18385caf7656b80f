#include "carp/advert.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "net/checksum.h"

namespace hapf::carp {

net::IpAddr GroupV4() {
  return net::IpAddr::V4(0xe0000012);
}

net::IpAddr GroupV6() {
  static const uint8_t b[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12};
  return net::IpAddr::V6Bytes(b);
}

Mac VirtualMac(uint8_t vhid) {
  return Mac{0x00, 0x00, 0x5e, 0x00, 0x01, vhid};
}

std::string MacToString(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

net::IpAddr LinkLocalFromMac(const Mac& m) {
  const uint8_t b[16] = {0xfe, 0x80, 0,    0,    0,    0,    0,   0, static_cast<uint8_t>(m[0] ^ 0x02),
                         m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]};
  return net::IpAddr::V6Bytes(b);
}

uint64_t Advert::counter_value() const {
  uint64_t v = 0;
  for (uint8_t b : counter) v = (v << 8) | b;
  return v;
}

void EncodeAdvert(const Advert& ad, std::span<uint8_t, kAdvertLen> out) {
  out[0] = static_cast<uint8_t>((ad.version << 4) | (ad.type & 0x0f));
  out[1] = ad.vhid;
  out[2] = ad.advskew;
  out[3] = ad.authlen;
  out[4] = ad.demote;
  out[5] = ad.advbase;
  out[6] = 0;
  out[7] = 0;
  std::copy(ad.counter.begin(), ad.counter.end(), out.begin() + 8);
  std::copy(ad.digest.begin(), ad.digest.end(), out.begin() + 16);
  const uint16_t sum = net::Checksum(out);
  out[6] = static_cast<uint8_t>(sum >> 8);
  out[7] = static_cast<uint8_t>(sum);
}

std::array<uint8_t, kAdvertLen> EncodeAdvert(const Advert& ad) {
  std::array<uint8_t, kAdvertLen> out;
  EncodeAdvert(ad, std::span<uint8_t, kAdvertLen>(out));
  return out;
}

std::optional<Advert> DecodeAdvert(std::span<const uint8_t> p) {
  if (p.size() < kAdvertLen) return std::nullopt;
  Advert ad;
  ad.version = p[0] >> 4;
  ad.type = p[0] & 0x0f;
  ad.vhid = p[1];
  ad.advskew = p[2];
  ad.authlen = p[3];
  ad.demote = p[4];
  ad.advbase = p[5];
  ad.checksum = static_cast<uint16_t>((p[6] << 8) | p[7]);
  std::copy_n(p.begin() + 8, 8, ad.counter.begin());
  std::copy_n(p.begin() + 16, 20, ad.digest.begin());
  return ad;
}

bool ChecksumValid(std::span<const uint8_t> p) {
  if (p.size() < kAdvertLen) return false;
  return net::ChecksumFinish(net::ChecksumPartial(p.first(kAdvertLen))) == 0;
}

namespace {
bool IsLinkLocal(const net::IpAddr& a) {
  return a.is_v6() && a.bytes()[0] == 0xfe && (a.bytes()[1] & 0xc0) == 0x80;
}

std::vector<uint8_t> BuildPrefix(uint8_t vhid, const std::optional<Mac>& lladdr, std::vector<net::IpAddr> v4,
                                 std::vector<net::IpAddr> v6) {
  std::sort(v4.begin(), v4.end());
  v4.erase(std::unique(v4.begin(), v4.end()), v4.end());
  std::sort(v6.begin(), v6.end());
  v6.erase(std::unique(v6.begin(), v6.end()), v6.end());
  std::vector<uint8_t> m;
  m.reserve(2 + 6 + 1 + 4 * v4.size() + 16 * v6.size());
  m.push_back(kVersion);
  m.push_back(kTypeAdvertisement);
  if (lladdr)
    for (uint8_t b : *lladdr) m.push_back(b);
  m.push_back(vhid);
  for (const auto& a : v4) m.insert(m.end(), a.data(), a.data() + 4);
  for (const auto& a : v6) m.insert(m.end(), a.data(), a.data() + 16);
  return m;
}
}  // namespace

Authenticator::Authenticator(std::string_view passphrase, uint8_t vhid,
                             std::span<const net::IpAddr> addresses, const Mac& virtual_mac,
                             std::optional<Mac> lladdr_term) {
  // OpenBSD copies at most 19 bytes into a 20-byte zeroed key (carp.md §5.1).
  const std::span<const uint8_t> key(reinterpret_cast<const uint8_t*>(passphrase.data()),
                                     std::min<size_t>(passphrase.size(), 19));
  std::vector<net::IpAddr> v4, v6_no_ll, v6_with_ll;
  for (const auto& a : addresses) {
    if (a.is_v4()) {
      v4.push_back(a);
    } else if (a.is_v6()) {
      if (IsLinkLocal(a)) {
        // With-LL hashes link-locals as on the wire: scope bytes 2..3 zeroed.
        auto b = a.bytes();
        b[2] = b[3] = 0;
        v6_with_ll.push_back(net::IpAddr::V6Bytes(b.data()));
      } else {
        v6_no_ll.push_back(a);
        v6_with_ll.push_back(a);
      }
    }
  }
  if (!v6_with_ll.empty()) v6_with_ll.push_back(LinkLocalFromMac(virtual_mac));
  prefix_no_ll_ = BuildPrefix(vhid, lladdr_term, v4, v6_no_ll);
  prefix_with_ll_ = BuildPrefix(vhid, lladdr_term, v4, v6_with_ll);
  no_ll_ = Prepare(key, prefix_no_ll_);
  with_ll_ = Prepare(key, prefix_with_ll_);
  scratch_ =
      std::shared_ptr<void>(EVP_MD_CTX_new(), [](void* p) { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(p)); });
  if (!scratch_) throw std::runtime_error("EVP_MD_CTX_new failed");
}

namespace {
std::shared_ptr<void> NewCtx() {
  std::shared_ptr<void> c(EVP_MD_CTX_new(), [](void* p) { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(p)); });
  if (!c || !EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(c.get()), EVP_sha1(), nullptr))
    throw std::runtime_error("SHA-1 init failed");
  return c;
}
}  // namespace

Authenticator::Precomputed Authenticator::Prepare(std::span<const uint8_t> key,
                                                  std::span<const uint8_t> prefix) {
  // RFC 2104 with a key shorter than the 64-byte block: zero-padded.
  uint8_t ipad[64], opad[64];
  for (size_t i = 0; i < 64; ++i) {
    const uint8_t k = i < key.size() ? key[i] : 0;
    ipad[i] = k ^ 0x36;
    opad[i] = k ^ 0x5c;
  }
  Precomputed p{NewCtx(), NewCtx()};
  auto* inner = static_cast<EVP_MD_CTX*>(p.inner.get());
  auto* outer = static_cast<EVP_MD_CTX*>(p.outer.get());
  if (!EVP_DigestUpdate(inner, ipad, sizeof ipad) || !EVP_DigestUpdate(inner, prefix.data(), prefix.size()) ||
      !EVP_DigestUpdate(outer, opad, sizeof opad))
    throw std::runtime_error("SHA-1 update failed");
  return p;
}

Digest Authenticator::Finish(const Precomputed& pre, const Counter& counter) const {
  if (!pre.inner || !scratch_) throw std::logic_error("Authenticator used before construction");
  auto* ctx = static_cast<EVP_MD_CTX*>(scratch_.get());
  uint8_t inner_digest[EVP_MAX_MD_SIZE];
  Digest out{};
  unsigned int len = 0;
  if (!EVP_MD_CTX_copy_ex(ctx, static_cast<const EVP_MD_CTX*>(pre.inner.get())) ||
      !EVP_DigestUpdate(ctx, counter.data(), counter.size()) ||
      !EVP_DigestFinal_ex(ctx, inner_digest, &len) ||
      !EVP_MD_CTX_copy_ex(ctx, static_cast<const EVP_MD_CTX*>(pre.outer.get())) ||
      !EVP_DigestUpdate(ctx, inner_digest, len) || !EVP_DigestFinal_ex(ctx, out.data(), &len))
    throw std::runtime_error("HMAC-SHA1 failed");
  return out;
}

Digest Authenticator::Compute(const Counter& counter) const {
  return Finish(no_ll_, counter);
}

Digest Authenticator::ComputeWithLinkLocal(const Counter& counter) const {
  return Finish(with_ll_, counter);
}

namespace {
bool ConstantTimeEqual(const Digest& a, const Digest& b) {
  uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}
}  // namespace

bool Authenticator::Verify(const Counter& counter, const Digest& digest) const {
  if (ConstantTimeEqual(Compute(counter), digest)) return true;
  return prefix_with_ll_ != prefix_no_ll_ && ConstantTimeEqual(ComputeWithLinkLocal(counter), digest);
}

std::optional<IpPacket> ParseIpPacket(std::span<const uint8_t> p) {
  if (p.empty()) return std::nullopt;
  const int version = p[0] >> 4;
  IpPacket out;
  if (version == 4) {
    if (p.size() < 20) return std::nullopt;
    const size_t ihl = size_t{p[0] & 0x0fu} * 4;
    const size_t total = (size_t{p[2]} << 8) | p[3];
    if (ihl < 20 || total < ihl || total > p.size()) return std::nullopt;
    out.ttl = p[8];
    out.protocol = p[9];
    out.src = net::IpAddr::V4Bytes(&p[12]);
    out.dst = net::IpAddr::V4Bytes(&p[16]);
    out.payload = p.subspan(ihl, total - ihl);
    return out;
  }
  if (version == 6) {
    if (p.size() < 40) return std::nullopt;
    const size_t plen = (size_t{p[4]} << 8) | p[5];
    if (40 + plen > p.size()) return std::nullopt;
    out.protocol = p[6];
    out.ttl = p[7];
    out.src = net::IpAddr::V6Bytes(&p[8]);
    out.dst = net::IpAddr::V6Bytes(&p[24]);
    out.payload = p.subspan(40, plen);
    return out;
  }
  return std::nullopt;
}

std::optional<IpPacket> ParseEthernetFrame(std::span<const uint8_t> f) {
  if (f.size() < 14) return std::nullopt;
  const uint16_t type = static_cast<uint16_t>((f[12] << 8) | f[13]);
  if (type != 0x0800 && type != 0x86dd) return std::nullopt;
  auto ip = ParseIpPacket(f.subspan(14));
  if (ip && ((type == 0x0800) != ip->src.is_v4())) return std::nullopt;
  return ip;
}

std::vector<uint8_t> BuildIpv4Packet(const net::IpAddr& src, const net::IpAddr& dst,
                                     std::span<const uint8_t> payload, const Ipv4Framing& fr) {
  const size_t total = 20 + payload.size();
  std::vector<uint8_t> p(total);
  p[0] = 0x45;
  p[1] = fr.tos;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[4] = static_cast<uint8_t>(fr.id >> 8);
  p[5] = static_cast<uint8_t>(fr.id);
  p[6] = fr.dont_fragment ? 0x40 : 0;
  p[8] = fr.ttl;
  p[9] = kIpProtoCarp;
  std::memcpy(&p[12], src.data(), 4);
  std::memcpy(&p[16], dst.data(), 4);
  const uint16_t sum = net::Checksum({p.data(), 20});
  p[10] = static_cast<uint8_t>(sum >> 8);
  p[11] = static_cast<uint8_t>(sum);
  std::copy(payload.begin(), payload.end(), p.begin() + 20);
  return p;
}

std::vector<uint8_t> BuildIpv6Packet(const net::IpAddr& src, const net::IpAddr& dst,
                                     std::span<const uint8_t> payload, uint8_t hop_limit) {
  std::vector<uint8_t> p(40 + payload.size());
  p[0] = 0x60;
  p[4] = static_cast<uint8_t>(payload.size() >> 8);
  p[5] = static_cast<uint8_t>(payload.size());
  p[6] = kIpProtoCarp;
  p[7] = hop_limit;
  std::memcpy(&p[8], src.data(), 16);
  std::memcpy(&p[24], dst.data(), 16);
  std::copy(payload.begin(), payload.end(), p.begin() + 40);
  return p;
}

Mac MulticastMac(const net::IpAddr& dst) {
  const auto& b = dst.bytes();
  if (dst.is_v4()) return Mac{0x01, 0x00, 0x5e, static_cast<uint8_t>(b[1] & 0x7f), b[2], b[3]};
  return Mac{0x33, 0x33, b[12], b[13], b[14], b[15]};
}

std::vector<uint8_t> BuildEthernetFrame(const Mac& dst, const Mac& src, uint16_t ethertype,
                                        std::span<const uint8_t> payload) {
  std::vector<uint8_t> f(14 + payload.size());
  std::copy(dst.begin(), dst.end(), f.begin());
  std::copy(src.begin(), src.end(), f.begin() + 6);
  f[12] = static_cast<uint8_t>(ethertype >> 8);
  f[13] = static_cast<uint8_t>(ethertype);
  std::copy(payload.begin(), payload.end(), f.begin() + 14);
  return f;
}

}  // namespace hapf::carp
