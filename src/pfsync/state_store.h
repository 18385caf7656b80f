// The state table as the sync engine sees it. The filter engine implements it
// over its own state table (through a pf::StateExport bridge); MemoryStateStore
// is a complete stand-alone table used by the simulator, tests and benchmarks.
#pragma once

#include <absl/container/btree_map.h>
#include <absl/container/flat_hash_map.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string_view>

#include "pfsync/wire.h"
#include "sim/time.h"

namespace hapf::pfsync {

// The project's virtual/monotonic time (src/sim/time.h): the engine never reads a clock.
using Duration = sim::Duration;
using Time = sim::Time;

// pf's default timeout in seconds for a PFTM index (§4.4); 0 for the non-state entries.
uint32_t DefaultTimeoutSeconds(uint8_t timeout_index);

enum class InsertResult : uint8_t {
  kInserted,
  kIdInUse,       // (creatorid, id) already present
  kKeyConflict,   // same key, interface and direction as a live state
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Copies the state out, with `creation` and `expire` as of `now`.
  virtual bool Lookup(const StateId& id, Time now, WireState* out) const = 0;
  // The same, with where the state was when it was reported (`hint`, a
  // store-specific slot, kNoHint for none): a store may look there first and
  // skip its index.
  static constexpr uint32_t kNoHint = 0xffffffff;
  virtual bool LookupAt(const StateId& id, uint32_t /*hint*/, Time now, WireState* out) const {
    return Lookup(id, now, out);
  }
  // Imports a state (§4.1: creation and expire are relative to `now`). A key
  // conflict with a TCP state whose peers are both at least FIN_WAIT_2
  // replaces that state, as pf_state_key_attach does.
  virtual InsertResult Insert(const WireState& s, Time now) = 0;
  // Replaces the peers that are given (nullptr: keep), sets the timeout index,
  // and when `touch` marks the state active now.
  virtual bool UpdatePeers(const StateId& id, const WirePeer* src, const WirePeer* dst, uint8_t timeout, bool touch,
                           Time now) = 0;
  virtual bool Remove(const StateId& id) = 0;
  // Removes the states of `creatorid`, only those bound to `ifname` unless it is empty.
  virtual size_t RemoveCreator(uint32_t creatorid, std::string_view ifname) = 0;
  // Bulk transfer walk: the next state after `cursor` (0 = from the start) in
  // a stable order where states inserted later come later. Advances `cursor`.
  virtual bool BulkNext(uint64_t& cursor, Time now, WireState* out) const = 0;
  virtual size_t Size() const = 0;
};

class MemoryStateStore final : public StateStore {
 public:
  bool Lookup(const StateId& id, Time now, WireState* out) const override;
  InsertResult Insert(const WireState& s, Time now) override;
  bool UpdatePeers(const StateId& id, const WirePeer* src, const WirePeer* dst, uint8_t timeout, bool touch,
                   Time now) override;
  bool Remove(const StateId& id) override;
  size_t RemoveCreator(uint32_t creatorid, std::string_view ifname) override;
  bool BulkNext(uint64_t& cursor, Time now, WireState* out) const override;
  size_t Size() const override { return index_.size(); }
  // Pre-sizes the table for `n` states (avoids regrowth during a big bulk import).
  void Reserve(size_t n) {
    slots_.reserve(n);
    index_.reserve(n);
    keys_.reserve(n);
  }

  // Removes states whose timeout ran out; returns their ids through `removed`.
  template <typename F>
  size_t Expire(Time now, F&& removed);
  // Read-only walk over every stored state (values as of `now`).
  template <typename F>
  void ForEach(Time now, F&& f) const;

 private:
  // What makes two states collide in pf: interface, direction, protocol and the wire key.
  using KeyBytes = std::array<uint8_t, kKeySize + kIfNameSize + 2>;
  static KeyBytes KeyOf(const WireState& s);

  struct Entry {
    WireState state;  // creation/expire fields are recomputed on the way out
    Time created{};
    Time last_active{};
    uint64_t seq = 0;
  };
  void Fill(const Entry& e, Time now, WireState* out) const;
  void Erase(uint32_t slot);

  // Entries live in a slot vector (stable, no rehash moves of 300-byte
  // records); the maps hold slot numbers.
  std::vector<Entry> slots_;
  std::vector<uint32_t> free_;
  absl::flat_hash_map<StateId, uint32_t> index_;
  absl::flat_hash_map<KeyBytes, uint32_t> keys_;
  absl::btree_map<uint64_t, uint32_t> order_;  // insertion order for bulk walks
  uint64_t next_seq_ = 1;
};

template <typename F>
size_t MemoryStateStore::Expire(Time now, F&& removed) {
  std::vector<StateId> dead;
  for (const auto& [id, slot] : index_) {
    const Entry& e = slots_[slot];
    Duration limit = std::chrono::seconds(DefaultTimeoutSeconds(e.state.timeout));
    if (now - e.last_active >= limit) dead.push_back(id);
  }
  for (const StateId& id : dead) {
    Remove(id);
    removed(id);
  }
  return dead.size();
}

template <typename F>
void MemoryStateStore::ForEach(Time now, F&& f) const {
  WireState s;
  for (const auto& [seq, slot] : order_) {
    Fill(slots_[slot], now, &s);
    f(s);
  }
}

}  // namespace hapf::pfsync
