// peers_tool: the traffic programs of the peer benchmark (bench/peers/run.sh). Every mode is bounded
// in time and count; all output is one "key=value ..." line on stdout.
//
//   peers_tool serve PORT [--discard PORT] [--seconds S]
//       TCP and UDP echo on PORT (epoll, thousands of connections), UDP sink on the discard port.
//   peers_tool probe HOST PORT --seconds S [--interval-us U]
//       one UDP echo request every U µs (default 1000: 1 kHz); prints every run of unanswered requests
//       as gaps=START_MS+LEN_MS,... on the sender's clock (LEN = first lost send to next answered send),
//       after start=EPOCH_MS, the wall-clock time of the first send.
//   peers_tool setups HOST PORT --seconds S [--inflight K] [--source A --sources N]
//       TCP handshakes per second: non-blocking connects, K in flight; a completed handshake is counted
//       and the socket closed with RST (SO_LINGER 0) so no TIME_WAIT piles up on the client.
//   peers_tool hold HOST PORT --conns N --seconds S [--interval-ms I] [--tail-ms T] [--source A --sources K]
//       opens N TCP connections, prints "established=N" when all are up, then every connection sends
//       8 bytes every I ms and expects them back. At the end: alive = no error and an echo within the
//       last T ms; reset = connection reset/closed; stalled = the rest.
//   peers_tool flows SRC NSRC DST PORT --count N [--pps R]
//       N one-packet UDP flows (64-byte frames), each a distinct (source address, source port); source
//       addresses SRC .. SRC+NSRC-1, sent through a raw socket paced to R packets per second.
//   peers_tool ct-insert SRC NSRC DST PORT --count N [--pps R] [--timeout S]
//       the same N UDP flows written straight into the kernel's conntrack table (ctnetlink
//       IPCTNL_MSG_CT_NEW, many per netlink datagram), paced to R entries a second (0: as fast as the
//       kernel takes them): conntrackd hears them as it hears packet-made entries, without the packet
//       path (for the replication ceiling; hapf's counterpart is `hapfctl debug flows`).
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Options after the positional arguments: --name value pairs.
struct Options {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> named;
  double Num(std::string_view name, double fallback) const {
    for (const auto& [k, v] : named)
      if (k == name) return std::atof(v.c_str());
    return fallback;
  }
  std::string Str(std::string_view name, std::string fallback) const {
    for (const auto& [k, v] : named)
      if (k == name) return v;
    return fallback;
  }
};

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && i + 1 < argc) {
      o.named.emplace_back(a.substr(2), argv[++i]);
    } else {
      o.positional.push_back(a);
    }
  }
  return o;
}

sockaddr_in Addr4(const std::string& host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    std::fprintf(stderr, "peers_tool: bad IPv4 address %s\n", host.c_str());
    std::exit(2);
  }
  return a;
}


// Source address i of a range (A, A+1, ...), for spreading connections over several client addresses.
struct SourceRange {
  in_addr base{};
  uint32_t count = 0;
  explicit SourceRange(const Options& o) {
    std::string s = o.Str("source", "");
    if (!s.empty() && inet_pton(AF_INET, s.c_str(), &base) == 1) count = static_cast<uint32_t>(o.Num("sources", 1));
  }
  bool Bind(int fd, uint64_t i) const {
    if (count == 0) return true;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(ntohl(base.s_addr) + static_cast<uint32_t>(i % count));
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    return bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
};

// ------------------------------------------------------------------ serve
int Serve(const Options& o) {
  if (o.positional.empty()) return 2;
  const int port = std::atoi(o.positional[0].c_str());
  const int discard = static_cast<int>(o.Num("discard", 0));
  const double limit = o.Num("seconds", 3600);
  int ep = epoll_create1(0);
  auto add = [&](int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  };
  sockaddr_in any = Addr4("0.0.0.0", port);
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 || listen(listener, 4096) != 0) {
    std::perror("peers_tool serve: tcp");
    return 1;
  }
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (bind(udp, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) {
    std::perror("peers_tool serve: udp");
    return 1;
  }
  add(listener);
  add(udp);
  int sink = -1;
  if (discard > 0) {
    sink = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in d = Addr4("0.0.0.0", discard);
    if (bind(sink, reinterpret_cast<sockaddr*>(&d), sizeof d) != 0) {
      std::perror("peers_tool serve: discard");
      return 1;
    }
    add(sink);
  }
  std::printf("serving port=%d discard=%d\n", port, discard);
  std::fflush(stdout);
  const auto start = Clock::now();
  char buf[65536];
  epoll_event events[256];
  while (SecondsSince(start) < limit) {
    int n = epoll_wait(ep, events, 256, 500);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        for (int k = 0; k < 256; ++k) {
          int c = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) break;
          add(c);
        }
      } else if (fd == udp) {
        for (int k = 0; k < 256; ++k) {
          sockaddr_storage peer{};
          socklen_t len = sizeof peer;
          ssize_t r = recvfrom(udp, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len);
          if (r < 0) break;
          sendto(udp, buf, static_cast<size_t>(r), 0, reinterpret_cast<sockaddr*>(&peer), len);
        }
      } else if (fd == sink) {
        for (int k = 0; k < 1024 && recv(sink, buf, sizeof buf, 0) >= 0; ++k) {
        }
      } else {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r > 0) {
          if (send(fd, buf, static_cast<size_t>(r), MSG_NOSIGNAL) == r) continue;
        } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
          continue;
        }
        close(fd);  // closing removes it from the epoll set
      }
    }
  }
  return 0;
}

// ------------------------------------------------------------------ probe
int Probe(const Options& o) {
  if (o.positional.size() < 2) return 2;
  const double seconds = o.Num("seconds", 5);
  const double interval = o.Num("interval-us", 1000) / 1e6;
  if (seconds <= 0 || seconds > 60 || interval < 1e-4) return 2;
  sockaddr_in dst = Addr4(o.positional[0], std::atoi(o.positional[1].c_str()));
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
  const size_t total = static_cast<size_t>(seconds / interval);
  std::vector<double> sent_at;
  sent_at.reserve(total);
  std::vector<uint8_t> answered(total, 0);
  const uint32_t magic = 0x70656572;  // "peer"
  const auto start = Clock::now();
  const long long start_epoch_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch()).count();
  while (true) {
    const double now = SecondsSince(start);
    if (now > seconds + 1.0) break;
    if (sent_at.size() < total && now >= static_cast<double>(sent_at.size()) * interval) {
      uint32_t msg[2] = {htonl(magic), htonl(static_cast<uint32_t>(sent_at.size()))};
      sent_at.push_back(now);
      send(fd, msg, sizeof msg, 0);  // an error (unreachable) is a lost probe
    }
    uint32_t in[4];
    for (ssize_t r; (r = recv(fd, in, sizeof in, 0)) >= 8;) {
      const uint32_t seq = ntohl(in[1]);
      if (ntohl(in[0]) == magic && seq < sent_at.size()) answered[seq] = 1;
    }
    // Sleep until the next send (or poll the socket while draining after the last one).
    const double next = sent_at.size() < total ? static_cast<double>(sent_at.size()) * interval : now + 0.002;
    const double wait = next - SecondsSince(start);
    if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(std::min(wait, 0.002)));
  }
  size_t received = 0;
  std::string gaps;
  size_t run_start = SIZE_MAX;
  auto close_run = [&](double end) {
    char b[64];
    std::snprintf(b, sizeof b, "%s%d+%d", gaps.empty() ? "" : ",", static_cast<int>(sent_at[run_start] * 1000),
                  static_cast<int>((end - sent_at[run_start]) * 1000 + 0.5));
    gaps += b;
    run_start = SIZE_MAX;
  };
  for (size_t i = 0; i < sent_at.size(); ++i) {
    if (answered[i]) {
      ++received;
      if (run_start != SIZE_MAX) close_run(sent_at[i]);
    } else if (run_start == SIZE_MAX) {
      run_start = i;
    }
  }
  if (run_start != SIZE_MAX) close_run(seconds);
  std::printf("start=%lld sent=%zu received=%zu gaps=%s\n", start_epoch_ms, sent_at.size(), received,
              gaps.empty() ? "none" : gaps.c_str());
  return 0;
}

// ------------------------------------------------------------------ setups
int Setups(const Options& o) {
  if (o.positional.size() < 2) return 2;
  sockaddr_in dst = Addr4(o.positional[0], std::atoi(o.positional[1].c_str()));
  const double seconds = std::min(o.Num("seconds", 3), 60.0);
  const int inflight = static_cast<int>(o.Num("inflight", 64));
  SourceRange sources(o);
  int ep = epoll_create1(0);
  uint64_t done = 0, failed = 0, opened = 0;
  int open_now = 0;
  const linger rst{1, 0};
  auto open_one = [&] {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
    sources.Bind(fd, opened++);
    if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
      ++failed;
      close(fd);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    ++open_now;
  };
  const auto start = Clock::now();
  epoll_event events[256];
  while (SecondsSince(start) < seconds) {
    while (open_now < inflight) open_one();
    int n = epoll_wait(ep, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd, err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) ++done; else ++failed;
      close(fd);
      --open_now;
    }
  }
  const double elapsed = SecondsSince(start);
  std::printf("setups=%llu failed=%llu seconds=%.3f rate=%.0f\n", static_cast<unsigned long long>(done),
              static_cast<unsigned long long>(failed), elapsed, static_cast<double>(done) / elapsed);
  return 0;
}

// ------------------------------------------------------------------ hold
int Hold(const Options& o) {
  if (o.positional.size() < 2) return 2;
  sockaddr_in dst = Addr4(o.positional[0], std::atoi(o.positional[1].c_str()));
  const int conns = static_cast<int>(o.Num("conns", 100));
  const double seconds = std::min(o.Num("seconds", 20), 120.0);
  const double interval = o.Num("interval-ms", 200) / 1000;
  const double tail = o.Num("tail-ms", 3000) / 1000;
  SourceRange sources(o);
  struct Conn {
    int fd = -1;
    bool up = false, dead = false;
    double last_echo = -1, next_send = 0;
    int pending = 0;  // bytes sent and not yet echoed
  };
  std::vector<Conn> c(static_cast<size_t>(conns));
  int ep = epoll_create1(0);
  for (int i = 0; i < conns; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      std::perror("peers_tool hold: socket");
      return 1;
    }
    sources.Bind(fd, static_cast<uint64_t>(i));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    c[static_cast<size_t>(i)].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  auto start = Clock::now();
  int up = 0;
  epoll_event events[512];
  char buf[4096];
  auto handle = [&](const epoll_event& e, double now) {
    Conn& k = c[e.data.u32];
    if (k.dead) return;
    if (!k.up && (e.events & EPOLLOUT)) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(k.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        k.dead = true;
        return;
      }
      k.up = true;
      ++up;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = e.data.u32;
      epoll_ctl(ep, EPOLL_CTL_MOD, k.fd, &ev);
    }
    if (e.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      ssize_t r = recv(k.fd, buf, sizeof buf, 0);
      if (r > 0) {
        k.pending = std::max(0, k.pending - static_cast<int>(r));
        if (k.pending == 0) k.last_echo = now;
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        k.dead = true;
      }
    }
  };
  // Phase 1: establish, bounded by 30 s.
  while (up < conns && SecondsSince(start) < 30) {
    int n = epoll_wait(ep, events, 512, 100);
    for (int i = 0; i < n; ++i) handle(events[i], 0);
    int dead = 0;
    for (const Conn& k : c) dead += k.dead;
    if (up + dead >= conns) break;
  }
  std::printf("established=%d\n", up);
  std::fflush(stdout);
  // Phase 2: traffic on every connection, spread over the interval.
  start = Clock::now();
  for (size_t i = 0; i < c.size(); ++i) c[i].next_send = interval * static_cast<double>(i) / static_cast<double>(conns);
  const char msg[8] = {'h', 'a', 'p', 'f', 'p', 'e', 'e', 'r'};
  while (true) {
    const double now = SecondsSince(start);
    if (now >= seconds) break;
    for (Conn& k : c) {
      if (!k.up || k.dead || now < k.next_send) continue;
      k.next_send += interval;
      if (k.pending > 64) continue;  // stalled: do not pile up more
      ssize_t r = send(k.fd, msg, sizeof msg, MSG_NOSIGNAL);
      if (r > 0) k.pending += static_cast<int>(r);
      else if (errno != EAGAIN) k.dead = true;
    }
    int n = epoll_wait(ep, events, 512, 5);
    for (int i = 0; i < n; ++i) handle(events[i], SecondsSince(start));
  }
  int alive = 0, reset = 0, stalled = 0;
  for (const Conn& k : c) {
    if (k.dead) ++reset;
    else if (k.up && k.last_echo >= seconds - tail) ++alive;
    else ++stalled;
  }
  std::printf("conns=%d alive=%d reset=%d stalled=%d\n", conns, alive, reset, stalled);
  return 0;
}

// ------------------------------------------------------------------ flows
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// The flows of `flows` and `ct-insert`: SRC NSRC DST PORT --count N; flow i comes from SRC + (i / 60000) mod NSRC,
// source port 1024 + i mod 60000.
struct FlowSet {
  static constexpr uint32_t kPortsPerSource = 60000;
  in_addr src{}, dst{};
  uint32_t nsrc = 1;
  uint16_t port = 0;
  uint64_t count = 0;
  // False (with a message) when the arguments do not describe a flow set.
  bool Parse(const Options& o, const char* mode) {
    if (o.positional.size() < 4 || inet_pton(AF_INET, o.positional[0].c_str(), &src) != 1 ||
        inet_pton(AF_INET, o.positional[2].c_str(), &dst) != 1)
      return false;
    nsrc = static_cast<uint32_t>(std::max(1, std::atoi(o.positional[1].c_str())));
    port = static_cast<uint16_t>(std::atoi(o.positional[3].c_str()));
    count = static_cast<uint64_t>(o.Num("count", 1000));
    if (count > static_cast<uint64_t>(nsrc) * kPortsPerSource) {
      std::fprintf(stderr, "peers_tool %s: %llu flows need more than %u source addresses\n", mode,
                   static_cast<unsigned long long>(count), nsrc);
      return false;
    }
    return true;
  }
  uint32_t Source(uint64_t i) const {  // host order
    return ntohl(src.s_addr) + static_cast<uint32_t>(i / kPortsPerSource) % nsrc;
  }
  uint16_t SourcePort(uint64_t i) const { return static_cast<uint16_t>(1024 + i % kPortsPerSource); }
};

int Flows(const Options& o) {
  FlowSet fs;
  if (!fs.Parse(o, "flows")) return 2;
  const in_addr dst = fs.dst;
  const uint16_t port = fs.port;
  const uint64_t count = fs.count;
  const double pps = o.Num("pps", 50000);
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);  // IPPROTO_RAW implies IP_HDRINCL
  if (fd < 0) {
    std::perror("peers_tool flows: raw socket");
    return 1;
  }
  constexpr int kBatch = 64;
  constexpr size_t kLen = 20 + 8 + 18;  // IPv4 + UDP + 18 bytes: a 64-byte Ethernet frame with FCS
  uint8_t pkts[kBatch][kLen];
  iovec iov[kBatch];
  mmsghdr msgs[kBatch]{};
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = dst;
  const auto start = Clock::now();
  uint64_t sent = 0;
  while (sent < count && SecondsSince(start) < 120) {
    const int n = static_cast<int>(std::min<uint64_t>(kBatch, count - sent));
    for (int b = 0; b < n; ++b) {
      const uint64_t i = sent + static_cast<uint64_t>(b);
      const uint32_t s = fs.Source(i);
      const uint16_t sport = fs.SourcePort(i);
      uint8_t* p = pkts[b];
      std::memset(p, 0, kLen);
      p[0] = 0x45;
      p[2] = kLen >> 8;
      p[3] = kLen & 0xff;
      p[8] = 64;  // TTL
      p[9] = IPPROTO_UDP;
      const uint32_t sn = htonl(s);
      std::memcpy(p + 12, &sn, 4);
      std::memcpy(p + 16, &dst.s_addr, 4);
      uint32_t sum = 0;  // IPv4 header checksum (the kernel fills it too; computed so the frame is valid as sent)
      for (int w = 0; w < 20; w += 2) sum += static_cast<uint32_t>(p[w] << 8 | p[w + 1]);
      const uint16_t ipsum = Fold(sum);
      p[10] = static_cast<uint8_t>(ipsum >> 8);
      p[11] = static_cast<uint8_t>(ipsum);
      p[20] = static_cast<uint8_t>(sport >> 8);
      p[21] = static_cast<uint8_t>(sport);
      p[22] = static_cast<uint8_t>(port >> 8);
      p[23] = static_cast<uint8_t>(port);
      p[24] = 0;
      p[25] = 26;  // UDP length; checksum 0 = none (allowed for IPv4)
      iov[b] = {p, kLen};
      msgs[b].msg_hdr.msg_iov = &iov[b];
      msgs[b].msg_hdr.msg_iovlen = 1;
      msgs[b].msg_hdr.msg_name = &to;
      msgs[b].msg_hdr.msg_namelen = sizeof to;
    }
    int r = sendmmsg(fd, msgs, static_cast<unsigned>(n), 0);
    if (r > 0) sent += static_cast<uint64_t>(r);
    const double due = static_cast<double>(sent) / pps - SecondsSince(start);  // pacing
    if (due > 0) std::this_thread::sleep_for(std::chrono::duration<double>(due));
  }
  std::printf("sent=%llu seconds=%.3f\n", static_cast<unsigned long long>(sent), SecondsSince(start));
  return 0;
}

// ------------------------------------------------------------------ ct-insert
void PutTuple(nlmsghdr* nlh, uint16_t type, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  nlattr* tuple = mnl_attr_nest_start(nlh, type);
  nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
  mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, src);  // network order, as given
  mnl_attr_put_u32(nlh, CTA_IP_V4_DST, dst);
  mnl_attr_nest_end(nlh, ip);
  nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
  mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_UDP);
  mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
  mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
  mnl_attr_nest_end(nlh, proto);
  mnl_attr_nest_end(nlh, tuple);
}

// Counts the kernel's error answers waiting on the socket (the requests ask for no acknowledgement, so
// only failures answer); returns how many.
uint64_t DrainErrors(mnl_socket* nl, int* first_error) {
  uint64_t errors = 0;
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
  for (;;) {
    const ssize_t n = recv(mnl_socket_get_fd(nl), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0) break;
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h));
      if (e->error == 0) continue;
      if (*first_error == 0) *first_error = -e->error;
      ++errors;
    }
  }
  return errors;
}

int CtInsert(const Options& o) {
  FlowSet fs;
  if (!fs.Parse(o, "ct-insert")) return 2;
  const uint64_t count = fs.count;
  const double pps = o.Num("pps", 0);
  const uint32_t timeout = static_cast<uint32_t>(o.Num("timeout", 600));
  mnl_socket* nl = mnl_socket_open(NETLINK_NETFILTER);
  if (nl == nullptr || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    std::perror("peers_tool ct-insert: netlink");
    return 1;
  }
  int rcvbuf = 8 << 20;
  setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  // One datagram carries up to kPerSend requests; the kernel walks them in order.
  constexpr int kPerSend = 64;
  std::vector<char> buf(kPerSend * 256);
  const auto start = Clock::now();
  uint64_t sent = 0, errors = 0;
  int first_error = 0;
  uint32_t seq = 1;
  while (sent < count && SecondsSince(start) < 120) {
    mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buf.data(), buf.size());
    const int n = static_cast<int>(std::min<uint64_t>(kPerSend, count - sent));
    for (int b = 0; b < n; ++b) {
      const uint64_t i = sent + static_cast<uint64_t>(b);
      const uint32_t s = htonl(fs.Source(i));
      const uint16_t sport = fs.SourcePort(i);
      nlmsghdr* nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(batch));
      nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
      nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
      nlh->nlmsg_seq = seq++;
      auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
      nfg->nfgen_family = AF_INET;
      nfg->version = NFNETLINK_V0;
      nfg->res_id = 0;
      PutTuple(nlh, CTA_TUPLE_ORIG, s, fs.dst.s_addr, sport, fs.port);
      PutTuple(nlh, CTA_TUPLE_REPLY, fs.dst.s_addr, s, fs.port, sport);
      mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(timeout));
      mnl_nlmsg_batch_next(batch);
    }
    const ssize_t w = mnl_socket_sendto(nl, mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch));
    mnl_nlmsg_batch_stop(batch);
    if (w < 0) {
      std::perror("peers_tool ct-insert: sendto");
      break;
    }
    sent += static_cast<uint64_t>(n);
    errors += DrainErrors(nl, &first_error);
    if (pps > 0) {
      const double due = static_cast<double>(sent) / pps - SecondsSince(start);
      if (due > 0) std::this_thread::sleep_for(std::chrono::duration<double>(due));
    }
  }
  const double seconds = SecondsSince(start);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the last answers
  errors += DrainErrors(nl, &first_error);
  mnl_socket_close(nl);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);  // user + system: the kernel's conntrack inserts run in this process's sendto()
  const long cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
  std::printf("sent=%llu errors=%llu first_error=%s seconds=%.3f cpu_ms=%ld\n", static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(errors), first_error != 0 ? std::strerror(first_error) : "none",
              seconds, cpu_ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: peers_tool serve|probe|setups|hold|flows|ct-insert ... (see the header of peers_tool.cc)\n");
    return 2;
  }
  const std::string mode = argv[1];
  const Options o = Parse(argc, argv);
  int rc = 2;
  if (mode == "serve") rc = Serve(o);
  else if (mode == "probe") rc = Probe(o);
  else if (mode == "setups") rc = Setups(o);
  else if (mode == "hold") rc = Hold(o);
  else if (mode == "flows") rc = Flows(o);
  else if (mode == "ct-insert") rc = CtInsert(o);
  if (rc == 2) std::fprintf(stderr, "peers_tool %s: bad arguments\n", mode.c_str());
  return rc;
}
