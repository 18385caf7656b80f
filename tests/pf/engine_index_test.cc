// The state table's open-addressing index (insert, find from both sides,
// backward-shift deletion under collisions and growth) against a reference
// map, and the batched Test against packet-by-packet Test.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "engine_test_util.h"
#include "pf/engine.h"

namespace hapf::pf::engine {
namespace {

using namespace testing;

StateKey KeyOf(uint32_t a, uint16_t port) {
  StateKey k;
  k.af = static_cast<uint8_t>(net::Family::kV4);
  k.proto = kProtoUdp;
  k.SetAddr(0, net::IpAddr::V4(0x0a000000 + a));
  k.SetAddr(1, net::IpAddr::V4(0xc0000201));
  k.port[0] = port;
  k.port[1] = 53;
  return k;
}

TEST(StateIndex, RandomInsertRemoveAgreesWithReferenceMap) {
  StateTable t;
  std::map<uint32_t, uint32_t> ref;  // flow number -> state index
  std::mt19937 rng(7);
  for (int step = 0; step < 60000; ++step) {
    const uint32_t f = rng() % 5000;
    const bool nat = f % 3 == 0;  // a third of the states have a distinct stack key
    auto it = ref.find(f);
    if (it == ref.end()) {
      State s;
      s.key[kWire] = KeyOf(f, 1000);
      s.key[kStack] = nat ? KeyOf(f + 100000, 2000) : s.key[kWire];
      const uint32_t idx = t.Insert(s);
      ASSERT_NE(idx, kNoIndex);
      ref[f] = idx;
      // A second state with either key is refused.
      State dup;
      dup.key[kWire] = dup.key[kStack] = s.key[kStack];
      EXPECT_EQ(t.Insert(dup), kNoIndex);
    } else {
      t.Remove(it->second);
      ref.erase(it);
    }
    if (step % 997 == 0) {
      ASSERT_EQ(t.size(), ref.size());
      for (uint32_t g = 0; g < 5000; ++g) {
        const auto r = ref.find(g);
        const uint32_t want = r == ref.end() ? kNoIndex : r->second;
        ASSERT_EQ(t.Find(KeyOf(g, 1000), Direction::kIn), want) << g;
        if (g % 3 == 0) {
          // The stack key is found outbound only; the wire key inbound only.
          ASSERT_EQ(t.Find(KeyOf(g + 100000, 2000), Direction::kOut), want) << g;
          ASSERT_EQ(t.Find(KeyOf(g + 100000, 2000), Direction::kIn), kNoIndex) << g;
          if (want != kNoIndex) {
            ASSERT_EQ(t.Find(KeyOf(g, 1000), Direction::kOut), kNoIndex) << g;
          }
        } else {
          ASSERT_EQ(t.Find(KeyOf(g, 1000), Direction::kOut), want) << g;
        }
        ASSERT_EQ(t.KeyInUse(KeyOf(g, 1000)), want != kNoIndex);
      }
    }
  }
}

TEST(StateIndex, GrowsAndEmptiesCleanly) {
  StateTable t;
  std::vector<uint32_t> idx;
  for (uint32_t i = 0; i < 200000; ++i) {
    State s;
    s.key[kWire] = s.key[kStack] = KeyOf(i, static_cast<uint16_t>(i));
    idx.push_back(t.Insert(s));
  }
  EXPECT_EQ(t.size(), 200000u);
  for (uint32_t i = 0; i < 200000; i += 2) t.Remove(idx[i]);
  for (uint32_t i = 0; i < 200000; ++i) {
    ASSERT_EQ(t.Find(KeyOf(i, static_cast<uint16_t>(i)), Direction::kIn), i % 2 ? idx[i] : kNoIndex);
  }
  for (uint32_t i = 1; i < 200000; i += 2) t.Remove(idx[i]);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.KeyInUse(KeyOf(1, 1)));
}

// A mixed trace through Test() on one engine and TestBatch() on another
// (odd batch sizes, skip interface, malformed packets, NAT both ways) gives
// identical verdicts, rewrites and states.
TEST(EngineBatch, SameVerdictsAndRewritesAsTest) {
  auto make = [](Engine& e) {
    e.AddInterface("em0");
    const InterfaceId skip = e.AddInterface("lo0");
    e.SetSkip(skip, true);
    Ruleset rs;
    rs.rules.push_back(BlockRule());
    Rule udp = PassRule();
    udp.proto = kProtoUdp;
    udp.dir = Direction::kOut;
    Pool pool;
    pool.addrs.push_back(P("203.0.113.7/32"));
    udp.nat = pool;
    rs.rules.push_back(udp);
    Rule tcp = PassRule();
    tcp.proto = kProtoTcp;
    tcp.dir = Direction::kIn;
    rs.rules.push_back(tcp);
    e.LoadRuleset(rs);
  };
  Engine one, batched;
  make(one);
  make(batched);
  std::vector<std::pair<Engine::BatchPacket, std::vector<uint8_t>>> trace;
  std::mt19937 rng(3);
  for (int i = 0; i < 300; ++i) {
    const std::string host = "10.0.0." + std::to_string(1 + rng() % 20);
    const uint16_t port = static_cast<uint16_t>(1000 + rng() % 30);
    Engine::BatchPacket b;
    std::vector<uint8_t> p;
    switch (rng() % 6) {
      case 0: p = Udp(host.c_str(), "192.0.2.9", port, 53); b.dir = Direction::kOut; break;
      case 1: p = Udp("192.0.2.9", "203.0.113.7", 53, static_cast<uint16_t>(50000 + rng() % 20)); break;
      case 2: p = Tcp("198.51.100.3", host.c_str(), port, 22, kSyn, 100, 0); break;
      case 3: p = Tcp(host.c_str(), "198.51.100.3", 22, port, kSyn | kAck, 500, 101); b.dir = Direction::kOut; break;
      case 4: p = Udp(host.c_str(), "192.0.2.9", port, 53); b.ifp = 1; break;
      default: p = {0x45, 0, 0, 8}; break;  // malformed
    }
    trace.emplace_back(b, std::move(p));
  }
  auto copy = trace;
  std::vector<Verdict> want;
  for (auto& [b, p] : trace) want.push_back(one.Test(b.dir, b.ifp, p, 1000 * kSec));
  size_t pos = 0;
  for (size_t n : {1u, 7u, 16u, 17u, 40u, 219u}) {
    std::vector<Engine::BatchPacket> in;
    for (size_t k = pos; k < pos + n; ++k) {
      in.push_back(copy[k].first);
      in.back().pkt = copy[k].second;
    }
    std::vector<Verdict> got(n);
    batched.TestBatch(in, got, 1000 * kSec);
    for (size_t k = 0; k < n; ++k) {
      EXPECT_EQ(got[k].action, want[pos + k].action) << pos + k;
      EXPECT_EQ(got[k].reason, want[pos + k].reason) << pos + k;
      EXPECT_EQ(got[k].state, want[pos + k].state) << pos + k;
      EXPECT_EQ(got[k].rule_nr, want[pos + k].rule_nr) << pos + k;
      EXPECT_EQ(copy[pos + k].second, trace[pos + k].second) << pos + k;  // same rewrite
    }
    pos += n;
  }
  ASSERT_EQ(pos, trace.size());
  EXPECT_EQ(one.states().size(), batched.states().size());
  EXPECT_GT(one.states().size(), 10u);
  EXPECT_EQ(one.StatusText(), batched.StatusText());
}

}  // namespace
}  // namespace hapf::pf::engine
