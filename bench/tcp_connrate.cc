// tcp_connrate: TCP connection setups per second, for the hapfd benchmark.
//   tcp_connrate serve PORT SECONDS
//       accepts and closes connections on PORT (IPv4) for SECONDS.
//   tcp_connrate connect IPV4 PORT [--seconds S] [--parallel P] [--source IPV4 --sources K]
//       keeps P non-blocking connects in flight; each completed handshake is
//       counted and the socket reset at once (SO_LINGER 0: no TIME_WAIT, so
//       the client never runs out of ports). Sockets bind round-robin to K
//       addresses from --source. Prints "connections N failed F SECONDS".
// Bounded: both modes end after their seconds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int Serve(uint16_t port, double seconds) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(ls, 4096) != 0) {
    std::perror("tcp_connrate serve");
    return 1;
  }
  std::printf("serving\n");
  std::fflush(stdout);
  int ep = epoll_create1(0);
  epoll_event ev{EPOLLIN, {}};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  const auto start = Clock::now();
  uint64_t accepted = 0;
  while (Since(start) < seconds) {
    epoll_event out;
    if (epoll_wait(ep, &out, 1, 100) <= 0) continue;
    for (;;) {
      int c = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK);
      if (c < 0) break;
      ++accepted;
      close(c);
    }
  }
  std::printf("accepted %llu\n", static_cast<unsigned long long>(accepted));
  return 0;
}

struct Conn {
  int fd = -1;
};

int Connect(const char* host, uint16_t port, double seconds, int parallel, in_addr source, uint32_t sources) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  if (inet_pton(AF_INET, host, &dst.sin_addr) != 1) {
    std::fprintf(stderr, "bad address %s\n", host);
    return 2;
  }
  int ep = epoll_create1(0);
  uint64_t done = 0, failed = 0, next_source = 0;
  auto open_one = [&]() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return;
    linger lg{1, 0};  // close = RST: no TIME_WAIT on either side
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (sources > 0) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = htonl(ntohl(source.s_addr) + static_cast<uint32_t>(next_source++ % sources));
      bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
      ++failed;
      close(fd);
      return;
    }
    epoll_event ev{EPOLLOUT, {}};
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  };
  const auto start = Clock::now();
  for (int i = 0; i < parallel; ++i) open_one();
  std::vector<epoll_event> events(256);
  while (Since(start) < seconds) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) ++done;
      else ++failed;
      close(fd);  // also removes it from the epoll set
      open_one();
    }
  }
  const double secs = Since(start);
  std::printf("connections %llu failed %llu %.3f\n", static_cast<unsigned long long>(done),
              static_cast<unsigned long long>(failed), secs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && std::strcmp(argv[1], "serve") == 0)
    return Serve(static_cast<uint16_t>(std::atoi(argv[2])), std::atof(argv[3]));
  if (argc >= 4 && std::strcmp(argv[1], "connect") == 0) {
    double seconds = 3;
    int parallel = 64;
    in_addr source{};
    uint32_t sources = 0;
    for (int i = 4; i + 1 < argc; i += 2) {
      std::string a = argv[i];
      if (a == "--seconds") seconds = std::atof(argv[i + 1]);
      else if (a == "--parallel") parallel = std::max(1, std::atoi(argv[i + 1]));
      else if (a == "--source" && inet_pton(AF_INET, argv[i + 1], &source) == 1 && sources == 0) sources = 1;
      else if (a == "--sources") sources = static_cast<uint32_t>(std::max(1, std::atoi(argv[i + 1])));
    }
    return Connect(argv[2], static_cast<uint16_t>(std::atoi(argv[3])), seconds, parallel, source, sources);
  }
  std::fprintf(stderr,
               "usage: tcp_connrate serve PORT SECONDS\n"
               "       tcp_connrate connect IPV4 PORT [--seconds S] [--parallel P] [--source IPV4 --sources K]\n");
  return 2;
}
