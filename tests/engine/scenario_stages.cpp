// scenario_stages.cpp: delivery-engine scenarios where the peer gives up or goes quiet at one stage of the
// dialogue, against the scripted fake receiver (tests/engine/fake_server.hpp): 421 at each stage (esmtp-rules.md
// §1 "421 at any point: close and defer", edge case 7 of §11) and silence at each stage against its own
// per-command timeout (§1 "Timeouts (per command, never one timer for the whole transaction)", RFC 5321 §4.5.3.2,
// edge case 8), with the possible-duplicate flag when the silence follows the end of data (§1, RFC 5321 §6.1).
//
// Timeouts: the stage under test gets 300 ms, every other stage 60 s, and the harness's hang guard is 30 s, so a
// run that finishes without the guard firing proves the stage's own timer ended it (a hang guard, not a timing
// assertion). Threads: the fake server runs its own thread; the engine runs on the test thread.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/engine/scenario_support.hpp"

namespace {

using namespace sluice;
using namespace sluice::scenario;
using Millis = std::chrono::milliseconds;

constexpr std::int64_t kHourMs = 3600 * 1000;
const std::string kSender = "sender@src.test";
const std::string kBody = "Subject: stages\r\n\r\nbody line\r\n";
const std::vector<std::string> kRcpts = {"s0@dst.test", "s1@dst.test"};

// Every stage timeout long except the one `pick` selects (nullptr: none short).
ops::EngineConfig stageConfig(std::uint16_t port, Millis smtp::ClientTimeouts::*pick) {
  ops::EngineConfig c = enginetest::testConfig(enginetest::loopback(port));
  auto& t = c.timeouts;
  const Millis longer = std::chrono::seconds(60);
  t.greeting = t.ehlo = t.startTls = t.tlsHandshake = t.mail = t.rcpt = longer;
  t.dataInit = t.dataBlock = t.dataEnd = t.rset = t.quit = longer;
  if (pick != nullptr) t.*pick = Millis(300);
  return c;
}

struct Outcome {
  RunReport report;
  std::vector<test::ConnectionRecord> conns;
  std::vector<test::TransactionRecord> accepted;
  std::optional<queue::MessageView> view;  // nullopt once every recipient is final
  std::int64_t before = 0, after = 0;
};

// Queues one two-recipient message, drains it against `srv`, and collects what the scenario checks.
Outcome drive(FakeServer& srv, const ops::EngineConfig& cfg) {
  Outcome out;
  EngineHarness h(cfg);
  auto id = h.add({kSender, kRcpts, kBody, {}});
  RunTweaks tw;
  tw.safetyLimit = std::chrono::seconds(30);
  out.before = nowMs();
  out.report = h.run(tw);
  out.after = nowMs();
  auto looked = h.spool().lookup(id);
  if (looked.isOk()) out.view = std::move(looked.value());
  out.conns = srv.connections();
  out.accepted = srv.acceptedMessages();
  return out;
}

// Nothing delivered, nothing bounced, every recipient deferred once and due again after the retry delay.
void requireDeferredOnce(const Outcome& o) {
  const RunReport& r = o.report;
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.rc == 0);
  CHECK(r.progress.delivered == 0);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.bouncesQueued == 0);
  CHECK(r.progress.deferred == kRcpts.size());
  CHECK(r.progress.connectionsOpen == 0);  // the engine let go of the connection
  CHECK(o.accepted.empty());
  for (const auto& rc : kRcpts) {
    auto lines = enginetest::linesFor(r.log, rc);
    INFO("recipient " << rc);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].status == "deferred");
    CHECK(lines[0].code >= 400);
    CHECK(lines[0].code < 500);
  }
  REQUIRE(o.view.has_value());
  for (std::size_t i = 0; i < kRcpts.size(); ++i) CHECK(o.view->recipientPending(i));
  CHECK(o.view->attempts() == 1);
  CHECK(o.view->nextAttemptMs() >= o.before + kHourMs);
  CHECK(o.view->nextAttemptMs() <= o.after + kHourMs);
}

LogLine firstLine(const Outcome& o) { return enginetest::linesFor(o.report.log, kRcpts[0]).at(0); }

}  // namespace

// 421 at every stage (esmtp-rules.md §1 Greeting "421 at any point: close and defer" [M §3.8]; edge case 7):
// deferred, the connection closed, never bounced; a 421 after the end of data is a reply, so no possible
// duplicate. Greeting and EHLO happen before the session is ready: the engine moves on to the next candidate
// (there is none here) and defers with the peer's reply in the text.
TEST_CASE("scenario: 421 at each stage is a deferral, never a bounce") {
  struct Case {
    const char* name;
    Stage stage;
    bool chunking;
  };
  const Case cases[] = {
      {"greeting", Stage::Greeting, true}, {"EHLO", Stage::Ehlo, true},
      {"MAIL", Stage::Mail, false},        {"RCPT", Stage::Rcpt, false},
      {"DATA", Stage::Data, false},        {"end of DATA", Stage::DataEnd, false},
      {"BDAT LAST", Stage::BdatLast, true},
  };
  for (const Case& k : cases) {
    SUBCASE(k.name) {
      FakeServerOptions fo;
      fo.chunking = k.chunking;
      const Stage stage = k.stage;
      FakeServer srv(fo, [stage](const Event& e) -> std::optional<Action> {
        if (e.stage == stage) return Action::replyThenClose("421 4.3.2 service shutting down");
        return std::nullopt;
      });
      REQUIRE(srv.start() == "");
      Outcome o = drive(srv, stageConfig(srv.port(), nullptr));
      requireDeferredOnce(o);
      REQUIRE(!o.conns.empty());
      for (const auto& c : o.conns) {
        std::string seen;
        for (const auto& l : c.lines) seen += l + " | ";
        INFO("connection saw: " << seen << " closedByClient=" << c.closedByClient << " quit=" << c.quit);
        CHECK(c.closedByServer);
      }
      for (const auto& rc : kRcpts) {
        LogLine l = enginetest::linesFor(o.report.log, rc).at(0);
        CHECK_FALSE(l.possibleDuplicate);
        if (stage == Stage::Greeting || stage == Stage::Ehlo) {
          CHECK(l.reply.find("421") != std::string::npos);  // the deferral names the peer's reply
        } else {
          CHECK(l.code == 421);
          CHECK(l.enhanced == "4.3.2");
        }
      }
      CHECK(o.report.progress.possibleDuplicates == 0);
      if (stage == Stage::DataEnd || stage == Stage::BdatLast) {
        REQUIRE(o.conns[0].transactions.size() == 1);
        CHECK(o.conns[0].transactions[0].ended);  // the content was sent, and refused with 421
      }
    }
  }
}

// 421 to MAIL without PIPELINING: the RCPTs were never sent, so the engine gives the recipients back to the site
// for another connection, but after a 421 only once (engine/delivery/shard.cpp kMaxRequeuesAfter421: a busy peer
// is not hammered with reconnects: esmtp-rules.md §10, back off on rate-limit replies), then defers them.
TEST_CASE("scenario: 421 to MAIL without PIPELINING: requeued to one new connection, then deferred") {
  FakeServerOptions fo;
  fo.pipelining = false;
  FakeServer srv(fo, [](const Event& e) -> std::optional<Action> {
    if (e.stage == Stage::Mail) return Action::replyThenClose("421 4.7.0 too busy, try again later");
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  Outcome o = drive(srv, stageConfig(srv.port(), nullptr));
  requireDeferredOnce(o);
  CHECK(o.conns.size() == 2);  // the first try and one requeue
  for (const auto& c : o.conns) {
    REQUIRE(c.transactions.size() == 1);
    CHECK(c.transactions[0].rcptLines.empty());  // no RCPT ever followed the 421
  }
  CHECK(firstLine(o).code == 421);
}

// Silence at every stage against its own timeout (esmtp-rules.md §1 Timeouts [M §4.5.3.2], edge case 8): deferred,
// never bounced; only silence after the end of data leaves the peer possibly holding the message, which is
// flagged in the delivery log and counted in progress().possibleDuplicates (§1 "Connection lost", RFC 5321 §6.1).
TEST_CASE("scenario: silence at each stage ends with that stage's timeout") {
  struct Case {
    const char* name;
    Stage stage;
    Millis smtp::ClientTimeouts::*timeout;
    bool chunking;
    bool duplicate;
  };
  const Case cases[] = {
      {"greeting", Stage::Greeting, &smtp::ClientTimeouts::greeting, false, false},
      {"EHLO", Stage::Ehlo, &smtp::ClientTimeouts::ehlo, false, false},
      {"MAIL", Stage::Mail, &smtp::ClientTimeouts::mail, false, false},
      {"RCPT", Stage::Rcpt, &smtp::ClientTimeouts::rcpt, false, false},
      {"DATA", Stage::Data, &smtp::ClientTimeouts::dataInit, false, false},
      {"end of DATA", Stage::DataEnd, &smtp::ClientTimeouts::dataEnd, false, true},
      {"BDAT LAST", Stage::BdatLast, &smtp::ClientTimeouts::dataEnd, true, true},
  };
  for (const Case& k : cases) {
    SUBCASE(k.name) {
      FakeServerOptions fo;
      fo.chunking = k.chunking;
      const Stage stage = k.stage;
      FakeServer srv(fo, [stage](const Event& e) -> std::optional<Action> {
        if (e.stage == stage) return Action::silent();
        return std::nullopt;
      });
      REQUIRE(srv.start() == "");
      Outcome o = drive(srv, stageConfig(srv.port(), k.timeout));
      requireDeferredOnce(o);
      REQUIRE(!o.conns.empty());
      CHECK_FALSE(o.conns[0].closedByServer);  // the client gave up, not the peer
      for (const auto& rc : kRcpts) {
        LogLine l = enginetest::linesFor(o.report.log, rc).at(0);
        CHECK(l.possibleDuplicate == k.duplicate);
        CHECK(l.synthesized);
      }
      CHECK(o.report.progress.possibleDuplicates == (k.duplicate ? kRcpts.size() : 0));
      if (k.duplicate) {
        REQUIRE(o.conns[0].transactions.size() == 1);
        CHECK(o.conns[0].transactions[0].ended);
        CHECK(o.conns[0].transactions[0].body == kBody);
      }
    }
  }
}

// A late reply that still comes within the timeout is not silence: every stage answered 150 ms late, with
// 10 s timeouts, delivers (the fake server keeps late replies in order).
TEST_CASE("scenario: replies sent late but within the timeouts deliver") {
  FakeServer srv({}, [](const Event& e) -> std::optional<Action> {
    if (e.stage == Stage::Greeting) return Action::reply("220 fake.test slow ESMTP", Millis(150));
    if (e.stage == Stage::Mail) return Action::reply("250 2.1.0 ok", Millis(150));
    if (e.stage == Stage::Rcpt) return Action::reply("250 2.1.5 ok", Millis(150));
    if (e.stage == Stage::BdatLast) return Action::reply("250 2.0.0 queued", Millis(150));
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  ops::EngineConfig cfg = enginetest::testConfig(enginetest::loopback(srv.port()));
  Outcome o = drive(srv, cfg);
  REQUIRE(o.report.created);
  CHECK_FALSE(o.report.stoppedByWatchdog);
  CHECK(o.report.progress.delivered == kRcpts.size());
  CHECK(o.report.progress.deferred == 0);
  CHECK_FALSE(o.view.has_value());
  REQUIRE(o.accepted.size() == 1);
  CHECK(o.accepted[0].accepted == kRcpts);
  CHECK(o.accepted[0].body == kBody);
}
