// The daemon's pflog writer: batches appended as whole records, rotation at
// the size bound with FILE.0..FILE.(keep-1), every file read by real tcpdump.
#include "linux/pflog_writer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pf/pflog_record.h"

namespace hapf::linux {
namespace {

namespace eng = pf::engine;

// An IPv4/UDP packet 192.0.2.1:sport -> 198.51.100.7:9 with `payload` bytes.
std::vector<uint8_t> Udp(uint16_t sport, size_t payload) {
  std::vector<uint8_t> p(28 + payload, 0);
  const size_t len = p.size();
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(len >> 8);
  p[3] = static_cast<uint8_t>(len);
  p[8] = 64;
  p[9] = 17;
  const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {198, 51, 100, 7};
  std::copy(src, src + 4, &p[12]);
  std::copy(dst, dst + 4, &p[16]);
  p[20] = static_cast<uint8_t>(sport >> 8);
  p[21] = static_cast<uint8_t>(sport);
  p[23] = 9;
  p[24] = static_cast<uint8_t>((8 + payload) >> 8);
  p[25] = static_cast<uint8_t>(8 + payload);
  return p;
}

// One record of rule 3 blocking in on o4-veth0, 244 bytes with a 100-byte payload.
void AddRecord(std::vector<uint8_t>& batch, uint16_t sport, eng::TimeNs ts) {
  eng::PflogFields f;
  f.action = 1;
  f.dir = 1;
  f.ifname = "o4-veth0";
  f.rulenr = 3;
  eng::AppendPflogRecord(batch, ts, eng::EncodePflogHeader(f), Udp(sport, 100));
}
constexpr size_t kRecordBytes = 16 + 100 + 28 + 100;

struct Tcpdump {
  int status = -1;
  std::vector<std::string> lines;  // packet lines only
  std::string all;
};

Tcpdump RunTcpdump(const std::string& path) {
  Tcpdump t;
  FILE* p = popen(("tcpdump -n -e -ttt -r " + path + " 2>&1").c_str(), "r");
  if (p == nullptr) return t;
  char buf[1024];
  while (std::fgets(buf, sizeof buf, p) != nullptr) {
    t.all += buf;
    std::string line(buf);
    if (line.rfind("reading from", 0) != 0) t.lines.push_back(line);
  }
  t.status = pclose(p);
  return t;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}
uint64_t Size(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

class PflogWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(HAPF_BINARY_DIR) + "/o4-pflog-writer-" + std::to_string(getpid());
    std::system(("rm -rf " + dir_).c_str());
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(PflogWriterTest, RotatesAtTheSizeBoundKeepingEveryFileReadable) {
  const std::string path = dir_ + "/pflog.pcap";
  constexpr uint64_t kMax = 2048;  // (2048 - 24) / 244: 8 records per file
  PflogWriter w({path, kMax, 3});
  std::vector<uint8_t> batch;
  eng::TimeNs ts = 1700000000LL * 1000000000;
  for (int b = 0; b < 10; ++b) {  // 40 records in batches of 4
    batch.clear();
    for (int i = 0; i < 4; ++i) AddRecord(batch, static_cast<uint16_t>(1000 + b * 4 + i), ts += 1000000);
    ASSERT_EQ(batch.size(), 4 * kRecordBytes);
    w.Append(batch);
  }
  const PflogWriterStats st = w.stats();
  EXPECT_EQ(st.records_written, 40u);
  EXPECT_EQ(st.records_dropped, 0u);
  EXPECT_EQ(st.rotations, 4u);
  EXPECT_EQ(st.writes, 10u);  // one per batch: with 4-record batches every rotation falls between two
  EXPECT_EQ(st.write_errors, 0u);
  EXPECT_EQ(st.file_bytes, 24 + 8 * kRecordBytes);
  EXPECT_TRUE(st.last_error.empty()) << st.last_error;
  // keep 3: the current file and .0 .1 .2; the oldest eight records are gone.
  EXPECT_FALSE(Exists(path + ".3"));
  const std::vector<std::string> files = {path + ".2", path + ".1", path + ".0", path};
  int first = 1008;
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    EXPECT_LE(Size(f), kMax);
    EXPECT_EQ(Size(f), 24 + 8 * kRecordBytes);
    Tcpdump t = RunTcpdump(f);
    ASSERT_EQ(t.status, 0) << t.all;
    ASSERT_EQ(t.lines.size(), 8u) << t.all;
    EXPECT_NE(t.lines[0].find("rule 3/0(match): block in on o4-veth0: 192.0.2.1." + std::to_string(first) +
                              " > 198.51.100.7.9: UDP, length 100"),
              std::string::npos)
        << t.all;
    EXPECT_NE(t.lines[1].find("00:00:00.001000"), std::string::npos) << t.all;
    first += 8;
  }
}

TEST_F(PflogWriterTest, ContinuesAnExistingPflogFileAndSetsOtherFilesAside) {
  const std::string path = dir_ + "/pflog.pcap";
  std::vector<uint8_t> batch;
  AddRecord(batch, 2000, 1700000000LL * 1000000000);
  {
    PflogWriter w({path, 1 << 20, 2});
    w.Append(batch);
  }
  {
    PflogWriter w({path, 1 << 20, 2});
    w.Append(batch);
    EXPECT_EQ(w.stats().rotations, 0u);
  }
  Tcpdump t = RunTcpdump(path);
  ASSERT_EQ(t.status, 0) << t.all;
  EXPECT_EQ(t.lines.size(), 2u) << t.all;

  // Not a pflog capture: kept as FILE.bad, a new capture starts; the rotated files stay as they are.
  std::ofstream(path, std::ios::trunc) << "not a pcap file at all, surely not\n";
  PflogWriter w({path, 1 << 20, 2});
  w.Append(batch);
  EXPECT_EQ(w.stats().rotations, 0u);
  EXPECT_FALSE(Exists(path + ".0"));
  std::stringstream aside;
  aside << std::ifstream(path + ".bad").rdbuf();
  EXPECT_EQ(aside.str(), "not a pcap file at all, surely not\n");
  t = RunTcpdump(path);
  ASSERT_EQ(t.status, 0) << t.all;
  EXPECT_EQ(t.lines.size(), 1u) << t.all;
}

TEST_F(PflogWriterTest, KeepZeroRestartsTheFileAndARecordLargerThanTheBoundStillFits) {
  const std::string path = dir_ + "/pflog.pcap";
  PflogWriter w({path, 1024, 0});
  std::vector<uint8_t> batch;
  for (int i = 0; i < 6; ++i) AddRecord(batch, static_cast<uint16_t>(3000 + i), 1700000000LL * 1000000000);
  w.Append(batch);  // 4 per file: the second file holds 3004 and 3005
  EXPECT_EQ(w.stats().rotations, 1u);
  EXPECT_FALSE(Exists(path + ".0"));
  Tcpdump t = RunTcpdump(path);
  ASSERT_EQ(t.status, 0) << t.all;
  ASSERT_EQ(t.lines.size(), 2u) << t.all;
  EXPECT_NE(t.lines[0].find("192.0.2.1.3004 >"), std::string::npos) << t.all;

  batch.clear();
  eng::PflogFields f;
  f.ifname = "o4-veth0";
  eng::AppendPflogRecord(batch, 1700000000LL * 1000000000, eng::EncodePflogHeader(f), Udp(3100, 1400));
  w.Append(batch);
  EXPECT_EQ(w.stats().rotations, 2u);
  EXPECT_EQ(w.stats().records_written, 7u);
  t = RunTcpdump(path);
  ASSERT_EQ(t.status, 0) << t.all;
  ASSERT_EQ(t.lines.size(), 1u) << t.all;
  EXPECT_NE(t.lines[0].find("UDP, length 1400"), std::string::npos) << t.all;
}

TEST_F(PflogWriterTest, AWriteThatFailsHalfwayLeavesOnlyWholeRecords) {
  const std::string path = dir_ + "/pflog.pcap";
  PflogWriter w({path, 1 << 20, 2});
  std::vector<uint8_t> batch;
  AddRecord(batch, 5000, 1700000000LL * 1000000000);
  w.Append(batch);
  // The file size limit stops the next batch in its second record (EFBIG after a short write).
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit lim = old;
  lim.rlim_cur = 24 + kRecordBytes + 300;
  auto* old_handler = signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  batch.clear();
  AddRecord(batch, 5001, 1700000000LL * 1000000000);
  AddRecord(batch, 5002, 1700000000LL * 1000000000);
  w.Append(batch);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  const PflogWriterStats st = w.stats();
  EXPECT_EQ(st.records_written, 1u);
  EXPECT_EQ(st.records_dropped, 2u);
  EXPECT_EQ(st.write_errors, 1u);
  EXPECT_NE(st.last_error.find("File too large"), std::string::npos) << st.last_error;
  EXPECT_EQ(Size(path), 24 + kRecordBytes);
  Tcpdump t = RunTcpdump(path);
  ASSERT_EQ(t.status, 0) << t.all;
  ASSERT_EQ(t.lines.size(), 1u) << t.all;
  EXPECT_NE(t.lines[0].find("192.0.2.1.5000 >"), std::string::npos) << t.all;
}

TEST_F(PflogWriterTest, AFileThatCannotBeOpenedCountsDroppedRecords) {
  PflogWriter w({dir_ + "/missing/deeper/pflog.pcap", 1 << 20, 2});
  std::vector<uint8_t> batch;
  for (int i = 0; i < 3; ++i) AddRecord(batch, static_cast<uint16_t>(4000 + i), 1700000000LL * 1000000000);
  w.Append(batch);
  w.Append(batch);  // within the retry pause: dropped without a try
  const PflogWriterStats st = w.stats();
  EXPECT_EQ(st.records_written, 0u);
  EXPECT_EQ(st.records_dropped, 6u);
  EXPECT_EQ(st.write_errors, 1u);
  EXPECT_NE(st.last_error.find("No such file or directory"), std::string::npos) << st.last_error;
}

}  // namespace
}  // namespace hapf::linux
