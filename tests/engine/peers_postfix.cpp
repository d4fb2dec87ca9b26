// peers_postfix.cpp: the delivery engine against a private Postfix instance (an independently written receiver) on
// loopback. Postfix delivers every accepted message into a Maildir (LF line endings, its trace lines prepended), so
// the bytes it received are compared with what was queued; the delivery log's transport fields show BDAT exactly
// when CHUNKING was advertised. The bounce test makes Postfix refuse one recipient and reads the DSN back with
// Python's email package (an independent MIME parser).
//
// Each test starts its own Postfix (stopped on destruction) and its own temp spool (EngineHarness).
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/engine/harness.hpp"
#include "tests/interop/peers.hpp"

namespace sluice::enginetest {
namespace {

using interop::crlfToLf;
using interop::PostfixDelivery;
using interop::PostfixPeer;

const Millis kWait{60000};

// A body of exactly `size` octets after CRLF normalisation: headers, then numbered 7-bit lines, some dot-leading.
std::string sizedBody(const std::string& subject, std::size_t size) {
  std::string b = "From: a@x.test\r\nSubject: " + subject + "\r\n\r\n";
  std::size_t i = 0;
  while (b.size() + 2 < size) {
    std::string line = (i % 5 == 0 ? "." : "") + std::string("line ") + std::to_string(i) + " ";
    const std::size_t room = size - b.size() - 2;
    std::size_t want = std::min<std::size_t>(room, 76);
    while (line.size() < want) line += static_cast<char>('a' + (line.size() + i) % 26);
    if (line.size() > want) line.resize(want);
    b += line + "\r\n";
    ++i;
  }
  while (b.size() < size) b.insert(b.size() - 2, "x");  // pad the last line to the exact size
  return b;
}

// The twenty bodies of the byte-check tests: the edges (empty, one octet, header only, dot lines, a lone "." line,
// CRLF.CRLF look-alikes), ordinary 5 KiB messages, and a 2 MiB message spanning several BDAT chunks.
std::vector<std::string> twentyBodies() {
  std::vector<std::string> v;
  v.push_back("");                  // empty message: BDAT 0 LAST / DATA with the terminator alone
  v.push_back("x");                 // one octet (normalised to "x\r\n")
  v.push_back("Subject: header only\r\n\r\n");
  v.push_back("Subject: dots\r\n\r\n.\r\n..\r\n. x\r\n.leading\r\nmid\r\n.\r\nnot the end\r\n...\r\n");
  v.push_back(".starts with a dot\r\n");
  v.push_back("Subject: lone dot last\r\n\r\n.\r\n");
  v.push_back("Subject: bare lf\n\nunix\nline endings\n");  // normalised to CRLF at intake
  v.push_back(sizedBody("two mebibytes", 2u << 20));
  for (int i = 0; v.size() < 20; ++i) v.push_back(sizedBody("five kib " + std::to_string(i), 5 * 1024));
  return v;
}

// CRLF normalisation as done at intake (the comparison target).
std::string normalised(std::string body) {
  delivery::normaliseLineEndings(body);
  return body;
}

// What Postfix's Maildir copy of a queued body looks like: LF line endings; and when the first line is not a header
// field (the one-octet and ".starts with a dot" messages), Postfix's cleanup puts an empty line in front to separate
// the (empty) header from the body. Everything else is byte for byte.
std::string postfixView(const std::string& queued) {
  std::string v = crlfToLf(queued);
  if (v.empty()) return v;
  const std::size_t eol = v.find('\n');
  const std::string first = v.substr(0, eol);
  const std::size_t colon = first.find(':');
  bool header = colon != std::string::npos && colon > 0;
  for (std::size_t i = 0; header && i < colon; ++i) {
    const unsigned char c = static_cast<unsigned char>(first[i]);
    if (c <= ' ' || c >= 127) header = false;  // RFC 5322 §2.2 field name: printable, no space
  }
  return header ? v : "\n" + v;
}

// Maildir copies keyed by recipient.
std::map<std::string, PostfixDelivery> byRecipient(const std::vector<PostfixDelivery>& ds) {
  std::map<std::string, PostfixDelivery> m;
  for (const auto& d : ds) m[d.deliveredTo] = d;
  return m;
}

// Queues the twenty bodies, message i to m<i>@dest.test, and drains them to `port`; checks outcomes, the log's
// transport fields and the Maildir bytes.
void deliverTwenty(PostfixPeer& pf, std::uint16_t port, bool expectChunking) {
  ops::EngineConfig cfg = testConfig(loopback(port));
  EngineHarness h(cfg);
  const auto bodies = twentyBodies();
  for (std::size_t i = 0; i < bodies.size(); ++i)
    h.add({"sender@origin.test", {"m" + std::to_string(i) + "@dest.test"}, bodies[i], {}});

  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == bodies.size());
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.deferred == 0);
  CHECK(r.spool.liveMessages == 0);
  CHECK(r.progress.transactionsBdat == (expectChunking ? bodies.size() : 0));
  CHECK(r.progress.transactionsData == (expectChunking ? 0 : bodies.size()));
  CHECK(r.progress.transactionsPipelined == bodies.size());
  std::size_t octets = 0;
  for (const auto& b : bodies) octets += normalised(b).size();
  if (expectChunking) CHECK(r.progress.bodyBytes == octets);  // BDAT sends the queued bytes as they are

  REQUIRE(r.log.size() == bodies.size());
  for (const LogLine& l : r.log) {
    INFO(l.raw);
    CHECK(l.status == "delivered");
    CHECK(l.code == 250);
    CHECK(l.enhanced == "2.0.0");
    CHECK(l.chunking == expectChunking);
    CHECK(l.pipelined);
    CHECK_FALSE(l.tls);
    CHECK(l.body == "7bit");
    CHECK(l.addr == loopback(port));
  }

  const auto got = byRecipient(pf.waitDeliveries(bodies.size(), kWait));
  REQUIRE_MESSAGE(got.size() == bodies.size(), pf.maillog());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const std::string rcpt = "m" + std::to_string(i) + "@dest.test";
    INFO("recipient " << rcpt << " (" << bodies[i].size() << " octets)");
    REQUIRE(got.count(rcpt) == 1);
    const PostfixDelivery& d = got.at(rcpt);
    CHECK(d.returnPath == "<sender@origin.test>");
    CHECK(d.received.find("from sluice.test") != std::string::npos);  // our EHLO name
    const std::string want = postfixView(normalised(bodies[i]));
    CHECK(d.message.size() == want.size());
    CHECK_MESSAGE(d.message == want, "got: " << d.message.substr(0, 200));
  }
}

// Python's email package reads a DSN and prints what it found, one "key=value" per line.
const char kDsnCheck[] = R"PY(
import email, email.policy, sys
msg = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
print('type=' + msg.get_content_type())
print('report_type=' + str(msg.get_param('report-type')))
parts = list(msg.iter_parts()) if msg.is_multipart() else []
print('parts=' + ','.join(p.get_content_type() for p in parts))
for p in parts:
    if p.get_content_type() == 'message/delivery-status':
        blocks = p.get_payload()
        for b in blocks[1:]:
            print('final=' + str(b.get('Final-Recipient', '')).strip())
            print('action=' + str(b.get('Action', '')).strip())
            print('status=' + str(b.get('Status', '')).strip())
)PY";

}  // namespace

// RFC 3030 §2-4 with RFC 2920: BDAT used because CHUNKING is advertised, transactions pipelined; Postfix stores
// the exact bytes (a 2 MiB body in several 1 MiB chunks, an empty body as BDAT 0 LAST, lines starting with ".").
TEST_CASE("engine vs Postfix with CHUNKING: 20 messages by BDAT, bytes as queued") {
  PostfixPeer pf;
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  deliverTwenty(pf, pf.port(), true);
}

// Same peer with CHUNKING discarded from EHLO: DATA is used, dot-stuffed by us (RFC 5321 §4.5.2) and unstuffed by
// Postfix, so the stored bytes are again exactly what was queued.
TEST_CASE("engine vs Postfix without CHUNKING: 20 messages by DATA, dot-stuffing undone, bytes as queued") {
  PostfixPeer pf;
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  deliverTwenty(pf, pf.noChunkingPort(), false);
}

// RFC 5321 §6.1 / RFC 3464: a recipient refused with 550 fails for good; one DSN (multipart/report, null
// reverse-path) goes to the sender and is delivered; the other recipient of the message is delivered. A message
// with the null reverse-path gets no DSN at all for its refused recipient.
TEST_CASE("engine vs Postfix refusing a recipient: bounced, DSN delivered to the sender, none for a null sender") {
  PostfixPeer pf(
      "smtpd_recipient_restrictions = check_recipient_access "
      "inline:{ {nobody@dest.test = 550 5.1.1 no such user here} }, permit_mynetworks, reject\n");
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());

  SUBCASE("a sender gets a DSN") {
    EngineHarness h(testConfig(loopback(pf.port())));
    const std::string body = "From: sender@origin.test\r\nSubject: to be bounced\r\n\r\nhello\r\n";
    h.add({"sender@origin.test", {"ok@dest.test", "nobody@dest.test"}, body, {}});
    const RunReport r = h.run();
    REQUIRE_MESSAGE(r.created, r.createError);
    CHECK(r.rc == 0);
    CHECK_FALSE(r.stoppedByWatchdog);
    CHECK(r.progress.bounced == 1);
    CHECK(r.progress.bouncesQueued == 1);
    CHECK(r.progress.delivered == 2);  // ok@dest.test and the DSN
    CHECK(r.spool.liveMessages == 0);

    const auto bad = linesFor(r.log, "nobody@dest.test");
    REQUIRE(bad.size() == 1);
    INFO(bad[0].raw);
    CHECK(bad[0].status == "bounced");
    CHECK(bad[0].code == 550);
    CHECK(bad[0].enhanced == "5.1.1");
    CHECK(bad[0].reply.find("no such user here") != std::string::npos);
    const auto good = linesFor(r.log, "ok@dest.test");
    REQUIRE(good.size() == 1);
    CHECK(good[0].status == "delivered");
    const auto dsnLine = linesFor(r.log, "sender@origin.test");
    REQUIRE(dsnLine.size() == 1);
    CHECK(dsnLine[0].status == "delivered");
    CHECK(dsnLine[0].id != good[0].id);

    const auto got = byRecipient(pf.waitDeliveries(2, kWait));
    REQUIRE_MESSAGE(got.count("ok@dest.test") == 1, pf.maillog());
    CHECK(got.at("ok@dest.test").message == crlfToLf(body));
    REQUIRE(got.count("sender@origin.test") == 1);
    const PostfixDelivery& dsn = got.at("sender@origin.test");
    CHECK(dsn.returnPath == "<>");  // the null reverse-path

    // The DSN as Python's email package reads it (Maildir LF endings back to CRLF for the parser).
    std::string crlf;
    for (char c : dsn.message) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    interop::writeFile(h.dir() / "dsn.eml", crlf);
    interop::writeFile(h.dir() / "dsn_check.py", kDsnCheck);
    const auto py = interop::runCommand(
        {"/usr/bin/python3", (h.dir() / "dsn_check.py").string(), (h.dir() / "dsn.eml").string()}, Millis(30000));
    INFO(py.output);
    REQUIRE(py.status == 0);
    CHECK(py.output.find("type=multipart/report\n") != std::string::npos);
    CHECK(py.output.find("report_type=delivery-status\n") != std::string::npos);
    CHECK(py.output.find("message/delivery-status") != std::string::npos);
    CHECK(py.output.find("final=rfc822; nobody@dest.test\n") != std::string::npos);
    CHECK(py.output.find("action=failed\n") != std::string::npos);
    CHECK(py.output.find("status=5.1.1\n") != std::string::npos);
    CHECK(py.output.find("ok@dest.test") == std::string::npos);  // only the failed recipient is reported
  }

  SUBCASE("a null-sender message gets none") {
    EngineHarness h(testConfig(loopback(pf.port())));
    h.add({"", {"nobody@dest.test"}, "Subject: a report\r\n\r\nnull sender\r\n", {}});
    const RunReport r = h.run();
    REQUIRE_MESSAGE(r.created, r.createError);
    CHECK(r.rc == 0);
    CHECK(r.progress.bounced == 1);
    CHECK(r.progress.bouncesQueued == 0);
    CHECK(r.progress.delivered == 0);
    CHECK(r.spool.liveMessages == 0);
    REQUIRE(r.log.size() == 1);
    INFO(r.log[0].raw);
    CHECK(r.log[0].status == "bounced");
    CHECK(r.log[0].code == 550);
  }
}

}  // namespace sluice::enginetest
