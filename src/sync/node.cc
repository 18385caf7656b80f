#include "sync/node.h"

#include <algorithm>

namespace hapf::sync {
namespace {

constexpr int kErr = 3, kWarning = 4, kNotice = 5, kInfo = 6;

std::string GenText(uint64_t gen, const Hash& h) { return std::to_string(gen) + "/" + HashPrefix(h); }

}  // namespace

Node::Node(NodeOptions opts, Host& host, Bundle local, int64_t now_ms)
    : opts_(std::move(opts)), host_(host), local_(std::move(local)), started_ms_(now_ms) {
  local_hash_ = local_.hash();
  highest_seen_ = local_.generation;
  if (opts_.configured_peers > 0) {
    caught_up_ = false;
    host_.Demote(opts_.catchup_demote, "config sync catch-up");
  }
}

PeerStatus* Node::StatusOf(const Conn& conn) {
  if (!conn.initiator) return nullptr;
  auto it = peers_.find(conn.name);
  return it == peers_.end() ? nullptr : &it->second;
}

void Node::Connected(ConnId c, bool initiator, const std::string& peer_name, int64_t) {
  Conn& conn = conns_[c] = Conn{};
  conn.initiator = initiator;
  conn.name = peer_name;
  conn.my_nonce = host_.NewNonce();
  if (initiator) {
    PeerStatus& p = peers_[peer_name];
    p.name = peer_name;
    p.connected = true;
  }
  Frame f{opts_.id, 0, Hello{conn.my_nonce}};
  host_.Send(c, EncodeFrame(f, opts_.key));
  ++counters_.frames_out;
}

void Node::Disconnected(ConnId c) {
  auto it = conns_.find(c);
  if (it == conns_.end()) return;
  if (PeerStatus* p = StatusOf(it->second)) p->connected = false;
  conns_.erase(it);
}

void Node::SendMsg(ConnId c, Conn& conn, Message m) {
  Frame f{opts_.id, ++conn.tx_counter, std::move(m)};
  host_.Send(c, EncodeFrame(f, conn.session));
  ++counters_.frames_out;
}

void Node::Received(ConnId c, const uint8_t* data, size_t size, int64_t now_ms) {
  auto it = conns_.find(c);
  if (it == conns_.end()) return;
  Conn& conn = it->second;
  ++counters_.frames_in;
  std::optional<MsgType> type = PeekType(data, size);
  if (!type) {
    ++counters_.malformed;
    host_.Log(kWarning, "sync: " + conn.name + ": dropped a frame with a bad header");
    return;
  }
  const bool hello = *type == MsgType::kHello;
  if (!hello && !conn.have_peer_nonce) {
    ++counters_.unexpected;
    host_.Log(kWarning, "sync: " + conn.name + ": dropped a frame before the session was set up");
    return;
  }
  auto decoded = DecodeFrame(data, size, hello ? opts_.key : conn.session);
  if (auto* err = std::get_if<DecodeError>(&decoded)) {
    if (*err == DecodeError::kBadMac) ++counters_.forged;
    else ++counters_.malformed;
    host_.Log(kWarning, "sync: " + conn.name + ": dropped a frame: " + std::string(DecodeErrorName(*err)));
    return;
  }
  Frame& f = std::get<Frame>(decoded);
  if (f.sender == opts_.id || f.sender == 0) {
    ++counters_.forged;  // our own frame reflected back, or no identity
    host_.Log(kWarning, "sync: " + conn.name + ": dropped a frame claiming sender id " + std::to_string(f.sender));
    return;
  }
  if (hello) {
    if (conn.have_peer_nonce) {
      ++counters_.unexpected;
      return;
    }
    conn.peer_nonce = std::get<Hello>(f.message).nonce;
    conn.have_peer_nonce = true;
    conn.peer_id = f.sender;
    conn.session = conn.initiator ? SessionKey(opts_.key, conn.my_nonce, conn.peer_nonce)
                                  : SessionKey(opts_.key, conn.peer_nonce, conn.my_nonce);
    if (PeerStatus* p = StatusOf(conn)) p->id = f.sender;
    SendMsg(c, conn, Offer{local_.generation, local_hash_});
    if (!local_status_.empty()) SendMsg(c, conn, Status{local_status_});
    return;
  }
  if (f.sender != conn.peer_id || f.counter <= conn.rx_counter) {
    ++counters_.replayed;
    host_.Log(kWarning, "sync: " + conn.name + ": dropped a replayed frame (counter " + std::to_string(f.counter) +
                            ", last " + std::to_string(conn.rx_counter) + ")");
    return;
  }
  conn.rx_counter = f.counter;
  if (auto* o = std::get_if<Offer>(&f.message)) {
    OnOffer(c, conn, o->generation, o->hash, now_ms);
  } else if (std::holds_alternative<Pull>(f.message)) {
    SendMsg(c, conn, Push{local_});
    ++counters_.pushes_sent;
  } else if (auto* p = std::get_if<Push>(&f.message)) {
    OnPush(c, conn, p->bundle, now_ms);
  } else if (auto* st = std::get_if<Status>(&f.message)) {
    RemoteStatus& rs = remote_status_[conn.peer_id];
    rs.text = std::move(st->text);
    rs.at_ms = now_ms;
  } else if (auto* r = std::get_if<Result>(&f.message)) {
    if (PeerStatus* peer = StatusOf(conn)) {
      peer->last_result = r->status;
      peer->last_messages = r->messages;
      peer->last_result_ms = now_ms;
    }
    if (r->status == ResultStatus::kRefused || r->status == ResultStatus::kConflict) {
      std::string line = "sync: " + conn.name + " " + std::string(ResultName(r->status)) + " generation " +
                         std::to_string(local_.generation);
      for (const std::string& m : r->messages) line += "; " + m;
      host_.Log(kErr, line);
    }
    OnOffer(c, conn, r->generation, r->hash, now_ms);
  }
}

void Node::OnOffer(ConnId c, Conn& conn, uint64_t gen, const Hash& hash, int64_t now_ms) {
  if (PeerStatus* p = StatusOf(conn)) {
    p->generation = gen;
    p->hash = hash;
  }
  offered_[conn.peer_id] = gen;
  highest_seen_ = std::max(highest_seen_, gen);
  if (gen > local_.generation) {
    ++counters_.pulls;
    host_.Log(kInfo, "sync: " + conn.name + " has generation " + GenText(gen, hash) + ", pulling");
    SendMsg(c, conn, Pull{});
    return;
  }
  if (gen == local_.generation && hash != local_hash_) {
    ++counters_.conflicts;
    conflicted_ = true;
    host_.Log(kErr, "sync: conflict: generation " + std::to_string(gen) + " is " + HashPrefix(local_hash_) +
                        " here and " + HashPrefix(hash) + " at " + conn.name +
                        " (not merged; `hapfctl sync push` on the node whose configuration is right)");
  }
  CheckCaughtUp(now_ms, false);
}

void Node::OnPush(ConnId c, Conn& conn, const Bundle& b, int64_t now_ms) {
  const Hash hash = b.hash();
  Result r;
  if (b.generation < local_.generation) {
    r.status = ResultStatus::kOlder;
    r.messages.push_back("generation " + std::to_string(b.generation) + " is older than " +
                         std::to_string(local_.generation) + " here");
    ++counters_.older;
  } else if (b.generation == local_.generation) {
    if (hash == local_hash_) {
      r.status = ResultStatus::kCurrent;
    } else {
      r.status = ResultStatus::kConflict;
      r.messages.push_back("generation " + std::to_string(b.generation) + " here is " + HashPrefix(local_hash_) +
                           ", not " + HashPrefix(hash));
      ++counters_.conflicts;
      conflicted_ = true;
      host_.Log(kErr, "sync: conflict: " + conn.name + " pushed " + GenText(b.generation, hash) + ", running " +
                          GenText(local_.generation, local_hash_) + " (not merged)");
    }
  } else if (!host_.Validate(b, r.messages) || !host_.Apply(b, r.messages)) {
    r.status = ResultStatus::kRefused;
    ++counters_.pushes_refused;
    std::string line = "sync: refused generation " + GenText(b.generation, hash) + " from " + conn.name;
    for (const std::string& m : r.messages) line += "; " + m;
    host_.Log(kErr, line);
  } else {
    r.status = ResultStatus::kApplied;
    local_ = b;
    local_hash_ = hash;
    conflicted_ = false;
    ++counters_.pushes_applied;
    highest_seen_ = std::max(highest_seen_, b.generation);
    host_.Log(kNotice, "sync: applied generation " + GenText(b.generation, hash) + " from " + conn.name);
  }
  r.generation = local_.generation;
  r.hash = local_hash_;
  SendMsg(c, conn, std::move(r));
  CheckCaughtUp(now_ms, false);
}

void Node::CheckCaughtUp(int64_t now_ms, bool timeout) {
  if (caught_up_) return;
  uint64_t highest = 0;
  for (const auto& [id, gen] : offered_) highest = std::max(highest, gen);
  const bool heard_all = offered_.size() >= opts_.configured_peers;
  if (heard_all && local_.generation >= highest) {
    host_.Log(kNotice, "sync: caught up at generation " + GenText(local_.generation, local_hash_));
  } else if (timeout) {
    host_.Log(kWarning, "sync: catch-up timed out after " + std::to_string(now_ms - started_ms_) +
                            " ms (heard " + std::to_string(offered_.size()) + " of " +
                            std::to_string(opts_.configured_peers) + " peers), running generation " +
                            GenText(local_.generation, local_hash_));
  } else {
    return;
  }
  caught_up_ = true;
  host_.Demote(-opts_.catchup_demote, "config sync caught up");
}

void Node::Tick(int64_t now_ms) {
  if (!caught_up_ && now_ms - started_ms_ >= opts_.catchup_timeout_ms) CheckCaughtUp(now_ms, true);
  if (!local_status_.empty() && (status_sent_ms_ < 0 || now_ms - status_sent_ms_ >= opts_.status_interval_ms))
    SendStatus(now_ms);
}

void Node::SetLocalStatus(std::string text, int64_t now_ms) {
  if (text.size() > kMaxStatus) text.resize(kMaxStatus);
  if (text == local_status_) return;
  local_status_ = std::move(text);
  SendStatus(now_ms);
}

void Node::SendStatus(int64_t now_ms) {
  status_sent_ms_ = now_ms;
  for (auto& [c, conn] : conns_)
    if (conn.have_peer_nonce) SendMsg(c, conn, Status{local_status_});
}

uint64_t Node::Publish(std::map<std::string, std::string> files, int64_t now_ms) {
  Bundle next;
  next.files = std::move(files);
  // A conflict is resolved by pushing this node's files as a new generation.
  if (next.hash() != local_hash_ || conflicted_) {
    conflicted_ = false;
    next.generation = std::max(local_.generation, highest_seen_) + 1;
    local_ = std::move(next);
    local_hash_ = local_.hash();
    highest_seen_ = local_.generation;
    host_.Log(kNotice, "sync: new generation " + GenText(local_.generation, local_hash_));
  }
  for (auto& [c, conn] : conns_) {
    PeerStatus* p = StatusOf(conn);
    if (p == nullptr || !conn.have_peer_nonce) continue;
    p->last_push_ms = now_ms;
    p->last_push_generation = local_.generation;
    p->last_result.reset();
    p->last_messages.clear();
    SendMsg(c, conn, Push{local_});
    ++counters_.pushes_sent;
  }
  for (auto& [name, p] : peers_) {
    if (!p.connected || p.last_push_generation != local_.generation) {
      p.last_push_ms = now_ms;
      p.last_push_generation = local_.generation;
      p.last_result.reset();
      p.last_messages.clear();
    }
  }
  return local_.generation;
}

PushOutcome Node::Outcome(uint64_t generation, int64_t now_ms) const {
  PushOutcome out;
  out.done = true;
  for (const auto& [name, p] : peers_) {
    std::string line = name + ": ";
    if (p.last_push_generation != generation) {
      line += "superseded by generation " + std::to_string(p.last_push_generation);
    } else if (p.last_result) {
      const ResultStatus s = *p.last_result;
      line += std::string(ResultName(s)) + " (generation " + std::to_string(p.generation.value_or(0)) + ")";
      if (s == ResultStatus::kRefused || s == ResultStatus::kConflict || s == ResultStatus::kOlder) out.ok = false;
      for (const std::string& m : p.last_messages) line += "\n  " + m;
    } else if (!p.connected) {
      line += "not connected; it catches up when it comes back";
    } else if (now_ms - p.last_push_ms >= opts_.push_timeout_ms) {
      line += "no answer within " + std::to_string(opts_.push_timeout_ms) + " ms";
      out.ok = false;
    } else {
      line += "pending";
      out.done = false;
    }
    out.text += line + "\n";
  }
  return out;
}

std::string Node::StatusText(int64_t now_ms) const {
  std::string out = "generation " + GenText(local_.generation, local_hash_) + (caught_up_ ? "" : " (catching up)") +
                    "\n";
  for (const auto& [name, p] : peers_) {
    out += "peer " + name + ": " + (p.connected ? "connected" : "not connected");
    if (p.generation) {
      out += ", generation " + GenText(*p.generation, p.hash);
      const int64_t lag = static_cast<int64_t>(local_.generation) - static_cast<int64_t>(*p.generation);
      out += ", lag " + std::to_string(lag);
    }
    if (p.last_push_ms >= 0) {
      out += ", last push " + std::to_string((now_ms - p.last_push_ms) / 1000) + " s ago (generation " +
             std::to_string(p.last_push_generation) + ")";
      out += ", result " + (p.last_result ? std::string(ResultName(*p.last_result)) : std::string("none"));
    }
    out += "\n";
    for (const std::string& m : p.last_messages) out += "  " + m + "\n";
  }
  const Counters& k = counters_;
  out += "frames in " + std::to_string(k.frames_in) + ", out " + std::to_string(k.frames_out) + "; dropped: forged " +
         std::to_string(k.forged) + ", malformed " + std::to_string(k.malformed) + ", replayed " +
         std::to_string(k.replayed) + ", unexpected " + std::to_string(k.unexpected) + "\n";
  out += "pushes sent " + std::to_string(k.pushes_sent) + ", applied " + std::to_string(k.pushes_applied) +
         ", refused " + std::to_string(k.pushes_refused) + ", conflicts " + std::to_string(k.conflicts) +
         ", pulls " + std::to_string(k.pulls) + "\n";
  return out;
}

}  // namespace hapf::sync
