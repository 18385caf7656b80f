// Built-in name databases for pf.conf: services, protocols, users, groups,
// ICMP types and codes. hapf never consults the host's /etc/services,
// /etc/protocols or passwd: the values are OpenBSD's, so a ruleset means the
// same thing (and prints the same way) on every machine.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hapf::pf {

std::optional<uint16_t> ServicePort(std::string_view name);
std::optional<uint8_t> ProtocolNumber(std::string_view name);
// The canonical (first) name pfctl prints for a protocol, or empty.
std::string_view ProtocolName(uint8_t number);
std::optional<uint32_t> UserId(std::string_view name);
std::optional<uint32_t> GroupId(std::string_view name);

std::optional<uint8_t> IcmpTypeNumber(std::string_view name, bool v6);
std::string_view IcmpTypeName(uint8_t type, bool v6);
// Code names are tied to their type: returns {type, code}.
struct IcmpCode {
  uint8_t type;
  uint8_t code;
};
std::optional<IcmpCode> IcmpCodeByName(std::string_view name, bool v6);
std::string_view IcmpCodeName(uint8_t type, uint8_t code, bool v6);

}  // namespace hapf::pf
