// The data plane end to end in network namespaces (client — fw — server), with
// nfq_testfw's fixed policy standing in for the filter engine.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "netns/netns_topology.h"

namespace hapf::netns {
namespace {

const std::string kProbe = std::string(HAPF_SOURCE_DIR) + "/tests/netns/netns_probe.py";
constexpr const char* kSrv4 = "198.51.100.2";
constexpr const char* kSrv6 = "2001:db8:2::2";

class DataplaneNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    topo_ = std::make_unique<Topology>(UniquePrefix("dp"));
    ASSERT_TRUE(topo_->ok()) << topo_->error();
    dir_ = "/tmp/" + topo_->Ns("run");
    netns::Run("rm -rf " + dir_);
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
    server_ = std::make_unique<Process>(
        std::vector<std::string>{"ip", "netns", "exec", topo_->Ns("srv"), "/usr/bin/python3", kProbe, "serve",
                                 "--tcp", "22,80,81", "--udp", "7001,9", "--sink", "5001", "--seconds", "90"},
        dir_ + "/server.log");
    for (int i = 0; i < 100 && ReadFile(dir_ + "/server.log").find("serving") == std::string::npos; ++i) {
      usleep(50 * 1000);
    }
    ASSERT_NE(ReadFile(dir_ + "/server.log").find("serving"), std::string::npos) << ReadFile(dir_ + "/server.log");
  }
  void TearDown() override {
    fw_.reset();
    server_.reset();
    topo_.reset();
    netns::Run("rm -rf " + dir_);
  }

  // Starts nfq_testfw in the fw namespace and waits until its table is in.
  void StartFw(std::vector<std::string> args) {
    netns::Run("rm -f " + dir_ + "/ready " + dir_ + "/counts");
    std::vector<std::string> argv = {"ip", "netns", "exec", topo_->Ns("fw"), NFQ_TESTFW,
                                     "--ready", dir_ + "/ready", "--counts", dir_ + "/counts"};
    argv.insert(argv.end(), args.begin(), args.end());
    fw_ = std::make_unique<Process>(argv, dir_ + "/fw.log");
    ASSERT_TRUE(WaitForFile(dir_ + "/ready", 10)) << ReadFile(dir_ + "/fw.log");
  }
  // SIGTERM: the table goes, the counts come; key "in prerouting fw0 1".
  std::map<std::string, uint64_t> StopFw() {
    fw_->Signal(SIGTERM);
    EXPECT_EQ(fw_->Wait(10), 0) << ReadFile(dir_ + "/fw.log");
    std::map<std::string, uint64_t> counts;
    std::istringstream in(ReadFile(dir_ + "/counts"));
    std::string dir, hook, ifname, proto;
    uint64_t n;
    while (in >> dir) {
      if (dir == "#") {
        std::getline(in, dir);
        continue;
      }
      in >> hook >> ifname >> proto >> n;
      counts[dir + " " + hook + " " + ifname + " " + proto] = n;
    }
    return counts;
  }
  std::string Probe(const std::string& role, const std::string& args) {
    RunResult r = topo_->Exec(role, "timeout 10 /usr/bin/python3 " + kProbe + " " + args);
    std::string out = r.output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // True when every echo is answered within `deadline` seconds.
  bool Ping(const std::string& role, const std::string& addr, int count, int deadline = 5) {
    return topo_->Exec(role, "ping -n -q -c " + std::to_string(count) + " -i 0.2 -W 1 -w " +
                                 std::to_string(deadline) + " " + addr)
               .status == 0;
  }

  std::unique_ptr<Topology> topo_;
  std::string dir_;
  std::unique_ptr<Process> server_;
  std::unique_ptr<Process> fw_;
};

TEST_F(DataplaneNetns, BlockPolicyFiltersForwardedTraffic) {
  StartFw({"--mode", "block", "--queues", "2"});
  EXPECT_TRUE(Ping("cli", kSrv4, 2));
  EXPECT_TRUE(Ping("cli", kSrv6, 2));
  for (const char* srv : {kSrv4, kSrv6}) {
    EXPECT_EQ(Probe("cli", std::string("tcp ") + srv + " 22 --timeout 2"), "open") << srv;
    EXPECT_EQ(Probe("cli", std::string("tcp ") + srv + " 80 --timeout 1"), "timeout") << srv;
    // block return: the RST / ICMP the data plane sends through its raw sockets.
    EXPECT_EQ(Probe("cli", std::string("tcp ") + srv + " 81 --timeout 2"), "refused") << srv;
    EXPECT_EQ(Probe("cli", std::string("udp ") + srv + " 9 --timeout 2"), "refused") << srv;
  }
  std::map<std::string, uint64_t> counts = StopFw();
  // TCP to port 80 was seen inbound on fw0 and never left on fw1.
  EXPECT_GT(counts["in prerouting fw0 6"], 0u);
  EXPECT_GT(counts["out forward fw1 6"], 0u);
}

TEST_F(DataplaneNetns, ForwardedPacketsAreSeenOncePerDirection) {
  StartFw({"--mode", "block", "--queues", "2"});
  ASSERT_TRUE(Ping("cli", kSrv4, 5));
  std::map<std::string, uint64_t> counts = StopFw();
  // Echo requests: in on the receiving interface, out on the sending one;
  // replies the other way round; each exactly once.
  EXPECT_EQ(counts["in prerouting fw0 1"], 5u);
  EXPECT_EQ(counts["out forward fw1 1"], 5u);
  EXPECT_EQ(counts["in prerouting fw1 1"], 5u);
  EXPECT_EQ(counts["out forward fw0 1"], 5u);
  EXPECT_EQ(counts.count("out output fw1 1"), 0u);
}

TEST_F(DataplaneNetns, ConntrackIsKeptOutOfTheWay) {
  // A table of someone else's that makes the kernel track connections here.
  ASSERT_EQ(topo_->Exec("fw", "nft add table inet ctuser").status, 0);
  ASSERT_EQ(topo_->Exec("fw", "nft 'add chain inet ctuser f { type filter hook forward priority 10; }'").status, 0);
  ASSERT_EQ(topo_->Exec("fw", "nft add rule inet ctuser f ct state new counter").status, 0);
  StartFw({"--mode", "block"});
  ASSERT_TRUE(Ping("cli", kSrv4, 2));
  ASSERT_TRUE(Ping("cli", "192.0.2.1", 2));
  ASSERT_TRUE(Ping("fw", kSrv4, 2));
  StopFw();
  std::string tracked = topo_->Exec("fw", "cat /proc/net/nf_conntrack").output;
  EXPECT_EQ(tracked.find("icmp"), std::string::npos) << tracked;
  // Without hapf's table the same traffic is tracked: the check above can fail.
  ASSERT_TRUE(Ping("cli", kSrv4, 2));
  tracked = topo_->Exec("fw", "cat /proc/net/nf_conntrack").output;
  EXPECT_NE(tracked.find("dst=198.51.100.2"), std::string::npos) << tracked;
}

TEST_F(DataplaneNetns, LocalTrafficOfTheFirewallIsQueued) {
  StartFw({"--mode", "block"});
  ASSERT_TRUE(Ping("cli", "192.0.2.1", 3));  // local in, local out replies
  ASSERT_TRUE(Ping("fw", kSrv4, 4));         // local out, replies local in
  ASSERT_TRUE(Ping("fw", "127.0.0.1", 2));   // lo is skipped
  std::map<std::string, uint64_t> counts = StopFw();
  EXPECT_EQ(counts["in prerouting fw0 1"], 3u);
  EXPECT_EQ(counts["out output fw0 1"], 3u);
  EXPECT_EQ(counts["out output fw1 1"], 4u);
  EXPECT_EQ(counts["in prerouting fw1 1"], 4u);
  for (const auto& [key, n] : counts) EXPECT_EQ(key.find(" lo "), std::string::npos) << key;
}

TEST_F(DataplaneNetns, KillFailsClosedAndCleanStopRemovesOnlyItsTable) {
  // Objects that are not hapf's: they must survive everything below.
  ASSERT_EQ(topo_->Exec("fw", "nft add table inet keepme").status, 0);
  ASSERT_EQ(topo_->Exec("fw", "iptables -A INPUT -s 203.0.113.7 -j DROP").status, 0);
  StartFw({"--mode", "block", "--queues", "2"});
  EXPECT_TRUE(Ping("cli", kSrv4, 2));
  EXPECT_NE(topo_->Exec("fw", "nft list tables").output.find("table inet hapf"), std::string::npos);

  fw_->Signal(SIGKILL);
  fw_->Wait(5);
  EXPECT_FALSE(Ping("cli", kSrv4, 2, 2));  // no reader: the kernel drops
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 1"), "timeout");
  EXPECT_FALSE(Ping("fw", kSrv4, 1, 2));   // the firewall's own traffic too

  StartFw({"--mode", "block"});  // replaces the stale table
  // A second instance cannot take the queue over and leaves the table alone.
  RunResult second = topo_->Exec("fw", std::string("timeout 10 ") + NFQ_TESTFW);
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.output.find("queue 0: bind"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("another process serves this queue"), std::string::npos) << second.output;
  EXPECT_TRUE(Ping("cli", kSrv4, 2));
  StopFw();
  std::string tables = topo_->Exec("fw", "nft list tables").output;
  EXPECT_EQ(tables.find("hapf"), std::string::npos) << tables;
  EXPECT_NE(tables.find("table inet keepme"), std::string::npos) << tables;
  EXPECT_NE(topo_->Exec("fw", "iptables -S INPUT").output.find("203.0.113.7"), std::string::npos);
  EXPECT_TRUE(Ping("cli", kSrv4, 2));  // no table, plain forwarding
}

TEST_F(DataplaneNetns, RewriteModeReinjectsModifiedPayload) {
  StartFw({"--mode", "rewrite", "--queues", "2"});
  // The server only listens on 7001; the answer proves the rewritten datagram
  // (port and checksum) reached it.
  EXPECT_EQ(Probe("cli", std::string("udp ") + kSrv4 + " 7000 --any-port --timeout 2"), "reply 7001 probe");
  EXPECT_EQ(Probe("cli", std::string("udp ") + kSrv6 + " 7000 --any-port --timeout 2"), "reply 7001 probe");
  std::string counts = (StopFw(), ReadFile(dir_ + "/counts"));
  EXPECT_NE(counts.find("in prerouting fw0 17 2"), std::string::npos) << counts;
}

TEST_F(DataplaneNetns, CarpMacvlanTrafficCountsAsItsCarpdev) {
  StartFw({"--mode", "block"});
  // Created while the data plane runs: its name must come from rtnetlink events.
  ASSERT_EQ(topo_->Exec("fw", "ip link add carp0 link fw1 type macvlan mode bridge").status, 0);
  ASSERT_EQ(topo_->Exec("fw", "ip addr add 198.51.100.50/24 dev carp0").status, 0);
  ASSERT_EQ(topo_->Exec("fw", "ip link set carp0 up").status, 0);
  // The server sends to carp0's MAC (ARP could name fw1's: Linux answers for
  // any local address on any interface).
  std::string mac = topo_->Exec("fw", "cat /sys/class/net/carp0/address").output;
  while (!mac.empty() && mac.back() == '\n') mac.pop_back();
  ASSERT_EQ(topo_->Exec("srv", "ip neigh replace 198.51.100.50 lladdr " + mac + " dev srv0 nud permanent").status, 0);
  ASSERT_TRUE(Ping("srv", "198.51.100.50", 3));
  std::map<std::string, uint64_t> counts = StopFw();
  std::string all;
  for (const auto& [k, n] : counts) all += k + " " + std::to_string(n) + "\n";
  EXPECT_EQ(counts["in prerouting fw1[carp0],carp 1"], 3u) << all;
  EXPECT_EQ(counts.count("in prerouting carp0 1"), 0u);
}

uint64_t GsoCount(const std::string& counts) {
  size_t at = counts.find(" gso ");
  return at == std::string::npos ? 0 : std::stoull(counts.substr(at + 5));
}

TEST_F(DataplaneNetns, GsoSuperPacketsPassWhole) {
  // GRO on the firewall's inbound veth makes forwarded super-packets.
  ASSERT_EQ(topo_->Exec("fw", "ethtool -K fw0 gro on").status, 0);
  StartFw({"--mode", "block", "--queues", "2"});
  EXPECT_EQ(Probe("cli", std::string("bulk ") + kSrv4 + " 5001 4000000"), "4000000");
  StopFw();
  std::string forwarded = ReadFile(dir_ + "/counts");
  EXPECT_GT(GsoCount(forwarded), 0u) << forwarded;
  EXPECT_NE(forwarded.find("overruns 0 errors 0"), std::string::npos) << forwarded;
  // The firewall's own TCP output is GSO before segmentation.
  StartFw({"--mode", "block"});
  EXPECT_EQ(Probe("fw", std::string("bulk ") + kSrv6 + " 5001 4000000"), "4000000");
  StopFw();
  std::string local = ReadFile(dir_ + "/counts");
  EXPECT_GT(GsoCount(local), 0u) << local;
}

TEST_F(DataplaneNetns, OnceLayoutCrossesOncePerForwardedPacket) {
  StartFw({"--mode", "block", "--layout", "once", "--queues", "2"});
  ASSERT_TRUE(Ping("cli", kSrv4, 4));
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 80 --timeout 1"), "timeout");
  EXPECT_EQ(Probe("cli", std::string("tcp ") + kSrv4 + " 22 --timeout 2"), "open");
  std::map<std::string, uint64_t> counts = StopFw();
  EXPECT_EQ(counts["in forward fw0 1"], 4u);
  EXPECT_EQ(counts["out forward fw1 1"], 4u);
  EXPECT_EQ(counts["in forward fw1 1"], 4u);
  EXPECT_EQ(counts["out forward fw0 1"], 4u);
  EXPECT_EQ(counts.count("in prerouting fw0 1"), 0u);
}

}  // namespace
}  // namespace hapf::netns
