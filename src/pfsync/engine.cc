#include "pfsync/engine.h"

#include <algorithm>

namespace hapf::pfsync {
namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoPfsync = 240;

bool NoSync(const WireState& s) { return (s.state_flags & kStateFlagNoSync) != 0 || s.proto == kProtoPfsync; }
bool ValidAf(WireAf af) { return af == WireAf::kInet || af == WireAf::kInet6; }

size_t QueueItemSize(int q) {
  // Order of Queue: none, INS_ACK, UPD_C, DEL_C, INS, UPD.
  static constexpr size_t kSizes[] = {0, kIdItemSize, kUpdCSize, kIdItemSize, kStateSize, kStateSize};
  return kSizes[q];
}

// The received peer, keeping our scrub data when the update carries none.
WirePeer MergedPeer(const WirePeer& ours, const WirePeer& theirs) {
  WirePeer p = theirs;
  if ((theirs.scrub.scrub_flag & 0x01) == 0) p.scrub = ours.scrub;
  return p;
}

bool SeqAhead(uint32_t ours, uint32_t theirs) { return static_cast<int32_t>(ours - theirs) > 0; }

}  // namespace

SyncEngine::SyncEngine(EngineConfig cfg, StateStore& store, EngineSink& sink)
    : cfg_(std::move(cfg)), store_(store), sink_(sink) {
  if (!cfg_.auth_key.empty()) auth_ = std::make_unique<SyncAuth>(cfg_.auth_key, cfg_.creatorid, cfg_.auth_epoch);
  SizeBuilder();
  builder_.Reset();
}

void SyncEngine::SizeBuilder() {
  size_t room = cfg_.mtu > kIpHeaderSize ? cfg_.mtu - kIpHeaderSize : 0;
  if (auth_) room = room > kAuthTrailerSize ? room - kAuthTrailerSize : 0;
  builder_.set_max_bytes(room);
}

void SyncEngine::SetTunables(uint8_t maxupd, bool defer, const std::string& auth_key, Time now) {
  Flush(now);
  cfg_.maxupd = maxupd;
  if (cfg_.defer && !defer) {
    for (const Deferral& d : deferred_) sink_.ReleaseDeferred(d.handle);
    deferred_.clear();
  }
  cfg_.defer = defer;
  if (auth_key != cfg_.auth_key) {
    cfg_.auth_key = auth_key;
    auth_.reset();
    if (!auth_key.empty()) auth_ = std::make_unique<SyncAuth>(auth_key, cfg_.creatorid, cfg_.auth_epoch);
    SizeBuilder();
    builder_.Reset();
  }
}

SyncEngine::~SyncEngine() = default;

// ---------------------------------------------------------------- output

void SyncEngine::EmitPacket(std::span<const uint8_t> packet) {
  out_.assign(packet.begin(), packet.end());
  if (auth_) auth_->Seal(out_);
  // Count what goes out per action (our own packets are well-formed).
  size_t len = packet.size(), off = kHeaderSize;
  while (len - off >= kSubheaderSize) {
    uint8_t action = packet[off];
    size_t count = (size_t{packet[off + 2]} << 8) | packet[off + 3];
    if (action < kActionCount) stats_.items_out[action] += count;
    off += kSubheaderSize + size_t{packet[off + 1]} * 4 * count;
  }
  ++stats_.opackets;
  sink_.Send(out_);
}

void SyncEngine::SendOwnPacket(Time) {
  if (!builder_.empty()) EmitPacket(builder_.Finish());
  builder_.Reset();
}

size_t SyncEngine::PendingBytes(Queue extra) const {
  size_t bytes = kHeaderSize;
  for (int q = 1; q < kQueues; ++q) {
    size_t n = queued_[q] + (q == static_cast<int>(extra) ? 1 : 0);
    if (n > 0) bytes += kSubheaderSize + n * QueueItemSize(q);
  }
  return bytes;
}

void SyncEngine::Dequeue(Meta& m) {
  if (m.queue == Queue::kNone) return;
  --queued_[static_cast<int>(m.queue)];
  m.queue = Queue::kNone;
  m.ticket = 0;
}

void SyncEngine::Enqueue(const StateId& id, Meta& m, Queue q, Time now, uint32_t hint) {
  Dequeue(m);
  Meta* live = &m;
  if (PendingBytes(q) > builder_.max_bytes()) {
    // The packet is full: write it out first. Flush() may rehash meta_, so
    // look the entry up again afterwards.
    Flush(now);
    live = &meta_[id];
  }
  live->queue = q;
  live->ticket = next_ticket_++;
  queues_[static_cast<int>(q)].push_back(QueueEntry{id, live->ticket, hint});
  ++queued_[static_cast<int>(q)];
  if (!flush_at_) {
    flush_at_ = now + cfg_.flush_delay;
    first_queued_ = now;
  }
}

void SyncEngine::Flush(Time now) {
  flush_now_ = false;
  if (flush_at_) {
    const Duration lag = now - first_queued_;
    ++stats_.flushes;
    stats_.lag_last = lag;
    stats_.lag_sum += lag;
    stats_.lag_max = std::max(stats_.lag_max, lag);
  }
  flush_at_.reset();
  builder_.Reset();
  WireState s;
  std::vector<StateId> deleted;
  for (Queue q : {Queue::kInsAck, Queue::kUpdC, Queue::kDelC, Queue::kIns, Queue::kUpd}) {
    auto& entries = queues_[static_cast<int>(q)];
    for (const QueueEntry& e : entries) {
      auto it = meta_.find(e.id);
      if (it == meta_.end() || it->second.queue != q || it->second.ticket != e.ticket) continue;
      Meta& m = it->second;
      bool ack = m.ack;
      m.queue = Queue::kNone;
      m.ticket = 0;
      m.updates = 0;
      m.ack = false;
      bool need_state = q == Queue::kUpdC || q == Queue::kIns || q == Queue::kUpd;
      // Queued items are written from the current state (§8).
      if (need_state && !store_.LookupAt(e.id, e.hint, now, &s)) continue;
      if (q == Queue::kDelC) deleted.push_back(e.id);
      for (int attempt = 0; attempt < 2; ++attempt) {
        bool ok = false;
        switch (q) {
          case Queue::kInsAck: ok = builder_.AddId(Action::kInsAck, e.id); break;
          case Queue::kDelC: ok = builder_.AddId(Action::kDelC, e.id); break;
          case Queue::kUpdC: {
            WireUpdC u;
            u.id = s.id;
            u.src = s.src;
            u.dst = s.dst;
            u.creatorid = s.creatorid;
            u.timeout = s.timeout;
            ok = builder_.AddUpdC(u);
            break;
          }
          case Queue::kIns:
            if (ack) s.state_flags |= kStateFlagAck;
            ok = builder_.AddState(Action::kIns, s);
            break;
          default:
            s.state_flags &= static_cast<uint16_t>(~kStateFlagAck);
            ok = builder_.AddState(Action::kUpd, s);
            break;
        }
        if (ok) break;
        SendOwnPacket(now);
      }
    }
    entries.clear();
    queued_[static_cast<int>(q)] = 0;
  }
  SendOwnPacket(now);
  for (const StateId& id : deleted) meta_.erase(id);
}

bool SyncEngine::RecentlySynced(const Meta& m, Time now) const {
  return m.synced && now - m.synced_at < cfg_.peer_forwarding_window;
}

// ---------------------------------------------------------------- local events

void SyncEngine::StateInserted(const StateId& id, Time now, std::optional<uint64_t> deferred_packet) {
  WireState s;
  if (!store_.Lookup(id, now, &s)) {
    if (deferred_packet) sink_.ReleaseDeferred(*deferred_packet);
    return;
  }
  StateInserted(id, now, s.proto, (s.state_flags & kStateFlagNoSync) != 0, StateStore::kNoHint, deferred_packet);
}

void SyncEngine::StateInserted(const StateId& id, Time now, uint8_t proto, bool no_sync, uint32_t hint,
                               std::optional<uint64_t> deferred_packet) {
  if (no_sync || proto == kProtoPfsync) {
    if (deferred_packet) sink_.ReleaseDeferred(*deferred_packet);
    return;
  }
  Meta& m = meta_[id];
  m.tcp = proto == kProtoTcp;
  Enqueue(id, m, Queue::kIns, now, hint);
  if (deferred_packet) {
    if (!cfg_.defer) {
      sink_.ReleaseDeferred(*deferred_packet);
      return;
    }
    meta_[id].ack = true;
    deferred_.push_back(Deferral{id, *deferred_packet, now + cfg_.defer_timeout});
    while (deferred_.size() > cfg_.defer_max) {
      sink_.ReleaseDeferred(deferred_.front().handle);
      deferred_.pop_front();
    }
    Flush(now);
  }
}

void SyncEngine::StateUpdated(const StateId& id, Time now) {
  WireState s;
  if (!store_.Lookup(id, now, &s)) return;
  StateUpdated(id, now, s.proto, (s.state_flags & kStateFlagNoSync) != 0);
}

void SyncEngine::StateUpdated(const StateId& id, Time now, uint8_t proto, bool no_sync, uint32_t hint) {
  if (no_sync || proto == kProtoPfsync) return;
  // Already queued as INS, UPD_C or UPD, which are written from the state
  // when the packet is built: count the update without reading the state
  // (an export per passed packet was most of pfsync's cost on the packet path).
  if (auto it = meta_.find(id); it != meta_.end()) {
    Meta& q = it->second;
    if (q.queue == Queue::kIns || q.queue == Queue::kUpdC || q.queue == Queue::kUpd) {
      if (q.queue != Queue::kIns && q.tcp && ++q.updates >= cfg_.maxupd) flush_now_ = true;
      if (RecentlySynced(q, now)) flush_now_ = true;
      if (flush_now_) Flush(now);
      return;
    }
  }
  Meta& m = meta_[id];
  m.tcp = proto == kProtoTcp;
  if (m.queue == Queue::kNone || m.queue == Queue::kInsAck) {  // not DEL_C: the state is going
    Enqueue(id, m, Queue::kUpdC, now, hint);
    meta_[id].updates = 0;
  }
  if (RecentlySynced(meta_[id], now)) flush_now_ = true;
  if (flush_now_) Flush(now);
}

void SyncEngine::StateRemoved(const StateId& id, bool no_sync, Time now) {
  Release(id);
  auto it = meta_.find(id);
  if (it != meta_.end() && it->second.queue == Queue::kIns) {
    // The peer never heard of it: say nothing (§6.4).
    Dequeue(it->second);
    meta_.erase(it);
    return;
  }
  if (no_sync) {
    if (it != meta_.end()) {
      Dequeue(it->second);
      meta_.erase(it);
    }
    return;
  }
  Meta& m = meta_[id];
  Enqueue(id, m, Queue::kDelC, now);
}

void SyncEngine::StatesCleared(std::string_view ifname, Time now) {
  Flush(now);
  builder_.AddClr(WireClr{IfName::From(ifname), cfg_.creatorid});
  SendOwnPacket(now);
}

// ---------------------------------------------------------------- receive

void SyncEngine::Receive(std::span<const uint8_t> pfsync, Time now) {
  ++stats_.ipackets;
  if (pfsync.size() < kHeaderSize) {
    ++stats_.hdrops;
    ++stats_.rejected[static_cast<int>(DecodeError::kShortHeader)];
    return;
  }
  if (auth_) {
    size_t len = (size_t{pfsync[2]} << 8) | pfsync[3];
    AuthVerdict v = len >= kHeaderSize ? auth_->Open(pfsync, len) : AuthVerdict::kMissing;
    if (v != AuthVerdict::kOk) {
      ++stats_.badauth;
      if (v == AuthVerdict::kReplayed) ++stats_.replayed;
      return;
    }
    pfsync = pfsync.first(len);
  }
  DecodeError err = DecodePacket(pfsync, rx_);
  if (err != DecodeError::kNone) {
    ++stats_.rejected[static_cast<int>(err)];
    switch (err) {
      case DecodeError::kShortHeader: ++stats_.hdrops; break;
      case DecodeError::kBadVersion: ++stats_.badver; break;
      case DecodeError::kBadAction: ++stats_.badact; break;
      default: ++stats_.badlen; break;
    }
    return;
  }
  stats_.last_heard = now;
  std::vector<StateId> requests;
  for (const Region& r : rx_.regions) {
    if (r.action < kActionCount) stats_.items_in[r.action] += r.count;
    if (r.skipped) continue;
    auto a = static_cast<Action>(r.action);
    for (size_t i = 0; i < r.count; ++i) {
      switch (a) {
        case Action::kIns: ApplyState(rx_.states[r.first + i], true, now); break;
        case Action::kUpd: ApplyState(rx_.states[r.first + i], false, now); break;
        case Action::kDel: ApplyDelete(rx_.states[r.first + i].identity()); break;
        case Action::kUpdC: ApplyUpdC(rx_.upd_c[r.first + i], now, requests); break;
        case Action::kDelC: ApplyDelete(rx_.ids[r.first + i]); break;
        case Action::kUpdReq: ApplyUpdReq(rx_.ids[r.first + i], now); break;
        case Action::kInsAck: Release(rx_.ids[r.first + i]); break;
        case Action::kClr: {
          const WireClr& c = rx_.clr[r.first + i];
          store_.RemoveCreator(c.creatorid, c.ifname.view());
          break;
        }
        case Action::kBus:
          if (i == 0) ApplyBus(rx_.bus[r.first], now);  // only the first item counts
          break;
        default: break;  // TDB: hapf does not terminate IPsec
      }
    }
  }
  if (!requests.empty()) {
    // Sliced OpenBSD: one packet of its own, in reverse order, at once.
    Flush(now);
    for (auto it = requests.rbegin(); it != requests.rend(); ++it) {
      if (!builder_.AddId(Action::kUpdReq, *it)) {
        SendOwnPacket(now);
        builder_.AddId(Action::kUpdReq, *it);
      }
    }
    SendOwnPacket(now);
  }
  if (flush_now_) Flush(now);
}

void SyncEngine::ApplyState(const WireState& s, bool insert, Time now) {
  if (CheckState(s, insert) != ItemCheck::kOk) {
    ++stats_.badval;
    return;
  }
  StateId id = s.identity();
  const bool importable = s.creatorid != 0 && ValidAf(s.af);
  if (!insert && !importable && store_.Lookup(id, now, nullptr)) {
    Merge(id, s.src, s.dst, s.timeout, now);
    return;
  }
  if (s.creatorid == 0) {
    ++stats_.badval;
    return;
  }
  if (!ValidAf(s.af)) return;  // a full UPD with af 0 is skipped silently (§4.1)
  const bool ack = (s.state_flags & kStateFlagAck) != 0;
  InsertResult r;
  if (ack) {
    WireState imported = s;
    imported.state_flags &= static_cast<uint16_t>(~kStateFlagAck);
    r = store_.Insert(imported, now);
  } else {
    r = store_.Insert(s, now);
  }
  if (r == InsertResult::kIdInUse && !insert && store_.Lookup(id, now, nullptr)) {
    // An UPD of a state we have: asked after the insert, so that importing a
    // bulk transfer costs one lookup per state, not two.
    Merge(id, s.src, s.dst, s.timeout, now);
    return;
  }
  if (r != InsertResult::kInserted) {
    if (!insert) ++stats_.badstate;
    return;
  }
  Meta& m = meta_[id];
  m.synced = true;
  m.synced_at = now;
  if (ack) {
    Enqueue(id, m, Queue::kInsAck, now);
    flush_now_ = true;
  }
}

void SyncEngine::ApplyUpdC(const WireUpdC& u, Time now, std::vector<StateId>& requests) {
  if (CheckUpdC(u) != ItemCheck::kOk) {
    ++stats_.badval;
    return;
  }
  StateId id = u.identity();
  if (!store_.Lookup(id, now, nullptr)) {
    requests.push_back(id);
    return;
  }
  Merge(id, u.src, u.dst, u.timeout, now);
}

void SyncEngine::Merge(const StateId& id, const WirePeer& src, const WirePeer& dst, uint8_t timeout, Time now) {
  Release(id);
  WireState cur;
  if (!store_.Lookup(id, now, &cur)) return;
  bool src_stale, dst_stale;
  if (cur.proto == kProtoTcp) {
    // A further-along local state wins, except that synproxy states (11, 12)
    // may give way to a real TCP state; equal states compare sequence numbers.
    bool src_further = cur.src.state > src.state && (cur.src.state < kTcpProxySrc || src.state >= kTcpProxySrc);
    src_stale = src_further || (cur.src.state == src.state && SeqAhead(cur.src.seqlo, src.seqlo));
    dst_stale = cur.dst.state > dst.state || (cur.dst.state == dst.state && SeqAhead(cur.dst.seqlo, dst.seqlo));
  } else {
    src_stale = cur.src.state > src.state;
    dst_stale = cur.dst.state > dst.state;
  }
  int stale = (src_stale ? 1 : 0) + (dst_stale ? 1 : 0);
  WirePeer new_src = MergedPeer(cur.src, src), new_dst = MergedPeer(cur.dst, dst);
  store_.UpdatePeers(id, src_stale ? nullptr : &new_src, dst_stale ? nullptr : &new_dst,
                     stale <= 1 ? timeout : cur.timeout, stale <= 1, now);
  Meta& m = meta_[id];
  m.synced = true;
  m.synced_at = now;
  if (stale > 0) {
    // The peer is behind: send our newer view back so both converge.
    ++stats_.stale;
    if (m.queue != Queue::kUpdC && m.queue != Queue::kIns && m.queue != Queue::kUpd && !NoSync(cur)) {
      m.tcp = cur.proto == kProtoTcp;
      Enqueue(id, m, Queue::kUpdC, now);
    }
    flush_now_ = true;
  }
}

void SyncEngine::ApplyUpdReq(const StateId& id, Time now) {
  if (id.id == 0 && id.creatorid == 0) {
    StartBulkSend(now);
    return;
  }
  WireState s;
  if (!store_.Lookup(id, now, &s) || NoSync(s)) {
    ++stats_.badstate;
    return;
  }
  Meta& m = meta_[id];
  m.tcp = s.proto == kProtoTcp;
  if (m.queue == Queue::kNone || m.queue == Queue::kUpdC || m.queue == Queue::kInsAck)
    Enqueue(id, m, Queue::kUpd, now);
  flush_now_ = true;
}

void SyncEngine::ApplyDelete(const StateId& id) {
  if (!store_.Remove(id)) {
    ++stats_.badstate;
    return;
  }
  Release(id);
  if (auto it = meta_.find(id); it != meta_.end()) {
    Dequeue(it->second);
    meta_.erase(it);
  }
}

void SyncEngine::Release(const StateId& id) {
  if (deferred_.empty()) return;
  for (auto it = deferred_.begin(); it != deferred_.end(); ++it) {
    if (it->id == id) {
      sink_.ReleaseDeferred(it->handle);
      deferred_.erase(it);
      return;
    }
  }
}

// ---------------------------------------------------------------- bulk update

void SyncEngine::StartBulkSend(Time now) {
  ++stats_.bulk_sends;
  if (bulk_.active) {
    // A new request while we are sending (the requester restarted): start
    // over with a fresh BUS START so it gets the whole table, not our tail.
    bulk_.restart = true;
    return;
  }
  bulk_ = BulkSend{};
  bulk_.active = true;
  bulk_.next = now;
  // The first packet (BUS START) at once, as OpenBSD; the rest as the
  // transport asks (Tick).
  BulkSendStep(now, 1);
}

size_t SyncEngine::BulkSendStep(Time now, size_t max_packets) {
  if (now >= bulk_.next) {
    // A late wakeup does not catch up: the receiver, not the sender, is what
    // a busy host slows down (measured: catching up doubled its drops).
    const size_t per_1500 = static_cast<size_t>(std::max(1, cfg_.bulk_packets_per_interval));
    bulk_.budget = std::max<size_t>(1, per_1500 * 1500 / std::max<size_t>(cfg_.mtu, 1500));
    bulk_.next = now + cfg_.bulk_interval;
  }
  bulk_.stepped = now;
  const size_t n = std::min(bulk_.budget, max_packets);
  if (n == 0) return 0;
  // Bulk packets are built apart from the incremental queues.
  Flush(now);
  size_t built = 0;
  for (; built < n && bulk_.active; ++built) {
    bool start_in_packet = false;
    if (bulk_.restart) {
      bulk_.restart = false;
      bulk_.started = false;
      bulk_.cursor = 0;
    }
    if (!bulk_.started) {
      bulk_.started = true;
      if (store_.Size() == 0) {
        builder_.AddBus(WireBus{cfg_.creatorid, 0, kBusEnd});  // empty table: a lone BUS END
        SendOwnPacket(now);
        bulk_.active = false;
        continue;
      }
      builder_.AddBus(WireBus{cfg_.creatorid, 0, kBusStart});
      start_in_packet = true;
    }
    WireState s;
    bool done = false;
    while (builder_.Fits(Action::kUpd, kStateSize)) {
      if (!store_.BulkNext(bulk_.cursor, now, &s)) {
        done = true;
        break;
      }
      if (NoSync(s)) continue;  // never announced, so never bulk-sent either
      s.state_flags &= static_cast<uint16_t>(~kStateFlagAck);
      builder_.AddState(Action::kUpd, s);
      start_in_packet = false;
    }
    // A receiver reads only the first item of a BUS region, so an END right
    // behind the START (a table of no-sync states only) needs its own packet.
    if (done && start_in_packet) SendOwnPacket(now);
    if (!done && builder_.empty()) done = true;  // an MTU too small for one state
    // BUS END goes where it fits, else into one more packet next time.
    if (done && builder_.AddBus(WireBus{cfg_.creatorid, 0, kBusEnd})) bulk_.active = false;
    SendOwnPacket(now);
  }
  bulk_.budget -= built;
  return built;
}

void SyncEngine::SendBulkRequest(Time now) {
  Flush(now);
  builder_.AddId(Action::kUpdReq, StateId{0, 0});
  SendOwnPacket(now);
  ++stats_.bulk_requests;
  ++req_tries_;
  req_state_ = BulkRequestState::kSent;
  req_timer_ = now + cfg_.bulk_request_retry;
  req_timer_armed_ = true;
}

void SyncEngine::EndRequest(std::string_view reason) {
  if (demoted_start_) {
    sink_.Demote(-32, reason);
    demoted_start_ = false;
  }
  req_timer_armed_ = false;
  req_state_ = BulkRequestState::kDone;
}

void SyncEngine::ApplyBus(const WireBus& b, Time now) {
  if (b.status == kBusStart) {
    if (req_state_ == BulkRequestState::kStart || req_state_ == BulkRequestState::kSent) {
      req_state_ = BulkRequestState::kBulk;
      size_t room = builder_.max_bytes() - kHeaderSize - kSubheaderSize;
      size_t per_packet = std::max<size_t>(1, room / kStateSize);
      size_t ticks = std::max<size_t>(1, cfg_.state_limit / per_packet / 50);
      req_timer_ = now + std::chrono::seconds(4 * ticks);
      req_timer_armed_ = true;
    }
  } else if (b.status == kBusEnd) {
    // Also a lone BUS END (an empty peer's answer), deliberately more lenient than 7.4+ (§9.1).
    if (req_state_ == BulkRequestState::kBulk || req_state_ == BulkRequestState::kSent) EndRequest("pfsync done");
  }
}

// ---------------------------------------------------------------- link and timers

void SyncEngine::Up(Time now) {
  if (req_state_ != BulkRequestState::kNone) return;
  req_state_ = BulkRequestState::kStart;
  req_tries_ = 0;
  sink_.Demote(32, "pfsync start");
  demoted_start_ = true;
  if (!link_up_) {
    sink_.Demote(1, "pfsync up");
    demoted_link_ = true;
    req_timer_ = now + cfg_.link_wait;
    req_timer_armed_ = true;
  } else {
    SendBulkRequest(now);
  }
}

void SyncEngine::LinkUp(Time now) {
  link_up_ = true;
  if (demoted_link_) {
    sink_.Demote(-1, "pfsync link");
    demoted_link_ = false;
  }
  if (req_state_ == BulkRequestState::kStart) {
    SendBulkRequest(now);
  } else if (req_state_ == BulkRequestState::kDone) {
    // The link came back: ask for what we missed (classic behaviour), without
    // a new +32 demotion — the link demotion covered the outage.
    Flush(now);
    builder_.AddId(Action::kUpdReq, StateId{0, 0});
    SendOwnPacket(now);
    ++stats_.bulk_requests;
  }
}

void SyncEngine::LinkDown(Time) {
  link_up_ = false;
  if (req_state_ != BulkRequestState::kNone && !demoted_link_) {
    sink_.Demote(1, "pfsync link");
    demoted_link_ = true;
  }
}

void SyncEngine::Down(Time) {
  if (demoted_start_) sink_.Demote(-32, "pfsync down");
  if (demoted_link_) sink_.Demote(-1, "pfsync down");
  demoted_start_ = demoted_link_ = false;
  req_state_ = BulkRequestState::kNone;
  req_timer_armed_ = false;
  bulk_ = BulkSend{};
  for (auto& q : queues_) q.clear();
  queued_ = {};
  flush_at_.reset();
  meta_.clear();
  for (const Deferral& d : deferred_) sink_.ReleaseDeferred(d.handle);
  deferred_.clear();
}

void SyncEngine::Tick(Time now, size_t max_bulk_packets) {
  while (!deferred_.empty() && deferred_.front().deadline <= now) {
    sink_.ReleaseDeferred(deferred_.front().handle);
    deferred_.pop_front();
  }
  if (flush_at_ && now >= *flush_at_) Flush(now);
  if (bulk_.active && (now >= bulk_.next || bulk_.budget > 0)) BulkSendStep(now, max_bulk_packets);
  if (req_timer_armed_ && now >= req_timer_) {
    switch (req_state_) {
      case BulkRequestState::kStart: EndRequest("pfsync done"); break;  // no link came up
      case BulkRequestState::kSent:
        if (req_tries_ < cfg_.bulk_request_tries)
          SendBulkRequest(now);
        else
          EndRequest("pfsync done");
        break;
      case BulkRequestState::kBulk: EndRequest("pfsync done"); break;
      default: req_timer_armed_ = false; break;
    }
  }
  // Forget bookkeeping of idle states now and then.
  if (now - last_prune_ >= 1s) {
    last_prune_ = now;
    absl::erase_if(meta_, [&](const auto& kv) {
      return kv.second.queue == Queue::kNone && !RecentlySynced(kv.second, now);
    });
  }
}

std::optional<Time> SyncEngine::NextDeadline() const {
  std::optional<Time> t;
  auto consider = [&](Time x) {
    if (!t || x < *t) t = x;
  };
  if (flush_at_) consider(*flush_at_);
  if (bulk_.active) consider(bulk_.budget > 0 ? bulk_.stepped : bulk_.next);
  if (req_timer_armed_) consider(req_timer_);
  if (!deferred_.empty()) consider(deferred_.front().deadline);
  return t;
}

}  // namespace hapf::pfsync
