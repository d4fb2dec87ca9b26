// fake_server.cpp: the scripted SMTP receiver (see fake_server.hpp).
//
// One thread polls the listening socket, a wake-up pipe and every accepted connection. Input is parsed as it
// arrives (command lines, DATA content, BDAT chunks); replies are queued with the time they are due and written
// in order, so a late reply never overtakes an earlier one. A server-side close is a half-close (FIN) followed by
// reading until the client goes away, so replies already written are never lost to a reset.
#include "tests/engine/fake_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>

namespace sluice::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string withCrlf(std::string text) {
  if (text.size() < 2 || text.compare(text.size() - 2, 2, "\r\n") != 0) text += "\r\n";
  return text;
}

bool startsWithNoCase(const std::string& s, const char* prefix) {
  std::size_t n = std::strlen(prefix);
  if (s.size() < n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    char a = s[i];
    if (a >= 'a' && a <= 'z') a = static_cast<char>(a - 32);
    if (a != prefix[i]) return false;
  }
  return true;
}

// The path between '<' and '>' of a MAIL or RCPT line ("" when there is none).
std::string pathOf(const std::string& line) {
  std::size_t open = line.find('<');
  std::size_t close = line.find('>', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return {};
  return line.substr(open + 1, close - open - 1);
}

int codeOf(const std::string& reply) {
  if (reply.size() < 3) return 0;
  return (reply[0] - '0') * 100 + (reply[1] - '0') * 10 + (reply[2] - '0');
}

void writeAll(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client is gone; its EOF will be seen on the next read
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

const char* stageName(Stage s) {
  switch (s) {
    case Stage::Greeting: return "greeting";
    case Stage::Ehlo: return "ehlo";
    case Stage::Helo: return "helo";
    case Stage::Mail: return "mail";
    case Stage::Rcpt: return "rcpt";
    case Stage::Data: return "data";
    case Stage::DataEnd: return "data-end";
    case Stage::Bdat: return "bdat";
    case Stage::BdatLast: return "bdat-last";
    case Stage::Rset: return "rset";
    case Stage::Quit: return "quit";
    case Stage::Other: return "other";
  }
  return "?";
}

Action Action::reply(std::string text, std::chrono::milliseconds delay) {
  Action a;
  a.kind = Kind::Reply;
  a.text = std::move(text);
  a.delay = delay;
  return a;
}

Action Action::silent() {
  Action a;
  a.kind = Kind::Silent;
  return a;
}

Action Action::close() {
  Action a;
  a.kind = Kind::Close;
  return a;
}

Action Action::replyThenClose(std::string text) {
  Action a;
  a.kind = Kind::ReplyThenClose;
  a.text = std::move(text);
  return a;
}

struct FakeServer::Conn {
  enum class Mode : std::uint8_t { Command, DataBody, BdatBody };
  struct Out {
    Clock::time_point due;
    std::string bytes;
    bool closeAfter = false;
    std::function<void()> onSent;  // runs under mu_ when the bytes are written (just before)
  };
  int fd = -1;
  std::size_t index = 0;
  std::string in;
  Mode mode = Mode::Command;
  std::uint64_t bdatLeft = 0;
  bool bdatLast = false;
  std::string bdatLine;
  bool muted = false;      // Silent: nothing more is sent
  bool halfClosed = false;  // FIN sent: input is read and dropped until the client closes
  bool closing = false;     // a close is queued: further input is ignored
  bool done = false;        // socket closed
  std::size_t transactions = 0;  // MAIL commands seen
  std::size_t rcptInTxn = 0;
  std::size_t acceptedInTxn = 0;  // RCPTs of the current transaction answered 2xx (decided, maybe not yet sent)
  std::deque<Out> out;
  Clock::time_point lastDue{};
};

FakeServer::FakeServer(FakeServerOptions options, Script script)
    : options_(std::move(options)), script_(std::move(script)) {}

FakeServer::~FakeServer() { stop(); }

std::string FakeServer::start() {
  if (started_) return "already started";
  listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listenFd_ < 0) return std::string("socket: ") + std::strerror(errno);
  // A fixed port (25 on a second loopback address) may still have connections of an earlier test in TIME_WAIT.
  const int one = 1;
  ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(options_.port);
  if (::inet_pton(AF_INET, options_.bindAddress.c_str(), &sa.sin_addr) != 1) return "bad bind address";
  if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return std::string("bind: ") + std::strerror(errno);
  if (::listen(listenFd_, 64) != 0) return std::string("listen: ") + std::strerror(errno);
  socklen_t len = sizeof sa;
  ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.sin_port);
  if (::pipe2(wakeFd_, O_CLOEXEC | O_NONBLOCK) != 0) return std::string("pipe: ") + std::strerror(errno);
  started_ = true;
  thread_ = std::thread([this] { loop(); });
  return {};
}

void FakeServer::stop() {
  if (!started_) return;
  started_ = false;
  stop_.store(true);
  char b = 1;
  (void)!::write(wakeFd_[1], &b, 1);
  if (thread_.joinable()) thread_.join();
  for (auto& c : conns_)
    if (!c->done) ::close(c->fd);
  conns_.clear();
  ::close(listenFd_);
  ::close(wakeFd_[0]);
  ::close(wakeFd_[1]);
  listenFd_ = wakeFd_[0] = wakeFd_[1] = -1;
}

std::string FakeServer::endpoint() const { return options_.bindAddress + ":" + std::to_string(port_); }

std::vector<ConnectionRecord> FakeServer::connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_;
}

std::size_t FakeServer::connectionCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_.size();
}

std::vector<TransactionRecord> FakeServer::acceptedMessages() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TransactionRecord> out;
  for (const auto& c : records_)
    for (const auto& t : c.transactions)
      if (t.ended && t.endReply >= 200 && t.endReply < 300) out.push_back(t);
  return out;
}

std::vector<std::string> FakeServer::deliveredRecipients() const {
  std::vector<std::string> out;
  for (const auto& t : acceptedMessages()) out.insert(out.end(), t.accepted.begin(), t.accepted.end());
  return out;
}

std::string FakeServer::ehloReply() const {
  std::vector<std::string> kw;
  if (options_.pipelining) kw.push_back("PIPELINING");
  if (options_.chunking) kw.push_back("CHUNKING");
  if (options_.eightBitMime) kw.push_back("8BITMIME");
  for (const auto& k : options_.extraKeywords) kw.push_back(k);
  std::string r = "250";
  r += kw.empty() ? " " : "-";
  r += options_.hostname + "\r\n";
  for (std::size_t i = 0; i < kw.size(); ++i) r += "250" + std::string(i + 1 == kw.size() ? " " : "-") + kw[i] + "\r\n";
  return r;
}

void FakeServer::loop() {
  while (!stop_.load()) {
    std::vector<pollfd> fds;
    fds.push_back({listenFd_, POLLIN, 0});
    fds.push_back({wakeFd_[0], POLLIN, 0});
    std::vector<Conn*> polled;
    int timeoutMs = 200;
    const auto now = Clock::now();
    for (auto& c : conns_) {
      if (c->done) continue;
      fds.push_back({c->fd, POLLIN, 0});
      polled.push_back(c.get());
      if (!c->out.empty()) {
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(c->out.front().due - now).count();
        timeoutMs = std::min<int>(timeoutMs, static_cast<int>(std::max<long long>(wait, 0)));
      }
    }
    int rc = ::poll(fds.data(), fds.size(), timeoutMs);
    if (rc < 0 && errno != EINTR) break;
    if (stop_.load()) break;
    if (rc > 0 && (fds[0].revents & POLLIN)) {
      int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        auto c = std::make_unique<Conn>();
        c->fd = fd;
        {
          std::lock_guard<std::mutex> lock(mu_);
          c->index = records_.size();
          records_.emplace_back();
        }
        Conn& ref = *c;
        conns_.push_back(std::move(c));
        Event e;
        e.stage = Stage::Greeting;
        e.connection = ref.index;
        react(ref, e, "220 " + options_.hostname + " ESMTP fake");
      }
    }
    for (std::size_t i = 0; i < polled.size(); ++i) {
      const pollfd& p = fds[i + 2];
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) onReadable(*polled[i]);
    }
    for (auto& c : conns_)
      if (!c->done) flushDue(*c);
  }
}

void FakeServer::onReadable(Conn& c) {
  char buf[65536];
  ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    closeConn(c, false);
    return;
  }
  if (c.halfClosed || c.closing) return;  // input after our close is dropped
  c.in.append(buf, static_cast<std::size_t>(n));
  while (!c.closing && !c.halfClosed && processInput(c)) {
  }
}

// Consumes one unit of input (a line, a body line, a chunk); false when more input is needed.
bool FakeServer::processInput(Conn& c) {
  switch (c.mode) {
    case Conn::Mode::BdatBody: {
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(c.bdatLeft, c.in.size()));
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto& txns = records_[c.index].transactions;
        if (!txns.empty()) txns.back().body.append(c.in, 0, take);
      }
      c.in.erase(0, take);
      c.bdatLeft -= take;
      if (c.bdatLeft > 0) return false;
      c.mode = Conn::Mode::Command;
      finishBody(c, c.bdatLast ? Stage::BdatLast : Stage::Bdat, c.bdatLine);
      return true;
    }
    case Conn::Mode::DataBody: {
      std::size_t eol = c.in.find("\r\n");
      if (eol == std::string::npos) return false;
      std::string line = c.in.substr(0, eol);
      c.in.erase(0, eol + 2);
      if (line == ".") {
        c.mode = Conn::Mode::Command;
        finishBody(c, Stage::DataEnd, "");
        return true;
      }
      if (!line.empty() && line[0] == '.') line.erase(0, 1);
      std::lock_guard<std::mutex> lock(mu_);
      auto& txns = records_[c.index].transactions;
      if (!txns.empty()) txns.back().body += line + "\r\n";
      return true;
    }
    case Conn::Mode::Command: {
      std::size_t eol = c.in.find("\r\n");
      if (eol == std::string::npos) return false;
      std::string line = c.in.substr(0, eol);
      c.in.erase(0, eol + 2);
      return handleLine(c, line);
    }
  }
  return false;
}

bool FakeServer::handleLine(Conn& c, const std::string& line) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    records_[c.index].lines.push_back(line);
  }
  Event e;
  e.connection = c.index;
  e.line = line;
  e.transaction = c.transactions == 0 ? 0 : c.transactions - 1;
  if (startsWithNoCase(line, "EHLO")) {
    e.stage = Stage::Ehlo;
    react(c, e, options_.esmtp ? ehloReply() : "502 5.5.1 EHLO not supported");
  } else if (startsWithNoCase(line, "HELO")) {
    e.stage = Stage::Helo;
    react(c, e, "250 " + options_.hostname);
  } else if (startsWithNoCase(line, "MAIL")) {
    e.stage = Stage::Mail;
    e.transaction = c.transactions++;
    c.rcptInTxn = 0;
    c.acceptedInTxn = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      TransactionRecord t;
      t.mailLine = line;
      records_[c.index].transactions.push_back(std::move(t));
    }
    react(c, e, "250 2.1.0 sender ok");
  } else if (startsWithNoCase(line, "RCPT")) {
    e.stage = Stage::Rcpt;
    e.rcptIndex = c.rcptInTxn++;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& txns = records_[c.index].transactions;
      if (!txns.empty()) txns.back().rcptLines.push_back(line);
    }
    react(c, e, "250 2.1.5 recipient ok");
  } else if (startsWithNoCase(line, "DATA")) {
    e.stage = Stage::Data;
    react(c, e, c.acceptedInTxn > 0 ? "354 go ahead" : "554 5.5.1 no valid recipients");
  } else if (startsWithNoCase(line, "BDAT")) {
    // "BDAT <n> [LAST]": read exactly n octets whatever we answer (RFC 3030 §2).
    std::string rest = line.substr(4);
    std::size_t i = rest.find_first_not_of(' ');
    std::uint64_t n = 0;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') n = n * 10 + static_cast<std::uint64_t>(rest[i++] - '0');
    bool last = rest.find("LAST") != std::string::npos || rest.find("last") != std::string::npos;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& txns = records_[c.index].transactions;
      if (!txns.empty()) txns.back().usedBdat = true;
    }
    c.mode = Conn::Mode::BdatBody;
    c.bdatLeft = n;
    c.bdatLast = last;
    c.bdatLine = line;
  } else if (startsWithNoCase(line, "RSET")) {
    e.stage = Stage::Rset;
    react(c, e, "250 2.0.0 reset");
  } else if (startsWithNoCase(line, "QUIT")) {
    e.stage = Stage::Quit;
    {
      std::lock_guard<std::mutex> lock(mu_);
      records_[c.index].quit = true;
    }
    react(c, e, "221 2.0.0 bye");  // a plain reply to QUIT closes the connection after it
  } else {
    e.stage = Stage::Other;
    react(c, e, startsWithNoCase(line, "NOOP") ? "250 2.0.0 ok" : "502 5.5.2 command not recognised");
  }
  return true;
}

// A body was read in full (DATA content, or a BDAT chunk): the reply decides its fate.
void FakeServer::finishBody(Conn& c, Stage stage, const std::string& line) {
  Event e;
  e.stage = stage;
  e.connection = c.index;
  e.transaction = c.transactions == 0 ? 0 : c.transactions - 1;
  e.line = line;
  if (stage != Stage::Bdat) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& txns = records_[c.index].transactions;
    if (!txns.empty()) txns.back().ended = true;
  }
  // Like a real server: no accepted recipient, no message (RFC 5321 §3.3 "no valid recipients").
  std::string def = stage == Stage::Bdat ? "250 2.0.0 chunk received" : "250 2.0.0 queued as fake";
  if (c.acceptedInTxn == 0) def = "554 5.5.1 no valid recipients";
  react(c, e, def);
}

void FakeServer::react(Conn& c, Event e, const std::string& defaultReply) {
  std::optional<Action> a;
  if (script_) a = script_(e);
  Action act = a ? *a : Action::reply(defaultReply);
  if (c.muted) return;  // a silent connection stays silent
  switch (act.kind) {
    case Action::Kind::Silent: c.muted = true; return;
    case Action::Kind::Close:
      c.closing = true;
      queueReply(c, "", std::chrono::milliseconds(0), true);
      return;
    case Action::Kind::Reply:
    case Action::Kind::ReplyThenClose: break;
  }
  std::string text = withCrlf(act.text);
  const int code = codeOf(text);
  const bool closeAfter = act.kind == Action::Kind::ReplyThenClose || e.stage == Stage::Quit;
  if (closeAfter) c.closing = true;
  if (e.stage == Stage::Data && code == 354) c.mode = Conn::Mode::DataBody;
  // What the reply means for the records is set once it is really written.
  std::function<void()> onSent;
  const std::size_t conn = c.index;
  if (e.stage == Stage::Rcpt && code >= 200 && code < 300) {
    ++c.acceptedInTxn;
    std::string path = pathOf(e.line);
    onSent = [this, conn, path] {
      auto& txns = records_[conn].transactions;
      if (!txns.empty()) txns.back().accepted.push_back(path);
    };
  } else if (e.stage == Stage::DataEnd || e.stage == Stage::BdatLast) {
    onSent = [this, conn, code] {
      auto& txns = records_[conn].transactions;
      if (!txns.empty()) txns.back().endReply = code;
    };
  }
  queueReply(c, text, act.delay, closeAfter, std::move(onSent));
}

void FakeServer::queueReply(Conn& c, const std::string& text, std::chrono::milliseconds delay, bool closeAfter,
                            std::function<void()> onSent) {
  Clock::time_point due = std::max(Clock::now() + delay, c.lastDue);
  c.lastDue = due;
  Conn::Out o;
  o.due = due;
  o.bytes = text;
  o.closeAfter = closeAfter;
  o.onSent = std::move(onSent);
  c.out.push_back(std::move(o));
  flushDue(c);
}

void FakeServer::flushDue(Conn& c) {
  const auto now = Clock::now();
  while (!c.done && !c.halfClosed && !c.out.empty() && c.out.front().due <= now) {
    Conn::Out o = std::move(c.out.front());
    c.out.pop_front();
    {
      // Recorded before the bytes leave: the client may act on a reply (and the test read the records) before
      // this thread runs again.
      std::lock_guard<std::mutex> lock(mu_);
      if (o.onSent) o.onSent();
      if (o.closeAfter) records_[c.index].closedByServer = true;
    }
    if (!o.bytes.empty()) writeAll(c.fd, o.bytes);
    if (o.closeAfter) {
      // Half-close: our FIN follows the replies; the client's remaining input is read and dropped.
      ::shutdown(c.fd, SHUT_WR);
      c.halfClosed = true;
      c.out.clear();
    }
  }
}

void FakeServer::closeConn(Conn& c, bool byServer) {
  if (c.done) return;
  c.done = true;
  ::close(c.fd);
  std::lock_guard<std::mutex> lock(mu_);
  if (!byServer && !c.halfClosed && !records_[c.index].quit) records_[c.index].closedByClient = true;
}

std::uint16_t closedPort(const std::string& address) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace sluice::test
