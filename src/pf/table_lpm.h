// pf tables: sets of IPv4/IPv6 prefixes answered by longest-prefix match.
//
// pf semantics: an address matches a table when the MOST SPECIFIC entry that
// contains it is a normal entry; if that entry is negated ("!10.1.2.0/24") the
// address does not match, even though a wider normal entry also contains it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "net/addr.h"

namespace hapf::pf::engine {

struct TableEntry {
  net::Prefix prefix;  // normalized (host bits clear)
  bool negated = false;
};

class Table {
 public:
  explicit Table(std::string name = {}) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  // Adds or replaces an entry; returns false when the prefix was already present
  // with the same negation (pfctl counts it as "0/1 addresses added").
  bool Add(const net::Prefix& prefix, bool negated = false);
  bool Remove(const net::Prefix& prefix);
  void Clear();
  size_t size() const { return v4_.count + v6_.count; }
  // Changes with every Add/Remove/Clear that changed the table (pools cache
  // their addresses by it).
  uint64_t version() const { return version_; }

  // The longest entry containing `addr`, or nullptr.
  const TableEntry* Lookup(const net::IpAddr& addr) const;
  // pf's table match: the longest entry exists and is not negated.
  bool Matches(const net::IpAddr& addr) const {
    const TableEntry* e = Lookup(addr);
    return e != nullptr && !e->negated;
  }
  std::vector<TableEntry> Entries() const;

 private:
  // One hash map per prefix length; lookups probe only the lengths in use,
  // longest first, so a table of 100k host routes costs one probe.
  struct Family {
    std::array<absl::flat_hash_map<std::array<uint8_t, 16>, TableEntry>, 129> by_len;
    std::vector<uint8_t> lengths;  // lengths with at least one entry, descending
    size_t count = 0;
  };
  Family& family(net::Family f) { return f == net::Family::kV4 ? v4_ : v6_; }
  const Family& family(net::Family f) const { return f == net::Family::kV4 ? v4_ : v6_; }
  static void RebuildLengths(Family& fam);

  std::string name_;
  uint64_t version_ = 0;
  Family v4_;
  Family v6_;
};

}  // namespace hapf::pf::engine
