// peers_aiosmtpd.cpp: the delivery engine against aiosmtpd (Python; a third independently written receiver) on
// loopback. aiosmtpd offers neither PIPELINING nor CHUNKING, and its recording handler keeps the envelope and the
// exact content (CRLF kept, dot-stuffing undone), so both are checked byte for byte.
//
// Each test starts its own aiosmtpd (stopped on destruction) and its own temp spool (EngineHarness).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/engine/harness.hpp"
#include "tests/interop/peers.hpp"

namespace sluice::enginetest {

// RFC 5321 §3.3: several recipients of one message on one destination travel in one transaction (one MAIL, one
// RCPT each, one DATA); without PIPELINING every command waits for its reply.
TEST_CASE("engine vs aiosmtpd: three recipients on one domain in one transaction, content as queued") {
  interop::AiosmtpdPeer peer;
  REQUIRE_MESSAGE(peer.running(), peer.log());
  EngineHarness h(testConfig(loopback(peer.port())));
  const std::string body =
      "From: a@x.test\r\nTo: list@y.test\r\nSubject: three\r\n\r\n"
      "first line\r\n.\r\n..two dots\r\n.leading\r\nlast line\r\n";
  const queue::MessageId id = h.add({"a@x.test", {"one@y.test", "two@y.test", "three@y.test"}, body, {}});

  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == 3);
  CHECK(r.progress.messagesDone == 1);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.transactionsData == 1);
  CHECK(r.progress.transactionsBdat == 0);
  CHECK(r.progress.transactionsPipelined == 0);
  CHECK(r.spool.liveMessages == 0);

  REQUIRE(r.log.size() == 3);
  for (const LogLine& l : r.log) {
    INFO(l.raw);
    CHECK(l.id == id);
    CHECK(l.status == "delivered");
    CHECK(l.code == 250);
    CHECK(l.reply.find("recorded") != std::string::npos);  // the handler's own reply text
    CHECK_FALSE(l.chunking);
    CHECK_FALSE(l.pipelined);
    CHECK(l.body == "7bit");
  }
  CHECK(linesFor(r.log, "one@y.test").size() == 1);
  CHECK(linesFor(r.log, "two@y.test").size() == 1);
  CHECK(linesFor(r.log, "three@y.test").size() == 1);

  // The drained run ended after the last 250, which the handler sends after writing the files.
  const auto msgs = peer.waitMessages(1, Millis(10000));
  INFO(peer.log());
  REQUIRE(msgs.size() == 1);  // one transaction
  CHECK(msgs[0].mailFrom == "a@x.test");
  CHECK(msgs[0].recipients == std::vector<std::string>{"one@y.test", "two@y.test", "three@y.test"});
  CHECK(msgs[0].content == body);
}

// An 8-bit body to aiosmtpd, which advertises 8BITMIME: BODY=8BITMIME on MAIL and the octets unchanged.
TEST_CASE("engine vs aiosmtpd: an 8-bit message with BODY=8BITMIME, octets unchanged") {
  interop::AiosmtpdPeer peer;
  REQUIRE_MESSAGE(peer.running(), peer.log());
  EngineHarness h(testConfig(loopback(peer.port())));
  const std::string body = "Subject: eight\r\n\r\nGr\xC3\xBC\xC3\x9F" "e \xE2\x98\x83\r\n";
  h.add({"a@x.test", {"b@y.test"}, body, {}});

  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.progress.delivered == 1);
  REQUIRE(r.log.size() == 1);
  INFO(r.log[0].raw);
  CHECK(r.log[0].body == "8bitmime");

  const auto msgs = peer.waitMessages(1, Millis(10000));
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].mailOptions == std::vector<std::string>{"BODY=8BITMIME"});
  CHECK(msgs[0].content == body);
}

}  // namespace sluice::enginetest
