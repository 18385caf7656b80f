// A minimal classic-libpcap reader and writer for tests (Ethernet link type),
// so vectors can be read and hapf's own frames handed to tcpdump/tshark.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "run_command.h"

namespace hapf::carp::testing {

struct PcapRecord {
  uint32_t sec = 0, usec = 0;
  std::vector<uint8_t> data;
};

inline std::vector<PcapRecord> ReadPcap(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (all.size() < 24) throw std::runtime_error("short pcap " + path);
  const uint32_t magic = all[0] | (all[1] << 8) | (all[2] << 16) | (uint32_t{all[3]} << 24);
  bool swapped;
  if (magic == 0xa1b2c3d4)
    swapped = false;
  else if (magic == 0xd4c3b2a1)
    swapped = true;
  else
    throw std::runtime_error("not a microsecond pcap: " + path);
  auto u32 = [&](size_t off) {
    uint32_t v = all[off] | (all[off + 1] << 8) | (all[off + 2] << 16) | (uint32_t{all[off + 3]} << 24);
    return swapped ? __builtin_bswap32(v) : v;
  };
  if (u32(20) != 1) throw std::runtime_error("not Ethernet: " + path);
  std::vector<PcapRecord> out;
  size_t off = 24;
  while (off + 16 <= all.size()) {
    PcapRecord r;
    r.sec = u32(off);
    r.usec = u32(off + 4);
    const uint32_t caplen = u32(off + 8);
    off += 16;
    if (off + caplen > all.size()) throw std::runtime_error("truncated record in " + path);
    r.data.assign(all.begin() + off, all.begin() + off + caplen);
    off += caplen;
    out.push_back(std::move(r));
  }
  return out;
}

inline void WritePcap(const std::string& path, const std::vector<PcapRecord>& records) {
  std::ofstream o(path, std::ios::binary | std::ios::trunc);
  auto put32 = [&](uint32_t v) {
    char b[4] = {char(v), char(v >> 8), char(v >> 16), char(v >> 24)};
    o.write(b, 4);
  };
  auto put16 = [&](uint16_t v) {
    char b[2] = {char(v), char(v >> 8)};
    o.write(b, 2);
  };
  put32(0xa1b2c3d4);
  put16(2);
  put16(4);
  put32(0);
  put32(0);
  put32(65535);
  put32(1);
  for (const auto& r : records) {
    put32(r.sec);
    put32(r.usec);
    put32(static_cast<uint32_t>(r.data.size()));
    put32(static_cast<uint32_t>(r.data.size()));
    o.write(reinterpret_cast<const char*>(r.data.data()), static_cast<std::streamsize>(r.data.size()));
  }
  if (!o) throw std::runtime_error("cannot write " + path);
}

// The shared folder: HAPF_SHARED_DIR, or ../../shared from a worktree checkout.
inline std::string SharedDir() {
  if (std::filesystem::exists(std::string(HAPF_SHARED_DIR) + "/vectors")) return HAPF_SHARED_DIR;
  return std::string(HAPF_SOURCE_DIR) + "/../../shared";
}

inline std::string RunCommand(const std::string& cmd) { return hapf::testing::RunShell(cmd); }

}  // namespace hapf::carp::testing
