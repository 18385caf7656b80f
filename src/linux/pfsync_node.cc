#include "linux/pfsync_node.h"

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

namespace hapf::linux {

namespace {

// The interface's MTU (SIOCGIFMTU), nothing when it cannot be read.
std::optional<uint32_t> InterfaceMtu(const std::string& name) {
  ifreq ifr{};
  if (name.empty() || name.size() >= sizeof ifr.ifr_name) return std::nullopt;
  std::memcpy(ifr.ifr_name, name.c_str(), name.size() + 1);
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  const int rc = ioctl(fd, SIOCGIFMTU, &ifr);
  close(fd);
  if (rc != 0 || ifr.ifr_mtu <= 0) return std::nullopt;
  return static_cast<uint32_t>(ifr.ifr_mtu);
}

sim::Time Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return sim::FromNanos(int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec);
}

}  // namespace

PfsyncNode::PfsyncNode(pf::engine::Engine& filter, PfsyncNodeOptions options)
    : opts_(std::move(options)), filter_(filter) {
  socket_ = std::make_unique<PfsyncSocket>(opts_.config.syncdev, opts_.config.syncpeer, opts_.socket_mark);
  pfsync::EngineConfig cfg;
  cfg.creatorid = filter.options().hostid;
  pfsync::ApplyToEngine(opts_.config, cfg);
  // A pfsync packet must fit the syncdev (it is never fragmented): a larger
  // configured mtu gives way to the device's, as the log says.
  mtu_ = opts_.config.mtu;
  if (const std::optional<uint32_t> dev = InterfaceMtu(opts_.config.syncdev); dev && *dev < mtu_) {
    if (opts_.log)
      opts_.log("pfsync0: mtu " + std::to_string(mtu_) + " is more than " + opts_.config.syncdev + "'s " +
                std::to_string(*dev) + ": pfsync packets stay within " + std::to_string(*dev) + " bytes");
    mtu_ = std::max<uint32_t>(*dev, 41);
  }
  cfg.mtu = mtu_;
  if (opts_.bulk_interval > pfsync::Duration{0}) cfg.bulk_interval = opts_.bulk_interval;
  if (opts_.bulk_packets_per_interval > 0) cfg.bulk_packets_per_interval = opts_.bulk_packets_per_interval;
  store_ = std::make_unique<pfsync::PfStateStore>(filter, opts_.pf_offset_ns);
  sync_ = std::make_unique<pfsync::SyncEngine>(cfg, *store_, static_cast<pfsync::EngineSink&>(*this));
  store_->AttachSync(sync_.get());
  // Only deferral needs to see creations first; otherwise the store observes.
  if (opts_.config.defer) filter.SetStateObserver(static_cast<pf::engine::StateObserver*>(this));
  if (opts_.start_now) Start();
}

void PfsyncNode::Start() {
  if (started_ || !opts_.config.up) return;
  started_ = true;
  const sim::Time now = Now();
  store_->SetNow(now);
  sync_->LinkUp(now);
  sync_->Up(now);
  SendPending();
}

std::optional<std::string> PfsyncNode::Reconfigure(const pfsync::PfsyncConfig& config) {
  const pfsync::PfsyncConfig& cur = opts_.config;
  if (config.syncdev != cur.syncdev || config.syncpeer != cur.syncpeer || config.up != cur.up ||
      config.mtu != cur.mtu)
    return "pfsync0: syncdev, syncpeer, mtu and up/down take effect when hapfd restarts";
  if (config.maxupd == cur.maxupd && config.defer == cur.defer && config.syncauth == cur.syncauth)
    return std::nullopt;
  const sim::Time now = Now();
  store_->SetNow(now);
  sync_->SetTunables(config.maxupd, config.defer, config.syncauth, now);
  if (config.defer != cur.defer)
    filter_.SetStateObserver(config.defer ? static_cast<pf::engine::StateObserver*>(this)
                                          : static_cast<pf::engine::StateObserver*>(store_.get()));
  opts_.config = config;
  SendPending();
  if (opts_.log)
    opts_.log("pfsync0: reconfigured: maxupd " + std::to_string(config.maxupd) + " defer " +
              (config.defer ? "on" : "off") + (config.syncauth.empty() ? "" : " syncauth on"));
  return std::nullopt;
}

PfsyncNode::~PfsyncNode() {
  filter_.SetStateObserver(nullptr);
  store_->AttachSync(nullptr);
  sync_->Down(Now());
}

void PfsyncNode::Send(std::span<const uint8_t> pfsync) {
  if (queued() >= opts_.max_queued_packets) {
    ++oqdrops_;
    return;
  }
  if (pending_used_ == pending_.size()) {
    if (pending_head_ > 0) {
      // Move the waiting packets to the front (swapping keeps the buffers).
      for (size_t i = pending_head_; i < pending_used_; ++i) std::swap(pending_[i - pending_head_], pending_[i]);
      pending_used_ -= pending_head_;
      pending_head_ = 0;
    } else {
      pending_.emplace_back();
    }
  }
  pending_[pending_used_++].assign(pfsync.begin(), pfsync.end());
}

void PfsyncNode::Demote(int delta, std::string_view reason) {
  demotion_ += delta;
  if (opts_.log) opts_.log("pfsync: demote " + std::to_string(delta) + " (" + std::string(reason) + ")");
  if (opts_.demote) opts_.demote(delta, reason);
}

void PfsyncNode::StateCreated(uint32_t idx, const pf::engine::State& s, pf::engine::TimeNs now) {
  if (!armed_ || armed_used_) {
    store_->StateCreated(idx, s, now);
    return;
  }
  // The store indexes the state without telling the sync engine, which then
  // hears of it once, with the packet to hold.
  armed_used_ = true;
  store_->AttachSync(nullptr);
  store_->StateCreated(idx, s, now);
  store_->AttachSync(sync_.get());
  sync_->StateInserted({s.id, s.creatorid}, sim::FromNanos(now - opts_.pf_offset_ns), armed_handle_);
}

void PfsyncNode::ReleaseDeferred(uint64_t handle) {
  if (opts_.release_deferred) opts_.release_deferred(handle);
}

void PfsyncNode::SendPending() {
  std::array<std::span<const uint8_t>, PfsyncSocket::kBatch> spans;
  while (pending_head_ < pending_used_) {
    const size_t n = std::min(spans.size(), pending_used_ - pending_head_);
    for (size_t i = 0; i < n; ++i) spans[i] = pending_[pending_head_ + i];
    int err = 0;
    const size_t sent = socket_->SendBatch(std::span(spans.data(), n), &err);
    pending_head_ += sent;
    if (sent == n) continue;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR) {
      // The socket (or the device queue) is full: the rest waits for room.
      ++oretries_;
      wait_writable_ = err != ENOBUFS;  // POLLOUT says nothing about a full device queue
      return;
    }
    ++oerrors_;  // this packet cannot go (e.g. EMSGSIZE, ENETDOWN; EPERM from a netfilter drop): skip it
    ++pending_head_;
  }
  pending_head_ = pending_used_ = 0;
}

void PfsyncNode::RunTimers(sim::Time now) {
  SendPending();  // what waited for room goes first
  // Bounded: the pacing budget ends a bulk step long before this does.
  for (int round = 0; round < 256; ++round) {
    const uint64_t built = sync_->stats().opackets;
    sync_->Tick(now, queued() == 0 ? PfsyncSocket::kBatch : 0);
    SendPending();
    if (queued() > 0 || !sync_->bulk_sending() || sync_->stats().opackets == built) break;
  }
}

void PfsyncNode::HandleReadable() {
  const sim::Time now = Now();
  store_->SetNow(now);
  // Bounded: a flood cannot keep the filter thread here forever.
  for (int round = 0; round < 64; ++round) {
    const size_t n = socket_->ReceiveBatch(drops_, [&](const PfsyncSocket::Received& r) {
      sync_->Receive(r.pfsync, now);
    });
    if (n < PfsyncSocket::kBatch) break;
  }
  SendPending();
}

void PfsyncNode::Tick() {
  const sim::Time now = Now();
  store_->SetNow(now);
  RunTimers(now);
}

void PfsyncNode::Flush() { SendPending(); }

int PfsyncNode::NextTimeoutMs() const {
  if (queued() > 0) return 1;  // retry the socket soon, whatever the engine's timers say
  const auto next = sync_->NextDeadline();
  if (!next) return -1;
  // Rounded up, not up by a whole millisecond: a 10 ms bulk interval stays 10 ms.
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*next - Now()).count();
  return static_cast<int>(std::clamp<int64_t>((ns + 999999) / 1000000, 0, 60000));
}

void PfsyncNode::Step(int max_wait_ms) {
  int wait = NextTimeoutMs();
  if (max_wait_ms >= 0 && (wait < 0 || wait > max_wait_ms)) wait = max_wait_ms;
  pollfd pfd{socket_->fd(), static_cast<short>(POLLIN | (queued() > 0 && wait_writable_ ? POLLOUT : 0)), 0};
  // POLLERR: ICMP errors wait in the error queue (HandleReadable drains them).
  if (poll(&pfd, 1, wait) > 0 && (pfd.revents & (POLLIN | POLLERR))) HandleReadable();
  Tick();
}

void PfsyncNode::Run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) Step(100);
}

pfsync::EngineStats PfsyncNode::Stats() const {
  pfsync::EngineStats s = sync_->stats();
  s.badttl += drops_.badttl;
  s.badif += drops_.badif;
  s.hdrops += drops_.hdrops;
  s.oerrors += oerrors_;
  s.oretries += oretries_;
  s.oqdrops += oqdrops_;
  return s;
}

std::string PfsyncNode::IfconfigText() const {
  std::string out = "pfsync0: flags=";
  out += opts_.config.up ? "41<UP,RUNNING>" : "0<>";
  out += " mtu " + std::to_string(mtu_) + "\n";
  out += pfsync::StatusLine(opts_.config);
  if (!out.ends_with('\n')) out += '\n';
  out += "\tgroups: carp pfsync\n";
  return out;
}

std::string PfsyncNode::NetstatText(bool all) const { return pfsync::FormatStats(Stats(), all); }

}  // namespace hapf::linux
