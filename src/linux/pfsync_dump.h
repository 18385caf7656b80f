// `hapfctl pfsync dump`: prints pfsync traffic the way OpenBSD's tcpdump does,
// from a pcap file or a live interface. A function, so hapfctl can route its
// `pfsync dump` subcommand here (hapfctl has no subcommand table yet).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace hapf::linux {

// args (after "pfsync dump"): [-v|-vv|-vvv] [-n] [-c COUNT] (FILE | -i IFACE).
// Text goes to `out` frame by frame. Returns 0, 1 on a read/capture error,
// 2 on bad usage (message in `err`).
int PfsyncDumpMain(const std::vector<std::string>& args, const std::function<void(std::string_view)>& out,
                   std::string& err);

}  // namespace hapf::linux
