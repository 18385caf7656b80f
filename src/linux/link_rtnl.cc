#include "linux/link_rtnl.h"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace hapf::linux {

namespace {

std::optional<LinkInfo> ParseLink(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) return std::nullopt;
  auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  LinkInfo info;
  info.index = ifi->ifi_index;
  info.up = nlh->nlmsg_type == RTM_NEWLINK && (ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_LOWER_UP);
  mnl_attr_parse(
      nlh, sizeof(*ifi),
      [](const nlattr* attr, void* data) -> int {
        if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
          static_cast<LinkInfo*>(data)->name = mnl_attr_get_str(attr);
        return MNL_CB_OK;
      },
      &info);
  if (info.name.empty()) return std::nullopt;
  return info;
}

struct DumpState {
  std::vector<LinkInfo>* out;
};

int DumpCb(const nlmsghdr* nlh, void* data) {
  auto* st = static_cast<DumpState*>(data);
  if (auto l = ParseLink(nlh)) st->out->push_back(*l);
  return MNL_CB_OK;
}

}  // namespace

Rtnl::Rtnl(bool watch_links) {
  nl_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!nl_) throw std::runtime_error(std::string("netlink socket: ") + std::strerror(errno));
  if (mnl_socket_bind(nl_, watch_links ? RTMGRP_LINK : 0, MNL_SOCKET_AUTOPID) < 0) {
    mnl_socket_close(nl_);
    throw std::runtime_error(std::string("netlink bind: ") + std::strerror(errno));
  }
  portid_ = mnl_socket_get_portid(nl_);
}

Rtnl::~Rtnl() {
  if (nl_) mnl_socket_close(nl_);
}

int Rtnl::fd() const {
  return mnl_socket_get_fd(nl_);
}

std::vector<LinkInfo> Rtnl::DumpLinks() {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = ++seq_;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) throw std::runtime_error("RTM_GETLINK send failed");
  std::vector<LinkInfo> links;
  DumpState st{&links};
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, buf, sizeof buf);
    if (n < 0) throw std::runtime_error(std::string("RTM_GETLINK: ") + std::strerror(errno));
    int r = mnl_cb_run(buf, static_cast<size_t>(n), seq_, portid_, DumpCb, &st);
    if (r <= MNL_CB_STOP) break;
  }
  return links;
}

std::optional<LinkInfo> Rtnl::Link(const std::string& name) {
  for (auto& l : DumpLinks())
    if (l.name == name) return l;
  return std::nullopt;
}

void Rtnl::ReadLinkEvents(const std::function<void(const LinkInfo&)>& on_link) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  for (;;) {
    ssize_t n = recv(fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return;
    auto* nlh = reinterpret_cast<nlmsghdr*>(buf);
    int len = static_cast<int>(n);
    // Walks the datagram with libmnl's bounds-checked iteration.
    while (mnl_nlmsg_ok(nlh, len)) {
      if (auto l = ParseLink(nlh)) on_link(*l);
      nlh = mnl_nlmsg_next(nlh, &len);
    }
  }
}

std::optional<std::string> Rtnl::Request(char* buf) {
  auto* nlh = reinterpret_cast<nlmsghdr*>(buf);
  nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
    return std::string("netlink send: ") + std::strerror(errno);
  char rbuf[MNL_SOCKET_BUFFER_SIZE];
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, rbuf, sizeof rbuf);
    if (n < 0) return std::string("netlink recv: ") + std::strerror(errno);
    int r = mnl_cb_run(rbuf, static_cast<size_t>(n), seq_, portid_, nullptr, nullptr);
    if (r < 0) return std::string(std::strerror(errno));
    if (r == MNL_CB_STOP) return std::nullopt;
  }
}

std::optional<std::string> Rtnl::CreateMacvlan(const std::string& name, int parent_index,
                                               const std::array<uint8_t, 6>& mac) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  mnl_attr_put_u32(nlh, IFLA_LINK, static_cast<uint32_t>(parent_index));
  mnl_attr_put(nlh, IFLA_ADDRESS, mac.size(), mac.data());
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "macvlan");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  mnl_attr_put_u32(nlh, IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, linkinfo);
  if (auto e = Request(buf)) return "create macvlan " + name + ": " + *e;
  return std::nullopt;
}

std::optional<std::string> Rtnl::DeleteLink(const std::string& name) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_DELLINK;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  if (auto e = Request(buf)) return "delete " + name + ": " + *e;
  return std::nullopt;
}

std::optional<std::string> Rtnl::AddAddress(int index, const net::Prefix& prefix) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWADDR;
  nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  const bool v4 = prefix.addr.is_v4();
  ifa->ifa_family = v4 ? AF_INET : AF_INET6;
  ifa->ifa_prefixlen = prefix.len;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<uint32_t>(index);
  const size_t alen = static_cast<size_t>(prefix.addr.size());
  mnl_attr_put(nlh, IFA_LOCAL, alen, prefix.addr.data());
  mnl_attr_put(nlh, IFA_ADDRESS, alen, prefix.addr.data());
  if (v4 && prefix.len < 31) {
    const auto bcast = prefix.addr.LastInPrefix(prefix.len);
    mnl_attr_put(nlh, IFA_BROADCAST, 4, bcast.data());
  }
  if (!v4) mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
  if (auto e = Request(buf)) return "add " + prefix.ToString() + ": " + *e;
  return std::nullopt;
}

}  // namespace hapf::linux
