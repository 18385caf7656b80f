// C++ side of the namespace test toolkit: RAII around netns.sh (the namespaces
// go away when the object does, also when a test fails) and child processes
// that are always reaped.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace hapf::netns {

struct RunResult {
  int status = -1;  // exit status, -1 if it did not exit normally
  std::string output;  // stdout and stderr
};

// Runs `command` with /bin/sh, capturing its output.
RunResult Run(const std::string& command);

// A namespace prefix unique to this process and call: "hapf-<tag>-<pid>-<n>".
std::string UniquePrefix(const std::string& tag);

// client — fw — server (see netns.sh for names and addresses).
class Topology {
 public:
  explicit Topology(std::string prefix);
  ~Topology();
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string Ns(const std::string& role) const { return prefix_ + "-" + role; }
  // "ip netns exec PREFIX-ROLE ..." as a command prefix.
  std::string In(const std::string& role) const { return "ip netns exec " + Ns(role) + " "; }
  RunResult Exec(const std::string& role, const std::string& command) const { return Run(In(role) + command); }

 private:
  std::string prefix_;
  bool ok_ = false;
  std::string error_;
};

// A child process (argv[0] is looked up in PATH) with output to `log_file`.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_file);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // Waits up to `seconds`; the exit status, or -1 (still running / killed by a signal).
  int Wait(double seconds);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

// Waits up to `seconds` for `path` to exist.
bool WaitForFile(const std::string& path, double seconds);
std::string ReadFile(const std::string& path);

}  // namespace hapf::netns
