// sink_test_support.hpp: helpers for the sink's tests: an in-process Sink built from command-line flags (so the
// flag parser is exercised too), a blocking SMTP test client over a plain socket with a receive timeout, and
// maildir reading.
//
// Ownership: RAII (the client closes its socket, the started sink is stopped and joined on destruction).
// Threads: the test thread; the sink runs on its own worker thread. Errors: socket failures fail the test.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bench/sink/sink.hpp"

namespace sluice::sink::test {

// Parses `flags` like the command line and starts the sink on an ephemeral loopback port.
inline std::unique_ptr<Sink> startSink(std::vector<std::string> flags) {
  std::vector<std::string> args = {"sink", "--listen", "127.0.0.1:0"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  SinkOptions o;
  std::string error;
  bool help = false;
  bool parsed = parseSinkArgs(static_cast<int>(argv.size()), argv.data(), o, &error, &help);
  INFO(error);
  REQUIRE(parsed);
  auto s = std::make_unique<Sink>(o);
  bool started = s->start(&error);
  INFO(error);
  REQUIRE(started);
  REQUIRE(s->port() != 0);
  return s;
}

// One complete reply: the code and every line's text after "ddd-" / "ddd ".
struct Reply {
  int code = 0;  // 0: the connection closed (or timed out) before a complete reply
  std::vector<std::string> lines;
  std::string text() const { return lines.empty() ? std::string() : lines.front(); }
  bool has(const std::string& line) const { return std::find(lines.begin(), lines.end(), line) != lines.end(); }
};

// A blocking client on 127.0.0.1:port; every receive gives up after 10 s (a hang fails instead of blocking).
class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      REQUIRE(n > 0);
      done += static_cast<std::size_t>(n);
    }
  }
  // Reads one complete (possibly multi-line) reply.
  Reply reply() {
    Reply r;
    for (;;) {
      auto eol = buf_.find("\r\n");
      if (eol == std::string::npos) {
        if (!fill()) return Reply{};
        continue;
      }
      std::string line = buf_.substr(0, eol);
      buf_.erase(0, eol + 2);
      if (line.size() < 3) return Reply{};
      r.lines.push_back(line.size() > 4 ? line.substr(4) : std::string());
      if (line.size() == 3 || line[3] == ' ') {
        r.code = std::stoi(line.substr(0, 3));
        return r;
      }
    }
  }
  // Sends `command` and returns its reply.
  Reply cmd(const std::string& command) {
    send(command + "\r\n");
    return reply();
  }
  // True when the peer closed (EOF or reset) with nothing more to read; false if bytes or a timeout came first.
  bool closedByPeer() {
    if (!buf_.empty()) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  // Raw bytes received (for a TLS layer on top): "" on EOF or timeout.
  std::string recvSome() {
    if (!buf_.empty()) return std::exchange(buf_, std::string());
    return fill() ? std::exchange(buf_, std::string()) : std::string();
  }
  // Everything unread that arrived so far plus what comes until EOF (or the timeout).
  std::string readToEnd() {
    while (fill()) {
    }
    return std::exchange(buf_, std::string());
  }

 private:
  bool fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

// The EHLO keywords (first word of each line after the greeting line) of an EHLO reply.
inline std::vector<std::string> keywords(const Reply& ehlo) {
  std::vector<std::string> out;
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) out.push_back(ehlo.lines[i].substr(0, ehlo.lines[i].find(' ')));
  return out;
}

// The files in DIR/new, sorted by name, read whole.
inline std::vector<std::string> maildirMessages(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir / "new", ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    out.push_back(ss.str());
  }
  return out;
}

// Polls until `ready()` (at most 10 s; used for counters updated on the sink's thread after a reply left).
template <class F>
bool eventually(F ready) {
  for (int i = 0; i < 1000; ++i) {
    if (ready()) return true;
    ::usleep(10000);
  }
  return ready();
}

}  // namespace sluice::sink::test
