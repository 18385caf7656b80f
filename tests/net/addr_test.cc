#include "net/addr.h"

#include <gtest/gtest.h>

namespace hapf::net {
namespace {

TEST(IpAddrTest, ParsesAndFormatsV4) {
  auto a = IpAddr::Parse("198.51.100.42");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->v4_host_order(), 0xc633642au);
  EXPECT_EQ(a->ToString(), "198.51.100.42");
}

TEST(IpAddrTest, ParsesAndFormatsV6Compressed) {
  auto a = IpAddr::Parse("2001:0db8:0000:0000:0000:0000:0000:0001");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v6());
  EXPECT_EQ(a->ToString(), "2001:db8::1");
  EXPECT_EQ(IpAddr::Parse("fe80::a8bb:ccff:fedd:1")->ToString(), "fe80::a8bb:ccff:fedd:1");
}

TEST(IpAddrTest, RejectsGarbage) {
  for (const char* bad : {"", "1.2.3", "1.2.3.256", "1.2.3.4.5", "::g", "2001:db8::1/64", "a.b.c.d",
                          "1111111111111111111111111111111111111111111111111111"})
    EXPECT_FALSE(IpAddr::Parse(bad)) << bad;
}

TEST(IpAddrTest, MaskAndRange) {
  auto a = *IpAddr::Parse("203.0.113.200");
  EXPECT_EQ(a.Masked(26).ToString(), "203.0.113.192");
  EXPECT_EQ(a.LastInPrefix(26).ToString(), "203.0.113.255");
  EXPECT_EQ(IpAddr::Parse("10.0.0.255")->Next().ToString(), "10.0.1.0");
  EXPECT_EQ(IpAddr::Parse("2001:db8::ffff")->Next().ToString(), "2001:db8::1:0");
}

TEST(PrefixTest, ParseContainsNormalize) {
  auto p = *Prefix::Parse("198.51.100.130/29");
  EXPECT_EQ(p.len, 29);
  EXPECT_TRUE(p.Contains(*IpAddr::Parse("198.51.100.135")));
  EXPECT_FALSE(p.Contains(*IpAddr::Parse("198.51.100.136")));
  EXPECT_FALSE(p.Contains(*IpAddr::Parse("2001:db8::1")));
  EXPECT_EQ(p.Normalized().ToString(), "198.51.100.128/29");
  EXPECT_EQ(Prefix::Parse("2001:db8::1")->ToString(), "2001:db8::1");
  EXPECT_FALSE(Prefix::Parse("10.0.0.0/33"));
  EXPECT_FALSE(Prefix::Parse("10.0.0.0/"));
  EXPECT_FALSE(Prefix::Parse("10.0.0.0/-1"));
  EXPECT_EQ(Prefix::Parse("2001:db8::/32")->len, 32);
}

TEST(PrefixTest, MaskToPrefixLen) {
  EXPECT_EQ(MaskToPrefixLen(*IpAddr::Parse("255.255.255.248")), 29);
  EXPECT_EQ(MaskToPrefixLen(*IpAddr::Parse("0.0.0.0")), 0);
  EXPECT_FALSE(MaskToPrefixLen(*IpAddr::Parse("255.0.255.0")));
}

}  // namespace
}  // namespace hapf::net
