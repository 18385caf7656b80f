// `hapfctl pfsync dump` on files: the text of the shared vectors is the
// oracle's (OpenBSD tcpdump's), and bad usage is refused.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "linux/pfsync_dump.h"

namespace {

struct DumpRun {
  int rc = 0;
  std::string out, err;
};

DumpRun Dump(const std::vector<std::string>& args) {
  DumpRun r;
  r.rc = hapf::linux::PfsyncDumpMain(args, [&](std::string_view t) { r.out += t; }, r.err);
  return r;
}

std::string Vector(const std::string& name) { return std::string(PFSYNC_SHARED) + "/vectors/" + name; }

// The oracle's text without its own lines (command, file header, findings).
std::string OracleText(const std::string& name) {
  std::ifstream f(Vector(name));
  std::string line, out;
  while (std::getline(f, line)) {
    if (line.starts_with("#") || line.find("!! ") != std::string::npos) continue;
    out += line + "\n";
  }
  return out;
}

TEST(PfsyncDump, FileTextMatchesTheOracle) {
  for (const char* v : {"pfsync_ins_tcp", "pfsync_bulk_request", "pfsync_bulk_transfer"}) {
    const DumpRun r = Dump({"-vv", Vector(std::string(v) + ".pcap")});
    ASSERT_EQ(r.rc, 0) << r.err;
    const std::string want = OracleText(std::string(v) + ".oracle.txt");
    ASSERT_FALSE(want.empty()) << v;
    EXPECT_EQ(r.out, want) << v;
  }
}

TEST(PfsyncDump, UsageAndReadErrors) {
  EXPECT_EQ(Dump({}).rc, 2);
  EXPECT_EQ(Dump({"-i", "lo", "x.pcap"}).rc, 2);
  EXPECT_EQ(Dump({"-c", "3x", "-i", "lo"}).rc, 2);
  EXPECT_EQ(Dump({"-q", "x.pcap"}).rc, 2);
  const DumpRun missing = Dump({"/nonexistent/x.pcap"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("/nonexistent/x.pcap"), std::string::npos);
  // Without -v only the source and the region lines.
  const DumpRun quiet = Dump({Vector("pfsync_ins_tcp.pcap")});
  ASSERT_EQ(quiet.rc, 0);
  EXPECT_NE(quiet.out.find("192.0.2.1: PFSYNCv6 len 288"), std::string::npos) << quiet.out;
}

}  // namespace
