// The NFQUEUE data plane: worker threads, one per queue of a range, receive
// batches of packets (recvmmsg), hand each to the filter through PacketHandler
// and send all verdicts of a batch in one sendmsg, merging runs of equal
// verdicts into NFQNL_MSG_VERDICT_BATCH messages.
//
// Queues are configured with NFQA_CFG_F_GSO (GRO/GSO super-packets arrive
// whole, no segmentation on the way to user space) and without
// NFQA_CFG_F_FAIL_OPEN: a full queue drops, and with no process bound the
// kernel drops as well (the ruleset never sets the bypass flag).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "linux/iface_table.h"
#include "linux/nft_ruleset.h"

namespace hapf::linux {

// The netfilter hook a packet was queued from.
enum class Hook : uint8_t { kPrerouting, kInput, kForward, kOutput, kPostrouting };
const char* HookName(Hook hook);

struct Packet {
  std::span<uint8_t> l3;  // IPv4/IPv6 header onwards; the handler may edit in place
  size_t capacity = 0;    // bytes available from l3.data() for a longer rewrite
  uint32_t id = 0;        // the kernel's packet id within its queue
  uint16_t queue = 0;
  uint16_t l3_protocol = 0;  // ETH_P_IP or ETH_P_IPV6 (host order)
  Hook hook = Hook::kPrerouting;
  // Which pf directions this crossing stands for: inbound on `in`, outbound on
  // `out`. Both are set for a forwarded packet in QueueLayout::kOnce. A
  // direction on a skipped interface is cleared.
  bool filter_in = false;
  bool filter_out = false;
  uint32_t in_index = 0, out_index = 0;
  const IfaceEntry* in = nullptr;   // nullptr when there is no such interface
  const IfaceEntry* out = nullptr;
  uint32_t mark = 0;
  bool gso = false;                // a GRO/GSO super-packet (may exceed the MTU)
  bool csum_not_ready = false;     // L4 checksum left for the NIC (partial)
  bool csum_not_verified = false;  // inbound L4 checksum not checked by the NIC
};

// kHold: the handler kept the packet with PacketKeeper::Hold (pfsync defer);
// its verdict is issued later by PacketKeeper::Release.
enum class Verdict : uint8_t { kAccept, kDrop, kAcceptRewritten, kHold };

struct Decision {
  Verdict verdict = Verdict::kAccept;
  // For kAcceptRewritten: the new packet is l3.data()[0, new_length), with
  // new_length <= Packet::capacity. Its IP header checksum must be right; the
  // data plane writes the transport checksum itself when the kernel had left it
  // partial (csum_not_ready), so a handler may adjust it incrementally always.
  size_t new_length = 0;
};

// The filter. Called concurrently from every worker; `worker` (0..n-1) lets an
// implementation keep per-worker state without locks.
class PacketHandler {
 public:
  virtual ~PacketHandler() = default;
  virtual Decision Handle(Packet& packet, int worker) = 0;
  // Every packet one recvmmsg brought that needs judging (in queue order),
  // so an implementation can take its locks and read its clock once per
  // batch; decisions[i] answers packets[i]. The default calls Handle.
  virtual void HandleBatch(std::span<Packet* const> packets, std::span<Decision> decisions, int worker) {
    for (size_t i = 0; i < packets.size(); ++i) decisions[i] = Handle(*packets[i], worker);
  }
};

// Holding packets back (pfsync `defer`): the queue keeps a held packet until
// its verdict is given, from any thread, by handle.
class PacketKeeper {
 public:
  virtual ~PacketKeeper() = default;
  // Keeps `packet` (the first new_length bytes of its l3 when rewritten, else
  // new_length 0) and returns its handle; the handler then answers kHold.
  virtual uint64_t Hold(const Packet& packet, size_t new_length) = 0;
  // Issues the held packet's verdict (accept, or drop). False for an unknown
  // or already released handle.
  virtual bool Release(uint64_t handle, bool accept) = 0;
};

// The control queue's depth (hapfd's default). A pfsync bulk update arrives
// at up to 500 full packets per 10 ms (pfsync-bulk-pace; 5 states a packet:
// 1 000 000 states are 200 000 packets over 4 s). Alone in its queue the
// worker keeps up (it judges far more than 50 000 packets/s), so the queue only
// has to bridge the times it cannot run: the packet lock held by the main loop
// (a reload, `-ss` over a million states) or the CPUs taken by data workers.
// 65 536 packets are 1.3 s of the full pace, a third of such a bulk; 16 times
// the data queues' default, and only CARP and pfsync can fill it.
inline constexpr uint32_t kControlQueueMaxlen = 65536;
// Its socket buffer must hold as many messages, or the kernel drops them as
// user_dropped instead: a queued pfsync packet of ~1 500 bytes costs 2 303
// bytes of receive queue (20 000 waiting took 46 MB, bench/README.md), so
// 65 536 take ~151 MB; SO_RCVBUFFORCE doubles 128 MiB to a 256 MiB limit. A
// limit, not an allocation.
inline constexpr int kControlSocketBuffer = 128 << 20;

struct DataPlaneConfig {
  uint16_t queue_base = 0;
  uint16_t queue_count = 1;  // one worker thread per queue
  QueueLayout layout = QueueLayout::kSplit;
  std::vector<std::string> skip = {"lo"};  // as RulesetSpec::skip
  uint32_t queue_maxlen = 4096;            // packets waiting per queue
  int batch = 32;                          // packets per recvmmsg
  int socket_buffer = 8 << 20;             // SO_RCVBUFFORCE bytes
  // The control queue (CARP, pfsync; RulesetSpec::control_queue), numbered
  // right after the data range and served by one more worker (handler worker
  // index queue_count). 0: none, CARP and pfsync share the data queues.
  uint32_t control_queue_maxlen = 0;
  int control_socket_buffer = kControlSocketBuffer;
  std::string sync_device;  // as RulesetSpec::sync_device (pfsync's syncdev, empty: none)

  // The control queue's number, or kNoControlQueue.
  int32_t ControlQueue() const;
  // The table that queues to exactly these queues with this layout and skip
  // list (table name and generated mark at their defaults).
  RulesetSpec Ruleset() const;
};

// One row of /proc/net/netfilter/nfnetlink_queue: the kernel's view of a
// queue in the reading process's network namespace.
struct KernelQueueStats {
  uint16_t queue = 0;
  uint32_t portid = 0;         // the bound socket
  uint32_t waiting = 0;        // queue_total: packets without a verdict yet
  uint32_t queue_dropped = 0;  // dropped because the queue was full (maxlen)
  uint32_t user_dropped = 0;   // dropped because the socket buffer was full
  uint32_t id_sequence = 0;    // the last packet id: packets queued, ever (wraps)
};
// Parses the file's text. Pure; lines that do not parse are skipped.
std::vector<KernelQueueStats> ParseKernelQueueStats(std::string_view text);
// Reads the file; empty when it is absent (no queue bound in this namespace).
std::vector<KernelQueueStats> ReadKernelQueueStats();

struct WorkerCounters {
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> verdict_messages{0};  // individual + batch messages sent
  std::atomic<uint64_t> rewritten{0};
  std::atomic<uint64_t> gso{0};  // GRO/GSO super-packets among `packets`
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> overruns{0};  // ENOBUFS: the kernel lost packets to us
  std::atomic<uint64_t> errors{0};    // malformed messages, failed sends
  std::atomic<uint64_t> held{0};      // packets held back (pfsync defer), ever
  std::atomic<int64_t> holding{0};    // held now
};

class DataPlane : public PacketKeeper {
 public:
  DataPlane(DataPlaneConfig config, IfaceRegistry& ifaces, PacketHandler& handler);
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // Binds every queue and starts the workers. Empty string on success,
  // otherwise one line (e.g. the queue is bound by another process).
  std::string Start();
  // Stops the workers (within ~100 ms) and unbinds; queued packets are dropped
  // by the kernel. Remove the ruleset first so nothing new is queued.
  void Stop();

  // Workers 0..queue_count-1 serve the data range; the control queue's worker,
  // when there is one, comes last (worker index queue_count for the handler).
  const WorkerCounters& counters(int worker) const;
  int worker_count() const { return static_cast<int>(workers_.size()); }
  uint16_t queue(int worker) const;
  bool is_control(int worker) const { return worker == config_.queue_count; }

  // PacketKeeper: only for packets of a batch being judged (from Handle /
  // HandleBatch). While a queue holds packets its verdicts are sent one by
  // one: a batch verdict would also release the held ones.
  uint64_t Hold(const Packet& packet, size_t new_length) override;
  bool Release(uint64_t handle, bool accept) override;
  size_t held() const;

 private:
  struct Worker;
  void Run(Worker& w);
  std::string Bind(Worker& w, uint32_t maxlen, int socket_buffer);
  Worker* WorkerFor(uint16_t queue) const;

  DataPlaneConfig config_;
  IfaceRegistry& ifaces_;
  PacketHandler& handler_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
  // Held packets by handle ((queue << 32) | id): the rewritten bytes, or empty.
  mutable std::mutex held_mu_;
  std::map<uint64_t, std::vector<uint8_t>> held_;
};

// Merges verdicts into as few netlink messages as possible. Pure: it only
// writes messages into a buffer; exposed for tests.
class VerdictWriter {
 public:
  VerdictWriter(uint16_t queue, size_t capacity) : queue_(queue), buf_(capacity) {}

  // Packets must be added in the order the kernel queued them. False (and
  // nothing written) when the buffer has no room: send Finish() and add again.
  [[nodiscard]] bool Add(uint32_t id, Verdict verdict, std::span<const uint8_t> new_payload = {});
  // Ends the pending run; returns the bytes to send and resets.
  std::span<const uint8_t> Finish();
  uint32_t messages() const { return messages_; }
  // Off: every verdict is its own message (while the queue holds packets).
  void set_batching(bool on) { batching_ = on; }

 private:
  void FlushRun();

  uint16_t queue_;
  std::vector<uint8_t> buf_;
  size_t used_ = 0;
  uint32_t messages_ = 0;
  bool run_open_ = false;
  bool batching_ = true;
  int run_verdict_ = 0;
  uint32_t run_first_ = 0, run_last_ = 0;
};

}  // namespace hapf::linux
