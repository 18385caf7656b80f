// nfq_testfw: the data plane with a fixed policy, so that namespace tests and
// the benchmark can prove the plumbing before the filter engine exists.
//
//   nfq_testfw [--mode block|rewrite|pass] [--queues N] [--layout split|once]
//              [--ready FILE] [--counts FILE] [--skip IF,IF...]
//
// block:   TCP port 80 dropped; TCP port 81 dropped with a RST back; UDP port 9
//          dropped with an ICMP/ICMPv6 port unreachable back; everything else
//          passes.
// rewrite: as pass, but inbound UDP to port 7000 is rewritten to port 7001.
// pass:    everything passes (the benchmark's mode).
// Every evaluated direction is counted as "<in|out> <hook> <ifname> <proto>".
// SIGTERM/SIGINT: the table is removed, the counts are written, exit 0.
#include <netinet/in.h>
#include <signal.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "linux/iface_table.h"
#include "linux/nfq_dataplane.h"
#include "linux/nfq_packet.h"
#include "linux/nfq_reply_sender.h"
#include "linux/nft_ruleset.h"
#include "net/addr.h"
#include "net/checksum.h"

namespace {

using namespace hapf::linux;
namespace net = hapf::net;

enum class Mode { kBlock, kRewrite, kPass };

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Load32(const uint8_t* p) { return (uint32_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
void Store16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
void Store32(uint8_t* p, uint32_t v) { Store16(p, static_cast<uint16_t>(v >> 16)); Store16(p + 2, static_cast<uint16_t>(v)); }

// Writes an IP header for a reply of `payload_len` bytes going back to the
// sender of `orig`; returns the header length.
size_t PutReplyIpHeader(std::span<const uint8_t> orig, uint8_t proto, size_t payload_len, uint8_t* out) {
  if ((orig[0] >> 4) == 4) {
    std::memset(out, 0, 20);
    out[0] = 0x45;
    Store16(out + 2, static_cast<uint16_t>(20 + payload_len));
    out[8] = 64;
    out[9] = proto;
    std::memcpy(out + 12, &orig[16], 4);
    std::memcpy(out + 16, &orig[12], 4);
    Store16(out + 10, net::Checksum({out, 20}));
    return 20;
  }
  std::memset(out, 0, 40);
  out[0] = 0x60;
  Store16(out + 4, static_cast<uint16_t>(payload_len));
  out[6] = proto;
  out[7] = 64;
  std::memcpy(out + 8, &orig[24], 16);
  std::memcpy(out + 24, &orig[8], 16);
  return 40;
}

// A TCP RST answering `orig` (RFC 793 reset generation).
std::vector<uint8_t> BuildRst(std::span<const uint8_t> orig, const L4Location& l4) {
  const uint8_t* th = &orig[l4.offset];
  const uint32_t data_offset = (th[12] >> 4) * 4u;
  const uint8_t flags = th[13];
  std::vector<uint8_t> out(60);
  size_t ip = PutReplyIpHeader(orig, IPPROTO_TCP, 20, out.data());
  uint8_t* t = out.data() + ip;
  std::memset(t, 0, 20);
  std::memcpy(t, th + 2, 2);
  std::memcpy(t + 2, th, 2);
  if (flags & 0x10) {  // ACK set: the RST takes its sequence from the ack
    std::memcpy(t + 4, th + 8, 4);
    t[13] = 0x04;
  } else {
    uint32_t len = l4.length - std::min(l4.length, data_offset) + ((flags & 0x02) ? 1 : 0) + ((flags & 0x01) ? 1 : 0);
    Store32(t + 8, Load32(th + 4) + len);
    t[13] = 0x14;
  }
  t[12] = 5 << 4;
  out.resize(ip + 20);
  WriteL4Checksum(out);
  return out;
}

// ICMP port unreachable (v4) or ICMPv6 port unreachable quoting `orig`.
std::vector<uint8_t> BuildPortUnreachable(std::span<const uint8_t> orig) {
  const bool v4 = (orig[0] >> 4) == 4;
  const size_t quote = std::min<size_t>(orig.size(), v4 ? 548 : 1232);
  std::vector<uint8_t> out(40 + 8 + quote);
  size_t ip = PutReplyIpHeader(orig, static_cast<uint8_t>(v4 ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6}), 8 + quote, out.data());
  uint8_t* m = out.data() + ip;
  std::memset(m, 0, 8);
  m[0] = v4 ? 3 : 1;
  m[1] = v4 ? 3 : 4;
  std::memcpy(m + 8, orig.data(), quote);
  out.resize(ip + 8 + quote);
  if (v4) {
    Store16(m + 2, net::Checksum({m, 8 + quote}));
  } else {
    WriteL4Checksum(out);
  }
  return out;
}

class TestPolicy : public PacketHandler {
 public:
  using Key = std::tuple<int, int, std::string, int>;  // dir, hook, ifname, proto

  TestPolicy(Mode mode, int workers, ReplySender& replies) : mode_(mode), counts_(workers), replies_(replies) {}

  Decision Handle(Packet& p, int worker) override {
    std::optional<L4Location> l4 = LocateL4(p.l3);
    const int proto = l4 ? l4->protocol : -1;
    auto& counts = counts_[worker];
    // Per worker, so no lock; names are only copied on a key's first packet.
    if (p.filter_in) Bump(counts, 0, p, p.in, proto);
    if (p.filter_out) Bump(counts, 1, p, p.out, proto);
    if (!l4 || l4->length < 4) return {};
    const uint8_t* l4p = &p.l3[l4->offset];
    const uint16_t dport = Load16(l4p + 2);
    if (mode_ == Mode::kBlock) {
      if (proto == IPPROTO_TCP && l4->length >= 20 && dport == 80) return {Verdict::kDrop};
      if (proto == IPPROTO_TCP && l4->length >= 20 && dport == 81) {
        if ((l4p[13] & 0x04) == 0) replies_.Send(BuildRst(p.l3, *l4));
        return {Verdict::kDrop};
      }
      if (proto == IPPROTO_UDP && dport == 9) {
        replies_.Send(BuildPortUnreachable(p.l3));
        return {Verdict::kDrop};
      }
    }
    if (mode_ == Mode::kRewrite && p.filter_in && proto == IPPROTO_UDP && l4->length >= 8 && dport == 7000) {
      uint8_t* u = &p.l3[l4->offset];
      Store16(u + 2, 7001);
      // Incremental update, as NAT will do; a zero UDP checksum stays "none".
      const uint16_t check = Load16(u + 6);
      if (check != 0 || (p.l3[0] >> 4) == 6) Store16(u + 6, net::ChecksumAdjust16(check, 7000, 7001));
      return {Verdict::kAcceptRewritten, p.l3.size()};
    }
    return {};
  }

  void Write(std::FILE* out) const {
    std::map<Key, uint64_t> total;
    for (const auto& m : counts_) {
      for (const auto& [k, v] : m) total[k] += v;
    }
    for (const auto& [k, v] : total) {
      std::fprintf(out, "%s %s %s %d %llu\n", std::get<0>(k) == 0 ? "in" : "out",
                   HookName(static_cast<Hook>(std::get<1>(k))), std::get<2>(k).c_str(), std::get<3>(k),
                   static_cast<unsigned long long>(v));
    }
  }

 private:
  struct ShortKey {
    int dir, hook;
    uint32_t ifindex;
    int proto;
    auto operator<=>(const ShortKey&) const = default;
  };
  static void Bump(std::map<Key, uint64_t>& counts, int dir, const Packet& p, const IfaceEntry* iface, int proto) {
    static thread_local std::map<ShortKey, uint64_t*> fast;
    ShortKey sk{dir, static_cast<int>(p.hook), iface ? iface->index : 0, proto};
    auto it = fast.find(sk);
    if (it == fast.end()) {
      // "fw1[carp0],carp": the rule name, the kernel's name when it differs,
      // and the carp group.
      std::string name = "?";
      if (iface != nullptr) {
        name = iface->rule_name;
        if (iface->name != iface->rule_name) name += "[" + iface->name + "]";
        if (iface->carp) name += ",carp";
      }
      Key k{dir, static_cast<int>(p.hook), name, proto};
      it = fast.emplace(sk, &counts[k]).first;
    }
    ++*it->second;
  }

  Mode mode_;
  std::vector<std::map<Key, uint64_t>> counts_;
  ReplySender& replies_;
};

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "nfq_testfw: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Mode mode = Mode::kBlock;
  RulesetSpec spec;
  DataPlaneConfig config;
  std::string ready_file, counts_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string v = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--mode") {
      mode = v == "rewrite" ? Mode::kRewrite : v == "pass" ? Mode::kPass : Mode::kBlock;
    } else if (a == "--queues") {
      config.queue_count = static_cast<uint16_t>(std::max(1, std::atoi(v.c_str())));
    } else if (a == "--layout") {
      config.layout = v == "once" ? QueueLayout::kOnce : QueueLayout::kSplit;
    } else if (a == "--ready") {
      ready_file = v;
    } else if (a == "--counts") {
      counts_file = v;
    } else if (a == "--skip") {
      config.skip = SplitComma(v);
    } else {
      return Fail("unknown argument " + a);
    }
    ++i;
  }
  spec = config.Ruleset();

  // Signals are taken synchronously by the main thread; workers never see them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  ReplySender replies;
  if (std::string err = replies.Open(spec.generated_mark); !err.empty()) return Fail(err);
  IfaceRegistry ifaces;
  if (std::string err = ifaces.StartWatching(); !err.empty()) return Fail(err);
  TestPolicy policy(mode, config.queue_count, replies);
  DataPlane dataplane(config, ifaces, policy);
  // Queues first, then the table: no packet is queued before a reader exists.
  if (std::string err = dataplane.Start(); !err.empty()) return Fail(err);
  Ruleset ruleset(spec);
  if (std::string err = ruleset.Install(); !err.empty()) return Fail(err);
  std::fprintf(stderr, "nfq_testfw: table inet %s installed (%s queueing), %d queue(s)\n", spec.table.c_str(),
               ruleset.backend() == QueueBackend::kNative ? "native" : "x_tables NFQUEUE", config.queue_count);
  if (!ready_file.empty()) std::ofstream(ready_file) << "ready\n";

  int sig = 0;
  sigwait(&set, &sig);

  std::string err = ruleset.Remove();
  dataplane.Stop();
  ifaces.StopWatching();
  std::FILE* out = counts_file.empty() ? stdout : std::fopen(counts_file.c_str(), "w");
  if (out == nullptr) return Fail("cannot write " + counts_file);
  policy.Write(out);
  uint64_t packets = 0, batches = 0, messages = 0, overruns = 0, errors = 0, gso = 0;
  for (int w = 0; w < dataplane.worker_count(); ++w) {
    const WorkerCounters& c = dataplane.counters(w);
    packets += c.packets;
    batches += c.batches;
    messages += c.verdict_messages;
    overruns += c.overruns;
    errors += c.errors;
    gso += c.gso;
  }
  std::fprintf(out, "# packets %llu batches %llu verdict_messages %llu gso %llu overruns %llu errors %llu\n",
               static_cast<unsigned long long>(packets), static_cast<unsigned long long>(batches),
               static_cast<unsigned long long>(messages), static_cast<unsigned long long>(gso),
               static_cast<unsigned long long>(overruns),
               static_cast<unsigned long long>(errors));
  if (out != stdout) std::fclose(out);
  if (!err.empty()) return Fail(err);
  return 0;
}
