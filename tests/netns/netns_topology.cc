#include "netns/netns_topology.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "run_command.h"

namespace hapf::netns {
namespace {

std::string ToolkitScript() { return std::string(HAPF_SOURCE_DIR) + "/tests/netns/netns.sh"; }

}  // namespace

RunResult Run(const std::string& command) {
  RunResult r;
  int wait_status = -1;
  r.output = hapf::testing::RunShell(command + " 2>&1", &wait_status);
  r.status = hapf::testing::ExitCode(wait_status);
  return r;
}

std::string UniquePrefix(const std::string& tag) {
  static std::atomic<int> counter{0};
  return "hapf-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

Topology::Topology(std::string prefix) : prefix_(std::move(prefix)) {
  RunResult r = Run("bash " + ToolkitScript() + " create " + prefix_);
  ok_ = r.status == 0;
  error_ = r.output;
}

Topology::~Topology() { Run("bash " + ToolkitScript() + " destroy " + prefix_); }

Process::Process(const std::vector<std::string>& argv, const std::string& log_file) {
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    Wait(5);
  }
}

bool Process::running() {
  if (pid_ <= 0 || reaped_) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return false;
  }
  return true;
}

void Process::Signal(int sig) {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

int Process::Wait(double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (running()) {
    if (std::chrono::steady_clock::now() > end) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

bool WaitForFile(const std::string& path, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  struct stat st;
  while (stat(path.c_str(), &st) != 0) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace hapf::netns
