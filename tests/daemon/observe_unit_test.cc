// /metrics text from fake and real snapshots, parsed back as Prometheus would;
// the HTTP server's login, sessions and main-loop hand-off on a real socket.
// g++ 12 at -O1 with ASan warns falsely inside <regex> (maybe-uninitialized std::function).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>

#include <atomic>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "daemon/daemon.h"
#include "daemon/filter.h"
#include "daemon/http_server.h"
#include "daemon/metrics_status.h"
#include "daemon/metrics_text.h"
#include "net/build.h"

namespace hapf::daemon {
namespace {

using json = nlohmann::json;

// Parses the exposition text: sample key "name{labels}" -> value; fails the
// test on any line a Prometheus scraper would reject.
std::map<std::string, double> ParseExposition(const std::string& text) {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::istringstream in(text);
  std::string line;
  const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (\S+)$)");
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream w(line.substr(7));
      std::string name, type;
      w >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge") << line;
      EXPECT_EQ(types.count(name), 0u) << "family declared twice: " << name;
      types[name] = type;
      if (type == "counter") {
        EXPECT_TRUE(name.size() > 6 && name.substr(name.size() - 6) == "_total") << name;
      }
      continue;
    }
    std::smatch m;
    EXPECT_TRUE(std::regex_match(line, m, sample)) << "bad sample line: " << line;
    if (m.empty()) continue;
    EXPECT_EQ(types.count(m[1].str()), 1u) << "sample without TYPE: " << line;
    EXPECT_EQ(samples.count(line.substr(0, line.rfind(' '))), 0u) << "duplicate sample: " << line;
    samples[line.substr(0, line.rfind(' '))] = std::stod(m[5].str());
  }
  return samples;
}

TEST(ObserveMetrics, FakeSnapshotRendersEveryFamily) {
  json snap = {
      {"filter",
       {{"states", 3},
        {"state_inserts", 10},
        {"state_removals", 7},
        {"state_searches", 99},
        {"labels", {{{"label", "ssh \"in\""}, {"evaluations", 5}, {"packets", 4}, {"bytes", 300}, {"states", 1}}}}}},
      {"components",
       {{"carp",
         {{"vhosts",
           {{{"ifname", "carp0"}, {"vhid", 1}, {"state", "MASTER"}, {"demote", 0}, {"transitions", {{"BACKUP", 1}, {"MASTER", 2}}}},
            {{"ifname", "carp1"}, {"vhid", 2}, {"state", "BACKUP"}, {"demote", 128}, {"transitions", json::object()}}}},
          {"group_demote", {{"carp", 128}}}}},
        {"pfsync",
         {{"items_in", {{"INS", 4}}}, {"items_out", {{"INS", 6}, {"UPD_C", 9}}}, {"errors", {{"badauth", 2}}},
          {"bytes_in", {{"INS", 4 * 264}}}, {"bytes_out", {{"INS", 6 * 264}, {"UPD_C", 9 * 84}}},
          {"bulk_state", "done"}, {"bulk_duration_seconds", 0.25}, {"sync_lag_last_seconds", 0.5},
          {"sync_lag_max_seconds", 1.0}, {"sync_lag_avg_seconds", 0.75}, {"flushes", 8}, {"sends_postponed", 2},
          {"peer_last_heard_seconds", 0.125}}},
        {"sync", {{"generation", 7}, {"pushes_total", 3}, {"peer", "fw2"}}},
        {"pflog", {{"file", "/var/log/hapf/pflog.pcap"}, {"records_written_total", 12}, {"file_bytes", 2048}}}}}};
  auto m = ParseExposition(RenderMetrics(snap));
  EXPECT_EQ(m["hapf_pf_states"], 3);
  EXPECT_EQ(m["hapf_pf_state_inserts_total"], 10);
  EXPECT_EQ(m["hapf_pf_rule_bytes_total{label=\"ssh \\\"in\\\"\"}"], 300);
  EXPECT_EQ(m["hapf_carp_state{interface=\"carp0\",vhid=\"1\",state=\"MASTER\"}"], 1);
  EXPECT_EQ(m["hapf_carp_state{interface=\"carp0\",vhid=\"1\",state=\"BACKUP\"}"], 0);
  EXPECT_EQ(m["hapf_carp_state{interface=\"carp1\",vhid=\"2\",state=\"BACKUP\"}"], 1);
  EXPECT_EQ(m["hapf_carp_demote{interface=\"carp1\",vhid=\"2\"}"], 128);
  EXPECT_EQ(m["hapf_carp_transitions_total{interface=\"carp0\",vhid=\"1\",to=\"MASTER\"}"], 2);
  EXPECT_EQ(m["hapf_carp_group_demote{group=\"carp\"}"], 128);
  EXPECT_EQ(m["hapf_pfsync_sent_messages_total{action=\"UPD_C\"}"], 9);
  EXPECT_EQ(m["hapf_pfsync_errors_total{reason=\"badauth\"}"], 2);
  EXPECT_EQ(m["hapf_pfsync_received_bytes_total{action=\"INS\"}"], 4 * 264);
  EXPECT_EQ(m["hapf_pfsync_sent_bytes_total{action=\"UPD_C\"}"], 9 * 84);
  EXPECT_EQ(m["hapf_pfsync_bulk_state{state=\"done\"}"], 1);
  EXPECT_EQ(m["hapf_pfsync_bulk_duration_seconds"], 0.25);
  EXPECT_EQ(m["hapf_pfsync_sync_lag_seconds"], 0.5);
  EXPECT_EQ(m["hapf_pfsync_sync_lag_max_seconds"], 1.0);
  EXPECT_EQ(m["hapf_pfsync_sync_lag_avg_seconds"], 0.75);
  EXPECT_EQ(m["hapf_pfsync_flushes_total"], 8);
  EXPECT_EQ(m["hapf_pfsync_sends_postponed_total"], 2);
  EXPECT_EQ(m["hapf_pfsync_peer_last_heard_seconds"], 0.125);
  // Any other component's numbers, generically (the config-sync generation).
  EXPECT_EQ(m["hapf_sync_generation"], 7);
  EXPECT_EQ(m["hapf_sync_pushes_total"], 3);
  EXPECT_EQ(m.count("hapf_sync_peer"), 0u);
  EXPECT_EQ(m["hapf_pflog_records_written_total"], 12);
  EXPECT_EQ(m["hapf_pflog_file_bytes"], 2048);
  EXPECT_EQ(m.count("hapf_pflog_file"), 0u);
}

// The queues' section: the control queue's kernel drops apart from the data queues'.
TEST(ObserveMetrics, QueuesShowTheControlQueueApart) {
  const json queues = {
      {{"queue", 0}, {"role", "data"}, {"packets", 1000}, {"overruns", 1}, {"waiting", 4}, {"queue_dropped", 710},
       {"user_dropped", 0}},
      {{"queue", 1}, {"role", "data"}, {"packets", 500}, {"overruns", 0}, {"waiting", 0}, {"queue_dropped", 20},
       {"user_dropped", 3}},
      {{"queue", 2}, {"role", "control"}, {"packets", 40000}, {"overruns", 0}, {"waiting", 1}, {"queue_dropped", 0},
       {"user_dropped", 0}}};
  auto m = ParseExposition(RenderMetrics({{"queues", queues}}));
  EXPECT_EQ(m["hapf_nfqueue_packets_total{queue=\"2\",role=\"control\"}"], 40000);
  EXPECT_EQ(m["hapf_nfqueue_kernel_dropped_total{queue=\"2\",role=\"control\",reason=\"queue_full\"}"], 0);
  EXPECT_EQ(m["hapf_nfqueue_kernel_dropped_total{queue=\"0\",role=\"data\",reason=\"queue_full\"}"], 710);
  EXPECT_EQ(m["hapf_nfqueue_kernel_dropped_total{queue=\"1\",role=\"data\",reason=\"socket_full\"}"], 3);
  EXPECT_EQ(m["hapf_nfqueue_waiting{queue=\"0\",role=\"data\"}"], 4);
  EXPECT_EQ(m["hapf_nfqueue_overruns_total{queue=\"0\",role=\"data\"}"], 1);
  EXPECT_EQ(QueueText(queues),
            "\tnfqueue: control queue 2 (CARP, pfsync): 40000 packets, 0 dropped (queue full), 0 dropped (socket full)\n"
            "\tnfqueue: data queues 0-1: 1500 packets, 730 dropped (queue full), 3 dropped (socket full)\n");
  EXPECT_EQ(QueueText(json::array({queues[0]})),
            "\tnfqueue: no control queue (control-queue-maxlen 0): CARP and pfsync share the data queues\n"
            "\tnfqueue: data queue 0: 1000 packets, 710 dropped (queue full), 0 dropped (socket full)\n");
}

std::vector<uint8_t> Udp(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  std::vector<uint8_t> buf(128);
  net::IpHeader ip;
  ip.src = *net::IpAddr::Parse(src);
  ip.dst = *net::IpAddr::Parse(dst);
  const uint8_t payload[8] = {};
  buf.resize(net::BuildUdp(buf, nullptr, ip, sport, dport, payload));
  return buf;
}

// A filter holding `n` UDP states 198.51.100.2:(1000+i) -> 192.0.2.2:53.
void MakeStates(Filter& f, int n) {
  pf::StaticHostEnvironment env;
  pf::ParseResult r = ParseRuleset("pass all label \"all\"\n", "pf.conf", env);
  ASSERT_TRUE(r.ok());
  f.Load(r.ruleset);
  linux::IfaceEntry in{1, "fw0", "fw0", "veth", 0, false, {}};
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> bytes = Udp("198.51.100.2", static_cast<uint16_t>(1000 + i), "192.0.2.2", 53);
    linux::Packet p;
    p.l3 = bytes;
    p.capacity = bytes.size();
    p.filter_in = true;
    p.in = &in;
    f.Handle(p, 0);
  }
}

class SyncFake : public Component {
 public:
  std::string name() const override { return "sync"; }
  std::vector<int> fds() const override { return {}; }
  void Step() override {}
  bool Command(const std::vector<std::string>&, int, std::string&) override { return false; }
  void Shutdown() override {}
  json Status() override { return {{"generation", 42}}; }
};

TEST(ObserveMetrics, RealFilterSnapshotCountsStatesAndLabels) {
  Filter f(nullptr);
  MakeStates(f, 25);
  std::vector<std::unique_ptr<Component>> comps;
  comps.push_back(std::make_unique<SyncFake>());
  pf::StaticHostEnvironment env;
  Dispatcher d(f, comps, env);
  ObserveApi api(f, comps, d);
  auto m = ParseExposition(RenderMetrics(api("snapshot", json::object())));
  EXPECT_EQ(m["hapf_pf_states"], 25);
  EXPECT_EQ(m["hapf_pf_state_inserts_total"], 25);
  EXPECT_EQ(m["hapf_pf_rule_states_total{label=\"all\"}"], 25);
  EXPECT_EQ(m["hapf_pf_packets_total{family=\"inet\",direction=\"in\",action=\"pass\"}"], 25);
  EXPECT_EQ(m["hapf_sync_generation"], 42);
  EXPECT_GT(m["hapf_process_resident_memory_bytes"], 1e6);
}

// Stands in for the pfsync runtime: records the commands the page's actions send.
class PfsyncFake : public Component {
 public:
  std::string name() const override { return "pfsync"; }
  std::vector<int> fds() const override { return {}; }
  void Step() override {}
  bool Command(const std::vector<std::string>& args, int, std::string& out) override {
    commands.push_back(args);
    out = refuse;
    return refuse.empty();
  }
  void Shutdown() override {}
  std::vector<std::vector<std::string>> commands;
  std::string refuse;
};

TEST(ObserveApi, ForceBulkUpdateAsksThePfsyncRuntime) {
  Filter f(nullptr);
  std::vector<std::unique_ptr<Component>> comps;
  pf::StaticHostEnvironment env;
  Dispatcher d(f, comps, env);
  ObserveApi api(f, comps, d);
  // No pfsync: the page gets the reason.
  json r = api("action", {{"action", "pfsync-bulk"}});
  EXPECT_EQ(r["ok"], false);
  EXPECT_NE(r["error"].get<std::string>().find("pfsync is not configured"), std::string::npos) << r.dump();
  comps.push_back(std::make_unique<PfsyncFake>());
  auto& fake = static_cast<PfsyncFake&>(*comps.back());
  r = api("action", {{"action", "pfsync-bulk"}});
  EXPECT_EQ(r["ok"], true) << r.dump();
  ASSERT_EQ(fake.commands.size(), 1u);
  EXPECT_EQ(fake.commands[0], std::vector<std::string>{"bulk"});
  fake.refuse = "hapfctl: pfsync bulk: a bulk update is already in progress";
  r = api("action", {{"action", "pfsync-bulk"}});
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["error"], fake.refuse + "\n");
}

TEST(ObserveMetrics, StatesArePagedAndSearchedServerSide) {
  Filter f(nullptr);
  MakeStates(f, 250);
  json p = ObserveApi::StatesPage(f, "", 2, 100);
  EXPECT_EQ(p["total"], 250);
  EXPECT_EQ(p["lines"].size(), 50u);
  p = ObserveApi::StatesPage(f, "198.51.100.2:1017 ", 0, 100);
  EXPECT_EQ(p["total"], 1);
  ASSERT_EQ(p["lines"].size(), 1u);
  EXPECT_NE(p["lines"][0].get<std::string>().find("192.0.2.2:53"), std::string::npos);
}

// The server plus a thread playing the daemon's main loop.
struct Served {
  explicit Served(const std::string& password) {
    HttpOptions o{"127.0.0.1:0", password.empty() ? "" : Sha256Hex(password)};
    server = std::make_unique<HttpServer>(o, [this](const std::string& what, const json& args) {
      calls.push_back(what + ":" + args.value("action", ""));
      if (what == "snapshot" || what == "status") return json{{"filter", {{"states", 5}}}};
      return json{{"ok", true}, {"what", what}};
    });
    EXPECT_EQ(server->Start(), "");
    loop = std::thread([this] {
      while (!stop) {
        pollfd p{server->fd(), POLLIN, 0};
        if (poll(&p, 1, 20) > 0) server->RunPending();
      }
    });
  }
  ~Served() {
    stop = true;
    loop.join();
    server->Stop();
  }
  httplib::Client Client() { return httplib::Client("127.0.0.1", server->port()); }
  std::unique_ptr<HttpServer> server;
  std::vector<std::string> calls;  // touched only by the loop thread until joined
  std::atomic<bool> stop{false};
  std::thread loop;
};

TEST(ObserveHttp, MetricsLoginSessionsAndActions) {
  Served s("correct horse");
  httplib::Client c = s.Client();
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(ParseExposition(r->body)["hapf_pf_states"], 5);

  r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("name=\"password\""), std::string::npos);
  r = c.Get("/api/status");
  EXPECT_EQ(r->status, 401);

  r = c.Post("/login", "password=wrong", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->body.find("Wrong password"), std::string::npos);
  EXPECT_FALSE(r->has_header("Set-Cookie"));

  r = c.Post("/login", "password=correct+horse", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  std::string cookie = r->get_header_value("Set-Cookie");
  ASSERT_EQ(cookie.rfind("hapf_session=", 0), 0u) << cookie;
  cookie = cookie.substr(0, cookie.find(';'));
  httplib::Headers h = {{"Cookie", cookie}};
  r = c.Get("/", h);
  EXPECT_NE(r->body.find("id=\"carp\""), std::string::npos);
  r = c.Get("/api/status", h);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["filter"]["states"], 5);

  // Actions need the page's header; a forged session id is refused.
  r = c.Post("/api/action", h, "{\"action\":\"reload\"}", "application/json");
  EXPECT_EQ(r->status, 403);
  h.emplace("X-Hapf", "1");
  r = c.Post("/api/action", h, "{\"action\":\"maintenance-on\"}", "application/json");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["ok"], true);
  httplib::Headers forged = {{"Cookie", "hapf_session=" + std::string(64, 'a')}, {"X-Hapf", "1"}};
  r = c.Post("/api/action", forged, "{\"action\":\"maintenance-off\"}", "application/json");
  EXPECT_EQ(r->status, 401);

  r = c.Post("/logout", h, "", "text/plain");
  r = c.Get("/api/status", h);
  EXPECT_EQ(r->status, 401);
  s.stop = true;
  s.loop.join();
  s.loop = std::thread([] {});
  EXPECT_EQ(s.calls, (std::vector<std::string>{"snapshot:", "status:", "action:maintenance-on"}));
}

TEST(ObserveHttp, NoPasswordNoStatusPage) {
  Served s("");
  httplib::Client c = s.Client();
  auto r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = c.Post("/login", "password=", "application/x-www-form-urlencoded");
  EXPECT_EQ(r->status, 404);
  r = c.Get("/api/status");
  EXPECT_EQ(r->status, 401);
  r = c.Get("/metrics");
  EXPECT_EQ(r->status, 200);
}

TEST(ObserveHttp, ListenAddressesParse) {
  std::string host;
  int port = -1;
  EXPECT_TRUE(ParseListen("127.0.0.1:9137", host, port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 9137);
  EXPECT_TRUE(ParseListen("[2001:db8::1]:80", host, port));
  EXPECT_EQ(host, "2001:db8::1");
  EXPECT_FALSE(ParseListen("9137", host, port));
  EXPECT_FALSE(ParseListen("1.2.3.4:99999", host, port));
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace hapf::daemon
