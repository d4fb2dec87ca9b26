// server_session_harness.hpp: shared test fixtures for the server session tests: a recording owner (ServerHandler)
// with scripted decisions, a standard configuration, and a runner that replays client bytes under every
// segmentation (split_feed.hpp) and checks that replies, owner events and delivered bodies never depend on it.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "engine/smtp/server_session.hpp"
#include "split_feed.hpp"

namespace sluice::test {

using smtp::AuthRequest;
using smtp::MailParams;
using smtp::MessageInfo;
using smtp::RcptParams;
using smtp::ServerConfig;
using smtp::ServerHandler;
using smtp::ServerSession;
using smtp::Verdict;

// A ServerHandler that logs every event and decides by simple rules:
// sender "blocked@example.com" and recipients "unknown@..." are rejected; ETRN accepts "example.org" and
// "@example.org"; AUTH accepts user/secret.
struct Recorder : ServerHandler {
  std::vector<std::string> log;
  std::vector<std::string> messages;  // bodies handed over at end of message
  std::string current;
  bool pendingEnd = false;    // answer end-of-message later through resolve()
  bool startTlsOk = true;
  bool badVerdictCodes = false;  // answer with codes of the wrong class, to test the session's defaults

  // Logs the greeting command.
  Verdict onHelo(std::string_view domain, bool extended) override {
    log.push_back(std::string(extended ? "EHLO " : "HELO ") + std::string(domain));
    return Verdict::accept();
  }
  // Logs MAIL with the parsed parameters.
  Verdict onMail(std::string_view from, const MailParams& p, std::string_view auth) override {
    std::string e = "MAIL <" + std::string(from) + ">";
    if (p.size) e += " size=" + std::to_string(p.size);
    if (p.body != smtp::BodyType::Unspecified) e += " body=" + std::to_string(static_cast<int>(p.body));
    if (p.smtpUtf8) e += " utf8";
    if (p.ret != smtp::DsnRet::Unspecified) e += " ret=" + std::to_string(static_cast<int>(p.ret));
    if (!p.envid.empty()) e += " envid=" + p.envid;
    if (!auth.empty()) e += " auth=" + std::string(auth);
    log.push_back(e);
    if (badVerdictCodes) return Verdict::reject(250, "2.0.0", "wrong class");
    if (from == "blocked@example.com") return Verdict::reject(550, "5.7.1", "Sender blocked");
    return Verdict::accept();
  }
  // Logs RCPT with NOTIFY bits and the decoded ORCPT.
  Verdict onRcpt(std::string_view to, const RcptParams& p) override {
    std::string e = "RCPT <" + std::string(to) + ">";
    if (p.notify) e += " notify=" + std::to_string(p.notify);
    if (!p.orcpt.empty()) e += " orcpt=" + p.orcptType + ";" + p.orcpt;
    log.push_back(e);
    if (to.substr(0, 8) == "unknown@") return Verdict::reject(550, "5.1.1", "No such user");
    return Verdict::accept();
  }
  // Collects body spans.
  void onBody(std::string_view bytes) override { current.append(bytes); }
  // Stores the message and accepts it (now or later).
  Verdict onMessageEnd(const MessageInfo& info) override {
    messages.push_back(current);
    current.clear();
    log.push_back("END " + std::to_string(info.octets) + (info.chunked ? " bdat" : " data"));
    if (pendingEnd) return Verdict::pending();
    return Verdict::accept(250, "2.0.0", "Queued");
  }
  // Drops the partial body.
  void onTransactionAbort() override {
    current.clear();
    log.push_back("ABORT");
  }
  // Allows one node.
  Verdict onEtrn(std::string_view node) override {
    log.push_back("ETRN " + std::string(node));
    if (node == "example.org" || node == "@example.org") return Verdict::accept(250, "2.0.0", "Queuing started");
    return Verdict::reject(459, "4.7.1", "Node not allowed");
  }
  // Agrees to TLS when startTlsOk.
  bool onStartTls() override {
    log.push_back("STARTTLS");
    return startTlsOk;
  }
  // Accepts user/secret.
  Verdict onAuth(const AuthRequest& r) override {
    log.push_back("AUTH " + std::string(r.mechanism) + " [" + std::string(r.authzid) + "] " + std::string(r.authcid) +
                  " " + std::string(r.password));
    if (r.authcid == "user" && r.password == "secret") return Verdict::accept();
    return Verdict::reject(535, "5.7.8", "Authentication credentials invalid");
  }
};

// The configuration most tests use: every extension on, a 100000-octet size limit.
inline ServerConfig testConfig() {
  ServerConfig c;
  c.hostname = "mx.test";
  c.binaryMime = true;
  c.smtpUtf8 = true;
  c.dsn = true;
  c.etrn = true;
  c.startTls = true;
  c.authMechanisms = {"PLAIN", "LOGIN"};
  c.limits.maxMessageSize = 100000;
  return c;
}

inline const std::string kGreeting = "220 mx.test ESMTP ready\r\n";
// EHLO reply of testConfig() before TLS (no AUTH: it needs TLS).
inline const std::string kEhloReply =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n"
    "250-SMTPUTF8\r\n250-DSN\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n";

// EHLO reply of testConfig() over TLS: no STARTTLS, AUTH offered.
inline const std::string kEhloTlsReply =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n"
    "250-SMTPUTF8\r\n250-DSN\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n";

// What one run of a session produced.
struct Run {
  std::string out;
  std::vector<std::string> messages;
  std::vector<std::string> log;
  bool closed = false;
};

// Greets, then feeds each part as a separate heap copy (so a read past a segment is caught by ASan).
// With `tls`, the connection counts as already encrypted (implicit TLS).
inline Run runSession(const ServerConfig& cfg, const Segments& parts, bool tls = false) {
  Recorder r;
  ServerSession s(cfg, r);
  if (tls) s.setTlsActive();
  s.greet();
  for (std::string_view part : parts) {
    std::string copy(part);
    s.feed(copy);
  }
  return Run{s.output(), r.messages, r.log, s.closeRequested()};
}

// Runs `input` whole, split at every offset, byte at a time and in random pieces; every run must produce the same
// replies, events and bodies as the whole run, which is returned.
inline Run runAllSplits(const ServerConfig& cfg, std::string_view input, bool tls = false) {
  Run whole = runSession(cfg, Segments{input}, tls);
  int mismatches = 0;
  forEachSegmentation(input, [&](const Segments& parts, const std::string& how) {
    Run r = runSession(cfg, parts, tls);
    bool same = r.out == whole.out && r.messages == whole.messages && r.log == whole.log && r.closed == whole.closed;
    if (!same && mismatches++ < 3) {
      FAIL_CHECK("segmentation changed the outcome: " << how << "\n--- whole:\n" << whole.out << "--- this:\n" << r.out);
    }
  });
  CHECK(mismatches == 0);
  return whole;
}

}  // namespace sluice::test
