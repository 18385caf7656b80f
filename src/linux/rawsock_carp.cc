#include "linux/rawsock_carp.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "net/checksum.h"

namespace hapf::linux {

namespace {
[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}
void SetInt(int fd, int level, int opt, int value, const char* name) {
  if (setsockopt(fd, level, opt, &value, sizeof value) < 0) Fail(name);
}
}  // namespace

CarpSocket::CarpSocket(net::Family family, const std::string& dev, int ifindex, uint32_t mark) : family_(family) {
  const bool v4 = family == net::Family::kV4;
  fd_ = socket(v4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, carp::kIpProtoCarp);
  if (fd_ < 0) Fail("socket(proto 112)");
  try {
    if (mark != 0 && setsockopt(fd_, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) Fail("SO_MARK");
    if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, dev.c_str(), static_cast<socklen_t>(dev.size())) < 0)
      Fail("SO_BINDTODEVICE " + dev);
    if (v4) {
      SetInt(fd_, IPPROTO_IP, IP_TTL, carp::kTtl, "IP_TTL");
      SetInt(fd_, IPPROTO_IP, IP_MULTICAST_TTL, carp::kTtl, "IP_MULTICAST_TTL");
      SetInt(fd_, IPPROTO_IP, IP_TOS, carp::kTos, "IP_TOS");
      SetInt(fd_, IPPROTO_IP, IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP");
      SetInt(fd_, IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL");
      SetInt(fd_, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, "IP_MTU_DISCOVER");  // DF
      ip_mreqn mreq{};
      mreq.imr_multiaddr.s_addr = htonl(0xe0000012);
      mreq.imr_ifindex = ifindex;
      if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) < 0) Fail("IP_MULTICAST_IF");
      if (setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0) Fail("IP_ADD_MEMBERSHIP");
    } else {
      SetInt(fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, carp::kTtl, "IPV6_UNICAST_HOPS");
      SetInt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, carp::kTtl, "IPV6_MULTICAST_HOPS");
      SetInt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP");
      SetInt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex, "IPV6_MULTICAST_IF");
      SetInt(fd_, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT");
      SetInt(fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
      ipv6_mreq mreq{};
      std::memcpy(&mreq.ipv6mr_multiaddr, carp::GroupV6().data(), 16);
      mreq.ipv6mr_interface = static_cast<unsigned>(ifindex);
      if (setsockopt(fd_, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof mreq) < 0) Fail("IPV6_JOIN_GROUP");
    }
  } catch (...) {
    close(fd_);
    throw;
  }
}

CarpSocket::~CarpSocket() {
  if (fd_ >= 0) close(fd_);
}

int CarpSocket::Send(const net::IpAddr& dst, std::span<const uint8_t> payload) {
  ssize_t n;
  if (family_ == net::Family::kV4) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    std::memcpy(&sa.sin_addr, dst.data(), 4);
    n = sendto(fd_, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    std::memcpy(&sa.sin6_addr, dst.data(), 16);
    n = sendto(fd_, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  return n < 0 ? errno : 0;
}

CarpSocket::Read CarpSocket::Receive(carp::IpPacket& out) {
  if (family_ == net::Family::kV4) {
    // A raw IPv4 socket delivers the IP header too.
    ssize_t n = recv(fd_, buf_, sizeof buf_, 0);
    if (n <= 0) return Read::kNone;
    auto p = carp::ParseIpPacket({buf_, static_cast<size_t>(n)});
    if (!p) return Read::kMalformed;
    out = *p;
    return Read::kPacket;
  }
  sockaddr_in6 from{};
  alignas(cmsghdr) uint8_t control[256];
  iovec iov{buf_, sizeof buf_};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recvmsg(fd_, &msg, 0);
  if (n < 0) return Read::kNone;
  carp::IpPacket p;
  p.protocol = carp::kIpProtoCarp;
  p.src = net::IpAddr::V6Bytes(reinterpret_cast<const uint8_t*>(&from.sin6_addr));
  p.payload = {buf_, static_cast<size_t>(n)};
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != IPPROTO_IPV6) continue;
    if (c->cmsg_type == IPV6_HOPLIMIT && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int hl;
      std::memcpy(&hl, CMSG_DATA(c), sizeof hl);
      p.ttl = static_cast<uint8_t>(hl);
    } else if (c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
      in6_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      p.dst = net::IpAddr::V6Bytes(reinterpret_cast<const uint8_t*>(&pi.ipi6_addr));
    }
  }
  out = p;
  return Read::kPacket;
}

FrameSocket::FrameSocket(int ifindex) : ifindex_(ifindex) {
  fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: send only
  if (fd_ < 0) Fail("socket(AF_PACKET)");
}

FrameSocket::~FrameSocket() {
  if (fd_ >= 0) close(fd_);
}

int FrameSocket::Send(std::span<const uint8_t> frame) {
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex_;
  sll.sll_halen = 6;
  std::memcpy(sll.sll_addr, frame.data(), 6);
  ssize_t n = sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll);
  return n < 0 ? errno : 0;
}

std::vector<uint8_t> GratuitousArpFrame(const carp::Mac& mac, const net::IpAddr& vip) {
  std::vector<uint8_t> arp = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};  // Ethernet/IPv4, request
  arp.insert(arp.end(), mac.begin(), mac.end());
  arp.insert(arp.end(), vip.data(), vip.data() + 4);
  arp.insert(arp.end(), 6, 0x00);
  arp.insert(arp.end(), vip.data(), vip.data() + 4);
  return carp::BuildEthernetFrame(carp::Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac, 0x0806, arp);
}

std::vector<uint8_t> UnsolicitedNaFrame(const carp::Mac& mac, const net::IpAddr& src_ll,
                                        const net::IpAddr& target, bool router) {
  const auto all_nodes = *net::IpAddr::Parse("ff02::1");
  std::vector<uint8_t> icmp(32, 0);
  icmp[0] = 136;                                               // neighbour advertisement
  icmp[4] = static_cast<uint8_t>((router ? 0x80 : 0) | 0x20);  // Router, Override; Solicited clear
  std::memcpy(&icmp[8], target.data(), 16);
  icmp[24] = 2;  // target link-layer address option, 8 bytes
  icmp[25] = 1;
  std::memcpy(&icmp[26], mac.data(), 6);
  const uint32_t pseudo = net::PseudoHeaderSum(src_ll, all_nodes, 58, static_cast<uint32_t>(icmp.size()));
  const uint16_t sum = net::ChecksumFinish(net::ChecksumPartial(icmp, pseudo));
  icmp[2] = static_cast<uint8_t>(sum >> 8);
  icmp[3] = static_cast<uint8_t>(sum);
  auto ip = carp::BuildIpv6Packet(src_ll, all_nodes, icmp, 255);
  ip[6] = 58;  // next header ICMPv6
  return carp::BuildEthernetFrame(carp::MulticastMac(all_nodes), mac, 0x86dd, ip);
}

}  // namespace hapf::linux
