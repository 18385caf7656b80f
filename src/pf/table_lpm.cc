#include "pf/table_lpm.h"

#include <algorithm>

namespace hapf::pf::engine {

bool Table::Add(const net::Prefix& prefix, bool negated) {
  if (prefix.addr.empty() || prefix.len > prefix.addr.max_prefix()) return false;
  net::Prefix p = prefix.Normalized();
  Family& fam = family(p.addr.family());
  auto& map = fam.by_len[p.len];
  auto [it, inserted] = map.try_emplace(p.addr.bytes(), TableEntry{p, negated});
  if (!inserted) {
    if (it->second.negated == negated) return false;
    it->second.negated = negated;
    ++version_;
    return true;
  }
  ++version_;
  ++fam.count;
  if (map.size() == 1) RebuildLengths(fam);
  return true;
}

bool Table::Remove(const net::Prefix& prefix) {
  if (prefix.addr.empty() || prefix.len > prefix.addr.max_prefix()) return false;
  net::Prefix p = prefix.Normalized();
  Family& fam = family(p.addr.family());
  auto& map = fam.by_len[p.len];
  if (map.erase(p.addr.bytes()) == 0) return false;
  ++version_;
  --fam.count;
  if (map.empty()) RebuildLengths(fam);
  return true;
}

void Table::Clear() {
  ++version_;
  for (Family* fam : {&v4_, &v6_}) {
    for (auto& m : fam->by_len) m.clear();
    fam->lengths.clear();
    fam->count = 0;
  }
}

void Table::RebuildLengths(Family& fam) {
  fam.lengths.clear();
  for (int len = 128; len >= 0; --len) {
    if (!fam.by_len[len].empty()) fam.lengths.push_back(static_cast<uint8_t>(len));
  }
}

const TableEntry* Table::Lookup(const net::IpAddr& addr) const {
  if (addr.empty()) return nullptr;
  const Family& fam = family(addr.family());
  for (uint8_t len : fam.lengths) {
    const auto& map = fam.by_len[len];
    auto it = map.find(addr.Masked(len).bytes());
    if (it != map.end()) return &it->second;
  }
  return nullptr;
}

std::vector<TableEntry> Table::Entries() const {
  std::vector<TableEntry> out;
  for (const Family* fam : {&v4_, &v6_}) {
    for (const auto& m : fam->by_len) {
      for (const auto& [k, e] : m) out.push_back(e);
    }
  }
  std::sort(out.begin(), out.end(), [](const TableEntry& a, const TableEntry& b) { return a.prefix < b.prefix; });
  return out;
}

}  // namespace hapf::pf::engine
