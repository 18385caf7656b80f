// The pfsync runtime on hapfd's packet path: holds the first packet of a new
// state while `defer` is on (released by the peer's INS_ACK or the sync
// engine's timeout), sends what a packet batch queued when the batch ends,
// and wakes the main loop through a timerfd when the sync engine's next timer
// (deferral timeout, flush delay, bulk pacing) is due.
#pragma once

#include <cstdint>
#include <functional>

#include "daemon/filter.h"
#include "linux/pfsync_node.h"

namespace hapf::daemon {

class PfsyncPacketHook final : public SyncHook {
 public:
  // `release` issues a held packet's verdict (the data plane's Release).
  PfsyncPacketHook(linux::PfsyncNode& node, std::function<void(uint64_t)> release);
  ~PfsyncPacketHook() override;
  PfsyncPacketHook(const PfsyncPacketHook&) = delete;
  PfsyncPacketHook& operator=(const PfsyncPacketHook&) = delete;

  // --- SyncHook (packet lock held) ---
  bool defer() const override { return node_.defer(); }
  void ArmDeferral(uint64_t handle) override;
  bool DisarmDeferral() override;
  void BatchDone() override;

  // The node's release_deferred callback (packet lock held): a packet released
  // while its own test still runs is simply not held; any other goes out now.
  void Released(uint64_t handle);

  // The main loop polls this; ClearTimer() after it fired, ArmTimer() with the
  // node's next timeout (-1: none) after each step. Packet lock held.
  int timer_fd() const { return timer_fd_; }
  void ClearTimer();
  void ArmTimer(int ms);

  uint64_t held() const { return held_; }
  uint64_t released_in_test() const { return released_in_test_; }

 private:
  linux::PfsyncNode& node_;
  std::function<void(uint64_t)> release_;
  int timer_fd_ = -1;
  int64_t timer_due_ns_ = 0;  // CLOCK_MONOTONIC; 0 = disarmed
  bool armed_ = false, released_now_ = false;
  uint64_t armed_handle_ = 0;
  bool deferred_in_batch_ = false;
  uint64_t held_ = 0, released_in_test_ = 0;
};

}  // namespace hapf::daemon
