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

// The four messages of the delivery tests, each to its own recipient: 8-bit, dots, tiny, large.
struct Batch {
  std::string large = largeBody(250);
  std::vector<std::string> bodies{kUtf8Body, kDotBody, kTinyBody, large};
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
  REQUIRE(run.error.empty());
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

TEST_CASE("Postfix with CHUNKING: four messages deep-pipelined with BDAT, delivered byte for byte (RFC 3030 §2-4, "
          "RFC 2920 §3.1, RFC 6152 §3)") {
  PostfixPeer pf;
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  Batch b;
  ClientConfig cfg = clientConfig();
  cfg.bdatChunkSize = 64 * 1024;  // the large body goes in 4 chunks (3 without LAST)
  // A small send buffer makes writev() return short counts: the driver must resume mid-slice.
  const ClientRun run = runClient(pf.port(), cfg, b.messages(), Millis(20000), 16 * 1024);
  const WireLog log = analyse(run.wire);
  checkAllDelivered(run, log, 4);
  INFO(log.dump);

  // What Postfix advertised, as the session parsed it.
  CHECK(run.caps.esmtp);
  CHECK(run.caps.pipelining);
  CHECK(run.caps.chunking);
  CHECK(run.caps.eightBitMime);
  CHECK(run.caps.domain == "peer.test");

  // The wire: BDAT only (no DATA), one chunk for each small body, four for the large one, the last chunk LAST.
  CHECK(log.count("DATA") == 0);
  CHECK(log.count("BDAT") == 7);
  CHECK(log.count("MAIL FROM:") == 4);
  const auto bdat = log.lines("BDAT");
  CHECK(bdat[0] == "BDAT " + std::to_string(kUtf8Body.size()) + " LAST");
  CHECK(bdat[1] == "BDAT " + std::to_string(kDotBody.size()) + " LAST");
  CHECK(bdat[2] == "BDAT " + std::to_string(kTinyBody.size()) + " LAST");
  CHECK(bdat[3] == "BDAT 65536");
  CHECK(bdat[6].find(" LAST") != std::string::npos);
  // Chunks carry the raw body: no dot-stuffing in BDAT (RFC 3030 §2).
  REQUIRE(log.chunks.size() == 7);
  CHECK(log.chunks[1] == kDotBody);
  CHECK(log.chunks[3] + log.chunks[4] + log.chunks[5] + log.chunks[6] == b.large);
  // BODY=8BITMIME only on the 8-bit message (RFC 6152 §2).
  const auto mails = log.lines("MAIL FROM:");
  CHECK(mails[0] == "MAIL FROM:<sender@origin.test> BODY=8BITMIME");
  CHECK(mails[1] == "MAIL FROM:<sender@origin.test>");
  // Deep pipelining: commands of several transactions were on the wire before their replies came back.
  CHECK(log.maxOutstanding > 3);
  CHECK(run.stats.transactions == 4);

  // Postfix's own count of the conversation.
  CHECK_MESSAGE(pf.waitLog("ehlo=1 mail=4 rcpt=4 bdat=7 quit=1 commands=17", 1, Millis(5000)), pf.maillog());

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
  checkAllDelivered(run, log, 4);
  INFO(log.dump);

  CHECK(run.caps.pipelining);
  CHECK_FALSE(run.caps.chunking);
  CHECK(run.caps.eightBitMime);
  CHECK(log.count("BDAT") == 0);
  CHECK(log.count("DATA") == 4);
  // The content on the wire is dot-stuffed: every line starting with "." got one more (RFC 5321 §4.5.2).
  REQUIRE(log.bodies.size() == 4);
  CHECK(log.bodies[1] ==
        "From: Sender <sender@origin.test>\r\nSubject: dots\r\n\r\n..\r\n...\r\n.. x\r\n..leading dot\r\n"
        "middle\r\n..\r\nnot the end\r\n....\r\nlast line\r\n");
  CHECK(log.bodies[0] == kUtf8Body);
  CHECK(log.bodies[2] == kTinyBody);
  CHECK(log.lines("MAIL FROM:")[0] == "MAIL FROM:<sender@origin.test> BODY=8BITMIME");
  // MAIL, RCPT and DATA of a transaction went as one group.
  CHECK(log.maxOutstanding >= 3);

  CHECK_MESSAGE(pf.waitLog("ehlo=1 mail=4 rcpt=4 data=4 quit=1 commands=14", 1, Millis(5000)), pf.maillog());

  checkMaildir(pf, b);
}
