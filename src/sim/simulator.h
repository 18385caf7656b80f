// A deterministic discrete-event simulator: a virtual clock, a timer queue, a
// seeded random generator and virtual Ethernet-like segments that carry byte
// buffers between node ports with configurable loss, delay, jitter (reorder),
// partitions and link state. Same seed and same inputs give the same run.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <span>
#include <string>
#include <vector>

#include "sim/time.h"

namespace hapf::sim {

// splitmix64-seeded xoshiro256**: a fully specified generator, so runs are
// identical across standard libraries (std::*_distribution are not).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();
  // Uniform in [0, bound) (bound > 0), without modulo bias.
  uint64_t Below(uint64_t bound);
  // True with probability `p` (0..1).
  bool Chance(double p);
  // Uniform duration in [0, max].
  Duration Jitter(Duration max);

 private:
  uint64_t s_[4];
};

using TimerId = uint64_t;

class Simulator {
 public:
  explicit Simulator(uint64_t seed) : rng_(seed) {}

  Time Now() const { return now_; }
  Rng& rng() { return rng_; }

  // Runs `fn` at `when` (clamped to now). Events at the same time run in the
  // order they were scheduled.
  TimerId At(Time when, std::function<void()> fn);
  TimerId After(Duration d, std::function<void()> fn) { return At(now_ + d, std::move(fn)); }
  // Cancelling an event that already ran or was cancelled is a no-op.
  void Cancel(TimerId id);

  // Runs events up to and including `until`, then sets the clock to `until`.
  // Returns the number of events run. `max_events` bounds runaway schedules.
  uint64_t RunUntil(Time until, uint64_t max_events = 10'000'000);
  uint64_t RunFor(Duration d, uint64_t max_events = 10'000'000) { return RunUntil(now_ + d, max_events); }
  // Runs the next pending event (if any); returns false when the queue is empty.
  bool Step();
  size_t pending() const { return live_.size(); }

 private:
  struct Event {
    Time when;
    uint64_t seq;
    TimerId id;
    bool operator>(const Event& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  Time now_ = kTimeZero;
  uint64_t seq_ = 0;
  Rng rng_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  std::map<TimerId, std::function<void()>> live_;
};

// A broadcast segment (a switch or a hub): every frame a port sends reaches
// every other port of the segment that is up and in the same partition group.
class Segment {
 public:
  using PortId = int;
  using Receiver = std::function<void(PortId from, std::span<const uint8_t> frame)>;

  struct Impairment {
    double loss = 0.0;                   // probability a delivery is dropped
    Duration delay = Duration{100'000};  // base one-way delay (100 µs)
    Duration jitter{0};                  // extra uniform delay; > 0 reorders frames
    double duplicate = 0.0;              // probability a delivery happens twice
  };

  Segment(Simulator& sim, std::string name) : sim_(sim), name_(std::move(name)) {}

  PortId Attach(Receiver rx);
  void Send(PortId from, std::span<const uint8_t> frame);
  // A port that is down neither sends nor receives (cable pulled).
  void SetLinkUp(PortId port, bool up);
  bool link_up(PortId port) const { return ports_.at(port).up; }
  // Ports in different groups cannot reach each other; Heal() puts all in group 0.
  void SetGroup(PortId port, int group) { ports_.at(port).group = group; }
  void Heal();
  void set_impairment(const Impairment& imp) { imp_ = imp; }
  // Impairment applied only to frames sent by `from` (overrides the segment's).
  void set_port_impairment(PortId from, const Impairment& imp);

  const std::string& name() const { return name_; }
  uint64_t sent() const { return sent_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t dropped() const { return dropped_; }

 private:
  struct Port {
    Receiver rx;
    bool up = true;
    int group = 0;
    bool own_impairment = false;
    Impairment imp;
  };
  void Deliver(PortId from, PortId to, std::shared_ptr<const std::vector<uint8_t>> frame);

  Simulator& sim_;
  std::string name_;
  std::vector<Port> ports_;
  Impairment imp_;
  uint64_t sent_ = 0, delivered_ = 0, dropped_ = 0;
};

}  // namespace hapf::sim
