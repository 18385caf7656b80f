// One node of the configuration sync: the protocol state machine over any
// number of connections. Pure: the host gives in time (milliseconds), frames
// and nonces, and takes out frames, validation, application and demotion.
//
// Rules it enforces: a push is applied only after the host validated it
// (parse + compile with this node's local settings); the generation never
// goes backwards; the same generation with another hash is a conflict,
// reported and never merged; a starting node holds a CARP demotion until it
// has heard every configured peer's generation and pulled the newest (or the
// catch-up timeout passed).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sync/bundle.h"
#include "sync/wire.h"

namespace hapf::sync {

using ConnId = uint32_t;

class Host {
 public:
  virtual ~Host() = default;
  virtual void Send(ConnId conn, std::vector<uint8_t> frame) = 0;
  // Parses and compiles the bundle as this node would run it. Messages are
  // the errors (false) or warnings (true).
  virtual bool Validate(const Bundle& b, std::vector<std::string>& messages) = 0;
  // Writes the bundle and makes it the running configuration; called only
  // after Validate. False (with messages) leaves the old configuration.
  virtual bool Apply(const Bundle& b, std::vector<std::string>& messages) = 0;
  virtual Nonce NewNonce() = 0;
  // level: syslog priority (3 err, 4 warning, 5 notice, 6 info).
  virtual void Log(int level, const std::string& line) = 0;
  virtual void Demote(int delta, std::string_view reason) = 0;
};

struct NodeOptions {
  uint32_t id = 0;     // this node's sync-id (nonzero, unique in the cluster)
  Key key;             // the cluster key
  size_t configured_peers = 0;
  int64_t catchup_timeout_ms = 5000;
  int64_t push_timeout_ms = 3000;
  int catchup_demote = 32;
  int64_t status_interval_ms = 1000;  // how often the local status is repeated to the peers
};

// The last status a peer sent (Status frames), by its sync-id.
struct RemoteStatus {
  std::string text;   // untrusted: the peer's words
  int64_t at_ms = 0;  // when it arrived
};

struct Counters {
  uint64_t frames_in = 0, frames_out = 0;
  uint64_t forged = 0;      // bad authenticator (wrong key, altered bytes)
  uint64_t malformed = 0;   // authentic but undecodable, or bad header / truncated (transport)
  uint64_t replayed = 0;    // counter not above the last one, or wrong sender on a session
  uint64_t unexpected = 0;  // frame before the session exists, second HELLO
  uint64_t pushes_sent = 0, pushes_applied = 0, pushes_refused = 0, conflicts = 0, older = 0, pulls = 0;
};

// What this node knows about one configured peer (its outgoing connection).
struct PeerStatus {
  std::string name;
  bool connected = false;
  uint32_t id = 0;
  std::optional<uint64_t> generation;
  Hash hash{};
  int64_t last_push_ms = -1;       // when we last pushed to it
  uint64_t last_push_generation = 0;
  std::optional<ResultStatus> last_result;  // its answer to that push
  std::vector<std::string> last_messages;
  int64_t last_result_ms = -1;
};

// The outcome of pushing one generation, for `hapfctl sync push`.
struct PushOutcome {
  bool done = false;     // every peer answered, timed out or is offline
  bool ok = true;        // nobody refused (offline peers catch up later)
  std::string text;      // one line per peer
};

class Node {
 public:
  Node(NodeOptions opts, Host& host, Bundle local, int64_t now_ms);

  void Connected(ConnId c, bool initiator, const std::string& peer_name, int64_t now_ms);
  void Disconnected(ConnId c);
  // One whole frame (the transport cuts the stream with FrameLength).
  void Received(ConnId c, const uint8_t* data, size_t size, int64_t now_ms);
  // The transport dropped a stream with a bad header or a truncated frame.
  void CountMalformed() { ++counters_.malformed; }
  void Tick(int64_t now_ms);

  // The administrator's files (already stripped of node-local words): a new
  // generation when they differ from the running bundle (or a conflict was
  // seen), then a push to every configured peer. Returns the generation pushed.
  uint64_t Publish(std::map<std::string, std::string> files, int64_t now_ms);
  PushOutcome Outcome(uint64_t generation, int64_t now_ms) const;

  const Bundle& local() const { return local_; }
  bool caught_up() const { return caught_up_; }
  const Counters& counters() const { return counters_; }
  const std::map<std::string, PeerStatus>& peers() const { return peers_; }
  // This node's status for the peers: sent at once to every session when it
  // changed, otherwise repeated every status_interval_ms (and on a new session).
  void SetLocalStatus(std::string text, int64_t now_ms);
  const std::map<uint32_t, RemoteStatus>& remote_status() const { return remote_status_; }
  std::string StatusText(int64_t now_ms) const;

 private:
  struct Conn {
    bool initiator = false;
    std::string name;  // configured peer name (initiator side only)
    Nonce my_nonce{}, peer_nonce{};
    bool have_peer_nonce = false;
    Key session;
    uint32_t peer_id = 0;
    uint64_t tx_counter = 0, rx_counter = 0;
  };
  void SendMsg(ConnId c, Conn& conn, Message m);
  void OnOffer(ConnId c, Conn& conn, uint64_t gen, const Hash& hash, int64_t now_ms);
  void OnPush(ConnId c, Conn& conn, const Bundle& b, int64_t now_ms);
  void CheckCaughtUp(int64_t now_ms, bool timeout);
  void SendStatus(int64_t now_ms);
  PeerStatus* StatusOf(const Conn& conn);

  NodeOptions opts_;
  Host& host_;
  Bundle local_;
  Hash local_hash_;
  std::map<ConnId, Conn> conns_;
  std::map<std::string, PeerStatus> peers_;
  std::map<uint32_t, uint64_t> offered_;  // peer id -> generation it offered
  Counters counters_;
  bool caught_up_ = true;
  bool conflicted_ = false;  // a peer runs our generation with other files
  int64_t started_ms_ = 0;
  uint64_t highest_seen_ = 0;
  std::string local_status_;
  int64_t status_sent_ms_ = -1;
  std::map<uint32_t, RemoteStatus> remote_status_;
};

}  // namespace hapf::sync
