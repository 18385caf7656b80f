// Configuration sync hosted in hapfd: the sync::Node protocol core on the TCP
// transport, validating a received bundle with the daemon's own LoadConfig on
// a staging directory and installing pf.conf through the daemon's reload
// path, so the running ruleset only changes when everything compiled.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/component.h"
#include "daemon/config.h"
#include "linux/config_sync_transport.h"
#include "pf/lang_host.h"
#include "sync/node.h"

namespace hapf::daemon {

struct SyncComponentOptions {
  std::string dir;
  Settings settings;
  const pf::HostEnvironment* env = nullptr;
  // Installs pf.conf text as the running ruleset (the daemon's Reload).
  std::function<bool(const std::string& text, const std::string& filename, std::vector<std::string>& messages)>
      reload;
  // CARP demotion while catching up (empty: no CARP on this node).
  std::function<void(int delta, std::string_view reason)> demote;
  std::function<void(int level, const std::string& line)> log;
  // Applies the directory's hostname.carpN / hostname.pfsync0 to the running
  // CARP and pfsync; returns what was refused or needs a restart.
  std::function<std::vector<std::string>()> reload_ha;
  // This node's status for the peers' status pages (JSON text; empty: none).
  std::function<std::string()> local_status;
};

class SyncComponent : public Component, public sync::Host {
 public:
  // Throws std::runtime_error when the listener cannot be set up.
  explicit SyncComponent(SyncComponentOptions opts);
  ~SyncComponent() override;
  std::string name() const override { return "sync"; }
  std::vector<int> fds() const override { return transport_->fds(); }
  void Step() override;
  bool Command(const std::vector<std::string>& args, int verbose, std::string& out) override;
  void Shutdown() override {}
  nlohmann::json Status() override;

  // `hapfctl -f` with sync-auto-push: the loaded text becomes the cluster's
  // pf.conf (written to DIR/pf.conf) and is pushed. Returns the generation,
  // 0 when auto-push is off.
  uint64_t RulesetLoaded(const std::string& text);

 private:
  void Send(sync::ConnId conn, std::vector<uint8_t> frame) override { transport_->Send(conn, std::move(frame)); }
  bool Validate(const sync::Bundle& b, std::vector<std::string>& messages) override;
  bool Apply(const sync::Bundle& b, std::vector<std::string>& messages) override;
  sync::Nonce NewNonce() override;
  void Log(int level, const std::string& line) override { opts_.log(level, line); }
  void Demote(int delta, std::string_view reason) override {
    if (opts_.demote) opts_.demote(delta, reason);
  }
  uint64_t PublishDir();
  // Runs reload_ha, logging its messages and adding them to `messages`.
  void ApplyHa(std::vector<std::string>& messages);

  SyncComponentOptions opts_;
  int64_t status_at_ms_ = -1;  // when local_status was last asked
  std::unique_ptr<linux::SyncTransport> transport_;
  std::unique_ptr<sync::Node> node_;
};

}  // namespace hapf::daemon
