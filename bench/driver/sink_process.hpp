// sink_process.hpp: `sluice sink` started as a child process of the benchmark (the same binary, so the figures
// for engine and sink are separable: CPU time and peak RSS of each process), its port read from the
// "listening on HOST:PORT" line it prints first, its later output kept, and SIGTERM + wait at the end.
//
// Ownership: a SinkProcess owns the child and the pipe; the destructor stops the child if stop() was not called.
// Threads: one reader thread drains the child's stdout (so it never blocks on a full pipe); the methods are for
// one owning thread.
// Errors: start() returns nullptr with a readable error (exec failed, no listening line within the timeout, the
// child exited early: its output is quoted).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::bench {

// The port in a "listening on 127.0.0.1:2525" / "listening on [::1]:2525" line; 0 when the line has none.
std::uint16_t parseListeningPort(const std::string& line);
// Splits "--reply-delay 50 --no-chunking" at white space (no quoting).
std::vector<std::string> splitArgs(const std::string& text);

class SinkProcess {
 public:
  // Runs `exe sink --listen 127.0.0.1:0 <extraArgs...>` and waits up to timeoutMs for its listening line.
  static std::unique_ptr<SinkProcess> start(const std::string& exe, const std::vector<std::string>& extraArgs,
                                            int timeoutMs, std::string* error);
  ~SinkProcess();
  SinkProcess(const SinkProcess&) = delete;
  SinkProcess& operator=(const SinkProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // SIGTERM, then waits for the child and the reader; returns the child's exit status (-1 when killed by a
  // signal). Idempotent.
  int stop();
  // The child's output after the listening line (its "final: ..." counters line among it), complete after stop().
  std::string output() const;

 private:
  SinkProcess() = default;

  pid_t pid_ = -1;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  int status_ = 0;
  std::thread reader_;
  mutable std::mutex mu_;
  std::string output_;
};

}  // namespace sluice::bench
