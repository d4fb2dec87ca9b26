// test_client_postfix.cpp: ClientSession against a private Postfix instance on loopback: deep-pipelined BDAT
// (RFC 3030 + RFC 2920), the DATA path with dot-stuffing when CHUNKING is not offered, one command at a time
// without PIPELINING, and per-recipient outcomes against Postfix's own recipient restrictions. Delivered Maildir
// files are compared byte for byte with what was sent (Postfix stores LF line endings).
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/interop/bodies.hpp"
#include "tests/interop/driver.hpp"
#include "tests/interop/peers.hpp"

using namespace sluice::smtp;
using namespace sluice::interop;

namespace {

// Maps each Maildir delivery to its recipient.
std::map<std::string, PostfixDelivery> byRecipient(const std::vector<PostfixDelivery>& ds) {
  std::map<std::string, PostfixDelivery> m;
  for (const auto& d : ds) m[d.deliveredTo] = d;
  return m;
}

// The five messages of the delivery tests, each to its own recipient: 8-bit, dots, tiny, large, empty.
struct Batch {
  std::string large = largeBody(250);
  std::vector<std::string> bodies{kUtf8Body, kDotBody, kTinyBody, large, ""};
  // The messages, m<i>@dest.test for body i.
  std::vector<OutboundMessage> messages() const {
    std::vector<OutboundMessage> ms;
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      ms.push_back(message(i + 1, {"m" + std::to_string(i + 1) + "@dest.test"}, bodies[i],
                           i == 0 ? BodyType::EightBitMime : BodyType::Unspecified));
    }
    return ms;
  }
};

// Checks the results of a batch run: all delivered with 250, one MessageDone each, graceful close after 221.
void checkAllDelivered(const ClientRun& run, const WireLog& log, std::size_t n) {
  INFO(log.dump);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.unusable.empty());
  CHECK(run.closed);
  CHECK(run.graceful);
  REQUIRE(run.results.size() == n);
  for (const auto& r : run.results) {
    CHECK(r.outcome == Outcome::Delivered);
    CHECK(r.reply.code == 250);
    CHECK_FALSE(r.synthesized);
  }
  CHECK(run.done.size() == n);
  CHECK(run.stats.recipientsDelivered == n);
  CHECK_FALSE(log.malformed);
  REQUIRE_FALSE(log.replies.empty());
  CHECK(log.replies.back() == 221);  // QUIT answered (RFC 5321 §4.1.1.10)
}

// Checks that each Maildir copy equals the body sent to its recipient (CRLF -> LF) after Postfix's trace lines.
void checkMaildir(const PostfixPeer& pf, const Batch& b) {
  const auto got = byRecipient(pf.waitDeliveries(b.bodies.size(), Millis(10000)));
  REQUIRE(got.size() == b.bodies.size());
  for (std::size_t i = 0; i < b.bodies.size(); ++i) {
    const std::string rcpt = "m" + std::to_string(i + 1) + "@dest.test";
    INFO("recipient " << rcpt);
    REQUIRE(got.count(rcpt) == 1);
    const PostfixDelivery& d = got.at(rcpt);
    CHECK(d.returnPath == "<sender@origin.test>");
    CHECK(d.received.find("from client.sluice.test") != std::string::npos);  // our EHLO name
    CHECK(d.message == crlfToLf(b.bodies[i]));
  }
}

}  // namespace

TEST_CASE("Postfix with CHUNKING: five messages deep-pipelined with BDAT, delivered byte for byte (RFC 3030 §2-4, "
          "RFC 2920 §3.1, RFC 6152 §3)") {
  PostfixPeer pf;
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  Batch b;
  ClientConfig cfg = clientConfig();
  cfg.bdatChunkSize = 64 * 1024;  // the large body goes in 4 chunks (3 without LAST)
  // A small send buffer makes writev() return short counts: the driver must resume mid-slice.
  const ClientRun run = runClient(pf.port(), cfg, b.messages(), Millis(20000), 16 * 1024);
  const WireLog log = analyse(run.wire);
  checkAllDelivered(run, log, 5);
  INFO(log.dump);

  // What Postfix advertised, as the session parsed it.
  CHECK(run.caps.esmtp);
  CHECK(run.caps.pipelining);
  CHECK(run.caps.chunking);
  CHECK(run.caps.eightBitMime);
  CHECK(run.caps.domain == "peer.test");

  // The wire: BDAT only (no DATA), one chunk for each small body, four for the large one, the last chunk LAST.
  CHECK(log.count("DATA") == 0);
  CHECK(log.count("BDAT") == 8);
  CHECK(log.count("MAIL FROM:") == 5);
  const auto bdat = log.lines("BDAT");
  CHECK(bdat[0] == "BDAT " + std::to_string(kUtf8Body.size()) + " LAST");
  CHECK(bdat[1] == "BDAT " + std::to_string(kDotBody.size()) + " LAST");
  CHECK(bdat[2] == "BDAT " + std::to_string(kTinyBody.size()) + " LAST");
  CHECK(bdat[3] == "BDAT 65536");
  CHECK(bdat[6].find(" LAST") != std::string::npos);
  CHECK(bdat[7] == "BDAT 0 LAST");  // the empty body (RFC 3030 §2)
  // Chunks carry the raw body: no dot-stuffing in BDAT (RFC 3030 §2).
  REQUIRE(log.chunks.size() == 8);
  CHECK(log.chunks[1] == kDotBody);
  CHECK(log.chunks[3] + log.chunks[4] + log.chunks[5] + log.chunks[6] == b.large);
  // BODY=8BITMIME only on the 8-bit message (RFC 6152 §2).
  const auto mails = log.lines("MAIL FROM:");
  CHECK(mails[0] == "MAIL FROM:<sender@origin.test> BODY=8BITMIME");
  CHECK(mails[1] == "MAIL FROM:<sender@origin.test>");
  // Deep pipelining: commands of several transactions were on the wire before their replies came back.
  CHECK(log.maxOutstanding > 3);
  CHECK(run.stats.transactions == 5);

  // Every transaction after the first starts with RSET while its predecessor still awaits replies (transaction
  // isolation under deep pipelining, RFC 2920 §3.1), so one failed transaction cannot poison the next.
  CHECK(log.count("RSET") == 4);
  // Postfix's own count of the conversation.
  CHECK_MESSAGE(pf.waitLog("ehlo=1 mail=5 rcpt=5 bdat=8 rset=4 quit=1 commands=24", 1, Millis(5000)), pf.maillog());

  checkMaildir(pf, b);
}

TEST_CASE("Postfix without CHUNKING: DATA path with dot-stuffing, pipelined, delivered byte for byte (RFC 5321 "
          "§4.5.2, §4.1.1.4, RFC 2920 §3.1)") {
  PostfixPeer pf;
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  Batch b;
  ClientConfig cfg = clientConfig();
  cfg.dataBlockSize = 16 * 1024;  // the large body goes in many blocks
  const ClientRun run = runClient(pf.noChunkingPort(), cfg, b.messages(), Millis(20000), 16 * 1024);
  const WireLog log = analyse(run.wire);
  checkAllDelivered(run, log, 5);
  INFO(log.dump);

  CHECK(run.caps.pipelining);
  CHECK_FALSE(run.caps.chunking);
  CHECK(run.caps.eightBitMime);
  CHECK(log.count("BDAT") == 0);
  CHECK(log.count("DATA") == 5);
  // The content on the wire is dot-stuffed: every line starting with "." got one more (RFC 5321 §4.5.2).
  REQUIRE(log.bodies.size() == 5);
  CHECK(log.bodies[1] ==
        "From: Sender <sender@origin.test>\r\nSubject: dots\r\n\r\n..\r\n...\r\n.. x\r\n..leading dot\r\n"
        "middle\r\n..\r\nnot the end\r\n....\r\nlast line\r\n");
  CHECK(log.bodies[0] == kUtf8Body);
  CHECK(log.bodies[2] == kTinyBody);
  CHECK(log.bodies[4].empty());  // DATA, 354, then the terminator alone
  CHECK(log.lines("MAIL FROM:")[0] == "MAIL FROM:<sender@origin.test> BODY=8BITMIME");
  // MAIL, RCPT and DATA of a transaction went as one group.
  CHECK(log.maxOutstanding >= 3);

  CHECK_MESSAGE(pf.waitLog("ehlo=1 mail=5 rcpt=5 data=5 quit=1 commands=17", 1, Millis(5000)), pf.maillog());

  checkMaildir(pf, b);
}

namespace {

// Postfix's own per-recipient decisions, made without DNS: an access table rejecting one address and deferring
// another, and the non-FQDN check (504 5.5.2).
const char kRestrictions[] =
    "smtpd_recipient_restrictions = check_recipient_access inline:{ bad@x.test=REJECT, tmp@x.test=DEFER },"
    " reject_non_fqdn_recipient, permit\n";

// Message 1: mixed recipients; message 2: only a rejected one; message 3: one good recipient after that failure.
std::vector<OutboundMessage> mixedMessages(const std::string& body) {
  return {message(1, {"ok1@dest.test", "bad@x.test", "tmp@x.test", "user@nofqdn", "ok2@dest.test"}, body),
          message(2, {"bad@x.test"}, body), message(3, {"ok3@dest.test"}, body)};
}

// Checks the per-recipient outcomes of mixedMessages() and the Maildir copies (RFC 5321 §4.2.1, §6.1).
void checkMixed(const PostfixPeer& pf, const ClientRun& run, const WireLog& log, const std::string& body) {
  INFO(log.dump);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.unusable.empty());
  CHECK(run.graceful);
  REQUIRE(run.results.size() == 7);
  CHECK(run.result(1, 0).outcome == Outcome::Delivered);
  CHECK(run.result(1, 0).reply.code == 250);
  CHECK(run.result(1, 1).outcome == Outcome::PermanentFailure);
  CHECK(run.result(1, 1).reply.code == 554);  // access REJECT: access_map_reject_code
  CHECK(run.result(1, 1).reply.enhanced.str() == "5.7.1");
  CHECK(run.result(1, 1).reply.firstLine().find("<bad@x.test>: Recipient address rejected") != std::string::npos);
  CHECK(run.result(1, 2).outcome == Outcome::TemporaryFailure);
  CHECK(run.result(1, 2).reply.code == 450);  // access DEFER: access_map_defer_code
  CHECK(run.result(1, 2).reply.enhanced.str() == "4.7.1");
  CHECK(run.result(1, 3).outcome == Outcome::PermanentFailure);
  CHECK(run.result(1, 3).reply.code == 504);  // reject_non_fqdn_recipient
  CHECK(run.result(1, 3).reply.enhanced.str() == "5.5.2");
  CHECK(run.result(1, 4).outcome == Outcome::Delivered);
  CHECK(run.result(2, 0).outcome == Outcome::PermanentFailure);
  CHECK(run.result(2, 0).reply.code == 554);
  CHECK(run.result(3, 0).outcome == Outcome::Delivered);
  for (const auto& r : run.results) {
    CHECK_FALSE(r.synthesized);
    CHECK_FALSE(r.possibleDuplicate);
    CHECK(r.attempted);
  }
  CHECK(run.done.size() == 3);
  CHECK(run.stats.recipientsDelivered == 3);
  CHECK(run.stats.recipientsPermanent == 3);
  CHECK(run.stats.recipientsTemporary == 1);
  CHECK(run.stats.messagesSent == 2);

  const auto got = byRecipient(pf.waitDeliveries(3, Millis(10000)));
  CHECK(got.size() == 3);
  for (const char* r : {"ok1@dest.test", "ok2@dest.test", "ok3@dest.test"}) {
    INFO(r);
    REQUIRE(got.count(r) == 1);
    CHECK(got.at(r).message == crlfToLf(body));
  }
}

}  // namespace

TEST_CASE("Postfix per-recipient outcomes, pipelined BDAT: 250 / 554 / 450 / 504, all-rejected message, then a good "
          "one (RFC 5321 §4.2.1, §6.1, RFC 2920 §3.1, RFC 3030 §4)") {
  PostfixPeer pf(kRestrictions);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const std::string body = kDotBody;
  const ClientRun run = runClient(pf.port(), clientConfig(), mixedMessages(body));
  const WireLog log = analyse(run.wire);
  checkMixed(pf, run, log, body);
  INFO(log.dump);
  CHECK(log.count("BDAT") == 3);
  CHECK(log.count("RCPT TO:") == 7);
  // The all-rejected transaction was followed by RSET before the next MAIL.
  CHECK(log.count("RSET") >= 1);
}

TEST_CASE("Postfix per-recipient outcomes without PIPELINING: one command at a time, no DATA when all RCPTs failed "
          "(RFC 5321 §3.3, §4.2.1, RFC 2920 §3.1)") {
  PostfixPeer pf(kRestrictions);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const std::string body = kDotBody;
  const ClientRun run = runClient(pf.plainPort(), clientConfig(), mixedMessages(body));
  const WireLog log = analyse(run.wire);
  checkMixed(pf, run, log, body);
  INFO(log.dump);
  CHECK_FALSE(run.caps.pipelining);
  CHECK_FALSE(run.caps.chunking);
  CHECK_FALSE(run.caps.eightBitMime);
  CHECK(log.maxOutstanding == 1);  // never a second command before the reply to the first
  CHECK(log.count("DATA") == 2);   // message 2 had no accepted recipient: no DATA
  CHECK(log.count("BDAT") == 0);
  CHECK(log.count("RSET") >= 1);
}
