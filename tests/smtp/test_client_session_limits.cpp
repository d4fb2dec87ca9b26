// test_client_session_limits.cpp: transcript tests of the client session for the peer's SIZE limit (RFC 1870 §6:
// an oversized message is never sent) and for transaction isolation under deep pipelining (RFC 2920 §3.1, RFC 3030
// §2, §4: an RSET in front of every MAIL written while an earlier transaction still awaits replies).
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
const std::string kMail = "MAIL FROM:<sender@origin.example>\r\n";
const std::string kBody = "Subject: hi\r\n\r\nhello\r\n";  // 22 octets
const std::string kSizeReply = "552 5.3.4";

// A config with our name and no STARTTLS.
ClientConfig baseConfig() {
  ClientConfig c;
  c.heloName = "client.example";
  c.tls = TlsPolicy::Never;
  return c;
}

// An EHLO reply with PIPELINING and CHUNKING and the given SIZE line ("" for none).
std::string ehloChunk(const std::string& size) {
  return "250-mx.example\r\n" + (size.empty() ? std::string() : "250-" + size + "\r\n") +
         "250-PIPELINING\r\n250 CHUNKING\r\n";
}

// Rcpt line for recipient i of makeMessage().
std::string rcpt(std::size_t i) { return "RCPT TO:<r" + std::to_string(i) + "@rcpt.example>\r\n"; }

// One single-recipient BDAT transaction: MAIL, RCPT r0, "BDAT n LAST" and the body.
std::string bdatTxn(const std::string& mail = kMail) {
  return mail + rcpt(0) + "BDAT " + std::to_string(kBody.size()) + " LAST\r\n" + kBody;
}

// Greeting and EHLO with the given capability reply.
std::vector<Step> open(const std::string& ehloReply) { return {S(kGreeting), C(kEhlo), S(ehloReply)}; }

// Appends steps to a script.
void add(Script& sc, std::vector<Step> more) { sc.steps.insert(sc.steps.end(), more.begin(), more.end()); }

}  // namespace

TEST_CASE("SIZE: a message exactly at the peer's limit is sent (RFC 1870 §6)") {
  SUBCASE("declared size") {
    Script sc;
    sc.config = baseConfig();
    OutboundMessage m = makeMessage(1, 1, {kBody});
    m.params.size = 22;
    sc.messages.push_back(m);
    sc.steps = open(ehloChunk("SIZE 22"));
    add(sc, {C(bdatTxn("MAIL FROM:<sender@origin.example> SIZE=22\r\n")),
             S("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n"), nothing()});
    checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1"});
  }
  SUBCASE("undeclared: the body span total counts") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 1, {"Subject: hi\r\n", "\r\nhello\r\n"}));  // 22 octets in two spans
    sc.steps = open(ehloChunk("SIZE 22"));
    add(sc, {C(bdatTxn()), S("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n"), nothing()});
    checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1"});
  }
}

TEST_CASE("SIZE: one octet over the peer's limit is never sent: 552 5.3.4 for every recipient, next message goes "
          "(RFC 1870 §6, ESMTP rules §5)") {
  SUBCASE("declared size over the limit, body within it") {
    Script sc;
    sc.config = baseConfig();
    OutboundMessage big = makeMessage(1, 3, {kBody});
    big.params.size = 23;
    sc.messages.push_back(big);
    sc.messages.push_back(makeMessage(2, 1, {kBody}));
    sc.steps = open(ehloChunk("SIZE 22"));
    // No MAIL, RCPT or body octet of message 1 on the wire: message 2 is the first transaction.
    add(sc, {C(bdatTxn()), S("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n"), nothing()});
    Played p = checkTranscript(sc, {"R m=1 i=0 P 552 5.3.4 synth na", "R m=1 i=1 P 552 5.3.4 synth na",
                                    "R m=1 i=2 P 552 5.3.4 synth na", "done m=1", "R m=2 i=0 D 250 2.0.0",
                                    "done m=2"});
    CHECK(p.stats.transactions == 1);
    CHECK(p.stats.recipientsPermanent == 3);
    CHECK(p.stats.messagesCompleted == 2);
    CHECK(p.stats.messagesSent == 1);
    CHECK(p.wire.find("SIZE=23") == std::string::npos);
  }
  SUBCASE("undeclared: the body span total is one over") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 1, {kBody}));
    sc.steps = open(ehloChunk("SIZE 21"));
    add(sc, {nothing(), quitStep(), C("QUIT\r\n"), S("221 bye\r\n")});
    checkTranscript(sc, {"R m=1 i=0 P 552 5.3.4 synth na", "done m=1", "closed graceful"});
  }
  SUBCASE("declared size under the limit but the body over it") {
    Script sc;
    sc.config = baseConfig();
    OutboundMessage m = makeMessage(1, 1, {kBody});
    m.params.size = 10;
    sc.messages.push_back(m);
    sc.steps = open(ehloChunk("SIZE 21"));
    add(sc, {nothing()});
    checkTranscript(sc, {"R m=1 i=0 P 552 5.3.4 synth na", "done m=1"});
  }
  SUBCASE("the synthesized reply text") {
    ClientSession s(baseConfig());
    s.submit(makeMessage(7, 1, {kBody}));
    s.onConnected();
    s.onBytes(kGreeting);
    while (s.takeWrite()) s.onWritten();
    s.onBytes(ehloChunk("SIZE 5"));
    while (s.takeWrite()) s.onWritten();
    auto e = s.nextEvent();
    REQUIRE(e.has_value());
    auto* r = std::get_if<RecipientResult>(&*e);
    REQUIRE(r != nullptr);
    CHECK(r->message == 7);
    CHECK(r->outcome == Outcome::PermanentFailure);
    CHECK(r->reply.firstLine() == "552 5.3.4 Message size exceeds fixed maximum message size of the peer");
    CHECK(r->synthesized);
    CHECK_FALSE(r->attempted);
    CHECK_FALSE(r->possibleDuplicate);
    auto d = s.nextEvent();
    REQUIRE(d.has_value());
    CHECK(std::holds_alternative<MessageDone>(*d));
    CHECK(s.idle());
  }
}

TEST_CASE("SIZE 0, bare SIZE and HELO mean no limit: a large message is sent (RFC 1870 §4, RFC 5321 §3.2)") {
  const std::string large(4096, 'x');
  const std::string largeBody = "Subject: big\r\n\r\n" + large + "\r\n";
  for (const std::string size : {"SIZE 0", "SIZE"}) {
    CAPTURE(size);
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 1, {largeBody}));
    sc.steps = open(ehloChunk(size));
    add(sc, {C(kMail + rcpt(0) + "BDAT " + std::to_string(largeBody.size()) + " LAST\r\n" + largeBody),
             S("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n")});
    checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1"});
  }
  SUBCASE("after the HELO fallback no SIZE check (no extension at all)") {
    Script sc;
    sc.config = baseConfig();
    OutboundMessage m = makeMessage(1, 1, {kBody});
    m.params.size = 1 << 30;
    sc.messages.push_back(m);
    sc.steps = {S(kGreeting), C(kEhlo), S("502 5.5.1 no EHLO here\r\n"), C("HELO client.example\r\n"),
                S("250 mx.example\r\n"), C(kMail), S("250 ok\r\n"), C(rcpt(0)), S("250 ok\r\n"), C("DATA\r\n"),
                S("354 go\r\n"), C(kBody + ".\r\n"), S("250 2.0.0 queued\r\n"), nothing()};
    checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1"});
  }
}

TEST_CASE("deep pipelining: RSET before every MAIL written behind an unanswered transaction isolates a failed one "
          "(RFC 2920 §3.1, RFC 3030 §2, §4)") {
  Script sc;
  sc.config = baseConfig();
  for (MessageHandle h = 1; h <= 3; ++h) sc.messages.push_back(makeMessage(h, 1, {kBody}));
  sc.steps = open(ehloChunk(""));
  // The middle recipient is refused; its BDAT LAST gets 554 and the peer keeps that transaction open (as Postfix
  // does), which the RSET in front of the third MAIL clears.
  add(sc, {C(bdatTxn() + "RSET\r\n" + bdatTxn() + "RSET\r\n" + bdatTxn()),
           S("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 one\r\n250 2.0.0 reset\r\n"
             "250 2.1.0 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n250 2.0.0 reset\r\n"
             "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 three\r\n"),
           nothing(), quitStep(), C("QUIT\r\n"), S("221 bye\r\n")});
  Played p = checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1", "R m=2 i=0 P 550 5.1.1", "done m=2",
                                  "R m=3 i=0 D 250 2.0.0", "done m=3", "closed graceful"});
  CHECK(p.stats.recipientsDelivered == 2);
  CHECK(p.stats.recipientsPermanent == 1);
  CHECK(p.stats.recipientsTemporary == 0);
  CHECK(p.stats.transactions == 3);
}

TEST_CASE("deep pipelining: a refused RSET makes the connection unusable, everything unanswered temporary "
          "(RFC 5321 §4.1.1.5)") {
  Script sc;
  sc.config = baseConfig();
  for (MessageHandle h = 1; h <= 2; ++h) sc.messages.push_back(makeMessage(h, 1, {kBody}));
  sc.steps = open(ehloChunk(""));
  add(sc, {C(bdatTxn() + "RSET\r\n" + bdatTxn()),
           S("250 ok\r\n250 ok\r\n250 2.0.0 one\r\n500 5.5.1 what\r\n"), C("QUIT\r\n"), S("221 bye\r\n")});
  checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1", "R m=2 i=0 T 451 4.4.2 synth", "done m=2",
                       "unusable 500", "closed graceful"});
}

TEST_CASE("no extra RSET when the previous transaction has completed, nor on the DATA path (RFC 5321 §4.1.1.4)") {
  SUBCASE("BDAT, window of one: each MAIL follows a completed transaction") {
    Script sc;
    sc.config = baseConfig();
    sc.config.maxInFlightTransactions = 1;
    for (MessageHandle h = 1; h <= 2; ++h) sc.messages.push_back(makeMessage(h, 1, {kBody}));
    sc.steps = open(ehloChunk(""));
    add(sc, {C(bdatTxn()), S("250 ok\r\n250 ok\r\n250 2.0.0 one\r\n"), C(bdatTxn()),
             S("250 ok\r\n250 ok\r\n250 2.0.0 two\r\n"), nothing()});
    checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1", "R m=2 i=0 D 250 2.0.0", "done m=2"});
  }
  SUBCASE("BDAT, a message submitted once the session is idle") {
    Script sc;
    sc.config = baseConfig();
    sc.messages.push_back(makeMessage(1, 1, {kBody}));
    sc.extra.push_back(makeMessage(2, 1, {kBody}));
    sc.steps = open(ehloChunk(""));
    add(sc, {C(bdatTxn()), S("250 ok\r\n250 ok\r\n250 2.0.0 one\r\n"), nothing(), submitStep(0), C(bdatTxn()),
             S("250 ok\r\n250 ok\r\n250 2.0.0 two\r\n"), nothing()});
    checkTranscript(sc, {"R m=1 i=0 D 250 2.0.0", "done m=1", "R m=2 i=0 D 250 2.0.0", "done m=2"});
  }
  SUBCASE("pipelined DATA: the final dot closes the peer's transaction, the next MAIL follows it directly") {
    Script sc;
    sc.config = baseConfig();
    for (MessageHandle h = 1; h <= 2; ++h) sc.messages.push_back(makeMessage(h, 1, {kBody}));
    sc.steps = open("250-mx.example\r\n250 PIPELINING\r\n");
    const std::string g = kMail + rcpt(0) + "DATA\r\n";
    // The RSET after the failed first transaction waits for the next command boundary: after the second dot.
    add(sc, {C(g), S("250 ok\r\n250 ok\r\n354 go\r\n"), C(kBody + ".\r\n" + g),
             S("554 5.7.1 content refused\r\n250 ok\r\n250 ok\r\n354 go\r\n"), C(kBody + ".\r\nRSET\r\n"),
             S("250 2.0.0 two\r\n250 ok\r\n"), nothing()});
    checkTranscript(sc, {"R m=1 i=0 P 554 5.7.1", "done m=1", "R m=2 i=0 D 250 2.0.0", "done m=2"});
  }
}
