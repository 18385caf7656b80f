// Translation pools and port allocation (pf_lb.c's job): choosing the
// replacement address by the pool's method, and a source port that makes the
// translated key unique.
#include <algorithm>

#include "pf/engine.h"

namespace hapf::pf::engine {

namespace {

// A 32-bit mix of the source address and the pool key (source-hash).
uint32_t HashAddr(const net::IpAddr& a, const std::array<uint8_t, 16>& key) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : key) h = (h ^ b) * 0x100000001b3ull;
  for (int i = 0; i < a.size(); ++i) h = (h ^ a.data()[i]) * 0x100000001b3ull;
  return static_cast<uint32_t>(h ^ (h >> 32));
}

// The address of `prefix` whose host part is `host_bits` (taken modulo the
// prefix size).
net::IpAddr AddrInPrefix(const net::Prefix& prefix, const net::IpAddr& host_from) {
  net::IpAddr base = prefix.addr.Masked(prefix.len);
  std::array<uint8_t, 16> b = base.bytes();
  const auto& h = host_from.bytes();
  for (int i = 0; i < base.size(); ++i) {
    const int bits = prefix.len - i * 8;
    const uint8_t net_mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
    b[i] = static_cast<uint8_t>((b[i] & net_mask) | (h[i] & ~net_mask));
  }
  return base.is_v4() ? net::IpAddr::V4Bytes(b.data()) : net::IpAddr::V6Bytes(b.data());
}

net::IpAddr AddrFromHash(const net::Prefix& prefix, uint32_t hash) {
  std::array<uint8_t, 16> h{};
  for (int i = 0; i < 16; ++i) h[i] = static_cast<uint8_t>(hash >> ((i % 4) * 8));
  const net::IpAddr host = prefix.addr.is_v4() ? net::IpAddr::V4Bytes(h.data()) : net::IpAddr::V6Bytes(h.data());
  return AddrInPrefix(prefix, host);
}

}  // namespace

bool Engine::ChooseAddress(Rule& r, Pool& pool, const net::IpAddr& src, net::IpAddr& out, uint32_t now_s) {
  const std::vector<net::Prefix>* addrs = &pool.addrs;
  if (pool.table) {
    if (pool.table_version != pool.table->version()) {
      pool.table_addrs.clear();
      for (const TableEntry& e : pool.table->Entries()) {
        if (!e.negated) pool.table_addrs.push_back(e.prefix);
      }
      pool.table_version = pool.table->version();
    }
    addrs = &pool.table_addrs;
  }
  // Only addresses of the packet's family qualify: the candidates are the
  // n of them, in pool order.
  const net::Family fam = src.family();
  uint32_t n = 0;
  for (const net::Prefix& p : *addrs) n += p.addr.family() == fam;
  if (n == 0) return false;
  auto cand = [&](uint32_t k) -> const net::Prefix& {
    for (const net::Prefix& p : *addrs) {
      if (p.addr.family() == fam && k-- == 0) return p;
    }
    return addrs->front();  // not reached: k < n
  };

  uint32_t sn = kNoIndex;
  if (pool.sticky) {
    sn = SrcNodeFor(r, src, now_s, true);
    if (sn != kNoIndex && !src_nodes_[sn].raddr.empty()) {
      out = src_nodes_[sn].raddr;
      return true;
    }
  }
  const PoolType type = pool.type == PoolType::kNone
                            ? (n == 1 && cand(0).is_host() ? PoolType::kBitmask : PoolType::kRoundRobin)
                            : pool.type;
  switch (type) {
    case PoolType::kBitmask:
      // The network part from the pool, the host part from the source.
      out = AddrInPrefix(cand(0), src);
      break;
    case PoolType::kRandom:
      out = AddrFromHash(cand(NextRandom() % n), NextRandom());
      break;
    case PoolType::kSourceHash: {
      const uint32_t h = HashAddr(src, pool.hash_key);
      out = AddrFromHash(cand(h % n), h * 2654435761u);
      break;
    }
    case PoolType::kLeastStates: {
      // Among the pool's hosts, the one that appears in the fewest states'
      // translated keys; ties go to the first.
      std::vector<std::pair<net::IpAddr, uint32_t>> load;
      for (uint32_t k = 0; k < n; ++k) load.emplace_back(cand(k).addr.Masked(cand(k).len), 0);
      states_.ForEach([&](uint32_t, State& s) {
        if (s.rule_ref != r.ref) return;
        for (auto& [a, count] : load) {
          if (s.key[kWire].Addr(0) == a || s.key[kWire].Addr(1) == a || s.key[kStack].Addr(0) == a ||
              s.key[kStack].Addr(1) == a)
            ++count;
        }
      });
      auto best = std::min_element(load.begin(), load.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
      out = best->first;
      break;
    }
    case PoolType::kRoundRobin:
    case PoolType::kNone: {
      // Walk every address of each prefix in turn; the cursor lives in the pool.
      pool.rr_index %= n;
      const net::Prefix& cur = cand(pool.rr_index);
      if (pool.rr_addr.empty() || !cur.Contains(pool.rr_addr)) pool.rr_addr = cur.addr.Masked(cur.len);
      out = pool.rr_addr;
      if (pool.rr_addr == cur.addr.LastInPrefix(cur.len)) {
        pool.rr_index = (pool.rr_index + 1) % n;
        pool.rr_addr = {};
      } else {
        pool.rr_addr = pool.rr_addr.Next();
      }
      break;
    }
  }
  if (sn != kNoIndex) src_nodes_[sn].raddr = out;
  return true;
}

bool Engine::AllocatePort(const StateKey& wire_template, int side, const Pool& pool, uint16_t orig_port,
                          uint16_t& out) {
  StateKey k = wire_template;
  const bool icmp = k.proto == kProtoIcmp || k.proto == kProtoIcmp6;
  auto free_port = [&](uint16_t port) {
    k.port[side] = port;
    return !states_.KeyInUse(k);
  };
  uint16_t lo = pool.port_lo, hi = pool.port_hi;
  if (icmp) {
    // ICMP query ids: keep the id when free, else any free id.
    if (free_port(orig_port)) {
      out = orig_port;
      return true;
    }
    lo = 1;
    hi = 0xffff;
  } else if (pool.static_port) {
    lo = hi = orig_port;
  } else if (lo == 0 && hi == 0) {
    lo = 50001;  // pf's default nat port range
    hi = 65535;
  }
  if (lo > hi) std::swap(lo, hi);
  if (lo == hi) {
    if (!free_port(lo)) return false;
    out = lo;
    return true;
  }
  // Start at a random point and search up, then down (pf_get_sport).
  const uint32_t span = uint32_t{hi} - lo + 1;
  const uint16_t cut = static_cast<uint16_t>(lo + NextRandom() % span);
  for (uint32_t p = cut; p <= hi; ++p) {
    if (free_port(static_cast<uint16_t>(p))) {
      out = static_cast<uint16_t>(p);
      return true;
    }
  }
  for (int32_t p = int32_t{cut} - 1; p >= lo; --p) {
    if (free_port(static_cast<uint16_t>(p))) {
      out = static_cast<uint16_t>(p);
      return true;
    }
  }
  return false;
}

}  // namespace hapf::pf::engine
