#include "pfsync/state_store.h"

#include <algorithm>
#include <cstring>

namespace hapf::pfsync {

uint32_t DefaultTimeoutSeconds(uint8_t timeout_index) {
  static constexpr uint32_t kDefaults[] = {120, 30, 86400, 900, 45, 90, 60, 30, 60, 20,
                                           10,  60, 30,    60,  60, 10, 0,  0,  0,  30};
  return timeout_index < std::size(kDefaults) ? kDefaults[timeout_index] : 0;
}

MemoryStateStore::KeyBytes MemoryStateStore::KeyOf(const WireState& s) {
  KeyBytes k{};
  EncodeKey(s.key[kKeyWire], k.data());
  std::memcpy(k.data() + kKeySize, s.ifname.bytes.data(), kIfNameSize);
  k[kKeySize + kIfNameSize] = static_cast<uint8_t>(s.direction);
  k[kKeySize + kIfNameSize + 1] = s.proto;
  return k;
}

void MemoryStateStore::Fill(const Entry& e, Time now, WireState* out) const {
  *out = e.state;
  auto age = std::chrono::duration_cast<std::chrono::seconds>(now - e.created).count();
  out->creation = static_cast<uint32_t>(std::max<int64_t>(age, 0));
  int64_t idle = std::chrono::duration_cast<std::chrono::seconds>(now - e.last_active).count();
  int64_t left = int64_t{DefaultTimeoutSeconds(e.state.timeout)} - std::max<int64_t>(idle, 0);
  out->expire = static_cast<uint32_t>(std::max<int64_t>(left, 0));
}

bool MemoryStateStore::Lookup(const StateId& id, Time now, WireState* out) const {
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  if (out) Fill(slots_[it->second], now, out);
  return true;
}

InsertResult MemoryStateStore::Insert(const WireState& s, Time now) {
  StateId id = s.identity();
  if (index_.contains(id)) return InsertResult::kIdInUse;
  KeyBytes key = KeyOf(s);
  if (auto k = keys_.find(key); k != keys_.end()) {
    const WireState& old = slots_[k->second].state;
    bool closing = old.proto == 6 && old.src.state >= kTcpFinWait2 && old.dst.state >= kTcpFinWait2;
    if (!closing) return InsertResult::kKeyConflict;
    Erase(k->second);
  }
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Entry& e = slots_[slot];
  e.state = s;
  e.created = now - std::chrono::seconds(s.creation);
  uint32_t full = DefaultTimeoutSeconds(s.timeout);
  // §4.1: last activity = now − (full timeout − remaining); 0 remaining looks fresh.
  e.last_active = s.expire == 0 ? now : now - std::chrono::seconds(full - std::min(full, s.expire));
  e.seq = next_seq_++;
  order_.emplace(e.seq, slot);
  keys_.emplace(key, slot);
  index_.emplace(id, slot);
  return InsertResult::kInserted;
}

bool MemoryStateStore::UpdatePeers(const StateId& id, const WirePeer* src, const WirePeer* dst, uint8_t timeout,
                                   bool touch, Time now) {
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  Entry& e = slots_[it->second];
  if (src) e.state.src = *src;
  if (dst) e.state.dst = *dst;
  e.state.timeout = timeout;
  if (touch) e.last_active = now;
  return true;
}

void MemoryStateStore::Erase(uint32_t slot) {
  Entry& e = slots_[slot];
  keys_.erase(KeyOf(e.state));
  order_.erase(e.seq);
  index_.erase(e.state.identity());
  free_.push_back(slot);
}

bool MemoryStateStore::Remove(const StateId& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  Erase(it->second);
  return true;
}

size_t MemoryStateStore::RemoveCreator(uint32_t creatorid, std::string_view ifname) {
  std::vector<StateId> doomed;
  for (const auto& [id, slot] : index_)
    if (id.creatorid == creatorid && (ifname.empty() || slots_[slot].state.ifname.view() == ifname))
      doomed.push_back(id);
  for (const StateId& id : doomed) Remove(id);
  return doomed.size();
}

bool MemoryStateStore::BulkNext(uint64_t& cursor, Time now, WireState* out) const {
  auto it = order_.upper_bound(cursor);
  if (it == order_.end()) return false;
  cursor = it->first;
  Fill(slots_[it->second], now, out);
  return true;
}

}  // namespace hapf::pfsync
