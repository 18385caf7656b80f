#include "carp/engine.h"

#include <algorithm>
#include <cstdio>

namespace hapf::carp {

namespace {
constexpr Duration kSecond{1'000'000'000};
constexpr int64_t kMicrosPerSecond = 1'000'000;

// (seconds, microseconds) as OpenBSD compares timing tuples (carp.md §6).
struct Timing {
  int64_t sec;
  int64_t usec;
  auto operator<=>(const Timing&) const = default;
};
Timing TimingOf(int advbase, int advskew) {
  return Timing{advbase, advskew * kMicrosPerSecond / 256};
}

std::string HexFlags(unsigned flags) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%x", flags);
  return buf;
}

std::string HexMask(const net::Prefix& p) {
  uint32_t mask = p.len == 0 ? 0 : ~uint32_t{0} << (32 - p.len);
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", mask);
  return buf;
}
}  // namespace

const char* StateName(State s) {
  switch (s) {
    case State::kInit:
      return "INIT";
    case State::kBackup:
      return "BACKUP";
    case State::kMaster:
      return "MASTER";
  }
  return "?";
}

bool VhostConfig::has_v4() const {
  return std::any_of(addresses.begin(), addresses.end(), [](const net::Prefix& p) { return p.addr.is_v4(); });
}
bool VhostConfig::has_v6() const {
  return std::any_of(addresses.begin(), addresses.end(), [](const net::Prefix& p) { return p.addr.is_v6(); });
}

struct Engine::Vhost {
  VhostConfig cfg;
  Authenticator auth;
  Counter cookie{};
  Digest digest{};  // constant for the vhost's life: the cookie never changes
  State state = State::kInit;
  int own_demote = 0;
  Time ad_deadline = sim::kNever;
  Time md_deadline[2] = {sim::kNever, sim::kNever};  // IPv4, IPv6
  int garp_countdown = 0;
  int send_errors[2] = {0, 0};  // consecutive failures per family
  int send_ok[2] = {0, 0};      // consecutive successes while demoted
  bool send_demoted[2] = {false, false};

  uint8_t wire_advbase() const { return cfg.fast_interval ? 0 : cfg.advbase; }
};

Engine::Engine(Settings settings, RandomSource random) : settings_(settings), random_(std::move(random)) {}
Engine::~Engine() = default;

Duration Engine::AdvertInterval(const VhostConfig& cfg) {
  if (cfg.fast_interval) return *cfg.fast_interval;
  Timing t = TimingOf(cfg.advbase, cfg.advskew);
  if (t.sec == 0 && t.usec == 0) t.usec = kMicrosPerSecond / 256;  // the 1/256 s floor
  return t.sec * kSecond + Duration{t.usec * 1000};
}

Duration Engine::MasterDownInterval(const VhostConfig& cfg) {
  return 3 * AdvertInterval(cfg);
}

Engine::Vhost* Engine::Find(std::string_view ifname) {
  for (auto& v : vhosts_)
    if (v->cfg.ifname == ifname) return v.get();
  return nullptr;
}
const Engine::Vhost* Engine::Find(std::string_view ifname) const {
  return const_cast<Engine*>(this)->Find(ifname);
}

bool Engine::Runnable(const Vhost& v) const {
  auto it = link_down_.find(v.cfg.carpdev);
  return v.cfg.admin_up && (it == link_down_.end() || !it->second);
}

void Engine::Log(int level, std::string text, Actions& out) const {
  if (level > settings_.log_level) return;
  Action a(Action::Kind::kLog);
  a.level = level;
  a.text = std::move(text);
  out.push_back(std::move(a));
}

std::vector<std::string> Engine::GroupsOf(const Vhost& v) const {
  std::vector<std::string> g{"carp"};
  for (const auto& x : v.cfg.groups)
    if (std::find(g.begin(), g.end(), x) == g.end()) g.push_back(x);
  return g;
}

int Engine::DemoteCount(std::string_view ifname) const {
  const Vhost* v = Find(ifname);
  if (!v) return 0;
  int sum = 0;
  for (const auto& g : GroupsOf(*v)) sum += GroupDemote(g);
  if (sum == 0) sum = v->own_demote;
  return std::min(sum, 255);
}

int Engine::GroupDemote(std::string_view group) const {
  auto it = group_demote_.find(group);
  return it == group_demote_.end() ? 0 : it->second;
}

std::optional<std::string> Engine::AddInterface(const VhostConfig& cfg, Time now, Actions& out) {
  if (cfg.ifname.empty()) return "carp interface has no name";
  if (Find(cfg.ifname)) return cfg.ifname + ": interface exists";
  if (cfg.vhid == 0) return cfg.ifname + ": vhid must be 1..255";
  if (cfg.carpdev.empty()) return cfg.ifname + ": no carpdev";
  if (cfg.addresses.empty()) return cfg.ifname + ": no address";
  if (cfg.advskew > 254) return cfg.ifname + ": advskew must be 0..254";
  if (cfg.advbase > 254) return cfg.ifname + ": advbase must be 0..254";
  if (cfg.peer && !cfg.peer->is_v4()) return cfg.ifname + ": carppeer must be IPv4";
  if (cfg.fast_interval && cfg.fast_interval->count() <= 0)
    return cfg.ifname + ": fast interval must be positive";
  for (const auto& v : vhosts_)
    if (v->cfg.carpdev == cfg.carpdev && v->cfg.vhid == cfg.vhid)
      return cfg.ifname + ": vhid " + std::to_string(cfg.vhid) + " already used on " + cfg.carpdev + " by " +
             v->cfg.ifname;

  auto v = std::make_unique<Vhost>();
  v->cfg = cfg;
  std::vector<net::IpAddr> addrs;
  for (const auto& p : cfg.addresses) addrs.push_back(p.addr);
  v->auth = Authenticator(cfg.passphrase, cfg.vhid, addrs, VirtualMac(cfg.vhid));
  uint64_t c = 0;
  while (c == 0) c = random_();  // never send the all-zero counter (carp.md §5.3)
  for (int i = 7; i >= 0; --i, c >>= 8) v->cookie[i] = static_cast<uint8_t>(c);
  v->digest = v->auth.Compute(v->cookie);
  Vhost& ref = *v;
  vhosts_.push_back(std::move(v));
  if (!Runnable(ref)) {
    auto it = link_down_.find(cfg.carpdev);
    if (it != link_down_.end() && it->second)
      Adjust(ref.cfg.ifname, GroupsOf(ref), &ref.own_demote, +1, "carpdev", now, out);
  } else {
    EnterBackup(ref, now, out);
    if (cfg.requested_state == State::kMaster) BecomeMaster(ref, now, out);
  }
  ArmTimer(out);
  return std::nullopt;
}

std::optional<std::string> Engine::Reconfigure(const VhostConfig& cfg, Time now, Actions& out) {
  Vhost* v = Find(cfg.ifname);
  if (!v) return cfg.ifname + ": no such interface";
  if (cfg.vhid != v->cfg.vhid || cfg.carpdev != v->cfg.carpdev) {
    RemoveInterface(cfg.ifname, now, out);
    return AddInterface(cfg, now, out);
  }
  if (cfg.addresses.empty()) return cfg.ifname + ": no address";
  if (cfg.advskew > 254 || cfg.advbase > 254) return cfg.ifname + ": advbase and advskew must be 0..254";
  bool added = false;
  for (const auto& p : cfg.addresses)
    if (std::find(v->cfg.addresses.begin(), v->cfg.addresses.end(), p) == v->cfg.addresses.end())
      added = true;
  const bool admin_changed = cfg.admin_up != v->cfg.admin_up;
  const bool was_up = v->cfg.admin_up;
  v->cfg = cfg;
  v->cfg.admin_up = was_up;
  std::vector<net::IpAddr> addrs;
  for (const auto& p : cfg.addresses) addrs.push_back(p.addr);
  v->auth = Authenticator(cfg.passphrase, cfg.vhid, addrs, VirtualMac(cfg.vhid));
  v->digest = v->auth.Compute(v->cookie);
  if (admin_changed) {
    SetAdminUp(cfg.ifname, cfg.admin_up, now, out);
  } else if (added && v->state != State::kInit) {
    GoInit(*v, out);
    if (Runnable(*v)) EnterBackup(*v, now, out);
  } else if (v->state == State::kMaster) {
    v->ad_deadline = now + AdvertInterval(v->cfg);
  } else if (v->state == State::kBackup) {
    const Duration md = MasterDownInterval(v->cfg);
    v->md_deadline[0] = v->cfg.has_v4() ? now + md : sim::kNever;
    v->md_deadline[1] = v->cfg.has_v6() ? now + md : sim::kNever;
  }
  ArmTimer(out);
  return std::nullopt;
}

void Engine::ReportSendResult(std::string_view ifname, bool v6, bool ok, Time now, Actions& out) {
  Vhost* v = Find(ifname);
  if (!v) return;
  const int f = v6 ? 1 : 0;
  constexpr int kLimit = 3;  // 3 × the number of nodes on the interface (one)
  const std::string reason = v6 ? "snd6errors" : "snderrors";
  if (!ok) {
    v->send_ok[f] = 0;
    if (++v->send_errors[f] >= kLimit && !v->send_demoted[f]) {
      v->send_demoted[f] = true;
      Adjust(v->cfg.ifname, GroupsOf(*v), &v->own_demote, +1, "> " + reason, now, out);
    }
  } else {
    v->send_errors[f] = 0;
    if (v->send_demoted[f] && ++v->send_ok[f] >= kLimit) {
      v->send_demoted[f] = false;
      v->send_ok[f] = 0;
      Adjust(v->cfg.ifname, GroupsOf(*v), &v->own_demote, -1, "< " + reason, now, out);
    }
  }
  ArmTimer(out);
}

void Engine::RemoveInterface(std::string_view ifname, Time now, Actions& out) {
  Vhost* v = Find(ifname);
  if (!v) return;
  GoInit(*v, out);
  if (v->own_demote > 0)
    Adjust(v->cfg.ifname, GroupsOf(*v), &v->own_demote, -v->own_demote, "detach", now, out);
  vhosts_.erase(std::find_if(vhosts_.begin(), vhosts_.end(), [&](auto& p) { return p.get() == v; }));
  ArmTimer(out);
}

void Engine::SetAdminUp(std::string_view ifname, bool up, Time now, Actions& out) {
  Vhost* v = Find(ifname);
  if (!v || v->cfg.admin_up == up) return;
  if (!up) {
    // Only a MASTER bows out, once per family, and does not re-arm (carp.md §7).
    if (v->state == State::kMaster) SendAdvert(*v, /*bow_out=*/true, now, out);
    GoInit(*v, out);
    v->cfg.admin_up = false;
  } else {
    v->cfg.admin_up = true;
    if (Runnable(*v)) EnterBackup(*v, now, out);
  }
  ArmTimer(out);
}

void Engine::RequestState(std::string_view ifname, State s, Time now, Actions& out) {
  Vhost* v = Find(ifname);
  if (!v || v->state == State::kInit) return;
  if (s == State::kBackup) {
    EnterBackup(*v, now, out);
  } else if (s == State::kMaster && v->state == State::kBackup) {
    BecomeMaster(*v, now, out);
  }
  ArmTimer(out);
}

void Engine::SetLinkState(std::string_view dev, bool up, Time now, Actions& out) {
  auto [it, inserted] = link_down_.try_emplace(std::string(dev), false);
  if (it->second == !up) return;  // no change: repeated events do nothing
  it->second = !up;
  for (auto& vp : vhosts_) {
    Vhost& v = *vp;
    if (v.cfg.carpdev != dev) continue;
    if (!up) {
      GoInit(v, out);  // silently: no bow-out on link loss
      Adjust(v.cfg.ifname, GroupsOf(v), &v.own_demote, +1, "carpdev", now, out);
    } else {
      Adjust(v.cfg.ifname, GroupsOf(v), &v.own_demote, -1, "carpdev", now, out);
      if (Runnable(v)) EnterBackup(v, now, out);
    }
  }
  auto t = tracked_.find(dev);
  if (t != tracked_.end())
    Adjust(dev, t->second, nullptr, up ? -1 : +1, up ? "link up" : "link down", now, out);
  ArmTimer(out);
}

void Engine::TrackInterface(std::string_view dev, std::vector<std::string> groups) {
  tracked_[std::string(dev)] = std::move(groups);
}

void Engine::RegisterDemoter(std::string_view name, std::vector<std::string> groups) {
  demoters_[std::string(name)] = std::move(groups);
}

void Engine::Demote(std::string_view name, int delta, std::string_view reason, Time now, Actions& out) {
  if (Vhost* v = Find(name)) {
    Adjust(name, GroupsOf(*v), &v->own_demote, delta, reason, now, out);
  } else if (auto d = demoters_.find(name); d != demoters_.end()) {
    Adjust(name, d->second, nullptr, delta, reason, now, out);
  } else if (auto t = tracked_.find(name); t != tracked_.end()) {
    Adjust(name, t->second, nullptr, delta, reason, now, out);
  } else {
    Adjust(name, {"carp"}, nullptr, delta, reason, now, out);
  }
  ArmTimer(out);
}

void Engine::Adjust(std::string_view name, const std::vector<std::string>& groups, int* own, int delta,
                    std::string_view reason, Time now, Actions& out) {
  if (delta == 0) return;
  bool went_to_one = false;
  for (const auto& g : groups) {
    if (g == "all") continue;
    int& c = group_demote_[g];
    c = std::max(0, c + delta);
    if (delta > 0 && c == 1) went_to_one = true;
    Log(kLogErr,
        "carp: " + std::string(name) + " demoted group " + g + " by " + std::to_string(delta) + " to " +
            std::to_string(c) + " (" + std::string(reason) + ")",
        out);
  }
  if (own) *own = std::max(0, *own + delta);
  if (went_to_one) SendAdvertAll(now, out);
}

std::optional<std::string> Engine::AdminGroupDemote(std::string_view group, int delta, Time now,
                                                    Actions& out) {
  int cur = GroupDemote(group);
  if (delta < -128 || delta > 128 || cur + delta < 0 || cur + delta > 255)
    return "carpdemote: group " + std::string(group) + " counter would leave 0..255 (EINVAL)";
  group_demote_[std::string(group)] = cur + delta;
  if (delta > 0) {
    for (auto& v : vhosts_) {
      auto g = GroupsOf(*v);
      if (v->state == State::kMaster && Runnable(*v) && std::find(g.begin(), g.end(), group) != g.end())
        SendAdvert(*v, false, now, out);
    }
  }
  ArmTimer(out);
  return std::nullopt;
}

void Engine::SetState(Vhost& v, State to, Actions& out) {
  if (v.state == to) return;
  const State from = v.state;
  v.state = to;
  const bool init_involved = from == State::kInit || to == State::kInit;
  Log(init_involved ? kLogWarning : kLogCrit,
      v.cfg.ifname + ": state transition: " + StateName(from) + " -> " + StateName(to), out);
  Action a(Action::Kind::kStateChange);
  a.ifname = v.cfg.ifname;
  a.carpdev = v.cfg.carpdev;
  a.from = from;
  a.to = to;
  out.push_back(std::move(a));
}

void Engine::EnterBackup(Vhost& v, Time now, Actions& out) {
  SetState(v, State::kBackup, out);
  v.ad_deadline = sim::kNever;
  v.garp_countdown = 0;
  const Duration md = MasterDownInterval(v.cfg);
  v.md_deadline[0] = v.cfg.has_v4() ? now + md : sim::kNever;
  v.md_deadline[1] = v.cfg.has_v6() ? now + md : sim::kNever;
}

void Engine::BecomeMaster(Vhost& v, Time now, Actions& out) {
  SetState(v, State::kMaster, out);
  ++stats_.preempt;
  v.md_deadline[0] = v.md_deadline[1] = sim::kNever;
  v.garp_countdown = 0;
  SendAdvert(v, false, now, out);
  for (const auto& p : v.cfg.addresses) {
    Action a(p.addr.is_v4() ? Action::Kind::kGratuitousArp : Action::Kind::kNeighborAdvert);
    a.ifname = v.cfg.ifname;
    a.carpdev = v.cfg.carpdev;
    a.addr = p.addr;
    out.push_back(std::move(a));
  }
  // The automatic link-local an OpenBSD carp interface with IPv6 carries.
  if (v.cfg.has_v6()) {
    Action a(Action::Kind::kNeighborAdvert);
    a.ifname = v.cfg.ifname;
    a.carpdev = v.cfg.carpdev;
    a.addr = LinkLocalFromMac(VirtualMac(v.cfg.vhid));
    out.push_back(std::move(a));
  }
  // The second ARP round follows the third advertisement (carp.md §8).
  if (v.cfg.has_v4()) v.garp_countdown = 2;
}

void Engine::GoInit(Vhost& v, Actions& out) {
  SetState(v, State::kInit, out);
  v.ad_deadline = sim::kNever;
  v.md_deadline[0] = v.md_deadline[1] = sim::kNever;
  v.garp_countdown = 0;
}

void Engine::SendAdvert(Vhost& v, bool bow_out, Time now, Actions& out) {
  Advert ad;
  ad.vhid = v.cfg.vhid;
  ad.advskew = bow_out ? kBowOut : v.cfg.advskew;
  ad.advbase = bow_out ? kBowOut : v.wire_advbase();
  ad.demote = static_cast<uint8_t>(DemoteCount(v.cfg.ifname));
  ad.counter = v.cookie;
  ad.digest = v.digest;
  const auto payload = EncodeAdvert(ad);
  for (int fam = 0; fam < 2; ++fam) {
    if (fam == 0 ? !v.cfg.has_v4() : !v.cfg.has_v6()) continue;
    Action a(Action::Kind::kSendAdvert);
    a.ifname = v.cfg.ifname;
    a.carpdev = v.cfg.carpdev;
    a.addr = fam == 0 ? (v.cfg.peer ? *v.cfg.peer : GroupV4()) : GroupV6();
    a.payload = payload;
    out.push_back(std::move(a));
    ++(fam == 0 ? stats_.opackets : stats_.opackets6);
  }
  if (bow_out) {
    v.ad_deadline = sim::kNever;
    return;
  }
  v.ad_deadline = now + AdvertInterval(v.cfg);
  if (v.garp_countdown > 0 && --v.garp_countdown == 0) {
    for (const auto& p : v.cfg.addresses) {
      if (!p.addr.is_v4()) continue;
      Action a(Action::Kind::kGratuitousArp);
      a.ifname = v.cfg.ifname;
      a.carpdev = v.cfg.carpdev;
      a.addr = p.addr;
      out.push_back(std::move(a));
    }
  }
}

void Engine::SendAdvertAll(Time now, Actions& out) {
  for (auto& v : vhosts_)
    if (v->state == State::kMaster && Runnable(*v)) SendAdvert(*v, false, now, out);
}

void Engine::Receive(const RxAdvert& rx, Time now, Actions& out) {
  const bool v6 = rx.src.is_v6();
  ++(v6 ? stats_.ipackets6 : stats_.ipackets);
  if (!settings_.allow) return;
  const std::string_view dev = rx.ifname;
  if (std::none_of(vhosts_.begin(), vhosts_.end(), [&](auto& v) { return v->cfg.carpdev == dev; })) {
    ++stats_.badif;
    if (kLogInfo <= settings_.log_level)
      Log(kLogInfo, "carp: packet received on non-carp interface: " + std::string(dev), out);
    return;
  }
  if (rx.ttl != kTtl) {
    ++stats_.badttl;
    if (kLogNotice <= settings_.log_level)
      Log(kLogNotice, "carp: received ttl " + std::to_string(rx.ttl) + " != 255 on " + std::string(dev), out);
    return;
  }
  if (rx.payload.size() < kAdvertLen) {
    ++stats_.badlen;
    if (kLogInfo <= settings_.log_level)
      Log(kLogInfo,
          v6 ? "carp: packet size " + std::to_string(rx.payload.size()) + " too small"
             : "carp: packet too short " + std::to_string(rx.payload.size() + 20) + " on " + std::string(dev),
          out);
    return;
  }
  if (!ChecksumValid(rx.payload)) {
    ++stats_.badsum;
    if (kLogInfo <= settings_.log_level)
      Log(kLogInfo, (v6 ? "carp: checksum failed, on " : "carp: checksum failed on ") + std::string(dev),
          out);
    return;
  }
  const Advert ad = *DecodeAdvert(rx.payload);
  Vhost* v = nullptr;
  for (auto& c : vhosts_) {
    if (c->cfg.carpdev != dev || c->cfg.vhid != ad.vhid) continue;
    // IPv4: a unicast-peer vhost takes only unicast adverts and vice versa.
    if (!v6 && rx.dst.is_multicast() == c->cfg.peer.has_value()) continue;
    v = c.get();
    break;
  }
  if (!v || !Runnable(*v)) {
    ++stats_.badvhid;
    return;
  }
  if (ad.version != kVersion) {
    ++stats_.badver;
    if (kLogNotice <= settings_.log_level)
      Log(kLogNotice, v->cfg.ifname + ": invalid version " + std::to_string(ad.version) + " != 2", out);
    return;
  }
  if (!v->auth.Verify(ad.counter, ad.digest)) {
    ++stats_.badauth;
    if (kLogInfo <= settings_.log_level) Log(kLogInfo, v->cfg.ifname + ": incorrect hash", out);
    return;
  }
  if (ad.counter == v->cookie) {
    ++stats_.badauth;
    if (kLogWarning <= settings_.log_level)
      Log(kLogWarning, v->cfg.ifname + ": replay or network loop detected", out);
    return;
  }
  Reevaluate(*v, ad, v6, now, out);
  ArmTimer(out);
}

void Engine::Reevaluate(Vhost& v, const Advert& ad, bool v6, Time now, Actions& out) {
  const Timing me = TimingOf(v.wire_advbase(), v.cfg.advskew);
  const Timing ch = TimingOf(ad.advbase, ad.advskew);
  const int dme = DemoteCount(v.cfg.ifname);
  const int dch = ad.demote;
  switch (v.state) {
    case State::kInit:
      return;
    case State::kMaster:
      // Rule M: yield to a less demoted node, or an equally demoted one that
      // advertises at least as often.
      if (dch < dme || (dch == dme && ch <= me)) EnterBackup(v, now, out);
      return;
    case State::kBackup: {
      const bool b1 = settings_.preempt && me < ch && dch >= dme;
      const bool b2 = dch > dme;
      const bool b3 = v.wire_advbase() != 0 && Timing{3 * int64_t{v.wire_advbase()}, me.usec} < ch;
      if (b1 || b2 || b3) {
        BecomeMaster(v, now, out);
      } else {
        v.md_deadline[v6 ? 1 : 0] = now + MasterDownInterval(v.cfg);
      }
      return;
    }
  }
}

void Engine::OnTimer(Time now, Actions& out) {
  for (auto& vp : vhosts_) {
    Vhost& v = *vp;
    if (v.state == State::kMaster && v.ad_deadline <= now) {
      SendAdvert(v, false, now, out);
    } else if (v.state == State::kBackup && (v.md_deadline[0] <= now || v.md_deadline[1] <= now)) {
      BecomeMaster(v, now, out);
    }
  }
  ArmTimer(out);
}

Time Engine::NextDeadline() const {
  Time t = sim::kNever;
  for (const auto& v : vhosts_) {
    if (v->state == State::kMaster) t = std::min(t, v->ad_deadline);
    if (v->state == State::kBackup) t = std::min({t, v->md_deadline[0], v->md_deadline[1]});
  }
  return t;
}

void Engine::ArmTimer(Actions& out) {
  const Time t = NextDeadline();
  if (t == armed_) return;
  armed_ = t;
  Action a(Action::Kind::kArmTimer);
  a.when = t;
  out.push_back(std::move(a));
}

std::optional<State> Engine::state(std::string_view ifname) const {
  const Vhost* v = Find(ifname);
  return v ? std::optional<State>(v->state) : std::nullopt;
}

std::optional<uint64_t> Engine::cookie(std::string_view ifname) const {
  const Vhost* v = Find(ifname);
  if (!v) return std::nullopt;
  Advert a;
  a.counter = v->cookie;
  return a.counter_value();
}

std::vector<std::string> Engine::interfaces() const {
  std::vector<std::string> names;
  for (const auto& v : vhosts_) names.push_back(v->cfg.ifname);
  return names;
}

std::string Engine::Status(std::string_view ifname) const {
  const Vhost* v = Find(ifname);
  if (!v) return {};
  const bool up = v->cfg.admin_up;
  const bool running = Runnable(*v);
  unsigned flags = 0x2 | 0x800 | 0x8000;
  std::string names;
  if (up) flags |= 0x1;
  if (running) flags |= 0x40;
  names = std::string(up ? "UP," : "") + "BROADCAST," + (running ? "RUNNING," : "") + "SIMPLEX,MULTICAST";
  std::string s = v->cfg.ifname + ": flags=" + HexFlags(flags) + "<" + names + "> mtu 1500\n";
  s += "\tlladdr " + MacToString(VirtualMac(v->cfg.vhid)) + "\n";
  s += "\tpriority 15 llprio 3\n";
  s += std::string("\tcarp: ") + StateName(v->state) + " carpdev " + v->cfg.carpdev + " vhid " +
       std::to_string(v->cfg.vhid) + " advbase " + std::to_string(v->wire_advbase()) + " advskew " +
       std::to_string(v->cfg.advskew);
  if (v->cfg.peer) s += " carppeer " + v->cfg.peer->ToString();
  s += "\n\tgroups:";
  for (const auto& g : GroupsOf(*v)) s += " " + g;
  s += std::string("\n\tstatus: ") +
       (v->state == State::kMaster   ? "master"
        : v->state == State::kBackup ? "backup"
                                     : "invalid") +
       "\n";
  for (const auto& p : v->cfg.addresses) {
    if (p.addr.is_v4()) {
      s += "\tinet " + p.addr.ToString() + " netmask " + HexMask(p);
      if (p.len < 31) s += " broadcast " + p.addr.LastInPrefix(p.len).ToString();
      s += "\n";
    } else {
      s += "\tinet6 " + p.addr.ToString() + " prefixlen " + std::to_string(p.len) + "\n";
    }
  }
  return s;
}

std::string Engine::GroupStatus(std::string_view group) const {
  return std::string(group) + ": carp demote count " + std::to_string(GroupDemote(group));
}

}  // namespace hapf::carp
