#include <gtest/gtest.h>

#include "net/addr.h"

namespace hapf::net {
namespace {

TEST(MacTest, FormatsLowerCaseColonSeparated) {
  EXPECT_EQ(MacToString({0x00, 0x00, 0x5e, 0x00, 0x01, 0xff}), "00:00:5e:00:01:ff");
  EXPECT_EQ(MacToString({0xAB, 0xcd, 0xEF, 0x01, 0x23, 0x45}), "ab:cd:ef:01:23:45");
}

TEST(MacTest, ParsesEitherCaseAndRoundTrips) {
  auto m = ParseMac("00:00:5E:00:01:0a");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, (MacAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x0a}));
  EXPECT_EQ(ParseMac(MacToString(*m)), m);
}

TEST(MacTest, RejectsMalformed) {
  for (const char* bad : {"", "00:00:5e:00:01", "00:00:5e:00:01:0a:", "00-00-5e-00-01-0a", "0:00:5e:00:01:0a0",
                          "00:00:5g:00:01:0a", "00:00:5e:00:01:0 "})
    EXPECT_FALSE(ParseMac(bad)) << bad;
}

}  // namespace
}  // namespace hapf::net
