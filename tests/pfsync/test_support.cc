#include "pfsync/test_support.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "run_command.h"

namespace hapf::pfsync::testing {

std::string VectorPath(const std::string& name) { return std::string(PFSYNC_SHARED_DIR) + "/vectors/" + name; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<PcapFrame> ReadVector(const std::string& pcap_name) {
  std::vector<PcapFrame> frames;
  std::string error;
  EXPECT_TRUE(ReadPcapIpv4(VectorPath(pcap_name), frames, &error)) << error;
  return frames;
}

std::string TempPath(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string tag = info ? std::string(info->test_suite_name()) + "." + info->name() : "none";
  return std::string(HAPF_BINARY_DIR) + "/pfsync-test-" + tag + "-" + name;
}

static WirePeer Peer(uint32_t seqlo, uint32_t seqhi, uint16_t max_win) {
  WirePeer p;
  p.seqlo = seqlo;
  p.seqhi = seqhi;
  p.max_win = max_win;
  p.mss = 1460;
  p.state = kTcpEstablished;
  p.wscale = 0x87;
  return p;
}

WireState VectorState(int n) {
  WireState s;
  s.id = VectorId(n);
  s.ifname = IfName::From("em0");
  WireKey k;
  k.addr = {*net::IpAddr::Parse("198.51.100.20"), *net::IpAddr::Parse("10.0.0.5")};
  k.port = {443, static_cast<uint16_t>(51230 + n)};
  k.af = WireAf::kInet;
  s.key = {k, k};
  s.src = Peer(0x11223344, 0x55667788, 502);
  s.dst = Peer(0x99aabbcc, 0xddeeff00, 65160);
  s.rt_addr = net::IpAddr::V4(0);
  s.rule = 3;
  s.anchor = 0xffffffff;
  s.nat_rule = 0xffffffff;
  s.creation = 5;
  s.expire = 86395;
  s.packets = {12, 10};
  s.bytes = {4242, 9001};
  s.creatorid = kCreator;
  s.af = WireAf::kInet;
  s.proto = 6;
  s.direction = Direction::kOut;
  s.timeout = kTmTcpEstablished;
  return s;
}

WireUpdC VectorUpdC(int n) {
  WireState s = VectorState(n);
  WireUpdC u;
  u.id = s.id;
  u.src = s.src;
  u.dst = s.dst;
  u.creatorid = s.creatorid;
  u.timeout = kTmTcpEstablished;
  return u;
}

OracleRun RunOracle(const std::string& args) {
  OracleRun r;
  int wait_status = -1;
  r.out = hapf::testing::RunShell(std::string(PFSYNC_ORACLE) + " " + args + " 2>/dev/null", &wait_status);
  r.status = hapf::testing::ExitCode(wait_status);
  return r;
}

std::string OracleText(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("#", 0) == 0 || line.rfind("    !! ", 0) == 0) continue;
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace hapf::pfsync::testing
