// hapfd end to end in network namespaces: client — hapfd firewall — server,
// real traffic through the pf engine on the NFQUEUE data plane, and hapfctl
// talking to the daemon over its control socket.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <memory>
#include <string>

#include "netns/netns_topology.h"

namespace hapf::netns {
namespace {

const std::string kProbe = std::string(HAPF_SOURCE_DIR) + "/tests/netns/netns_probe.py";
constexpr const char* kSrv4 = "198.51.100.2";

// The seed policy: default block; ssh to the server with state; ping with
// state; TCP 80 blocked silently, TCP 81 answered with a RST; the sink port
// 5001 (the reload test's long connection) passed.
const char* kSeedPfConf = R"(ext_if = "fw1"
int_if = "fw0"
server = "198.51.100.2"
set skip on lo
block log all
pass in on $int_if proto tcp to $server port { 22 5001 }
pass out on $ext_if proto tcp to $server port { 22 5001 }
pass inet proto icmp icmp-type echoreq
block return in on $int_if proto tcp to port 81
)";

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class DaemonNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    topo_ = std::make_unique<Topology>(UniquePrefix(Tag()));
    ASSERT_TRUE(topo_->ok()) << topo_->error();
    dir_ = "/tmp/" + topo_->Ns("run");
    netns::Run("rm -rf " + dir_);
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir_ + "/etc").c_str(), 0755), 0);
    socket_ = dir_ + "/hapfd.sock";
    Write("etc/hapfd.conf", "control-socket " + socket_ + "\nqueues 2\npflog-file " + dir_ + "/pflog.pcap\n");
    server_ = std::make_unique<Process>(
        std::vector<std::string>{"ip", "netns", "exec", topo_->Ns("srv"), "/usr/bin/python3", kProbe, "serve",
                                 "--tcp", "22,80,81,2222", "--udp", "7001", "--sink", "5001", "--seconds", "90"},
        dir_ + "/server.log");
    for (int i = 0; i < 100 && !Contains(ReadFile(dir_ + "/server.log"), "serving"); ++i) usleep(50 * 1000);
    ASSERT_TRUE(Contains(ReadFile(dir_ + "/server.log"), "serving")) << ReadFile(dir_ + "/server.log");
  }
  void TearDown() override {
    fw_.reset();
    server_.reset();
    topo_.reset();
    netns::Run("rm -rf " + dir_);
  }

  virtual std::string Tag() const { return "hd"; }
  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ + "/" + name) << text; }

  void StartHapfd(const std::string& pf_conf) {
    Write("etc/pf.conf", pf_conf);
    fw_ = std::make_unique<Process>(
        std::vector<std::string>{"ip", "netns", "exec", topo_->Ns("fw"), HAPFD, "-d", "-c", dir_ + "/etc"},
        dir_ + "/fw.log");
    // Ready once the control socket answers (the table is installed before it listens to requests).
    for (int i = 0; i < 100; ++i) {
      if (Ctl("-si").status == 0) return;
      usleep(50 * 1000);
    }
    FAIL() << "hapfd did not come up: " << ReadFile(dir_ + "/fw.log");
  }
  // hapfctl against this test's daemon (from the host: the socket is a file).
  RunResult Ctl(const std::string& args) {
    return netns::Run(std::string(HAPFCTL) + " --socket=" + socket_ + " " + args + " 2>&1");
  }
  std::string Probe(const std::string& role, const std::string& args) {
    RunResult r = topo_->Exec(role, "timeout 10 /usr/bin/python3 " + kProbe + " " + args);
    std::string out = r.output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // Captures protocol 240 on the server side while a connection is made: fw1's pfsync packets must show.
  void ExpectPfsyncOnTheWireForAConnection() {
    Process capture({"ip", "netns", "exec", topo_->Ns("srv"), "timeout", "6", "tcpdump", "-n", "-l", "-i", "srv0",
                     "-c", "2", "ip proto 240"},
                    dir_ + "/capture.log");
    usleep(800 * 1000);
    EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 2"), "open");
    EXPECT_EQ(capture.Wait(8), 0) << ReadFile(dir_ + "/capture.log");
    const std::string seen = ReadFile(dir_ + "/capture.log");
    EXPECT_TRUE(Contains(seen, "198.51.100.1 > 224.0.0.240")) << seen;
  }
  // `hapfctl -si`'s state count, -1 when it does not answer.
  long long Entries() {
    const std::string si = Ctl("-si").output;
    const size_t at = si.find("current entries");
    return at == std::string::npos ? -1LL : std::atoll(si.c_str() + at + 15);
  }
  // A pfsync peer (pfsync_node_prog, hostid 2) on the server's side.
  std::unique_ptr<Process> StartPeer(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"ip", "netns", "exec", topo_->Ns("srv"), PFSYNC_NODE_PROG, "--dev", "srv0",
                                     "--hostid", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(args, dir_ + "/peer.log");
  }
  bool Ping(const std::string& role, const std::string& addr, int count, int deadline = 4) {
    return topo_->Exec(role, "ping -n -q -c " + std::to_string(count) + " -i 0.2 -W 1 -w " +
                                 std::to_string(deadline) + " " + addr)
               .status == 0;
  }

  std::unique_ptr<Topology> topo_;
  std::string dir_, socket_;
  std::unique_ptr<Process> server_;
  std::unique_ptr<Process> fw_;
};

TEST_F(DaemonNetns, SeedPolicyFiltersAndKeepsOneStatePerDirection) {
  StartHapfd(kSeedPfConf);
  EXPECT_TRUE(Ping("cli", kSrv4, 2));
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 2"), "open");
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 80 --timeout 1"), "timeout");
  // block return: the engine's RST comes back at once.
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 81 --timeout 2"), "refused");
  // No state for anything the client did not get through.
  RunResult ss = Ctl("-ss");
  ASSERT_EQ(ss.status, 0) << ss.output;
  // A forwarded connection: one state inbound on fw0, one outbound on fw1, as pf keeps them.
  EXPECT_TRUE(Contains(ss.output, "all tcp 198.51.100.2:22 <- 192.0.2.2:")) << ss.output;
  EXPECT_TRUE(Contains(ss.output, "all tcp 192.0.2.2:")) << ss.output;
  EXPECT_TRUE(Contains(ss.output, " -> 198.51.100.2:22       ")) << ss.output;
  EXPECT_TRUE(Contains(ss.output, "all icmp 198.51.100.2:8 <- 192.0.2.2:")) << ss.output;
  EXPECT_FALSE(Contains(ss.output, ":80 ")) << ss.output;
  EXPECT_FALSE(Contains(ss.output, ":81 ")) << ss.output;
  int tcp_states = 0;
  for (size_t p = ss.output.find("all tcp"); p != std::string::npos; p = ss.output.find("all tcp", p + 1)) ++tcp_states;
  EXPECT_EQ(tcp_states, 2) << ss.output;

  RunResult sr = Ctl("-sr");
  EXPECT_EQ(sr.status, 0);
  EXPECT_TRUE(Contains(sr.output, "block drop log all\n")) << sr.output;
  EXPECT_TRUE(Contains(sr.output, "pass in on fw0 inet proto tcp from any to 198.51.100.2 port = 22 flags S/SA\n"))
      << sr.output;
  EXPECT_TRUE(Contains(sr.output, "block return in on fw0 proto tcp from any to any port = 81\n")) << sr.output;
  RunResult si = Ctl("-si");
  EXPECT_TRUE(Contains(si.output, "Status: Enabled for 0 days")) << si.output;
  EXPECT_TRUE(Contains(si.output, "  current entries                       4\n")) << si.output;
  // -s with -v: rule counters show the blocked SYN to port 80 among others.
  RunResult srv = Ctl("-sr -v");
  EXPECT_TRUE(Contains(srv.output, "  [ Evaluations: ")) << srv.output;

  // Clean stop: the table goes, so traffic is no longer filtered at all.
  fw_->Signal(SIGTERM);
  EXPECT_EQ(fw_->Wait(10), 0) << ReadFile(dir_ + "/fw.log");
  EXPECT_FALSE(Contains(topo_->Exec("fw", "nft list tables").output, "hapf"));
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 80 --timeout 2"), "open");
}

// queue-layout once: a forwarded packet crosses the queue once and is judged
// in on its receiving and out on its sending interface in that one crossing;
// destination rewrites are refused because routing has already happened.
// A client that sends bare SYNs from a raw socket and reports the SYN-ACKs it
// gets back (source port and whether they acknowledge its SYN), never
// answering them: what a SYN flood looks like to the firewall.
const char* kRawSyns = R"(import socket, struct, sys, time
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.settimeout(0.2)
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
src = "192.0.2.2"
for i in range(n):
    sport, seq = 30000 + i, 1000000 + i
    hdr = struct.pack("!HHIIBBHHH", sport, port, seq, 0, 5 << 4, 0x02, 1024, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
    hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
    s.sendto(hdr, (dst, 0))
answered = 0
end = time.time() + 2
while time.time() < end:
    try:
        pkt = s.recv(2048)
    except socket.timeout:
        continue
    ihl = (pkt[0] & 15) * 4
    sp, dp, sq, ak, off, fl = struct.unpack("!HHIIBB", pkt[ihl:ihl + 14])
    if sp == port and fl & 0x12 == 0x12 and 30000 <= dp < 30000 + n and ak == 1000000 + (dp - 30000) + 1:
        answered += 1
print("synack", answered)
)";

TEST_F(DaemonNetns, SynproxyAnswersClientsAndOpensTheServerOnlyForCompletedHandshakes) {
  // Count the SYNs that reach the server (its own nftables table).
  Write("count.nft", "table inet count {\n  chain in {\n    type filter hook input priority 0;\n"
                     "    tcp dport 22 tcp flags syn counter\n  }\n}\n");
  ASSERT_EQ(topo_->Exec("srv", "nft -f " + dir_ + "/count.nft").status, 0);
  auto syns_at_server = [&] {
    const std::string out = topo_->Exec("srv", "nft list chain inet count in").output;
    const size_t at = out.find("packets ");
    return at == std::string::npos ? -1LL : std::atoll(out.c_str() + at + 8);
  };
  StartHapfd("set skip on lo\nblock all\n"
             "pass in on fw0 proto tcp to 198.51.100.2 port { 22 5001 } synproxy state\n"
             "pass out on fw1 proto tcp\n");
  // Bare SYNs: the firewall answers each one, the server sees none of them.
  Write("rawsyn.py", kRawSyns);
  RunResult flood = topo_->Exec("cli", "timeout 10 /usr/bin/python3 " + dir_ + "/rawsyn.py 198.51.100.2 22 20");
  EXPECT_EQ(flood.output, "synack 20\n") << flood.output << ReadFile(dir_ + "/fw.log");
  EXPECT_EQ(syns_at_server(), 0);
  std::string ss = Ctl("-ss").output;
  int proxied = 0;
  for (size_t p = ss.find("PROXY:SRC"); p != std::string::npos; p = ss.find("PROXY:SRC", p + 1)) ++proxied;
  EXPECT_EQ(proxied, 20) << ss;
  // A real client completes its handshake: the server gets exactly one SYN,
  // and the greeting it sends comes back through the translated sequence numbers.
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 3"), "open");
  EXPECT_EQ(syns_at_server(), 1);
  // A megabyte each way of window, acks and sequence translation.
  EXPECT_EQ(Probe("cli", std::string("bulk ") + kSrv4 + " 5001 1048576 --timeout 8"), "1048576");
  ss = Ctl("-ss").output;
  EXPECT_TRUE(Contains(ss, "-> 198.51.100.2:5001") || Contains(ss, "198.51.100.2:5001 <- 192.0.2.2:")) << ss;
  RunResult si = Ctl("-si");
  EXPECT_TRUE(Contains(si.output, "synproxy ")) << si.output;
}

TEST_F(DaemonNetns, OnceLayoutKeepsPfSemanticsAndRefusesRdrTo) {
  Write("etc/hapfd.conf",
        "control-socket " + socket_ + "\nqueues 2\nqueue-layout once\npflog-file " + dir_ + "/pflog.pcap\n");
  StartHapfd(kSeedPfConf + std::string("pass out on fw1 inet proto udp nat-to 198.51.100.1\n"));
  EXPECT_TRUE(Ping("cli", kSrv4, 2));
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 2"), "open");
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 80 --timeout 1"), "timeout");
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 81 --timeout 2"), "refused");
  RunResult ss = Ctl("-ss");
  EXPECT_TRUE(Contains(ss.output, "all tcp 198.51.100.2:22 <- 192.0.2.2:")) << ss.output;
  EXPECT_TRUE(Contains(ss.output, " -> 198.51.100.2:22       ")) << ss.output;
  Write("rdr.conf", "pass\npass in on fw0 proto tcp to 203.0.113.10 rdr-to 198.51.100.2\n");
  RunResult rdr = Ctl("-f " + dir_ + "/rdr.conf");
  EXPECT_NE(rdr.status, 0);
  EXPECT_TRUE(Contains(rdr.output, dir_ + "/rdr.conf:2: rdr-to and binat-to need queue-layout split in hapfd.conf"))
      << rdr.output;
  EXPECT_TRUE(Contains(Ctl("-sr").output, "port = 22")) << Ctl("-sr").output;
  // hapfd -n refuses such a pf.conf with this layout too.
  Write("etc/pf.conf", "pass\npass in on fw0 proto tcp to 203.0.113.10 rdr-to 198.51.100.2\n");
  RunResult check = netns::Run(std::string(HAPFD) + " -n -c " + dir_ + "/etc 2>&1");
  EXPECT_NE(check.status, 0);
  EXPECT_TRUE(Contains(check.output, "rdr-to and binat-to need queue-layout split")) << check.output;
}

TEST_F(DaemonNetns, NatToAndRdrToForTcpUdpAndPing) {
  // The server has no route back to the client's network: only nat-to on fw1
  // makes answers possible. 203.0.113.10 exists nowhere: rdr-to sends it to the server.
  topo_->Exec("srv", "ip route del default");
  StartHapfd(R"(set skip on lo
block all
pass in on fw0 inet proto { tcp udp icmp } to 203.0.113.10 rdr-to 198.51.100.2
pass in on fw0 inet proto tcp to 198.51.100.2 port 22
pass in on fw0 inet proto udp to 198.51.100.2 port 7999
pass out on fw1 inet nat-to 198.51.100.1
)");
  // nat-to alone: the port-unreachable error from the server comes back to the client.
  EXPECT_EQ(Probe("cli", std::string("udp ") + kSrv4 + " 7999 --timeout 2"), "refused");
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 2"), "open");
  EXPECT_EQ(Probe("cli", "tcp 203.0.113.10 2222 --timeout 2"), "open");
  EXPECT_EQ(Probe("cli", "udp 203.0.113.10 7001 --timeout 2"), "reply 7001 probe");
  EXPECT_TRUE(Ping("cli", "203.0.113.10", 2));
  // ICMP errors and RSTs for translated flows are translated back: the
  // client's connected socket only hears of them when the quoted packet and
  // the outer addresses are its own again (server ports 7999/2223 are closed).
  EXPECT_EQ(Probe("cli", "udp 203.0.113.10 7999 --timeout 2"), "refused");
  EXPECT_EQ(Probe("cli", "tcp 203.0.113.10 2223 --timeout 2"), "refused");
  RunResult ss = Ctl("-ss");
  // The outbound state shows the translated source in parentheses.
  EXPECT_TRUE(Contains(ss.output, "all tcp 198.51.100.1:")) << ss.output;
  EXPECT_TRUE(Contains(ss.output, " (192.0.2.2:")) << ss.output;
  EXPECT_TRUE(Contains(ss.output, "all udp 198.51.100.2:7001 (203.0.113.10:7001) <- 192.0.2.2:")) << ss.output;
}

TEST_F(DaemonNetns, ReloadKeepsEstablishedConnectionAndBadReloadChangesNothing) {
  StartHapfd(kSeedPfConf);
  // A long connection to the sink carrying traffic throughout: 1000 bytes,
  // then 10 bytes every 0.1 s until the go file appears (the sink gives up
  // after 5 idle seconds), then 1000 more; "ok" when the sink counted every byte.
  Write("long.py", R"(import os, socket, sys, time
s = socket.create_connection(("198.51.100.2", 5001), timeout=5)
s.sendall(b"x" * 1000)
sent = 1000
end = time.monotonic() + 30
while not os.path.exists(sys.argv[1]) and time.monotonic() < end:
    s.sendall(b"z" * 10)
    sent += 10
    time.sleep(0.1)
s.sendall(b"y" * 1000)
sent += 1000
s.shutdown(socket.SHUT_WR)
got = s.recv(64).decode()
print("ok" if got == str(sent) else "sent %d, sink read %s" % (sent, got))
)");
  Process client({"ip", "netns", "exec", topo_->Ns("cli"), "timeout", "40", "/usr/bin/python3", dir_ + "/long.py",
                  dir_ + "/go"},
                 dir_ + "/long.log");
  for (int i = 0; i < 100 && !Contains(Ctl("-ss").output, ":5001 <- "); ++i) usleep(50 * 1000);
  ASSERT_TRUE(Contains(Ctl("-ss").output, ":5001 <- ")) << Ctl("-ss").output;

  // A bad file: every error printed, nothing changed.
  Write("bad.conf", "pass in on fw0 proto tcp to port 22 frobnicate\nblock in quick al\npass out\n");
  RunResult bad = Ctl("-f " + dir_ + "/bad.conf");
  EXPECT_NE(bad.status, 0);
  EXPECT_TRUE(Contains(bad.output, dir_ + "/bad.conf:1: syntax error")) << bad.output;
  EXPECT_TRUE(Contains(bad.output, dir_ + "/bad.conf:2: syntax error")) << bad.output;
  EXPECT_TRUE(Contains(bad.output, "pf rules not loaded")) << bad.output;
  EXPECT_TRUE(Contains(Ctl("-sr").output, "port = 22")) << Ctl("-sr").output;

  // A good file without the sink rule, loaded mid-connection: the state carries it.
  Write("new.conf", "set skip on lo\nblock all\npass inet proto icmp icmp-type echoreq\n");
  RunResult good = Ctl("-f " + dir_ + "/new.conf");
  EXPECT_EQ(good.status, 0) << good.output;
  EXPECT_EQ(Ctl("-sr").output, "block drop all\npass inet proto icmp all icmp-type echoreq\n");
  Write("go", "go\n");
  EXPECT_EQ(client.Wait(15), 0);
  EXPECT_EQ(ReadFile(dir_ + "/long.log"), "ok\n");
  // Reloads while a ping stream runs (20 per second): no echo is lost.
  Process pings({"ip", "netns", "exec", topo_->Ns("cli"), "ping", "-n", "-q", "-c", "40", "-i", "0.05", "-W", "1",
                 kSrv4},
                dir_ + "/ping.log");
  usleep(300 * 1000);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Ctl("-f " + dir_ + "/new.conf").status, 0);
  EXPECT_EQ(pings.Wait(10), 0) << ReadFile(dir_ + "/ping.log");
  EXPECT_TRUE(Contains(ReadFile(dir_ + "/ping.log"), "40 packets transmitted, 40 received, 0% packet loss"))
      << ReadFile(dir_ + "/ping.log");
  // New connections follow the new rules.
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 1"), "timeout");

  // SIGHUP reloads pf.conf from the configuration directory.
  fw_->Signal(SIGHUP);
  for (int i = 0; i < 40 && !Contains(Ctl("-sr").output, "port = 22"); ++i) usleep(50 * 1000);
  EXPECT_TRUE(Contains(Ctl("-sr").output, "port = 22"));
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 2"), "open");
}

// GRO on the firewall's inbound veth: the engine sees TCP super-packets (up
// to 64 KiB, GSO) and must track their sequence space like any segment.
TEST_F(DaemonNetns, LargeTcpTransferWithGroPassesTheStatefulFilter) {
  ASSERT_EQ(topo_->Exec("fw", "ethtool -K fw0 gro on").status, 0);
  StartHapfd(kSeedPfConf);
  EXPECT_EQ(Probe("cli", std::string("bulk ") + kSrv4 + " 5001 16000000"), "16000000");
  std::string ss = Ctl("-ss -v").output;
  size_t at = ss.find(":5001 <- 192.0.2.2:");
  ASSERT_NE(at, std::string::npos) << ss;
  // "   age ..., P:p pkts, B:b bytes": the client's side of the inbound state.
  at = ss.find("expires in", at);
  ASSERT_NE(at, std::string::npos) << ss;
  unsigned long long pkts = 0, replies = 0, bytes = 0;
  ASSERT_EQ(std::sscanf(ss.c_str() + ss.find(", ", at) + 2, "%llu:%llu pkts, %llu", &pkts, &replies, &bytes), 3) << ss;
  EXPECT_GT(bytes, 16000000ull) << ss;
  // Fewer packets than 1448-byte segments would need: super-packets were judged whole.
  EXPECT_LT(pkts, 16000000ull / 1448) << ss;
}

TEST_F(DaemonNetns, KilledDaemonFailsClosed) {
  StartHapfd(kSeedPfConf);
  EXPECT_TRUE(Ping("cli", kSrv4, 1));
  fw_->Signal(SIGKILL);
  fw_->Wait(5);
  EXPECT_FALSE(Ping("cli", kSrv4, 2, 2));
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 1"), "timeout");
  RunResult r = Ctl("-ss");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(Contains(r.output, "hapfctl: cannot reach hapfd at ")) << r.output;
}

TEST_F(DaemonNetns, ControlCommands) {
  StartHapfd(kSeedPfConf + std::string("table <bad> { 203.0.113.7 }\nblock in quick from <bad>\n"));
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 2"), "open");
  EXPECT_TRUE(Ping("cli", kSrv4, 1));
  // -k kills the client's states; -F states the rest.
  RunResult k = Ctl("-k 192.0.2.2");
  EXPECT_EQ(k.status, 0);
  EXPECT_TRUE(Contains(k.output, "killed 4 states from 1 sources")) << k.output;
  EXPECT_EQ(Ctl("-ss").output, "");
  // Tables: add, test, show, delete.
  EXPECT_TRUE(Contains(Ctl("-t bad -T add 192.0.2.2").output, "1/1 addresses added."));
  EXPECT_EQ(Ctl("-t bad -T test 192.0.2.2").status, 0);
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 1"), "timeout");
  EXPECT_EQ(Ctl("-t bad -T show").output, "   192.0.2.2\n   203.0.113.7\n");
  EXPECT_TRUE(Contains(Ctl("-t bad -T delete 192.0.2.2").output, "1/1 addresses deleted."));
  EXPECT_NE(Ctl("-t bad -T test 192.0.2.2").status, 0);
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 2"), "open");
  // -d: pf passes everything; -e back on.
  EXPECT_EQ(Ctl("-d").status, 0);
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 80 --timeout 2"), "open");
  EXPECT_NE(Ctl("-d").status, 0);
  EXPECT_EQ(Ctl("-e").status, 0);
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 80 --timeout 1"), "timeout");
  EXPECT_TRUE(Contains(Ctl("-st").output, "tcp.established           86400s\n"));
  EXPECT_TRUE(Contains(Ctl("-sm").output, "states        hard limit   100000\n"));
  EXPECT_TRUE(Contains(Ctl("-F states").output, "states cleared"));
  EXPECT_EQ(Ctl("-ss").output, "");
  RunResult carp = Ctl("carp");
  EXPECT_NE(carp.status, 0);
  EXPECT_TRUE(Contains(carp.output, "carp is not configured")) << carp.output;
  EXPECT_NE(Ctl("-s bogus").status, 0);
  // -a: an anchor's own rules through hapfctl.
  Write("anchor.conf", "pass in proto tcp to port 2222\n");
  EXPECT_EQ(Ctl("-a extra -f " + dir_ + "/anchor.conf").status, 0);
  EXPECT_EQ(Ctl("-a extra -sr").output, "pass in proto tcp from any to any port = 2222 flags S/SA\n");
  EXPECT_TRUE(Contains(Ctl("-a extra -F rules").output, "rules cleared"));
  EXPECT_EQ(Ctl("-a extra -sr").output, "");
}

TEST_F(DaemonNetns, CarpInterfaceFromHostnameFileBecomesMasterAndLeavesCleanly) {
  Write("etc/hostname.carp0", "inet 198.51.100.10 255.255.255.0 198.51.100.255 vhid 5 carpdev fw1 advskew 0 pass toor\n");
  Write("etc/hapfd.conf", "control-socket " + socket_ + "\ncarp-log 5\npflog-file " + dir_ + "/pflog.pcap\n");
  // pf filters the adverts hapfd receives; its own carry its generated mark and
  // skip its queue on output (an overloaded queue would drop them unseen and a
  // backup would take over from a live master): the block rule never sees them.
  StartHapfd(kSeedPfConf + std::string("pass in quick on fw1 proto carp keep state (no-sync)\n"
                                       "block out log quick on fw1 proto carp\n"));
  std::string status;
  for (int i = 0; i < 100 && !Contains(status, "carp: MASTER"); ++i) {
    usleep(100 * 1000);
    status = Ctl("carp").output;
  }
  // (without -T carp, tcpdump names protocol 112 VRRP)
  RunResult adverts = topo_->Exec("srv", "timeout 5 tcpdump -n -l -i srv0 -c 2 'ip proto 112'");
  EXPECT_EQ(adverts.status, 0) << adverts.output;
  EXPECT_TRUE(Contains(adverts.output, "198.51.100.1 > 224.0.0.18: VRRPv2, Advertisement, vrid 5")) << adverts.output;
  EXPECT_FALSE(Contains(Ctl("-ss").output, "224.0.0.18")) << Ctl("-ss").output;
  EXPECT_TRUE(Contains(status, "carp0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n")) << status;
  EXPECT_TRUE(Contains(status, "\tcarp: MASTER carpdev fw1 vhid 5 advbase 1 advskew 0\n")) << status;
  // The VIP answers from the server's side (inbound on carp0, which rules see as fw1).
  EXPECT_TRUE(Ping("srv", "198.51.100.10", 1));
  EXPECT_TRUE(Contains(ReadFile(dir_ + "/fw.log"), "carp0: state transition: BACKUP -> MASTER"))
      << ReadFile(dir_ + "/fw.log");
  // Maintenance demotion shows in the group and the log; a bad count is one error line.
  RunResult demote = Ctl("carp demote 10");
  EXPECT_EQ(demote.status, 0) << demote.output;
  EXPECT_TRUE(Contains(demote.output, "carp0: flags=")) << demote.output;
  // The group counter is now 10: taking 20 away would leave 0..255.
  RunResult under = Ctl("carp demote -20");
  EXPECT_NE(under.status, 0);
  EXPECT_EQ(under.output, "hapfctl: carp demote: carpdemote: group carp counter would leave 0..255 (EINVAL)\n");
  EXPECT_EQ(Ctl("carp demote -10").status, 0);
  // -g: another interface group (ifconfig -g GROUP carpdemote N), and its counter.
  EXPECT_EQ(Ctl("carp -g carp").output, "carp: carp demote count 0\n");
  EXPECT_EQ(Ctl("carp -g maint demote 3").output, "maint: carp demote count 3\n");
  EXPECT_EQ(Ctl("carp demote -3 -g maint").output, "maint: carp demote count 0\n");
  RunResult nog = Ctl("carp -g");
  EXPECT_NE(nog.status, 0);
  EXPECT_EQ(nog.output, "hapfctl: carp -g: needs a group name\n");
  RunResult bad = Ctl("carp demote x");
  EXPECT_NE(bad.status, 0);
  EXPECT_EQ(bad.output, "hapfctl: carp demote: x: not a number from -255 to 255 (not 0)\n");
  fw_->Signal(SIGTERM);
  EXPECT_EQ(fw_->Wait(10), 0) << ReadFile(dir_ + "/fw.log");
  EXPECT_NE(topo_->Exec("fw", "ip link show carp0").status, 0);  // the macvlan is gone
  EXPECT_FALSE(Contains(topo_->Exec("fw", "nft list tables").output, "hapf"));
}

TEST_F(DaemonNetns, PfsyncRuntimeSendsTheStatesTrafficCreates) {
  // pfsync on fw1 to the server's side (the server just receives multicast).
  Write("etc/hostname.pfsync0", "syncdev fw1 maxupd 128\nup\n");
  // pf filters pfsync's own packets too: the sync interface needs its pass rule.
  StartHapfd(kSeedPfConf + std::string("pass quick on fw1 proto pfsync keep state (no-sync)\n"));
  RunResult status = Ctl("pfsync -v");
  ASSERT_EQ(status.status, 0) << status.output << ReadFile(dir_ + "/fw.log");
  EXPECT_TRUE(Contains(status.output, "pfsync0: flags=41<UP,RUNNING>")) << status.output;
  EXPECT_TRUE(Contains(status.output, "\tpfsync: syncdev: fw1 maxupd: 128 defer: off")) << status.output;
  ExpectPfsyncOnTheWireForAConnection();
  RunResult stats = Ctl("pfsync stats");
  EXPECT_FALSE(Contains(stats.output, "\t0 packets sent (IPv4)")) << stats.output;
  EXPECT_TRUE(Contains(stats.output, "packets sent (IPv4)")) << stats.output;
}

// hapfd's own pfsync packets carry its generated mark and leave without
// crossing its own queue (an overloaded queue dropped them after sendmmsg had
// reported them sent): pf does not see them on output, so even a rule that
// blocks pfsync out on the syncdev does not stop them. Inbound pfsync is
// still filtered.
TEST_F(DaemonNetns, PfsyncOwnPacketsSkipTheQueueOnOutput) {
  Write("etc/hostname.pfsync0", "syncdev fw1 maxupd 128\nup\n");
  StartHapfd(kSeedPfConf + std::string("pass in quick on fw1 proto pfsync keep state (no-sync)\n"
                                       "block out log quick on fw1 proto pfsync\n"));
  ExpectPfsyncOnTheWireForAConnection();
  // No pf state was made for them on the way out (the block rule never matched either).
  const std::string ss = Ctl("-ss").output;
  EXPECT_FALSE(Contains(ss, "224.0.0.240")) << ss;
  RunResult stats = Ctl("pfsync stats");
  EXPECT_TRUE(Contains(stats.output, "\t\t0 send error")) << stats.output;
}

// `hapfctl pfsync bulk` (the status page's "force bulk update"): once the
// start-up bulk update is done, the request goes out again (UPD_REQ for every
// state) and the peer answers with a new bulk update.
TEST_F(DaemonNetns, PfsyncBulkOnDemandAsksThePeerForEveryStateAgain) {
  Process peer({"ip", "netns", "exec", topo_->Ns("srv"), PFSYNC_NODE_PROG, "--dev", "srv0", "--hostid", "2",
                "--create", "3", "--seconds", "30"},
               dir_ + "/peer.log");
  usleep(500 * 1000);
  Write("etc/hostname.pfsync0", "syncdev fw1\nup\n");
  StartHapfd(kSeedPfConf + std::string("pass quick on fw1 proto pfsync keep state (no-sync)\n"));
  auto states = [&] {
    const std::string ss = Ctl("-ss").output;
    return static_cast<int>(std::count(ss.begin(), ss.end(), '\n'));
  };
  for (int i = 0; i < 100 && states() < 3; ++i) usleep(50 * 1000);
  ASSERT_GE(states(), 3) << Ctl("-ss").output << ReadFile(dir_ + "/peer.log");

  // Linux tcpdump does not decode pfsync: hapfctl's own decoder watches the server's side.
  Process capture({"ip", "netns", "exec", topo_->Ns("srv"), "timeout", "8", HAPFCTL, "pfsync", "dump", "-v", "-c", "2",
                   "-i", "srv0"},
                  dir_ + "/bulk.cap");
  usleep(500 * 1000);
  RunResult bulk;
  for (int i = 0; i < 50; ++i) {  // until the start-up bulk update has ended
    bulk = Ctl("pfsync bulk");
    if (bulk.status == 0 || !Contains(bulk.output, "in progress")) break;
    usleep(100 * 1000);
  }
  ASSERT_EQ(bulk.status, 0) << bulk.output;
  EXPECT_EQ(bulk.output, "pfsync: full update requested from the peer\n");
  EXPECT_EQ(capture.Wait(8), 0);
  const std::string cap = ReadFile(dir_ + "/bulk.cap");
  EXPECT_TRUE(Contains(cap, "198.51.100.1 > 224.0.0.240")) << cap;
  EXPECT_TRUE(Contains(cap, "act UPD ST REQ count 1\n\tid: 0000000000000000 creatorid: 00000000")) << cap;
  EXPECT_TRUE(Contains(cap, "198.51.100.2 > 224.0.0.240")) << cap;
  EXPECT_TRUE(Contains(cap, "act BULK UPD STAT count 1\n\tcreatorid: 00000002 age: 00:00:00 status: start")) << cap;
  EXPECT_TRUE(Contains(cap, "act UPD ST count 3\n")) << cap;
  EXPECT_TRUE(Contains(cap, "status: end")) << cap;
  peer.Signal(SIGTERM);
  peer.Wait(5);
}

// A bulk update both ways between hapfd and a peer (pfsync_node_prog) at the
// default pace: hapfd imports the peer's 20 000 states when it comes up, and
// sends them back when the peer restarts empty and asks. hapfd paced its bulk
// at one packet per main-loop step before (about 50 states/s: 400 s here).
TEST_F(DaemonNetns, PfsyncBulkUpdateBothWaysAtTheDefaultPace) {
  const std::string status = dir_ + "/peer.status";
  auto peer_field = [&](const std::string& key) {
    std::istringstream in(ReadFile(status));
    std::string k;
    long long v = -1;
    while (in >> k) {
      if (k == key) {
        in >> v;
        return v;
      }
      in.ignore(1 << 20, '\n');
    }
    return -1LL;
  };
  auto start_peer = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"ip", "netns", "exec", topo_->Ns("srv"), PFSYNC_NODE_PROG, "--dev", "srv0",
                                     "--hostid", "2", "--seconds", "60", "--status", status};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(args, dir_ + "/peer.log");
  };
  auto peer = start_peer({"--create", "20000"});
  for (int i = 0; i < 100 && peer_field("states") != 20000; ++i) usleep(100 * 1000);
  ASSERT_EQ(peer_field("states"), 20000) << ReadFile(dir_ + "/peer.log");

  Write("etc/hostname.pfsync0", "syncdev fw1\nup\n");
  StartHapfd(kSeedPfConf + std::string("pass quick on fw1 proto pfsync keep state (no-sync)\n"));
  // Its own pfsync traffic adds a (no-sync) state or two.
  for (int i = 0; i < 100 && Entries() < 20000; ++i) usleep(100 * 1000);
  EXPECT_GE(Entries(), 20000) << Ctl("-si").output << Ctl("pfsync -vv").output;

  // The peer restarts empty and asks hapfd for the table.
  peer->Signal(SIGTERM);
  peer->Wait(5);
  std::remove(status.c_str());
  peer = start_peer({});
  for (int i = 0; i < 100 && peer_field("bulk_ms") < 0; ++i) usleep(100 * 1000);
  const long long bulk_ms = peer_field("bulk_ms");
  EXPECT_GE(bulk_ms, 0) << ReadFile(status) << Ctl("pfsync -vv").output;
  usleep(300 * 1000);
  EXPECT_EQ(peer_field("states"), 20000) << Ctl("pfsync -vv").output;
  RunResult stats = Ctl("pfsync stats");
  EXPECT_TRUE(Contains(stats.output, "\t0 send error\n")) << stats.output;
  std::printf("[ measure ] hapfd's bulk of 20000 states: %lld ms from the peer's request to BUS END\n", bulk_ms);
  peer->Signal(SIGTERM);
  peer->Wait(5);
}

// `hapfctl debug flows`: synthetic first packets judged inside hapfd, no
// packet on any wire but pfsync's: the states appear in -ss as a real flow's
// would (one per direction), the peer receives every one, the rules still
// decide (port 80 is blocked), and a bad request is refused in one line.
TEST_F(DaemonNetns, DebugFlowsCreateStatesThePfsyncPeerReceives) {
  const std::string status = dir_ + "/peer.status";
  auto peer_states = [&] {
    std::istringstream in(ReadFile(status));
    std::string k;
    long long v = -1;
    while (in >> k) {
      if (k == "states") {
        in >> v;
        break;
      }
      in.ignore(1 << 20, '\n');
    }
    return v;
  };
  auto peer = StartPeer({"--seconds", "60", "--status", status});
  Write("etc/hostname.pfsync0", "syncdev fw1\nup\n");
  StartHapfd(kSeedPfConf + std::string("set limit states 200000\n"
                                       "pass quick on fw1 proto pfsync keep state (no-sync)\n"));
  RunResult r = Ctl("debug flows count 20000 from 192.0.2.10 sources 4 to 198.51.100.2 port 22 proto tcp in fw0 out fw1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "20000 flows in ")) << r.output;
  EXPECT_TRUE(Contains(r.output, ": 20000 passed, 0 blocked\n")) << r.output;
  // Two states a flow, plus hapfd's own (no-sync) pfsync state or two.
  const long long entries = Entries();
  EXPECT_GE(entries, 40000);
  EXPECT_LE(entries, 40002);
  const std::string ss = Ctl("-ss").output;
  EXPECT_TRUE(Contains(ss, "all tcp 198.51.100.2:22 <- 192.0.2.10:1024       CLOSED:SYN_SENT\n")) << ss.substr(0, 400);
  EXPECT_TRUE(Contains(ss, "all tcp 192.0.2.13:6023 -> 198.51.100.2:22       SYN_SENT:CLOSED\n")) << ss.substr(0, 400);
  for (int i = 0; i < 100 && peer_states() < 40000; ++i) usleep(100 * 1000);
  EXPECT_EQ(peer_states(), 40000) << Ctl("pfsync -vv").output << ReadFile(dir_ + "/peer.log");
  RunResult blocked = Ctl("debug flows count 100 from 192.0.2.10 to 198.51.100.2 port 80 proto tcp in fw0 out fw1");
  EXPECT_TRUE(Contains(blocked.output, ": 0 passed, 100 blocked\n")) << blocked.output;
  // The same flows again: their states exist, nothing new is created or sent.
  RunResult again = Ctl("debug flows count 20000 from 192.0.2.10 sources 4 to 198.51.100.2 port 22 proto tcp in fw0 out fw1");
  EXPECT_TRUE(Contains(again.output, ": 20000 passed, 0 blocked\n")) << again.output;
  EXPECT_EQ(Entries(), entries);
  // Paced: 300 flows at 1 000 a second take about 0.3 s (a generous lower bound only).
  RunResult paced = Ctl("debug flows count 300 from 192.0.2.50 to 198.51.100.2 port 22 proto tcp in fw0 out fw1 rate 1000");
  EXPECT_TRUE(Contains(paced.output, ": 300 passed, 0 blocked\n")) << paced.output;
  EXPECT_GE(std::atof(paced.output.c_str() + paced.output.find(" in ") + 4), 0.25) << paced.output;
  EXPECT_EQ(Entries(), entries + 600);
  RunResult bad = Ctl("debug flows count 10 from 192.0.2.10 to 2001:db8::1 in fw0");
  EXPECT_NE(bad.status, 0);
  EXPECT_EQ(bad.output, "hapfctl: debug flows: source and destination: two addresses of one family\n");
  bad = Ctl("debug flows count 10 from 192.0.2.10 to 198.51.100.2 in nosuch0");
  EXPECT_EQ(bad.output, "hapfctl: debug flows: in: no interface nosuch0\n");
  bad = Ctl("debug flows count ten from 192.0.2.10 to 198.51.100.2 in fw0");
  EXPECT_EQ(bad.output, "hapfctl: debug flows: count: not a number: ten\n");
  peer->Signal(SIGTERM);
  peer->Wait(5);
}

// `mtu` in hostname.pfsync0 (ifconfig pfsync0 mtu): larger than the
// syncdev's it gives way (and says so); on a jumbo-frame link the inserts of
// 20 000 new flows leave 33 states a packet rather than 5.
TEST_F(DaemonNetns, PfsyncMtuFollowsTheConfigWithinTheSyncdevs) {
  const std::string status = dir_ + "/peer.status";
  Write("etc/hostname.pfsync0", "syncdev fw1 mtu 9000\nup\n");
  const std::string pf_conf = kSeedPfConf + std::string("set limit states 200000\n"
                                                        "pass quick on fw1 proto pfsync keep state (no-sync)\n");
  StartHapfd(pf_conf);
  EXPECT_TRUE(Contains(Ctl("pfsync").output, "pfsync0: flags=41<UP,RUNNING> mtu 1500\n")) << Ctl("pfsync").output;
  EXPECT_TRUE(Contains(ReadFile(dir_ + "/fw.log"),
                       "pfsync0: mtu 9000 is more than fw1's 1500: pfsync packets stay within 1500 bytes"))
      << ReadFile(dir_ + "/fw.log");
  fw_->Signal(SIGTERM);
  ASSERT_EQ(fw_->Wait(10), 0);

  ASSERT_EQ(topo_->Exec("fw", "ip link set fw1 mtu 9000").status, 0);
  ASSERT_EQ(topo_->Exec("srv", "ip link set srv0 mtu 9000").status, 0);
  auto peer = StartPeer({"--seconds", "60", "--status", status});
  StartHapfd(pf_conf);
  EXPECT_TRUE(Contains(Ctl("pfsync").output, "pfsync0: flags=41<UP,RUNNING> mtu 9000\n")) << Ctl("pfsync").output;
  auto sent = [&] {
    const std::string stats = Ctl("pfsync stats").output;
    const size_t at = stats.find(" packets sent (IPv4)");
    size_t from = stats.rfind('\t', at);
    return at == std::string::npos ? -1LL : std::atoll(stats.c_str() + from + 1);
  };
  const long long before = sent();
  RunResult r = Ctl("debug flows count 20000 from 192.0.2.10 sources 4 to 198.51.100.2 port 22 proto tcp in fw0 out fw1");
  ASSERT_EQ(r.status, 0) << r.output;
  auto peer_states = [&] {
    const std::string text = ReadFile(status);
    const size_t at = text.find("states ");
    return at == std::string::npos ? -1LL : std::atoll(text.c_str() + at + 7);
  };
  for (int i = 0; i < 100 && peer_states() < 40000; ++i) usleep(100 * 1000);
  EXPECT_EQ(peer_states(), 40000) << Ctl("pfsync -vv").output << ReadFile(dir_ + "/peer.log");
  // 40 000 inserts: 1 213 packets of 33 (8 000 of 5 at 1500), and a few more for the bulk exchange.
  const long long packets = sent() - before;
  EXPECT_GE(packets, 40000 / 33);
  EXPECT_LE(packets, 40000 / 33 + 20) << Ctl("pfsync -vv").output;
  peer->Signal(SIGTERM);
  peer->Wait(5);
}

// The kernel's view of the firewall's queues (/proc/net/netfilter/nfnetlink_queue
// is per network namespace), read independently of hapfd's own parser.
struct KernelQueue {
  unsigned waiting = 0, queue_dropped = 0, user_dropped = 0, packets = 0;  // packets: id_sequence
};
std::map<unsigned, KernelQueue> KernelQueues(const Topology& topo) {
  std::map<unsigned, KernelQueue> out;
  std::istringstream in(topo.Exec("fw", "cat /proc/net/netfilter/nfnetlink_queue").output);
  std::string line;
  while (std::getline(in, line)) {
    unsigned num, portid, mode, range;
    KernelQueue q;
    if (std::sscanf(line.c_str(), "%u %u %u %u %u %u %u %u", &num, &portid, &q.waiting, &mode, &range,
                    &q.queue_dropped, &q.user_dropped, &q.packets) == 8)
      out[num] = q;
  }
  return out;
}
std::string Describe(const std::map<unsigned, KernelQueue>& queues) {
  std::string out;
  for (const auto& [n, q] : queues) {
    out += "queue " + std::to_string(n) + ": packets " + std::to_string(q.packets) + " waiting " +
           std::to_string(q.waiting) + " queue_dropped " + std::to_string(q.queue_dropped) + " user_dropped " +
           std::to_string(q.user_dropped) + "\n";
  }
  return out;
}

// Issue #6: a pfsync bulk update reaches a backup whose data queue overflows
// under a UDP flood. hapfd has one data queue (0) of the smallest depth, so
// the flood through it certainly overflows it; CARP and pfsync go to the
// control queue (1) and every one of the peer's 100 000 states arrives. With
// control-queue-maxlen 0 (the DISABLED_ twin below) the bulk shares the
// overflowing queue and states are lost.
struct BulkUnderFlood {
  long long entries = -1;
  std::map<unsigned, KernelQueue> queues;
  std::string pfsync;  // hapfctl pfsync
  bool flood_lasted = false;
  double seconds = 0;
};

class PfsyncFloodNetns : public DaemonNetns {
 protected:
  std::string Tag() const override { return "cq"; }

  static constexpr int kStates = 100000;

  // `settings`: more hapfd.conf lines (the last of a key wins).
  BulkUnderFlood Run(const std::string& settings) {
    BulkUnderFlood r;
    Write("etc/hapfd.conf", "control-socket " + socket_ + "\nqueues 1\nqueue-maxlen 64\n" + settings +
                                "pflog-file " + dir_ + "/pflog.pcap\n");
    const std::string status = dir_ + "/peer.status";
    std::remove(status.c_str());
    auto peer = StartPeer({"--seconds", "90", "--limit", "200000", "--create", std::to_string(kStates), "--status", status});
    auto peer_states = [&] {
      std::istringstream in(ReadFile(status));
      std::string k;
      long long v = -1;
      while (in >> k) {
        if (k == "states") in >> v;
        in.ignore(1 << 20, '\n');
      }
      return v;
    };
    for (int i = 0; i < 200 && peer_states() != kStates; ++i) usleep(100 * 1000);
    EXPECT_EQ(peer_states(), kStates) << ReadFile(dir_ + "/peer.log");
    // The flood runs before hapfd asks for the bulk and outlasts it (bounded: 40 s at most).
    Process flood({"ip", "netns", "exec", topo_->Ns("cli"), UDPFLOOD, kSrv4, "9", "--flows", "64", "--seconds", "40"},
                  dir_ + "/flood.log");
    usleep(300 * 1000);
    Write("etc/hostname.pfsync0", "syncdev fw1\nup\n");
    const auto t0 = std::chrono::steady_clock::now();
    StartHapfd(R"(set skip on lo
set limit states 200000
block all
pass quick on fw1 proto pfsync keep state (no-sync)
pass quick proto udp no state
)");
    // The bulk takes well under a second unloaded; hapfd retries its request when it does not complete.
    long long last = -1;
    int still = 0;
    for (int i = 0; i < 300 && still < 50; ++i) {
      r.entries = Entries();
      if (r.entries >= kStates) break;
      still = r.entries == last ? still + 1 : 0;  // 5 s without a new state: done, with losses
      last = r.entries;
      usleep(100 * 1000);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.flood_lasted = flood.running();
    r.queues = KernelQueues(*topo_);
    r.pfsync = Ctl("pfsync").output;
    flood.Signal(SIGTERM);
    flood.Wait(5);
    peer->Signal(SIGTERM);
    peer->Wait(5);
    std::string conf = settings.empty() ? "control queue" : settings;
    std::replace(conf.begin(), conf.end(), '\n', ';');
    std::printf("[ measure ] %d-state bulk under a UDP flood (%s): hapfd holds %lld states after %.1f s\n%s", kStates,
                conf.c_str(), r.entries, r.seconds, Describe(r.queues).c_str());
    return r;
  }
};

TEST_F(PfsyncFloodNetns, BulkCrossesTheControlQueueWhileTheDataQueueOverflows) {
  const BulkUnderFlood r = Run("");
  SCOPED_TRACE(Describe(r.queues) + r.pfsync + ReadFile(dir_ + "/flood.log"));
  EXPECT_GE(r.entries, kStates) << Ctl("pfsync -vv").output;
  // The data path was saturated throughout: the flood still ran and the data queue overflowed.
  EXPECT_TRUE(r.flood_lasted);
  ASSERT_EQ(r.queues.count(0), 1u);
  ASSERT_EQ(r.queues.count(1), 1u);
  EXPECT_GT(r.queues.at(0).queue_dropped + r.queues.at(0).user_dropped, 0u);
  // The bulk went through the control queue (5 states per packet at MTU 1500), which lost nothing.
  EXPECT_GE(r.queues.at(1).packets, static_cast<unsigned>(kStates / 5));
  EXPECT_EQ(r.queues.at(1).queue_dropped, 0u);
  EXPECT_EQ(r.queues.at(1).user_dropped, 0u);
  EXPECT_TRUE(Contains(r.pfsync, "\tnfqueue: control queue 1 (CARP, pfsync): ")) << r.pfsync;
  EXPECT_TRUE(Contains(r.pfsync, "\tnfqueue: data queue 0: ")) << r.pfsync;
}

// The same without the control queue: the bulk shares the overflowing data
// queue. Disabled (it shows the problem rather than guarding a behaviour, and
// how much is lost depends on the machine); run with
// --gtest_also_run_disabled_tests to see the figure.
TEST_F(PfsyncFloodNetns, DISABLED_WithoutTheControlQueueTheFloodCostsStates) {
  const BulkUnderFlood r = Run("control-queue-maxlen 0\n");
  EXPECT_EQ(r.queues.count(1), 0u);
  EXPECT_LT(r.entries, kStates);
}
// Likewise with the data queue at its default depth.
TEST_F(PfsyncFloodNetns, DISABLED_WithoutTheControlQueueTheFloodCostsStatesAtTheDefaultDepth) {
  const BulkUnderFlood r = Run("control-queue-maxlen 0\nqueue-maxlen 4096\n");
  EXPECT_EQ(r.queues.count(1), 0u);
  EXPECT_LT(r.entries, kStates);
}
TEST_F(PfsyncFloodNetns, DISABLED_ControlQueueAtTheDefaultDataDepth) {
  const BulkUnderFlood r = Run("queue-maxlen 4096\n");
  EXPECT_GE(r.entries, kStates);
}

// The control queue's depth and socket buffer: hapfd is stopped (SIGSTOP)
// while the peer sends it a whole 100 000-state bulk (20 002 packets), so
// every packet waits in the kernel at once; after SIGCONT the control worker
// drains them. Prints what waited and what the kernel and pfsync dropped.
TEST_F(PfsyncFloodNetns, DISABLED_ControlQueueHoldsAWholeBulkWhileHapfdIsStopped) {
  Write("etc/hapfd.conf", "control-socket " + socket_ + "\nqueues 1\npflog-file " + dir_ + "/pflog.pcap\n");
  auto peer = StartPeer({"--seconds", "90", "--limit", "200000", "--create", std::to_string(kStates)});
  usleep(1500 * 1000);
  Write("etc/hostname.pfsync0", "syncdev fw1\nup\n");
  StartHapfd("set skip on lo\nset limit states 200000\npass quick on fw1 proto pfsync keep state (no-sync)\n");
  for (int i = 0; i < 100 && Entries() < kStates; ++i) usleep(100 * 1000);
  ASSERT_GE(Entries(), kStates);
  auto received = [&] {
    const std::string st = Ctl("pfsync stats").output;
    const size_t at = st.find(" packets received (IPv4)");
    const size_t tab = st.rfind('\t', at);
    return at == std::string::npos || tab == std::string::npos ? -1LL : std::atoll(st.c_str() + tab + 1);
  };
  const long long before = received();
  const unsigned queued_before = KernelQueues(*topo_)[1].packets;
  RunResult bulk;
  for (int i = 0; i < 50; ++i) {  // once the start-up bulk update has ended
    bulk = Ctl("pfsync bulk");
    if (bulk.status == 0) break;
    usleep(100 * 1000);
  }
  ASSERT_EQ(bulk.status, 0) << bulk.output;
  fw_->Signal(SIGSTOP);
  usleep(2000 * 1000);
  const std::map<unsigned, KernelQueue> stopped = KernelQueues(*topo_);
  // The largest receive queue among netfilter netlink sockets (protocol 12): the control queue's socket.
  const std::string rmem =
      topo_->Exec("fw", "awk '$2 == 12 && $5 > m { m = $5 } END { print m + 0 }' /proc/net/netlink").output;
  fw_->Signal(SIGCONT);
  usleep(3000 * 1000);
  const std::map<unsigned, KernelQueue> after = KernelQueues(*topo_);
  const long long got = received() - before;
  std::printf("[ measure ] hapfd stopped 2 s during a %d-state bulk: control queue waiting %u, dropped %u (full) "
              "%u (socket), its socket's receive queue %lld bytes; %u packets queued, pfsync received %lld\n",
              kStates, stopped.at(1).waiting, stopped.at(1).queue_dropped, stopped.at(1).user_dropped,
              std::atoll(rmem.c_str()), after.at(1).packets - queued_before, got);
  EXPECT_EQ(after.at(1).queue_dropped + after.at(1).user_dropped, 0u);
  peer->Signal(SIGTERM);
  peer->Wait(5);
}

// CARP (IPv4 and IPv6) and pfsync reach the control queue, and pf still
// judges them there: `block all` without a pass rule for them blocks them
// (logged, no state imported); a reload that passes pfsync lets the bulk in.
TEST_F(DaemonNetns, CarpAndPfsyncCrossTheControlQueueAndPfStillBlocksThem) {
  Write("etc/hapfd.conf", "control-socket " + socket_ + "\nqueues 2\npflog-file " + dir_ + "/pflog.pcap\n" +
                              "http-listen 127.0.0.1:9138\n");
  // Neighbour discovery passes, so that the IPv6 adverts can be sent at all.
  StartHapfd("set skip on lo\nblock log all\npass quick inet6 proto icmp6\n");
  // Queues 0-1 are data, 2 is control.
  const std::map<unsigned, KernelQueue> before = KernelQueues(*topo_);
  ASSERT_EQ(before.count(2), 1u) << Describe(before);
  const char* kCarp =
      "import socket\n"
      "advert = bytes([0x21, 1, 0, 1, 1, 1]) + bytes(30)\n"
      "s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)\n"
      "for _ in range(3): s.sendto(advert, ('198.51.100.1', 0))\n"
      "s6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)\n"
      "for _ in range(2): s6.sendto(advert, ('2001:db8:2::1', 0))\n";
  Write("carp.py", kCarp);
  RunResult sent = topo_->Exec("srv", "/usr/bin/python3 " + dir_ + "/carp.py");
  ASSERT_EQ(sent.status, 0) << sent.output;
  usleep(300 * 1000);
  const std::map<unsigned, KernelQueue> after = KernelQueues(*topo_);
  // Exactly the five adverts crossed the control queue (prerouting only: they are for this host).
  EXPECT_EQ(after.at(2).packets - before.at(2).packets, 5u) << Describe(before) << Describe(after);
  // pf blocked and logged them: 3 IPv4 and 2 IPv6 adverts, block in on fw1.
  for (int i = 0; i < 50 && !Contains(Ctl("pflog").output, "records written 5"); ++i) usleep(100 * 1000);
  const std::string log = netns::Run("tcpdump -n -e -r " + dir_ + "/pflog.pcap 2>&1").output;
  size_t v4 = 0, v6 = 0;
  for (size_t at = 0; (at = log.find("block in on fw1: 198.51.100.2 > 198.51.100.1", at)) != std::string::npos; ++at) ++v4;
  for (size_t at = 0; (at = log.find("block in on fw1: 2001:db8:2::2 > 2001:db8:2::1", at)) != std::string::npos; ++at) ++v6;
  EXPECT_EQ(v4, 3u) << log;
  EXPECT_EQ(v6, 2u) << log;
  // /metrics shows the control queue apart.
  const std::string metrics = topo_->Exec("fw", "curl -s http://127.0.0.1:9138/metrics").output;
  EXPECT_TRUE(Contains(metrics, "hapf_nfqueue_packets_total{queue=\"2\",role=\"control\"} 5\n")) << metrics;
  EXPECT_TRUE(Contains(metrics, "hapf_nfqueue_kernel_dropped_total{queue=\"2\",role=\"control\",reason=\"queue_full\"} 0\n"))
      << metrics;
}

// Only pfsync arriving on the syncdev takes the control queue: forged pfsync
// from the client's network waits in the data queues with everything else
// (so a flood of it cannot crowd out CARP), and pf still blocks it there.
TEST_F(DaemonNetns, PfsyncTakesTheControlQueueOnlyFromTheSyncdev) {
  Write("etc/hostname.pfsync0", "syncdev fw1\nup\n");
  StartHapfd("set skip on lo\nblock log all\n");
  const char* kPfsync =
      "import socket, sys\n"
      "s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 240)\n"
      "for _ in range(3): s.sendto(bytes([6, 0, 0, 12]) + bytes(8), (sys.argv[1], 0))\n";
  Write("pfsync.py", kPfsync);
  const std::map<unsigned, KernelQueue> before = KernelQueues(*topo_);
  ASSERT_EQ(before.count(2), 1u) << Describe(before);
  ASSERT_EQ(topo_->Exec("cli", "/usr/bin/python3 " + dir_ + "/pfsync.py 192.0.2.1").status, 0);
  usleep(300 * 1000);
  const std::map<unsigned, KernelQueue> from_client = KernelQueues(*topo_);
  EXPECT_EQ(from_client.at(2).packets, before.at(2).packets) << Describe(before) << Describe(from_client);
  EXPECT_GE(from_client.at(0).packets + from_client.at(1).packets - before.at(0).packets - before.at(1).packets, 3u)
      << Describe(before) << Describe(from_client);
  ASSERT_EQ(topo_->Exec("srv", "/usr/bin/python3 " + dir_ + "/pfsync.py 198.51.100.1").status, 0);
  usleep(300 * 1000);
  const std::map<unsigned, KernelQueue> from_syncdev = KernelQueues(*topo_);
  EXPECT_EQ(from_syncdev.at(2).packets - from_client.at(2).packets, 3u) << Describe(from_syncdev);
  // pf blocked all six (block log all): pfsync's counters saw none of them.
  EXPECT_TRUE(Contains(Ctl("pfsync stats").output, "\t0 packets received (IPv4)")) << Ctl("pfsync stats").output;
}

TEST_F(DaemonNetns, PfsyncBlockedByPfInTheControlQueueUntilAPassRule) {
  auto peer = StartPeer({"--create", "50", "--seconds", "60"});
  usleep(500 * 1000);
  Write("etc/hostname.pfsync0", "syncdev fw1\nup\n");
  StartHapfd("set skip on lo\nblock all\n");
  // The peer answers hapfd's bulk request (its own packets leave unqueued), but pf blocks the answer.
  std::map<unsigned, KernelQueue> q;
  for (int i = 0; i < 50; ++i) {
    q = KernelQueues(*topo_);
    if (q.count(2) && q.at(2).packets >= 5) break;
    usleep(100 * 1000);
  }
  ASSERT_EQ(q.count(2), 1u) << Describe(q);
  EXPECT_GE(q.at(2).packets, 5u) << Describe(q) << ReadFile(dir_ + "/peer.log");
  EXPECT_EQ(Entries(), 0) << Ctl("-ss").output;
  EXPECT_TRUE(Contains(Ctl("pfsync stats").output, "\t0 packets received (IPv4)")) << Ctl("pfsync stats").output;
  // Passing pfsync on the sync interface lets the next (retried) bulk request's answer in.
  Write("etc/pf.conf", "set skip on lo\nblock all\npass quick on fw1 proto pfsync keep state (no-sync)\n");
  RunResult reload = Ctl("-f " + dir_ + "/etc/pf.conf");
  ASSERT_EQ(reload.status, 0) << reload.output;
  for (int i = 0; i < 300 && Entries() < 50; ++i) {
    if (i % 20 == 0) Ctl("pfsync bulk");  // refused while hapfd's own request is pending; fine
    usleep(100 * 1000);
  }
  EXPECT_GE(Entries(), 50) << Ctl("pfsync -vv").output;
  peer->Signal(SIGTERM);
  peer->Wait(5);
}

// The SYN of a new connection as the firewall's capture saw it: when it came
// in on fw0, when it left on fw1, and whether a pfsync packet from the peer
// (198.51.100.2, the INS_ACK) arrived in between.
struct SynPassage {
  double in = -1, out = -1;
  bool peer_packet_between = false;
};
SynPassage ParseSynPassage(const std::string& capture) {
  SynPassage p;
  std::istringstream lines(capture);
  std::string line;
  while (std::getline(lines, line)) {
    double t = 0;
    if (std::sscanf(line.c_str(), "%lf", &t) != 1) continue;
    const bool syn = Contains(line, "Flags [S],");
    if (syn && p.in < 0 && Contains(line, " fw0 ")) p.in = t;
    else if (syn && p.in >= 0 && p.out < 0 && Contains(line, " fw1 ")) p.out = t;
    else if (p.in >= 0 && p.out < 0 && Contains(line, "198.51.100.2 > 224.0.0.240")) p.peer_packet_between = true;
  }
  return p;
}

// pfsync `defer`: the SYN that creates the states waits in its queue until
// the peer acknowledged the inserts (INS_ACK), or 20 ms per state without a
// peer. The split layout judges a forwarded SYN twice (in on fw0, out on
// fw1), and each crossing creates a state, so it is held twice.
TEST_F(DaemonNetns, DeferHoldsTheFirstPacketUntilThePeerAcksOrTheTimeout) {
  Write("etc/hostname.pfsync0", "syncdev fw1 defer\nup\n");
  StartHapfd(kSeedPfConf + std::string("pass quick on fw1 proto pfsync keep state (no-sync)\n"));
  EXPECT_TRUE(Contains(Ctl("pfsync").output, "defer: on")) << Ctl("pfsync").output;
  auto passage = [&](const std::string& name) {
    Process capture({"ip", "netns", "exec", topo_->Ns("fw"), "timeout", "8", "tcpdump", "-i", "any", "-n", "-tt", "-l",
                     "(tcp port 22 and tcp[13] & 2 != 0) or ip proto 240"},
                    dir_ + "/" + name);
    for (int i = 0; i < 100 && !Contains(ReadFile(dir_ + "/" + name), "listening on"); ++i) usleep(50 * 1000);
    usleep(200 * 1000);
    EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 2"), "open");
    usleep(300 * 1000);
    capture.Signal(SIGINT);
    capture.Wait(5);
    return ParseSynPassage(ReadFile(dir_ + "/" + name));
  };

  // No peer: each hold ends at the sync engine's 20 ms timeout.
  SynPassage alone = passage("alone.cap");
  ASSERT_GE(alone.in, 0) << ReadFile(dir_ + "/alone.cap");
  ASSERT_GE(alone.out, 0) << ReadFile(dir_ + "/alone.cap");
  EXPECT_GE(alone.out - alone.in, 0.039) << ReadFile(dir_ + "/alone.cap");
  EXPECT_LT(alone.out - alone.in, 0.5) << ReadFile(dir_ + "/alone.cap");
  EXPECT_FALSE(alone.peer_packet_between) << ReadFile(dir_ + "/alone.cap");

  // A peer on the sync link acknowledges the inserts: the SYN leaves after the
  // INS_ACK came in, well before the timeouts.
  Process peer({"ip", "netns", "exec", topo_->Ns("srv"), PFSYNC_NODE_PROG, "--dev", "srv0", "--hostid", "2",
                "--seconds", "30"},
               dir_ + "/peer.log");
  usleep(500 * 1000);
  SynPassage acked = passage("acked.cap");
  ASSERT_GE(acked.in, 0) << ReadFile(dir_ + "/acked.cap");
  ASSERT_GE(acked.out, 0) << ReadFile(dir_ + "/acked.cap");
  EXPECT_TRUE(acked.peer_packet_between) << ReadFile(dir_ + "/acked.cap");
  EXPECT_LT(acked.out - acked.in, 0.039) << ReadFile(dir_ + "/acked.cap");
  std::printf("[ measure ] forwarded SYN held %.1f ms without a peer, %.1f ms with the peer acking\n",
              (alone.out - alone.in) * 1000, (acked.out - acked.in) * 1000);

  // A held packet that nat-to rewrote leaves with its rewritten bytes: the
  // server has no route back to the client, so only a translated SYN gets an
  // answer.
  topo_->Exec("srv", "ip route del default");
  Write("nat.conf", kSeedPfConf + std::string("pass quick on fw1 proto pfsync keep state (no-sync)\n"
                                              "match out on fw1 inet proto tcp to port 22 nat-to 198.51.100.1\n"));
  RunResult nat = Ctl("-f " + dir_ + "/nat.conf");
  ASSERT_EQ(nat.status, 0) << nat.output;
  // Within 0.8 s: before the client's first SYN retransmission (1 s), which
  // would match the states and pass unheld.
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 0.8"), "open");
  EXPECT_TRUE(Contains(Ctl("-ss").output, "all tcp 198.51.100.1:")) << Ctl("-ss").output;
  peer.Signal(SIGTERM);
  peer.Wait(5);
}

}  // namespace
}  // namespace hapf::netns

namespace hapf::netns {
namespace {

// The pflog file of `log` rules, read by real tcpdump and by hapfctl log.
class PflogNetns : public DaemonNetns {
 protected:
  std::string Tag() const override { return "o4"; }
  std::string Pflog() const { return dir_ + "/pflog.pcap"; }
  // tcpdump's packet lines (stdout); its exit status must be 0.
  std::vector<std::string> Tcpdump(const std::string& file, std::string& all) {
    RunResult r = netns::Run("tcpdump -n -e -ttt -r " + file + " 2>" + dir_ + "/tcpdump.err");
    all = r.output + ReadFile(dir_ + "/tcpdump.err");
    EXPECT_EQ(r.status, 0) << all;
    return Lines(r.output);
  }
  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line.rfind("reading from", 0) != 0) lines.push_back(line);
    return lines;
  }
  // A line without its -ttt delta (the first field), which differs between a
  // file read alone and the same records read as one stream.
  static std::string WithoutDelta(const std::string& line) {
    size_t p = line.find_first_not_of(' ');
    p = line.find(' ', p);
    return p == std::string::npos ? line : line.substr(p);
  }
  // Polls `hapfctl pflog` until `records written N` shows at least `n`.
  uint64_t WaitForRecords(uint64_t n) {
    uint64_t have = 0;
    for (int i = 0; i < 100; ++i) {
      std::string out = Ctl("pflog").output;
      size_t p = out.find("records written ");
      have = p == std::string::npos ? 0 : std::strtoull(out.c_str() + p + 16, nullptr, 10);
      if (have >= n) break;
      usleep(50 * 1000);
    }
    return have;
  }
};

TEST_F(PflogNetns, BlockLogAndPassLogRulesShowInTcpdumpAndHapfctlLog) {
  Write("etc/hapfd.conf", "control-socket " + socket_ + "\nqueues 2\npflog-file " + Pflog() +
                              "\nhttp-listen 127.0.0.1:9137\n");
  StartHapfd(R"(set skip on lo
block all
block in log on fw0 proto tcp to port 80
pass in log on fw0 proto tcp to 198.51.100.2 port 22
pass out on fw1 proto tcp to 198.51.100.2 port 22
)");
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 2"), "open");
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 80 --timeout 1"), "timeout");
  ASSERT_GE(WaitForRecords(2), 2u) << Ctl("pflog").output;

  // hapfctl log first: the file only grows (a retransmitted SYN to 80 may come later).
  RunResult log = Ctl("log 2>/dev/null");
  ASSERT_EQ(log.status, 0) << log.output;
  std::string all;
  std::vector<std::string> lines = Tcpdump(Pflog(), all);
  SCOPED_TRACE(all);
  ASSERT_GE(lines.size(), 2u);
  // Only the state-creating SYN of the passed connection (pf's `log` without `all`).
  int pass22 = 0, block80 = 0;
  for (const std::string& l : lines) {
    if (Contains(l, "rule 2/0(match): pass in on fw0: 192.0.2.2.") && Contains(l, " > 198.51.100.2.22: Flags [S]"))
      ++pass22;
    if (Contains(l, "rule 1/0(match): block in on fw0: 192.0.2.2.") && Contains(l, " > 198.51.100.2.80: Flags [S]"))
      ++block80;
  }
  EXPECT_EQ(pass22, 1);
  EXPECT_GE(block80, 1);
  EXPECT_EQ(lines.size(), static_cast<size_t>(pass22 + block80));
  EXPECT_TRUE(lines[0].rfind(" 00:00:00.000000 rule ", 0) == 0) << lines[0];  // -ttt: delta to the previous packet
  const std::vector<std::string> via_hapfctl = Lines(log.output);
  ASSERT_GE(via_hapfctl.size(), 2u) << log.output;
  ASSERT_LE(via_hapfctl.size(), lines.size());
  for (size_t i = 0; i < via_hapfctl.size(); ++i) EXPECT_EQ(via_hapfctl[i], lines[i]);

  RunResult st = Ctl("pflog");
  EXPECT_TRUE(Contains(st.output, "file " + Pflog())) << st.output;
  EXPECT_TRUE(Contains(st.output, ", dropped 0,")) << st.output;
  // The counters reach /metrics (the component's numeric Status() fields).
  const uint64_t written = WaitForRecords(0);
  RunResult metrics = topo_->Exec("fw", "curl -s http://127.0.0.1:9137/metrics");
  EXPECT_TRUE(Contains(metrics.output, "# TYPE hapf_pflog_records_written_total counter\n")) << metrics.output;
  EXPECT_TRUE(Contains(metrics.output, "hapf_pflog_records_written_total " + std::to_string(written) + "\n") ||
              Contains(metrics.output, "hapf_pflog_records_written_total " + std::to_string(written + 1) + "\n"))
      << written << "\n" << metrics.output;
  EXPECT_TRUE(Contains(metrics.output, "hapf_pflog_records_dropped_total 0\n")) << metrics.output;

  // Moved away (logrotate) and SIGHUP: the next logged packet starts a new file.
  ASSERT_EQ(rename(Pflog().c_str(), (dir_ + "/moved.pcap").c_str()), 0);
  fw_->Signal(SIGHUP);
  usleep(300 * 1000);
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 80 --timeout 1"), "timeout");
  ASSERT_GE(WaitForRecords(written + 1), written + 1);
  lines = Tcpdump(Pflog(), all);
  ASSERT_GE(lines.size(), 1u) << all;
  EXPECT_TRUE(Contains(lines[0], "rule 1/0(match): block in on fw0: 192.0.2.2.")) << all;
}

TEST_F(PflogNetns, RotationKeepsEveryFileReadableAndHapfctlLogFollowsAcrossIt) {
  // 16 + 100 + 78 bytes per record: ten fit into 2048 with the 24-byte pcap header.
  Write("etc/hapfd.conf", "control-socket " + socket_ + "\nqueues 2\npflog-file " + Pflog() +
                              "\npflog-max-size 2048\npflog-keep 2\n");
  StartHapfd(R"(set skip on lo
block all
block in log on fw0 proto udp to port 9
)");
  Process follow({HAPFCTL, "--socket=" + socket_, "log", "-f"}, dir_ + "/follow.out");
  constexpr int kSent = 35;
  RunResult send = topo_->Exec(
      "cli", "bash -c 'for i in $(seq " + std::to_string(kSent) +
                 "); do printf %050d 0 > /dev/udp/198.51.100.2/9; sleep 0.01; done'");
  ASSERT_EQ(send.status, 0) << send.output;
  ASSERT_EQ(WaitForRecords(kSent), static_cast<uint64_t>(kSent)) << Ctl("pflog").output;

  // 35 records: 1-10 rotated out of keep 2, 11-20 in .1, 21-30 in .0, 31-35 in the file.
  RunResult st = Ctl("pflog");
  EXPECT_TRUE(Contains(st.output, "rotations 3,")) << st.output;
  struct stat sb;
  EXPECT_NE(stat((Pflog() + ".2").c_str(), &sb), 0);
  std::vector<std::string> stream;
  const std::vector<std::pair<std::string, size_t>> files = {{Pflog() + ".1", 10}, {Pflog() + ".0", 10}, {Pflog(), 5}};
  for (const auto& [file, count] : files) {
    SCOPED_TRACE(file);
    ASSERT_EQ(stat(file.c_str(), &sb), 0);
    EXPECT_LE(sb.st_size, 2048);
    std::string all;
    std::vector<std::string> lines = Tcpdump(file, all);
    EXPECT_EQ(lines.size(), count) << all;
    for (const std::string& l : lines) {
      EXPECT_TRUE(Contains(l, "rule 1/0(match): block in on fw0: 192.0.2.2.")) << l;
      EXPECT_TRUE(Contains(l, " > 198.51.100.2.9: UDP, length 50")) << l;
      stream.push_back(WithoutDelta(l));
    }
  }

  // hapfctl log -a: the three files as one capture, oldest first.
  RunResult all_files = Ctl("log -a");
  ASSERT_EQ(all_files.status, 0) << all_files.output;
  std::vector<std::string> joined = Lines(all_files.output);
  ASSERT_EQ(joined.size(), stream.size()) << all_files.output;
  for (size_t i = 0; i < stream.size(); ++i) EXPECT_EQ(WithoutDelta(joined[i]), stream[i]);

  // hapfctl log -f started before the first record: it saw all 35, in order, across three rotations.
  std::vector<std::string> followed;
  for (int i = 0; i < 50; ++i) {
    followed = Lines(ReadFile(dir_ + "/follow.out"));
    if (followed.size() >= static_cast<size_t>(kSent)) break;
    usleep(100 * 1000);
  }
  follow.Signal(SIGTERM);
  follow.Wait(5);
  ASSERT_EQ(followed.size(), static_cast<size_t>(kSent)) << ReadFile(dir_ + "/follow.out");
  for (size_t i = 0; i < stream.size(); ++i) EXPECT_EQ(WithoutDelta(followed[kSent - stream.size() + i]), stream[i]);
}

}  // namespace
}  // namespace hapf::netns
