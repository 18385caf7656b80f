// hapfd's control socket: a unix stream socket (mode 0600, root only) with one
// request and one reply per connection, each a frame of a 4-byte big-endian
// length followed by that many bytes of JSON.
//   request: {"cmd": "show", ...arguments}
//   reply:   {"ok": true|false, "out": "text for stdout", "err": "text for stderr"}
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace hapf::daemon {

constexpr uint32_t kMaxFrame = 16u << 20;  // a pf.conf of 16 MiB is plenty

// Writes / reads one frame on a blocking socket. False on error, EOF or an
// oversized frame (the reader never allocates more than kMaxFrame).
bool WriteFrame(int fd, const std::string& payload);
bool ReadFrame(int fd, std::string& payload);

class ControlServer {
 public:
  ControlServer() = default;
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  // Binds `path` (replacing a stale socket), mode 0600. Empty on success.
  std::string Listen(const std::string& path);
  int fd() const { return fd_; }
  // Accepts one connection and returns its fd (receive timeout 2 s), or -1.
  int Accept();

 private:
  int fd_ = -1;
  std::string path_;
};

// Client side: one request, one reply. False with `error` (one line) when hapfd
// cannot be reached or answers garbage.
bool ControlCall(const std::string& path, const nlohmann::json& request, nlohmann::json& reply, std::string& error);

}  // namespace hapf::daemon
