// dnsmasq_fixture.hpp: a private dnsmasq on a loopback port for integration tests, and a "black hole" UDP port
// that never answers (for timeouts). RAII: the server is stopped when the fixture goes out of scope, also when
// a test fails. Only loopback addresses are used; dnsmasq is started with no upstream servers except the
// black hole, reads no system files (-C /dev/null, --no-resolv, --no-hosts) and logs nowhere.
#pragma once

#include "resolver/dns_message.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace sluice::resolver::test {

// Binds a socket of `type` to 127.0.0.1:port (0 = any); returns the fd or -1.
inline int bindLoopback(int type, std::uint16_t port) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// The port a bound socket got.
inline std::uint16_t boundPort(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

// A loopback port free for both UDP and TCP at the time of the call (the sockets are closed again).
inline std::uint16_t freePort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int udp = bindLoopback(SOCK_DGRAM, 0);
    if (udp < 0) continue;
    const std::uint16_t port = boundPort(udp);
    int tcp = bindLoopback(SOCK_STREAM, port);
    ::close(udp);
    if (tcp >= 0) {
      ::close(tcp);
      return port;
    }
  }
  return 0;
}

// A bound UDP socket nobody reads: queries sent there are never answered. Tests can count what arrived.
class BlackHole {
 public:
  // Binds the socket to a fresh loopback port.
  BlackHole() : fd_(bindLoopback(SOCK_DGRAM, 0)) {}
  // Closes the socket.
  ~BlackHole() {
    if (fd_ >= 0) ::close(fd_);
  }
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
  // The port it listens on.
  std::uint16_t port() const { return boundPort(fd_); }
  // Number of datagrams waiting (drains them).
  int drain() {
    int n = 0;
    char buf[1500];
    while (::recv(fd_, buf, sizeof buf, MSG_DONTWAIT) > 0) ++n;
    return n;
  }

 private:
  int fd_;
};

// Sends one DNS query to 127.0.0.1:port and waits up to timeoutMs for any reply.
inline bool dnsAnswers(std::uint16_t port, int timeoutMs) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<std::uint8_t> q;
  buildQuery("ready.probe.test", QType::A, 0x5151, q);
  bool ok = false;
  if (::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) ==
      static_cast<ssize_t>(q.size())) {
    pollfd p{fd, POLLIN, 0};
    char buf[512];
    ok = ::poll(&p, 1, timeoutMs) == 1 && ::recv(fd, buf, sizeof buf, 0) > 0;
  }
  ::close(fd);
  return ok;
}

// A dnsmasq child process serving the given records on a fresh loopback port.
class Dnsmasq {
 public:
  // args: record options (--mx-host=..., --host-record=..., --server=/x/127.0.0.1#port ...); localTtl for them.
  explicit Dnsmasq(const std::vector<std::string>& args, int localTtl = 60) {
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) start(args, localTtl);
  }
  // Stops the server (also when the test failed).
  ~Dnsmasq() { stop(); }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  // Whether the server started and answered.
  bool running() const { return pid_ > 0; }
  // Its UDP/TCP port on 127.0.0.1.
  std::uint16_t port() const { return port_; }
  // Its process id (for CPU accounting in the benchmark).
  pid_t pid() const { return pid_; }
  // "127.0.0.1:port", for ResolverConfig::nameservers.
  std::string nameserver() const { return "127.0.0.1:" + std::to_string(port_); }
  // Why it did not start.
  std::string error() const { return error_; }

 private:
  // Spawns dnsmasq in the foreground and waits until it answers; on failure leaves pid_ at -1.
  void start(const std::vector<std::string>& records, int localTtl) {
    port_ = freePort();
    std::vector<std::string> args = {"dnsmasq",
                                     "--keep-in-foreground",
                                     "--conf-file=/dev/null",
                                     "--pid-file=",
                                     "--log-facility=-",
                                     "--port=" + std::to_string(port_),
                                     "--listen-address=127.0.0.1",
                                     "--bind-interfaces",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--no-poll",
                                     "--local-ttl=" + std::to_string(localTtl)};
    args.insert(args.end(), records.begin(), records.end());
    args.push_back("--address=/#/");  // every other name: NXDOMAIN, answered locally, never forwarded
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, "dnsmasq", &fa, nullptr, argv.data(), environ);
    if (rc != 0) rc = posix_spawn(&pid, "/usr/sbin/dnsmasq", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      error_ = "cannot start dnsmasq (install dnsmasq-base, see deploy/setup.sh)";
      pid_ = -1;
      return;
    }
    pid_ = pid;
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        error_ = "dnsmasq exited at start (port taken?)";
        pid_ = -1;
        return;
      }
      if (dnsAnswers(port_, 50)) return;
    }
    error_ = "dnsmasq did not answer";
    stop();
  }

  // SIGTERM, wait; SIGKILL if it lingers.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string error_;
};

// True when integration tests are switched off (ctest sets this when SLUICE_INTEGRATION is OFF).
inline bool integrationDisabled() { return std::getenv("SLUICE_RESOLVER_NO_INTEGRATION") != nullptr; }

}  // namespace sluice::resolver::test
