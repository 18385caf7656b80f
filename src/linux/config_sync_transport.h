// The configuration sync transport: TCP over the sync link, non-blocking,
// driven by the daemon's main loop. It listens on the node's sync address,
// keeps one outgoing connection per configured peer (reconnecting every
// second), cuts the byte streams into whole frames and hands them to a
// sync::Node. A bad header closes the stream (it cannot be resynchronised);
// a stream that ends inside a frame is counted as malformed and the partial
// frame is discarded, so a peer dying mid-push changes nothing.
//
// Also the configuration directory side: reading the cluster-wide files and
// writing a received bundle atomically (staging directory, then renames).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/addr.h"
#include "sync/node.h"

namespace hapf::linux {

struct SyncEndpoint {
  net::IpAddr addr;
  uint16_t port = 8737;
  std::string ToString() const;
};
// "ADDR", "ADDR:PORT", "[V6]:PORT"; nullopt when malformed.
std::optional<SyncEndpoint> ParseSyncEndpoint(const std::string& text, uint16_t default_port);

class SyncTransport {
 public:
  SyncTransport(SyncEndpoint listen, std::vector<SyncEndpoint> peers);
  ~SyncTransport();
  // Binds and listens; the error text or "".
  std::string Listen();
  void Attach(sync::Node* node) { node_ = node; }
  std::vector<int> fds() const;
  // Accepts, reads, writes, reconnects; never blocks.
  void Step(int64_t now_ms);
  void Send(sync::ConnId c, std::vector<uint8_t> frame);

 private:
  struct Conn {
    int fd = -1;
    bool initiator = false;
    bool connecting = false;
    std::string name;
    std::vector<uint8_t> in, out;
  };
  void Close(sync::ConnId c, bool count_partial);
  void Drive(sync::ConnId c, int64_t now_ms);

  SyncEndpoint listen_;
  std::vector<SyncEndpoint> peers_;
  sync::Node* node_ = nullptr;
  int listen_fd_ = -1;
  std::map<sync::ConnId, Conn> conns_;  // ids 1..N: outgoing to peer N-1; from 1000: accepted
  std::vector<int64_t> next_attempt_ms_;
  sync::ConnId next_accepted_ = 1000;
};

// The whole of the file at `path`; false when it cannot be read.
bool ReadWhole(const std::string& path, std::string& out);

// The cluster-wide files of `dir` (IsSyncedFile), node-local words stripped.
std::map<std::string, std::string> ReadClusterFiles(const std::string& dir);

// Writes `bundle`'s files merged with this node's local words (local.conf and
// the current files) into dir/.sync-staging; returns the staging path or ""
// with `error`.
std::string StageBundle(const std::string& dir, const sync::Bundle& bundle, std::string& error);
// Moves the staged files over the live ones (rename, one file at a time,
// after everything was written and checked) and removes synced files the
// bundle no longer has. Then records the generation in dir/sync.state.
bool CommitStaged(const std::string& dir, const sync::Bundle& bundle, std::string& error);

// dir/sync.state: "GENERATION HASHHEX" of the running bundle (node-local).
uint64_t ReadGeneration(const std::string& dir);
bool WriteGeneration(const std::string& dir, uint64_t generation, const sync::Hash& hash);

}  // namespace hapf::linux
