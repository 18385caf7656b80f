// ParsePacket on typical packets, plus the per-packet work NAT adds.
//   ninja -C build/release net_parse_bench && build/release/bench/net_parse_bench
#include <benchmark/benchmark.h>

#include <array>
#include <vector>

#include "net/build.h"
#include "net/packet.h"

namespace hapf::net {
namespace {

const EthernetHeader kEth{{0x02, 0, 0, 0, 0, 2}, {0x02, 0, 0, 0, 0, 1}};

std::vector<uint8_t> TcpPacket(bool v6, const EthernetHeader* eth) {
  IpHeader ip{*IpAddr::Parse(v6 ? "2001:db8::1" : "192.0.2.1"), *IpAddr::Parse(v6 ? "2001:db8::2" : "198.51.100.2")};
  TcpHeader tcp{.src_port = 40000, .dst_port = 443, .seq = 1, .ack = 2, .flags = tcpflag::kAck, .window = 501,
                .urgent = 0, .options = {}};
  tcp.options.has_timestamps = true;  // what nearly every segment carries
  tcp.options.ts_value = 5;
  std::vector<uint8_t> payload(1200, 0x61);
  std::vector<uint8_t> buf(2000);
  buf.resize(BuildTcp(buf, eth, ip, tcp, payload));
  return buf;
}

std::vector<uint8_t> UdpPacket(bool v6, const EthernetHeader* eth) {
  IpHeader ip{*IpAddr::Parse(v6 ? "2001:db8::1" : "192.0.2.1"), *IpAddr::Parse(v6 ? "2001:db8::2" : "198.51.100.2")};
  std::vector<uint8_t> payload(100, 0x62);
  std::vector<uint8_t> buf(2000);
  buf.resize(BuildUdp(buf, eth, ip, 5353, 53, payload));
  return buf;
}

void Parse(benchmark::State& state, std::vector<uint8_t> packet, LinkType link) {
  ParsedPacket p;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParsePacket(packet, link, p));
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}

void ParseAndVerify(benchmark::State& state, std::vector<uint8_t> packet, LinkType link) {
  ParsedPacket p;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParsePacket(packet, link, p));
    benchmark::DoNotOptimize(VerifyChecksums(packet, p));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(packet.size()));
}

// Source NAT of one packet: address and port with incremental checksum updates.
void RewriteSourceAddressAndPort(benchmark::State& state, std::vector<uint8_t> packet) {
  ParsedPacket p;
  ParsePacket(packet, LinkType::kRawIp, p);
  const IpAddr a = *IpAddr::Parse("203.0.113.7"), b = *IpAddr::Parse("203.0.113.8");
  bool flip = false;
  for (auto _ : state) {
    flip = !flip;
    RewriteAddress(packet, p, Side::kSource, flip ? a : b);
    RewritePort(packet, p, Side::kSource, flip ? 50000 : 50001);
    benchmark::DoNotOptimize(packet.data());
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(Parse, tcp4_raw, TcpPacket(false, nullptr), LinkType::kRawIp);
BENCHMARK_CAPTURE(Parse, udp4_raw, UdpPacket(false, nullptr), LinkType::kRawIp);
BENCHMARK_CAPTURE(Parse, tcp6_raw, TcpPacket(true, nullptr), LinkType::kRawIp);
BENCHMARK_CAPTURE(Parse, udp6_raw, UdpPacket(true, nullptr), LinkType::kRawIp);
BENCHMARK_CAPTURE(Parse, tcp4_ethernet, TcpPacket(false, &kEth), LinkType::kEthernet);
BENCHMARK_CAPTURE(Parse, udp4_ethernet, UdpPacket(false, &kEth), LinkType::kEthernet);
BENCHMARK_CAPTURE(ParseAndVerify, tcp4_1200B, TcpPacket(false, nullptr), LinkType::kRawIp);
BENCHMARK_CAPTURE(ParseAndVerify, udp4_100B, UdpPacket(false, nullptr), LinkType::kRawIp);
BENCHMARK_CAPTURE(RewriteSourceAddressAndPort, tcp4, TcpPacket(false, nullptr));
BENCHMARK_CAPTURE(RewriteSourceAddressAndPort, tcp6, TcpPacket(true, nullptr));

}  // namespace
}  // namespace hapf::net
