// driver.cpp: blocking poll()-based drivers for ClientSession and ServerSession on loopback sockets, and the
// transcript reader used by the interop tests' assertions.
#include "tests/interop/driver.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <stdexcept>
#include <variant>

namespace sluice::interop {

using namespace sluice::smtp;
using Clock = std::chrono::steady_clock;

namespace {

// Reads a transcript incrementally, one chunk at a time, in the order the bytes crossed the socket.
class WireReader {
 public:
  // Adds one chunk and parses as far as possible.
  void add(const WireChunk& c) {
    log_.dump += c.fromClient ? "C: " : "S: ";
    log_.dump += c.bytes.size() > 2000 ? c.bytes.substr(0, 2000) + "...(" + std::to_string(c.bytes.size()) + ")"
                                      : c.bytes;
    if (log_.dump.empty() || log_.dump.back() != '\n') log_.dump += '\n';
    if (c.fromClient) {
      client_ += c.bytes;
      parseClient();
    } else {
      server_ += c.bytes;
      parseServer();
    }
    const std::size_t answered = log_.replies.empty() ? 0 : log_.replies.size() - 1;
    if (log_.commands.size() > answered) {
      log_.maxOutstanding = std::max(log_.maxOutstanding, log_.commands.size() - answered);
    }
  }
  // The result.
  WireLog take() { return std::move(log_); }

 private:
  enum class Mode { Command, AwaitDataReply, Body, Chunk };

  // Consumes complete command lines, DATA content and BDAT octets.
  void parseClient() {
    for (;;) {
      if (mode_ == Mode::AwaitDataReply) {
        // The reply to DATA decides whether content follows (the client only sends it after a 354), so decide
        // when the next client bytes arrive.
        if (pos_ == client_.size()) return;
        const std::size_t replyIndex = dataCommand_ + 1;
        const bool go = replyIndex < log_.replies.size() && log_.replies[replyIndex] == 354;
        mode_ = go ? Mode::Body : Mode::Command;
      }
      if (mode_ == Mode::Command) {
        const std::size_t eol = client_.find("\r\n", pos_);
        if (eol == std::string::npos) return;
        std::string line = client_.substr(pos_, eol - pos_);
        pos_ = eol + 2;
        std::string upper = line;
        std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char ch) { return std::toupper(ch); });
        log_.commands.push_back(line);
        if (upper == "DATA") {
          mode_ = Mode::AwaitDataReply;
          dataCommand_ = log_.commands.size() - 1;
        } else if (upper.rfind("BDAT ", 0) == 0) {
          chunkLeft_ = std::stoull(upper.substr(5));
          chunk_.clear();
          mode_ = Mode::Chunk;
        }
      } else if (mode_ == Mode::Body) {
        std::size_t end;
        std::size_t after;
        if (client_.compare(pos_, 3, ".\r\n") == 0) {
          end = pos_;
          after = pos_ + 3;
        } else {
          const std::size_t f = client_.find("\r\n.\r\n", pos_);
          if (f == std::string::npos) return;
          end = f + 2;
          after = f + 5;
        }
        log_.bodies.push_back(client_.substr(pos_, end - pos_));
        log_.commands.push_back(".");
        pos_ = after;
        mode_ = Mode::Command;
      } else {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunkLeft_, client_.size() - pos_));
        chunk_.append(client_, pos_, n);
        pos_ += n;
        chunkLeft_ -= n;
        if (chunkLeft_ > 0) return;
        log_.chunks.push_back(std::move(chunk_));
        chunk_.clear();
        mode_ = Mode::Command;
      }
    }
  }

  // Consumes complete reply lines; a line without "-" after the code ends a reply.
  void parseServer() {
    for (;;) {
      const std::size_t eol = server_.find('\n', spos_);
      if (eol == std::string::npos) return;
      std::string line = server_.substr(spos_, eol - spos_);
      spos_ = eol + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const bool digits = line.size() >= 3 && std::all_of(line.begin(), line.begin() + 3, ::isdigit);
      if (!digits || (line.size() > 3 && line[3] != '-' && line[3] != ' ')) log_.malformed = true;
      if (!inReply_) {
        inReply_ = true;
        firstLine_ = line;
      }
      if (line.size() > 3 && line[3] == '-') continue;
      log_.replies.push_back(digits ? std::stoi(firstLine_.substr(0, 3)) : 0);
      log_.replyText.push_back(firstLine_);
      inReply_ = false;
    }
  }

  WireLog log_;
  std::string client_;
  std::size_t pos_ = 0;
  Mode mode_ = Mode::Command;
  std::size_t dataCommand_ = 0;
  std::uint64_t chunkLeft_ = 0;
  std::string chunk_;
  std::string server_;
  std::size_t spos_ = 0;
  bool inReply_ = false;
  std::string firstLine_;
};

// Opens a blocking TCP connection to 127.0.0.1:port; -1 on failure.
int connectLoopback(std::uint16_t port, std::size_t sendBuffer) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (sendBuffer > 0) {
    const int v = static_cast<int>(sendBuffer);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Milliseconds from now until `t` (0 if past), capped to int.
int msUntil(Clock::time_point t) {
  const auto d = std::chrono::duration_cast<Millis>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(d, 0, INT_MAX));
}

// Writes all of `bytes` to a blocking socket; false on error.
bool writeAll(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// The owner of a loopback server connection: accepts everything and records it.
class Recorder : public ServerHandler {
 public:
  explicit Recorder(std::vector<ReceivedMessage>& sink, std::mutex& mu) : sink_(sink), mu_(mu) {}
  // Remembers the HELO/EHLO name.
  Verdict onHelo(std::string_view domain, bool extended) override {
    helo_ = domain;
    extended_ = extended;
    return Verdict::accept();
  }
  // Starts a message record.
  Verdict onMail(std::string_view reversePath, const MailParams& params, std::string_view) override {
    cur_ = ReceivedMessage{};
    cur_.helo = helo_;
    cur_.extended = extended_;
    cur_.reversePath = reversePath;
    cur_.mail = params;
    return Verdict::accept();
  }
  // Adds a recipient.
  Verdict onRcpt(std::string_view forwardPath, const RcptParams&) override {
    cur_.recipients.emplace_back(forwardPath);
    return Verdict::accept();
  }
  // Appends content.
  void onBody(std::string_view bytes) override { cur_.body.append(bytes); }
  // Files the finished message.
  Verdict onMessageEnd(const MessageInfo& info) override {
    cur_.info = info;
    std::lock_guard<std::mutex> lock(mu_);
    sink_.push_back(std::move(cur_));
    cur_ = ReceivedMessage{};
    return Verdict::accept(250, "2.0.0", "Ok: recorded");
  }
  // Drops the open message.
  void onTransactionAbort() override { cur_ = ReceivedMessage{}; }

 private:
  std::vector<ReceivedMessage>& sink_;
  std::mutex& mu_;
  std::string helo_;
  bool extended_ = false;
  ReceivedMessage cur_;
};

}  // namespace

// Counts command lines by prefix.
std::size_t WireLog::count(const std::string& verb) const { return lines(verb).size(); }

// Selects command lines by prefix.
std::vector<std::string> WireLog::lines(const std::string& verb) const {
  std::vector<std::string> out;
  for (const auto& c : commands) {
    if (c.rfind(verb, 0) == 0) out.push_back(c);
  }
  return out;
}

// Runs the reader over a whole transcript.
WireLog analyse(const std::vector<WireChunk>& wire) {
  WireReader r;
  for (const auto& c : wire) r.add(c);
  WireLog log = r.take();
  // SLUICE_INTEROP_TRACE=1 prints every transcript, for looking at a peer's behaviour.
  if (const char* t = std::getenv("SLUICE_INTEROP_TRACE"); t != nullptr && *t != '\0' && *t != '0') {
    std::fprintf(stderr, "---- transcript\n%s", log.dump.c_str());
  }
  return log;
}

// Finds one recipient's result.
const RecipientResult& ClientRun::result(MessageHandle handle, std::uint32_t index) const {
  for (const auto& r : results) {
    if (r.message == handle && r.recipient == index) return r;
  }
  throw std::runtime_error("no result for message " + std::to_string(handle) + " recipient " + std::to_string(index));
}

// The client driver: one poll() loop over the socket and the session's deadline.
ClientRun runClient(std::uint16_t port, const ClientConfig& config, std::vector<OutboundMessage> messages,
                    Millis limit, std::size_t sendBuffer) {
  ClientRun run;
  const auto start = Clock::now();
  const auto hardEnd = start + limit;
  const int fd = connectLoopback(port, sendBuffer);
  if (fd < 0) {
    run.error = "connect to port " + std::to_string(port) + " failed";
    return run;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  // A taken write: its slices as iovecs, and how far it has been written.
  struct Out {
    std::vector<iovec> iov;
    std::size_t index = 0;
  };
  std::deque<Out> out;
  ClientSession s(config);
  std::uint64_t generation = 0;
  bool timerArmed = false;
  Clock::time_point timerAt{};
  bool eof = false;

  // Collects writes, events and the deadline after every call into the session.
  auto drain = [&] {
    while (auto w = s.takeWrite()) {
      Out o;
      for (const IoSlice& sl : w->slices) {
        if (sl.size > 0) o.iov.push_back(iovec{const_cast<char*>(sl.data), sl.size});
      }
      out.push_back(std::move(o));
    }
    while (auto e = s.nextEvent()) {
      if (auto* r = std::get_if<RecipientResult>(&*e)) {
        run.results.push_back(*r);
      } else if (auto* d = std::get_if<MessageDone>(&*e)) {
        run.done.push_back(d->message);
      } else if (auto* u = std::get_if<ConnectionUnusable>(&*e)) {
        run.unusable.push_back(*u);
      } else if (auto* c = std::get_if<Closed>(&*e)) {
        run.closed = true;
        run.graceful = c->graceful;
      }
    }
    if (s.state() >= ClientState::Ready && s.state() != ClientState::Closed && !run.caps.esmtp && run.caps.domain.empty()) run.caps = s.capabilities();
    const Deadline d = s.deadline();
    if (d.generation != generation) {
      generation = d.generation;
      timerArmed = d.armed;
      timerAt = Clock::now() + d.after;
    }
  };

  // Writes as much of the queued output as the socket takes; acknowledges completed writes in FIFO order. Returns
  // false when the connection is broken.
  auto flush = [&]() -> bool {
    while (!out.empty()) {
      std::vector<iovec> iov;
      std::size_t offered = 0;
      for (const Out& o : out) {
        for (std::size_t i = o.index; i < o.iov.size() && iov.size() < IOV_MAX; ++i) {
          iov.push_back(o.iov[i]);
          offered += o.iov[i].iov_len;
        }
        if (iov.size() >= IOV_MAX) break;
      }
      if (iov.empty()) {  // writes with no bytes complete at once
        out.pop_front();
        s.onWritten();
        drain();
        continue;
      }
      // A gather write like writev(), through sendmsg() for MSG_NOSIGNAL: a peer that closed gives EPIPE, not
      // a SIGPIPE that would end the test binary.
      msghdr mh{};
      mh.msg_iov = iov.data();
      mh.msg_iovlen = iov.size();
      const ssize_t n = ::sendmsg(fd, &mh, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
      }
      std::size_t left = static_cast<std::size_t>(n);
      if (left < offered) ++run.partialWrites;
      WireChunk chunk{true, {}};
      while (left > 0) {
        Out& o = out.front();
        iovec& v = o.iov[o.index];
        const std::size_t k = std::min(left, v.iov_len);
        chunk.bytes.append(static_cast<const char*>(v.iov_base), k);
        v.iov_base = static_cast<char*>(v.iov_base) + k;
        v.iov_len -= k;
        left -= k;
        if (v.iov_len == 0) ++o.index;
        // Skip empty slices so a finished write is detected.
        while (o.index < o.iov.size() && o.iov[o.index].iov_len == 0) ++o.index;
        if (o.index == o.iov.size()) {
          out.pop_front();
          run.wire.push_back(std::move(chunk));
          chunk = WireChunk{true, {}};
          s.onWritten();
          drain();
        }
      }
      if (!chunk.bytes.empty()) run.wire.push_back(std::move(chunk));
      if (static_cast<std::size_t>(n) < offered) return true;  // socket full: wait for POLLOUT
    }
    return true;
  };

  for (auto& m : messages) s.submit(std::move(m));
  s.onConnected();
  s.quit();
  drain();
  bool ok = true;
  while (ok) {
    if (run.closed) {
      if (run.graceful) {
        // Flush what was taken before Closed, then close.
        while (!out.empty() && Clock::now() < hardEnd) {
          pollfd p{fd, POLLOUT, 0};
          if (poll(&p, 1, msUntil(hardEnd)) <= 0) break;
          if (!flush()) break;
        }
      }
      break;
    }
    if (!flush()) {
      // The write failed (EPIPE / ECONNRESET): hand over any reply still readable (e.g. the 5xx that made the
      // peer close) before reporting the loss. A reset may already have discarded it.
      char buf[65536];
      ssize_t n;
      while (!run.closed && (n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        run.wire.push_back(WireChunk{false, std::string(buf, static_cast<std::size_t>(n))});
        s.onBytes(std::string_view(buf, static_cast<std::size_t>(n)));
        drain();
      }
      if (!run.closed) s.onPeerClosed();
      out.clear();  // nothing more can be written
      drain();
      continue;
    }
    pollfd p{fd, static_cast<short>((eof ? 0 : POLLIN) | (out.empty() ? 0 : POLLOUT)), 0};
    Clock::time_point wake = hardEnd;
    if (timerArmed) wake = std::min(wake, timerAt);
    const int rc = poll(&p, 1, msUntil(wake));
    if (rc < 0 && errno != EINTR) {
      run.error = "poll failed";
      break;
    }
    if (rc > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) && !eof) {
      char buf[65536];
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        run.wire.push_back(WireChunk{false, std::string(buf, static_cast<std::size_t>(n))});
        s.onBytes(std::string_view(buf, static_cast<std::size_t>(n)));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        eof = true;
        s.onPeerClosed();
      }
      drain();
    }
    if (timerArmed && Clock::now() >= timerAt) {
      timerArmed = false;
      s.onTimeout();
      drain();
    }
    if (Clock::now() >= hardEnd) {
      run.error = "driver time limit reached in state " + std::string(stateLabel(s.state()));
      ok = false;
    }
  }
  close(fd);
  run.stats = s.stats();
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return run;
}

// Binds 127.0.0.1:0 and starts the accept thread.
LoopbackServer::LoopbackServer(ServerConfig config) : config_(std::move(config)) {
  listenFd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (listenFd_ < 0 || bind(listenFd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(listenFd_, 16) != 0 || getsockname(listenFd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (listenFd_ >= 0) close(listenFd_);
    throw std::runtime_error("loopback listener failed");
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

// Stops the thread and closes the socket.
LoopbackServer::~LoopbackServer() { stop(); }

// Sets the stop flag and joins.
void LoopbackServer::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listenFd_ >= 0) {
    close(listenFd_);
    listenFd_ = -1;
  }
}

// Copies the recorded messages.
std::vector<ReceivedMessage> LoopbackServer::messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

// Copies the recorded transcripts.
std::vector<std::vector<WireChunk>> LoopbackServer::connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_;
}

// Polls the finished-connection count.
bool LoopbackServer::waitConnections(std::size_t n, Millis limit) const {
  return pollUntil(limit, [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return connections_.size() >= n;
  });
}

// Accepts until stopped, checking the flag every 50 ms.
void LoopbackServer::run() {
  while (!stop_) {
    pollfd p{listenFd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) serve(fd);
  }
}

// One connection: greet, then read -> feed -> write replies until the session closes, the peer leaves, or 15 s of
// silence (a bound for tests, shorter than the session's own idle timeout).
void LoopbackServer::serve(int fd) {
  std::vector<ReceivedMessage> got;
  std::mutex gotMu;
  Recorder owner(got, gotMu);
  ServerSession session(config_, owner);
  std::vector<WireChunk> wire;
  // Sends and records the session's pending output.
  auto send = [&]() -> bool {
    if (session.output().empty()) return true;
    wire.push_back(WireChunk{false, session.output()});
    const bool ok = writeAll(fd, session.output());
    session.clearOutput();
    return ok;
  };
  session.greet();
  bool ok = send();
  auto lastInput = Clock::now();
  while (ok && !session.closeRequested() && !stop_) {
    // Poll in short slices so stop() is noticed quickly even while a client sits idle.
    pollfd p{fd, POLLIN, 0};
    const int rc = poll(&p, 1, 100);
    if (rc == 0) {
      const std::uint32_t idle = session.timeoutMs();
      const auto limit = Millis(std::min<std::uint32_t>(idle == 0 ? 15000 : idle, 15000));
      if (Clock::now() - lastInput >= limit) {
        session.onTimeout();
        send();
        break;
      }
      continue;
    }
    if (rc < 0) break;
    lastInput = Clock::now();
    char buf[65536];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    wire.push_back(WireChunk{true, std::string(buf, static_cast<std::size_t>(n))});
    session.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    ok = send();
  }
  close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& m : got) messages_.push_back(std::move(m));
  connections_.push_back(std::move(wire));
}

}  // namespace sluice::interop
