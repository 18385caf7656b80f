// The Linux runtime of pfsync: owns the protocol-240 socket on the syncdev,
// runs the pure SyncEngine with the monotonic clock and its timers, bridges it
// to the daemon's filter engine (PfStateStore as the engine's StateObserver),
// requests the bulk update when it comes up, and hands CARP demotions to a
// callback. Single-threaded: the daemon calls Step()/HandleReadable()/Tick()
// from the thread that runs the filter engine (neither is thread-safe).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "linux/pfsync_socket.h"
#include "pf/engine.h"
#include "pfsync/bridge_state.h"
#include "pfsync/config.h"
#include "pfsync/engine.h"

namespace hapf::linux {

struct PfsyncNodeOptions {
  pfsync::PfsyncConfig config;  // syncdev, syncpeer, maxupd, defer, mtu, syncauth
  // pf engine time = monotonic time + this (the daemon passes realtime - monotonic
  // when it feeds the filter wall-clock nanoseconds; 0 when both use CLOCK_MONOTONIC).
  int64_t pf_offset_ns = 0;
  // CARP demotion (+32 until the bulk update is in, +1 while the sync link is down).
  // The daemon wires it to carp::Engine::Demote("pfsync0", delta, reason, ...),
  // having registered "pfsync0" with RegisterDemoter("pfsync0", {"carp", "pfsync"}).
  std::function<void(int delta, std::string_view reason)> demote;
  // Deferral: a held first packet may go out now.
  std::function<void(uint64_t handle)> release_deferred;
  std::function<void(const std::string& line)> log;
  // Packets waiting for room in the socket (EAGAIN/ENOBUFS are retried, not
  // lost); beyond this bound new packets are dropped and counted (oqdrops).
  // 8192 full packets are 12 MB: an insert storm of ~40 000 states.
  size_t max_queued_packets = 8192;
  // SO_MARK of the pfsync socket (0: none). hapfd passes its generated mark
  // (RulesetSpec::generated_mark) so that its pfsync packets skip its own
  // queue on output, like its RST/ICMP replies; inbound pfsync is filtered.
  uint32_t socket_mark = 0;
  // Bulk pacing overrides (0: the engine's default, see pfsync::EngineConfig).
  pfsync::Duration bulk_interval{0};
  int bulk_packets_per_interval = 0;
  // False: the constructor only attaches; Start() brings pfsync up later (the
  // daemon waits until its nftables table is in place, or the bulk request's
  // answer would meet a stale table and be dropped).
  bool start_now = true;
};

class PfsyncNode final : private pfsync::EngineSink, private pf::engine::StateObserver {
 public:
  // Opens the socket (throws std::runtime_error on failure), attaches to
  // `filter` and, when the config says `up`, brings pfsync up: link up, bulk
  // update requested.
  PfsyncNode(pf::engine::Engine& filter, PfsyncNodeOptions options);
  ~PfsyncNode() override;
  // When the config says `up`: link up, bulk update requested. Once.
  void Start();
  // A changed configuration at run time: maxupd, defer and syncauth apply at
  // once; a changed syncdev, syncpeer or up/down is refused with a message
  // (the socket and the bulk state machine belong to them: restart hapfd).
  std::optional<std::string> Reconfigure(const pfsync::PfsyncConfig& config);
  const pfsync::PfsyncConfig& config() const { return opts_.config; }

  int fd() const { return socket_->fd(); }
  // Reads what is there, runs due timers and sends what they produced; waits
  // at most `max_wait_ms` (-1: until the next timer) for the socket (also for
  // POLLOUT while packets wait for room).
  void Step(int max_wait_ms);
  void Run(const std::atomic<bool>& stop);
  // For daemons with their own poll loop.
  void HandleReadable();
  void Tick();
  // Milliseconds until the next timer, -1 when none is armed; at most 1 while
  // packets wait for room in the socket (the daemon's loop has no POLLOUT).
  int NextTimeoutMs() const;
  // Sends what the engine queued while the filter ran (call after a packet batch).
  void Flush();
  // Packets waiting for room in the socket.
  size_t queued() const { return pending_used_ - pending_head_; }

  // Deferral (`defer`): before the filter tests a packet, ArmDeferral(handle)
  // names it as the packet to hold should the test create a state; after the
  // test, DisarmDeferral() says whether a state took it (it is then held by
  // the sync engine, or already released through release_deferred, which may
  // run inside the test). Same thread and lock as the filter.
  void ArmDeferral(uint64_t handle) {
    armed_ = true;
    armed_handle_ = handle;
    armed_used_ = false;
  }
  bool DisarmDeferral() {
    armed_ = false;
    return armed_used_;
  }
  bool defer() const { return opts_.config.defer; }

  // `ifconfig pfsync0`: the interface line, the pfsync: line and groups.
  std::string IfconfigText() const;
  // `netstat -s -p pfsync`, transport drops (badttl, badif) included.
  std::string NetstatText(bool all = true) const;
  pfsync::EngineStats Stats() const;

  pfsync::SyncEngine& engine() { return *sync_; }
  pfsync::PfStateStore& store() { return *store_; }
  int demotion() const { return demotion_; }

 private:
  void Send(std::span<const uint8_t> pfsync) override;
  void Demote(int delta, std::string_view reason) override;
  void ReleaseDeferred(uint64_t handle) override;
  void SendPending();
  // Runs the engine's timers; a bulk transfer is built one sendmmsg batch at
  // a time while the socket takes them and the engine's pacing allows.
  void RunTimers(sim::Time now);
  // The filter's observer: the store's, with the armed packet handed to the
  // sync engine as the new state's deferred packet.
  void StateCreated(uint32_t idx, const pf::engine::State& s, pf::engine::TimeNs now) override;
  void StateUpdated(uint32_t idx, const pf::engine::State& s, pf::engine::TimeNs now) override {
    store_->StateUpdated(idx, s, now);
  }
  void StateRemoving(uint32_t idx, const pf::engine::State& s) override { store_->StateRemoving(idx, s); }

  PfsyncNodeOptions opts_;
  std::unique_ptr<PfsyncSocket> socket_;
  uint32_t mtu_ = 1500;  // the pfsync MTU in use: the configured one, at most the syncdev's
  std::unique_ptr<pfsync::PfStateStore> store_;
  std::unique_ptr<pfsync::SyncEngine> sync_;
  // Packets the engine produced, in order: [pending_head_, pending_used_)
  // wait for the socket. Buffers are reused: no allocation once warmed up.
  std::vector<std::vector<uint8_t>> pending_;
  size_t pending_head_ = 0, pending_used_ = 0;
  bool wait_writable_ = false;  // the last refusal was EAGAIN: POLLOUT ends it (ENOBUFS: the 1 ms timer)
  PfsyncSocket::Drops drops_;
  uint64_t oerrors_ = 0, oretries_ = 0, oqdrops_ = 0;
  int demotion_ = 0;
  pf::engine::Engine& filter_;
  bool armed_ = false, armed_used_ = false;
  bool started_ = false;
  uint64_t armed_handle_ = 0;
};

}  // namespace hapf::linux
