// test_server_session_bdat.cpp: server session transcripts for CHUNKING/BDAT and BINARYMIME (RFC 3030) and SIZE
// (RFC 1870), each replayed at every split offset. Rejected chunks must be consumed, never executed.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "server_session_harness.hpp"

using namespace sluice::test;

namespace {

const std::string kEhloMailRcpt = "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n";
const std::string kOk2 = "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n";

}  // namespace

TEST_CASE("BDAT chunks: one reply per chunk, BDAT 0, raw octets, BODY=BINARYMIME (RFC 3030 §2, §3; spec 11.10)") {
  Run r = runAllSplits(testConfig(),
                       "EHLO c\r\nMAIL FROM:<a@example.com> BODY=BINARYMIME\r\nRCPT TO:<b@example.com>\r\n"
                       "BDAT 6\r\nhe.lo\rBDAT 0\r\nBDAT 4 LAST\r\n\n.\r\nQUIT\r\n");
  CHECK(r.out == kGreeting + kEhloReply + kOk2 +
                     "250 2.0.0 6 octets received\r\n250 2.0.0 0 octets received\r\n250 2.0.0 Queued\r\n"
                     "221 2.0.0 mx.test closing connection\r\n");
  CHECK(r.messages == std::vector<std::string>{"he.lo\r\n.\r\n"});
  CHECK(r.log[1] == "MAIL <a@example.com> body=3");
  CHECK(r.log.back() == "END 10 bdat");
}

TEST_CASE("BDAT 0 LAST ends an empty message; chunk boundary between CR and LF (RFC 3030 §2; spec 11.10)") {
  Run r = runAllSplits(testConfig(), kEhloMailRcpt + "BDAT 0 LAST\r\n");
  CHECK(r.out == kGreeting + kEhloReply + kOk2 + "250 2.0.0 Queued\r\n");
  CHECK(r.messages == std::vector<std::string>{""});

  r = runAllSplits(testConfig(), kEhloMailRcpt + "BDAT 3\r\nab\rBDAT 3 last\r\n\ncdNOOP\r\n");
  CHECK(r.out == kGreeting + kEhloReply + kOk2 + "250 2.0.0 3 octets received\r\n250 2.0.0 Queued\r\n250 2.0.0 Ok\r\n");
  CHECK(r.messages == std::vector<std::string>{"ab\r\ncd"});
}

TEST_CASE("DATA after BDAT in one transaction is 503 (RFC 3030 §2; spec 11.10)") {
  Run r = runAllSplits(testConfig(), kEhloMailRcpt + "BDAT 2\r\nabDATA\r\nBDAT 1 LAST\r\nc");
  CHECK(r.out == kGreeting + kEhloReply + kOk2 +
                     "250 2.0.0 2 octets received\r\n503 5.5.1 DATA not allowed after BDAT\r\n250 2.0.0 Queued\r\n");
  CHECK(r.messages == std::vector<std::string>{"abc"});
}

TEST_CASE("a rejected BDAT chunk is consumed and never executed (RFC 3030 §2; spec 11.9)") {
  SUBCASE("no MAIL") {
    Run r = runAllSplits(testConfig(), "EHLO c\r\nBDAT 12\r\nRSET\r\nQUIT\r\nNOOP\r\n");
    CHECK(r.out == kGreeting + kEhloReply + "503 5.5.1 Need MAIL command\r\n250 2.0.0 Ok\r\n");
    CHECK_FALSE(r.closed);
  }
  SUBCASE("no accepted recipient, pipelined behind MAIL and RCPT") {
    Run r = runAllSplits(testConfig(), "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<unknown@example.com>\r\n"
                                       "BDAT 12 LAST\r\nRSET\r\nQUIT\r\nNOOP\r\n");
    CHECK(r.out == kGreeting + kEhloReply +
                       "250 2.1.0 Sender OK\r\n550 5.1.1 No such user\r\n554 5.5.1 No valid recipients\r\n"
                       "250 2.0.0 Ok\r\n");
    CHECK_FALSE(r.closed);
    CHECK(r.messages.empty());
  }
  SUBCASE("no RCPT command yet") {
    Run r = runAllSplits(testConfig(), "EHLO c\r\nMAIL FROM:<a@example.com>\r\nBDAT 6 LAST\r\nQUIT\r\nDATA\r\n");
    CHECK(r.out == kGreeting + kEhloReply +
                       "250 2.1.0 Sender OK\r\n503 5.5.1 Need RCPT command\r\n503 5.5.1 Need RCPT command\r\n");
    CHECK_FALSE(r.closed);
  }
  SUBCASE("malformed arguments after a readable size") {
    Run r = runAllSplits(testConfig(), kEhloMailRcpt + "BDAT 12 SOON\r\nRSET\r\nQUIT\r\nNOOP\r\n");
    CHECK(r.out == kGreeting + kEhloReply + kOk2 + "501 5.5.4 Syntax: BDAT size [LAST]\r\n250 2.0.0 Ok\r\n");
    CHECK_FALSE(r.closed);
  }
  SUBCASE("no size at all: the line alone is an error") {
    Run r = runAllSplits(testConfig(), kEhloMailRcpt + "BDAT LAST\r\nNOOP\r\n");
    CHECK(r.out == kGreeting + kEhloReply + kOk2 + "501 5.5.4 Syntax: BDAT size [LAST]\r\n250 2.0.0 Ok\r\n");
  }
}

TEST_CASE("BDAT when CHUNKING is not offered is a command line only: 502 (RFC 3030 §2, RFC 5321 §4.1.1.3)") {
  // Documented choice: a client that was not offered CHUNKING cannot rely on chunk framing, so the line gets 502
  // and what follows is read as commands.
  ServerConfig cfg = testConfig();
  cfg.chunking = false;
  Run r = runAllSplits(cfg, kEhloMailRcpt + "BDAT 6 LAST\r\nNOOP\r\n");
  CHECK(r.out.find("CHUNKING") == std::string::npos);
  CHECK(r.out.find("BINARYMIME") == std::string::npos);
  CHECK(r.out.ends_with(kOk2 + "502 5.5.1 BDAT not available\r\n250 2.0.0 Ok\r\n"));
}

TEST_CASE("RSET discards the chunks received so far (RFC 3030 §2)") {
  Run r = runAllSplits(testConfig(), kEhloMailRcpt + "BDAT 3\r\nabcRSET\r\n" + "MAIL FROM:<a@example.com>\r\n" +
                                         "RCPT TO:<b@example.com>\r\nBDAT 2 LAST\r\nde");
  CHECK(r.out == kGreeting + kEhloReply + kOk2 + "250 2.0.0 3 octets received\r\n250 2.0.0 Ok\r\n" + kOk2 +
                     "250 2.0.0 Queued\r\n");
  CHECK(r.messages == std::vector<std::string>{"de"});
  CHECK(std::find(r.log.begin(), r.log.end(), "ABORT") != r.log.end());
}

TEST_CASE("BODY=BINARYMIME needs BDAT: DATA is 503 (RFC 3030 §3)") {
  Run r = runAllSplits(testConfig(),
                       "EHLO c\r\nMAIL FROM:<a@example.com> BODY=BINARYMIME\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
  CHECK(r.out.ends_with(kOk2 + "503 5.5.1 BODY=BINARYMIME requires BDAT\r\n"));
}

TEST_CASE("SIZE: declared size over the limit is 552 5.3.4 at MAIL, at the limit accepted (RFC 1870 §6.1; spec 15)") {
  Run r = runAllSplits(testConfig(), "EHLO c\r\nMAIL FROM:<a@example.com> SIZE=100001\r\n"
                                     "MAIL FROM:<a@example.com> SIZE=100000\r\n");
  CHECK(r.out == kGreeting + kEhloReply +
                     "552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.1.0 Sender OK\r\n");
  CHECK(r.log.back() == "MAIL <a@example.com> size=100000");
}

TEST_CASE("SIZE: the real size is enforced during DATA (RFC 1870 §6.3; spec 15)") {
  ServerConfig cfg = testConfig();
  cfg.limits.maxMessageSize = 100;
  const std::string line = std::string(48, 'a') + "\r\n";  // 50 octets
  SUBCASE("exactly at the limit") {
    Run r = runAllSplits(cfg, kEhloMailRcpt + "DATA\r\n" + line + line + ".\r\n");
    CHECK(r.messages == std::vector<std::string>{line + line});
  }
  SUBCASE("one octet over: content read to the end, 552, nothing executed") {
    Run r = runAllSplits(cfg, kEhloMailRcpt + "DATA\r\n" + line + "QUIT\r\n" + line + "x\r\n.\r\nNOOP\r\n");
    CHECK(r.out.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"
                          "552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 Ok\r\n"));
    CHECK(r.messages.empty());
    CHECK(r.log.back() == "ABORT");
    CHECK_FALSE(r.closed);
  }
}

TEST_CASE("SIZE: the real size is enforced per BDAT chunk; the transaction then fails (RFC 3030 §2, RFC 1870)") {
  ServerConfig cfg = testConfig();
  cfg.limits.maxMessageSize = 10;
  Run r = runAllSplits(cfg, kEhloMailRcpt + "BDAT 6\r\nabcdefBDAT 6 LAST\r\nQUIT\r\nBDAT 4 LAST\r\nRSETNOOP\r\n");
  CHECK(r.out.ends_with(kOk2 +
                     "250 2.0.0 6 octets received\r\n552 5.3.4 Message size exceeds fixed maximum message size\r\n"
                     "503 5.5.1 Need MAIL command\r\n250 2.0.0 Ok\r\n"));
  CHECK(r.messages.empty());
  CHECK_FALSE(r.closed);
}
