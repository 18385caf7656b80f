// Test support: ParsedPacket as the JSON that tests/net/gen_packets.py makes
// from scapy's dissection, so the two can be compared key by key; and
// running scapy on pcaps this code wrote.
#pragma once

#include <nlohmann/json.hpp>

#include <span>
#include <string>
#include <vector>

#include "net/packet.h"
#include "net/pcap.h"

namespace hapf::net::testing {

// The oracle's script and the interpreter that has scapy (Debian's, not PATH's).
inline constexpr char kPython[] = "/usr/bin/python3";
std::string GenPacketsScript();

// The same keys gen_packets.py's describe() writes, from ParsePacket's result
// (which must be kOk) and VerifyChecksums.
nlohmann::json Describe(std::span<const uint8_t> bytes, const ParsedPacket& p);

// "key: ours vs scapy" for every key that differs or is on one side only.
std::vector<std::string> JsonDiff(const nlohmann::json& ours, const nlohmann::json& scapy,
                                  const std::string& prefix = "");

// Runs a shell command, returning its stdout; *status gets the exit status.
std::string RunCommand(const std::string& command, int* status);

// A pcap this code writes for scapy to read.
struct PcapForScapy {
  std::string path;
  int dlt = kDltEthernet;
  std::vector<std::vector<uint8_t>> packets;
};
// Writes each file and returns scapy's description of every packet, one array
// per file (gen_packets.py --describe); an empty array if scapy failed.
nlohmann::json ScapyDescribe(const std::vector<PcapForScapy>& files);

// Where the build put gen_packets.py's output (see tests/net/packet.cmake).
std::string OracleDir();

}  // namespace hapf::net::testing
