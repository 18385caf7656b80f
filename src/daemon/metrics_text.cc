#include "daemon/metrics_text.h"

#include <cctype>
#include <cstdio>

namespace hapf::daemon {
namespace {

using json = nlohmann::json;

// Collects one metric family at a time so HELP/TYPE are written once.
class Writer {
 public:
  void Family(const std::string& name, const char* type, const char* help) {
    out_.append("# HELP ").append(name).append(" ").append(help);
    out_.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  void Sample(const std::string& name, const std::string& labels, const json& value) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    out_.append(" ").append(Number(value)).append("\n");
  }
  std::string& text() { return out_; }

 private:
  static std::string Number(const json& v) {
    if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
    if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
    if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
    if (v.is_number_float()) {
      char b[64];
      std::snprintf(b, sizeof b, "%.9g", v.get<double>());
      return b;
    }
    return "NaN";
  }
  std::string out_;
};

bool IsNumber(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && (j[key].is_number() || j[key].is_boolean());
}

std::string Label(const char* name, const json& v) {
  std::string out(name);
  out.append("=\"").append(EscapeLabel(v.is_string() ? v.get<std::string>() : v.dump())).append("\"");
  return out;
}

// A scalar field of `obj` as one family without labels.
void Scalar(Writer& w, const json& obj, const char* key, const std::string& name, const char* type,
            const char* help) {
  if (!IsNumber(obj, key)) return;
  w.Family(name, type, help);
  w.Sample(name, "", obj[key]);
}

// obj[key] = {"label value": number, ...} as one family with one label.
void Map(Writer& w, const json& obj, const char* key, const std::string& name, const char* label,
         const char* type, const char* help) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_object() || obj[key].empty()) return;
  w.Family(name, type, help);
  for (const auto& [k, v] : obj[key].items()) w.Sample(name, Label(label, k), v);
}

void Filter(Writer& w, const json& f) {
  Scalar(w, f, "states", "hapf_pf_states", "gauge", "States in the state table.");
  Scalar(w, f, "state_limit", "hapf_pf_states_limit", "gauge", "The states hard limit.");
  Scalar(w, f, "state_searches", "hapf_pf_state_searches_total", "counter", "State table lookups.");
  Scalar(w, f, "state_inserts", "hapf_pf_state_inserts_total", "counter", "States inserted.");
  Scalar(w, f, "state_removals", "hapf_pf_state_removals_total", "counter", "States removed.");
  Scalar(w, f, "packets_handled", "hapf_pf_queued_packets_total", "counter", "Packets the data plane handled.");
  Scalar(w, f, "enabled", "hapf_pf_enabled", "gauge", "1 when the filter is enabled.");
  Scalar(w, f, "memory_bytes", "hapf_process_resident_memory_bytes", "gauge", "Resident memory of hapfd.");
  Map(w, f, "reasons", "hapf_pf_reason_total", "reason", "counter", "Packets per pf reason (pfctl -si).");
  if (f.contains("packets") && f["packets"].is_array() && !f["packets"].empty()) {
    w.Family("hapf_pf_packets_total", "counter", "Packets per family, direction and action.");
    for (const json& p : f["packets"]) {
      w.Sample("hapf_pf_packets_total",
               Label("family", p["family"]) + "," + Label("direction", p["direction"]) + "," +
                   Label("action", p["action"]),
               p["packets"]);
    }
  }
  if (f.contains("labels") && f["labels"].is_array() && !f["labels"].empty()) {
    const json& labels = f["labels"];
    struct Col { const char* key; const char* name; const char* help; };
    for (const Col& c : {Col{"evaluations", "hapf_pf_rule_evaluations_total", "Evaluations of labelled rules."},
                         Col{"packets", "hapf_pf_rule_packets_total", "Packets matched by labelled rules."},
                         Col{"bytes", "hapf_pf_rule_bytes_total", "Bytes matched by labelled rules."},
                         Col{"states", "hapf_pf_rule_states_total", "States created by labelled rules."}}) {
      w.Family(c.name, "counter", c.help);
      for (const json& l : labels) {
        if (IsNumber(l, c.key)) w.Sample(c.name, Label("label", l["label"]), l[c.key]);
      }
    }
  }
}

void Carp(Writer& w, const json& c) {
  if (c.contains("vhosts") && c["vhosts"].is_array() && !c["vhosts"].empty()) {
    const json& vh = c["vhosts"];
    auto id = [](const json& v) { return Label("interface", v["ifname"]) + "," + Label("vhid", v["vhid"]); };
    w.Family("hapf_carp_state", "gauge", "1 for the CARP state the vhid is in (INIT, BACKUP, MASTER).");
    for (const json& v : vh) {
      for (const char* s : {"INIT", "BACKUP", "MASTER"}) {
        w.Sample("hapf_carp_state", id(v) + "," + Label("state", s), json(v.value("state", "") == s));
      }
    }
    w.Family("hapf_carp_demote", "gauge", "The demote count the vhid advertises.");
    for (const json& v : vh) {
      if (IsNumber(v, "demote")) w.Sample("hapf_carp_demote", id(v), v["demote"]);
    }
    w.Family("hapf_carp_transitions_total", "counter", "CARP state changes of the vhid, by new state.");
    for (const json& v : vh) {
      if (!v.contains("transitions") || !v["transitions"].is_object()) continue;
      for (const auto& [to, n] : v["transitions"].items()) w.Sample("hapf_carp_transitions_total", id(v) + "," + Label("to", to), n);
    }
  }
  Map(w, c, "group_demote", "hapf_carp_group_demote", "group", "gauge", "Demote counter of an interface group.");
  Map(w, c, "stats", "hapf_carp_packets_total", "counter_name", "counter", "carpstats counters (netstat -s -p carp).");
}

void Pfsync(Writer& w, const json& p) {
  Map(w, p, "items_in", "hapf_pfsync_received_messages_total", "action", "counter", "pfsync messages received per action.");
  Map(w, p, "items_out", "hapf_pfsync_sent_messages_total", "action", "counter", "pfsync messages sent per action.");
  Map(w, p, "bytes_in", "hapf_pfsync_received_bytes_total", "action", "counter",
      "pfsync item bytes received per action (items times the action's wire size).");
  Map(w, p, "bytes_out", "hapf_pfsync_sent_bytes_total", "action", "counter",
      "pfsync item bytes sent per action (items times the action's wire size).");
  Map(w, p, "errors", "hapf_pfsync_errors_total", "reason", "counter", "pfsync packets dropped per reason.");
  Scalar(w, p, "ipackets", "hapf_pfsync_received_packets_total", "counter", "pfsync packets received.");
  Scalar(w, p, "opackets", "hapf_pfsync_sent_packets_total", "counter", "pfsync packets sent.");
  Scalar(w, p, "bulk_requests", "hapf_pfsync_bulk_requests_total", "counter", "Bulk updates requested by the peer.");
  Scalar(w, p, "bulk_sends", "hapf_pfsync_bulk_sends_total", "counter", "Bulk updates sent.");
  Scalar(w, p, "bulk_done", "hapf_pfsync_bulk_done", "gauge", "1 once this node's own bulk update is complete.");
  Scalar(w, p, "bulk_duration_seconds", "hapf_pfsync_bulk_duration_seconds", "gauge",
         "Time from this node's bulk request to its completion.");
  Scalar(w, p, "demotion", "hapf_pfsync_carp_demotion", "gauge", "CARP demotion pfsync currently applies.");
  Scalar(w, p, "sends_postponed", "hapf_pfsync_sends_postponed_total", "counter",
         "Times the socket refused packets for now (they stay queued and go later).");
  Scalar(w, p, "flushes", "hapf_pfsync_flushes_total", "counter", "Packets of queued state changes sent.");
  Scalar(w, p, "sync_lag_last_seconds", "hapf_pfsync_sync_lag_seconds", "gauge",
         "Sync lag of the last flush: from the oldest state change it carried to its send.");
  Scalar(w, p, "sync_lag_max_seconds", "hapf_pfsync_sync_lag_max_seconds", "gauge", "Largest sync lag seen.");
  Scalar(w, p, "sync_lag_avg_seconds", "hapf_pfsync_sync_lag_avg_seconds", "gauge", "Mean sync lag per flush.");
  Scalar(w, p, "peer_last_heard_seconds", "hapf_pfsync_peer_last_heard_seconds", "gauge",
         "Seconds since the last well-formed pfsync packet from a peer.");
  if (p.is_object() && p.contains("bulk_state") && p["bulk_state"].is_string()) {
    w.Family("hapf_pfsync_bulk_state", "gauge", "1 for the bulk-update requester state.");
    for (const char* s : {"none", "start", "sent", "bulk", "done"})
      w.Sample("hapf_pfsync_bulk_state", Label("state", s), json(p["bulk_state"] == s));
  }
}

// snapshot["queues"]: per NFQUEUE queue, labelled with its number and role
// ("data", or "control" for the CARP/pfsync queue).
void Queues(Writer& w, const json& queues) {
  if (!queues.is_array() || queues.empty()) return;
  auto id = [](const json& q) { return Label("queue", q.value("queue", 0)) + "," + Label("role", q.value("role", "")); };
  w.Family("hapf_nfqueue_packets_total", "counter", "Packets the queue's worker received.");
  for (const json& q : queues) {
    if (IsNumber(q, "packets")) w.Sample("hapf_nfqueue_packets_total", id(q), q["packets"]);
  }
  w.Family("hapf_nfqueue_overruns_total", "counter", "Times the worker's socket reported lost messages (ENOBUFS).");
  for (const json& q : queues) {
    if (IsNumber(q, "overruns")) w.Sample("hapf_nfqueue_overruns_total", id(q), q["overruns"]);
  }
  w.Family("hapf_nfqueue_kernel_dropped_total", "counter",
           "Packets the kernel dropped before hapfd saw them: queue_full (queue-maxlen reached) or socket_full "
           "(the worker's socket buffer); 32-bit, from /proc/net/netfilter/nfnetlink_queue.");
  for (const json& q : queues) {
    if (IsNumber(q, "queue_dropped"))
      w.Sample("hapf_nfqueue_kernel_dropped_total", id(q) + "," + Label("reason", "queue_full"), q["queue_dropped"]);
    if (IsNumber(q, "user_dropped"))
      w.Sample("hapf_nfqueue_kernel_dropped_total", id(q) + "," + Label("reason", "socket_full"), q["user_dropped"]);
  }
  w.Family("hapf_nfqueue_waiting", "gauge", "Packets queued in the kernel without a verdict yet.");
  for (const json& q : queues) {
    if (IsNumber(q, "waiting")) w.Sample("hapf_nfqueue_waiting", id(q), q["waiting"]);
  }
}

}  // namespace

std::string EscapeLabel(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string RenderMetrics(const json& snapshot) {
  Writer w;
  if (!snapshot.is_object()) return {};
  if (snapshot.contains("filter")) Filter(w, snapshot["filter"]);
  if (snapshot.contains("queues")) Queues(w, snapshot["queues"]);
  const json comps = snapshot.value("components", json::object());
  if (comps.contains("carp")) Carp(w, comps["carp"]);
  if (comps.contains("pfsync")) Pfsync(w, comps["pfsync"]);
  // Every other component (config sync, ...): its top-level numbers, generically.
  for (const auto& [name, status] : comps.items()) {
    if (name == "carp" || name == "pfsync" || !status.is_object()) continue;
    for (const auto& [key, v] : status.items()) {
      if (!v.is_number() && !v.is_boolean()) continue;
      std::string metric = "hapf_" + name + "_" + key;
      for (char& ch : metric) {
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') ch = '_';
      }
      const bool counter = metric.size() > 6 && metric.compare(metric.size() - 6, 6, "_total") == 0;
      w.Family(metric, counter ? "counter" : "gauge", ("Status field " + key + " of component " + name + ".").c_str());
      w.Sample(metric, "", v);
    }
  }
  return std::move(w.text());
}

}  // namespace hapf::daemon
