// The pfsync transport on Linux: a raw IPv4 socket for protocol 240 bound to
// the syncdev, sending to the group 224.0.0.240 (joined on the syncdev) or to a
// unicast syncpeer with TTL 255, and receiving in batches (recvmmsg) with the
// receiver checks of OpenBSD's pfsync_input that belong to the transport: TTL
// must be 255 (badttl) and, with a syncpeer, the source must be that peer (badif).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/addr.h"

namespace hapf::linux {

inline constexpr uint8_t kPfsyncProto = 240;

class PfsyncSocket {
 public:
  // Opens, binds to `syncdev` and joins the group unless `syncpeer` is set.
  // A non-zero `mark` is set as SO_MARK on every packet sent (hapfd: the mark
  // its nftables output chain accepts without queueing). Throws
  // std::runtime_error with the reason on failure.
  PfsyncSocket(const std::string& syncdev, std::optional<net::IpAddr> syncpeer, uint32_t mark = 0);
  ~PfsyncSocket();
  PfsyncSocket(const PfsyncSocket&) = delete;
  PfsyncSocket& operator=(const PfsyncSocket&) = delete;

  int fd() const { return fd_; }
  const net::IpAddr& destination() const { return dst_; }

  // Sends each buffer (a pfsync packet from its header on; the kernel adds the
  // IPv4 header) in one sendmmsg. Returns how many were sent; errno in `err`.
  size_t SendBatch(std::span<const std::span<const uint8_t>> packets, int* err);

  struct Received {
    std::span<const uint8_t> pfsync;  // from the pfsync header on
    net::IpAddr src;
  };
  struct Drops {
    uint64_t badttl = 0, badif = 0, hdrops = 0;
  };
  // Reads up to kBatch datagrams without blocking and passes the accepted ones
  // to `fn`; rejected ones are counted into `drops`. Returns datagrams read.
  template <typename Fn>
  size_t ReceiveBatch(Drops& drops, Fn&& fn) {
    const size_t n = ReadBatch();
    for (size_t i = 0; i < n; ++i) {
      Received r;
      if (Accept(i, drops, r)) fn(r);
    }
    return n;
  }

  static constexpr size_t kBatch = 32;
  static constexpr size_t kBufSize = 9216;  // up to a jumbo-frame pfsync MTU

 private:
  size_t ReadBatch();
  void DrainErrors();  // ICMP errors about our packets (IP_RECVERR queues them): read and dropped
  bool Accept(size_t i, Drops& drops, Received& out) const;

  int fd_ = -1;
  net::IpAddr dst_;
  std::optional<net::IpAddr> peer_;
  std::vector<uint8_t> bufs_;  // kBatch * kBufSize
  std::array<size_t, kBatch> lens_{};
  std::array<mmsghdr, kBatch> rx_{};
  std::array<iovec, kBatch> rx_iov_{};
};

}  // namespace hapf::linux
