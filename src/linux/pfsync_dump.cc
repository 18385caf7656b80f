#include "linux/pfsync_dump.h"

#include <charconv>

#include "pfsync/pcap.h"

namespace hapf::linux {

int PfsyncDumpMain(const std::vector<std::string>& args, const std::function<void(std::string_view)>& out,
                   std::string& err) {
  static constexpr const char* kUsage = "usage: hapfctl pfsync dump [-v|-vv] [-n] [-c count] file | -i interface\n";
  pfsync::PrintOptions opts;
  opts.verbose = 0;
  std::string file, iface;
  size_t count = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() >= 2 && a[0] == '-' && a.find_first_not_of('v', 1) == std::string::npos) {
      opts.verbose += static_cast<int>(a.size() - 1);
    } else if (a == "-n") {
      opts.numeric = true;
    } else if ((a == "-c" || a == "-i") && i + 1 < args.size()) {
      const std::string& v = args[++i];
      if (a == "-i") {
        iface = v;
        continue;
      }
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), count);
      if (ec != std::errc() || p != v.data() + v.size()) {
        err = "pfsync dump: bad count " + v + "\n" + kUsage;
        return 2;
      }
    } else if (!a.empty() && a[0] != '-' && file.empty()) {
      file = a;
    } else {
      err = "pfsync dump: unexpected argument " + a + "\n" + kUsage;
      return 2;
    }
  }
  if (file.empty() == iface.empty()) {
    err = kUsage;
    return 2;
  }
  std::string error;
  if (!file.empty()) {
    std::string text;
    if (!pfsync::DumpPcap(file, opts, text, &error)) {
      err = "pfsync dump: " + file + ": " + error + "\n";
      return 1;
    }
    out(text);
    return 0;
  }
  if (!pfsync::DumpLive(iface, opts, count, out, &error)) {
    err = "pfsync dump: " + iface + ": " + error + "\n";
    return 1;
  }
  return 0;
}

}  // namespace hapf::linux
