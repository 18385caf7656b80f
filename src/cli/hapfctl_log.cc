// hapfctl log: tcpdump prints the pflog file; -a the rotated files before it;
// -f feeds it the file as it grows, continuing into the new file after a
// rotation (like tail -F).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/hapfctl_cli.h"
#include "daemon/control.h"
#include "linux/pflog_writer.h"

namespace hapf::cli {
namespace {

constexpr const char* kDefaultPflogFile = "/var/log/hapf/pflog.pcap";
constexpr size_t kPcapHeaderLen = 24;

void Sleep(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000 * 1000};
  nanosleep(&ts, nullptr);
}

int ExitStatus(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

[[noreturn]] void ExecTcpdump(const std::string& file) {
  std::vector<const char*> argv = {"tcpdump", "-n", "-e", "-ttt"};
  if (file == "-") argv.push_back("-l");  // a live feed: one line per packet as it comes
  argv.insert(argv.end(), {"-r", file.c_str(), nullptr});
  execvp("tcpdump", const_cast<char* const*>(argv.data()));
  std::fprintf(stderr, "hapfctl: tcpdump: %s (hapfctl log runs tcpdump: apt install tcpdump)\n",
               std::strerror(errno));
  _exit(127);
}

// Copies the whole file `path` into `out`, without its pcap header when
// `skip_header`. False when the file cannot be read or `out` takes no more.
bool CopyFile(const std::string& path, int out, bool skip_header) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uint8_t buf[65536];
  size_t skip = skip_header ? kPcapHeaderLen : 0;
  ssize_t n;
  bool ok = true;
  while (ok && (n = read(fd, buf, sizeof buf)) > 0) {
    const size_t from = std::min(skip, static_cast<size_t>(n));
    skip -= from;
    ok = linux::WriteFully(out, buf + from, static_cast<size_t>(n) - from);
  }
  close(fd);
  return ok;
}

// Copies `path` into `out` for as long as the reader lives: to the end, then
// whatever is appended; when the name points to a new file (rotated), the
// rest of the old one and then the new one without its pcap header, so the
// reader sees one capture.
int Follow(const std::string& path, int out, pid_t reader, bool header_sent) {
  int fd = -1;
  ino_t ino = 0;
  dev_t dev = 0;
  bool first = !header_sent;
  size_t skip = 0;  // header bytes of a rotated-in file still to drop
  uint8_t buf[65536];
  for (;;) {
    int status;
    if (waitpid(reader, &status, WNOHANG) == reader) {
      if (fd >= 0) close(fd);
      return ExitStatus(status);
    }
    if (fd < 0) {
      fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        fd = -1;
        Sleep(100);  // not there yet (nothing logged) or between the rename and the new file
        continue;
      }
      ino = st.st_ino;
      dev = st.st_dev;
      skip = first ? 0 : kPcapHeaderLen;
      first = false;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      size_t from = 0;
      if (skip > 0) {
        from = std::min(skip, static_cast<size_t>(n));
        skip -= from;
      }
      if (!linux::WriteFully(out, buf + from, static_cast<size_t>(n) - from)) {
        close(fd);
        waitpid(reader, &status, 0);
        return ExitStatus(status);
      }
      continue;
    }
    // At the end: a new file under the name means the old one is complete
    // (hapfd writes whole batches before it renames); read it once more.
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && (st.st_ino != ino || st.st_dev != dev)) {
      while ((n = read(fd, buf, sizeof buf)) > 0) {
        if (!linux::WriteFully(out, buf, static_cast<size_t>(n))) break;
      }
      close(fd);
      fd = -1;
      continue;
    }
    Sleep(100);
  }
}

}  // namespace

int HapfctlLogMain(const std::vector<std::string>& args, const std::string& control_socket) {
  bool follow = false, all = false;
  std::string file;
  for (const std::string& a : args) {
    if (a == "-f" || a == "-a" || a == "-af" || a == "-fa") {
      follow |= a.find('f') != std::string::npos;
      all |= a.find('a') != std::string::npos;
    } else if (!a.empty() && a[0] != '-' && file.empty()) {
      file = a;
    } else {
      std::fprintf(stderr, "usage: hapfctl log [-af] [file]\n");
      return 1;
    }
  }
  if (file.empty()) {
    // The daemon knows its pflog-file; without a daemon, the default place.
    nlohmann::json reply;
    std::string e;
    const nlohmann::json req = {{"cmd", "component"}, {"name", "pflog"}, {"args", {"file"}}, {"verbose", 0}};
    if (!daemon::ControlCall(control_socket, req, reply, e)) {
      file = kDefaultPflogFile;
    } else if (!reply.value("ok", false)) {
      std::fprintf(stderr, "%s\n", reply.value("err", std::string("hapfctl: no pflog file")).c_str());
      return 1;
    } else {
      file = reply.value("out", std::string());
      while (!file.empty() && file.back() == '\n') file.pop_back();
    }
  }
  std::fflush(stdout);
  // -a: the rotated files first, oldest (FILE.N-1) to newest (FILE.0).
  std::vector<std::string> files;
  if (all) {
    struct stat st;
    for (int i = 0; i < 1000 && stat((file + "." + std::to_string(i)).c_str(), &st) == 0; ++i)
      files.insert(files.begin(), file + "." + std::to_string(i));
  }
  if (!follow && files.empty()) ExecTcpdump(file);

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    std::perror("hapfctl: pipe");
    return 1;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("hapfctl: fork");
    return 1;
  }
  if (pid == 0) {
    dup2(pipefd[0], 0);
    ExecTcpdump("-");
  }
  close(pipefd[0]);
  signal(SIGPIPE, SIG_IGN);  // tcpdump gone: write fails with EPIPE and Follow returns
  // One capture for tcpdump: the first file's pcap header only.
  bool header_sent = false;
  for (const std::string& f : files) header_sent |= CopyFile(f, pipefd[1], header_sent);
  if (follow) {
    const int rc = Follow(file, pipefd[1], pid, header_sent);
    close(pipefd[1]);
    return rc;
  }
  CopyFile(file, pipefd[1], header_sent);  // may be missing right after a rotation
  close(pipefd[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  return ExitStatus(status);
}

}  // namespace hapf::cli
