// Reading and writing pcap files (through libpcap), for tests, fixtures and
// captures: Ethernet, raw IP, or any other link type such as DLT_PFLOG.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/packet.h"

namespace hapf::net {

// libpcap DLT_* values (what pcap_datalink() reports, not the file's LINKTYPE_*).
inline constexpr int kDltEthernet = 1;   // DLT_EN10MB
inline constexpr int kDltRaw = 12;       // DLT_RAW on Linux (LINKTYPE_RAW, 101, in the file)
inline constexpr int kDltPflog = 117;    // DLT_PFLOG
inline constexpr int kDltIpv4 = 228;     // DLT_IPV4
inline constexpr int kDltIpv6 = 229;     // DLT_IPV6

// The parse start for a DLT this library parses, if any.
std::optional<LinkType> LinkTypeOfDlt(int dlt);

struct PcapRecord {
  uint64_t ts_usec = 0;    // microseconds since the epoch
  uint32_t orig_len = 0;   // length on the wire (>= data.size() when the capture was cut)
  std::vector<uint8_t> data;
};

class PcapReader {
 public:
  // nullopt with *error set when the file cannot be opened or is not a pcap.
  static std::optional<PcapReader> Open(const std::string& path, std::string* error);

  PcapReader(PcapReader&&) noexcept;
  PcapReader& operator=(PcapReader&&) noexcept;
  ~PcapReader();

  int dlt() const { return dlt_; }
  // The next record into `rec` (its buffer is reused); false at the end of
  // the file or on a read error (then error() says which).
  bool Next(PcapRecord& rec);
  const std::string& error() const { return error_; }

 private:
  struct Handle;
  explicit PcapReader(std::unique_ptr<Handle> h, int dlt);
  std::unique_ptr<Handle> h_;
  int dlt_ = 0;
  std::string error_;
};

// Every record of a file; nullopt with *error on any failure.
std::optional<std::vector<PcapRecord>> ReadPcapFile(const std::string& path, int* dlt, std::string* error);

class PcapWriter {
 public:
  static std::optional<PcapWriter> Open(const std::string& path, int dlt, std::string* error,
                                        int snaplen = 262144);

  PcapWriter(PcapWriter&&) noexcept;
  PcapWriter& operator=(PcapWriter&&) noexcept;
  ~PcapWriter();  // flushes and closes

  // `orig_len` 0 means the packet was captured whole.
  void Write(std::span<const uint8_t> data, uint64_t ts_usec = 0, uint32_t orig_len = 0);
  bool Flush();

 private:
  struct Handle;
  explicit PcapWriter(std::unique_ptr<Handle> h);
  std::unique_ptr<Handle> h_;
};

}  // namespace hapf::net
