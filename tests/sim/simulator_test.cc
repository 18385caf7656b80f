#include "sim/simulator.h"

#include <gtest/gtest.h>

#include <set>

namespace hapf::sim {
namespace {

using std::chrono::milliseconds;

TEST(RngTest, SameSeedSameSequenceDifferentSeedDifferent) {
  Rng a(42), b(42), c(43);
  std::vector<uint64_t> va, vb, vc;
  for (int i = 0; i < 100; ++i) {
    va.push_back(a.Next());
    vb.push_back(b.Next());
    vc.push_back(c.Next());
  }
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
  EXPECT_EQ(std::set<uint64_t>(va.begin(), va.end()).size(), 100u);
}

TEST(RngTest, BelowStaysInRangeAndCoversIt) {
  Rng r(7);
  std::vector<int> hits(10);
  for (int i = 0; i < 10000; ++i) {
    uint64_t v = r.Below(10);
    ASSERT_LT(v, 10u);
    ++hits[v];
  }
  for (int h : hits) EXPECT_GT(h, 800);  // ~1000 each
  EXPECT_THROW(r.Below(0), std::invalid_argument);
}

TEST(RngTest, ChanceMatchesProbability) {
  Rng r(9);
  int yes = 0;
  for (int i = 0; i < 20000; ++i) yes += r.Chance(0.25);
  EXPECT_NEAR(yes / 20000.0, 0.25, 0.02);
  EXPECT_FALSE(r.Chance(0.0));
  EXPECT_TRUE(r.Chance(1.0));
}

TEST(SimulatorTest, RunsEventsInTimeThenInsertionOrder) {
  Simulator sim(1);
  std::vector<std::string> order;
  sim.At(FromNanos(300), [&] { order.push_back("c"); });
  sim.At(FromNanos(100), [&] { order.push_back("a1"); });
  sim.At(FromNanos(100), [&] { order.push_back("a2"); });
  sim.At(FromNanos(200), [&] {
    order.push_back("b");
    EXPECT_EQ(ToNanos(sim.Now()), 200);
    sim.After(Duration{50}, [&] { order.push_back("b+50"); });
  });
  EXPECT_EQ(sim.RunUntil(FromNanos(1000)), 5u);
  EXPECT_EQ(order, (std::vector<std::string>{"a1", "a2", "b", "b+50", "c"}));
  EXPECT_EQ(ToNanos(sim.Now()), 1000);
}

TEST(SimulatorTest, CancelAndRunUntilBoundary) {
  Simulator sim(1);
  int fired = 0;
  TimerId t = sim.After(milliseconds(5), [&] { ++fired; });
  sim.After(milliseconds(10), [&] { fired += 10; });
  sim.After(milliseconds(11), [&] { fired += 100; });
  sim.Cancel(t);
  sim.Cancel(t);  // twice is harmless
  sim.RunFor(milliseconds(10));
  EXPECT_EQ(fired, 10);  // the event exactly at the boundary runs
  EXPECT_EQ(sim.pending(), 1u);
  sim.RunFor(milliseconds(1));
  EXPECT_EQ(fired, 110);
}

TEST(SimulatorTest, PastEventsRunNowAndRunawayIsBounded) {
  Simulator sim(1);
  sim.RunFor(milliseconds(5));
  Time seen{};
  sim.At(FromNanos(1), [&] { seen = sim.Now(); });
  sim.RunFor(Duration{0});
  EXPECT_EQ(seen, FromNanos(5'000'000));
  std::function<void()> forever = [&] { sim.After(Duration{0}, forever); };
  sim.After(Duration{0}, forever);
  EXPECT_THROW(sim.RunFor(milliseconds(1), 1000), std::runtime_error);
}

struct Capture {
  std::vector<std::pair<int, std::vector<uint8_t>>> got;
  Segment::Receiver rx() {
    return [this](Segment::PortId from, std::span<const uint8_t> f) {
      got.emplace_back(from, std::vector<uint8_t>(f.begin(), f.end()));
    };
  }
};

TEST(SegmentTest, BroadcastsToOtherPortsAfterDelay) {
  Simulator sim(1);
  Segment seg(sim, "lan");
  Capture a, b, c;
  auto pa = seg.Attach(a.rx());
  seg.Attach(b.rx());
  seg.Attach(c.rx());
  seg.set_impairment({.delay = milliseconds(2)});
  std::vector<uint8_t> frame{1, 2, 3};
  seg.Send(pa, frame);
  sim.RunFor(milliseconds(1));
  EXPECT_TRUE(b.got.empty());
  sim.RunFor(milliseconds(1));
  ASSERT_EQ(b.got.size(), 1u);
  ASSERT_EQ(c.got.size(), 1u);
  EXPECT_TRUE(a.got.empty());  // no loopback to the sender
  EXPECT_EQ(b.got[0].first, pa);
  EXPECT_EQ(b.got[0].second, frame);
}

TEST(SegmentTest, LinkDownAndPartitionBlockDelivery) {
  Simulator sim(1);
  Segment seg(sim, "lan");
  Capture a, b, c;
  auto pa = seg.Attach(a.rx());
  auto pb = seg.Attach(b.rx());
  auto pc = seg.Attach(c.rx());
  std::vector<uint8_t> f{9};
  seg.SetGroup(pc, 1);
  seg.Send(pa, f);
  sim.RunFor(milliseconds(1));
  EXPECT_EQ(b.got.size(), 1u);
  EXPECT_EQ(c.got.size(), 0u);
  seg.Heal();
  seg.SetLinkUp(pb, false);
  seg.Send(pa, f);
  seg.Send(pb, f);  // a down port cannot send either
  sim.RunFor(milliseconds(1));
  EXPECT_EQ(b.got.size(), 1u);
  EXPECT_EQ(c.got.size(), 1u);
  // A frame in flight is lost when the receiver's link goes down before arrival.
  seg.SetLinkUp(pb, true);
  seg.Send(pa, f);
  seg.SetLinkUp(pb, false);
  sim.RunFor(milliseconds(1));
  EXPECT_EQ(b.got.size(), 1u);
}

TEST(SegmentTest, LossRateAndJitterReorderAreSeededAndDeterministic) {
  auto run = [](uint64_t seed) {
    Simulator sim(seed);
    Segment seg(sim, "lan");
    Capture a, b;
    auto pa = seg.Attach(a.rx());
    seg.Attach(b.rx());
    seg.set_impairment({.loss = 0.3, .delay = milliseconds(1), .jitter = milliseconds(5)});
    for (uint8_t i = 0; i < 200; ++i) {
      std::vector<uint8_t> f{i};
      seg.Send(pa, f);
      sim.RunFor(Duration{100'000});
    }
    sim.RunFor(milliseconds(10));
    std::vector<uint8_t> order;
    for (auto& [from, f] : b.got) order.push_back(f[0]);
    return order;
  };
  auto r1 = run(5), r2 = run(5), r3 = run(6);
  EXPECT_EQ(r1, r2);
  EXPECT_NE(r1, r3);
  EXPECT_GT(r1.size(), 110u);
  EXPECT_LT(r1.size(), 170u);
  EXPECT_FALSE(std::is_sorted(r1.begin(), r1.end()));  // jitter reorders
}

TEST(SegmentTest, PerPortImpairmentAndDuplicates) {
  Simulator sim(3);
  Segment seg(sim, "lan");
  Capture a, b;
  auto pa = seg.Attach(a.rx());
  auto pb = seg.Attach(b.rx());
  seg.set_port_impairment(pa, {.loss = 1.0});
  seg.set_port_impairment(pb, {.duplicate = 1.0});
  std::vector<uint8_t> f{1};
  seg.Send(pa, f);
  seg.Send(pb, f);
  sim.RunFor(milliseconds(1));
  EXPECT_TRUE(b.got.empty());
  EXPECT_EQ(a.got.size(), 2u);
  EXPECT_EQ(seg.sent(), 2u);
  EXPECT_EQ(seg.delivered(), 2u);
  EXPECT_EQ(seg.dropped(), 1u);
}

}  // namespace
}  // namespace hapf::sim
