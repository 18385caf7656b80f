// Shared by the pfsync tests: where the shared vectors and the oracle are, the
// state parameters the vectors README states, and running the oracle.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pfsync/pcap.h"
#include "pfsync/wire.h"

namespace hapf::pfsync::testing {

std::string VectorPath(const std::string& name);  // shared/vectors/NAME
std::string ReadFile(const std::string& path);
std::vector<PcapFrame> ReadVector(const std::string& pcap_name);
// A fresh file name under the build tree.
std::string TempPath(const std::string& name);

inline constexpr uint32_t kCreator = 0x3c2a9f10;
inline uint64_t VectorId(int n) { return (uint64_t{0x65538000} << 32) + static_cast<uint64_t>(n); }
// "The TCP state N used in INS/UPD" of shared/vectors/README.md, built from its prose.
WireState VectorState(int n);
// The UPD_C item of state N (same peers, timeout tcp.established).
WireUpdC VectorUpdC(int n);

struct OracleRun {
  int status = -1;
  std::string out;  // stdout
};
// Runs the independent decoder (shared/tools/pfsync-oracle, built by CMake).
OracleRun RunOracle(const std::string& args);
// The oracle's text without its own "#" file lines and "!!" finding lines.
std::string OracleText(const std::string& text);

}  // namespace hapf::pfsync::testing
