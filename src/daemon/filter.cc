#include "daemon/filter.h"

#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <shared_mutex>
#include <stdexcept>

#include "net/build.h"
#include "pf/lang_printer.h"
#include "pf/pflog_record.h"
#include "pf/ruleset_compile.h"

namespace hapf::daemon {

namespace eng = pf::engine;

int64_t WallNowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

namespace {

// OpenBSD's /etc/protocols names, as pfctl prints them (Linux's own file calls
// 112 "vrrp" and has no 240).
const char* ProtoName(uint8_t proto) {
  switch (proto) {
    case 1: return "icmp";
    case 2: return "igmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 41: return "ipv6";
    case 47: return "gre";
    case 50: return "esp";
    case 51: return "ah";
    case 58: return "ipv6-icmp";
    case 103: return "pim";
    case 112: return "carp";
    case 132: return "sctp";
    case 240: return "pfsync";
    default: return nullptr;
  }
}

// pfctl's print_host: the address, then ":port" (IPv4) or "[port]" (IPv6).
std::string Host(const net::IpAddr& a, uint16_t port, bool with_port) {
  std::string s = a.ToString();
  if (!with_port) return s;
  const bool v6 = a.family() == net::Family::kV6;
  s += v6 ? '[' : ':';
  s += std::to_string(port);
  if (v6) s += ']';
  return s;
}

constexpr const char* kTcpStates[] = {"CLOSED",      "LISTEN",     "SYN_SENT",  "SYN_RCVD",
                                      "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "CLOSING",
                                      "LAST_ACK",    "FIN_WAIT_2", "TIME_WAIT"};
constexpr const char* kUdpStates[] = {"NO_TRAFFIC", "SINGLE", "MULTIPLE"};

std::string FormatDuration(uint32_t secs) {
  char b[32];
  std::snprintf(b, sizeof b, "%02u:%02u:%02u", secs / 3600, (secs / 60) % 60, secs % 60);
  return b;
}

}  // namespace

std::string FormatStateLine(const eng::StateExport& s) {
  // pfctl prints from the point of view of the state's direction: for an
  // outbound state the stack key's source "->" the wire side; for inbound the
  // wire key's destination "<-" its source, with the other key in parentheses
  // where translation made them differ.
  const bool out = s.direction == 2;
  eng::StateKeyExport sk = out ? s.key[1] : s.key[0];
  eng::StateKeyExport nk = out ? s.key[0] : s.key[1];
  const bool icmp = s.proto == 1 || s.proto == 58;
  if (icmp) {
    if (out) sk.port[0] = nk.port[0];
    else sk.port[1] = nk.port[1];
  }
  const bool ports = s.proto == 6 || s.proto == 17 || icmp;
  std::string line = s.ifname + " ";
  const char* name = ProtoName(s.proto);
  line += name ? name : std::to_string(s.proto);
  line += " ";
  line += Host(nk.addr[1], nk.port[1], ports);
  if (nk.addr[1] != sk.addr[1] || nk.port[1] != sk.port[1]) line += " (" + Host(sk.addr[1], sk.port[1], ports) + ")";
  line += out ? " -> " : " <- ";
  line += Host(nk.addr[0], nk.port[0], ports);
  if (nk.addr[0] != sk.addr[0] || nk.port[0] != sk.port[0]) line += " (" + Host(sk.addr[0], sk.port[0], ports) + ")";
  line += "    ";
  const eng::PeerExport& src = out ? s.src : s.dst;
  const eng::PeerExport& dst = out ? s.dst : s.src;
  if (s.proto == 6 && src.state <= 10 && dst.state <= 10) {
    line += std::string("   ") + kTcpStates[src.state] + ":" + kTcpStates[dst.state];
  } else if (s.proto == 6 && (src.state == eng::kTcpProxySrc || dst.state == eng::kTcpProxySrc)) {
    line += "   PROXY:SRC";  // pfctl's words for synproxy's two handshakes
  } else if (s.proto == 6 && (src.state == eng::kTcpProxyDst || dst.state == eng::kTcpProxyDst)) {
    line += "   PROXY:DST";
  } else if (s.proto != 6 && !icmp && src.state < 3 && dst.state < 3) {
    line += std::string("   ") + kUdpStates[src.state] + ":" + kUdpStates[dst.state];
  } else {
    line += "   " + std::to_string(src.state) + ":" + std::to_string(dst.state);
  }
  return line;
}

std::optional<std::string> SplitLayoutConflict(const pf::Ruleset& ruleset, const std::string& filename) {
  for (const pf::Rule& r : ruleset.rules) {
    if ((!r.tagged.empty() || r.received_on) && r.direction != pf::Direction::kIn)
      return filename + ":" + std::to_string(r.line) +
             ": tagged and received-on on outbound rules need queue-layout once in hapfd.conf (with queue-layout "
             "split a forwarded packet crosses the queue twice and its tag and receiving interface are not carried "
             "from one crossing to the other)";
    if (r.anchor_body) {
      if (auto e = SplitLayoutConflict(*r.anchor_body, filename)) return e;
    }
  }
  return std::nullopt;
}

std::optional<std::string> OnceLayoutConflict(const pf::Ruleset& ruleset, const std::string& filename) {
  for (const pf::Rule& r : ruleset.rules) {
    if (!r.rdr.empty() || r.binat)
      return filename + ":" + std::to_string(r.line) +
             ": rdr-to and binat-to need queue-layout split in hapfd.conf (with queue-layout once a "
             "forwarded packet is judged after routing)";
    if (r.anchor_body) {
      if (auto e = OnceLayoutConflict(*r.anchor_body, filename)) return e;
    }
  }
  return std::nullopt;
}

namespace {

void FillRandom(void* buf, size_t len) {
  auto* p = static_cast<uint8_t*>(buf);
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("getrandom failed");
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
}

// Kernel randomness drawn a block at a time, so a new modulated or translated
// state costs no syscall.
class BlockRandom {
 public:
  uint32_t Next() {
    if (next_ == buf_.size()) {
      FillRandom(buf_.data(), sizeof(uint32_t) * buf_.size());
      next_ = 0;
    }
    return buf_[next_++];
  }

 private:
  std::array<uint32_t, 1024> buf_{};
  size_t next_ = buf_.size();
};

}  // namespace

eng::EngineOptions DaemonEngineOptions(int64_t wall_now_ns) {
  eng::EngineOptions o;
  // pf's defaults: a random hostid per start unless pf.conf sets one, and state
  // ids counting from (seconds at start) << 32. Two firewalls sharing a
  // creatorid, or a restarted one counting from 1 again, would hand out ids
  // that already name a replicated state on the peer.
  do FillRandom(&o.hostid, sizeof o.hostid);
  while (o.hostid == 0);
  o.state_id_base = static_cast<uint64_t>(wall_now_ns / 1000000000) << 32;
  // ISN modulation and port choice must not be predictable.
  auto rng = std::make_shared<BlockRandom>();
  o.random = [rng] { return rng->Next(); };
  return o;
}

RwLock::RwLock() {
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&lock_, &attr);
  pthread_rwlockattr_destroy(&attr);
}

Filter::Filter(linux::ReplySender* replies, linux::ReplySender* forwards)
    : replies_(replies),
      forwards_(forwards), engine_(DaemonEngineOptions(WallNowNs())), enabled_since_(WallNowNs()) {}

eng::InterfaceId Filter::InterfaceFor(const linux::IfaceEntry* e) {
  if (e == nullptr) return 0;
  eng::InterfaceId id = engine_.FindInterface(e->rule_name);
  if (id != 0) return id;
  id = engine_.AddInterface(e->rule_name);
  for (const std::string& g : e->groups) engine_.AddToGroup(id, g);
  if (e->carp) engine_.AddToGroup(id, "carp");
  return id;
}

namespace {

// pfsync never defers multicast or broadcast packets; broadcast is not known
// here, multicast by its address.
bool MulticastDestination(std::span<const uint8_t> l3) {
  if (l3.empty()) return false;
  if ((l3[0] >> 4) == 4) return l3.size() >= 20 && (l3[16] & 0xf0) == 0xe0;
  return l3.size() >= 40 && l3[24] == 0xff;
}

}  // namespace

linux::Decision Filter::JudgeLocked(linux::Packet& packet, int64_t now, std::vector<std::vector<uint8_t>>& replies,
                                    std::vector<std::vector<uint8_t>>& forwards, std::vector<uint8_t>* log,
                                    const Progress* from) {
  static constexpr Progress kFromStart;
  if (from == nullptr) from = &kFromStart;
  linux::Decision d;
  bool rewritten = from->rewritten;
  // pfsync defer: the packet that creates a state waits for the peer's ack.
  const bool defer = sync_ != nullptr && keeper_ != nullptr && !synthetic_ && sync_->defer() &&
                     !MulticastDestination(packet.l3);
  const uint64_t handle = (uint64_t{packet.queue} << 32) | packet.id;
  bool hold = false;
  // What the inbound test gives the outbound one when both happen in this
  // crossing (queue-layout once, or a local packet): the pf tag and the
  // receiving interface (`received-on`).
  uint16_t tag = from->tag;
  auto test = [&](eng::Direction dir, const linux::IfaceEntry* iface) {
    if (defer && !hold) sync_->ArmDeferral(handle);
    const eng::InterfaceId rcvif = dir == eng::Direction::kOut && packet.in ? InterfaceFor(packet.in) : 0;
    eng::Verdict v = engine_.Test(dir, InterfaceFor(iface), packet.l3, now, tag, rcvif);
    tag = v.tag;
    if (defer && !hold) hold = sync_->DisarmDeferral();
    rewritten |= v.rewritten;
    // The packet as it leaves this test (translated when a rule rewrote it).
    if (v.log && log != nullptr) eng::AppendPflogRecord(*log, now, v.pflog, packet.l3);
    if (v.action != eng::Action::kPass) {
      d.verdict = linux::Verdict::kDrop;
      if (!v.reply.empty()) replies.push_back(std::move(v.reply));
      if (!v.forward.empty()) forwards.push_back(std::move(v.forward));
    }
  };
  if (packet.filter_in && !from->in_done) test(eng::Direction::kIn, packet.in);
  if (d.verdict != linux::Verdict::kDrop && packet.filter_out) test(eng::Direction::kOut, packet.out);
  if (d.verdict == linux::Verdict::kDrop) return d;  // a later release finds nothing held
  if (rewritten) {
    d.verdict = linux::Verdict::kAcceptRewritten;
    d.new_length = packet.l3.size();
  }
  if (hold) {
    keeper_->Hold(packet, rewritten ? packet.l3.size() : 0);
    d.verdict = linux::Verdict::kHold;
  }
  return d;
}

bool Filter::JudgeShared(linux::Packet& packet, int64_t now, eng::Engine::SharedContext& ctx,
                         std::vector<uint8_t>* log, linux::Decision& d, Progress& progress) {
  progress = Progress{};
  d = linux::Decision{};
  eng::Verdict v;
  // Interfaces are created on first sight, which is the write side's job.
  auto ifp_of = [&](const linux::IfaceEntry* e, eng::InterfaceId& id) {
    id = e == nullptr ? 0 : engine_.FindInterface(e->rule_name);
    return e == nullptr || id != 0;
  };
  auto test = [&](eng::Direction dir, const linux::IfaceEntry* iface) {
    eng::InterfaceId ifp = 0;
    if (!ifp_of(iface, ifp)) return false;
    // No receiving interface: only rules look at it, and the shared path runs none.
    if (!engine_.TestShared(dir, ifp, packet.l3, now, progress.tag, 0, ctx, v)) return false;
    progress.tag = v.tag;
    progress.rewritten |= v.rewritten;
    if (v.log && log != nullptr) eng::AppendPflogRecord(*log, now, v.pflog, packet.l3);
    if (v.action != eng::Action::kPass) d.verdict = linux::Verdict::kDrop;  // no reply: a state's block is silent
    return true;
  };
  if (packet.filter_in) {
    if (!test(eng::Direction::kIn, packet.in)) return false;
    progress.in_done = true;
  }
  if (d.verdict != linux::Verdict::kDrop && packet.filter_out && !test(eng::Direction::kOut, packet.out)) return false;
  if (d.verdict != linux::Verdict::kDrop && progress.rewritten) {
    d.verdict = linux::Verdict::kAcceptRewritten;
    d.new_length = packet.l3.size();
  }
  return true;
}

size_t Filter::JudgeSharedBatch(std::span<linux::Packet* const> packets, int64_t now,
                                eng::Engine::SharedContext& ctx, std::vector<uint8_t>* log,
                                std::span<linux::Decision> decisions) {
  // One test per packet (the split layout, local traffic): the engine's batch
  // pipeline, its state lookups prefetched across the batch. A packet tested
  // both ways in one crossing (the once layout) goes one by one.
  thread_local std::vector<eng::Engine::BatchPacket> batch;
  thread_local std::vector<eng::Verdict> verdicts;
  thread_local std::unique_ptr<bool[]> taken;  // not vector<bool>: the engine wants a span of bool
  thread_local size_t taken_size = 0;
  batch.clear();
  for (linux::Packet* p : packets) {
    if (p->filter_in == p->filter_out) break;
    const linux::IfaceEntry* iface = p->filter_in ? p->in : p->out;
    eng::Engine::BatchPacket b;
    b.dir = p->filter_in ? eng::Direction::kIn : eng::Direction::kOut;
    b.ifp = iface == nullptr ? 0 : engine_.FindInterface(iface->rule_name);
    if (iface != nullptr && b.ifp == 0) break;  // new to the engine: the write side adds it
    b.pkt = p->l3;
    batch.push_back(b);
  }
  if (batch.size() < 2) return 0;  // nothing to overlap: one by one
  verdicts.resize(batch.size());
  if (taken_size < batch.size()) {
    taken = std::make_unique<bool[]>(batch.size());
    taken_size = batch.size();
  }
  engine_.TestSharedBatch(batch, now, ctx, verdicts, std::span<bool>(taken.get(), batch.size()), true);
  size_t done = 0;
  for (; done < batch.size() && taken[done]; ++done) {
    const eng::Verdict& v = verdicts[done];
    linux::Packet& packet = *packets[done];
    linux::Decision& d = decisions[done];
    d = linux::Decision{};
    if (v.log && log != nullptr) eng::AppendPflogRecord(*log, now, v.pflog, packet.l3);
    if (v.action != eng::Action::kPass) {
      d.verdict = linux::Verdict::kDrop;
    } else if (v.rewritten) {
      d.verdict = linux::Verdict::kAcceptRewritten;
      d.new_length = packet.l3.size();
    }
  }
  return done;
}

eng::Engine::SharedContext& Filter::WorkerContext(int worker) {
  std::unique_ptr<eng::Engine::SharedContext>& slot = worker_ctx_[static_cast<size_t>(worker)];
  if (!slot) {
    std::lock_guard lock(mu_);
    slot = std::make_unique<eng::Engine::SharedContext>();
  }
  return *slot;
}

void Filter::MergeWorkersLocked() {
  const int64_t now = WallNowNs();
  for (auto& ctx : worker_ctx_) {
    if (ctx) engine_.MergeShared(*ctx, now);
  }
}

void Filter::PurgeTick(int64_t now) {
  std::lock_guard lock(mu_);
  MergeWorkersLocked();
  if (sync_ != nullptr) sync_->BatchDone();  // what the merge queued leaves now
  const uint32_t interval = std::max<uint32_t>(engine_.options().timeouts.v[eng::kTmInterval], 1);
  // pf visits 1 + states/interval states a second; ten calls a second share that.
  const size_t budget = 64 + engine_.states().size() / (size_t{interval} * 10);
  engine_.Purge(now, budget);
}

linux::Decision Filter::Handle(linux::Packet& packet, int worker) {
  linux::Decision d;
  linux::Packet* one = &packet;
  HandleBatch(std::span<linux::Packet* const>(&one, 1), std::span<linux::Decision>(&d, 1), worker);
  return d;
}

void Filter::HandleBatch(std::span<linux::Packet* const> packets, std::span<linux::Decision> decisions, int worker) {
  handled_.fetch_add(packets.size(), std::memory_order_relaxed);
  if (!enabled_.load(std::memory_order_relaxed)) {  // pfctl -d: pf passes everything
    for (linux::Decision& d : decisions) d = linux::Decision{};
    return;
  }
  const int64_t now = WallNowNs();
  std::vector<std::vector<uint8_t>> replies;   // empty unless block return or synproxy answered
  std::vector<std::vector<uint8_t>> forwards;  // synproxy's segments to servers
  // The batch's pflog records, kept per worker thread so that its capacity is reused.
  thread_local std::vector<uint8_t> log;
  log.clear();
  linux::PflogWriter* pflog = nullptr;
  size_t done = 0;
  Progress progress;
  eng::Engine::SharedContext* ctx = worker >= 0 && worker < kMaxWorkers ? &WorkerContext(worker) : nullptr;
  if (ctx != nullptr) {
    std::shared_lock lock(mu_);
    pflog = pflog_;
    // pfsync defer holds the first packet of a new state; the shared path
    // creates none, so it never has to arm anything.
    done = JudgeSharedBatch(packets, now, *ctx, pflog != nullptr ? &log : nullptr, decisions);
    while (done < packets.size() &&
           JudgeShared(*packets[done], now, *ctx, pflog != nullptr ? &log : nullptr, decisions[done], progress)) {
      ++done;
    }
    eng::Engine::FlushRuleCounters(*ctx);  // while the rules it points to cannot change
    if (done != 0) shared_.fetch_add(done, std::memory_order_relaxed);
    // pfsync hears of the states passed on still on the read side, under a
    // lock of its own: the other workers' packets go on meanwhile (taking the
    // write side for this made two workers slower than one). The write side
    // excludes every reader, so the sync runtime is never entered twice.
    if (done == packets.size() && !ctx->updated.empty()) {
      std::lock_guard sync_lock(sync_mu_);
      engine_.ReportShared(*ctx, now);
      if (sync_ != nullptr) sync_->BatchDone();
    }
  }
  // The write side: the rest of the batch, in order.
  if (done < packets.size()) {
    std::lock_guard lock(mu_);
    pflog = pflog_;
    if (ctx != nullptr) engine_.MergeShared(*ctx, now);
    for (size_t i = done; i < packets.size(); ++i) {
      decisions[i] = JudgeLocked(*packets[i], now, replies, forwards, pflog != nullptr ? &log : nullptr,
                                 i == done ? &progress : nullptr);
    }
    if (sync_ != nullptr) sync_->BatchDone();
  }
  // One write for the whole batch, outside the packet lock (the writer has its own).
  if (!log.empty()) pflog->Append(log);
  // Replies leave outside the lock: a send may block briefly.
  if (replies_ != nullptr) {
    for (const std::vector<uint8_t>& r : replies) replies_->Send(r);
  }
  if (forwards_ != nullptr) {
    for (const std::vector<uint8_t>& r : forwards) forwards_->Send(r);
  }
}

std::vector<std::string> Filter::Load(const pf::Ruleset& ruleset) {
  std::lock_guard lock(mu_);
  source_ = ruleset;
  return CompileLocked();
}

std::vector<std::string> Filter::LoadAnchor(const std::string& anchor, const pf::Ruleset& ruleset) {
  std::lock_guard lock(mu_);
  anchors_[anchor] = ruleset;
  return CompileLocked();
}

void Filter::FlushAnchorRules(const std::string& anchor) {
  std::lock_guard lock(mu_);
  anchors_[anchor] = pf::Ruleset{};
  CompileLocked();
}

std::vector<std::string> Filter::CompileLocked() {
  if (anchors_.empty()) return eng::CompileAndLoad(source_, engine_).warnings;
  // The anchor rules get the loaded bodies; source_ keeps what was written.
  pf::Ruleset merged = source_;
  for (pf::Rule& r : merged.rules) {
    if (r.action != pf::Action::kAnchor) continue;
    auto it = anchors_.find(r.anchor_name);
    if (it != anchors_.end()) r.anchor_body = std::make_shared<pf::Ruleset>(it->second);
  }
  return eng::CompileAndLoad(merged, engine_).warnings;
}

const pf::Ruleset* Filter::AnchorSource(const std::string& name) const {
  if (auto it = anchors_.find(name); it != anchors_.end()) return &it->second;
  for (const pf::Rule& r : source_.rules) {
    if (r.action == pf::Action::kAnchor && r.anchor_name == name) {
      static const pf::Ruleset kEmpty;
      return r.anchor_body ? r.anchor_body.get() : &kEmpty;
    }
  }
  return nullptr;
}

bool Filter::ShowRules(int verbose, const std::string& anchor, std::string& out) {
  std::lock_guard lock(mu_);
  const pf::Ruleset* src = &source_;
  const eng::Ruleset* compiled = &engine_.main_ruleset();
  if (!anchor.empty()) {
    src = AnchorSource(anchor);
    if (src == nullptr) return false;
    // Counters live in the engine's copy of the anchor the main rule evaluates.
    compiled = nullptr;
    for (const eng::Rule& r : engine_.main_ruleset().rules) {
      if (r.anchor >= 0 && r.anchor_name == anchor) {
        compiled = &engine_.anchor(static_cast<size_t>(r.anchor));
        break;
      }
    }
  }
  // `once` rules that have fired are gone from the listing, as in pfctl -sr.
  std::vector<size_t> shown;  // compiled index of each listed top-level rule
  const size_t ncompiled = compiled ? compiled->rules.size() : 0;
  for (size_t i = 0; i < src->rules.size(); ++i)
    if (i >= ncompiled || !compiled->rules[i].expired) shown.push_back(i);
  pf::Ruleset live;
  if (shown.size() != src->rules.size()) {
    live = *src;
    live.rules.clear();
    for (size_t i : shown) live.rules.push_back(src->rules[i]);
    src = &live;
  }
  std::string text = pf::FormatRules(*src, 0, verbose > 1);
  if (verbose == 0) {
    out = std::move(text);
    return true;
  }
  // -v: pfctl's counter line after each rule (top-level rules map one to one).
  size_t pos = 0, nr = 0;
  const size_t count = compiled ? compiled->rules.size() : 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out.append(text, pos, nl - pos);
    out += '\n';
    if (text.compare(pos, 2, "  ") != 0 && text.compare(pos, 1, "}") != 0) {
      uint64_t evaluations = 0, packets = 0, bytes = 0;
      uint32_t states = 0;
      if (nr < shown.size() && shown[nr] < count) {
        const eng::Rule& r = compiled->rules[shown[nr]];
        evaluations = r.evaluations;
        packets = r.packets[0] + r.packets[1];
        bytes = r.bytes[0] + r.bytes[1];
        states = r.states_cur;
      }
      ++nr;
      char b[200];
      std::snprintf(b, sizeof b, "  [ Evaluations: %-8llu Packets: %-8llu Bytes: %-10llu States: %-6u]\n",
                    static_cast<unsigned long long>(evaluations), static_cast<unsigned long long>(packets),
                    static_cast<unsigned long long>(bytes), states);
      out += b;
    }
    pos = nl + 1;
  }
  return true;
}

std::string Filter::ShowStates(int verbose) {
  std::lock_guard lock(mu_);
  const int64_t now = WallNowNs();
  std::string out;
  std::vector<uint32_t> live;
  engine_.states().ForEach([&](uint32_t idx, eng::State&) { live.push_back(idx); });
  for (uint32_t idx : live) {
    eng::StateExport e = engine_.Export(idx, now);
    out += FormatStateLine(e) + "\n";
    if (verbose > 0) {
      char b[200];
      std::snprintf(b, sizeof b, "   age %s, expires in %s, %llu:%llu pkts, %llu:%llu bytes",
                    FormatDuration(e.creation).c_str(), FormatDuration(e.expire).c_str(),
                    static_cast<unsigned long long>(e.packets[0]), static_cast<unsigned long long>(e.packets[1]),
                    static_cast<unsigned long long>(e.bytes[0]), static_cast<unsigned long long>(e.bytes[1]));
      out += b;
      if (e.rule != eng::kNoRule) out += ", rule " + std::to_string(e.rule);
      out += "\n";
      if (verbose > 1) {
        std::snprintf(b, sizeof b, "   id: %016llx creatorid: %08x\n", static_cast<unsigned long long>(e.id),
                      e.creatorid);
        out += b;
      }
    }
  }
  return out;
}

std::string Filter::ShowInfo(int verbose) {
  std::lock_guard lock(mu_);
  MergeWorkersLocked();
  const int64_t secs = (WallNowNs() - enabled_since_) / 1000000000;
  char b[160];
  std::snprintf(b, sizeof b, "Status: %s for %lld days %02lld:%02lld:%02lld           Debug: err\n\n",
                enabled() ? "Enabled" : "Disabled", static_cast<long long>(secs / 86400),
                static_cast<long long>(secs / 3600 % 24), static_cast<long long>(secs / 60 % 60),
                static_cast<long long>(secs % 60));
  std::string out = b;
  if (verbose > 0) {
    std::snprintf(b, sizeof b, "Hostid:   0x%08x\n\n", engine_.options().hostid);
    out += b;
  }
  return out + engine_.StatusText();
}

std::string Filter::ShowLabels() {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [label, c] : engine_.Labels()) {
    out += label + " " + std::to_string(c.evaluations) + " " + std::to_string(c.packets) + " " +
           std::to_string(c.bytes) + " " + std::to_string(c.states) + "\n";
  }
  return out;
}

std::string Filter::ShowTimeouts() {
  static constexpr const char* kNames[eng::kTmCount] = {
      "tcp.first",    "tcp.opening",    "tcp.established", "tcp.closing",    "tcp.finwait",
      "tcp.closed",   "udp.first",      "udp.single",      "udp.multiple",   "icmp.first",
      "icmp.error",   "other.first",    "other.single",    "other.multiple", "frag",
      "interval",     "adaptive.start", "adaptive.end",    "src.track",      "tcp.tsdiff"};
  std::lock_guard lock(mu_);
  const eng::Timeouts& t = engine_.options().timeouts;
  std::string out;
  char b[96];
  for (int i = 0; i < eng::kTmCount; ++i) {
    if (i == eng::kTmTcpTsDiff) continue;  // pfctl does not list it
    if (i == eng::kTmAdaptiveStart || i == eng::kTmAdaptiveEnd)
      std::snprintf(b, sizeof b, "%-20s %10u states\n", kNames[i], t.v[i]);
    else
      std::snprintf(b, sizeof b, "%-20s %10us\n", kNames[i], t.v[i]);
    out += b;
  }
  return out;
}

std::string Filter::ShowMemory() {
  std::lock_guard lock(mu_);
  const eng::Limits& l = engine_.options().limits;
  std::string out;
  char b[96];
  auto row = [&](const char* name, uint32_t v) {
    std::snprintf(b, sizeof b, "%-13s hard limit %8u\n", name, v);
    out += b;
  };
  row("states", l.states);
  row("src-nodes", l.src_nodes);
  row("frags", l.frags);
  row("tables", l.tables);
  row("table-entries", l.table_entries);
  return out;
}

std::string Filter::ShowTables(int verbose) {
  std::lock_guard lock(mu_);
  std::string out;
  for (const pf::Table& t : source_.tables) {
    out += (verbose > 0 ? "-pa-r--\t" : "") + t.name + "\n";
  }
  return out;
}

size_t Filter::KillStates(const std::vector<net::IpAddr>& sources) {
  std::lock_guard lock(mu_);
  if (sources.empty()) {
    size_t n = engine_.states().size();
    engine_.FlushStates();
    return n;
  }
  size_t n = 0;
  for (const net::IpAddr& a : sources) n += engine_.KillStatesFrom(a);
  return n;
}

namespace {

// Every (src, dst) pair of the two lists; no destination means any.
template <typename Kill>
size_t KillPairs(const std::vector<net::Prefix>& srcs, const std::vector<net::Prefix>& dsts, Kill kill) {
  size_t n = 0;
  for (const net::Prefix& s : srcs) {
    if (dsts.empty()) n += kill(s, nullptr);
    for (const net::Prefix& d : dsts) n += kill(s, &d);
  }
  return n;
}

}  // namespace

size_t Filter::KillStates(const std::vector<net::Prefix>& srcs, const std::vector<net::Prefix>& dsts) {
  std::lock_guard lock(mu_);
  return KillPairs(srcs, dsts, [&](const net::Prefix& s, const net::Prefix* d) { return engine_.KillStates(s, d); });
}

size_t Filter::KillSrcNodes(const std::vector<net::Prefix>& srcs, const std::vector<net::Prefix>& dsts) {
  std::lock_guard lock(mu_);
  return KillPairs(srcs, dsts,
                   [&](const net::Prefix& s, const net::Prefix* d) { return engine_.KillSrcNodes(s, d); });
}

std::string Filter::ShowSources(int verbose) {
  std::lock_guard lock(mu_);
  std::string out;
  for (const eng::Engine::SrcNodeView& n : engine_.SrcNodes()) {
    // pfctl's print_src_node; an unset redirection address prints as the family's any.
    std::string raddr = n.raddr.family() == n.addr.family() ? n.raddr.ToString()
                        : n.addr.family() == net::Family::kV6 ? "::"
                                                              : "0.0.0.0";
    out += n.addr.ToString() + " -> " + raddr + " ( states " + std::to_string(n.states) + ", connections " +
           std::to_string(n.conn) + ", rate " + std::to_string(n.rate_count) + ".0/0s )\n";
    if (verbose > 0 && n.rule_nr != eng::kNoRule) out += "   rule " + std::to_string(n.rule_nr) + "\n";
  }
  return out;
}

void Filter::FlushRules() {
  std::lock_guard lock(mu_);
  source_ = pf::Ruleset{};
  CompileLocked();
}

void Filter::FlushInfo() {
  std::lock_guard lock(mu_);
  enabled_since_ = WallNowNs();
}

size_t Filter::FlushStates() { return KillStates({}); }

Filter::SyntheticResult Filter::JudgeSynthetic(const SyntheticFlows& flows) {
  SyntheticResult result;
  if (!enabled_.load(std::memory_order_relaxed)) {  // pfctl -d: pf passes everything, as HandleBatch does
    result.passed = flows.count;
    return result;
  }
  static constexpr size_t kRoom = 80;  // IPv6 + TCP SYN with no options, or + UDP with 8 bytes
  std::vector<uint8_t> buffer(kSyntheticBatch * kRoom);
  std::array<linux::Packet, kSyntheticBatch> packets;
  std::vector<std::vector<uint8_t>> replies, forwards;  // dropped: the packets never existed
  const uint8_t payload[8] = {'h', 'a', 'p', 'f', 't', 'e', 's', 't'};
  const uint32_t sources = std::max<uint32_t>(flows.sources, 1);
  for (uint64_t done = 0; done < flows.count;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kSyntheticBatch, flows.count - done));
    for (size_t k = 0; k < n; ++k) {
      const uint64_t i = flows.first + done + k;
      net::IpHeader ip;
      ip.dst = flows.destination;
      ip.src = flows.first_source;
      const uint32_t step = static_cast<uint32_t>(i % sources);
      std::array<uint8_t, 16> b = ip.src.bytes();
      const size_t last = ip.src.is_v4() ? 0 : 12;  // where the address's last 32 bits are
      uint32_t word = (uint32_t{b[last]} << 24) | (uint32_t{b[last + 1]} << 16) | (uint32_t{b[last + 2]} << 8) |
                      b[last + 3];
      word += step;
      for (int j = 0; j < 4; ++j) b[last + static_cast<size_t>(j)] = static_cast<uint8_t>(word >> (24 - 8 * j));
      ip.src = ip.src.is_v4() ? net::IpAddr::V4Bytes(b.data()) : net::IpAddr::V6Bytes(b.data());
      ip.id = static_cast<uint16_t>(i);
      const uint16_t sport = static_cast<uint16_t>(1024 + (i / sources) % 64512);
      std::span<uint8_t> room(buffer.data() + k * kRoom, kRoom);
      size_t len;
      if (flows.protocol == 6) {
        net::TcpHeader tcp;
        tcp.src_port = sport;
        tcp.dst_port = flows.port;
        tcp.seq = static_cast<uint32_t>(i * 2654435761u);
        tcp.flags = 0x02;  // SYN
        tcp.window = 64240;
        len = net::BuildTcp(room, nullptr, ip, tcp, {});
      } else {
        len = net::BuildUdp(room, nullptr, ip, sport, flows.port, payload);
      }
      linux::Packet& p = packets[k];
      p = linux::Packet{};
      p.l3 = room.first(len);
      p.capacity = kRoom;
      p.l3_protocol = ip.src.is_v4() ? 0x0800 : 0x86dd;
      p.in = flows.in;
      p.in_index = flows.in != nullptr ? flows.in->index : 0;
      p.filter_in = flows.in != nullptr;
      p.out = flows.out;
      p.out_index = flows.out != nullptr ? flows.out->index : 0;
      p.filter_out = flows.out != nullptr;
      p.hook = flows.out != nullptr ? linux::Hook::kForward : linux::Hook::kPrerouting;
    }
    {
      std::lock_guard lock(mu_);
      synthetic_ = true;
      const int64_t now = WallNowNs();
      for (size_t k = 0; k < n; ++k) {
        linux::Decision d = JudgeLocked(packets[k], now, replies, forwards, nullptr);
        ++(d.verdict == linux::Verdict::kDrop ? result.blocked : result.passed);
      }
      synthetic_ = false;
      if (sync_ != nullptr) sync_->BatchDone();
    }
    // (Not counted in packets_handled(): that is the data plane's figure. pf's own
    // counters, -si and the rules', do count them: the engine saw them.)
    replies.clear();
    forwards.clear();
    done += n;
  }
  return result;
}

bool Filter::TableCommand(const std::string& table, const std::string& op, const std::vector<std::string>& args,
                          std::string& out, std::string& err) {
  std::vector<net::Prefix> prefixes;
  for (const std::string& a : args) {
    std::optional<net::Prefix> p = net::Prefix::Parse(a);
    if (!p) {
      err = "hapfctl: cannot decode " + a;
      return false;
    }
    prefixes.push_back(p->Normalized());
  }
  std::lock_guard lock(mu_);
  std::shared_ptr<eng::Table> t = engine_.GetTable(table);
  size_t changed = 0;
  if (op == "show") {
    for (const eng::TableEntry& e : t->Entries()) out += std::string("   ") + (e.negated ? "!" : "") + e.prefix.ToString() + "\n";
  } else if (op == "add") {
    for (const net::Prefix& p : prefixes) changed += t->Add(p);
    out = std::to_string(changed) + "/" + std::to_string(prefixes.size()) + " addresses added.\n";
  } else if (op == "delete") {
    for (const net::Prefix& p : prefixes) changed += t->Remove(p);
    out = std::to_string(changed) + "/" + std::to_string(prefixes.size()) + " addresses deleted.\n";
  } else if (op == "flush") {
    changed = t->size();
    t->Clear();
    out = std::to_string(changed) + " addresses deleted.\n";
  } else if (op == "replace") {
    size_t before = t->size();
    t->Clear();
    for (const net::Prefix& p : prefixes) t->Add(p);
    out = std::to_string(t->size()) + " addresses added, " + std::to_string(before) + " deleted.\n";
  } else if (op == "test") {
    for (const net::Prefix& p : prefixes) changed += t->Matches(p.addr);
    out = std::to_string(changed) + "/" + std::to_string(prefixes.size()) + " addresses match.\n";
    if (changed != prefixes.size()) {
      err = out;
      out.clear();
      return false;
    }
  } else {
    err = "hapfctl: unknown table command " + op;
    return false;
  }
  return true;
}

}  // namespace hapf::daemon
