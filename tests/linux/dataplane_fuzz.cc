// Fuzzes what the data plane parses: packet bytes (transport header location,
// checksum writing) and rtnetlink link messages.
#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "linux/iface_table.h"
#include "linux/nfq_packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hapf::linux;
  std::vector<uint8_t> pkt(data, data + size);
  std::optional<L4Location> l4 = LocateL4(pkt);
  if (l4 && (l4->offset > pkt.size() || l4->length > pkt.size() - l4->offset)) __builtin_trap();
  if (WriteL4Checksum(pkt)) {
    // Writing the checksum of a packet whose checksum is right changes nothing.
    std::vector<uint8_t> again = pkt;
    if (!WriteL4Checksum(again) || again != pkt) __builtin_trap();
  }
  // The same bytes as the body of an rtnetlink message with a consistent length.
  std::vector<uint8_t> msg(NLMSG_HDRLEN + size);
  auto len = static_cast<uint32_t>(msg.size());
  std::memcpy(msg.data(), &len, 4);
  const uint16_t type = size > 0 && (data[0] & 1) ? 17 /* RTM_DELLINK */ : 16 /* RTM_NEWLINK */;
  std::memcpy(msg.data() + 4, &type, 2);
  std::memcpy(msg.data() + NLMSG_HDRLEN, data, size);
  IfaceRegistry registry;
  registry.ApplyLinkMessage(msg.data());
  for (const IfaceEntry& e : registry.Snapshot()->entries()) {
    if (e.name.empty() || registry.Snapshot()->Find(e.index) == nullptr) __builtin_trap();
  }
  return 0;
}
