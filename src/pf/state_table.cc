#include "pf/state_table.h"

namespace hapf::pf::engine {

StateKey MakeKey(net::Family af, uint8_t proto, const net::IpAddr& src, const net::IpAddr& dst, uint16_t sport,
                 uint16_t dport, Direction dir, uint16_t rdomain) {
  StateKey k;
  const int sidx = dir == Direction::kOut ? 1 : 0;
  k.SetAddr(sidx, src);
  k.SetAddr(1 - sidx, dst);
  k.port[sidx] = sport;
  k.port[1 - sidx] = dport;
  k.rdomain = rdomain;
  k.af = static_cast<uint8_t>(af);
  k.proto = proto;
  return k;
}

StateTable::StateTable() : index_(0, EntryHash{this}, EntryEq{this}) {}

uint32_t StateTable::AllocSlot() {
  if (!free_.empty()) {
    const uint32_t idx = free_.back();
    free_.pop_back();
    return idx;
  }
  if (next_unused_ == capacity_slots()) chunks_.push_back(std::make_unique<State[]>(kChunk));
  return next_unused_++;
}

uint32_t StateTable::Insert(const State& s) {
  if (index_.contains(s.key[kWire])) return kNoIndex;
  const bool equal = s.keys_equal();
  if (!equal && index_.contains(s.key[kStack])) return kNoIndex;
  const uint32_t idx = AllocSlot();
  State& slot = at(idx);
  slot = s;
  slot.live = 1;
  slot.has_rt_addr = 0;
  index_.insert(idx << 1 | kWire);
  if (!equal) index_.insert(idx << 1 | kStack);
  ++live_;
  return idx;
}

void StateTable::Remove(uint32_t idx) {
  State& s = at(idx);
  if (!s.live) return;
  index_.erase(idx << 1 | kWire);
  if (!s.keys_equal()) index_.erase(idx << 1 | kStack);
  if (s.has_rt_addr) rt_addrs_.erase(idx);
  s.live = 0;
  free_.push_back(idx);
  --live_;
}

uint32_t StateTable::Find(const StateKey& key, Direction dir) const {
  auto it = index_.find(key);
  if (it == index_.end()) return kNoIndex;
  const uint32_t e = *it;
  const State& s = at(e >> 1);
  const int want = dir == Direction::kOut ? kStack : kWire;
  if ((e & 1) != static_cast<uint32_t>(want) && !s.keys_equal()) return kNoIndex;
  return e >> 1;
}

void StateTable::SetRtAddr(uint32_t idx, const net::IpAddr& a) {
  if (a.empty()) {
    rt_addrs_.erase(idx);
    at(idx).has_rt_addr = 0;
    return;
  }
  rt_addrs_[idx] = a;
  at(idx).has_rt_addr = 1;
}

net::IpAddr StateTable::RtAddr(uint32_t idx) const {
  if (!at(idx).has_rt_addr) return {};
  auto it = rt_addrs_.find(idx);
  return it == rt_addrs_.end() ? net::IpAddr{} : it->second;
}

size_t StateTable::MemoryBytes() const {
  return chunks_.size() * kChunk * sizeof(State) + free_.capacity() * sizeof(uint32_t) +
         index_.capacity() * (sizeof(uint32_t) + 1);
}

}  // namespace hapf::pf::engine
