#include "daemon/daemon.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cli/hapfctl_cli.h"
#include "daemon/control.h"
#include "daemon/pfsync_hook.h"
#include "daemon/sync_component.h"
#include "daemon/http_server.h"
#include "daemon/metrics_status.h"
#include "linux/carp_node.h"
#include "linux/iface_table.h"
#include "linux/nfq_dataplane.h"
#include "linux/nfq_reply_sender.h"
#include "linux/nft_ruleset.h"
#include "linux/pflog_writer.h"
#include "linux/pfsync_node.h"

namespace hapf::daemon {
namespace {

std::atomic<bool> g_syslog{false};

// CARP on Linux as a hosted component: the runtime's own fds and Step().
class CarpComponent : public Component {
 public:
  explicit CarpComponent(linux::CarpNodeOptions opts) : vhids_(Vhids(opts.vhosts)), node_(std::move(opts)) {}
  std::string name() const override { return "carp"; }
  std::vector<int> fds() const override { return node_.fds(); }
  void Step() override {
    node_.Step(0);
    transitions_.Observe(node_.engine());
  }
  nlohmann::json Status() override { return transitions_.Status(node_.engine(), vhids_); }
  bool Command(const std::vector<std::string>& words, int, std::string& out) override {
    // `-g GROUP` anywhere selects the interface group (ifconfig -g GROUP).
    std::string group = "carp";
    std::vector<std::string> args;
    bool group_given = false;
    for (size_t i = 0; i < words.size(); ++i) {
      if (words[i] == "-g") {
        if (i + 1 == words.size()) {
          out = "hapfctl: carp -g: needs a group name";
          return false;
        }
        group = words[++i];
        group_given = true;
      } else {
        args.push_back(words[i]);
      }
    }
    if (args.empty()) {
      // ifconfig -g GROUP: the group's demotion counter.
      out = group_given ? group + ": carp demote count " + std::to_string(node_.engine().GroupDemote(group)) + "\n"
                        : node_.Status();
      return true;
    }
    // `carp [-g GROUP] demote N` / `demote -N`: ifconfig -g GROUP [-]carpdemote N.
    if (args[0] == "demote" && args.size() == 2) {
      char* end = nullptr;
      long n = std::strtol(args[1].c_str(), &end, 10);
      if (args[1].empty() || *end != '\0' || n < -255 || n > 255 || n == 0) {
        out = "hapfctl: carp demote: " + args[1] + ": not a number from -255 to 255 (not 0)";
        return false;
      }
      if (std::optional<std::string> err = node_.AdminGroupDemote(group, static_cast<int>(n))) {
        out = "hapfctl: carp demote: " + *err;
        return false;
      }
      out = group_given ? group + ": carp demote count " + std::to_string(node_.engine().GroupDemote(group)) + "\n"
                        : node_.Status();
      return true;
    }
    if (args[0] == "stats" && args.size() == 1) {  // netstat -s -p carp
      const carp::Stats& st = node_.engine().stats();
      const std::pair<uint64_t, const char*> lines[] = {
          {st.ipackets, "\tN packets received (IPv4)"}, {st.ipackets6, "\tN packets received (IPv6)"},
          {st.badif, "\t\tN packets discarded for bad interface"},
          {st.badttl, "\t\tN packets discarded for wrong TTL"}, {st.hdrops, "\t\tN packets shorter than header"},
          {st.badsum, "\t\tN discarded for bad checksums"}, {st.badver, "\t\tN discarded packets with a bad version"},
          {st.badlen, "\t\tN discarded because packet too short"},
          {st.badauth, "\t\tN discarded for bad authentication"}, {st.badvhid, "\t\tN discarded for unknown vhid"},
          {st.badaddrs, "\t\tN discarded because of a bad address list"}, {st.opackets, "\tN packets sent (IPv4)"},
          {st.opackets6, "\tN packets sent (IPv6)"}, {st.onomem, "\t\tN send failed due to mbuf memory error"},
          {st.preempt, "\tN transitions to master"}};
      out = "carp:\n";
      for (const auto& [n, text] : lines) {
        std::string line = text;
        line.replace(line.find('N'), 1, std::to_string(n));
        out += line + "\n";
      }
      return true;
    }
    out = "hapfctl: carp " + args[0] + ": unknown command (status, stats, demote N, -g GROUP)";
    return false;
  }
  linux::CarpNode& node() { return node_; }
  std::vector<std::string> Reconfigure(const std::vector<carp::VhostConfig>& vhosts) {
    std::vector<std::string> errors = node_.Reconfigure(vhosts);
    vhids_ = Vhids(vhosts);  // Status() looks up only the interfaces the engine runs
    return errors;
  }
  void Shutdown() override {
    node_.Shutdown();
    node_.Step(0);  // let the bow-out adverts leave
  }

 private:
  static std::map<std::string, int> Vhids(const std::vector<carp::VhostConfig>& vhosts) {
    std::map<std::string, int> m;
    for (const auto& v : vhosts) m[v.ifname] = v.vhid;
    return m;
  }
  std::map<std::string, int> vhids_;
  linux::CarpNode node_;
  CarpTransitions transitions_;
};

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// The pfsync runtime on the filter's engine. The engine is shared with the
// packet workers, so every call into the node runs under the packet lock; the
// node's state observer is called from Engine::Test, i.e. under that lock too.
// Updates the workers queue are sent at the next Step() (main loop tick or
// socket activity).
class PfsyncComponent : public Component {
 public:
  PfsyncComponent(Filter& filter, pfsync::PfsyncConfig cfg, linux::CarpNode* carp, int bulk_pace,
                  uint32_t generated_mark)
      : filter_(filter) {
    linux::PfsyncNodeOptions o;
    o.config = std::move(cfg);
    o.bulk_packets_per_interval = bulk_pace;  // 0: the engine's default
    // Its own packets skip its own queue on output (docs/daemon.md): an overloaded queue dropped them unseen.
    o.socket_mark = generated_mark;
    o.pf_offset_ns = WallNowNs() - MonotonicNs();  // the filter runs on wall-clock time
    o.log = [](const std::string& line) { Log(LOG_INFO, line); };
    o.start_now = false;  // DataPlaneReady(): after a crash a stale table would drop the bulk request
    o.release_deferred = [this](uint64_t handle) { hook_->Released(handle); };
    // Until the bulk update is in, CARP advertises demoted so the peer stays MASTER.
    if (carp != nullptr) {
      carp->engine().RegisterDemoter("pfsync0", {"carp", "pfsync"});
      o.demote = [carp](int delta, std::string_view reason) { carp->Demote("pfsync0", delta, reason); };
    }
    filter_.WithEngine([&](pf::engine::Engine& e) {
      node_ = std::make_unique<linux::PfsyncNode>(e, std::move(o));
      hook_ = std::make_unique<PfsyncPacketHook>(*node_, [&f = filter_](uint64_t h) { f.ReleaseHeldLocked(h); });
      return 0;
    });
    filter_.SetSyncHook(hook_.get());
  }
  ~PfsyncComponent() override {
    filter_.SetSyncHook(nullptr);
    filter_.WithEngine([&](pf::engine::Engine&) {
      node_.reset();  // detaches its observer from the engine
      return 0;
    });
  }
  std::string name() const override { return "pfsync"; }
  void DataPlaneReady() override {
    filter_.WithEngine([&](pf::engine::Engine&) {
      node_->Start();
      return 0;
    });
  }
  std::optional<std::string> Reconfigure(const pfsync::PfsyncConfig& cfg) {
    return filter_.WithEngine([&](pf::engine::Engine&) { return node_->Reconfigure(cfg); });
  }
  // The timer fd wakes the loop for the bulk pacing (a budget of packets per bulk interval, built one sendmmsg
  // batch at a time), the update flush, the bulk request's retries and packets waiting for room in the socket.
  std::vector<int> fds() const override { return {node_->fd(), hook_->timer_fd()}; }
  void Step() override {
    filter_.WithEngine([&](pf::engine::Engine&) {
      hook_->ClearTimer();
      pollfd p{node_->fd(), POLLIN, 0};
      if (poll(&p, 1, 0) > 0) node_->HandleReadable();
      node_->Tick();
      node_->Flush();
      hook_->ArmTimer(node_->NextTimeoutMs());  // deferral timeouts, flush delay, bulk pacing
      status_.Observe(*node_, MonotonicNs());
      return 0;
    });
  }
  nlohmann::json Status() override {
    return filter_.WithEngine([&](pf::engine::Engine&) { return status_.Status(*node_); });
  }
  bool Command(const std::vector<std::string>& args, int verbose, std::string& out) override {
    return filter_.WithEngine([&](pf::engine::Engine&) {
      if (args.empty()) {
        out = node_->IfconfigText();
        // Whether pfsync and CARP wait behind data traffic, and what the kernel dropped.
        if (dataplane_ != nullptr) out += QueueText(QueueStatus(*dataplane_, linux::ReadKernelQueueStats()));
        if (verbose > 0) out += node_->NetstatText(verbose > 1);
        return true;
      }
      if (args[0] == "stats" && args.size() == 1) {
        out = node_->NetstatText();
        return true;
      }
      if (args[0] == "bulk" && args.size() == 1) return RequestFullUpdate(out);
      out = "hapfctl: pfsync " + args[0] + ": unknown command (status, stats, bulk, dump)";
      return false;
    });
  }
  void Shutdown() override {
    filter_.WithEngine([&](pf::engine::Engine&) {
      node_->Flush();
      return 0;
    });
  }
  void set_dataplane(const linux::DataPlane* dataplane) { dataplane_ = dataplane; }

 private:
  // `hapfctl pfsync bulk`, the status page's "force bulk update": asks the peer for
  // every state again (UPD_REQ 0/0), the engine's request after the sync link comes
  // back, without a demotion. The link is up for as long as hapfd runs (the node
  // says LinkUp at start), so this is that path on demand. Requires the packet lock.
  bool RequestFullUpdate(std::string& out) {
    switch (node_->engine().bulk_state()) {
      case pfsync::BulkRequestState::kNone:
        out = "hapfctl: pfsync bulk: pfsync is not up";
        return false;
      case pfsync::BulkRequestState::kSent:
      case pfsync::BulkRequestState::kBulk:
        out = "hapfctl: pfsync bulk: a bulk update is already in progress";
        return false;
      case pfsync::BulkRequestState::kStart:
      case pfsync::BulkRequestState::kDone:
        break;
    }
    node_->engine().LinkUp(sim::FromNanos(MonotonicNs()));  // the node's clock
    node_->Flush();
    out = "pfsync: full update requested from the peer\n";
    return true;
  }

  Filter& filter_;
  std::unique_ptr<linux::PfsyncNode> node_;
  std::unique_ptr<PfsyncPacketHook> hook_;  // defer, per-batch flush, timers
  PfsyncStatusTracker status_;
  const linux::DataPlane* dataplane_ = nullptr;
};

// hostname.carpN and hostname.pfsync0 re-read and applied to the running CARP
// and pfsync runtimes (SIGHUP, a configuration sync push). Nothing is applied
// when the directory has errors. The messages say what was refused or waits for
// a restart.
std::vector<std::string> ReloadHa(const std::string& dir, const pf::HostEnvironment& env,
                                  std::vector<std::unique_ptr<Component>>& components) {
  DaemonConfig cfg = LoadConfig(dir, env);
  if (!cfg.errors.empty()) return cfg.errors;
  CarpComponent* carp = nullptr;
  PfsyncComponent* pfsync = nullptr;
  for (auto& c : components) {
    if (c->name() == "carp") carp = static_cast<CarpComponent*>(c.get());
    if (c->name() == "pfsync") pfsync = static_cast<PfsyncComponent*>(c.get());
  }
  std::vector<std::string> messages;
  if (carp != nullptr) {
    messages = carp->Reconfigure(cfg.carp);
  } else if (!cfg.carp.empty()) {
    messages.push_back("carp: the first carp interface starts when hapfd restarts");
  }
  const bool want_pfsync = cfg.pfsync && !cfg.pfsync->syncdev.empty();
  if (pfsync != nullptr && want_pfsync) {
    if (auto e = pfsync->Reconfigure(*cfg.pfsync)) messages.push_back(*e);
  } else if (pfsync != nullptr || want_pfsync) {
    messages.push_back("pfsync0: adding or removing pfsync takes effect when hapfd restarts");
  }
  return messages;
}

// The pflog file: the writer the filter's workers append to, its counters
// for /metrics and `hapfctl pflog`, the path `hapfctl log` reads.
class PflogComponent : public Component {
 public:
  PflogComponent(Filter& filter, linux::PflogWriterOptions opts) : filter_(filter), writer_(std::move(opts)) {
    filter_.SetPflog(&writer_);
  }
  ~PflogComponent() override { filter_.SetPflog(nullptr); }
  std::string name() const override { return "pflog"; }
  std::vector<int> fds() const override { return {}; }
  // A write error is logged once, not once per batch.
  void Step() override {
    std::string e = writer_.stats().last_error;
    if (e != logged_error_ && !e.empty()) Log(LOG_ERR, "pflog: " + e);
    logged_error_ = std::move(e);
  }
  bool Command(const std::vector<std::string>& args, int, std::string& out) override {
    if (args.size() == 1 && args[0] == "file") {
      out = writer_.options().path + "\n";
      return true;
    }
    if (!args.empty()) {
      out = "hapfctl: pflog " + args[0] + ": unknown command (file)";
      return false;
    }
    const linux::PflogWriterStats st = writer_.stats();
    out = "file " + writer_.options().path + " (" + std::to_string(st.file_bytes) + " of " +
          std::to_string(writer_.options().max_size) + " bytes, keep " + std::to_string(writer_.options().keep) +
          ")\n  records written " + std::to_string(st.records_written) + ", dropped " +
          std::to_string(st.records_dropped) + ", rotations " + std::to_string(st.rotations) + ", write errors " +
          std::to_string(st.write_errors) + "\n";
    if (!st.last_error.empty()) out += "  last error: " + st.last_error + "\n";
    return true;
  }
  void Shutdown() override {}
  void Reopen() { writer_.Reopen(); }
  nlohmann::json Status() override {
    const linux::PflogWriterStats st = writer_.stats();
    return {{"file", writer_.options().path},
            {"records_written_total", st.records_written},
            {"bytes_written_total", st.bytes_written},
            {"records_dropped_total", st.records_dropped},
            {"writes_total", st.writes},
            {"rotations_total", st.rotations},
            {"write_errors_total", st.write_errors},
            {"file_bytes", st.file_bytes},
            {"max_size_bytes", writer_.options().max_size},
            {"last_error", st.last_error}};
  }

 private:
  Filter& filter_;
  linux::PflogWriter writer_;
  std::string logged_error_;
};

std::vector<std::string> Strings(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array()) {
    for (const auto& v : j[key]) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

std::string Str(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

}  // namespace

void Log(int priority, const std::string& line) {
  if (g_syslog.load()) {
    syslog(priority, "%s", line.c_str());
    return;
  }
  // Under systemd stderr goes to journald, which takes a "<N>" prefix as the
  // priority; elsewhere a syslog-like timestamped line.
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    std::fprintf(stderr, "<%d>%s\n", priority, line.c_str());
    return;
  }
  time_t now = time(nullptr);
  tm t;
  localtime_r(&now, &t);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &t);
  std::fprintf(stderr, "%s hapfd[%d]: %s\n", stamp, static_cast<int>(getpid()), line.c_str());
}

bool Dispatcher::Reload(const std::string& text, const std::string& filename, std::vector<std::string>& messages,
                        const std::string& anchor) {
  pf::ParseResult r = ParseRuleset(text, filename, env_);
  messages = r.messages;
  if (!r.ok()) return false;
  if (std::optional<std::string> e = filter_.once_layout() ? OnceLayoutConflict(r.ruleset, filename)
                                                            : SplitLayoutConflict(r.ruleset, filename)) {
    messages.push_back(*e);
    return false;
  }
  std::vector<std::string> warnings = anchor.empty() ? filter_.Load(r.ruleset) : filter_.LoadAnchor(anchor, r.ruleset);
  messages.insert(messages.end(), warnings.begin(), warnings.end());
  return true;
}

nlohmann::json Dispatcher::Handle(const nlohmann::json& req) {
  nlohmann::json reply = {{"ok", true}, {"out", ""}, {"err", ""}};
  auto fail = [&](const std::string& e) {
    reply["ok"] = false;
    reply["err"] = e.empty() || e.back() == '\n' ? e : e + "\n";
    return reply;
  };
  if (!req.is_object()) return fail("hapfd: malformed request");
  const std::string cmd = Str(req, "cmd");
  const int verbose = req.contains("verbose") && req["verbose"].is_number_integer() ? req["verbose"].get<int>() : 0;
  // pfctl -a: the anchor a load, a rules flush or a rules listing applies to.
  const std::string anchor = Str(req, "anchor");
  if (!anchor.empty() && !(cmd == "load" || ((cmd == "show" || cmd == "flush") && Str(req, "what") == "rules")))
    return fail("hapfctl: -a applies to -f, -F rules and -s rules only");
  if (cmd == "load") {
    std::vector<std::string> messages;
    bool ok = Reload(Str(req, "text"), Str(req, "filename"), messages, anchor);
    std::string text;
    for (const std::string& m : messages) text += m + "\n";
    if (!ok) return fail(text + "hapfctl: Syntax error in config file: pf rules not loaded");
    reply["err"] = text;
    if (ok) Log(LOG_NOTICE, (anchor.empty() ? "" : "anchor " + anchor + ": ") + "ruleset reloaded from " + Str(req, "filename"));
    for (auto& c : components_) {  // sync-auto-push of the main ruleset: hapfctl waits for the peers' results
      if (auto* sync = dynamic_cast<SyncComponent*>(c.get()); sync != nullptr && anchor.empty()) {
        if (uint64_t gen = sync->RulesetLoaded(Str(req, "text"))) reply["sync_generation"] = gen;
      }
    }
    return reply;
  }
  if (cmd == "enable" || cmd == "disable") {
    const bool on = cmd == "enable";
    if (filter_.enabled() == on) return fail(on ? "pfctl: pf already enabled" : "pfctl: pf not enabled");
    filter_.SetEnabled(on);
    reply["err"] = on ? "pf enabled\n" : "pf disabled\n";
    Log(LOG_NOTICE, on ? "pf enabled" : "pf disabled");
    return reply;
  }
  if (cmd == "show") {
    const std::string what = Str(req, "what");
    std::string out;
    auto section = [&](const char* title, const std::string& body, bool all) {
      if (all) out += std::string(title) + ":\n";
      out += body;
      if (all) out += "\n";
    };
    const bool all = what == "all";
    if (!anchor.empty()) {
      if (!filter_.ShowRules(verbose, anchor, out)) return fail("hapfctl: Anchor does not exist: " + anchor);
      reply["out"] = out;
      return reply;
    }
    if (what == "rules" || all) section("FILTER RULES", filter_.ShowRules(verbose), all);
    if (what == "states" || all) section("STATES", filter_.ShowStates(verbose), all);
    if (what == "info" || all) section("INFO", filter_.ShowInfo(verbose), all);
    if (what == "timeouts" || all) section("TIMEOUTS", filter_.ShowTimeouts(), all);
    if (what == "memory" || all) section("LIMITS", filter_.ShowMemory(), all);
    if (what == "tables" || all) section("TABLES", filter_.ShowTables(verbose), all);
    if (what == "labels" || all) section("LABEL COUNTERS", filter_.ShowLabels(), all);
    if (what == "sources" || all) section("SOURCES", filter_.ShowSources(verbose), all);
    if (out.empty() && !(what == "rules" || what == "states" || what == "tables" || what == "labels" ||
                         what == "sources"))
      return fail("hapfctl: Unknown show modifier '" + what + "'");
    reply["out"] = out;
    return reply;
  }
  if (cmd == "kill") {
    // pfctl: the first -k / -K names the sources, a second the destinations
    // (-K: the redirection address); each an address, a network or a name.
    const bool src_nodes = Str(req, "what") == "src_nodes";
    const char* flag = src_nodes ? "-K" : "-k";
    const std::vector<std::string> hosts = Strings(req, "hosts");
    if (hosts.empty()) return fail(std::string("hapfctl: ") + flag + " needs a host");
    if (hosts.size() > 2) return fail(std::string("hapfctl: ") + flag + " may be given at most twice");
    std::vector<net::Prefix> sides[2];
    for (size_t i = 0; i < hosts.size(); ++i) {
      const std::string& h = hosts[i];
      if (std::optional<net::Prefix> p = net::Prefix::Parse(h)) {
        sides[i].push_back(*p);
        continue;
      }
      std::vector<net::IpAddr> resolved = env_.Resolve(h);
      if (resolved.empty()) return fail("hapfctl: no IP address found for " + h);
      for (const net::IpAddr& a : resolved) sides[i].push_back(net::Prefix{a, static_cast<uint8_t>(a.is_v4() ? 32 : 128)});
    }
    const size_t n = src_nodes ? filter_.KillSrcNodes(sides[0], sides[1]) : filter_.KillStates(sides[0], sides[1]);
    reply["err"] = "killed " + std::to_string(n) + (src_nodes ? " src nodes" : " states") + " from " +
                   std::to_string(sides[0].size()) + " sources and " + std::to_string(sides[1].size()) +
                   " destinations\n";
    return reply;
  }
  if (cmd == "flush") {
    const std::string what = Str(req, "what");
    std::string err;
    const bool all = what == "all";
    if (!anchor.empty()) {
      filter_.FlushAnchorRules(anchor);
      reply["err"] = "rules cleared\n";
      return reply;
    }
    if (what == "rules" || all) {
      filter_.FlushRules();
      err += "rules cleared\n";
    }
    if (what == "states" || all) err += std::to_string(filter_.FlushStates()) + " states cleared\n";
    if (what == "info" || all) {
      filter_.FlushInfo();
      err += "pf: statistics cleared\n";
    }
    if (err.empty()) return fail("hapfctl: Unknown flush modifier '" + what + "'");
    reply["err"] = err;
    return reply;
  }
  if (cmd == "table") {
    std::string out, err;
    if (!filter_.TableCommand(Str(req, "table"), Str(req, "op"), Strings(req, "addresses"), out, err))
      return fail(err);
    (Str(req, "op") == "show" ? reply["out"] : reply["err"]) = out;
    return reply;
  }
  if (cmd == "component") {
    const std::string name = Str(req, "name");
    for (auto& c : components_) {
      if (c->name() != name) continue;
      std::string out;
      if (!c->Command(Strings(req, "args"), verbose, out)) return fail(out);
      reply["out"] = out;
      return reply;
    }
    if (name == "pflog") return fail("hapfctl: pflog is off (pflog-file off in hapfd.conf)");
    return fail("hapfctl: " + name + " is not configured (no " +
                (name == "carp" ? std::string("hostname.carpN") : "hostname." + name + "0") + " file)");
  }
  if (cmd == "debug" && Str(req, "what") == "flows") return DebugFlows(req);
  return fail("hapfd: unknown command " + cmd);
}

// {"cmd":"debug","what":"flows","source":A,"sources":N,"destination":B,"port":P,"proto":"udp"|"tcp",
//  "first":K,"count":N,"in":IF,"out":IF}: Filter::JudgeSynthetic. One request judges at most
// kMaxSyntheticPerCall flows so that the main loop (pfsync's timers and socket) is never away long;
// hapfctl sends as many requests as the count needs.
nlohmann::json Dispatcher::DebugFlows(const nlohmann::json& req) {
  static constexpr uint64_t kMaxSyntheticPerCall = 65536;
  nlohmann::json reply = {{"ok", false}, {"out", ""}, {"err", ""}};
  auto number = [&](const char* key, uint64_t fallback) {
    return req.contains(key) && req[key].is_number_unsigned() ? req[key].get<uint64_t>() : fallback;
  };
  Filter::SyntheticFlows f;
  std::optional<net::IpAddr> src = net::IpAddr::Parse(Str(req, "source"));
  std::optional<net::IpAddr> dst = net::IpAddr::Parse(Str(req, "destination"));
  const std::string proto = Str(req, "proto").empty() ? "udp" : Str(req, "proto");
  const uint64_t sources = number("sources", 1), port = number("port", 9), count = number("count", 0);
  std::string error;
  if (!src || !dst || src->is_v4() != dst->is_v4()) error = "source and destination: two addresses of one family";
  else if (sources == 0 || sources > 65536) error = "sources: 1 to 65536";
  else if (port == 0 || port > 65535) error = "port: 1 to 65535";
  else if (proto != "udp" && proto != "tcp") error = "proto: udp or tcp";
  else if (count > kMaxSyntheticPerCall) error = "count: at most " + std::to_string(kMaxSyntheticPerCall) + " per request";
  std::shared_ptr<const linux::IfaceTable> table = ifaces_ != nullptr ? ifaces_->Snapshot() : nullptr;
  auto iface = [&](const char* key) -> const linux::IfaceEntry* {
    const std::string name = Str(req, key);
    if (name.empty() || !error.empty()) return nullptr;
    const linux::IfaceEntry* e = table != nullptr ? table->FindByName(name) : nullptr;
    if (e == nullptr) error = std::string(key) + ": no interface " + name;
    return e;
  };
  f.in = iface("in");
  f.out = iface("out");
  if (error.empty() && f.in == nullptr) error = "in: the interface the packets arrive on";
  if (!error.empty()) {
    reply["err"] = "hapfctl: debug flows: " + error + "\n";
    return reply;
  }
  f.first_source = *src;
  f.destination = *dst;
  f.sources = static_cast<uint32_t>(sources);
  f.port = static_cast<uint16_t>(port);
  f.protocol = proto == "tcp" ? 6 : 17;
  f.first = number("first", 0);
  f.count = count;
  const Filter::SyntheticResult r = filter_.JudgeSynthetic(f);
  reply["ok"] = true;
  reply["passed"] = r.passed;
  reply["blocked"] = r.blocked;
  return reply;
}

namespace {

const char* kUsage = "usage: hapfd [-dn] [-c directory]\n";

}  // namespace

int HapfdMain(int argc, char** argv) {
  std::string dir = "/etc/hapf";
  bool check_only = false, foreground = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-n") check_only = true;
    else if (a == "-d") foreground = true;
    else if (a == "-dn" || a == "-nd") check_only = foreground = true;
    else if (a == "-c" && i + 1 < argc) dir = argv[++i];
    else {
      std::fputs(kUsage, stderr);
      return 1;
    }
  }
  cli::SystemHostEnvironment env;
  DaemonConfig cfg = LoadConfig(dir, env);
  for (const std::string& m : cfg.AllMessages()) std::fprintf(stderr, "%s\n", m.c_str());
  if (!cfg.ok()) {
    if (cfg.pf_errors > 0) std::fprintf(stderr, "hapfd: Syntax error in config file: pf rules not loaded\n");
    return 1;
  }
  if (std::optional<std::string> e = cfg.settings.queue_once ? OnceLayoutConflict(cfg.ruleset, dir + "/pf.conf")
                                                              : SplitLayoutConflict(cfg.ruleset, dir + "/pf.conf")) {
    std::fprintf(stderr, "%s\nhapfd: Syntax error in config file: pf rules not loaded\n", e->c_str());
    return 1;
  }
  if (check_only) return 0;

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, nullptr);  // before any thread: workers inherit the mask
  signal(SIGPIPE, SIG_IGN);
  if (!foreground) {
    if (::daemon(0, 0) != 0) {
      std::perror("hapfd: daemon");
      return 1;
    }
    openlog("hapfd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    g_syslog = true;
  }
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);

  linux::DataPlaneConfig dpc;
  dpc.queue_base = cfg.settings.queue_base;
  dpc.queue_count = cfg.settings.queues;
  dpc.queue_maxlen = cfg.settings.queue_maxlen;
  dpc.control_queue_maxlen = cfg.settings.control_queue_maxlen;
  dpc.layout = cfg.settings.queue_once ? linux::QueueLayout::kOnce : linux::QueueLayout::kSplit;
  dpc.skip = cfg.settings.skip;
  if (cfg.pfsync) dpc.sync_device = cfg.pfsync->syncdev;  // (a syncdev change needs a restart anyway)
  linux::RulesetSpec spec = dpc.Ruleset();

  linux::ReplySender replies;
  if (std::string e = replies.Open(spec.generated_mark); !e.empty()) {
    Log(LOG_ERR, "raw sockets: " + e);
    return 1;
  }
  linux::IfaceRegistry ifaces;
  if (std::string e = ifaces.StartWatching(); !e.empty()) {
    Log(LOG_ERR, "rtnetlink: " + e);
    return 1;
  }
  // synproxy's segments toward servers carry no mark: they cross the
  // filter on their way out, as the host's own packets do.
  linux::ReplySender forwards;
  if (std::string e = forwards.Open(0); !e.empty()) {
    Log(LOG_ERR, "raw sockets: " + e);
    return 1;
  }
  Filter filter(&replies, &forwards);
  filter.set_once_layout(cfg.settings.queue_once);
  for (const std::string& w : filter.Load(cfg.ruleset)) Log(LOG_WARNING, w);

  std::vector<std::unique_ptr<Component>> components;
  if (!cfg.carp.empty()) {
    linux::CarpNodeOptions co;
    co.settings = cfg.settings.carp;
    co.vhosts = cfg.carp;
    co.log = [](int level, const std::string& line) { Log(level, line); };
    co.socket_mark = spec.generated_mark;  // its own adverts skip its queue on output
    try {
      components.push_back(std::make_unique<CarpComponent>(std::move(co)));
    } catch (const std::exception& e) {
      Log(LOG_ERR, std::string("carp: ") + e.what());
      return 1;
    }
  }
  if (cfg.pfsync && !cfg.pfsync->syncdev.empty()) {
    try {
      linux::CarpNode* carp = nullptr;
      if (!components.empty()) carp = &static_cast<CarpComponent&>(*components.front()).node();
      components.push_back(std::make_unique<PfsyncComponent>(filter, *cfg.pfsync, carp,
                                                             cfg.settings.pfsync_bulk_pace, spec.generated_mark));
    } catch (const std::exception& e) {
      Log(LOG_ERR, std::string("pfsync: ") + e.what());
      return 1;
    }
  }

  if (!cfg.settings.pflog_file.empty()) {
    components.push_back(std::make_unique<PflogComponent>(
        filter, linux::PflogWriterOptions{cfg.settings.pflog_file, cfg.settings.pflog_max_size,
                                          cfg.settings.pflog_keep}));
  }

  Dispatcher dispatcher(filter, components, env);
  dispatcher.set_ifaces(&ifaces);
  ObserveApi observe(filter, components, dispatcher);
  HttpServer http({cfg.settings.http_listen, cfg.settings.http_password_sha256}, std::ref(observe));
  if (!cfg.settings.http_listen.empty()) {
    if (std::string e = http.Start(); !e.empty()) {
      Log(LOG_ERR, e);
      return 1;
    }
    Log(LOG_NOTICE, "http: /metrics on " + cfg.settings.http_listen +
                        (cfg.settings.http_password_sha256.empty() ? " (no status page: no http-password-sha256)"
                                                                   : ", status page on /"));
  }
  ControlServer control;
  if (std::string e = control.Listen(cfg.settings.control_socket); !e.empty()) {
    Log(LOG_ERR, e);
    return 1;
  }
  linux::DataPlane dataplane(dpc, ifaces, filter);
  filter.SetKeeper(&dataplane);  // pfsync defer holds packets in their queue
  if (std::string e = dataplane.Start(); !e.empty()) {
    Log(LOG_ERR, "nfqueue: " + e);
    return 1;
  }
  linux::Ruleset table(spec);
  if (std::string e = table.Install(); !e.empty()) {
    Log(LOG_ERR, "nftables: " + e);
    dataplane.Stop();
    return 1;
  }
  for (auto& c : components) c->DataPlaneReady();
  observe.set_dataplane(&dataplane);
  for (auto& c : components) {
    if (auto* p = dynamic_cast<PfsyncComponent*>(c.get())) p->set_dataplane(&dataplane);
  }
  Log(LOG_NOTICE, "started: table inet " + spec.table + ", " + std::to_string(dpc.queue_count) + " queue(s)" +
                      (spec.control_queue == linux::kNoControlQueue
                           ? std::string(", CARP and pfsync in the data queues")
                           : ", CARP and pfsync in queue " + std::to_string(spec.control_queue)) +
                      ", control socket " + cfg.settings.control_socket);

  if (!cfg.settings.sync_peers.empty()) {
    SyncComponentOptions so;
    so.dir = dir;
    so.settings = cfg.settings;
    so.env = &env;
    so.reload = [&dispatcher](const std::string& text, const std::string& file, std::vector<std::string>& m) {
      return dispatcher.Reload(text, file, m);
    };
    so.log = [](int level, const std::string& line) { Log(level, line); };
    so.reload_ha = [&dir, &env, &components] { return ReloadHa(dir, env, components); };
    // The peers' status pages show this node's CARP vhids (the sync link carries them).
    so.local_status = [&components]() -> std::string {
      for (auto& c : components) {
        if (c->name() != "carp") continue;
        nlohmann::json carp = c->Status();
        nlohmann::json mine = nlohmann::json::array();
        for (const auto& v : carp["vhosts"])
          mine.push_back({{"ifname", v["ifname"]}, {"vhid", v["vhid"]}, {"state", v["state"]}, {"demote", v["demote"]}});
        return nlohmann::json{{"carp", mine}}.dump();
      }
      return {};
    };
    if (!components.empty() && components.front()->name() == "carp") {
      linux::CarpNode* carp = &static_cast<CarpComponent&>(*components.front()).node();
      carp->engine().RegisterDemoter("sync", {"carp"});
      so.demote = [carp](int delta, std::string_view reason) { carp->Demote("sync", delta, reason); };
    }
    try {
      components.push_back(std::make_unique<SyncComponent>(std::move(so)));
    } catch (const std::exception& e) {
      Log(LOG_ERR, std::string("sync: ") + e.what());
      return 1;
    }
  }
  bool running = true;
  int64_t next_purge = 0;
  while (running) {
    std::vector<pollfd> pfds = {{sfd, POLLIN, 0}, {control.fd(), POLLIN, 0}, {http.fd(), POLLIN, 0}};
    for (auto& c : components) {
      for (int fd : c->fds()) pfds.push_back({fd, POLLIN, 0});
    }
    poll(pfds.data(), pfds.size(), 100);  // components with timers wake the loop through an fd of theirs
    // State expiry: the workers' shared path never purges, and an idle table must drain.
    if (const int64_t mono = MonotonicNs(); mono >= next_purge) {
      filter.PurgeTick(WallNowNs());
      next_purge = mono + 100000000;
    }
    if (pfds[0].revents & POLLIN) {
      signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if (si.ssi_signo == SIGHUP) {
          // newsyslog/logrotate moved the pflog file away: the next record starts a new one.
          for (auto& c : components) {
            if (c->name() == "pflog") static_cast<PflogComponent&>(*c).Reopen();
          }
          std::string text;
          std::vector<std::string> messages;
          const std::string path = dir + "/pf.conf";
          std::FILE* f = std::fopen(path.c_str(), "rb");
          if (f == nullptr) {
            Log(LOG_ERR, "reload: " + path + ": " + std::strerror(errno));
          } else {
            char buf[65536];
            size_t n;
            while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
            std::fclose(f);
            bool ok = dispatcher.Reload(text, path, messages);
            for (const std::string& m : messages) Log(ok ? LOG_WARNING : LOG_ERR, m);
            Log(ok ? LOG_NOTICE : LOG_ERR, ok ? "reload: ruleset reloaded from " + path
                                              : "reload: Syntax error in config file: pf rules not loaded");
          }
          for (const std::string& m : ReloadHa(dir, env, components)) Log(LOG_WARNING, "reload: " + m);
        } else {
          running = false;
        }
      }
    }
    if (pfds[1].revents & POLLIN) {
      int c = control.Accept();
      if (c >= 0) {
        std::string payload;
        if (ReadFrame(c, payload)) {
          nlohmann::json req = nlohmann::json::parse(payload, nullptr, false);
          WriteFrame(c, dispatcher.Handle(req).dump());
        }
        close(c);
      }
    }
    if (pfds[2].revents & POLLIN) http.RunPending();
    for (auto& c : components) c->Step();
  }
  http.Stop();

  Log(LOG_NOTICE, "shutting down");
  for (auto& c : components) c->Shutdown();
  if (std::string e = table.Remove(); !e.empty()) Log(LOG_ERR, "nftables: " + e);
  dataplane.Stop();
  ifaces.StopWatching();
  components.clear();  // the CARP runtime removes its macvlans
  close(sfd);
  return 0;
}

}  // namespace hapf::daemon
