// fuzz_server_session.cpp: libFuzzer target for the SMTP server session. Input layout: byte 0 picks configuration
// switches, byte 1 seeds the segmentation, the rest is what a client sends. The bytes are fed whole, in
// input-driven pieces and (for short inputs) one byte at a time. Invariants: never crash; every segmentation gives
// the same replies, events and bodies; replies are well-formed lines; exactly one reply per complete command;
// buffered input and delivered bodies stay within their limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "engine/smtp/server_session.hpp"

namespace {

using namespace sluice::smtp;

// Aborts (a finding for the fuzzer) when a condition that must always hold does not.
void require(bool ok) {
  if (!ok) std::abort();
}

// An owner with fixed, content-driven decisions, recording what it sees.
struct Owner : ServerHandler {
  std::string events;
  std::string body;
  std::uint64_t maxBody = 0;
  bool pendingEnd = false;

  // Rejects senders starting with 'x'.
  Verdict onMail(std::string_view from, const MailParams&, std::string_view) override {
    events += "M";
    events += from;
    return !from.empty() && from[0] == 'x' ? Verdict::reject(550, "5.7.1", "no") : Verdict::accept();
  }
  // Rejects recipients starting with 'x'; defers nothing.
  Verdict onRcpt(std::string_view to, const RcptParams&) override {
    events += "R";
    events += to;
    return !to.empty() && to[0] == 'x' ? Verdict::reject(550, "5.1.1", "no") : Verdict::accept();
  }
  // Records body bytes and checks the size bound.
  void onBody(std::string_view b) override {
    require(!b.empty());
    body.append(b);
    require(maxBody == 0 || body.size() <= maxBody);
  }
  // Closes the message record; sometimes decides later.
  Verdict onMessageEnd(const MessageInfo& info) override {
    require(info.octets == body.size());
    events += "E" + std::to_string(body.size()) + ":" + body;
    body.clear();
    return pendingEnd ? Verdict::pending() : Verdict::accept();
  }
  // Forgets the partial body.
  void onTransactionAbort() override {
    events += "A";
    body.clear();
  }
  // Accepts one node.
  Verdict onEtrn(std::string_view node) override {
    events += "T";
    return node == "a" ? Verdict::accept() : Verdict::reject(459, "4.7.1", "no");
  }
  // Agrees to TLS.
  bool onStartTls() override {
    events += "S";
    return true;
  }
  // Accepts password "p".
  Verdict onAuth(const AuthRequest& r) override {
    events += "U";
    return r.password == "p" ? Verdict::accept() : Verdict::reject(535, "5.7.8", "no");
  }
};

struct Outcome {
  std::string out;
  std::string events;
  bool closed = false;
};

// Checks that output is a sequence of well-formed reply lines and returns how many replies it holds.
std::uint64_t countReplies(const std::string& out) {
  std::uint64_t finals = 0;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t eol = out.find("\r\n", pos);
    require(eol != std::string::npos);
    std::string_view line(out.data() + pos, eol - pos);
    require(line.size() >= 4 && line.size() <= 510);
    for (int k = 0; k < 3; ++k) require(line[k] >= '0' && line[k] <= '9');
    require(line[0] >= '2' && line[0] <= '5');
    require(line[3] == ' ' || line[3] == '-');
    require(line.find('\r') == std::string_view::npos && line.find('\n') == std::string_view::npos);
    if (line[3] == ' ') ++finals;
    pos = eol + 2;
  }
  return finals;
}

// Runs one session over the given pieces, resolving deferred decisions after each piece.
Outcome run(const ServerConfig& cfg, bool tls, bool pendingEnd, const std::vector<std::string_view>& parts) {
  Owner owner;
  owner.pendingEnd = pendingEnd;
  owner.maxBody = cfg.limits.maxMessageSize;
  ServerSession s(cfg, owner);
  if (tls) s.setTlsActive();
  s.greet();
  for (std::string_view part : parts) {
    std::string copy(part);  // a separate allocation, so reading past a piece is caught
    s.feed(copy);
    while (s.awaitingOwner()) s.resolve(Verdict::accept());
    if (!s.closeRequested() && !s.awaitingTls()) require(s.buffered() <= cfg.limits.maxAuthLine);
  }
  const auto& st = s.stats();
  std::uint64_t replies = countReplies(s.output());
  require(replies == st.replies);
  // One reply per command line, plus one per DATA body ended; a BDAT chunk still in flight owes its reply.
  require(st.replies == 1 + st.lines + st.dataEnds - st.chunksOpen);
  return Outcome{s.output(), owner.events, s.closeRequested()};
}

}  // namespace

// libFuzzer entry point: byte 0 picks configuration switches, byte 1 the segmentation, the rest is client input.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t flags = data[0];
  std::uint32_t seed = data[1];
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  ServerConfig cfg;
  cfg.hostname = "mx.fuzz";
  cfg.binaryMime = true;
  cfg.smtpUtf8 = true;
  cfg.dsn = true;
  cfg.etrn = true;
  cfg.startTls = true;
  cfg.authMechanisms = {"PLAIN", "LOGIN"};
  cfg.refuseEhlo = flags & 0x01;
  const bool pendingEnd = flags & 0x02;
  const bool tls = flags & 0x04;
  if (flags & 0x08) cfg.bareLineEndings = BareLineEndingPolicy::Reject;
  if (flags & 0x10) cfg.longLines = LongLinePolicy::Accept;
  if (flags & 0x20) {
    cfg.limits.maxMessageSize = 200;
    cfg.limits.maxRecipients = 2;
    cfg.limits.maxErrors = 5;
    cfg.limits.maxCommandLine = 64;
    cfg.limits.maxAuthLine = 128;
    cfg.limits.maxTextLine = 40;
  }
  if (flags & 0x40) cfg.authWithoutTls = true;
  if (flags & 0x80) cfg.chunking = false;

  Outcome whole = run(cfg, tls, pendingEnd, {input});

  std::vector<std::string_view> pieces;
  std::size_t pos = 0;
  while (pos < input.size()) {
    seed = seed * 1103515245u + 12345u;
    std::size_t len = 1 + (seed >> 16) % 97;
    if (len > input.size() - pos) len = input.size() - pos;
    pieces.push_back(input.substr(pos, len));
    pos += len;
  }
  Outcome split = run(cfg, tls, pendingEnd, pieces);
  require(split.out == whole.out && split.events == whole.events && split.closed == whole.closed);

  if (input.size() <= 2048) {
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
    Outcome single = run(cfg, tls, pendingEnd, bytes);
    require(single.out == whole.out && single.events == whole.events && single.closed == whole.closed);
  }
  return 0;
}
