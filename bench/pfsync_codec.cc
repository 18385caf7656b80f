// pfsync codec and bulk transfer costs:
//   build/dev/bench/bench_pfsync
// Encode/decode of full INS packets (5 states) and UPD_C packets (17 items),
// a bulk transfer of 1 000 000 states from a MemoryStateStore through the
// engine at the default pacing, 32 packets per call as PfsyncNode asks (time,
// packets, bytes on the wire per state, virtual time the pacing takes), and
// the import of such a transfer into a MemoryStateStore and into the filter
// engine's state table (PfStateStore).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>

#include "pf/engine.h"
#include "pfsync/bridge_state.h"
#include "pfsync/engine.h"
#include "pfsync/wire.h"

namespace hapf::pfsync {
namespace {

WireState BenchState(uint32_t n) {
  WireState s;
  s.id = (uint64_t{0x65538000} << 32) + n;
  s.creatorid = 0x3c2a9f10;
  s.ifname = IfName::From("em0");
  WireKey k;
  k.af = WireAf::kInet;
  k.addr = {net::IpAddr::V4(0xc6336414), net::IpAddr::V4(0x0a000000 | n)};
  k.port = {443, static_cast<uint16_t>(1024 + n % 60000)};
  s.key = {k, k};
  s.af = WireAf::kInet;
  s.proto = 6;
  s.direction = Direction::kOut;
  s.timeout = kTmTcpEstablished;
  s.src.state = s.dst.state = kTcpEstablished;
  s.src.seqlo = n;
  s.dst.seqlo = ~n;
  return s;
}

void BM_EncodeInsPacket(benchmark::State& st) {
  PacketBuilder b;
  WireState s = BenchState(1);
  for (auto _ : st) {
    b.Reset();
    for (uint32_t i = 0; i < 5; ++i) {
      s.id += 1;
      b.AddState(Action::kIns, s);
    }
    benchmark::DoNotOptimize(b.Finish().data());
  }
  st.SetItemsProcessed(st.iterations() * 5);
}
BENCHMARK(BM_EncodeInsPacket);

void BM_DecodeInsPacket(benchmark::State& st) {
  PacketBuilder b;
  for (uint32_t i = 0; i < 5; ++i) b.AddState(Action::kIns, BenchState(i));
  auto span = b.Finish();
  std::vector<uint8_t> p(span.begin(), span.end());
  DecodedPacket d;
  for (auto _ : st) {
    if (DecodePacket(p, d) != DecodeError::kNone) st.SkipWithError("decode failed");
    benchmark::DoNotOptimize(d.states.data());
  }
  st.SetItemsProcessed(st.iterations() * 5);
  st.SetBytesProcessed(st.iterations() * static_cast<int64_t>(p.size()));
}
BENCHMARK(BM_DecodeInsPacket);

void BM_EncodeUpdCPacket(benchmark::State& st) {
  PacketBuilder b;
  WireUpdC u;
  u.creatorid = 0x3c2a9f10;
  u.timeout = kTmTcpEstablished;
  for (auto _ : st) {
    b.Reset();
    for (uint32_t i = 0; i < 17; ++i) {
      u.id += 1;
      u.src.seqlo += 1460;
      b.AddUpdC(u);
    }
    benchmark::DoNotOptimize(b.Finish().data());
  }
  st.SetItemsProcessed(st.iterations() * 17);
}
BENCHMARK(BM_EncodeUpdCPacket);

void BM_DecodeUpdCPacket(benchmark::State& st) {
  PacketBuilder b;
  WireUpdC u;
  u.creatorid = 0x3c2a9f10;
  for (uint32_t i = 0; i < 17; ++i) {
    u.id = i;
    b.AddUpdC(u);
  }
  auto span = b.Finish();
  std::vector<uint8_t> p(span.begin(), span.end());
  DecodedPacket d;
  for (auto _ : st) {
    if (DecodePacket(p, d) != DecodeError::kNone) st.SkipWithError("decode failed");
    benchmark::DoNotOptimize(d.upd_c.data());
  }
  st.SetItemsProcessed(st.iterations() * 17);
}
BENCHMARK(BM_DecodeUpdCPacket);

// Counts what a bulk transfer puts on the wire.
struct CountingSink : EngineSink {
  uint64_t packets = 0, bytes = 0;
  void Send(std::span<const uint8_t> p) override {
    ++packets;
    bytes += p.size() + kIpHeaderSize;
  }
  void Demote(int, std::string_view) override {}
  void ReleaseDeferred(uint64_t) override {}
};

// The sender's whole side of a bulk transfer of N states: walking the table,
// exporting and encoding every state (pacing timers run back to back).
void BM_BulkEncode(benchmark::State& st) {
  const auto n = static_cast<uint32_t>(st.range(0));
  MemoryStateStore store;
  const Time t0 = sim::kTimeZero + std::chrono::hours(1);
  for (uint32_t i = 1; i <= n; ++i) store.Insert(BenchState(i), t0);
  CountingSink sink;
  EngineConfig cfg;  // the default pacing
  cfg.creatorid = 0x3c2a9f10;
  Duration paced{};
  for (auto _ : st) {
    sink = CountingSink{};
    SyncEngine e(cfg, store, sink);
    PacketBuilder req;
    req.AddId(Action::kUpdReq, StateId{0, 0});
    e.Receive(req.Finish(), t0);
    // As PfsyncNode drives it: one sendmmsg batch (32 packets) per call.
    Time now = t0;
    while (auto d = e.NextDeadline()) {
      now = std::max(now, *d);
      e.Tick(now, 32);
    }
    paced = now - t0;
  }
  st.counters["packets"] = static_cast<double>(sink.packets);
  st.counters["paced_s"] = std::chrono::duration<double>(paced).count();
  st.counters["wire_bytes_per_state"] = static_cast<double>(sink.bytes) / n;
  st.counters["states_per_s"] = benchmark::Counter(static_cast<double>(n) * static_cast<double>(st.iterations()),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BulkEncode)->Arg(1000000)->Unit(benchmark::kMillisecond)->Iterations(3);

// A bulk transfer of states 1..n as full UPD packets.
std::vector<std::vector<uint8_t>> BulkPackets(uint32_t n) {
  std::vector<std::vector<uint8_t>> packets;
  PacketBuilder b;
  for (uint32_t i = 1; i <= n; ++i) {
    if (!b.AddState(Action::kUpd, BenchState(i))) {
      auto s = b.Finish();
      packets.emplace_back(s.begin(), s.end());
      b.Reset();
      b.AddState(Action::kUpd, BenchState(i));
    }
  }
  auto s = b.Finish();
  packets.emplace_back(s.begin(), s.end());
  return packets;
}

// The receiver's side: decoding and importing a bulk transfer of N states.
void BM_BulkImport(benchmark::State& st) {
  const auto n = static_cast<uint32_t>(st.range(0));
  const std::vector<std::vector<uint8_t>> packets = BulkPackets(n);
  const Time t0 = sim::kTimeZero + std::chrono::hours(1);
  for (auto _ : st) {
    MemoryStateStore store;
    store.Reserve(n);
    CountingSink sink;
    EngineConfig cfg;
    cfg.creatorid = 0x0b0b0b0b;
    SyncEngine e(cfg, store, sink);
    for (const auto& p : packets) e.Receive(p, t0);
    if (store.Size() != n) st.SkipWithError("import incomplete");
  }
  st.counters["states_per_s"] = benchmark::Counter(static_cast<double>(n) * static_cast<double>(st.iterations()),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BulkImport)->Arg(1000000)->Unit(benchmark::kMillisecond)->Iterations(2);

// The receiver as hapfd runs it: decoding and importing a bulk transfer of N
// states into the filter engine's state table (PfStateStore).
void BM_BulkImportPf(benchmark::State& st) {
  const auto n = static_cast<uint32_t>(st.range(0));
  const std::vector<std::vector<uint8_t>> packets = BulkPackets(n);
  const Time t0 = sim::kTimeZero + std::chrono::hours(1);
  for (auto _ : st) {
    st.PauseTiming();
    pf::engine::EngineOptions eo;
    eo.hostid = 0x0b0b0b0b;
    eo.limits.states = n + 1;
    eo.timeouts.v[pf::engine::kTmAdaptiveStart] = eo.timeouts.v[pf::engine::kTmAdaptiveEnd] = 0;
    auto filter = std::make_unique<pf::engine::Engine>(eo);
    filter->AddInterface("em0");
    auto store = std::make_unique<PfStateStore>(*filter);
    CountingSink sink;
    EngineConfig cfg;
    cfg.creatorid = 0x0b0b0b0b;
    SyncEngine e(cfg, *store, sink);
    st.ResumeTiming();
    for (const auto& p : packets) e.Receive(p, t0);
    if (store->Size() != n) st.SkipWithError("import incomplete");
    st.PauseTiming();
    store.reset();
    filter.reset();
    st.ResumeTiming();
  }
  st.counters["states_per_s"] = benchmark::Counter(static_cast<double>(n) * static_cast<double>(st.iterations()),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BulkImportPf)->Arg(1000000)->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace
}  // namespace hapf::pfsync
