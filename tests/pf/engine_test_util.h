// Packet builders and checksum checks for the engine's tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/addr.h"
#include "net/checksum.h"
#include "pf/engine.h"

namespace hapf::pf::engine::testing {

inline net::IpAddr A(const char* s) { return *net::IpAddr::Parse(s); }
inline net::Prefix P(const char* s) { return *net::Prefix::Parse(s); }

struct TcpOpts {
  int wscale = -1;
  uint16_t mss = 0;
};

// An IP packet around `l4` with valid IPv4 header and transport checksums.
std::vector<uint8_t> BuildIp(const net::IpAddr& src, const net::IpAddr& dst, uint8_t proto,
                             std::vector<uint8_t> l4, uint8_t ttl = 64);
std::vector<uint8_t> Tcp(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags,
                         uint32_t seq, uint32_t ack, uint16_t win = 65535, size_t payload = 0, TcpOpts o = {});
std::vector<uint8_t> Udp(const char* src, const char* dst, uint16_t sport, uint16_t dport, size_t payload = 8);
std::vector<uint8_t> IcmpEcho(const char* src, const char* dst, uint16_t id, bool reply = false, uint16_t seq = 1);
// An ICMP (v4) or ICMPv6 error of `type`/`code` from `src` to `dst` quoting `quoted`.
std::vector<uint8_t> IcmpError(const char* src, const char* dst, uint8_t type, uint8_t code,
                               const std::vector<uint8_t>& quoted, size_t quote_len = 28);
std::vector<uint8_t> RawProto(const char* src, const char* dst, uint8_t proto, size_t len = 20);

// Recomputes every checksum of the packet (IPv4 header, TCP/UDP/ICMP/ICMPv6)
// and reports the first that is wrong, or "" when all are right.
std::string ChecksumError(const std::vector<uint8_t>& pkt);

// Convenience accessors.
PacketInfo Info(const std::vector<uint8_t>& pkt);

constexpr TimeNs kSec = 1000000000;

}  // namespace hapf::pf::engine::testing
