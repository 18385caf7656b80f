// hapfd's pflog file: the records the filter's workers gather per packet
// batch (pcap record header + pfloghdr + packet, see pf/pflog_record.h),
// appended with one write(2) per batch outside the packet lock, to a pcap
// file of link type DLT_PFLOG that `tcpdump -n -e -ttt -r` reads.
//
// Rotation by size like newsyslog: when the next record would make the file
// larger than max_size, FILE becomes FILE.0, FILE.0 becomes FILE.1, ... and
// FILE.(keep-1) is removed; a new FILE starts with a pcap header. A record
// never spans two files, so every file is readable on its own.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>

namespace hapf::linux {

// write(2) until all of `n` bytes are out (retrying EINTR and short writes).
bool WriteFully(int fd, const uint8_t* p, size_t n);

struct PflogWriterOptions {
  std::string path;                       // FILE
  uint64_t max_size = 10 * 1024 * 1024;  // bytes per file, pcap header included
  int keep = 5;                           // rotated files FILE.0 .. FILE.(keep-1)
};

struct PflogWriterStats {
  uint64_t records_written = 0, bytes_written = 0;
  uint64_t records_dropped = 0;  // lost to a file that could not be opened or written
  uint64_t writes = 0;            // write(2) calls for records: one per batch between rotations
  uint64_t rotations = 0, write_errors = 0;
  uint64_t file_bytes = 0;       // size of the current FILE
  std::string last_error;        // empty when the last write succeeded
};

class PflogWriter {
 public:
  explicit PflogWriter(PflogWriterOptions opts) : opts_(std::move(opts)) {}
  ~PflogWriter();
  PflogWriter(const PflogWriter&) = delete;
  PflogWriter& operator=(const PflogWriter&) = delete;

  // Appends whole pcap records (as AppendPflogRecord builds them). The file
  // is opened on the first call, so a ruleset without `log` creates none; an
  // existing pflog file is appended to, anything else there is renamed FILE.bad.
  // Thread-safe: workers call it after releasing the packet lock.
  void Append(std::span<const uint8_t> records);
  // Closes the file; the next Append opens it again (after an outside rotation).
  void Reopen();

  PflogWriterStats stats() const;
  const PflogWriterOptions& options() const { return opts_; }

 private:
  bool OpenLocked();
  bool RotateLocked();
  void FailLocked(const std::string& what, uint64_t dropped);
  std::string Rotated(int i) const { return opts_.path + "." + std::to_string(i); }

  const PflogWriterOptions opts_;
  mutable std::mutex mu_;
  int fd_ = -1;
  int64_t retry_after_ns_ = 0;  // after a failed open, wait before the next try
  PflogWriterStats stats_;
};

}  // namespace hapf::linux
