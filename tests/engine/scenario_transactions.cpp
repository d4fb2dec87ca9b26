// scenario_transactions.cpp: delivery-engine scenarios inside one transaction, against the scripted fake receiver
// (tests/engine/fake_server.hpp): the peer closing mid-group, mixed per-recipient replies, 452 "too many
// recipients", the connection lost right after the end of data, and the BDAT edge cases. Spec references are to
// the project's ESMTP rules (esmtp-rules.md): section 1 "Transactions", section 2 (PIPELINING), section 3
// (CHUNKING) and the edge cases 4, 6, 7 and 10 of section 11.
//
// Each scenario queues messages in a fresh spool (tests/engine/harness.hpp), drains it with the engine routed to
// the fake server, and checks every recipient three ways: the delivery log line, the spool (final or still
// pending, and when it is due again) and the engine's counters; the fake server's records tell what the peer
// really accepted. Threads: the fake server runs its own thread; the engine runs on the test thread.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/engine/scenario_support.hpp"

namespace {

using namespace sluice;
using namespace sluice::scenario;

constexpr std::int64_t kHourMs = 3600 * 1000;

std::size_t indexOf(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), s) - v.begin());
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return indexOf(v, s) < v.size(); }

const std::string kSender = "sender@src.test";
const std::string kBody =
    "From: sender@src.test\r\nTo: list@dst.test\r\nSubject: scenario\r\n\r\nline one\r\n.leading dot\r\nend\r\n";

// Every DSN the server received: transactions with the null reverse-path, to the original sender.
std::size_t dsnsReceived(const FakeServer& s) {
  std::size_t n = 0;
  for (const auto& t : s.acceptedMessages())
    if (t.mailLine.find("FROM:<>") != std::string::npos && contains(t.accepted, kSender)) ++n;
  return n;
}

// Asserts the common shape of "nothing was delivered, everything is due again after the retry delay".
void requireAllDeferred(EngineHarness& h, queue::MessageId id, const std::vector<std::string>& rcpts,
                        const RunReport& r, std::int64_t before, std::int64_t after) {
  CHECK(r.progress.delivered == 0);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.bouncesQueued == 0);
  CHECK(r.progress.deferred == rcpts.size());
  for (const auto& rc : rcpts) {
    LogLine l = lineOf(r.log, rc);
    CHECK(l.status == "deferred");
    CHECK(l.attempt == 1);
  }
  auto view = liveView(h, id);
  REQUIRE(view.has_value());
  for (std::size_t i = 0; i < rcpts.size(); ++i) CHECK(view->recipientPending(i));
  CHECK(view->attempts() == 1);
  // Due again after the configured retry delay (one hour, no jitter), not before.
  CHECK(view->nextAttemptMs() >= before + kHourMs);
  CHECK(view->nextAttemptMs() <= after + kHourMs);
}

}  // namespace

// Edge case 4 (esmtp-rules.md §2 "Peer closes mid-group", §1 "Per-recipient outcome ... Never lose mail"): the
// peer answers MAIL and the first two RCPTs of a pipelined group, then closes. The two 250s stand as replies but
// the transaction never completed: nobody is delivered, nobody bounced, all four are due again later.
TEST_CASE("scenario: peer closes mid-group after some RCPT replies (DATA path)") {
  FakeServerOptions o;
  o.chunking = false;  // the group MAIL, RCPT x4, DATA; the body is never sent
  FakeServer srv(o, [](const Event& e) -> std::optional<Action> {
    if (e.connection == 0 && e.stage == Stage::Rcpt && e.rcptIndex == 2) return Action::close();
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(enginetest::loopback(srv.port())));
  const std::vector<std::string> rcpts = {"r0@dst.test", "r1@dst.test", "r2@dst.test", "r3@dst.test"};
  auto id = h.add({kSender, rcpts, kBody, {}});
  const std::int64_t before = nowMs();
  RunReport r = h.run(guarded());
  const std::int64_t after = nowMs();
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.rc == 0);

  // The peer answered two RCPTs with 250, closed on the third, and never got content.
  auto conns = srv.connections();
  REQUIRE(conns.size() >= 1);
  REQUIRE(conns[0].transactions.size() == 1);
  CHECK(conns[0].transactions[0].rcptLines.size() == 3);  // it closed on reading the third
  CHECK(conns[0].transactions[0].accepted == std::vector<std::string>{"r0@dst.test", "r1@dst.test"});
  CHECK(conns[0].closedByServer);
  CHECK(srv.acceptedMessages().empty());

  requireAllDeferred(h, id, rcpts, r, before, after);
  // No end of data went out, so no duplicate is possible.
  CHECK(r.progress.possibleDuplicates == 0);
  for (const auto& rc : rcpts) CHECK_FALSE(lineOf(r.log, rc).possibleDuplicate);
  // The unanswered RCPTs count as 451 (synthesized); the answered ones keep no delivery.
  CHECK(lineOf(r.log, "r2@dst.test").synthesized);
  CHECK(lineOf(r.log, "r3@dst.test").synthesized);
}

// The same close with PIPELINING + CHUNKING: MAIL, RCPT x4 and BDAT LAST with the body went out as one group,
// so the peer may have the content (a server can commit before its buffered replies are flushed): deferred; the
// flag is allowed but only together with deferral.
TEST_CASE("scenario: peer closes mid-group after some RCPT replies (BDAT path)") {
  FakeServer srv({}, [](const Event& e) -> std::optional<Action> {
    if (e.connection == 0 && e.stage == Stage::Rcpt && e.rcptIndex == 2) return Action::close();
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(enginetest::loopback(srv.port())));
  const std::vector<std::string> rcpts = {"r0@dst.test", "r1@dst.test", "r2@dst.test", "r3@dst.test"};
  auto id = h.add({kSender, rcpts, kBody, {}});
  const std::int64_t before = nowMs();
  RunReport r = h.run(guarded());
  const std::int64_t after = nowMs();
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  auto conns = srv.connections();
  REQUIRE(conns.size() >= 1);
  REQUIRE(conns[0].transactions.size() == 1);
  CHECK(conns[0].transactions[0].accepted.size() == 2);
  CHECK(srv.acceptedMessages().empty());
  requireAllDeferred(h, id, rcpts, r, before, after);
  for (const auto& rc : rcpts) {
    LogLine l = lineOf(r.log, rc);
    CHECK(l.chunking);
    CHECK(l.pipelined);
  }
}

// Edge case 6, second half (esmtp-rules.md §1 "Per-recipient outcome: 2xx delivered, 5xx bounce that recipient,
// 4xx retry that recipient"): 250 / 550 / 451 / 250 in one transaction -> delivered / bounced with a DSN queued
// (and sent with the null reverse-path, §1 "Bounces") / deferred / delivered. Run over BDAT and over DATA.
TEST_CASE("scenario: mixed per-recipient replies in one transaction") {
  bool chunking = true;
  SUBCASE("BDAT") { chunking = true; }
  SUBCASE("DATA") { chunking = false; }
  FakeServerOptions o;
  o.chunking = chunking;
  FakeServer srv(o, [](const Event& e) -> std::optional<Action> {
    if (e.stage != Stage::Rcpt) return std::nullopt;
    if (e.line.find("<bad@") != std::string::npos) return Action::reply("550 5.1.1 no such user");
    if (e.line.find("<later@") != std::string::npos) return Action::reply("451 4.3.0 try again later");
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(enginetest::loopback(srv.port())));
  const std::vector<std::string> rcpts = {"ok1@dst.test", "bad@dst.test", "later@dst.test", "ok2@dst.test"};
  auto id = h.add({kSender, rcpts, kBody, {}});
  const std::int64_t before = nowMs();
  RunReport r = h.run(guarded());
  const std::int64_t after = nowMs();
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.rc == 0);

  LogLine ok1 = lineOf(r.log, "ok1@dst.test"), ok2 = lineOf(r.log, "ok2@dst.test");
  LogLine bad = lineOf(r.log, "bad@dst.test"), later = lineOf(r.log, "later@dst.test");
  CHECK(ok1.status == "delivered");
  CHECK(ok2.status == "delivered");
  CHECK(ok1.code == 250);
  CHECK(bad.status == "bounced");
  CHECK(bad.code == 550);
  CHECK(bad.enhanced == "5.1.1");
  CHECK(later.status == "deferred");
  CHECK(later.code == 451);
  CHECK(later.enhanced == "4.3.0");
  CHECK(ok1.chunking == chunking);
  for (const auto* l : {&ok1, &ok2, &bad, &later}) CHECK_FALSE(l->possibleDuplicate);

  // The peer has the message for ok1 and ok2 exactly, with the bytes of the spool.
  std::size_t originals = 0;
  for (const auto& t : srv.acceptedMessages()) {
    if (t.mailLine.find("<" + kSender + ">") == std::string::npos) continue;
    ++originals;
    CHECK(t.accepted == std::vector<std::string>{"ok1@dst.test", "ok2@dst.test"});
    CHECK(t.body == kBody);
    CHECK(t.usedBdat == chunking);
  }
  CHECK(originals == 1);

  // The bounce: queued once, and (routed to the same peer) delivered from the null reverse-path to the sender.
  CHECK(r.progress.bouncesQueued == 1);
  CHECK(dsnsReceived(srv) == 1);
  CHECK(r.progress.bounced == 1);
  CHECK(r.progress.deferred == 1);
  CHECK(r.progress.delivered == 3);  // ok1, ok2 and the DSN's recipient

  // Only "later" is still pending, due after the retry delay.
  auto view = liveView(h, id);
  REQUIRE(view.has_value());
  CHECK_FALSE(view->recipientPending(0));
  CHECK_FALSE(view->recipientPending(1));
  CHECK(view->recipientPending(2));
  CHECK_FALSE(view->recipientPending(3));
  CHECK(view->nextAttemptMs() >= before + kHourMs);
  CHECK(view->nextAttemptMs() <= after + kHourMs);
}

namespace {
// A peer that takes at most two recipients per transaction (RFC 5321 §4.5.3.1.10): RCPT 3 and later get 452.
std::optional<Action> twoPerTransaction(const Event& e) {
  if (e.stage == Stage::Rcpt && e.rcptIndex >= 2) return Action::reply("452 4.5.3 too many recipients");
  return std::nullopt;
}
}  // namespace

// Edge case 6, first half, without PIPELINING (esmtp-rules.md §1 "452 4.5.3 ... temporary; send the rest in a new
// transaction", RFC 5321 §4.5.3.1.10): the client sends one RCPT at a time and stops at the 452; the recipient
// refused with 452 and those never sent go into new transactions in the same run. Nothing is deferred or bounced.
TEST_CASE("scenario: 452 after two recipients without PIPELINING: the rest go in new transactions") {
  FakeServerOptions o;
  o.pipelining = false;
  FakeServer srv(o, twoPerTransaction);
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(enginetest::loopback(srv.port())));
  const std::vector<std::string> rcpts = {"a0@dst.test", "a1@dst.test", "a2@dst.test", "a3@dst.test",
                                          "a4@dst.test"};
  auto id = h.add({kSender, rcpts, kBody, {}});
  RunReport r = h.run(guarded());
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.delivered == 5);

  std::vector<std::vector<std::string>> txns;
  std::vector<std::string> rcptLinesFirst;
  for (const auto& c : srv.connections()) {
    for (const auto& t : c.transactions) {
      if (rcptLinesFirst.empty()) rcptLinesFirst = t.rcptLines;
      if (t.ended && t.endReply == 250) {
        txns.push_back(t.accepted);
        CHECK(t.body == kBody);
      }
    }
  }
  CHECK(rcptLinesFirst.size() == 3);  // one RCPT at a time: nothing after the 452 in that transaction
  REQUIRE(txns.size() == 3);
  CHECK(txns[0] == std::vector<std::string>{"a0@dst.test", "a1@dst.test"});
  CHECK(txns[1] == std::vector<std::string>{"a2@dst.test", "a3@dst.test"});
  CHECK(txns[2] == std::vector<std::string>{"a4@dst.test"});
  for (const auto& rc : rcpts) CHECK(lineOf(r.log, rc).status == "delivered");
  for (const auto& l : r.log) CHECK(l.status != "deferred");
  CHECK_FALSE(liveView(h, id).has_value());
}

// The same peer with PIPELINING: every RCPT is already on the wire when the 452s come back; the three refused
// with 452 go into new transactions (two per transaction) in the same run, never to the retry schedule.
TEST_CASE("scenario: 452 after two recipients with PIPELINING: the rest go in new transactions") {
  FakeServer srv({}, twoPerTransaction);
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(enginetest::loopback(srv.port())));
  const std::vector<std::string> rcpts = {"a0@dst.test", "a1@dst.test", "a2@dst.test", "a3@dst.test",
                                          "a4@dst.test"};
  auto id = h.add({kSender, rcpts, kBody, {}});
  RunReport r = h.run(guarded());
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.bouncesQueued == 0);
  CHECK(r.progress.deferred == 0);
  std::vector<std::string> got = srv.deliveredRecipients();
  std::sort(got.begin(), got.end());
  CHECK(got == rcpts);
  for (const auto& rc : rcpts) CHECK(lineOf(r.log, rc).status == "delivered");
  CHECK_FALSE(liveView(h, id).has_value());
}

// Edge case 7, last part (esmtp-rules.md §1 "Lost after the final dot / BDAT LAST but before the reply: deferred
// AND flagged as a possible duplicate", RFC 5321 §6.1): the peer reads the whole content, then drops the
// connection without a reply. Over DATA and over BDAT.
TEST_CASE("scenario: connection lost right after the end of data: deferred and flagged possible_duplicate") {
  bool chunking = true;
  SUBCASE("BDAT LAST") { chunking = true; }
  SUBCASE("DATA final dot") { chunking = false; }
  FakeServerOptions o;
  o.chunking = chunking;
  FakeServer srv(o, [](const Event& e) -> std::optional<Action> {
    if (e.stage == Stage::DataEnd || e.stage == Stage::BdatLast) return Action::close();
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(enginetest::loopback(srv.port())));
  const std::vector<std::string> rcpts = {"d0@dst.test", "d1@dst.test"};
  auto id = h.add({kSender, rcpts, kBody, {}});
  const std::int64_t before = nowMs();
  RunReport r = h.run(guarded());
  const std::int64_t after = nowMs();
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);

  // The peer did get the whole content, and never answered it.
  auto conns = srv.connections();
  REQUIRE(conns.size() == 1);
  REQUIRE(conns[0].transactions.size() == 1);
  CHECK(conns[0].transactions[0].ended);
  CHECK(conns[0].transactions[0].endReply == 0);
  CHECK(conns[0].transactions[0].body == kBody);

  requireAllDeferred(h, id, rcpts, r, before, after);
  CHECK(r.progress.possibleDuplicates == 2);
  for (const auto& rc : rcpts) {
    LogLine l = lineOf(r.log, rc);
    CHECK(l.possibleDuplicate);
    CHECK(l.synthesized);
    CHECK(l.chunking == chunking);
  }
}

// Edge case 10 (esmtp-rules.md §3 CHUNKING, RFC 3030 §2): a BDAT chunk boundary falling between CR and LF, and
// an empty body sent as `BDAT 0 LAST`. The peer must get exactly the spool's bytes and the recipient is delivered.
TEST_CASE("scenario: BDAT chunk boundary between CR and LF, and BDAT 0 LAST") {
  FakeServer srv;
  REQUIRE(srv.start() == "");
  auto cfg = enginetest::testConfig(enginetest::loopback(srv.port()));
  cfg.pipelining.bdatChunkSize = 1024;  // the smallest chunk the configuration allows
  EngineHarness h(cfg);

  // 1023 octets, then CR at offset 1023 and LF at offset 1024: the first chunk ends inside the CRLF.
  std::string body = "Subject: chunks\r\n\r\n";
  while (body.size() < 1023 - 78) body += std::string(76, 'x') + "\r\n";
  body += std::string(1023 - body.size(), 'y');
  REQUIRE(body.size() == 1023);
  body += "\r\nsecond chunk\r\n";
  for (int i = 0; i < 20; ++i) body += "more body text for a third chunk " + std::to_string(i) + "\r\n";
  REQUIRE(body[1023] == '\r');
  REQUIRE(body[1024] == '\n');
  auto split = h.add({kSender, {"split@dst.test"}, body, {}});
  auto empty = h.add({kSender, {"empty@dst.test"}, "", {}});

  RunReport r = h.run(guarded());
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(lineOf(r.log, "split@dst.test").status == "delivered");
  CHECK(lineOf(r.log, "empty@dst.test").status == "delivered");
  CHECK(lineOf(r.log, "split@dst.test").chunking);
  CHECK_FALSE(liveView(h, split).has_value());
  CHECK_FALSE(liveView(h, empty).has_value());

  bool sawSplit = false, sawEmpty = false;
  std::vector<std::string> bdat;
  for (const auto& c : srv.connections()) {
    for (const auto& l : c.lines)
      if (l.rfind("BDAT", 0) == 0) bdat.push_back(l);
    for (const auto& t : c.transactions) {
      if (!contains(t.accepted, "split@dst.test") && !contains(t.accepted, "empty@dst.test")) continue;
      CHECK(t.usedBdat);
      CHECK(t.endReply == 250);
      if (contains(t.accepted, "split@dst.test")) {
        sawSplit = true;
        CHECK(t.body == body);
      } else {
        sawEmpty = true;
        CHECK(t.body.empty());
      }
    }
  }
  CHECK(contains(bdat, "BDAT 1024"));  // the first chunk of the split body, ending on the CR
  CHECK(contains(bdat, "BDAT 0 LAST"));
  CHECK(sawSplit);
  CHECK(sawEmpty);
}
