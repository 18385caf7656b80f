// pflog records: OpenBSD's struct pfloghdr (100 bytes) in front of the
// packet, in pcap files of link type DLT_PFLOG (117), so that tcpdump prints
// rule number, action, direction and interface of every logged packet.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pf/engine.h"

namespace hapf::pf::engine {

constexpr uint32_t kLinktypePflog = 117;

struct PflogFields {
  uint8_t action = 0;      // 0 pass, 1 drop
  uint8_t reason = 0;
  uint8_t dir = 1;         // 1 in, 2 out
  net::Family af = net::Family::kV4;
  std::string ifname;
  std::string ruleset;     // anchor name, empty in the main ruleset
  uint32_t rulenr = kNoRule;
  uint32_t subrulenr = kNoRule;
  bool rewritten = false;
  net::IpAddr saddr, daddr;  // addresses after translation (OpenBSD fills them when rewritten)
  uint16_t sport = 0, dport = 0;
};

std::array<uint8_t, kPflogHeaderLen> EncodePflogHeader(const PflogFields& f);

// The 24-byte pcap global header for a pflog capture.
std::array<uint8_t, 24> PflogPcapFileHeader(uint32_t snaplen = 65535);
// Appends one pcap record (record header + pflog header + packet).
void AppendPflogRecord(std::vector<uint8_t>& out, TimeNs ts, std::span<const uint8_t> pflog_header,
                       std::span<const uint8_t> packet, uint32_t snaplen = 65535);

}  // namespace hapf::pf::engine
