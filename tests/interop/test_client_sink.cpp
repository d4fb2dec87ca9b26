// test_client_sink.cpp: ClientSession against smtp-sink (Postfix's test server: PIPELINING DATA path, EHLO ending
// in an empty "250 " line, -e for a HELO-only peer, -8 for a peer without 8BITMIME) and against aiosmtpd (no
// PIPELINING: one command at a time; content recorded byte-exact). The peers' own records (smtp-sink's X-*-Args
// headers, aiosmtpd's envelope) show which ESMTP parameters arrived.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/interop/bodies.hpp"
#include "tests/interop/driver.hpp"
#include "tests/interop/peers.hpp"

using namespace sluice::smtp;
using namespace sluice::interop;

namespace {

// A message carrying every optional envelope parameter: SIZE, BODY, RET, ENVID, NOTIFY, ORCPT.
OutboundMessage fullParams(MessageHandle h, const std::string& rcpt, const std::string& body, BodyType type) {
  OutboundMessage m = message(h, {rcpt}, body, type);
  m.params.size = body.size();
  m.params.ret = DsnRet::Headers;
  m.params.envid = "env-" + std::to_string(h);
  m.recipients[0].params.notify = NotifySuccess | NotifyFailure;
  m.recipients[0].params.orcpt = rcpt;
  return m;
}

// Maps smtp-sink dumps by their single recipient argument's address ("<a@b> ..." -> "a@b").
std::map<std::string, SinkDump> byRecipient(const std::vector<SinkDump>& ds) {
  std::map<std::string, SinkDump> m;
  for (const auto& d : ds) {
    if (d.rcptArgs.size() != 1) continue;
    const std::string& a = d.rcptArgs[0];
    m[a.substr(1, a.find('>') - 1)] = d;
  }
  return m;
}

// Checks a run in which all `n` recipients of `messages` messages were delivered and the session quit cleanly.
void checkDelivered(const ClientRun& run, const WireLog& log, std::size_t n, std::size_t messages) {
  INFO(log.dump);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.unusable.empty());
  CHECK(run.graceful);
  REQUIRE(run.results.size() == n);
  for (const auto& r : run.results) {
    CHECK(r.outcome == Outcome::Delivered);
    CHECK(r.reply.code == 250);
  }
  CHECK(run.done.size() == messages);
  CHECK_FALSE(log.malformed);
  REQUIRE_FALSE(log.replies.empty());
  CHECK(log.replies.back() == 221);
}

}  // namespace

TEST_CASE("smtp-sink -e: EHLO refused with 500, HELO fallback, delivered without any ESMTP parameter (RFC 5321 "
          "§3.2, §4.1.1.3)") {
  SmtpSink sink({"-e"});
  REQUIRE(sink.running());
  const std::string body = kDotBody;
  const ClientRun run =
      runClient(sink.port(), clientConfig(), {fullParams(1, "helo@dest.test", body, BodyType::SevenBit)});
  const WireLog log = analyse(run.wire);
  checkDelivered(run, log, 1, 1);
  INFO(log.dump);
  CHECK_FALSE(run.caps.esmtp);
  REQUIRE(log.commands.size() >= 2);
  CHECK(log.commands[0] == "EHLO client.sluice.test");
  CHECK(log.replies[1] == 500);
  CHECK(log.commands[1] == "HELO client.sluice.test");
  // Exactly the bare paths: no SIZE/BODY/RET/ENVID on MAIL, no NOTIFY/ORCPT on RCPT.
  CHECK(log.lines("MAIL FROM:") == std::vector<std::string>{"MAIL FROM:<sender@origin.test>"});
  CHECK(log.lines("RCPT TO:") == std::vector<std::string>{"RCPT TO:<helo@dest.test>"});
  CHECK(log.maxOutstanding == 1);  // no PIPELINING after HELO

  const auto dumps = sink.waitDumps(1, Millis(5000));
  REQUIRE(dumps.size() == 1);
  CHECK(dumps[0].clientProto == "SMTP");
  CHECK(dumps[0].heloArgs == "client.sluice.test");
  CHECK(dumps[0].mailArgs == "<sender@origin.test>");
  CHECK(dumps[0].rcptArgs == std::vector<std::string>{"<helo@dest.test>"});
  CHECK(dumps[0].message == crlfToLf(body));
}

TEST_CASE("smtp-sink: pipelined DATA, EHLO ending in an empty '250 ' line, BODY=8BITMIME and DSN parameters, no SIZE "
          "(RFC 2920 §3.1, RFC 6152 §2, RFC 3461 §4, RFC 1870 §6)") {
  SmtpSink sink;
  REQUIRE(sink.running());
  const std::string large = largeBody(120);
  const std::vector<std::string> bodies{kUtf8Body, kDotBody, large, ""};
  std::vector<OutboundMessage> ms;
  ms.push_back(fullParams(1, "r1@dest.test", bodies[0], BodyType::EightBitMime));
  ms.push_back(fullParams(2, "r2@dest.test", bodies[1], BodyType::SevenBit));
  ms.push_back(fullParams(3, "r3@dest.test", bodies[2], BodyType::Unspecified));
  ms.push_back(fullParams(4, "r4@dest.test", bodies[3], BodyType::Unspecified));
  const ClientRun run = runClient(sink.port(), clientConfig(), std::move(ms));
  const WireLog log = analyse(run.wire);
  checkDelivered(run, log, 4, 4);
  INFO(log.dump);

  // The EHLO reply's last line is "250 " with nothing after it; the keywords before it still count.
  REQUIRE(run.wire.size() >= 3);
  CHECK(run.wire[2].bytes.find("\r\n250 \r\n") != std::string::npos);
  CHECK(run.caps.esmtp);
  CHECK(run.caps.pipelining);
  CHECK(run.caps.eightBitMime);
  CHECK(run.caps.dsn);
  CHECK_FALSE(run.caps.size);
  CHECK_FALSE(run.caps.chunking);
  CHECK(log.count("BDAT") == 0);
  CHECK(log.count("DATA") == 4);
  CHECK(log.maxOutstanding >= 3);  // MAIL, RCPT, DATA as one group
  // The empty body is DATA, 354, then the terminator alone.
  REQUIRE(log.bodies.size() == 4);
  CHECK(log.bodies[3].empty());

  const auto dumps = byRecipient(sink.waitDumps(4, Millis(5000)));
  REQUIRE(dumps.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    const std::string rcpt = "r" + std::to_string(i + 1) + "@dest.test";
    INFO(rcpt);
    REQUIRE(dumps.count(rcpt) == 1);
    const SinkDump& d = dumps.at(rcpt);
    CHECK(d.clientProto == "ESMTP");
    CHECK(d.heloArgs == "client.sluice.test");
    CHECK(d.mailArgs.find("SIZE=") == std::string::npos);  // SIZE not advertised by the sink
    CHECK(d.mailArgs.find("RET=HDRS") != std::string::npos);
    CHECK(d.mailArgs.find("ENVID=env-" + std::to_string(i + 1)) != std::string::npos);
    REQUIRE(d.rcptArgs.size() == 1);
    CHECK(d.rcptArgs[0].find("NOTIFY=SUCCESS,FAILURE") != std::string::npos);
    CHECK(d.rcptArgs[0].find("ORCPT=rfc822;" + rcpt) != std::string::npos);
    CHECK(d.message == crlfToLf(bodies[i]));
  }
  CHECK(dumps.at("r1@dest.test").mailArgs.find("BODY=8BITMIME") != std::string::npos);
  CHECK(dumps.at("r2@dest.test").mailArgs.find("BODY=7BIT") != std::string::npos);
  CHECK(dumps.at("r3@dest.test").mailArgs.find("BODY=") == std::string::npos);
}

TEST_CASE("smtp-sink -8: no 8BITMIME advertised, so no BODY= parameter is sent and 8-bit content is refused "
          "before MAIL with 554 5.6.3 (RFC 6152 §3, RFC 5321 §4.1.1.3)") {
  SmtpSink sink({"-8"});
  REQUIRE(sink.running());
  const std::string body = kDotBody;
  const ClientRun run = runClient(sink.port(), clientConfig(),
                                  {fullParams(1, "r1@dest.test", body, BodyType::SevenBit),
                                   fullParams(2, "r2@dest.test", kUtf8Body, BodyType::EightBitMime),
                                   fullParams(3, "r3@dest.test", body, BodyType::Unspecified)});
  const WireLog log = analyse(run.wire);
  INFO(log.dump);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.unusable.empty());
  CHECK(run.graceful);
  CHECK(run.caps.esmtp);
  CHECK_FALSE(run.caps.eightBitMime);
  CHECK(run.caps.pipelining);
  REQUIRE(run.results.size() == 3);
  CHECK(run.result(1, 0).outcome == Outcome::Delivered);
  CHECK(run.result(3, 0).outcome == Outcome::Delivered);
  // No octet above 0x7F may reach a 7-bit peer: the 8-bit message is refused locally, never sent.
  const RecipientResult& refused = run.result(2, 0);
  CHECK(refused.outcome == Outcome::PermanentFailure);
  CHECK(refused.reply.code == 554);
  CHECK(refused.reply.enhanced.str() == "5.6.3");
  CHECK(refused.synthesized);
  CHECK_FALSE(refused.attempted);
  CHECK(run.done.size() == 3);
  const auto mails = log.lines("MAIL FROM:");
  CHECK(mails.size() == 2);
  for (const auto& m : mails) CHECK(m.find("BODY=") == std::string::npos);
  CHECK(log.count("RCPT TO:<r2@dest.test>") == 0);

  const auto dumps = byRecipient(sink.waitDumps(2, Millis(5000)));
  REQUIRE(dumps.size() == 2);
  CHECK(dumps.count("r2@dest.test") == 0);
  for (const auto& entry : dumps) {
    const SinkDump& d = entry.second;
    INFO(entry.first);
    CHECK(d.mailArgs.find("BODY=") == std::string::npos);
    CHECK(d.mailArgs.find("ENVID=") != std::string::npos);  // DSN is still advertised
    CHECK(d.message == crlfToLf(body));
  }
}

TEST_CASE("aiosmtpd: no PIPELINING, one command at a time; content byte-identical after dot-stuffing and unstuffing "
          "(RFC 2920 §3.1, RFC 5321 §4.5.2, RFC 6152 §2)") {
  AiosmtpdPeer aio;
  REQUIRE_MESSAGE(aio.running(), aio.log());
  const std::string large = largeBody(150);
  const std::vector<std::string> bodies{kUtf8Body, kDotBody, large, kTinyBody, ""};
  std::vector<OutboundMessage> ms;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    ms.push_back(message(i + 1, {"a" + std::to_string(i + 1) + "@dest.test", "b@dest.test"}, bodies[i],
                         i == 0 ? BodyType::EightBitMime : BodyType::Unspecified));
  }
  ClientConfig cfg = clientConfig();
  cfg.dataBlockSize = 8 * 1024;
  const ClientRun run = runClient(aio.port(), cfg, std::move(ms));
  const WireLog log = analyse(run.wire);
  checkDelivered(run, log, 10, 5);
  INFO(log.dump);
  INFO(aio.log());
  CHECK(run.caps.esmtp);
  CHECK_FALSE(run.caps.pipelining);
  CHECK_FALSE(run.caps.chunking);
  CHECK(run.caps.eightBitMime);
  CHECK(log.maxOutstanding == 1);  // never a command before the previous reply
  CHECK(log.count("DATA") == 5);
  CHECK(log.count("BDAT") == 0);

  const auto got = aio.waitMessages(5, Millis(5000));
  REQUIRE(got.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    INFO("message " << i + 1);
    CHECK(got[i].mailFrom == "sender@origin.test");
    CHECK(got[i].recipients == std::vector<std::string>{"a" + std::to_string(i + 1) + "@dest.test", "b@dest.test"});
    CHECK(got[i].content == bodies[i]);  // CRLF kept, dots as in the original
  }
  CHECK(got[0].mailOptions == std::vector<std::string>{"BODY=8BITMIME"});
  CHECK(got[1].mailOptions.empty());
}
