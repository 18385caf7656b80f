#include "linux/carp_node.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>

namespace hapf::linux {

sim::Time MonotonicNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return sim::FromNanos(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
}

std::pair<int, pid_t> StartLinkGuard(const std::vector<std::string>& links) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The guard: ignore job-control signals, keep only the pipe, wait for EOF.
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    dup2(p[0], 3);
    close_range(4, ~0U, 0);
    // Names added at run time arrive on the pipe, one per line.
    std::vector<std::string> names = links;
    std::string line;
    char buf[256];
    for (;;) {
      const ssize_t n = read(3, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] != '\n') {
          line += buf[i];
        } else if (!line.empty()) {
          names.push_back(std::move(line));
          line.clear();
        }
      }
    }
    try {
      Rtnl rtnl;
      for (const auto& l : names) rtnl.DeleteLink(l);  // absent links are fine
    } catch (...) {
    }
    _exit(0);
  }
  close(p[0]);
  return {p[1], pid};
}

namespace {
void WriteSysctl(const std::string& path, const char* value) {
  std::ofstream f(path);
  f << value;
}
}  // namespace

CarpNode::CarpNode(CarpNodeOptions options) : opts_(std::move(options)), rtnl_(false), watch_(true) {
  std::vector<std::string> names;
  for (const auto& v : opts_.vhosts) {
    names.push_back(v.ifname);
    by_ifname_[v.ifname] = v;
  }
  for (const auto& n : names) rtnl_.DeleteLink(n);  // stale from a killed run; absent is fine
  std::tie(guard_pipe_, guard_) = StartLinkGuard(names);

  engine_ = std::make_unique<carp::Engine>(opts_.settings, [] {
    uint64_t v = 0;
    std::ifstream r("/dev/urandom", std::ios::binary);
    r.read(reinterpret_cast<char*>(&v), sizeof v);
    if (!r) throw std::runtime_error("cannot read /dev/urandom");
    return v;
  });
  for (const auto& t : opts_.tracked) engine_->TrackInterface(t);

  auto links = rtnl_.DumpLinks();
  for (const auto& v : opts_.vhosts) OpenDev(v.carpdev, v, links);
  carp::Actions out;
  const sim::Time now = MonotonicNow();
  for (const auto& l : links) {
    bool relevant = devs_.contains(l.name);
    for (const auto& t : opts_.tracked) relevant |= t == l.name;
    if (relevant && !l.up) engine_->SetLinkState(l.name, false, now, out);
  }
  for (const auto& v : opts_.vhosts)
    if (auto e = engine_->AddInterface(v, now, out)) throw std::runtime_error(*e);
  Apply(out);
}

CarpNode::~CarpNode() {
  for (const auto& [name, v] : by_ifname_) rtnl_.DeleteLink(name);
  if (guard_pipe_ >= 0) close(guard_pipe_);
  if (guard_ > 0) waitpid(guard_, nullptr, 0);
}

void CarpNode::Log(int level, const std::string& line) {
  if (opts_.log && level <= opts_.settings.log_level) opts_.log(level, line);
}

void CarpNode::Apply(carp::Actions& actions) {
  carp::Actions follow_up;  // from send results: applied after this batch
  for (auto& a : actions) {
    switch (a.kind) {
      case carp::Action::Kind::kSendAdvert: {
        Dev& d = devs_.at(a.carpdev);
        CarpSocket* s = a.addr.is_v4() ? d.v4.get() : d.v6.get();
        if (!s) break;
        const int err = s->Send(a.addr, a.payload);
        if (err != 0)
          Log(carp::kLogWarning, a.ifname +
                                     (a.addr.is_v4() ? ": ip_output failed: " : ": ip6_output failed: ") +
                                     std::strerror(err));
        engine_->ReportSendResult(a.ifname, a.addr.is_v6(), err == 0 || err == EHOSTDOWN, MonotonicNow(),
                                  follow_up);
        break;
      }
      case carp::Action::Kind::kStateChange: {
        if (a.from == carp::State::kMaster) {
          if (auto e = rtnl_.DeleteLink(a.ifname)) Log(carp::kLogErr, *e);
        }
        if (a.to == carp::State::kMaster) InstallVips(a.ifname, a.carpdev);
        break;
      }
      case carp::Action::Kind::kGratuitousArp: {
        const auto& cfg = by_ifname_.at(a.ifname);
        devs_.at(a.carpdev).frames->Send(GratuitousArpFrame(carp::VirtualMac(cfg.vhid), a.addr));
        break;
      }
      case carp::Action::Kind::kNeighborAdvert: {
        const auto mac = carp::VirtualMac(by_ifname_.at(a.ifname).vhid);
        devs_.at(a.carpdev).frames->Send(
            UnsolicitedNaFrame(mac, carp::LinkLocalFromMac(mac), a.addr, opts_.ipv6_router));
        break;
      }
      case carp::Action::Kind::kLog:
        if (opts_.log) opts_.log(a.level, a.text);
        break;
      case carp::Action::Kind::kArmTimer:
        break;  // Step() asks the engine for its next deadline
    }
  }
  actions.clear();
  if (!follow_up.empty()) Apply(follow_up);
}

void CarpNode::OpenDev(const std::string& carpdev, const carp::VhostConfig& v, const std::vector<LinkInfo>& links) {
  const LinkInfo* l = nullptr;
  for (const auto& x : links)
    if (x.name == carpdev) l = &x;
  if (!l) throw std::runtime_error(v.ifname + ": carpdev " + carpdev + " does not exist");
  Dev& d = devs_[carpdev];
  if (d.index == 0) {
    d.index = l->index;
    d.frames = std::make_unique<FrameSocket>(l->index);
    WriteSysctl("/proc/sys/net/ipv4/conf/" + carpdev + "/arp_ignore", "1");
  }
  if (v.has_v4() && !d.v4)
    d.v4 = std::make_unique<CarpSocket>(net::Family::kV4, carpdev, l->index, opts_.socket_mark);
  if (v.has_v6() && !d.v6)
    d.v6 = std::make_unique<CarpSocket>(net::Family::kV6, carpdev, l->index, opts_.socket_mark);
}

void CarpNode::InstallVips(const std::string& ifname, const std::string& carpdev) {
  const carp::VhostConfig& cfg = by_ifname_.at(ifname);
  if (auto e = rtnl_.CreateMacvlan(ifname, devs_.at(carpdev).index, carp::VirtualMac(cfg.vhid))) {
    Log(carp::kLogErr, *e);
    return;
  }
  auto link = rtnl_.Link(ifname);
  if (!link) return;
  for (const auto& p : cfg.addresses)
    if (auto e = rtnl_.AddAddress(link->index, p)) Log(carp::kLogErr, ifname + ": " + *e);
}

void CarpNode::GuardLink(const std::string& name) {
  if (guard_pipe_ < 0) return;
  const std::string line = name + "\n";
  if (write(guard_pipe_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    Log(carp::kLogErr, name + ": cannot tell the link guard");
}

std::vector<std::string> CarpNode::Reconfigure(const std::vector<carp::VhostConfig>& vhosts) {
  std::vector<std::string> errors;
  carp::Actions out;
  const sim::Time now = MonotonicNow();
  std::map<std::string, const carp::VhostConfig*> wanted;
  for (const auto& v : vhosts) wanted[v.ifname] = &v;
  // Gone: bow out (a MASTER's peer takes over at once), then remove.
  for (auto it = by_ifname_.begin(); it != by_ifname_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    engine_->SetAdminUp(it->first, false, now, out);
    Apply(out);
    engine_->RemoveInterface(it->first, now, out);
    Apply(out);
    rtnl_.DeleteLink(it->first);
    Log(carp::kLogNotice, it->first + ": removed");
    it = by_ifname_.erase(it);
  }
  std::vector<LinkInfo> links = rtnl_.DumpLinks();
  for (const auto& v : vhosts) {
    try {
      OpenDev(v.carpdev, v, links);
    } catch (const std::exception& e) {
      errors.push_back(e.what());
      continue;
    }
    auto old = by_ifname_.find(v.ifname);
    if (old == by_ifname_.end()) {
      rtnl_.DeleteLink(v.ifname);
      GuardLink(v.ifname);
      by_ifname_[v.ifname] = v;
      if (auto e = engine_->AddInterface(v, now, out)) {
        by_ifname_.erase(v.ifname);
        errors.push_back(*e);
      } else {
        Log(carp::kLogNotice, v.ifname + ": created");
      }
      Apply(out);
      continue;
    }
    const carp::VhostConfig before = old->second;
    if (before == v) continue;
    old->second = v;  // Apply() reads the addresses of a new MASTER from here
    if (auto e = engine_->Reconfigure(v, now, out)) {
      old->second = before;
      errors.push_back(*e);
      Apply(out);
      continue;
    }
    Apply(out);
    // A MASTER that stays MASTER (no address was added) must still drop the
    // addresses it no longer has: rebuild its macvlan.
    if (engine_->state(v.ifname) == carp::State::kMaster && before.addresses != v.addresses) {
      rtnl_.DeleteLink(v.ifname);
      InstallVips(v.ifname, v.carpdev);
    }
    Log(carp::kLogNotice, v.ifname + ": reconfigured");
  }
  return errors;
}

void CarpNode::OnLink(const LinkInfo& link) {
  bool relevant = devs_.contains(link.name);
  for (const auto& t : opts_.tracked) relevant |= t == link.name;
  if (!relevant) return;
  carp::Actions out;
  engine_->SetLinkState(link.name, link.up, MonotonicNow(), out);
  Apply(out);
}

std::vector<int> CarpNode::fds() const {
  std::vector<int> f{watch_.fd()};
  for (const auto& [name, d] : devs_) {
    if (d.v4) f.push_back(d.v4->fd());
    if (d.v6) f.push_back(d.v6->fd());
  }
  return f;
}

void CarpNode::Step(int max_wait_ms) {
  std::vector<pollfd> pfds;
  for (int fd : fds()) pfds.push_back(pollfd{fd, POLLIN, 0});
  int timeout = max_wait_ms;
  const sim::Time deadline = engine_->NextDeadline();
  if (deadline != sim::kNever) {
    const int64_t ns = sim::ToNanos(deadline) - sim::ToNanos(MonotonicNow());
    const int64_t ms = ns <= 0 ? 0 : (ns + 999'999) / 1'000'000;  // round up: never wake early
    if (ms < timeout) timeout = static_cast<int>(ms);
  }
  if (poll(pfds.data(), pfds.size(), timeout) < 0 && errno != EINTR)
    throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
  watch_.ReadLinkEvents([this](const LinkInfo& l) { OnLink(l); });
  carp::Actions out;
  for (auto& [name, d] : devs_) {
    for (CarpSocket* s : {d.v4.get(), d.v6.get()}) {
      if (!s) continue;
      // Bounded per wake-up so a flood cannot starve the timers.
      for (int i = 0; i < 64; ++i) {
        carp::IpPacket p;
        auto r = s->Receive(p);
        if (r == CarpSocket::Read::kNone) break;
        if (r == CarpSocket::Read::kMalformed || p.protocol != carp::kIpProtoCarp) continue;
        engine_->Receive(carp::RxAdvert{name, p.src, p.dst, p.ttl, p.payload}, MonotonicNow(), out);
        Apply(out);
      }
    }
  }
  const sim::Time now = MonotonicNow();
  if (engine_->NextDeadline() <= now) {
    engine_->OnTimer(now, out);
    Apply(out);
  }
}

void CarpNode::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) Step(200);
}

void CarpNode::Shutdown() {
  carp::Actions out;
  for (const auto& name : engine_->interfaces()) engine_->SetAdminUp(name, false, MonotonicNow(), out);
  Apply(out);
}

std::optional<std::string> CarpNode::AdminGroupDemote(const std::string& group, int delta) {
  carp::Actions out;
  std::optional<std::string> err = engine_->AdminGroupDemote(group, delta, MonotonicNow(), out);
  Apply(out);
  return err;
}

void CarpNode::Demote(const std::string& name, int delta, std::string_view reason) {
  carp::Actions out;
  engine_->Demote(name, delta, reason, MonotonicNow(), out);
  Apply(out);
}

std::string CarpNode::Status() const {
  std::string s;
  for (const auto& name : engine_->interfaces()) s += engine_->Status(name);
  return s;
}

}  // namespace hapf::linux
