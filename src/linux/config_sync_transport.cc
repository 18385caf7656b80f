#include "linux/config_sync_transport.h"

#include <arpa/inet.h>
#include <poll.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hapf::linux {
namespace {

socklen_t ToSockaddr(const SyncEndpoint& e, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (e.addr.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(e.port);
    std::memcpy(&in->sin_addr, e.addr.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(e.port);
  std::memcpy(&in6->sin6_addr, e.addr.data(), 16);
  return sizeof(sockaddr_in6);
}

bool WriteSynced(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      close(fd);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  bool ok = fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  return ok && rename(tmp.c_str(), path.c_str()) == 0;
}

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) names.emplace_back(e->d_name);
    closedir(d);
  }
  return names;
}

}  // namespace

std::string SyncEndpoint::ToString() const {
  std::string out;
  if (!addr.is_v4()) out += '[';
  out += addr.ToString();
  if (!addr.is_v4()) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

std::optional<SyncEndpoint> ParseSyncEndpoint(const std::string& text, uint16_t default_port) {
  SyncEndpoint e;
  e.port = default_port;
  std::string host = text, port;
  if (!text.empty() && text[0] == '[') {
    size_t close_br = text.find(']');
    if (close_br == std::string::npos) return std::nullopt;
    host = text.substr(1, close_br - 1);
    if (close_br + 1 < text.size()) {
      if (text[close_br + 1] != ':') return std::nullopt;
      port = text.substr(close_br + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    host = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
  }
  std::optional<net::IpAddr> a = net::IpAddr::Parse(host);
  if (!a) return std::nullopt;
  e.addr = *a;
  if (!port.empty()) {
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) return std::nullopt;
    e.port = static_cast<uint16_t>(p);
  }
  return e;
}

SyncTransport::SyncTransport(SyncEndpoint listen, std::vector<SyncEndpoint> peers)
    : listen_(std::move(listen)), peers_(std::move(peers)), next_attempt_ms_(peers_.size(), 0) {}

SyncTransport::~SyncTransport() {
  for (auto& [id, c] : conns_) close(c.fd);
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string SyncTransport::Listen() {
  sockaddr_storage ss;
  socklen_t len = ToSockaddr(listen_, ss);
  listen_fd_ = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return std::string("socket: ") + std::strerror(errno);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return "bind " + listen_.ToString() + ": " + std::strerror(errno);
  if (listen(listen_fd_, 16) != 0) return std::string("listen: ") + std::strerror(errno);
  return "";
}

std::vector<int> SyncTransport::fds() const {
  std::vector<int> out;
  if (listen_fd_ >= 0) out.push_back(listen_fd_);
  for (const auto& [id, c] : conns_) out.push_back(c.fd);
  return out;
}

void SyncTransport::Send(sync::ConnId id, std::vector<uint8_t> frame) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second.out.insert(it->second.out.end(), frame.begin(), frame.end());
}

void SyncTransport::Close(sync::ConnId id, bool count_partial) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  if (count_partial && !it->second.in.empty() && node_ != nullptr) node_->CountMalformed();
  close(it->second.fd);
  const bool established = !it->second.connecting;
  conns_.erase(it);
  if (node_ != nullptr && established) node_->Disconnected(id);
}

void SyncTransport::Drive(sync::ConnId id, int64_t now_ms) {
  Conn* c = &conns_.at(id);
  if (c->connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    pollfd p{c->fd, POLLOUT, 0};
    if (poll(&p, 1, 0) <= 0) return;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      Close(id, false);
      return;
    }
    c->connecting = false;
    if (node_ != nullptr) node_->Connected(id, true, c->name, now_ms);
    c = &conns_.at(id);
  }
  // Read what is there; hand over whole frames.
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      c->in.insert(c->in.end(), buf, buf + n);
      if (c->in.size() > sync::kMaxBody + sync::kHeaderSize + sync::kMacSize + sizeof buf) break;
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      // Frames complete before the end still count; a partial one does not.
      size_t off = 0;
      while (node_ != nullptr) {
        std::optional<size_t> len = sync::FrameLength(c->in.data() + off, c->in.size() - off);
        if (!len || *len == 0 || c->in.size() - off < *len) break;
        node_->Received(id, c->in.data() + off, *len, now_ms);
        c = &conns_.at(id);
        off += *len;
      }
      c->in.erase(c->in.begin(), c->in.begin() + static_cast<long>(off));
      Close(id, true);
      return;
    }
    break;
  }
  size_t off = 0;
  while (node_ != nullptr) {
    std::optional<size_t> len = sync::FrameLength(c->in.data() + off, c->in.size() - off);
    if (!len) break;
    if (*len == 0) {
      node_->CountMalformed();
      Close(id, false);
      return;
    }
    if (c->in.size() - off < *len) break;
    node_->Received(id, c->in.data() + off, *len, now_ms);
    if (conns_.find(id) == conns_.end()) return;
    c = &conns_.at(id);
    off += *len;
  }
  c->in.erase(c->in.begin(), c->in.begin() + static_cast<long>(off));
}

void SyncTransport::Step(int64_t now_ms) {
  // Outgoing connections to configured peers.
  for (size_t i = 0; i < peers_.size(); ++i) {
    const sync::ConnId id = static_cast<sync::ConnId>(i + 1);
    if (conns_.count(id) || now_ms < next_attempt_ms_[i]) continue;
    next_attempt_ms_[i] = now_ms + 1000;
    sockaddr_storage ss;
    socklen_t len = ToSockaddr(peers_[i], ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage local;
    SyncEndpoint from = listen_;
    from.port = 0;
    socklen_t llen = ToSockaddr(from, local);
    if (local.ss_family == ss.ss_family) bind(fd, reinterpret_cast<sockaddr*>(&local), llen);  // over the sync link
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
      close(fd);
      continue;
    }
    Conn c;
    c.fd = fd;
    c.initiator = true;
    c.connecting = true;
    c.name = peers_[i].ToString();
    conns_[id] = std::move(c);
  }
  // Incoming connections.
  if (listen_fd_ >= 0) {
    for (int k = 0; k < 16; ++k) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      const sync::ConnId id = next_accepted_++;
      Conn c;
      c.fd = fd;
      sockaddr_storage peer;
      socklen_t plen = sizeof peer;
      if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0 && peer.ss_family == AF_INET) {
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, text, sizeof text);
        c.name = std::string(text) + " (incoming)";
      } else {
        c.name = "incoming";
      }
      conns_[id] = std::move(c);
      if (node_ != nullptr) node_->Connected(id, false, conns_[id].name, now_ms);
    }
  }
  std::vector<sync::ConnId> ids;
  for (const auto& [id, c] : conns_) ids.push_back(id);
  for (sync::ConnId id : ids) {
    if (conns_.count(id)) Drive(id, now_ms);
  }
  // Write what is queued.
  ids.clear();
  for (const auto& [id, c] : conns_) ids.push_back(id);
  for (sync::ConnId id : ids) {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second.connecting) continue;
    Conn& c = it->second;
    while (!c.out.empty()) {
      ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(c.out.begin(), c.out.begin() + n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      Close(id, false);
      break;
    }
  }
}

std::map<std::string, std::string> ReadClusterFiles(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const std::string& name : List(dir)) {
    if (!sync::IsSyncedFile(name)) continue;
    std::string text;
    if (ReadWhole(dir + "/" + name, text)) out[name] = sync::StripLocal(name, text);
  }
  return out;
}

std::string StageBundle(const std::string& dir, const sync::Bundle& bundle, std::string& error) {
  sync::LocalOverrides local;
  std::string text;
  if (ReadWhole(dir + "/local.conf", text)) {
    std::optional<sync::LocalOverrides> l = sync::ParseLocalConf(text, error);
    if (!l) return "";
    local = *l;
  }
  const std::string stage = dir + "/.sync-staging";
  mkdir(stage.c_str(), 0700);
  for (const std::string& name : List(stage)) {
    if (name != "." && name != "..") unlink((stage + "/" + name).c_str());
  }
  for (const auto& [name, cluster_text] : bundle.files) {
    std::string current;
    ReadWhole(dir + "/" + name, current);
    if (!WriteSynced(stage + "/" + name, sync::MergeLocal(name, cluster_text, current, local))) {
      error = stage + "/" + name + ": " + std::strerror(errno);
      return "";
    }
  }
  // The daemon settings are node-local but the staged directory is checked
  // as a whole, so it sees them too.
  if (ReadWhole(dir + "/hapfd.conf", text) && !WriteSynced(stage + "/hapfd.conf", text)) {
    error = stage + "/hapfd.conf: " + std::strerror(errno);
    return "";
  }
  return stage;
}

bool CommitStaged(const std::string& dir, const sync::Bundle& bundle, std::string& error) {
  const std::string stage = dir + "/.sync-staging";
  for (const auto& [name, text] : bundle.files) {
    if (rename((stage + "/" + name).c_str(), (dir + "/" + name).c_str()) != 0) {
      error = "rename " + name + ": " + std::strerror(errno);
      return false;
    }
  }
  for (const std::string& name : List(dir)) {
    if (sync::IsSyncedFile(name) && !bundle.files.count(name)) unlink((dir + "/" + name).c_str());
  }
  unlink((stage + "/hapfd.conf").c_str());
  rmdir(stage.c_str());
  return WriteGeneration(dir, bundle.generation, bundle.hash());
}

bool ReadWhole(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

uint64_t ReadGeneration(const std::string& dir) {
  std::string text;
  if (!ReadWhole(dir + "/sync.state", text)) return 0;
  return std::strtoull(text.c_str(), nullptr, 10);
}

bool WriteGeneration(const std::string& dir, uint64_t generation, const sync::Hash& hash) {
  return WriteSynced(dir + "/sync.state", std::to_string(generation) + " " + sync::HashPrefix(hash, 32) + "\n");
}

}  // namespace hapf::linux
