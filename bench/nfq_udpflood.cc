// nfq_udpflood: a bounded UDP sender for the data plane benchmark.
//   nfq_udpflood DST_ADDR PORT [--flows N] [--seconds S] [--count N] [--payload BYTES]
//                [--source IPV4 --sources K]
// Sends small datagrams (default 18 bytes of payload: a 64-byte Ethernet
// frame with FCS) round-robin from N sockets (N source ports = N flows) with
// sendmmsg, until S seconds have passed or N packets went out. With --source,
// socket i binds to the i % K-th address after IPV4 (the kernel spreads a queue
// range by address pair, so one pair would use one queue). Prints
// "sent PACKETS SECONDS".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DST_ADDR PORT [--flows N] [--seconds S] [--count N] [--payload BYTES]\n", argv[0]);
    return 2;
  }
  int flows = 64;
  double seconds = 3;
  uint64_t limit = 100'000'000;
  size_t payload = 18;
  in_addr source{};
  uint32_t sources = 0;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--flows") flows = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--count") limit = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--payload") payload = static_cast<size_t>(std::atoi(argv[i + 1]));
    else if (a == "--source" && inet_pton(AF_INET, argv[i + 1], &source) == 1 && sources == 0) sources = 1;
    else if (a == "--sources") sources = static_cast<uint32_t>(std::max(1, std::atoi(argv[i + 1])));
  }
  sockaddr_storage dst{};
  socklen_t dst_len;
  int family;
  auto* d4 = reinterpret_cast<sockaddr_in*>(&dst);
  auto* d6 = reinterpret_cast<sockaddr_in6*>(&dst);
  if (inet_pton(AF_INET, argv[1], &d4->sin_addr) == 1) {
    family = d4->sin_family = AF_INET;
    d4->sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
    dst_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, argv[1], &d6->sin6_addr) == 1) {
    family = d6->sin6_family = AF_INET6;
    d6->sin6_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
    dst_len = sizeof(sockaddr_in6);
  } else {
    std::fprintf(stderr, "bad address %s\n", argv[1]);
    return 2;
  }
  std::vector<int> socks;
  for (int i = 0; i < flows; ++i) {
    int fd = socket(family, SOCK_DGRAM, 0);
    if (fd >= 0 && sources > 0 && family == AF_INET && source.s_addr != 0) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = htonl(ntohl(source.s_addr) + static_cast<uint32_t>(i) % sources);
      if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
        std::perror("bind");
        return 1;
      }
    }
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&dst), dst_len) != 0) {
      std::perror("socket");
      return 1;
    }
    socks.push_back(fd);
  }
  constexpr int kBatch = 32;
  std::vector<char> data(payload, 'x');
  iovec iov{data.data(), data.size()};
  mmsghdr msgs[kBatch]{};
  for (auto& m : msgs) {
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  uint64_t sent = 0;
  size_t next = 0;
  for (uint64_t round = 0; sent < limit; ++round) {
    if (round % 32 == 0 && std::chrono::steady_clock::now() >= end) break;
    int n = sendmmsg(socks[next], msgs, static_cast<unsigned>(std::min<uint64_t>(kBatch, limit - sent)), 0);
    next = (next + 1) % socks.size();
    if (n > 0) sent += static_cast<uint64_t>(n);
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("sent %llu %.3f\n", static_cast<unsigned long long>(sent), elapsed);
  for (int fd : socks) close(fd);
  return 0;
}
