#include "sim/simulator.h"

#include <stdexcept>

namespace hapf::sim {

namespace {
uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t Rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}
}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = SplitMix(seed);
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

uint64_t Rng::Below(uint64_t bound) {
  if (bound == 0) throw std::invalid_argument("Rng::Below(0)");
  // Rejection sampling: discard the incomplete last block of 2^64 mod bound.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  for (;;) {
    uint64_t v = Next();
    if (v < limit) return v % bound;
  }
}

bool Rng::Chance(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0) < p;
}

Duration Rng::Jitter(Duration max) {
  if (max.count() <= 0) return Duration{0};
  return Duration{static_cast<int64_t>(Below(static_cast<uint64_t>(max.count()) + 1))};
}

TimerId Simulator::At(Time when, std::function<void()> fn) {
  if (when < now_) when = now_;
  TimerId id = ++seq_;
  live_.emplace(id, std::move(fn));
  queue_.push(Event{when, seq_, id});
  return id;
}

void Simulator::Cancel(TimerId id) {
  live_.erase(id);
}

bool Simulator::Step() {
  while (!queue_.empty()) {
    Event ev = queue_.top();
    queue_.pop();
    auto it = live_.find(ev.id);
    if (it == live_.end()) continue;  // cancelled
    auto fn = std::move(it->second);
    live_.erase(it);
    now_ = ev.when;
    fn();
    return true;
  }
  return false;
}

uint64_t Simulator::RunUntil(Time until, uint64_t max_events) {
  uint64_t n = 0;
  while (!queue_.empty() && n < max_events) {
    const Event& ev = queue_.top();
    if (!live_.contains(ev.id)) {
      queue_.pop();
      continue;
    }
    if (ev.when > until) break;
    Step();
    ++n;
  }
  if (n >= max_events) throw std::runtime_error("Simulator::RunUntil: event limit reached");
  if (until > now_) now_ = until;
  return n;
}

Segment::PortId Segment::Attach(Receiver rx) {
  Port p;
  p.rx = std::move(rx);
  ports_.push_back(std::move(p));
  return static_cast<PortId>(ports_.size() - 1);
}

void Segment::SetLinkUp(PortId port, bool up) {
  ports_.at(port).up = up;
}

void Segment::Heal() {
  for (auto& p : ports_) p.group = 0;
}

void Segment::set_port_impairment(PortId from, const Impairment& imp) {
  ports_.at(from).own_impairment = true;
  ports_.at(from).imp = imp;
}

void Segment::Send(PortId from, std::span<const uint8_t> frame) {
  const Port& src = ports_.at(from);
  if (!src.up) return;
  ++sent_;
  const Impairment& imp = src.own_impairment ? src.imp : imp_;
  auto copy = std::make_shared<const std::vector<uint8_t>>(frame.begin(), frame.end());
  for (PortId to = 0; to < static_cast<PortId>(ports_.size()); ++to) {
    if (to == from) continue;
    if (ports_[to].group != src.group) {
      ++dropped_;
      continue;
    }
    int copies = sim_.rng().Chance(imp.duplicate) ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      if (sim_.rng().Chance(imp.loss)) {
        ++dropped_;
        continue;
      }
      Duration d = imp.delay + sim_.rng().Jitter(imp.jitter);
      sim_.After(d, [this, from, to, copy] { Deliver(from, to, copy); });
    }
  }
}

void Segment::Deliver(PortId from, PortId to, std::shared_ptr<const std::vector<uint8_t>> frame) {
  Port& dst = ports_[to];
  // The receiving link may have gone down, or the partition formed, in flight.
  if (!dst.up || dst.group != ports_[from].group) {
    ++dropped_;
    return;
  }
  ++delivered_;
  dst.rx(from, *frame);
}

}  // namespace hapf::sim
