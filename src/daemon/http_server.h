// hapfd's HTTP endpoint: /metrics (Prometheus text) and the status page with
// its JSON API, on the address of `http-listen`. cpp-httplib serves requests
// on its own threads, which never touch the filter or the components: each
// request that needs daemon data is posted to the main loop (an eventfd it
// polls, see fd()/RunPending()) and the HTTP thread waits for the answer.
// The page and its API require a login (SHA-256 of the password in
// `http-password-sha256`); without one only /metrics is served.
#pragma once

#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace httplib {
class Server;
}

namespace hapf::daemon {

struct HttpOptions {
  std::string listen;           // "ADDR:PORT" ("[v6]:PORT" for IPv6); port 0 picks one
  std::string password_sha256;  // 64 hex digits; empty: no status page
};

// Splits "ADDR:PORT" / "[ADDR]:PORT". False when malformed.
bool ParseListen(const std::string& text, std::string& host, int& port);
// Lower-case hex SHA-256 of `text`.
std::string Sha256Hex(const std::string& text);

class HttpServer {
 public:
  // Answers one request on the main loop. `what`: "snapshot" (the metrics
  // snapshot), "status", "states", "rules", "action"; `args` its parameters.
  using Api = std::function<nlohmann::json(const std::string& what, const nlohmann::json& args)>;

  HttpServer(HttpOptions options, Api api);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the server thread. Empty on success, else the error.
  std::string Start();
  void Stop();
  int port() const { return port_; }

  // The main loop polls fd() for reading and then calls RunPending().
  int fd() const { return event_fd_; }
  void RunPending();

 private:
  struct Job {
    std::string what;
    nlohmann::json args;
    std::promise<nlohmann::json> reply;
  };
  // Posts a job and waits (at most 5 s) for the main loop; null on timeout/stop.
  nlohmann::json Call(const std::string& what, nlohmann::json args);
  bool LoggedIn(const std::string& cookie_header);
  std::string NewSession();
  void Routes();

  HttpOptions opts_;
  Api api_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int event_fd_ = -1;
  int port_ = 0;
  std::mutex mu_;  // jobs_, stopping_, sessions_
  std::deque<std::shared_ptr<Job>> jobs_;
  bool stopping_ = false;
  std::deque<std::string> sessions_;  // newest last, at most kMaxSessions
};

}  // namespace hapf::daemon
