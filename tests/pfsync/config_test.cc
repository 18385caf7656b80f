#include "pfsync/config.h"

#include <gtest/gtest.h>

namespace hapf::pfsync {
namespace {

TEST(PfsyncConfig, AppliesOpenBsdIfconfigArguments) {
  PfsyncConfig c;
  std::string error;
  ASSERT_TRUE(ApplyIfconfig("syncdev em2 syncpeer 192.0.2.2 maxupd 64 defer up", c, &error)) << error;
  EXPECT_EQ(c.syncdev, "em2");
  EXPECT_EQ(c.syncpeer->ToString(), "192.0.2.2");
  EXPECT_EQ(c.maxupd, 64);
  EXPECT_TRUE(c.defer);
  EXPECT_TRUE(c.up);
  EXPECT_EQ(StatusLine(c), "\tpfsync: syncdev: em2 syncpeer: 192.0.2.2 maxupd: 64 defer: on");
  ASSERT_TRUE(ApplyIfconfig("-syncpeer -defer", c, &error));
  EXPECT_EQ(StatusLine(c), "\tpfsync: syncdev: em2 maxupd: 64 defer: off");
  ASSERT_TRUE(ApplyIfconfig("defer off syncauth s3cret", c, &error));
  EXPECT_FALSE(c.defer);
  EXPECT_EQ(StatusLine(c), "\tpfsync: syncdev: em2 maxupd: 64 defer: off syncauth: on");
  ASSERT_TRUE(ApplyIfconfig("syncpeer 224.0.0.240", c, &error));
  EXPECT_EQ(StatusLine(c), "\tpfsync: syncdev: em2 maxupd: 64 defer: off syncauth: on");  // the group is not shown
  ASSERT_TRUE(ApplyIfconfig("mtu 9000", c, &error)) << error;
  EXPECT_EQ(c.mtu, 9000u);
  ASSERT_TRUE(ApplyIfconfig("-syncdev", c, &error));
  EXPECT_EQ(StatusLine(c), "");
  EngineConfig e;
  ApplyToEngine(c, e);
  EXPECT_EQ(e.maxupd, 64);
  EXPECT_EQ(e.auth_key, "s3cret");
  EXPECT_EQ(e.mtu, 9000u);
}

TEST(PfsyncConfig, RejectsBadArgumentsAndChangesNothing) {
  PfsyncConfig c;
  std::string error;
  for (const char* bad : {"maxupd 256", "maxupd", "maxupd x", "syncpeer 2001:db8::1", "syncpeer", "syncdev",
                          "syncdev averyveryverylongname", "frobnicate", "syncauth", "mtu 40", "mtu 9217", "mtu", "mtu 1k"}) {
    EXPECT_FALSE(ApplyIfconfig(std::string("syncdev em0 ") + bad, c, &error)) << bad;
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(c.syncdev, "");
  }
}

TEST(PfsyncConfig, StatisticsReadLikeNetstat) {
  EngineStats s;
  s.ipackets = 12;
  s.badval = 1;
  s.opackets = 1;
  std::string all = FormatStats(s);
  EXPECT_EQ(all.substr(0, 63), "pfsync:\n\t12 packets received (IPv4)\n\t0 packets received (IPv6)\n");
  EXPECT_NE(all.find("\t\t1 state discarded for bad values\n"), std::string::npos);
  EXPECT_NE(all.find("\t1 packet sent (IPv4)\n"), std::string::npos);
  EXPECT_NE(all.find("\t\t0 send error\n"), std::string::npos);
  EXPECT_EQ(FormatStats(s, false),
            "pfsync:\n\t12 packets received (IPv4)\n\t\t1 state discarded for bad values\n\t1 packet sent (IPv4)\n");
}

}  // namespace
}  // namespace hapf::pfsync
