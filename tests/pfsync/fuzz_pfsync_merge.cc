// Arbitrary packets into a sync engine over a populated table: no crash, no
// hang, and the merge never moves a TCP peer backwards (a peer in the same FSM
// state never gets an older seqlo; a peer only moves to an earlier FSM state
// from a synproxy state) unless the packet deleted or cleared states.
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>

#include "pfsync/engine.h"

using namespace hapf::pfsync;

namespace {

struct NullSink : EngineSink {
  void Send(std::span<const uint8_t>) override {}
  void Demote(int, std::string_view) override {}
  void ReleaseDeferred(uint64_t) override {}
};

WireState Seed(uint32_t n) {
  WireState s;
  s.id = n;
  s.creatorid = 0x3c2a9f10;
  s.ifname = IfName::From("em0");
  WireKey k;
  k.af = WireAf::kInet;
  k.addr = {hapf::net::IpAddr::V4(0xc6336414), hapf::net::IpAddr::V4(0x0a000000 + n)};
  k.port = {443, static_cast<uint16_t>(1000 + n)};
  s.key = {k, k};
  s.af = WireAf::kInet;
  s.proto = n % 4 == 0 ? 17 : 6;
  s.direction = Direction::kOut;
  s.timeout = kTmTcpEstablished;
  s.src.state = static_cast<uint8_t>(n % 13);
  s.dst.state = kTcpEstablished;
  s.src.seqlo = n * 0x10000000u;
  s.dst.seqlo = n;
  return s;
}

bool Backwards(const WirePeer& before, const WirePeer& after) {
  if (after.state < before.state) return before.state < kTcpProxySrc;  // only synproxy may go back
  if (after.state == before.state) return static_cast<int32_t>(before.seqlo - after.seqlo) > 0;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemoryStateStore store;
  NullSink sink;
  EngineConfig cfg;
  cfg.creatorid = 0x0b0b0b0b;
  cfg.defer = true;
  SyncEngine e(cfg, store, sink);
  hapf::sim::Time now = hapf::sim::kTimeZero + std::chrono::hours(1);
  for (uint32_t n = 1; n <= 16; ++n) store.Insert(Seed(n), now);
  e.Up(now);
  e.LinkUp(now);

  DecodedPacket d;
  size_t off = 0;
  for (int packets = 0; packets < 8 && off + 2 <= size; ++packets) {
    size_t len = (size_t{data[off]} << 8 | data[off + 1]) % 2048;
    off += 2;
    len = std::min(len, size - off);
    std::span<const uint8_t> p(data + off, len);
    off += len;

    bool deletes = false;
    if (DecodePacket(p, d) == DecodeError::kNone)
      for (const Region& r : d.regions)
        deletes |= r.action == 0 || r.action == 6 || r.action == 7;
    std::map<StateId, WireState> before;
    store.ForEach(now, [&](const WireState& s) { before[s.identity()] = s; });
    e.Receive(p, now);
    if (!deletes) {
      store.ForEach(now, [&](const WireState& s) {
        auto it = before.find(s.identity());
        if (it == before.end() || s.proto != 6) return;
        if (Backwards(it->second.src, s.src) || Backwards(it->second.dst, s.dst)) __builtin_trap();
      });
    }
    now += std::chrono::milliseconds(len % 3000);
    while (auto t = e.NextDeadline()) {
      if (*t > now) break;
      e.Tick(*t);
    }
  }
  return 0;
}
