#include "daemon/control.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace hapf::daemon {
namespace {

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAll(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool FillAddress(const std::string& path, sockaddr_un& addr) {
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

void SetTimeout(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

bool WriteFrame(int fd, const std::string& payload) {
  if (payload.size() > kMaxFrame) return false;
  const uint32_t n = static_cast<uint32_t>(payload.size());
  const char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                       static_cast<char>(n)};
  return WriteAll(fd, len, 4) && WriteAll(fd, payload.data(), payload.size());
}

bool ReadFrame(int fd, std::string& payload) {
  unsigned char len[4];
  if (!ReadAll(fd, reinterpret_cast<char*>(len), 4)) return false;
  const uint32_t n = (uint32_t{len[0]} << 24) | (uint32_t{len[1]} << 16) | (uint32_t{len[2]} << 8) | len[3];
  if (n > kMaxFrame) return false;
  payload.resize(n);
  return ReadAll(fd, payload.data(), n);
}

ControlServer::~ControlServer() {
  if (fd_ >= 0) {
    close(fd_);
    unlink(path_.c_str());
  }
}

std::string ControlServer::Listen(const std::string& path) {
  sockaddr_un addr;
  if (!FillAddress(path, addr)) return "control socket path too long: " + path;
  if (size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0)
    mkdir(path.substr(0, slash).c_str(), 0700);  // e.g. /run/hapf; an existing one is kept
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
  // A socket left by a dead hapfd is replaced; a live one answers connect().
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    close(probe);
    close(fd_);
    fd_ = -1;
    return "control socket " + path + " is in use (is another hapfd running?)";
  }
  if (probe >= 0) close(probe);
  unlink(path.c_str());
  const mode_t old = umask(0177);
  int rc = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc != 0 || chmod(path.c_str(), 0600) != 0 || listen(fd_, 8) != 0) {
    std::string e = "control socket " + path + ": " + std::strerror(errno);
    close(fd_);
    fd_ = -1;
    return e;
  }
  path_ = path;
  return "";
}

int ControlServer::Accept() {
  int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return -1;
  // Root only: the mode keeps others out; the peer's uid is checked as well.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid()) {
    close(c);
    return -1;
  }
  SetTimeout(c, 2);
  return c;
}

bool ControlCall(const std::string& path, const nlohmann::json& request, nlohmann::json& reply, std::string& error) {
  sockaddr_un addr;
  if (!FillAddress(path, addr)) {
    error = "control socket path too long: " + path;
    return false;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = "cannot reach hapfd at " + path + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
    return false;
  }
  SetTimeout(fd, 30);
  std::string answer;
  bool ok = WriteFrame(fd, request.dump()) && ReadFrame(fd, answer);
  close(fd);
  if (!ok) {
    error = "hapfd closed the control connection without an answer";
    return false;
  }
  reply = nlohmann::json::parse(answer, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    error = "hapfd sent a malformed answer";
    return false;
  }
  return true;
}

}  // namespace hapf::daemon
