// sink_process.cpp: the sink as a child process (see sink_process.hpp).
#include "bench/driver/sink_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

namespace sluice::bench {

std::uint16_t parseListeningPort(const std::string& line) {
  const std::string key = "listening on ";
  std::size_t at = line.find(key);
  if (at == std::string::npos) return 0;
  std::size_t colon = line.rfind(':');
  if (colon == std::string::npos || colon < at) return 0;
  unsigned long port = 0;
  std::size_t i = colon + 1, digits = 0;
  for (; i < line.size() && line[i] >= '0' && line[i] <= '9' && digits < 6; ++i, ++digits)
    port = port * 10 + static_cast<unsigned long>(line[i] - '0');
  while (i < line.size() && (line[i] == '\r' || line[i] == ' ')) ++i;
  if (digits == 0 || i != line.size() || port == 0 || port > 65535) return 0;
  return static_cast<std::uint16_t>(port);
}

std::vector<std::string> splitArgs(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::unique_ptr<SinkProcess> SinkProcess::start(const std::string& exe, const std::vector<std::string>& extraArgs,
                                                 int timeoutMs, std::string* error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return nullptr;
  }
  std::vector<std::string> args = {exe, "sink", "--listen", "127.0.0.1:0"};
  args.insert(args.end(), extraArgs.begin(), extraArgs.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return nullptr;
  }
  if (pid == 0) {
    // Child: stdout to the pipe; stderr stays ours so its errors are seen. Only async-signal-safe calls here.
    dup2(fds[1], 1);
    execv(argv[0], argv.data());
    const char msg[] = "sluice bench: cannot exec the sink\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  close(fds[1]);
  std::unique_ptr<SinkProcess> p(new SinkProcess());
  p->pid_ = pid;
  p->fd_ = fds[0];

  // Read until the listening line (or EOF, or the timeout).
  std::string buf;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (p->port_ == 0) {
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos && p->port_ == 0) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      p->port_ = parseListeningPort(line);
      if (p->port_ == 0) p->output_ += line + "\n";
    }
    if (p->port_ != 0) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      *error = "the sink printed no listening line within " + std::to_string(timeoutMs) + " ms";
      break;
    }
    pollfd pfd{p->fd_, POLLIN, 0};
    int r = poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char chunk[4096];
    ssize_t n = read(p->fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = "the sink exited before listening";
      break;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  if (p->port_ == 0) {
    p->stop();
    if (!p->output_.empty()) *error += ": " + p->output_;
    return nullptr;
  }
  p->output_ = buf;
  SinkProcess* self = p.get();
  p->reader_ = std::thread([self] {
    char chunk[4096];
    for (;;) {
      ssize_t n = read(self->fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard<std::mutex> lock(self->mu_);
      self->output_.append(chunk, static_cast<std::size_t>(n));
      if (self->output_.size() > (1u << 20)) self->output_.erase(0, self->output_.size() - (1u << 19));
    }
  });
  return p;
}

int SinkProcess::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int st = 0;
    // Give it 10 s to print its counters and exit, then kill it.
    for (int i = 0; i < 1000; ++i) {
      pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) break;
      if (i == 999) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
      }
      usleep(10000);
    }
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    pid_ = -1;
  }
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  return status_;
}

std::string SinkProcess::output() const {
  std::lock_guard<std::mutex> lock(mu_);
  return output_;
}

SinkProcess::~SinkProcess() { stop(); }

}  // namespace sluice::bench
