// scenario_pipeline.cpp: delivery-engine scenarios about pipelined groups and transaction splitting, against the
// scripted fake receiver (tests/engine/fake_server.hpp): every RCPT refused while DATA is already on the wire
// (esmtp-rules.md §2 "All RCPTs failed: still read the DATA reply; 354 anyway -> send a lone '.' and discard; DATA
// rejected -> RSET", edge case 5 of §11), more recipients than one transaction takes (§1 "452 4.5.3 ... send the
// rest in a new transaction", edge case 6 "at the 101st RCPT"), and a connection lost in the middle of a deep
// pipeline of several messages (§2 "Peer closes mid-group: replies received stand", §1 "Connection lost", edge
// cases 4 and 7).
//
// Threads: the fake server runs its own thread; the engine runs on the test thread.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/engine/scenario_support.hpp"

namespace {

using namespace sluice;
using namespace sluice::scenario;

const std::string kSender = "sender@src.test";
const std::string kBody = "Subject: pipeline\r\n\r\nbody\r\n";

std::size_t position(const std::vector<std::string>& lines, const std::string& what, std::size_t from = 0) {
  for (std::size_t i = from; i < lines.size(); ++i)
    if (lines[i] == what) return i;
  return lines.size();
}

}  // namespace

// Edge case 5, first half: both RCPTs get 550, the peer still answers the pipelined DATA with 354. The client
// must end the empty content with a lone "." (and ignore its reply); both recipients bounce with the peer's
// reply, and one DSN listing both is queued.
TEST_CASE("scenario: all RCPTs refused but DATA answered 354: lone dot, both bounced, one DSN") {
  FakeServerOptions o;
  o.chunking = false;
  FakeServer srv(o, [](const Event& e) -> std::optional<Action> {
    if (e.connection != 0 || e.transaction != 0) return std::nullopt;  // the DSN transaction goes normally
    if (e.stage == Stage::Rcpt) return Action::reply("550 5.1.1 unknown user");
    if (e.stage == Stage::Data) return Action::reply("354 send it anyway");
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(enginetest::loopback(srv.port())));
  auto id = h.add({kSender, {"x@dst.test", "y@dst.test"}, kBody, {}});
  RunReport r = h.run(guarded());
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);

  auto conns = srv.connections();
  REQUIRE(!conns.empty());
  REQUIRE(!conns[0].transactions.empty());
  const auto& t = conns[0].transactions[0];
  CHECK(t.accepted.empty());
  CHECK(t.ended);         // the lone "." arrived
  CHECK(t.body.empty());  // and nothing else
  for (const char* rc : {"x@dst.test", "y@dst.test"}) {
    auto lines = enginetest::linesFor(r.log, rc);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].status == "bounced");
    CHECK(lines[0].code == 550);
    CHECK(lines[0].enhanced == "5.1.1");
  }
  CHECK(r.progress.bounced == 2);
  CHECK(r.progress.bouncesQueued == 1);
  CHECK_FALSE(h.spool().lookup(id).isOk());  // both final
  // The one DSN (null reverse-path, to the sender) reached the peer.
  std::size_t dsns = 0;
  for (const auto& m : srv.acceptedMessages())
    if (m.mailLine.find("FROM:<>") != std::string::npos) {
      ++dsns;
      CHECK(m.accepted == std::vector<std::string>{kSender});
      CHECK(m.body.find("x@dst.test") != std::string::npos);
      CHECK(m.body.find("y@dst.test") != std::string::npos);
    }
  CHECK(dsns == 1);
}

// Edge case 5, second half: the same refusals, and DATA refused (554): no content is sent, RSET follows before
// the connection is used again (here by the DSN's MAIL, or by QUIT).
TEST_CASE("scenario: all RCPTs refused and DATA refused: RSET, no content, both bounced") {
  FakeServerOptions o;
  o.chunking = false;
  FakeServer srv(o, [](const Event& e) -> std::optional<Action> {
    if (e.connection == 0 && e.transaction == 0 && e.stage == Stage::Rcpt)
      return Action::reply("550 5.1.1 unknown user");
    return std::nullopt;  // DATA then gets the server's 554 "no valid recipients"
  });
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(enginetest::loopback(srv.port())));
  h.add({kSender, {"x@dst.test", "y@dst.test"}, kBody, {}});
  RunReport r = h.run(guarded());
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  auto conns = srv.connections();
  REQUIRE(!conns.empty());
  const auto& lines = conns[0].lines;
  std::size_t data = position(lines, "DATA");
  REQUIRE(data < lines.size());
  std::size_t rset = position(lines, "RSET", data);
  CHECK(rset < lines.size());  // RSET after the refused DATA
  for (std::size_t i = data + 1; i < rset && i < lines.size(); ++i) CHECK(lines[i].rfind("MAIL", 0) != 0);
  CHECK_FALSE(conns[0].transactions[0].ended);  // no content went out
  CHECK(r.progress.bounced == 2);
  CHECK(r.progress.bouncesQueued == 1);
  CHECK(r.progress.delivered == 1);  // the DSN only
}

// Edge case 6, "452 4.5.3 at the 101st RCPT": the peer takes 100 recipients per transaction. The engine's own
// per-transaction limit (pipelining.max_recipients_per_transaction, default 100) splits 101 recipients into 100
// + 1 before the peer has to refuse anything: every one delivered, no 452 ever provoked.
TEST_CASE("scenario: 101 recipients to a peer taking 100 per transaction: split, all delivered") {
  FakeServer srv({}, [](const Event& e) -> std::optional<Action> {
    if (e.stage == Stage::Rcpt && e.rcptIndex >= 100) return Action::reply("452 4.5.3 too many recipients");
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  auto cfg = enginetest::testConfig(enginetest::loopback(srv.port()));
  REQUIRE(cfg.pipelining.maxRecipientsPerTransaction == 100);
  EngineHarness h(cfg);
  std::vector<std::string> rcpts;
  for (int i = 0; i < 101; ++i) rcpts.push_back("u" + std::to_string(i) + "@dst.test");
  auto id = h.add({kSender, rcpts, kBody, {}});
  RunReport r = h.run(guarded());
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == 101);
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.bounced == 0);
  std::vector<std::size_t> sizes;
  for (const auto& c : srv.connections())
    for (const auto& t : c.transactions) {
      CHECK(t.rcptLines.size() <= 100);  // the peer never had to say 452
      sizes.push_back(t.accepted.size());
    }
  std::sort(sizes.begin(), sizes.end());
  CHECK(sizes == std::vector<std::size_t>{1, 100});
  std::vector<std::string> got = srv.deliveredRecipients(), want = rcpts;
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  CHECK(got == want);
  CHECK_FALSE(h.spool().lookup(id).isOk());
}

// Edge cases 4 and 7 in a deep pipeline: three messages go back to back on one connection (PIPELINING +
// CHUNKING); the peer accepts the first, reads the second's BDAT LAST and drops the connection. The first stays
// delivered (replies received stand), the second is deferred and flagged possible_duplicate, and no recipient
// is lost or bounced: each is either delivered (and held by the peer) or still pending in the spool.
TEST_CASE("scenario: connection lost inside a deep pipeline of messages") {
  FakeServer srv({}, [](const Event& e) -> std::optional<Action> {
    if (e.connection == 0 && e.transaction == 1 && e.stage == Stage::BdatLast) return Action::close();
    return std::nullopt;
  });
  REQUIRE(srv.start() == "");
  EngineHarness h(enginetest::testConfig(enginetest::loopback(srv.port())));
  const std::vector<std::string> rcpts = {"m0@dst.test", "m1@dst.test", "m2@dst.test"};
  std::vector<queue::MessageId> ids;
  for (const auto& rc : rcpts) ids.push_back(h.add({kSender, {rc}, kBody, {}}));
  RunReport r = h.run(guarded());
  REQUIRE(r.created);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.bouncesQueued == 0);

  auto conns = srv.connections();
  REQUIRE(!conns.empty());
  REQUIRE(conns[0].transactions.size() >= 2);  // the messages were pipelined on one connection
  const auto& first = conns[0].transactions[0];
  const auto& second = conns[0].transactions[1];
  REQUIRE(first.rcptLines.size() == 1);
  REQUIRE(second.rcptLines.size() == 1);
  CHECK(first.endReply == 250);
  CHECK(second.ended);
  CHECK(second.endReply == 0);
  auto rcptOf = [](const std::string& line) { return line.substr(line.find('<') + 1, line.find('>') - line.find('<') - 1); };
  const std::string delivered = rcptOf(first.rcptLines[0]);
  const std::string lost = rcptOf(second.rcptLines[0]);

  auto one = [&](const std::string& rc) {
    auto lines = enginetest::linesFor(r.log, rc);
    INFO("recipient " << rc);
    REQUIRE(!lines.empty());
    return lines.back();
  };
  CHECK(one(delivered).status == "delivered");
  CHECK(one(lost).status == "deferred");
  CHECK(one(lost).possibleDuplicate);
  CHECK(r.progress.possibleDuplicates >= 1);

  std::vector<std::string> held = srv.deliveredRecipients();
  for (std::size_t i = 0; i < rcpts.size(); ++i) {
    INFO("recipient " << rcpts[i]);
    LogLine last = one(rcpts[i]);
    auto view = h.spool().lookup(ids[i]);
    if (last.status == "delivered") {
      CHECK(std::count(held.begin(), held.end(), rcpts[i]) == 1);
      CHECK_FALSE(view.isOk());
    } else {
      CHECK(last.status == "deferred");
      REQUIRE(view.isOk());
      CHECK(view.value().recipientPending(0));
      CHECK(std::count(held.begin(), held.end(), rcpts[i]) == 0);
    }
  }
}
