// The daemon side of /metrics and the status page: JSON status of the filter
// and of the CARP and pfsync runtimes (their Component::Status()), and the
// API the HTTP thread posts to the main loop. Everything here runs on the
// main loop; filter data is read under the packet lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "carp/engine.h"
#include "daemon/component.h"
#include "daemon/filter.h"

namespace hapf::linux {
class DataPlane;
class PfsyncNode;
struct KernelQueueStats;
}

namespace hapf::daemon {

class Dispatcher;

// CARP state changes per interface, seen by comparing states after each step
// (the runtime applies the engine's actions itself).
class CarpTransitions {
 public:
  void Observe(const carp::Engine& engine);
  // {"vhosts": [{ifname, vhid, state, demote, transitions{to: n}}], "group_demote", "stats"}.
  nlohmann::json Status(const carp::Engine& engine, const std::map<std::string, int>& vhids) const;

 private:
  std::map<std::string, carp::State> last_;
  std::map<std::string, std::map<std::string, uint64_t>> count_;
};

// Bulk-update timing of the local node (request to completion).
class PfsyncStatusTracker {
 public:
  void Observe(linux::PfsyncNode& node, int64_t now_ns);
  nlohmann::json Status(linux::PfsyncNode& node) const;

 private:
  std::optional<int64_t> start_ns_, done_ns_;
};

// The data plane's queues, the "queues" part of a snapshot: one object per
// queue, {queue, role ("data" or "control"), packets, overruns} from its
// worker and, when the kernel lists the queue (`kernel` is
// /proc/net/netfilter/nfnetlink_queue), {waiting, queue_dropped, user_dropped}.
nlohmann::json QueueStatus(const linux::DataPlane& dataplane, const std::vector<linux::KernelQueueStats>& kernel);
// Those queues for `hapfctl pfsync`: the control queue, then the data queues summed.
std::string QueueText(const nlohmann::json& queues);

// Filter counters, labels, memory: the "filter" part of a snapshot.
nlohmann::json FilterStatus(Filter& filter);

// The API behind the HTTP server (HttpServer::Api), on the main loop.
class ObserveApi {
 public:
  ObserveApi(Filter& filter, std::vector<std::unique_ptr<Component>>& components, Dispatcher& dispatcher)
      : filter_(filter), components_(components), dispatcher_(dispatcher) {}
  nlohmann::json operator()(const std::string& what, const nlohmann::json& args);
  // Adds "queues" to the snapshot (once the data plane runs).
  void set_dataplane(const linux::DataPlane* dataplane) { dataplane_ = dataplane; }

  // One page of `pfctl -ss` lines containing `query` (all when empty):
  // {"total": matches, "lines": [...]} — only the page's lines are formatted
  // when there is no query, so a million states stay cheap.
  static nlohmann::json StatesPage(Filter& filter, const std::string& query, size_t page, size_t per_page);

 private:
  nlohmann::json Snapshot();
  nlohmann::json Action(const std::string& action);

  Filter& filter_;
  std::vector<std::unique_ptr<Component>>& components_;
  Dispatcher& dispatcher_;
  const linux::DataPlane* dataplane_ = nullptr;
  bool maintenance_ = false;
};

// The demotion maintenance mode applies to group "carp".
inline constexpr int kMaintenanceDemote = 128;

}  // namespace hapf::daemon
