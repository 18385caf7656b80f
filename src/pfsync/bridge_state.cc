#include "pfsync/bridge_state.h"

#include <algorithm>
#include <vector>

#include "pfsync/engine.h"

namespace hapf::pfsync {

namespace pfe = pf::engine;

namespace {

// pf::engine::Peer and PeerExport name their fields alike, so one template
// serves the export and the in-place update path.
template <typename PeerT>
void PeerFromWire(const WirePeer& w, PeerT& p) {
  p.scrub_flags = w.scrub.flags;
  p.scrub_ttl = w.scrub.ttl;
  p.scrub_valid = w.scrub.scrub_flag;
  p.scrub_ts_mod = w.scrub.ts_mod;
  p.seqlo = w.seqlo;
  p.seqhi = w.seqhi;
  p.seqdiff = w.seqdiff;
  p.max_win = w.max_win;
  p.mss = w.mss;
  p.state = w.state;
  p.wscale = w.wscale;
}

WirePeer PeerToWire(const pfe::PeerExport& p) {
  WirePeer w;
  w.scrub = {p.scrub_flags, p.scrub_ttl, p.scrub_valid, p.scrub_ts_mod};
  w.seqlo = p.seqlo;
  w.seqhi = p.seqhi;
  w.seqdiff = p.seqdiff;
  w.max_win = p.max_win;
  w.mss = p.mss;
  w.state = p.state;
  w.wscale = p.wscale;
  return w;
}

// The scalar fields both records name alike (same meaning, same width).
template <typename From, typename To>
void CopyCommon(const From& f, To& t) {
  t.id = f.id;
  t.creatorid = f.creatorid;
  t.proto = f.proto;
  t.rule = f.rule;
  t.anchor = f.anchor;
  t.nat_rule = f.nat_rule;
  t.creation = f.creation;
  t.expire = f.expire;
  for (int i = 0; i < 2; ++i) {
    t.packets[i] = f.packets[i];
    t.bytes[i] = f.bytes[i];
    t.rtableid[i] = f.rtableid[i];
    t.set_prio[i] = f.set_prio[i];
  }
  t.max_mss = f.max_mss;
  t.log = f.log;
  t.timeout = f.timeout;
  t.sync_flags = f.sync_flags;
  t.min_ttl = f.min_ttl;
  t.set_tos = f.set_tos;
  t.state_flags = f.state_flags;
}

net::IpAddr ZeroOf(net::Family f) {
  static constexpr uint8_t kZero[16] = {};
  return f == net::Family::kV6 ? net::IpAddr::V6Bytes(kZero) : net::IpAddr::V4Bytes(kZero);
}

bool KnownAf(WireAf af) { return af == WireAf::kInet || af == WireAf::kInet6; }

}  // namespace

bool WireToExport(const WireState& w, pfe::StateExport* out) {
  if (!KnownAf(w.af)) return false;
  for (const WireKey& k : w.key) {
    if (k.af != WireAf::kUnspec && !KnownAf(k.af)) return false;
  }
  pfe::StateExport e;
  CopyCommon(w, e);
  e.ifname = std::string(w.ifname.view());
  for (int i = 0; i < 2; ++i) {
    const WireKey& k = w.key[i];
    // A key without its own family (pre-af-to senders) has the state's.
    e.key[i].af = ToFamily(k.af == WireAf::kUnspec ? w.af : k.af);
    for (int j = 0; j < 2; ++j) {
      e.key[i].addr[j] = k.addr[j].empty() ? ZeroOf(e.key[i].af) : k.addr[j];
      e.key[i].port[j] = k.port[j];
    }
    e.key[i].rdomain = k.rdomain;
  }
  PeerFromWire(w.src, e.src);
  PeerFromWire(w.dst, e.dst);
  // The wire always carries 16 address bytes; all-zero means "no route-to".
  if (!w.rt_addr.empty() && !w.rt_addr.is_zero()) e.rt_addr = w.rt_addr;
  e.rt = static_cast<uint8_t>(w.rt);
  e.direction = static_cast<uint8_t>(w.direction);
  *out = std::move(e);
  return true;
}

WireState ExportToWire(const pfe::StateExport& e) {
  WireState w;
  CopyCommon(e, w);
  w.ifname = IfName::From(e.ifname);
  w.af = FromFamily(e.key[0].af);
  for (int i = 0; i < 2; ++i) {
    WireKey& k = w.key[i];
    k.af = FromFamily(e.key[i].af);
    for (int j = 0; j < 2; ++j) {
      k.addr[j] = e.key[i].addr[j];
      k.port[j] = e.key[i].port[j];
    }
    k.rdomain = e.key[i].rdomain;
  }
  w.src = PeerToWire(e.src);
  w.dst = PeerToWire(e.dst);
  w.rt_addr = e.rt_addr.empty() ? ZeroOf(e.key[0].af) : e.rt_addr;
  w.rt = static_cast<RouteType>(e.rt);
  w.direction = static_cast<Direction>(e.direction);
  return w;
}

PfStateStore::PfStateStore(pfe::Engine& engine, int64_t pf_offset_ns) : engine_(engine), offset_(pf_offset_ns) {
  // States that exist before pfsync starts are announced by the bulk transfer.
  engine_.states().ForEach([&](uint32_t idx, const pfe::State& s) { index_[{s.id, s.creatorid}] = idx; });
  engine_.SetStateObserver(this);
}

PfStateStore::~PfStateStore() { engine_.SetStateObserver(nullptr); }

uint32_t PfStateStore::IndexOf(const StateId& id) const {
  auto it = index_.find(id);
  return it == index_.end() ? pfe::kNoIndex : it->second;
}

bool PfStateStore::Lookup(const StateId& id, Time now, WireState* out) const {
  const uint32_t idx = IndexOf(id);
  if (idx == pfe::kNoIndex) return false;
  if (out) *out = ExportToWire(engine_.Export(idx, PfNow(now)));
  return true;
}

bool PfStateStore::LookupAt(const StateId& id, uint32_t hint, Time now, WireState* out) const {
  const pfe::StateTable& table = engine_.states();
  if (hint != kNoHint && table.valid(hint) && table.at(hint).id == id.id && table.at(hint).creatorid == id.creatorid &&
      (id_collisions_ == 0 || IndexOf(id) == hint)) {
    if (out) *out = ExportToWire(engine_.Export(hint, PfNow(now)));
    return true;
  }
  return Lookup(id, now, out);
}

InsertResult PfStateStore::Insert(const WireState& s, Time now) {
  if (index_.contains(s.identity())) return InsertResult::kIdInUse;
  pfe::StateExport e;
  if (!WireToExport(s, &e)) {
    ++unrepresentable_;
    return InsertResult::kKeyConflict;
  }
  const pfe::TimeNs pf_now = PfNow(now);
  uint32_t idx = engine_.Import(e, pf_now);
  if (idx == pfe::kNoIndex) {
    // pf_state_key_attach: a TCP state whose both ends are closing gives way.
    pfe::StateKey wire;
    wire.af = static_cast<uint8_t>(e.key[0].af);
    wire.proto = e.proto;
    wire.rdomain = e.key[0].rdomain;
    for (int j = 0; j < 2; ++j) {
      wire.SetAddr(j, e.key[0].addr[j]);
      wire.port[j] = e.key[0].port[j];
    }
    const uint32_t old = engine_.states().Find(wire, pfe::Direction::kIn);
    if (old == pfe::kNoIndex || e.proto != 6) return InsertResult::kKeyConflict;
    const pfe::State& o = engine_.states().at(old);
    if (o.src.state < pfe::kTcpFinWait2 || o.dst.state < pfe::kTcpFinWait2) return InsertResult::kKeyConflict;
    StateRemoving(old, o);  // tell the peer it is gone, as a local removal would
    engine_.RemoveImported(old);
    idx = engine_.Import(e, pf_now);
    if (idx == pfe::kNoIndex) return InsertResult::kKeyConflict;
  }
  index_[s.identity()] = idx;
  return InsertResult::kInserted;
}

bool PfStateStore::UpdatePeers(const StateId& id, const WirePeer* src, const WirePeer* dst, uint8_t timeout,
                               bool touch, Time now) {
  const uint32_t idx = IndexOf(id);
  if (idx == pfe::kNoIndex) return false;
  pfe::State& s = engine_.states().at(idx);
  if (src) PeerFromWire(*src, s.src);
  if (dst) PeerFromWire(*dst, s.dst);
  if (timeout < pfe::kTmCount) s.timeout = timeout;
  if (touch) s.expire = static_cast<uint32_t>(PfNow(now) / 1000000000);
  return true;
}

bool PfStateStore::Remove(const StateId& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  const uint32_t idx = it->second;
  index_.erase(it);
  engine_.RemoveImported(idx);
  return true;
}

size_t PfStateStore::RemoveCreator(uint32_t creatorid, std::string_view ifname) {
  std::vector<StateId> victims;
  for (const auto& [id, idx] : index_) {
    if (id.creatorid != creatorid) continue;
    if (!ifname.empty()) {
      const pfe::State& s = engine_.states().at(idx);
      const std::string_view name = s.ifindex ? std::string_view(engine_.InterfaceName(s.ifindex)) : "all";
      if (name != ifname) continue;
    }
    victims.push_back(id);
  }
  for (const StateId& id : victims) Remove(id);
  return victims.size();
}

bool PfStateStore::BulkNext(uint64_t& cursor, Time now, WireState* out) const {
  const uint32_t slots = engine_.states().capacity_slots();
  for (uint64_t i = cursor; i < slots; ++i) {
    const uint32_t idx = static_cast<uint32_t>(i);
    if (!engine_.states().valid(idx)) continue;
    cursor = i + 1;
    if (out) *out = ExportToWire(engine_.Export(idx, PfNow(now)));
    return true;
  }
  cursor = slots;
  return false;
}

void PfStateStore::StateCreated(uint32_t idx, const pfe::State& s, pfe::TimeNs now) {
  const StateId id{s.id, s.creatorid};
  now_ = SyncNow(now);
  auto [it, fresh] = index_.try_emplace(id, idx);
  if (!fresh && it->second != idx) {
    // pf_state_insert refuses an id collision. The filter has already created
    // the state, so it stays local and unsynced; the replicated state keeps its
    // id. Only a hostid shared with a peer makes this happen.
    ++id_collisions_;
    return;
  }
  if (sync_) sync_->StateInserted(id, now_, s.key[pfe::kWire].proto, (s.state_flags & pfe::kSfNoSync) != 0, idx);
}

void PfStateStore::StateUpdated(uint32_t idx, const pfe::State& s, pfe::TimeNs now) {
  now_ = SyncNow(now);
  const StateId id{s.id, s.creatorid};
  if (id_collisions_ != 0 && IndexOf(id) != idx) return;  // a colliding local state is not ours
  if (sync_) sync_->StateUpdated(id, now_, s.key[pfe::kWire].proto, (s.state_flags & pfe::kSfNoSync) != 0, idx);
}

void PfStateStore::StateRemoving(uint32_t idx, const pfe::State& s) {
  const StateId id{s.id, s.creatorid};
  auto it = index_.find(id);
  if (it == index_.end() || it->second != idx) return;
  index_.erase(it);
  if (sync_) sync_->StateRemoved(id, (s.state_flags & pfe::kSfNoSync) != 0, now_);
}

}  // namespace hapf::pfsync
