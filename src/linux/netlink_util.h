// A libmnl socket that closes itself, for the short netlink conversations of
// the data plane (nf_tables batches, queue configuration, link dumps).
#pragma once

#include <libmnl/libmnl.h>

namespace hapf::linux {

// Calls f(attr) for each attribute in [begin, end): libmnl's iteration macros
// do not compile as C++.
template <class F>
void ForEachAttr(const void* begin, const void* end, F&& f) {
  const auto* attr = static_cast<const nlattr*>(begin);
  const char* stop = static_cast<const char*>(end);
  while (mnl_attr_ok(attr, static_cast<int>(stop - reinterpret_cast<const char*>(attr)))) {
    f(attr);
    attr = mnl_attr_next(attr);
  }
}
// The attributes of a message after a fixed header of `header_len` bytes.
// Bounded by nlmsg_len itself, not its aligned value (libmnl's tail): the
// padding of a message that ends a buffer may not be there.
template <class F>
void ForEachMsgAttr(const nlmsghdr* nlh, size_t header_len, F&& f) {
  ForEachAttr(mnl_nlmsg_get_payload_offset(nlh, header_len), reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len, f);
}
// The attributes nested in `nest`.
template <class F>
void ForEachNested(const nlattr* nest, F&& f) {
  ForEachAttr(mnl_attr_get_payload(nest),
              static_cast<const char*>(mnl_attr_get_payload(nest)) + mnl_attr_get_payload_len(nest), f);
}

class NetlinkSocket {
 public:
  // Opens and binds (auto port id) a socket of `bus` (NETLINK_ROUTE, ...),
  // joining `groups` (a legacy multicast group mask). ok() says if it worked;
  // errno is left as the failing call set it.
  explicit NetlinkSocket(int bus, unsigned groups = 0) {
    sock_ = mnl_socket_open(bus);
    if (sock_ != nullptr && mnl_socket_bind(sock_, groups, MNL_SOCKET_AUTOPID) < 0) {
      mnl_socket_close(sock_);
      sock_ = nullptr;
    }
  }
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  ~NetlinkSocket() {
    if (sock_ != nullptr) mnl_socket_close(sock_);
  }

  bool ok() const { return sock_ != nullptr; }
  mnl_socket* get() const { return sock_; }
  int fd() const { return mnl_socket_get_fd(sock_); }
  unsigned port_id() const { return mnl_socket_get_portid(sock_); }

 private:
  mnl_socket* sock_ = nullptr;
};

}  // namespace hapf::linux
