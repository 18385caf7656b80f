// A minimal firewall for the pfsync namespace tests: a real filter engine
// (`pass` keeping state) and a PfsyncNode on --dev. With --create N it feeds N
// TCP SYNs (198.51.100.7:20000+i -> 203.0.113.10:80) to its own engine at
// start, and --create-later N more after --later-ms. Every 100 ms it writes
// --status FILE (atomically): its state count, bulk state, demotion, the
// sorted state list and the netstat counters. Exits on SIGTERM or --seconds.
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "linux/pfsync_node.h"
#include "pf/engine_test_util.h"
#include "pf/engine.h"

namespace {

std::atomic<bool> g_stop{false};

int64_t MonoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

const char* BulkName(hapf::pfsync::BulkRequestState s) {
  switch (s) {
    case hapf::pfsync::BulkRequestState::kNone: return "none";
    case hapf::pfsync::BulkRequestState::kStart: return "start";
    case hapf::pfsync::BulkRequestState::kSent: return "sent";
    case hapf::pfsync::BulkRequestState::kBulk: return "bulk";
    case hapf::pfsync::BulkRequestState::kDone: return "done";
  }
  return "?";
}

void WriteStatus(const std::string& path, hapf::pf::engine::Engine& e, hapf::linux::PfsyncNode& node) {
  std::vector<std::string> lines;
  e.states().ForEach([&](uint32_t, const hapf::pf::engine::State& s) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "state %08x %016llx %u %u", s.creatorid, static_cast<unsigned long long>(s.id),
                  s.key[0].port[0], s.key[0].port[1]);
    lines.emplace_back(buf);
  });
  std::sort(lines.begin(), lines.end());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << "states " << e.states().size() << "\n";
    f << "bulk " << BulkName(node.engine().bulk_state()) << "\n";
    f << "demotion " << node.demotion() << "\n";
    for (const auto& l : lines) f << l << "\n";
    f << node.IfconfigText() << node.NetstatText();
  }
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string dev, status, ifconfig;
  int create = 0, create_later = 0, later_ms = 0, seconds = 20;
  uint32_t hostid = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--dev") dev = v;
    else if (k == "--status") status = v;
    else if (k == "--hostid") hostid = static_cast<uint32_t>(std::stoul(v, nullptr, 0));
    else if (k == "--create") create = std::stoi(v);
    else if (k == "--create-later") create_later = std::stoi(v);
    else if (k == "--later-ms") later_ms = std::stoi(v);
    else if (k == "--seconds") seconds = std::stoi(v);
    else if (k == "--ifconfig") ifconfig = v;  // extra ifconfig words, e.g. "syncpeer 192.0.2.2 syncauth k"
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  signal(SIGTERM, [](int) { g_stop = true; });
  signal(SIGINT, [](int) { g_stop = true; });

  hapf::pf::engine::EngineOptions eo;
  eo.hostid = hostid;
  eo.state_id_base = uint64_t{hostid} << 32;
  hapf::pf::engine::Engine engine(eo);
  const auto ifp = engine.AddInterface("em0");
  hapf::pf::engine::Ruleset rs;
  rs.rules.push_back(hapf::pf::engine::PassRule());
  engine.LoadRuleset(rs);

  hapf::linux::PfsyncNodeOptions no;
  std::string err;
  if (!hapf::pfsync::ApplyIfconfig("syncdev " + dev + " " + ifconfig + " up", no.config, &err)) {
    std::fprintf(stderr, "ifconfig: %s\n", err.c_str());
    return 2;
  }
  no.log = [](const std::string& l) { std::fprintf(stderr, "%s\n", l.c_str()); };
  try {
    hapf::linux::PfsyncNode node(engine, no);
    auto feed = [&](int from, int n) {
      for (int i = from; i < from + n; ++i) {
        auto p = hapf::pf::engine::testing::Tcp("198.51.100.7", "203.0.113.10", static_cast<uint16_t>(20000 + i), 80,
                                                 hapf::pf::engine::kSyn, 0x10000000, 0);
        engine.Test(hapf::pf::engine::Direction::kIn, ifp, p, MonoNs());
      }
      node.Flush();
    };
    feed(0, create);
    const int64_t start = MonoNs();
    int64_t next_status = 0;
    bool later_done = create_later == 0;
    while (!g_stop && MonoNs() - start < int64_t{seconds} * 1000000000) {
      node.Step(20);
      const int64_t now = MonoNs();
      if (!later_done && now - start >= int64_t{later_ms} * 1000000) {
        feed(create, create_later);
        later_done = true;
      }
      if (!status.empty() && now >= next_status) {
        WriteStatus(status, engine, node);
        next_status = now + 100000000;
      }
    }
    if (!status.empty()) WriteStatus(status, engine, node);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "pfsync_node_prog: %s\n", ex.what());
    return 1;
  }
  return 0;
}
