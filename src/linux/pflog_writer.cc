#include "linux/pflog_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "pf/pflog_record.h"

namespace hapf::linux {
namespace {

constexpr size_t kPcapHeaderLen = 24;
constexpr size_t kRecordHeaderLen = 16;
constexpr int64_t kRetryNs = 1000 * 1000 * 1000;

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Length of the record at `off` (header + captured bytes), 0 when the rest is
// not a whole record.
size_t RecordLen(std::span<const uint8_t> b, size_t off) {
  if (b.size() - off < kRecordHeaderLen) return 0;
  const uint8_t* p = b.data() + off + 8;
  const size_t incl = p[0] | (p[1] << 8) | (p[2] << 16) | (size_t{p[3]} << 24);
  return b.size() - off - kRecordHeaderLen >= incl ? kRecordHeaderLen + incl : 0;
}

uint64_t CountRecords(std::span<const uint8_t> b, size_t off) {
  uint64_t n = 0;
  for (size_t len; off < b.size() && (len = RecordLen(b, off)) != 0; off += len) ++n;
  return n;
}

}  // namespace

bool WriteFully(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

PflogWriter::~PflogWriter() {
  if (fd_ >= 0) close(fd_);
}

void PflogWriter::FailLocked(const std::string& what, uint64_t dropped) {
  stats_.last_error = what + ": " + std::strerror(errno);
  stats_.write_errors++;
  stats_.records_dropped += dropped;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  retry_after_ns_ = MonotonicNs() + kRetryNs;
}

bool PflogWriter::OpenLocked() {
  if (retry_after_ns_ != 0 && MonotonicNs() < retry_after_ns_) return false;
  // The directory (e.g. /var/log/hapf) is created when missing, one level only.
  if (size_t slash = opts_.path.rfind('/'); slash != std::string::npos && slash > 0)
    mkdir(opts_.path.substr(0, slash).c_str(), 0750);
  fd_ = open(opts_.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    FailLocked("open " + opts_.path, 0);
    return false;
  }
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    FailLocked("fstat " + opts_.path, 0);
    return false;
  }
  const auto want = pf::engine::PflogPcapFileHeader();
  if (st.st_size > 0) {
    // An earlier pflog file is continued; anything else is kept aside.
    uint8_t have[kPcapHeaderLen];
    const bool ours = st.st_size >= static_cast<off_t>(kPcapHeaderLen) &&
                      pread(fd_, have, sizeof have, 0) == static_cast<ssize_t>(sizeof have) &&
                      std::memcmp(have, want.data(), 4) == 0 && std::memcmp(have + 20, want.data() + 20, 4) == 0;
    if (ours) {
      stats_.file_bytes = static_cast<uint64_t>(st.st_size);
      retry_after_ns_ = 0;
      return true;
    }
    // Not ours: kept as FILE.bad (as pflogd does), outside the rotation.
    close(fd_);
    fd_ = -1;
    if (rename(opts_.path.c_str(), (opts_.path + ".bad").c_str()) != 0) {
      FailLocked("rename " + opts_.path, 0);
      return false;
    }
    return OpenLocked();
  }
  if (!WriteFully(fd_, want.data(), want.size())) {
    FailLocked("write " + opts_.path, 0);
    return false;
  }
  stats_.file_bytes = want.size();
  retry_after_ns_ = 0;
  return true;
}

bool PflogWriter::RotateLocked() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (opts_.keep > 0) {
    unlink(Rotated(opts_.keep - 1).c_str());
    for (int i = opts_.keep - 2; i >= 0; --i) rename(Rotated(i).c_str(), Rotated(i + 1).c_str());
    if (rename(opts_.path.c_str(), Rotated(0).c_str()) != 0 && errno != ENOENT) {
      FailLocked("rename " + opts_.path, 0);
      return false;
    }
  } else if (unlink(opts_.path.c_str()) != 0 && errno != ENOENT) {
    FailLocked("unlink " + opts_.path, 0);
    return false;
  }
  stats_.rotations++;
  stats_.file_bytes = 0;
  retry_after_ns_ = 0;
  return OpenLocked();
}

void PflogWriter::Append(std::span<const uint8_t> records) {
  std::lock_guard lock(mu_);
  if (fd_ < 0 && !OpenLocked()) {
    stats_.records_dropped += CountRecords(records, 0);
    return;
  }
  size_t off = 0;
  while (off < records.size()) {
    // The longest run of whole records that fits; one record alone always
    // goes into a fresh file, even when it is larger than max_size.
    size_t end = off;
    uint64_t n = 0;
    for (size_t len; end < records.size() && (len = RecordLen(records, end)) != 0; end += len, ++n) {
      const bool fresh = stats_.file_bytes <= kPcapHeaderLen && end == off;
      if (!fresh && stats_.file_bytes + (end + len - off) > opts_.max_size) break;
    }
    if (end == off) {
      if (RecordLen(records, off) == 0) return;  // a torn tail: the caller's bug, nothing to write
      if (!RotateLocked()) {
        stats_.records_dropped += CountRecords(records, off);
        return;
      }
      continue;
    }
    if (!WriteFully(fd_, records.data() + off, end - off)) {
      const int err = errno;
      // A torn record would end the file for tcpdump: cut back to the last whole one.
      [[maybe_unused]] const int cut = ftruncate(fd_, static_cast<off_t>(stats_.file_bytes));
      errno = err;
      FailLocked("write " + opts_.path, CountRecords(records, off));
      return;
    }
    stats_.writes++;
    stats_.records_written += n;
    stats_.bytes_written += end - off;
    stats_.file_bytes += end - off;
    stats_.last_error.clear();
    off = end;
  }
}

void PflogWriter::Reopen() {
  std::lock_guard lock(mu_);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  retry_after_ns_ = 0;
}

PflogWriterStats PflogWriter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace hapf::linux
