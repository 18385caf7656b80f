#include "linux/iface_table.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include "linux/netlink_util.h"

namespace hapf::linux {

bool IsCarpName(std::string_view name) {
  if (name.size() <= 4 || name.substr(0, 4) != "carp") return false;
  for (char c : name.substr(4)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string_view DriverGroup(std::string_view name) {
  size_t end = name.size();
  while (end > 0 && name[end - 1] >= '0' && name[end - 1] <= '9') --end;
  if (end == name.size() || end == 0) return {};
  return name.substr(0, end);
}

IfaceTable::IfaceTable(std::vector<IfaceEntry> links, const IfaceNaming& naming)
    : entries_(std::move(links)) {
  uint32_t max_index = 0;
  for (const IfaceEntry& e : entries_) max_index = std::max(max_index, e.index);
  // A dense table for the usual small indexes; big ones fall back to a scan.
  by_index_.assign(std::min<uint32_t>(max_index, 4096) + 1, -1);
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].index < by_index_.size()) by_index_[entries_[i].index] = static_cast<int>(i);
  }
  for (IfaceEntry& e : entries_) {
    e.carp = IsCarpName(e.name);
    e.rule_name = e.name;
    e.groups.clear();
    if (std::string_view driver = DriverGroup(e.name); !driver.empty()) e.groups.emplace_back(driver);
    if (auto it = naming.groups.find(e.name); it != naming.groups.end()) {
      for (const std::string& g : it->second) {
        if (!e.InGroup(g)) e.groups.push_back(g);
      }
    }
    if (auto it = naming.aliases.find(e.name); it != naming.aliases.end()) {
      e.rule_name = it->second;
    } else if (e.carp && e.link_index != 0 && (e.kind == "macvlan" || e.kind == "macvtap")) {
      const IfaceEntry* lower = Find(e.link_index);
      if (lower != nullptr) e.rule_name = lower->name;
    }
  }
}

const IfaceEntry* IfaceTable::FindByName(std::string_view name) const {
  for (const IfaceEntry& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

namespace {

// Fills `out` from an RTM_NEWLINK message; false if it is not one.
bool ParseLink(const nlmsghdr* nlh, IfaceEntry* out) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return false;
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  out->index = static_cast<uint32_t>(ifi->ifi_index);
  ForEachMsgAttr(nlh, sizeof(ifinfomsg), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
      case IFLA_IFNAME:
        if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) out->name = mnl_attr_get_str(attr);
        break;
      case IFLA_LINK:
        if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0) out->link_index = mnl_attr_get_u32(attr);
        break;
      case IFLA_LINKINFO:
        ForEachNested(attr, [&](const nlattr* info) {
          if (mnl_attr_get_type(info) == IFLA_INFO_KIND && mnl_attr_validate(info, MNL_TYPE_NUL_STRING) == 0) {
            out->kind = mnl_attr_get_str(info);
          }
        });
        break;
      default:
        break;
    }
  });
  return out->index != 0 && !out->name.empty();
}

}  // namespace

void IfaceRegistry::ApplyLinkMessage(const void* nlmsg) {
  const auto* nlh = static_cast<const nlmsghdr*>(nlmsg);
  if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) return;
  IfaceEntry e;
  if (!ParseLink(nlh, &e)) return;
  std::lock_guard lock(mu_);
  if (nlh->nlmsg_type == RTM_DELLINK) {
    links_.erase(e.index);
  } else {
    links_[e.index] = std::move(e);
  }
  Publish();
}

void IfaceRegistry::SetNaming(IfaceNaming naming) {
  std::lock_guard lock(mu_);
  naming_ = std::move(naming);
  Publish();
}

void IfaceRegistry::Publish() {
  std::vector<IfaceEntry> links;
  links.reserve(links_.size());
  for (const auto& [index, e] : links_) links.push_back(e);
  snapshot_ = std::make_shared<IfaceTable>(std::move(links), naming_);
  generation_.fetch_add(1, std::memory_order_release);
}

namespace {

// Sends an RTM_GETLINK (a dump when index is 0) and applies every answer.
int QueryLinks(IfaceRegistry& registry, uint32_t index) {
  NetlinkSocket sock(NETLINK_ROUTE);
  if (!sock.ok()) return -errno;
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | (index == 0 ? NLM_F_DUMP : 0);
  nlh->nlmsg_seq = 1;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = static_cast<int>(index);
  if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0) return -errno;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
    if (n < 0) return -errno;
    int len = static_cast<int>(n);
    for (auto* msg = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(msg, len);
         msg = mnl_nlmsg_next(msg, &len)) {
      if (msg->nlmsg_type == NLMSG_DONE) return 0;
      if (msg->nlmsg_type == NLMSG_ERROR) {
        return static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(msg))->error;
      }
      registry.ApplyLinkMessage(msg);
      if (index != 0) return 0;  // a single answer, no NLMSG_DONE
    }
  }
}

}  // namespace

void IfaceRegistry::ResolveNow(uint32_t index) { QueryLinks(*this, index); }

std::string IfaceRegistry::StartWatching() {
  if (watcher_.joinable()) return {};
  // Subscribe before the dump so that no change falls between the two.
  auto sock = std::make_shared<NetlinkSocket>(NETLINK_ROUTE, RTMGRP_LINK);
  if (!sock->ok()) return std::string("rtnetlink socket: ") + std::strerror(errno);
  timeval tv{0, 200 * 1000};  // the watcher checks stop_ this often
  setsockopt(sock->fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (int err = QueryLinks(*this, 0); err != 0) return std::string("link dump: ") + std::strerror(-err);
  stop_ = false;
  watcher_ = std::thread([this, sock] {
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
    while (!stop_.load(std::memory_order_relaxed)) {
      ssize_t n = mnl_socket_recvfrom(sock->get(), buf.data(), buf.size());
      if (n < 0) {
        // ENOBUFS: events were lost; a fresh dump makes the table whole again.
        if (errno == ENOBUFS) QueryLinks(*this, 0);
        continue;
      }
      int len = static_cast<int>(n);
      for (auto* msg = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(msg, len);
           msg = mnl_nlmsg_next(msg, &len)) {
        ApplyLinkMessage(msg);
      }
    }
  });
  return {};
}

void IfaceRegistry::StopWatching() {
  stop_ = true;
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace hapf::linux
