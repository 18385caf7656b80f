// Sockets for CARP on Linux: raw IP sockets for protocol 112 bound to the
// carpdev (TTL/hop limit 255, TOS 0x10, DF, no multicast loopback, group
// joined), and a packet socket for gratuitous ARP / unsolicited NA frames.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "carp/advert.h"
#include "net/addr.h"

namespace hapf::linux {

class CarpSocket {
 public:
  // Opens the socket of `family` bound to `dev` (index `ifindex`) and joins the
  // CARP group on it; a non-zero `mark` goes on every advert it sends (SO_MARK).
  // Throws std::runtime_error with the reason on failure.
  CarpSocket(net::Family family, const std::string& dev, int ifindex, uint32_t mark = 0);
  ~CarpSocket();
  CarpSocket(const CarpSocket&) = delete;
  CarpSocket& operator=(const CarpSocket&) = delete;

  int fd() const { return fd_; }
  net::Family family() const { return family_; }
  // Sends one 36-byte payload to `dst` (group or unicast peer); errno on failure.
  int Send(const net::IpAddr& dst, std::span<const uint8_t> payload);
  // Reads one datagram without blocking. The packet's spans point into an
  // internal buffer valid until the next call.
  enum class Read { kNone, kPacket, kMalformed };
  Read Receive(carp::IpPacket& out);

 private:
  net::Family family_;
  int fd_ = -1;
  uint8_t buf_[2048];
};

// Sends whole Ethernet frames on one interface (AF_PACKET).
class FrameSocket {
 public:
  explicit FrameSocket(int ifindex);
  ~FrameSocket();
  FrameSocket(const FrameSocket&) = delete;
  FrameSocket& operator=(const FrameSocket&) = delete;
  int Send(std::span<const uint8_t> frame);

 private:
  int fd_ = -1;
  int ifindex_;
};

// Frames of a takeover (carp.md §8): a gratuitous ARP request (sender = target
// = `vip`, target hardware zero, broadcast) and an unsolicited neighbour
// advertisement to ff02::1 with Override set and the target link-layer option.
std::vector<uint8_t> GratuitousArpFrame(const carp::Mac& mac, const net::IpAddr& vip);
std::vector<uint8_t> UnsolicitedNaFrame(const carp::Mac& mac, const net::IpAddr& src_ll,
                                        const net::IpAddr& target, bool router);

}  // namespace hapf::linux
