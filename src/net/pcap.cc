#include "net/pcap.h"

#include <pcap/pcap.h>

#include <algorithm>

namespace hapf::net {

static_assert(kDltEthernet == DLT_EN10MB && kDltRaw == DLT_RAW && kDltPflog == DLT_PFLOG &&
              kDltIpv4 == DLT_IPV4 && kDltIpv6 == DLT_IPV6);

std::optional<LinkType> LinkTypeOfDlt(int dlt) {
  switch (dlt) {
    case DLT_EN10MB: return LinkType::kEthernet;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6: return LinkType::kRawIp;
    default: return std::nullopt;
  }
}

struct PcapReader::Handle {
  pcap_t* pcap = nullptr;
  ~Handle() {
    if (pcap) pcap_close(pcap);
  }
};

PcapReader::PcapReader(std::unique_ptr<Handle> h, int dlt) : h_(std::move(h)), dlt_(dlt) {}
PcapReader::PcapReader(PcapReader&&) noexcept = default;
PcapReader& PcapReader::operator=(PcapReader&&) noexcept = default;
PcapReader::~PcapReader() = default;

std::optional<PcapReader> PcapReader::Open(const std::string& path, std::string* error) {
  char err[PCAP_ERRBUF_SIZE] = "";
  auto h = std::make_unique<Handle>();
  h->pcap = pcap_open_offline(path.c_str(), err);
  if (!h->pcap) {
    if (error) *error = err;
    return std::nullopt;
  }
  int dlt = pcap_datalink(h->pcap);
  return PcapReader(std::move(h), dlt);
}

bool PcapReader::Next(PcapRecord& rec) {
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(h_->pcap, &hdr, &data);
  if (rc == 1) {
    rec.ts_usec = static_cast<uint64_t>(hdr->ts.tv_sec) * 1000000u + static_cast<uint64_t>(hdr->ts.tv_usec);
    rec.orig_len = hdr->len;
    rec.data.assign(data, data + hdr->caplen);
    return true;
  }
  if (rc == PCAP_ERROR) error_ = pcap_geterr(h_->pcap);
  return false;
}

std::optional<std::vector<PcapRecord>> ReadPcapFile(const std::string& path, int* dlt, std::string* error) {
  auto reader = PcapReader::Open(path, error);
  if (!reader) return std::nullopt;
  if (dlt) *dlt = reader->dlt();
  std::vector<PcapRecord> out;
  PcapRecord rec;
  while (reader->Next(rec)) out.push_back(rec);
  if (!reader->error().empty()) {
    if (error) *error = reader->error();
    return std::nullopt;
  }
  return out;
}

struct PcapWriter::Handle {
  pcap_t* pcap = nullptr;
  pcap_dumper_t* dumper = nullptr;
  int snaplen = 0;
  ~Handle() {
    if (dumper) pcap_dump_close(dumper);
    if (pcap) pcap_close(pcap);
  }
};

PcapWriter::PcapWriter(std::unique_ptr<Handle> h) : h_(std::move(h)) {}
PcapWriter::PcapWriter(PcapWriter&&) noexcept = default;
PcapWriter& PcapWriter::operator=(PcapWriter&&) noexcept = default;
PcapWriter::~PcapWriter() = default;

std::optional<PcapWriter> PcapWriter::Open(const std::string& path, int dlt, std::string* error, int snaplen) {
  auto h = std::make_unique<Handle>();
  h->snaplen = snaplen;
  h->pcap = pcap_open_dead(dlt, snaplen);
  if (!h->pcap) {
    if (error) *error = "pcap_open_dead failed";
    return std::nullopt;
  }
  h->dumper = pcap_dump_open(h->pcap, path.c_str());
  if (!h->dumper) {
    if (error) *error = pcap_geterr(h->pcap);
    return std::nullopt;
  }
  return PcapWriter(std::move(h));
}

void PcapWriter::Write(std::span<const uint8_t> data, uint64_t ts_usec, uint32_t orig_len) {
  pcap_pkthdr hdr{};
  hdr.ts.tv_sec = static_cast<time_t>(ts_usec / 1000000u);
  hdr.ts.tv_usec = static_cast<suseconds_t>(ts_usec % 1000000u);
  hdr.caplen = static_cast<uint32_t>(std::min<size_t>(data.size(), static_cast<size_t>(h_->snaplen)));
  hdr.len = orig_len ? orig_len : static_cast<uint32_t>(data.size());
  pcap_dump(reinterpret_cast<u_char*>(h_->dumper), &hdr, data.data());
}

bool PcapWriter::Flush() { return pcap_dump_flush(h_->dumper) == 0; }

}  // namespace hapf::net
