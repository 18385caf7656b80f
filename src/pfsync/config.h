// pfsync interface configuration in OpenBSD's ifconfig syntax and the two
// status views administrators know: ifconfig's "pfsync:" line and
// `netstat -s -p pfsync` (spec §13). Pure text in, text out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "net/addr.h"
#include "pfsync/engine.h"

namespace hapf::pfsync {

struct PfsyncConfig {
  std::string syncdev;                 // empty: not configured
  std::optional<net::IpAddr> syncpeer; // unset: the group 224.0.0.240
  uint8_t maxupd = 128;
  bool defer = false;
  bool up = false;
  std::string syncauth;  // hapf extension: pre-shared key, empty = off
  // ifconfig pfsync0 mtu N: the largest pfsync packet, IP header included
  // (spec: >40 and at most the syncdev's MTU; here also at most
  // kMaxPfsyncMtu, the receive buffers). A jumbo-frame sync cable carries
  // 33 full states a packet at 9000 instead of 5 at 1500.
  uint32_t mtu = 1500;
};

inline constexpr uint32_t kMaxPfsyncMtu = 9216;

// The default destination of pfsync packets.
net::IpAddr PfsyncGroup();

// Applies ifconfig arguments, e.g. "syncdev em2 syncpeer 192.0.2.2 maxupd 128
// -defer up": syncdev IF, -syncdev, syncpeer A.B.C.D (IPv4 only), -syncpeer,
// maxupd 0..255, defer, -defer (also "defer on|off"), mtu 41..9216, up, down, and hapf's
// "syncauth KEY" / "-syncauth". Returns false with `error` on the first bad word
// and leaves `cfg` unchanged then.
bool ApplyIfconfig(std::string_view args, PfsyncConfig& cfg, std::string* error);

// ifconfig's status line, tab-indented, empty when no syncdev is set:
// "\tpfsync: syncdev: em1 syncpeer: 10.0.0.2 maxupd: 128 defer: off" (syncpeer
// only when it is not the group; " syncauth: on" appended when set).
std::string StatusLine(const PfsyncConfig& cfg);

// `netstat -s -p pfsync` with OpenBSD's wording; `all` (netstat -ss leaves
// zero lines out, as sflag > 1 does) shows the zero counters too.
std::string FormatStats(const EngineStats& s, bool all = true);

// EngineConfig fields that follow from the interface configuration.
void ApplyToEngine(const PfsyncConfig& cfg, EngineConfig& engine);

}  // namespace hapf::pfsync
