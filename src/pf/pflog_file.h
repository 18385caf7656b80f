// Writes pflog pcap files with stdio: the only part of the engine's folder
// that does I/O, kept in its own library outside the pure core.
#pragma once

#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "pf/pflog_record.h"

namespace hapf::pf::engine {

class PflogFile {
 public:
  PflogFile() = default;
  ~PflogFile();
  PflogFile(const PflogFile&) = delete;
  PflogFile& operator=(const PflogFile&) = delete;

  bool Open(const std::string& path);
  bool Write(TimeNs ts, std::span<const uint8_t> pflog_header, std::span<const uint8_t> packet);
  void Close();

 private:
  std::FILE* file_ = nullptr;
  std::vector<uint8_t> buf_;
};

}  // namespace hapf::pf::engine
