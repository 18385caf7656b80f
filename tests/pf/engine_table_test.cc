#include <gtest/gtest.h>

#include "engine_test_util.h"
#include "pf/table_lpm.h"

namespace hapf::pf::engine {
namespace {

using testing::A;
using testing::P;

TEST(EngineTable, LongestPrefixDecidesWithNegation) {
  Table t("lan");
  ASSERT_TRUE(t.Add(P("10.0.0.0/8")));
  ASSERT_TRUE(t.Add(P("10.1.0.0/16"), /*negated=*/true));
  ASSERT_TRUE(t.Add(P("10.1.2.0/24")));
  ASSERT_TRUE(t.Add(P("10.1.2.3/32"), true));
  EXPECT_TRUE(t.Matches(A("10.9.9.9")));     // only the /8
  EXPECT_FALSE(t.Matches(A("10.1.9.9")));    // !10.1/16 is more specific
  EXPECT_TRUE(t.Matches(A("10.1.2.4")));     // 10.1.2/24 beats the negation
  EXPECT_FALSE(t.Matches(A("10.1.2.3")));    // the negated host
  EXPECT_FALSE(t.Matches(A("11.0.0.1")));    // nothing
  ASSERT_NE(t.Lookup(A("10.1.2.200")), nullptr);
  EXPECT_EQ(t.Lookup(A("10.1.2.200"))->prefix, P("10.1.2.0/24"));
  EXPECT_EQ(t.size(), 4u);
}

TEST(EngineTable, Ipv6AndFamiliesAreSeparate) {
  Table t;
  t.Add(P("2001:db8::/32"));
  t.Add(P("2001:db8:1::/48"), true);
  t.Add(P("0.0.0.0/0"));
  EXPECT_TRUE(t.Matches(A("2001:db8:2::1")));
  EXPECT_FALSE(t.Matches(A("2001:db8:1::1")));
  EXPECT_FALSE(t.Matches(A("2001:db9::1")));  // 0/0 is IPv4 only
  EXPECT_TRUE(t.Matches(A("192.0.2.1")));
}

TEST(EngineTable, AddNormalizesRemoveAndReplaceNegation) {
  Table t;
  EXPECT_TRUE(t.Add(P("192.0.2.77/24")));
  EXPECT_FALSE(t.Add(P("192.0.2.0/24")));  // already there
  EXPECT_TRUE(t.Matches(A("192.0.2.1")));
  EXPECT_TRUE(t.Add(P("192.0.2.0/24"), true));  // flips to negated
  EXPECT_FALSE(t.Matches(A("192.0.2.1")));
  EXPECT_TRUE(t.Remove(P("192.0.2.0/24")));
  EXPECT_FALSE(t.Remove(P("192.0.2.0/24")));
  EXPECT_EQ(t.Lookup(A("192.0.2.1")), nullptr);
  EXPECT_EQ(t.size(), 0u);
}

TEST(EngineTable, ManyPrefixesAgreeWithLinearScan) {
  Table t;
  std::vector<std::pair<net::Prefix, bool>> entries;
  uint32_t x = 12345;
  auto rnd = [&] { return x = x * 1103515245 + 12345; };
  for (int i = 0; i < 2000; ++i) {
    const int len = 8 + static_cast<int>(rnd() % 25);
    net::Prefix p{net::IpAddr::V4(0x0a000000 | (rnd() & 0x00ffffff)), static_cast<uint8_t>(len)};
    p = p.Normalized();
    const bool neg = rnd() % 3 == 0;
    t.Add(p, neg);
    bool replaced = false;
    for (auto& e : entries) {
      if (e.first == p) {
        e.second = neg;
        replaced = true;
      }
    }
    if (!replaced) entries.emplace_back(p, neg);
  }
  for (int i = 0; i < 5000; ++i) {
    const net::IpAddr a = net::IpAddr::V4(0x0a000000 | (rnd() & 0x00ffffff));
    int best = -1;
    bool expect = false;
    for (const auto& [p, neg] : entries) {
      if (p.Contains(a) && p.len > best) {
        best = p.len;
        expect = !neg;
      }
    }
    ASSERT_EQ(t.Matches(a), expect) << a.ToString();
  }
}

}  // namespace
}  // namespace hapf::pf::engine
