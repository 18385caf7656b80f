// A minimal firewall for the pfsync namespace tests: a real filter engine
// (`pass` keeping state) and a PfsyncNode on --dev. With --create N it feeds N
// TCP SYNs (198.51.100.7:20000+i -> 203.0.113.10:80) to its own engine at
// start, and --create-later N more after --later-ms (past 60 000 states the
// source address walks the other hosts of 198.51.100.1-.254). Every 100 ms it writes --status FILE
// (atomically): its state count, bulk state, demotion, the milliseconds from
// pfsync up to BUS END (bulk_ms) and from the --create-later storm to an empty
// send queue (storm_ms), the monotonic times of the storm's start and of
// reaching --expect states, the sorted state list (up to 20 000 states) and the
// netstat counters. --limit raises the state limit (adaptive timeouts off),
// --sndbuf shrinks the socket's send buffer, --max-queued bounds the send
// queue, --bulk-pps sets the bulk pacing
// (packets of 1500 bytes per second, sent every 10 ms), --mtu the pfsync MTU. Exits on SIGTERM or --seconds.
#include <signal.h>
#include <sys/socket.h>
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

int64_t g_bulk_ms = -1, g_storm_ms = -1;
// CLOCK_MONOTONIC milliseconds (one clock for both namespaces): the storm's
// start, and when the state count first reached --expect.
int64_t g_storm_start_ms = -1, g_expect_ms = -1;

void WriteStatus(const std::string& path, hapf::pf::engine::Engine& e, hapf::linux::PfsyncNode& node) {
  std::vector<std::string> lines;
  if (e.states().size() <= 20000) e.states().ForEach([&](uint32_t, const hapf::pf::engine::State& s) {
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
    f << "bulk_ms " << g_bulk_ms << "\n";
    f << "storm_ms " << g_storm_ms << "\n";
    f << "queued " << node.queued() << "\n";
    f << "bulk_sending " << (node.engine().bulk_sending() ? 1 : 0) << "\n";
    f << "storm_start_mono_ms " << g_storm_start_ms << "\n";
    f << "expect_mono_ms " << g_expect_ms << "\n";
    for (const auto& l : lines) f << l << "\n";
    f << node.IfconfigText() << node.NetstatText();
  }
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string dev, status, ifconfig;
  int create = 0, create_later = 0, later_ms = 0, seconds = 20, sndbuf = 0, bulk_pps = 0;
  uint32_t limit = 0;
  size_t expect = 0, max_queued = 0;
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
    else if (k == "--limit") limit = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--sndbuf") sndbuf = std::stoi(v);
    else if (k == "--expect") expect = std::stoul(v);
    else if (k == "--max-queued") max_queued = std::stoul(v);
    else if (k == "--bulk-pps") bulk_pps = std::stoi(v);
    else if (k == "--ifconfig") ifconfig += " " + v;  // extra ifconfig words, e.g. "syncpeer 192.0.2.2 syncauth k"
    else if (k == "--mtu") ifconfig += " mtu " + v;  // the pfsync MTU (one word, for scripts that split arguments)
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
  if (limit > 0) {
    eo.limits.states = limit;
    eo.timeouts.v[hapf::pf::engine::kTmAdaptiveStart] = eo.timeouts.v[hapf::pf::engine::kTmAdaptiveEnd] = 0;
  }
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
  if (max_queued > 0) no.max_queued_packets = max_queued;
  if (bulk_pps > 0) {
    no.bulk_interval = std::chrono::milliseconds(10);
    no.bulk_packets_per_interval = std::max(1, bulk_pps / 100);
  }
  try {
    const int64_t up = MonoNs();
    hapf::linux::PfsyncNode node(engine, no);
    if (sndbuf > 0) setsockopt(node.fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    auto feed = [&](int from, int n) {
      for (int i = from; i < from + n; ++i) {
        // 198.51.100.7 for the first 60 000 (the replicate scenario's lists), then .1-.254.
        int host = i < 60000 ? 7 : 1 + (i / 60000 - 1) % 253;
        if (i >= 60000 && host >= 7) ++host;
        const std::string src = "198.51.100." + std::to_string(host);
        auto p = hapf::pf::engine::testing::Tcp(src.c_str(), "203.0.113.10", static_cast<uint16_t>(2000 + i % 60000),
                                                 80, hapf::pf::engine::kSyn, 0x10000000, 0);
        engine.Test(hapf::pf::engine::Direction::kIn, ifp, p, MonoNs());
        if (i % 64 == 63) node.Flush();  // as hapfd does after each packet batch
      }
      node.Flush();
    };
    feed(0, create);
    const int64_t start = MonoNs();
    int64_t storm_start = -1;
    int64_t next_status = 0;
    bool later_done = create_later == 0;
    while (!g_stop && MonoNs() - start < int64_t{seconds} * 1000000000) {
      node.Step(20);
      const int64_t now = MonoNs();
      if (!later_done && now - start >= int64_t{later_ms} * 1000000) {
        storm_start = MonoNs();
        g_storm_start_ms = storm_start / 1000000;
        feed(create, create_later);
        later_done = true;
      }
      if (g_bulk_ms < 0 && node.engine().bulk_state() == hapf::pfsync::BulkRequestState::kDone)
        g_bulk_ms = (now - up) / 1000000;
      if (storm_start >= 0 && g_storm_ms < 0 && node.queued() == 0) g_storm_ms = (now - storm_start) / 1000000;
      if (expect > 0 && g_expect_ms < 0 && engine.states().size() >= expect) g_expect_ms = now / 1000000;
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
