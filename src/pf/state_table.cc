#include "pf/state_table.h"

namespace hapf::pf::engine {

StateTable::StateTable() : buckets_(1024), mask_(1023) {}

uint32_t StateTable::AllocSlot() {
  if (!free_.empty()) {
    const uint32_t idx = free_.back();
    free_.pop_back();
    return idx;
  }
  if (next_unused_ == capacity_slots()) {
    chunks_.push_back(std::make_unique<State[]>(kChunk));
    live_bits_.resize(capacity_slots() / 64);
  }
  return next_unused_++;
}

void StateTable::Grow() {
  std::vector<Bucket> old = std::move(buckets_);
  buckets_.assign(old.size() * 2, Bucket{});
  mask_ = static_cast<uint32_t>(buckets_.size() - 1);
  for (const Bucket& b : old) {
    if (b.entry == kEmpty) continue;
    uint32_t i = b.tag & mask_;
    while (buckets_[i].entry != kEmpty) i = (i + 1) & mask_;
    buckets_[i] = b;
  }
}

void StateTable::InsertEntry(uint32_t entry, uint32_t tag) {
  // At most 3/4 full: linear probing stays short.
  if ((entries_ + 1) * 4ull > buckets_.size() * 3ull) Grow();
  uint32_t i = tag & mask_;
  while (buckets_[i].entry != kEmpty) i = (i + 1) & mask_;
  buckets_[i] = Bucket{tag, entry};
  ++entries_;
}

void StateTable::EraseEntry(uint32_t entry, uint32_t tag) {
  uint32_t i = tag & mask_;
  while (buckets_[i].entry != entry) {
    if (buckets_[i].entry == kEmpty) return;
    i = (i + 1) & mask_;
  }
  // Backward shift: move each later entry of the cluster into the hole when
  // its home bucket does not lie cyclically between the hole and itself.
  for (uint32_t j = (i + 1) & mask_; buckets_[j].entry != kEmpty; j = (j + 1) & mask_) {
    const uint32_t home = buckets_[j].tag & mask_;
    const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    buckets_[i] = buckets_[j];
    i = j;
  }
  buckets_[i].entry = kEmpty;
  --entries_;
}

uint32_t StateTable::Insert(const State& s) {
  const uint32_t wire_tag = Tag(s.key[kWire]);
  if (FindEntry(s.key[kWire], wire_tag) != kEmpty) return kNoIndex;
  const bool equal = s.keys_equal();
  const uint32_t stack_tag = equal ? wire_tag : Tag(s.key[kStack]);
  if (!equal && FindEntry(s.key[kStack], stack_tag) != kEmpty) return kNoIndex;
  const uint32_t idx = AllocSlot();
  State& slot = at(idx);
  slot = s;
  slot.live = 1;
  live_bits_[idx >> 6] |= uint64_t{1} << (idx & 63);
  slot.has_rt_addr = 0;
  slot.split = !equal;
  InsertEntry(idx << 1 | kWire, wire_tag);
  if (!equal) InsertEntry(idx << 1 | kStack, stack_tag);
  ++live_;
  return idx;
}

void StateTable::Remove(uint32_t idx) {
  State& s = at(idx);
  if (!s.live) return;
  EraseEntry(idx << 1 | kWire, Tag(s.key[kWire]));
  if (s.split) EraseEntry(idx << 1 | kStack, Tag(s.key[kStack]));
  if (s.has_rt_addr) rt_addrs_.erase(idx);
  s.live = 0;
  live_bits_[idx >> 6] &= ~(uint64_t{1} << (idx & 63));
  free_.push_back(idx);
  --live_;
}

uint32_t StateTable::Find(const StateKey& key, uint32_t tag, Direction dir) const {
  const uint32_t e = FindEntry(key, tag);
  if (e == kEmpty) return kNoIndex;
  const State& s = at(e >> 1);
  const int want = dir == Direction::kOut ? kStack : kWire;
  if ((e & 1) != static_cast<uint32_t>(want) && s.split) return kNoIndex;
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
         live_bits_.capacity() * sizeof(uint64_t) +
         buckets_.capacity() * sizeof(Bucket);
}

}  // namespace hapf::pf::engine
