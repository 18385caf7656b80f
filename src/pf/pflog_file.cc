#include "pf/pflog_file.h"

namespace hapf::pf::engine {

PflogFile::~PflogFile() { Close(); }

bool PflogFile::Open(const std::string& path) {
  Close();
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) return false;
  const auto h = PflogPcapFileHeader();
  return std::fwrite(h.data(), 1, h.size(), file_) == h.size();
}

bool PflogFile::Write(TimeNs ts, std::span<const uint8_t> pflog_header, std::span<const uint8_t> packet) {
  if (!file_) return false;
  buf_.clear();
  AppendPflogRecord(buf_, ts, pflog_header, packet);
  return std::fwrite(buf_.data(), 1, buf_.size(), file_) == buf_.size();
}

void PflogFile::Close() {
  if (file_) std::fclose(file_);
  file_ = nullptr;
}

}  // namespace hapf::pf::engine
