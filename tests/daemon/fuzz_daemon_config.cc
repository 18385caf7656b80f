// hapfd's configuration files and control requests on arbitrary text (the
// first byte picks which): hapfd.conf, hostname.carpN, hostname.pfsync0 lines
// and a control-socket JSON request. Nothing may crash; a refused pfsync line
// leaves the configuration as it was; an accepted pfsync mtu is in range; every
// control answer is an object with "ok".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "carp/config.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/filter.h"
#include "pf/lang_host.h"
#include "pfsync/config.h"

namespace {

bool SamePfsync(const hapf::pfsync::PfsyncConfig& a, const hapf::pfsync::PfsyncConfig& b) {
  return a.syncdev == b.syncdev && a.syncpeer == b.syncpeer && a.maxupd == b.maxupd && a.defer == b.defer &&
         a.up == b.up && a.syncauth == b.syncauth && a.mtu == b.mtu;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hapf;
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      std::vector<std::string> errors;
      (void)daemon::ParseSettings("hapfd.conf", text, errors);
      break;
    }
    case 1:
      (void)carp::ParseHostnameFile("hostname.carp0", text);
      break;
    case 2: {
      pfsync::PfsyncConfig cfg;
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);) {
        const pfsync::PfsyncConfig before = cfg;
        std::string error;
        if (!pfsync::ApplyIfconfig(line, cfg, &error)) {
          if (!SamePfsync(before, cfg) || error.empty()) std::abort();
        } else if (cfg.mtu <= 40 || cfg.mtu > pfsync::kMaxPfsyncMtu) {
          std::abort();
        }
      }
      (void)pfsync::StatusLine(cfg);
      break;
    }
    default: {
      // One filter for the whole run: requests see what earlier ones loaded.
      static auto* filter = new daemon::Filter(nullptr);
      static auto* components = new std::vector<std::unique_ptr<daemon::Component>>();
      static auto* env = new pf::StaticHostEnvironment();
      static auto* dispatcher = new daemon::Dispatcher(*filter, *components, *env);
      const nlohmann::json req = nlohmann::json::parse(text, nullptr, false);
      const nlohmann::json reply = dispatcher->Handle(req);
      if (!reply.is_object() || !reply.contains("ok") || !reply["ok"].is_boolean()) std::abort();
      break;
    }
  }
  return 0;
}
