#include "pf/state_timeouts.h"

namespace hapf::pf::engine {

std::optional<Timeout> Timeouts::ByName(std::string_view name) {
  static constexpr std::string_view kNames[kTmCount] = {
      "tcp.first", "tcp.opening", "tcp.established", "tcp.closing", "tcp.finwait", "tcp.closed",
      "udp.first", "udp.single", "udp.multiple", "icmp.first", "icmp.error", "other.first",
      "other.single", "other.multiple", "frag", "interval", "adaptive.start", "adaptive.end",
      "src.track", "tcp.tsdiff"};
  for (int i = 0; i < kTmCount; ++i) {
    if (kNames[i] == name) return static_cast<Timeout>(i);
  }
  return std::nullopt;
}

}  // namespace hapf::pf::engine
