// The CARP protocol engine (carp.md §3, §6–§10): per carp interface a state
// machine INIT → BACKUP ⇄ MASTER with advbase/advskew timers, OpenBSD's
// election rules, demotion groups, bow-out, statistics and log lines.
//
// Pure: time, received packets, link events and randomness are inputs; every
// effect (send an advert, take or release the VIPs, gratuitous ARP, a log line,
// the next timer deadline) is appended to an Actions list for the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "carp/advert.h"
#include "net/addr.h"
#include "sim/time.h"

namespace hapf::carp {

using sim::Duration;
using sim::Time;

enum class State : uint8_t { kInit = 0, kBackup = 1, kMaster = 2 };
const char* StateName(State s);

// syslog levels as net.inet.carp.log compares them.
enum LogLevel : int { kLogCrit = 2, kLogErr = 3, kLogWarning = 4, kLogNotice = 5, kLogInfo = 6 };

struct VhostConfig {
  std::string ifname;   // the carp interface, e.g. "carp0"
  std::string carpdev;  // the parent, e.g. "em0"
  uint8_t vhid = 0;
  uint8_t advbase = 1;
  uint8_t advskew = 0;
  std::string passphrase;
  std::vector<net::Prefix> addresses;    // virtual addresses in configuration order
  std::optional<net::IpAddr> peer;       // carppeer (IPv4 unicast) instead of 224.0.0.18
  std::vector<std::string> groups;       // interface groups besides "carp"
  bool admin_up = true;                  // `up` / `down`
  std::optional<State> requested_state;  // `state backup|master`
  // hapf extension, NOT interoperable with OpenBSD: advertise every
  // `fast_interval` (master-down 3×) regardless of advbase/advskew; the wire
  // still carries advbase 0 and the configured advskew for elections.
  std::optional<Duration> fast_interval;

  bool has_v4() const;
  bool has_v6() const;
  friend bool operator==(const VhostConfig&, const VhostConfig&) = default;
};

struct Settings {
  bool allow = true;         // net.inet.carp.allow
  bool preempt = false;      // net.inet.carp.preempt
  int log_level = kLogCrit;  // net.inet.carp.log
};

// struct carpstats, in OpenBSD's order.
struct Stats {
  uint64_t ipackets = 0, ipackets6 = 0, badif = 0, badttl = 0, hdrops = 0, badsum = 0, badver = 0, badlen = 0,
           badauth = 0, badvhid = 0, badaddrs = 0, opackets = 0, opackets6 = 0, onomem = 0, ostates = 0,
           preempt = 0;
};

struct Action {
  enum class Kind : uint8_t {
    kSendAdvert,      // send `payload` from `carpdev` to `addr` (family of addr), TTL 255
    kStateChange,     // `from` → `to`: entering MASTER adds the VIPs, leaving it removes them
    kGratuitousArp,   // ARP request for `addr` from the virtual MAC on `ifname`
    kNeighborAdvert,  // unsolicited NA (override) for `addr`
    kLog,             // `text` at `level`
    kArmTimer,        // call OnTimer at `when` (the earliest deadline; kNever = none)
  };
  explicit Action(Kind k) : kind(k) {}
  Kind kind;
  std::string ifname;
  std::string carpdev;
  net::IpAddr addr;
  std::array<uint8_t, kAdvertLen> payload{};
  State from = State::kInit, to = State::kInit;
  int level = 0;
  std::string text;
  Time when{};
};
using Actions = std::vector<Action>;

// An advert as received on `ifname` (the carpdev), IP header fields included.
struct RxAdvert {
  std::string_view ifname;
  net::IpAddr src, dst;
  uint8_t ttl = 0;
  std::span<const uint8_t> payload;
};

// 64 random bits from a CSPRNG (the daemon) or a seeded generator (simulator).
using RandomSource = std::function<uint64_t()>;

class Engine {
 public:
  Engine(Settings settings, RandomSource random);
  ~Engine();

  Settings& settings() { return settings_; }
  const Stats& stats() const { return stats_; }

  // Adds a carp interface. Returns an error (duplicate name, vhid already used
  // on the carpdev, no address, ...) or nullopt. A runnable interface goes to
  // BACKUP at once.
  std::optional<std::string> AddInterface(const VhostConfig& cfg, Time now, Actions& out);
  // Removes a carp interface without a bow-out; its own demotion is undone.
  void RemoveInterface(std::string_view ifname, Time now, Actions& out);
  // `ifconfig carpN up|down`: down sends a bow-out if MASTER, then INIT.
  void SetAdminUp(std::string_view ifname, bool up, Time now, Actions& out);
  // Applies a changed configuration of an existing interface as ifconfig does
  // (carp.md §7, §12): a new vhid or carpdev re-creates it (new cookie); an
  // added address sends it through INIT to BACKUP; other changes recompute the
  // HMAC input and restart the running timers without a state change.
  std::optional<std::string> Reconfigure(const VhostConfig& cfg, Time now, Actions& out);
  // Result of a kSendAdvert: 3 consecutive failures demote the interface by 1
  // ("> snderrors"), 3 consecutive successes afterwards undo it. An
  // unreachable unicast peer (EHOSTDOWN) should be reported as success.
  void ReportSendResult(std::string_view ifname, bool v6, bool ok, Time now, Actions& out);
  // `ifconfig carpN state backup|master`.
  void RequestState(std::string_view ifname, State s, Time now, Actions& out);

  // Link state of any interface: carpdevs suppress their carp interfaces
  // (demote +1 "carpdev"); tracked interfaces demote their groups (+1 "link").
  void SetLinkState(std::string_view dev, bool up, Time now, Actions& out);
  // hapf extension: loss of `dev`'s link demotes `groups` (default "carp").
  void TrackInterface(std::string_view dev, std::vector<std::string> groups = {"carp"});

  // A demoting interface outside CARP (pfsync0 is in "carp" and "pfsync").
  void RegisterDemoter(std::string_view name, std::vector<std::string> groups);
  // Kernel-style adjustment from interface `name` (carp_group_demote_adj):
  // applied to each of its groups, clamped at 0, one log line per group; an
  // increase that takes a group from 0 to 1 makes every MASTER advertise at once.
  void Demote(std::string_view name, int delta, std::string_view reason, Time now, Actions& out);
  // `ifconfig -g GROUP carpdemote N` (delta > 0) / `-carpdemote N` (delta < 0).
  std::optional<std::string> AdminGroupDemote(std::string_view group, int delta, Time now, Actions& out);
  int GroupDemote(std::string_view group) const;
  // The demote byte the interface advertises (group sum or own, capped at 255).
  int DemoteCount(std::string_view ifname) const;

  void Receive(const RxAdvert& rx, Time now, Actions& out);
  void OnTimer(Time now, Actions& out);
  Time NextDeadline() const;

  std::optional<State> state(std::string_view ifname) const;
  std::optional<uint64_t> cookie(std::string_view ifname) const;
  // `ifconfig carpN`-style text; `ifconfig -g GROUP` for groups.
  std::string Status(std::string_view ifname) const;
  std::string GroupStatus(std::string_view group) const;
  std::vector<std::string> interfaces() const;

  // Advertisement interval and master-down timeout of a vhost (carp.md §6).
  static Duration AdvertInterval(const VhostConfig& cfg);
  static Duration MasterDownInterval(const VhostConfig& cfg);

 private:
  struct Vhost;
  Vhost* Find(std::string_view ifname);
  const Vhost* Find(std::string_view ifname) const;
  bool Runnable(const Vhost& v) const;
  void Log(int level, std::string text, Actions& out) const;
  void SetState(Vhost& v, State to, Actions& out);
  void EnterBackup(Vhost& v, Time now, Actions& out);
  void BecomeMaster(Vhost& v, Time now, Actions& out);
  void GoInit(Vhost& v, Actions& out);
  void SendAdvert(Vhost& v, bool bow_out, Time now, Actions& out);
  void SendAdvertAll(Time now, Actions& out);
  void Reevaluate(Vhost& v, const Advert& ad, bool v6, Time now, Actions& out);
  void ArmTimer(Actions& out);
  std::vector<std::string> GroupsOf(const Vhost& v) const;
  void Adjust(std::string_view name, const std::vector<std::string>& groups, int* own, int delta,
              std::string_view reason, Time now, Actions& out);

  Settings settings_;
  RandomSource random_;
  Stats stats_;
  std::vector<std::unique_ptr<Vhost>> vhosts_;
  std::map<std::string, int, std::less<>> group_demote_;
  std::map<std::string, std::vector<std::string>, std::less<>> demoters_;  // pfsync0 etc.
  std::map<std::string, std::vector<std::string>, std::less<>> tracked_;
  std::map<std::string, bool, std::less<>> link_down_;  // devices currently down
  Time armed_ = sim::kNever;                            // the deadline last reported with kArmTimer
};

}  // namespace hapf::carp
