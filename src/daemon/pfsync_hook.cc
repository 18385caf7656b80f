#include "daemon/pfsync_hook.h"

#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace hapf::daemon {
namespace {

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace

PfsyncPacketHook::PfsyncPacketHook(linux::PfsyncNode& node, std::function<void(uint64_t)> release)
    : node_(node), release_(std::move(release)) {
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) throw std::runtime_error("timerfd_create failed");
}

PfsyncPacketHook::~PfsyncPacketHook() { close(timer_fd_); }

void PfsyncPacketHook::ArmDeferral(uint64_t handle) {
  armed_ = true;
  released_now_ = false;
  armed_handle_ = handle;
  node_.ArmDeferral(handle);
}

bool PfsyncPacketHook::DisarmDeferral() {
  armed_ = false;
  if (!node_.DisarmDeferral()) return false;  // no state was created
  if (released_now_) {                        // not synced (no-sync, pfsync down): goes on at once
    ++released_in_test_;
    return false;
  }
  ++held_;
  deferred_in_batch_ = true;
  return true;
}

void PfsyncPacketHook::Released(uint64_t handle) {
  if (armed_ && handle == armed_handle_) {
    released_now_ = true;
    return;
  }
  release_(handle);
}

void PfsyncPacketHook::BatchDone() {
  // The INS of a deferred state was flushed by the sync engine at once; what
  // the batch queued leaves now rather than at the next main-loop step.
  node_.Flush();
  // Packets the full socket refused are retried from the timer.
  if (deferred_in_batch_ || node_.queued() > 0) {
    deferred_in_batch_ = false;
    ArmTimer(node_.NextTimeoutMs());
  }
}

void PfsyncPacketHook::ClearTimer() {
  uint64_t expirations;
  while (read(timer_fd_, &expirations, sizeof expirations) > 0) {
  }
  timer_due_ns_ = 0;
}

void PfsyncPacketHook::ArmTimer(int ms) {
  if (ms < 0) return;  // nothing due: the main loop's own tick covers the rest
  const int64_t due = MonotonicNowNs() + int64_t{ms} * 1000000;
  if (timer_due_ns_ != 0 && timer_due_ns_ <= due) return;  // an earlier wake-up is set
  itimerspec its{};
  const int64_t rel = std::max<int64_t>(int64_t{ms} * 1000000, 1);
  its.it_value.tv_sec = rel / 1000000000;
  its.it_value.tv_nsec = rel % 1000000000;
  if (timerfd_settime(timer_fd_, 0, &its, nullptr) == 0) timer_due_ns_ = due;
}

}  // namespace hapf::daemon
