// Interface index -> name, as the filter engine should see it, kept fresh from
// rtnetlink so that the packet path never makes a syscall to name an interface.
//
// pf users write rules with the names of physical interfaces: a packet on a
// CARP interface (on Linux a macvlan named carpN on top of its carpdev) counts
// as on the carpdev, and the carp interfaces form the `carp` group. Each entry
// therefore carries the kernel's name and the name rules match (`rule_name`).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace hapf::linux {

struct IfaceEntry {
  uint32_t index = 0;
  std::string name;       // the kernel's name, e.g. "carp0"
  std::string rule_name;  // the name pf rules see, e.g. "em0" for carp0 on em0
  std::string kind;       // rtnetlink link kind ("macvlan", "veth", "" for physical)
  uint32_t link_index = 0;  // the lower device (IFLA_LINK), 0 if none
  bool carp = false;        // member of the `carp` group
  // Interface groups as OpenBSD forms them: the driver group (the name without
  // its unit number: "em" for em0, "carp" for carp0) plus configured ones.
  std::vector<std::string> groups;

  bool InGroup(std::string_view group) const {
    for (const std::string& g : groups) {
      if (g == group) return true;
    }
    return false;
  }
};

// Configuration of the names rules see: aliases (kernel name -> rule name,
// overriding carpN -> carpdev) and extra group memberships by kernel name.
struct IfaceNaming {
  std::map<std::string, std::string> aliases;
  std::map<std::string, std::vector<std::string>> groups;
};

// An immutable snapshot; lookups are a vector index for small ifindexes.
class IfaceTable {
 public:
  IfaceTable() = default;
  // Resolves aliases and groups for `links` (raw entries: index, name, kind,
  // link_index). An alias maps a kernel name to the name rules see and wins
  // over the automatic carpN -> carpdev rule.
  IfaceTable(std::vector<IfaceEntry> links, const IfaceNaming& naming);

  const IfaceEntry* Find(uint32_t index) const {
    if (index < by_index_.size()) return by_index_[index] < 0 ? nullptr : &entries_[by_index_[index]];
    for (const IfaceEntry& e : entries_) {
      if (e.index == index) return &e;
    }
    return nullptr;
  }
  const IfaceEntry* FindByName(std::string_view name) const;
  const std::vector<IfaceEntry>& entries() const { return entries_; }

 private:
  std::vector<IfaceEntry> entries_;
  std::vector<int> by_index_;  // ifindex -> position in entries_, -1 if absent
};

// True for names of the form carpN (N decimal), the CARP interfaces' names.
bool IsCarpName(std::string_view name);
// The driver group of an interface name: "em" for "em0", "" when the name has
// no unit number or nothing before it.
std::string_view DriverGroup(std::string_view name);

// The live interface list. A watcher thread applies rtnetlink link events and
// publishes a new snapshot; readers compare generation() (one relaxed atomic
// load per batch) and take a new snapshot only when it moved.
class IfaceRegistry {
 public:
  IfaceRegistry() : snapshot_(std::make_shared<IfaceTable>()) {}
  ~IfaceRegistry() { StopWatching(); }
  IfaceRegistry(const IfaceRegistry&) = delete;
  IfaceRegistry& operator=(const IfaceRegistry&) = delete;

  void SetNaming(IfaceNaming naming);
  // Dumps all links and starts the watcher thread. Empty string on success.
  std::string StartWatching();
  void StopWatching();
  // Looks one index up synchronously (RTM_GETLINK) when a packet names an
  // interface the watcher has not reported yet; publishes a new snapshot.
  void ResolveNow(uint32_t index);

  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<const IfaceTable> Snapshot() const {
    std::lock_guard lock(mu_);
    return snapshot_;
  }

  // Applies one RTM_NEWLINK/RTM_DELLINK message (exposed for tests).
  void ApplyLinkMessage(const void* nlmsg);

 private:
  void Publish();  // requires mu_

  mutable std::mutex mu_;
  std::map<uint32_t, IfaceEntry> links_;
  IfaceNaming naming_;
  std::shared_ptr<const IfaceTable> snapshot_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::thread watcher_;
};

// A reader's cached view of the registry (one per worker thread).
class IfaceView {
 public:
  explicit IfaceView(IfaceRegistry& registry) : registry_(registry) { Refresh(); }
  // Call once per batch of packets.
  void Refresh() {
    uint64_t gen = registry_.generation();
    if (gen != seen_ || table_ == nullptr) {
      seen_ = gen;
      table_ = registry_.Snapshot();
      unresolved_ = 0;
    }
  }
  // nullptr for index 0; resolves an unknown index synchronously once per
  // registry generation (a gone interface must not cost a syscall per packet).
  const IfaceEntry* Find(uint32_t index) {
    if (index == 0) return nullptr;
    const IfaceEntry* e = table_->Find(index);
    if (e != nullptr || index == unresolved_) return e;
    registry_.ResolveNow(index);
    Refresh();
    e = table_->Find(index);
    if (e == nullptr) unresolved_ = index;
    return e;
  }

 private:
  IfaceRegistry& registry_;
  std::shared_ptr<const IfaceTable> table_;
  uint64_t seen_ = ~uint64_t{0};
  uint32_t unresolved_ = 0;  // reset whenever the table changes
};

}  // namespace hapf::linux
