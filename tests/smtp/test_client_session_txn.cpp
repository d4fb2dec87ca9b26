// test_client_session_txn.cpp: transaction transcript tests of the client session: pipelined groups, per-recipient
// outcomes, lone dot, RSET, too many recipients, 421 and connection loss inside a transaction (possible
// duplicates), deep pipelining across transactions with its window, reply oddities.
// Every server input is replayed at every split offset and one byte at a time (checkTranscript).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/smtp/client_session.hpp"
#include "tests/smtp/test_client_session_harness.hpp"

using namespace sluice::smtp;
using namespace sluice::smtp::test;

namespace {

const std::string kGreeting = "220 mx.example ESMTP\r\n";
const std::string kEhlo = "EHLO client.example\r\n";
const std::string kEhloBasic = "250-mx.example\r\n250 8BITMIME\r\n";
const std::string kEhloPipe = "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
const std::string kEhloChunk = "250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
const std::string kMail = "MAIL FROM:<sender@origin.example>\r\n";
const char kBody[] = "Subject: hi\r\n\r\nhello\r\n";
const std::string kBodyS(kBody);

// A config with our name and no STARTTLS.
ClientConfig baseConfig() {
  ClientConfig c;
  c.heloName = "client.example";
  c.tls = TlsPolicy::Never;
  return c;
}

// Rcpt line for recipient i of makeMessage().
std::string rcpt(std::size_t i) { return "RCPT TO:<r" + std::to_string(i) + "@rcpt.example>\r\n"; }

// MAIL plus RCPT lines for recipients [from, to).
std::string group(std::size_t from, std::size_t to) {
  std::string s = kMail;
  for (std::size_t i = from; i < to; ++i) s += rcpt(i);
  return s;
}

// "BDAT n LAST\r\n" + body.
std::string bdatLast(const std::string& body) { return "BDAT " + std::to_string(body.size()) + " LAST\r\n" + body; }

// Greeting and EHLO with the given capability reply.
std::vector<Step> open(const std::string& ehloReply) { return {S(kGreeting), C(kEhlo), S(ehloReply)}; }

// Appends steps to a script.
void add(Script& sc, std::vector<Step> more) { sc.steps.insert(sc.steps.end(), more.begin(), more.end()); }

}  // namespace

TEST_CASE("mixed 250 / 550 / 450 to RCPT -> delivered / bounced / retried (RFC 5321 §6.1, §4.2.1)") {
  Script sc;
  sc.config = baseConfig();
  sc.messages.push_back(makeMessage(1, 3, {kBody}));
  sc.steps = open(kEhloPipe);
  add(sc, {C(group(0, 3) + "DATA\r\n"),
           S("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n450 4.2.1 try later\r\n354 go\r\n"),
           C(kBodyS + ".\r\n"), S("250 2.0.0 queued\r\n"), nothing()});
  Played p =
      checkTranscript(sc, {"R m=1 i=1 P 550 5.1.1", "R m=1 i=2 T 450 4.2.1", "R m=1 i=0 D 250 2.0.0", "done m=1"});
  CHECK(p.stats.recipientsDelivered == 1);
  CHECK(p.stats.recipientsPermanent == 1);
  CHECK(p.stats.recipientsTemporary == 1);
}

TEST_CASE("without PIPELINING one command at a time (RFC 2920 §3.1, RFC 5321 §4.1.4)") {
  Script sc;
  sc.config = baseConfig();
  sc.messages.push_back(makeMessage(1, 2, {kBody}));
  sc.steps = open(kEhloBasic);
  add(sc, {C(kMail), S("250 ok\r\n"), C(rcpt(0)), S("550 5.1.1 no\r\n"), C(rcpt(1)), S("250 ok\r\n"), C("DATA\r\n"),
           S("354 go\r\n"), C(kBodyS + ".\r\n"), S("250 ok\r\n"), nothing()});
  checkTranscript(sc, {"R m=1 i=0 P 550 5.1.1", "R m=1 i=1 D 250", "done m=1"});
}

TEST_CASE("pipelined group where the peer closes after some replies: those stand, the rest 451 (RFC 2920 §3.1)") {
  Script sc;
  sc.config = baseConfig();
  sc.messages.push_back(makeMessage(1, 3, {kBody}));
  sc.steps = open(kEhloPipe);
  add(sc, {C(group(0, 3) + "DATA\r\n"), S("250 ok\r\n250 ok\r\n550 5.1.1 no\r\n"), peerClosed(), nothing()});
  checkTranscript(sc, {"R m=1 i=1 P 550 5.1.1", "R m=1 i=0 T 451 4.4.2 synth", "R m=1 i=2 T 451 4.4.2 synth",
                       "done m=1", "unusable 0", "closed abort"});
}

TEST_CASE("all RCPTs rejected while the pipelined DATA gets 354 -> lone dot, then RSET (RFC 2920 §3.1)") {
  Script sc;
  sc.config = baseConfig();
  sc.messages.push_back(makeMessage(1, 2, {kBody}));
  sc.steps = open(kEhloPipe);
  add(sc, {C(group(0, 2) + "DATA\r\n"), S("250 ok\r\n550 5.1.1 a\r\n551 5.1.6 b\r\n354 go\r\n"),
           C(".\r\n"),  // no content goes out
           S("554 5.5.1 no valid recipients\r\n"), C("RSET\r\n"), S("250 ok\r\n"), nothing()});
  checkTranscript(sc, {"R m=1 i=0 P 550 5.1.1", "R m=1 i=1 P 551 5.1.6", "done m=1"});
}

TEST_CASE("DATA rejected -> RSET; accepted recipients take the DATA reply's class (RFC 2920 §3.1)") {
  SUBCASE("all rejected, DATA 554") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 2, {kBody}));
    sc.steps = open(kEhloPipe);
    add(sc,
        {C(group(0, 2) + "DATA\r\n"), S("250 ok\r\n550 5.1.1 a\r\n550 5.1.1 b\r\n554 5.5.1 no valid recipients\r\n"),
         C("RSET\r\n"), S("250 ok\r\n"), nothing()});
    checkTranscript(sc, {"R m=1 i=0 P 550 5.1.1", "R m=1 i=1 P 550 5.1.1", "done m=1"});
  }
  SUBCASE("one accepted, DATA 451") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 2, {kBody}));
    sc.steps = open(kEhloPipe);
    add(sc, {C(group(0, 2) + "DATA\r\n"), S("250 ok\r\n250 ok\r\n550 5.1.1 b\r\n451 4.3.0 later\r\n"), C("RSET\r\n"),
             S("250 ok\r\n")});
    checkTranscript(sc, {"R m=1 i=1 P 550 5.1.1", "R m=1 i=0 T 451 4.3.0", "done m=1"});
  }
  SUBCASE("a 2xx instead of 354 delivers nothing: no content was sent") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 1, {kBody}));
    sc.steps = open(kEhloPipe);
    add(sc, {C(group(0, 1) + "DATA\r\n"), S("250 ok\r\n250 ok\r\n250 2.0.0 sure\r\n"), C("RSET\r\n"), S("250 ok\r\n")});
    checkTranscript(sc, {"R m=1 i=0 T 250 2.0.0", "done m=1"});
  }
  SUBCASE("without pipelining no DATA is sent when no recipient was accepted") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 1, {kBody}));
    sc.steps = open(kEhloBasic);
    add(sc, {C(kMail), S("250 ok\r\n"), C(rcpt(0)), S("550 5.1.1 no\r\n"), C("RSET\r\n"), S("250 ok\r\n")});
    checkTranscript(sc, {"R m=1 i=0 P 550 5.1.1", "done m=1"});
  }
}

TEST_CASE("MAIL rejected: every recipient shares its reply, RSET follows (RFC 5321 §4.1.1.2, §6.1)") {
  SUBCASE("5xx pipelined: the 503s to RCPT and DATA do not count") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 2, {kBody}));
    sc.steps = open(kEhloPipe);
    add(sc, {C(group(0, 2) + "DATA\r\n"),
             S("550 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n"),
             C("RSET\r\n"), S("250 ok\r\n")});
    checkTranscript(sc, {"R m=1 i=0 P 550 5.7.1", "R m=1 i=1 P 550 5.7.1", "done m=1"});
  }
  SUBCASE("4xx without pipelining") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 2, {kBody}));
    sc.steps = open(kEhloBasic);
    add(sc, {C(kMail), S("451 4.3.0 later\r\n"), C("RSET\r\n"), S("250 ok\r\n")});
    checkTranscript(sc, {"R m=1 i=0 T 451 4.3.0 na", "R m=1 i=1 T 451 4.3.0 na", "done m=1"});
  }
}

TEST_CASE("452 4.5.3 at the 101st RCPT: the rest deferred for a new transaction (RFC 5321 §4.5.3.1.10)") {
  const std::size_t n = 104;
  SUBCASE("without pipelining: no RCPT after the 452") {
    Script sc;
    sc.config = baseConfig();
    sc.config.maxRecipientsPerTransaction = 1000;
    sc.messages.push_back(makeMessage(1, n, {kBody}));
    sc.steps = open(kEhloBasic);
    add(sc, {C(kMail), S("250 ok\r\n")});
    for (std::size_t i = 0; i < 100; ++i) add(sc, {C(rcpt(i)), S("250 2.1.5 ok\r\n")});
    add(sc, {C(rcpt(100)), S("452 4.5.3 too many recipients\r\n"), C("DATA\r\n"), S("354 go\r\n"), C(kBodyS + ".\r\n"),
             S("250 2.0.0 ok\r\n")});
    std::vector<std::string> ev;
    ev.push_back("R m=1 i=100 T 452 4.5.3");
    for (std::size_t i = 101; i < n; ++i) ev.push_back("R m=1 i=" + std::to_string(i) + " T 452 4.5.3 na");
    for (std::size_t i = 0; i < 100; ++i) ev.push_back("R m=1 i=" + std::to_string(i) + " D 250 2.0.0");
    ev.push_back("done m=1");
    checkTranscript(sc, ev);
  }
  SUBCASE("pipelined: every RCPT has its own reply") {
    Script sc;
    sc.config = baseConfig();
    sc.config.maxRecipientsPerTransaction = 1000;
    sc.messages.push_back(makeMessage(1, n, {kBody}));
    sc.steps = open(kEhloPipe);
    std::string replies = "250 ok\r\n";
    for (std::size_t i = 0; i < n; ++i) replies += i < 100 ? "250 ok\r\n" : "452 4.5.3 too many\r\n";
    add(sc, {C(group(0, n) + "DATA\r\n"), S(replies + "354 go\r\n"), C(kBodyS + ".\r\n"), S("250 2.0.0 ok\r\n")});
    std::vector<std::string> ev;
    for (std::size_t i = 100; i < n; ++i) ev.push_back("R m=1 i=" + std::to_string(i) + " T 452 4.5.3");
    for (std::size_t i = 0; i < 100; ++i) ev.push_back("R m=1 i=" + std::to_string(i) + " D 250 2.0.0");
    ev.push_back("done m=1");
    checkTranscript(sc, ev);
  }
  SUBCASE("452 4.2.2 (mailbox full) is only that recipient's problem") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 2, {kBody}));
    sc.steps = open(kEhloBasic);
    add(sc, {C(kMail), S("250 ok\r\n"), C(rcpt(0)), S("452 4.2.2 mailbox full\r\n"), C(rcpt(1)), S("250 ok\r\n"),
             C("DATA\r\n")});
    checkTranscript(sc, {"R m=1 i=0 T 452 4.2.2"});
  }
  SUBCASE("552 to RCPT is temporary") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 2, {kBody}));
    sc.steps = open(kEhloBasic);
    add(sc, {C(kMail), S("250 ok\r\n"), C(rcpt(0)), S("250 ok\r\n"), C(rcpt(1)), S("552 too many recipients\r\n"),
             C("DATA\r\n")});
    checkTranscript(sc, {"R m=1 i=1 T 552"});
  }
}

TEST_CASE("maxRecipientsPerTransaction splits a message into transactions, one MessageDone (RFC 5321 §4.5.3.1.8)") {
  Script sc;
  sc.config = baseConfig();  // limit 100
  sc.messages.push_back(makeMessage(1, 103, {kBody}));
  sc.steps = open(kEhloChunk);
  std::string replies;
  for (std::size_t i = 0; i < 101; ++i) replies += "250 ok\r\n";
  replies += "250 2.0.0 first\r\n";
  for (std::size_t i = 0; i < 5; ++i) replies += "250 ok\r\n";  // RSET, MAIL, 3 RCPT
  replies += "250 2.0.0 second\r\n";
  // Deep pipelining: both transactions go out before any reply, the second behind an RSET (isolation).
  add(sc, {C(group(0, 100) + bdatLast(kBodyS) + "RSET\r\n" + group(100, 103) + bdatLast(kBodyS)), S(replies),
           nothing()});
  std::vector<std::string> ev;
  for (std::size_t i = 0; i < 103; ++i) ev.push_back("R m=1 i=" + std::to_string(i) + " D 250 2.0.0");
  ev.push_back("done m=1");
  Played p = checkTranscript(sc, ev);
  CHECK(p.stats.transactions == 2);
  CHECK(p.stats.messagesSent == 1);
}

TEST_CASE("421 after MAIL: close at once, every recipient deferred with the 421 (RFC 5321 §3.8)") {
  Script sc;
  sc.config = baseConfig();
  sc.messages.push_back(makeMessage(1, 2, {kBody}));
  sc.messages.push_back(makeMessage(2, 1, {kBody}));
  sc.steps = open(kEhloBasic);
  add(sc, {C(kMail), S("421 4.7.0 closing\r\n"), nothing()});
  checkTranscript(sc, {"R m=1 i=0 T 421 4.7.0 na", "R m=1 i=1 T 421 4.7.0 na", "R m=2 i=0 T 451 4.4.2 synth na",
                       "done m=1", "done m=2", "unusable 421", "closed abort"});
}

TEST_CASE("421 after 354 is the reply to the content: deferred, not a duplicate (RFC 5321 §3.8, §6.1)") {
  Script sc;
  sc.config = baseConfig();
  sc.messages.push_back(makeMessage(1, 1, {kBody}));
  sc.steps = open(kEhloPipe);
  add(sc, {C(group(0, 1) + "DATA\r\n"), S("250 ok\r\n250 ok\r\n354 go\r\n"), C(kBodyS + ".\r\n"),
           S("421 4.3.0 shutting down\r\n"), nothing()});
  checkTranscript(sc, {"R m=1 i=0 T 421 4.3.0", "done m=1", "unusable 421", "closed abort"});
}

TEST_CASE("connection lost after the final dot: deferred and flagged as a possible duplicate (RFC 5321 §6.1)") {
  SUBCASE("DATA") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 2, {kBody}));
    sc.steps = open(kEhloPipe);
    add(sc, {C(group(0, 2) + "DATA\r\n"), S("250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n"), C(kBodyS + ".\r\n"),
             peerClosed()});
    checkTranscript(
        sc, {"R m=1 i=1 P 550 5.1.1", "R m=1 i=0 T 451 4.4.2 dup synth", "done m=1", "unusable 0", "closed abort"});
  }
  SUBCASE("BDAT LAST") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 1, {kBody}));
    sc.steps = open(kEhloChunk);
    add(sc, {C(group(0, 1) + bdatLast(kBodyS)), S("250 ok\r\n250 ok\r\n"), peerClosed()});
    checkTranscript(sc, {"R m=1 i=0 T 451 4.4.2 dup synth", "done m=1", "unusable 0", "closed abort"});
  }
  SUBCASE("before the dot: not a duplicate") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 1, {kBody}));
    sc.steps = open(kEhloPipe);
    add(sc, {C(group(0, 1) + "DATA\r\n"), S("250 ok\r\n250 ok\r\n"), peerClosed()});
    checkTranscript(sc, {"R m=1 i=0 T 451 4.4.2 synth", "done m=1", "unusable 0", "closed abort"});
  }
}

TEST_CASE(
    "deep pipelining: three transactions written before the first reply, replies matched in order (RFC 2920, RFC "
    "3030)") {
  Script sc;
  sc.config = baseConfig();
  for (MessageHandle h = 1; h <= 3; ++h) sc.messages.push_back(makeMessage(h, 2, {kBody}));
  sc.steps = open(kEhloChunk);
  std::string t = group(0, 2) + bdatLast(kBodyS);
  // Each MAIL written behind an unanswered transaction is preceded by RSET (transaction isolation).
  add(sc, {C(t + "RSET\r\n" + t + "RSET\r\n" + t),
           S("250 ok\r\n250 ok\r\n550 5.1.1 no\r\n250 2.0.0 one\r\n250 ok\r\n"
             "250 ok\r\n450 4.2.0 later\r\n250 ok\r\n250 2.0.0 two\r\n250 ok\r\n"
             "250 ok\r\n250 ok\r\n250 ok\r\n451 4.3.0 three failed\r\n"),
           C("RSET\r\n"), S("250 ok\r\n"), nothing()});
  Played p = checkTranscript(
      sc, {"R m=1 i=1 P 550 5.1.1", "R m=1 i=0 D 250 2.0.0", "done m=1", "R m=2 i=0 T 450 4.2.0",
           "R m=2 i=1 D 250 2.0.0", "done m=2", "R m=3 i=0 T 451 4.3.0", "R m=3 i=1 T 451 4.3.0", "done m=3"});
  CHECK(p.stats.messagesSent == 2);
}

TEST_CASE("deep pipelining respects the window of transactions in flight (RFC 2920 §3.1, project policy)") {
  Script sc;
  sc.config = baseConfig();
  sc.config.maxInFlightTransactions = 2;
  for (MessageHandle h = 1; h <= 3; ++h) sc.messages.push_back(makeMessage(h, 1, {kBody}));
  sc.steps = open(kEhloChunk);
  std::string t = group(0, 1) + bdatLast(kBodyS);
  // The second and third MAIL are each written while an earlier transaction awaits replies: RSET before them.
  add(sc, {C(t + "RSET\r\n" + t), S("250 ok\r\n250 ok\r\n"), nothing(),  // the first transaction is still open
           S("250 2.0.0 one\r\n"), C("RSET\r\n" + t), S("250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 two\r\n"),
           nothing(), S("250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 three\r\n")});
  checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1", "R m=2 i=0 D 250 2.0.0", "done m=2",
                       "R m=3 i=0 D 250 2.0.0", "done m=3"});
}

TEST_CASE("pipelined DATA: the next transaction's MAIL follows the final dot, not the 354 (RFC 2920 §3.1)") {
  Script sc;
  sc.config = baseConfig();
  for (MessageHandle h = 1; h <= 2; ++h) sc.messages.push_back(makeMessage(h, 1, {kBody}));
  sc.steps = open(kEhloPipe);
  std::string g = group(0, 1) + "DATA\r\n";
  add(sc, {C(g), S("250 ok\r\n250 ok\r\n"), nothing(), S("354 go\r\n"), C(kBodyS + ".\r\n" + g),
           S("250 2.0.0 one\r\n250 ok\r\n250 ok\r\n354 go\r\n"), C(kBodyS + ".\r\n"), S("250 2.0.0 two\r\n")});
  checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1", "R m=2 i=0 D 250 2.0.0", "done m=2"});
}

TEST_CASE("BDAT rejected mid-pipeline: the announced chunk completes, no further BDAT, RSET (RFC 3030 §2, §4)") {
  SUBCASE("stop before the next chunk") {
    Script sc;
    sc.config = baseConfig();
    sc.config.bdatChunkSize = 4;
    sc.config.maxUnackedBdatBytes = 4;  // the next chunk waits for the previous write's completion
    sc.autoAck = false;
    sc.messages.push_back(makeMessage(1, 1, {"abcdefghijkl"}));
    sc.steps = open(kEhloChunk);
    add(sc, {C(group(0, 1) + "BDAT 4\r\nabcd"), S("250 ok\r\n250 ok\r\n"), nothing(),
             S("552 5.3.4 message too big\r\n"), C("RSET\r\n"), ack(), nothing(), S("250 ok\r\n"), nothing()});
    // MessageDone only once the write pointing into the body has completed.
    checkTranscript(sc, {"R m=1 i=0 P 552 5.3.4", "done m=1"});
  }
  SUBCASE("chunks already in flight are answered and ignored") {
    Script sc;
    sc.config = baseConfig();
    sc.config.bdatChunkSize = 4;
    sc.messages.push_back(makeMessage(1, 1, {"abcdefghijkl"}));
    sc.steps = open(kEhloChunk);
    add(sc, {C(group(0, 1) + "BDAT 4\r\nabcdBDAT 4\r\nefghBDAT 4 LAST\r\nijkl"),
             S("250 ok\r\n250 ok\r\n554 5.6.0 bad content\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n"), C("RSET\r\n"),
             S("250 ok\r\n")});
    checkTranscript(sc, {"R m=1 i=0 P 554 5.6.0", "done m=1"});
  }
  SUBCASE("all RCPTs failed: the BDAT 554 ends the message; the next transaction's failures turn temporary") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 1, {kBody}));
    sc.messages.push_back(makeMessage(2, 1, {kBody}));
    sc.steps = open(kEhloChunk);
    std::string t = group(0, 1) + bdatLast(kBodyS);
    // The second MAIL now goes behind an RSET; a peer that still answers it with 503 (the safety net) makes the
    // second message's failure temporary, and it gets its own RSET.
    add(sc, {C(t + "RSET\r\n" + t), S("250 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n"), nothing(),
             S("250 ok\r\n503 5.5.1 nested MAIL\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n"), C("RSET\r\n"),
             S("250 ok\r\n"), nothing()});
    checkTranscript(sc, {"R m=1 i=0 P 550 5.1.1", "done m=1", "R m=2 i=0 T 503 5.5.1", "done m=2"});
  }
}

TEST_CASE("BDAT without PIPELINING waits for each chunk's reply; chunk boundary between CR and LF (RFC 3030 §2)") {
  Script sc;
  sc.config = baseConfig();
  sc.config.bdatChunkSize = 3;
  sc.messages.push_back(makeMessage(1, 1, {"ab\r\ncd\r\n"}));
  sc.steps = open("250-mx.example\r\n250 CHUNKING\r\n");
  add(sc, {C(kMail), S("250 ok\r\n"), C(rcpt(0)), S("250 ok\r\n"), C("BDAT 3\r\nab\r"), S("250 ok\r\n"),
           C("BDAT 3\r\n\ncd"), S("250 ok\r\n"), C("BDAT 2 LAST\r\n\r\n"), S("250 2.0.0 done\r\n")});
  checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1"});
}

TEST_CASE("BDAT 0 LAST for an empty body (RFC 3030 §2)") {
  Script sc;
  sc.config = baseConfig();
  sc.messages.push_back(makeMessage(1, 1, {}));
  sc.steps = open(kEhloChunk);
  add(sc, {C(group(0, 1) + "BDAT 0 LAST\r\n"), S("250 ok\r\n250 ok\r\n250 2.0.0 empty\r\n")});
  checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1"});
}

TEST_CASE("BDAT with no accepted recipient and no PIPELINING: the body is never sent, RSET (RFC 3030 §2)") {
  Script sc;
  sc.config = baseConfig();
  sc.messages.push_back(makeMessage(1, 1, {kBody}));
  sc.steps = open("250-mx.example\r\n250 CHUNKING\r\n");
  add(sc, {C(kMail), S("250 ok\r\n"), C(rcpt(0)), S("550 5.1.1 no\r\n"), C("RSET\r\n"), S("250 ok\r\n")});
  checkTranscript(sc, {"R m=1 i=0 P 550 5.1.1", "done m=1"});
}

TEST_CASE("reply oddities: class mismatch, 4.7.650, bare 250, long lines, code 600 (RFC 5321 §4.2, RFC 3463)") {
  SUBCASE("550 4.2.2 is recorded as 5.0.0; 4.7.650 is valid; bare 250 is fine") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 3, {kBody}));
    sc.steps = open(kEhloPipe);
    const std::string longText(600, 'x');
    add(sc, {C(group(0, 3) + "DATA\r\n"),
             S("250\r\n550 4.2.2 mailbox full\r\n450 4.7.650 rate limited\r\n250-" + longText + "\r\n250 ok\r\n" +
               "354 \xff\xfe go\r\n"),
             C(kBodyS + ".\r\n"), S("250\r\n")});
    checkTranscript(sc, {"R m=1 i=0 P 550 5.0.0", "R m=1 i=1 T 450 4.7.650", "R m=1 i=2 D 250", "done m=1"});
  }
  SUBCASE("code 600 to RCPT ends the transaction: nothing lost, lone dot, RSET") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 2, {kBody}));
    sc.steps = open(kEhloPipe);
    add(sc, {C(group(0, 2) + "DATA\r\n"), S("250 ok\r\n600 what\r\n250 ok\r\n354 go\r\n"), C(".\r\n"), S("250 ok\r\n"),
             C("RSET\r\n"), S("250 ok\r\n")});
    checkTranscript(sc, {"R m=1 i=0 T 600", "R m=1 i=1 T 600", "done m=1"});
  }
  SUBCASE("code 600 without pipelining") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 2, {kBody}));
    sc.steps = open(kEhloBasic);
    add(sc, {C(kMail), S("250 ok\r\n"), C(rcpt(0)), S("600 what\r\n"), C("RSET\r\n"), S("250 ok\r\n")});
    checkTranscript(sc, {"R m=1 i=0 T 600", "R m=1 i=1 T 600 na", "done m=1"});
  }
  SUBCASE("RSET refused: the connection is not reused") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 1, {kBody}));
    sc.steps = open(kEhloBasic);
    add(sc, {C(kMail), S("550 5.7.1 no\r\n"), C("RSET\r\n"), S("500 what\r\n"), C("QUIT\r\n"), S("221 bye\r\n")});
    checkTranscript(sc, {"R m=1 i=0 P 550 5.7.1 na", "done m=1", "unusable 500", "closed graceful"});
  }
}

TEST_CASE("SIZE= and BODY= are sent when advertised, never otherwise (RFC 1870 §6, RFC 6152 §2)") {
  Script sc;
  sc.config = baseConfig();
  OutboundMessage m = makeMessage(1, 1, {kBody});
  m.params.size = sizeof(kBody) - 1;
  m.params.body = BodyType::EightBitMime;
  sc.messages.push_back(m);
  sc.steps = open("250-mx.example\r\n250-SIZE 1000\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  add(sc, {C("MAIL FROM:<sender@origin.example> SIZE=22 BODY=8BITMIME\r\n" + rcpt(0) + "DATA\r\n")});
  checkTranscript(sc, {});
}

TEST_CASE("BODY=BINARYMIME only on the BDAT path to a BINARYMIME peer, never in front of DATA (RFC 3030 §3)") {
  OutboundMessage m = makeMessage(1, 1, {kBody});
  m.params.body = BodyType::BinaryMime;
  const std::string ehlo = "250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 BINARYMIME\r\n";
  SUBCASE("BDAT in use: the parameter is sent") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(m);
    sc.steps = open(ehlo);
    add(sc, {C("MAIL FROM:<sender@origin.example> BODY=BINARYMIME\r\n" + rcpt(0) + "BDAT 22 LAST\r\n" + kBody)});
    checkTranscript(sc, {});
  }
  SUBCASE("useChunking off: binary content cannot go by DATA, so it is refused with 554 5.6.3 and nothing is "
          "written, although the peer offers BINARYMIME") {
    Script sc;
    sc.config = baseConfig();
    sc.config.useChunking = false;
    sc.messages.push_back(m);
    sc.steps = open(ehlo);
    checkTranscript(sc, {"R m=1 i=0 P 554 5.6.3 synth na", "done m=1"});
  }
  SUBCASE("the peer lacks BINARYMIME: refused with 554 5.6.3, nothing written") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(m);
    sc.steps = open("250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
    checkTranscript(sc, {"R m=1 i=0 P 554 5.6.3 synth na", "done m=1"});
  }
}
