// The daemon's filter (src/daemon/filter.cc) with 1 and 2 workers: HandleBatch
// of 32 packets of random established UDP flows, each tested in and out in one
// crossing (`once:1`, as with `queue-layout once`) or inbound only (`once:0`,
// the split layout's prerouting crossing, which takes the engine's batch
// pipeline), with and without the pfsync runtime's state store and sync engine
// attached (every passed packet's state is then reported to it). Real time;
// items/s is the total over workers. Each worker has flows of its own, as the
// kernel's queue balancing gives.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "daemon/config.h"
#include "daemon/filter.h"
#include "net/build.h"
#include "pf/lang_host.h"
#include "pf/lang_parser.h"
#include "pfsync/bridge_state.h"
#include "pfsync/engine.h"

namespace hapf::daemon {
namespace {

constexpr uint32_t kFlows = 40000;  // two states each: within pf's default limit of 100 000
constexpr size_t kBatch = 32;

std::vector<uint8_t> Udp(uint32_t src, uint16_t sport) {
  std::vector<uint8_t> buf(128);
  net::IpHeader ip;
  ip.src = net::IpAddr::V4(src);
  ip.dst = net::IpAddr::V4(0xcb007102);  // 203.0.113.2
  const uint8_t payload[18] = {};
  buf.resize(net::BuildUdp(buf, nullptr, ip, sport, 9, payload));
  return buf;
}

class DiscardSink : public pfsync::EngineSink {
 public:
  void Send(std::span<const uint8_t>) override {}
  void Demote(int, std::string_view) override {}
  void ReleaseDeferred(uint64_t) override {}
};

struct Fixture {
  explicit Fixture(bool with_pfsync) : filter(nullptr) {
    pf::StaticHostEnvironment env;
    filter.Load(ParseRuleset("pass proto udp\n", "pf.conf", env).ruleset);
    if (with_pfsync) {
      filter.WithEngine([&](pf::engine::Engine& e) {
        store = std::make_unique<pfsync::PfStateStore>(e);
        pfsync::EngineConfig cfg;
        cfg.creatorid = e.options().hostid;
        sync = std::make_unique<pfsync::SyncEngine>(cfg, *store, sink);
        store->AttachSync(sync.get());
        return 0;
      });
    }
    for (uint32_t i = 0; i < kFlows; ++i) bytes.push_back(Udp(0xc6336400 + (i >> 10), 1024 + (i & 1023)));
    // Every flow once through the write side: the states exist before timing.
    for (uint32_t i = 0; i < kFlows; i += kBatch) Run(i, 1, 63);
  }
  // Batch of packets i, i+step, ... from worker `w`; `once`: each tested in
  // and out in one crossing, else inbound only (the split layout's prerouting
  // crossing, which the filter hands to the engine's batch pipeline).
  void Run(uint32_t first, uint32_t step, int w, bool once = true) {
    linux::Packet pkts[kBatch];
    linux::Packet* ptrs[kBatch];
    linux::Decision ds[kBatch];
    for (size_t k = 0; k < kBatch; ++k) {
      std::vector<uint8_t>& b = bytes[(first + k * step) % kFlows];
      pkts[k].l3 = b;
      pkts[k].capacity = b.size();
      pkts[k].filter_in = true;
      pkts[k].filter_out = once;
      pkts[k].in = &in;
      pkts[k].out = &out;
      ptrs[k] = &pkts[k];
    }
    filter.HandleBatch(std::span(ptrs, kBatch), std::span(ds, kBatch), w);
  }

  linux::IfaceEntry in{1, "em0", "em0", "veth", 0, false, {"em"}};
  linux::IfaceEntry out{2, "em1", "em1", "veth", 0, false, {"em"}};
  Filter filter;
  DiscardSink sink;
  std::unique_ptr<pfsync::PfStateStore> store;
  std::unique_ptr<pfsync::SyncEngine> sync;
  std::vector<std::vector<uint8_t>> bytes;
};

void BM_FilterWorkers(benchmark::State& st) {
  static std::unique_ptr<Fixture> fx[2];
  const bool with_pfsync = st.range(0) != 0;
  const bool once = st.range(1) != 0;
  if (st.thread_index() == 0 && !fx[with_pfsync]) fx[with_pfsync] = std::make_unique<Fixture>(with_pfsync);
  // The kernel spreads flows over the queues by a flow hash, so each worker
  // sees flows of its own: worker t takes flows t, t + n, t + 2n, ...
  const uint32_t n = static_cast<uint32_t>(st.threads()), t = static_cast<uint32_t>(st.thread_index());
  uint32_t x = 12345u + t * 7919u;
  for (auto _ : st) {  // the loop starts on every thread once thread 0's setup is done
    x = x * 1664525u + 1013904223u;
    fx[with_pfsync]->Run(x % (kFlows / n) * n + t, n * 7, st.thread_index(), once);
  }
  st.SetItemsProcessed(st.iterations() * kBatch);
}
BENCHMARK(BM_FilterWorkers)
    ->ArgNames({"pfsync", "once"})
    ->ArgsProduct({{0, 1}, {1, 0}})
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hapf::daemon
BENCHMARK_MAIN();
