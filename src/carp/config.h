// OpenBSD's hostname.carpN files (ifconfig arguments, one command per line),
// e.g. `inet 198.51.100.131 255.255.255.248 198.51.100.135 vhid 1 carpdev em0
// advskew 1 pass secret`, parsed into a VhostConfig. Errors name file:line.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "carp/engine.h"

namespace hapf::carp {

struct ConfigError {
  std::string file;
  int line = 0;
  std::string message;
  std::string ToString() const { return file + ":" + std::to_string(line) + ": " + message; }
};

// `file_name` is the path; its base name must be hostname.carpN (N digits),
// which names the interface.
std::variant<VhostConfig, ConfigError> ParseHostnameFile(std::string_view file_name, std::string_view text);

}  // namespace hapf::carp
