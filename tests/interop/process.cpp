// process.cpp: the POSIX side of the interop fixtures: temp directories, child processes, loopback ports, files.
#include "tests/interop/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace sluice::interop {

namespace fs = std::filesystem;

namespace {

// Builds the environment of a child: ours plus `extra` ("NAME=value", overriding same-named entries).
std::vector<std::string> childEnv(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    const bool overridden = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
      return x.compare(0, name.size() + 1, name + "=") == 0;
    });
    if (!overridden) env.push_back(std::move(entry));
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// Turns strings into a null-terminated char* array that borrows them.
std::vector<char*> cArray(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Spawns argv with stdout and stderr sent to `out` (stdin from /dev/null); returns the pid, -1 on failure.
pid_t spawnTo(const std::vector<std::string>& argv, const fs::path& out, const std::vector<std::string>& extraEnv) {
  std::vector<std::string> args = argv;
  std::vector<std::string> env = childEnv(extraEnv);
  std::vector<char*> cargs = cArray(args);
  std::vector<char*> cenv = cArray(env);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group (pgid = pid), so a terminal's signals do not reach peers directly and stop() can signal
  // everything the child forked.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, cargs[0], &fa, &attr, cargs.data(), cenv.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// Sleeps for `ms` milliseconds.
void sleepMs(long ms) {
  struct timespec ts {ms / 1000, (ms % 1000) * 1000 * 1000};
  nanosleep(&ts, nullptr);
}

// Waits for `pid` at most `limit`; returns true and sets `status` when it exited.
bool waitPid(pid_t pid, Millis limit, int& status) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;  // not our child any more
    if (std::chrono::steady_clock::now() >= end) return false;
    sleepMs(5);
  }
}

// True when `link` (a /proc symlink) resolves to a path inside `dir`.
bool linksInto(const fs::path& link, const std::string& dir) {
  std::error_code ec;
  const fs::path target = fs::read_symlink(link, ec);
  if (ec) return false;
  const std::string t = target.string();
  return t.size() > dir.size() && t.compare(0, dir.size(), dir) == 0 && t[dir.size()] == '/';
}

}  // namespace

// Creates the directory from mkdtemp under the system temp directory and opens it to other users.
TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + std::string(strerror(errno)));
  path_ = tmpl;
  chmod(path_.c_str(), 0755);
}

// Waits until nothing runs inside the directory, then removes it.
TempDir::~TempDir() {
  waitForDirUnused(path_, Millis(10000));
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// Runs a command to completion with its output captured through a temp file.
RunResult runCommand(const std::vector<std::string>& argv, Millis limit, const std::vector<std::string>& env) {
  RunResult res;
  std::string tmpl = (fs::temp_directory_path() / "sluice-run-XXXXXX").string();
  const int fd = mkstemp(tmpl.data());
  if (fd < 0) return res;
  close(fd);
  const pid_t pid = spawnTo(argv, tmpl, env);
  if (pid < 0) {
    res.output = "cannot start " + argv.at(0);
    unlink(tmpl.c_str());
    return res;
  }
  int status = 0;
  if (!waitPid(pid, limit, status)) {
    res.timedOut = true;
    kill(-pid, SIGKILL);
    waitPid(pid, Millis(5000), status);
  } else if (WIFEXITED(status)) {
    res.status = WEXITSTATUS(status);
  }
  res.output = readFile(tmpl);
  unlink(tmpl.c_str());
  return res;
}

// Starts the child process.
Child::Child(const std::vector<std::string>& argv, const fs::path& logFile, const std::vector<std::string>& env) {
  pid_ = spawnTo(argv, logFile, env);
  if (pid_ < 0) throw std::runtime_error("cannot start " + argv.at(0));
}

// Stops the child if it still runs.
Child::~Child() { stop(); }

// Stops our child, then takes over the other one.
Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = std::exchange(other.pid_, -1);
    status_ = other.status_;
  }
  return *this;
}

// SIGTERM to the child's process group, wait, SIGKILL if needed.
int Child::stop(Millis grace) {
  if (pid_ < 0) return -1;
  // The child leads its own process group: signal the group, so helpers it forked go too.
  kill(-pid_, SIGTERM);
  int status = 0;
  if (!waitPid(pid_, grace, status)) {
    kill(-pid_, SIGKILL);
    waitPid(pid_, Millis(5000), status);
  }
  pid_ = -1;
  status_ = status;
  return status;
}

// Waits for a voluntary exit.
bool Child::waitExit(Millis limit) {
  if (pid_ < 0) return true;
  int status = 0;
  if (!waitPid(pid_, limit, status)) return false;
  pid_ = -1;
  status_ = status;
  return true;
}

// Binds 127.0.0.1:0 and reports the port the kernel chose.
std::uint16_t freePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    throw std::runtime_error("bind to 127.0.0.1:0 failed");
  }
  close(fd);
  return ntohs(a.sin_port);
}

// Tries to connect every 10 ms.
bool waitForPort(std::uint16_t port, Millis limit) {
  return pollUntil(limit, [&] {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
  });
}

// Scans /proc/<pid>/cwd and /proc/<pid>/exe of every process.
bool waitForDirUnused(const fs::path& dir, Millis limit) {
  const std::string d = dir.string();
  return pollUntil(limit, [&] {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      if (linksInto(e.path() / "cwd", d) || linksInto(e.path() / "exe", d)) return false;
    }
    return true;
  });
}

// Reads a whole file in binary mode.
std::string readFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a whole file in binary mode.
void writeFile(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

// Lists regular files, sorted.
std::vector<fs::path> listFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// CRLF -> LF.
std::string crlfToLf(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace sluice::interop
