// Configuration sync core: bundle and local words, the frame codec, and a
// deterministic simulation of 2..3 nodes exchanging real frames (versioning,
// conflict, catch-up with demotion, replay, forged and truncated frames, a
// peer dying mid-push). Validation is the real pf.conf parser and the real
// hostname.carpN parser.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <deque>
#include <memory>

#include "carp/config.h"
#include "pf/lang_host.h"
#include "pf/lang_parser.h"
#include "sync/bundle.h"
#include "sync/node.h"
#include "sync/wire.h"

namespace hapf::sync {
namespace {

const Key kKey(32, 0x5a);

TEST(SyncBundle, SyncedFiles) {
  EXPECT_TRUE(IsSyncedFile("pf.conf"));
  EXPECT_TRUE(IsSyncedFile("hostname.carp12"));
  EXPECT_TRUE(IsSyncedFile("hostname.pfsync0"));
  EXPECT_TRUE(IsSyncedFile("badhosts.table"));
  EXPECT_FALSE(IsSyncedFile("hapfd.conf"));
  EXPECT_FALSE(IsSyncedFile("local.conf"));
  EXPECT_FALSE(IsSyncedFile("sync.state"));
  EXPECT_FALSE(IsSyncedFile("hostname.carpX"));
  EXPECT_FALSE(IsSyncedFile("../pf.conf"));
  EXPECT_FALSE(IsSyncedFile(".table"));
}

TEST(SyncBundle, HashCoversNamesAndContentNotGeneration) {
  Bundle a;
  a.files["pf.conf"] = "pass all\n";
  Bundle b = a;
  b.generation = 7;
  EXPECT_EQ(a.hash(), b.hash());
  b.files["pf.conf"] = "block all\n";
  EXPECT_NE(a.hash(), b.hash());
  Bundle c;
  c.files["pf.con"] = "fpass all\n";  // same bytes, other split
  EXPECT_NE(a.hash(), c.hash());
}

TEST(SyncBundle, CarpLocalWordsStrippedAndMergedBack) {
  const std::string master =
      "inet 192.0.2.100 255.255.255.0 192.0.2.255 vhid 1 carpdev eth1 advskew 0 pass secret\n";
  const std::string cluster = StripLocal("hostname.carp0", master);
  EXPECT_EQ(cluster, "inet 192.0.2.100 255.255.255.0 192.0.2.255 vhid 1 pass secret\n");
  EXPECT_EQ(StripLocal("hostname.carp0", cluster), cluster);
  // The backup keeps its own advskew and carpdev from its current file.
  const std::string backup_old = "inet 192.0.2.99 255.255.255.0 vhid 1 carpdev eth7 advskew 100 pass old\n";
  LocalOverrides none;
  std::string written = MergeLocal("hostname.carp0", cluster, backup_old, none);
  EXPECT_EQ(StripLocal("hostname.carp0", written), cluster);
  auto parsed = carp::ParseHostnameFile("/x/hostname.carp0", written);
  ASSERT_TRUE(std::holds_alternative<carp::VhostConfig>(parsed)) << std::get<carp::ConfigError>(parsed).ToString();
  const auto& v = std::get<carp::VhostConfig>(parsed);
  EXPECT_EQ(v.advskew, 100);
  EXPECT_EQ(v.carpdev, "eth7");
  EXPECT_EQ(v.vhid, 1);
  // local.conf wins over the current file.
  std::string error;
  auto local = ParseLocalConf("# backup\ncarp0 advskew 200\n", error);
  ASSERT_TRUE(local) << error;
  written = MergeLocal("hostname.carp0", cluster, backup_old, *local);
  parsed = carp::ParseHostnameFile("/x/hostname.carp0", written);
  ASSERT_TRUE(std::holds_alternative<carp::VhostConfig>(parsed));
  EXPECT_EQ(std::get<carp::VhostConfig>(parsed).advskew, 200);
  EXPECT_EQ(std::get<carp::VhostConfig>(parsed).carpdev, "eth7");
}

TEST(SyncBundle, PfsyncLocalWordsAndLocalConfErrors) {
  EXPECT_EQ(StripLocal("hostname.pfsync0", "syncdev eth2 syncpeer 192.0.2.2 maxupd 64\nup\n"), "maxupd 64\nup\n");
  EXPECT_EQ(StripLocal("pf.conf", "pass all # advskew 1\n"), "pass all # advskew 1\n");
  std::string error;
  EXPECT_FALSE(ParseLocalConf("carp0 vhid 3\n", error));
  EXPECT_NE(error.find("local.conf:1: carp0 vhid is not a node-local setting"), std::string::npos) << error;
  EXPECT_FALSE(ParseLocalConf("carp0 advskew\n", error));
  EXPECT_TRUE(ParseLocalConf("pfsync0 syncpeer 192.0.2.3\ncarp1 carpdev eth0\n", error));
}

Frame Sample() {
  Push p;
  p.bundle.generation = 42;
  p.bundle.files["pf.conf"] = "pass all\n";
  p.bundle.files["hostname.carp0"] = "inet 192.0.2.1 vhid 1\n";
  return Frame{7, 3, p};
}

TEST(SyncWire, RoundTripEveryMessage) {
  Result r{ResultStatus::kRefused, 9, Bundle{}.hash(), {"pf.conf:1: syntax error", "x"}};
  Hello h;
  h.nonce[3] = 9;
  std::vector<Message> all = {h, Offer{5, Bundle{}.hash()}, Pull{}, Sample().message, r,
                              Status{R"({"carp":[{"vhid":7,"state":"BACKUP"}]})"}};
  for (const Message& m : all) {
    std::vector<uint8_t> bytes = EncodeFrame(Frame{7, 11, m}, kKey);
    ASSERT_EQ(FrameLength(bytes.data(), bytes.size()), bytes.size());
    auto d = DecodeFrame(bytes.data(), bytes.size(), kKey);
    ASSERT_TRUE(std::holds_alternative<Frame>(d));
    const Frame& f = std::get<Frame>(d);
    EXPECT_EQ(f.sender, 7u);
    EXPECT_EQ(f.counter, 11u);
    ASSERT_EQ(f.message.index(), m.index());
    EXPECT_EQ(EncodeFrame(f, kKey), bytes);
  }
}

TEST(SyncWire, HeaderLayoutIsBigEndian) {
  std::vector<uint8_t> b = EncodeFrame(Frame{0x01020304, 0x0a0b0c0d0e0f1011, Pull{}}, kKey);
  ASSERT_EQ(b.size(), kHeaderSize + kMacSize);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "HSY1");
  EXPECT_EQ(b[4], 3);
  EXPECT_EQ(b[8], 1);
  EXPECT_EQ(b[11], 4);
  EXPECT_EQ(b[12], 0x0a);
  EXPECT_EQ(b[19], 0x11);
  EXPECT_EQ(b[23], 0);
}

TEST(SyncWire, ForgedTruncatedCorruptFramesAreErrors) {
  std::vector<uint8_t> b = EncodeFrame(Sample(), kKey);
  Key wrong(32, 0x5b);
  EXPECT_EQ(std::get<DecodeError>(DecodeFrame(b.data(), b.size(), wrong)), DecodeError::kBadMac);
  for (size_t cut : {size_t{0}, size_t{10}, kHeaderSize, b.size() - 1}) {
    auto d = DecodeFrame(b.data(), cut, kKey);
    ASSERT_TRUE(std::holds_alternative<DecodeError>(d)) << cut;
    EXPECT_EQ(std::get<DecodeError>(d), DecodeError::kTruncated) << cut;
  }
  // Every single flipped bit is caught (MAC, or header checks).
  for (size_t i = 0; i < b.size(); ++i) {
    std::vector<uint8_t> c = b;
    c[i] ^= 0x20;
    EXPECT_TRUE(std::holds_alternative<DecodeError>(DecodeFrame(c.data(), c.size(), kKey))) << i;
  }
  // An oversize length is refused from the header alone.
  std::vector<uint8_t> big = b;
  big[20] = 0xff;
  EXPECT_EQ(FrameLength(big.data(), big.size()), size_t{0});
  // Authentic but non-canonical: a file the cluster must never write.
  Push evil;
  evil.bundle.files["hapfd.conf"] = "sync-key x\n";
  std::vector<uint8_t> e = EncodeFrame(Frame{7, 1, evil}, kKey);
  EXPECT_EQ(std::get<DecodeError>(DecodeFrame(e.data(), e.size(), kKey)), DecodeError::kMalformed);
}

// ---- simulation ----

struct SimNode;
struct Net;

struct SimHost : Host {
  SimNode* self = nullptr;
  Net* net = nullptr;
  void Send(ConnId conn, std::vector<uint8_t> frame) override;
  bool Validate(const Bundle& b, std::vector<std::string>& messages) override;
  bool Apply(const Bundle& b, std::vector<std::string>& messages) override;
  Nonce NewNonce() override {
    Nonce n{};
    n[0] = static_cast<uint8_t>(++nonces);
    n[1] = static_cast<uint8_t>(reinterpret_cast<uintptr_t>(this) >> 4);
    return n;
  }
  void Log(int, const std::string& line) override { log += line + "\n"; }
  void Demote(int delta, std::string_view) override { demote += delta; }
  int nonces = 0;
  std::string log;
  int demote = 0;
  // The "running" configuration: what Apply installed (parsed pf.conf text).
  std::string running_pf;
  std::string extra_iface;  // an interface only this node has
};

struct SimNode {
  SimHost host;
  std::unique_ptr<Node> node;
};

// Connections are pairs of (node, conn id) with in-order queues, like TCP.
struct Net {
  struct End {
    int node;
    ConnId conn;
  };
  struct Link {
    End a, b;
    bool up = true;
  };
  std::vector<std::unique_ptr<SimNode>> nodes;
  std::vector<Link> links;
  struct Pending {
    size_t link;
    int to_node;
    ConnId to_conn;
    std::vector<uint8_t> bytes;
  };
  std::deque<Pending> queue;
  int64_t now = 0;
  std::vector<std::vector<uint8_t>> captured;  // every frame, for replay tests

  SimNode& Add(uint32_t id, size_t peers, Bundle initial) {
    auto n = std::make_unique<SimNode>();
    n->host.self = n.get();
    n->host.net = this;
    n->host.running_pf = initial.files["pf.conf"];
    NodeOptions o;
    o.id = id;
    o.key = kKey;
    o.configured_peers = peers;
    n->node = std::make_unique<Node>(o, n->host, std::move(initial), now);
    nodes.push_back(std::move(n));
    return *nodes.back();
  }
  int IndexOf(const SimNode* s) const {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i].get() == s) return static_cast<int>(i);
    return -1;
  }
  // a connects to b; conn ids: a's side 100+b, b's side 200+a.
  size_t Connect(int a, int b) {
    links.push_back({{a, ConnId(100 + b)}, {b, ConnId(200 + a)}});
    nodes[a]->node->Connected(100 + b, true, "n" + std::to_string(b), now);
    nodes[b]->node->Connected(200 + a, false, "", now);
    return links.size() - 1;
  }
  void Cut(size_t l) {
    Link& k = links[l];
    if (!k.up) return;
    k.up = false;
    nodes[k.a.node]->node->Disconnected(k.a.conn);
    nodes[k.b.node]->node->Disconnected(k.b.conn);
  }
  void Route(int from, ConnId conn, std::vector<uint8_t> bytes) {
    for (size_t l = 0; l < links.size(); ++l) {
      Link& k = links[l];
      if (!k.up) continue;
      if (k.a.node == from && k.a.conn == conn) queue.push_back({l, k.b.node, k.b.conn, std::move(bytes)});
      else if (k.b.node == from && k.b.conn == conn) queue.push_back({l, k.a.node, k.a.conn, std::move(bytes)});
      else continue;
      return;
    }
  }
  // Delivers everything in order; `drop_push_to` simulates a death mid-push.
  void Run(int max = 1000) {
    while (!queue.empty() && max-- > 0) {
      Pending p = std::move(queue.front());
      queue.pop_front();
      if (!links[p.link].up) continue;
      now += 1;
      captured.push_back(p.bytes);
      nodes[p.to_node]->node->Received(p.to_conn, p.bytes.data(), p.bytes.size(), now);
    }
  }
};

void SimHost::Send(ConnId conn, std::vector<uint8_t> frame) { net->Route(net->IndexOf(self), conn, std::move(frame)); }

bool SimHost::Validate(const Bundle& b, std::vector<std::string>& messages) {
  pf::StaticHostEnvironment env;
  env.files.emplace();
  if (!extra_iface.empty()) {
    pf::InterfaceInfo i;
    i.name = extra_iface;
    pf::InterfaceAddress a;
    a.addr = *net::IpAddr::Parse("203.0.113.1");
    a.prefix_len = 24;
    i.addrs.push_back(a);
    env.interfaces.push_back(i);
  }
  auto it = b.files.find("pf.conf");
  if (it == b.files.end()) {
    messages.push_back("no pf.conf");
    return false;
  }
  pf::ParseOptions o;
  o.filename = "pf.conf";
  pf::ParseResult r = pf::ParsePfConf(it->second, env, o);
  messages.insert(messages.end(), r.messages.begin(), r.messages.end());
  bool ok = r.ok();
  for (const auto& [name, text] : b.files) {
    if (name.rfind("hostname.carp", 0) != 0) continue;
    auto c = carp::ParseHostnameFile(name, MergeLocal(name, text, "carpdev eth0 advskew 50\n", {}));
    if (auto* e = std::get_if<carp::ConfigError>(&c)) {
      messages.push_back(e->ToString());
      ok = false;
    }
  }
  return ok;
}

bool SimHost::Apply(const Bundle& b, std::vector<std::string>&) {
  running_pf = b.files.at("pf.conf");
  return true;
}

Bundle Initial(uint64_t gen, const std::string& pf) {
  Bundle b;
  b.generation = gen;
  b.files["pf.conf"] = pf;
  return b;
}

TEST(SyncSim, PushAppliesOnEveryPeerAndNeverGoesBack) {
  Net net;
  net.Add(1, 2, Initial(1, "pass all\n"));
  net.Add(2, 1, Initial(1, "pass all\n"));
  net.Add(3, 1, Initial(1, "pass all\n"));
  net.Connect(0, 1);
  net.Connect(0, 2);
  net.Connect(1, 0);
  net.Connect(2, 0);
  net.Run();
  for (auto& n : net.nodes) EXPECT_TRUE(n->node->caught_up()) << n->host.log;
  for (auto& n : net.nodes) EXPECT_EQ(n->host.demote, 0);
  uint64_t gen = net.nodes[0]->node->Publish({{"pf.conf", "block all\npass in proto tcp to port 22\n"}}, net.now);
  EXPECT_EQ(gen, 2u);
  EXPECT_FALSE(net.nodes[0]->node->Outcome(gen, net.now).done);
  net.Run();
  PushOutcome o = net.nodes[0]->node->Outcome(gen, net.now);
  EXPECT_TRUE(o.done);
  EXPECT_TRUE(o.ok) << o.text;
  EXPECT_EQ(o.text, "n1: applied (generation 2)\nn2: applied (generation 2)\n");
  for (size_t i = 1; i < net.nodes.size(); ++i)  // the publisher installed its own rules itself
    EXPECT_EQ(net.nodes[i]->host.running_pf, "block all\npass in proto tcp to port 22\n");
  for (auto& n : net.nodes) EXPECT_EQ(n->node->local().generation, 2u);
  EXPECT_EQ(net.nodes[1]->node->counters().pushes_applied, 1u);
  EXPECT_EQ(net.nodes[0]->node->counters().pushes_applied, 0u);
  // Unchanged files: same generation, peers answer "current".
  gen = net.nodes[0]->node->Publish({{"pf.conf", "block all\npass in proto tcp to port 22\n"}}, net.now);
  EXPECT_EQ(gen, 2u);
  net.Run();
  EXPECT_EQ(net.nodes[0]->node->Outcome(gen, net.now).text, "n1: current (generation 2)\nn2: current (generation 2)\n");
}

// Status frames: a node's own status reaches every peer once a session is up,
// again when it changes and every status_interval_ms; an oversized body is malformed.
TEST(SyncSim, StatusReachesPeersOnSessionChangeAndInterval) {
  Net net;
  net.Add(1, 1, Initial(1, "pass all\n"));
  net.Add(2, 1, Initial(1, "pass all\n"));
  net.nodes[0]->node->SetLocalStatus("{\"carp\":\"MASTER\"}", net.now);  // no session yet: kept
  net.Connect(0, 1);
  net.Run();
  auto from1 = [&]() -> std::string {
    const auto& m = net.nodes[1]->node->remote_status();
    auto it = m.find(1);
    return it == m.end() ? "" : it->second.text;
  };
  EXPECT_EQ(from1(), "{\"carp\":\"MASTER\"}");
  EXPECT_TRUE(net.nodes[0]->node->remote_status().empty());  // node 2 has said nothing
  net.nodes[0]->node->SetLocalStatus("{\"carp\":\"BACKUP\"}", net.now);
  net.Run();
  EXPECT_EQ(from1(), "{\"carp\":\"BACKUP\"}");
  const int64_t at = net.nodes[1]->node->remote_status().at(1).at_ms;
  const uint64_t out = net.nodes[0]->node->counters().frames_out;
  net.nodes[0]->node->Tick(net.now + 10);  // within the interval: nothing
  EXPECT_EQ(net.nodes[0]->node->counters().frames_out, out);
  net.now += 1000;
  net.nodes[0]->node->Tick(net.now);
  net.Run();
  EXPECT_EQ(net.nodes[0]->node->counters().frames_out, out + 1);
  EXPECT_GT(net.nodes[1]->node->remote_status().at(1).at_ms, at);

  std::vector<uint8_t> big = EncodeFrame(Frame{1, 1, Status{std::string(kMaxStatus, 'x')}}, kKey);
  EXPECT_TRUE(std::holds_alternative<Frame>(DecodeFrame(big.data(), big.size(), kKey)));
  // One byte over the limit, written by hand (the encoder truncates).
  std::vector<uint8_t> over = big;
  over.resize(over.size() - kMacSize);
  over.insert(over.end() - 0, 'x');
  const uint32_t body = static_cast<uint32_t>(over.size() - kHeaderSize), n = static_cast<uint32_t>(kMaxStatus + 1);
  for (int i = 0; i < 4; ++i) over[20 + i] = static_cast<uint8_t>(body >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) over[kHeaderSize + i] = static_cast<uint8_t>(n >> (24 - 8 * i));
  uint8_t mac[kMacSize];
  unsigned int len = kMacSize;
  HMAC(EVP_sha256(), kKey.data(), static_cast<int>(kKey.size()), over.data(), over.size(), mac, &len);
  over.insert(over.end(), mac, mac + kMacSize);
  auto d = DecodeFrame(over.data(), over.size(), kKey);
  ASSERT_TRUE(std::holds_alternative<DecodeError>(d));
  EXPECT_EQ(std::get<DecodeError>(d), DecodeError::kMalformed);
}

TEST(SyncSim, AfterAPartitionTheHigherGenerationWinsAndNobodyGoesBack) {
  Net net;
  net.Add(1, 1, Initial(1, "pass all\n"));
  net.Add(2, 1, Initial(1, "pass all\n"));
  size_t a = net.Connect(0, 1), b = net.Connect(1, 0);
  net.Run();
  net.Cut(a);
  net.Cut(b);
  net.nodes[0]->node->Publish({{"pf.conf", "pass in\n"}}, net.now);                     // 2 on n0
  net.nodes[1]->node->Publish({{"pf.conf", "block all\n"}}, net.now);                   // 2 on n1
  uint64_t g = net.nodes[1]->node->Publish({{"pf.conf", "block all\npass out\n"}}, net.now);  // 3 on n1
  EXPECT_EQ(g, 3u);
  net.Connect(0, 1);
  net.Connect(1, 0);
  net.Run();
  EXPECT_EQ(net.nodes[0]->node->local().generation, 3u);
  EXPECT_EQ(net.nodes[0]->host.running_pf, "block all\npass out\n");
  EXPECT_EQ(net.nodes[1]->node->local().generation, 3u);
  EXPECT_EQ(net.nodes[1]->node->counters().pushes_applied, 0u);  // n1 never took n0's older 2
}

TEST(SyncSim, BrokenRulesetRefusedWithPeersMessages) {
  Net net;
  net.Add(1, 1, Initial(3, "pass all\n"));
  net.Add(2, 1, Initial(3, "pass all\n"));
  net.nodes[0]->host.extra_iface = "eth9";  // only the sender has it
  net.Connect(0, 1);
  net.Connect(1, 0);
  net.Run();
  const std::string rules = "pass in from eth9:network\n";
  std::vector<std::string> local_msgs;
  ASSERT_TRUE(net.nodes[0]->host.Validate(Initial(0, rules), local_msgs));  // fine on the sender
  uint64_t gen = net.nodes[0]->node->Publish({{"pf.conf", rules}}, net.now);
  net.Run();
  PushOutcome o = net.nodes[0]->node->Outcome(gen, net.now);
  EXPECT_TRUE(o.done);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.text.find("n1: refused (generation 3)"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("eth9"), std::string::npos) << o.text;  // the peer's own parser message
  EXPECT_EQ(net.nodes[1]->host.running_pf, "pass all\n");
  EXPECT_EQ(net.nodes[1]->node->local().generation, 3u);
  EXPECT_EQ(net.nodes[1]->node->counters().pushes_refused, 1u);
  // A carp file that does not parse is refused too.
  gen = net.nodes[0]->node->Publish({{"pf.conf", "pass all\n"}, {"hostname.carp0", "inet 192.0.2.1 vhid 999\n"}},
                                    net.now);
  net.Run();
  o = net.nodes[0]->node->Outcome(gen, net.now);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.text.find("hostname.carp0:"), std::string::npos) << o.text;
}

TEST(SyncSim, SameGenerationDifferentHashIsAConflictNotMerged) {
  Net net;
  net.Add(1, 1, Initial(5, "pass all\n"));
  net.Add(2, 1, Initial(5, "block all\n"));
  net.Connect(0, 1);
  net.Connect(1, 0);
  net.Run();
  EXPECT_GE(net.nodes[0]->node->counters().conflicts, 1u);
  EXPECT_GE(net.nodes[1]->node->counters().conflicts, 1u);
  EXPECT_NE(net.nodes[0]->host.log.find("conflict: generation 5"), std::string::npos);
  EXPECT_EQ(net.nodes[0]->host.running_pf, "pass all\n");
  EXPECT_EQ(net.nodes[1]->host.running_pf, "block all\n");
  // Resolution: the administrator pushes from the right node: 6 > 5 wins.
  uint64_t gen = net.nodes[1]->node->Publish({{"pf.conf", "block all\n"}}, net.now);
  EXPECT_EQ(gen, 6u);
  net.Run();
  EXPECT_EQ(net.nodes[0]->host.running_pf, "block all\n");
  EXPECT_TRUE(net.nodes[1]->node->Outcome(6, net.now).ok);
}

TEST(SyncSim, OfflineNodeCatchesUpBeforeReleasingDemotion) {
  Net net;
  net.Add(1, 2, Initial(1, "pass all\n"));
  net.Add(2, 2, Initial(1, "pass all\n"));
  net.Add(3, 2, Initial(1, "pass all\n"));
  size_t l01 = net.Connect(0, 1);
  net.Connect(1, 0);
  net.Connect(1, 2);
  net.Connect(2, 1);
  net.Run();
  // Node 0 never heard node 2: still demoted until the timeout.
  EXPECT_FALSE(net.nodes[0]->node->caught_up());
  EXPECT_EQ(net.nodes[0]->host.demote, 32);
  net.now += 5000;
  net.nodes[0]->node->Tick(net.now);
  EXPECT_TRUE(net.nodes[0]->node->caught_up());
  EXPECT_EQ(net.nodes[0]->host.demote, 0);
  EXPECT_NE(net.nodes[0]->host.log.find("catch-up timed out"), std::string::npos);
  // Node 0 goes away; node 1 publishes twice meanwhile.
  net.Cut(l01);
  net.Cut(2 - 1);
  net.nodes[1]->node->Publish({{"pf.conf", "block all\n"}}, net.now);
  net.Run();
  uint64_t gen = net.nodes[1]->node->Publish({{"pf.conf", "block all\npass out\n"}}, net.now);
  net.Run();
  EXPECT_EQ(gen, 3u);
  PushOutcome o = net.nodes[1]->node->Outcome(gen, net.now);
  EXPECT_TRUE(o.ok) << o.text;
  EXPECT_NE(o.text.find("n0: not connected"), std::string::npos) << o.text;
  // Node 0 restarts (fresh state, old files): demoted, pulls, then releases.
  auto& fresh = *net.nodes[0];
  fresh.host.demote = 0;
  NodeOptions opt;
  opt.id = 1;
  opt.key = kKey;
  opt.configured_peers = 2;
  fresh.node = std::make_unique<Node>(opt, fresh.host, Initial(1, "pass all\n"), net.now);
  EXPECT_EQ(fresh.host.demote, 32);
  net.Connect(0, 1);
  net.Connect(0, 2);
  net.Run();
  EXPECT_EQ(fresh.node->local().generation, 3u);
  EXPECT_EQ(fresh.host.running_pf, "block all\npass out\n");
  EXPECT_TRUE(fresh.node->caught_up());
  EXPECT_EQ(fresh.host.demote, 0);
}

TEST(SyncSim, ReplayedForgedAndReflectedFramesAreDroppedAndCounted) {
  Net net;
  net.Add(1, 1, Initial(1, "pass all\n"));
  net.Add(2, 1, Initial(1, "pass all\n"));
  size_t l = net.Connect(0, 1);
  net.Run();
  net.nodes[0]->node->Publish({{"pf.conf", "block all\n"}}, net.now);
  net.Run();
  ASSERT_EQ(net.nodes[1]->host.running_pf, "block all\n");
  // Find the push frame n0 sent (counter > 0, type PUSH) and replay it on
  // the same connection after a newer push: refused as a replay.
  std::vector<uint8_t> old_push;
  for (const auto& f : net.captured)
    if (f[4] == static_cast<uint8_t>(MsgType::kPush)) old_push = f;
  ASSERT_FALSE(old_push.empty());
  net.nodes[0]->node->Publish({{"pf.conf", "pass all\n"}}, net.now);
  net.Run();
  ASSERT_EQ(net.nodes[1]->host.running_pf, "pass all\n");
  net.nodes[1]->node->Received(200, old_push.data(), old_push.size(), net.now);
  EXPECT_EQ(net.nodes[1]->node->counters().replayed, 1u);
  EXPECT_EQ(net.nodes[1]->host.running_pf, "pass all\n");
  // On a new connection the recorded frame does not even authenticate.
  net.Cut(l);
  net.Connect(0, 1);
  net.Run();
  net.nodes[1]->node->Received(200, old_push.data(), old_push.size(), net.now);
  EXPECT_EQ(net.nodes[1]->node->counters().forged, 1u);
  // A push made with another key.
  Push evil;
  evil.bundle = Initial(99, "pass all\n");
  std::vector<uint8_t> forged = EncodeFrame(Frame{1, 1000, evil}, Key(32, 1));
  net.nodes[1]->node->Received(200, forged.data(), forged.size(), net.now);
  EXPECT_EQ(net.nodes[1]->node->counters().forged, 2u);
  // A truncated frame.
  net.nodes[1]->node->Received(200, forged.data(), forged.size() - 5, net.now);
  EXPECT_EQ(net.nodes[1]->node->counters().malformed, 1u);
  EXPECT_EQ(net.nodes[1]->node->local().generation, 3u);
  EXPECT_NE(net.nodes[1]->host.log.find("bad authenticator"), std::string::npos);
}

TEST(SyncSim, PeerDyingMidPushLeavesReceiverOnOldConfig) {
  Net net;
  net.Add(1, 1, Initial(1, "pass all\n"));
  net.Add(2, 1, Initial(1, "pass all\n"));
  size_t l = net.Connect(0, 1);
  net.Run();
  uint64_t gen = net.nodes[0]->node->Publish({{"pf.conf", "block all\n"}}, net.now);
  // The push is in flight; deliver only its first half, then the link dies.
  ASSERT_EQ(net.queue.size(), 1u);
  std::vector<uint8_t> half(net.queue.front().bytes.begin(),
                            net.queue.front().bytes.begin() + net.queue.front().bytes.size() / 2);
  EXPECT_EQ(FrameLength(half.data(), half.size()), net.queue.front().bytes.size());  // the transport waits
  net.queue.clear();
  net.Cut(l);
  EXPECT_EQ(net.nodes[1]->host.running_pf, "pass all\n");
  EXPECT_EQ(net.nodes[1]->node->local().generation, 1u);
  EXPECT_NE(net.nodes[0]->node->Outcome(gen, net.now).text.find("not connected"), std::string::npos);
  // Reconnected, the receiver pulls what it missed.
  net.Connect(0, 1);
  net.Run();
  EXPECT_EQ(net.nodes[1]->host.running_pf, "block all\n");
  EXPECT_EQ(net.nodes[1]->node->local().generation, 2u);
}

}  // namespace
}  // namespace hapf::sync
