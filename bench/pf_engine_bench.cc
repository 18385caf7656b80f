// Filter engine benchmarks: established-state lookup with 1M states,
// first-packet evaluation with 10 / 1000 / 10000 rules (and a 100k-prefix
// table), state insert/delete rate, bytes of memory per state.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <memory>
#include <vector>

#include "net/checksum.h"
#include "pf/engine.h"

namespace hapf::pf::engine {
namespace {

constexpr TimeNs kNow = 1000LL * 1000000000LL;

std::vector<uint8_t> UdpPacket(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  std::vector<uint8_t> p(28 + 16, 0);
  p[0] = 0x45;
  Store16(p, 2, static_cast<uint16_t>(p.size()));
  p[8] = 64;
  p[9] = kProtoUdp;
  Store32(p, 12, src);
  Store32(p, 16, dst);
  Store16(p, 10, net::Checksum(std::span<const uint8_t>(p.data(), 20)));
  Store16(p, 20, sport);
  Store16(p, 22, dport);
  Store16(p, 24, 24);
  return p;
}

std::vector<uint8_t> TcpSyn(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x45;
  Store16(p, 2, 40);
  p[8] = 64;
  p[9] = kProtoTcp;
  Store32(p, 12, src);
  Store32(p, 16, dst);
  Store16(p, 20, sport);
  Store16(p, 22, dport);
  Store32(p, 24, 1000);
  p[32] = 5 << 4;
  p[33] = kSyn;
  Store16(p, 34, 65535);
  return p;
}

// An engine holding `flows` established UDP states, and 8192 packets of
// random flows among them.
std::unique_ptr<Engine> EstablishedEngine(uint32_t flows, InterfaceId& ifp, std::vector<std::vector<uint8_t>>& pkts) {
  EngineOptions o;
  o.limits.states = flows + 10;
  o.purge_budget = 0;  // measured separately below
  auto e = std::make_unique<Engine>(o);
  ifp = e->AddInterface("em0");
  Ruleset rs;
  rs.rules.push_back(PassRule());
  e->LoadRuleset(rs);
  for (uint32_t i = 0; i < flows; ++i) {
    auto p = UdpPacket(0x0a000000 + (i >> 8), 0xc0000201, static_cast<uint16_t>(1024 + (i & 0xff)), 53);
    e->Test(Direction::kIn, ifp, p, kNow);
  }
  uint32_t x = 1;
  for (int i = 0; i < 8192; ++i) {
    x = x * 1664525 + 1013904223;
    const uint32_t f = x % flows;
    pkts.push_back(UdpPacket(0x0a000000 + (f >> 8), 0xc0000201, static_cast<uint16_t>(1024 + (f & 0xff)), 53));
  }
  return e;
}

// 1M UDP flows established (both directions seen); then packets of random
// established flows go through Test().
void BM_EstablishedLookup(benchmark::State& st) {
  InterfaceId ifp = 0;
  std::vector<std::vector<uint8_t>> pkts;
  auto e = EstablishedEngine(static_cast<uint32_t>(st.range(0)), ifp, pkts);
  size_t i = 0;
  for (auto _ : st) {
    Verdict v = e->Test(Direction::kIn, ifp, pkts[i++ & 8191], kNow);
    benchmark::DoNotOptimize(v.state);
  }
  st.counters["states"] = static_cast<double>(e->states().size());
}
BENCHMARK(BM_EstablishedLookup)->Arg(1000000)->Unit(benchmark::kNanosecond);

// The same packets through TestBatch in batches of 32 (one NFQUEUE read);
// time per packet.
void BM_EstablishedBatch(benchmark::State& st) {
  InterfaceId ifp = 0;
  std::vector<std::vector<uint8_t>> pkts;
  auto e = EstablishedEngine(static_cast<uint32_t>(st.range(0)), ifp, pkts);
  constexpr size_t kBatch = 32;
  std::vector<Engine::BatchPacket> batch(kBatch);
  std::vector<Verdict> out(kBatch);
  size_t i = 0;
  for (auto _ : st) {
    for (auto& b : batch) {
      b.dir = Direction::kIn;
      b.ifp = ifp;
      b.pkt = pkts[i++ & 8191];
    }
    e->TestBatch(batch, out, kNow);
    benchmark::DoNotOptimize(out[0].state);
  }
  st.SetItemsProcessed(st.iterations() * kBatch);
  st.counters["ns_per_packet"] = benchmark::Counter(static_cast<double>(st.iterations() * kBatch),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EstablishedBatch)->Arg(1000000)->Unit(benchmark::kNanosecond);

// The concurrent established path: 1 and 2 threads calling TestShared on
// random flows of one 1M-state engine (each with its own context), as the
// daemon's workers do under the read side of its lock. Real time; items/s is
// the total over the threads.
void BM_EstablishedShared(benchmark::State& st) {
  static std::unique_ptr<Engine> engine;
  static std::vector<std::vector<uint8_t>> pkts;
  static InterfaceId ifp = 0;
  if (st.thread_index() == 0 && !engine) engine = EstablishedEngine(1000000, ifp, pkts);
  // Google Benchmark starts the threads' timed loops together, after setup.
  Engine::SharedContext ctx;
  size_t i = static_cast<size_t>(st.thread_index()) * 4096;
  Verdict v;
  for (auto _ : st) {
    if (!engine->TestShared(Direction::kIn, ifp, pkts[i++ & 8191], kNow, 0, 0, ctx, v)) st.SkipWithError("declined");
    benchmark::DoNotOptimize(v.state);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_EstablishedShared)->Threads(1)->Threads(2)->UseRealTime()->Unit(benchmark::kNanosecond);

// The same through TestSharedBatch in batches of 32 (prefetching like
// TestBatch); real time per packet, items/s the total over the threads.
void BM_EstablishedSharedBatch(benchmark::State& st) {
  static std::unique_ptr<Engine> engine;
  static std::vector<std::vector<uint8_t>> pkts;
  static InterfaceId ifp = 0;
  if (st.thread_index() == 0 && !engine) engine = EstablishedEngine(1000000, ifp, pkts);
  constexpr size_t kBatch = 32;
  Engine::SharedContext ctx;
  std::vector<Engine::BatchPacket> batch(kBatch);
  std::vector<Verdict> out(kBatch);
  bool done[kBatch];
  size_t i = static_cast<size_t>(st.thread_index()) * 4096;
  for (auto _ : st) {
    for (auto& b : batch) b = {Direction::kIn, ifp, pkts[i++ & 8191], 0, 0};
    engine->TestSharedBatch(batch, kNow, ctx, out, done);
    if (!done[0]) st.SkipWithError("declined");
    benchmark::DoNotOptimize(out[0].state);
  }
  st.SetItemsProcessed(st.iterations() * kBatch);
  st.counters["ns_per_packet"] = benchmark::Counter(static_cast<double>(st.iterations() * kBatch),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EstablishedSharedBatch)->Threads(1)->Threads(2)->UseRealTime()->Unit(benchmark::kNanosecond);

// One hot flow, no purge: the per-packet compute of the established path
// (everything in cache), through Test() and through TestShared().
void BM_EstablishedHotFlow(benchmark::State& st) {
  InterfaceId ifp = 0;
  std::vector<std::vector<uint8_t>> pkts;
  auto e = EstablishedEngine(1, ifp, pkts);
  for (auto _ : st) {
    Verdict v = e->Test(Direction::kIn, ifp, pkts[0], kNow);
    benchmark::DoNotOptimize(v.state);
  }
}
BENCHMARK(BM_EstablishedHotFlow)->Unit(benchmark::kNanosecond);

void BM_EstablishedHotFlowShared(benchmark::State& st) {
  InterfaceId ifp = 0;
  std::vector<std::vector<uint8_t>> pkts;
  auto e = EstablishedEngine(1, ifp, pkts);
  Engine::SharedContext ctx;
  Verdict v;
  for (auto _ : st) {
    if (!e->TestShared(Direction::kIn, ifp, pkts[0], kNow, 0, 0, ctx, v)) st.SkipWithError("declined");
    benchmark::DoNotOptimize(v.state);
  }
}
BENCHMARK(BM_EstablishedHotFlowShared)->Unit(benchmark::kNanosecond);

// The same with the default incremental purge running inside Test().
void BM_EstablishedLookupWithPurge(benchmark::State& st) {
  const uint32_t flows = 1000000;
  EngineOptions o;
  o.limits.states = flows + 10;
  o.purge_budget = 0;
  auto e = std::make_unique<Engine>(o);
  const InterfaceId ifp = e->AddInterface("em0");
  Ruleset rs;
  rs.rules.push_back(PassRule());
  e->LoadRuleset(rs);
  for (uint32_t i = 0; i < flows; ++i) {
    auto p = UdpPacket(0x0a000000 + (i >> 8), 0xc0000201, static_cast<uint16_t>(1024 + (i & 0xff)), 53);
    e->Test(Direction::kIn, ifp, p, kNow);
  }
  e->options().purge_budget = EngineOptions{}.purge_budget;
  auto p = UdpPacket(0x0a000000, 0xc0000201, 1024, 53);
  for (auto _ : st) {
    Verdict v = e->Test(Direction::kIn, ifp, p, kNow);
    benchmark::DoNotOptimize(v.state);
  }
}
BENCHMARK(BM_EstablishedLookupWithPurge)->Unit(benchmark::kNanosecond);

// A realistic ruleset of N rules: default block, a quick block from a table
// of 100k prefixes, outbound pass, then per-service passes to single hosts
// (the bulk of big rulesets). The packet is a new TCP SYN to a service host
// near the end; its state is removed after each iteration.
std::unique_ptr<Engine> RulesetEngine(int n, InterfaceId& ifp, std::vector<uint32_t>& hosts) {
  EngineOptions o;
  o.purge_budget = 0;
  auto e = std::make_unique<Engine>(o);
  ifp = e->AddInterface("em0");
  auto bad = e->GetTable("bad");
  for (uint32_t i = 0; i < 100000; ++i) bad->Add(net::Prefix{net::IpAddr::V4(0x64000000 + (i << 8)), 24});
  Ruleset rs;
  rs.rules.push_back(BlockRule());
  Rule q = BlockRule();
  q.quick = true;
  q.src = AddrSpec::OfTable(bad);
  rs.rules.push_back(q);
  Rule out = PassRule();
  out.dir = Direction::kOut;
  rs.rules.push_back(out);
  for (int i = 3; i < n; ++i) {
    Rule r = PassRule();
    r.dir = Direction::kIn;
    r.ifgroup = e->GroupId("em0");
    r.proto = kProtoTcp;
    const uint32_t host = 0xc0000000 + static_cast<uint32_t>(i);  // 192.0.0.0 + i
    r.dst = AddrSpec::Of(net::Prefix::Host(net::IpAddr::V4(host)));
    r.dport = {{PortRange::Op::kEq, static_cast<uint16_t>(1 + i % 1000), 0}};
    hosts.push_back(host);
    rs.rules.push_back(r);
  }
  e->LoadRuleset(rs);
  return e;
}

void BM_FirstPacket(benchmark::State& st) {
  const int n = static_cast<int>(st.range(0));
  InterfaceId ifp = 0;
  std::vector<uint32_t> hosts;
  auto e = RulesetEngine(n, ifp, hosts);
  // The second-to-last service rule (or rule 0 when there is none).
  const int target = n - 2;
  const uint32_t host = target >= 3 ? hosts[target - 3] : 0xc0000201;
  const uint16_t port = static_cast<uint16_t>(1 + target % 1000);
  uint16_t sport = 1024;
  auto pkt = TcpSyn(0xcb007101, host, sport, port);
  for (auto _ : st) {
    Store16(pkt, 20, ++sport == 0 ? ++sport : sport);
    Verdict v = e->Test(Direction::kIn, ifp, pkt, kNow);
    benchmark::DoNotOptimize(v.rule_nr);
    if (v.state != kNoIndex) e->states().Remove(v.state);
  }
  st.counters["rules"] = n;
}
BENCHMARK(BM_FirstPacket)->Arg(10)->Arg(1000)->Arg(10000)->Unit(benchmark::kNanosecond);

// State insert + delete on a table holding 1M states.
void BM_StateInsertDelete(benchmark::State& st) {
  StateTable t;
  State s;
  s.key[kWire].af = s.key[kStack].af = static_cast<uint8_t>(net::Family::kV4);
  s.key[kWire].proto = s.key[kStack].proto = kProtoTcp;
  for (uint32_t i = 0; i < 1000000; ++i) {
    Store32(std::span<uint8_t>(s.key[kWire].addr[0].data(), 4), 0, 0x0a000000 + i);
    s.key[kStack] = s.key[kWire];
    t.Insert(s);
  }
  uint32_t i = 0;
  for (auto _ : st) {
    Store32(std::span<uint8_t>(s.key[kWire].addr[0].data(), 4), 0, 0x0b000000 + (i++ & 0xffff));
    s.key[kStack] = s.key[kWire];
    const uint32_t idx = t.Insert(s);
    t.Remove(idx);
  }
  st.SetItemsProcessed(st.iterations() * 2);
}
BENCHMARK(BM_StateInsertDelete)->Unit(benchmark::kNanosecond);

// Bytes per state, measured with the allocator (mallinfo2) around creating
// 1M UDP states through the engine.
void BM_BytesPerState(benchmark::State& st) {
  for (auto _ : st) {
    const size_t before = mallinfo2().uordblks;
    EngineOptions o;
    o.limits.states = 2000000;
    o.purge_budget = 0;
    auto e = std::make_unique<Engine>(o);
    const InterfaceId ifp = e->AddInterface("em0");
    Ruleset rs;
    rs.rules.push_back(PassRule());
    e->LoadRuleset(rs);
    const uint32_t n = 1000000;
    for (uint32_t i = 0; i < n; ++i) {
      auto p = UdpPacket(0x0a000000 + (i >> 8), 0xc0000201, static_cast<uint16_t>(1024 + (i & 0xff)), 53);
      e->Test(Direction::kIn, ifp, p, kNow);
    }
    const size_t after = mallinfo2().uordblks;
    st.counters["bytes_per_state"] = static_cast<double>(after - before) / n;
    st.counters["sizeof_State"] = sizeof(State);
  }
}
BENCHMARK(BM_BytesPerState)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hapf::pf::engine

BENCHMARK_MAIN();
