// pflog records read back by tcpdump: the fields must print as OpenBSD's do.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine_test_util.h"
#include "pf/engine.h"
#include "pf/pflog_file.h"

namespace hapf::pf::engine {
namespace {

using namespace testing;

std::string RunTcpdump(const std::string& path) {
  const std::string cmd = "tcpdump -n -e -ttt -r " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "popen failed";
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int rc = pclose(p);
  if (rc != 0) out += "\n(tcpdump exit " + std::to_string(rc) + ")";
  return out;
}

TEST(EnginePflog, TcpdumpPrintsRuleActionDirectionAndInterface) {
  Engine e;
  const InterfaceId em0 = e.AddInterface("em0");
  const InterfaceId em1 = e.AddInterface("em1");
  Ruleset rs;
  Rule block = BlockRule();
  block.log = 0x01;
  rs.rules.push_back(block);                     // 0
  Rule pass = PassRule();
  pass.log = 0x01;
  pass.proto = kProtoTcp;
  pass.dport = {{PortRange::Op::kEq, 22, 0}};
  rs.rules.push_back(pass);                      // 1
  Rule anchor;
  anchor.action = Action::kMatch;
  anchor.anchor = 0;
  anchor.anchor_name = "ftp";
  rs.rules.push_back(anchor);                    // 2
  Ruleset inner;
  Rule ftp = PassRule();
  ftp.log = 0x01;
  ftp.dport = {{PortRange::Op::kEq, 21, 0}};
  inner.rules.push_back(ftp);
  e.LoadRuleset(rs, {inner});

  const std::string path = std::string(HAPF_BINARY_DIR) + "/engine_pflog_test.pcap";
  PflogFile file;
  ASSERT_TRUE(file.Open(path));
  TimeNs now = 1700000000 * kSec;
  auto feed = [&](Direction d, InterfaceId i, std::vector<uint8_t> p) {
    const std::vector<uint8_t> orig = p;
    Verdict v = e.Test(d, i, p, now);
    if (v.log) {
      ASSERT_TRUE(file.Write(now, v.pflog, orig));
    }
    now += kSec / 2;
  };
  feed(Direction::kIn, em0, Udp("198.51.100.7", "192.0.2.1", 5000, 53));
  feed(Direction::kIn, em0, Tcp("198.51.100.7", "192.0.2.1", 40000, 22, kSyn, 1, 0));
  feed(Direction::kOut, em1, Tcp("192.0.2.9", "198.51.100.7", 40001, 21, kSyn, 1, 0));
  feed(Direction::kIn, em0, Udp("2001:db8::7", "2001:db8::1", 5000, 53));
  file.Close();

  const std::string out = RunTcpdump(path);
  SCOPED_TRACE(out);
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    if (nl > pos && out.compare(pos, 7, "reading") != 0) lines.push_back(out.substr(pos, nl - pos));
    pos = nl + 1;
  }
  // Linux tcpdump prints the reason as "<code>(<name>)" after the slash.
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[0].find("rule 0/0(match): block in on em0: 198.51.100.7.5000 > 192.0.2.1.53"), std::string::npos);
  EXPECT_NE(lines[1].find("rule 1/0(match): pass in on em0: 198.51.100.7.40000 > 192.0.2.1.22"), std::string::npos);
  EXPECT_NE(lines[2].find("rule 2.ftp.0/0(match): pass out on em1: 192.0.2.9.40001 > 198.51.100.7.21"),
            std::string::npos);
  EXPECT_NE(lines[3].find("rule 0/0(match): block in on em0: 2001:db8::7.5000 > 2001:db8::1.53"), std::string::npos);
  // -ttt prints the delta between records.
  EXPECT_NE(lines[1].find("00:00:00.500000"), std::string::npos);
}

TEST(EnginePflog, HeaderLayoutMatchesOpenBsd) {
  PflogFields f;
  f.action = 1;
  f.reason = kResBadState;
  f.dir = 2;
  f.af = net::Family::kV6;
  f.ifname = "vio0";
  f.rulenr = 7;
  f.subrulenr = kNoRule;
  const auto h = EncodePflogHeader(f);
  EXPECT_EQ(h[0], 100);
  EXPECT_EQ(h[1], 24);  // OpenBSD AF_INET6
  EXPECT_EQ(h[2], 1);
  EXPECT_EQ(h[3], kResBadState);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&h[4])), "vio0");
  EXPECT_EQ(h[36], 0);
  EXPECT_EQ(h[39], 7);  // rulenr big-endian
  EXPECT_EQ(h[40], 0xff);
  EXPECT_EQ(h[60], 2);
  const auto fh = PflogPcapFileHeader();
  EXPECT_EQ(fh[20], 117);
}

}  // namespace
}  // namespace hapf::pf::engine
