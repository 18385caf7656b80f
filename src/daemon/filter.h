// The running filter: the pf engine behind the NFQUEUE data plane, with the
// loaded ruleset, reload, and the pfctl-style views the control socket serves.
//
// Concurrency: one reader/writer lock around the engine (a pure core). The
// workers test a batch under the read side with Engine::TestShared, which
// takes the packets that only move existing states (per-state lock stripes
// inside the engine), and finish the rest of the batch under the write side
// (new states, ICMP errors, removals). pfsync's update reports stay on the
// read side under a mutex of their own (sync_mu_). Sharding the
// state table by flow would not survive NAT: the reply of a translated flow
// hashes elsewhere. Measured in bench/README.md ("workers").
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <span>
#include <string>
#include <vector>

#include "linux/nfq_dataplane.h"
#include "linux/nfq_reply_sender.h"
#include "linux/pflog_writer.h"
#include "pf/ast.h"
#include "pf/engine.h"

namespace hapf::daemon {

// CLOCK_REALTIME in nanoseconds, the engine's clock.
int64_t WallNowNs();

// pfctl -ss line of one exported state (without newline), pfctl's layout:
// "all tcp 203.0.113.196:22 <- 198.51.100.42:33607       ESTABLISHED:ESTABLISHED".
std::string FormatStateLine(const pf::engine::StateExport& s);

// What a state-replication runtime (pfsync) needs from the packet path.
// Every call runs with the engine held: the packet lock's write side, or its
// read side together with the filter's sync mutex (BatchDone after read-side
// reports), so calls never overlap.
class SyncHook {
 public:
  virtual ~SyncHook() = default;
  // Hold the first packet of every new state (pfsync `defer`)?
  virtual bool defer() const = 0;
  // Around one Engine::Test: `handle` is the packet to hold if the test
  // creates a state; Disarm says whether it must be held now.
  virtual void ArmDeferral(uint64_t handle) = 0;
  virtual bool DisarmDeferral() = 0;
  // A batch is done: send what it queued, arm timers.
  virtual void BatchDone() = 0;
};

// With the `once` queue layout a forwarded packet is judged after routing,
// so a destination rewrite (rdr-to, binat-to) could not change its route:
// such a ruleset is refused. The message ("FILE:LINE: ..."), or nothing.
std::optional<std::string> OnceLayoutConflict(const pf::Ruleset& ruleset, const std::string& filename);
// The opposite for queue-layout split: an outbound rule matching `tagged` or
// `received-on` would never see what the inbound crossing knew, so it is refused.
std::optional<std::string> SplitLayoutConflict(const pf::Ruleset& ruleset, const std::string& filename);

// The engine options a daemon starts with: random hostid, time-based state ids
// and kernel randomness (the engine's own defaults are deterministic for tests).
pf::engine::EngineOptions DaemonEngineOptions(int64_t wall_now_ns);

// pthread's reader/writer lock, set to prefer writers: with two workers
// overlapping on the read side, a reload or a control command would otherwise
// wait as long as traffic flows. lock()/unlock() are the write side (so
// std::lock_guard works), lock_shared()/unlock_shared() the read side.
class RwLock {
 public:
  RwLock();
  ~RwLock() { pthread_rwlock_destroy(&lock_); }
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

class Filter : public linux::PacketHandler {
 public:
  // `replies` (packets that skip the filter: block return, synproxy's
  // answers to clients) and `forwards` (synproxy's segments to servers, which
  // cross the filter like the host's own packets) may be null: nothing is
  // sent then.
  explicit Filter(linux::ReplySender* replies, linux::ReplySender* forwards = nullptr);

  linux::Decision Handle(linux::Packet& packet, int worker) override;
  // One clock reading for a whole recvmmsg batch; the read side for the
  // packets of existing states, the write side (at most once) from the first
  // packet that needs more; block-return replies leave after both.
  void HandleBatch(std::span<linux::Packet* const> packets, std::span<linux::Decision> decisions,
                   int worker) override;

  // Installs `ruleset`, which the caller parsed aside without errors (the
  // step that can fail). Compiling binds tables and interfaces of this engine,
  // so it runs under the lock: packets see the old rules or the new ones,
  // never a mix; states survive. Returns the compiler's warnings.
  std::vector<std::string> Load(const pf::Ruleset& ruleset);
  // pfctl -a NAME -f: replaces the rules of anchor NAME (a top-level `anchor
  // "NAME"` rule of the main ruleset evaluates them; an anchor nothing refers
  // to is kept and shown, but evaluates nothing, as in pf). The main ruleset
  // and the other anchors stay.
  std::vector<std::string> LoadAnchor(const std::string& anchor, const pf::Ruleset& ruleset);
  // pfctl -a NAME -F rules.
  void FlushAnchorRules(const std::string& anchor);

  // Both set before the data plane starts (or under the lock, see WithEngine).
  void SetSyncHook(SyncHook* hook) {
    std::lock_guard lock(mu_);
    sync_ = hook;
  }
  // Where packets of `log` rules go (null: nowhere). Set before the data plane starts.
  void SetPflog(linux::PflogWriter* pflog) {
    std::lock_guard lock(mu_);
    pflog_ = pflog;
  }
  void SetKeeper(linux::PacketKeeper* keeper) {
    std::lock_guard lock(mu_);
    keeper_ = keeper;
  }

  // Lets a held packet go (its pass verdict); runs under the packet lock,
  // from the pfsync runtime. Nothing happens for a packet no longer held.
  void ReleaseHeldLocked(uint64_t handle) {
    if (keeper_ != nullptr) keeper_->Release(handle, true);
  }

  // The queue layout the data plane runs (reloads are checked against it).
  void set_once_layout(bool once) { once_layout_ = once; }
  bool once_layout() const { return once_layout_; }

  void SetEnabled(bool enabled) { enabled_.store(enabled, std::memory_order_relaxed); }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }

  // Views for hapfctl -s (verbose as -v count).
  // Empty `anchor`: the main ruleset. False when no such anchor exists.
  bool ShowRules(int verbose, const std::string& anchor, std::string& out);
  std::string ShowRules(int verbose) {
    std::string out;
    ShowRules(verbose, "", out);
    return out;
  }
  std::string ShowStates(int verbose);
  std::string ShowInfo(int verbose);
  std::string ShowLabels();
  std::string ShowTimeouts();
  std::string ShowMemory();
  std::string ShowTables(int verbose);

  size_t KillStates(const std::vector<net::IpAddr>& sources);  // every state from these (empty: every state)
  // -k SRC [-k DST] with each side's addresses (a name resolves to several):
  // every pair is killed; `dsts` empty means any destination.
  size_t KillStates(const std::vector<net::Prefix>& srcs, const std::vector<net::Prefix>& dsts);
  // -K SRC [-K DST]: source-tracking nodes.
  size_t KillSrcNodes(const std::vector<net::Prefix>& srcs, const std::vector<net::Prefix>& dsts);
  std::string ShowSources(int verbose);  // -s Sources
  void FlushRules();   // -F rules: an empty ruleset (pf then passes everything)
  void FlushInfo();
  size_t FlushStates();
  // -t TABLE -T op [addresses]; returns the text pfctl prints, false on error.
  bool TableCommand(const std::string& table, const std::string& op, const std::vector<std::string>& args,
                    std::string& out, std::string& err);

  // Runs fn(engine) under the packet lock (write side), the workers'
  // counters merged: for components that work on the engine's states
  // directly (the pfsync runtime) and for the metrics.
  template <typename Fn>
  auto WithEngine(Fn&& fn) {
    std::lock_guard lock(mu_);
    MergeWorkersLocked();
    return fn(engine_);
  }

  // Expires states: what pf's purge thread does, spread over calls (one
  // tenth of `set timeout interval` worth of the table per call when called
  // every 100 ms), so an idle table drains and no call walks it all.
  void PurgeTick(int64_t now);

  // Synthetic first packets (`hapfctl debug flows`): what `count` new flows
  // do to the filter and to pfsync without the kernel, for measuring state
  // creation and replication on their own. Flow i comes from `first_source`
  // + (i mod `sources`) (the last 32 bits for IPv6), source port 1024 +
  // (i / sources) mod 64512, to `destination`:`port`, as a UDP datagram or a
  // TCP SYN; it arrives on `in` and, when `out` is set, leaves on `out` in
  // the same crossing (a forwarded packet of the once layout). The packets go
  // nowhere: replies are dropped, pflog is not written, pfsync `defer` holds
  // none of them. Batches of kSyntheticBatch under the write side, pfsync's
  // BatchDone after each, as for real batches.
  struct SyntheticFlows {
    net::IpAddr first_source;
    uint32_t sources = 1;
    net::IpAddr destination;
    uint16_t port = 9;
    uint8_t protocol = 17;  // 17 (UDP) or 6 (TCP SYN)
    uint64_t first = 0;     // index of the first flow
    uint64_t count = 0;
    const linux::IfaceEntry* in = nullptr;
    const linux::IfaceEntry* out = nullptr;
  };
  struct SyntheticResult {
    uint64_t passed = 0;
    uint64_t blocked = 0;
  };
  static constexpr size_t kSyntheticBatch = 256;
  SyntheticResult JudgeSynthetic(const SyntheticFlows& flows);

  uint64_t packets_handled() const { return handled_.load(std::memory_order_relaxed); }
  // Packets judged entirely under the read side (the concurrent path).
  uint64_t packets_shared() const { return shared_.load(std::memory_order_relaxed); }

 private:
  pf::engine::InterfaceId InterfaceFor(const linux::IfaceEntry* e);  // requires mu_
  // The engine's verdict for one packet (both directions it stands for);
  // a block-return reply is appended to `replies`, pflog records of `log`
  // rules to `log` when not null. Requires mu_.
  // How far the read side got with a packet: for a forwarded packet of the
  // once layout the inbound test may be done while the outbound one needs
  // the write side.
  struct Progress {
    bool in_done = false;
    bool rewritten = false;
    uint16_t tag = 0;
  };
  linux::Decision JudgeLocked(linux::Packet& packet, int64_t now, std::vector<std::vector<uint8_t>>& replies,
                              std::vector<std::vector<uint8_t>>& forwards, std::vector<uint8_t>* log,
                              const Progress* from = nullptr);
  // The read-side attempt: true with `d` set when the engine's shared path
  // took every test of the packet; false with `progress` when the rest needs
  // the write side. Requires mu_ shared.
  bool JudgeShared(linux::Packet& packet, int64_t now, pf::engine::Engine::SharedContext& ctx,
                   std::vector<uint8_t>* log, linux::Decision& d, Progress& progress);
  // The read side for a batch of one-direction packets through the engine's
  // prefetching pipeline: how many packets from the first it decided (it
  // stops at the first it cannot). Requires mu_ shared.
  size_t JudgeSharedBatch(std::span<linux::Packet* const> packets, int64_t now,
                          pf::engine::Engine::SharedContext& ctx, std::vector<uint8_t>* log,
                          std::span<linux::Decision> decisions);
  // The shared-path context of a worker, created under the write side.
  pf::engine::Engine::SharedContext& WorkerContext(int worker);
  void MergeWorkersLocked();  // requires mu_ exclusive
  // Compiles source_ with the anchors loaded by name filled in; requires mu_.
  std::vector<std::string> CompileLocked();
  // The rules anchor `name` holds now (loaded or inline), or null.
  const pf::Ruleset* AnchorSource(const std::string& name) const;  // requires mu_

  linux::ReplySender* replies_;
  linux::ReplySender* forwards_;
  SyncHook* sync_ = nullptr;
  bool once_layout_ = false;
  bool synthetic_ = false;  // JudgeSynthetic is testing (under the write side): nothing is held
  linux::PacketKeeper* keeper_ = nullptr;
  linux::PflogWriter* pflog_ = nullptr;
  RwLock mu_;
  // Serialises the sync runtime (pfsync) among read-side reporters; the
  // write side needs no more than mu_.
  std::mutex sync_mu_;
  pf::engine::Engine engine_;
  // Per-worker contexts of the shared path; slots are created under the write
  // side and never move (workers index them without the lock).
  static constexpr int kMaxWorkers = 64;

  std::array<std::unique_ptr<pf::engine::Engine::SharedContext>, kMaxWorkers> worker_ctx_;
  pf::Ruleset source_;  // the loaded ruleset as written, for -sr
  // Anchors loaded with -a NAME -f (or flushed with -a NAME -F rules): they
  // take the place of the inline body of the main ruleset's `anchor "NAME"`.
  std::map<std::string, pf::Ruleset> anchors_;
  int64_t enabled_since_ = 0;
  std::atomic<bool> enabled_{true};
  std::atomic<uint64_t> handled_{0};
  std::atomic<uint64_t> shared_{0};
};

}  // namespace hapf::daemon
