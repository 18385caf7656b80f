#include "daemon/metrics_status.h"

#include <signal.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "daemon/daemon.h"
#include "linux/carp_node.h"
#include "linux/nfq_dataplane.h"
#include "linux/pfsync_node.h"
#include "pfsync/wire.h"

namespace hapf::daemon {
namespace {

using json = nlohmann::json;
namespace eng = pf::engine;

const char* BulkStateName(pfsync::BulkRequestState s) {
  switch (s) {
    case pfsync::BulkRequestState::kNone: return "none";
    case pfsync::BulkRequestState::kStart: return "start";
    case pfsync::BulkRequestState::kSent: return "sent";
    case pfsync::BulkRequestState::kBulk: return "bulk";
    case pfsync::BulkRequestState::kDone: return "done";
  }
  return "none";
}

uint64_t ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? uint64_t{resident} * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace

void CarpTransitions::Observe(const carp::Engine& engine) {
  for (const std::string& ifname : engine.interfaces()) {
    std::optional<carp::State> s = engine.state(ifname);
    if (!s) continue;
    auto it = last_.find(ifname);
    if (it != last_.end() && it->second != *s) ++count_[ifname][carp::StateName(*s)];
    last_[ifname] = *s;
  }
}

json CarpTransitions::Status(const carp::Engine& engine, const std::map<std::string, int>& vhids) const {
  json vhosts = json::array();
  for (const std::string& ifname : engine.interfaces()) {
    std::optional<carp::State> s = engine.state(ifname);
    json t = json::object();
    if (auto it = count_.find(ifname); it != count_.end()) {
      for (const auto& [to, n] : it->second) t[to] = n;
    }
    auto v = vhids.find(ifname);
    vhosts.push_back({{"ifname", ifname},
                      {"vhid", v == vhids.end() ? 0 : v->second},
                      {"state", s ? carp::StateName(*s) : "INIT"},
                      {"demote", engine.DemoteCount(ifname)},
                      {"transitions", t}});
  }
  const carp::Stats& st = engine.stats();
  json stats = {{"ipackets", st.ipackets}, {"ipackets6", st.ipackets6}, {"badif", st.badif},
                {"badttl", st.badttl},     {"hdrops", st.hdrops},       {"badsum", st.badsum},
                {"badver", st.badver},     {"badlen", st.badlen},       {"badauth", st.badauth},
                {"badvhid", st.badvhid},   {"badaddrs", st.badaddrs},   {"opackets", st.opackets},
                {"opackets6", st.opackets6}, {"onomem", st.onomem},     {"ostates", st.ostates},
                {"preempt", st.preempt}};
  return {{"vhosts", vhosts}, {"group_demote", {{"carp", engine.GroupDemote("carp")}}}, {"stats", stats}};
}

void PfsyncStatusTracker::Observe(linux::PfsyncNode& node, int64_t now_ns) {
  if (!start_ns_) start_ns_ = now_ns;
  if (!done_ns_ && node.engine().bulk_state() == pfsync::BulkRequestState::kDone)
    done_ns_ = now_ns;
}

json PfsyncStatusTracker::Status(linux::PfsyncNode& n) const {
  const pfsync::EngineStats st = n.Stats();
  json in = json::object(), out = json::object(), errors = json::object();
  json bytes_in = json::object(), bytes_out = json::object();
  for (int a = 0; a < pfsync::kActionCount; ++a) {
    const std::string name(pfsync::ActionName(static_cast<uint8_t>(a)));
    if (st.items_in[a] != 0 || st.items_out[a] != 0) {
      in[name] = st.items_in[a];
      out[name] = st.items_out[a];
      // Item bytes: every item of an action has its fixed wire size (subheaders and
      // the pfsync header are per packet, not per action).
      const uint64_t size = pfsync::ReceiverItemSize(static_cast<pfsync::Action>(a));
      bytes_in[name] = st.items_in[a] * size;
      bytes_out[name] = st.items_out[a] * size;
    }
  }
  for (int e = 0; e < pfsync::kDecodeErrorCount; ++e)
    errors["decode_" + std::string(pfsync::DecodeErrorName(static_cast<pfsync::DecodeError>(e)))] = st.rejected[e];
  errors["hdrops"] = st.hdrops;
  errors["badver"] = st.badver;
  errors["badact"] = st.badact;
  errors["badlen"] = st.badlen;
  errors["badauth"] = st.badauth;
  errors["stale"] = st.stale;
  errors["badval"] = st.badval;
  errors["badstate"] = st.badstate;
  errors["badif"] = st.badif;
  errors["badttl"] = st.badttl;
  errors["oerrors"] = st.oerrors;
  errors["oqdrops"] = st.oqdrops;
  errors["unrepresentable"] = n.store().unrepresentable();
  errors["id_collisions"] = n.store().id_collisions();
  const pfsync::BulkRequestState bs = n.engine().bulk_state();
  json j = {{"ipackets", st.ipackets},       {"opackets", st.opackets},
            {"items_in", in},                {"items_out", out},
            {"bytes_in", bytes_in},          {"bytes_out", bytes_out},
            {"errors", errors},              {"bulk_requests", st.bulk_requests},
            {"bulk_sends", st.bulk_sends},   {"bulk_state", BulkStateName(bs)},
            {"bulk_done", bs == pfsync::BulkRequestState::kDone},
            {"bulk_sending", n.engine().bulk_sending()},
            {"demotion", n.demotion()}};
  if (start_ns_ && done_ns_) j["bulk_duration_seconds"] = static_cast<double>(*done_ns_ - *start_ns_) / 1e9;
  // Sync lag: from a local state change to the packet that carried it.
  auto seconds = [](sim::Duration d) { return static_cast<double>(d.count()) / 1e9; };
  j["sends_postponed"] = st.oretries;
  j["flushes"] = st.flushes;
  j["sync_lag_last_seconds"] = seconds(st.lag_last);
  j["sync_lag_max_seconds"] = seconds(st.lag_max);
  if (st.flushes) j["sync_lag_avg_seconds"] = seconds(st.lag_sum) / static_cast<double>(st.flushes);
  // How long ago the peer was last heard from (nothing received: absent).
  if (st.last_heard) j["peer_last_heard_seconds"] = seconds(linux::MonotonicNow() - *st.last_heard);
  return j;
}

json QueueStatus(const linux::DataPlane& dataplane, const std::vector<linux::KernelQueueStats>& kernel) {
  json queues = json::array();
  for (int w = 0; w < dataplane.worker_count(); ++w) {
    const linux::WorkerCounters& c = dataplane.counters(w);
    const uint16_t num = dataplane.queue(w);
    json q = {{"queue", num},
              {"role", dataplane.is_control(w) ? "control" : "data"},
              {"packets", c.packets.load(std::memory_order_relaxed)},
              {"overruns", c.overruns.load(std::memory_order_relaxed)}};
    for (const linux::KernelQueueStats& k : kernel) {
      if (k.queue != num) continue;
      q["waiting"] = k.waiting;
      q["queue_dropped"] = k.queue_dropped;
      q["user_dropped"] = k.user_dropped;
    }
    queues.push_back(std::move(q));
  }
  return queues;
}

std::string QueueText(const json& queues) {
  if (!queues.is_array() || queues.empty()) return {};
  struct Sum {
    int first = -1, last = -1;
    uint64_t packets = 0, queue_dropped = 0, user_dropped = 0;
  };
  Sum data, control;
  for (const json& q : queues) {
    Sum& s = q.value("role", "") == "control" ? control : data;
    const int num = q.value("queue", 0);
    if (s.first < 0) s.first = num;
    s.last = num;
    s.packets += q.value("packets", uint64_t{0});
    s.queue_dropped += q.value("queue_dropped", uint64_t{0});
    s.user_dropped += q.value("user_dropped", uint64_t{0});
  }
  auto line = [](const std::string& what, const Sum& s) {
    return "\tnfqueue: " + what + ": " + std::to_string(s.packets) + " packets, " + std::to_string(s.queue_dropped) +
           " dropped (queue full), " + std::to_string(s.user_dropped) + " dropped (socket full)\n";
  };
  std::string out;
  if (control.first < 0) out += "\tnfqueue: no control queue (control-queue-maxlen 0): CARP and pfsync share the data queues\n";
  else out += line("control queue " + std::to_string(control.first) + " (CARP, pfsync)", control);
  if (data.first >= 0) {
    const std::string range = data.first == data.last ? "queue " + std::to_string(data.first)
                                                      : "queues " + std::to_string(data.first) + "-" + std::to_string(data.last);
    out += line("data " + range, data);
  }
  return out;
}

json FilterStatus(Filter& filter) {
  json j = filter.WithEngine([](eng::Engine& e) {
    const eng::Counters& c = e.counters();
    json reasons = json::object();
    for (int r = 0; r < eng::kResCount; ++r) reasons[eng::ReasonName(static_cast<eng::Reason>(r))] = c.reasons[r];
    json packets = json::array();
    for (int fam = 0; fam < 2; ++fam) {
      for (int dir = 0; dir < 2; ++dir) {
        for (int act = 0; act < 2; ++act) {
          packets.push_back({{"family", fam == 0 ? "inet" : "inet6"},
                             {"direction", dir == 0 ? "in" : "out"},
                             {"action", act == 0 ? "pass" : "block"},
                             {"packets", c.packets[fam][dir][act]}});
        }
      }
    }
    json labels = json::array();
    for (const auto& [name, lc] : e.Labels()) {
      labels.push_back({{"label", name}, {"evaluations", lc.evaluations}, {"packets", lc.packets},
                        {"bytes", lc.bytes}, {"states", lc.states}});
    }
    size_t states = 0;
    e.states().ForEach([&](uint32_t, eng::State&) { ++states; });
    return json{{"states", states},
                {"state_searches", c.state_searches},
                {"state_inserts", c.state_inserts},
                {"state_removals", c.state_removals},
                {"reasons", reasons},
                {"packets", packets},
                {"labels", labels}};
  });
  j["enabled"] = filter.enabled();
  j["packets_handled"] = filter.packets_handled();
  j["memory_bytes"] = ResidentBytes();
  return j;
}

json ObserveApi::StatesPage(Filter& filter, const std::string& query, size_t page, size_t per_page) {
  return filter.WithEngine([&](eng::Engine& e) {
    const int64_t now = WallNowNs();
    const size_t first = page * per_page;
    size_t total = 0;
    json lines = json::array();
    e.states().ForEach([&](uint32_t idx, eng::State&) {
      const bool in_page = total >= first && total < first + per_page;
      if (query.empty()) {
        if (in_page) lines.push_back(FormatStateLine(e.Export(idx, now)));
        ++total;
        return;
      }
      std::string line = FormatStateLine(e.Export(idx, now));
      if (line.find(query) == std::string::npos) return;
      if (in_page) lines.push_back(std::move(line));
      ++total;
    });
    return json{{"total", total}, {"page", page}, {"lines", lines}};
  });
}

json ObserveApi::Snapshot() {
  json comps = json::object();
  for (auto& c : components_) {
    json s = c->Status();
    if (!s.is_null()) comps[c->name()] = std::move(s);
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  json snap = {{"hostname", host}, {"filter", FilterStatus(filter_)}, {"components", comps}, {"maintenance", maintenance_}};
  if (dataplane_ != nullptr) snap["queues"] = QueueStatus(*dataplane_, linux::ReadKernelQueueStats());
  return snap;
}

json ObserveApi::Action(const std::string& action) {
  if (action == "maintenance-on" || action == "maintenance-off") {
    const bool on = action == "maintenance-on";
    if (on == maintenance_) return {{"ok", true}};
    json r = dispatcher_.Handle({{"cmd", "component"},
                                 {"name", "carp"},
                                 {"args", {"demote", std::to_string(on ? kMaintenanceDemote : -kMaintenanceDemote)}}});
    if (!r.value("ok", false)) return {{"ok", false}, {"error", r.value("err", "")}};
    maintenance_ = on;
    Log(LOG_NOTICE, on ? "status page: maintenance mode on (carp demoted)" : "status page: maintenance mode off");
    return {{"ok", true}};
  }
  if (action == "pfsync-bulk") {
    json r = dispatcher_.Handle({{"cmd", "component"}, {"name", "pfsync"}, {"args", {"bulk"}}});
    if (!r.value("ok", false)) return {{"ok", false}, {"error", r.value("err", "")}};
    Log(LOG_NOTICE, "status page: pfsync full update requested from the peer");
    return {{"ok", true}};
  }
  if (action == "reload") {
    // The same path as `systemctl reload`: the main loop re-reads pf.conf.
    kill(getpid(), SIGHUP);
    return {{"ok", true}};
  }
  return {{"ok", false}, {"error", "unknown action " + action}};
}

json ObserveApi::operator()(const std::string& what, const json& args) {
  if (what == "snapshot" || what == "status") return Snapshot();
  if (what == "states") {
    auto num = [&](const char* key, size_t def, size_t max) {
      if (!args.contains(key) || !args[key].is_string()) return def;
      char* end = nullptr;
      unsigned long v = std::strtoul(args[key].get<std::string>().c_str(), &end, 10);
      return *end == '\0' ? std::min<size_t>(v, max) : def;
    };
    return StatesPage(filter_, args.value("q", ""), num("page", 0, 1u << 24), num("per", 100, 1000));
  }
  if (what == "rules") return {{"text", filter_.ShowRules(1)}};
  if (what == "action") return Action(args.value("action", ""));
  return {{"error", "unknown request " + what}};
}

}  // namespace hapf::daemon
