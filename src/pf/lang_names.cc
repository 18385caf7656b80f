#include "pf/lang_names.h"

#include <array>

namespace hapf::pf {
namespace {

template <typename T>
struct Named {
  std::string_view name;
  T value;
};

constexpr Named<uint16_t> kServices[] = {
    {"tcpmux", 1},     {"echo", 7},        {"discard", 9},     {"systat", 11},
    {"daytime", 13},   {"netstat", 15},    {"qotd", 17},       {"chargen", 19},
    {"ftp-data", 20},  {"ftp", 21},        {"ssh", 22},        {"telnet", 23},
    {"smtp", 25},      {"time", 37},       {"whois", 43},      {"domain", 53},
    {"bootps", 67},    {"bootpc", 68},     {"tftp", 69},       {"gopher", 70},
    {"finger", 79},    {"www", 80},        {"http", 80},       {"kerberos", 88},
    {"pop3", 110},     {"sunrpc", 111},    {"auth", 113},      {"ident", 113},
    {"nntp", 119},     {"ntp", 123},       {"netbios-ns", 137}, {"netbios-dgm", 138},
    {"netbios-ssn", 139}, {"imap", 143},   {"snmp", 161},      {"snmptrap", 162},
    {"bgp", 179},      {"ldap", 389},      {"https", 443},     {"microsoft-ds", 445},
    {"isakmp", 500},   {"syslog", 514},    {"submission", 587}, {"ldaps", 636},
    {"rsync", 873},    {"imaps", 993},     {"pop3s", 995},     {"openvpn", 1194},
    {"radius", 1812},  {"radacct", 1813},  {"nfsd", 2049},     {"mysql", 3306},
    {"ipsec-nat-t", 4500}, {"sip", 5060},  {"postgresql", 5432}, {"x11", 6000},
};

constexpr Named<uint8_t> kProtocols[] = {
    {"ip", 0},        {"icmp", 1},        {"igmp", 2},       {"ggp", 3},
    {"ipencap", 4},   {"st", 5},          {"tcp", 6},        {"egp", 8},
    {"igp", 9},       {"pup", 12},        {"udp", 17},       {"hmp", 20},
    {"xns-idp", 22},  {"rdp", 27},        {"iso-tp4", 29},   {"ipv6", 41},
    {"ipv6-route", 43}, {"ipv6-frag", 44}, {"idrp", 45},     {"rsvp", 46},
    {"gre", 47},      {"esp", 50},        {"ah", 51},        {"mobile", 55},
    {"skip", 57},     {"ipv6-icmp", 58},  {"icmp6", 58},     {"ipv6-nonxt", 59},
    {"ipv6-opts", 60}, {"rspf", 73},      {"vmtp", 81},      {"ospf", 89},
    {"ipip", 94},     {"encap", 98},      {"pim", 103},      {"ipcomp", 108},
    {"carp", 112},    {"l2tp", 115},      {"sctp", 132},     {"mpls-in-ip", 137},
    {"pfsync", 240},
};

constexpr Named<uint32_t> kUsers[] = {
    {"root", 0},    {"daemon", 1},   {"operator", 2}, {"bin", 3},
    {"build", 21},  {"sshd", 27},    {"_portmap", 28}, {"_identd", 29},
    {"_rstatd", 30}, {"_rusersd", 32}, {"_fingerd", 33}, {"_x11", 35},
    {"_unwind", 48}, {"_switchd", 49}, {"_traceroute", 50}, {"_ping", 51},
    {"_unbound", 53}, {"_dpb", 54}, {"_pbuild", 55}, {"_pfetch", 56},
    {"_pkgfetch", 57}, {"_pkguntar", 58}, {"_spamd", 62}, {"www", 67},
    {"_isakmpd", 68}, {"_rpki-client", 70}, {"_syslogd", 73}, {"_pflogd", 74},
    {"_bgpd", 75}, {"_tcpdump", 76}, {"_dhcp", 77}, {"_mopd", 78},
    {"_tftpd", 79}, {"_rbootd", 80}, {"_ppp", 82}, {"_ntp", 83},
    {"_ftp", 84}, {"_ospfd", 85}, {"_hostapd", 86}, {"_dvmrpd", 87},
    {"_ripd", 88}, {"_relayd", 89}, {"_ospf6d", 90}, {"_snmpd", 91},
    {"_ypldap", 93}, {"_dhcp6", 94}, {"_ldpd", 97}, {"_sndio", 99},
    {"_ldapd", 100}, {"_iked", 101}, {"_smtpd", 103}, {"_rad", 104},
    {"_smtpq", 105}, {"_file", 106}, {"_radiusd", 107}, {"_eigrpd", 108},
    {"_vmd", 109}, {"_tftp_proxy", 110}, {"_ftp_proxy", 111}, {"_sndiop", 112},
    {"_syspatch", 113}, {"_slaacd", 115}, {"nobody", 32767},
};

constexpr Named<uint32_t> kGroups[] = {
    {"wheel", 0},   {"daemon", 1},   {"kmem", 2},     {"sys", 3},
    {"tty", 4},     {"operator", 5}, {"bin", 7},      {"wsrc", 9},
    {"users", 10},  {"auth", 11},    {"games", 13},   {"staff", 20},
    {"wobj", 21},   {"sshd", 27},    {"guest", 31},   {"utmp", 45},
    {"crontab", 66}, {"www", 67},    {"network", 69}, {"authpf", 72},
    {"dialer", 117}, {"nogroup", 32766}, {"nobody", 32767},
};

constexpr Named<uint8_t> kIcmpTypes[] = {
    {"echorep", 0},    {"unreach", 3},   {"squench", 4},    {"redir", 5},
    {"althost", 6},    {"echoreq", 8},   {"routeradv", 9},  {"routersol", 10},
    {"timex", 11},     {"paramprob", 12}, {"timereq", 13},  {"timerep", 14},
    {"inforeq", 15},   {"inforep", 16},  {"maskreq", 17},   {"maskrep", 18},
    {"trace", 30},     {"dataconv", 31}, {"mobredir", 32},  {"ipv6-where", 33},
    {"ipv6-here", 34}, {"mobregreq", 35}, {"mobregrep", 36}, {"skip", 39},
    {"photuris", 40},
};

constexpr Named<uint8_t> kIcmp6Types[] = {
    {"unreach", 1},     {"toobig", 2},      {"timex", 3},       {"paramprob", 4},
    {"echoreq", 128},   {"echorep", 129},   {"groupqry", 130},  {"listqry", 130},
    {"grouprep", 131},  {"listenrep", 131}, {"groupterm", 132}, {"listendone", 132},
    {"routersol", 133}, {"routeradv", 134}, {"neighbrsol", 135}, {"neighbradv", 136},
    {"redir", 137},     {"routrrenum", 138}, {"wrureq", 139},   {"wrurep", 140},
    {"fqdnreq", 139},   {"fqdnrep", 140},   {"niqry", 139},     {"nirep", 140},
    {"listenrepv2", 143}, {"mtraceresp", 200}, {"mtrace", 201},
};

struct NamedCode {
  std::string_view name;
  uint8_t type;
  uint8_t code;
};

constexpr NamedCode kIcmpCodes[] = {
    {"net-unr", 3, 0},        {"host-unr", 3, 1},      {"proto-unr", 3, 2},
    {"port-unr", 3, 3},       {"needfrag", 3, 4},      {"srcfail", 3, 5},
    {"net-unk", 3, 6},        {"host-unk", 3, 7},      {"isolate", 3, 8},
    {"net-prohib", 3, 9},     {"host-prohib", 3, 10},  {"net-tos", 3, 11},
    {"host-tos", 3, 12},      {"filter-prohib", 3, 13}, {"host-preced", 3, 14},
    {"cutoff-preced", 3, 15}, {"redir-net", 5, 0},     {"redir-host", 5, 1},
    {"redir-tos-net", 5, 2},  {"redir-tos-host", 5, 3}, {"normal-adv", 9, 0},
    {"common-adv", 9, 16},    {"transit", 11, 0},      {"reassemb", 11, 1},
    {"badhead", 12, 0},       {"optmiss", 12, 1},      {"badlen", 12, 2},
    {"unknown-ind", 40, 1},   {"auth-fail", 40, 2},    {"decrypt-fail", 40, 3},
};

constexpr NamedCode kIcmp6Codes[] = {
    {"admin-unr", 1, 1},   {"noroute-unr", 1, 0}, {"beyond-unr", 1, 2},
    {"addr-unr", 1, 3},    {"port-unr", 1, 4},    {"transit", 3, 0},
    {"reassemb", 3, 1},    {"badhead", 4, 0},     {"nxthdr", 4, 1},
    {"redironlink", 137, 0}, {"redirrouter", 137, 1},
};

template <typename T, size_t N>
std::optional<T> Find(const Named<T> (&table)[N], std::string_view name) {
  for (const auto& e : table)
    if (e.name == name) return e.value;
  return std::nullopt;
}

template <typename T, size_t N>
std::string_view FindName(const Named<T> (&table)[N], T value) {
  for (const auto& e : table)
    if (e.value == value) return e.name;
  return {};
}

}  // namespace

std::optional<uint16_t> ServicePort(std::string_view name) { return Find(kServices, name); }
std::optional<uint8_t> ProtocolNumber(std::string_view name) { return Find(kProtocols, name); }
std::string_view ProtocolName(uint8_t number) { return FindName(kProtocols, number); }
std::optional<uint32_t> UserId(std::string_view name) { return Find(kUsers, name); }
std::optional<uint32_t> GroupId(std::string_view name) { return Find(kGroups, name); }

std::optional<uint8_t> IcmpTypeNumber(std::string_view name, bool v6) {
  return v6 ? Find(kIcmp6Types, name) : Find(kIcmpTypes, name);
}
std::string_view IcmpTypeName(uint8_t type, bool v6) {
  return v6 ? FindName(kIcmp6Types, type) : FindName(kIcmpTypes, type);
}

std::optional<IcmpCode> IcmpCodeByName(std::string_view name, bool v6) {
  auto search = [&](const auto& table) -> std::optional<IcmpCode> {
    for (const auto& e : table)
      if (e.name == name) return IcmpCode{e.type, e.code};
    return std::nullopt;
  };
  return v6 ? search(kIcmp6Codes) : search(kIcmpCodes);
}

std::string_view IcmpCodeName(uint8_t type, uint8_t code, bool v6) {
  auto search = [&](const auto& table) -> std::string_view {
    for (const auto& e : table)
      if (e.type == type && e.code == code) return e.name;
    return {};
  };
  return v6 ? search(kIcmp6Codes) : search(kIcmpCodes);
}

}  // namespace hapf::pf
