// pcap files of pfsync traffic: reading captures for `hapfctl pfsync dump`
// (OpenBSD tcpdump's text for every IPv4 protocol-240 frame) and writing them
// from tests. Kept out of the pure protocol library: it does file I/O through
// libpcap (branch `net` had no pcap module when this was written).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/addr.h"
#include "pfsync/print.h"

namespace hapf::pfsync {

// An IPv4 header for a pfsync packet as OpenBSD sends it (§1): TOS 0x10, DF,
// TTL 255, protocol 240, the given id, checksum filled in.
std::vector<uint8_t> Ipv4Encapsulate(std::span<const uint8_t> pfsync, const net::IpAddr& src,
                                     const net::IpAddr& dst, uint16_t ip_id, uint8_t ttl = 255);

// One frame of a capture, with its time stamp.
struct PcapFrame {
  int64_t ts_usec = 0;  // since the epoch
  std::vector<uint8_t> bytes;
};

// Reads the IPv4 packets of a capture (link-layer header removed; frames that
// are not IPv4 skipped). Returns false and sets `error` if the file cannot be read.
bool ReadPcapIpv4(const std::string& path, std::vector<PcapFrame>& out, std::string* error);

// Writes frames to a classic pcap file. `ethernet` wraps each IPv4 packet in an
// Ethernet header (02:00:00:00:00:02 → the 224.0.0.240 group MAC); otherwise the
// link type is raw IPv4. Returns false and sets `error` on failure.
bool WritePcap(const std::string& path, const std::vector<PcapFrame>& ipv4_packets, bool ethernet,
               std::string* error);

// Prints every pfsync frame of a pcap file as OpenBSD's tcpdump does: per frame
// "HH:MM:SS.uuuuuu SRC > DST: " (only "SRC: " below -v, UTC time) and the
// packet text, then a newline. Frames that are not IPv4 protocol 240 are left
// out. Link types: Ethernet (with VLAN tags), Linux cooked v1/v2, raw IPv4,
// BSD loopback, and pfsync0 captures (246, or OpenBSD's 18) with or without
// the IPv4 header. Returns false and sets `error` if the file cannot be read.
bool DumpPcap(const std::string& path, const PrintOptions& opts, std::string& out, std::string* error);

// The same for a live interface (`hapfctl pfsync dump -i IFACE`): each frame's
// text goes to `emit` as it arrives; stops after `max_frames` (0: never) or on
// a capture error (returns false and sets `error`).
bool DumpLive(const std::string& iface, const PrintOptions& opts, size_t max_frames,
              const std::function<void(std::string_view)>& emit, std::string* error);

}  // namespace hapf::pfsync
