#include "daemon/sync_component.h"

#include <sys/random.h>
#include <syslog.h>
#include <time.h>

#include <stdexcept>

namespace hapf::daemon {
namespace {

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

uint32_t IdFromAddress(const net::IpAddr& a) {
  uint32_t id = 2166136261u;  // FNV-1a over the address: stable and unique enough per cluster
  for (uint8_t b : a.bytes()) id = (id ^ b) * 16777619u;
  if (a.is_v4()) id = (uint32_t{a.data()[0]} << 24) | (uint32_t{a.data()[1]} << 16) | (uint32_t{a.data()[2]} << 8) | a.data()[3];
  return id == 0 ? 1 : id;
}

}  // namespace

SyncComponent::SyncComponent(SyncComponentOptions opts) : opts_(std::move(opts)) {
  const Settings& s = opts_.settings;
  std::optional<linux::SyncEndpoint> listen = linux::ParseSyncEndpoint(s.sync_listen, 8737);
  if (!listen) throw std::runtime_error("sync-listen " + s.sync_listen + ": not ADDR[:PORT]");
  std::vector<linux::SyncEndpoint> peers;
  for (const std::string& p : s.sync_peers) {
    std::optional<linux::SyncEndpoint> e = linux::ParseSyncEndpoint(p, listen->port);
    if (!e) throw std::runtime_error("sync-peer " + p + ": not ADDR[:PORT]");
    peers.push_back(*e);
  }
  transport_ = std::make_unique<linux::SyncTransport>(*listen, peers);
  if (std::string e = transport_->Listen(); !e.empty()) throw std::runtime_error(e);
  sync::NodeOptions no;
  no.id = s.sync_id != 0 ? s.sync_id : IdFromAddress(listen->addr);
  no.key.assign(s.sync_key.begin(), s.sync_key.end());
  no.configured_peers = peers.size();
  sync::Bundle local;
  local.files = linux::ReadClusterFiles(opts_.dir);
  local.generation = linux::ReadGeneration(opts_.dir);
  node_ = std::make_unique<sync::Node>(no, *this, std::move(local), NowMs());
  transport_->Attach(node_.get());
  Log(LOG_NOTICE, "sync: listening on " + listen->ToString() + " as id " + std::to_string(no.id) +
                      ", generation " + std::to_string(node_->local().generation) + "/" +
                      sync::HashPrefix(node_->local().hash()) + ", " + std::to_string(peers.size()) + " peer(s)");
}

SyncComponent::~SyncComponent() { transport_->Attach(nullptr); }

void SyncComponent::Step() {
  const int64_t now = NowMs();
  // Steps run on every wake-up of the loop; the status is read 5 times a second at most.
  if (opts_.local_status && (status_at_ms_ < 0 || now - status_at_ms_ >= 200)) {
    status_at_ms_ = now;
    node_->SetLocalStatus(opts_.local_status(), now);
  }
  transport_->Step(now);
  node_->Tick(now);
  transport_->Step(now);  // send what the frames just handled produced
}

sync::Nonce SyncComponent::NewNonce() {
  sync::Nonce n{};
  size_t got = 0;
  while (got < n.size()) {
    ssize_t r = getrandom(n.data() + got, n.size() - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
  return n;
}

bool SyncComponent::Validate(const sync::Bundle& b, std::vector<std::string>& messages) {
  std::string error;
  const std::string stage = linux::StageBundle(opts_.dir, b, error);
  if (stage.empty()) {
    messages.push_back(error);
    return false;
  }
  DaemonConfig cfg = LoadConfig(stage, *opts_.env);
  messages = cfg.AllMessages();
  if (!cfg.ok() && cfg.pf_errors > 0) messages.push_back("Syntax error in config file: pf rules not loaded");
  return cfg.ok();
}

bool SyncComponent::Apply(const sync::Bundle& b, std::vector<std::string>& messages) {
  std::string error;
  std::map<std::string, std::string> before = linux::ReadClusterFiles(opts_.dir);
  if (!linux::CommitStaged(opts_.dir, b, error)) {
    messages.push_back(error);
    return false;
  }
  const std::string path = opts_.dir + "/pf.conf";
  std::string text;
  if (auto t = opts_.env->ReadFile(path, error)) text = *t;
  std::vector<std::string> reload_messages;
  if (!opts_.reload(text, path, reload_messages)) {
    // Validated a moment ago on the same text: only the host can differ.
    messages.insert(messages.end(), reload_messages.begin(), reload_messages.end());
    return false;
  }
  messages.insert(messages.end(), reload_messages.begin(), reload_messages.end());
  bool ha_changed = false;
  for (const auto& [name, t] : b.files)
    ha_changed |= name.rfind("hostname.", 0) == 0 && (!before.count(name) || before[name] != t);
  for (const auto& [name, t] : before)
    ha_changed |= name.rfind("hostname.", 0) == 0 && !b.files.count(name);
  if (ha_changed) ApplyHa(messages);
  return true;
}

void SyncComponent::ApplyHa(std::vector<std::string>& messages) {
  if (!opts_.reload_ha) return;
  // Applied already; what could not be is reported to the sender with the result.
  for (const std::string& m : opts_.reload_ha()) {
    Log(LOG_WARNING, "sync: " + m);
    messages.push_back(m);
  }
}

uint64_t SyncComponent::PublishDir() {
  const uint64_t gen = node_->Publish(linux::ReadClusterFiles(opts_.dir), NowMs());
  linux::WriteGeneration(opts_.dir, gen, node_->local().hash());
  transport_->Step(NowMs());
  return gen;
}

uint64_t SyncComponent::RulesetLoaded(const std::string& text) {
  if (!opts_.settings.sync_auto_push) return 0;
  const std::string path = opts_.dir + "/pf.conf", tmp = path + ".tmp";
  if (std::FILE* f = std::fopen(tmp.c_str(), "wb")) {
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) Log(LOG_ERR, "sync: cannot write " + path);
  }
  return PublishDir();
}

bool SyncComponent::Command(const std::vector<std::string>& args, int, std::string& out) {
  const int64_t now = NowMs();
  if (args.empty() || (args.size() == 1 && args[0] == "status")) {
    out = node_->StatusText(now);
    return true;
  }
  if (args.size() == 1 && args[0] == "push") {
    // This node runs what it publishes (an auto-push after `hapfctl -f` changed
    // only pf.conf, which is loaded already).
    std::vector<std::string> messages;
    ApplyHa(messages);
    out = "generation " + std::to_string(PublishDir()) + "\n";
    for (const std::string& m : messages) out += "this node: " + m + "\n";
    return true;
  }
  // `sync result GEN`: "pending", or the outcome (false when a peer refused).
  if (args.size() == 2 && args[0] == "result") {
    sync::PushOutcome o = node_->Outcome(std::strtoull(args[1].c_str(), nullptr, 10), now);
    if (!o.done) {
      out = "pending\n";
      return true;
    }
    out = o.text;
    return o.ok;
  }
  out = "hapfctl: sync " + args[0] + ": unknown command (status, push)";
  return false;
}

nlohmann::json SyncComponent::Status() {
  const int64_t now = NowMs();
  const sync::Counters& k = node_->counters();
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& [name, p] : node_->peers()) {
    nlohmann::json j = {{"peer", name}, {"connected", p.connected}};
    if (p.generation) {
      j["generation"] = *p.generation;
      j["hash"] = sync::HashPrefix(p.hash);
      j["lag"] = static_cast<int64_t>(node_->local().generation) - static_cast<int64_t>(*p.generation);
    }
    if (p.last_push_ms >= 0) j["last_push_age_s"] = (now - p.last_push_ms) / 1000;
    if (p.last_result) j["result"] = std::string(sync::ResultName(*p.last_result));
    peers.push_back(j);
  }
  // What each peer last said about itself: untrusted, kept only when it is a
  // JSON object; the page shows it as text.
  nlohmann::json peer_status = nlohmann::json::array();
  for (const auto& [id, rs] : node_->remote_status()) {
    std::string name = "id " + std::to_string(id);
    for (const auto& [pname, p] : node_->peers())
      if (p.id == id) name = pname;
    nlohmann::json said = nlohmann::json::parse(rs.text, nullptr, false);
    if (!said.is_object()) said = nullptr;
    peer_status.push_back({{"peer", name}, {"age_s", (now - rs.at_ms) / 1000}, {"status", said}});
  }
  return {{"generation", node_->local().generation},
          {"peer_status", peer_status},
          {"hash", sync::HashPrefix(node_->local().hash(), 32)},
          {"caught_up", node_->caught_up()},
          {"peers", peers},
          {"frames_in", k.frames_in},
          {"frames_out", k.frames_out},
          {"dropped_forged", k.forged},
          {"dropped_malformed", k.malformed},
          {"dropped_replayed", k.replayed},
          {"dropped_unexpected", k.unexpected},
          {"pushes_sent", k.pushes_sent},
          {"pushes_applied", k.pushes_applied},
          {"pushes_refused", k.pushes_refused},
          {"conflicts", k.conflicts},
          {"pulls", k.pulls}};
}

}  // namespace hapf::daemon
