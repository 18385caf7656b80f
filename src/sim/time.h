// Virtual time for the pure protocol cores. Cores never read a clock: every
// entry point takes the current Time as an argument, so the daemon passes the
// monotonic clock and the simulator passes its virtual one.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

namespace hapf::sim {

using Duration = std::chrono::nanoseconds;

// A clock tag without now(): only the caller knows what time it is.
struct Epoch {
  using rep = int64_t;
  using period = std::nano;
  using duration = Duration;
  using time_point = std::chrono::time_point<Epoch, Duration>;
  static constexpr bool is_steady = true;
};

using Time = Epoch::time_point;

constexpr Time kTimeZero{};
constexpr Time kNever{Duration{std::numeric_limits<int64_t>::max()}};

constexpr Time FromNanos(int64_t ns) {
  return Time{Duration{ns}};
}
constexpr int64_t ToNanos(Time t) {
  return t.time_since_epoch().count();
}
constexpr int64_t ToMillis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace hapf::sim
