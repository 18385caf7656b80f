// hapfd's configuration directory (default /etc/hapf):
//   pf.conf            the ruleset (pfctl's language)
//   hostname.carpN     OpenBSD ifconfig lines of one CARP interface each
//   hostname.pfsync0   OpenBSD ifconfig lines of the pfsync interface
//   hapfd.conf         hapf-only settings, `key value` per line, # comments
// Everything is read and checked at once; every error is collected so that
// `hapfd -n` prints all of them in pfctl's wording.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "carp/engine.h"
#include "pf/ast.h"
#include "pf/lang_host.h"
#include "pf/lang_parser.h"
#include "pfsync/config.h"

namespace hapf::daemon {

struct Settings {
  std::string control_socket = "/run/hapf/hapfd.sock";
  carp::Settings carp;          // carp-allow, carp-preempt, carp-log
  uint16_t queue_base = 0;      // queue-base N
  uint16_t queues = 2;          // queues N: NFQUEUE workers
  uint32_t queue_maxlen = 4096;  // queue-maxlen N: packets the kernel keeps waiting per queue
  // control-queue-maxlen N: the depth of the CARP/pfsync queue after the data
  // range (linux::kControlQueueMaxlen); 0: none, they share the data queues.
  uint32_t control_queue_maxlen = 65536;
  bool queue_once = false;      // queue-layout once|split (once: no rdr-to allowed)
  std::vector<std::string> skip = {"lo"};  // interfaces never queued besides `set skip on`
  std::string sync_auth;        // sync-auth KEY (pfsync's syncauth)
  int pfsync_bulk_pace = 0;     // pfsync-bulk-pace N: bulk packets per 10 ms (0: the engine's default, 500)
  // Configuration sync (docs/config-sync.md): on when sync-peer is given.
  std::vector<std::string> sync_peers;  // sync-peer ADDR[:PORT] (repeatable)
  std::string sync_listen;              // sync-listen ADDR[:PORT]: this node's sync address
  std::string sync_key;                 // sync-key KEY or the contents of sync-key-file PATH
  uint32_t sync_id = 0;                 // sync-id N; 0: derived from the sync-listen address
  bool sync_auto_push = false;          // sync-auto-push yes: `hapfctl -f` pushes to the peers
  std::string http_listen;            // http-listen ADDR:PORT (/metrics, status page); empty: off
  std::string http_password_sha256;  // http-password-sha256 HEX: the status page's login
  // pflog file of `log` rules (docs/observe.md): pflog-file PATH|off, pflog-max-size BYTES[k|M|G], pflog-keep N.
  std::string pflog_file = "/var/log/hapf/pflog.pcap";  // empty: off
  uint64_t pflog_max_size = 10 * 1024 * 1024;
  int pflog_keep = 5;
};

// Parses hapfd.conf. Errors are "FILE:LINE: message".
Settings ParseSettings(const std::string& file, const std::string& text, std::vector<std::string>& errors);

struct DaemonConfig {
  std::string dir;
  pf::Ruleset ruleset;
  std::vector<std::string> pf_messages;  // parser output, pfctl wording
  int pf_errors = 0;
  std::vector<carp::VhostConfig> carp;
  std::optional<pfsync::PfsyncConfig> pfsync;
  Settings settings;
  std::vector<std::string> errors;  // everything else that is wrong
  bool ok() const { return pf_errors == 0 && errors.empty(); }
  // Every message in the order hapfd -n prints them.
  std::vector<std::string> AllMessages() const;
};

// Reads the directory. A missing pf.conf is an error; missing others are fine.
DaemonConfig LoadConfig(const std::string& dir, const pf::HostEnvironment& env);

// Parses pf.conf text the way the daemon does for a reload from hapfctl.
pf::ParseResult ParseRuleset(const std::string& text, const std::string& filename, const pf::HostEnvironment& env);

}  // namespace hapf::daemon
