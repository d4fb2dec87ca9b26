// peers_sink.cpp: the delivery engine against Postfix's smtp-sink (an independently written receiver) on loopback:
// HELO fallback when EHLO is refused (-e), 8BITMIME used natively, or a non-MIME 8-bit message refused and
// bounced when the peer lacks it (-8), and connection reuse under a small pool limit. The sink dumps every message it accepts, so
// envelopes and bytes are checked on the receiving side, and the delivery log's transport fields on ours.
//
// Each test starts its own sink (SmtpSink stops it on destruction) and its own temp spool (EngineHarness).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/engine/harness.hpp"
#include "tests/interop/peers.hpp"

namespace sluice::enginetest {
namespace {

using interop::crlfToLf;
using interop::SinkDump;
using interop::SmtpSink;

const Millis kWait{30000};

// A small 7-bit message with a marker line so dumps can be matched to what was sent.
std::string plainMessage(const std::string& marker) {
  return "From: a@x.test\r\nTo: b@y.test\r\nSubject: " + marker + "\r\n\r\nbody of " + marker +
         "\r\n.leading dot\r\n.\r\nend\r\n";
}

const SinkDump* findDump(const std::vector<SinkDump>& dumps, const std::string& needle) {
  for (const auto& d : dumps)
    if (d.message.find(needle) != std::string::npos) return &d;
  return nullptr;
}

}  // namespace

// RFC 5321 §4.1.1.1 / §3.2: a server that does not speak ESMTP answers EHLO with 500; the client falls back to HELO
// and then uses no extension (no PIPELINING, no CHUNKING).
TEST_CASE("engine vs smtp-sink -e: EHLO refused, HELO used, delivered without extensions") {
  SmtpSink sink({"-e"});
  REQUIRE(sink.running());
  EngineHarness h(testConfig(loopback(sink.port())));
  const std::string body = plainMessage("helo-only");
  h.add({"a@x.test", {"b@y.test"}, body, {}});

  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == 1);
  CHECK(r.progress.bounced == 0);
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.transactionsData == 1);
  CHECK(r.progress.transactionsBdat == 0);
  CHECK(r.progress.transactionsPipelined == 0);
  CHECK(r.spool.liveMessages == 0);

  REQUIRE(r.log.size() == 1);
  const LogLine& l = r.log[0];
  INFO(l.raw);
  CHECK(l.rcpt == "b@y.test");
  CHECK(l.status == "delivered");
  CHECK(l.code == 250);
  CHECK(l.attempt == 1);
  CHECK_FALSE(l.chunking);
  CHECK_FALSE(l.pipelined);
  CHECK_FALSE(l.tls);
  CHECK(l.body == "7bit");
  CHECK(l.addr == loopback(sink.port()));

  const auto dumps = sink.waitDumps(1, kWait);
  REQUIRE(dumps.size() == 1);
  CHECK(dumps[0].clientProto == "SMTP");  // the sink saw HELO, not EHLO
  CHECK(dumps[0].heloArgs == "sluice.test");
  CHECK(dumps[0].mailArgs == "<a@x.test>");
  REQUIRE(dumps[0].rcptArgs.size() == 1);
  CHECK(dumps[0].rcptArgs[0] == "<b@y.test>");
  CHECK(dumps[0].message == crlfToLf(body));  // dot-stuffing undone by the sink: bytes as queued
}

// RFC 6152: an 8-bit body goes with BODY=8BITMIME to a peer that advertises 8BITMIME.
TEST_CASE("engine vs smtp-sink with 8BITMIME: an 8-bit message goes natively") {
  SmtpSink sink;
  REQUIRE(sink.running());
  EngineHarness h(testConfig(loopback(sink.port())));
  const std::string body = "From: a@x.test\r\nSubject: eight\r\n\r\ncaf\xC3\xA9 \xE2\x82\xAC 8-bit line\r\n";
  h.add({"a@x.test", {"b@y.test"}, body, {}});

  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  CHECK(r.progress.delivered == 1);
  CHECK(r.progress.transactions8bit == 1);
  CHECK(r.progress.bouncesQueued == 0);
  REQUIRE(r.log.size() == 1);
  INFO(r.log[0].raw);
  CHECK(r.log[0].status == "delivered");
  CHECK(r.log[0].body == "8bitmime");
  CHECK(r.log[0].pipelined);  // smtp-sink advertises PIPELINING
  CHECK_FALSE(r.log[0].chunking);

  const auto dumps = sink.waitDumps(1, kWait);
  REQUIRE(dumps.size() == 1);
  CHECK(dumps[0].clientProto == "ESMTP");
  CHECK(dumps[0].mailArgs.find("BODY=8BITMIME") != std::string::npos);
  CHECK(dumps[0].message == crlfToLf(body));
}

// RFC 6152 §3 / RFC 5321 §2.4: 8-bit data must not go to a peer without 8BITMIME. A MIME message is converted
// (peers_mime.cpp); this one has no MIME structure, so nothing says how to encode it, and under the default
// policy (mime.non_mime_8bit: bounce) it is refused before MAIL (554 5.6.3, nothing sent) and bounced. The DSN
// goes to the sender's domain, which the "*" route sends to the same sink.
TEST_CASE("engine vs smtp-sink -8: a non-MIME 8-bit message is refused before MAIL and bounced to its sender") {
  SmtpSink sink({"-8"});
  REQUIRE(sink.running());
  EngineHarness h(testConfig(loopback(sink.port())));
  const std::string body = "From: sender@x.test\r\nSubject: eight\r\n\r\nna\xC3\xAFve 8-bit line\r\n";
  h.add({"sender@x.test", {"b@y.test"}, body, {}});

  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.bounced == 1);
  CHECK(r.progress.bouncesQueued == 1);
  CHECK(r.progress.delivered == 1);  // the bounce itself
  CHECK(r.spool.liveMessages == 0);

  const auto original = linesFor(r.log, "b@y.test");
  REQUIRE(original.size() == 1);
  INFO(original[0].raw);
  CHECK(original[0].status == "bounced");
  CHECK(original[0].code == 554);
  CHECK(original[0].enhanced == "5.6.3");

  const auto dsn = linesFor(r.log, "sender@x.test");
  REQUIRE(dsn.size() == 1);
  INFO(dsn[0].raw);
  CHECK(dsn[0].status == "delivered");
  CHECK(dsn[0].body == "7bit");  // headers-only return: the report itself is 7-bit

  // Only the DSN reached the sink: the original was never sent.
  const auto dumps = sink.waitDumps(1, kWait);
  REQUIRE(dumps.size() == 1);
  INFO("MAIL args: " << dumps[0].mailArgs);
  CHECK((dumps[0].mailArgs == "<>" || dumps[0].mailArgs.rfind("<> ", 0) == 0));  // the null reverse-path
  REQUIRE(dumps[0].rcptArgs.size() == 1);
  CHECK(dumps[0].rcptArgs[0].rfind("<sender@x.test>", 0) == 0);
  CHECK(dumps[0].message.find("multipart/report") != std::string::npos);
  CHECK(dumps[0].message.find("b@y.test") != std::string::npos);
  CHECK(dumps[0].message.find("5.6.3") != std::string::npos);
  CHECK(dumps[0].message.find("na\xC3\xAFve") == std::string::npos);  // the 8-bit body is not returned
}

// Pools: 200 messages to one site over at most 2 connections are delivered on reused connections.
TEST_CASE("engine vs smtp-sink: 200 messages over a pool of 2 connections reuse them") {
  SmtpSink sink;
  REQUIRE(sink.running());
  ops::EngineConfig cfg = testConfig(loopback(sink.port()));
  cfg.pool.maxConnections = 2;
  cfg.pool.maxConnecting = 2;
  EngineHarness h(cfg);
  const std::size_t n = 200;
  for (std::size_t i = 0; i < n; ++i)
    h.add({"a@x.test", {"r" + std::to_string(i) + "@y.test"}, plainMessage("reuse-" + std::to_string(i)), {}});

  const RunReport r = h.run();
  REQUIRE_MESSAGE(r.created, r.createError);
  CHECK(r.rc == 0);
  CHECK_FALSE(r.stoppedByWatchdog);
  CHECK(r.progress.delivered == n);
  CHECK(r.progress.messagesDone == n);
  CHECK(r.progress.deferred == 0);
  CHECK(r.progress.connectionsOpened >= 1);
  CHECK(r.progress.connectionsOpened <= 4);
  CHECK(r.spool.liveMessages == 0);
  CHECK(countStatus(r.log, "delivered") == n);

  const auto dumps = sink.waitDumps(n, kWait);
  REQUIRE(dumps.size() == n);
  std::size_t matched = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string marker = "Subject: reuse-" + std::to_string(i) + "\n";
    if (const SinkDump* d = findDump(dumps, marker)) {
      CHECK(d->message == crlfToLf(plainMessage("reuse-" + std::to_string(i))));
      REQUIRE(d->rcptArgs.size() == 1);
      CHECK(d->rcptArgs[0] == "<r" + std::to_string(i) + "@y.test>");
      ++matched;
    }
  }
  CHECK(matched == n);
}

}  // namespace sluice::enginetest
