#include "pfsync/config.h"

#include <fmt/format.h>

#include <charconv>
#include <iterator>
#include <vector>

namespace hapf::pfsync {
namespace {

std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> w;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) w.push_back(s.substr(i, j - i));
    i = j;
  }
  return w;
}

}  // namespace

net::IpAddr PfsyncGroup() { return net::IpAddr::V4(0xe00000f0); }

bool ApplyIfconfig(std::string_view args, PfsyncConfig& cfg, std::string* error) {
  PfsyncConfig next = cfg;
  auto fail = [&](std::string msg) {
    if (error) *error = std::move(msg);
    return false;
  };
  auto words = Words(args);
  for (size_t i = 0; i < words.size(); ++i) {
    std::string_view w = words[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= words.size()) return std::nullopt;
      return words[++i];
    };
    if (w == "syncdev") {
      auto v = value();
      if (!v || v->size() >= kIfNameSize) return fail("syncdev needs an interface name (at most 15 characters)");
      next.syncdev = std::string(*v);
    } else if (w == "-syncdev") {
      next.syncdev.clear();
    } else if (w == "syncpeer") {
      auto v = value();
      auto a = v ? net::IpAddr::Parse(*v) : std::nullopt;
      if (!a || !a->is_v4()) return fail("syncpeer needs an IPv4 address (pfsync has no IPv6 transport)");
      next.syncpeer = *a;
    } else if (w == "-syncpeer") {
      next.syncpeer.reset();
    } else if (w == "maxupd") {
      auto v = value();
      unsigned n = 0;
      if (!v || std::from_chars(v->data(), v->data() + v->size(), n).ec != std::errc() || n > 255)
        return fail("maxupd needs a number 0..255");
      next.maxupd = static_cast<uint8_t>(n);
    } else if (w == "mtu") {
      auto v = value();
      unsigned n = 0;
      if (!v || std::from_chars(v->data(), v->data() + v->size(), n).ec != std::errc() || n <= 40 ||
          n > kMaxPfsyncMtu)
        return fail(fmt::format("mtu needs a number 41..{}", kMaxPfsyncMtu));
      next.mtu = n;
    } else if (w == "defer") {
      // OpenBSD's form is a bare "defer"; "defer on|off" is accepted too.
      if (i + 1 < words.size() && (words[i + 1] == "on" || words[i + 1] == "off"))
        next.defer = words[++i] == "on";
      else
        next.defer = true;
    } else if (w == "-defer") {
      next.defer = false;
    } else if (w == "syncauth") {
      auto v = value();
      if (!v || v->empty()) return fail("syncauth needs a key");
      next.syncauth = std::string(*v);
    } else if (w == "-syncauth") {
      next.syncauth.clear();
    } else if (w == "up") {
      next.up = true;
    } else if (w == "down") {
      next.up = false;
    } else {
      return fail(fmt::format("unknown pfsync option '{}'", w));
    }
  }
  cfg = next;
  return true;
}

std::string StatusLine(const PfsyncConfig& cfg) {
  if (cfg.syncdev.empty()) return "";
  std::string out = fmt::format("\tpfsync: syncdev: {}", cfg.syncdev);
  if (cfg.syncpeer && *cfg.syncpeer != PfsyncGroup()) out += fmt::format(" syncpeer: {}", cfg.syncpeer->ToString());
  out += fmt::format(" maxupd: {} defer: {}", cfg.maxupd, cfg.defer ? "on" : "off");
  if (!cfg.syncauth.empty()) out += " syncauth: on";
  return out;
}

std::string FormatStats(const EngineStats& s, bool all) {
  std::string out = "pfsync:\n";
  // indent, count, noun (+"s" unless the count is 1 or `plural` is false), rest.
  auto line = [&](std::string_view indent, uint64_t n, std::string_view noun, std::string_view rest,
                  bool plural = true) {
    if (n == 0 && !all) return;
    fmt::format_to(std::back_inserter(out), "{}{} {}{}{}\n", indent, n, noun, plural && n != 1 ? "s" : "", rest);
  };
  line("\t", s.ipackets, "packet", " received (IPv4)");
  line("\t", 0, "packet", " received (IPv6)");
  line("\t\t", s.badif, "packet", " discarded for bad interface");
  line("\t\t", s.badttl, "packet", " discarded for bad ttl");
  line("\t\t", s.hdrops, "packet", " shorter than header");
  line("\t\t", s.badver, "packet", " discarded for bad version");
  line("\t\t", s.badauth, "packet", " discarded for bad HMAC");
  line("\t\t", s.badact, "packet", " discarded for bad action");
  line("\t\t", s.badlen, "packet", " discarded for short packet");
  line("\t\t", s.badval, "state", " discarded for bad values");
  line("\t\t", s.stale, "stale state", "");
  line("\t\t", s.badstate, "failed state lookup/insert", "");
  line("\t", s.opackets, "packet", " sent (IPv4)");
  line("\t", 0, "packet", " sent (IPv6)");
  line("\t\t", 0, "send failed due to mbuf memory error", "", false);
  line("\t\t", s.oerrors, "send error", "", false);
  line("\t\t", s.oretries, "send", " postponed: socket buffer full");
  line("\t\t", s.oqdrops, "packet", " dropped: send queue full");
  return out;
}

void ApplyToEngine(const PfsyncConfig& cfg, EngineConfig& engine) {
  engine.maxupd = cfg.maxupd;
  engine.mtu = cfg.mtu;
  engine.defer = cfg.defer;
  engine.auth_key = cfg.syncauth;
}

}  // namespace hapf::pfsync
