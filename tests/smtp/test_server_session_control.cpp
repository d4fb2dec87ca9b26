// test_server_session_control.cpp: server session transcripts for STARTTLS (RFC 3207), AUTH (RFC 4954), ETRN
// (RFC 1985), the informational commands, MAIL/RCPT argument rules (RFC 5321 §4.1.1.2-3, §4.5.3.1, RFC 3461),
// limits, timeouts and owner decisions that arrive later (the intake listener's group commit).
#include <doctest/doctest.h>

#include <string>

#include "server_session_harness.hpp"

using namespace sluice::test;

namespace {

const std::string kPlainGood = "AHVzZXIAc2VjcmV0";      // "\0user\0secret"
const std::string kPlainBad = "AHVzZXIAd3Jvbmc=";       // "\0user\0wrong"
const std::string kPlainAuthz = "YWRtaW4AdXNlcgBzZWNyZXQ=";  // "admin\0user\0secret"

}  // namespace

TEST_CASE("STARTTLS: 220, pipelined plaintext after it is discarded, then back to pre-EHLO (RFC 3207 §4, §4.2; "
          "CVE-2011-0411 class; spec 17)") {
  const std::string input = "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<v@example.com>\r\n";
  Run r = runAllSplits(testConfig(), input);
  CHECK(r.out == kGreeting + kEhloReply + "220 2.0.0 Ready to start TLS\r\n");
  CHECK(r.log == std::vector<std::string>{"EHLO c", "STARTTLS"});

  Recorder rec;
  const ServerConfig cfg = testConfig();
  ServerSession s(cfg, rec);
  s.greet();
  s.feed(input);
  CHECK(s.awaitingTls());
  CHECK_FALSE(s.wantsInput());
  CHECK(s.buffered() == 0);
  s.clearOutput();
  s.feed("QUIT\r\n");  // still plaintext: ignored
  CHECK(s.output().empty());
  s.tlsStarted();
  CHECK(s.tlsActive());
  s.feed("MAIL FROM:<a@example.com>\r\nEHLO c\r\nSTARTTLS\r\nAUTH PLAIN " + kPlainGood + "\r\n");
  CHECK(s.output() == "503 Send HELO/EHLO first\r\n" + kEhloTlsReply + "502 5.5.1 STARTTLS not available\r\n" +
                          "235 2.7.0 Authentication successful\r\n");
  CHECK(s.authenticated());
  CHECK(s.authIdentity() == "user");
}

TEST_CASE("STARTTLS refusals: 454 when the owner cannot, 501 with a parameter, 502 when not offered (RFC 3207 §4)") {
  Recorder rec;
  rec.startTlsOk = false;
  const ServerConfig cfg = testConfig();
  ServerSession s(cfg, rec);
  s.greet();
  s.feed("EHLO c\r\nSTARTTLS now\r\nSTARTTLS\r\nNOOP\r\n");
  CHECK(s.output() == kGreeting + kEhloReply +
                          "501 5.5.4 Syntax: STARTTLS\r\n454 4.7.0 TLS not available due to temporary reason\r\n"
                          "250 2.0.0 Ok\r\n");
  ServerConfig noTls = testConfig();
  noTls.startTls = false;
  Run r = runAllSplits(noTls, "EHLO c\r\nSTARTTLS\r\n");
  CHECK(r.out.find("STARTTLS\r\n") == std::string::npos);
  CHECK(r.out.ends_with("502 5.5.1 STARTTLS not available\r\n"));
}

TEST_CASE("AUTH before TLS is refused with 538 5.7.11 and not advertised (RFC 4954 §4, §6; spec 17, 21)") {
  Run r = runAllSplits(testConfig(), "EHLO c\r\nAUTH PLAIN " + kPlainGood + "\r\nAUTH LOGIN\r\n");
  CHECK(r.out == kGreeting + kEhloReply +
                     "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
                     "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  CHECK(r.out.find("AUTH") == std::string::npos);
  ServerConfig cfg = testConfig();
  cfg.authWithoutTls = true;  // allowed by configuration
  r = runAllSplits(cfg, "EHLO c\r\nAUTH PLAIN " + kPlainGood + "\r\n");
  CHECK(r.out.find("250-AUTH PLAIN LOGIN\r\n") != std::string::npos);
  CHECK(r.out.ends_with("235 2.7.0 Authentication successful\r\n"));
}

TEST_CASE("AUTH rules over TLS: bad credentials, '*', bad base64, in a transaction, RSET keeps the login "
          "(RFC 4954 §4, §6; spec 21)") {
  const std::string input =
      "EHLO c\r\n"
      "AUTH PLAIN " + kPlainBad + "\r\n"
      "AUTH PLAIN\r\n*\r\n"
      "AUTH PLAIN\r\n!!!!\r\n"
      "AUTH PLAIN dXNlcg=\r\n"
      "AUTH CRAM-MD5\r\n"
      "MAIL FROM:<a@example.com>\r\nAUTH PLAIN " + kPlainGood + "\r\nRSET\r\n"
      "AUTH LOGIN\r\ndXNlcg==\r\nc2VjcmV0\r\n"
      "RSET\r\n"
      "AUTH PLAIN " + kPlainGood + "\r\n"
      "MAIL FROM:<a@example.com> AUTH=user+40example.com\r\n";
  Run r = runAllSplits(testConfig(), input, /*tls=*/true);
  CHECK(r.out == kGreeting + kEhloTlsReply +
                     "535 5.7.8 Authentication credentials invalid\r\n"
                     "334 \r\n501 5.0.0 Authentication cancelled\r\n"
                     "334 \r\n501 5.5.2 Invalid base64 data\r\n"
                     "501 5.5.2 Invalid base64 data\r\n"
                     "504 5.5.4 Unrecognized authentication type\r\n"
                     "250 2.1.0 Sender OK\r\n503 5.5.1 AUTH not permitted during a mail transaction\r\n"
                     "250 2.0.0 Ok\r\n"
                     "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n"
                     "250 2.0.0 Ok\r\n"
                     "503 5.5.1 Already authenticated\r\n"
                     "250 2.1.0 Sender OK\r\n");
  CHECK(r.log[1] == "AUTH PLAIN [] user wrong");
  CHECK(r.log.back() == "MAIL <a@example.com> auth=user@example.com");
}

TEST_CASE("AUTH PLAIN with an authorization identity, LOGIN with an initial response (RFC 4616 §2, RFC 4954 §4)") {
  Run r = runAllSplits(testConfig(), "EHLO c\r\nAUTH PLAIN\r\n" + kPlainAuthz + "\r\n", true);
  CHECK(r.out.ends_with("334 \r\n235 2.7.0 Authentication successful\r\n"));
  CHECK(r.log.back() == "AUTH PLAIN [admin] user secret");
  r = runAllSplits(testConfig(), "EHLO c\r\nAUTH LOGIN dXNlcg==\r\nc2VjcmV0\r\n", true);
  CHECK(r.out.ends_with("334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n"));
  r = runAllSplits(testConfig(), "EHLO c\r\nAUTH PLAIN AHVzZXI=\r\n", true);  // "\0user": no password field
  CHECK(r.out.ends_with("501 5.5.2 Invalid PLAIN response\r\n"));
}

TEST_CASE("ETRN is handed to the owner, which chooses the reply (RFC 1985 §3-5; spec 20)") {
  Run r = runAllSplits(testConfig(),
                       "EHLO c\r\nETRN example.org\r\nETRN @example.org\r\nETRN other.example\r\nETRN\r\n"
                       "ETRN bad..name\r\nMAIL FROM:<a@example.com>\r\nETRN example.org\r\nRSET\r\nETRN #queue1\r\n");
  CHECK(r.out == kGreeting + kEhloReply +
                     "250 2.0.0 Queuing started\r\n250 2.0.0 Queuing started\r\n459 4.7.1 Node not allowed\r\n"
                     "501 5.5.4 Syntax: ETRN [@|#]node\r\n501 5.5.4 Syntax: ETRN [@|#]node\r\n"
                     "250 2.1.0 Sender OK\r\n503 5.5.1 ETRN not permitted during a mail transaction\r\n"
                     "250 2.0.0 Ok\r\n459 4.7.1 Node not allowed\r\n");
  CHECK(r.log == std::vector<std::string>{"EHLO c", "ETRN example.org", "ETRN @example.org", "ETRN other.example",
                                          "MAIL <a@example.com>", "ABORT", "ETRN #queue1"});
}

TEST_CASE("VRFY 252, EXPN 502, HELP 214, NOOP, unknown and unimplemented commands (RFC 5321 §3.5.3, §4.1.1, "
          "§4.2.4)") {
  Run r = runAllSplits(testConfig(), "EHLO c\r\nVRFY bob\r\nVRFY\r\nEXPN list\r\nHELP\r\nnoop x\r\nFOO\r\nTURN\r\n");
  CHECK(r.out == kGreeting + kEhloReply +
                     "252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery\r\n"
                     "501 5.5.4 Syntax: VRFY <address>\r\n502 5.5.1 EXPN not available\r\n"
                     "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY ETRN STARTTLS AUTH\r\n"
                     "250 2.0.0 Ok\r\n500 5.5.1 Command unrecognized\r\n502 5.5.1 Command not implemented\r\n");
}

TEST_CASE("MAIL and RCPT arguments: syntax, parameters, DSN decoding, path limits (RFC 5321 §4.1.1.2-3, §4.1.2, "
          "§4.5.3.1; RFC 3461 §4; spec 16)") {
  ServerConfig cfg = testConfig();
  cfg.limits.maxErrors = 0;  // unlimited here
  const std::string label(63, 'd');
  const std::string domain189 = label + "." + label + "." + std::string(61, 'e');  // 63+1+63+1+61
  REQUIRE(domain189.size() == 189);
  const std::string local64(64, 'l');
  const std::string input =
      "EHLO c\r\n"
      "MAIL TO:<a@example.com>\r\n"
      "MAIL FROM:a@example.com\r\n"
      "MAIL FROM:<a@@example.com>\r\n"
      "RCPT TO:<b@example.com>\r\n"
      "MAIL FROM:<> XFOO=1\r\n"
      "MAIL FROM:<> SIZE=1x\r\n"
      "MAIL FROM:<> RET=FULL ENVID=abc+2Bdef SIZE=500 BODY=8BITMIME\r\n"
      "MAIL FROM:<x@example.com>\r\n"
      "RCPT TO:<bob>\r\n"
      "RCPT TO:<" + local64 + "l@example.com>\r\n"
      "RCPT TO:<" + local64 + "@" + domain189 + ">\r\n"
      "RCPT TO:<" + local64 + "@" + domain189 + "x>\r\n"
      "RCPT TO:<Postmaster>\r\n"
      "RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.com\r\n"
      "RCPT TO:<b@example.com> NOTIFY=NEVER,SUCCESS\r\n"
      "RCPT TO:<\xC3\xBC@example.com>\r\n"
      "RCPT TO:<@relay.example,@r2.example:c@[192.0.2.1]>\r\n";
  Run r = runAllSplits(cfg, input);
  CHECK(r.out == kGreeting + kEhloReply +
                     "501 5.5.2 Syntax: MAIL FROM:<address>\r\n"
                     "501 5.1.7 Bad sender address syntax\r\n"
                     "501 5.1.7 Bad sender address syntax\r\n"
                     "503 5.5.1 Need MAIL command\r\n"
                     "555 5.5.4 Unsupported parameter\r\n"
                     "501 5.5.4 Invalid parameter syntax\r\n"
                     "250 2.1.0 Sender OK\r\n"
                     "503 5.5.1 Nested MAIL command\r\n"
                     "501 5.1.3 Bad recipient address syntax\r\n"
                     "501 5.1.3 Local part too long\r\n"
                     "250 2.1.5 Recipient OK\r\n"
                     "501 5.1.3 Path too long\r\n"
                     "250 2.1.5 Recipient OK\r\n"
                     "250 2.1.5 Recipient OK\r\n"
                     "501 5.5.4 Invalid parameter syntax\r\n"
                     "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n"
                     "250 2.1.5 Recipient OK\r\n");
  CHECK(r.log[1] == "MAIL <> size=500 body=2 ret=1 envid=abc+def");
  CHECK(r.log[3] == "RCPT <Postmaster>");
  CHECK(r.log[4] == "RCPT <b@example.com> notify=6 orcpt=rfc822;b+x@example.com");
  CHECK(r.log[5] == "RCPT <c@[192.0.2.1]>");
}

TEST_CASE("SMTPUTF8 addresses need the SMTPUTF8 parameter on MAIL (RFC 6531 §3.4)") {
  Run r = runAllSplits(testConfig(), "EHLO c\r\nMAIL FROM:<\xC3\xBC@example.com>\r\n"
                                     "MAIL FROM:<\xC3\xBC@example.com> SMTPUTF8\r\nRCPT TO:<j\xC3\xBC@b\xC3\xBC.example>\r\n");
  CHECK(r.out == kGreeting + kEhloReply +
                     "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n");
}

TEST_CASE("the recipient limit answers 452 4.5.3 and the transaction goes on (RFC 5321 §4.5.3.1.8, "
          "§4.5.3.1.10; spec 6)") {
  ServerConfig cfg = testConfig();
  cfg.limits.maxRecipients = 3;
  Run r = runAllSplits(cfg, "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b1@example.com>\r\n"
                            "RCPT TO:<b2@example.com>\r\nRCPT TO:<b3@example.com>\r\nRCPT TO:<b4@example.com>\r\n"
                            "DATA\r\nx\r\n.\r\n");
  CHECK(r.out == kGreeting + kEhloReply +
                     "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.1.5 Recipient OK\r\n"
                     "250 2.1.5 Recipient OK\r\n452 4.5.3 Too many recipients\r\n"
                     "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Queued\r\n");
  CHECK(r.log.size() == 6);  // EHLO, MAIL, 3 RCPT, END: the fourth never reached the owner
}

TEST_CASE("too many errors: 421 and close, nothing after it executed (RFC 5321 §3.8, §4.2.3)") {
  ServerConfig cfg = testConfig();
  cfg.limits.maxErrors = 3;
  Run r = runAllSplits(cfg, "FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n");
  CHECK(r.out == kGreeting + "500 Command unrecognized\r\n500 Command unrecognized\r\n"
                             "421 mx.test Error: too many errors\r\n");
  CHECK(r.closed);
}

TEST_CASE("failed AUTH attempts count towards maxErrors; the one that reaches it is the 421 (RFC 4954 §4)") {
  ServerConfig cfg = testConfig();
  cfg.limits.maxErrors = 3;
  Run r = runAllSplits(cfg, "EHLO c\r\nAUTH PLAIN " + kPlainBad + "\r\nFOO\r\nAUTH PLAIN " + kPlainBad +
                                "\r\nNOOP\r\n",
                       /*tls=*/true);
  CHECK(r.out == kGreeting + kEhloTlsReply +
                     "535 5.7.8 Authentication credentials invalid\r\n"
                     "500 5.5.1 Command unrecognized\r\n"
                     "421 4.7.0 mx.test Error: too many errors\r\n");
  CHECK(r.closed);
  CHECK(r.log.size() == 3);  // EHLO and both AUTH attempts reached the owner; NOOP never ran
}

TEST_CASE("idle timeout: the caller arms timeoutMs(); onTimeout() answers 421 4.4.2 and closes (RFC 5321 "
          "§4.5.3.2.7)") {
  Recorder rec;
  const ServerConfig cfg = testConfig();
  ServerSession s(cfg, rec);
  s.greet();
  s.feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\n");
  CHECK(s.timeoutMs() == 300000);
  s.clearOutput();
  s.onTimeout();
  CHECK(s.output() == "421 4.4.2 mx.test Error: timeout exceeded\r\n");
  CHECK(s.closeRequested());
  CHECK(rec.log.back() == "ABORT");
  CHECK(s.timeoutMs() == 0);
  s.feed("NOOP\r\n");
  CHECK(s.output() == "421 4.4.2 mx.test Error: timeout exceeded\r\n");
}

TEST_CASE("a 554 greeting accepts only QUIT (RFC 5321 §3.1)") {
  Recorder rec;
  const ServerConfig cfg = testConfig();
  ServerSession s(cfg, rec);
  s.refuse("mx.test no service here");
  s.feed("EHLO c\r\nQUIT\r\n");
  CHECK(s.output() == "554 mx.test no service here\r\n503 Service refused, send QUIT\r\n221 mx.test closing connection\r\n");
  CHECK(s.closeRequested());
}

TEST_CASE("end-of-data decided later: pipelined commands wait unprocessed, then run in order (RFC 2920 §3.2, "
          "RFC 5321 §4.1.1.4)") {
  Recorder rec;
  rec.pendingEnd = true;
  const ServerConfig cfg = testConfig();
  ServerSession s(cfg, rec);
  s.greet();
  s.feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
  s.clearOutput();
  const std::string next = "MAIL FROM:<c@example.com>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n";
  s.feed("one\r\n.\r\n" + next);
  CHECK(s.output().empty());
  CHECK(s.awaitingOwner());
  CHECK(s.timeoutMs() == 0);
  CHECK(s.buffered() == next.size());
  CHECK(rec.messages == std::vector<std::string>{"one\r\n"});
  s.feed("two\r\n.\r\nQUIT\r\n");
  CHECK(s.output().empty());
  CHECK(rec.log.size() == 4);  // nothing after the first END reached the owner

  s.resolve(Verdict::accept(250, "2.0.0", "Queued as A1"));
  CHECK(s.output() == "250 2.0.0 Queued as A1\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"
                      "354 End data with <CR><LF>.<CR><LF>\r\n");
  CHECK(s.awaitingOwner());  // the second message waits for its own decision
  CHECK(rec.messages.size() == 2);
  CHECK(rec.messages[1] == "two\r\n");
  s.clearOutput();
  s.resolve(Verdict::reject(451, "4.3.0", "Queue write failed"));
  CHECK(s.output() == "451 4.3.0 Queue write failed\r\n221 2.0.0 mx.test closing connection\r\n");
  CHECK(s.closeRequested());
}

TEST_CASE("input buffered while a decision is pending is bounded (architecture invariant 5)") {
  ServerConfig cfg = testConfig();
  cfg.limits.maxPendingInput = 64;
  Recorder rec;
  rec.pendingEnd = true;
  ServerSession s(cfg, rec);
  s.greet();
  s.feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 0 LAST\r\n");
  CHECK(s.awaitingOwner());
  CHECK(s.wantsInput());
  s.feed(std::string(100, 'N'));
  CHECK_FALSE(s.wantsInput());  // the caller stops reading
  s.clearOutput();
  s.feed(std::string(2 * 64 + cfg.limits.maxAuthLine, 'N'));  // it did not: 421
  CHECK(s.output() == "421 4.7.0 Too much pipelined input\r\n");
  CHECK(s.closeRequested());
}

TEST_CASE("owner replies of the wrong class are replaced by the session's default (spec 19)") {
  Recorder rec;
  rec.badVerdictCodes = true;
  const ServerConfig cfg = testConfig();
  ServerSession s(cfg, rec);
  s.greet();
  s.feed("HELO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n");
  CHECK(s.output() == kGreeting + "250 mx.test\r\n550 Sender rejected\r\n503 Need MAIL command\r\n");
}

TEST_CASE("an AUTH response over maxAuthLine is answered once with 500 5.5.2 and ends the exchange (RFC 4954 §4)") {
  ServerConfig cfg = testConfig();
  cfg.limits.maxAuthLine = 100;
  Run r = runAllSplits(cfg, "EHLO c\r\nAUTH PLAIN\r\n" + std::string(300, 'A') + "\r\nAUTH PLAIN " + kPlainGood + "\r\n",
                       true);
  CHECK(r.out == kGreeting + kEhloTlsReply + "334 \r\n500 5.5.2 Line too long\r\n235 2.7.0 Authentication successful\r\n");
}

// An owner that answers end-of-data with a given reply.
struct FixedEnd : Recorder {
  int code = 250;
  std::string status, text;
  // Returns the configured reply.
  Verdict onMessageEnd(const MessageInfo& info) override {
    Recorder::onMessageEnd(info);
    return code < 400 ? Verdict::accept(code, status, text) : Verdict::reject(code, status, text);
  }
};

TEST_CASE("owner replies are kept to one line and a mismatched enhanced code becomes X.0.0 (RFC 3463 §2; spec 19)") {
  struct Row {
    int code;
    const char* status;
    const char* text;
    const char* expected;
  };
  const Row rows[] = {
      {250, "2.0.0", "Queued as 7F3A", "250 2.0.0 Queued as 7F3A\r\n"},
      {550, "4.2.2", "Mailbox full", "550 5.0.0 Mailbox full\r\n"},
      {451, "4.7.650", "Try later", "451 4.7.650 Try later\r\n"},
      {554, "5.x.1", "Nope", "554 5.0.0 Nope\r\n"},
      {554, "", "No code", "554 No code\r\n"},
      {250, "2.0.0", "ok\r\n250 fake", "250 2.0.0 ok  250 fake\r\n"},
  };
  const ServerConfig cfg = testConfig();
  for (const Row& r : rows) {
    CAPTURE(r.expected);
    FixedEnd owner;
    owner.code = r.code;
    owner.status = r.status;
    owner.text = r.text;
    ServerSession s(cfg, owner);
    s.feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    s.clearOutput();
    s.feed("x\r\n.\r\n");
    CHECK(s.output() == r.expected);
  }
}

// An owner that defers every MAIL decision (e.g. a policy look-up on another thread).
struct SlowMail : Recorder {
  // Defers the decision.
  Verdict onMail(std::string_view from, const MailParams& p, std::string_view auth) override {
    Recorder::onMail(from, p, auth);
    return Verdict::pending();
  }
};

TEST_CASE("any owner decision may be deferred; QUIT then closes and later input is ignored (RFC 2920 §3.2, "
          "RFC 5321 §4.1.1.10)") {
  const ServerConfig cfg = testConfig();
  SlowMail owner;
  ServerSession s(cfg, owner);
  s.feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nQUIT\r\nNOOP\r\n");
  CHECK(s.output() == kEhloReply);
  CHECK(owner.log.size() == 2);
  s.resolve(Verdict::reject(451, "4.7.1", "Try again later"));
  CHECK(s.output() == kEhloReply +
                          "451 4.7.1 Try again later\r\n503 5.5.1 Need MAIL command\r\n"
                          "221 2.0.0 mx.test closing connection\r\n");
  CHECK(s.closeRequested());
  CHECK(s.buffered() == 0);
}

// An owner that checks every body span lies inside the buffer that was fed.
struct SpanCheck : ServerHandler {
  std::string_view fed;
  std::size_t spans = 0, outside = 0;
  // Counts spans and those not pointing into `fed`.
  void onBody(std::string_view b) override {
    ++spans;
    if (b.data() < fed.data() || b.data() + b.size() > fed.data() + fed.size()) ++outside;
  }
  // Accepts.
  Verdict onMessageEnd(const MessageInfo&) override { return Verdict::accept(); }
};

TEST_CASE("body content is handed over as spans of the fed buffer, without copies (architecture invariant 2)") {
  const ServerConfig cfg = testConfig();
  const std::string body(4000, 'b');
  const std::string input = "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 4000 LAST\r\n" +
                            body + "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n" + "x\r\n..y\r\n" +
                            body + "\r\n.\r\n";
  SpanCheck owner;
  owner.fed = input;
  ServerSession s(cfg, owner);
  s.feed(input);
  CHECK(owner.spans == 3);  // the chunk; DATA content before and after the stuffing dot
  CHECK(owner.outside == 0);
}
