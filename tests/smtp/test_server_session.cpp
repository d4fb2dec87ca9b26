// test_server_session.cpp: server session transcripts for the core dialogue, PIPELINING and DATA content
// (RFC 5321 §3.3, §4.1.1, §4.1.1.4, §4.5.2, §4.5.3.1; RFC 2920 §3.2). Every transcript is replayed at every split
// offset, byte at a time and in random pieces, and must give the same replies, events and bodies.
#include <doctest/doctest.h>

#include <string>

#include "server_session_harness.hpp"

using namespace sluice::test;
using sluice::smtp::BareLineEndingPolicy;
using sluice::smtp::LongLinePolicy;

namespace {

const std::string kMailRcptData =
    "EHLO client.example\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n";
const std::string kAccepted3 =
    "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n";

// Runs one DATA transaction with `body` (wire form, terminator included) under every segmentation.
Run dataTransaction(const ServerConfig& cfg, const std::string& body, const std::string& after = "QUIT\r\n") {
  return runAllSplits(cfg, kMailRcptData + body + after);
}

}  // namespace

TEST_CASE("a complete transaction split at every offset (RFC 5321 §3.3, §4.1.1; spec 11.1)") {
  Run r = dataTransaction(testConfig(), "Subject: hi\r\n\r\nHello\r\n.\r\n");
  CHECK(r.out == kGreeting + kEhloReply + kAccepted3 + "250 2.0.0 Queued\r\n221 2.0.0 mx.test closing connection\r\n");
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0] == "Subject: hi\r\n\r\nHello\r\n");
  CHECK(r.log == std::vector<std::string>{"EHLO client.example", "MAIL <alice@example.com>", "RCPT <bob@example.net>",
                                          "END 22 data"});
  CHECK(r.closed);
}

TEST_CASE("EHLO lists exactly the configured extensions; none configured gives a one-line reply (RFC 5321 §4.1.1.1)") {
  ServerConfig bare;
  bare.hostname = "mx.test";
  bare.pipelining = bare.chunking = bare.eightBitMime = bare.size = bare.enhancedStatusCodes = bare.help = false;
  Run r = runAllSplits(bare, "EHLO c\r\nMAIL FROM:<a@example.com>\r\n");
  CHECK(r.out == kGreeting + "250 mx.test\r\n250 Sender OK\r\n");

  ServerConfig some = bare;
  some.size = true;
  some.limits.maxMessageSize = 0;  // SIZE 0: no fixed limit (RFC 1870 §4)
  some.chunking = true;
  r = runAllSplits(some, "ehlo c\r\n");
  CHECK(r.out == kGreeting + "250-mx.test\r\n250-SIZE 0\r\n250 CHUNKING\r\n");
}

TEST_CASE("pipelined batches are answered in order, one reply each, in one output (RFC 2920 §3.2)") {
  const std::string input =
      "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<unknown@example.com>\r\n"
      "RCPT TO:<c@example.com>\r\nDATA\r\nbody1\r\n.\r\nMAIL FROM:<blocked@example.com>\r\n"
      "RCPT TO:<b@example.com>\r\nDATA\r\nRSET\r\nMAIL FROM:<d@example.com>\r\nRCPT TO:<e@example.com>\r\n"
      "BDAT 5 LAST\r\nbody2QUIT\r\n";
  Run r = runAllSplits(testConfig(), input);
  CHECK(r.out == kGreeting + kEhloReply +
                     "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n550 5.1.1 No such user\r\n"
                     "250 2.1.5 Recipient OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Queued\r\n"
                     "550 5.7.1 Sender blocked\r\n503 5.5.1 Need MAIL command\r\n503 5.5.1 Need MAIL command\r\n"
                     "250 2.0.0 Ok\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.0.0 Queued\r\n"
                     "221 2.0.0 mx.test closing connection\r\n");
  CHECK(r.messages == std::vector<std::string>{"body1\r\n", "body2"});

  // One feed of a MAIL/RCPT/RCPT/DATA group: all four replies are waiting together for one write.
  Recorder rec;
  const ServerConfig cfg = testConfig();
  ServerSession s(cfg, rec);
  s.greet();
  s.feed("EHLO c\r\n");
  s.clearOutput();
  s.feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n");
  CHECK(s.output() == "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.1.5 Recipient OK\r\n"
                      "354 End data with <CR><LF>.<CR><LF>\r\n");
  CHECK(s.stats().replies == 1 + 1 + 4);
  CHECK(s.stats().lines == 5);
}

TEST_CASE("dot-unstuffing of '.', '..', '. x' lines (RFC 5321 §4.5.2; spec 11.11)") {
  Run r = dataTransaction(testConfig(), "..\r\n...\r\n.. x\r\n. x\r\n..x\r\nx.\r\n.\r\n");
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0] == ".\r\n..\r\n. x\r\n x\r\n.x\r\nx.\r\n");
  // An empty message: the terminator right after the 354.
  r = dataTransaction(testConfig(), ".\r\n");
  CHECK(r.messages == std::vector<std::string>{""});
}

TEST_CASE("CRLF.CRLF look-alikes do not end DATA (RFC 5321 §4.1.1.4; spec 11.11)") {
  Run r = dataTransaction(testConfig(), "A\r\n .\r\nB.\r\n..\r\n.. \r\n.\t\r\nQUIT\r\n.\r\n", "NOOP\r\n");
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0] == "A\r\n .\r\nB.\r\n.\r\n. \r\n\t\r\nQUIT\r\n");
  CHECK(r.out == kGreeting + kEhloReply + kAccepted3 + "250 2.0.0 Queued\r\n250 2.0.0 Ok\r\n");
  CHECK_FALSE(r.closed);
}

TEST_CASE("bare LF and bare CR dot lines never end DATA: no smuggled commands (RFC 5321 §4.1.1.4; spec 11.12)") {
  const std::string body =
      "a\n.\nMAIL FROM:<evil@x.example>\nRCPT TO:<v@x.example>\nDATA\nb\r.\rc\r\n.\nd\r\n.\re\r\n.\r\n";
  SUBCASE("normalised to CRLF (default)") {
    Run r = dataTransaction(testConfig(), body);
    CHECK(r.out == kGreeting + kEhloReply + kAccepted3 + "250 2.0.0 Queued\r\n221 2.0.0 mx.test closing connection\r\n");
    REQUIRE(r.messages.size() == 1);
    CHECK(r.messages[0] ==
          "a\r\n.\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<v@x.example>\r\nDATA\r\nb\r\n.\r\nc\r\n\r\nd\r\n\r\ne\r\n");
    CHECK(r.log.size() == 4);  // EHLO, MAIL, RCPT, END: the smuggled MAIL never reached the owner
  }
  SUBCASE("rejected with 550 5.5.2 by policy") {
    ServerConfig cfg = testConfig();
    cfg.bareLineEndings = BareLineEndingPolicy::Reject;
    Run r = dataTransaction(cfg, body);
    CHECK(r.out == kGreeting + kEhloReply + kAccepted3 +
                       "550 5.5.2 Bare CR or LF in message content\r\n221 2.0.0 mx.test closing connection\r\n");
    CHECK(r.messages.empty());
    CHECK(r.log.back() == "ABORT");
  }
  SUBCASE("'\\r\\n.\\n' and '\\n.\\r\\n' are content too") {
    Run r = dataTransaction(testConfig(), "x\r\n.\nRSET\r\ny\n.\r\nz\r\n.\r\n");
    REQUIRE(r.messages.size() == 1);
    CHECK(r.messages[0] == "x\r\n\r\nRSET\r\ny\r\n.\r\nz\r\n");
  }
}

TEST_CASE("the dot added for transparency does not count towards the 998-octet line limit (RFC 5321 §4.5.3.1.6)") {
  // §4.5.3.1.6: 1000 octets including CRLF, "not counting the leading dot duplicated for transparency".
  const std::string d998 = "." + std::string(997, 'x');  // a 998-octet line that starts with "."
  const std::string d999 = "." + std::string(998, 'y');
  SUBCASE("a 998-octet line starting with a dot, stuffed to 999 on the wire, is accepted") {
    Run r = dataTransaction(testConfig(), "." + d998 + "\r\n.\r\n");
    CHECK(r.out ==
          kGreeting + kEhloReply + kAccepted3 + "250 2.0.0 Queued\r\n221 2.0.0 mx.test closing connection\r\n");
    CHECK(r.messages == std::vector<std::string>{d998 + "\r\n"});
  }
  SUBCASE("a 999-octet line starting with a dot is still refused") {
    Run r = dataTransaction(testConfig(), "." + d999 + "\r\n.\r\n");
    CHECK(r.out == kGreeting + kEhloReply + kAccepted3 +
                       "550 5.6.0 Message contains a line longer than 998 octets\r\n"
                       "221 2.0.0 mx.test closing connection\r\n");
    CHECK(r.messages.empty());
  }
}

TEST_CASE("text lines of 998, 999 and 5000 octets; NUL in content (RFC 5321 §4.5.3.1.6; spec 11.13)") {
  const std::string l998(998, 'x'), l999(999, 'y'), l5000(5000, 'z');
  SUBCASE("998 octets plus CRLF is accepted") {
    Run r = dataTransaction(testConfig(), l998 + "\r\n.\r\n");
    CHECK(r.messages == std::vector<std::string>{l998 + "\r\n"});
  }
  SUBCASE("999 and 5000 octets are refused after the terminator, and nothing inside is executed") {
    Run r = dataTransaction(testConfig(), "ok\r\n" + l999 + "\r\n.\r\n");
    CHECK(r.out == kGreeting + kEhloReply + kAccepted3 +
                       "550 5.6.0 Message contains a line longer than 998 octets\r\n"
                       "221 2.0.0 mx.test closing connection\r\n");
    CHECK(r.messages.empty());
    r = dataTransaction(testConfig(), l5000 + "\r\n.\r\n", "NOOP\r\n");
    CHECK(r.out == kGreeting + kEhloReply + kAccepted3 +
                       "550 5.6.0 Message contains a line longer than 998 octets\r\n250 2.0.0 Ok\r\n");
  }
  SUBCASE("long lines pass under the Accept policy (e.g. the sink)") {
    ServerConfig cfg = testConfig();
    cfg.longLines = LongLinePolicy::Accept;
    Run r = dataTransaction(cfg, l999 + "\r\n" + l5000 + "\r\n.\r\n");
    CHECK(r.messages == std::vector<std::string>{l999 + "\r\n" + l5000 + "\r\n"});
  }
  SUBCASE("a NUL octet in content is delivered unchanged") {
    std::string line = "a";
    line += '\0';
    line += "b\r\n";
    Run r = dataTransaction(testConfig(), line + ".\r\n");
    CHECK(r.messages == std::vector<std::string>{line});
  }
}

TEST_CASE("command lines: 512 octets accepted, longer answered 500 5.5.2 once and not executed (RFC 5321 §4.5.3.1.4)") {
  const std::string ok = "NOOP " + std::string(505, 'x') + "\r\n";  // 512 octets with CRLF
  REQUIRE(ok.size() == 512);
  const std::string tooLong = "NOOP " + std::string(506, 'x') + "\r\n";
  Run r = runAllSplits(testConfig(), "EHLO c\r\n" + ok + tooLong);
  CHECK(r.out == kGreeting + kEhloReply + "250 2.0.0 Ok\r\n500 5.5.2 Line too long\r\n");

  // A 5000-octet MAIL line: one 500, and the MAIL was not executed (RCPT still needs MAIL).
  r = runAllSplits(testConfig(),
                   "EHLO c\r\nMAIL FROM:<a@example.com>" + std::string(5000, ' ') + "\r\nRCPT TO:<b@example.com>\r\n");
  CHECK(r.out == kGreeting + kEhloReply + "500 5.5.2 Line too long\r\n503 5.5.1 Need MAIL command\r\n");
  CHECK(r.log.size() == 1);
}

TEST_CASE("a NUL or bare CR inside a command line is refused (RFC 5321 §2.3.8, §4.1.1; spec 11.13)") {
  std::string input = "EHLO c\r\nNO";
  input += '\0';
  input += "OP\r\nRSET\rQUIT\r\nNOOP\n";
  Run r = runAllSplits(testConfig(), input);
  CHECK(r.out == kGreeting + kEhloReply +
                     "500 5.5.2 Invalid character in command\r\n500 5.5.2 Invalid character in command\r\n"
                     "250 2.0.0 Ok\r\n");
  CHECK_FALSE(r.closed);
}

TEST_CASE("refuse-EHLO mode: 500, HELO works, then no extension and no enhanced codes (RFC 5321 §3.2; spec 11.2)") {
  ServerConfig cfg = testConfig();
  cfg.refuseEhlo = true;
  const std::string input =
      "EHLO c\r\nHELO c\r\nMAIL FROM:<a@example.com> SIZE=10\r\nMAIL FROM:<a@example.com>\r\n"
      "RCPT TO:<b@example.com> NOTIFY=NEVER\r\nRCPT TO:<b@example.com>\r\nBDAT 4 LAST\r\nSTARTTLS\r\n"
      "AUTH PLAIN\r\nETRN example.org\r\nDATA\r\nx\r\n.\r\nQUIT\r\n";
  Run r = runAllSplits(cfg, input);
  CHECK(r.out == kGreeting +
                     "500 Command unrecognized\r\n250 mx.test\r\n555 Parameter of an extension not offered\r\n"
                     "250 Sender OK\r\n555 Parameter of an extension not offered\r\n250 Recipient OK\r\n"
                     "502 BDAT not available\r\n502 STARTTLS not available\r\n503 Send EHLO first\r\n"
                     "502 ETRN not available\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 Queued\r\n"
                     "221 mx.test closing connection\r\n");
  CHECK(r.messages == std::vector<std::string>{"x\r\n"});
  CHECK(r.log.front() == "HELO c");
}

TEST_CASE("enhanced status codes appear only after EHLO advertised them (RFC 2034 §3)") {
  Run r = runAllSplits(testConfig(), "MAIL FROM:<a@example.com>\r\nEHLO c\r\nRCPT TO:<b@example.com>\r\n");
  CHECK(r.out == kGreeting + "503 Send HELO/EHLO first\r\n" + kEhloReply + "503 5.5.1 Need MAIL command\r\n");
  ServerConfig cfg = testConfig();
  cfg.enhancedStatusCodes = false;
  r = runAllSplits(cfg, "EHLO c\r\nRCPT TO:<b@example.com>\r\n");
  CHECK(r.out.find("ENHANCEDSTATUSCODES") == std::string::npos);
  CHECK(r.out.ends_with("\r\n503 Need MAIL command\r\n"));
}

TEST_CASE("DATA with no RCPT is 503, with only rejected recipients 554 (RFC 5321 §3.3, §4.1.1.4; spec 11.5)") {
  Run r = runAllSplits(testConfig(), "EHLO c\r\nMAIL FROM:<a@example.com>\r\nDATA\r\nRCPT TO:<unknown@example.com>\r\n"
                                     "DATA\r\nRSET\r\n");
  CHECK(r.out == kGreeting + kEhloReply +
                     "250 2.1.0 Sender OK\r\n503 5.5.1 Need RCPT command\r\n550 5.1.1 No such user\r\n"
                     "554 5.5.1 No valid recipients\r\n250 2.0.0 Ok\r\n");
}
