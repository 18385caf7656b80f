// Glue between the CARP engine and the deterministic simulator: each node owns
// an Engine, its carpdevs are ports on simulated segments, adverts travel as
// IPv4/IPv6 packets, and every action the engine emits is carried out.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "carp/advert.h"
#include "carp/engine.h"
#include "sim/simulator.h"

namespace hapf::carp::testing {

struct SimNode {
  std::string name;
  std::unique_ptr<Engine> engine;
  struct Port {
    sim::Segment* segment;
    sim::Segment::PortId id;
    net::IpAddr v4, v6;
  };
  std::map<std::string, Port> ports;  // carpdev -> port
  sim::TimerId timer = 0;
  std::set<std::string> holding;  // carp interfaces whose VIPs this node holds
  std::vector<std::string> logs;
  std::vector<std::pair<sim::Time, std::string>> transitions;  // "carp0 BACKUP->MASTER"
  std::vector<std::vector<uint8_t>> sent;                      // IP packets sent, for replay tests
  int garps = 0, neighbor_adverts = 0;
  bool alive = true;
};

class Cluster {
 public:
  explicit Cluster(uint64_t seed) : sim_(seed) {}
  sim::Simulator& sim() { return sim_; }

  sim::Segment& AddSegment(const std::string& name) {
    segments_.push_back(std::make_unique<sim::Segment>(sim_, name));
    return *segments_.back();
  }

  SimNode& AddNode(const std::string& name, Settings settings = {}) {
    auto n = std::make_unique<SimNode>();
    n->name = name;
    n->engine = std::make_unique<Engine>(settings, [this] { return sim_.rng().Next(); });
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  void Attach(SimNode& n, const std::string& carpdev, sim::Segment& seg, const char* v4,
              const char* v6 = nullptr) {
    SimNode::Port p{&seg, 0, *net::IpAddr::Parse(v4), v6 ? *net::IpAddr::Parse(v6) : net::IpAddr{}};
    p.id = seg.Attach([this, &n, carpdev](sim::Segment::PortId, std::span<const uint8_t> pkt) {
      if (!n.alive) return;
      auto ip = ParseIpPacket(pkt);
      if (!ip || ip->protocol != kIpProtoCarp) return;
      Actions out;
      n.engine->Receive(RxAdvert{carpdev, ip->src, ip->dst, ip->ttl, ip->payload}, sim_.Now(), out);
      Apply(n, out);
    });
    n.ports[carpdev] = p;
  }

  void AddInterface(SimNode& n, const VhostConfig& c) {
    Actions out;
    auto err = n.engine->AddInterface(c, sim_.Now(), out);
    if (err) throw std::runtime_error(*err);
    Apply(n, out);
  }

  // Cable pulled / restored: the segment port and the engine's link state.
  void SetLink(SimNode& n, const std::string& dev, bool up) {
    auto it = n.ports.find(dev);
    if (it != n.ports.end()) it->second.segment->SetLinkUp(it->second.id, up);
    Actions out;
    n.engine->SetLinkState(dev, up, sim_.Now(), out);
    Apply(n, out);
  }

  // SIGKILL: the node stops sending and receiving; nothing is said.
  void Kill(SimNode& n) {
    n.alive = false;
    sim_.Cancel(n.timer);
    for (auto& [dev, p] : n.ports) p.segment->SetLinkUp(p.id, false);
  }

  template <typename F>
  void Do(SimNode& n, F f) {
    Actions out;
    f(*n.engine, sim_.Now(), out);
    Apply(n, out);
  }

  void Inject(SimNode& to, const std::string& carpdev, std::span<const uint8_t> ip_packet) {
    auto ip = ParseIpPacket(ip_packet);
    Actions out;
    to.engine->Receive(RxAdvert{carpdev, ip->src, ip->dst, ip->ttl, ip->payload}, sim_.Now(), out);
    Apply(to, out);
  }

  void Apply(SimNode& n, Actions& out) {
    for (auto& a : out) {
      switch (a.kind) {
        case Action::Kind::kSendAdvert: {
          auto& p = n.ports.at(a.carpdev);
          auto pkt = a.addr.is_v4() ? BuildIpv4Packet(p.v4, a.addr, a.payload)
                                    : BuildIpv6Packet(p.v6, a.addr, a.payload);
          n.sent.push_back(pkt);
          p.segment->Send(p.id, pkt);
          break;
        }
        case Action::Kind::kStateChange:
          if (a.to == State::kMaster) n.holding.insert(a.ifname);
          if (a.from == State::kMaster) n.holding.erase(a.ifname);
          n.transitions.emplace_back(sim_.Now(), a.ifname + " " + StateName(a.from) + "->" + StateName(a.to));
          break;
        case Action::Kind::kGratuitousArp:
          ++n.garps;
          break;
        case Action::Kind::kNeighborAdvert:
          ++n.neighbor_adverts;
          break;
        case Action::Kind::kLog:
          n.logs.push_back(a.text);
          break;
        case Action::Kind::kArmTimer:
          sim_.Cancel(n.timer);
          n.timer = 0;
          if (a.when != sim::kNever && n.alive) {
            n.timer = sim_.At(a.when, [this, &n] {
              n.timer = 0;
              Actions o;
              n.engine->OnTimer(sim_.Now(), o);
              Apply(n, o);
            });
          }
          break;
      }
    }
    out.clear();
  }

  // Nodes holding `ifname`'s VIPs right now.
  std::vector<std::string> Holders(const std::string& ifname) const {
    std::vector<std::string> h;
    for (auto& n : nodes_)
      if (n->holding.contains(ifname)) h.push_back(n->name);
    return h;
  }

  // Counts "ifname BACKUP->MASTER" transitions of node n since `since`.
  static int Takeovers(const SimNode& n, const std::string& ifname, sim::Time since = sim::kTimeZero) {
    int c = 0;
    for (auto& [t, s] : n.transitions)
      if (t >= since && s == ifname + " BACKUP->MASTER") ++c;
    return c;
  }

 private:
  sim::Simulator sim_;
  std::vector<std::unique_ptr<sim::Segment>> segments_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
};

inline VhostConfig MakeVhost(const char* ifname, const char* carpdev, uint8_t vhid, uint8_t advskew,
                             std::vector<const char*> addrs, const char* pass = "secret") {
  VhostConfig c;
  c.ifname = ifname;
  c.carpdev = carpdev;
  c.vhid = vhid;
  c.advskew = advskew;
  c.passphrase = pass;
  for (auto a : addrs) c.addresses.push_back(*net::Prefix::Parse(a));
  return c;
}

}  // namespace hapf::carp::testing
