// tls_test_util.hpp: helpers for the TLS filter tests: moving ciphertext between two in-memory filters, and (for
// the tests against Debian's openssl binary) a temporary directory, a child process with pipes, loopback sockets
// and a poll loop that drives a filter over a blocking socket.
//
// Ownership: everything is RAII; a failing test still kills the child it started (by its pid) and removes its
// temporary directory. Timeouts here are hang guards (a stuck peer fails the test with a message), never measured.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/net/tls.hpp"

namespace sluice::test::tls {

using sluice::net::TlsFilter;

// Moves ciphertext between a client and a server filter until neither has anything to send, collecting the
// plaintext each side decrypts. `step` > 0 feeds the ciphertext in pieces of that many bytes (segmentation).
inline void pump(TlsFilter& client, TlsFilter& server, std::string& clientGot, std::string& serverGot,
                 std::size_t step = 0) {
  auto feed = [step](TlsFilter& to, const std::string& bytes) {
    if (step == 0) {
      to.feedCiphertext(bytes);
      return;
    }
    for (std::size_t i = 0; i < bytes.size(); i += step) {
      to.feedCiphertext(std::string_view(bytes).substr(i, step));
    }
  };
  for (int rounds = 0; rounds < 1000; ++rounds) {
    const std::string toServer = client.takeCiphertext();
    const std::string toClient = server.takeCiphertext();
    if (toServer.empty() && toClient.empty()) {
      break;
    }
    feed(server, toServer);
    feed(client, toClient);
    clientGot += client.takePlaintext();
    serverGot += server.takePlaintext();
  }
  clientGot += client.takePlaintext();
  serverGot += server.takePlaintext();
}

// Deterministic pseudo-random printable text of `size` bytes, newline every `lineLength` bytes (0 = none).
inline std::string randomText(std::size_t size, unsigned seed, std::size_t lineLength = 0) {
  std::mt19937 rng(seed);
  std::string s(size, 'x');
  for (std::size_t i = 0; i < size; ++i) {
    s[i] = static_cast<char>('a' + rng() % 26);
    if (lineLength != 0 && i % lineLength == lineLength - 1) {
      s[i] = '\n';
    }
  }
  return s;
}

// True when an executable `openssl` is on PATH.
inline bool haveOpenssl() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && access((dir + "/openssl").c_str(), X_OK) == 0) {
      return true;
    }
  }
  return false;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-tls-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;
    }
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) {
      std::filesystem::remove_all(path_, ec);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  bool ok() const { return !path_.empty(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A child process with its stdin and stdout on pipes and its stderr in a file. The destructor kills it (SIGTERM,
// then SIGKILL) and reaps it.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& stderrPath) {
    int in[2];
    int out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      const int err = open(stderrPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err >= 0) {
        dup2(err, 2);
      }
      std::vector<char*> args;
      for (const std::string& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
      }
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    in_ = in[1];
    out_ = out[0];
    if (pid_ < 0) {
      closeStdin();
    }
  }
  ~Child() {
    closeStdin();
    if (out_ >= 0) {
      close(out_);
    }
    if (pid_ > 0 && waitFor(0) < 0) {
      kill(pid_, SIGTERM);
      if (waitFor(2000) < 0) {
        kill(pid_, SIGKILL);
        waitFor(-1);
      }
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  int stdinFd() const { return in_; }
  int stdoutFd() const { return out_; }
  void closeStdin() {
    if (in_ >= 0) {
      close(in_);
      in_ = -1;
    }
  }
  // Reads stdout into `acc` until it contains `needle`, EOF, or the guard expires. True when found.
  bool readUntil(std::string& acc, std::string_view needle, int guardMs = 20000) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(guardMs);
    while (acc.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      pollfd p{out_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return false;
      }
      char buf[4096];
      const ssize_t n = read(out_, buf, sizeof buf);
      if (n <= 0) {
        return false;
      }
      acc.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  // Reads stdout into `acc` until EOF (or the guard expires). True at EOF.
  bool readToEof(std::string& acc, int guardMs = 20000) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(guardMs);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      pollfd p{out_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return false;
      }
      char buf[4096];
      const ssize_t n = read(out_, buf, sizeof buf);
      if (n <= 0) {
        return n == 0;
      }
      acc.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Waits for the exit: ms < 0 forever. Returns the exit status, or -1 while still running.
  int waitFor(int ms) {
    if (pid_ <= 0) {
      return status_;
    }
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms < 0 ? 0 : ms);
    for (;;) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, ms < 0 ? 0 : WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return status_;
      }
      if (r < 0 || std::chrono::steady_clock::now() >= end) {
        return -1;
      }
      usleep(10000);
    }
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int status_ = -1;
};

// Runs argv to completion (stdin empty, output discarded to `logPath`); the exit status or -1.
inline int runToCompletion(const std::vector<std::string>& argv, const std::string& logPath) {
  Child c(argv, logPath);
  c.closeStdin();
  return c.started() ? c.waitFor(-1) : -1;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) {
      close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_;
};

inline int connectLoopback(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    return fd;
  }
  if (fd >= 0) {
    close(fd);
  }
  return -1;
}

// A listening socket on 127.0.0.1 with an ephemeral port (written to `port`); -1 on failure.
inline int listenLoopback(std::uint16_t& port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 4) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) {
      close(fd);
    }
    return -1;
  }
  port = ntohs(a.sin_port);
  return fd;
}

// Accepts one connection, waiting at most guardMs; -1 on failure.
inline int acceptWithin(int listenFd, int guardMs = 20000) {
  pollfd p{listenFd, POLLIN, 0};
  if (poll(&p, 1, guardMs) != 1) {
    return -1;
  }
  return accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
}

inline bool sendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Drives `tls` over the blocking socket `fd`: sends its pending ciphertext, reads and feeds, and appends the
// decrypted plaintext to `got`, until done() is true, the socket reaches EOF (`eof` set) or the guard expires.
// When `extraFd` >= 0 (a child's stdout) it is read too, into `extraGot`, so the child never blocks on a full pipe.
struct DriveResult {
  bool done = false;
  bool eof = false;
};
inline DriveResult drive(int fd, TlsFilter& tls, std::string& got, const std::function<bool()>& done,
                         int extraFd = -1, std::string* extraGot = nullptr, int guardMs = 20000) {
  DriveResult r;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(guardMs);
  bool extraOpen = extraFd >= 0;
  for (;;) {
    if (!sendAll(fd, tls.takeCiphertext())) {
      r.eof = true;
    }
    got += tls.takePlaintext();
    if (done()) {
      r.done = true;
      return r;
    }
    if (r.eof) {
      return r;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return r;
    }
    pollfd p[2] = {{fd, POLLIN, 0}, {extraOpen ? extraFd : -1, POLLIN, 0}};
    if (poll(p, 2, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    char buf[16384];
    if (p[1].revents != 0) {
      const ssize_t n = read(extraFd, buf, sizeof buf);
      if (n > 0 && extraGot != nullptr) {
        extraGot->append(buf, static_cast<std::size_t>(n));
      } else if (n <= 0) {
        extraOpen = false;
      }
    }
    if (p[0].revents != 0) {
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        r.eof = true;
      } else {
        tls.feedCiphertext(std::string_view(buf, static_cast<std::size_t>(n)));
      }
    }
  }
}

}  // namespace sluice::test::tls
