#include "pfsync/print.h"

#include <fmt/format.h>

#include <cstring>
#include <iterator>

namespace hapf::pfsync {
namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmp6 = 58;

// Three colon-separated fields, hours unbounded, as "%.2u:%.2u:%.2u".
void AppendHms(std::string& out, uint32_t seconds) {
  fmt::format_to(std::back_inserter(out), "{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60,
                 seconds % 60);
}

// One end of a connection: "(RDOMAIN) ADDR:PORT" for IPv4, "ADDR[PORT]" otherwise.
// tcpdump prints the address in the state's family whatever the key says, so
// the bytes are reinterpreted here rather than trusting the key's IpAddr family.
// Without -n tcpdump resolves names and knows no family but the two: "?".
void AppendHost(std::string& out, const net::IpAddr& addr, uint16_t port, uint16_t rdomain, WireAf af,
                bool numeric) {
  if (rdomain != 0) fmt::format_to(std::back_inserter(out), "({}) ", rdomain);
  bool v4 = af == WireAf::kInet;
  net::IpAddr shown = v4 ? net::IpAddr::V4Bytes(addr.data()) : net::IpAddr::V6Bytes(addr.data());
  if (!numeric && af != WireAf::kInet && af != WireAf::kInet6)
    out += '?';
  else
    out += shown.ToString();
  if (port != 0) {
    if (v4)
      fmt::format_to(std::back_inserter(out), ":{}", port);
    else
      fmt::format_to(std::back_inserter(out), "[{}]", port);
  }
}

// pf's "address differs" test: only defined for the two families it knows.
bool AddrDiffers(const net::IpAddr& a, const net::IpAddr& b, WireAf af) {
  if (af == WireAf::kInet) return std::memcmp(a.data(), b.data(), 4) != 0;
  if (af == WireAf::kInet6) return std::memcmp(a.data(), b.data(), 16) != 0;
  return false;
}

void AppendSeq(std::string& out, const WirePeer& p) {
  fmt::format_to(std::back_inserter(out), "[{} + {}]", p.seqlo, static_cast<uint32_t>(p.seqhi - p.seqlo));
  if (p.seqdiff != 0) fmt::format_to(std::back_inserter(out), "(+{})", p.seqdiff);
}

constexpr std::string_view kTcpStateNames[] = {"CLOSED",      "LISTEN",     "SYN_SENT",   "SYN_RCVD",
                                               "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "CLOSING",
                                               "LAST_ACK",    "FIN_WAIT_2", "TIME_WAIT"};
constexpr std::string_view kSimpleStateNames[] = {"NO_TRAFFIC", "SINGLE", "MULTIPLE"};

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// vis(3) of an interface name as OpenBSD's tcpdump shows it: graphic ASCII
// as is, a backslash doubled, space (also with the meta bit) in octal, other
// bytes as \^X (control), \M-x (meta) or \M^X (meta control).
void AppendVis(std::string& out, std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c > 0x20 && c < 0x7f) {
      out += ch;
    } else if ((c & 0x7f) == ' ') {
      fmt::format_to(std::back_inserter(out), "\\{:03o}", c);
    } else {
      out += '\\';
      if (c & 0x80) {
        out += 'M';
        c &= 0x7f;
      }
      if (c < 0x20 || c == 0x7f) {
        out += '^';
        out += c == 0x7f ? '?' : static_cast<char>(c + '@');
      } else {
        out += '-';
        out += static_cast<char>(c);
      }
    }
  }
}

}  // namespace

std::string ProtoName(uint8_t proto, bool numeric) {
  if (!numeric) {
    switch (proto) {
      case 0: return "ip";
      case kProtoIcmp: return "icmp";
      case 2: return "igmp";
      case 4: return "ipencap";
      case kProtoTcp: return "tcp";
      case kProtoUdp: return "udp";
      case 41: return "ipv6";
      case 47: return "gre";
      case 50: return "esp";
      case 51: return "ah";
      case kProtoIcmp6: return "ipv6-icmp";
      case 89: return "ospf";
      case 97: return "etherip";
      case 103: return "pim";
      case 108: return "ipcomp";
      case 112: return "carp";
      case 132: return "sctp";
      case 240: return "pfsync";
      default: break;
    }
  }
  return std::to_string(proto);
}

void PrintState(const WireState& s, const PrintOptions& opts, std::string& out) {
  // tcpdump names the ends from the creating packet's point of view: for an
  // outbound state src is ours and the stack key is the "inside" one.
  bool out_dir = s.direction == Direction::kOut;
  const WirePeer& src = out_dir ? s.src : s.dst;
  const WirePeer& dst = out_dir ? s.dst : s.src;
  WireKey sk = out_dir ? s.key[kKeyStack] : s.key[kKeyWire];
  const WireKey& nk = out_dir ? s.key[kKeyWire] : s.key[kKeyStack];
  if (s.proto == kProtoIcmp || s.proto == kProtoIcmp6) {
    // The ICMP id lives in one port slot only; do not show it as translated.
    if (out_dir)
      sk.port[0] = nk.port[0];
    else
      sk.port[1] = nk.port[1];
  }
  AppendVis(out, s.ifname.view());
  out += ' ';
  out += ProtoName(s.proto, opts.numeric);
  out += ' ';
  // Each host is printed in its own key's family (0 prints as "?" unless -n).
  // With af-to (the keys' families differ) the wire side is printed in the
  // opposite order and the translated side is always shown.
  bool afto = nk.af != sk.af;
  auto host = [&](int n_index, int s_index) {
    AppendHost(out, nk.addr[n_index], nk.port[n_index], nk.rdomain, nk.af, opts.numeric);
    if (afto || AddrDiffers(nk.addr[s_index], sk.addr[s_index], nk.af) || nk.port[s_index] != sk.port[s_index]) {
      out += " (";
      AppendHost(out, sk.addr[s_index], sk.port[s_index], sk.rdomain, sk.af, opts.numeric);
      out += ')';
    }
  };
  host(afto ? 0 : 1, 1);
  out += out_dir ? " -> " : " <- ";
  host(afto ? 1 : 0, 0);
  out += "    ";
  if (s.proto == kProtoTcp) {
    if (src.state <= kTcpTimeWait && dst.state <= kTcpTimeWait)
      fmt::format_to(std::back_inserter(out), "\n   {}:{}", kTcpStateNames[src.state], kTcpStateNames[dst.state]);
    else if (src.state == kTcpProxySrc || dst.state == kTcpProxySrc)
      out += "\n   PROXY:SRC";
    else if (src.state == kTcpProxyDst || dst.state == kTcpProxyDst)
      out += "\n   PROXY:DST";
    else
      fmt::format_to(std::back_inserter(out), "\n   <BAD STATE LEVELS {}:{}>", src.state, dst.state);
    if (opts.verbose >= 1) {
      bool both_scale = src.wscale != 0 && dst.wscale != 0;
      out += "\n   ";
      AppendSeq(out, src);
      if (both_scale) fmt::format_to(std::back_inserter(out), " wscale {}", src.wscale & 0x0f);
      out += "  ";
      AppendSeq(out, dst);
      if (both_scale) fmt::format_to(std::back_inserter(out), " wscale {}", dst.wscale & 0x0f);
    }
  } else if (s.proto != kProtoIcmp && src.state < 3 && dst.state < 3) {  // UDP and "other" share the names
    fmt::format_to(std::back_inserter(out), "   {}:{}", kSimpleStateNames[src.state],
                   kSimpleStateNames[dst.state]);
  } else {
    fmt::format_to(std::back_inserter(out), "   {}:{}", src.state, dst.state);
  }
  if (opts.verbose >= 1) {
    out += "\n   age ";
    AppendHms(out, s.creation);
    out += ", expires in ";
    AppendHms(out, s.expire);
    fmt::format_to(std::back_inserter(out), ", {}:{} pkts, {}:{} bytes", s.packets[0], s.packets[1], s.bytes[0],
                   s.bytes[1]);
    if (s.anchor != 0xffffffff) fmt::format_to(std::back_inserter(out), ", anchor {}", s.anchor);
    if (s.rule != 0xffffffff) fmt::format_to(std::back_inserter(out), ", rule {}", s.rule);
  }
  if (opts.verbose >= 2)
    fmt::format_to(std::back_inserter(out), "\n   id: {:016x} creatorid: {:08x}", s.id, s.creatorid);
}

void PrintPacket(std::span<const uint8_t> pfsync, const PrintOptions& opts, std::string& out) {
  if (pfsync.size() < kHeaderSize) {
    out += "[|pfsync]";
    return;
  }
  const uint8_t* p = pfsync.data();
  // Signed on purpose: tcpdump's walk lets both run negative and reports it.
  long plen = Be16(p + 2);
  fmt::format_to(std::back_inserter(out), "PFSYNCv{} len {}", p[0], plen);
  if (p[0] != kVersion) return;
  plen -= static_cast<long>(kHeaderSize);
  long avail = static_cast<long>(pfsync.size() - kHeaderSize);
  const uint8_t* bp = p + kHeaderSize;

  while (plen > 0) {
    if (avail < static_cast<long>(kSubheaderSize)) break;
    uint8_t action = bp[0];
    uint16_t count = Be16(bp + 2);
    bp += kSubheaderSize;
    avail -= kSubheaderSize;
    plen -= kSubheaderSize;
    if (action >= kActionCount) {
      fmt::format_to(std::back_inserter(out), "\n    act UNKNOWN id {}", action);
      return;
    }
    fmt::format_to(std::back_inserter(out), "\n    act {} count {}", ActionName(action), count);
    auto a = static_cast<Action>(action);
    long item = static_cast<long>(ReceiverItemSize(a));
    if (a == Action::kOldIns || a == Action::kOldUpd || a == Action::kInsF || a == Action::kDelF ||
        a == Action::kOldTdb) {
      out += "\n    unimplemented action";
      return;
    }
    if (a == Action::kEof) {
      if (count > 0) return;
      continue;
    }
    for (uint16_t i = 0; i < count; ++i) {
      if (avail < item) {
        avail = 0;
        break;
      }
      switch (a) {
        case Action::kInsAck:
        case Action::kUpdReq:
        case Action::kDelC: {
          StateId id = DecodeId(bp);
          fmt::format_to(std::back_inserter(out), "\n\tid: {:016x} creatorid: {:08x}", id.id, id.creatorid);
          break;
        }
        case Action::kUpdC: {
          WireUpdC u = DecodeUpdC(bp);
          fmt::format_to(std::back_inserter(out), "\n\tid: {:016x} creatorid: {:08x}", u.id, u.creatorid);
          break;
        }
        case Action::kClr: {
          WireClr c = DecodeClr(bp);
          fmt::format_to(std::back_inserter(out), "\n\tcreatorid: {:08x}", c.creatorid);
          if (!c.ifname.view().empty()) {
            out += " interface: ";
            AppendVis(out, c.ifname.view());
          }
          break;
        }
        case Action::kBus: {
          WireBus b = DecodeBus(bp);
          fmt::format_to(std::back_inserter(out), "\n\tcreatorid: {:08x} age: ", b.creatorid);
          AppendHms(out, b.endtime);
          out += b.status == kBusStart ? " status: start" : b.status == kBusEnd ? " status: end" : " status: UNKNOWN";
          break;
        }
        case Action::kTdb: {
          WireTdb t = DecodeTdb(bp);
          fmt::format_to(std::back_inserter(out), "\n\tspi: 0x{:08x} rpl: {} cur_bytes: {}", t.spi, t.rpl,
                         t.cur_bytes);
          break;
        }
        default: {  // INS, UPD, DEL
          out += '\n';
          PrintState(DecodeState(bp), opts, out);
          break;
        }
      }
      bp += item;
      avail -= item;
      plen -= item;
    }
  }
  if (plen > 0)
    out += "\n    ...";
  else if (plen < 0)
    out += "\n    invalid header length";
  else if (avail > 0)
    out += "\n    invalid packet length";
}

}  // namespace hapf::pfsync
