// The bridge between pfsync and the real filter engine: lossless conversion
// between the wire record (WireState, OpenBSD address-family numbers) and the
// engine's StateExport, and a StateStore implemented over the engine's state
// table, which is also the engine's StateObserver so the sync engine hears of
// every LOCAL create / update / remove without polling.
//
// Time: the sync engine runs on sim::Time (monotonic), the filter on TimeNs;
// `pf_offset_ns` maps one onto the other (pf = sync + offset). Both stay pure.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>

#include "pf/engine.h"
#include "pfsync/state_store.h"
#include "pfsync/wire.h"

namespace hapf::pfsync {

class SyncEngine;

// WireState -> StateExport. False (out untouched) when an address family is not
// one OpenBSD sends (2 or 24): such a state cannot be represented in the filter.
bool WireToExport(const WireState& w, pf::engine::StateExport* out);
// StateExport -> WireState: the state af is the wire key's, `updates` is 0 (it is
// the sync engine's own bookkeeping, not a state property).
WireState ExportToWire(const pf::engine::StateExport& e);

class PfStateStore final : public StateStore, public pf::engine::StateObserver {
 public:
  // Registers itself as `engine`'s state observer.
  explicit PfStateStore(pf::engine::Engine& engine, int64_t pf_offset_ns = 0);
  ~PfStateStore() override;
  PfStateStore(const PfStateStore&) = delete;
  PfStateStore& operator=(const PfStateStore&) = delete;

  // Where local events go (nullptr: nowhere, the table is still indexed).
  void AttachSync(SyncEngine* sync) { sync_ = sync; }
  // The latest time seen (removals reported by the filter carry none).
  void SetNow(Time now) { now_ = now; }

  // --- StateStore ---
  bool Lookup(const StateId& id, Time now, WireState* out) const override;
  // `hint` is the filter's slot the update was reported from: checked by id
  // before the index is consulted.
  bool LookupAt(const StateId& id, uint32_t hint, Time now, WireState* out) const override;
  InsertResult Insert(const WireState& s, Time now) override;
  bool UpdatePeers(const StateId& id, const WirePeer* src, const WirePeer* dst, uint8_t timeout, bool touch,
                   Time now) override;
  bool Remove(const StateId& id) override;
  size_t RemoveCreator(uint32_t creatorid, std::string_view ifname) override;
  // Walks the filter's slots in index order; the cursor is slot + 1.
  bool BulkNext(uint64_t& cursor, Time now, WireState* out) const override;
  size_t Size() const override { return index_.size(); }

  // --- pf::engine::StateObserver ---
  void StateCreated(uint32_t idx, const pf::engine::State& s, pf::engine::TimeNs now) override;
  void StateUpdated(uint32_t idx, const pf::engine::State& s, pf::engine::TimeNs now) override;
  void StateRemoving(uint32_t idx, const pf::engine::State& s) override;

  // The filter's slot of a replicated state, or kNoIndex.
  uint32_t IndexOf(const StateId& id) const;
  // Imports refused because the record has a family the filter cannot hold.
  uint64_t unrepresentable() const { return unrepresentable_; }
  // Local states created with an id a replicated state already holds (the two
  // firewalls share a hostid); they stay local and are not synced.
  uint64_t id_collisions() const { return id_collisions_; }

 private:
  pf::engine::TimeNs PfNow(Time t) const { return sim::ToNanos(t) + offset_; }
  Time SyncNow(pf::engine::TimeNs t) const { return sim::FromNanos(t - offset_); }

  pf::engine::Engine& engine_;
  int64_t offset_;
  SyncEngine* sync_ = nullptr;
  Time now_{};
  absl::flat_hash_map<StateId, uint32_t> index_;
  uint64_t unrepresentable_ = 0;
  uint64_t id_collisions_ = 0;
};

}  // namespace hapf::pfsync
