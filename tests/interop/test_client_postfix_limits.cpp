// test_client_postfix_limits.cpp: ClientSession against a private Postfix instance configured with limits: the
// message size limit (RFC 1870, declared and undeclared, BDAT and DATA), the recipient limit (452 4.5.3, RFC 5321
// §4.5.3.1.10), the session's own recipient split, and a strict peer that refuses bare LF (RFC 5321 §2.3.8).
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

// Limits small enough to reach from a test, and a strict bare-newline policy for every client (the exclusions
// default to $mynetworks, which holds 127.0.0.1).
const char kLimits[] =
    "message_size_limit = 20000\n"
    "smtpd_recipient_limit = 2\n"
    "smtpd_forbid_bare_newline = reject\n"
    "smtpd_forbid_bare_newline_exclusions =\n";

// Counts Maildir copies per recipient.
std::map<std::string, int> copies(const std::vector<PostfixDelivery>& ds) {
  std::map<std::string, int> m;
  for (const auto& d : ds) ++m[d.deliveredTo];
  return m;
}

// Checks that the run ended cleanly (QUIT answered) with no driver error.
void checkClean(const ClientRun& run, const WireLog& log) {
  INFO(log.dump);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.unusable.empty());
  CHECK(run.graceful);
  CHECK_FALSE(log.malformed);
  REQUIRE_FALSE(log.replies.empty());
  CHECK(log.replies.back() == 221);
}

// One over-limit message with SIZE declared, one over-limit without, then a small one on the same connection.
std::vector<OutboundMessage> sizeMessages(const std::string& big) {
  std::vector<OutboundMessage> ms;
  ms.push_back(message(1, {"declared@dest.test"}, big));
  ms.back().params.size = big.size();
  ms.push_back(message(2, {"undeclared@dest.test"}, big));
  ms.push_back(message(3, {"small@dest.test"}, kDotBody));
  return ms;
}

// Checks the size-limit outcomes: 552 5.3.4 for both big messages, the small one delivered after them. When the
// peer advertised its limit, the client refuses the big ones itself and none of their bytes go on the wire
// (RFC 1870 §6); when it did not, the peer's own 552 5.3.4 after the content decides.
void checkSizeOutcomes(const PostfixPeer& pf, const ClientRun& run, const WireLog& log, bool advertised) {
  checkClean(run, log);
  INFO(log.dump);
  CHECK(run.caps.size == advertised);
  CHECK(run.caps.sizeLimit == (advertised ? 20000u : 0u));
  REQUIRE(run.results.size() == 3);
  for (MessageHandle h : {1, 2}) {
    INFO("message " << h);
    const RecipientResult& r = run.result(h, 0);
    CHECK(r.outcome == Outcome::PermanentFailure);
    CHECK(r.reply.code == 552);
    CHECK(r.reply.enhanced.str() == "5.3.4");
    CHECK(r.synthesized == advertised);
    CHECK(r.attempted == !advertised);
  }
  CHECK(run.result(3, 0).outcome == Outcome::Delivered);
  CHECK(run.done.size() == 3);
  const auto mails = log.lines("MAIL FROM:");
  if (advertised) {
    // Only the small message went out; nothing of the big ones.
    REQUIRE(mails.size() == 1);
    CHECK(log.count("RCPT TO:") == 1);
  } else {
    // SIZE= is never sent to a peer that did not advertise SIZE (RFC 5321 §4.1.1.3).
    REQUIRE(mails.size() == 3);
    for (const auto& m : mails) CHECK(m.find("SIZE=") == std::string::npos);
  }
  const auto got = copies(pf.waitDeliveries(1, Millis(10000)));
  CHECK(got == std::map<std::string, int>{{"small@dest.test", 1}});
}

// The same limits, but Postfix keeps SIZE out of its EHLO reply while still enforcing message_size_limit: the
// client cannot know the limit and the peer's 552 after the content decides.
const std::string kLimitsUnadvertised = std::string(kLimits) + "smtpd_discard_ehlo_keywords = size\n";

}  // namespace

TEST_CASE("Postfix advertising SIZE 20000, BDAT: declared and undeclared oversize refused by the client with 552 "
          "5.3.4 and never sent, the next message delivered (RFC 1870 §6; ESMTP rules §5)") {
  PostfixPeer pf(kLimits);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const std::string big = largeBody(60);  // about 54 KB
  const ClientRun run = runClient(pf.port(), clientConfig(), sizeMessages(big));
  const WireLog log = analyse(run.wire);
  checkSizeOutcomes(pf, run, log, true);
  CHECK(run.caps.chunking);
  REQUIRE(log.chunks.size() == 1);  // only the small message's body
  CHECK(log.chunks[0] == kDotBody);
}

TEST_CASE("Postfix enforcing an unadvertised size limit, pipelined 8 KiB BDAT chunks: the chunk crossing the limit "
          "gets 552 5.3.4, the chunks already in flight behind it are answered too, the next message is delivered "
          "(RFC 3030 §2, §4; RFC 1870 §6)") {
  PostfixPeer pf(kLimitsUnadvertised);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const std::string big = largeBody(60);
  ClientConfig cfg = clientConfig();
  cfg.bdatChunkSize = 8 * 1024;
  const ClientRun run = runClient(pf.port(), cfg, sizeMessages(big));
  const WireLog log = analyse(run.wire);
  checkSizeOutcomes(pf, run, log, false);
  INFO(log.dump);
  CHECK(run.caps.chunking);
  CHECK(log.count("BDAT") > 3);  // the big messages went in several chunks
}

TEST_CASE("Declared SIZE over the peer's advertised SIZE: no body octet is sent, permanent 5.3.4 (RFC 1870 §6; "
          "ESMTP rules §5)") {
  PostfixPeer pf(kLimits);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const std::string big = largeBody(60);
  OutboundMessage m = message(1, {"declared@dest.test"}, big);
  m.params.size = big.size();
  const ClientRun run = runClient(pf.port(), clientConfig(), {std::move(m)});
  const WireLog log = analyse(run.wire);
  checkClean(run, log);
  INFO(log.dump);
  REQUIRE(run.caps.sizeLimit == 20000);
  REQUIRE(run.results.size() == 1);
  CHECK(run.results[0].outcome == Outcome::PermanentFailure);
  CHECK(run.results[0].reply.enhanced.str() == "5.3.4");
  CHECK(log.count("MAIL FROM:") == 0);
  CHECK(log.chunks.empty());
}

TEST_CASE("Postfix advertising SIZE 20000 without CHUNKING: oversize refused by the client, never sent; the small "
          "message goes by DATA (RFC 1870 §6, RFC 5321 §4.1.1.4)") {
  PostfixPeer pf(kLimits);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const std::string big = largeBody(60);
  const ClientRun run = runClient(pf.noChunkingPort(), clientConfig(), sizeMessages(big));
  const WireLog log = analyse(run.wire);
  checkSizeOutcomes(pf, run, log, true);
  CHECK_FALSE(run.caps.chunking);
  CHECK(log.count("DATA") == 1);
  CHECK(log.bodies.size() == 1);
}

TEST_CASE("Postfix recipient limit, pipelined: 452 4.5.3 for the recipients past the limit, temporary, attempted "
          "(RFC 5321 §4.5.3.1.10, RFC 2920 §3.1)") {
  PostfixPeer pf(kLimits);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const ClientRun run = runClient(pf.port(), clientConfig(),
                                  {message(1, {"p1@dest.test", "p2@dest.test", "p3@dest.test", "p4@dest.test"},
                                           kTinyBody)});
  const WireLog log = analyse(run.wire);
  checkClean(run, log);
  INFO(log.dump);
  REQUIRE(run.results.size() == 4);
  CHECK(run.result(1, 0).outcome == Outcome::Delivered);
  CHECK(run.result(1, 1).outcome == Outcome::Delivered);
  for (std::uint32_t i : {2u, 3u}) {
    const RecipientResult& r = run.result(1, i);
    CHECK(r.outcome == Outcome::TemporaryFailure);
    CHECK(r.reply.code == 452);
    CHECK(r.reply.enhanced.str() == "4.5.3");
    CHECK(r.attempted);
  }
  CHECK(log.count("RCPT TO:") == 4);
  const auto got = copies(pf.waitDeliveries(2, Millis(10000)));
  CHECK(got == std::map<std::string, int>{{"p1@dest.test", 1}, {"p2@dest.test", 1}});
}

TEST_CASE("Postfix recipient limit without PIPELINING: after 452 4.5.3 no further RCPT, the rest not attempted "
          "(RFC 5321 §4.5.3.1.10)") {
  PostfixPeer pf(kLimits);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const ClientRun run = runClient(pf.plainPort(), clientConfig(),
                                  {message(1, {"p1@dest.test", "p2@dest.test", "p3@dest.test", "p4@dest.test"},
                                           kTinyBody)});
  const WireLog log = analyse(run.wire);
  checkClean(run, log);
  INFO(log.dump);
  REQUIRE(run.results.size() == 4);
  CHECK(run.result(1, 0).outcome == Outcome::Delivered);
  CHECK(run.result(1, 1).outcome == Outcome::Delivered);
  CHECK(run.result(1, 2).outcome == Outcome::TemporaryFailure);
  CHECK(run.result(1, 2).reply.code == 452);
  CHECK(run.result(1, 2).attempted);
  CHECK(run.result(1, 3).outcome == Outcome::TemporaryFailure);
  CHECK_FALSE(run.result(1, 3).attempted);
  CHECK(log.count("RCPT TO:") == 3);
  CHECK(log.maxOutstanding == 1);
  const auto got = copies(pf.waitDeliveries(2, Millis(10000)));
  CHECK(got == std::map<std::string, int>{{"p1@dest.test", 1}, {"p2@dest.test", 1}});
}

TEST_CASE("Recipient split: maxRecipientsPerTransaction 2 under Postfix's limit 2, five recipients in three "
          "pipelined transactions, one MessageDone, one copy each (RFC 5321 §4.5.3.1.8)") {
  PostfixPeer pf(kLimits);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  ClientConfig cfg = clientConfig();
  cfg.maxRecipientsPerTransaction = 2;
  const std::vector<std::string> rcpts{"s1@dest.test", "s2@dest.test", "s3@dest.test", "s4@dest.test",
                                       "s5@dest.test"};
  const ClientRun run = runClient(pf.port(), cfg, {message(1, rcpts, kUtf8Body, BodyType::EightBitMime)});
  const WireLog log = analyse(run.wire);
  checkClean(run, log);
  INFO(log.dump);
  REQUIRE(run.results.size() == 5);
  for (const auto& r : run.results) CHECK(r.outcome == Outcome::Delivered);
  CHECK(run.done == std::vector<MessageHandle>{1});
  CHECK(run.stats.transactions == 3);
  CHECK(log.count("MAIL FROM:") == 3);
  CHECK(log.count("BDAT") == 3);
  const auto ds = pf.waitDeliveries(5, Millis(10000));
  std::map<std::string, int> want;
  for (const auto& r : rcpts) want[r] = 1;
  CHECK(copies(ds) == want);
  for (const auto& d : ds) CHECK(d.message == crlfToLf(kUtf8Body));
}

TEST_CASE("Strict Postfix refusing bare LF: the DATA path repairs bare LF / CR and is accepted; the same bytes by "
          "BDAT (sent verbatim, the caller's contract) get 550 5.5.2 (RFC 5321 §2.3.8)") {
  PostfixPeer pf(kLimits);
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  const std::string bare = "Subject: bare\r\n\r\nline one\nline two\rline three\r\n";

  const ClientRun data = runClient(pf.noChunkingPort(), clientConfig(), {message(1, {"bare@dest.test"}, bare)});
  const WireLog dataLog = analyse(data.wire);
  checkClean(data, dataLog);
  INFO(dataLog.dump);
  REQUIRE(data.results.size() == 1);
  CHECK(data.results[0].outcome == Outcome::Delivered);
  REQUIRE(dataLog.bodies.size() == 1);
  CHECK(dataLog.bodies[0] == "Subject: bare\r\n\r\nline one\r\nline two\r\nline three\r\n");
  const auto ds = pf.waitDeliveries(1, Millis(10000));
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].message == "Subject: bare\n\nline one\nline two\nline three\n");

  const ClientRun bdat = runClient(pf.port(), clientConfig(), {message(2, {"bare2@dest.test"}, bare)});
  const WireLog bdatLog = analyse(bdat.wire);
  checkClean(bdat, bdatLog);
  INFO(bdatLog.dump);
  REQUIRE(bdat.results.size() == 1);
  CHECK(bdat.results[0].outcome == Outcome::PermanentFailure);
  CHECK(bdat.results[0].reply.code == 550);
  CHECK(bdat.results[0].reply.enhanced.str() == "5.5.2");
}

TEST_CASE("Deep-pipelining window: 40 BDAT transactions with maxInFlightTransactions 8 on one connection, never "
          "more than 8 transactions' commands outstanding, all delivered once (RFC 2920 §3.1, RFC 3030 §4)") {
  PostfixPeer pf;
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  ClientConfig cfg = clientConfig();
  cfg.maxInFlightTransactions = 8;
  std::vector<OutboundMessage> ms;
  std::vector<std::string> bodies;
  bodies.reserve(40);
  for (int i = 0; i < 40; ++i) bodies.push_back("Subject: window " + std::to_string(i) + "\r\n\r\nbody " +
                                                std::to_string(i) + "\r\n");
  for (int i = 0; i < 40; ++i) ms.push_back(message(i + 1, {"w" + std::to_string(i) + "@dest.test"}, bodies[i]));
  const ClientRun run = runClient(pf.port(), cfg, std::move(ms), Millis(20000), 8 * 1024);
  const WireLog log = analyse(run.wire);
  checkClean(run, log);
  INFO(log.dump);
  REQUIRE(run.results.size() == 40);
  for (const auto& r : run.results) CHECK(r.outcome == Outcome::Delivered);
  CHECK(run.done.size() == 40);
  CHECK(log.count("BDAT") == 40);
  CHECK(log.maxOutstanding > 3);       // more than one transaction in flight
  CHECK(log.maxOutstanding <= 4 * 8);  // RSET + MAIL + RCPT + BDAT of at most 8 transactions
  // How many transactions started behind a predecessor still in flight (and so began with RSET) depends on timing;
  // Postfix's count must agree with the wire.
  const std::size_t rsets = log.count("RSET");
  CHECK(rsets < 40);
  const std::string counts = "ehlo=1 mail=40 rcpt=40 bdat=40 " +
                             (rsets ? "rset=" + std::to_string(rsets) + " " : std::string()) + "quit=1 commands=" +
                             std::to_string(122 + rsets);
  CHECK_MESSAGE(pf.waitLog(counts, 1, Millis(5000)), pf.maillog());
  const auto got = copies(pf.waitDeliveries(40, Millis(15000)));
  CHECK(got.size() == 40);
  for (const auto& entry : got) CHECK(entry.second == 1);
}
