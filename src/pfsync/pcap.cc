#include "pfsync/pcap.h"

#include <fmt/format.h>
#include <pcap/pcap.h>

#include <ctime>
#include <iterator>
#include <functional>
#include <memory>

#include "net/checksum.h"

namespace hapf::pfsync {
namespace {

constexpr uint8_t kProtoPfsync = 240;
constexpr int kLinkRaw = 101;        // LINKTYPE_RAW
constexpr int kLinkIpv4 = 228;       // LINKTYPE_IPV4
constexpr int kLinkSll = 113;        // LINKTYPE_LINUX_SLL
constexpr int kLinkSll2 = 276;       // LINKTYPE_LINUX_SLL2
constexpr int kLinkNull = 0;         // LINKTYPE_NULL
constexpr int kLinkLoop = 108;       // LINKTYPE_LOOP
constexpr int kLinkPfsync = 246;     // LINKTYPE_PFSYNC
constexpr int kLinkPfsyncBsd = 18;   // DLT_PFSYNC as OpenBSD numbers it
constexpr int kLinkEthernet = 1;

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
struct DumperCloser {
  void operator()(pcap_dumper_t* d) const { pcap_dump_close(d); }
};

// Where the network-layer packet starts inside a frame of the given link type,
// and whether it is an IPv4 packet at all (false: skip the frame). For pfsync0
// captures `bare` tells that the frame starts directly with the pfsync header.
bool FindIpv4(int linktype, std::span<const uint8_t> f, size_t& off, bool& bare) {
  bare = false;
  switch (linktype) {
    case kLinkEthernet: {
      if (f.size() < 14) return false;
      off = 12;
      uint16_t type = Be16(f.data() + off);
      while ((type == 0x8100 || type == 0x88a8) && f.size() >= off + 6) {
        off += 4;
        type = Be16(f.data() + off);
      }
      off += 2;
      return type == 0x0800;
    }
    case kLinkSll:
      off = 16;
      return f.size() >= 16 && Be16(f.data() + 14) == 0x0800;
    case kLinkSll2:
      off = 20;
      return f.size() >= 20 && Be16(f.data()) == 0x0800;
    case kLinkRaw:
    case kLinkIpv4:
      off = 0;
      return !f.empty() && (f[0] >> 4) == 4;
    case kLinkNull:
    case kLinkLoop: {
      if (f.size() < 4) return false;
      off = 4;
      uint32_t le = f[0] | (f[1] << 8) | (f[2] << 16) | (uint32_t{f[3]} << 24);
      uint32_t be = Be16(f.data()) << 16 | Be16(f.data() + 2);
      return le == 2 || be == 2;
    }
    case kLinkPfsync:
    case kLinkPfsyncBsd:
      // OpenBSD ≤ 7.3 tapped from the pfsync header, 7.4+ the whole IPv4 packet.
      off = 0;
      bare = f.empty() || (f[0] >> 4) != 4;
      return true;
    default: return false;
  }
}

void AppendTime(std::string& out, int64_t sec, int64_t usec) {
  std::time_t t = static_cast<std::time_t>(sec);
  std::tm tm{};
  gmtime_r(&t, &tm);
  fmt::format_to(std::back_inserter(out), "{:02}:{:02}:{:02}.{:06} ", tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
}

}  // namespace

std::vector<uint8_t> Ipv4Encapsulate(std::span<const uint8_t> pfsync, const net::IpAddr& src,
                                     const net::IpAddr& dst, uint16_t ip_id, uint8_t ttl) {
  std::vector<uint8_t> pkt(kIpHeaderSize + pfsync.size());
  uint8_t* h = pkt.data();
  size_t total = pkt.size();
  h[0] = 0x45;
  h[1] = 0x10;
  h[2] = static_cast<uint8_t>(total >> 8);
  h[3] = static_cast<uint8_t>(total);
  h[4] = static_cast<uint8_t>(ip_id >> 8);
  h[5] = static_cast<uint8_t>(ip_id);
  h[6] = 0x40;  // DF
  h[8] = ttl;
  h[9] = kProtoPfsync;
  std::memcpy(h + 12, src.data(), 4);
  std::memcpy(h + 16, dst.data(), 4);
  uint16_t sum = net::Checksum(std::span<const uint8_t>(h, kIpHeaderSize));
  h[10] = static_cast<uint8_t>(sum >> 8);
  h[11] = static_cast<uint8_t>(sum);
  std::memcpy(h + kIpHeaderSize, pfsync.data(), pfsync.size());
  return pkt;
}

bool WritePcap(const std::string& path, const std::vector<PcapFrame>& ipv4_packets, bool ethernet,
               std::string* error) {
  std::unique_ptr<pcap_t, PcapCloser> dead(pcap_open_dead(ethernet ? DLT_EN10MB : DLT_RAW, 65535));
  if (!dead) {
    if (error) *error = "pcap_open_dead failed";
    return false;
  }
  std::unique_ptr<pcap_dumper_t, DumperCloser> d(pcap_dump_open(dead.get(), path.c_str()));
  if (!d) {
    if (error) *error = pcap_geterr(dead.get());
    return false;
  }
  static constexpr uint8_t kEth[14] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xf0, 0x02, 0x00,
                                       0x00, 0x00, 0x00, 0x02, 0x08, 0x00};
  std::vector<uint8_t> frame;
  for (const PcapFrame& f : ipv4_packets) {
    frame.clear();
    if (ethernet) frame.insert(frame.end(), kEth, kEth + sizeof kEth);
    frame.insert(frame.end(), f.bytes.begin(), f.bytes.end());
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(f.ts_usec / 1000000);
    h.ts.tv_usec = static_cast<suseconds_t>(f.ts_usec % 1000000);
    h.caplen = h.len = static_cast<bpf_u_int32>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(d.get()), &h, frame.data());
  }
  return true;
}

bool ReadPcapIpv4(const std::string& path, std::vector<PcapFrame>& out, std::string* error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<pcap_t, PcapCloser> p(pcap_open_offline(path.c_str(), errbuf));
  if (!p) {
    if (error) *error = errbuf;
    return false;
  }
  int linktype = pcap_datalink(p.get());
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(p.get(), &h, &data)) == 1) {
    std::span<const uint8_t> f(data, h->caplen);
    size_t off = 0;
    bool bare = false;
    if (!FindIpv4(linktype, f, off, bare) || bare || off > f.size()) continue;
    out.push_back(PcapFrame{int64_t{h->ts.tv_sec} * 1000000 + h->ts.tv_usec,
                            std::vector<uint8_t>(f.begin() + static_cast<long>(off), f.end())});
  }
  if (rc == PCAP_ERROR) {
    if (error) *error = pcap_geterr(p.get());
    return false;
  }
  return true;
}

namespace {

// Prints every pfsync frame `p` delivers (at most `max_frames`, 0 = all),
// handing each frame's text with its newline to `emit`.
bool DumpFrom(pcap_t* p, const PrintOptions& opts, size_t max_frames,
              const std::function<void(std::string_view)>& emit, std::string* error) {
  int linktype = pcap_datalink(p);
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc;
  size_t frames = 0;
  std::string out;
  while ((max_frames == 0 || frames < max_frames) && (rc = pcap_next_ex(p, &h, &data)) >= 0) {
    if (rc == 0) continue;  // live capture: read timeout, nothing arrived
    out.clear();
    std::span<const uint8_t> f(data, h->caplen);
    size_t off = 0;
    bool bare = false;
    if (!FindIpv4(linktype, f, off, bare)) continue;
    std::span<const uint8_t> ip = f.subspan(std::min(off, f.size()));
    std::span<const uint8_t> body;
    if (bare) {
      body = ip;
      AppendTime(out, h->ts.tv_sec, h->ts.tv_usec);
    } else {
      if (ip.size() < kIpHeaderSize || (ip[0] >> 4) != 4 || ip[9] != kProtoPfsync) continue;
      size_t ihl = size_t{ip[0] & 0x0fu} * 4;
      if (ihl < kIpHeaderSize || ihl > ip.size()) continue;
      // The pfsync part ends where the IP packet ends, or where the capture does.
      size_t total = std::max<size_t>(Be16(ip.data() + 2), ihl);
      body = ip.subspan(ihl, std::min(total, ip.size()) - ihl);
      AppendTime(out, h->ts.tv_sec, h->ts.tv_usec);
      out += net::IpAddr::V4Bytes(ip.data() + 12).ToString();
      if (opts.verbose >= 1) {
        out += " > ";
        out += net::IpAddr::V4Bytes(ip.data() + 16).ToString();
      }
      out += ": ";
    }
    PrintPacket(body, opts, out);
    out += '\n';
    emit(out);
    ++frames;
  }
  if (max_frames != 0 && frames >= max_frames) return true;
  if (rc == PCAP_ERROR) {
    if (error) *error = pcap_geterr(p);
    return false;
  }
  return true;
}

}  // namespace

bool DumpPcap(const std::string& path, const PrintOptions& opts, std::string& out, std::string* error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<pcap_t, PcapCloser> p(pcap_open_offline(path.c_str(), errbuf));
  if (!p) {
    if (error) *error = errbuf;
    return false;
  }
  return DumpFrom(p.get(), opts, 0, [&](std::string_view text) { out += text; }, error);
}

bool DumpLive(const std::string& iface, const PrintOptions& opts, size_t max_frames,
              const std::function<void(std::string_view)>& emit, std::string* error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<pcap_t, PcapCloser> p(pcap_open_live(iface.c_str(), 65535, 0, 200, errbuf));
  if (!p) {
    if (error) *error = errbuf;
    return false;
  }
  bpf_program prog{};
  if (pcap_compile(p.get(), &prog, "ip proto 240", 1, PCAP_NETMASK_UNKNOWN) == 0) {
    pcap_setfilter(p.get(), &prog);
    pcap_freecode(&prog);
  }
  return DumpFrom(p.get(), opts, max_frames, emit, error);
}

}  // namespace hapf::pfsync
