// libFuzzer target: arbitrary bytes as an IPv4/IPv6 packet, an Ethernet frame
// and a bare CARP payload through the decoder and the engine's receive path.
#include <cstddef>
#include <cstdint>

#include "carp/advert.h"
#include "carp/config.h"
#include "carp/engine.h"

using namespace hapf::carp;

namespace {
Engine& SharedEngine() {
  static Engine* e = [] {
    auto* eng = new Engine({.preempt = true, .log_level = kLogInfo}, [] { return uint64_t{7}; });
    Actions out;
    for (uint8_t vhid : {1, 2}) {
      VhostConfig c;
      c.ifname = "carp" + std::to_string(vhid);
      c.carpdev = "em0";
      c.vhid = vhid;
      c.passphrase = "toor";
      c.addresses = {*hapf::net::Prefix::Parse(vhid == 1 ? "170.16.3.131/32" : "2001:db8:3::131/64")};
      eng->AddInterface(c, hapf::sim::kTimeZero, out);
    }
    return eng;
  }();
  return *e;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  Engine& e = SharedEngine();
  Actions out;
  static int64_t t = 0;
  t += 1'000'000;
  const auto now = hapf::sim::FromNanos(t);
  if (auto ad = DecodeAdvert(in)) {
    auto re = EncodeAdvert(*ad);
    // Decode/encode round trip: every byte but the checksum is preserved.
    for (size_t i = 0; i < kAdvertLen; ++i)
      if (i != 6 && i != 7 && re[i] != in[i]) __builtin_trap();
  }
  for (auto ip : {ParseIpPacket(in), ParseEthernetFrame(in)}) {
    if (!ip) continue;
    e.Receive(RxAdvert{"em0", ip->src, ip->dst, ip->ttl, ip->payload}, now, out);
  }
  e.Receive(RxAdvert{"em0", *hapf::net::IpAddr::Parse("192.0.2.9"), GroupV4(), 255, in}, now, out);
  e.OnTimer(now, out);
  ParseHostnameFile("hostname.carp0", std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
