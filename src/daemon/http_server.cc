#include "daemon/http_server.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include <httplib.h>

#include "daemon/http_assets.h"
#include "daemon/metrics_text.h"

namespace hapf::daemon {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxSessions = 64;
constexpr const char* kCookie = "hapf_session";

std::string Hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

bool EqualConstantTime(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string CookieValue(const std::string& header, const std::string& name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    size_t start = part.find_first_not_of(' ');
    if (start != std::string::npos) part = part.substr(start);
    if (part.compare(0, name.size() + 1, name + "=") == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return {};
}

void SendJson(httplib::Response& res, const json& j) {
  if (j.is_null()) {
    res.status = 503;
    res.set_content("{\"error\":\"hapfd main loop did not answer\"}", "application/json");
    return;
  }
  res.set_content(j.dump(), "application/json");
}

}  // namespace

bool ParseListen(const std::string& text, std::string& host, int& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) return false;
    host = host.substr(1, host.size() - 2);
  }
  const std::string p = text.substr(colon + 1);
  char* end = nullptr;
  long n = std::strtol(p.c_str(), &end, 10);
  if (*end != '\0' || n < 0 || n > 65535) return false;
  port = static_cast<int>(n);
  return true;
}

std::string Sha256Hex(const std::string& text) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
  return Hex(md, sizeof md);
}

HttpServer::HttpServer(HttpOptions options, Api api) : opts_(std::move(options)), api_(std::move(api)) {
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

HttpServer::~HttpServer() {
  Stop();
  if (event_fd_ >= 0) close(event_fd_);
}

std::string HttpServer::Start() {
  std::string host;
  int port = 0;
  if (!ParseListen(opts_.listen, host, port)) return "http-listen " + opts_.listen + ": not ADDR:PORT";
  if (event_fd_ < 0) return "http: eventfd failed";
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new httplib::ThreadPool(4); };
  Routes();
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
    if (port_ < 0) return "http-listen " + opts_.listen + ": cannot bind";
  } else {
    if (!server_->bind_to_port(host, port)) return "http-listen " + opts_.listen + ": cannot bind";
    port_ = port;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return {};
}

void HttpServer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& j : jobs_) j->reply.set_value(nullptr);
    jobs_.clear();
  }
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

json HttpServer::Call(const std::string& what, json args) {
  auto job = std::make_shared<Job>();
  job->what = what;
  job->args = std::move(args);
  std::future<json> reply = job->reply.get_future();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return nullptr;
    jobs_.push_back(job);
  }
  uint64_t one = 1;
  if (write(event_fd_, &one, sizeof one) != sizeof one) {
    // The counter only overflows after 2^64 posts; the job is queued anyway.
  }
  if (reply.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return nullptr;
  return reply.get();
}

void HttpServer::RunPending() {
  uint64_t n;
  if (read(event_fd_, &n, sizeof n) < 0) {
    // EAGAIN: nothing signalled; run whatever is queued anyway.
  }
  std::deque<std::shared_ptr<Job>> jobs;
  {
    std::lock_guard lock(mu_);
    jobs.swap(jobs_);
  }
  for (auto& j : jobs) {
    json r;
    try {
      r = api_(j->what, j->args);
    } catch (const std::exception& e) {
      r = {{"error", e.what()}};
    }
    j->reply.set_value(std::move(r));
  }
}

std::string HttpServer::NewSession() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return {};
  std::string id = Hex(raw, sizeof raw);
  std::lock_guard lock(mu_);
  sessions_.push_back(id);
  if (sessions_.size() > kMaxSessions) sessions_.pop_front();
  return id;
}

bool HttpServer::LoggedIn(const std::string& cookie_header) {
  if (opts_.password_sha256.empty()) return false;
  const std::string id = CookieValue(cookie_header, kCookie);
  if (id.empty()) return false;
  std::lock_guard lock(mu_);
  for (const std::string& s : sessions_) {
    if (EqualConstantTime(s, id)) return true;
  }
  return false;
}

void HttpServer::Routes() {
  httplib::Server& s = *server_;
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    json snap = Call("snapshot", json::object());
    if (snap.is_null()) {
      res.status = 503;
      return;
    }
    res.set_content(RenderMetrics(snap), "text/plain; version=0.0.4; charset=utf-8");
  });
  const bool page = !opts_.password_sha256.empty();
  auto refuse = [](httplib::Response& res) {
    res.status = 404;
    res.set_content("status page disabled: hapfd.conf has no http-password-sha256\n", "text/plain");
  };
  s.Get("/", [this, page, refuse](const httplib::Request& req, httplib::Response& res) {
    if (!page) return refuse(res);
    res.set_header("Cache-Control", "no-store");
    if (LoggedIn(req.get_header_value("Cookie"))) res.set_content(web::kIndexHtml.data(), web::kIndexHtml.size(), "text/html; charset=utf-8");
    else res.set_content(web::kLoginHtml.data(), web::kLoginHtml.size(), "text/html; charset=utf-8");
  });
  s.Get("/app.js", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(web::kAppJs.data(), web::kAppJs.size(), "text/javascript; charset=utf-8");
  });
  s.Get("/style.css", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(web::kStyleCss.data(), web::kStyleCss.size(), "text/css; charset=utf-8");
  });
  s.Post("/login", [this, page, refuse](const httplib::Request& req, httplib::Response& res) {
    if (!page) return refuse(res);
    const std::string password = req.has_param("password") ? req.get_param_value("password") : "";
    if (!EqualConstantTime(Sha256Hex(password), opts_.password_sha256)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // slows guessing
      res.status = 401;
      std::string body(web::kLoginHtml);
      const std::string mark = "<!--error-->";
      if (size_t at = body.find(mark); at != std::string::npos)
        body.replace(at, mark.size(), "<p class=\"error\" id=\"error\">Wrong password.</p>");
      res.set_content(body, "text/html; charset=utf-8");
      return;
    }
    const std::string id = NewSession();
    res.set_header("Set-Cookie", std::string(kCookie) + "=" + id + "; Path=/; HttpOnly; SameSite=Strict");
    res.set_redirect("/", 303);
  });
  s.Post("/logout", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = CookieValue(req.get_header_value("Cookie"), kCookie);
    {
      std::lock_guard lock(mu_);
      std::erase(sessions_, id);
    }
    res.set_header("Set-Cookie", std::string(kCookie) + "=; Path=/; Max-Age=0");
    res.set_redirect("/", 303);
  });
  auto api = [this](const char* what, bool post) {
    return [this, what, post](const httplib::Request& req, httplib::Response& res) {
      if (!LoggedIn(req.get_header_value("Cookie"))) {
        res.status = 401;
        res.set_content("{\"error\":\"login required\"}", "application/json");
        return;
      }
      json args = json::object();
      for (const auto& [k, v] : req.params) args[k] = v;
      if (post) {
        // A cross-site form cannot set this header; with SameSite=Strict it
        // keeps actions to the page itself.
        if (req.get_header_value("X-Hapf") != "1") {
          res.status = 403;
          res.set_content("{\"error\":\"missing X-Hapf header\"}", "application/json");
          return;
        }
        json body = json::parse(req.body, nullptr, false);
        if (body.is_object()) args.update(body);
      }
      SendJson(res, Call(what, args));
    };
  };
  s.Get("/api/status", api("status", false));
  s.Get("/api/states", api("states", false));
  s.Get("/api/rules", api("rules", false));
  s.Post("/api/action", api("action", true));
}

}  // namespace hapf::daemon
