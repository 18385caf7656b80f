// pf's timeout table (PFTM indices, pfsync carries the index) with pf's
// defaults, and the adaptive scaling pf applies as the state count grows.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hapf::pf::engine {

enum Timeout : uint8_t {
  kTmTcpFirst = 0, kTmTcpOpening, kTmTcpEstablished, kTmTcpClosing, kTmTcpFinWait, kTmTcpClosed,
  kTmUdpFirst, kTmUdpSingle, kTmUdpMultiple, kTmIcmpFirst, kTmIcmpError, kTmOtherFirst, kTmOtherSingle,
  kTmOtherMultiple, kTmFrag, kTmInterval, kTmAdaptiveStart, kTmAdaptiveEnd, kTmSrcTrack, kTmTcpTsDiff,
  kTmCount,        // PFTM_MAX
  kTmPurge = 21,   // expires at the next purge
};

// Seconds per index; 0 means "not set" in a rule's table (use the global one).
struct Timeouts {
  std::array<uint32_t, kTmCount> v{};

  static Timeouts Defaults() {
    Timeouts t;
    t.v = {120, 30, 86400, 900, 45, 90, 60, 30, 60, 20, 10, 60, 30, 60, 60, 10, 60000, 120000, 0, 30};
    return t;
  }
  // pf.conf names ("tcp.established", "udp.first", "adaptive.start", ...).
  static std::optional<Timeout> ByName(std::string_view name);
};

// Limits as `set limit` and pfctl -sm know them.
struct Limits {
  uint32_t states = 100000;
  uint32_t src_nodes = 10000;
  uint32_t frags = 65536;
  uint32_t tables = 1000;
  uint32_t table_entries = 200000;
};

// pf_state_expires in parts: the timeout of index `tm` from the rule's or
// the global table, scaled by num/den once the relevant state count (the
// rule's when the rule sets its own adaptive thresholds, else the global
// count) passes adaptive.start; `now` when the state is due whatever its age
// (PFTM_PURGE, or the count at adaptive.end).
struct StateTimeout {
  bool now = false;
  uint64_t timeout = 0;
  uint64_t num = 1, den = 1;
};
inline StateTimeout ScaledTimeout(uint8_t tm, const Timeouts* rule, const Timeouts& global, uint32_t rule_states,
                                  uint32_t all_states) {
  StateTimeout t;
  if (tm == kTmPurge || tm >= kTmCount) {
    t.now = true;
    return t;
  }
  t.timeout = rule && rule->v[tm] ? rule->v[tm] : global.v[tm];
  uint64_t start, end, states;
  if (rule && rule->v[kTmAdaptiveStart]) {
    start = rule->v[kTmAdaptiveStart];
    end = rule->v[kTmAdaptiveEnd];
    states = rule_states;
  } else {
    start = global.v[kTmAdaptiveStart];
    end = global.v[kTmAdaptiveEnd];
    states = all_states;
  }
  if (end && states > start && start < end) {
    if (states >= end) {
      t.now = true;
      return t;
    }
    t.num = end - states;
    t.den = end - start;
  }
  return t;
}

// pf_state_expires: the absolute expiry second of a state whose last activity
// was `last` (see ScaledTimeout). Returns `now`-independent time; a result
// <= now means expired.
inline uint64_t StateExpiry(uint32_t last, uint8_t tm, const Timeouts* rule, const Timeouts& global,
                            uint32_t rule_states, uint32_t all_states) {
  const StateTimeout t = ScaledTimeout(tm, rule, global, rule_states, all_states);
  if (t.now) return 0;
  return uint64_t{last} + t.timeout * t.num / t.den;
}

// StateExpiry(...) <= now without its division (the purge asks this of every
// state it visits): floor(timeout * num / den) <= now - last exactly when
// timeout * num < (now - last + 1) * den.
inline bool StateExpired(uint32_t last, uint8_t tm, const Timeouts* rule, const Timeouts& global,
                         uint32_t rule_states, uint32_t all_states, uint64_t now) {
  const StateTimeout t = ScaledTimeout(tm, rule, global, rule_states, all_states);
  if (t.now) return true;
  if (now < last) return false;
  using U128 = unsigned __int128;
  return U128{t.timeout} * t.num < U128{now - last + 1} * t.den;
}

}  // namespace hapf::pf::engine
