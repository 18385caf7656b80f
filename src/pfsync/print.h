// pfsync packets as text, the way OpenBSD's tcpdump prints them (spec §14):
// "PFSYNCv6 len N", one "act NAME count N" line per region, items on their
// own lines, full states in tcpdump's pf state format. Like tcpdump this
// printer is tolerant: it walks the raw bytes with OpenBSD's compiled item
// sizes, prints what is there and ends with tcpdump's error texts ("...",
// "invalid header length", "invalid packet length", "[|pfsync]"). It is
// independent of the strict decoder, which decides what the engine applies.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "pfsync/wire.h"

namespace hapf::pfsync {

struct PrintOptions {
  int verbose = 2;       // tcpdump -v count: 1 adds windows, age and counters; 2 the id line
  bool numeric = false;  // tcpdump -n: the protocol as a number
};

// Appends the text of one pfsync packet (from its header on, IP header
// excluded), without a trailing newline.
void PrintPacket(std::span<const uint8_t> pfsync, const PrintOptions& opts, std::string& out);
// Appends a full state in tcpdump's pf state format (starting with the interface name).
void PrintState(const WireState& s, const PrintOptions& opts, std::string& out);
// Protocol name as OpenBSD's tcpdump prints it without -n ("tcp", "udp", ...), or the number.
std::string ProtoName(uint8_t proto, bool numeric);

}  // namespace hapf::pfsync
