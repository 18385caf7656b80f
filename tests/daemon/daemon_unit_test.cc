// hapfd without namespaces: the configuration directory, hapfd -n, the control
// frames, pfctl's state line, and the filter on crafted packets.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/hapfctl_cli.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/filter.h"
#include "pfsync/bridge_state.h"
#include "pfsync/engine.h"
#include "linux/nfq_dataplane.h"
#include "net/build.h"

namespace hapf::daemon {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/hapfd-unit-XXXXXX";
  return mkdtemp(tmpl);
}

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string RunCapture(const std::string& cmd, int& status) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

TEST(DaemonConfig, ReadsEveryFileOfTheDirectory) {
  std::string dir = TempDir();
  Write(dir + "/pf.conf", "block all\npass in proto tcp to port 22\n");
  Write(dir + "/hapfd.conf",
        "# settings\ncontrol-socket /run/x.sock\ncarp-preempt yes\ncarp-log 5\nqueues 4\nqueue-maxlen 16384\n");
  Write(dir + "/hostname.carp1", "inet 192.0.2.100 255.255.255.0 192.0.2.255 vhid 7 carpdev fw0 advskew 20 pass s3\n");
  Write(dir + "/hostname.pfsync0", "syncdev fw1 maxupd 64\nup\n");
  pf::StaticHostEnvironment env;
  DaemonConfig c = LoadConfig(dir, env);
  EXPECT_TRUE(c.ok()) << testing::PrintToString(c.AllMessages());
  EXPECT_EQ(c.ruleset.rules.size(), 2u);
  EXPECT_EQ(c.settings.control_socket, "/run/x.sock");
  EXPECT_TRUE(c.settings.carp.preempt);
  EXPECT_EQ(c.settings.carp.log_level, 5);
  EXPECT_EQ(c.settings.queues, 4);
  EXPECT_EQ(c.settings.queue_maxlen, 16384u);
  ASSERT_EQ(c.carp.size(), 1u);
  EXPECT_EQ(c.carp[0].ifname, "carp1");
  EXPECT_EQ(c.carp[0].vhid, 7);
  EXPECT_EQ(c.carp[0].carpdev, "fw0");
  EXPECT_EQ(c.carp[0].advskew, 20);
  ASSERT_TRUE(c.pfsync.has_value());
  EXPECT_EQ(c.pfsync->syncdev, "fw1");
  EXPECT_EQ(c.pfsync->maxupd, 64);
  EXPECT_TRUE(c.pfsync->up);
  std::system(("rm -rf " + dir).c_str());
}

TEST(DaemonConfig, CollectsEveryError) {
  std::string dir = TempDir();
  Write(dir + "/pf.conf", "pass in on fw0 frobnicate\nblock al\n");
  Write(dir + "/hapfd.conf", "queues 0\nwhatever 1\ncarp-preempt maybe\n");
  Write(dir + "/hostname.carp0", "inet 192.0.2.100 255.255.255.0 vhid 300 carpdev fw0\n");
  Write(dir + "/hostname.pfsync0", "syncdev fw1 maxupd 999\n");
  pf::StaticHostEnvironment env;
  DaemonConfig c = LoadConfig(dir, env);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.pf_errors, 2);
  std::vector<std::string> all = c.AllMessages();
  ASSERT_EQ(all.size(), 7u) << testing::PrintToString(all);
  EXPECT_EQ(all[0], dir + "/pf.conf:1: syntax error");
  EXPECT_EQ(all[1], dir + "/pf.conf:2: syntax error");
  EXPECT_EQ(all[2], dir + "/hapfd.conf:1: queues must be a number from 1 to 64");
  EXPECT_EQ(all[3], dir + "/hapfd.conf:2: unknown setting whatever");
  EXPECT_EQ(all[4], dir + "/hapfd.conf:3: carp-preempt must be yes or no");
  EXPECT_EQ(all[5].rfind(dir + "/hostname.carp0:1: ", 0), 0u) << all[5];
  EXPECT_EQ(all[6].rfind(dir + "/hostname.pfsync0:1: ", 0), 0u) << all[6];

  // hapfd -n prints all of them and fails; a good directory passes silently.
  int status = 0;
  std::string out = RunCapture(std::string(HAPFD) + " -n -c " + dir, status);
  EXPECT_EQ(status, 1);
  for (const std::string& m : all) EXPECT_NE(out.find(m + "\n"), std::string::npos) << m << "\n" << out;
  EXPECT_NE(out.find("hapfd: Syntax error in config file: pf rules not loaded\n"), std::string::npos);
  std::system(("rm -f " + dir + "/*").c_str());
  Write(dir + "/pf.conf", "pass\n");
  out = RunCapture(std::string(HAPFD) + " -n -c " + dir, status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "");
  out = RunCapture(std::string(HAPFD) + " -n -c " + dir + "/missing", status);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(out, "hapfd: " + dir + "/missing/pf.conf: No such file or directory\n");
  std::system(("rm -rf " + dir).c_str());
}

TEST(DaemonConfig, PfsyncBulkPace) {
  std::vector<std::string> errors;
  Settings s = ParseSettings("hapfd.conf", "pfsync-bulk-pace 50\n", errors);
  EXPECT_TRUE(errors.empty()) << testing::PrintToString(errors);
  EXPECT_EQ(s.pfsync_bulk_pace, 50);
  EXPECT_EQ(ParseSettings("hapfd.conf", "\n", errors).pfsync_bulk_pace, 0);  // the engine's default
  ParseSettings("hapfd.conf", "pfsync-bulk-pace 0\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "hapfd.conf:1: pfsync-bulk-pace must be a number from 1 to 10000");
}

// The CARP/pfsync queue: on by default at the data plane's justified depth, 0 turns it off.
TEST(DaemonConfig, ControlQueueMaxlen) {
  std::vector<std::string> errors;
  EXPECT_EQ(ParseSettings("hapfd.conf", "\n", errors).control_queue_maxlen, linux::kControlQueueMaxlen);
  EXPECT_EQ(ParseSettings("hapfd.conf", "control-queue-maxlen 0\n", errors).control_queue_maxlen, 0u);
  EXPECT_EQ(ParseSettings("hapfd.conf", "control-queue-maxlen 200000\n", errors).control_queue_maxlen, 200000u);
  EXPECT_TRUE(errors.empty()) << testing::PrintToString(errors);
  ParseSettings("hapfd.conf", "control-queue-maxlen 10\n", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "hapfd.conf:1: control-queue-maxlen must be a number from 64 to 1048576");
}

TEST(DaemonControl, FramesRoundTripAndRejectOversize) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::string big(100000, 'x');
  ASSERT_TRUE(WriteFrame(sv[0], "{\"cmd\":\"show\"}"));
  ASSERT_TRUE(WriteFrame(sv[0], big));
  std::string got;
  ASSERT_TRUE(ReadFrame(sv[1], got));
  EXPECT_EQ(got, "{\"cmd\":\"show\"}");
  ASSERT_TRUE(ReadFrame(sv[1], got));
  EXPECT_EQ(got, big);
  // A length beyond kMaxFrame is refused before anything is allocated.
  const unsigned char huge[4] = {0x7f, 0xff, 0xff, 0xff};
  ASSERT_EQ(write(sv[0], huge, 4), 4);
  EXPECT_FALSE(ReadFrame(sv[1], got));
  // A truncated frame is an error, not a hang.
  const unsigned char part[6] = {0, 0, 0, 9, '{', '}'};
  ASSERT_EQ(write(sv[0], part, 6), 6);
  close(sv[0]);
  EXPECT_FALSE(ReadFrame(sv[1], got));
  close(sv[1]);
}

TEST(DaemonControl, HapfctlReportsAnUnreachableDaemonInOneLine) {
  std::string out, err;
  pf::StaticHostEnvironment env;
  int rc = cli::HapfctlMain({"-ss"}, "", out, err, env, "/nonexistent/hapfd.sock");
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(err, "hapfctl: cannot reach hapfd at /nonexistent/hapfd.sock: No such file or directory\n");
  err.clear();
  rc = cli::HapfctlMain({"-t", "x"}, "", out, err, env, "/nonexistent/hapfd.sock");
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(err, "hapfctl: -T needs -t table and -t needs -T command\n");
}

// A TCP packet from `src` to `dst` with `flags`.
std::vector<uint8_t> Tcp(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags,
                         uint32_t seq = 1000, uint32_t ack = 0) {
  std::vector<uint8_t> buf(128);
  net::IpHeader ip;
  ip.src = *net::IpAddr::Parse(src);
  ip.dst = *net::IpAddr::Parse(dst);
  net::TcpHeader th;
  th.src_port = sport;
  th.dst_port = dport;
  th.flags = flags;
  th.seq = seq;
  th.ack = ack;
  th.window = 65535;
  buf.resize(net::BuildTcp(buf, nullptr, ip, th, {}));
  return buf;
}

std::vector<uint8_t> Udp(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  std::vector<uint8_t> buf(128);
  net::IpHeader ip;
  ip.src = *net::IpAddr::Parse(src);
  ip.dst = *net::IpAddr::Parse(dst);
  const uint8_t payload[18] = {};
  buf.resize(net::BuildUdp(buf, nullptr, ip, sport, dport, payload));
  return buf;
}

struct Forward {
  linux::IfaceEntry in{1, "fw0", "fw0", "veth", 0, false, {"fw"}};
  linux::IfaceEntry out{2, "fw1", "fw1", "veth", 0, false, {"fw"}};
  linux::Decision Send(Filter& f, std::vector<uint8_t>& bytes, bool reverse = false, int worker = 0) {
    linux::Packet p;
    p.l3 = bytes;
    p.capacity = bytes.size();
    p.filter_in = p.filter_out = true;
    p.in = reverse ? &out : &in;
    p.out = reverse ? &in : &out;
    return f.Handle(p, worker);
  }
};

TEST(DaemonConfig, PflogSettings) {
  std::vector<std::string> errors;
  Settings s = ParseSettings("hapfd.conf", "", errors);
  EXPECT_EQ(s.pflog_file, "/var/log/hapf/pflog.pcap");
  EXPECT_EQ(s.pflog_max_size, 10u * 1024 * 1024);
  EXPECT_EQ(s.pflog_keep, 5);
  s = ParseSettings("hapfd.conf", "pflog-file /srv/log/pf.pcap\npflog-max-size 64k\npflog-keep 0\n", errors);
  EXPECT_TRUE(errors.empty()) << testing::PrintToString(errors);
  EXPECT_EQ(s.pflog_file, "/srv/log/pf.pcap");
  EXPECT_EQ(s.pflog_max_size, 65536u);
  EXPECT_EQ(s.pflog_keep, 0);
  s = ParseSettings("hapfd.conf", "pflog-file off\npflog-max-size 2M\n", errors);
  EXPECT_EQ(s.pflog_file, "");
  EXPECT_EQ(s.pflog_max_size, 2u << 20);
  s = ParseSettings("hapfd.conf", "pflog-file pf.pcap\npflog-max-size 100\npflog-max-size 5X\npflog-keep -1\n", errors);
  ASSERT_EQ(errors.size(), 4u) << testing::PrintToString(errors);
  EXPECT_EQ(errors[0], "hapfd.conf:1: pflog-file must be an absolute path or off");
  EXPECT_EQ(errors[1], "hapfd.conf:2: pflog-max-size must be a size from 1024 bytes to 1T (suffix k, M or G allowed)");
  EXPECT_EQ(errors[2], "hapfd.conf:3: pflog-max-size must be a size from 1024 bytes to 1T (suffix k, M or G allowed)");
  EXPECT_EQ(errors[3], "hapfd.conf:4: pflog-keep must be a number from 0 to 1000");
}

pf::Ruleset Parse(const std::string& text) {
  pf::StaticHostEnvironment env;
  pf::ParseResult r = ParseRuleset(text, "pf.conf", env);
  EXPECT_TRUE(r.ok()) << testing::PrintToString(r.messages);
  return r.ruleset;
}

TEST(DaemonFilter, ForwardedConnectionGetsOneStatePerDirection) {
  Filter f(nullptr);
  f.Load(Parse("block all\npass in on fw0 proto tcp to port 22\npass out on fw1 proto tcp to port 22\n"));
  Forward fw;
  auto syn = Tcp("192.0.2.2", 40000, "198.51.100.2", 22, 0x02);
  EXPECT_EQ(fw.Send(f, syn).verdict, linux::Verdict::kAccept);
  auto synack = Tcp("198.51.100.2", 22, "192.0.2.2", 40000, 0x12, 5000, 1001);
  EXPECT_EQ(fw.Send(f, synack, true).verdict, linux::Verdict::kAccept);
  auto http = Tcp("192.0.2.2", 40001, "198.51.100.2", 80, 0x02);
  EXPECT_EQ(fw.Send(f, http).verdict, linux::Verdict::kDrop);
  EXPECT_EQ(f.ShowStates(0),
            "all tcp 198.51.100.2:22 <- 192.0.2.2:40000       SYN_SENT:ESTABLISHED\n"
            "all tcp 192.0.2.2:40000 -> 198.51.100.2:22       ESTABLISHED:SYN_SENT\n");
  // -d passes what the rules block; -K-style flush empties the table.
  f.SetEnabled(false);
  EXPECT_EQ(fw.Send(f, http).verdict, linux::Verdict::kAccept);
  f.SetEnabled(true);
  EXPECT_EQ(f.KillStates({*net::IpAddr::Parse("192.0.2.2")}), 2u);
  EXPECT_EQ(f.ShowStates(0), "");
}

TEST(DaemonFilter, ReloadKeepsStatesAndNatRewritesTheVerdict) {
  Filter f(nullptr);
  f.Load(Parse("pass out on fw1 inet nat-to 198.51.100.1\n"));
  Forward fw;
  auto udp = Udp("192.0.2.2", 5353, "198.51.100.2", 7001);
  linux::Decision d = fw.Send(f, udp);
  ASSERT_EQ(d.verdict, linux::Verdict::kAcceptRewritten);
  EXPECT_EQ(d.new_length, udp.size());
  EXPECT_EQ(net::IpAddr::V4Bytes(&udp[12]).ToString(), "198.51.100.1");  // source translated in place
  std::string before = f.ShowStates(0);
  EXPECT_NE(before.find("all udp 198.51.100.1:"), std::string::npos) << before;
  EXPECT_NE(before.find(" (192.0.2.2:5353) -> 198.51.100.2:7001       SINGLE:NO_TRAFFIC"), std::string::npos)
      << before;
  // New rules that would block the reply inbound on fw1 without the state.
  f.Load(Parse("block in all\n"));
  EXPECT_EQ(f.ShowStates(0), before);
  EXPECT_EQ(f.ShowRules(0), "block drop in all\n");
  // The reply still matches the surviving state and is translated back.
  auto reply = Udp("198.51.100.2", 7001, "198.51.100.1", udp[20] << 8 | udp[21]);
  d = fw.Send(f, reply, true);
  EXPECT_EQ(d.verdict, linux::Verdict::kAcceptRewritten);
  EXPECT_EQ(net::IpAddr::V4Bytes(&reply[16]).ToString(), "192.0.2.2");
}

TEST(DaemonFilter, DispatcherRefusesABadRulesetAndKeepsTheOld) {
  Filter f(nullptr);
  std::vector<std::unique_ptr<Component>> none;
  pf::StaticHostEnvironment env;
  Dispatcher d(f, none, env);
  nlohmann::json r = d.Handle({{"cmd", "load"}, {"text", "pass in proto tcp to port 22\n"}, {"filename", "a.conf"}});
  EXPECT_TRUE(r["ok"].get<bool>());
  r = d.Handle({{"cmd", "load"}, {"text", "pass in frob\nblock al\n"}, {"filename", "b.conf"}});
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_EQ(r["err"].get<std::string>(),
            "b.conf:1: syntax error\nb.conf:2: syntax error\n"
            "hapfctl: Syntax error in config file: pf rules not loaded\n");
  r = d.Handle({{"cmd", "show"}, {"what", "rules"}});
  EXPECT_EQ(r["out"].get<std::string>(), "pass in proto tcp from any to any port = 22 flags S/SA\n");
  r = d.Handle({{"cmd", "component"}, {"name", "pfsync"}});
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_EQ(r["err"].get<std::string>(), "hapfctl: pfsync is not configured (no hostname.pfsync0 file)\n");
  r = d.Handle("garbage");
  EXPECT_FALSE(r["ok"].get<bool>());
}

// pfctl -k SRC -k DST and -K SRC [-K DST], -s Sources: the second -k narrows
// to a destination; -K removes source nodes but leaves their states.
TEST(DaemonFilter, KillStatesByDestinationAndSourceNodes) {
  Filter f(nullptr);
  std::vector<std::unique_ptr<Component>> none;
  pf::StaticHostEnvironment env;
  Dispatcher d(f, none, env);
  auto ok = [](const nlohmann::json& r) { return r["ok"].get<bool>(); };
  ASSERT_TRUE(ok(d.Handle({{"cmd", "load"},
                           {"text", "pass in on fw0 proto tcp to port 22 keep state (max-src-states 10)\n"},
                           {"filename", "pf.conf"}})));
  Forward fw;
  for (const char* src : {"192.0.2.2", "192.0.2.3"}) {
    auto syn = Tcp(src, 40000, "198.51.100.2", 22, 0x02);
    ASSERT_EQ(fw.Send(f, syn).verdict, linux::Verdict::kAccept);
  }
  auto show = [&](const char* what) { return d.Handle({{"cmd", "show"}, {"what", what}})["out"].get<std::string>(); };
  EXPECT_EQ(show("sources"),
            "192.0.2.2 -> 0.0.0.0 ( states 1, connections 0, rate 0.0/0s )\n"
            "192.0.2.3 -> 0.0.0.0 ( states 1, connections 0, rate 0.0/0s )\n");
  nlohmann::json r = d.Handle({{"cmd", "kill"}, {"what", "src_nodes"}, {"hosts", {"192.0.2.2"}}});
  ASSERT_TRUE(ok(r)) << r.dump();
  EXPECT_EQ(r["err"].get<std::string>(), "killed 1 src nodes from 1 sources and 0 destinations\n");
  EXPECT_EQ(show("sources"), "192.0.2.3 -> 0.0.0.0 ( states 1, connections 0, rate 0.0/0s )\n");
  EXPECT_NE(show("states").find("192.0.2.2:40000"), std::string::npos);  // the state stays
  // Its state is gone without corrupting the freed node's slot.
  r = d.Handle({{"cmd", "kill"}, {"hosts", {"192.0.2.0/24", "198.51.100.9"}}});
  EXPECT_EQ(r["err"].get<std::string>(), "killed 0 states from 1 sources and 1 destinations\n");
  r = d.Handle({{"cmd", "kill"}, {"hosts", {"192.0.2.2", "198.51.100.0/24"}}});
  EXPECT_EQ(r["err"].get<std::string>(), "killed 1 states from 1 sources and 1 destinations\n");
  EXPECT_EQ(show("states").find("192.0.2.2:40000"), std::string::npos);
  EXPECT_EQ(show("sources"), "192.0.2.3 -> 0.0.0.0 ( states 1, connections 0, rate 0.0/0s )\n");
  // A new connection from the killed source gets a new node.
  auto again = Tcp("192.0.2.2", 40001, "198.51.100.2", 22, 0x02);
  ASSERT_EQ(fw.Send(f, again).verdict, linux::Verdict::kAccept);
  EXPECT_NE(show("sources").find("192.0.2.2 -> 0.0.0.0 ( states 1,"), std::string::npos);
  r = d.Handle({{"cmd", "kill"}, {"hosts", {"a", "b", "c"}}});
  EXPECT_FALSE(ok(r));
  EXPECT_EQ(r["err"].get<std::string>(), "hapfctl: -k may be given at most twice\n");
}

// A forwarded packet judged in one crossing (queue-layout once): the tag of
// the inbound test and the receiving interface reach the outbound rules. With
// queue-layout split (two crossings) such outbound rules are refused. A fired
// `once` rule leaves the -sr listing.
TEST(DaemonFilter, TagAndReceivedOnCrossFromInToOutAndOnceRulesExpire) {
  Filter f(nullptr);
  f.set_once_layout(true);
  std::vector<std::unique_ptr<Component>> none;
  pf::StaticHostEnvironment env;
  Dispatcher d(f, none, env);
  auto load = [&](const std::string& text) {
    return d.Handle({{"cmd", "load"}, {"text", text}, {"filename", "pf.conf"}});
  };
  ASSERT_TRUE(load("block all\npass in on fw0 proto udp tag FROM_IN\npass out on fw1 proto udp tagged FROM_IN\n"
                   "pass in on fw0 proto tcp\npass out on fw1 proto tcp received-on fw0\n")["ok"].get<bool>());
  Forward fw;
  auto udp = Udp("192.0.2.2", 5353, "198.51.100.2", 7001);
  EXPECT_EQ(fw.Send(f, udp).verdict, linux::Verdict::kAccept);
  auto syn = Tcp("192.0.2.2", 40000, "198.51.100.2", 22, 0x02);
  EXPECT_EQ(fw.Send(f, syn).verdict, linux::Verdict::kAccept);
  // Without the tag rule the outbound pass does not match: blocked.
  ASSERT_TRUE(load("block all\npass in on fw0 proto udp\npass out on fw1 proto udp tagged FROM_IN\n")["ok"].get<bool>());
  auto udp2 = Udp("192.0.2.2", 5354, "198.51.100.2", 7001);
  EXPECT_EQ(fw.Send(f, udp2).verdict, linux::Verdict::kDrop);

  // `once`: the rule matches one packet, then it is gone from -sr.
  ASSERT_TRUE(load("pass in on fw0 proto udp to port 9 once\npass out\n")["ok"].get<bool>());
  auto first = Udp("192.0.2.2", 6000, "198.51.100.2", 9);
  EXPECT_EQ(fw.Send(f, first).verdict, linux::Verdict::kAccept);
  nlohmann::json r = d.Handle({{"cmd", "show"}, {"what", "rules"}});
  EXPECT_EQ(r["out"].get<std::string>(), "pass out all flags S/SA\n");
  r = d.Handle({{"cmd", "show"}, {"what", "rules"}, {"verbose", 1}});
  EXPECT_EQ(r["out"].get<std::string>().rfind("pass out all flags S/SA\n  [ Evaluations: ", 0), 0u)
      << r["out"].get<std::string>();

  Filter split(nullptr);
  Dispatcher ds(split, none, env);
  r = ds.Handle({{"cmd", "load"}, {"text", "pass\nblock out tagged BAD\n"}, {"filename", "pf.conf"}});
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_NE(r["err"].get<std::string>().find("pf.conf:2: tagged and received-on on outbound rules need "
                                              "queue-layout once"),
            std::string::npos)
      << r["err"].get<std::string>();
  r = ds.Handle({{"cmd", "load"}, {"text", "match in tag X\npass in tagged X\n"}, {"filename", "pf.conf"}});
  EXPECT_TRUE(r["ok"].get<bool>()) << r["err"].get<std::string>();
}

// pfctl -a: rules loaded into a named anchor are evaluated by the main
// ruleset's anchor rule, listed on their own, counted, and flushed alone.
TEST(DaemonFilter, AnchorsLoadShowCountAndFlushOnTheirOwn) {
  Filter f(nullptr);
  std::vector<std::unique_ptr<Component>> none;
  pf::StaticHostEnvironment env;
  Dispatcher d(f, none, env);
  auto ok = [](const nlohmann::json& r) { return r["ok"].get<bool>(); };
  ASSERT_TRUE(ok(d.Handle({{"cmd", "load"}, {"text", "block all\nanchor \"ssh\"\n"}, {"filename", "pf.conf"}})));
  Forward fw;
  auto syn = Tcp("192.0.2.2", 40000, "198.51.100.2", 22, 0x02);
  EXPECT_EQ(fw.Send(f, syn).verdict, linux::Verdict::kDrop);  // the anchor is empty
  nlohmann::json r = d.Handle({{"cmd", "load"}, {"anchor", "ssh"}, {"text", "pass proto tcp to port 22\n"},
                               {"filename", "ssh.conf"}});
  ASSERT_TRUE(ok(r)) << r.dump();
  syn = Tcp("192.0.2.2", 40001, "198.51.100.2", 22, 0x02);
  EXPECT_EQ(fw.Send(f, syn).verdict, linux::Verdict::kAccept);
  // Main rules are unchanged; the anchor lists its own rules, with counters under -v.
  EXPECT_EQ(d.Handle({{"cmd", "show"}, {"what", "rules"}})["out"], "block drop all\nanchor \"ssh\" all\n");
  EXPECT_EQ(d.Handle({{"cmd", "show"}, {"what", "rules"}, {"anchor", "ssh"}})["out"],
            "pass proto tcp from any to any port = 22 flags S/SA\n");
  std::string v = d.Handle({{"cmd", "show"}, {"what", "rules"}, {"anchor", "ssh"}, {"verbose", 1}})["out"];
  EXPECT_NE(v.find("  [ Evaluations: 2        Packets: 2        Bytes: "), std::string::npos) << v;
  EXPECT_NE(v.find("States: 2     ]"), std::string::npos) << v;
  // -vv numbers the rules as pfctl does.
  std::string vv = d.Handle({{"cmd", "show"}, {"what", "rules"}, {"verbose", 2}})["out"];
  EXPECT_EQ(vv.rfind("@0 block drop all\n", 0), 0u) << vv;
  EXPECT_NE(vv.find("@1 anchor \"ssh\" all\n"), std::string::npos) << vv;
  // Reloading the main ruleset keeps the anchor's rules.
  ASSERT_TRUE(ok(d.Handle({{"cmd", "load"}, {"text", "block all\nanchor \"ssh\"\n"}, {"filename", "pf.conf"}})));
  syn = Tcp("192.0.2.2", 40002, "198.51.100.2", 22, 0x02);
  EXPECT_EQ(fw.Send(f, syn).verdict, linux::Verdict::kAccept);
  // -a ssh -F rules empties only the anchor.
  r = d.Handle({{"cmd", "flush"}, {"what", "rules"}, {"anchor", "ssh"}});
  EXPECT_TRUE(ok(r));
  EXPECT_EQ(d.Handle({{"cmd", "show"}, {"what", "rules"}, {"anchor", "ssh"}})["out"], "");
  EXPECT_EQ(d.Handle({{"cmd", "show"}, {"what", "rules"}})["out"], "block drop all\nanchor \"ssh\" all\n");
  syn = Tcp("192.0.2.2", 40003, "198.51.100.2", 22, 0x02);
  EXPECT_EQ(fw.Send(f, syn).verdict, linux::Verdict::kDrop);
  // Unknown anchors and -a on other commands are one-line errors.
  r = d.Handle({{"cmd", "show"}, {"what", "rules"}, {"anchor", "nope"}});
  EXPECT_FALSE(ok(r));
  EXPECT_EQ(r["err"], "hapfctl: Anchor does not exist: nope\n");
  r = d.Handle({{"cmd", "show"}, {"what", "states"}, {"anchor", "ssh"}});
  EXPECT_FALSE(ok(r));
  EXPECT_EQ(r["err"], "hapfctl: -a applies to -f, -F rules and -s rules only\n");
  // A bad anchor file changes nothing.
  ASSERT_TRUE(ok(d.Handle({{"cmd", "load"}, {"anchor", "ssh"}, {"text", "pass proto tcp to port 22\n"}})));
  r = d.Handle({{"cmd", "load"}, {"anchor", "ssh"}, {"text", "pass frob\n"}, {"filename", "bad.conf"}});
  EXPECT_FALSE(ok(r));
  EXPECT_EQ(d.Handle({{"cmd", "show"}, {"what", "rules"}, {"anchor", "ssh"}})["out"],
            "pass proto tcp from any to any port = 22 flags S/SA\n");
}

// -v and -vv on the state and info views.
TEST(DaemonFilter, VerboseStateAndInfoViews) {
  Filter f(nullptr);
  f.Load(Parse("set hostid 1\npass\n"));
  Forward fw;
  auto syn = Tcp("192.0.2.2", 40000, "198.51.100.2", 22, 0x02);
  ASSERT_EQ(fw.Send(f, syn).verdict, linux::Verdict::kAccept);
  std::string v = f.ShowStates(1);
  EXPECT_NE(v.find("\n   age 00:00:00, expires in 00:02:00, 1:0 pkts, 40:0 bytes, rule 0\n"), std::string::npos) << v;
  EXPECT_EQ(v.find("id: "), std::string::npos) << v;
  std::string vv = f.ShowStates(2);
  EXPECT_NE(vv.find("   id: "), std::string::npos) << vv;
  EXPECT_NE(vv.find(" creatorid: 00000001\n"), std::string::npos) << vv;
  EXPECT_EQ(f.ShowInfo(0).find("Hostid:"), std::string::npos);
  EXPECT_NE(f.ShowInfo(1).find("Hostid:   0x00000001\n"), std::string::npos);
}

// Without `set hostid`, each daemon start picks a random hostid and counts
// state ids from (seconds at start) << 32, as pf does: two firewalls, or one
// restarted, must never hand out the (creatorid, id) of a replicated state.
TEST(DaemonFilter, HostidIsRandomAndStateIdsStartFromTheClock) {
  const int64_t t0 = WallNowNs() / 1000000000;
  Filter f1(nullptr), f2(nullptr);
  f1.Load(Parse("pass\n"));
  f2.Load(Parse("pass\n"));
  const uint32_t h1 = f1.WithEngine([](pf::engine::Engine& e) { return e.options().hostid; });
  const uint32_t h2 = f2.WithEngine([](pf::engine::Engine& e) { return e.options().hostid; });
  EXPECT_NE(h1, 0u);
  EXPECT_NE(h2, 0u);
  EXPECT_NE(h1, h2);  // 1 in 2^32 of failing by chance
  Forward fw;
  auto syn = Tcp("192.0.2.2", 40000, "198.51.100.2", 22, 0x02);
  ASSERT_EQ(fw.Send(f1, syn).verdict, linux::Verdict::kAccept);
  const std::string vv = f1.ShowStates(2);
  char want[64];
  std::snprintf(want, sizeof want, " creatorid: %08x\n", h1);
  EXPECT_NE(vv.find(want), std::string::npos) << vv;
  const size_t at = vv.find("   id: ");
  ASSERT_NE(at, std::string::npos) << vv;
  const uint64_t id = std::stoull(vv.substr(at + 7, 16), nullptr, 16);
  EXPECT_GE(static_cast<int64_t>(id >> 32), t0);
  EXPECT_LE(static_cast<int64_t>(id >> 32), WallNowNs() / 1000000000);
  // pf.conf's `set hostid` wins.
  f2.Load(Parse("set hostid 0x1234\npass\n"));
  EXPECT_EQ(f2.WithEngine([](pf::engine::Engine& e) { return e.options().hostid; }), 0x1234u);
}

// hapfctl's refusals are one line and exit 1, before any daemon is asked.
TEST(DaemonControl, HapfctlRefusesInOneLine) {
  pf::StaticHostEnvironment env;
  auto run = [&](std::vector<std::string> args, std::string& err) {
    std::string out;
    err.clear();
    return cli::HapfctlMain(args, "", out, err, env, "/nonexistent/hapfd.sock");
  };
  std::string err;
  EXPECT_EQ(run({"-a", "ssh", "-K", "192.0.2.2"}, err), 1);
  EXPECT_EQ(err, "hapfctl: -a applies to -f, -F rules and -s rules only\n");
  EXPECT_EQ(run({"-a", "ssh", "-ss"}, err), 1);
  EXPECT_EQ(err, "hapfctl: -a applies to -f, -F rules and -s rules only\n");
  EXPECT_EQ(run({"-a", "ssh/*", "-sr"}, err), 1);
  EXPECT_EQ(err, "hapfctl: invalid anchor name ssh/*\n");
  EXPECT_EQ(run({"-x"}, err), 1);
  EXPECT_EQ(err, "hapfctl: unknown option -- x\n");
  EXPECT_EQ(run({"-s"}, err), 1);
  EXPECT_EQ(err, "hapfctl: option requires an argument -- s\n");
  EXPECT_EQ(run({"-sr", "extra"}, err), 1);
  EXPECT_EQ(err, "hapfctl: unexpected argument extra (see hapfctl without arguments for the usage)\n");
  // -a with -sr goes to the daemon (here: unreachable, still one line).
  EXPECT_EQ(run({"-a", "ssh", "-sr"}, err), 1);
  EXPECT_EQ(err, "hapfctl: cannot reach hapfd at /nonexistent/hapfd.sock: No such file or directory\n");
}

// A batch of crafted packets forwarded fw0 -> fw1, as the data plane hands them to HandleBatch.
struct ForwardBatch {
  explicit ForwardBatch(size_t n) : bytes(n), pkts(n), ptrs(n), ds(n) {}
  void Set(size_t k, std::vector<uint8_t> packet) {
    bytes[k] = std::move(packet);
    pkts[k] = linux::Packet{};
    pkts[k].l3 = bytes[k];
    pkts[k].capacity = bytes[k].size();
    pkts[k].filter_in = pkts[k].filter_out = true;
    pkts[k].in = &fw.in;
    pkts[k].out = &fw.out;
    ptrs[k] = &pkts[k];
  }
  void Run(Filter& f, size_t n) { f.HandleBatch(std::span(ptrs.data(), n), std::span(ds.data(), n), 0); }
  Forward fw;
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<linux::Packet> pkts;
  std::vector<linux::Packet*> ptrs;
  std::vector<linux::Decision> ds;
};

TEST(DaemonFilter, LogRulesReachThePflogFileWithOneWritePerBatch) {
  const std::string dir = TempDir();
  linux::PflogWriter pflog({dir + "/pflog.pcap", 1 << 20, 1});
  Filter f(nullptr);
  f.SetPflog(&pflog);
  f.Load(Parse("block log all\npass in on fw0 proto udp to port 53\npass log proto udp to port 54\n"));
  constexpr int kBatch = 32;
  ForwardBatch b(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    // Thirds: port 53 passed without log, port 54 passed with log (in and out), port 80 blocked with log.
    const uint16_t port = i % 3 == 0 ? 53 : i % 3 == 1 ? 54 : 80;
    b.Set(i, Udp("192.0.2.2", static_cast<uint16_t>(20000 + i), "198.51.100.2", port));
  }
  b.Run(f, kBatch);
  // 11 packets to 54 logged twice (in and out), 10 to 80 once (blocked in); port 53 matches no log rule
  // inbound and the default block log outbound drops it: logged once.
  linux::PflogWriterStats st = pflog.stats();
  EXPECT_EQ(st.records_written, 11u * 2 + 10 + 11);
  EXPECT_EQ(st.writes, 1u);
  EXPECT_EQ(st.records_dropped, 0u);
  f.SetPflog(nullptr);
  b.Run(f, kBatch);
  EXPECT_EQ(pflog.stats().records_written, st.records_written);
  std::system(("rm -rf " + dir).c_str());
}

// What logging costs the packet path: the same UDP flows through HandleBatch
// (batches of 32, one worker) with `pass` and with `pass log (all)`.
TEST(DaemonFilter, LoggedPacketsThroughTheFilter) {
  constexpr int kFlows = 2000, kRounds = 25, kBatch = 32;
  const std::string dir = TempDir();
  for (bool logged : {false, true, false, true}) {
    std::system(("rm -f " + dir + "/pflog.pcap*").c_str());
    linux::PflogWriter pflog({dir + "/pflog.pcap", uint64_t{1} << 30, 1});
    Filter f(nullptr);
    f.SetPflog(&pflog);
    f.Load(Parse(logged ? "block all\npass log (all) proto udp\n" : "block all\npass proto udp\n"));
    ForwardBatch b(kBatch);
    uint64_t passed = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < kRounds; ++round) {
      for (int i = 0; i < kFlows; i += kBatch) {
        const int n = std::min(kBatch, kFlows - i);
        for (int k = 0; k < n; ++k)
          b.Set(k, Udp("192.0.2.2", static_cast<uint16_t>(10000 + i + k), "198.51.100.2", 53));
        b.Run(f, n);
        for (int k = 0; k < n; ++k) passed += b.ds[k].verdict != linux::Verdict::kDrop;
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(passed, uint64_t{kFlows} * kRounds);
    const linux::PflogWriterStats st = pflog.stats();
    // In and out per packet; one write per batch.
    EXPECT_EQ(st.records_written, logged ? 2 * passed : 0);
    EXPECT_EQ(st.writes, logged ? uint64_t{kRounds} * ((kFlows + kBatch - 1) / kBatch) : 0);
    std::printf("[ measure ] %s: %.0f packets/s through the filter (in+out), %llu pflog records, %llu writes\n",
                logged ? "pass log (all)" : "pass          ", passed / secs,
                static_cast<unsigned long long>(st.records_written), static_cast<unsigned long long>(st.writes));
  }
  std::system(("rm -rf " + dir).c_str());
}

// The lock's cost: UDP flows through the filter from one and from two
// threads, one Handle() per packet and HandleBatch() per 32 packets (what the
// data plane calls). Reported, not asserted (the machine is shared);
// correctness is asserted.
TEST(DaemonFilter, PacketsOfExistingStatesTakeTheReadSide) {
  Filter f(nullptr);
  f.Load(Parse("block all\npass proto udp\npass proto tcp to port 22\n"));
  Forward fw;
  auto udp = Udp("192.0.2.2", 10000, "198.51.100.2", 53);
  EXPECT_EQ(fw.Send(f, udp).verdict, linux::Verdict::kAccept);
  EXPECT_EQ(f.packets_shared(), 0u);  // the first packet creates the states: write side
  for (int i = 0; i < 3; ++i) EXPECT_EQ(fw.Send(f, udp).verdict, linux::Verdict::kAccept);
  EXPECT_EQ(f.packets_shared(), 3u);
  auto reply = Udp("198.51.100.2", 53, "192.0.2.2", 10000);
  EXPECT_EQ(fw.Send(f, reply, true).verdict, linux::Verdict::kAccept);
  EXPECT_EQ(f.packets_shared(), 4u);
  // A packet without a state goes to the rules; a blocked one stays blocked.
  auto other = Tcp("192.0.2.2", 40000, "198.51.100.2", 80, 0x02);
  EXPECT_EQ(fw.Send(f, other).verdict, linux::Verdict::kDrop);
  EXPECT_EQ(f.packets_shared(), 4u);
  // What the read side counted shows in -si and -sr -v.
  const std::string info = f.ShowInfo(0);
  EXPECT_NE(info.find("  current entries                       2\n"), std::string::npos) << info;
  const std::string rules = f.ShowRules(1);
  EXPECT_NE(rules.find("pass proto udp all\n  [ Evaluations: 3        Packets: 10       Bytes: 460        States: 2     ]"),
            std::string::npos) << rules;
}

// The split layout's crossings test one direction each: the filter hands
// them to the engine's batch pipeline, and at the first packet it cannot
// decide there (a new flow) the rest of the batch goes, in order, to the
// write side.
TEST(DaemonFilter, OneDirectionBatchesKeepTheirOrderAcrossTheSides) {
  Filter f(nullptr);
  f.Load(Parse("block all\npass in proto udp to port 53\n"));
  Forward fw;
  std::vector<std::vector<uint8_t>> bytes;
  for (uint16_t port = 10000; port < 10008; ++port) bytes.push_back(Udp("192.0.2.2", port, "198.51.100.2", 53));
  auto batch = [&](std::vector<std::vector<uint8_t>>& b) {
    std::vector<linux::Packet> pkts(b.size());
    std::vector<linux::Packet*> ptrs;
    for (size_t i = 0; i < b.size(); ++i) {
      pkts[i].l3 = b[i];
      pkts[i].capacity = b[i].size();
      pkts[i].filter_in = true;  // prerouting: inbound only
      pkts[i].in = &fw.in;
      ptrs.push_back(&pkts[i]);
    }
    std::vector<linux::Decision> ds(b.size());
    f.HandleBatch(ptrs, ds, 0);
    std::string verdicts;
    for (const linux::Decision& d : ds) verdicts += d.verdict == linux::Verdict::kDrop ? 'D' : 'A';
    return verdicts;
  };
  EXPECT_EQ(batch(bytes), "AAAAAAAA");  // every flow new: the write side
  EXPECT_EQ(f.packets_shared(), 0u);
  EXPECT_EQ(batch(bytes), "AAAAAAAA");  // all known: the read side's batch
  EXPECT_EQ(f.packets_shared(), 8u);
  // A new flow in the middle, then one port the rules block: the first three
  // on the read side, the rest in order on the write side.
  std::vector<std::vector<uint8_t>> mixed = {bytes[0], bytes[1], bytes[2], Udp("192.0.2.2", 20000, "198.51.100.2", 53),
                                             bytes[3], Udp("192.0.2.2", 20001, "198.51.100.2", 54), bytes[4]};
  EXPECT_EQ(batch(mixed), "AAAAADA");
  EXPECT_EQ(f.packets_shared(), 11u);
  EXPECT_NE(f.ShowInfo(0).find("  current entries                       9\n"), std::string::npos) << f.ShowInfo(0);
}

TEST(DaemonFilter, PurgeTickExpiresStatesWithoutTraffic) {
  Filter f(nullptr);
  f.Load(Parse("pass proto udp\n"));
  Forward fw;
  for (uint16_t port = 10000; port < 10300; ++port) {
    auto udp = Udp("192.0.2.2", port, "198.51.100.2", 53);
    ASSERT_EQ(fw.Send(f, udp).verdict, linux::Verdict::kAccept);
  }
  EXPECT_NE(f.ShowInfo(0).find("  current entries                     600\n"), std::string::npos);
  const int64_t now = WallNowNs();
  f.PurgeTick(now);  // nothing has expired yet
  EXPECT_NE(f.ShowInfo(0).find("  current entries                     600\n"), std::string::npos);
  // udp.first is 60 s: a minute later a few ticks (64 states each at least) empty the table.
  for (int i = 0; i < 10; ++i) f.PurgeTick(now + 61LL * 1000000000);
  const std::string info = f.ShowInfo(0);
  EXPECT_NE(info.find("  current entries                       0\n"), std::string::npos) << info;
}

// Two workers on flows of their own and on one flow both see (a NAT'ed
// flow's two directions land in different queues), with the pfsync runtime's
// state store and sync engine attached: every packet passes, every state's
// counters add up, and pfsync writes updates for them (ThreadSanitizer runs
// this in CI: reports under the read side, exports beside the workers).
TEST(DaemonFilter, WorkersWithPfsyncAttached) {
  Filter f(nullptr);
  f.Load(Parse("pass proto udp\n"));
  struct Sink : pfsync::EngineSink {
    void Send(std::span<const uint8_t> p) override { bytes += p.size(); }
    void Demote(int, std::string_view) override {}
    void ReleaseDeferred(uint64_t) override {}
    size_t bytes = 0;
  } sink;
  std::unique_ptr<pfsync::PfStateStore> store;
  std::unique_ptr<pfsync::SyncEngine> sync;
  f.WithEngine([&](pf::engine::Engine& e) {
    store = std::make_unique<pfsync::PfStateStore>(e);
    pfsync::EngineConfig cfg;
    cfg.creatorid = e.options().hostid;
    sync = std::make_unique<pfsync::SyncEngine>(cfg, *store, sink);
    store->AttachSync(sync.get());
    sync->Up(pfsync::Time{});
    return 0;
  });
  constexpr int kRounds = 300, kFlows = 64;
  std::vector<std::thread> workers;
  for (int t = 0; t < 2; ++t) {
    workers.emplace_back([&, t] {
      Forward fw;
      std::vector<std::vector<uint8_t>> bytes(kFlows + 1);
      std::vector<linux::Packet> pkts(kFlows + 1);
      std::vector<linux::Packet*> ptrs(kFlows + 1);
      std::vector<linux::Decision> ds(kFlows + 1);
      for (int round = 0; round < kRounds; ++round) {
        for (int i = 0; i <= kFlows; ++i) {
          // Packet kFlows: the shared flow, from each worker in its own direction.
          bytes[i] = i < kFlows ? Udp("192.0.2.2", static_cast<uint16_t>(10000 + t * kFlows + i), "198.51.100.2", 53)
                     : t == 0   ? Udp("192.0.2.3", 5000, "198.51.100.3", 53)
                                : Udp("198.51.100.3", 53, "192.0.2.3", 5000);
          linux::Packet& p = pkts[i];
          p = linux::Packet{};
          p.l3 = bytes[i];
          p.capacity = bytes[i].size();
          p.filter_in = p.filter_out = true;
          const bool reverse = i == kFlows && t == 1;
          p.in = reverse ? &fw.out : &fw.in;
          p.out = reverse ? &fw.in : &fw.out;
          ptrs[i] = &p;
        }
        f.HandleBatch(std::span(ptrs.data(), ptrs.size()), std::span(ds.data(), ds.size()), t);
        for (const linux::Decision& d : ds) ASSERT_NE(d.verdict, linux::Verdict::kDrop);
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_GT(f.packets_shared(), uint64_t{2 * kRounds * kFlows});
  const std::string info = f.ShowInfo(0);
  EXPECT_NE(info.find("  current entries                     258\n"), std::string::npos) << info;
  f.WithEngine([&](pf::engine::Engine& e) {
    uint64_t packets = 0;
    e.states().ForEach([&](uint32_t, pf::engine::State& s) { packets += s.packets[0] + s.packets[1]; });
    // Every packet is tested in and out: two state hits each.
    EXPECT_EQ(packets, uint64_t{2} * 2 * kRounds * (kFlows + 1));
    sync->Flush(pfsync::Time{});
    return 0;
  });
  EXPECT_GT(sync->stats().items_out[static_cast<int>(pfsync::Action::kUpdC)], 0u);
  EXPECT_GT(sink.bytes, 0u);
}

// Filter::JudgeSynthetic (hapfctl debug flows): distinct flows through the
// rules, one state per direction, pfsync hears every insert, nothing is held
// for pfsync `defer` (a real first packet is), IPv6 too, and -d passes all.
TEST(DaemonFilter, SyntheticFlowsCreateStatesWithoutHoldingOrSendingAnything) {
  Filter f(nullptr);
  f.Load(Parse("block all\npass in on fw0 proto udp to port 9\npass out on fw1 proto udp to port 9\n"));
  struct Hook : SyncHook {
    bool defer() const override { return true; }
    void ArmDeferral(uint64_t) override { armed = true; }
    bool DisarmDeferral() override { return std::exchange(armed, false); }
    void BatchDone() override { ++batches; }
    bool armed = false;
    int batches = 0;
  } hook;
  struct Keeper : linux::PacketKeeper {
    uint64_t Hold(const linux::Packet&, size_t) override { return ++held; }
    bool Release(uint64_t, bool) override { return false; }
    uint64_t held = 0;
  } keeper;
  f.SetSyncHook(&hook);
  f.SetKeeper(&keeper);
  Forward fw;
  Filter::SyntheticFlows flows;
  flows.first_source = *net::IpAddr::Parse("192.0.2.10");
  flows.sources = 3;
  flows.destination = *net::IpAddr::Parse("198.51.100.2");
  flows.count = 600;  // more than two batches
  flows.in = &fw.in;
  flows.out = &fw.out;
  Filter::SyntheticResult r = f.JudgeSynthetic(flows);
  EXPECT_EQ(r.passed, 600u);
  EXPECT_EQ(r.blocked, 0u);
  EXPECT_EQ(keeper.held, 0u);
  EXPECT_EQ(hook.batches, 3);
  std::string ss = f.ShowStates(0);
  EXPECT_EQ(std::count(ss.begin(), ss.end(), '\n'), 1200) << ss.substr(0, 300);
  EXPECT_NE(ss.find("all udp 198.51.100.2:9 <- 192.0.2.10:1024       NO_TRAFFIC:SINGLE\n"), std::string::npos);
  EXPECT_NE(ss.find("all udp 192.0.2.12:1223 -> 198.51.100.2:9       SINGLE:NO_TRAFFIC\n"), std::string::npos);
  // The next flows from index 600 are new ones; the first 600 again create nothing.
  flows.first = 600;
  flows.count = 10;
  EXPECT_EQ(f.JudgeSynthetic(flows).passed, 10u);
  flows.first = 0;
  flows.count = 600;
  EXPECT_EQ(f.JudgeSynthetic(flows).passed, 600u);
  ss = f.ShowStates(0);
  EXPECT_EQ(std::count(ss.begin(), ss.end(), '\n'), 1220);
  // A real first packet with the same hook is held (the hook works).
  auto udp = Udp("192.0.2.99", 5000, "198.51.100.2", 9);
  EXPECT_EQ(fw.Send(f, udp).verdict, linux::Verdict::kHold);
  EXPECT_EQ(keeper.held, 1u);
  // The rules decide: port 10 is blocked; TCP SYNs; IPv6.
  flows.port = 10;
  flows.count = 5;
  r = f.JudgeSynthetic(flows);
  EXPECT_EQ(r.passed, 0u);
  EXPECT_EQ(r.blocked, 5u);
  f.Load(Parse("pass in on fw0 proto tcp\npass out on fw1 proto tcp\n"));
  f.FlushStates();
  flows.protocol = 6;
  flows.port = 22;
  flows.count = 2;
  EXPECT_EQ(f.JudgeSynthetic(flows).passed, 2u);
  std::vector<std::string> lines;
  std::istringstream listing(f.ShowStates(0));
  for (std::string line; std::getline(listing, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());  // (the listing is in slot order, which flushing reshuffles)
  EXPECT_EQ(lines, (std::vector<std::string>{"all tcp 192.0.2.10:1024 -> 198.51.100.2:22       SYN_SENT:CLOSED",
                                             "all tcp 192.0.2.11:1024 -> 198.51.100.2:22       SYN_SENT:CLOSED",
                                             "all tcp 198.51.100.2:22 <- 192.0.2.10:1024       CLOSED:SYN_SENT",
                                             "all tcp 198.51.100.2:22 <- 192.0.2.11:1024       CLOSED:SYN_SENT"}));
  f.FlushStates();
  flows.first_source = *net::IpAddr::Parse("2001:db8::fffe");
  flows.destination = *net::IpAddr::Parse("2001:db8:1::2");
  flows.count = 3;
  flows.out = nullptr;  // inbound only
  EXPECT_EQ(f.JudgeSynthetic(flows).passed, 3u);
  ss = f.ShowStates(0);
  EXPECT_NE(ss.find("all tcp 2001:db8:1::2[22] <- 2001:db8::1:0[1024]"), std::string::npos) << ss;  // fffe+2 carries
  EXPECT_EQ(std::count(ss.begin(), ss.end(), '\n'), 3) << ss;
  f.SetEnabled(false);
  flows.port = 80;
  EXPECT_EQ(f.JudgeSynthetic(flows).passed, 3u);
  EXPECT_EQ(f.ShowStates(0), ss);
  f.SetSyncHook(nullptr);
  f.SetKeeper(nullptr);
}

TEST(DaemonFilter, ConcurrentWorkersShareTheEngineSafely) {
  constexpr int kFlows = 2000, kRounds = 25, kBatch = 32;
  for (bool batched : {false, true}) {
    for (int threads : {1, 2, 1, 2}) {
      Filter f(nullptr);
      f.Load(Parse("block all\npass proto udp\n"));
      std::atomic<uint64_t> passed{0};
      auto start = std::chrono::steady_clock::now();
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          Forward fw;
          uint64_t ok = 0;
          std::vector<std::vector<uint8_t>> bytes(kBatch);
          std::vector<linux::Packet> pkts(kBatch);
          std::vector<linux::Packet*> ptrs(kBatch);
          std::vector<linux::Decision> ds(kBatch);
          for (int round = 0; round < kRounds; ++round) {
            int n = 0;
            for (int i = t; i < kFlows; i += threads) {
              bytes[n] = Udp("192.0.2.2", static_cast<uint16_t>(10000 + i), "198.51.100.2", 53);
              if (!batched) {
                ok += fw.Send(f, bytes[n], false, t).verdict != linux::Verdict::kDrop;
                continue;
              }
              linux::Packet& p = pkts[n];
              p = linux::Packet{};
              p.l3 = bytes[n];
              p.capacity = bytes[n].size();
              p.filter_in = p.filter_out = true;
              p.in = &fw.in;
              p.out = &fw.out;
              ptrs[n] = &p;
              if (++n == kBatch || i + threads >= kFlows) {
                f.HandleBatch(std::span(ptrs.data(), n), std::span(ds.data(), n), t);
                for (int k = 0; k < n; ++k) ok += ds[k].verdict != linux::Verdict::kDrop;
                n = 0;
              }
            }
          }
          passed += ok;
        });
      }
      for (auto& w : workers) w.join();
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_EQ(passed.load(), uint64_t{kFlows} * kRounds);
      std::string info = f.ShowInfo(0);
      EXPECT_NE(info.find("  current entries                    4000\n"), std::string::npos) << info;
      std::printf("[ measure ] %d thread(s), %s: %.0f packets/s through the filter (in+out per packet)\n", threads,
                  batched ? "HandleBatch of 32" : "Handle per packet", kFlows * kRounds / secs);
    }
  }
}

}  // namespace
}  // namespace hapf::daemon
