#include "pfsync/auth.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <cstring>

namespace hapf::pfsync {
namespace {
constexpr uint8_t kMagic[4] = {'h', 'S', 'A', '1'};

uint64_t Get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
uint32_t Get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
}  // namespace

SyncAuth::SyncAuth(std::string key, uint32_t creatorid, uint32_t epoch)
    : key_(std::move(key)), creatorid_(creatorid), counter_(uint64_t{epoch} << 32) {}

void SyncAuth::Mac(std::span<const uint8_t> data, uint8_t out[16]) const {
  uint8_t full[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), data.data(), data.size(), full, &n);
  std::memcpy(out, full, 16);
}

void SyncAuth::Seal(std::vector<uint8_t>& packet) {
  // The MAC covers the packet and the trailer's first 16 bytes, which follow it.
  size_t at = packet.size();
  packet.resize(at + kAuthTrailerSize);
  uint8_t* t = packet.data() + at;
  std::memcpy(t, kMagic, 4);
  for (int i = 0; i < 4; ++i) t[4 + i] = static_cast<uint8_t>(creatorid_ >> (24 - 8 * i));
  ++counter_;
  for (int i = 0; i < 8; ++i) t[8 + i] = static_cast<uint8_t>(counter_ >> (56 - 8 * i));
  Mac(std::span<const uint8_t>(packet.data(), at + 16), t + 16);
}

AuthVerdict SyncAuth::Open(std::span<const uint8_t> pfsync, size_t len) {
  if (len > pfsync.size() || pfsync.size() - len != kAuthTrailerSize) return AuthVerdict::kMissing;
  const uint8_t* t = pfsync.data() + len;
  if (std::memcmp(t, kMagic, 4) != 0) return AuthVerdict::kMissing;
  uint8_t mac[16];
  Mac(pfsync.first(len + 16), mac);
  if (CRYPTO_memcmp(mac, t + 16, 16) != 0) return AuthVerdict::kBadMac;
  uint32_t sender = Get32(t + 4);
  uint64_t counter = Get64(t + 8);
  // Our own packets never come back on the sync link (multicast loopback is
  // off): one that claims to be ours is a replay of something we sent.
  if (sender == creatorid_) return AuthVerdict::kReplayed;
  auto [it, fresh] = last_seen_.try_emplace(sender, counter);
  if (!fresh) {
    if (counter <= it->second) return AuthVerdict::kReplayed;
    it->second = counter;
  }
  return AuthVerdict::kOk;
}

}  // namespace hapf::pfsync
