// syncauth — a hapf extension, NOT part of OpenBSD's pfsync and not
// understood by OpenBSD peers: every packet carries a replay counter and a
// MAC keyed with a pre-shared key.
//
// Framing: the plain pfsync packet (header len covering exactly the regions)
// is followed by a 32-byte trailer that pfsync receivers skip, since bytes
// after the header's len are ignored (§2.1):
//
//   offset  size  field
//   0       4     magic "hSA1"
//   4       4     sender creatorid (whose counter this is)
//   8       8     counter, big-endian: (sender epoch << 32) | sequence
//   16      16    HMAC-SHA256(key, pfsync bytes ‖ trailer bytes 0..15), first 16 bytes
//
// The epoch (e.g. the boot time in seconds) makes counters grow across
// restarts. A receiver accepts a packet only with a valid MAC and a counter
// above the last one accepted from that sender. Plain mode sends no trailer,
// so its packets are byte-for-byte OpenBSD's.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hapf::pfsync {

inline constexpr size_t kAuthTrailerSize = 32;

enum class AuthVerdict : uint8_t { kOk, kMissing, kBadMac, kReplayed };

class SyncAuth {
 public:
  SyncAuth(std::string key, uint32_t creatorid, uint32_t epoch);

  // Appends the trailer for `packet` (whose pfsync len covers all of it).
  void Seal(std::vector<uint8_t>& packet);
  // Checks the trailer after the `len` bytes of pfsync data; on success records
  // the counter (so a replay of the same packet fails).
  AuthVerdict Open(std::span<const uint8_t> pfsync, size_t len);

 private:
  void Mac(std::span<const uint8_t> data, uint8_t out[16]) const;

  std::string key_;
  uint32_t creatorid_;
  uint64_t counter_;
  absl::flat_hash_map<uint32_t, uint64_t> last_seen_;
};

}  // namespace hapf::pfsync
