#include "linux/nfq_reply_sender.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hapf::linux {

ReplySender::~ReplySender() {
  if (fd4_ >= 0) close(fd4_);
  if (fd6_ >= 0) close(fd6_);
}

std::string ReplySender::Open(uint32_t generated_mark) {
  // IPPROTO_RAW: the packet brings its own IP header (IP_HDRINCL implied, and
  // the same for IPv6).
  fd4_ = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd4_ < 0) return std::string("raw IPv4 socket: ") + std::strerror(errno);
  fd6_ = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd6_ < 0) return std::string("raw IPv6 socket: ") + std::strerror(errno);
  for (int fd : {fd4_, fd6_}) {
    if (setsockopt(fd, SOL_SOCKET, SO_MARK, &generated_mark, sizeof(generated_mark)) != 0) {
      return std::string("SO_MARK: ") + std::strerror(errno);
    }
  }
  return {};
}

bool ReplySender::Send(std::span<const uint8_t> l3) {
  if (l3.empty()) return false;
  const int version = l3[0] >> 4;
  if (version == 4 && l3.size() >= 20 && fd4_ >= 0) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    std::memcpy(&to.sin_addr, &l3[16], 4);
    return sendto(fd4_, l3.data(), l3.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) ==
           static_cast<ssize_t>(l3.size());
  }
  if (version == 6 && l3.size() >= 40 && fd6_ >= 0) {
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    std::memcpy(&to.sin6_addr, &l3[24], 16);
    return sendto(fd6_, l3.data(), l3.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) ==
           static_cast<ssize_t>(l3.size());
  }
  return false;
}

}  // namespace hapf::linux
