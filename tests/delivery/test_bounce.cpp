// test_bounce.cpp: buildDsn() byte-level structure (RFC 3464 §2, RFC 3461 §4-6, RFC 6522, RFC 5322 §2.1.1, §3.3;
// RFC 3834 §5; esmtp-rules.md section 6), refusals, sanitising of untrusted text, boundary choice and the
// RET=FULL / RET=HDRS choice. test_bounce_parse.cpp reads the same kind of output with an independent parser.
#include <doctest/doctest.h>

#include <string>

#include "dsn_test_support.hpp"
#include "engine/delivery/bounce.hpp"

using sluice::delivery::buildDsn;
using sluice::delivery::dsnActionName;
using sluice::delivery::DsnInput;
using sluice::delivery::DsnRecipient;
using sluice::delivery::rfc5322Date;
using namespace sluice::test;

namespace {

// Builds and requires success; every result is checked for line-level well-formedness.
std::string build(const DsnInput& in, bool* eightBit = nullptr) {
  std::string err;
  auto m = buildDsn(in, &err);
  INFO("error: " << err);
  REQUIRE(m.has_value());
  checkWellFormed(m->bytes);
  if (eightBit != nullptr) *eightBit = m->eightBit;
  return m->bytes;
}

// The boundary from the Content-Type parameter.
std::string boundaryOf(const std::string& bytes) {
  const std::size_t at = bytes.find("boundary=\"");
  REQUIRE(at != std::string::npos);
  const std::size_t start = at + 10;
  return bytes.substr(start, bytes.find('"', start) - start);
}

// The message/delivery-status part's body (between its blank line and the next delimiter).
std::string statusPart(const std::string& bytes) {
  const std::string b = boundaryOf(bytes);
  const std::size_t ct = bytes.find("Content-Type: message/delivery-status\r\n");
  REQUIRE(ct != std::string::npos);
  const std::size_t body = bytes.find("\r\n\r\n", ct) + 4;
  return bytes.substr(body, bytes.find("\r\n--" + b, body) + 2 - body);
}

std::size_t count(const std::string& hay, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("rfc5322Date: RFC 5322 3.3 date-time in UTC") {
  CHECK(rfc5322Date(0) == "Thu, 1 Jan 1970 00:00:00 +0000");
  CHECK(rfc5322Date(951'782'400'000) == "Tue, 29 Feb 2000 00:00:00 +0000");  // leap day of a century leap year
  CHECK(rfc5322Date(kNow) == "Mon, 30 Nov 2026 01:03:20 +0000");
  CHECK(rfc5322Date(kNow + 999) == "Mon, 30 Nov 2026 01:03:20 +0000");  // milliseconds dropped, not rounded
  CHECK(rfc5322Date(-1'000) == "Wed, 31 Dec 1969 23:59:59 +0000");     // before the epoch floors correctly
  CHECK(rfc5322Date(4'102'444'799'000) == "Thu, 31 Dec 2099 23:59:59 +0000");
}

TEST_CASE("dsnActionName: RFC 3464 2.3.3 action values") {
  CHECK(std::string(dsnActionName(DsnRecipient::Action::Failed)) == "failed");
  CHECK(std::string(dsnActionName(DsnRecipient::Action::Delayed)) == "delayed");
  CHECK(std::string(dsnActionName(DsnRecipient::Action::Delivered)) == "delivered");
  CHECK(std::string(dsnActionName(DsnRecipient::Action::Relayed)) == "relayed");
  CHECK(std::string(dsnActionName(DsnRecipient::Action::Expanded)) == "expanded");
}

TEST_CASE("buildDsn refuses to bounce a bounce: null reverse-path (RFC 5321 6.1, RFC 3464 2)") {
  for (const char* sender : {"", "<>", " <> ", "\r\n"}) {
    CAPTURE(sender);
    DsnInput in = baseInput();
    in.originalSender = sender;
    std::string err;
    CHECK_FALSE(buildDsn(in, &err).has_value());
    CHECK(err.find("null reverse-path") != std::string::npos);
  }
  DsnInput in = baseInput();
  in.originalSender = "";
  CHECK_FALSE(buildDsn(in, nullptr).has_value());  // a null error pointer is allowed
}

TEST_CASE("buildDsn refuses an empty recipient list and an empty reporting MTA") {
  DsnInput in = baseInput();
  in.recipients.clear();
  std::string err;
  CHECK_FALSE(buildDsn(in, &err).has_value());
  CHECK(err == "no recipients to report on");
  in = baseInput();
  in.reportingMta = " \r\n";
  CHECK_FALSE(buildDsn(in, &err).has_value());
  CHECK(err == "reporting MTA name is empty");
}

TEST_CASE("buildDsn: exact top-level header block of a failure report") {
  const std::string bytes = build(baseInput());
  const std::string b = boundaryOf(bytes);
  CHECK(b.find("=_dsn_1234_") == 0);
  const std::string expected =
      "From: Mail Delivery System <MAILER-DAEMON@mta.example.net>\r\n"
      "To: <alice@example.org>\r\n"
      "Subject: Undelivered Mail Returned to Sender\r\n"
      "Date: Mon, 30 Nov 2026 01:03:20 +0000\r\n"
      "Message-ID: <1234.1796000600000.dsn@example.net>\r\n"
      "MIME-Version: 1.0\r\n"
      "Auto-Submitted: auto-replied\r\n"
      "Content-Type: multipart/report; report-type=delivery-status;\r\n"
      " boundary=\"" + b + "\"\r\n"
      "\r\n";
  CHECK(bytes.substr(0, expected.size()) == expected);
  // Three parts in order, then the close delimiter as the last line.
  const std::size_t p1 = bytes.find("--" + b + "\r\nContent-Description: Notification\r\n"
                                    "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
  const std::size_t p2 = bytes.find("--" + b + "\r\nContent-Description: Delivery report\r\n"
                                    "Content-Type: message/delivery-status\r\n\r\n");
  const std::size_t p3 = bytes.find("--" + b + "\r\nContent-Description: Original message headers\r\n"
                                    "Content-Type: text/rfc822-headers\r\n\r\n");
  CHECK(p1 != std::string::npos);
  CHECK(p2 != std::string::npos);
  CHECK(p3 != std::string::npos);
  CHECK(p1 < p2);
  CHECK(p2 < p3);
  CHECK(bytes.size() >= b.size() + 6);
  CHECK(bytes.substr(bytes.size() - b.size() - 6) == "--" + b + "--\r\n");
  CHECK(count(bytes, "--" + b) == 4);
}

TEST_CASE("buildDsn: exact delivery-status fields, per message and per recipient (RFC 3464 2.2, 2.3)") {
  DsnInput in = baseInput();
  in.originalEnvelopeId = "QQ314159";
  in.recipients[0].originalRecipient = "rfc822;Bob@Example.com";
  const std::string status = statusPart(build(in));
  CHECK(status ==
        "Reporting-MTA: dns; mta.example.net\r\n"
        "Original-Envelope-Id: QQ314159\r\n"
        "Arrival-Date: Mon, 30 Nov 2026 00:53:20 +0000\r\n"
        "\r\n"
        "Original-Recipient: rfc822;Bob@Example.com\r\n"
        "Final-Recipient: rfc822; bob@example.com\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Remote-MTA: dns; mx.example.com\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
        "Last-Attempt-Date: Mon, 30 Nov 2026 01:03:10 +0000\r\n"
        "\r\n");
}

TEST_CASE("buildDsn: ENVID, ORCPT, Remote-MTA, Diagnostic-Code and Last-Attempt-Date omitted when absent") {
  DsnInput in = baseInput();
  in.recipients[0].remoteMta = "";
  in.recipients[0].diagnostic = "";
  in.recipients[0].lastAttemptMs = 0;
  const std::string status = statusPart(build(in));
  CHECK(status ==
        "Reporting-MTA: dns; mta.example.net\r\n"
        "Arrival-Date: Mon, 30 Nov 2026 00:53:20 +0000\r\n"
        "\r\n"
        "Final-Recipient: rfc822; bob@example.com\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "\r\n");
}

TEST_CASE("buildDsn: an ORCPT given without its address type is reported as rfc822 (RFC 3461 4.2)") {
  DsnInput in = baseInput();
  in.recipients[0].originalRecipient = "Bob@Example.com";
  CHECK(statusPart(build(in)).find("Original-Recipient: rfc822;Bob@Example.com\r\n") != std::string::npos);
}

TEST_CASE("buildDsn: Subject by the most serious action present") {
  struct Row {
    std::vector<DsnRecipient::Action> actions;
    const char* subject;
  };
  using A = DsnRecipient::Action;
  const Row rows[] = {
      {{A::Failed}, "Undelivered Mail Returned to Sender"},
      {{A::Delayed}, "Delayed Mail (still being retried)"},
      {{A::Delivered}, "Successful Mail Delivery Report"},
      {{A::Expanded}, "Successful Mail Delivery Report"},
      {{A::Relayed}, "Mail relayed"},
      {{A::Delayed, A::Failed}, "Undelivered Mail Returned to Sender"},  // a failure outranks a delay
      {{A::Relayed, A::Delayed}, "Delayed Mail (still being retried)"},
      {{A::Relayed, A::Delivered}, "Successful Mail Delivery Report"},
  };
  for (const Row& row : rows) {
    DsnInput in = baseInput();
    in.recipients.clear();
    for (A a : row.actions) {
      DsnRecipient r = failedRecipient("r" + std::to_string(in.recipients.size()) + "@example.com");
      r.action = a;
      in.recipients.push_back(r);
    }
    const std::string bytes = build(in);
    CAPTURE(row.subject);
    CHECK(joined(linesStartingWith(topHeaders(bytes), "Subject: ")) == std::string("Subject: ") + row.subject);
    // One Action line per recipient, with the right value.
    const auto actions = linesStartingWith(bytes, "Action: ");
    REQUIRE(actions.size() == row.actions.size());
    for (std::size_t i = 0; i < actions.size(); ++i)
      CHECK(actions[i] == std::string("Action: ") + dsnActionName(row.actions[i]));
  }
}

TEST_CASE("buildDsn: delayed recipients carry Will-Retry-Until; other actions never do (RFC 3464 2.3.7)") {
  DsnInput in = baseInput();
  in.recipients[0].action = DsnRecipient::Action::Delayed;
  in.recipients[0].status = "4.4.1";
  in.recipients[0].willRetryUntilMs = kArrival + 5LL * 86'400'000;
  std::string bytes = build(in);
  CHECK(joined(linesStartingWith(bytes, "Will-Retry-Until: ")) == "Will-Retry-Until: Sat, 5 Dec 2026 00:53:20 +0000");
  in.recipients[0].willRetryUntilMs = 0;  // 0 = omit
  CHECK(linesStartingWith(build(in), "Will-Retry-Until:").empty());
  in.recipients[0].action = DsnRecipient::Action::Failed;
  in.recipients[0].willRetryUntilMs = kNow;  // set, but meaningless for a failure
  CHECK(linesStartingWith(build(in), "Will-Retry-Until:").empty());
}

TEST_CASE("buildDsn: a missing or malformed status becomes the generic code of the action's class (RFC 3463 3.1)") {
  struct Row {
    DsnRecipient::Action action;
    const char* given;
    const char* reported;
  };
  using A = DsnRecipient::Action;
  const Row rows[] = {
      {A::Failed, "", "5.0.0"},         {A::Failed, "5.1", "5.0.0"},        {A::Failed, "550", "5.0.0"},
      {A::Failed, "5.1.1x", "5.0.0"},   {A::Failed, "3.1.1", "5.0.0"},      {A::Failed, "5.1234.1", "5.0.0"},
      {A::Delayed, "", "4.0.0"},        {A::Delivered, "", "2.0.0"},        {A::Relayed, "junk", "2.0.0"},
      {A::Failed, "4.4.7", "4.4.7"},    // expired after retries: a class-4 status on a failure is legitimate
      {A::Delayed, "4.7.650", "4.7.650"},  // three-digit detail
      {A::Failed, "5.1.1\r\nX: y", "5.0.0"},  // injected text makes it malformed, never a new line
  };
  for (const Row& row : rows) {
    DsnInput in = baseInput();
    in.recipients[0].action = row.action;
    in.recipients[0].status = row.given;
    CAPTURE(row.given);
    CHECK(joined(linesStartingWith(build(in), "Status: ")) == std::string("Status: ") + row.reported);
  }
}

TEST_CASE("buildDsn: a diagnostic containing CRLF cannot inject fields (sanitised to one folded field)") {
  DsnInput in = baseInput();
  in.recipients[0].diagnostic = "550 5.1.1 no such user\r\nAction: delivered\r\nStatus: 2.0.0\n\rX-Evil: 1\r\n\r\n";
  const std::string bytes = build(in);
  CHECK(joined(linesStartingWith(bytes, "Action: ")) == "Action: failed");
  CHECK(joined(linesStartingWith(bytes, "Status: ")) == "Status: 5.1.1");
  CHECK(linesStartingWith(bytes, "X-Evil").empty());
  CHECK(unfold(statusPart(bytes)).find("Diagnostic-Code: smtp; 550 5.1.1 no such user Action: delivered Status: 2.0.0 "
                                       "X-Evil: 1\r\n") != std::string::npos);
}

TEST_CASE("buildDsn: addresses, host names and ENVID are sanitised") {
  DsnInput in = baseInput();
  in.reportingMta = "mta.example.net\r\nBcc: victim@example.com";
  in.originalSender = "<alice@example.org>\r\nBcc: x@example.com";
  in.originalEnvelopeId = "id\r\nReporting-MTA: dns; fake";
  in.recipients[0].remoteMta = "mx.example.com\r\nX: y";
  in.recipients[0].finalRecipient = "bob@example.com\r\nAction: delivered";
  in.recipients[0].diagnostic = "550 caf\xc3\xa9 \x01\x7f closed";  // 8-bit and control octets from the peer
  const std::string bytes = build(in);
  CHECK(linesStartingWith(bytes, "Bcc").empty());
  CHECK(linesStartingWith(bytes, "X: ").empty());
  // Host names keep letters, digits and . - _ : [ ] only (':' and brackets for address literals).
  CHECK(joined(linesStartingWith(bytes, "Reporting-MTA: ")) == "Reporting-MTA: dns; mta.example.netBcc:victimexample.com");
  CHECK(joined(linesStartingWith(bytes, "Action: ")) == "Action: failed");
  CHECK(joined(linesStartingWith(bytes, "Diagnostic-Code: ")) == "Diagnostic-Code: smtp; 550 caf?? closed");
  // No 8-bit octet reaches the report when the returned original is ASCII.
  bool eightBit = true;
  const std::string again = build(in, &eightBit);
  CHECK_FALSE(eightBit);
  for (unsigned char c : again) CHECK(c < 0x80);
}

TEST_CASE("buildDsn: long diagnostics are folded at spaces, every line <= 998 (RFC 5322 2.1.1, 2.2.3)") {
  DsnInput in = baseInput();
  std::string words;
  for (int i = 0; i < 300; ++i) words += "word" + std::to_string(i) + " ";
  in.recipients[0].diagnostic = "550 5.7.1 " + words;
  const std::string status = statusPart(build(in));
  // Unfolding (dropping each CRLF before a space) gives back the whole diagnostic.
  const std::string unfolded = unfold(status);
  words.pop_back();  // the trailing space is trimmed
  CHECK(unfolded.find("Diagnostic-Code: smtp; 550 5.7.1 " + words + "\r\n") != std::string::npos);
  for (const std::string& l : crlfLines(status)) CHECK(l.size() <= 78);

  // One 6000-octet token cannot be folded at a space: it is cut, and no line exceeds 998.
  in.recipients[0].diagnostic = "550 " + std::string(6000, 'x');
  const std::string bytes = build(in);
  for (const std::string& l : crlfLines(bytes)) CHECK(l.size() <= 998);
  CHECK(count(bytes, "x") >= 2 * 6000);  // kept whole, in the text part and in the status part
}

TEST_CASE("buildDsn: RET=HDRS returns the header section only, as text/rfc822-headers (RFC 3461 4.3)") {
  bool eightBit = true;
  const std::string bytes = build(baseInput(), &eightBit);
  CHECK_FALSE(eightBit);
  const std::string b = boundaryOf(bytes);
  const std::string tail = "Content-Type: text/rfc822-headers\r\n\r\n"
                           "From: Alice <alice@example.org>\r\n"
                           "To: bob@example.com\r\n"
                           "Subject: quarterly figures\r\n"
                           "Message-ID: <orig-1@example.org>\r\n"
                           "\r\n"
                           "--" + b + "--\r\n";
  CHECK(bytes.substr(bytes.size() - tail.size()) == tail);
  CHECK(bytes.find("Hello Bob") == std::string::npos);
}

TEST_CASE("buildDsn: RET=FULL returns the whole original as message/rfc822 up to fullLimit, headers beyond") {
  DsnInput in = baseInput();
  in.ret = DsnInput::Return::Full;
  const std::string b0 = boundaryOf(build(in));
  const std::string full = build(in);
  CHECK(full.find("Content-Description: Original message\r\nContent-Type: message/rfc822\r\n\r\n" + kOriginal + "--" +
                  b0 + "--\r\n") != std::string::npos);
  CHECK(full.find("Your original message is attached below.") != std::string::npos);

  in.fullLimit = kOriginal.size();  // exactly at the limit: still full
  CHECK(build(in).find("Content-Type: message/rfc822\r\n") != std::string::npos);

  in.fullLimit = kOriginal.size() - 1;  // one octet over: headers only
  const std::string over = build(in);
  CHECK(over.find("Content-Type: message/rfc822") == std::string::npos);
  CHECK(over.find("Content-Type: text/rfc822-headers\r\n") != std::string::npos);
  CHECK(over.find("Hello Bob") == std::string::npos);
  CHECK(over.find("The header of your original message is attached below.") != std::string::npos);
}

TEST_CASE("buildDsn: an 8-bit original is returned as 8bit and flagged for BODY=8BITMIME (RFC 6152)") {
  const std::string orig = "From: a@example.org\r\nSubject: caf\xc3\xa9\r\n\r\nna\xc3\xafve body\r\n";
  DsnInput in = baseInput();
  in.originalMessage = orig;
  in.ret = DsnInput::Return::Full;
  bool eightBit = false;
  const std::string bytes = build(in, &eightBit);
  CHECK(eightBit);
  CHECK(linesStartingWith(bytes, "Content-Transfer-Encoding: 8bit").size() == 2);  // top level and the part
  CHECK(bytes.find("na\xc3\xafve body") != std::string::npos);

  // 8-bit only in the body, RET=HDRS: what is returned is ASCII, so the report is 7-bit.
  const std::string bodyOnly = "From: a@example.org\r\nSubject: plain\r\n\r\nna\xc3\xafve\r\n";
  in.originalMessage = bodyOnly;
  in.ret = DsnInput::Return::Headers;
  const std::string hdrs = build(in, &eightBit);
  CHECK_FALSE(eightBit);
  CHECK(linesStartingWith(hdrs, "Content-Transfer-Encoding").empty());
}

TEST_CASE("buildDsn: the boundary never occurs in any part (RFC 2046 5.1.1)") {
  DsnInput in = baseInput();
  in.ret = DsnInput::Return::Full;
  const std::string first = boundaryOf(build(in));
  // An original that contains the first and second candidates forces a third.
  const std::string second = first.substr(0, first.size() - 1) + "1";
  const std::string orig = "Subject: trap\r\n\r\n--" + first + "\r\n--" + second + "--\r\n";
  in.originalMessage = orig;
  const std::string bytes = build(in);
  const std::string b = boundaryOf(bytes);
  CHECK(b != first);
  CHECK(b != second);
  CHECK(orig.find(b) == std::string::npos);
  CHECK(count(bytes, "--" + b) == 4);
  // The same with the trap in a peer's diagnostic instead of the original.
  in = baseInput();
  in.recipients[0].diagnostic = "550 " + first;
  CHECK(boundaryOf(build(in)) != first);
}

TEST_CASE("buildDsn: bare LF / CR in the original are normalised; NUL or long lines force headers only") {
  DsnInput in = baseInput();
  in.ret = DsnInput::Return::Full;
  const std::string lf = "Subject: lf\nTo: b@example.com\r\rbody\n";
  in.originalMessage = lf;
  const std::string bytes = build(in);  // checkWellFormed inside: no bare CR or LF
  CHECK(bytes.find("Subject: lf\r\nTo: b@example.com\r\n\r\nbody\r\n") != std::string::npos);

  const std::string nul = std::string("Subject: nul\r\n\r\nbinary\0data\r\n", 28);
  in.originalMessage = nul;
  const std::string n = build(in);
  CHECK(n.find("Content-Type: text/rfc822-headers") != std::string::npos);
  CHECK(n.find("Subject: nul\r\n") != std::string::npos);

  const std::string longLine = "Subject: long\r\n\r\n" + std::string(1500, 'y') + "\r\n";
  in.originalMessage = longLine;
  CHECK(build(in).find("Content-Type: text/rfc822-headers") != std::string::npos);

  // A header line over 998 octets in the returned headers is cut, so the report stays legal.
  const std::string longHeader = "X-Long: " + std::string(2000, 'z') + "\r\nSubject: s\r\n\r\nb\r\n";
  in.originalMessage = longHeader;
  in.ret = DsnInput::Return::Headers;
  CHECK(count(build(in), std::string(990, 'z')) == 1);
}

TEST_CASE("buildDsn: Message-ID domain falls back to the reporting MTA; uniqueId makes it unique") {
  DsnInput in = baseInput();
  in.messageIdDomain = "";
  CHECK(joined(linesStartingWith(topHeaders(build(in)), "Message-ID: ")) ==
        "Message-ID: <1234.1796000600000.dsn@mta.example.net>");
  DsnInput other = baseInput();
  other.uniqueId = 0x1235;
  CHECK(joined(linesStartingWith(topHeaders(build(other)), "Message-ID: ")) !=
        joined(linesStartingWith(topHeaders(build(baseInput())), "Message-ID: ")));
}

TEST_CASE("buildDsn: the text part lists every recipient with its diagnostic") {
  DsnInput in = baseInput();
  DsnRecipient second = failedRecipient("carol@example.com");
  second.action = DsnRecipient::Action::Delayed;
  second.status = "4.2.2";
  second.diagnostic = "452 4.2.2 mailbox full";
  second.willRetryUntilMs = kNow + 86'400'000;
  in.recipients.push_back(second);
  const std::string bytes = build(in);
  CHECK(bytes.find("<bob@example.com>: failed, status 5.1.1\r\n"
                   "    Host mx.example.com said: 550 5.1.1 no such user\r\n") != std::string::npos);
  CHECK(bytes.find("<carol@example.com>: delayed, status 4.2.2\r\n"
                   "    Host mx.example.com said: 452 4.2.2 mailbox full\r\n"
                   "    Delivery will be attempted until Tue, 1 Dec 2026 01:03:20 +0000.\r\n") != std::string::npos);
  CHECK(bytes.find("This is the mail system at host mta.example.net.") != std::string::npos);
}
