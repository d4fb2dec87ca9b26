// process.hpp: small POSIX helpers for the interop tests: a temporary directory removed on destruction, child
// processes (run to completion, or kept running and stopped on destruction), loopback port helpers and file
// reading. Everything here is RAII so a failing test still stops what it started and cleans up.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <ctime>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace sluice::interop {

using Millis = std::chrono::milliseconds;

// A fresh directory under the system temp directory; removed with its contents on destruction, after every process
// whose cwd or executable lies inside it has gone (so a stopped server cannot race the removal).
class TempDir {
 public:
  // Creates "<tmp>/<prefix>XXXXXX" with mode 0755 (peers running as other users must traverse it).
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // The directory.
  const std::filesystem::path& path() const { return path_; }
  // path() / name.
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Result of a process run to completion.
struct RunResult {
  int status = -1;        // exit status, or -1 when killed / not started
  bool timedOut = false;  // killed after the time limit
  std::string output;     // stdout and stderr, interleaved
};

// Runs argv[0] (found on PATH) with extra "NAME=value" environment entries, waits at most `limit`.
RunResult runCommand(const std::vector<std::string>& argv, Millis limit, const std::vector<std::string>& env = {});

// A child process that keeps running until stop() or destruction (SIGTERM, then SIGKILL after a grace period).
// Its stdout and stderr go to `logFile`.
class Child {
 public:
  Child() = default;
  // Starts argv[0] (found on PATH) with extra environment entries; throws std::runtime_error on failure.
  Child(const std::vector<std::string>& argv, const std::filesystem::path& logFile,
        const std::vector<std::string>& env = {});
  ~Child();
  Child(Child&& other) noexcept : pid_(std::exchange(other.pid_, -1)), status_(other.status_) {}
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Sends SIGTERM and waits (SIGKILL after `grace`); returns the wait status, -1 if not running.
  int stop(Millis grace = Millis(3000));
  // Waits for the process to exit by itself for at most `limit`; returns true when it exited.
  bool waitExit(Millis limit);
  // The exit status after waitExit()/stop() (as from waitpid), -1 before.
  int status() const { return status_; }
  // The process id, -1 when not running.
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// A loopback TCP port that was free a moment ago (bound to 127.0.0.1:0, then released).
std::uint16_t freePort();
// Polls until something accepts TCP connections on 127.0.0.1:port; false after `limit`.
bool waitForPort(std::uint16_t port, Millis limit);
// Waits until no process has its cwd or executable inside `dir`; false after `limit`.
bool waitForDirUnused(const std::filesystem::path& dir, Millis limit);
// The whole file, or "" if it cannot be read.
std::string readFile(const std::filesystem::path& file);
// Writes `bytes` to `file` exactly (binary), replacing it; throws on failure.
void writeFile(const std::filesystem::path& file, const std::string& bytes);
// Regular files directly inside `dir`, sorted by name ("" entries skipped; missing dir gives an empty list).
std::vector<std::filesystem::path> listFiles(const std::filesystem::path& dir);
// Replaces every CRLF with LF.
std::string crlfToLf(const std::string& s);

// Calls `ready` every 20 ms until it returns true or `limit` passes; returns its last answer.
template <class F>
bool pollUntil(Millis limit, F ready) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (ready()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    struct timespec ts {0, 20 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace sluice::interop
