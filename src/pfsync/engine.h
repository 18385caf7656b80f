// The pfsync sync engine: OpenBSD's pfsync behaviour (spec §5–§10) as a pure
// state machine. Time comes in with every call, packets and CARP demotions go
// out through EngineSink, the state table is reached through StateStore. No
// clock, socket, thread or syscall inside, so the daemon, the simulator and the
// tests run the same code.
//
// The filter calls StateInserted/StateUpdated/StateRemoved for LOCAL changes
// only; states the engine imports from the peer are written to the store by the
// engine itself and never echoed back as INS.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pfsync/auth.h"
#include "pfsync/state_store.h"
#include "pfsync/wire.h"

namespace hapf::pfsync {

using namespace std::chrono_literals;

struct EngineConfig {
  uint32_t creatorid = 0;  // our pf host id, non-zero
  size_t mtu = 1500;       // pfsync MTU, IP header included
  uint8_t maxupd = 128;    // TCP updates merged into one queued UPD_C before a flush is forced
  bool defer = false;      // hold the first packet of a new state until the peer has it
  Duration flush_delay = 1s;
  Duration peer_forwarding_window = 2s;  // §6.2: flush at once if pfsync touched the state this recently
  // Bulk transfer pacing: at most bulk_packets_per_interval packets per
  // bulk_interval, and no more per Tick than the runtime has room for.
  // OpenBSD sends one packet every 20 ms (5 states: 250 states/s, 4000 s for
  // 1 000 000 states). hapf's default, 500 per 10 ms (250 000 states/s, a
  // 1 000 000-state table in about 4 s), is a quarter of what a receiving
  // hapf imports per CPU second, and its 32 MiB socket buffer rides out half
  // a second of not being scheduled (bench/README.md). The bulk has no
  // acknowledgements: a pace above the receiver's loses states. The budget
  // counts packets of 1500 bytes: above that MTU it shrinks in proportion,
  // so the pace in states stays what the receiver was measured to take.
  Duration bulk_interval = 10ms;
  int bulk_packets_per_interval = 500;
  // Requesting side (§9.1).
  Duration link_wait = 30s;
  Duration bulk_request_retry = 2s;
  int bulk_request_tries = 12;
  size_t state_limit = 100000;  // sizes the bulk-in-progress timeout as OpenBSD does
  // Deferral (§10).
  Duration defer_timeout = 20ms;
  size_t defer_max = 128;
  // syncauth (hapf extension, see auth.h): empty key = plain OpenBSD pfsync.
  std::string auth_key;
  uint32_t auth_epoch = 0;
};

class EngineSink {
 public:
  virtual ~EngineSink() = default;
  // One pfsync packet, from the pfsync header on (the caller adds the IPv4 header).
  virtual void Send(std::span<const uint8_t> pfsync) = 0;
  // CARP demotion change: +N while we must not become master, −N when that ends.
  virtual void Demote(int delta, std::string_view reason) = 0;
  // A held first packet (deferral) may now be transmitted.
  virtual void ReleaseDeferred(uint64_t handle) = 0;
};

// Counters as `netstat -s -p pfsync` shows them, plus per-action item counts
// and the reason of every rejected packet.
struct EngineStats {
  uint64_t ipackets = 0, hdrops = 0, badver = 0, badact = 0, badlen = 0, badauth = 0, stale = 0, badval = 0,
           badstate = 0, opackets = 0;
  uint64_t replayed = 0;  // part of badauth
  // Filled in by the transport (raw socket) layer, not by the engine.
  uint64_t badif = 0, badttl = 0, oerrors = 0;
  // Times the socket refused packets for now (EAGAIN, ENOBUFS: they stay
  // queued and go when it takes them again), and packets dropped because
  // that queue was at its bound (the only loss on the sending side).
  uint64_t oretries = 0, oqdrops = 0;
  std::array<uint64_t, kActionCount> items_in{};
  std::array<uint64_t, kActionCount> items_out{};
  std::array<uint64_t, kDecodeErrorCount> rejected{};
  uint64_t bulk_sends = 0, bulk_requests = 0;
  // Sync lag: from the first local change queued to the flush that sent it
  // (bounded by flush_delay unless a packet fills first), per flush.
  uint64_t flushes = 0;
  Duration lag_last{}, lag_max{}, lag_sum{};
  // The last well-formed (and, with syncauth, authentic) packet from the peer.
  std::optional<Time> last_heard;
};

// §9.1 requester states.
enum class BulkRequestState : uint8_t { kNone, kStart, kSent, kBulk, kDone };

class SyncEngine {
 public:
  SyncEngine(EngineConfig cfg, StateStore& store, EngineSink& sink);
  ~SyncEngine();

  // --- local state changes (from the filter) ---
  // `deferred_packet`: the held first packet of the state, when the filter
  // holds one; released through the sink (at once if deferral is off).
  void StateInserted(const StateId& id, Time now, std::optional<uint64_t> deferred_packet = std::nullopt);
  // The same from a caller that knows the state's protocol and no-sync flag
  // (the filter, as it creates the state): nothing is read back from the
  // store; the INS is written from the state when the packet is built.
  void StateInserted(const StateId& id, Time now, uint8_t proto, bool no_sync, uint32_t hint,
                     std::optional<uint64_t> deferred_packet = std::nullopt);
  void StateUpdated(const StateId& id, Time now);
  // The same from a caller that knows the state's protocol and whether it is
  // no-sync (the filter's packet path): nothing is read back from the store,
  // as OpenBSD only queues the state here and writes it when the packet goes.
  // `hint`: the store's slot of the state (StateStore::LookupAt), used when
  // the queued update is written.
  void StateUpdated(const StateId& id, Time now, uint8_t proto, bool no_sync,
                    uint32_t hint = StateStore::kNoHint);
  // After the filter removed the state; no_sync: it was never announced.
  void StateRemoved(const StateId& id, bool no_sync, Time now);
  // `pfctl -F states` (empty ifname) or all states of one interface (§6.7).
  void StatesCleared(std::string_view ifname, Time now);

  // --- the pfsync interface and its sync link ---
  void Up(Time now);
  void Down(Time now);
  void LinkUp(Time now);
  void LinkDown(Time now);

  // One received packet, from the pfsync header on. Decoded whole first; a
  // malformed packet is counted and changes nothing.
  void Receive(std::span<const uint8_t> pfsync, Time now);
  // Runs every timer that is due. A bulk transfer in progress builds at most
  // `max_bulk_packets` packets (the room the transport has now) and continues
  // on the next call: NextDeadline() is then already due while the pacing
  // budget lasts.
  void Tick(Time now, size_t max_bulk_packets = SIZE_MAX);
  std::optional<Time> NextDeadline() const;
  // Writes out whatever is queued now.
  void Flush(Time now);

  const EngineStats& stats() const { return stats_; }
  BulkRequestState bulk_state() const { return req_state_; }
  bool bulk_sending() const { return bulk_.active; }
  int demotion() const { return (demoted_start_ ? 32 : 0) + (demoted_link_ ? 1 : 0); }
  const EngineConfig& config() const { return cfg_; }
  // `ifconfig pfsync0 maxupd N defer|-defer syncauth KEY` on a running
  // interface: what is queued is flushed first (so no packet mixes the old and
  // new key); states and the bulk state machine are kept.
  void SetTunables(uint8_t maxupd, bool defer, const std::string& auth_key, Time now);

 private:
  void SizeBuilder();
  enum class Queue : uint8_t { kNone, kInsAck, kUpdC, kDelC, kIns, kUpd };
  static constexpr int kQueues = 6;
  struct Meta {
    Queue queue = Queue::kNone;
    uint32_t ticket = 0;  // matches the live entry of `queue`
    uint8_t updates = 0;
    bool tcp = false;  // a TCP state (maxupd counts its updates); set when queued
    bool ack = false;  // INS carries the ACK flag (deferral)
    bool synced = false;
    Time synced_at{};  // last import/merge by pfsync
  };
  struct QueueEntry {
    StateId id;
    uint32_t ticket;
    uint32_t hint;  // StateStore::LookupAt
  };

  void Enqueue(const StateId& id, Meta& m, Queue q, Time now, uint32_t hint = StateStore::kNoHint);
  void Dequeue(Meta& m);
  size_t PendingBytes(Queue extra) const;
  bool RecentlySynced(const Meta& m, Time now) const;
  void EmitPacket(std::span<const uint8_t> packet);
  void SendOwnPacket(Time now);  // builder_ content as one packet

  void ApplyState(const WireState& s, bool insert, Time now);
  void ApplyUpdC(const WireUpdC& u, Time now, std::vector<StateId>& requests);
  void Merge(const StateId& id, const WirePeer& src, const WirePeer& dst, uint8_t timeout, Time now);
  void ApplyUpdReq(const StateId& id, Time now);
  void ApplyDelete(const StateId& id);
  void ApplyBus(const WireBus& b, Time now);

  void StartBulkSend(Time now);
  size_t BulkSendStep(Time now, size_t max_packets);  // packets built
  void SendBulkRequest(Time now);
  void EndRequest(std::string_view reason);
  void Release(const StateId& id);

  EngineConfig cfg_;
  StateStore& store_;
  EngineSink& sink_;
  std::unique_ptr<SyncAuth> auth_;
  EngineStats stats_;

  absl::flat_hash_map<StateId, Meta> meta_;
  std::array<std::vector<QueueEntry>, kQueues> queues_;
  std::array<size_t, kQueues> queued_{};  // live entries per queue
  uint32_t next_ticket_ = 1;
  std::optional<Time> flush_at_;
  Time first_queued_{};  // when the oldest item of the packet being built was queued
  bool flush_now_ = false;

  // Receive scratch (kept to reuse capacity).
  DecodedPacket rx_;
  PacketBuilder builder_;
  std::vector<uint8_t> out_;

  struct BulkSend {
    bool active = false;
    bool restart = false;
    bool started = false;  // BUS START sent
    uint64_t cursor = 0;
    Time next{};          // the pacing budget refills then
    Time stepped{};       // last step: due again at once while budget remains
    size_t budget = 0;    // packets left in this interval
  } bulk_;

  BulkRequestState req_state_ = BulkRequestState::kNone;
  Time req_timer_{};
  bool req_timer_armed_ = false;
  int req_tries_ = 0;
  bool demoted_start_ = false;
  bool demoted_link_ = false;
  bool link_up_ = false;

  struct Deferral {
    StateId id;
    uint64_t handle;
    Time deadline;
  };
  std::deque<Deferral> deferred_;
  Time last_prune_{};
};

}  // namespace hapf::pfsync
