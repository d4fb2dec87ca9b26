// scenario_routing.cpp: delivery-engine scenarios about where and when a message goes, against the scripted fake
// receiver (tests/engine/fake_server.hpp): falling back to the next address when a connect is refused or the
// greeting is 421/554 (esmtp-rules.md §1 "MX selection: try every address in order", §1 Greeting "554 greeting
// ... try the next MX"; edge case 2 of §11), a destination where every address refuses (deferred, never
// bounced), and a deferral retried after the configured delay by a second run (§1 Retries, RFC 5321 §4.5.4.1).
//
// Addresses: the zone resolver gives MX hosts port 25 (resolver/result.hpp), which a test cannot use, so the
// candidates come from a static route to a host name whose A records are two loopback addresses sharing one
// ephemeral port: 127.0.0.2 first (refused, or a refusing fake server), then 127.0.0.1. The engine walks them in
// that order (the resolver keeps A records in zone order; only equal MX preferences are shuffled).
// Threads: the fake servers run their own threads; the engine runs on the test thread.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/engine/scenario_support.hpp"

namespace {

using namespace sluice;
using namespace sluice::scenario;

const std::string kSender = "sender@src.test";
const std::string kBody = "Subject: routing\r\n\r\nhello\r\n";
const std::string kMxName = "mx.route.test";

RunTweaks twoAddressZone() {
  RunTweaks t;
  t.zoneText = kMxName + " A 127.0.0.2\n" + kMxName + " A 127.0.0.1\n";
  t.safetyLimit = std::chrono::seconds(60);
  return t;
}

ops::EngineConfig routedTo(std::uint16_t port) {
  return enginetest::testConfig(kMxName + ":" + std::to_string(port));
}

std::string addr(const char* ip, std::uint16_t port) { return std::string(ip) + ":" + std::to_string(port); }

}  // namespace

// The first address refuses the connection; the second delivers. The log names the second address.
TEST_CASE("scenario: MX fallback when the first address refuses the connection") {
  FakeServer good;  // 127.0.0.1, ephemeral port; nothing listens on 127.0.0.2 at that port
  REQUIRE(good.start() == "");
  EngineHarness h(routedTo(good.port()));
  auto id = h.add({kSender, {"fb@dst.test"}, kBody, {}});
  RunReport r = h.run(twoAddressZone());
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == 1);
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.connectFailures >= 1);
  auto lines = enginetest::linesFor(r.log, "fb@dst.test");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].status == "delivered");
  CHECK(lines[0].mx == kMxName);
  CHECK(lines[0].addr == addr("127.0.0.1", good.port()));
  CHECK(good.deliveredRecipients() == std::vector<std::string>{"fb@dst.test"});
  CHECK_FALSE(h.spool().lookup(id).isOk());  // final
}

// A 421 or 554 greeting, a 421 to EHLO, or a silent greeting (its timeout) at the first address: the engine
// moves on to the next address (QUIT after 554), delivers there, and neither bounces nor defers the message.
//
// This test found a hang: a connection moving to the next address kept the "ending" flag of the refused session.
TEST_CASE("scenario: greeting refused or silent at the first address: the next address delivers") {
  Stage stage = Stage::Greeting;
  std::string reply;  // "" = silence
  bool closeAfter = true;
  SUBCASE("421 greeting") { reply = "421 4.3.2 not now"; }
  SUBCASE("554 greeting") {
    reply = "554 5.7.1 no service for you";
    closeAfter = false;
  }
  SUBCASE("421 to EHLO") {
    stage = Stage::Ehlo;
    reply = "421 4.3.2 going down";
  }
  SUBCASE("silent greeting") { reply = ""; }
  FakeServer good;
  REQUIRE(good.start() == "");
  FakeServerOptions refusingOpts;
  refusingOpts.bindAddress = "127.0.0.2";
  refusingOpts.port = good.port();
  FakeServer refusing(refusingOpts, [stage, reply, closeAfter](const Event& e) -> std::optional<Action> {
    if (e.stage == stage) {
      if (reply.empty()) return Action::silent();
      return closeAfter ? Action::replyThenClose(reply) : Action::reply(reply);
    }
    if (e.stage == Stage::Mail) return Action::reply("503 5.5.1 no service");
    return std::nullopt;
  });
  std::string err = refusing.start();
  INFO("binding 127.0.0.2:" << good.port());
  REQUIRE(err.empty());
  auto cfg = routedTo(good.port());
  cfg.timeouts.greeting = std::chrono::milliseconds(300);
  EngineHarness h(cfg);
  auto id = h.add({kSender, {"fb@dst.test"}, kBody, {}});
  RunReport r = h.run(twoAddressZone());
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == 1);
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.bouncesQueued == 0);
  auto lines = enginetest::linesFor(r.log, "fb@dst.test");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].status == "delivered");
  CHECK(lines[0].addr == addr("127.0.0.1", good.port()));
  CHECK(good.deliveredRecipients() == std::vector<std::string>{"fb@dst.test"});
  CHECK(good.connectionCount() == 1);
  CHECK_FALSE(h.spool().lookup(id).isOk());
  // The refusing address saw one connection and no transaction; after a 554 greeting the client said QUIT
  // (esmtp-rules.md §1 Greeting).
  auto conns = refusing.connections();
  REQUIRE(conns.size() == 1);
  CHECK(conns[0].transactions.empty());
  if (!closeAfter) CHECK(conns[0].quit);
}

// Every address refuses: the recipient is deferred with the connection error (a 4xx, RFC 5321 §4.5.4.1), never
// bounced, and stays queued.
TEST_CASE("scenario: every address refuses the connection: deferred, not bounced") {
  std::uint16_t port = test::closedPort("127.0.0.1");
  REQUIRE(port != 0);
  EngineHarness h(routedTo(port));
  auto id = h.add({kSender, {"nobody-home@dst.test"}, kBody, {}});
  RunReport r = h.run(twoAddressZone());
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == 0);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.deferred == 1);
  CHECK(r.progress.connectFailures >= 2);  // both addresses were tried
  auto lines = enginetest::linesFor(r.log, "nobody-home@dst.test");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].status == "deferred");
  CHECK(lines[0].code / 100 == 4);
  auto view = h.spool().lookup(id);
  REQUIRE(view.isOk());
  CHECK(view.value().recipientPending(0));
}

// Retry (esmtp-rules.md §1 Retries): a 451 defers the recipient; the message is due exactly one retry delay
// (schedule 1 s, no jitter) after the attempt, not earlier; a second run of the engine delivers it, logged as
// attempt 2.
TEST_CASE("scenario: a deferred message is due after the retry delay and delivered by a second run") {
  FakeServer srv({}, [](const Event& e) -> std::optional<Action> {
    if (e.connection == 0 && e.stage == Stage::Rcpt) return Action::reply("451 4.7.1 greylisted, come back later");
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  auto cfg = enginetest::testConfig(enginetest::loopback(srv.port()));
  cfg.retry.schedule = {std::chrono::seconds(1)};
  cfg.retry.jitter = 0;
  EngineHarness h(cfg);
  auto id = h.add({kSender, {"grey@dst.test"}, kBody, {}});
  RunTweaks tw;
  tw.safetyLimit = std::chrono::seconds(60);

  const std::int64_t before = nowMs();
  RunReport first = h.run(tw);
  const std::int64_t after = nowMs();
  REQUIRE(first.created);
  CHECK_FALSE(first.stoppedByWatchdog);
  auto l1 = enginetest::linesFor(first.log, "grey@dst.test");
  REQUIRE(l1.size() == 1);
  CHECK(l1[0].status == "deferred");
  CHECK(l1[0].code == 451);
  CHECK(l1[0].attempt == 1);
  CHECK(srv.acceptedMessages().empty());

  std::int64_t due = 0;
  {
    auto view = h.spool().lookup(id);
    REQUIRE(view.isOk());
    CHECK(view.value().attempts() == 1);
    due = view.value().nextAttemptMs();
  }
  CHECK(due >= before + 1000);
  CHECK(due <= after + 1000);
  // The spool's schedule, asked at fixed times: not due a millisecond before, due at that time.
  std::vector<queue::MessageId> ids;
  CHECK(h.spool().takeDue(due - 1, 10, ids) == 0);
  REQUIRE(h.spool().takeDue(due, 10, ids) == 1);
  CHECK(ids[0] == id);
  REQUIRE(h.spool().release(id, due).isOk());

  while (nowMs() < due) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  RunReport second = h.run(tw);
  REQUIRE(second.created);
  CHECK_FALSE(second.stoppedByWatchdog);
  auto l2 = enginetest::linesFor(second.log, "grey@dst.test");
  REQUIRE(l2.size() == 2);  // the log holds both runs
  CHECK(l2[1].status == "delivered");
  CHECK(l2[1].attempt == 2);
  CHECK(second.progress.delivered == 1);
  CHECK(srv.connectionCount() == 2);
  CHECK(srv.deliveredRecipients() == std::vector<std::string>{"grey@dst.test"});
  CHECK_FALSE(h.spool().lookup(id).isOk());  // every recipient final
}

// MX fallback between two MX hosts (RFC 5321 §5.1: try the MX hosts in preference order; edge case 2: a 554
// greeting means QUIT and the next MX, no bounce). The zone resolver gives MX hosts port 25, so the two fake
// receivers listen on port 25 of two loopback addresses (127.0.0.2 for the preferred MX, 127.0.0.3 for the
// second); binding port 25 needs root, which the integration tests have.
TEST_CASE("scenario: the preferred MX refuses (connect, 554 or 421 greeting): the second MX delivers") {
  std::string firstReply;  // "" = nothing listens on the preferred MX
  SUBCASE("connection refused") { firstReply = ""; }
  SUBCASE("554 greeting") { firstReply = "554 5.3.2 no service here"; }
  SUBCASE("421 greeting") { firstReply = "421 4.3.2 try later"; }
  FakeServerOptions secondOpts;
  secondOpts.bindAddress = "127.0.0.3";
  secondOpts.port = 25;
  FakeServer second(secondOpts);
  const std::string err = second.start();
  REQUIRE_MESSAGE(err.empty(), "cannot listen on 127.0.0.3:25 (the integration tests run as root): " << err);
  FakeServerOptions firstOpts;
  firstOpts.bindAddress = "127.0.0.2";
  firstOpts.port = 25;
  std::string reply = firstReply;
  FakeServer first(firstOpts, [reply](const Event& e) -> std::optional<Action> {
    if (e.stage == Stage::Greeting) return Action::replyThenClose(reply);
    return std::nullopt;
  });
  if (!firstReply.empty()) REQUIRE(first.start() == "");

  auto cfg = enginetest::testConfig("127.0.0.1:1");
  cfg.routes.clear();  // by MX
  EngineHarness h(cfg);
  auto id = h.add({kSender, {"mx@dst.test"}, kBody, {}});
  RunTweaks t;
  t.safetyLimit = std::chrono::seconds(60);
  t.zoneText =
      "dst.test MX 10 mx1.dst.test\n"
      "dst.test MX 20 mx2.dst.test\n"
      "mx1.dst.test A 127.0.0.2\n"
      "mx2.dst.test A 127.0.0.3\n";
  RunReport r = h.run(t);
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == 1);
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.bouncesQueued == 0);
  auto lines = enginetest::linesFor(r.log, "mx@dst.test");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].status == "delivered");
  CHECK(lines[0].mx == "mx2.dst.test");
  CHECK(lines[0].addr == "127.0.0.3:25");
  CHECK(second.deliveredRecipients() == std::vector<std::string>{"mx@dst.test"});
  if (!firstReply.empty()) {
    REQUIRE(first.connectionCount() >= 1);
    for (const auto& c : first.connections()) CHECK(c.transactions.empty());  // nothing was sent to the first MX
  }
  CHECK_FALSE(h.spool().lookup(id).isOk());
}
