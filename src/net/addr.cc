#include "net/addr.h"

#include <arpa/inet.h>

#include <cstring>

namespace hapf::net {

IpAddr IpAddr::V4(uint32_t host_order) {
  IpAddr a;
  a.family_ = Family::kV4;
  a.bytes_[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes_[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes_[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes_[3] = static_cast<uint8_t>(host_order);
  return a;
}

std::optional<IpAddr> IpAddr::Parse(std::string_view text) {
  // inet_pton is a pure conversion (no syscall); it needs a NUL-terminated copy.
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t out[16];
  if (inet_pton(AF_INET, buf, out) == 1) return V4Bytes(out);
  if (inet_pton(AF_INET6, buf, out) == 1) return V6Bytes(out);
  return std::nullopt;
}

uint32_t IpAddr::v4_host_order() const {
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         uint32_t{bytes_[3]};
}

bool IpAddr::is_zero() const {
  for (int i = 0; i < size(); ++i)
    if (bytes_[i] != 0) return false;
  return true;
}

bool IpAddr::is_multicast() const {
  if (is_v4()) return (bytes_[0] & 0xf0) == 0xe0;
  if (is_v6()) return bytes_[0] == 0xff;
  return false;
}

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) return inet_ntop(AF_INET, bytes_.data(), buf, sizeof buf);
  if (is_v6()) return inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  return "";
}

IpAddr IpAddr::Masked(int len) const {
  IpAddr out = *this;
  for (int i = 0; i < size(); ++i) {
    int bits = len - i * 8;
    if (bits >= 8) continue;
    out.bytes_[i] = bits <= 0 ? 0 : static_cast<uint8_t>(bytes_[i] & (0xff << (8 - bits)));
  }
  return out;
}

IpAddr IpAddr::LastInPrefix(int len) const {
  IpAddr out = *this;
  for (int i = 0; i < size(); ++i) {
    int bits = len - i * 8;
    if (bits >= 8) continue;
    out.bytes_[i] = bits <= 0 ? 0xff : static_cast<uint8_t>(bytes_[i] | (0xff >> bits));
  }
  return out;
}

IpAddr IpAddr::Next() const {
  IpAddr out = *this;
  for (int i = size() - 1; i >= 0; --i)
    if (++out.bytes_[i] != 0) break;
  return out;
}

std::optional<Prefix> Prefix::Parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddr::Parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  if (slash == std::string_view::npos) return Host(*addr);
  std::string_view digits = text.substr(slash + 1);
  if (digits.empty() || digits.size() > 3) return std::nullopt;
  int len = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    len = len * 10 + (c - '0');
  }
  if (len > addr->max_prefix()) return std::nullopt;
  return Prefix{*addr, static_cast<uint8_t>(len)};
}

bool Prefix::Contains(const IpAddr& a) const {
  return a.family() == addr.family() && a.Masked(len) == addr.Masked(len);
}

std::string Prefix::ToString() const {
  if (is_host()) return addr.ToString();
  return addr.ToString() + "/" + std::to_string(len);
}

std::optional<int> MaskToPrefixLen(const IpAddr& mask) {
  int len = 0;
  bool ended = false;
  for (int i = 0; i < mask.size(); ++i) {
    for (int b = 7; b >= 0; --b) {
      bool one = (mask.bytes()[i] >> b) & 1;
      if (one && ended) return std::nullopt;
      if (one) ++len;
      else ended = true;
    }
  }
  return len;
}

std::string MacToString(const MacAddr& mac) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(17);
  for (size_t i = 0; i < mac.size(); ++i) {
    if (i) out.push_back(':');
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 0xf]);
  }
  return out;
}

std::optional<MacAddr> ParseMac(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  MacAddr mac;
  for (size_t i = 0; i < 6; ++i) {
    int hi = nibble(text[i * 3]), lo = nibble(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) return std::nullopt;
    mac[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return mac;
}

}  // namespace hapf::net
