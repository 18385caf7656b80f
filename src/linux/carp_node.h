// The Linux realisation of CARP around the pure engine: raw sockets per
// carpdev, a macvlan named after the carp interface (MAC 00:00:5e:00:01:VHID)
// carrying the VIPs while MASTER, gratuitous ARP / unsolicited NA on takeover,
// and carpdev/tracked link state from rtnetlink. The daemon embeds CarpNode and
// drives it from its own loop (fds() + Step()) or lets Run() loop.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "carp/engine.h"
#include "linux/link_rtnl.h"
#include "linux/rawsock_carp.h"

namespace hapf::linux {

// CLOCK_MONOTONIC as the engine's Time.
sim::Time MonotonicNow();

struct CarpNodeOptions {
  carp::Settings settings;
  std::vector<carp::VhostConfig> vhosts;
  std::vector<std::string> tracked;  // interfaces whose link loss demotes group "carp"
  std::function<void(int level, const std::string& line)> log;  // engine and runtime messages
  bool ipv6_router = false;                                     // Router flag in unsolicited NAs
  // SO_MARK of the advert sockets: hapfd passes its generated mark so its own
  // adverts skip its NFQUEUE on output (an overloaded queue would drop them
  // unseen and the backup would take over from a master that is alive).
  uint32_t socket_mark = 0;
};

class CarpNode {
 public:
  // Opens sockets and netlink, removes stale carp links of a previous run,
  // sets arp_ignore=1 on the carpdevs (so only the macvlan answers ARP for a
  // VIP), reads initial link states and starts the engine. Throws on failure.
  explicit CarpNode(CarpNodeOptions options);
  // Removes the macvlans (no bow-out; call Shutdown() first for one).
  ~CarpNode();

  std::vector<int> fds() const;
  // Handles whatever is readable and due; waits at most `max_wait_ms`.
  void Step(int max_wait_ms);
  // Loops until `stop` is set.
  void Run(const std::atomic<bool>& stop);
  // Administrative down of every carp interface: MASTERs bow out.
  void Shutdown();

  // Demotions from outside the carp interfaces, applied at once: `ifconfig -g
  // GROUP carpdemote N` (error text when refused) and a registered demoter's
  // kernel-style adjustment (pfsync0).
  std::optional<std::string> AdminGroupDemote(const std::string& group, int delta);
  void Demote(const std::string& name, int delta, std::string_view reason);

  carp::Engine& engine() { return *engine_; }
  std::string Status() const;

  // A new set of carp interfaces at run time (a SIGHUP, a configuration sync
  // push): interfaces no longer named bow out and are removed, new ones are
  // created and start in BACKUP, changed ones take their new settings as
  // `ifconfig carpN ...` would (carp::Engine::Reconfigure), a MASTER's VIPs
  // follow its new address list. Returns one message per refused interface;
  // the others are applied.
  std::vector<std::string> Reconfigure(const std::vector<carp::VhostConfig>& vhosts);

 private:
  void Apply(carp::Actions& actions);
  // Sockets and the frame socket of a carpdev, once (throws when it is missing).
  void OpenDev(const std::string& carpdev, const carp::VhostConfig& v, const std::vector<LinkInfo>& links);
  // The macvlan of a MASTER with its VIPs.
  void InstallVips(const std::string& ifname, const std::string& carpdev);
  // Tells the link guard about a macvlan name it must delete should we die.
  void GuardLink(const std::string& name);
  void OnLink(const LinkInfo& link);
  void Log(int level, const std::string& line);

  CarpNodeOptions opts_;
  std::unique_ptr<carp::Engine> engine_;
  Rtnl rtnl_;
  Rtnl watch_;
  struct Dev {
    int index = 0;
    std::unique_ptr<CarpSocket> v4, v6;
    std::unique_ptr<FrameSocket> frames;
  };
  std::map<std::string, Dev> devs_;  // by carpdev name
  std::map<std::string, carp::VhostConfig> by_ifname_;
  pid_t guard_ = -1;
  int guard_pipe_ = -1;
};

// Forks a guard process that deletes `links` when this process dies, however
// it dies (SIGKILL included), so a dead MASTER stops answering for its VIPs.
// Returns the write end of the pipe the guard watches and the guard's pid.
std::pair<int, pid_t> StartLinkGuard(const std::vector<std::string>& links);

}  // namespace hapf::linux
