// test_bounce_parse.cpp: buildDsn() output read back by an independent parser, Debian's /usr/bin/python3 email
// package with policy=email.policy.default (through tests/delivery/dsn_parse.py), for every report shape the engine
// produces: failed, delayed, relayed, multi-recipient, RET=HDRS, RET=FULL within and over fullLimit, 8-bit original,
// ENVID and ORCPT present and absent, a diagnostic with CRLF. RFC 3464 §2, RFC 6522, RFC 3461 §4, RFC 5322.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "dsn_test_support.hpp"
#include "engine/delivery/bounce.hpp"

using sluice::delivery::buildDsn;
using sluice::delivery::DsnInput;
using sluice::delivery::DsnRecipient;
using namespace sluice::test;

namespace {

using Fields = std::map<std::string, std::string>;

// Builds (requiring success), checks the bytes line by line, and parses them with Python.
Fields buildAndParse(const DsnInput& in, bool* eightBit = nullptr) {
  std::string err;
  auto m = buildDsn(in, &err);
  INFO("error: " << err);
  REQUIRE(m.has_value());
  checkWellFormed(m->bytes);
  if (eightBit != nullptr) *eightBit = m->eightBit;
  return parseWithPython(m->bytes);
}

// Value of `key`, or "<absent>".
std::string get(const Fields& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? "<absent>" : it->second;
}

// What every report must look like to the parser, whatever its content.
void checkEnvelope(const Fields& f, std::size_t recipients) {
  CHECK(get(f, "content_type") == "multipart/report");
  CHECK(get(f, "report_type") == "delivery-status");
  CHECK(get(f, "defects") == "0");
  CHECK(get(f, "bare_lf") == "0");
  CHECK(std::stoul(get(f, "maxline")) <= 998);
  CHECK(get(f, "from.addr") == "MAILER-DAEMON@mta.example.net");
  CHECK(get(f, "from.name") == "Mail Delivery System");
  CHECK(get(f, "to.addr") == "alice@example.org");
  CHECK(get(f, "date.epoch") == std::to_string(kNow / 1000));
  CHECK(get(f, "header.mime-version") == "1.0");
  CHECK(get(f, "header.auto-submitted") == "auto-replied");
  CHECK(get(f, "header.message-id") == "<1234.1796000600000.dsn@example.net>");
  CHECK(get(f, "parts") == "3");
  CHECK(get(f, "part0.type") == "text/plain");
  CHECK(get(f, "part1.type") == "message/delivery-status");
  CHECK(get(f, "ds.blocks") == std::to_string(recipients + 1));
  CHECK(get(f, "ds0.reporting-mta") == "dns; mta.example.net");
  CHECK(get(f, "ds0.arrival.epoch") == std::to_string(kArrival / 1000));
}

}  // namespace

TEST_CASE("python email: failure report, RET=HDRS, no ENVID, no ORCPT") {
  bool eightBit = true;
  const Fields f = buildAndParse(baseInput(), &eightBit);
  checkEnvelope(f, 1);
  CHECK_FALSE(eightBit);
  CHECK(get(f, "header.subject") == "Undelivered Mail Returned to Sender");
  CHECK(get(f, "ds0.original-envelope-id") == "<absent>");
  CHECK(get(f, "ds1.original-recipient") == "<absent>");
  CHECK(get(f, "ds1.final-recipient") == "rfc822; bob@example.com");
  CHECK(get(f, "ds1.action") == "failed");
  CHECK(get(f, "ds1.status") == "5.1.1");
  CHECK(get(f, "ds1.remote-mta") == "dns; mx.example.com");
  CHECK(get(f, "ds1.diagnostic-code") == "smtp; 550 5.1.1 no such user");
  CHECK(get(f, "ds1.last-attempt-date") == "Mon, 30 Nov 2026 01:03:10 +0000");
  CHECK(get(f, "ds1.will-retry-until") == "<absent>");
  // The original's headers come back as text/rfc822-headers, parseable in turn.
  CHECK(get(f, "part2.type") == "text/rfc822-headers");
  CHECK(get(f, "returned.subject") == "quarterly figures");
  CHECK(get(f, "returned.headers") == "4");
  CHECK(get(f, "returned.has8bit") == "0");
  CHECK(get(f, "text").find("<bob@example.com>: failed, status 5.1.1") != std::string::npos);
  CHECK(get(f, "text").find("said: 550 5.1.1 no such user") != std::string::npos);
}

TEST_CASE("python email: ENVID and ORCPT present (RFC 3461 4.2, 4.4; RFC 3464 2.2.1, 2.3.1)") {
  DsnInput in = baseInput();
  in.originalEnvelopeId = "QQ314159";
  in.recipients[0].originalRecipient = "rfc822;Bob@Example.COM";
  const Fields f = buildAndParse(in);
  checkEnvelope(f, 1);
  CHECK(get(f, "ds0.original-envelope-id") == "QQ314159");
  CHECK(get(f, "ds1.original-recipient") == "rfc822;Bob@Example.COM");
  CHECK(get(f, "ds1.final-recipient") == "rfc822; bob@example.com");
}

TEST_CASE("python email: delay report with Will-Retry-Until (RFC 3464 2.3.7)") {
  DsnInput in = baseInput();
  in.recipients[0].action = DsnRecipient::Action::Delayed;
  in.recipients[0].status = "4.4.1";
  in.recipients[0].diagnostic = "421 4.4.1 connection timed out";
  in.recipients[0].willRetryUntilMs = kArrival + 5LL * 86'400'000;
  const Fields f = buildAndParse(in);
  checkEnvelope(f, 1);
  CHECK(get(f, "header.subject") == "Delayed Mail (still being retried)");
  CHECK(get(f, "ds1.action") == "delayed");
  CHECK(get(f, "ds1.status") == "4.4.1");
  CHECK(get(f, "ds1.retry.epoch") == std::to_string((kArrival + 5LL * 86'400'000) / 1000));
  CHECK(get(f, "text").find("not yet been delivered") != std::string::npos);
}

TEST_CASE("python email: relayed report for a non-DSN peer (RFC 3461 4.1; esmtp-rules.md 6)") {
  DsnInput in = baseInput();
  in.recipients[0].action = DsnRecipient::Action::Relayed;
  in.recipients[0].status = "2.0.0";
  in.recipients[0].diagnostic = "250 2.0.0 Ok: queued as 4F2A1";
  const Fields f = buildAndParse(in);
  checkEnvelope(f, 1);
  CHECK(get(f, "header.subject") == "Mail relayed");
  CHECK(get(f, "ds1.action") == "relayed");
  CHECK(get(f, "ds1.status") == "2.0.0");
  CHECK(get(f, "ds1.diagnostic-code") == "smtp; 250 2.0.0 Ok: queued as 4F2A1");
}

TEST_CASE("python email: several recipients with different outcomes, one block each in order") {
  DsnInput in = baseInput();
  in.originalEnvelopeId = "env-7";
  in.recipients[0].originalRecipient = "rfc822;bob@example.com";
  DsnRecipient carol = failedRecipient("carol@example.com");
  carol.action = DsnRecipient::Action::Delayed;
  carol.status = "4.2.2";
  carol.diagnostic = "452 4.2.2 mailbox full";
  carol.willRetryUntilMs = kNow + 86'400'000;
  DsnRecipient dave = failedRecipient("dave@example.com");
  dave.action = DsnRecipient::Action::Delivered;
  dave.status = "2.0.0";
  dave.remoteMta = "";
  dave.diagnostic = "";
  in.recipients.push_back(carol);
  in.recipients.push_back(dave);
  const Fields f = buildAndParse(in);
  checkEnvelope(f, 3);
  CHECK(get(f, "header.subject") == "Undelivered Mail Returned to Sender");
  CHECK(get(f, "ds0.original-envelope-id") == "env-7");
  CHECK(get(f, "ds1.original-recipient") == "rfc822;bob@example.com");
  CHECK(get(f, "ds1.action") == "failed");
  CHECK(get(f, "ds2.original-recipient") == "<absent>");
  CHECK(get(f, "ds2.final-recipient") == "rfc822; carol@example.com");
  CHECK(get(f, "ds2.action") == "delayed");
  CHECK(get(f, "ds2.status") == "4.2.2");
  CHECK(get(f, "ds2.diagnostic-code") == "smtp; 452 4.2.2 mailbox full");
  CHECK(get(f, "ds2.retry.epoch") == std::to_string((kNow + 86'400'000) / 1000));
  CHECK(get(f, "ds3.final-recipient") == "rfc822; dave@example.com");
  CHECK(get(f, "ds3.action") == "delivered");
  CHECK(get(f, "ds3.remote-mta") == "<absent>");
  CHECK(get(f, "ds3.diagnostic-code") == "<absent>");
  const std::string text = get(f, "text");
  CHECK(text.find("<bob@example.com>: failed") != std::string::npos);
  CHECK(text.find("<carol@example.com>: delayed") != std::string::npos);
  CHECK(text.find("<dave@example.com>: delivered") != std::string::npos);
}

TEST_CASE("python email: RET=FULL within the limit returns message/rfc822 with the body") {
  DsnInput in = baseInput();
  in.ret = DsnInput::Return::Full;
  const Fields f = buildAndParse(in);
  checkEnvelope(f, 1);
  CHECK(get(f, "part2.type") == "message/rfc822");
  CHECK(get(f, "returned.subject") == "quarterly figures");
  CHECK(get(f, "returned.body").find("the figures are attached.") != std::string::npos);
}

TEST_CASE("python email: RET=FULL over fullLimit falls back to text/rfc822-headers") {
  DsnInput in = baseInput();
  in.ret = DsnInput::Return::Full;
  std::string big = "From: Alice <alice@example.org>\r\nSubject: big one\r\n\r\n";
  while (big.size() <= 50 * 1024) big += std::string(70, 'b') + "\r\n";  // over the default 50 KiB limit
  in.originalMessage = big;
  const Fields f = buildAndParse(in);
  checkEnvelope(f, 1);
  CHECK(get(f, "part2.type") == "text/rfc822-headers");
  CHECK(get(f, "returned.subject") == "big one");
  CHECK(get(f, "returned.headers") == "2");
}

TEST_CASE("python email: an 8-bit original comes back intact and the report is flagged 8-bit") {
  DsnInput in = baseInput();
  in.ret = DsnInput::Return::Full;
  const std::string orig = "From: a@example.org\r\nSubject: plain\r\nContent-Type: text/plain; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: 8bit\r\n\r\nna\xc3\xafve caf\xc3\xa9\r\n";
  in.originalMessage = orig;
  bool eightBit = false;
  const Fields f = buildAndParse(in, &eightBit);
  checkEnvelope(f, 1);
  CHECK(eightBit);
  CHECK(get(f, "header.content-transfer-encoding") == "8bit");
  CHECK(get(f, "part2.cte") == "8bit");
  CHECK(get(f, "returned.body.has8bit") == "1");
  CHECK(get(f, "returned.body").find("na\xc3\xafve caf\xc3\xa9") != std::string::npos);

  // RET=HDRS with 8-bit octets in a header: the headers part is 8bit too.
  const std::string hdr8 = "From: a@example.org\r\nSubject: caf\xc3\xa9\r\n\r\nbody\r\n";
  in.originalMessage = hdr8;
  in.ret = DsnInput::Return::Headers;
  const Fields h = buildAndParse(in, &eightBit);
  CHECK(eightBit);
  CHECK(get(h, "part2.type") == "text/rfc822-headers");
  CHECK(get(h, "part2.cte") == "8bit");
  CHECK(get(h, "returned.has8bit") == "1");
}

TEST_CASE("python email: a diagnostic with CRLF stays one Diagnostic-Code field in its own block") {
  DsnInput in = baseInput();
  in.recipients[0].diagnostic =
      "550-5.1.1 first line\r\n550 5.1.1 second line\r\nAction: delivered\r\n\r\nFinal-Recipient: rfc822; x@evil";
  const Fields f = buildAndParse(in);
  checkEnvelope(f, 1);  // still exactly one recipient block
  CHECK(get(f, "ds1.action") == "failed");
  CHECK(get(f, "ds1.final-recipient") == "rfc822; bob@example.com");
  CHECK(get(f, "ds1.diagnostic-code") ==
        "smtp; 550-5.1.1 first line 550 5.1.1 second line Action: delivered Final-Recipient: rfc822; x@evil");
}

TEST_CASE("python email: a very long diagnostic is folded and unfolds to the same text") {
  DsnInput in = baseInput();
  std::string words;
  for (int i = 0; i < 200; ++i) words += " w" + std::to_string(i);
  in.recipients[0].diagnostic = "550 5.7.1" + words;
  const Fields f = buildAndParse(in);
  checkEnvelope(f, 1);
  CHECK(get(f, "ds1.diagnostic-code") == "smtp; 550 5.7.1" + words);
}

TEST_CASE("python email: an empty sender gets no report at all") {
  DsnInput in = baseInput();
  in.originalSender = "";
  std::string err;
  CHECK_FALSE(buildDsn(in, &err).has_value());
  CHECK_FALSE(err.empty());
}
