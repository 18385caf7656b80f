#include "carp/config.h"

#include <charconv>
#include <optional>
#include <vector>

namespace hapf::carp {

namespace {

// Splits a line into words; double quotes group words (description "a b").
std::optional<std::vector<std::string>> Tokenize(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i >= line.size()) break;
    std::string word;
    if (line[i] == '"') {
      size_t end = line.find('"', i + 1);
      if (end == std::string_view::npos) return std::nullopt;
      word = std::string(line.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') word += line[i++];
    }
    out.push_back(std::move(word));
  }
  return out;
}

std::optional<int> ParseInt(std::string_view s, int lo, int hi) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

// A netmask as ifconfig takes it: dotted quad or 0x hex.
std::optional<int> ParseNetmask(std::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), v, 16);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return net::MaskToPrefixLen(net::IpAddr::V4(v));
  }
  auto a = net::IpAddr::Parse(s);
  if (!a || !a->is_v4()) return std::nullopt;
  return net::MaskToPrefixLen(*a);
}

class LineParser {
 public:
  LineParser(VhostConfig& cfg, std::vector<std::string> words) : cfg_(cfg), w_(std::move(words)) {}

  std::optional<std::string> Run() {
    if (w_.empty()) return std::nullopt;
    if (w_[0] == "inet" || w_[0] == "inet6") {
      if (auto e = Address(w_[0] == "inet6")) return e;
    }
    while (i_ < w_.size()) {
      if (auto e = Option()) return e;
    }
    return std::nullopt;
  }

 private:
  bool More() const { return i_ < w_.size(); }
  const std::string& Peek() const { return w_[i_]; }
  std::optional<std::string> Arg(const std::string& kw, std::string& out) {
    if (!More()) return "missing value after " + kw;
    out = w_[i_++];
    return std::nullopt;
  }

  std::optional<std::string> Address(bool v6) {
    ++i_;
    if (More() && Peek() == "alias") ++i_;
    if (!More()) return std::string(v6 ? "inet6" : "inet") + ": missing address";
    std::string text = w_[i_++];
    std::optional<int> len;
    if (auto slash = text.find('/'); slash != std::string::npos) {
      len = ParseInt(std::string_view(text).substr(slash + 1), 0, v6 ? 128 : 32);
      if (!len) return "bad prefix length in " + text;
      text.resize(slash);
    }
    auto addr = net::IpAddr::Parse(text);
    if (!addr || addr->is_v6() != v6) return "bad " + std::string(v6 ? "IPv6" : "IPv4") + " address " + text;
    if (!v6) {
      // hostname.if positional form: ADDR MASK BROADCAST, either may be NONE.
      if (!len && More() && (Peek() == "NONE" || ParseNetmask(Peek()))) {
        if (Peek() != "NONE") len = ParseNetmask(Peek());
        ++i_;
        if (More() && (Peek() == "NONE" || net::IpAddr::Parse(Peek()))) ++i_;
      }
    } else if (!len && More() && ParseInt(Peek(), 0, 128)) {
      len = ParseInt(Peek(), 0, 128);
      ++i_;
    }
    // Keyword forms: netmask M, broadcast B, prefixlen N.
    while (More()) {
      if (Peek() == "netmask" && !v6) {
        ++i_;
        if (!More() || !ParseNetmask(Peek())) return "bad netmask";
        len = ParseNetmask(w_[i_++]);
      } else if (Peek() == "broadcast" && !v6) {
        i_ += 2;
      } else if (Peek() == "prefixlen" && v6) {
        ++i_;
        if (!More() || !ParseInt(Peek(), 0, 128)) return "bad prefixlen";
        len = ParseInt(w_[i_++], 0, 128);
      } else {
        break;
      }
    }
    // Without a mask: a host address for inet, ifconfig's default /64 for inet6.
    if (!len) len = v6 ? 64 : 32;
    cfg_.addresses.push_back(net::Prefix{*addr, static_cast<uint8_t>(*len)});
    return std::nullopt;
  }

  std::optional<std::string> Option() {
    const std::string kw = w_[i_++];
    std::string v;
    auto number = [&](int lo, int hi, uint8_t& out) -> std::optional<std::string> {
      if (auto e = Arg(kw, v)) return e;
      auto n = ParseInt(v, lo, hi);
      if (!n) return kw + " " + v + ": must be " + std::to_string(lo) + ".." + std::to_string(hi);
      out = static_cast<uint8_t>(*n);
      return std::nullopt;
    };
    if (kw == "vhid") return number(1, 255, cfg_.vhid);
    if (kw == "advbase") return number(0, 254, cfg_.advbase);
    if (kw == "advskew") return number(0, 254, cfg_.advskew);
    if (kw == "pass") return Arg(kw, cfg_.passphrase);
    if (kw == "carpdev") return Arg(kw, cfg_.carpdev);
    if (kw == "carppeer") {
      if (auto e = Arg(kw, v)) return e;
      auto a = net::IpAddr::Parse(v);
      if (!a || !a->is_v4()) return "carppeer " + v + ": must be an IPv4 address";
      cfg_.peer = *a;
      return std::nullopt;
    }
    if (kw == "-carppeer") {
      cfg_.peer.reset();
      return std::nullopt;
    }
    if (kw == "state") {
      if (auto e = Arg(kw, v)) return e;
      if (v == "backup")
        cfg_.requested_state = State::kBackup;
      else if (v == "master")
        cfg_.requested_state = State::kMaster;
      else if (v != "init")
        return "state " + v + ": must be init, backup or master";
      return std::nullopt;
    }
    if (kw == "balancing") {
      if (auto e = Arg(kw, v)) return e;
      if (v == "none") return std::nullopt;
      if (v == "ip" || v == "ip-stealth" || v == "ip-unicast")
        return "balancing " + v + " is not supported by hapf (only balancing none)";
      return "balancing " + v + ": unknown mode";
    }
    if (kw == "carpnodes")
      return std::string("carpnodes is not supported by hapf (use one carp interface per vhid)");
    if (kw == "lladdr")
      return std::string("lladdr is not supported by hapf (the virtual MAC is 00:00:5e:00:01:VHID)");
    if (kw == "group") {
      if (auto e = Arg(kw, v)) return e;
      if (v != "carp") cfg_.groups.push_back(v);
      return std::nullopt;
    }
    if (kw == "-group") {
      if (auto e = Arg(kw, v)) return e;
      std::erase(cfg_.groups, v);
      return std::nullopt;
    }
    if (kw == "description" || kw == "descr") return Arg(kw, v);
    if (kw == "-description" || kw == "-descr") return std::nullopt;
    if (kw == "up") {
      cfg_.admin_up = true;
      return std::nullopt;
    }
    if (kw == "down") {
      cfg_.admin_up = false;
      return std::nullopt;
    }
    if (kw == "mtu") {
      if (auto e = Arg(kw, v)) return e;
      if (v != "1500") return "mtu " + v + ": a carp interface has mtu 1500";
      return std::nullopt;
    }
    if (kw == "fastinterval") {
      // hapf extension (not OpenBSD-interoperable): interval in milliseconds.
      if (auto e = Arg(kw, v)) return e;
      auto ms = ParseInt(v, 10, 60000);
      if (!ms) return "fastinterval " + v + ": must be 10..60000 (milliseconds)";
      cfg_.fast_interval = std::chrono::milliseconds(*ms);
      return std::nullopt;
    }
    if (kw == "inet" || kw == "inet6") return kw + " must start the line";
    if (kw == "dhcp" || kw == "autoconf" || kw == "rdomain")
      return kw + " is not supported on a carp interface by hapf";
    return "unknown keyword " + kw;
  }

  VhostConfig& cfg_;
  std::vector<std::string> w_;
  size_t i_ = 0;
};

}  // namespace

std::variant<VhostConfig, ConfigError> ParseHostnameFile(std::string_view file_name, std::string_view text) {
  const std::string file(file_name);
  std::string_view base = file_name;
  if (auto slash = base.rfind('/'); slash != std::string_view::npos) base.remove_prefix(slash + 1);
  constexpr std::string_view kPrefix = "hostname.";
  if (base.substr(0, kPrefix.size()) != kPrefix)
    return ConfigError{file, 0, "file name must be hostname.carpN"};
  std::string_view ifname = base.substr(kPrefix.size());
  if (ifname.size() < 5 || ifname.substr(0, 4) != "carp" ||
      ifname.substr(4).find_first_not_of("0123456789") != std::string_view::npos || ifname.size() > 15)
    return ConfigError{file, 0, "file name must be hostname.carpN (N a number)"};

  VhostConfig cfg;
  cfg.ifname = std::string(ifname);
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) continue;
    if (line[first] == '!') return ConfigError{file, line_no, "shell commands (!) are not supported"};
    auto words = Tokenize(line);
    if (!words) return ConfigError{file, line_no, "unterminated quote"};
    LineParser p(cfg, std::move(*words));
    if (auto e = p.Run()) return ConfigError{file, line_no, *e};
    if (end == text.size()) break;
  }
  if (cfg.vhid == 0) return ConfigError{file, line_no, "no vhid configured"};
  if (cfg.carpdev.empty()) return ConfigError{file, line_no, "no carpdev configured"};
  if (cfg.addresses.empty()) return ConfigError{file, line_no, "no inet or inet6 address configured"};
  return cfg;
}

}  // namespace hapf::carp
