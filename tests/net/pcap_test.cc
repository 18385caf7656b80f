#include "net/pcap.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hapf::net {
namespace {

std::string TempPath(const char* name) {
  return (std::filesystem::temp_directory_path() / ("hapf-pcap-" + std::to_string(getpid()) + "-" + name)).string();
}

TEST(PcapTest, RoundTripKeepsLinkTypeTimestampsAndLengths) {
  const std::string path = TempPath("pflog.pcap");
  const std::vector<uint8_t> a = {1, 2, 3, 4, 5}, b(300, 0xab);
  {
    std::string error;
    auto w = PcapWriter::Open(path, kDltPflog, &error, 256);
    ASSERT_TRUE(w) << error;
    w->Write(a, 1700000000123456u);
    w->Write(b, 1700000001000001u);  // longer than the snap length: cut, orig_len kept
    w->Write(a, 5, 1500);            // a capture that was already cut
    EXPECT_TRUE(w->Flush());
  }
  int dlt = 0;
  std::string error;
  auto recs = ReadPcapFile(path, &dlt, &error);
  ASSERT_TRUE(recs) << error;
  EXPECT_EQ(dlt, kDltPflog);
  EXPECT_EQ(LinkTypeOfDlt(dlt), std::nullopt);
  ASSERT_EQ(recs->size(), 3u);
  EXPECT_EQ((*recs)[0].data, a);
  EXPECT_EQ((*recs)[0].ts_usec, 1700000000123456u);
  EXPECT_EQ((*recs)[0].orig_len, 5u);
  EXPECT_EQ((*recs)[1].data, std::vector<uint8_t>(b.begin(), b.begin() + 256));
  EXPECT_EQ((*recs)[1].orig_len, 300u);
  EXPECT_EQ((*recs)[1].ts_usec, 1700000001000001u);
  EXPECT_EQ((*recs)[2].orig_len, 1500u);
  std::filesystem::remove(path);
}

TEST(PcapTest, RawIpAndEthernetMapToParseStarts) {
  EXPECT_EQ(LinkTypeOfDlt(kDltEthernet), LinkType::kEthernet);
  EXPECT_EQ(LinkTypeOfDlt(kDltRaw), LinkType::kRawIp);
  EXPECT_EQ(LinkTypeOfDlt(kDltIpv4), LinkType::kRawIp);
  EXPECT_EQ(LinkTypeOfDlt(kDltIpv6), LinkType::kRawIp);
  const std::string path = TempPath("raw.pcap");
  {
    auto w = PcapWriter::Open(path, kDltRaw, nullptr);
    ASSERT_TRUE(w);
  }
  int dlt = 0;
  auto recs = ReadPcapFile(path, &dlt, nullptr);
  ASSERT_TRUE(recs);
  EXPECT_TRUE(recs->empty());
  EXPECT_EQ(dlt, kDltRaw);
  std::filesystem::remove(path);
}

TEST(PcapTest, MissingOrGarbageFileIsAnError) {
  std::string error;
  EXPECT_FALSE(PcapReader::Open("/nonexistent/hapf.pcap", &error));
  EXPECT_FALSE(error.empty());
  const std::string path = TempPath("garbage.pcap");
  std::ofstream(path) << "this is not a capture file at all";
  error.clear();
  EXPECT_FALSE(ReadPcapFile(path, nullptr, &error));
  EXPECT_FALSE(error.empty());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace hapf::net
