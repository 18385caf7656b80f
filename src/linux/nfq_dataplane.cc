#include "linux/nfq_dataplane.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <net/ethernet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "linux/netlink_util.h"
#include "linux/nfq_packet.h"

namespace hapf::linux {

const char* HookName(Hook hook) {
  switch (hook) {
    case Hook::kPrerouting: return "prerouting";
    case Hook::kInput: return "input";
    case Hook::kForward: return "forward";
    case Hook::kOutput: return "output";
    case Hook::kPostrouting: return "postrouting";
  }
  return "?";
}

// ---- VerdictWriter ----

void VerdictWriter::FlushRun() {
  if (!run_open_) return;
  run_open_ = false;
  const bool single = run_first_ == run_last_;
  nlmsghdr* nlh = nfq_nlmsg_put(reinterpret_cast<char*>(buf_.data() + used_),
                                single ? NFQNL_MSG_VERDICT : NFQNL_MSG_VERDICT_BATCH, queue_);
  nfq_nlmsg_verdict_put(nlh, static_cast<int>(run_last_), run_verdict_);
  used_ += NLMSG_ALIGN(nlh->nlmsg_len);
  ++messages_;
}

namespace {
// Upper bound of one verdict message without payload (header 16, nfgenmsg 4,
// verdict attribute 12, payload attribute header 4, alignment).
constexpr size_t kVerdictRoom = 64;
}  // namespace

bool VerdictWriter::Add(uint32_t id, Verdict verdict, std::span<const uint8_t> new_payload) {
  // Room for flushing the pending run, plus this packet's own message (a
  // rewrite) or the run it may open (flushed later by Finish).
  const size_t need = kVerdictRoom + kVerdictRoom + (verdict == Verdict::kAcceptRewritten ? new_payload.size() : 0);
  if (buf_.size() - used_ < need) return false;
  if (verdict == Verdict::kAcceptRewritten) {
    FlushRun();
    nlmsghdr* nlh = nfq_nlmsg_put(reinterpret_cast<char*>(buf_.data() + used_), NFQNL_MSG_VERDICT, queue_);
    nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), NF_ACCEPT);
    nfq_nlmsg_verdict_put_pkt(nlh, new_payload.data(), static_cast<uint32_t>(new_payload.size()));
    used_ += NLMSG_ALIGN(nlh->nlmsg_len);
    ++messages_;
    return true;
  }
  const int code = verdict == Verdict::kAccept ? NF_ACCEPT : NF_DROP;
  if (batching_ && run_open_ && code == run_verdict_ && id == run_last_ + 1) {
    run_last_ = id;
    return true;
  }
  FlushRun();
  run_open_ = true;
  run_verdict_ = code;
  run_first_ = run_last_ = id;
  return true;
}

std::span<const uint8_t> VerdictWriter::Finish() {
  FlushRun();
  std::span<const uint8_t> out(buf_.data(), used_);
  used_ = 0;
  return out;
}

// ---- DataPlane ----

namespace {

// A 64 KiB GSO packet plus netlink framing: with the copy range at 0xffff a
// packet message always fits, so none is ever truncated (and left unanswered).
constexpr size_t kSlotSize = 65536 + 4096;

bool SkipMatches(const std::vector<std::string>& skip, const IfaceEntry* iface) {
  if (iface == nullptr) return false;
  for (const std::string& s : skip) {
    if (!s.empty() && s.back() == '*') {
      if (iface->name.compare(0, s.size() - 1, s, 0, s.size() - 1) == 0) return true;
    } else if (iface->name == s) {
      return true;
    }
  }
  return false;
}

// Sends one queue configuration message and waits for its acknowledgement.
int ConfigureQueue(mnl_socket* sock, nlmsghdr* nlh) {
  nlh->nlmsg_flags |= NLM_F_ACK;
  if (mnl_socket_sendto(sock, nlh, nlh->nlmsg_len) < 0) return -errno;
  char buf[MNL_SOCKET_BUFFER_SIZE];
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock, buf, sizeof(buf));
    if (n < 0) return -errno;
    int len = static_cast<int>(n);
    for (auto* msg = reinterpret_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(msg, len); msg = mnl_nlmsg_next(msg, &len)) {
      if (msg->nlmsg_type == NLMSG_ERROR) return static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(msg))->error;
    }
  }
}

}  // namespace

struct DataPlane::Worker {
  int index = 0;
  uint16_t queue = 0;
  std::unique_ptr<NetlinkSocket> sock;
  std::unique_ptr<WorkerCounters> counters = std::make_unique<WorkerCounters>();
  std::thread thread;
};

int32_t DataPlaneConfig::ControlQueue() const {
  if (control_queue_maxlen == 0) return kNoControlQueue;
  const int32_t q = int32_t{queue_base} + std::max<int32_t>(1, queue_count);
  return q <= 0xffff ? q : kNoControlQueue;
}

RulesetSpec DataPlaneConfig::Ruleset() const {
  RulesetSpec spec;
  spec.layout = layout;
  spec.queue_base = queue_base;
  spec.queue_count = queue_count;
  spec.control_queue = ControlQueue();
  spec.sync_device = sync_device;
  spec.skip = skip;
  return spec;
}

std::vector<KernelQueueStats> ParseKernelQueueStats(std::string_view text) {
  std::vector<KernelQueueStats> out;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string line(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    // queue_num peer_portid queue_total copy_mode copy_range queue_dropped user_dropped id_sequence 1
    unsigned num = 0, portid = 0, total = 0, mode = 0, range = 0, qdrop = 0, udrop = 0, seq = 0;
    if (std::sscanf(line.c_str(), "%u %u %u %u %u %u %u %u", &num, &portid, &total, &mode, &range, &qdrop, &udrop,
                    &seq) != 8 ||
        num > 0xffff) {
      continue;
    }
    out.push_back({static_cast<uint16_t>(num), portid, total, qdrop, udrop, seq});
  }
  return out;
}

std::vector<KernelQueueStats> ReadKernelQueueStats() {
  std::string text;
  if (std::FILE* f = std::fopen("/proc/net/netfilter/nfnetlink_queue", "re")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    std::fclose(f);
  }
  return ParseKernelQueueStats(text);
}

const WorkerCounters& DataPlane::counters(int worker) const { return *workers_[worker]->counters; }
uint16_t DataPlane::queue(int worker) const { return workers_[worker]->queue; }

DataPlane::Worker* DataPlane::WorkerFor(uint16_t queue) const {
  for (const auto& w : workers_) {
    if (w->queue == queue) return w.get();
  }
  return nullptr;
}

DataPlane::DataPlane(DataPlaneConfig config, IfaceRegistry& ifaces, PacketHandler& handler)
    : config_(std::move(config)), ifaces_(ifaces), handler_(handler) {}

DataPlane::~DataPlane() { Stop(); }

std::string DataPlane::Bind(Worker& w, uint32_t maxlen, int socket_buffer) {
  w.sock = std::make_unique<NetlinkSocket>(NETLINK_NETFILTER);
  const std::string q = "queue " + std::to_string(w.queue) + ": ";
  if (!w.sock->ok()) return q + "netfilter netlink socket: " + std::strerror(errno);
  mnl_socket* s = w.sock->get();
  char buf[MNL_SOCKET_BUFFER_SIZE];

  nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, w.queue);
  nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
  if (int err = ConfigureQueue(s, nlh); err != 0) {
    // The kernel answers EPERM when another socket has bound the queue.
    const bool taken = err == -EPERM || err == -EBUSY;
    return q + "bind: " + std::strerror(-err) +
           (taken ? " (another process serves this queue)" : " (kernel without CONFIG_NETFILTER_NETLINK_QUEUE?)");
  }
  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, w.queue);
  nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
  if (int err = ConfigureQueue(s, nlh); err != 0) return q + "copy mode: " + std::strerror(-err);
  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, w.queue);
  nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
  if (int err = ConfigureQueue(s, nlh); err != 0) return q + "queue length: " + std::strerror(-err);
  // GSO on, fail-open explicitly off (the mask covers both).
  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, w.queue);
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
  if (int err = ConfigureQueue(s, nlh); err != 0) return q + "flags: " + std::strerror(-err);

  int fd = w.sock->fd();
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &socket_buffer, sizeof(int)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &socket_buffer, sizeof(int));
  }
  timeval tv{0, 100 * 1000};  // how often a blocked worker looks at stop_
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return {};
}

std::string DataPlane::Start() {
  stop_ = false;
  const int32_t control = config_.ControlQueue();
  const int n = config_.queue_count + (control == kNoControlQueue ? 0 : 1);
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    const bool is_control = i == config_.queue_count;
    w->queue = static_cast<uint16_t>(is_control ? control : config_.queue_base + i);
    if (std::string e = is_control ? Bind(*w, config_.control_queue_maxlen, config_.control_socket_buffer)
                                   : Bind(*w, config_.queue_maxlen, config_.socket_buffer);
        !e.empty()) {
      return e;
    }
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* wp = w.get();
    wp->thread = std::thread([this, wp] { Run(*wp); });
  }
  return {};
}

void DataPlane::Stop() {
  stop_ = true;
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  for (auto& w : workers_) w->sock.reset();  // closing unbinds the queue
}

void DataPlane::Run(Worker& w) {
  const int batch = std::max(1, config_.batch);
  std::vector<uint8_t> slots(static_cast<size_t>(batch) * kSlotSize);
  std::vector<iovec> iov(batch);
  std::vector<mmsghdr> msgs(batch);
  std::vector<sockaddr_nl> from(batch);
  for (int i = 0; i < batch; ++i) {
    iov[i] = {slots.data() + static_cast<size_t>(i) * kSlotSize, kSlotSize};
    msgs[i].msg_hdr = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_nl);
  }
  // Room for a full batch of plain verdicts plus one rewritten packet; the
  // loop below sends early when a rewrite would not fit.
  VerdictWriter writer(w.queue, static_cast<size_t>(batch) * 2 * kVerdictRoom + kSlotSize);
  IfaceView view(ifaces_);
  WorkerCounters& c = *w.counters;
  const int fd = w.sock->fd();
  std::vector<nlattr*> attr(NFQA_MAX + 1);

  auto send = [&](std::span<const uint8_t> bytes) {
    if (bytes.empty()) return;
    if (mnl_socket_sendto(w.sock->get(), bytes.data(), bytes.size()) < 0) {
      c.errors.fetch_add(1, std::memory_order_relaxed);
    }
  };
  // The buffer holds a whole batch of plain verdicts and any one rewrite, so
  // the second Add always succeeds.
  auto add = [&](uint32_t id, Verdict verdict, std::span<const uint8_t> payload = {}) {
    if (!writer.Add(id, verdict, payload)) {
      send(writer.Finish());
      if (!writer.Add(id, verdict, payload)) c.errors.fetch_add(1, std::memory_order_relaxed);
    }
  };

  // One batch: every packet first, then one HandleBatch, then the verdicts in
  // queue order (a batch verdict covers every earlier id). Reused buffers.
  std::vector<Packet> packets;
  std::vector<Decision> decisions;
  std::vector<Packet*> judged;
  std::vector<Decision> judged_decisions;
  packets.reserve(static_cast<size_t>(batch) * 2);

  while (!stop_.load(std::memory_order_relaxed)) {
    for (int i = 0; i < batch; ++i) msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_nl);
    int n = recvmmsg(fd, msgs.data(), static_cast<unsigned>(batch), MSG_WAITFORONE, nullptr);
    if (n < 0) {
      if (errno == ENOBUFS) c.overruns.fetch_add(1, std::memory_order_relaxed);
      continue;  // EAGAIN (the stop_ poll interval), EINTR, ENOBUFS
    }
    view.Refresh();
    packets.clear();
    decisions.clear();
    judged.clear();
    uint64_t dropped = 0, rewritten = 0, gso = 0;
    for (int i = 0; i < n; ++i) {
      if (from[i].nl_pid != 0) continue;  // only the kernel may queue packets to us
      uint8_t* base = slots.data() + static_cast<size_t>(i) * kSlotSize;
      int len = static_cast<int>(msgs[i].msg_len);
      for (auto* nlh = reinterpret_cast<nlmsghdr*>(base); mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
        if (nlh->nlmsg_type == NLMSG_ERROR) {  // the kernel refused a verdict we sent
          c.errors.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) continue;
        std::fill(attr.begin(), attr.end(), nullptr);
        if (nfq_nlmsg_parse(nlh, attr.data()) < 0 || attr[NFQA_PACKET_HDR] == nullptr ||
            mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(nfqnl_msg_packet_hdr)) {
          c.errors.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        const auto* ph = static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(attr[NFQA_PACKET_HDR]));
        Packet& p = packets.emplace_back();
        decisions.emplace_back();
        p.id = ntohl(ph->packet_id);
        p.queue = w.queue;
        if (attr[NFQA_PAYLOAD] == nullptr) {  // nothing to judge: refuse it
          decisions.back().verdict = Verdict::kDrop;
          continue;
        }
        auto* payload = static_cast<uint8_t*>(mnl_attr_get_payload(attr[NFQA_PAYLOAD]));
        p.l3 = {payload, mnl_attr_get_payload_len(attr[NFQA_PAYLOAD])};
        // Every attribute has been read: the rest of the slot is free space,
        // unless another message follows in the same datagram.
        p.capacity = len > static_cast<int>(NLMSG_ALIGN(nlh->nlmsg_len)) ? p.l3.size()
                                                                          : static_cast<size_t>(base + kSlotSize - payload);
        p.l3_protocol = ntohs(ph->hw_protocol);
        if (attr[NFQA_IFINDEX_INDEV]) p.in_index = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
        if (attr[NFQA_IFINDEX_OUTDEV]) p.out_index = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_OUTDEV]));
        if (attr[NFQA_MARK]) p.mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
        if (attr[NFQA_SKB_INFO]) {
          const uint32_t info = ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO]));
          p.gso = info & NFQA_SKB_GSO;
          gso += p.gso;
          p.csum_not_ready = info & NFQA_SKB_CSUMNOTREADY;
          p.csum_not_verified = info & NFQA_SKB_CSUM_NOTVERIFIED;
        }
        switch (ph->hook) {
          case NF_INET_PRE_ROUTING: p.hook = Hook::kPrerouting; p.filter_in = true; break;
          case NF_INET_LOCAL_IN: p.hook = Hook::kInput; p.filter_in = true; break;
          case NF_INET_FORWARD:
            p.hook = Hook::kForward;
            p.filter_out = true;
            p.filter_in = config_.layout == QueueLayout::kOnce;
            break;
          case NF_INET_LOCAL_OUT: p.hook = Hook::kOutput; p.filter_out = true; break;
          default: p.hook = Hook::kPostrouting; p.filter_out = true; break;
        }
        p.in = view.Find(p.in_index);
        p.out = view.Find(p.out_index);
        if (p.filter_in && SkipMatches(config_.skip, p.in)) p.filter_in = false;
        if (p.filter_out && SkipMatches(config_.skip, p.out)) p.filter_out = false;
      }
    }
    // Pointers are taken once the vector no longer grows.
    for (Packet& p : packets) {
      if (!p.l3.empty() && (p.filter_in || p.filter_out)) judged.push_back(&p);
    }
    if (!judged.empty()) {
      judged_decisions.assign(judged.size(), Decision{});
      handler_.HandleBatch(judged, judged_decisions, w.index);
      for (size_t j = 0; j < judged.size(); ++j) decisions[static_cast<size_t>(judged[j] - packets.data())] = judged_decisions[j];
    }
    // Held packets (pfsync defer) are registered by now: while any is held,
    // no verdict may cover earlier ids.
    writer.set_batching(c.holding.load(std::memory_order_acquire) == 0);
    for (size_t k = 0; k < packets.size(); ++k) {
      Packet& p = packets[k];
      Decision& d = decisions[k];
      if (d.verdict == Verdict::kHold) continue;
      if (d.verdict == Verdict::kAcceptRewritten) {
        if (d.new_length == 0 || d.new_length > p.capacity) {
          d.verdict = Verdict::kDrop;  // a handler bug must not pass a broken packet
          c.errors.fetch_add(1, std::memory_order_relaxed);
        } else {
          std::span<uint8_t> out(p.l3.data(), d.new_length);
          // The kernel marks a mangled packet CHECKSUM_NONE: a partial
          // checksum would leave as is, so it is completed here.
          if (p.csum_not_ready) WriteL4Checksum(out);
          add(p.id, d.verdict, out);
          ++rewritten;
          continue;
        }
      }
      if (d.verdict == Verdict::kDrop) ++dropped;
      add(p.id, d.verdict);
    }
    send(writer.Finish());
    c.verdict_messages.store(writer.messages(), std::memory_order_relaxed);
    c.packets.fetch_add(packets.size(), std::memory_order_relaxed);
    c.dropped.fetch_add(dropped, std::memory_order_relaxed);
    c.rewritten.fetch_add(rewritten, std::memory_order_relaxed);
    c.gso.fetch_add(gso, std::memory_order_relaxed);
    c.batches.fetch_add(1, std::memory_order_relaxed);
  }
}

uint64_t DataPlane::Hold(const Packet& packet, size_t new_length) {
  const uint64_t handle = (uint64_t{packet.queue} << 32) | packet.id;
  std::vector<uint8_t> bytes;
  if (new_length > 0 && new_length <= packet.capacity) {
    bytes.assign(packet.l3.data(), packet.l3.data() + new_length);
    if (packet.csum_not_ready) WriteL4Checksum(bytes);
  }
  {
    std::lock_guard lock(held_mu_);
    held_[handle] = std::move(bytes);
  }
  if (Worker* w = WorkerFor(packet.queue)) {
    w->counters->held.fetch_add(1, std::memory_order_relaxed);
    w->counters->holding.fetch_add(1, std::memory_order_release);
  }
  return handle;
}

bool DataPlane::Release(uint64_t handle, bool accept) {
  std::vector<uint8_t> bytes;
  {
    std::lock_guard lock(held_mu_);
    auto it = held_.find(handle);
    if (it == held_.end()) return false;
    bytes = std::move(it->second);
    held_.erase(it);
  }
  const uint16_t queue = static_cast<uint16_t>(handle >> 32);
  Worker* w = WorkerFor(queue);
  if (w == nullptr || !w->sock) return false;
  // One verdict message, sent on the worker's socket (netlink sends are
  // atomic per message, so this can run beside the worker).
  std::vector<uint8_t> buf(kVerdictRoom * 2 + bytes.size());
  VerdictWriter writer(queue, buf.size());
  writer.set_batching(false);
  const uint32_t id = static_cast<uint32_t>(handle);
  const bool added = !accept ? writer.Add(id, Verdict::kDrop)
                     : bytes.empty() ? writer.Add(id, Verdict::kAccept)
                                     : writer.Add(id, Verdict::kAcceptRewritten, bytes);
  std::span<const uint8_t> msg = writer.Finish();
  WorkerCounters& c = *w->counters;
  c.holding.fetch_sub(1, std::memory_order_release);
  if (!added || mnl_socket_sendto(w->sock->get(), msg.data(), msg.size()) < 0) {
    c.errors.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

size_t DataPlane::held() const {
  std::lock_guard lock(held_mu_);
  return held_.size();
}

}  // namespace hapf::linux
