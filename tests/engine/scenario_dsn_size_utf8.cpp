// scenario_dsn_size_utf8.cpp: the delivery engine carrying SIZE, DSN and SMTPUTF8 end to end (issue 7), checked
// on the receiving side. Spec references are to the project's ESMTP rules (esmtp-rules.md): §5 SIZE (RFC 1870),
// §6 DSN (RFC 3461/3464), §8 SMTPUTF8 (RFC 6531) and the edge cases 15 (SIZE at, over and grown past the limit),
// 16 (DSN parameters, "relayed" reports, no report to <>) and 22 (SMTPUTF8 and IDN) of §11.
//
// Receivers: `sluice sink` in-process (sink::Sink: exact SIZE limits, extensions switched off one by one, a
// Maildir with the envelope it saw), Postfix's smtp-sink (advertises DSN, not SIZE or SMTPUTF8; its dumps show the
// MAIL and RCPT arguments as received), a private Postfix (DSN discarded from EHLO: it refuses DSN parameters, so
// a delivery proves they were stripped) and the scripted fake receiver (exact command lines, the SIZE keyword it is
// told to advertise, scripted 451/550 replies). Reports (RFC 3464) are read back with Python's email package, a
// MIME parser that is not ours.
//
// Each test owns its receivers and its temp spool (EngineHarness). Messages with RCPT parameters are queued with
// delivery::appendDurably (dsn_support.hpp; TestMessage has no per-recipient parameters). Threads: the receivers
// run their own threads or processes; the engine runs on the test thread; records are read after the drained run.
// Errors: a receiver that cannot start fails the test with its message.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/mime/mime.hpp"
#include "tests/engine/dsn_support.hpp"
#include "tests/engine/scenario_support.hpp"
#include "tests/interop/peers.hpp"

namespace {

using namespace sluice;
using namespace sluice::scenario;
using namespace sluice::dsntest;

const Millis kWait{30000};

}  // namespace

// ---- 1. SIZE (§5, edge case 15)

// RFC 1870 §6: SIZE= declares the octets (CRLF included, before dot-stuffing) of what is sent; a message over the
// peer's fixed limit is not sent and fails for that host with 552 5.3.4. The fake receiver advertises SIZE 4096 and
// takes anything, so a message sent over the limit would show up in its records.
TEST_CASE("dsn/size: SIZE exactly at the limit is sent with SIZE= its size; one octet over is refused unsent") {
  FakeServerOptions o;
  o.extraKeywords = {"SIZE 4096"};
  SUBCASE("BDAT") { o.chunking = true; }
  SUBCASE("DATA: the dot-stuffing octets are not counted") { o.chunking = false; }
  FakeServer srv(o);
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(srv.endpoint()));
  const std::string exact = sizedBody("exact", 4096);
  const std::string over = sizedBody("over", 4097);
  REQUIRE(exact.size() == 4096);
  REQUIRE(over.size() == 4097);
  queueMessage(h, "sender@src.test", {{"exact@dst.test"}}, exact);
  queueMessage(h, "sender@src.test", {{"over@dst.test"}}, over);
  RunReport r = h.run(guarded());
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK_FALSE(r.stoppedByWatchdog);

  const LogLine ok = lineOf(r.log, "exact@dst.test");
  INFO(ok.raw);
  CHECK(ok.status == "delivered");
  const LogLine big = lineOf(r.log, "over@dst.test");
  INFO(big.raw);
  CHECK(big.status == "bounced");
  CHECK(big.code == 552);
  CHECK(big.enhanced == "5.3.4");
  CHECK(big.synthesized);
  CHECK(r.progress.bouncesQueued == 1);

  std::optional<test::TransactionRecord> got;
  for (const auto& t : srv.acceptedMessages())
    if (t.accepted == std::vector<std::string>{"exact@dst.test"}) got = t;
  REQUIRE(got.has_value());
  CHECK(got->mailLine.find(" SIZE=4096") != std::string::npos);
  CHECK(got->body == exact);
  CHECK_FALSE(anyRcptLineHas(srv, "over@dst.test"));  // never offered to the peer
  // Only the report about it carries anything of it (its header), never its body lines.
  const std::string overLine = over.substr(over.find("\r\n\r\n") + 4, 40);
  for (const auto& t : allTransactions(srv)) CHECK(t.body.find(overLine) == std::string::npos);
  CHECK(reportsTo(srv, "sender@src.test").size() == 1);  // the bounce for over@dst.test
  CHECK(r.progress.transactionsBdat == (o.chunking ? 2u : 0u));
}

// The same boundary against `sluice sink`, which advertises and enforces its limit: the message at the limit is
// stored byte for byte; the one over it never reaches the sink (only our report to its sender does).
TEST_CASE("dsn/size: sluice sink with --size 4096 stores the message at the limit; one octet over is bounced") {
  sink::SinkOptions so;
  so.maxMessageSize = 4096;
  SluiceSink peer(so);
  REQUIRE_MESSAGE(peer.started(), peer.error());
  EngineHarness h(enginetest::testConfig(peer.endpoint()));
  const std::string exact = sizedBody("exact", 4096);
  queueMessage(h, "sender@src.test", {{"exact@dst.test"}}, exact);
  queueMessage(h, "sender@src.test", {{"over@dst.test"}}, sizedBody("over", 4097));
  RunReport r = h.run(guarded());
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(lineOf(r.log, "exact@dst.test").status == "delivered");
  const LogLine big = lineOf(r.log, "over@dst.test");
  INFO(big.raw);
  CHECK(big.status == "bounced");
  CHECK(big.code == 552);
  CHECK(big.enhanced == "5.3.4");
  CHECK(big.synthesized);  // our refusal, not the sink's

  const auto stored = peer.messages();
  const auto exactCopy = withEnvelope(stored, "to=<exact@dst.test>");
  REQUIRE(exactCopy.size() == 1);
  CHECK(exactCopy[0].body == exact);
  CHECK(withEnvelope(stored, "over@dst.test").empty());
  CHECK(withEnvelope(stored, "from=<>; to=<sender@src.test>").size() == 1);
  CHECK(stored.size() == 2);
  CHECK(peer.counters().transactions == 2);  // the message at the limit and the report: no MAIL for the other
}

// Esmtp-rules §4 last rule and §5: the size compared with the peer's limit is the size after conversion. An 8-bit
// message under the limit grows past it when converted to 7-bit for a peer without 8BITMIME: refused for that peer
// (552 5.3.4, nothing sent); the same message to an 8BITMIME peer with the same limit goes natively. A third peer
// (no 8BITMIME, large limit) shows that SIZE= declares the converted size, which is what it receives.
TEST_CASE("dsn/size: growth by the 7-bit conversion pushes a message over SIZE; native 8BITMIME fits") {
  const std::string body = cyrillicMessage(3000);
  const std::size_t stored = body.size();
  mime::ConvertOptions co;
  co.target = mime::Target::SevenBit;
  const mime::ConvertResult plan = mime::convert(body, co);
  REQUIRE(std::holds_alternative<std::shared_ptr<const mime::Conversion>>(plan));
  const std::uint64_t converted = std::get<std::shared_ptr<const mime::Conversion>>(plan)->size();
  REQUIRE(converted > stored + 100);
  const std::uint64_t limit = (stored + converted) / 2;  // stored < limit < converted

  sink::SinkOptions seven;
  seven.eightBitMime = false;
  seven.maxMessageSize = limit;
  SluiceSink sevenPeer(seven);
  REQUIRE_MESSAGE(sevenPeer.started(), sevenPeer.error());
  sink::SinkOptions eight;
  eight.maxMessageSize = limit;
  SluiceSink eightPeer(eight);
  REQUIRE_MESSAGE(eightPeer.started(), eightPeer.error());
  FakeServerOptions fo;
  fo.eightBitMime = false;
  fo.extraKeywords = {"SIZE 10000000"};
  FakeServer fake(fo);
  REQUIRE(fake.start() == "");

  ops::EngineConfig cfg = enginetest::testConfig(eightPeer.endpoint());  // "*": reports go to the 8-bit peer
  cfg.routes.push_back({"seven.test", sevenPeer.endpoint()});
  cfg.routes.push_back({"eight.test", eightPeer.endpoint()});
  cfg.routes.push_back({"fake.test", fake.endpoint()});
  EngineHarness h(cfg);
  queueMessage(h, "sender@src.test", {{"a@seven.test"}, {"b@eight.test"}, {"c@fake.test"}}, body);
  RunReport r = h.run(guarded());
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK_FALSE(r.stoppedByWatchdog);

  const LogLine refused = lineOf(r.log, "a@seven.test");
  INFO(refused.raw);
  CHECK(refused.status == "bounced");
  CHECK(refused.code == 552);
  CHECK(refused.enhanced == "5.3.4");
  CHECK(refused.synthesized);
  CHECK(refused.body == "converted");  // the variant that did not fit
  CHECK(sevenPeer.counters().transactions == 0);
  CHECK(sevenPeer.messages().empty());

  const LogLine native = lineOf(r.log, "b@eight.test");
  INFO(native.raw);
  CHECK(native.status == "delivered");
  CHECK(native.body == "8bitmime");
  const auto got = withEnvelope(eightPeer.messages(), "to=<b@eight.test>");
  REQUIRE(got.size() == 1);
  CHECK(got[0].envelope.find("body=8BITMIME") != std::string::npos);
  CHECK(got[0].body == body);

  const LogLine conv = lineOf(r.log, "c@fake.test");
  INFO(conv.raw);
  CHECK(conv.status == "delivered");
  CHECK(conv.body == "converted");
  const auto msgs = fake.acceptedMessages();
  REQUIRE(msgs.size() == 1);
  const std::string& sent = msgs[0].body;
  INFO(msgs[0].mailLine);
  CHECK(msgs[0].mailLine.find(" SIZE=" + std::to_string(sent.size())) != std::string::npos);
  CHECK(sent.size() == converted);
  CHECK(msgs[0].mailLine.find("BODY=") == std::string::npos);  // no 8BITMIME at the peer: no BODY= at all
  CHECK_FALSE(hasEightBitOctet(sent));
  CHECK(sent.find("Content-Transfer-Encoding: 8bit") == std::string::npos);

  // The report about a@seven.test went to the sender (through "*", the 8-bit peer).
  CHECK(withEnvelope(eightPeer.messages(), "from=<>; to=<sender@src.test>").size() == 1);
}

// ---- 2. DSN parameters on the wire (§6, edge case 16)

// RFC 3461 §4-§5: NOTIFY, ORCPT, RET and ENVID go on exactly as received to a peer that advertises DSN (xtext
// encoded again: "+" as "+2B", space as "+20", "=" as "+3D"), and not at all to one that does not.
TEST_CASE("dsn/params: NOTIFY, ORCPT, RET, ENVID passed to a DSN peer (smtp-sink), stripped for a peer without DSN") {
  interop::SmtpSink dsnPeer;
  REQUIRE(dsnPeer.running());
  FakeServer plain;  // advertises no DSN
  REQUIRE(plain.start() == "");
  ops::EngineConfig cfg = enginetest::testConfig(plain.endpoint());
  cfg.routes.push_back({"dsn.test", enginetest::loopback(dsnPeer.port())});
  EngineHarness h(cfg);
  smtp::MailParams mp;
  mp.ret = smtp::DsnRet::Headers;
  mp.envid = "env id+1=x";
  const std::string body = "From: sender@src.test\r\nSubject: dsn params\r\n\r\nhello\r\n";
  queueMessage(h, "sender@src.test",
               {{"a@dsn.test", smtp::NotifySuccess | smtp::NotifyFailure, "user+x@example.org"},
                {"b@dsn.test", smtp::NotifyNever, ""},
                {"c@dsn.test"},
                {"d@plain.test", smtp::NotifyFailure | smtp::NotifyDelay, "d+x@example.org"}},
               body, mp);
  RunReport r = h.run(guarded());
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == 4);
  CHECK(r.progress.bouncesQueued == 0);  // SUCCESS went to a DSN peer: reporting it is that peer's job

  const auto dumps = dsnPeer.waitDumps(1, kWait);
  REQUIRE(dumps.size() == 1);
  INFO("MAIL args: " << dumps[0].mailArgs);
  CHECK(dumps[0].mailArgs.find("RET=HDRS") != std::string::npos);
  CHECK(dumps[0].mailArgs.find("ENVID=env+20id+2B1+3Dx") != std::string::npos);
  REQUIRE(dumps[0].rcptArgs.size() == 3);
  CHECK(dumps[0].rcptArgs[0] == "<a@dsn.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user+2Bx@example.org");
  CHECK(dumps[0].rcptArgs[1] == "<b@dsn.test> NOTIFY=NEVER");
  CHECK(dumps[0].rcptArgs[2] == "<c@dsn.test>");

  const auto msgs = plain.acceptedMessages();
  REQUIRE(msgs.size() == 1);
  INFO(msgs[0].mailLine);
  CHECK(msgs[0].mailLine.find("RET=") == std::string::npos);
  CHECK(msgs[0].mailLine.find("ENVID=") == std::string::npos);
  REQUIRE(msgs[0].rcptLines.size() == 1);
  CHECK(msgs[0].rcptLines[0] == "RCPT TO:<d@plain.test>");
  CHECK(msgs[0].body == body);
}

// ---- 3. "relayed" reports (§6, edge case 16)

// RFC 3461 §4.2 / esmtp-rules §6: relaying to a peer without DSN strips the parameters and, for recipients whose
// NOTIFY has SUCCESS, we report "relayed" ourselves: one report per message, MAIL FROM:<> to the sender, with
// Original-Recipient (decoded ORCPT) and Original-Envelope-Id (decoded ENVID). No report for NOTIFY=FAILURE, for no
// NOTIFY, or to the null reverse-path. Postfix with DSN discarded from EHLO refuses DSN parameters (5xx), so
// each delivery also proves the parameters were stripped.
TEST_CASE("dsn/relayed: Postfix without DSN: parameters stripped, one 'relayed' report for NOTIFY=SUCCESS only") {
  interop::PostfixPeer pf("smtpd_discard_ehlo_keywords = dsn\n");
  REQUIRE_MESSAGE(pf.running(), pf.startOutput());
  EngineHarness h(enginetest::testConfig(enginetest::loopback(pf.port())));
  {
    // The premise, checked with Python's smtplib: this listener offers no DSN and refuses its parameters.
    interop::writeFile(h.dir() / "probe.py", kDsnProbe);
    const auto probe = interop::runCommand(
        {"/usr/bin/python3", (h.dir() / "probe.py").string(), std::to_string(pf.port())}, Millis(30000));
    INFO(probe.output);
    REQUIRE(probe.status == 0);
    REQUIRE(probe.output == "dsn=no\nmail=5xx\nrcpt=5xx\n");
  }
  smtp::MailParams mp;
  mp.envid = "campaign 7+a";
  mp.ret = smtp::DsnRet::Full;
  queueMessage(h, "s1@origin.test",
               {{"r1@dest.test", smtp::NotifySuccess | smtp::NotifyFailure, "user+x@example.org"},
                {"r1b@dest.test", smtp::NotifySuccess, ""}},
               "From: s1@origin.test\r\nSubject: wants success\r\n\r\nbody-one\r\n", mp);
  queueMessage(h, "s2@origin.test", {{"r2@dest.test", smtp::NotifyFailure, "r2@example.org"}},
               "Subject: failure only\r\n\r\nbody-two\r\n");
  queueMessage(h, "s3@origin.test", {{"r3@dest.test"}}, "Subject: no notify\r\n\r\nbody-three\r\n");
  queueMessage(h, "", {{"r4@dest.test", smtp::NotifySuccess, ""}}, "Subject: null sender\r\n\r\nbody-four\r\n");
  RunReport r = h.run(guarded());
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK_FALSE(r.stoppedByWatchdog);
  for (const char* rc : {"r1@dest.test", "r1b@dest.test", "r2@dest.test", "r3@dest.test", "r4@dest.test"}) {
    const LogLine l = lineOf(r.log, rc);
    INFO(l.raw);
    CHECK(l.status == "delivered");
  }
  CHECK(r.progress.bouncesQueued == 1);
  CHECK(lineOf(r.log, "s1@origin.test").status == "delivered");
  CHECK(enginetest::linesFor(r.log, "s2@origin.test").empty());
  CHECK(enginetest::linesFor(r.log, "s3@origin.test").empty());

  const auto got = pf.waitDeliveries(6, kWait);
  INFO(pf.maillog());
  REQUIRE(got.size() == 6);
  std::vector<interop::PostfixDelivery> reports;
  for (const auto& d : got)
    if (d.deliveredTo.find("@origin.test") != std::string::npos) reports.push_back(d);
  REQUIRE(reports.size() == 1);  // to s1 only
  CHECK(reports[0].deliveredTo == "s1@origin.test");
  CHECK(reports[0].returnPath == "<>");
  const std::string out = readReport(h, reports[0].message, "body-one");
  INFO(out);
  CHECK(out.find("type=multipart/report\n") != std::string::npos);
  CHECK(out.find("report_type=delivery-status\n") != std::string::npos);
  CHECK(out.find("envid=campaign 7+a\n") != std::string::npos);
  const auto blocks = reportBlocks(out);
  REQUIRE(blocks.size() == 2);
  CHECK(std::count(blocks.begin(), blocks.end(),
                   "rcpt final=rfc822;r1@dest.test|orig=rfc822;user+x@example.org|action=relayed|status=2.0.0|"
                   "retry=none") == 1);
  CHECK(std::count(blocks.begin(), blocks.end(),
                   "rcpt final=rfc822;r1b@dest.test|orig=none|action=relayed|status=2.0.0|retry=none") == 1);
}

// ---- 4. "delayed" reports (§6)

// RFC 3461 §4.1 / esmtp-rules §6: a delay report only for recipients that asked NOTIFY=DELAY, once the message has
// waited bounces.delay_warning_after (0 here: at the first deferral); none for FAILURE only, NEVER, no NOTIFY.
// With the default (4 h) the first deferral sends nothing.
TEST_CASE("dsn/delayed: 451 to RCPT: one 'delayed' report for NOTIFY=DELAY recipients, none otherwise") {
  FakeServer srv({}, [](const Event& e) -> std::optional<Action> {
    if (e.stage == Stage::Rcpt && e.line.find("@dst.test") != std::string::npos)
      return Action::reply("451 4.2.0 mailbox busy, try later");
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  ops::EngineConfig cfg = enginetest::testConfig(srv.endpoint());
  bool warnNow = true;
  SUBCASE("delay_warning_after = 0") { warnNow = true; }
  SUBCASE("delay_warning_after = 4 h (the default)") { warnNow = false; }
  if (warnNow) cfg.delayWarningAfter = Millis(0);
  EngineHarness h(cfg);
  smtp::MailParams mp;
  mp.envid = "delay-env";
  const std::vector<Rcpt> rcpts = {{"a@dst.test", smtp::NotifyDelay | smtp::NotifyFailure, "a+orig@example.org"},
                                   {"b@dst.test", smtp::NotifyFailure, ""},
                                   {"c@dst.test", smtp::NotifyNever, ""},
                                   {"d@dst.test"},
                                   {"e@dst.test", smtp::NotifySuccess | smtp::NotifyDelay, ""}};
  const queue::MessageId id = queueMessage(
      h, "sender@src.test", rcpts, "From: sender@src.test\r\nSubject: slow\r\n\r\ndelayed body\r\n", mp);
  const std::int64_t before = nowMs();
  RunReport r = h.run(guarded());
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.deferred == rcpts.size());
  for (const auto& rc : rcpts) CHECK(lineOf(r.log, rc.address).status == "deferred");
  auto view = liveView(h, id);
  REQUIRE(view.has_value());
  for (std::size_t i = 0; i < rcpts.size(); ++i) CHECK(view->recipientPending(i));  // still being retried

  const auto reports = reportsTo(srv, "sender@src.test");
  if (!warnNow) {
    CHECK(r.progress.bouncesQueued == 0);
    CHECK(reports.empty());
    return;
  }
  CHECK(r.progress.bouncesQueued == 1);
  REQUIRE(reports.size() == 1);
  const std::string out = readReport(h, reports[0].body, "delayed body");
  INFO(out);
  CHECK(out.find("type=multipart/report\n") != std::string::npos);
  CHECK(out.find("envid=delay-env\n") != std::string::npos);
  const auto blocks = reportBlocks(out);
  REQUIRE(blocks.size() == 2);  // a and e only
  std::map<std::string, std::string> byRcpt;
  for (const auto& b : blocks) byRcpt[b.substr(0, b.find('|'))] = b;
  REQUIRE(byRcpt.count("rcpt final=rfc822;a@dst.test") == 1);
  REQUIRE(byRcpt.count("rcpt final=rfc822;e@dst.test") == 1);
  for (const auto& entry : byRcpt) {
    const std::string& b = entry.second;  // not a structured binding: INFO captures it in a lambda
    INFO(b);
    CHECK(b.find("|action=delayed|status=4.2.0|retry=") != std::string::npos);
    const std::int64_t until = std::stoll(b.substr(b.rfind("retry=") + 6));
    CHECK(until * 1000 > before + 3600 * 1000);  // still retried past the next attempt
  }
  CHECK(byRcpt["rcpt final=rfc822;a@dst.test"].find("|orig=rfc822;a+orig@example.org|") != std::string::npos);
  CHECK(byRcpt["rcpt final=rfc822;e@dst.test"].find("|orig=none|") != std::string::npos);
}

// ---- 5. failure reports honour NOTIFY and RET (§6)

// RFC 3461 §4.1-§4.3: NOTIFY=NEVER: no report (the recipient is final all the same); NOTIFY=SUCCESS only: no
// failure report; RET=HDRS: the original's header only (text/rfc822-headers); RET=FULL: the whole original
// (message/rfc822).
TEST_CASE("dsn/failed: 550 to RCPT: NEVER and SUCCESS-only get no report, RET=HDRS headers, RET=FULL the body") {
  FakeServer srv({}, [](const Event& e) -> std::optional<Action> {
    if (e.stage == Stage::Rcpt && e.line.find("@dst.test") != std::string::npos)
      return Action::reply("550 5.1.1 no such user");
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(srv.endpoint()));
  auto body = [](const std::string& n) {
    return "From: " + n + "@src.test\r\nSubject: subject-" + n + "\r\n\r\nbodytext-" + n + "\r\n";
  };
  const queue::MessageId never = queueMessage(h, "s1@src.test", {{"n1@dst.test", smtp::NotifyNever, ""}}, body("s1"));
  queueMessage(h, "s2@src.test", {{"n2@dst.test", smtp::NotifySuccess, ""}}, body("s2"));
  smtp::MailParams hdrs;
  hdrs.ret = smtp::DsnRet::Headers;
  queueMessage(h, "s3@src.test", {{"n3@dst.test", smtp::NotifyFailure, ""}}, body("s3"), hdrs);
  smtp::MailParams full;
  full.ret = smtp::DsnRet::Full;
  queueMessage(h, "s4@src.test", {{"n4@dst.test"}}, body("s4"), full);
  RunReport r = h.run(guarded());
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK_FALSE(r.stoppedByWatchdog);
  for (const char* rc : {"n1@dst.test", "n2@dst.test", "n3@dst.test", "n4@dst.test"}) {
    const LogLine l = lineOf(r.log, rc);
    INFO(l.raw);
    CHECK(l.status == "bounced");
    CHECK(l.code == 550);
  }
  CHECK(r.progress.bouncesQueued == 2);
  CHECK_FALSE(h.spool().lookup(never).isOk());  // journaled bounced although no report went out
  CHECK(r.spool.liveMessages == 0);
  CHECK(reportsTo(srv, "s1@src.test").empty());
  CHECK(reportsTo(srv, "s2@src.test").empty());

  const auto r3 = reportsTo(srv, "s3@src.test");
  REQUIRE(r3.size() == 1);
  const std::string o3 = readReport(h, r3[0].body, "bodytext-s3");
  INFO(o3);
  CHECK(o3.find("parts=text/plain,message/delivery-status,text/rfc822-headers\n") != std::string::npos);
  CHECK(o3.find("marker=no\n") != std::string::npos);
  CHECK(r3[0].body.find("Subject: subject-s3") != std::string::npos);
  CHECK(o3.find("rcpt final=rfc822;n3@dst.test|orig=none|action=failed|status=5.1.1|") != std::string::npos);

  const auto r4 = reportsTo(srv, "s4@src.test");
  REQUIRE(r4.size() == 1);
  const std::string o4 = readReport(h, r4[0].body, "bodytext-s4");
  INFO(o4);
  CHECK(o4.find("parts=text/plain,message/delivery-status,message/rfc822\n") != std::string::npos);
  CHECK(o4.find("marker=yes\n") != std::string::npos);
  CHECK(o4.find("rcpt final=rfc822;n4@dst.test|orig=none|action=failed|status=5.1.1|") != std::string::npos);
}

// ---- 6. SMTPUTF8 (§8, edge case 22)

// RFC 6531 §3.2-§3.4: a non-ASCII local part or raw UTF-8 header fields go with SMTPUTF8 on MAIL to a peer that
// offers it.
TEST_CASE("dsn/smtputf8: UTF-8 mailboxes (recipient, sender) and a UTF-8 Subject go with SMTPUTF8 to sluice sink") {
  SluiceSink peer(sink::SinkOptions{});
  REQUIRE_MESSAGE(peer.started(), peer.error());
  EngineHarness h(enginetest::testConfig(peer.endpoint()));
  const std::string ascii = "From: sender@src.test\r\nSubject: to joerg\r\n\r\nplain body\r\n";
  const std::string utf8Subject =
      "From: sender@src.test\r\nSubject: Gr\xC3\xBC\xC3\x9F" "e aus K\xC3\xB6ln\r\n\r\nplain body\r\n";
  queueMessage(h, "sender@src.test", {{"j\xC3\xB6rg@utf8.test"}}, ascii);
  queueMessage(h, "sender@src.test", {{"plain@utf8.test"}}, utf8Subject);
  queueMessage(h, "j\xC3\xB6rg@src.test", {{"reply@utf8.test"}}, ascii);  // a UTF-8 reverse-path alone
  RunReport r = h.run(guarded());
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == 3);
  CHECK(r.progress.bounced == 0);
  const auto stored = peer.messages();
  REQUIRE(stored.size() == 3);
  const auto c = withEnvelope(stored, "from=<j\xC3\xB6rg@src.test>; to=<reply@utf8.test>;");
  REQUIRE(c.size() == 1);
  CHECK(c[0].envelope.find("smtputf8=yes") != std::string::npos);
  const auto a = withEnvelope(stored, "to=<j\xC3\xB6rg@utf8.test>");
  REQUIRE(a.size() == 1);
  CHECK(a[0].envelope.find("smtputf8=yes") != std::string::npos);
  CHECK(a[0].body == ascii);
  const auto b = withEnvelope(stored, "to=<plain@utf8.test>");
  REQUIRE(b.size() == 1);
  CHECK(b[0].envelope.find("smtputf8=yes") != std::string::npos);
  CHECK(b[0].body == utf8Subject);
}

// RFC 6531 §3.2 / esmtp-rules §8: without SMTPUTF8 at the peer the message is not sent: 553 5.6.7 for a non-ASCII
// mailbox, 554 5.6.7 for UTF-8 header fields, decided before MAIL. smtp-sink offers no SMTPUTF8; it receives only
// our two reports.
TEST_CASE("dsn/smtputf8: a UTF-8 mailbox and a UTF-8 Subject to smtp-sink (no SMTPUTF8) are refused before MAIL") {
  interop::SmtpSink peer;
  REQUIRE(peer.running());
  EngineHarness h(enginetest::testConfig(enginetest::loopback(peer.port())));
  queueMessage(h, "sender@src.test", {{"j\xC3\xB6rg@utf8.test"}},
               "From: sender@src.test\r\nSubject: to joerg\r\n\r\nplain body\r\n");
  queueMessage(h, "sender@src.test", {{"plain@utf8.test"}},
               "From: sender@src.test\r\nSubject: Gr\xC3\xBC\xC3\x9F" "e\r\n\r\nplain body\r\n");
  RunReport r = h.run(guarded());
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK_FALSE(r.stoppedByWatchdog);
  const LogLine a = lineOf(r.log, "j\xC3\xB6rg@utf8.test");
  INFO(a.raw);
  CHECK(a.status == "bounced");
  CHECK(a.code == 553);
  CHECK(a.enhanced == "5.6.7");
  CHECK(a.synthesized);
  const LogLine b = lineOf(r.log, "plain@utf8.test");
  INFO(b.raw);
  CHECK(b.status == "bounced");
  CHECK(b.code == 554);
  CHECK(b.enhanced == "5.6.7");
  CHECK(b.synthesized);
  CHECK(r.progress.bouncesQueued == 2);

  const auto dumps = peer.waitDumps(2, kWait);
  REQUIRE(dumps.size() == 2);  // the two reports, nothing else
  for (const auto& d : dumps) {
    INFO("MAIL args: " << d.mailArgs);
    CHECK((d.mailArgs == "<>" || d.mailArgs.rfind("<> ", 0) == 0));
    REQUIRE(d.rcptArgs.size() == 1);
    CHECK(d.rcptArgs[0].rfind("<sender@src.test>", 0) == 0);
  }
  // The report about the UTF-8 mailbox must name it recoverably (RFC 6533 §3: address type "utf-8", in
  // message/delivery-status as utf-8-addr-xtext), not with its 8-bit octets replaced.
  const interop::SinkDump* aboutJoerg = nullptr;
  for (const auto& d : dumps)
    if (d.message.find("5.6.7 non-ASCII mailbox") != std::string::npos) aboutJoerg = &d;
  REQUIRE(aboutJoerg != nullptr);
  CHECK_MESSAGE(namesUtf8Recipient(aboutJoerg->message, "j\\x{F6}rg@utf8.test", "j\xC3\xB6rg@utf8.test"),
                aboutJoerg->message);
}

// ---- 7. IDN (§8, edge case 22)

// RFC 5891 / RFC 6531 §3.2: a domain with non-ASCII labels (recipient or sender) is routed, looked up and sent as
// A-labels; it needs no SMTPUTF8 at the peer (sluice sink with SMTPUTF8 off). Routes name only the A-labels: a
// domain not converted would fall to "*", a different receiver. A domain IDNA2008 disallows ("♥") fails with
// 553 5.1.3 without a connection to anyone but the sender's (for the report).
TEST_CASE("dsn/idn: IDN domains sent as A-labels to a peer without SMTPUTF8; an invalid IDN bounced 553 5.1.3") {
  sink::SinkOptions so;
  so.smtpUtf8 = false;
  SluiceSink idnPeer(so);
  REQUIRE_MESSAGE(idnPeer.started(), idnPeer.error());
  FakeServer other;  // "*": reports to the sender, and anything not routed by its A-label
  REQUIRE(other.start() == "");
  ops::EngineConfig cfg = enginetest::testConfig(other.endpoint());
  cfg.routes.push_back({"xn--bcher-kva.example", idnPeer.endpoint()});
  cfg.routes.push_back({"xn--e1afmkfd.test", idnPeer.endpoint()});
  EngineHarness h(cfg);
  const std::string body = "From: sender@src.test\r\nSubject: idn\r\n\r\nhello\r\n";
  const std::string buecher = "leser@b\xC3\xBC" "cher.example";
  const std::string primer = "info@\xD0\xBF\xD1\x80\xD0\xB8\xD0\xBC\xD0\xB5\xD1\x80.test";
  const std::string bad = "x@i\xE2\x99\xA5mail.example";
  queueMessage(h, "sender@src.test", {{buecher}}, body);
  queueMessage(h, "news@b\xC3\xBC" "cher.example", {{primer}}, body);  // an IDN reverse-path too
  queueMessage(h, "sender@src.test", {{bad}}, body);
  RunReport r = h.run(guarded());
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK_FALSE(r.stoppedByWatchdog);

  for (const std::string& rc : {buecher, primer}) {
    const LogLine l = lineOf(r.log, rc);
    INFO(l.raw);
    CHECK(l.status == "delivered");
    CHECK(l.addr == idnPeer.endpoint());
  }
  const auto stored = idnPeer.messages();
  REQUIRE(stored.size() == 2);
  const auto s1 = withEnvelope(stored, "to=<leser@xn--bcher-kva.example>;");
  const auto s2 = withEnvelope(stored, "to=<info@xn--e1afmkfd.test>;");
  REQUIRE(s1.size() == 1);
  REQUIRE(s2.size() == 1);
  for (const auto& s : {s1[0], s2[0]}) {
    INFO(s.envelope);
    CHECK(s.envelope.find("smtputf8=no") != std::string::npos);
    CHECK(s.body == body);
  }
  CHECK(s1[0].envelope.find("from=<sender@src.test>;") != std::string::npos);
  CHECK(s2[0].envelope.find("from=<news@xn--bcher-kva.example>;") != std::string::npos);

  const LogLine l = lineOf(r.log, bad);
  INFO(l.raw);
  CHECK(l.status == "bounced");
  CHECK(l.code == 553);
  CHECK(l.enhanced == "5.1.3");
  CHECK(l.synthesized);
  CHECK(l.addr.empty());
  CHECK(r.progress.bouncesQueued == 1);
  // The other receiver got only the report about it, never the message itself.
  const auto reports = reportsTo(other, "sender@src.test");
  REQUIRE(reports.size() == 1);
  // The report names the recipient recoverably (RFC 6533 §3; it has no A-label form).
  CHECK_MESSAGE(namesUtf8Recipient(reports[0].body, "x@i\\x{2665}mail.example", bad), reports[0].body);
  // RFC 3464 §2.3.6: a Diagnostic-Code of type "smtp" is an SMTP reply, code first.
  CHECK_MESSAGE(reports[0].body.find("Diagnostic-Code: smtp; 553 5.1.3 ") != std::string::npos, reports[0].body);
  CHECK(other.acceptedMessages().size() == 1);
  CHECK_FALSE(anyRcptLineHas(other, "mail.example"));
  CHECK_FALSE(anyRcptLineHas(other, "leser@"));
  CHECK_FALSE(anyRcptLineHas(other, "info@"));
}
