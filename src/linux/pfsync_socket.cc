#include "linux/pfsync_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <string.h>
#include <unistd.h>

#include <stdexcept>

#include "pfsync/config.h"

namespace hapf::linux {

namespace {

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error("pfsync socket: " + what + ": " + strerror(errno));
}

in_addr ToInAddr(const net::IpAddr& a) {
  in_addr out{};
  memcpy(&out.s_addr, a.bytes().data(), 4);
  return out;
}

}  // namespace

PfsyncSocket::PfsyncSocket(const std::string& syncdev, std::optional<net::IpAddr> syncpeer, uint32_t mark)
    : dst_(syncpeer ? *syncpeer : pfsync::PfsyncGroup()), peer_(syncpeer), bufs_(kBatch * kBufSize) {
  if (dst_.family() != net::Family::kV4) throw std::runtime_error("pfsync socket: syncpeer must be IPv4");
  const unsigned ifindex = if_nametoindex(syncdev.c_str());
  if (ifindex == 0) Fail("syncdev " + syncdev);
  fd_ = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kPfsyncProto);
  if (fd_ < 0) Fail("socket");
  try {
    if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, syncdev.c_str(), static_cast<socklen_t>(syncdev.size())) < 0)
      Fail("SO_BINDTODEVICE " + syncdev);
    const int ttl = 255;
    if (setsockopt(fd_, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) < 0) Fail("IP_TTL");
    if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0) Fail("IP_MULTICAST_TTL");
    const int tos = IPTOS_LOWDELAY;  // as OpenBSD marks pfsync
    if (setsockopt(fd_, IPPROTO_IP, IP_TOS, &tos, sizeof tos) < 0) Fail("IP_TOS");
    const int off = 0, on = 1;
    if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off) < 0) Fail("IP_MULTICAST_LOOP");
    // Without IP_RECVERR a raw socket reports a packet the device queue dropped as sent (raw_sendmsg hides
    // ENOBUFS): an insert storm on a throttled link lost 83 % silently. With it sendmmsg says ENOBUFS and
    // PfsyncNode sends the packet again; the ICMP errors it also queues are read and dropped (ReadBatch).
    if (setsockopt(fd_, IPPROTO_IP, IP_RECVERR, &on, sizeof on) < 0) Fail("IP_RECVERR");
    // hapfd's own pfsync packets would otherwise cross its own NFQUEUE on output: when the data plane is
    // overloaded the kernel drops them at the full queue after sendmmsg has reported them sent, so neither
    // IP_RECVERR nor the retry queue sees the loss (bench/README.md: 23 % of the master's packets at 50 000
    // new flows/s). Marked, the output chain accepts them before the queue.
    if (mark != 0 && setsockopt(fd_, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) Fail("SO_MARK");
    ip_mreqn mreq{};
    mreq.imr_ifindex = static_cast<int>(ifindex);
    if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) < 0) Fail("IP_MULTICAST_IF");
    if (!peer_) {
      mreq.imr_multiaddr = ToInAddr(dst_);
      if (setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0) Fail("IP_ADD_MEMBERSHIP");
    }
    // Both buffers are forced past net.core.[rw]mem_max (hapfd has CAP_NET_ADMIN). A bulk transfer arrives
    // at the sender's pace whatever the receiver does, and nothing repairs a packet the receive buffer drops:
    // 32 MiB (about 28 000 full packets of truesize, half a second of the default pace) ride out a receiver
    // the scheduler holds off (bench/README.md: 4 MiB lost 2 % of a 1 000 000-state bulk on a busy host). The
    // memory is only used while packets wait. With the default 208 KiB send buffer a busy firewall's sendmmsg
    // failed (each packet stays charged to the socket while NFQUEUE holds it for pf); what the send buffer
    // still refuses waits in PfsyncNode's queue.
    const int rcvbuf = 32 << 20, sndbuf = 4 << 20;
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
      setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  } catch (...) {
    close(fd_);
    throw;
  }
  for (size_t i = 0; i < kBatch; ++i) {
    rx_iov_[i] = {bufs_.data() + i * kBufSize, kBufSize};
    rx_[i].msg_hdr.msg_iov = &rx_iov_[i];
    rx_[i].msg_hdr.msg_iovlen = 1;
  }
}

PfsyncSocket::~PfsyncSocket() {
  if (fd_ >= 0) close(fd_);
}

size_t PfsyncSocket::SendBatch(std::span<const std::span<const uint8_t>> packets, int* err) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = ToInAddr(dst_);
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iov{};
  size_t sent = 0;
  while (sent < packets.size()) {
    const size_t n = std::min(kBatch, packets.size() - sent);
    for (size_t i = 0; i < n; ++i) {
      const auto& p = packets[sent + i];
      iov[i] = {const_cast<uint8_t*>(p.data()), p.size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &to;
      msgs[i].msg_hdr.msg_namelen = sizeof to;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int r = sendmmsg(fd_, msgs.data(), static_cast<unsigned>(n), 0);
    if (r <= 0) {
      if (err) *err = r < 0 ? errno : EAGAIN;
      return sent;
    }
    sent += static_cast<size_t>(r);
  }
  return sent;
}

size_t PfsyncSocket::ReadBatch() {
  for (size_t i = 0; i < kBatch; ++i) rx_[i].msg_len = 0;
  const int n = recvmmsg(fd_, rx_.data(), kBatch, MSG_DONTWAIT, nullptr);
  if (n <= 0) {
    // Also on EAGAIN: a wakeup with nothing to read may be POLLERR for the error queue, which recvmmsg
    // leaves alone (poll would report it forever). Rare otherwise: reads stop at a short batch.
    DrainErrors();
    return 0;
  }
  for (int i = 0; i < n; ++i) lens_[static_cast<size_t>(i)] = rx_[static_cast<size_t>(i)].msg_len;
  return static_cast<size_t>(n);
}

void PfsyncSocket::DrainErrors() {
  // Bounded: the queue is limited by the receive buffer anyway.
  uint8_t buf[256], control[256];
  for (int i = 0; i < 1024; ++i) {
    iovec iov{buf, sizeof buf};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    if (recvmsg(fd_, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
  }
}

bool PfsyncSocket::Accept(size_t i, Drops& drops, Received& out) const {
  // A raw IPv4 socket delivers the IP header: read TTL and source from it.
  const uint8_t* p = bufs_.data() + i * kBufSize;
  const size_t len = std::min(lens_[i], kBufSize);
  if (len < 20 || (p[0] >> 4) != 4) {
    ++drops.hdrops;
    return false;
  }
  const size_t ihl = size_t{p[0] & 0x0fu} * 4;
  if (ihl < 20 || ihl > len) {
    ++drops.hdrops;
    return false;
  }
  if (p[8] != 255) {
    ++drops.badttl;
    return false;
  }
  out.src = net::IpAddr::V4Bytes(p + 12);
  if (peer_ && out.src != *peer_) {
    ++drops.badif;
    return false;
  }
  out.pfsync = std::span<const uint8_t>(p + ihl, len - ihl);
  return true;
}

}  // namespace hapf::linux
