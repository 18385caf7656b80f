#include "daemon/config.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "carp/config.h"
#include "linux/config_sync_transport.h"
#include "pf/lang_parser.h"

namespace hapf::daemon {
namespace {

using linux::ReadWhole;

std::optional<bool> YesNo(const std::string& v) {
  if (v == "yes" || v == "on" || v == "1" || v == "true") return true;
  if (v == "no" || v == "off" || v == "0" || v == "false") return false;
  return std::nullopt;
}

}  // namespace

Settings ParseSettings(const std::string& file, const std::string& text, std::vector<std::string>& errors) {
  Settings s;
  std::istringstream in(text);
  std::string line;
  int nr = 0;
  while (std::getline(in, line)) {
    ++nr;
    if (size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string key, value, extra;
    if (!(words >> key)) continue;
    auto fail = [&](const std::string& msg) { errors.push_back(file + ":" + std::to_string(nr) + ": " + msg); };
    if (!(words >> value)) {
      fail(key + " needs a value");
      continue;
    }
    if (words >> extra) {
      fail("unexpected " + extra + " after " + key + " " + value);
      continue;
    }
    auto number = [&](long lo, long hi) -> std::optional<long> {
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < lo || n > hi) {
        fail(key + " must be a number from " + std::to_string(lo) + " to " + std::to_string(hi));
        return std::nullopt;
      }
      return n;
    };
    if (key == "control-socket") {
      if (value[0] != '/') fail("control-socket must be an absolute path");
      else s.control_socket = value;
    } else if (key == "carp-allow" || key == "carp-preempt") {
      std::optional<bool> b = YesNo(value);
      if (!b) fail(key + " must be yes or no");
      else (key == "carp-allow" ? s.carp.allow : s.carp.preempt) = *b;
    } else if (key == "carp-log") {
      if (auto n = number(0, 7)) s.carp.log_level = static_cast<int>(*n);
    } else if (key == "queues") {
      if (auto n = number(1, 64)) s.queues = static_cast<uint16_t>(*n);
    } else if (key == "queue-layout") {
      if (value != "once" && value != "split") fail("queue-layout must be once or split");
      else s.queue_once = value == "once";
    } else if (key == "queue-maxlen") {
      if (auto n = number(64, 1 << 20)) s.queue_maxlen = static_cast<uint32_t>(*n);
    } else if (key == "control-queue-maxlen") {
      if (value == "0") s.control_queue_maxlen = 0;
      else if (auto n = number(64, 1 << 20)) s.control_queue_maxlen = static_cast<uint32_t>(*n);
    } else if (key == "queue-base") {
      if (auto n = number(0, 65000)) s.queue_base = static_cast<uint16_t>(*n);
    } else if (key == "skip") {
      s.skip.push_back(value);
    } else if (key == "sync-auth") {
      s.sync_auth = value;
    } else if (key == "pfsync-bulk-pace") {
      if (auto n = number(1, 10000)) s.pfsync_bulk_pace = static_cast<int>(*n);
    } else if (key == "sync-peer" || key == "sync-listen") {
      if (!linux::ParseSyncEndpoint(value, 8737)) fail(key + " needs ADDR or ADDR:PORT");
      else if (key == "sync-peer") s.sync_peers.push_back(value);
      else s.sync_listen = value;
    } else if (key == "sync-key") {
      s.sync_key = value;
    } else if (key == "sync-key-file") {
      std::string k;
      if (!ReadWhole(value, k)) fail("sync-key-file " + value + ": cannot read");
      while (!k.empty() && (k.back() == '\n' || k.back() == '\r' || k.back() == ' ')) k.pop_back();
      if (!k.empty()) s.sync_key = k;
    } else if (key == "sync-id") {
      if (auto n = number(1, 2147483647)) s.sync_id = static_cast<uint32_t>(*n);
    } else if (key == "sync-auto-push") {
      std::optional<bool> b = YesNo(value);
      if (!b) fail(key + " must be yes or no");
      else s.sync_auto_push = *b;
    } else if (key == "http-listen") {
      s.http_listen = value;
    } else if (key == "http-password-sha256") {
      if (value.size() != 64 || value.find_first_not_of("0123456789abcdef") != std::string::npos)
        fail("http-password-sha256 must be 64 lower-case hex digits (sha256sum of the password)");
      else s.http_password_sha256 = value;
    } else if (key == "pflog-file") {
      if (value == "off" || value == "none") s.pflog_file.clear();
      else if (value[0] != '/') fail("pflog-file must be an absolute path or off");
      else s.pflog_file = value;
    } else if (key == "pflog-max-size") {
      // A plain byte count or one with a k, M or G suffix (powers of 1024).
      char* end = nullptr;
      unsigned long long n = std::strtoull(value.c_str(), &end, 10);
      const std::string unit = end != nullptr ? end : "";
      const int shift = unit.empty() ? 0 : unit == "k" || unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : -1;
      if (end == value.c_str() || value[0] == '-' || shift < 0 || n > (1ull << 40) >> shift ||
          (n << shift) < 1024)
        fail("pflog-max-size must be a size from 1024 bytes to 1T (suffix k, M or G allowed)");
      else s.pflog_max_size = n << shift;
    } else if (key == "pflog-keep") {
      if (auto n = number(0, 1000)) s.pflog_keep = static_cast<int>(*n);
    } else {
      fail("unknown setting " + key);
    }
  }
  if (!s.sync_peers.empty() && (s.sync_listen.empty() || s.sync_key.size() < 16))
    errors.push_back(file + ": sync-peer needs sync-listen and a sync-key of at least 16 characters");
  return s;
}

std::vector<std::string> DaemonConfig::AllMessages() const {
  std::vector<std::string> all = pf_messages;
  all.insert(all.end(), errors.begin(), errors.end());
  return all;
}

pf::ParseResult ParseRuleset(const std::string& text, const std::string& filename, const pf::HostEnvironment& env) {
  pf::ParseOptions opts;
  opts.filename = filename;
  return pf::ParsePfConf(text, env, opts);
}

DaemonConfig LoadConfig(const std::string& dir, const pf::HostEnvironment& env) {
  DaemonConfig c;
  c.dir = dir;
  std::string text;
  const std::string pf_path = dir + "/pf.conf";
  if (!ReadWhole(pf_path, text)) {
    c.errors.push_back("hapfd: " + pf_path + ": No such file or directory");
  } else {
    pf::ParseResult r = ParseRuleset(text, pf_path, env);
    c.ruleset = std::move(r.ruleset);
    c.pf_messages = std::move(r.messages);
    c.pf_errors = r.error_count;
  }
  const std::string settings_path = dir + "/hapfd.conf";
  if (ReadWhole(settings_path, text)) c.settings = ParseSettings(settings_path, text, c.errors);

  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) names.emplace_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    if (name.rfind("hostname.carp", 0) == 0) {
      if (!ReadWhole(path, text)) {
        c.errors.push_back("hapfd: " + path + ": cannot read");
        continue;
      }
      auto r = carp::ParseHostnameFile(path, text);
      if (auto* err = std::get_if<carp::ConfigError>(&r)) c.errors.push_back(err->ToString());
      else c.carp.push_back(std::get<carp::VhostConfig>(r));
    } else if (name == "hostname.pfsync0") {
      if (!ReadWhole(path, text)) continue;
      pfsync::PfsyncConfig cfg;
      std::istringstream in(text);
      std::string line;
      int nr = 0;
      bool good = true;
      while (std::getline(in, line)) {
        ++nr;
        if (size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        std::string err;
        if (!pfsync::ApplyIfconfig(line, cfg, &err)) {
          c.errors.push_back(path + ":" + std::to_string(nr) + ": " + err);
          good = false;
        }
      }
      if (good) {
        if (cfg.syncauth.empty()) cfg.syncauth = c.settings.sync_auth;
        c.pfsync = cfg;
      }
    }
  }
  return c;
}

}  // namespace hapf::daemon
