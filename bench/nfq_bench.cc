// The data plane's per-packet user-space costs, machine-load independent
// enough to compare changes: verdict merging, checksum completion, interface
// lookup.
#include <benchmark/benchmark.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include <string>
#include <vector>

#include "linux/iface_table.h"
#include "linux/nfq_dataplane.h"
#include "linux/nfq_packet.h"

namespace {

using namespace hapf::linux;

void BM_VerdictWriterBatchOf32Accepts(benchmark::State& state) {
  VerdictWriter w(0, 1 << 16);
  uint32_t id = 1;
  for (auto _ : state) {
    for (int i = 0; i < 32; ++i) benchmark::DoNotOptimize(w.Add(id++, Verdict::kAccept));
    benchmark::DoNotOptimize(w.Finish().size());
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK(BM_VerdictWriterBatchOf32Accepts);

void BM_VerdictWriterAlternating(benchmark::State& state) {
  VerdictWriter w(0, 1 << 16);
  uint32_t id = 1;
  for (auto _ : state) {
    for (int i = 0; i < 32; ++i) benchmark::DoNotOptimize(w.Add(id++, i % 2 ? Verdict::kDrop : Verdict::kAccept));
    benchmark::DoNotOptimize(w.Finish().size());
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK(BM_VerdictWriterAlternating);

std::vector<uint8_t> UdpPacket(size_t total) {
  std::vector<uint8_t> p(total, 0x5a);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[6] = p[7] = 0;
  p[9] = 17;
  p[24] = static_cast<uint8_t>((total - 20) >> 8);
  p[25] = static_cast<uint8_t>(total - 20);
  return p;
}

void BM_WriteUdpChecksum(benchmark::State& state) {
  std::vector<uint8_t> p = UdpPacket(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(WriteL4Checksum(p));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_WriteUdpChecksum)->Arg(46)->Arg(1500)->Arg(65000);

// Per packet: the generation check a worker makes per batch plus two lookups.
void BM_IfaceViewRefreshAndFind(benchmark::State& state) {
  IfaceRegistry reg;
  for (uint32_t index = 1; index <= 8; ++index) {
    std::vector<uint8_t> buf(1024);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_NEWLINK;
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifi->ifi_index = static_cast<int>(index);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, ("em" + std::to_string(index)).c_str());
    reg.ApplyLinkMessage(nlh);
  }
  IfaceView view(reg);
  uint32_t i = 0;
  for (auto _ : state) {
    view.Refresh();
    benchmark::DoNotOptimize(view.Find(1 + (i++ & 7)));
    benchmark::DoNotOptimize(view.Find(1 + (i & 7)));
  }
}
BENCHMARK(BM_IfaceViewRefreshAndFind);

}  // namespace

BENCHMARK_MAIN();
