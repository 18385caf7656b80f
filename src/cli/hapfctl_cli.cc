#include "cli/hapfctl_cli.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <time.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "daemon/control.h"
#include "linux/pfsync_dump.h"
#include "pf/lang_parser.h"
#include "pf/lang_printer.h"

namespace hapf::cli {
namespace {

net::IpAddr FromSockaddr(const sockaddr* sa) {
  if (!sa) return {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return net::IpAddr::V4Bytes(reinterpret_cast<const uint8_t*>(&in->sin_addr));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return net::IpAddr::V6Bytes(in6->sin6_addr.s6_addr);
  }
  return {};
}

const char* kUsage =
    "usage: hapfctl [-denNOqv] [-a anchor] [-D macro=value] [-F modifier] [-f file] [-K host] [-k host]\n"
    "               [-o level] [-s modifier] [-t table -T command [address ...]]\n"
    "       hapfctl carp [-g group] [demote N] | pfsync [-v] | pfsync dump [-v] file | -i if\n"
    "       hapfctl sync [push] | pflog [file] | log [-af] [file]\n"
    "       hapfctl debug flows count N from ADDR [sources N] to ADDR [port P] in IF [out IF] [proto udp|tcp]\n"
    "               [rate N]\n";

// Sends one request; appends the answer. False (and the error line) on failure.
bool Call(const std::string& socket, const nlohmann::json& request, std::string& out, std::string& err,
          nlohmann::json* reply_out = nullptr) {
  nlohmann::json reply;
  std::string e;
  if (!daemon::ControlCall(socket, request, reply, e)) {
    err += "hapfctl: " + e + "\n";
    return false;
  }
  if (reply.contains("out") && reply["out"].is_string()) out += reply["out"].get<std::string>();
  if (reply.contains("err") && reply["err"].is_string()) err += reply["err"].get<std::string>();
  if (reply_out != nullptr) *reply_out = reply;
  return reply.value("ok", false);
}

// Waits (at most 5 s) for the peers' answers to a configuration push and
// prints them; false when a peer refused it.
bool WaitForSync(const std::string& socket, uint64_t generation, std::string& out, std::string& err) {
  const nlohmann::json req = {
      {"cmd", "component"}, {"name", "sync"}, {"args", {"result", std::to_string(generation)}}, {"verbose", 0}};
  for (int i = 0; i < 100; ++i) {
    std::string o, e;
    bool ok = Call(socket, req, o, e);
    if (ok && o == "pending\n") {
      timespec ts{0, 50 * 1000 * 1000};
      nanosleep(&ts, nullptr);
      continue;
    }
    (ok ? out : err) += "sync generation " + std::to_string(generation) + ":\n" + o + e;
    return ok;
  }
  err += "hapfctl: sync generation " + std::to_string(generation) + ": no answer from the peers\n";
  return false;
}

// pfctl accepts unique prefixes of the -s and -F modifiers ("-s r", "-F st").
std::string Modifier(const std::string& word, std::initializer_list<const char*> names) {
  if (word.empty()) return word;
  for (const char* n : names) {
    if (std::string_view(n).substr(0, word.size()) == word) return n;
  }
  return word;
}

// `hapfctl debug flows ...`: synthetic first packets judged inside hapfd
// (Filter::JudgeSynthetic), sent as requests of at most 4096 flows, paced to
// `rate` flows a second when given (against the monotonic clock, so a slow
// request is caught up), as fast as hapfd takes them otherwise.
int DebugFlows(const std::vector<std::string>& args, const std::string& socket, std::string& out, std::string& err) {
  nlohmann::json req = {{"cmd", "debug"}, {"what", "flows"}};
  uint64_t count = 0, rate = 0;
  const std::map<std::string, std::string> keys = {{"from", "source"}, {"to", "destination"}, {"in", "in"},
                                                   {"out", "out"},     {"proto", "proto"}};
  const std::map<std::string, std::string> numbers = {{"sources", "sources"}, {"port", "port"}};
  for (size_t i = 2; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) {
      err += "hapfctl: debug flows: " + args[i] + " needs a value\n";
      return 1;
    }
    const std::string& k = args[i];
    const std::string& v = args[i + 1];
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    const bool numeric = !v.empty() && std::isdigit(static_cast<unsigned char>(v[0])) && *end == '\0';
    if (keys.count(k)) {
      req[keys.at(k)] = v;
    } else if ((numbers.count(k) || k == "count" || k == "rate") && !numeric) {
      err += "hapfctl: debug flows: " + k + ": not a number: " + v + "\n";
      return 1;
    } else if (numbers.count(k)) {
      req[numbers.at(k)] = static_cast<uint64_t>(n);
    } else if (k == "count") {
      count = n;
    } else if (k == "rate") {
      rate = n;
    } else {
      err += "hapfctl: debug flows: unknown word " + k + "\n" + kUsage;
      return 1;
    }
  }
  if (count == 0) {
    err += "hapfctl: debug flows: count N (at least 1)\n";
    return 1;
  }
  timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  auto elapsed_ns = [&t0] {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t{t.tv_sec} - t0.tv_sec) * 1000000000 + (t.tv_nsec - t0.tv_nsec);
  };
  // Paced: a request every 10 ms (or every flow below 100 a second).
  const uint64_t chunk = rate == 0 ? 4096 : std::clamp<uint64_t>(rate / 100, 1, 4096);
  uint64_t passed = 0, blocked = 0;
  for (uint64_t done = 0; done < count;) {
    if (rate != 0) {
      const int64_t due = static_cast<int64_t>(done * 1000000000.0 / static_cast<double>(rate));
      if (const int64_t wait = due - elapsed_ns(); wait > 0) {
        timespec ts{wait / 1000000000, wait % 1000000000};
        nanosleep(&ts, nullptr);
      }
    }
    req["first"] = done;
    req["count"] = std::min(chunk, count - done);
    nlohmann::json reply;
    std::string o;
    if (!Call(socket, req, o, err, &reply)) return 1;
    passed += reply.value("passed", uint64_t{0});
    blocked += reply.value("blocked", uint64_t{0});
    done += req["count"].get<uint64_t>();
  }
  const double seconds = static_cast<double>(elapsed_ns()) / 1e9;
  char line[200];
  std::snprintf(line, sizeof line, "%llu flows in %.3f s (%.0f/s): %llu passed, %llu blocked\n",
                static_cast<unsigned long long>(count), seconds, static_cast<double>(count) / seconds,
                static_cast<unsigned long long>(passed), static_cast<unsigned long long>(blocked));
  out += line;
  return 0;
}

}  // namespace

SystemHostEnvironment::SystemHostEnvironment() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return;
  std::map<std::string, size_t> index;
  for (ifaddrs* ifa = list; ifa; ifa = ifa->ifa_next) {
    std::string name = ifa->ifa_name;
    if (!index.count(name)) {
      index[name] = interfaces_.size();
      pf::InterfaceInfo info;
      info.name = name;
      info.loopback = ifa->ifa_flags & IFF_LOOPBACK;
      info.point_to_point = ifa->ifa_flags & IFF_POINTOPOINT;
      info.broadcast = ifa->ifa_flags & IFF_BROADCAST;
      std::string group = name;
      while (!group.empty() && std::isdigit(static_cast<unsigned char>(group.back()))) group.pop_back();
      if (!group.empty() && group != name) info.groups.push_back(group);
      interfaces_.push_back(info);
    }
    if (!ifa->ifa_addr || (ifa->ifa_addr->sa_family != AF_INET && ifa->ifa_addr->sa_family != AF_INET6))
      continue;
    pf::InterfaceAddress a;
    a.addr = FromSockaddr(ifa->ifa_addr);
    std::optional<int> len = net::MaskToPrefixLen(FromSockaddr(ifa->ifa_netmask));
    a.prefix_len = len ? *len : a.addr.max_prefix();
    if (ifa->ifa_flags & IFF_POINTOPOINT) a.peer = FromSockaddr(ifa->ifa_dstaddr);
    else if (ifa->ifa_flags & IFF_BROADCAST) a.broadcast = FromSockaddr(ifa->ifa_broadaddr);
    if (ifa->ifa_addr->sa_family == AF_INET6)
      a.scope = reinterpret_cast<const sockaddr_in6*>(ifa->ifa_addr)->sin6_scope_id;
    interfaces_[index[name]].addrs.push_back(a);
  }
  freeifaddrs(list);
}

std::vector<net::IpAddr> SystemHostEnvironment::Resolve(const std::string& name) const {
  std::vector<net::IpAddr> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* r = res; r; r = r->ai_next) {
    net::IpAddr a = FromSockaddr(r->ai_addr);
    if (!a.empty()) out.push_back(a);
  }
  freeaddrinfo(res);
  return out;
}

std::optional<std::string> SystemHostEnvironment::ReadFile(const std::string& path, std::string& error) const {
  pf::StaticHostEnvironment disk;
  return disk.ReadFile(path, error);
}

int HapfctlMain(const std::vector<std::string>& args, std::string_view stdin_text, std::string& out,
                std::string& err, const pf::HostEnvironment& env, const std::string& control_socket) {
  // `hapfctl pfsync dump ...` decodes pfsync traffic here, without the daemon.
  if (args.size() >= 2 && args[0] == "pfsync" && args[1] == "dump") {
    return linux::PfsyncDumpMain(std::vector<std::string>(args.begin() + 2, args.end()),
                                 [&out](std::string_view text) { out += text; }, err);
  }
  if (args.size() >= 2 && args[0] == "debug" && args[1] == "flows") return DebugFlows(args, control_socket, out, err);
  // `hapfctl sync push`: publish the configuration directory, wait for the peers.
  if (args.size() == 2 && args[0] == "sync" && args[1] == "push") {
    nlohmann::json req = {{"cmd", "component"}, {"name", "sync"}, {"args", {"push"}}, {"verbose", 0}};
    std::string o;
    if (!Call(control_socket, req, o, err)) return 1;
    out += o;
    return WaitForSync(control_socket, std::strtoull(o.c_str() + 11, nullptr, 10), out, err) ? 0 : 1;
  }
  // `hapfctl carp [...]`, `pfsync [...]`, `sync [status]`, `pflog [file]`: a hosted component's status.
  if (!args.empty() && (args[0] == "carp" || args[0] == "pfsync" || args[0] == "sync" || args[0] == "pflog")) {
    int verbose = 0;
    std::vector<std::string> words;
    for (size_t i = 1; i < args.size(); ++i) {
      if (args[i] == "-v" || args[i] == "-vv") verbose += static_cast<int>(args[i].size()) - 1;
      else words.push_back(args[i]);
    }
    nlohmann::json req = {{"cmd", "component"}, {"name", args[0]}, {"args", words}, {"verbose", verbose}};
    return Call(control_socket, req, out, err) ? 0 : 1;
  }
  bool noaction = false, options_only = false, quiet = false;
  int verbose = 0;
  std::string file, anchor, optimizer = "basic", show, flush_what, table, table_cmd;
  bool have_file = false, flush = false, enable = false, disable = false;
  std::vector<std::string> kill_hosts, kill_src_hosts, positional;
  pf::ParseOptions popts;
  // getopt-style parsing: flags combine ("-nvf -"), arguments attach or follow.
  const std::string with_arg = "afDFoskKtT";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') {
      if (!table_cmd.empty()) {  // addresses after -T add|delete|test|replace
        positional.push_back(a);
        continue;
      }
      err += "hapfctl: unexpected argument " + a + " (see hapfctl without arguments for the usage)\n";
      return 1;
    }
    for (size_t j = 1; j < a.size(); ++j) {
      char c = a[j];
      std::string value;
      if (with_arg.find(c) != std::string::npos) {
        if (j + 1 < a.size()) {
          value = a.substr(j + 1);
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          err += "hapfctl: option requires an argument -- " + std::string(1, c) + "\n";
          return 1;
        }
        j = a.size();
      }
      switch (c) {
        case 'n': noaction = true; break;
        case 'v': ++verbose; break;
        case 'q': quiet = true; break;
        case 'O': options_only = true; break;
        case 'N': popts.no_dns = true; break;
        case 'f': file = value; have_file = true; break;
        case 'a': anchor = value; break;
        case 'F': flush = true; flush_what = value; break;
        case 'e': enable = true; break;
        case 'd': disable = true; break;
        case 's': show = value; break;
        case 'k': kill_hosts.push_back(value); break;
        case 'K': kill_src_hosts.push_back(value); break;
        case 't': table = value; break;
        case 'T': table_cmd = value; break;
        case 'o': optimizer = value; break;
        case 'D': {
          size_t eq = value.find('=');
          if (eq == std::string::npos || eq == 0) {
            err += "hapfctl: could not parse macro definition " + value + "\n";
            return 1;
          }
          popts.defines.emplace_back(value.substr(0, eq), value.substr(eq + 1));
          break;
        }
        default:
          err += "hapfctl: unknown option -- " + std::string(1, c) + "\n";
          return 1;
      }
    }
  }
  (void)quiet;
  if (optimizer != "none" && optimizer != "basic" && optimizer != "profile") {
    err += "hapfctl: unknown optimization level " + optimizer + "\n";
    return 1;
  }
  if (!noaction) {
    // pfctl's order: flush, load, enable/disable, kill, show, tables.
    std::vector<nlohmann::json> requests;
    if (!anchor.empty()) {
      // pfctl -a: only a load, a rules flush and a rules listing can name an anchor here.
      const bool flush_rules = flush && Modifier(flush_what, {"rules", "states", "info", "all"}) == "rules";
      const bool show_rules = !show.empty() && Modifier(show, {"rules", "states", "info", "labels", "timeouts",
                                                               "memory", "Tables", "all"}) == "rules";
      if ((flush && !flush_rules) || (!show.empty() && !show_rules) || !kill_hosts.empty() ||
          !kill_src_hosts.empty() || !table.empty() ||
          enable || disable) {
        err += "hapfctl: -a applies to -f, -F rules and -s rules only\n";
        return 1;
      }
      if (anchor.find('*') != std::string::npos || anchor.front() == '/' || anchor.back() == '/') {
        err += "hapfctl: invalid anchor name " + anchor + "\n";
        return 1;
      }
    }
    if (flush) {
      std::string what = Modifier(flush_what, {"rules", "states", "info", "all"});
      requests.push_back({{"cmd", "flush"}, {"what", what}});
    }
    if (have_file) {
      std::string text;
      if (file == "-") {
        text = std::string(stdin_text);
      } else {
        std::string e;
        std::optional<std::string> t = env.ReadFile(file, e);
        if (!t) {
          err += "hapfctl: " + file + ": " + e + "\n";
          return 1;
        }
        text = std::move(*t);
      }
      requests.push_back({{"cmd", "load"}, {"text", text}, {"filename", file == "-" ? "stdin" : file}});
    }
    if (enable) requests.push_back({{"cmd", "enable"}});
    if (disable) requests.push_back({{"cmd", "disable"}});
    if (!kill_hosts.empty()) requests.push_back({{"cmd", "kill"}, {"hosts", kill_hosts}});
    if (!kill_src_hosts.empty())
      requests.push_back({{"cmd", "kill"}, {"what", "src_nodes"}, {"hosts", kill_src_hosts}});
    if (!show.empty()) {
      requests.push_back({{"cmd", "show"},
                          {"what", Modifier(show, {"rules", "states", "info", "labels", "timeouts", "memory",
                                                   "Tables", "Sources", "all"})},
                          {"verbose", verbose}});
      const std::string what = requests.back()["what"];
      if (what == "Tables") requests.back()["what"] = "tables";
      if (what == "Sources") requests.back()["what"] = "sources";
    }
    if (!table_cmd.empty() || !table.empty()) {
      if (table.empty() || table_cmd.empty()) {
        err += "hapfctl: -T needs -t table and -t needs -T command\n";
        return 1;
      }
      requests.push_back({{"cmd", "table"}, {"table", table}, {"op", table_cmd}, {"addresses", positional}});
    }
    if (requests.empty()) {
      err += kUsage;
      return 1;
    }
    for (nlohmann::json r : requests) {
      if (!anchor.empty()) r["anchor"] = anchor;
      nlohmann::json reply;
      if (!Call(control_socket, r, out, err, &reply)) return 1;
      if (reply.contains("sync_generation") && reply["sync_generation"].is_number_unsigned() &&
          !WaitForSync(control_socket, reply["sync_generation"].get<uint64_t>(), out, err))
        return 1;
    }
    return 0;
  }
  if (flush && !have_file) return 0;  // a dry-run flush has nothing to do
  if (!have_file) {
    err += kUsage;
    return 1;
  }
  std::string text;
  if (file == "-") {
    text = std::string(stdin_text);
    popts.filename = "stdin";
  } else {
    std::string e;
    std::optional<std::string> t = env.ReadFile(file, e);
    if (!t) {
      err += "hapfctl: " + file + ": " + e + "\n";
      return 1;
    }
    text = std::move(*t);
    popts.filename = file;
  }
  pf::ParseResult r = pf::ParsePfConf(text, env, popts);
  for (const std::string& m : r.messages) err += m + "\n";
  if (verbose) {
    pf::PrintOptions p;
    p.rules = r.ok() && !options_only;
    p.tables = !options_only;
    p.rule_numbers = verbose > 1;
    out += pf::FormatRuleset(r.ruleset, p);
  }
  return r.ok() ? 0 : 1;
}

}  // namespace hapf::cli
